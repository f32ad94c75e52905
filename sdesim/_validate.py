"""Input checks shared by the public functions: each error names the argument."""
from __future__ import annotations

import math

import numpy as np


def as_finite_array(value, name: str, *, ndim: tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``value`` as a float64 array, raising if it is not finite or has the wrong rank."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric array-like, got {type(value).__name__}") from exc
    if ndim is not None and arr.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimension(s), "
                         f"got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got non-finite entries "
                         f"({int(np.sum(~np.isfinite(arr)))} of {arr.size})")
    return arr


def positive_float(value, name: str) -> float:
    """Return ``value`` as a float, raising unless it is finite and > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a positive number, got {value!r}") from exc
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {v}")
    return v


def positive_int(value, name: str) -> int:
    """Return ``value`` as an int, raising unless it is an integer >= 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def alpha_array(alpha, m: int | None = None, name: str = "alpha") -> np.ndarray:
    """Return the stability index as a float array, checking 0 < alpha <= 2.

    A scalar is broadcast to ``(m,)`` when ``m`` is given.
    """
    a = as_finite_array(alpha, name, ndim=(0, 1))
    if np.any((a <= 0) | (a > 2)):
        raise ValueError(f"{name} must lie in (0, 2], got {a.tolist()}")
    if m is not None:
        if a.ndim == 1 and a.shape[0] != m:
            raise ValueError(f"{name} must be a scalar or have one value per noise coordinate "
                             f"(shape ({m},)), got shape {a.shape}")
        a = np.broadcast_to(a, (m,)).copy()
    return a


def psd_matrix(value, name: str, *, tol: float = 1e-10) -> np.ndarray:
    """Return a symmetric positive semi-definite matrix, raising with ``name`` otherwise."""
    S = as_finite_array(value, name, ndim=(2,))
    if S.shape[0] != S.shape[1]:
        raise ValueError(f"{name} must be square, got shape {S.shape}")
    scale = max(1.0, float(np.max(np.abs(S))))
    if not np.allclose(S, S.T, atol=tol * scale, rtol=0):
        raise ValueError(f"{name} must be symmetric")
    lam_min = float(np.linalg.eigvalsh((S + S.T) / 2).min())
    if lam_min < -tol * scale:
        raise ValueError(f"{name} must be positive semi-definite, smallest eigenvalue {lam_min:.3g}")
    return S


def n_steps_for(T: float, dt: float, name: str = "dt") -> int:
    """Number of steps of size ``dt`` in ``[0, T]``; ``T/dt`` must be an integer."""
    if dt > T * (1 + 1e-12):
        raise ValueError(f"{name} must be <= T, got {name}={dt} > T={T}")
    ratio = T / dt
    n = int(round(ratio))
    if n < 1 or abs(ratio - n) > 1e-9 * max(1.0, ratio):
        raise ValueError(f"T/{name} must be an integer number of steps, got T={T}, {name}={dt} "
                         f"(T/{name} = {ratio:.12g})")
    return n
