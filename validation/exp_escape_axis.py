"""Experiment: escape axis on the 2-d Ackley function with per-axis α (TMLR Fig. 6)."""
from __future__ import annotations

import math

import numpy as np

from sdesim.escape import Ball, exit_times
from sdesim.exact import stable_tail_constant
from sdesim.sgd import Ackley, sgd_sde

from .registry import Claim, Result, experiment

K_SE = 4.0
ALPHA2 = 1.9
DELTAS = (0.0, 0.2, 0.4, 0.6)
LR, SIGMA, RADIUS = 0.01, 2.0, 1.0


@experiment("escape_axis",
            "Ackley, α₁ = α₂ - Δ: P(exit through axis 1) rises with Δ, from 1/2 at Δ = 0 (TMLR Fig. 6)")
def run(quick: bool, rng):
    """SGD on the 2-d Ackley function started at its global minimum 0 with SαS gradient noise of
    index α₁ = α₂ - Δ on x₁ and α₂ = 1.9 on x₂ (scale σ = 2 per coordinate, LR η = 0.01): the
    oracle `Ackley(σ² I, noise="stable", alpha=[α₁, α₂])`, run as its Lévy SDE (`sgd_sde`, driver
    Stable([α₁, α₂]) of scale ε_l = η^{1-1/α_l}, g = σ I; dt = η, so the EM chain *is* that SGD;
    TMLR eq. 3, docs/theory.md §0.6).
    A path escapes when |x| > 1; its exit axis is the larger coordinate (TMLR's rule).

    Claims: at Δ = 0 the axes are symmetric (P = 1/2 within 4 se); P(axis 1) increases with Δ
    (each step > 0 and the Δ = 0.6 value above Δ = 0 by more than 4 se). Beside the measured
    values: the big-jump prediction q₁/(q₁ + q₂) with per-step kick probabilities
    q_i = 2 C_{α_i} (ησ/r)^{α_i} (docs/theory.md §C.6, TMLR eqs. 13, 20-21), an approximation (the
    noise is not small here and the drift is not quadratic)."""
    n = 2000 if quick else 20_000
    seeds = rng.spawn(len(DELTAS))
    rows, claims = [], []
    for d, ss in zip(DELTAS, seeds):
        alpha = np.array([ALPHA2 - d, ALPHA2])
        sde = sgd_sde(Ackley(SIGMA**2 * np.eye(2), noise="stable", alpha=alpha), LR)
        r = exit_times(sde, [0.0, 0.0], Ball(0.0, RADIUS), dt=LR, t_max=2000.0, n_paths=n,
                       rng=ss, quiet=True)
        p = r.exit_probability(0)
        q = 2 * stable_tail_constant(alpha) * (LR * SIGMA / RADIUS) ** alpha
        rows.append((d, p.mean, p.stderr, q[0] / q.sum(), r.mean().mean, r.n_censored))
    rows = np.array(rows)
    z0 = (rows[0, 1] - 0.5) / rows[0, 2]
    claims.append(Claim("Δ = 0: P(axis 1) = 1/2", f"{rows[0, 1]:.3f} ± {rows[0, 2]:.2g}",
                        f"|z| <= {K_SE:g}", abs(z0) <= K_SE and rows[:, 5].sum() == 0))
    zr = (rows[-1, 1] - rows[0, 1]) / math.hypot(rows[0, 2], rows[-1, 2])
    claims.append(Claim("P(axis 1) increases with Δ", " → ".join(f"{v:.3f}" for v in rows[:, 1])
                        + f" (Δ=0.6 vs 0: z = {zr:.1f})", f"each step > 0, z > {K_SE:g}",
                        bool(np.all(np.diff(rows[:, 1]) > 0) and zr > K_SE),
                        {"big-jump prediction": rows[:, 3]}))
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar(rows[:, 0], rows[:, 1], yerr=K_SE * rows[:, 2], fmt="o-", label="simulated ± 4 se")
    ax.plot(rows[:, 0], rows[:, 3], "k--", label="big-jump approximation")
    ax.set_xlabel("Δ = α₂ - α₁")
    ax.set_ylabel("P(exit through axis 1)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    notes = ["| Δ | P(axis 1) | se | q₁/(q₁+q₂) | mean exit time |", "|---|---|---|---|---|",
             *(f"| {r[0]:g} | {r[1]:.3f} | {r[2]:.2g} | {r[3]:.3f} | {r[4]:.3g} |" for r in rows)]
    return Result(claims, figures={"axis": fig}, notes=notes,
                  params={"alpha2": ALPHA2, "deltas": DELTAS, "lr": LR, "sigma": SIGMA,
                          "radius": RADIUS, "paths": n})
