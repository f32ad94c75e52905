"""Linear scaling rule on scale-invariant losses: where (C, κ)-LSI breaks, and what LMA §5 predicts.

What "the critical κ from the baseline's NSR brackets the break" can honestly mean
--------------------------------------------------------------------------------
Theorems 5.5 and 5.6 of LMA are *sufficient conditions for failure*: from the equilibrium
identity of each run they give lower bounds on the LSI constant ``C*²`` of (B, η) vs (κB, κη),

- Thm 5.6 (baseline only):       ``C*² ≥ κ/(1 + ν)``                  (``ν = N/G`` of the baseline)
- sharpened (baseline only):     ``C*² ≥ (κ + ν)/(ρ(1 + ν))``, ``ρ = (2 - κηλ)/(2 - ηλ)``
- Thm 5.5 (large-batch run only): ``C*² ≥ κ(1 + ν')/(1 + κν')``

(derivation: :mod:`sdesim.sgd.lsr`). Each yields a κ* above which LSI with C² = 2 must fail, i.e. an
*upper* bound on the break. Nothing in the theory bounds the break from below, so on a general
loss "brackets" can only mean "the observed break lies at or below every predicted κ*". The
sharpened bound is attained exactly when ``R'/R = G/G' = κN'/N``, i.e. when the law of the
direction ``x/|x|`` at equilibrium does not change along the sweep; then the baseline-only κ*
*is* the break and a two-sided bracket is a real test. This experiment shows both cases.
"""
from __future__ import annotations

import math

import numpy as np

from sdesim.sgd import (FunctionOracle, ScaleInvariantRegression, critical_kappa, lsi_bounds,
                        lsi_constant, lsi_fails, lsi_ratio, measure_equilibrium)
from validation.registry import Claim, Result, experiment

C2 = 2.0
K = 4.5
KAPPAS_REG = [1, 2, 3, 4, 6, 8, 10, 12, 14, 16, 20, 24, 32]
KAPPAS_ROT = [1, 2, 4, 8, 12, 14, 16, 17, 18, 19, 20, 24, 32]


def _sweep(orc, x0_of, kappas, lr, B0, lam, T, burn_in, every, n, seeds):
    """Equilibria of SGD at (κB0, κη) for each κ; T rounded up to a whole number of steps."""
    eqs = []
    for k, s in zip(kappas, seeds):
        h = k * lr
        Tk = math.ceil(T / h - 1e-9) * h
        eqs.append(measure_equilibrium(orc, x0_of(k), lr=h, batch_size=k * B0, weight_decay=lam,
                                       T=Tk, burn_in=burn_in, every=h * max(1, round(every / h)),
                                       n_paths=n, rng=s))
    return eqs


def _analyse(kappas, eqs):
    base = eqs[0]
    c2 = [lsi_constant(base, e, k) for k, e in zip(kappas, eqs)]
    bounds = [lsi_bounds(base, k, e) for k, e in zip(kappas, eqs)]
    fails = [c.mean > C2 for c in c2]
    k_lo = max((k for k, f in zip(kappas, fails) if not f), default=None)
    k_hi = min((k for k, f in zip(kappas, fails) if f), default=None)
    k_break = None
    if k_hi is not None and k_hi > kappas[0]:  # log-linear interpolation of C*² = 2
        j = kappas.index(k_hi)
        a, b = c2[j - 1].mean, c2[j].mean
        k_break = float(np.exp(np.interp(C2, [a, b], np.log([kappas[j - 1], k_hi]))))
    # one-sided z of C*² against each lower bound (κ > 1: κ = 1 is the baseline itself)
    zmin = min((c.mean - b[key]) / c.stderr for c, b, k in zip(c2, bounds, kappas) if k > 1
               for key in b)
    return dict(base=base, c2=c2, bounds=bounds, fails=fails, k_lo=k_lo, k_hi=k_hi,
                k_break=k_break, zmin=zmin,
                k_sharp=critical_kappa(base, math.sqrt(C2), bound="sharp"),
                k_lma=critical_kappa(base, math.sqrt(C2)),
                certified=[lsi_fails(e, k, math.sqrt(C2)) for k, e in zip(kappas, eqs)])


