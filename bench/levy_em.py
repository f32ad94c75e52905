"""Euler–Maruyama for an SDE driven by symmetric α-stable noise: sdesim against what people write.

Run from the repo root::

    python -m bench.levy_em            # best of 3
    python -m bench.levy_em --quick    # best of 1

Problem: the α-stable OU process ``dX = -X dt + dL`` (``L`` standard SαS, α = 1.5 on every
coordinate), ``x0 = 0``, ``T = 1``, ``dt = 1/steps``, at (N, d, steps) = (1e4, 1, 1000) and
(1e3, 10, 1000).

Methods (all draw the same law: SαS increments ``h^{1/α} S_α(1)``, ``exp(-|u|^α)`` scaled):

- ``sdesim numba``: ``sdesim.simulate(sdesim.ou(1, 1, d, driver=Stable(1.5)), ...,
  save_at=[T])``, default chunk size, all threads; and with ``n_threads=1``;
- ``sdesim numpy``: the same with ``backend="numpy"``;
- ``numpy + scipy``: a Python loop ``x += -x*dt + dt**(1/α) * levy_stable.rvs(α, 0, size=(N, d))``
  — what a user of scipy writes;
- ``numpy + CMS``: the same loop drawing with a vectorised Chambers–Mallows–Stuck in numpy
  (``sdesim.drivers.standard_stable``) — what a user who knows CMS writes.

Every number is the best of ``k`` timed calls, taken round-robin; warm-up calls (compilation
included) are not timed; ratios are formed within this run.
"""
from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

ALPHA = 1.5
SIZES = [(10_000, 1, 1_000), (1_000, 10, 1_000)]
T = 1.0
LABELS = {"numba": "sdesim numba, all threads", "numba_1t": "sdesim numba, n_threads=1",
          "sdesim_numpy": "sdesim numpy backend", "scipy_loop": "numpy loop + scipy levy_stable",
          "cms_loop": "numpy loop + numpy CMS"}


def _sdesim(N, d, n, backend, n_threads=None):
    import sdesim
    sde = sdesim.ou(1.0, 1.0, d=d, driver=sdesim.Stable(ALPHA))
    x0 = np.zeros(d)

    def run():
        return sdesim.simulate(sde, x0, T=T, dt=T / n, n_paths=N, save_at=[T], rng=0,
                               backend=backend, n_threads=n_threads, quiet=True)
    return run


def _loop(N, d, n, draw):
    dt = T / n
    scale = dt ** (1.0 / ALPHA)
    rng = np.random.default_rng(0)

    def run():
        x = np.zeros((N, d))
        for _ in range(n):
            x += -x * dt + scale * draw(rng, (N, d))
        return x
    return run


def _scipy_draw(rng, shape):
    from scipy.stats import levy_stable
    return levy_stable.rvs(ALPHA, 0.0, size=shape, random_state=rng)


def _cms_draw(rng, shape):
    from sdesim.drivers import standard_stable
    return standard_stable(rng, ALPHA, shape)


def methods(N, d, n) -> dict:
    return {"numba": _sdesim(N, d, n, "numba"), "numba_1t": _sdesim(N, d, n, "numba", 1),
            "sdesim_numpy": _sdesim(N, d, n, "numpy"),
            "scipy_loop": _loop(N, d, n, _scipy_draw), "cms_loop": _loop(N, d, n, _cms_draw)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="best of 1 instead of 3")
    args = ap.parse_args(argv)
    k = 1 if args.quick else 3
    print(f"sdesim α-stable EM throughput (α = {ALPHA}), best of {k}; {os.cpu_count()} cores, "
          f"load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    out = {}
    for N, d, n in SIZES:
        ms = methods(N, d, n)
        _sdesim(16, d, 10, "numba")()            # compile / load the kernels, untimed
        _sdesim(16, d, 10, "numba", 1)()
        best = {m: math.inf for m in ms}
        for _ in range(k):
            for m, fn in ms.items():
                t0 = time.perf_counter()
                fn()
                best[m] = min(best[m], time.perf_counter() - t0)
        work = N * d * n
        print(f"\n== N={N:.0e} paths, d={d}, {n} steps ==".replace("e+0", "e"))
        print(f"{'method':36s} {'best s':>8s} {'path·dim·steps/s':>17s} {'x scipy loop':>13s}")
        for m, t in best.items():
            print(f"{LABELS[m]:36s} {t:8.3f} {work / t:17.3e} {best['scipy_loop'] / t:13.1f}")
        out[(N, d, n)] = best
    return out


if __name__ == "__main__":
    main()
