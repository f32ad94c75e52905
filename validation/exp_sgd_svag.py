"""SVAG converges to the Itô SDE at order 1 in 1/l (LMA Theorem 4.3); the naive alternative does not.

Two parts:

1. Non-quadratic loss ``L = x²/2 - β cos x`` (Lipschitz gradient, as Theorem 4.3 assumes) with
   skewed (centred-exponential) gradient noise: ``e(l) = E g(x^{SVAG}_{lT/η}) - E g(X_T)`` for
   ``g = x³`` and l = 1, 2, 4, …, against an SDE reference from coupled Euler–Maruyama levels
   with Richardson extrapolation (``2 E^{h/2} - E^{h}``, bias O(h²)).

   *Variance reduction (control variate).* Every SVAG path carries a second coordinate, the
   linear chain ``y' = y - (η/l)(a y + ζ)`` with ``a = 1 + β`` driven by the *same* two-batch
   noise ζ; every SDE path carries the linear SDE ``dY = -aY dt + (ηΣ)^{1/2} dW`` on the same
   Brownian path. ``E y³`` is exact for both (mean, variance and third cumulant of a linear
   recursion, docs/theory.md §C.3; Gaussian EM chain), so
   ``e(l) = E[x³ - y³]_{SVAG} - E[X³ - Y³]_{SDE} + (E y³_{SVAG, exact} - E Y³_{SDE, exact})``
   is unbiased and its Monte-Carlo variance is ~100 times smaller than the plain difference.
   The order is fitted here by generalised least squares of ``e(h) = C h^p (1 + D h)`` in
   ``h = 1/l`` on ``l >= 4`` with the full covariance (the SDE reference is shared by all l);
   the reported 95% CI adds to ``1.96 se(p)`` a truncation allowance (the shift of p that an
   omitted ``γ D² C h^{p+2}`` term, γ = 2, would cause); the claim passes when
   ``|p - 1| <= 4.5 se + allowance`` (the suite's K = 4.5 convention), the 95% half-width is at
   most 0.2, and the fit is not degenerate: ``|D| h_max <= 1`` (the "correction" must not
   dominate) and χ² p-value >= 1e-6 (below 0.01 the standard error is inflated by the Birge
   ratio ``sqrt(χ²/dof)``).
   :func:`sdesim.order_fit.fit_order` is deliberately not used (it is being reworked).
2. Quadratic loss started at the minimum, where ``E x³`` is the third cumulant exactly
   (docs/theory.md §C.3): SVAG's gap is ``(3l-1)/2 · (η/l)³ Λ Σ μ^{3j}`` (order 1), the naive
   amplification's (LR η/l, one batch's noise times √l) is ``l^{3/2} (η/l)³ Λ Σ μ^{3j}``
   (order ½). Monte Carlo must match both exact curves; their exact local orders
   ``log₂(K₃(l)/K₃(2l))`` at l = 512 → 1024 are 1 and ½. In 2-d (correlated Σ, non-diagonal H)
   :func:`sdesim.exact.sgd_quadratic_cumulants` gives ``‖K₃‖`` exactly for l = 2^2..2^10; its
   slope against log l, fitted with 1/l and 1/l² terms, is −1 (SVAG) and −½ (naive) within 5e-4.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

import sdesim
from sdesim.sgd import FunctionOracle, GradientNoise, NoisyQuadratic, expectation
from validation.registry import Claim, Result, experiment

K = 4.5
GAMMA = 2.0     # truncation allowance: |E| <= GAMMA * D^2 for the omitted E h^2 term
L_MIN = 4       # fit range l >= L_MIN: the O(1/l^2) term is then <~ 3% of the error


def _k3_exact(lam, lr, T, Lam, l, naive):
    h = lr / l
    k = int(round(l * T / lr))
    mu = 1 - lam * h
    c3 = l**1.5 if naive else (3 * l - 1) / 2
    return -h**3 * c3 * Lam * (1 - mu ** (3 * k)) / (1 - mu**3)


def _linear_cube(x0, mu, k, var_inc, k3_inc):
    """Exact ``E y_k³`` for ``y_{j+1} = μ y_j + ε_j``, i.i.d. ε with variance and third moment given."""
    m = mu**k * x0
    v = var_inc * (1 - mu ** (2 * k)) / (1 - mu**2)
    k3 = k3_inc * (1 - mu ** (3 * k)) / (1 - mu**3)
    return m**3 + 3 * m * v + k3


def fit_power_next(h, y, cov, gamma=GAMMA, level=0.95):
    """GLS fit of ``y = C h^p (1 + D h)`` with a truncation allowance; a small dict of results.

    ``allowance`` is the linear response of p to adding ``gamma D² C h^{p+2}`` to the data.
    When the χ² p-value is below 0.01 the standard error is inflated by ``sqrt(χ²/dof)`` (the
    Birge ratio; ``poor_fit``). ``degenerate`` is True when ``|D| max(h) > 1`` (the correction
    dominates the leading term: the fit has traded p for D) or the p-value is below 1e-6.
    """
    h, y = np.asarray(h, float), np.asarray(y, float)
    Lc = np.linalg.cholesky(np.asarray(cov, float))

    def model(th):
        C, p, D = th
        return C * h**p * (1 + D * h)

    def jac(th):
        C, p, D = th
        base = h**p * (1 + D * h)
        return np.column_stack([base, C * base * np.log(h), C * h**p * h])

    def wres(th):
        return np.linalg.solve(Lc, model(th) - y)

    # start from the log-log slope of the two finest points
    p0 = math.log(y[-2] / y[-1]) / math.log(h[-2] / h[-1]) if y[-2] * y[-1] > 0 else 1.0
    sol = optimize.least_squares(wres, [y[-1] / h[-1] ** p0, p0, 0.0],
                                 jac=lambda th: np.linalg.solve(Lc, jac(th)), method="lm",
                                 xtol=1e-14, ftol=1e-14)
    th = sol.x
    Jw = np.linalg.solve(Lc, jac(th))
    info_inv = np.linalg.inv(Jw.T @ Jw)
    se = math.sqrt(info_inv[1, 1])
    chi2 = float(np.sum(sol.fun**2))
    dof = len(y) - 3
    pval = float(stats.chi2.sf(chi2, dof)) if dof > 0 else float("nan")
    poor = bool(dof > 0 and pval < 0.01)
    if poor:
        se *= math.sqrt(chi2 / dof)
    C, p, D = th
    extra = gamma * D**2 * C * h ** (p + 2)
    allowance = float(abs((info_inv @ Jw.T @ np.linalg.solve(Lc, extra))[1]))
    z = stats.norm.ppf(0.5 + level / 2)
    hw = z * se + allowance
    degenerate = bool(abs(D) * h.max() > 1 or (dof > 0 and pval < 1e-6))
    return {"C": float(C), "order": float(p), "D": float(D), "se": se, "allowance": allowance,
            "ci": (float(p - hw), float(p + hw)), "halfwidth": float(hw), "chi2": chi2,
            "dof": dof, "pvalue": pval, "poor_fit": poor, "degenerate": degenerate}


def exact_k3_orders(lr, T, ls):
    """Orders in l of the exact third-cumulant gap ``‖K₃‖`` (the SDE's is 0) of SVAG and naive on a
    2-d quadratic with skewed noise (:func:`sdesim.exact.sgd_quadratic_cumulants`, no Monte
    Carlo): slope of ``log ‖K₃‖ = c + p log l + a/l + b/l²`` (the exact values are ``C l^p``
    times a series in 1/l) and, for comparison, the plain log-log slope."""
    H, Sigma = np.array([[1.0, 0.3], [0.3, 2.0]]), np.array([[1.0, 0.4], [0.4, 0.5]])
    orc = NoisyQuadratic(H, Sigma, noise="skewed")
    Lam = orc.noise_third_moment(np.zeros((1, 2)))[0]
    ls = np.asarray(ls, float)
    X = np.column_stack([np.ones_like(ls), np.log(ls), 1 / ls, 1 / ls**2])
    out = {}
    for m in ("svag", "naive"):
        gap = np.log([np.linalg.norm(sdesim.exact.sgd_quadratic_cumulants(
            H, Sigma, Lam, lr, [1.0, 0.0], [0.0, 0.0], int(round(l * T / lr)), method=m, l=l).k3)
            for l in ls])
        out[m] = float(np.linalg.lstsq(X, gap, rcond=None)[0][1])
        out[m + "_plain"] = float(np.polyfit(np.log(ls), gap, 1)[0])
    return out


def k3_monte_carlo(n, seed, l=4, lr=0.5, T=1.0):
    """SVAG on the 2-d quadratic with skewed noise of :func:`exact_k3_orders` (x0 = (1, 0)):
    the streamed third central moments about the exact mean, z-scores against the exact third
    cumulant of :func:`sdesim.exact.sgd_quadratic_cumulants` (all 8 entries of the tensor)."""
    H, Sigma = np.array([[1.0, 0.3], [0.3, 2.0]]), np.array([[1.0, 0.4], [0.4, 0.5]])
    orc = NoisyQuadratic(H, Sigma, noise="skewed")
    Lam = orc.noise_third_moment(np.zeros((1, 2)))[0]
    x0 = np.array([1.0, 0.0])
    exact = sdesim.exact.sgd_quadratic_cumulants(H, Sigma, Lam, lr, x0, [0.0, 0.0],
                                                 int(round(l * T / lr)), method="svag", l=l)

    def cubes(x):
        c = x - exact.mean
        return np.einsum("ni,nj,nk->nijk", c, c, c).reshape(len(x), 8)

    est = expectation(orc, x0, cubes, T=T, lr=lr, n_paths=n, method="svag", l=l, rng=seed,
                      quiet=True)
    z = (est.mean - exact.k3.reshape(8)) / est.stderr
    return {"z": z, "mc": est.mean, "se": est.stderr, "exact": exact.k3.reshape(8), "l": l,
            "n_paths": n}


LR, T_END, BETA, X0 = 0.5, 2.0, 0.5, 0.5
A_CV = 1.0 + BETA   # the control variate's linear drift (L''(0))
LAM3 = 2.0          # third moment of the per-example centred exponential


def svag_errors(ls, n, s_ref, s_svag):
    """Part 1: ``e(l)`` with its covariance (control-variate estimator of the module docstring).

    Returns a dict with ``errors`` (len(ls),), ``cov`` (shared reference included), the SDE
    reference and its variance, the exact linear part and the control variate's stderr gain.
    """
    lr, T, beta, x0, a = LR, T_END, BETA, X0, A_CV
    noise = GradientNoise([[1.0]], "skewed")

    def grad2(x):
        return np.column_stack([x[:, 0] + beta * np.sin(x[:, 0]), a * x[:, 1]])

    def sample_grad2(x, rng_, B):   # one noise draw shared by the nonlinear and linear chains
        return grad2(x) + noise.sample(rng_, x.shape[0], B)

    orc = FunctionOracle(lambda x: 0.5 * x[:, 0] ** 2 - beta * np.cos(x[:, 0]) + 0.5 * a * x[:, 1] ** 2,
                         grad2, d=2, sample_grad=sample_grad2)

    def phi2(x):
        return np.column_stack([x[:, 0] ** 3 - x[:, 1] ** 3, x[:, 0] ** 3])

    # SDE reference: coupled EM levels of (X, Y) on one Brownian path, Richardson-extrapolated
    h = lr / (4 * max(ls))
    s = math.sqrt(lr * 1.0)         # (η Σ)^{1/2}, Σ = 1

    def f_sde(t, x):
        out = np.empty_like(x)
        out[:, 0] = -(x[:, 0] + beta * np.sin(x[:, 0]))
        out[:, 1] = -a * x[:, 1]
        return out

    sde = sdesim.SDE(f_sde, np.array([[s], [s]]), d=2, noise="additive", name="SDE + linear CV")
    lev = sdesim.expectation_levels(sde, [x0, x0], lambda x: x[:, 0] ** 3 - x[:, 1] ** 3, T=T,
                                    dts=[2 * h, h], n_paths=n, rng=s_ref, backend="numpy",
                                    quiet=True)
    w = np.array([-1.0, 2.0])
    y_sde = [_linear_cube(x0, 1 - a * hh, int(round(T / hh)), hh * s * s, 0.0) for hh in (2 * h, h)]
    ref = float(w @ lev.mean) + float(w @ y_sde)
    ref_var = float(w @ lev.cov @ w)

    seeds = s_svag.spawn(len(ls))
    ests = [expectation(orc, [x0, x0], phi2, T=T, lr=lr, n_paths=n, method="svag", l=l, rng=sd,
                        quiet=True)
            for l, sd in zip(ls, seeds)]
    y_svag = np.array([_linear_cube(x0, 1 - a * lr / l, int(round(l * T / lr)),
                                    (lr / l) ** 2 * l, -(lr / l) ** 3 * (3 * l - 1) / 2 * LAM3)
                       for l in ls])
    err = np.array([float(e.mean[0]) for e in ests]) + y_svag - ref
    cov = np.diag([float(e.stderr[0]) ** 2 for e in ests]) + ref_var   # the reference is shared
    plain_se = np.array([float(e.stderr[1]) for e in ests])            # without the control variate
    return {"errors": err, "cov": cov, "reference": ref, "reference_var": ref_var,
            "linear_part": y_svag - float(w @ y_sde), "dts": [2 * h, h],
            "cv_gain": float(np.median(plain_se / np.sqrt(np.diag(cov) - ref_var)))}


@experiment("sgd_svag_order", "SVAG -> Itô SDE at weak order 1 in 1/l; naive amplification only 1/2")
def run(quick: bool, rng):
    """SVAG (LMA eq. 5) against a converged SDE reference on a non-quadratic loss with skewed
    noise (Theorem 4.3), with a linear-chain control variate that shares SVAG's and the SDE's
    noise (exact E y³ for both; see the module docstring) and a GLS fit of ``C h^p(1+Dh)``,
    h = 1/l, on l >= 4 whose CI includes a truncation allowance; and SVAG vs the naive √l
    amplification on a quadratic with exact third cumulants (Lemma 4.7 iii–iv, docs/theory.md
    §C.3)."""
    s_ref, s_svag, s_quad, s_k3 = rng.spawn(4)
    lr, T, Lam = LR, T_END, LAM3
    ls = [1, 2, 4, 8, 16, 32] if quick else [1, 2, 4, 8, 16, 32, 64]
    n = 50_000 if quick else 200_000
    part1 = svag_errors(ls, n, s_ref, s_svag)
    err, cov = part1["errors"], part1["cov"]
    ref, ref_var, cv_gain = part1["reference"], part1["reference_var"], part1["cv_gain"]
    use = np.array(ls) >= L_MIN
    hs = 1.0 / np.array(ls, float)
    fit = fit_power_next(hs[use], err[use], cov[np.ix_(use, use)])
    # pass/fail at K standard errors (the suite's false-failure convention) plus the allowance;
    # the 95% CI is what is reported, and it must be informative
    ok1 = (abs(fit["order"] - 1.0) <= K * fit["se"] + fit["allowance"] and not fit["degenerate"]
           and fit["halfwidth"] <= 0.2)

    # quadratic, x0 = x*: E x^3 is the third cumulant, exact for SVAG and naive
    lam = 1.0
    quad = NoisyQuadratic([[lam]], [[1.0]], noise="skewed")
    n_q = 50_000 if quick else 200_000
    zs, exact = {}, {}
    qseeds = s_quad.spawn(2 * len(ls))
    for j, method in enumerate(["svag", "naive"]):
        exact[method] = np.array([_k3_exact(lam, lr, T, Lam, l, method == "naive") for l in ls])
        est = [expectation(quad, [0.0], lambda x: x[:, 0] ** 3, T=T, lr=lr, n_paths=n_q,
                           method=method, l=l, rng=qseeds[j * len(ls) + i], quiet=True)
               for i, l in enumerate(ls)]
        zs[method] = np.array([float(e.zscore(x)) for e, x in zip(est, exact[method])])
        exact[method + "_mc"] = np.array([float(e.mean) for e in est])
        exact[method + "_se"] = np.array([float(e.stderr) for e in est])
    gap_z = float((exact["naive_mc"][-1] - exact["svag_mc"][-1])
                  / math.hypot(exact["naive_se"][-1], exact["svag_se"][-1]))
    local = {m: math.log2(_k3_exact(lam, lr, T, Lam, 512, m == "naive")
                          / _k3_exact(lam, lr, T, Lam, 1024, m == "naive")) for m in ("svag", "naive")}
    slopes = exact_k3_orders(lr, T, 2 ** np.arange(2, 11))
    k3mc = k3_monte_carlo(1_000_000 if quick else 10_000_000, s_k3)
    zk3 = float(np.max(np.abs(k3mc["z"])))
    zmax = float(max(np.abs(zs["svag"]).max(), np.abs(zs["naive"]).max()))

    claims = [
        Claim(f"SVAG weak error in E x^3 (non-quadratic, skewed noise): order in 1/l, l >= {L_MIN}",
              measured=f"{fit['order']:.3f} CI [{fit['ci'][0]:.3f}, {fit['ci'][1]:.3f}] "
                       f"(±{1.96 * fit['se']:.3f} stat + {fit['allowance']:.3f} trunc.)",
              expected=f"|p-1| <= {K} se + allowance; 95% CI half-width <= 0.2; not degenerate",
              passed=ok1,
              details={"ls": ls, "errors": err.tolist(), "stderrs": np.sqrt(np.diag(cov)).tolist(),
                       "reference": ref, "reference_se": ref_var**0.5, "fit": fit,
                       "control_variate_se_gain": cv_gain,
                       "linear_part_exact": part1["linear_part"].tolist()}),
        Claim("Monte Carlo E x^3 of SVAG and naive on the quadratic = exact third cumulant",
              measured=f"max |z| = {zmax:.2f}", expected=f"|z| <= {K} at every l",
              passed=zmax <= K,
              details={"z_svag": zs["svag"].tolist(), "z_naive": zs["naive"].tolist(),
                       f"naive - SVAG at l = {ls[-1]} (z)": gap_z}),
        Claim("third-moment gap, exact local order log2(K3(512)/K3(1024)): SVAG vs naive",
              measured=f"SVAG {local['svag']:.4f}, naive {local['naive']:.4f}",
              expected="1 and 0.5 (within 0.01)",
              passed=abs(local["svag"] - 1) < 0.01 and abs(local["naive"] - 0.5) < 0.01),
        Claim("exact third-cumulant slopes -1 (SVAG) and -1/2 (naive): 2-d quadratic, skewed "
              "noise, l = 2^2..2^10, fit with 1/l and 1/l^2 terms",
              measured=f"SVAG {slopes['svag']:.5f}, naive {slopes['naive']:.5f}",
              expected="-1 and -0.5 (within 5e-4)",
              passed=abs(slopes["svag"] + 1) < 5e-4 and abs(slopes["naive"] + 0.5) < 5e-4,
              details=slopes),
        Claim(f"exact SVAG third cumulant (2-d quadratic, skewed noise, l = {k3mc['l']}) = "
              f"{k3mc['n_paths']:.0e}-path simulation, all 8 tensor entries",
              measured=f"max |z| = {zk3:.2f}", expected=f"|z| <= {K} at every entry",
              passed=zk3 <= K, details=k3mc),
    ]

    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    se = np.sqrt(np.diag(cov))
    a1.errorbar(ls, np.abs(err), yerr=2 * se, fmt="o", label="|E x³(SVAG) − E X³_T| ± 2 se")
    hh = np.geomspace(1.0 / ls[-1], 1.0, 100)
    a1.plot(1 / hh, np.abs(fit["C"] * hh ** fit["order"] * (1 + fit["D"] * hh)), "-",
            label=f"fit C h^p(1+Dh), l ≥ {L_MIN}: p = {fit['order']:.3f}")
    a1.set(xscale="log", yscale="log", xlabel="l", title="SVAG → SDE (non-quadratic, skewed noise)")
    a1.legend()
    ls_fine = 2.0 ** np.arange(0, 11)
    for m, c in (("svag", "C0"), ("naive", "C3")):
        a2.plot(ls_fine, [abs(_k3_exact(lam, lr, T, Lam, l, m == "naive")) for l in ls_fine], "-",
                color=c, label=f"{m}: exact |K₃| (local order {local[m]:.2f})")
        a2.errorbar(ls, np.abs(exact[m + "_mc"]), yerr=2 * exact[m + "_se"], fmt="o", color=c)
    a2.set(xscale="log", yscale="log", xlabel="l", title="third-moment gap on a quadratic")
    a2.legend()
    fig.tight_layout()
    return Result(claims=claims, figures={"svag_order": fig},
                  params={"lr": lr, "T": T, "beta": BETA, "x0": X0, "ls": ls, "n_paths": n,
                          "n_paths_quadratic": n_q, "sde_reference_dt": part1["dts"],
                          "control_variate_drift": A_CV, "fit_l_min": L_MIN,
                          "truncation_gamma": GAMMA},
                  notes=[f"SDE reference E X_T^3 = {ref:.5f} ± {ref_var**0.5:.1e}",
                         f"control variate: standard errors {cv_gain:.0f}× smaller than plain SVAG",
                         f"fit: p = {fit['order']:.4f}, se {fit['se']:.4f}, allowance "
                         f"{fit['allowance']:.4f}, D = {fit['D']:.3f}, χ² = {fit['chi2']:.2f} on "
                         f"{fit['dof']} dof (p-value {fit['pvalue']:.2f})"])