def _rotation_oracle(c, sigma):
    """``L_γ(x) = (c + σ ξ_γ) θ(x)``, θ = the polar angle of x ∈ R², ξ ~ N(0, 1) per example.

    Scale-invariant (θ(sx) = θ(x)), ``∇L_γ = (c + σξ_γ) Jx/|x|²`` with ``Jx = (-x₂, x₁)``, so
    ``|∇L|² = c²/|x|²`` and ``Tr Σ_B = σ²/(B|x|²)`` on the whole circle: the NSR is ``σ²/(Bc²)``
    at every state and no "direction law" exists to change with κ. L is multivalued (a helix);
    SGD only sees its gradient, and ``loss`` returns the branch in (-cπ, cπ].
    """
    def tangent(x):
        return np.column_stack([-x[:, 1], x[:, 0]]) / np.sum(x * x, axis=1, keepdims=True)

    def sample_grad(x, rng, B):
        return (c + sigma * rng.standard_normal((x.shape[0], 1)) / math.sqrt(B)) * tangent(x)

    def noise_cov(x, B):
        t = tangent(x)
        return sigma**2 / B * t[:, :, None] * t[:, None, :]

    return FunctionOracle(lambda x: c * np.arctan2(x[:, 1], x[:, 0]), lambda x: c * tangent(x),
                          d=2, sample_grad=sample_grad, noise_cov=noise_cov)


def _rows(kappas, eqs, an):
    rows = []
    for k, e, c, b, cert in zip(kappas, eqs, an["c2"], an["bounds"], an["certified"]):
        ratios = lsi_ratio(an["base"], e, k)[1]
        rows.append({"kappa": k, "R": e.R.mean, "G": e.G.mean, "N": e.N.mean, "NSR": e.nsr.mean,
                     "G*R": e.G.mean * e.R.mean, "R/R'": ratios["R"], "G/G'": ratios["G"],
                     "N/(kN')": ratios["N"], "C*^2": c.mean, "C*^2_se": c.stderr,
                     "bound_sharp": b["sharp"], "bound_thm5.6": b["thm5.6"],
                     "bound_thm5.5": b["thm5.5"], "thm5.5_certifies": cert,
                     "identity_z": float(e.identity_gap.zscore(0.0))})
    return rows


@experiment("sgd_lsr",
            "LSR (C² = 2): the break lies below every κ* of Thms 5.5/5.6; the sharpened "
            "baseline-NSR κ* brackets it where the direction law is κ-invariant")
