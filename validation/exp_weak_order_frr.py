"""Experiment: the order fit's false-rejection rate and CI coverage, measured over many seeds."""
from __future__ import annotations

import numpy as np

import sdesim
from sdesim.exact import em_chain_moments, linear_moments
from sdesim.stats import normal_quantile
from sdesim.weak import fit_order

from .registry import Claim, Result, experiment

T = 1.0
MU, SIG = 1.0, 0.5                 # GBM dX = μX dt + σX dW, x0 = 1, φ = x²
A, B, X0 = [[MU]], [[[SIG]]], np.array([1.0])
LEVEL = 0.95                       # nominal level of the CIs whose coverage is measured
NULL_NONCENTRALITY = 0.1           # a candidate "holds" when its noise-free χ² is below this
# exact mode of weak_order (errors = c + e(h), c free) and, for comparison only (no claim), the
# errors fitted without the common offset. Coupled differences give the very same fit as the
# exact mode (GLS with c profiled out is GLS on the differences), so they are not repeated.
VARIANTS = {"exact mode": True, "errors, no common offset": False}
QUICK = dict(n_seeds=200, n_paths=20_000, n_levels=6, alphas=(0.05,))
FULL = dict(n_seeds=2_000, n_paths=20_000, n_levels=7, alphas=(0.05, 0.01))
N_PAR = {"power": 2, "power+next": 3, "power+next2": 4}


def _fit(offset, dts, y, cov, **kw):
    return fit_order(dts, y, cov, kind="errors", common_mode=offset, level=LEVEL, **kw)


def _noise_free(offset, dts, y_chain, cov, candidates):
    """For each candidate (model, dropped): the fit of the *exact* chain values with that model,
    range and covariance: its order p* (what the Monte-Carlo fit estimates) and its χ² (the
    noncentrality that the omitted terms give the candidate's test)."""
    out = {}
    for c in candidates:
        s = c.n_dropped
        f = _fit(offset, dts[s:], y_chain[s:], cov[s:, s:], model=c.model,
                 min_points=N_PAR[c.model])
        out[(c.model, s)] = (f.order, f.chi2)
    return out


def _one_variant(offset, runs, dts, exact, y_chain, cov_true, alpha, z):
    """False rejections and coverage of one variant at one ``alpha_gof`` over all seeds."""
    truth = None
    m = dict(false=0, stat_cov=0, stat_n=0, full_cov=0, full_n=0, levels=[], status={},
             rejected={})
    for means, cov in runs:
        f = _fit(offset, dts, means - exact, cov, alpha_gof=alpha)
        if truth is None:  # the candidates depend on the number of data values only
            truth = _noise_free(offset, dts, y_chain, cov_true, f.candidates)
        holds = {key for key, (_, chi2) in truth.items() if chi2 < NULL_NONCENTRALITY}
        rejected = {(c.model, c.n_dropped) for c in f.candidates
                    if c.gof_pvalue < f.gof_level}     # nan (0 dof) compares False
        for key in rejected:
            m["rejected"][key] = m["rejected"].get(key, 0) + 1
        m["false"] += bool(rejected & holds)
        m["levels"].append(f.gof_level)
        m["status"][f.status] = m["status"].get(f.status, 0) + 1
        if np.isfinite(f.order_stderr):
            p_star = truth[(f.model, len(f.hs_dropped))][0]
            m["stat_n"] += 1
            m["stat_cov"] += abs(f.order - p_star) <= z * f.order_stderr
        if np.all(np.isfinite(f.order_ci)):
            m["full_n"] += 1
            m["full_cov"] += f.order_ci[0] <= 1.0 <= f.order_ci[1]
    m.update(n=len(runs), truth=truth, holds=sorted(holds))
    return m


