"""The candidate fits of ``model="auto"`` and the choice among them (or an explicit model).

``model="auto"`` fits both correction models on every range of the finest step sizes
(:func:`_candidates`), sets the level of each candidate's χ² test so that the family of tests
has the stated false-rejection rate (:func:`_family_level`), scores each candidate by its total
half-width and acceptance test (:func:`_score`, :func:`_passes`) and keeps the accepted one with
the smallest half-width (:func:`_choose`), recording why each coarse step was dropped; an
explicit model is fitted to all points (:func:`_fit_requested`). The method is explained in
:mod:`sdesim.weak.fit`.

References
----------
Westfall & Young (1993), *Resampling-Based Multiple Testing*, §2.6 (single-step min-p
adjustment).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import special

from .models import _MODEL_TEXT, _NC, _Data, _Fit, _Rules, _allowance, _dscale

__all__ = ["Candidate"]

_NULL_DRAWS = 10_000   # Gaussian draws of the joint null of the candidates' χ² statistics
_NULL_SEED = 20_240_531  # fixed: the level is a function of the data alone


class Candidate(NamedTuple):
    """One fit that ``model="auto"`` considered (see :attr:`OrderFit.candidates`)."""

    model: str
    n_dropped: int
    order: float
    stat_halfwidth: float
    allowance: float
    gof_pvalue: float
    accepted: bool
    why_not: str


def _passes(f: _Fit, exact: bool, rules: _Rules) -> tuple[bool, str]:
    """The acceptance test of one fit: identified, testable, fits, correction stays small."""
    if f.singular:
        return False, "parameters not identified"
    if f.dof < 1:
        return False, "0 dof: fit untestable"
    if exact:
        if f.max_rel > rules.rtol:
            return False, f"relative residual {f.max_rel:.2g} > rtol"
    else:
        if f.pvalue < rules.alpha_each:
            return False, f"chi2 p-value {f.pvalue:.2g} < {rules.alpha_each:.2g}"
    if f.correction_size() > 1:
        return False, f"|Dh|+|Eh²| = {f.correction_size():.2g} > 1 at the coarsest h"
    return True, ""


def _range_fits(data: _Data, start: int, min_points: int) -> dict:
    """``{model: fit}`` of the correction models with enough points on the range ``start:``."""
    fits = {}
    for mdl in ("power+next", "power+next2"):
        if data.n_y - start >= max(min_points, _NC[mdl] + 2):
            fits[mdl] = data.fit(start, mdl)
    return fits


def _score(f: _Fit, dscale: float, data: _Data, rules: _Rules) -> Candidate:
    """One fit as a :class:`Candidate`: statistical half-width, allowance, verdict."""
    allow = _allowance(f, dscale, rules.gamma, data.kind)
    se = 0.0 if data.exact else math.sqrt(max(f.info_inv[0, 0], 0.0))
    ok, why = _passes(f, data.exact, rules)
    if not np.isfinite(rules.z * se + allow):
        ok, why = False, why or "infinite half-width"
    return Candidate(f.model, f.start, f.p, rules.z * se, allow, f.pvalue, ok, why)


def _family_level(data: _Data, fits, alpha: float) -> float:
    """Level of each χ² test such that *any* of ``fits`` rejects with probability ``alpha``
    when all their models hold (single-step min-p, Westfall & Young 1993, §2.6).

    Under the linearised model the whitened residuals of a fit on ``y[s:]`` are
    ``(I − P) W ε[s:]`` with ``ε ~ N(0, Σ)`` shared by all fits, so the joint law of their
    p-values is simulated from Gaussian draws (fixed seed) and the level is the
    ``alpha``-quantile of the smallest p-value. Between ``alpha / m`` (independent tests) and
    ``alpha`` (identical tests); in exact mode with coupled paths the candidates share most of
    their noise and the level stays close to ``alpha``.
    """
    testable = [f for f in fits if not f.singular and f.dof >= 1]
    if data.exact or alpha == 0 or len(testable) < 2:
        return alpha
    rng = np.random.default_rng(_NULL_SEED)
    eps = rng.standard_normal((_NULL_DRAWS, data.n_y)) @ np.linalg.cholesky(data.sigma).T
    dofs = sorted({f.dof for f in testable})
    largest = {k: np.zeros(_NULL_DRAWS) for k in dofs}   # per dof: the largest χ² of each draw
    for f in testable:
        u = eps[:, f.start:] @ f.W.T
        r = u - (u @ f.J) @ f.info_inv @ f.J.T
        largest[f.dof] = np.maximum(largest[f.dof], np.einsum("ij,ij->i", r, r))
    # the alpha-quantile of the smallest p-value is <= alpha, so p-values above alpha
    # (statistics below the alpha-quantile of their χ² law) need not be computed
    min_p = np.ones(_NULL_DRAWS)
    for k in dofs:
        tail = largest[k] > special.chdtri(k, alpha)
        min_p[tail] = np.minimum(min_p[tail], special.chdtrc(k, largest[k][tail]))
    return float(np.quantile(min_p, alpha))


def _candidates(data: _Data, rules: _Rules) -> tuple[list[tuple[_Fit, Candidate]], _Rules]:
    """Both correction models on every range of the finest steps, scored, coarse ranges first;
    and the rules with the calibrated level of each candidate's χ² test."""
    ranges = []
    for start in range(data.n_y):
        fits = _range_fits(data, start, rules.min_points)
        if not fits:
            break
        ranges.append((list(fits.values()), _dscale(fits.values(), not data.exact)))
    every = [f for fits, _ in ranges for f in fits]
    rules = rules._replace(alpha_each=_family_level(data, every, rules.alpha_gof))
    table = [(f, _score(f, ds, data, rules)) for fits, ds in ranges for f in fits]
    return table, rules