def run(quick: bool, rng):
    """LMA Figure 3's protocol at small scale: SGD at (κB, κη) with weight decay λ, for a sweep
    of κ, each run to equilibrium; ``R = E|x|²``, ``G = E|∇L|²``, ``N = E Tr Σ`` averaged per
    path over the second half of the run (:func:`sdesim.sgd.measure_equilibrium`, exact G and
    N). The measured LSI constant ``C*²`` (Definition 5.4, :func:`sdesim.sgd.lsi_constant`)
    is compared with C² = 2 and with three lower bounds implied by the equilibrium identities
    (module docstring): Thm 5.6 ``κ/(1+ν)`` and the sharpened ``(κ+ν)/(ρ(1+ν))`` from the
    baseline's ν = N/G, and Thm 5.5 ``κ(1+ν')/(1+κν')`` from each large-batch run.

    **Checked bounds.** (1) LMA eq. 11 holds on every run (|z| ≤ 4.5). (2) At every κ the
    measured C*² is at least each of the three bounds (one-sided, z ≥ -4.5) — the theorems'
    content, testable on any loss. (3) *Realistic loss* (scale-invariant least squares,
    docs/theory.md §C.5 family 2; 64 examples, d = 8, B = 1, η = 0.05, λ = 0.1): LSI breaks inside
    the sweep, no κ above the sharpened κ* passes, and Thm 5.5 certifies failure only where it
    happened. Here the predictions are upper bounds and *not* tight (the break, near κ = 12,
    comes at about 0.6 of the sharpened κ* ≈ 20 and 0.3 of LMA's ≈ 42): the equilibrium
    direction law changes with κ (G·R, the squared gradient at unit norm, grows by ~70% by
    κ = 16), which the baseline cannot know. (4) *Direction-invariant loss*: ``L_γ = (c + σξ_γ) θ(x)`` on R² (θ the polar
    angle; ``|∇L|² = c²/|x|²`` on the whole circle), c = 1/4, σ = 1, B = 1 (ν = 16), η = 0.01,
    λ = 0.05: here the sharpened κ* from the baseline must lie in the observed bracket
    [largest κ that passes, smallest κ that fails] of the κ grid (the grid is dense around the
    value computed from the exactly known ν before any run, 6% steps); LMA's κ* = C²(1+ν) = 34
    lies about C²/(C²−1) = 2 times too high. The residual gap to the sharp bound is the Jensen
    gap ``R·E|x|⁻²``, O(κηλ) (about 1% at most on this grid)."""
    s_reg, s_rot = rng.spawn(2)
    # ---------------------------------------------------------------- realistic: regression
    data = np.random.default_rng(0)
    N, d = 64, 8
    A = data.standard_normal((N, d))
    y = A @ data.standard_normal(d) / np.sqrt(d) + 0.5 * data.standard_normal(N)
    reg = ScaleInvariantRegression(A, y)
    lam, eta0, B0 = 0.1, 0.05, 1
    x0 = data.standard_normal(d)
    n_reg = 300 if quick else 2000
    T_reg = 64.0
    eq_reg = _sweep(reg, lambda k: x0, KAPPAS_REG, eta0, B0, lam, T_reg, T_reg / 2, 0.2, n_reg,
                    s_reg.spawn(len(KAPPAS_REG)))
    ar = _analyse(KAPPAS_REG, eq_reg)

    # ---------------------------------------------------------------- direction-invariant
    c, sigma, lam_r, eta_r = 0.25, 1.0, 0.05, 0.01
    rot = _rotation_oracle(c, sigma)
    nu = sigma**2 / c**2

    def x0_rot(k):  # start near the equilibrium norm of the identity (burn-in removes the rest)
        R = math.sqrt(k * eta_r * (c * c + nu * c * c / k) / ((2 - k * eta_r * lam_r) * lam_r))
        return [math.sqrt(R), 0.0]

    n_rot = 500 if quick else 2000
    T_rot = 60.0
    eq_rot = _sweep(rot, x0_rot, KAPPAS_ROT, eta_r, 1, lam_r, T_rot, T_rot / 2, 0.2, n_rot,
                    s_rot.spawn(len(KAPPAS_ROT)))
    ao = _analyse(KAPPAS_ROT, eq_rot)

    rows_reg, rows_rot = _rows(KAPPAS_REG, eq_reg, ar), _rows(KAPPAS_ROT, eq_rot, ao)
    z_id = [r["identity_z"] for r in rows_reg + rows_rot]
    cert_k = [k for k, cflag in zip(KAPPAS_REG, ar["certified"]) if cflag]
    ks, kl = ar["k_sharp"].mean, ar["k_lma"].mean
    reg_ok = (ar["k_hi"] is not None and ar["k_lo"] is not None and ar["k_lo"] < ks <= kl
              and all(f for f, cf in zip(ar["fails"], ar["certified"]) if cf))
    kso = ao["k_sharp"].mean
    rot_ok = ao["k_lo"] is not None and ao["k_hi"] is not None and ao["k_lo"] <= kso <= ao["k_hi"]
    gap_rot = max(r["C*^2"] / r["bound_sharp"] for r in rows_rot)

    def brk(a):
        return (f"[{a['k_lo']}, {a['k_hi']}]" +
                (f" (interpolated {a['k_break']:.1f})" if a["k_break"] else ""))

    claims = [
        Claim("equilibrium identity (2-ηλ)λR = η(G+N) on every run of both sweeps (LMA eq. 11)",
              measured=f"max |z| = {max(map(abs, z_id)):.2f} over {len(z_id)} runs",
              expected=f"|z| <= {K}", passed=max(map(abs, z_id)) <= K, details={"z": z_id}),
        Claim("measured C*² >= each lower bound (Thm 5.6, sharpened, Thm 5.5) at every κ, both "
              "losses", measured=f"min z = {min(ar['zmin'], ao['zmin']):.1f} (regression "
              f"{ar['zmin']:.1f}, rotation {ao['zmin']:.1f})", expected=f"z >= -{K}",
              passed=min(ar["zmin"], ao["zmin"]) >= -K),
        Claim("scale-invariant regression: LSI breaks in the sweep, below the baseline-only κ*; "
              "Thm 5.5 certifies only failed κ",
              measured=f"break in {brk(ar)}; κ*_sharp = {ks:.1f} ± {ar['k_sharp'].stderr:.2f}, "
                       f"κ*_LMA = {kl:.1f}; 5.5 certifies κ ∈ {cert_k}",
              expected="κ_lo < κ*_sharp <= κ*_LMA; certified ⊆ failed", passed=reg_ok,
              details={"table": rows_reg, "kappa_sharp_over_break":
                       ks / ar["k_break"] if ar["k_break"] else None,
                       "kappa_lma_over_break": kl / ar["k_break"] if ar["k_break"] else None}),
        Claim("direction-invariant loss: the sharpened κ* from the baseline's NSR brackets the "
              "observed break", measured=f"κ*_sharp = {kso:.2f} (ν = {ao['base'].nsr.mean:.3g}); "
              f"break in {brk(ao)}; LMA κ* = {ao['k_lma'].mean:.1f}",
              expected="κ_lo <= κ*_sharp <= κ_hi", passed=rot_ok,
              details={"table": rows_rot, "max C*²/sharp bound": gap_rot,
                       "lma_over_break": ao["k_lma"].mean / ao["k_break"] if ao["k_break"] else None}),
    ]

    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.3))
    for ax, kappas, an, title in ((axes[0], KAPPAS_REG, ar, "scale-invariant regression"),
                                  (axes[1], KAPPAS_ROT, ao, "direction-invariant (rotation)")):
        base = an["base"]
        kk = np.geomspace(kappas[1], kappas[-1], 200)
        ax.errorbar(kappas, [cc.mean for cc in an["c2"]], yerr=[2 * cc.stderr for cc in an["c2"]],
                    fmt="o", color="k", label="measured C*² (Def. 5.4)")
        ax.plot(kk, [lsi_bounds(base, k)["sharp"] for k in kk], "-", color="C0",
                label="sharpened bound (κ+ν)/(ρ(1+ν))")
        ax.plot(kk, [lsi_bounds(base, k)["thm5.6"] for k in kk], "--", color="C1",
                label="Thm 5.6 bound κ/(1+ν)")
        ax.plot(kappas[1:], [b["thm5.5"] for b in an["bounds"][1:]], "^", color="C2",
                label="Thm 5.5 bound (large-batch run)")
        ax.axhline(C2, color="r", ls=":", label="C² = 2")
        ax.axvline(an["k_sharp"].mean, color="C0", ls=":", lw=1)
        ax.axvline(an["k_lma"].mean, color="C1", ls=":", lw=1)
        ax.set(xscale="log", yscale="log", xlabel="κ (batch κB, LR κη)", ylabel="C*²", title=title)
        ax.legend(fontsize=7)
    ax = axes[2]
    for key, lab in (("R/R'", "R/R'"), ("G/G'", "G/G'"), ("N/(kN')", "N/(κN')")):
        ax.semilogx(KAPPAS_REG, [r[key] for r in rows_reg], "o-", label=lab)
    ax.semilogx(KAPPAS_REG, [r["G*R"] / rows_reg[0]["G*R"] for r in rows_reg], "s--", color="grey",
                label="G·R / baseline (direction law)")
    for v in (math.sqrt(C2), 1 / math.sqrt(C2)):
        ax.axhline(v, color="r", ls=":")
    ax.set(xlabel="κ", title="regression: the LSI ratios (break at 1/√2, √2)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return Result(claims=claims, figures={"lsr": fig},
                  params={"regression": {"N": N, "d": d, "lambda": lam, "eta0": eta0, "B0": B0,
                                         "kappas": KAPPAS_REG, "n_paths": n_reg, "T": T_reg,
                                         "burn_in": T_reg / 2},
                          "rotation": {"c": c, "sigma": sigma, "lambda": lam_r, "eta0": eta_r,
                                       "B0": 1, "kappas": KAPPAS_ROT, "n_paths": n_rot,
                                       "T": T_rot, "burn_in": T_rot / 2}, "C2": C2},
                  notes=[f"regression baseline NSR N/G = {ar['base'].nsr.mean:.2f} ± "
                         f"{ar['base'].nsr.stderr:.2f}; rotation ν = {ao['base'].nsr.mean:.4g}",
                         "Theorems 5.5/5.6 give only upper bounds on where LSI can hold; a "
                         "two-sided bracket holds when the equilibrium law of x/|x| does not "
                         "depend on κ (module docstring of validation/exp_sgd_lsr.py)."])
