"""Exit-time formulas: exact mean exit times (Getoor's for SαS Lévy motion, the quadrature for
1-d diffusions), Kramers' law, the α-stable tail constant and the Imkeller–Pavlyukevich big-jump
rate, big-jump survival under a learning-rate scheduler, and the discrete-monitoring shift.

They are the references :func:`sdesim.escape.exit_times` is tested and validated against.

References
----------
Getoor (1961), Trans. AMS 101:75; Imkeller & Pavlyukevich (2006), SPA 116:611; Kramers (1940);
Gobet (2000), ESAIM P&S 4:93; docs/theory.md §C.6.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from .._validate import alpha_array, as_finite_array, positive_float

__all__ = ["getoor_mean_exit_time", "diffusion_mean_exit_time", "kramers_time",
           "stable_tail_constant", "big_jump_rate", "scheduler_survival", "GOBET_SHIFT"]

#: ``-ζ(1/2)/√(2π)``: shifting a boundary inwards by ``GOBET_SHIFT · σ √h`` corrects the
#: discrete-monitoring bias of an exit time to ``o(√h)`` (Broadie–Glasserman–Kou 1997,
#: Gobet–Menozzi 2010).
GOBET_SHIFT = 0.5825971579390106


def getoor_mean_exit_time(alpha, a: float, x=0.0, scale: float = 1.0):
    """Mean exit time of ``scale · L^α`` (standard SαS Lévy motion) from ``(-a, a)``, started at x.

    ``E_x σ = ((a² - x²)/scale²)^{α/2} / Γ(1 + α)``; at α = 2 (``√2 W`` times ``scale``) it is
    ``(a² - x²)/(2 scale²)``.

    Parameters
    ----------
    alpha : float in (0, 2]
    a : float > 0
    x : float or ndarray, ``|x| < a``
    scale : float > 0

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> round(getoor_mean_exit_time(2.0, 1.0), 6)
    0.5

    References
    ----------
    Getoor (1961), Trans. AMS 101:75, Thm. 5.3; docs/theory.md §C.6.
    """
    al = float(alpha_array(alpha))
    a = positive_float(a, "a")
    s = positive_float(scale, "scale")
    x = as_finite_array(x, "x")
    if np.any(np.abs(x) >= a):
        raise ValueError(f"x must lie in (-a, a) = ({-a}, {a})")
    out = ((a * a - x * x) / (s * s)) ** (al / 2) / math.gamma(1 + al)
    return float(out) if np.ndim(out) == 0 else out


def diffusion_mean_exit_time(U: Callable[[float], float], D: float, lo: float, hi: float,
                             x: float) -> float:
    """Mean exit time of ``dX = -U'(X) dt + √(2D) dW`` from ``(lo, hi)``, started at ``x``.

    Solves ``D T'' - U' T' = -1``, ``T(lo) = T(hi) = 0`` by quadrature:
    ``T(x) = (1/D) ∫_lo^x e^{U(y)/D} (C - ∫_lo^y e^{-U(z)/D} dz) dy`` with ``C`` fixed by
    ``T(hi) = 0``. Potentials are shifted by their minimum on the interval to avoid overflow.

    Parameters
    ----------
    U : callable ``U(y) -> float`` (scalar)
    D : float > 0
    lo, hi : float, ``lo < x < hi``
    x : float

    Returns
    -------
    float

    Examples
    --------
    OU with θ = 1, D = 0.25 from (-1, 1) (docs/theory.md §C.6: 4.5016):

    >>> round(diffusion_mean_exit_time(lambda y: y * y / 2, 0.25, -1.0, 1.0, 0.0), 4)
    4.5016

    References
    ----------
    Gardiner, Handbook of Stochastic Methods, §5.2.7; docs/theory.md §C.6.
    """
    from scipy import integrate
    D = positive_float(D, "D")
    lo, hi, x = float(lo), float(hi), float(x)
    if not lo < x < hi:
        raise ValueError(f"x must lie in (lo, hi) = ({lo}, {hi}), got {x}")
    grid = np.linspace(lo, hi, 201)
    u0 = min(U(v) for v in grid)
    ushift = lambda y: (U(y) - u0) / D  # noqa: E731
    inner = lambda y: integrate.quad(lambda z: math.exp(-ushift(z)), lo, y, limit=200)[0]  # noqa: E731
    opts = dict(limit=200, epsabs=0, epsrel=1e-10)
    num = integrate.quad(lambda y: math.exp(ushift(y)) * inner(y), lo, hi, **opts)[0]
    den = integrate.quad(lambda y: math.exp(ushift(y)), lo, hi, **opts)[0]
    C = num / den
    val = integrate.quad(lambda y: math.exp(ushift(y)) * (C - inner(y)), lo, x, **opts)[0]
    # the e^{-u0/D} factors of the two integrals cancel
    return val / D


def kramers_time(dU: float, curv_min: float, curv_saddle: float, D: float) -> float:
    """Kramers' mean time to *cross* a saddle: ``2π / sqrt(U''(m) |U''(s)|) · e^{ΔU/D}``.

    For ``dX = -U'(X) dt + √(2D) dW`` as ``D → 0``; the mean time to first *hit* the saddle is
    half of it.

    Parameters
    ----------
    dU : float
        Barrier height ``U(s) - U(m)``.
    curv_min : float > 0
        ``U''(m)`` at the minimum.
    curv_saddle : float, nonzero
        ``U''(s)`` at the saddle (its sign is ignored).
    D : float > 0
        Noise intensity.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        ``curv_min <= 0``, ``curv_saddle = 0``, ``D <= 0`` or a non-finite argument.

    Examples
    --------
    >>> round(kramers_time(0.25, 2.0, 1.0, 0.25) / math.e, 4)
    4.4429

    References
    ----------
    Kramers (1940); docs/theory.md §C.6.
    """
    dU = float(as_finite_array(dU, "dU", ndim=(0,)))
    curv_min = positive_float(curv_min, "curv_min")
    curv_saddle = abs(float(as_finite_array(curv_saddle, "curv_saddle", ndim=(0,))))
    if curv_saddle == 0:
        raise ValueError("curv_saddle must be nonzero, got 0")
    D = positive_float(D, "D")
    return 2 * math.pi / math.sqrt(curv_min * curv_saddle) * math.exp(dU / D)


def stable_tail_constant(alpha) -> np.ndarray | float:
    """``C_α = Γ(α) sin(πα/2)/π``: ``P(Z > x) ~ C_α x^{-α}`` for standard SαS Z (0 at α = 2).

    Examples
    --------
    >>> round(stable_tail_constant(1.0), 6)  # Cauchy: 1/π
    0.31831

    References
    ----------
    Samorodnitsky & Taqqu (1994), Property 1.2.15; docs/theory.md §0.5.
    """
    a = alpha_array(alpha)
    from scipy.special import gamma
    out = gamma(a) * np.sin(np.pi * a / 2) / np.pi
    return float(out) if np.ndim(out) == 0 else out


def big_jump_rate(alpha, eps, b_minus, b_plus):
    """Imkeller–Pavlyukevich exit rate ``λ = ε^α C_α (b_-^{-α} + b_+^{-α})`` (standard SαS).

    For ``dX = -U'(X) dt + ε dL^α`` with a stable point at 0 and exit interval ``(-b_-, b_+)``,
    ``λ σ_ε ⇒ Exp(1)`` as ε → 0, so ``E σ_ε ≈ 1/λ``; ``P(exit right) → b_+^{-α}/(b_-^{-α} +
    b_+^{-α})``. Vectorised over its arguments.

    Examples
    --------
    >>> r = big_jump_rate(1.5, 0.1, 1.0, 1.0)
    >>> round(float(r), 6) == round(2 * 0.1**1.5 * stable_tail_constant(1.5), 6)
    True

    References
    ----------
    Imkeller & Pavlyukevich (2006), SPA 116:611, Thm. 1.1 (normalisation converted:
    their Lévy measure ``|y|^{-1-α}`` is ``α C_α`` times ours); docs/theory.md §C.6.
    """
    a = np.asarray(alpha, dtype=float)
    return (np.asarray(eps, float) ** a * stable_tail_constant(a) *
            (np.asarray(b_minus, float) ** -a + np.asarray(b_plus, float) ** -a))


def scheduler_survival(u, rate0: float, alpha: float, scheduler: Callable[[float], float]):
    """Big-jump survival ``P(σ > u) = exp(-rate0 ∫_0^u s_t^{α-1} dt)`` under a scheduler.

    For the lr-weighted Lévy SDE of SGD (TMLR eq. 3), noise ``s_t^{(α-1)/α} ε dL`` has
    big-jump rate ``s_t^{α-1} rate0``; with ``s_t = (1+t)^{γ-1}`` the integral is
    ``((1+u)^{γ_l} - 1)/γ_l`` with ``γ_l = 1 + (γ-1)(α-1)`` (``log(1+u)`` at ``γ_l = 0``).

    The integral is exact for the schedulers of :mod:`sdesim.sgd`: the closed form above for
    :func:`~sdesim.sgd.power_law_scheduler`, a sum over the pieces for
    :func:`~sdesim.sgd.multistep_scheduler`. Any other ``s`` is integrated numerically in
    ``τ = log(1 + t)`` (``dt = e^τ dτ``) on pieces of unit length in τ, so that the quadrature
    sees the mass near ``t = 0`` at every horizon (on ``[0, 10⁷]`` in ``t`` it does not).

    Parameters
    ----------
    u : float or array_like
        Times ``>= 0``.
    rate0 : float
        Rate without the scheduler (:func:`big_jump_rate`), ``>= 0``.
    alpha : float
    scheduler : callable ``s(t) -> float``, ``s >= 0``

    Returns
    -------
    float or ndarray (the shape of ``u``), in ``[0, 1]``.

    Raises
    ------
    ValueError
        ``u < 0``, ``rate0 < 0``, α outside (0, 2], a scheduler value that is negative or not
        finite.
    TypeError
        ``scheduler`` is not callable.

    Examples
    --------
    >>> round(float(scheduler_survival(1.0, 2.0, 1.5, lambda t: 1.0)), 6) == round(math.exp(-2), 6)
    True

    References
    ----------
    TMLR Thm. E.4 and γ_l; docs/theory.md §C.6 ("with a scheduler").
    """
    al = float(alpha_array(alpha))
    rate = float(as_finite_array(rate0, "rate0", ndim=(0,)))
    if rate < 0:
        raise ValueError(f"rate0 must be >= 0, got {rate}")
    us = np.atleast_1d(as_finite_array(u, "u"))
    if np.any(us < 0):
        raise ValueError(f"u must be >= 0, got {us.min()}")
    if not callable(scheduler):
        raise TypeError(f"scheduler must be callable s(t) -> float, got {type(scheduler).__name__}")
    integral = _scheduler_integral(us, al - 1.0, scheduler)
    if not np.all(np.isfinite(integral)) or np.any(integral < 0):  # the closed forms
        raise ValueError("scheduler(t) must return finite values >= 0 on [0, u]")
    out = np.exp(-rate * integral)
    return float(out[0]) if np.ndim(u) == 0 else out


def _scheduler_integral(us: np.ndarray, p: float, scheduler: Callable) -> np.ndarray:
    """``∫_0^u s_t^p dt`` for each ``u`` of ``us`` (any shape): exact for the power-law and
    multi-step schedulers of :mod:`sdesim.sgd` (their ``kind`` and ``params``), else
    :func:`_log_time_quad`."""
    kind, params = getattr(scheduler, "kind", None), getattr(scheduler, "params", None)
    if kind == "power_law":
        gl = 1.0 + (params["gamma"] - 1.0) * p
        L = np.log1p(us)
        return L if gl == 0 else np.expm1(gl * L) / gl
    if kind == "multistep":
        edges = np.r_[0.0, params["milestones"]]   # piece q: (edges[q], edges[q+1]], the last
        widths = np.r_[np.diff(edges), np.inf]      # one unbounded
        return np.clip(us[..., None] - edges, 0.0, widths) @ params["factors"] ** p
    return np.array([_log_time_quad(v, p, scheduler) for v in us.flat]).reshape(us.shape)


def _log_time_quad(u: float, p: float, scheduler: Callable) -> float:
    """``∫_0^u s_t^p dt = ∫_0^{log(1+u)} s(e^τ - 1)^p e^τ dτ`` by ``quad`` on unit pieces of τ
    (relative tolerance 1e-11 on each)."""
    from scipy import integrate
    ends = np.r_[np.arange(0.0, math.log1p(u), 1.0), math.log1p(u)]

    def f(tau):
        t = math.expm1(tau)
        v = float(scheduler(t))
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"scheduler(t) must return finite values >= 0, got {v} at t = {t:g}")
        return v ** p * math.exp(tau)
    return float(sum(integrate.quad(f, a, b, epsabs=0.0, epsrel=1e-11, limit=200)[0]
                     for a, b in zip(ends[:-1], ends[1:])))