def _why_dropped(data: _Data, table, start: int) -> list[str]:
    """For each of the ``start`` coarsest steps, why the chosen fit leaves it out."""
    out = []
    for k in range(start):
        explained = any(c.accepted and f.start <= k for f, c in table)
        out.append(f"h = {data.hs[k]:.4g}: " + (
            "explained by an accepted model, but keeping it costs more in truncation allowance "
            "than it gives" if explained else
            "no accepted model includes it (not explained by the truncated expansion)"))
    return out


class _Choice(NamedTuple):
    """The fit to report, the fits that set its allowance scale, and why it was chosen."""

    fit: _Fit
    scale_fits: tuple   # fits of the same range whose coefficients give ρ (see _dscale)
    allowance: float
    status: str         # "ok" or "poor fit" (the verdict may still say "not resolved")
    reason: str
    notes: list


def _choose(data: _Data, table, rules: _Rules) -> _Choice:
    """The accepted candidate with the smallest total half-width; the fit on the
    ``min_points`` finest values, ``"poor fit"``, if none passes."""
    accepted = [(f, c) for f, c in table if c.accepted]
    if not accepted:
        f = data.fit(max(0, data.n_y - rules.min_points), "power+next")
        allow = _allowance(f, _dscale([f], not data.exact), rules.gamma, data.kind)
        reason = (f"no candidate fit passes (chi2/relative-residual test with >= 1 dof and "
                  f"|Dh|+|Eh²| <= 1); fell back to C h^p(1+Dh) on the "
                  f"min_points={rules.min_points} finest values")
        return _Choice(f, (f,), allow, "poor fit", reason, [])
    f, c = min(accepted, key=lambda t: (t[1].stat_halfwidth + t[1].allowance, t[0].start))
    crit = ("relative residual <= rtol" if data.exact else
            f"chi2 p-value >= {rules.alpha_each:.2g} with >= 1 dof, the level that gives the "
            f"family of tests a false-rejection rate of {rules.alpha_gof:g}")
    reason = (f"of {len(table)} candidate fits ({{C h^p(1+Dh), C h^p(1+Dh+Eh²)}} x "
              f"ranges of the finest steps), {len(accepted)} pass ({crit}, |Dh|+|Eh²| <= 1);"
              f" chose {_MODEL_TEXT[f.model]} on the {data.n_y - f.start} finest values, "
              f"which has the smallest half-width (statistical + truncation allowance)")
    why_dropped = _why_dropped(data, table, f.start)
    if why_dropped:
        reason += "; dropped " + "; ".join(why_dropped)
    same_range = tuple(g for g, _ in table if g.start == f.start)
    return _Choice(f, same_range, c.allowance, "ok", reason, [])


def _fit_requested(data: _Data, model: str, rules: _Rules) -> _Choice:
    """An explicit ``model`` fitted to all points."""
    f = data.fit(0, model)
    others = {}
    for mdl in ("power+next", "power+next2"):
        if mdl != model and data.n_y >= _NC[mdl] + 2:
            others[mdl] = data.fit(0, mdl)
    if model != "power":
        others[model] = f
    scale_fits = tuple(others.values())
    allow = _allowance(f, _dscale(scale_fits, not data.exact), rules.gamma, data.kind)
    ok, why = _passes(f, data.exact, rules)
    untestable = f.dof == 0 and not data.exact
    status = "ok" if ok or (untestable and not f.singular) else "poor fit"
    notes = ["0 dof: the model interpolates the points and cannot be tested"] if untestable else []
    reason = f"model {_MODEL_TEXT[model]} requested, all points used"
    if not ok and why:
        reason += f"; it does not pass: {why}"
    return _Choice(f, scale_fits, allow, status, reason, notes)

