"""Experiment: variance reduction (antithetic, control variates, MLMC) is unbiased and pays.

Prints the variance-reduction factors measured on the run (the variance plain Monte Carlo would
have with as many simulated paths, over the variance obtained) and MLMC's cost against plain
Monte Carlo's at the same target RMSE.
"""
from __future__ import annotations

import numpy as np

import sdesim
from sdesim.variance import Control, mlmc

from .registry import Claim, Result, experiment

T, MU, SIG, DT = 1.0, 0.5, 0.4, 0.05
K_SE = 4.0


def _em_gbm(q: int, h: float) -> float:
    """E X_T^q of the EM chain of GBM from 1 (q = 1, 2, 3)."""
    a, s2 = 1 + MU * h, SIG ** 2 * h
    return ({1: a, 2: a * a + s2, 3: a ** 3 + 3 * a * s2}[q]) ** round(T / h)


def _nonlinear():
    """dX = (−X³ + sin X) dt + (0.5 + 0.2 cos X) dW: nonlinear drift and multiplicative noise."""
    return sdesim.SDE(lambda t, x: -x * x * x + np.sin(x), lambda t, x: 0.5 + 0.2 * np.cos(x),
                      d=1)


def _linear4():
    """A 4-d linear SDE with matrix (non-commuting) multiplicative noise, written as a user's
    f/g (so the linearised control runs its augmented SDE)."""
    rng = np.random.default_rng(12)
    A = -np.eye(4) + 0.3 * rng.standard_normal((4, 4))
    Bs = 0.25 * rng.standard_normal((2, 4, 4))
    f = lambda t, x: x @ A.T  # noqa: E731
    g = lambda t, x: np.einsum("jde,ne->ndj", Bs, x)  # noqa: E731
    return sdesim.SDE(f, g, d=4, m=2, noise="general"), A, Bs


def _expectation_claims(n: int, seeds) -> tuple[list, dict]:
    sde, cube = sdesim.gbm(MU, SIG), (lambda x: x[:, 0] ** 3)
    exact = _em_gbm(3, DT)
    options = {"antithetic": dict(antithetic=True),
               "user control h = x^2": dict(control=Control(lambda x: x[:, 0] ** 2,
                                                            lambda h: _em_gbm(2, h))),
               "linearised control": dict(control="linear"),
               "antithetic + linearised": dict(antithetic=True, control="linear")}
    claims, factors = [], {}
    for (name, kw), seed in zip(options.items(), seeds):
        est = sdesim.expectation(sde, 1.0, cube, T=T, dt=DT, n_paths=n, rng=seed, quiet=True,
                                 **kw)
        z = float(est.zscore(exact))
        factors[name] = float(est.vr_factor)
        claims.append(Claim(f"E X_T^3 of GBM with {name}: unbiased, variance reduced",
                            measured=f"z = {z:.2f}, factor {est.vr_factor:.3g}",
                            expected=f"|z| <= {K_SE:g}, factor > 1",
                            passed=abs(z) <= K_SE and est.vr_factor > 1,
                            details={"estimate": float(est.mean), "stderr": float(est.stderr),
                                     "exact": exact, "vr_factor": float(est.vr_factor)}))
    return claims, factors


def _weak_claims(quick: bool, seeds) -> tuple[list, dict]:
    n = 40_000 if quick else 400_000
    dts = [2.0 ** -k for k in range(2, 7 if quick else 9)]
    lin4, _, _ = _linear4()
    problems = {"nonlinear scalar, phi = x^2": (_nonlinear(), 1.0, lambda x: x[:, 0] ** 2),
                "4-d linear matrix noise, phi = |x|^2": (lin4, np.ones(4),
                                                         lambda x: np.sum(x * x, axis=1))}
    claims, factors = [], {}
    for (name, (sde, x0, phi)), seed in zip(problems.items(), seeds):
        res = {}
        for tag, kw in (("plain", {}), ("reduced", dict(antithetic=True, control="linear"))):
            res[tag] = sdesim.weak_order(sde, x0, phi, T=T, dts=dts, n_paths=n, rng=seed,
                                         backend="numpy", quiet=True, **kw)
        vr = res["reduced"].vr_factor
        factors[name] = [float(v) for v in vr]
        claims.append(Claim(f"weak-order study ({name}): antithetic + linearised control reduce "
                            f"the variance of every successive difference",
                            measured=f"factors {np.min(vr):.3g}..{np.max(vr):.3g}; order CI "
                                     f"half-width {res['plain'].ci_halfwidth:.3g} -> "
                                     f"{res['reduced'].ci_halfwidth:.3g}",
                            expected="every factor > 1",
                            passed=bool(np.all(vr > 1)),
                            details={"plain": repr(res["plain"]),
                                     "reduced": repr(res["reduced"])}))
    return claims, factors


def _mlmc_claim(quick: bool, seed) -> tuple[Claim, dict]:
    rmse = 0.005 if quick else 0.001
    res = mlmc(sdesim.gbm(MU, SIG), 1.0, lambda x: x[:, 0], T=T, rmse=rmse, rng=seed,
               quiet=True)
    z = float(res.estimate.zscore(_em_gbm(1, res.dts[-1])))
    claim = Claim(f"MLMC reaches RMSE {rmse:g} on E X_T of GBM, unbiased, cheaper than plain MC",
                  measured=f"z = {z:.2f}, cost {res.cost:.3g} vs plain {res.plain_cost:.3g} "
                           f"path-steps ({res.speedup:.3g}x)",
                  expected=f"|z| <= {K_SE:g}, bias test passed, cost < plain MC's",
                  passed=abs(z) <= K_SE and res.converged and res.cost < res.plain_cost,
                  details={"summary": res.summary()})
    return claim, {"cost": res.cost, "plain_cost": res.plain_cost, "levels": len(res.dts)}


@experiment("variance_reduction", "Variance reduction: unbiased estimators, measured factors, "
            "MLMC cheaper than plain Monte Carlo")
def run(quick: bool, rng):
    """Antithetic increments, a user's control (h = x², its EM-chain mean), the built-in
    linearised control and their combination on E X_T³ of GBM (EM-chain exact value); the
    same options on weak-order studies of a nonlinear scalar SDE and of |X|² on a 4-d linear SDE
    with matrix noise (written as user f/g); MLMC (Giles 2008) against plain MC's cost."""
    seeds = rng.spawn(7)
    n = 40_000 if quick else 1_000_000
    claims, factors = _expectation_claims(n, seeds[:4])
    weak, weak_factors = _weak_claims(quick, seeds[4:6])
    ml_claim, ml = _mlmc_claim(quick, seeds[6])
    for name, f in factors.items():
        print(f"  expectation, {name}: variance reduced {f:.3g}x")
    for name, f in weak_factors.items():
        print(f"  weak order, {name}: factors " + ", ".join(f"{v:.3g}" for v in f))
    print(f"  MLMC: cost {ml['cost']:.3g} vs plain MC {ml['plain_cost']:.3g} path-steps")
    return Result(claims=claims + weak + [ml_claim],
                  params={"n_paths": n, "dt": DT, "quick": quick},
                  notes=[f"measured factors: {factors}", f"weak-order factors: {weak_factors}",
                         f"MLMC: {ml}"])
