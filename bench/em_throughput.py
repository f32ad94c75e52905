"""Euler–Maruyama throughput of sdesim against its peers and against the RNG floor.

Run from the repo root::

    python -m bench.em_throughput            # full run, best of 3 (about 1-3 minutes)
    python -m bench.em_throughput --quick    # best of 1, shorter torchsde runs, no cold compile
    python -m bench.em_throughput --json results.json

Problem: the diagonal Ornstein–Uhlenbeck process ``dX = -X dt + dW`` in ``d`` dimensions,
``x0 = 1``, ``T = 1``, ``dt = 1/steps``, at three sizes (paths N, dimension d, steps):
``(1e4, 1, 1000)``, ``(1e3, 100, 1000)``, ``(10, 10, 1e4)``.

Unit: path·dim·steps per second (N·d·steps / seconds). Every number is a best of ``k`` timed
calls (``time.perf_counter``; k = 3, 1 with ``--quick``), taken round-robin (each round times
every method once) so that all methods see the same background load; warm-up calls (numba
compilation or cache load included) are never timed. Ratios are taken between numbers measured
in the same run, because the project's machines are shared and noisy.

Methods:

- ``floor``: numpy's ``Generator.standard_normal(out=buf)`` on one thread, one call per step into
  a preallocated ``(N, d)`` array — the pure cost of the random numbers EM needs.
- ``sdesim numba``: ``sdesim.simulate(..., backend="numba", save_at=[T])``, default chunk size,
  all threads; also with ``n_threads=1``.
- ``sdesim numpy``: the same with ``backend="numpy"`` (the reference backend).
- ``plain numpy``: ``x += -x*dt + sqrt(dt)*rng.standard_normal((N, d))`` in a Python loop —
  what people write.
- ``torchsde``: ``torchsde.sdeint(sde, y0, ts=[0, T'], method="euler", dt=dt)`` on CPU, float64,
  a diagonal-noise Itô SDE class (``f = -y``, ``g = 1``), under ``torch.no_grad()``. torchsde
  spends hundreds of µs per step in its Brownian object, so where a step is expensive it is
  timed on fewer steps (same ``dt``, ``T' = S dt``; the steps it actually took are counted and
  its throughput is N·d·steps_taken/s): full mode times every step where N·d <= 1e4 and 200
  steps on (1e3, 100); ``--quick`` times 200 steps everywhere. Short runs are not a neutral
  shortcut: torchsde's cost per step depends on the length of the run (:func:`torchsde_steps`).
  torch's intra-op thread count is calibrated first on 10 steps (1 thread vs torch's default;
  the default is kept only when clearly faster), so the peer runs in its best configuration.

The numba compile cost of the first call is measured in fresh subprocesses: once with an empty
temporary ``NUMBA_CACHE_DIR`` (a true cold compile; the project's own cache is not touched) and
once with the on-disk cache as it is (what a user's second session pays), next to a warm call.

A second benchmark (``bench.stable_sampler``) times sdesim's α-stable sampler against scipy's.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

SIZES = [(10_000, 1, 1_000), (1_000, 100, 1_000), (10, 10, 10_000)]
T = 1.0

# thresholds from the issue: (label, size index, numerator, denominator, required ratio)
THRESHOLDS = [
    ("numba >= 4x floor", 1, "numba", "floor", 4.0),
    ("numba >= 20x torchsde", 1, "numba", "torchsde", 20.0),
    ("numba >= 500x torchsde", 2, "numba", "torchsde", 500.0),
    ("numpy backend >= 0.8x floor", 0, "sdesim_numpy", "floor", 0.8),
]

LABELS = {
    "floor": "RNG floor: numpy standard_normal, 1 thread",
    "numba": "sdesim numba, all threads",
    "numba_1t": "sdesim numba, n_threads=1",
    "sdesim_numpy": "sdesim numpy backend",
    "plain_numpy": "plain numpy loop",
    "torchsde": "torchsde sdeint euler (CPU)",
}


def size_label(N: int, d: int, n: int) -> str:
    return f"N={N:.0e} paths, d={d}, {n} steps".replace("e+0", "e")


# ----------------------------------------------------------------------------- methods
def floor_fn(N, d, n):
    rng = np.random.default_rng(0)
    buf = np.empty((N, d))

    def run():
        for _ in range(n):
            rng.standard_normal(out=buf)
    return run


def plain_numpy_fn(N, d, n):
    dt = T / n
    sq = math.sqrt(dt)
    rng = np.random.default_rng(0)

    def run():
        x = np.ones((N, d))
        for _ in range(n):
            x += -x * dt + sq * rng.standard_normal((N, d))
        return x
    return run


def sdesim_fn(N, d, n, backend, n_threads=None):
    import sdesim
    sde = sdesim.ou(1.0, 1.0, d=d)
    x0 = np.ones(d)
    dt = T / n

    def run():
        return sdesim.simulate(sde, x0, T=T, dt=dt, n_paths=N, save_at=[T], rng=0,
                               backend=backend, n_threads=n_threads, quiet=True)
    return run


def sdesim_warmup(backend):
    """A small call so that compilation / cache loading is never timed."""
    import sdesim
    sdesim.simulate(sdesim.ou(1.0, 1.0, d=2), np.ones(2), T=0.01, dt=0.001, n_paths=64,
                    save_at=[0.01], rng=0, backend=backend, quiet=True)


def torchsde_horizon(dt: float, steps: int) -> float:
    """``T'`` such that torchsde's loop (``t = t + dt`` from 0) takes exactly ``steps`` steps.

    torchsde steps ``next_t = min(t + dt, ts[-1])`` while ``t < ts[-1]``. With ``ts[-1] = steps*dt``
    the accumulated ``t`` usually falls a few ulps short, which adds a last step of ~1e-18; in
    torchsde 0.2.6 such a step can make the BrownianInterval grow without bound (seen here:
    ``dt=1e-4``, ``ts=[0, 0.01]``, 12 GB and no progress after 10 minutes). Accumulating ``dt``
    the same way gives the horizon the loop reaches exactly.
    """
    t = 0.0
    for _ in range(steps):
        t += dt
    return t


def torchsde_fn(N, d, n, steps):
    """A callable running torchsde on ``steps`` steps of size ``T/n``; returns steps taken."""
    import torch
    import torchsde

    class OU(torch.nn.Module):
        noise_type = "diagonal"
        sde_type = "ito"

        def __init__(self):
            super().__init__()
            self.calls = 0

        def f(self, t, y):
            self.calls += 1
            return -y

        def g(self, t, y):
            return torch.ones_like(y)

    sde = OU()
    dt = T / n
    y0 = torch.ones(N, d, dtype=torch.float64)
    ts = torch.tensor([0.0, torchsde_horizon(dt, steps)], dtype=torch.float64)

    def run():
        sde.calls = 0
        with torch.no_grad():
            torchsde.sdeint(sde, y0, ts, method="euler", dt=dt)
        return sde.calls - 1  # sdeint's contract check calls f once before stepping
    return run


class _TorchThreads:
    """Context manager setting torch's intra-op thread count, restoring it afterwards."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        import torch
        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch
        torch.set_num_threads(self.old)


