"""The torch backend on a GPU: checks, then the issue's table, ratios measured in one run.

``python -m bench.torch_gpu [--quick] [--table FILE]`` (needs CUDA; on a machine without it,
says so and exits 0). In one process:

1. checks: the fused kernels (the tile kernel, the generated one-path-per-thread kernel for
   2 <= d <= 16) and the CUDA-graph path against the plain torch path on the CPU (float64, same
   counter-based stream: agreement to rounding), the fused kernel against the exact moments of
   the EM chain (OU and GBM, float32, within 5 standard errors), a result that does not change
   with the chunk size, and ``expectation`` / ``expectation_levels`` reduced on the device
   against the same run reduced on the host (a ``phi`` written for numpy only);
2. torch.randn's bulk rate (2^28 normals into a preallocated buffer, best of k);
3. the rows: OU expectation at 10^7 x 1 and 10^6 x 10 with 10^3 steps (ours / torch.randn for
   the same number of normals, ours / torchsde on the GPU), the fused kernel alone (states
   left on the device, no reduction), 10 x 10 with
   10^4 steps per step (OU, and a user's double well through CUDA graphs), and a GBM weak-order
   study (g = x^2, 8 coupled levels, 10^8 paths) with its wall time and order CI half-width.

Times are best of k (k = 3, 1 with ``--quick``) after one warm-up call, CUDA synchronised.
torchsde: ``sdeint(method="euler")`` on the same device, float32, diagonal-noise Itô OU class.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

T = 1.0


def _best(fn, k):
    import torch
    best, val = float("inf"), None
    for _ in range(k):
        torch.cuda.synchronize()
        t = time.perf_counter()
        val = fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best, val


def _torchsde_ou(n, d, steps, device):
    """A callable running torchsde's Euler on OU (f = -y, g = 1) for ``steps`` steps."""
    import torch
    import torchsde

    from bench.em_throughput import torchsde_horizon

    class OU(torch.nn.Module):
        noise_type, sde_type = "diagonal", "ito"

        def f(self, t, y):
            return -y

        def g(self, t, y):
            return torch.ones_like(y)

    sde, dt = OU(), T / steps
    y0 = torch.ones(n, d, device=device)
    ts = torch.tensor([0.0, torchsde_horizon(dt, steps)], device=device)

    def run():
        with torch.no_grad():
            return torchsde.sdeint(sde, y0, ts, method="euler", dt=dt)
    return run


