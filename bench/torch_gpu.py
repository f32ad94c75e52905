"""The torch backend on a GPU: throughput against torch.randn's bulk rate, per-step cost on a
small problem, and a check against the exact EM-chain moments, all in one run.

``python -m bench.torch_gpu [--quick]`` (needs CUDA; on a machine without it, says so and
exits 0). Ratios are measured in the same run: ours / torch.randn for the same number of
normals.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def _best(fn, k):
    import torch
    best = float("inf")
    for _ in range(k):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
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
    import sdesim
    from sdesim.exact import ou_em_chain_moments
    k = 1 if args.quick else 3
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"dtype {os.environ.get('SDESIM_TORCH_DTYPE', 'float32 (default on CUDA)')}")

    n_rand = 2**28
    buf = torch.empty(n_rand, device="cuda")
    t = _best(lambda: torch.randn(n_rand, out=buf), k + 1)
    randn_rate = n_rand / t
    print(f"torch.randn bulk: {randn_rate:.3e} normals/s")

    sde1 = sdesim.ou(1.0, 1.0)
    for n, d, steps in ((10**6, 1, 100), (10**5, 10, 100)):
        sde = sdesim.ou(1.0, 1.0, d=d)
        kw = dict(T=1.0, dt=1.0 / steps, n_paths=n, rng=0, quiet=True, backend="torch")
        run = lambda: sdesim.expectation(sde, np.ones(d), lambda x: x[:, 0] ** 2, **kw)
        run()
        t = _best(run, k)
        rate = n * d * steps / t
        print(f"OU n={n:.0e} d={d} steps={steps}: {t:.3f} s, {rate:.3e} path-dim-steps/s, "
              f"{rate / randn_rate:.4f} x torch.randn")

    n, d, steps = 10, 10, 1000
    sde = sdesim.ou(1.0, 1.0, d=d)
    run = lambda: sdesim.simulate(sde, np.ones(d), T=1.0, dt=1.0 / steps, n_paths=n,
                                  save_at=[1.0], rng=0, quiet=True, backend="torch")
    run()
    t = _best(run, k)
    print(f"OU n={n} d={d} steps={steps}: {1e6 * t / steps:.1f} us per step")

    n, steps = 10**6, 100
    est = sdesim.expectation(sde1, [1.0], lambda x: x[:, 0] ** 2, T=1.0, dt=1.0 / steps,
                             n_paths=n, rng=1, quiet=True, backend="torch")
    m = ou_em_chain_moments(np.eye(1), np.eye(1), [1.0], 1.0 / steps, steps)
    exact = float(np.asarray(m.second)[..., 0, 0].reshape(-1)[-1])
    print(f"check on CUDA: E X_1^2 = {float(est.mean):.6f} +- {float(est.stderr):.6f}, exact EM chain "
          f"{exact:.6f}, z = {(float(est.mean) - exact) / float(est.stderr):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
