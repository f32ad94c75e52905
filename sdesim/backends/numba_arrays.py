"""Small compiled array helpers of the numba kernels (increment sums, non-finite counts,
saving, recording a wrong shape in the status record)."""
from __future__ import annotations

import numba
import numpy as np

__all__ = ["add_into", "zero", "count_bad", "record_shape", "shape_is", "save_levels"]


@numba.njit(nogil=True, cache=True)
def add_into(acc, buf):
    """``acc += buf`` (both ``(n, m)``)."""
    for i in range(acc.shape[0]):
        for j in range(acc.shape[1]):
            acc[i, j] += buf[i, j]


@numba.njit(nogil=True, cache=True, inline="always")
def level_increment(acc, buf, k, r):
    """The increment of a level that steps every ``r`` fine steps, after fine step ``k``:
    ``(True, buf)`` when ``r == 1``; else ``buf`` is added into the level's sum ``acc`` and
    ``((k + 1) % r == 0, acc)`` (the coupled grids of :meth:`.contract.Backend.run_chunk`)."""
    if r == 1:
        return True, buf
    add_into(acc, buf)
    return (k + 1) % r == 0, acc


@numba.njit(nogil=True, cache=True)
def zero(acc):
    """``acc[:] = 0`` (``(n, m)``)."""
    for i in range(acc.shape[0]):
        for j in range(acc.shape[1]):
            acc[i, j] = 0.0


@numba.njit(nogil=True, cache=True)
def count_bad(x):
    """Number of rows (paths) of ``x`` with a non-finite entry."""
    bad = 0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            if not np.isfinite(x[i, j]):
                bad += 1
                break
    return bad


@numba.njit(nogil=True, cache=True)
def record_shape(st, call, rows, a):
    """Record in the status record ``st`` that ``call`` (``F_CALL``/``G_CALL``) returned the
    array ``a`` of a wrong shape at ``x`` with ``rows`` rows."""
    st.call = call
    st.rows = rows
    st.ndim = a.ndim
    for i in range(min(a.ndim, 3)):
        st.shape[i] = a.shape[i]


@numba.njit(nogil=True, cache=True)
def shape_is(a, want, call, rows, st):
    """True if ``a.shape == want``; else records the call in ``st`` (:func:`record_shape`)."""
    if a.shape == want:
        return True
    record_shape(st, call, rows, a)
    return False


@numba.njit(nogil=True, cache=True)
def save_levels(xs, out, s):
    """``out[:, s] = xs`` (levels ``(L, n, d)`` into ``(L, S, n, d)``)."""
    for lev in range(xs.shape[0]):
        for i in range(xs.shape[1]):
            for p in range(xs.shape[2]):
                out[lev, s, i, p] = xs[lev, i, p]
