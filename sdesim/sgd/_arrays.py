"""Array-namespace helpers: the SGD recursion and diagnostics run on numpy arrays and on the
arrays of other libraries alike (torch tensors for :class:`sdesim.torch.TorchOracle`).

numpy arrays take the numpy path untouched (no import of ``array_api_compat``, results bitwise
those of plain numpy); anything else goes through ``array_api_compat``, which is installed with
the ``torch`` extra.
"""
from __future__ import annotations

import numpy as np


def namespace(x):
    """``numpy`` for numpy arrays, else the array-API namespace of ``x`` (``array_api_compat``)."""
    if isinstance(x, (np.ndarray, np.generic)):
        return np
    from array_api_compat import array_namespace
    return array_namespace(x)


def host(a):
    """``a`` as a numpy array when it is an array of another library (on any device); anything
    else (numpy arrays, lists, numbers) unchanged."""
    if isinstance(a, (np.ndarray, np.generic, list, tuple, int, float)):
        return a
    try:
        from array_api_compat import is_array_api_obj, to_device
    except ImportError:
        return a
    if is_array_api_obj(a):
        return np.asarray(to_device(a, "cpu"))
    return a


def all_finite(x) -> bool:
    """Whether every entry of ``x`` is finite (one reduction: the sum is finite)."""
    if isinstance(x, np.ndarray):
        return bool(np.isfinite(x.sum()))
    xp = namespace(x)
    return bool(xp.isfinite(xp.sum(x)))


def rows_not_finite(x) -> int:
    """Number of rows of ``x`` ``(n, d)`` with a non-finite entry."""
    xp = namespace(x)
    return int(xp.sum(~xp.all(xp.isfinite(x), axis=1)))
