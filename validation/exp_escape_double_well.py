"""Experiment: escape from a 1-d double well, Brownian (Kramers: exponential in 1/ε²) vs
α-stable (Imkeller–Pavlyukevich: polynomial, ε^{-α}, with its leading finite-ε correction)."""
from __future__ import annotations

import math

import numpy as np

import sdesim
from scipy import optimize
from scipy import stats as sps

from sdesim.escape import Interval, exit_times
from sdesim.exact import (GOBET_SHIFT, big_jump_rate, diffusion_mean_exit_time,
                          stable_tail_constant)

from .registry import Claim, Result, experiment

K_SE = 4.0
LEFT, SADDLE, X0 = -3.0, 0.0, -1.0   # basin (-3, 0) of the minimum -1; saddle at 0
B_MINUS, B_PLUS = X0 - LEFT, SADDLE - X0
ALPHA = 1.5
DT = 0.01        # Brownian part
DT_ST = 0.05     # α-stable part (checked against DT_ST/2 in the run)
P_MIN = 1e-3     # goodness-of-fit floor (χ² p-value) of the finite-ε correction models
EPS_FIT_MAX = 0.1  # the first-order correction model is fitted on ε <= this (c₁ε <~ 0.15)


def U(y):
    return y ** 4 / 4 - y ** 2 / 2     # ΔU = 1/4, U''(-1) = 2, U''(0) = -1


def drift(t, x):
    return x - x ** 3


def _wls(x, y, se):
    """Weighted least squares y = a + b x: ``(coef, cov, chi2, dof)``."""
    w = 1 / se ** 2
    X = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.inv(X.T @ (X * w[:, None]))
    coef = cov @ (X.T @ (w * y))
    chi2 = float(np.sum(w * (y - X @ coef) ** 2))
    return coef, cov, chi2, len(x) - 2


def _fit(x, y, se):
    """Weighted least squares y = a + b x; returns (b, se_b)."""
    coef, cov, _, _ = _wls(x, y, se)
    return coef[1], math.sqrt(cov[1, 1])


def _fit_corrected_power(eps, tau, se_log):
    """WLS fit of ``log τ = a - p log ε - log(1 + c ε)``: ``(a, p, c), cov, chi2, dof``."""
    x, y = np.log(eps), np.log(tau)

    def res(th):
        return (y - (th[0] - th[1] * x - np.log1p(th[2] * eps))) / se_log

    r = optimize.least_squares(res, [0.0, ALPHA, 1.0])
    cov = np.linalg.inv(r.jac.T @ r.jac)
    return r.x, cov, float(np.sum(r.fun ** 2)), len(eps) - 3


def _pval(chi2, dof):
    return float(sps.chi2.sf(chi2, dof)) if dof > 0 else math.nan


@experiment("escape_double_well",
            "Double-well escape: Brownian mean exit time grows like e^{2ΔU/ε²} (Kramers), α-stable "
            "like ε^{-α} (Imkeller–Pavlyukevich; exponent and constant, with the O(ε) correction)")
