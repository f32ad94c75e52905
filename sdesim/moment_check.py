"""Refuse test functions whose Monte-Carlo variance is infinite under α-stable noise.

With an α-stable driver (α < 2) the solution has power-law tails with index α, so
``E|X_T|^q`` is infinite for ``q ≥ α``: :func:`check_test_function_moments` measures how fast a
test function ``phi`` grows and refuses it when ``Var phi(X_T)`` would be infinite;
:func:`refuse_heavy_tailed_phi` applies it to an SDE's driver and initial states (called by
``expectation``, ``expectation_levels`` and so ``weak_order``).

References
----------
Samorodnitsky & Taqqu (1994), *Stable Non-Gaussian Random Processes*, Property 1.2.16;
docs/theory.md §0.5, §C.6.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np

__all__ = ["check_test_function_moments", "refuse_heavy_tailed_phi"]


def check_test_function_moments(phi: Callable, x0, min_alpha: float, *, radii=None) -> float:
    """Refuse a test function whose Monte-Carlo variance is infinite under α-stable noise.

    Reasoning. With an α-stable driver (α < 2), the solution ``X_T`` inherits the power-law tail
    of the noise: ``P(|X_T| > r) ~ c r^{-α}`` (exactly so for linear drift, where ``X_T`` is a
    sum of stable variables; docs/theory.md §C.6). If ``|phi(x)|`` grows like ``|x|^k`` then
    ``E|phi(X_T)|^q`` is finite only for ``q k < α``. The weak error needs ``E phi(X_T)``
    (``k < α``), and its Monte-Carlo confidence interval needs the variance (``2k < α``):
    for ``k ≥ α/2`` the sample mean obeys no central limit theorem at rate ``n^{-1/2}`` and
    its "standard error" is noise, so any order fitted to it would be noise as well. With
    Brownian drivers (α = 2) nothing is checked.

    The growth exponent ``k`` is measured by probing ``phi`` along rays from ``x0``:
    ``x0 ± r e_i`` for every coordinate ``i`` and ``r`` in ``radii`` (default ``1e1 … 1e8``,
    8 per decade); ``k`` is the log–log slope of the running maximum of ``|g|`` over the outer
    three decades (the running maximum makes oscillating bounded functions such as ``cos``
    read as ``k ≈ 0``). Non-finite values of ``phi`` far out count as infinite growth; for a
    vector ``phi`` (values ``(n, k)``) the largest component counts.

    Parameters
    ----------
    phi : callable
        Test function mapping states ``(n, d)`` to values ``(n,)`` or ``(n, k)``.
    x0 : array_like, shape (d,) or scalar
        Centre of the probe (the initial state).
    min_alpha : float
        Smallest stability index of the driver, in (0, 2] (``sde.driver.min_alpha``).
    radii : array_like, optional
        Increasing probe radii (> 0); at least 4.

    Returns
    -------
    float
        The measured growth exponent ``k`` (``-inf`` is never returned; 0 for bounded ``phi``).
        For ``min_alpha == 2`` nothing is probed and ``nan`` is returned.

    Raises
    ------
    ValueError
        If ``k ≥ min_alpha / 2`` (the message names ``phi`` and suggests bounded test
        functions such as ``cos(u·x)``), if ``min_alpha`` is outside (0, 2], or if ``phi``
        returns the wrong shape.

    Examples
    --------
    >>> import numpy as np
    >>> k = check_test_function_moments(lambda x: np.cos(x[:, 0]), [0.0], 1.5)
    >>> abs(k) < 0.1
    True
    >>> check_test_function_moments(lambda x: x[:, 0] ** 2, [0.0], 1.5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: phi grows like |x|^2.00 ...

    References
    ----------
    Samorodnitsky & Taqqu (1994), *Stable Non-Gaussian Random Processes*, Property 1.2.16
    (``E|Z|^q < ∞`` iff ``q < α``); docs/theory.md §0.5, §C.6.
    """
    try:
        a = float(min_alpha)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"min_alpha must be a number in (0, 2], got {min_alpha!r}") from exc
    if not 0 < a <= 2:
        raise ValueError(f"min_alpha must lie in (0, 2], got {a}")
    if a >= 2:
        return float("nan")
    x0 = np.atleast_1d(np.asarray(x0, dtype=float))
    if x0.ndim != 1 or not np.all(np.isfinite(x0)):
        raise ValueError(f"x0 must be a finite vector of shape (d,), got {x0.shape}")
    d = x0.size
    r = np.logspace(1, 8, 57) if radii is None else np.asarray(radii, dtype=float)
    if r.ndim != 1 or r.size < 4 or np.any(r <= 0) or np.any(np.diff(r) <= 0):
        raise ValueError("radii must be an increasing 1-d array of at least 4 positive numbers")
    pts = []
    for i in range(d):
        for sign in (1.0, -1.0):
            p = np.repeat(x0[None, :], r.size, axis=0)
            p[:, i] += sign * r
            pts.append(p)
    X = np.concatenate(pts, axis=0)
    with np.errstate(all="ignore"):
        vals = np.asarray(phi(X), dtype=float)
    if vals.shape[:1] != (X.shape[0],) or vals.ndim > 2:
        raise ValueError(f"phi must map states of shape (n, d) = {X.shape} (a probe along rays "
                         f"from x0) to (n,) or (n, k), got {vals.shape}")
    vals = np.abs(vals.reshape(X.shape[0], -1)).max(axis=1).reshape(2 * d, r.size)
    outer = r >= r[-1] / 1e3
    if np.sum(outer) < 2:
        outer = np.arange(r.size) >= r.size // 2
    k = 0.0
    for row in vals:
        if not np.all(np.isfinite(row[outer])):
            k = math.inf
            break
        env = np.maximum.accumulate(np.maximum(row, 1e-300))
        ro, eo = r[outer], env[outer]
        slope = math.log(eo[-1] / eo[0]) / math.log(ro[-1] / ro[0])
        k = max(k, slope)
    if k >= a / 2 - 1e-9:
        grow = "without bound (non-finite values)" if math.isinf(k) else f"like |x|^{k:.2f}"
        raise ValueError(
            f"phi grows {grow} along rays from x0, but the driver is α-stable with α = {a:g}: "
            f"X_T has tails ~ |x|^(-{a:g}), so Var phi(X_T) is infinite for growth exponent "
            f">= α/2 = {a / 2:g}"
            + (" (and E phi(X_T) itself does not exist)" if k >= a else "")
            + "; a Monte-Carlo CI (and any fitted order) would be noise. Use a bounded test "
            "function such as phi = lambda x: np.cos(x @ u) for a frequency vector u.")
    return float(k)


def refuse_heavy_tailed_phi(sde, x: np.ndarray, phi: Callable, *, warn: bool = False) -> None:
    """:func:`check_test_function_moments` for ``phi`` under ``sde``'s driver, probed from the
    first initial state ``x[0]`` (``x`` the initial states ``(n, d)``); nothing for a Brownian
    driver, or for a ``phi`` that does not run on numpy arrays (written for torch tensors: the
    run evaluates it where it runs). With ``warn=True`` (``expectation``,
    ``expectation_levels``: the mean may still be wanted) a ``RuntimeWarning`` says what
    :func:`check_test_function_moments` would raise (``weak_order`` raises: its fit would be
    noise).

    Raises
    ------
    ValueError
        As :func:`check_test_function_moments`: ``Var phi(X_T)`` is infinite (``warn=False``).

    Examples
    --------
    >>> import numpy as np, sdesim
    >>> sde = sdesim.ou(1.0, 1.0, driver=sdesim.Stable(1.5))
    >>> refuse_heavy_tailed_phi(sde, np.zeros((4, 1)), lambda x: np.cos(x[:, 0]))  # bounded
    >>> refuse_heavy_tailed_phi(sde, np.zeros((4, 1)), lambda x: x[:, 0])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: phi grows like |x|^1.00 ...

    References
    ----------
    Samorodnitsky & Taqqu (1994), Property 1.2.16; docs/theory.md §C.6.
    """
    min_alpha = float(getattr(getattr(sde, "driver", None), "min_alpha", 2.0))
    if min_alpha >= 2:
        return
    probe = np.asarray(x[0], dtype=float)
    try:
        with np.errstate(all="ignore"):
            phi(probe[None, :])
    except Exception:  # noqa: BLE001 - a phi for another array library: not probed here
        return
    try:
        check_test_function_moments(phi, probe, min_alpha)
    except ValueError as exc:
        if not warn:
            raise
        warnings.warn(f"{exc} The estimate and its standard error are returned but mean "
                      f"nothing.", RuntimeWarning, stacklevel=4)