def torchsde_steps(N: int, d: int, n: int, quick: bool) -> int:
    """How many of the ``n`` steps torchsde is timed on.

    torchsde's cost per step depends on how many steps the run has (its BrownianInterval tree
    changes shape: measured here, 10 paths x d=10, about 200 µs/step CPU for runs of <= 100
    steps, 700 µs at 200 steps, 380 µs at 10^4 steps), so timing a short run is not a neutral
    shortcut. The full mode therefore times every step wherever a step is cheap
    (N·d <= 10^4) and 200 steps on the (1e3, 100) size, where one step costs ~10 ms.
    """
    if quick or N * d > 10_000:
        return min(n, 200)
    return n


def torchsde_setup(N, d, n, steps):
    """Pick torch's intra-op thread count (1 vs default) on 10 steps; returns ``(run, info)``.

    torch's default thread count is kept only if it is clearly faster (< 0.8x the 1-thread time
    per step): on a shared 2-core machine intra-op threads are often oversubscribed and up to
    10x slower. ``run()`` runs ``steps`` steps and returns the number of steps it took.
    """
    import torch
    default_threads = torch.get_num_threads()
    calib = {}
    for th in sorted({1, default_threads}):
        with _TorchThreads(th):
            run = torchsde_fn(N, d, n, min(n, 10))
            run()  # warm-up
            t0 = time.perf_counter()
            taken = run()
            calib[th] = (time.perf_counter() - t0) / taken
    threads = default_threads if calib[default_threads] < 0.8 * calib[1] else 1
    inner = torchsde_fn(N, d, n, steps)

    def run():
        with _TorchThreads(threads):
            return inner()
    info = {"torch_threads": threads, "torch_default_threads": default_threads,
            "steps_requested": steps,
            "calibration_us_per_step": {str(t): 1e6 * v for t, v in calib.items()}}
    return run, info