def run(quick: bool, rng):
    """`dX = (X - X³) dt + ε dL`, X_0 = -1 (a minimum), exit from the basin (-3, 0) (0 is the
    saddle, ΔU = 1/4), EM on the numba backend.

    **Brownian** (L = W, D = ε²/2, h = 0.01): the exact mean exit time T(ε) is a double
    quadrature (`diffusion_mean_exit_time`); EM's √h discrete-monitoring bias is removed to
    leading order by shifting both boundaries inwards by 0.5826 ε √h (Gobet–Menozzi). Claims:
    each estimate within 4 se of T(ε); the fitted slope of log τ against 1/ε² agrees (4 se) with
    the slope of the exact log T(ε) on the same grid; Kramers' asymptotic slope 2ΔU = 0.5 is
    shown beside it (the prefactor's ε-dependence makes the finite-ε slope differ slightly).

    **α-stable** (L standard SαS, α = 1.5, h = 0.05): Imkeller–Pavlyukevich (docs/theory.md §C.6):
    exit by one big jump at rate λ(ε) = ε^α C_α (b₋^{-α} + b₊^{-α}), b₋ = 2, b₊ = 1, so
    λ(ε) E τ → 1 as ε → 0. *Finite-ε correction.* The saddle boundary is where the drift
    vanishes: a jump that lands at distance y < 0 short of the saddle leaves its neighbourhood
    only at exponential speed (x(t) ≈ -y eᵗ), and later jumps carry it across with probability
    ≈ min(1, C_α (ε/y)^α / α); integrated over the flat landing density near 0 this adds a rate of
    order ε^α · ε. The restoring boundary at -3 and the spread of X about the minimum change
    the rate only by O(ε^α). Hence h(ε)/λ(ε) = 1/(λ E τ) = 1 + c₁ ε + O(ε^{α}) (h the exit
    hazard), and a pure power-law fit of log τ against log ε over ε ∈ [0.02, 0.22] is biased
    (its slope, reported, is steeper than -α: -1.63 in the full run, -1.74 on [0.06, 0.27]).

    The first-order model is fitted where the correction is small, ε <= 0.1 (c₁ε <~ 0.15);
    the larger ε (0.15, 0.22) are simulated and shown but not fitted: there the next orders
    are visible (in the full run a linear fit over [0.02, 0.22] fails its χ² test, p ~ 1e-7,
    reported in the claim's details). The range ε <= 0.1 was fixed after that first full run
    had shown the failure, not before it: read the fit as a consistency check of the
    first-order model, not as a blind test.

    Claims (stated precisely; fits by weighted least squares on ε <= 0.1): (1) the ε → 0 limit
    of h/λ is 1: the fit 1/(λ E τ) - 1 = c₀ + c₁ ε gives c₀ = 0 within 4 se (this checks IP's
    exponent *and* constant), and the linear model fits (χ² p-value > 1e-3); (2) the exponent:
    the fit log E τ = a - p log ε - log(1 + c ε) gives p = α within 4 se (a is compared with
    IP's -log(C_α Φ) in the details); (3) P(exit through the saddle) = q₀ + q₁ ε (same
    first-order reasoning: near-misses favour the saddle) extrapolates to IP's
    b₊^{-α}/(b₋^{-α} + b₊^{-α}) within 4 se, with χ² p > 1e-3; (4) the step h = 0.05 is fine:
    E τ at ε = 0.1 with h and h/2 agree within 4 se. No path is censored (t_max = 25/λ). Local
    slopes between neighbouring ε (notes) approach -α as ε decreases."""
    n = 2000 if quick else 20_000
    inv_eps2 = np.array([3.0, 4.5, 6.0] if quick else [3.0, 4.5, 6.0, 7.5])
    eps_st = np.array([0.03, 0.045, 0.065, 0.1, 0.15, 0.22] if quick else
                      [0.02, 0.03, 0.045, 0.065, 0.1, 0.15, 0.22])
    seeds = rng.spawn(len(inv_eps2) + len(eps_st) + 2)
    claims, bm, st = [], [], []
    for k, ie in enumerate(inv_eps2):
        eps = 1 / math.sqrt(ie)
        sde = sdesim.SDE(drift, np.array([eps]), d=1, noise="additive")
        s = GOBET_SHIFT * eps * math.sqrt(DT)
        r = exit_times(sde, X0, Interval(LEFT + s, SADDLE - s), dt=DT, t_max=4000.0,
                       n_paths=n, rng=seeds[k], quiet=True)
        exact = diffusion_mean_exit_time(U, eps ** 2 / 2, LEFT, SADDLE, X0)
        m = r.mean()
        z = (m.mean - exact) / m.stderr
        bm.append((ie, m.mean, m.stderr, exact, r.n_censored))
        claims.append(Claim(f"Brownian 1/ε²={ie:g}: E τ = quadrature", f"{m.mean:.4g} ± "
                            f"{m.stderr:.2g} vs {exact:.4g} (z = {z:.2f})", f"|z| <= {K_SE:g}, "
                            "no censoring", abs(z) <= K_SE and r.n_censored == 0))
    bm = np.array(bm)
    slope, slope_se = _fit(bm[:, 0], np.log(bm[:, 1]), bm[:, 2] / bm[:, 1])
    exact_slope = np.polyfit(bm[:, 0], np.log(bm[:, 3]), 1)[0]
    claims.append(Claim("Brownian: slope of log τ vs 1/ε² = exact (quadrature) slope",
                        f"{slope:.4f} ± {slope_se:.2g} (exact {exact_slope:.4f}; Kramers 0.5)",
                        f"within {K_SE:g} se", abs(slope - exact_slope) <= K_SE * slope_se))

    # α-stable: one compiled kernel, the noise scale ε in the driver
    def stable_run(eps, dt, seed):
        sde = sdesim.SDE(drift, np.ones(1), d=1, noise="additive",
                         driver=sdesim.Stable(ALPHA, scale=eps))
        lam = float(big_jump_rate(ALPHA, eps, B_MINUS, B_PLUS))
        t_max = round(25 / lam / dt) * dt
        return exit_times(sde, X0, Interval(LEFT, SADDLE), dt=dt, t_max=t_max, n_paths=n,
                          rng=seed, quiet=True), lam

    for k, eps in enumerate(eps_st):
        r, lam = stable_run(eps, DT_ST, seeds[len(inv_eps2) + k])
        m = r.mean()
        pr = r.exit_probability(0, side=1)
        st.append((eps, m.mean, m.stderr, 1 / lam, pr.mean, pr.stderr, r.n_censored))
    st = np.array(st)
    e, tau, se_tau, ip = st[:, 0], st[:, 1], st[:, 2], st[:, 3]
    naive, naive_se = _fit(np.log(e), np.log(tau), se_tau / tau)
    local = np.diff(np.log(tau)) / np.diff(np.log(e))
    local_se = np.hypot((se_tau / tau)[1:], (se_tau / tau)[:-1]) / np.diff(np.log(e))
    no_cens = int(st[:, 6].sum()) == 0
    fit = e <= EPS_FIT_MAX + 1e-12

    # (1) h/λ - 1 = c0 + c1 ε
    y = ip / tau - 1
    y_se = ip / tau * se_tau / tau
    (c0, c1), cov, chi2, dof = _wls(e[fit], y[fit], y_se[fit])
    c0_se, pv = math.sqrt(cov[0, 0]), _pval(chi2, dof)
    (c0_all, _), cov_all, chi2_all, dof_all = _wls(e, y, y_se)
    claims.append(Claim(
        f"α={ALPHA}: IP limit h/λ → 1 (fit 1/(λ E τ) - 1 = c₀ + c₁ε on ε ∈ [{e.min():g}, "
        f"{EPS_FIT_MAX:g}])", f"c₀ = {c0:.4f} ± {c0_se:.2g} (z = {c0 / c0_se:.2f}), c₁ = "
        f"{c1:.2f} ± {math.sqrt(cov[1, 1]):.2g}, χ²/dof = {chi2:.1f}/{dof} (p = {pv:.2g})",
        f"|z| <= {K_SE:g}, p > {P_MIN:g}, no censoring",
        abs(c0) <= K_SE * c0_se and pv > P_MIN and no_cens,
        {"eps": e, "lambda_E_tau": tau / ip, "se": se_tau / ip,
         "linear fit over all eps (not claimed)": {
             "c0": c0_all, "c0_se": math.sqrt(cov_all[0, 0]), "chi2": chi2_all,
             "dof": dof_all, "p": _pval(chi2_all, dof_all)}}))
    # (2) exponent with the O(ε) correction
    (a_fit, p_fit, c_fit), cov3, chi2_3, dof3 = _fit_corrected_power(
        e[fit], tau[fit], (se_tau / tau)[fit])
    p_se = math.sqrt(cov3[1, 1])
    a_ip = -math.log(float(stable_tail_constant(ALPHA)) * (B_MINUS ** -ALPHA + B_PLUS ** -ALPHA))
    claims.append(Claim(
        f"α={ALPHA}: exponent p of E τ ∝ ε^-p / (1 + cε) = α",
        f"p = {p_fit:.3f} ± {p_se:.2g} (z = {(p_fit - ALPHA) / p_se:.2f}; pure power-law fit "
        f"on all ε {-naive:.3f} ± {naive_se:.2g}; local slope at the smallest ε "
        f"{-local[0]:.3f} ± {local_se[0]:.2g})", f"|p - α| <= {K_SE:g} se",
        abs(p_fit - ALPHA) <= K_SE * p_se,
        {"a": a_fit, "a_se": math.sqrt(cov3[0, 0]), "a (IP: -log C_α Φ)": a_ip, "c": c_fit,
         "c_se": math.sqrt(cov3[2, 2]), "chi2": chi2_3, "dof": dof3,
         "local slopes (small to large eps)": local, "local slope se": local_se}))
    # (3) exit side
    p_right = B_PLUS ** -ALPHA / (B_MINUS ** -ALPHA + B_PLUS ** -ALPHA)
    (q0, q1), qcov, qchi2, qdof = _wls(e[fit], st[fit, 4], st[fit, 5])
    q0_se, qpv = math.sqrt(qcov[0, 0]), _pval(qchi2, qdof)
    claims.append(Claim(
        f"α={ALPHA}: P(exit via the saddle) → b₊^-α/Φ = {p_right:.4f} (fit q₀ + q₁ε, "
        f"ε <= {EPS_FIT_MAX:g})",
        f"q₀ = {q0:.4f} ± {q0_se:.2g} (z = {(q0 - p_right) / q0_se:.2f}), q₁ = {q1:.3f}, "
        f"χ²/dof = {qchi2:.1f}/{qdof} (p = {qpv:.2g})", f"|z| <= {K_SE:g}, p > {P_MIN:g}",
        abs(q0 - p_right) <= K_SE * q0_se and qpv > P_MIN))
    # (4) the step
    eps_chk = 0.1
    r1, _ = stable_run(eps_chk, DT_ST, seeds[-2])
    r2, _ = stable_run(eps_chk, DT_ST / 2, seeds[-1])
    m1, m2 = r1.mean(), r2.mean()
    zd = (m1.mean - m2.mean) / math.hypot(m1.stderr, m2.stderr)
    claims.append(Claim(f"α={ALPHA}, ε={eps_chk:g}: E τ with h = {DT_ST:g} = with h/2",
                        f"{m1.mean:.4g} vs {m2.mean:.4g} (z = {zd:.2f})", f"|z| <= {K_SE:g}",
                        abs(zd) <= K_SE))
    notes = ["| 1/ε² | EM E τ | se | quadrature |", "|---|---|---|---|",
             *(f"| {r[0]:g} | {r[1]:.4g} | {r[2]:.2g} | {r[3]:.4g} |" for r in bm),
             "", "| ε (α=1.5) | EM E τ | se | 1/λ (IP) | λ E τ | local slope to next ε | "
             "P(exit right) |", "|---|---|---|---|---|---|---|",
             *(f"| {r[0]:g} | {r[1]:.4g} | {r[2]:.2g} | {r[3]:.4g} | {r[1] / r[3]:.4f} | "
               + (f"{local[i]:.3f} ± {local_se[i]:.2g}" if i < len(local) else "") +
               f" | {r[4]:.4f} |" for i, r in enumerate(st))]
    fits = {"c": (c0, c1), "p": (a_fit, p_fit, c_fit), "q": (q0, q1), "p_right": p_right,
            "naive": naive}
    return Result(claims, figures={"escape": _fig(bm, st, slope, fits)},
                  params={"paths per point": n, "dt (Brownian)": DT, "dt (stable)": DT_ST,
                          "basin": (LEFT, SADDLE), "x0": X0, "alpha": ALPHA,
                          "eps (stable)": eps_st.tolist()}, notes=notes)


