"""Input checks specific to the exact references (the shared ones are in sdesim/_validate.py)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._validate import shaped_array, square_matrix
from ._moments import FloatArray, StepsLike


def _vector(value: ArrayLike, name: str, d: int) -> FloatArray:
    return shaped_array(value, name, (d,), f"(d,) = ({d},)")


def _steps(value: StepsLike, name: str = "n_steps") -> tuple[NDArray[np.int64], bool]:
    """Non-negative integer step count(s): (flat int array, whether a scalar was given)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a non-negative integer or a sequence of them, got bool")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # pragma: no cover - ragged input
        raise TypeError(f"{name} must be integer(s), got {type(value).__name__}") from exc
    if arr.ndim > 1:
        raise ValueError(f"{name} must be an integer or a 1-d sequence, got shape {arr.shape}")
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer(s), got {value!r}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0, got {arr.tolist()}")
    return arr.astype(np.int64).reshape(-1), arr.ndim == 0


def _coefficient_lists(
    B_list: ArrayLike | Sequence[ArrayLike] | None,
    b_list: ArrayLike | Sequence[ArrayLike] | None,
    d: int,
) -> tuple[FloatArray, FloatArray]:
    """The noise coefficients as arrays ``Bs`` (m, d, d) and ``bs`` (m, d).

    An empty or missing list means those coefficients are zero; if both are given they must
    have the same length m.
    """
    def given(x) -> bool:
        if x is None:
            return False
        try:
            return len(x) > 0
        except TypeError:  # a scalar: let the shape check reject it
            return True

    Bs = np.zeros((0, d, d))
    bs = np.zeros((0, d))
    if given(B_list):
        Bs = shaped_array(B_list, "B_list", (None, d, d), f"(m, d, d) = (m, {d}, {d})")
    if given(b_list):
        bs = shaped_array(b_list, "b_list", (None, d), f"(m, d) = (m, {d})")
    if len(Bs) and len(bs) and len(Bs) != len(bs):
        raise ValueError(
            f"B_list and b_list must have the same length m, got {len(Bs)} and {len(bs)}"
        )
    m = max(len(Bs), len(bs))
    if len(Bs) == 0:
        Bs = np.zeros((m, d, d))
    if len(bs) == 0:
        bs = np.zeros((m, d))
    return Bs, bs


def _linear_problem(A, B_list, x0, a, b_list):
    """Validated (A, Bs, x0, a, bs) of a general linear problem."""
    A = square_matrix(A, "A")
    d = A.shape[0]
    x0 = _vector(x0, "x0", d)
    a = np.zeros(d) if a is None else _vector(a, "a", d)
    Bs, bs = _coefficient_lists(B_list, b_list, d)
    return A, Bs, x0, a, bs


def _ou_problem(A: ArrayLike, B: ArrayLike) -> tuple[FloatArray, FloatArray]:
    A = square_matrix(A, "A")
    d = A.shape[0]
    B = shaped_array(B, "B", (d, None), f"(d, m) = ({d}, m)")
    return A, B