def checks(k_se=5.0):
    """Correctness in the same run; returns a list of (name, ok, text)."""
    import torch

    import sdesim
    from sdesim.exact import ou_em_chain_moments
    out = []
    gbm = sdesim.gbm(0.5, 0.6, d=3)
    dw = sdesim.SDE(lambda t, x: x - x**3, lambda t, x: 0.5 + 0.0 * x, d=2, name="double well")
    for name, sde, x0 in (("fused GBM d=3", gbm, np.ones(3)), ("fused OU d=1", sdesim.ou(1.0, 0.7), [1.0]),
                          ("fused OU d=10", sdesim.ou(1.0, 0.7, d=10), np.linspace(-1, 1, 10)),
                          ("graphs double well", dw, np.ones(2))):
        kw = dict(T=T, dt=1 / 64, n_paths=500, save_at=[0.5, 1.0], rng=3, quiet=True,
                  backend="torch", dtype="float64")
        gpu = sdesim.simulate(sde, x0, device="cuda", **kw).xs
        cpu = sdesim.simulate(sde, x0, device="cpu", **kw).xs
        err = float(np.max(np.abs(gpu - cpu)))
        out.append((f"{name}: CUDA vs CPU plain loop, float64", err < 1e-9, f"max |diff| {err:.2e}"))
    kw = dict(T=T, dt=1 / 100, n_paths=5000, save_at=[1.0], rng=4, quiet=True, backend="torch")
    a = sdesim.simulate(gbm, np.ones(3), chunk_size=777, **kw).xs
    b = sdesim.simulate(gbm, np.ones(3), **kw).xs
    out.append(("states with chunk size 777 vs default (fused, float32)", np.array_equal(a, b),
                f"max |diff| {float(np.max(np.abs(a - b))):.1e}"))
    host_phi = lambda x: np.asarray(x)[:, 0] ** 2  # noqa: E731 - numpy only: reduced on the host
    for name, sde in (("OU d=10", sdesim.ou(1.0, 0.7, d=10)), ("double well", dw)):
        kw = dict(T=T, dt=1 / 64, n_paths=300_000, rng=5, quiet=True, backend="torch")
        x0 = np.ones(sde.d)
        dev = sdesim.expectation(sde, x0, lambda x: x[:, 0] ** 2, **kw)
        host = sdesim.expectation(sde, x0, host_phi, **kw)
        rel = abs(dev.mean - host.mean) / abs(host.mean) + abs(dev.stderr - host.stderr) / host.stderr
        out.append((f"expectation {name}: phi on the device vs on the host", rel < 1e-12,
                    f"relative diff {rel:.1e}"))
    kw = dict(T=T, dts=[1 / 4, 1 / 8, 1 / 16], n_paths=300_000, rng=6, quiet=True, backend="torch")
    dev = sdesim.expectation_levels(gbm, np.ones(3), lambda x: x[:, 0] ** 2, **kw)
    host = sdesim.expectation_levels(gbm, np.ones(3), host_phi, **kw)
    rel = float(np.max(np.abs(dev.mean - host.mean) / np.abs(host.mean))
                + np.max(np.abs(dev.cov - host.cov)) / np.max(np.abs(host.cov)))
    out.append(("expectation_levels GBM d=3, coupled: on the device vs on the host", rel < 1e-12,
                f"relative diff {rel:.1e}"))
    n, steps = 10**7, 100
    h = T / steps
    est = sdesim.expectation(sdesim.ou(1.0, 1.0), [1.0], lambda x: x[:, 0] ** 2, T=T, dt=h,
                             n_paths=n, rng=1, quiet=True, backend="torch")
    m = ou_em_chain_moments(np.eye(1), np.eye(1), [1.0], h, steps)
    exact = float(np.asarray(m.second)[..., 0, 0].reshape(-1)[-1])
    z = (float(est.mean) - exact) / float(est.stderr)
    out.append(("OU E X_1^2 vs exact EM chain, 1e7 paths", abs(z) < k_se, f"z = {z:.2f}"))
    mu, sig = 0.5, 0.6
    est = sdesim.expectation(sdesim.gbm(mu, sig), [1.0], lambda x: np.stack([x[:, 0], x[:, 0] ** 2], 1),
                             T=T, dt=h, n_paths=n, rng=2, quiet=True, backend="torch")
    ex = np.array([(1 + mu * h) ** steps, ((1 + mu * h) ** 2 + sig**2 * h) ** steps])
    z = (est.mean - ex) / est.stderr
    out.append(("GBM E X, E X^2 vs exact EM chain, 1e7 paths", bool(np.all(np.abs(z) < k_se)),
                f"z = {np.round(z, 2).tolist()}"))
    return out


def rows(k, quick):
    """The table's rows: list of dicts."""
    import torch

    import sdesim
    from sdesim.backends.torch_backend import run_key
    from sdesim.backends.torch_fused import linear_chunk
    res = []
    n_rand = 2**28
    buf = torch.empty(n_rand, device="cuda")
    t, _ = _best(lambda: torch.randn(n_rand, out=buf), k + 1)
    randn = n_rand / t
    del buf
    res.append(dict(row="torch.randn bulk (2^28 float32)", value=f"{randn:.3e} normals/s"))
    phi = lambda x: x[:, 0] ** 2  # noqa: E731
    for n, d in ((10**7, 1), (10**6, 10)):
        steps = 1000
        sde = sdesim.ou(1.0, 1.0, d=d)
        normals = n * d * steps
        first = len(res)
        for cs, label in ((None, "default chunks"), (n, "one chunk")):
            run = lambda: sdesim.expectation(sde, np.ones(d), phi, T=T, dt=T / steps, n_paths=n,  # noqa: E731
                                             rng=0, quiet=True, backend="torch", chunk_size=cs)
            run()
            t, _ = _best(run, k)
            res.append(dict(row=f"OU expectation {n:.0e} x d={d}, 1e3 steps, {label}", t=t,
                            rate=normals / t, vs_randn=normals / t / randn))
        x0 = torch.ones(n, d, device="cuda")
        key = run_key(np.random.default_rng(np.random.SeedSequence(0, spawn_key=(0,))))
        kern = lambda: linear_chunk(sde, x0, T / steps, steps, (1,), [steps], key)  # noqa: E731
        kern()
        t, _ = _best(kern, k)
        res.append(dict(row=f"fused kernel alone {n:.0e} x d={d}, 1e3 steps", t=t,
                        rate=normals / t, vs_randn=normals / t / randn))
        del x0
        ts_steps = 100 if quick else 1000
        tsde = _torchsde_ou(n, d, ts_steps, "cuda")
        tsde()
        t, _ = _best(tsde, 1)
        t_sde = t * steps / ts_steps
        res.append(dict(row=f"torchsde euler {n:.0e} x d={d}, GPU float32 ({ts_steps} steps timed)",
                        t=t_sde, rate=normals / t_sde, vs_randn=normals / t_sde / randn))
        for r in res[first:-1]:
            r["note"] = f"ours / torchsde = {t_sde / r['t']:.1f}x"
    n, d, steps = 10, 10, 10**4
    dwell = sdesim.SDE(lambda t, x: x - x**3, lambda t, x: 0.5 + 0.0 * x, d=d, name="double well")
    for name, sde in (("OU (fused)", sdesim.ou(1.0, 1.0, d=d)), ("double well f, g (CUDA graphs)", dwell)):
        run = lambda: sdesim.simulate(sde, np.ones(d), T=T, dt=T / steps, n_paths=n,  # noqa: E731
                                      save_at=[T], rng=0, quiet=True, backend="torch")
        run()
        t, _ = _best(run, k)
        res.append(dict(row=f"{name} 10 x d=10, 1e4 steps", t=t, us_step=1e6 * t / steps))
    ts_steps = 1000 if quick else 2000  # µs per step barely moves past 1e3 steps
    tsde = _torchsde_ou(n, d, ts_steps, "cuda")
    tsde()
    t, _ = _best(tsde, 1)
    res.append(dict(row=f"torchsde euler 10 x d=10 ({ts_steps} steps timed)", t=t * steps / ts_steps,
                    us_step=1e6 * t / ts_steps))
    try:
        res.append(weak_row(quick))
    except Exception as exc:  # noqa: BLE001 - report it as a row, keep the rest of the table
        res.append(dict(row="GBM weak order", note=f"failed: {exc!r:.200}"))
    return res