def _fig(bm, st, slope, fits):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(2, 2, figsize=(10, 7.5))
    a1, a2, a3, a4 = ax.ravel()
    a1.errorbar(bm[:, 0], bm[:, 1], yerr=K_SE * bm[:, 2], fmt="o", label="EM (shifted boundary)")
    a1.plot(bm[:, 0], bm[:, 3], "k-", label="quadrature (exact)")
    a1.plot(bm[:, 0], bm[-1, 3] * np.exp(0.5 * (bm[:, 0] - bm[-1, 0])), "C3--",
            label="Kramers slope 2ΔU = 0.5")
    a1.set_yscale("log")
    a1.set_xlabel("1/ε²")
    a1.set_ylabel("mean exit time")
    a1.set_title(f"Brownian: fitted slope {slope:.3f}")
    a1.legend(fontsize=8)
    e = st[:, 0]
    ee = np.geomspace(e.min() / 1.5, e.max() * 1.2, 100)
    rate1 = float(big_jump_rate(ALPHA, 1.0, B_MINUS, B_PLUS))   # λ(ε) = rate1 ε^α
    a, p, c = fits["p"]
    a2.errorbar(e, st[:, 1], yerr=K_SE * st[:, 2], fmt="o", label="EM ± 4 se")
    a2.plot(ee, ee ** -ALPHA / rate1, "k-", label="1/λ (Imkeller–Pavlyukevich)")
    ef = ee[ee <= EPS_FIT_MAX * 1.05]
    a2.plot(ef, np.exp(a) * ef ** -p / (1 + c * ef), "C1--",
            label=f"fit ε^-p/(1+cε) on ε <= {EPS_FIT_MAX:g}: p = {p:.3f}")
    a2.set_xscale("log")
    a2.set_yscale("log")
    a2.set_xlabel("ε")
    a2.set_xticks([0.02, 0.05, 0.1, 0.2])
    a2.set_xticklabels(["0.02", "0.05", "0.1", "0.2"])
    a2.minorticks_off()
    a2.set_ylabel("mean exit time")
    a2.set_title(f"α = {ALPHA}: pure power-law slope {fits['naive']:.3f}")
    a2.legend(fontsize=8)
    h = st[:, 3] / st[:, 1]
    a3.errorbar(e, h, yerr=K_SE * h * st[:, 2] / st[:, 1], fmt="o", label="EM ± 4 se")
    x = np.linspace(0, EPS_FIT_MAX * 1.1, 50)
    c0, c1 = fits["c"]
    a3.plot(x, 1 + c0 + c1 * x, "C1--", label=f"fit 1 + c₀ + c₁ε (c₀ = {c0:.3f})")
    a3.axhline(1, color="k", lw=0.8)
    a3.axvspan(0, EPS_FIT_MAX, color="0.9", zorder=0, label="fitted range")
    a3.set_xlabel("ε")
    a3.set_ylabel("h/λ = 1/(λ E τ)")
    a3.set_title("finite-ε correction, linear in ε")
    a3.legend(fontsize=8)
    a4.errorbar(e, st[:, 4], yerr=K_SE * st[:, 5], fmt="o", label="EM ± 4 se")
    q0, q1 = fits["q"]
    a4.plot(x, q0 + q1 * x, "C1--", label="fit q₀ + q₁ε")
    a4.axhline(fits["p_right"], color="k", lw=0.8, label="IP: b₊^-α/Φ")
    a4.axvspan(0, EPS_FIT_MAX, color="0.9", zorder=0)
    a4.set_xlabel("ε")
    a4.set_ylabel("P(exit via the saddle)")
    a4.legend(fontsize=8)
    fig.tight_layout()
    return fig
