"""Input checks shared by the public functions: each error names the argument."""
from __future__ import annotations

import math
import os

import numpy as np

#: Largest ``n_threads`` accepted: more threads than this cannot help on any machine we run on.
MAX_THREADS = max(64, 4 * (os.cpu_count() or 1))


def _is_text(value) -> bool:
    """True for strings and for arrays/sequences holding strings (numpy would parse them)."""
    if isinstance(value, (str, bytes)):
        return True
    kind = np.asarray(value).dtype.kind if not np.isscalar(value) else ""
    if kind in ("U", "S"):
        return True
    return kind == "O" and any(isinstance(v, (str, bytes)) for v in np.asarray(value).flat)


def as_finite_array(value, name: str, *, ndim: tuple[int, ...] | None = None) -> np.ndarray:
    """Return ``value`` as a float64 array, raising if it is not finite or has the wrong rank.

    Strings are refused (numpy would parse ``"1"`` as 1.0), with a ``TypeError`` naming ``name``.
    """
    if _is_text(value):
        raise TypeError(f"{name} must be numeric array-like, got text {value!r}")
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
    """Return ``value`` as a float, raising unless it is a finite number > 0 (not text)."""
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{name} must be a positive number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a positive number, got {value!r}") from exc
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {v}")
    return v


def positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int, raising unless it is an integer (not a float) >= ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        hint = f" (write {int(value)})" if isinstance(value, float) and value.is_integer() else ""
        raise TypeError(f"{name} must be a positive integer, got {value!r}{hint}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def thread_count(value) -> int | None:
    """``n_threads``: None (all cores) or an integer in ``[1, MAX_THREADS]``."""
    if value is None:
        return None
    n = positive_int(value, "n_threads")
    if n > MAX_THREADS:
        raise ValueError(f"n_threads must be at most {MAX_THREADS} (this machine has "
                         f"{os.cpu_count()} cores), got {n}")
    return n


def initial_states(x0, n_paths: int, d: int) -> np.ndarray:
    """Initial states ``(n_paths, d)`` from ``x0`` of shape ``()`` (d = 1), ``(d,)`` (shared,
    returned as a broadcast view) or ``(n_paths, d)``; finite, numeric, named ``x0`` in errors."""
    x = as_finite_array(x0, "x0", ndim=(0, 1, 2))
    if x.ndim == 0:
        if d != 1:
            raise ValueError(f"x0 must have shape ({d},) or (n_paths, {d}), got a scalar")
        x = x.reshape(1)
    if x.ndim == 1:
        if x.shape != (d,):
            raise ValueError(f"x0 must have shape ({d},) or (n_paths, {d}), got {x.shape}")
        return np.broadcast_to(x, (n_paths, d))
    if x.shape != (n_paths, d):
        raise ValueError(f"x0 must have shape ({d},) or (n_paths, {d}) = ({n_paths}, {d}), "
                         f"got {x.shape}")
    return x


def callable_phi(phi, name: str = "phi"):
    """``phi`` if it is callable, else a ``TypeError`` naming it."""
    if not callable(phi):
        raise TypeError(f"{name} must be a callable test function {name}(x) -> (n,) or (n, k) "
                        f"on states x of shape (n, d), got {type(phi).__name__}")
    return phi


def phi_values(phi, x: np.ndarray, name: str = "phi") -> tuple[np.ndarray, bool]:
    """``phi(x)`` on states ``(n, d)`` as ``(n, k)``, and whether ``phi`` gave one value per path.

    Checks the shape and that the values are finite, naming ``name`` in errors.
    """
    val = np.asarray(phi(x), dtype=float)
    n = x.shape[0]
    scalar = val.ndim == 1
    if scalar and val.shape[0] == n:
        val = val[:, None]
    elif val.ndim != 2 or val.shape[0] != n:
        raise ValueError(f"{name} must map states of shape (n, d) = {x.shape} to (n,) or (n, k), "
                         f"got {val.shape} (n is the number of rows of x: a few probe paths or "
                         f"one chunk, not n_paths)")
    if not np.all(np.isfinite(val)):
        raise ValueError(f"{name} returned non-finite values for {int(np.sum(~np.isfinite(val)))} "
                         f"entries of finite states")
    return val, scalar


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


def renamed(**old_to_new: str):
    """Decorator: a keyword argument under an old name raises a ``TypeError`` naming the new one.

    ``@renamed(g="phi")`` on ``expectation`` makes ``expectation(..., g=f)`` fail with a message
    that says the test function is now ``phi`` (``g`` is the SDE's diffusion).
    """
    import functools

    def wrap(fn):
        @functools.wraps(fn)
        def checked(*args, **kwargs):
            for old, new in old_to_new.items():
                if old in kwargs:
                    raise TypeError(f"{fn.__name__}() has no argument {old!r}: it is now called "
                                    f"{new!r} ({fn.__name__}(..., {new}=...))")
            return fn(*args, **kwargs)
        return checked
    return wrap
