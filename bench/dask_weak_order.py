"""A GBM weak-order study with 10⁸ paths: serial against a Dask LocalCluster, same answer.

Run from the repo root, on a quiet machine::

    python -m bench.dask_weak_order            # 1e8 paths (about 4-6 minutes on 2 cores)
    python -m bench.dask_weak_order --quick    # 1e6 paths, overhead run 2e6: checks it works
    python -m bench.dask_weak_order --json results.json

Problem: ``sdesim.weak_order(gbm(0.5, 0.4), 1.0, phi=x, T=1, dts=[0.2, 0.1, 0.05, 0.025,
0.0125], exact=e^0.5, rng=0, backend="numba")`` (five coupled grids driven by one fine path of
80 steps), default chunk size.

Rows, each one timed call (``time.perf_counter``) after an untimed warm-up call on the same
executor (kernel cache load in every worker process; its cost is reported apart):

- ``serial``: ``executor="serial"`` — one thread in this process;
- ``dask 2 workers``: ``executor=Client(LocalCluster(n_workers=2, threads_per_worker=1))``;
- ``dask 1 worker`` vs ``serial``, on a smaller run (``--overhead-paths``, at least 10 s): the
  cost of the Dask path itself (pickling, scheduling, shipping per-chunk accumulators).

Ratios are taken within one run. Every row's estimate is checked bitwise against the serial
one. The first-call section measures what a fresh worker pays: loading the cached linear
kernel (GBM), and compiling a user's ``f``/``g`` given as lambdas (no disk cache for those).
"""
from __future__ import annotations

import argparse
import json
import operator
import os
import platform
import time

import numpy as np

import sdesim

DTS = [0.2, 0.1, 0.05, 0.025, 0.0125]
PHI = operator.itemgetter((slice(None), 0))  # x[:, 0], picklable by reference
GBM = sdesim.gbm(0.5, 0.4)


def study(n_paths: int, executor, sde=GBM):
    """One timed weak-order study; returns (seconds, result)."""
    t0 = time.perf_counter()
    r = sdesim.weak_order(sde, 1.0, PHI, T=1.0, dts=DTS, n_paths=n_paths, exact=float(np.exp(0.5)),
                          rng=0, backend="numba", quiet=True, executor=executor)
    return time.perf_counter() - t0, r


def same(a, b) -> bool:
    return bool(np.array_equal(a.errors, b.errors) and np.array_equal(a.stderrs, b.stderrs))


def cluster(n_workers: int):
    from distributed import Client, LocalCluster
    lc = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=None)
    return lc, Client(lc)


def warm(client) -> None:
    """Load the GBM kernels in every worker process (so that timed runs exclude it)."""
    client.run(lambda: study(2000, "serial"))


def first_calls(client) -> dict:
    """What a fresh worker process pays on its first call, measured in each worker (a small
    serial study there, twice): loading the cached linear kernel (GBM), then compiling a
    user's ``f``/``g`` given as lambdas."""
    user = sdesim.SDE(lambda t, x: 0.5 * x, lambda t, x: 0.4 * x, d=1)
    out = {}
    for name, sde in (("gbm (cached kernel)", GBM), ("lambda f/g (compiled)", user)):
        per_worker = client.run(lambda: (study(2000, "serial", sde)[0],
                                         study(2000, "serial", sde)[0]))
        out[name] = max(per_worker.values())
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=float, default=1e8)
    ap.add_argument("--overhead-paths", type=float, default=2e7)
    ap.add_argument("--quick", action="store_true", help="1e6 paths, overhead run 2e6")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    n = int(1e6 if args.quick else args.paths)
    n_over = int(2e6 if args.quick else args.overhead_paths)
    print(f"sdesim Dask weak-order benchmark — {time.strftime('%Y-%m-%dT%H:%M:%S%z')}")
    print(f"{platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}, "
          f"numpy {np.__version__}")
    print("load average at start (1/5/15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"problem: GBM(0.5, 0.4), weak_order over dts={DTS} (coupled), numba backend\n")

    study(2000, "serial")  # warm-up: kernel load in this process
    res = {}
    lc2, c2 = cluster(2)
    try:
        fc = first_calls(c2)
        warm(c2)
        res["serial"] = study(n, "serial")
        res["dask2"] = study(n, c2)
    finally:
        c2.close()
        lc2.close()
    lc1, c1 = cluster(1)
    try:
        warm(c1)
        res["serial_over"] = study(n_over, "serial")
        res["dask1_over"] = study(n_over, c1)
    finally:
        c1.close()
        lc1.close()

    fmt = "{:<44} {:>12} {:>9} {:>18} {:>8}"
    print(fmt.format("row", "paths", "s", "path-steps/s", "bitwise"))
    for key, label, paths, ref in (("serial", "serial (1 thread)", n, "serial"),
                                   ("dask2", "dask LocalCluster, 2 workers x 1 thread", n,
                                    "serial"),
                                   ("serial_over", "serial (1 thread)", n_over, "serial_over"),
                                   ("dask1_over", "dask LocalCluster, 1 worker x 1 thread",
                                    n_over, "serial_over")):
        s, r = res[key]
        print(fmt.format(label, f"{paths:.0e}", f"{s:.2f}", f"{paths * 80 / s:.3e}",
                         "yes" if same(r, res[ref][1]) else "NO"))
    speedup = res["serial"][0] / res["dask2"][0]
    overhead = res["dask1_over"][0] / res["serial_over"][0] - 1
    r = res["serial"][1]
    print(f"\nestimate: order {r.order:.4f}, CI [{r.order_ci[0]:.4f}, {r.order_ci[1]:.4f}], "
          f"errors {np.array2string(r.errors, precision=3)}")
    print("first call in a fresh worker process (2000 paths, serial in the worker; slowest of "
          "the 2 workers; first / second call, s):")
    for name, (a, b) in fc.items():
        print(f"  {name:<24} {a:.2f} / {b:.2f}")
    print("\nthresholds (from the issue), measured in this run:")
    print(f"  speed-up serial / dask 2 workers   {speedup:.2f}x   required >= 1.8x   "
          f"{'PASS' if speedup >= 1.8 else 'FAIL'}")
    long_enough = res["serial_over"][0] >= 10
    verdict = ("PASS" if overhead <= 0.10 else "FAIL") if long_enough else "RUN TOO SHORT"
    print(f"  dask overhead at 1 worker         {100 * overhead:+.1f}%   required <= 10% on a run "
          f"of >= 10 s ({res['serial_over'][0]:.1f} s)   {verdict}")
    out = {"paths": n, "overhead_paths": n_over, "speedup": speedup, "overhead": overhead,
           "seconds": {k: v[0] for k, v in res.items()},
           "bitwise": {k: same(v[1], res["serial" if k == "dask2" else "serial_over"][1])
                       for k, v in res.items()},
           "first_calls": fc, "load": os.getloadavg()}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main()
