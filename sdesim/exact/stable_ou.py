"""The exact law of the α-stable Ornstein–Uhlenbeck process and of its Euler–Maruyama chain.

For ``dX = -theta X dt + sigma dL^alpha`` with standard SαS ``L`` (characteristic function
``exp(-|u|^alpha)``; at alpha = 2 it is ``N(0, 2)``, so a scale ``c`` is the variance
``2 c**2``).

References
----------
docs/theory.md §C.6 ("Stable OU, exact"), §0.5 (standard SαS).
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._validate import as_finite_array
from ._moments import FloatArray

__all__ = ["stable_ou_scale", "stable_ou_em_scale", "stable_ou_charfn"]


def _stable_params(theta, sigma, alpha):
    theta = as_finite_array(theta, "theta")
    if np.any(theta <= 0):
        raise ValueError(f"theta must be > 0, got {theta.tolist()}")
    sigma = as_finite_array(sigma, "sigma")
    if np.any(sigma < 0):
        raise ValueError(f"sigma must be >= 0, got {sigma.tolist()}")
    alpha = as_finite_array(alpha, "alpha")
    if np.any((alpha <= 0) | (alpha > 2)):
        raise ValueError(f"alpha must lie in (0, 2], got {alpha.tolist()}")
    return theta, sigma, alpha


def _nonneg_times(t: ArrayLike, name: str) -> FloatArray:
    try:
        t = np.array(t, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be real, got {type(t).__name__}") from exc
    if np.any(np.isnan(t)) or np.any(t == -np.inf):
        raise ValueError(f"{name} must not be NaN or -inf")
    if np.any(t < 0):
        raise ValueError(f"{name} must be >= 0 (np.inf allowed), got {t.tolist()}")
    return t


def _broadcast(**arrays: FloatArray) -> None:
    try:
        np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError as exc:
        shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
        raise ValueError(f"arguments do not broadcast together: {shapes}") from exc


def stable_ou_scale(
    theta: ArrayLike, sigma: ArrayLike, alpha: ArrayLike, t: ArrayLike = np.inf
) -> FloatArray | float:
    """Scale of the SαS part of ``X_t`` for ``dX = -theta X dt + sigma dL^alpha``.

    ``X_t = e^{-theta t} x0 + scale * Z`` in law, Z standard SαS (``E e^{iuZ} = e^{-|u|^alpha}``),
    with ``scale = sigma ((1 - e^{-alpha theta t}) / (alpha theta))^{1/alpha}``; at
    ``t = inf`` it is the stationary scale ``sigma (alpha theta)^{-1/alpha}``.

    Parameters
    ----------
    theta : array_like
        Mean-reversion rate(s), ``> 0``.
    sigma : array_like
        Noise scale(s), ``>= 0``.
    alpha : array_like
        Stability index(es) in (0, 2] (per coordinate if an array).
    t : array_like, default np.inf
        Time(s), ``>= 0``; ``np.inf`` gives the stationary law.

    Returns
    -------
    float or ndarray
        The scale, with the broadcast shape of the inputs (a float for scalar inputs).
        At ``alpha = 2`` the law is Gaussian with variance ``2 scale^2``.

    Raises
    ------
    ValueError
        If ``alpha`` is outside (0, 2] (names ``alpha``), ``theta <= 0``, ``sigma < 0``,
        ``t < 0``, non-finite parameters, or shapes that do not broadcast.

    Example
    -------
    >>> round(float(stable_ou_scale(1.0, 1.0, 1.5)), 4)
    0.7631

    References
    ----------
    docs/theory.md §C.6, "Stable OU, exact" (``int f dL ~ SαS(||f||_{L^alpha})``).
    """
    theta, sigma, alpha = _stable_params(theta, sigma, alpha)
    t = _nonneg_times(t, "t")
    _broadcast(theta=theta, sigma=sigma, alpha=alpha, t=t)
    frac = -np.expm1(-alpha * theta * t) / (alpha * theta)
    out = sigma * frac ** (1.0 / alpha)
    return float(out) if out.ndim == 0 else out


def stable_ou_em_scale(
    theta: ArrayLike, sigma: ArrayLike, alpha: ArrayLike, h: ArrayLike
) -> FloatArray | float:
    """Stationary SαS scale of the EM chain ``X' = (1 - theta h) X + sigma h^{1/alpha} Z``.

    ``scale = sigma h^{1/alpha} (1 - |1 - theta h|^alpha)^{-1/alpha}``
    ``= sigma (alpha theta)^{-1/alpha} (1 + (alpha - 1) theta h / (2 alpha) + O(h^2))``.

    Parameters
    ----------
    theta : array_like
        Mean-reversion rate(s), ``> 0``.
    sigma : array_like
        Noise scale(s), ``>= 0``.
    alpha : array_like
        Stability index(es) in (0, 2].
    h : array_like
        Step size(s); requires ``0 < theta h < 2``.

    Returns
    -------
    float or ndarray
        The stationary scale, broadcast shape of the inputs. At ``alpha = 2`` its square
        times 2 is the Gaussian EM stationary variance ``2 sigma^2 / (theta (2 - theta h))``.

    Raises
    ------
    ValueError
        If ``alpha`` is outside (0, 2], ``h <= 0`` or ``theta h >= 2`` (names ``h``),
        ``theta <= 0``, ``sigma < 0``, non-finite input, or non-broadcasting shapes.

    Example
    -------
    >>> round(float(stable_ou_em_scale(1.0, 1.0, 1.5, 0.1)), 4)
    0.7764

    References
    ----------
    docs/theory.md §C.6, "Stable OU, exact" (EM chain stationary scale).
    """
    theta, sigma, alpha = _stable_params(theta, sigma, alpha)
    h = as_finite_array(h, "h")
    if np.any(h <= 0):
        raise ValueError(f"h must be > 0, got {h.tolist()}")
    _broadcast(theta=theta, sigma=sigma, alpha=alpha, h=h)
    th = theta * h
    if np.any(th >= 2):
        raise ValueError(
            f"h is too large: need theta*h < 2 for a stationary EM chain, got theta*h = "
            f"{np.asarray(th).tolist()}"
        )
    # 1 - |1 - theta h|^alpha = -expm1(alpha log|1 - theta h|), accurate for small theta h
    with np.errstate(divide="ignore"):
        log_abs = np.where(th < 1, np.log1p(-np.minimum(th, 1.0)), np.log(np.abs(th - 1.0)))
    denom = -np.expm1(alpha * log_abs)
    out = sigma * (h / denom) ** (1.0 / alpha)
    return float(out) if out.ndim == 0 else out


def stable_ou_charfn(
    u: ArrayLike,
    x0: ArrayLike,
    theta: ArrayLike,
    sigma: ArrayLike,
    alpha: ArrayLike,
    t: ArrayLike = np.inf,
) -> NDArray[np.complex128]:
    """Characteristic function ``E exp(i u X_t)`` of the α-stable OU process.

    ``E e^{i u X_t} = exp(i u e^{-theta t} x0 - |scale(t) u|^alpha)`` with ``scale`` from
    :func:`stable_ou_scale`, for ``dX = -theta X dt + sigma dL^alpha``, ``X_0 = x0``.

    Parameters
    ----------
    u : array_like
        Frequencies.
    x0 : array_like
        Initial state(s).
    theta, sigma, alpha : array_like
        As in :func:`stable_ou_scale`.
    t : array_like, default np.inf
        Time(s), ``>= 0``.

    Returns
    -------
    complex ndarray
        Broadcast shape of all inputs (a numpy complex scalar for scalar inputs).

    Raises
    ------
    ValueError
        As :func:`stable_ou_scale`; also non-finite ``u`` or ``x0``.

    Example
    -------
    >>> import numpy as np
    >>> phi = stable_ou_charfn(1.0, 0.0, 1.0, 1.0, 2.0)   # alpha=2: X_inf ~ N(0, 1)
    >>> bool(np.isclose(phi, np.exp(-0.5)))
    True

    References
    ----------
    docs/theory.md §C.6, "Stable OU, exact"; §0.5 (standard SαS).
    """
    u = as_finite_array(u, "u")
    x0 = as_finite_array(x0, "x0")
    theta, sigma, alpha = _stable_params(theta, sigma, alpha)
    t = _nonneg_times(t, "t")
    _broadcast(u=u, x0=x0, theta=theta, sigma=sigma, alpha=alpha, t=t)
    scale = np.asarray(stable_ou_scale(theta, sigma, alpha, t))
    drift = np.exp(-theta * t) * x0
    return np.exp(1j * u * drift - np.abs(scale * u) ** alpha)
