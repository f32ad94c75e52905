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


def shaped_array(value, name: str, shape: tuple[int | None, ...], expect: str) -> np.ndarray:
    """A finite array of the given shape (``None``: any length); ``expect`` describes it."""
    arr = as_finite_array(value, name)
    if arr.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, arr.shape)):
        raise ValueError(f"{name} must have shape {expect}, got {arr.shape}")
    return arr


def square_matrix(value, name: str, d: int | None = None) -> np.ndarray:
    """A finite non-empty square matrix, of shape ``(d, d)`` when ``d`` is given."""
    S = as_finite_array(value, name)
    if S.ndim != 2 or S.shape[0] != S.shape[1] or S.shape[0] == 0:
        raise ValueError(f"{name} must be a square matrix of shape (d, d), got {S.shape}")
    if d is not None and S.shape != (d, d):
        raise ValueError(f"{name} must have shape (d, d) = ({d}, {d}), got {S.shape}")
    return S


def _sym_tol(S: np.ndarray) -> float:
    return 1e-10 * max(float(np.max(np.abs(S), initial=0.0)), np.finfo(float).tiny)


def symmetric_matrix(value, name: str, d: int | None = None) -> np.ndarray:
    """A finite symmetric matrix (up to a relative 1e-10), returned exactly symmetrised."""
    S = square_matrix(value, name, d)
    if not np.allclose(S, S.T, rtol=0.0, atol=_sym_tol(S)):
        raise ValueError(f"{name} must be symmetric, got max |{name} - {name}^T| = "
                         f"{float(np.max(np.abs(S - S.T))):.3g}")
    return (S + S.T) / 2


def psd_matrix(value, name: str, d: int | None = None) -> np.ndarray:
    """A symmetric positive semi-definite matrix (symmetrised), raising with ``name`` otherwise."""
    S = symmetric_matrix(value, name, d)
    lam_min = float(np.linalg.eigvalsh(S).min())
    if lam_min < -_sym_tol(S):
        raise ValueError(f"{name} must be positive semi-definite, got smallest eigenvalue "
                         f"{lam_min:.3g}")
    return S


def real_scalar(value, name: str, *, positive: bool) -> float:
    """A finite real scalar that is > 0 (``positive``) or >= 0."""
    arr = as_finite_array(value, name)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {arr.shape}")
    v = float(arr)
    if (positive and v <= 0) or v < 0:
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}, got {v}")
    return v


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