def weak_row(quick, mu=0.5, sig=0.2, j0=1):
    """GBM weak order, g = x^2, 8 coupled levels dt = 2^-j0 .. 2^-(j0+7), 10^8 paths: wall time
    and CI half-width."""
    import sdesim
    n = 10**7 if quick else 10**8
    dts = [T / 2**j for j in range(j0, j0 + 8)]
    exact = math.exp((2 * mu + sig**2) * T)
    t0 = time.perf_counter()
    r = sdesim.weak_order(sdesim.gbm(mu, sig), 1.0, lambda x: x[:, 0] ** 2, T=T, dts=dts,
                          n_paths=n, exact=exact, rng=0, quiet=True, backend="torch",
                          chunk_size=2**22)
    t = time.perf_counter() - t0
    hw = 0.5 * (r.order_ci[1] - r.order_ci[0])
    return dict(row=f"GBM(mu={mu}, sigma={sig}) weak order, x0 = 1, T = 1, g = x^2, 8 coupled "
                    f"levels dt = 2^-{j0}..2^-{j0 + 7}, {n:.0e} paths", t=t,
                note=f"order {r.order:.4f}, CI [{r.order_ci[0]:.4f}, {r.order_ci[1]:.4f}], "
                     f"half-width {hw:.4f}")


def table(device, res, checks_out):
    """Markdown lines of the table and the checks."""
    lines = [f"GPU: {device}", "", "| row | time (s) | path·dim·steps/s | / torch.randn | µs/step | note |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in res:
        cell = lambda key, fmt: format(r[key], fmt) if key in r else ""  # noqa: E731
        first = r["row"] + (f": {r['value']}" if "value" in r else "")
        lines.append(f"| {first} | {cell('t', '.4f')} | {cell('rate', '.3e')} | "
                     f"{cell('vs_randn', '.3f')} | {cell('us_step', '.1f')} | {r.get('note', '')} |")
    lines += ["", "Checks (same run):", ""]
    lines += [f"- {'PASS' if ok else 'FAIL'} {name}: {text}" for name, ok, text in checks_out]
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--table", help="also write the markdown table to this file")
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("torch is not installed: nothing to measure")
        return 0
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure")
        return 0
    os.environ.setdefault("SDESIM_TORCH_DEVICE", "cuda")
    device = f"{torch.cuda.get_device_name()}, torch {torch.__version__}, float32"
    print(device, flush=True)
    chk = checks()
    for name, ok, text in chk:
        print(("PASS " if ok else "FAIL ") + name + ": " + text, flush=True)
    res = rows(1 if args.quick else 3, args.quick)
    lines = table(device, res, chk)
    print("\n".join(lines))
    if args.table:
        with open(args.table, "w") as fh:
            fh.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