def _frr_claim(name, alpha, m, P):
    rate = m["false"] / m["n"]
    per = {f"{mdl}, {s} dropped": v / m["n"] for (mdl, s), v in sorted(m["rejected"].items())}
    return Claim(
        f"{name}: false-rejection rate of the χ² tests across all candidates, "
        f"alpha_gof = {alpha:g}",
        f"{rate:.4f} ({m['false']}/{m['n']} seeds)",
        f"in [{alpha / 2:g}, {2 * alpha:g}] (factor 2 of alpha_gof)",
        alpha / 2 <= rate <= 2 * alpha,
        {"measured_rate": rate, "stated_rate": alpha, "seeds": m["n"],
         "per_candidate_level_median": float(np.median(m["levels"])),
         "candidates_that_hold": [f"{mdl}, {s} dropped" for mdl, s in m["holds"]],
         "rejection_rate_per_candidate": per, "status_counts": m["status"],
         "n_paths": P["n_paths"]})


def _coverage_claims(name, m, P, quick):
    n = m["stat_n"]
    se = float(np.sqrt(LEVEL * (1 - LEVEL) / max(n, 1)))
    tol = 4 * se if quick else 0.02
    stat = m["stat_cov"] / max(n, 1)
    full = m["full_cov"] / max(m["full_n"], 1)
    return [
        Claim(f"{name}: statistical {LEVEL:.0%} CI covers the noise-free order p* "
              "(exact-chain fit, same model and range)",
              f"{stat:.4f} ({m['stat_cov']}/{n})", f"|coverage - {LEVEL:g}| <= {tol:.3f}",
              abs(stat - LEVEL) <= tol,
              {"coverage": stat, "binomial_se": se, "seeds_with_finite_se": n,
               "noise_free_orders": {f"{mdl}, {s} dropped": v[0] for (mdl, s), v in
                                     sorted(m["truth"].items())}}),
        Claim(f"{name}: reported CI (statistical + truncation allowance) covers order 1",
              f"{full:.4f} ({m['full_cov']}/{m['full_n']})",
              f">= {LEVEL:g} - 4 binomial se = {LEVEL - 4 * se:.3f}", full >= LEVEL - 4 * se,
              {"coverage": full, "seeds_with_a_ci": m["full_n"]}),
    ]


def _notes(table):
    lines = ["| fit | alpha_gof | false-rejection rate | median level per candidate | "
             "stat. coverage of p* | coverage of 1 (reported CI) | statuses |",
             "|---|---|---|---|---|---|---|"]
    for (name, alpha), m in table.items():
        lines.append(f"| {name} | {alpha:g} | {m['false'] / m['n']:.4f} | "
                     f"{np.median(m['levels']):.3g} | {m['stat_cov'] / max(m['stat_n'], 1):.4f} | "
                     f"{m['full_cov'] / max(m['full_n'], 1):.4f} | {m['status']} |")
    return lines


def _figure(table, P):
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8))
    labels, rates, stated = [], [], []
    for (name, alpha), m in table.items():
        labels.append(f"{name}\nα={alpha:g}")
        rates.append(m["false"] / m["n"])
        stated.append(alpha)
    x = np.arange(len(labels))
    err = [np.sqrt(r * (1 - r) / P["n_seeds"]) for r in rates]
    a1.bar(x, rates, yerr=err, capsize=4, label="measured")
    a1.scatter(x, stated, color="k", marker="_", s=600, zorder=3, label="stated alpha_gof")
    a1.set_xticks(x, labels, fontsize=8)
    a1.set_ylabel("false-rejection rate")
    a1.legend(fontsize=8)
    names = list(dict.fromkeys(k for k, _ in table))
    for i, name in enumerate(names):
        m = table[(name, P["alphas"][0])]
        for j, (hit, n, lab) in enumerate(((m["stat_cov"], m["stat_n"], "stat. CI vs p*"),
                                           (m["full_cov"], m["full_n"], "reported CI vs 1"))):
            c = hit / max(n, 1)
            a2.errorbar(i + 0.15 * (2 * j - 1), c, yerr=np.sqrt(c * (1 - c) / max(n, 1)),
                        fmt="os"[j], color=f"C{j}", capsize=4, label=lab if i == 0 else None)
    a2.axhline(LEVEL, color="k", lw=1)
    a2.axhspan(LEVEL - 0.02, LEVEL + 0.02, color="0.9")
    a2.set_xticks(range(len(names)), names)
    a2.set_ylabel(f"coverage (nominal {LEVEL:g})")
    a2.legend(fontsize=8)
    fig.suptitle(f"order fit over {P['n_seeds']} seeds, {P['n_paths']} coupled paths each")
    fig.tight_layout()
    return fig


