"""Golden outputs: fixed-seed results of the public API on every backend, recorded before the
engine was restructured, so a refactoring proves it changed no number.

``python -m tests.golden.cases --write`` records ``golden.npz`` (only when a change is *meant*
to change results); ``tests/test_golden.py`` recomputes every case and compares bitwise.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import sdesim
from sdesim import escape, levy, sgd

HERE = Path(__file__).parent
BACKENDS = ("numpy", "numba", "numba-numpy-rng")


def _duffing_f(t, x):
    out = np.empty_like(x)
    out[:, 0] = x[:, 1]
    out[:, 1] = x[:, 0] - x[:, 0] * x[:, 0] * x[:, 0] - 0.3 * x[:, 1]
    return out


def _duffing_g(t, x):
    return 0.2 + 0.1 * np.abs(x)


def _general_g(t, x):
    out = np.empty((x.shape[0], 2, 3))
    out[:, 0, 0] = 0.3 * x[:, 1]
    out[:, 0, 1] = 0.1
    out[:, 0, 2] = 0.2 * x[:, 0]
    out[:, 1, 0] = 0.1 * x[:, 0]
    out[:, 1, 1] = 0.05
    out[:, 1, 2] = 0.3
    return out


def _lin_f(t, x):
    return -0.5 * x


def problems():
    """name -> (sde, x0)."""
    stable_ou = sdesim.ou(1.0, 0.5, d=2, driver=sdesim.Stable([1.3, 1.8]))
    return {
        "ou2": (sdesim.ou([1.0, 2.0], [0.5, 0.3]), [1.0, -1.0]),
        "ou_dense": (sdesim.ou(np.array([[1.0, 0.3], [0.0, 2.0]]),
                               np.array([[0.5, 0.1], [0.0, 0.4]])), [1.0, 0.5]),
        "gbm": (sdesim.gbm(0.5, 0.4), [1.0]),
        "linear_general": (sdesim.linear(-np.eye(2), [np.array([[0, 0.3], [0, 0]]),
                                                       np.array([[0, 0], [0.3, 0]])]), [1.0, 1.0]),
        "stable_ou": (stable_ou, [0.5, -0.5]),
        "duffing": (sdesim.SDE(_duffing_f, _duffing_g, d=2), [0.5, 0.0]),
        "general": (sdesim.SDE(_lin_f, _general_g, d=2, m=3, noise="general"), [1.0, 0.5]),
        "additive_matrix": (sdesim.SDE(_lin_f, np.array([[0.5, 0.1], [0.0, 0.3]]), d=2,
                                       noise="additive"), [0.0, 0.0]),
    }


def _square(x):
    return x[:, 0] ** 2


def compute() -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, (sde, x0) in problems().items():
        for b in BACKENDS:
            p = sdesim.simulate(sde, x0, T=0.5, dt=0.05, n_paths=37, rng=11, backend=b,
                                chunk_size=16, quiet=True)
            out[f"simulate/{name}/{b}"] = p.xs
            e = sdesim.expectation(sde, x0, _square, T=0.5, dt=0.05, n_paths=300,
                                   times=[0.25, 0.5], rng=5, backend=b, quiet=True)
            out[f"expectation/{name}/{b}"] = np.array([e.mean, e.stderr])
            lv = sdesim.expectation_levels(sde, x0, _square, T=0.5, dts=[0.1, 0.05, 0.025],
                                           n_paths=200, rng=3, backend=b, chunk_size=64,
                                           quiet=True)
            out[f"levels/{name}/{b}"] = np.concatenate([lv.mean, lv.cov.ravel()])
    gbm = sdesim.gbm(0.5, 0.4)
    for b in BACKENDS:
        r = sdesim.weak_order(gbm, [1.0], _square, T=1.0, dts=[2.0**-k for k in range(1, 6)],
                              n_paths=20_000, rng=2, backend=b, quiet=True)
        out[f"weak_order/gbm/{b}"] = np.concatenate(
            [r.means, r.errors, r.stderrs, [r.order], np.asarray(r.order_ci, float)])
    ou_b = sdesim.ou(1.0, 1.0)
    stab = sdesim.SDE(lambda t, x: -x, np.ones(2), d=2, noise="additive",
                      driver=sdesim.Stable([1.5, 1.9]))
    domains = {"interval": (ou_b, escape.Interval(-1.0, 1.0), [0.2]),
               "ball": (stab, escape.Ball(np.zeros(2), 1.0), [0.1, 0.0]),
               "box": (stab, escape.Box([-1.0, -2.0], [1.0, 2.0]), [0.0, 0.0])}
    for name, (sde, dom, x0) in domains.items():
        for b in BACKENDS:
            r = escape.exit_times(sde, x0, dom, dt=0.01, t_max=2.0, n_paths=500, rng=4,
                                  backend=b, chunk_size=128, quiet=True)
            out[f"exit/{name}/{b}"] = np.concatenate(
                [r.times, r.exited.astype(float), r.position.ravel(), r.axis.astype(float),
                 r.side.astype(float)])
    orc = sgd.NoisyQuadratic(np.diag([1.0, 0.5]), noise="skewed")
    for method, l in (("gd", 1), ("sgd", 1), ("ngd", 1), ("svag", 4), ("naive", 4)):
        p = sgd.run(orc, np.ones(2), lr=0.1, T=1.0, method=method, l=l, n_paths=50, rng=6,
                    quiet=True)
        out[f"sgd_run/{method}"] = p.xs
        e = sgd.expectation(orc, np.ones(2), phi=_square, lr=0.1, T=1.0, n_paths=400,
                            method=method, l=l, rng=7, quiet=True)
        out[f"sgd_expectation/{method}"] = np.array([e.mean, e.stderr])
    rs = np.random.default_rng(0)
    A = rs.standard_normal((64, 3))
    for repl in (True, False):
        lr_orc = sgd.LinearRegression(A, A @ np.ones(3) + rs.standard_normal(64),
                                      replacement=repl)
        p = sgd.run(lr_orc, np.zeros(3), lr=0.05, T=0.5, batch_size=4, n_paths=20, rng=8,
                    quiet=True)
        out[f"sgd_run/linreg/{repl}"] = p.xs
    for a in (0.8, 1.0, 1.5, 2.0):
        out[f"stable_rvs/{a}"] = levy.stable_rvs(a, 5000, rng=9)
    x = levy.stable_rvs(1.5, 20_000, rng=10)
    for meth in ("mohammadi", "logmoment", "mcculloch", "mle"):
        kw = {"rng": 1} if meth == "mcculloch" else {}
        est = levy.estimate_alpha(x[:25] if meth == "mle" else x, method=meth, **kw)
        out[f"alpha/{meth}"] = np.array([est.alpha, est.lo, est.hi, est.stderr])
    sde = sgd.levy_sgd_sde(lambda x: x * x * x - x, 1, 1.5, 0.3, 0.01,
                           scheduler=sgd.power_law_scheduler(-0.5))
    p = sdesim.simulate(sde, [0.0], T=1.0, dt=0.01, n_paths=64, rng=12, backend="numba",
                        quiet=True)
    out["levy_sgd_sde/simulate"] = p.xs
    return out


if __name__ == "__main__":
    if "--write" not in sys.argv:
        sys.exit("usage: python -m tests.golden.cases --write   (re-records golden.npz)")
    np.savez_compressed(HERE / "golden.npz", **compute())
    print(f"wrote {HERE / 'golden.npz'}")
