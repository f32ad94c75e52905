"""The verdict of an order fit: standard error, CI, whether the order is resolved, and why not.

:func:`_verdict` turns the chosen fit into a standard error (Birge-inflated for a poor fit,
:func:`_birge`), a CI of ``p ± (z·se + allowance)`` and a status; an order is "not resolved"
when the CI is wider than ``_MAX_WIDTH`` or the parameters are not identified, and the cause is
the largest piece of the half-width (:func:`_dominant_piece`, :func:`_unidentified_cause`).
``_CAUSES`` holds the text of each cause: its name, the explanation and the remedy. The method
is explained in :mod:`sdesim.weak.fit`.

References
----------
Birge (1932), Phys. Rev. 40:207 (inflating errors by sqrt(χ²/dof)).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .choice import _Choice
from .models import _MODEL_TEXT, _Data, _Fit, _Rules, _allowance, _dscale

_MAX_WIDTH = 0.5  # widest CI that still tells orders 1/2 apart
# why an order is not resolved (or unreliable): a short name, the explanation, the remedy
_CAUSES = {
    "noise": ("Monte-Carlo noise dominates", "the statistical error swamps the error signal",
              "use more paths (the half-width shrinks like 1/sqrt(n_paths)), coupled paths, or "
              "variance reduction (antithetic increments, a control variate); finer steps do "
              "not help (docs/weak-order-not-resolving.md)"),
    "truncation": ("the truncation allowance dominates",
                   "the steps are too coarse for the error expansion (pre-asymptotic), or the "
                   "model is misspecified",
                   "use finer steps: drop the coarsest and extend to smaller step sizes; adding "
                   "paths does not help (docs/weak-order-not-resolving.md)"),
    "misfit": ("the model does not fit",
               "the statistical error is small, so it is not Monte-Carlo noise",
               "use finer steps (drop the coarsest, extend to smaller step sizes) and check "
               "that the scheme converges and that the test function is smooth"),
    "offset": ("the errors do not go to 0",
               "they share an offset that the Monte-Carlo error does not explain, so `exact` "
               "is not the limit of these simulations",
               "check `exact` (an Ito SDE with a Stratonovich formula, a different x0 or T, a "
               "typo) and that the scheme converges to the SDE you meant"),
    "not identified": ("the parameters are not identified",
                       "the data are precise, but these points do not fix the model",
                       "give more (and finer) step sizes"),
}


class _Verdict(NamedTuple):
    se: float
    ci: tuple
    inflation: float
    status: str
    cause: str
    notes: list


def _two_point_halfwidth(data: _Data, z: float) -> float:
    """Statistical half-width of the log–log slope through the two finest data values alone.

    A model-free measure of how precisely the data could fix any order: the delta method on
    ``log|y_a| − log|y_b|`` with the covariance of ``(y_a, y_b)``, over ``log(h_a / h_b)``.
    """
    a, b = data.n_y - 2, data.n_y - 1
    if data.y[a] == 0 or data.y[b] == 0:
        return float("inf")
    grad = np.array([1.0 / data.y[a], -1.0 / data.y[b]])
    var = float(grad @ data.cov[a:b + 1, a:b + 1] @ grad)
    return z * math.sqrt(max(var, 0.0)) / abs(math.log(data.hs[a] / data.hs[b]))


def _dominant_piece(data: _Data, choice: _Choice, stat: float, inflation: float,
                    buried: bool, gamma: float) -> tuple[str, str]:
    """The cause of an unresolved CI whose pieces are finite, and a note on the evidence.

    The half-width is ``z·se_raw`` (noise) + ``z·se_raw·(inflation − 1)`` (misfit, the Birge
    inflation of a poor fit) + ``allowance`` (truncation): the largest piece is the cause.
    A dominating allowance still counts as noise when the noise alone would leave the order
    unresolved (``z·se_raw > 0.25``) or the finest datum is ``buried`` (within 2 standard errors
    of 0): finer steps cannot help then, while more paths also shrink the allowance, whose scale
    includes the standard errors of the fitted coefficients.
    """
    allow, limit = choice.allowance, _MAX_WIDTH / 2
    raw = stat / inflation
    pieces = {"noise": raw, "misfit": stat - raw, "truncation": allow}
    cause = max(pieces, key=pieces.get)
    if cause == "noise" and allow > limit:
        return cause, (f"the truncation allowance {allow:.2g} alone also exceeds {limit:g}: "
                       "finer steps may be needed as well")
    if cause != "truncation":
        return cause, ""
    if buried or raw > limit:
        why = ("the finest datum is within 2 standard errors of 0, so finer steps would only "
               "shrink the signal further below the noise" if buried else
               f"the statistical half-width {raw:.2g} alone exceeds {limit:g}")
        return "noise", (f"the truncation allowance {allow:.2g} is the larger piece, but {why}; "
                         "more paths also shrink the allowance")
    point = _allowance(choice.fit, _dscale(choice.scale_fits, False), gamma, data.kind)
    if allow - point <= point:
        return cause, ""
    return cause, (f"most of the allowance {allow:.2g} is the statistical margin se(D) of the "
                   f"fitted coefficients (without it: {point:.2g}): more paths shrink that "
                   "part, finer steps all of it")


def _unidentified_cause(data: _Data, choice: _Choice, z: float) -> tuple[str, str]:
    """The cause when the fit is not identified (its pieces are not finite): noise if even the
    two-point slope through the finest data is not resolved, else a precise datum that no model
    explains (``"misfit"`` when no model passed, else ``"not identified"``)."""
    s2 = _two_point_halfwidth(data, z)
    note = (f"the log-log slope through the two finest data values alone has statistical "
            f"half-width {s2:.2g}")
    if s2 > _MAX_WIDTH / 2:
        return "noise", note
    return ("misfit" if choice.status == "poor fit" else "not identified"), note


def _birge(f: _Fit, rules: _Rules) -> tuple[float, float, list]:
    """Standard error of p, inflated by the Birge ratio when the model fails the χ² test:
    ``(se, inflation, notes)``."""
    se = math.sqrt(f.info_inv[0, 0]) if np.isfinite(f.info_inv[0, 0]) else float("inf")
    if not (f.dof > 0 and f.pvalue < rules.alpha_each):
        return se, 1.0, []
    inflation = math.sqrt(f.chi2 / f.dof)
    return se * inflation, inflation, [
        f"the model {_MODEL_TEXT[f.model]} does not fit (chi2 = {f.chi2:.3g} on {f.dof} dof, "
        f"p-value {f.pvalue:.2g}); standard error inflated by the Birge ratio {inflation:.3g}; "
        "do not trust this order"]


def _verdict(data: _Data, choice: _Choice, rules: _Rules) -> _Verdict:
    """Standard error (Birge-inflated for a poor fit), CI, whether the order is resolved and,
    if not, why (``cause``; ``"misfit"`` also for a resolved poor fit)."""
    f, status = choice.fit, choice.status
    p = f.p
    resolved_cause = "misfit" if status == "poor fit" else ""
    if data.exact:
        return _Verdict(0.0, (p, p), 1.0, status, resolved_cause, [
            "exact data (cov=None): no Monte-Carlo noise, so the CI has zero width; "
            f"the truncation allowance ±{choice.allowance:.2g} bounds the remaining bias"])
    se, inflation, notes = _birge(f, rules)
    hw = rules.z * se + choice.allowance
    ci = (p - hw, p + hw)
    width = ci[1] - ci[0]
    y_fine, se_fine = data.y[-1], data.stderrs[-1]
    buried = abs(y_fine) <= 2 * se_fine
    identified = not f.singular and np.isfinite(width)
    if not identified:
        msg = "the parameters are not identified by these points"
    elif width > _MAX_WIDTH:
        msg = (f"the CI is {width:.2g} wide (> {_MAX_WIDTH:g}): it cannot tell orders 1/2 "
               "apart")
        if buried:
            msg += (f"; the finest datum {y_fine:.3g} is within 2 standard errors "
                    f"({se_fine:.2g}) of 0")
    else:
        return _Verdict(se, ci, inflation, status, resolved_cause, notes)
    if identified:
        cause, evidence = _dominant_piece(data, choice, rules.z * se, inflation, buried,
                                          rules.gamma)
    else:
        cause, evidence = _unidentified_cause(data, choice, rules.z)
        ci = (math.nan, math.nan)  # no interval, rather than an infinite one
    notes.append("; ".join(m for m in (msg, evidence) if m))
    return _Verdict(se, ci, inflation, "not resolved", cause, notes)