# ----------------------------------------------------------------------------- compile cost
_COMPILE_SNIPPET = r"""
import json, time
t0 = time.perf_counter()
import numpy as np, sdesim
t_import = time.perf_counter() - t0
sde = sdesim.ou(1.0, 1.0, d=1)
def call():
    sdesim.simulate(sde, np.ones(1), T=0.01, dt=0.001, n_paths=16, save_at=[0.01], rng=0,
                    backend="numba", quiet=True)
t0 = time.perf_counter(); call(); t_first = time.perf_counter() - t0
t0 = time.perf_counter(); call(); t_warm = time.perf_counter() - t0
print(json.dumps({"import_s": t_import, "first_call_s": t_first, "warm_call_s": t_warm}))
"""


def compile_cost(cold: bool = True) -> dict:
    """First numba call in fresh processes: cold (empty temp cache dir) and with the disk cache."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = {}
    with tempfile.TemporaryDirectory(prefix="sdesim_bench_numba_") as tmp:
        cases = (("cold_compile", {"NUMBA_CACHE_DIR": tmp}),) if cold else ()
        for name, extra in cases + (("disk_cache", {}),):
            env = dict(os.environ, **extra)
            env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
            res = subprocess.run([sys.executable, "-c", _COMPILE_SNIPPET], env=env, cwd=root,
                                 capture_output=True, text=True, timeout=300)
            if res.returncode != 0:
                out[name] = {"error": res.stderr.strip().splitlines()[-1:]}
            else:
                out[name] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


# ----------------------------------------------------------------------------- driver
def bench_size(N, d, n, k, quick, have_torch, log) -> dict:
    work = N * d * n
    log(f"\n== {size_label(N, d, n)} (dt={T / n:g}, {work:.1e} path·dim·steps) ==")
    runs = {
        "floor": floor_fn(N, d, n),
        "numba": sdesim_fn(N, d, n, "numba"),
        "numba_1t": sdesim_fn(N, d, n, "numba", 1),
        "sdesim_numpy": sdesim_fn(N, d, n, "numpy"),
        "plain_numpy": plain_numpy_fn(N, d, n),
    }
    floor_fn(N, d, min(n, 10))()  # warm-ups (sdesim's were done once for all sizes)
    plain_numpy_fn(N, d, min(n, 10))()
    res = {key: {"seconds": math.inf, "steps_timed": n} for key in runs}
    if have_torch:
        runs["torchsde"], info = torchsde_setup(N, d, n, torchsde_steps(N, d, n, quick))
        res["torchsde"] = {"seconds": math.inf, "steps_timed": None, **info}
    # round-robin best-of-k: every method sees the same spread of background load
    for _ in range(k):
        for key, run in runs.items():
            t0 = time.perf_counter()
            out = run()
            secs = time.perf_counter() - t0
            res[key]["seconds"] = min(res[key]["seconds"], secs)
            if key == "torchsde":
                res[key]["steps_timed"] = out
    for r in res.values():
        r["throughput"] = N * d * r["steps_timed"] / r["seconds"]
        r["us_per_step"] = 1e6 * r["seconds"] / r["steps_timed"]
    thr = {key: r["throughput"] for key, r in res.items()}
    ratios = {
        "numba/floor": thr["numba"] / thr["floor"],
        "numba_1t/floor": thr["numba_1t"] / thr["floor"],
        "numba/numba_1t": thr["numba"] / thr["numba_1t"],
        "sdesim_numpy/floor": thr["sdesim_numpy"] / thr["floor"],
        "numba/plain_numpy": thr["numba"] / thr["plain_numpy"],
        "sdesim_numpy/plain_numpy": thr["sdesim_numpy"] / thr["plain_numpy"],
    }
    if "torchsde" in thr:
        ratios["numba/torchsde"] = thr["numba"] / thr["torchsde"]

    log(f"{'method':<44}{'steps':>7}{'best s':>9}{'µs/step':>10}{'path·dim·steps/s':>18}"
        f"{'x floor':>9}")
    for key, r in res.items():
        label = LABELS[key]
        if key == "torchsde":
            label += f", {r['torch_threads']} thr"
        steps = f"{r['steps_timed']}" + ("*" if r["steps_timed"] != n else "")
        log(f"{label:<44}{steps:>7}{r['seconds']:>9.3f}{r['us_per_step']:>10.1f}"
            f"{r['throughput']:>18.3e}{r['throughput'] / thr['floor']:>9.2f}")
    if "torchsde" in res and res["torchsde"]["steps_timed"] != n:
        log(f"* torchsde timed on {res['torchsde']['steps_timed']} of the {n} steps (same dt); "
            f"its throughput is N·d·steps_taken/s.")
    if "torchsde" in res:
        cal = ", ".join(f"{t} thr {v:.0f}"
                        for t, v in res["torchsde"]["calibration_us_per_step"].items())
        log(f"  torchsde thread calibration (µs/step on 10 steps): {cal}; timed with "
            f"{res['torchsde']['torch_threads']} thr.")
    log("ratios (same run): " + ", ".join(f"{k_} = {v:.2f}" for k_, v in ratios.items()))
    return {"N": N, "d": d, "steps": n, "dt": T / n, "results": res, "ratios": ratios}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.em_throughput",
                                description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="best of 1, shorter torchsde runs, no cold-compile subprocess")
    p.add_argument("--json", metavar="PATH", help="write all results as JSON to PATH")
    p.add_argument("--no-compile", action="store_true", help="skip the compile-cost subprocesses")
    p.add_argument("--no-stable", action="store_true", help="skip the α-stable sampler benchmark")
    args = p.parse_args(argv)
    k = 1 if args.quick else 3

    def log(msg=""):
        print(msg, flush=True)

    t_start = time.perf_counter()
    try:
        import torch  # noqa: F401
        import torchsde  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    import numba
    import sdesim

    meta = {
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full", "best_of": k,
        "python": platform.python_version(), "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "numpy": np.__version__, "numba": numba.__version__,
        "sdesim": sdesim.__version__, "loadavg_start": os.getloadavg(),
    }
    if have_torch:
        import torch
        import torchsde
        meta.update(torch=torch.__version__, torchsde=torchsde.__version__,
                    torch_default_threads=torch.get_num_threads())
    log(f"sdesim EM throughput — {meta['date']} — {meta['mode']} mode, best of {k}")
    log(f"{meta['platform']}, {meta['cpu_count']} cores, python {meta['python']}, numpy "
        f"{meta['numpy']}, numba {meta['numba']}"
        + (f", torch {meta['torch']}, torchsde {meta['torchsde']}" if have_torch else
           ", torchsde NOT installed (its columns are skipped)"))
    load = ", ".join(f"{v:.2f}" for v in meta["loadavg_start"])
    log(f"load average at start (1/5/15 min): {load}"
        + "  (above the core count means other processes share the machine)")
    if meta["loadavg_start"][0] > 0.75 * (os.cpu_count() or 1):
        log("WARNING: the machine is busy; multi-thread numbers (numba all threads, torch) are "
            "depressed and ratios against them are unreliable.")

    compile_info = None
    if not args.no_compile:
        compile_info = compile_cost(cold=not args.quick)
        log("\nnumba compile cost (fresh subprocess; OU d=1, 16 paths, 10 steps):")
        for name, what in (("cold_compile", "empty NUMBA_CACHE_DIR (true cold compile)"),
                           ("disk_cache", "on-disk cache as it is")):
            c = compile_info.get(name)
            if c is None:
                log(f"  {what}: skipped in --quick mode")
            elif "error" in c:
                log(f"  {what}: failed: {c['error']}")
            else:
                log(f"  {what:<44} import sdesim {c['import_s']:.2f} s, first call "
                    f"{c['first_call_s']:.2f} s, warm call {1e3 * c['warm_call_s']:.2f} ms")

    sdesim_warmup("numba")
    sdesim_warmup("numpy")
    sizes = [bench_size(N, d, n, k, args.quick, have_torch, log) for N, d, n in SIZES]

    log("\nthresholds (from the issue), measured in this run:")
    checks = []
    for label, i, num, den, req in THRESHOLDS:
        N, d, n = SIZES[i]
        r = sizes[i]["results"]
        if num not in r or den not in r:
            checks.append({"label": label, "size": [N, d, n], "measured": None, "required": req,
                           "result": "SKIP"})
        else:
            v = r[num]["throughput"] / r[den]["throughput"]
            checks.append({"label": label, "size": [N, d, n], "measured": v, "required": req,
                           "result": "PASS" if v >= req else "FAIL"})
        c = checks[-1]
        meas = "n/a" if c["measured"] is None else f"{c['measured']:.2f}x"
        log(f"  {label + ' @ ' + size_label(N, d, n):<62} measured {meas:>10}   "
            f"required {req:g}x   {c['result']}")

    stable = None
    if not args.no_stable:
        from .stable_sampler import run as stable_run, report as stable_report
        stable = stable_run(k=k)
        log("")
        stable_report(stable, log)

    meta["loadavg_end"] = os.getloadavg()
    meta["wall_s"] = time.perf_counter() - t_start
    log(f"\nload average at end: " + ", ".join(f"{v:.2f}" for v in meta["loadavg_end"])
        + f"; total wall time {meta['wall_s']:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "compile": compile_info, "sizes": sizes,
                       "thresholds": checks, "stable_sampler": stable}, fh, indent=2)
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