@experiment("weak_order_frr",
            "The order fit's χ² tests reject correct models at the stated rate across all "
            "candidates, and its CI covers at the nominal level (≥ 200 seeds, exact EM chain)")
def run(quick: bool, rng):
    """GBM dX = μX dt + σX dW (μ = 1, σ = 0.5, x0 = 1, T = 1), φ = x², Euler–Maruyama on
    dt = T/2 … T/64 (quick; T/2 … T/128 full), coupled paths, numba backend. Its EM chain has
    exact moments (docs/theory.md §C.2), so every quantity the fit estimates is known without
    Monte-Carlo noise. Each seed runs one coupled simulation and fits the errors against the
    exact E φ(X_T) as ``weak_order`` does in exact mode: ``c + e(h)`` with a free common offset
    ``c``, the Monte-Carlo error that coupled levels share (the same fit as on the coupled
    successive differences). For comparison the report also shows the errors fitted without
    the offset (no claim).

    *False rejection.* ``fit_order(model="auto")`` tests every candidate (two models x every
    range of the finest steps) by χ², each at the level that gives the whole family the stated
    rate ``alpha_gof``. A candidate *holds* when the χ² of its noise-free refit (exact chain
    values, same model, range and covariance) is below 0.1: its omitted terms are invisible at
    this noise level. A false rejection is a seed on which the χ² test rejects any candidate that
    holds; the measured rate must lie within a factor 2 of ``alpha_gof``.

    *Coverage.* The estimand of the chosen fit is p*, the order of the same model on the same
    range fitted to the exact chain values (the noise-free truth). The statistical 95% CI
    p ± 1.96 se must cover p* in 95% of the seeds, within 2 points in full mode (4 binomial
    standard errors at 2000 seeds; in quick mode the criterion is 4 binomial standard errors,
    6 points at 200 seeds). The reported CI, which adds the truncation allowance, must cover the
    true order 1 at least as often as nominal (it is conservative by design)."""
    P = QUICK if quick else FULL
    dts = T / 2.0 ** np.arange(1, P["n_levels"] + 1)
    exact = float(linear_moments(A, B, X0, T).second[0, 0])
    chain = np.array([float(em_chain_moments(A, B, X0, h, int(round(T / h))).second[0, 0])
                      for h in dts])
    sde = sdesim.gbm(MU, SIG)
    runs = []
    for seed in rng.spawn(P["n_seeds"]):
        le = sdesim.expectation_levels(sde, X0, lambda x: x[:, 0] ** 2, T=T, dts=dts,
                                       n_paths=P["n_paths"], rng=seed, backend="numba",
                                       quiet=True)
        runs.append((np.asarray(le.mean, float), np.asarray(le.cov, float)))
    cov_true = np.mean([c for _, c in runs], axis=0)   # the per-level covariance, 1e5+ paths
    claims, table = [], {}
    z = normal_quantile(LEVEL)
    for name, offset in VARIANTS.items():
        for alpha in P["alphas"]:
            m = _one_variant(offset, runs, dts, exact, chain - exact, cov_true, alpha, z)
            table[(name, alpha)] = m
            if offset:
                claims.append(_frr_claim(name, alpha, m, P))
        if offset:
            claims += _coverage_claims(name, table[(name, P["alphas"][0])], P, quick)
    params = {"problem": f"GBM μ={MU:g}, σ={SIG:g}, x0=1, φ=x², T={T:g}",
              "dts": f"T/2 … T/{2 ** P['n_levels']}", "n_paths per seed": P["n_paths"],
              "seeds": P["n_seeds"], "alpha_gof": list(P["alphas"]), "CI level": LEVEL}
    return Result(claims, figures={"coverage": _figure(table, P)}, params=params,
                  notes=_notes(table))
