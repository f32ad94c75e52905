"""Compiled kernels of the built-in linear SDEs (:func:`sdesim.ou`, :func:`sdesim.gbm`,
:func:`sdesim.linear`): compiled once, cached on disk (``cache=True``), the coefficients passed
as arguments, the update taken from the scheme
(:meth:`~sdesim.schemes.EulerMaruyama.kernel_linear_diag_update`, inlined, and
:meth:`~sdesim.schemes.EulerMaruyama.kernel_linear_dense_step`).

One Brownian level of a diagonal problem runs a fused whole-block loop
(:func:`linear_diag_brownian_run`): each normal is used as it is drawn.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from ..schemes import EulerMaruyama
from ..sde import LinearSDE
from .encoding import BROWNIAN
from .numba_arrays import count_bad, level_increment, save_levels, zero
from .numba_rng import close_stream, draw_normal, fill, open_stream

__all__ = ["linear_args", "linear_kernel", "linear_diag_step", "linear_dense_step",
           "linear_diag_brownian_run"]

# The scheme's update, compiled here (inlined into the loops below; numba's on-disk cache does
# not see edits to inlined functions of other files: clear the cache after editing them).
_diag_coefficients = numba.njit(inline="always")(EulerMaruyama.kernel_linear_diag_coefficients)
_diag_update = numba.njit(inline="always")(EulerMaruyama.kernel_linear_diag_update)
linear_dense_step = numba.njit(nogil=True, cache=True)(EulerMaruyama.kernel_linear_dense_step)


def linear_args(sde: LinearSDE):
    """``(A, a, B, b, dense)`` for the linear kernels: diagonal forms as rows ``(1, d)``,
    ``(1, 1, d)``, ``(1, d)``; always fresh writable C arrays, so every problem hits the same
    compiled specialisation (numba compiles read-only arrays separately, ~5 s each)."""
    if sde.form == "diag":
        d = sde.A.shape[0]
        arrs = (sde.A.reshape(1, d), sde.a, sde.B.reshape(1, 1, d), sde.b.reshape(1, d))
    else:
        arrs = (sde.A, sde.a, sde.B, sde.b)
    return tuple(np.array(v, dtype=float, order="C") for v in arrs) + (sde.form != "diag",)


@numba.njit(nogil=True, cache=True)
def linear_diag_step(x, inc, hl, A, a, B, b, c, ha):
    """In place ``x <- x (1 + hl A) + hl a + (B x + b) inc`` (elementwise); True if all finite.

    The same IEEE operations, in the same order, as ``EulerMaruyama.step_linear_diag``;
    ``c`` and ``ha`` are work arrays of length d. For d < 4 the loop runs coordinate by
    coordinate, the paths inside with an and-reduction for finiteness, which LLVM vectorises
    (this step ~10x faster at d = 1 than path by path); from d = 4 path by path, the
    coordinates inside (the faster order there).
    """
    n, d = x.shape
    _diag_coefficients(hl, A, a, c, ha)
    if d < 4:
        ok = True
        for p in range(d):
            cp, hap, Bp, bp = c[p], ha[p], B[0, 0, p], b[0, p]
            for i in range(n):
                v = _diag_update(x[i, p], cp, hap, Bp, bp, inc[i, p])
                x[i, p] = v
                ok &= v - v == 0.0  # False after an inf or NaN
        return ok
    nan = 0.0  # accumulates v - v: 0 while every v is finite, NaN after an inf or NaN
    for i in range(n):
        for p in range(d):
            v = _diag_update(x[i, p], c[p], ha[p], B[0, 0, p], b[0, p], inc[i, p])
            x[i, p] = v
            nan += v - v
    return nan == 0.0


@numba.njit(nogil=True, cache=True)
def linear_diag_brownian_run(xs, rng, k0, k1, h, A, a, B, b, save_steps, out, st):
    """Steps ``k0 .. k1-1`` of one Brownian level (``xs`` ``(1, n, d)``) of a diagonal linear SDE.

    :func:`.numba_rng.fill` then :func:`linear_diag_step` fused, with every step of the block
    inside this one function: each normal is used as it is drawn (no increment buffer) and no
    per-step call pays numba's argument overhead (~60 ns, the whole cost of a step at small
    n·d). Same numbers and operations, so the same result as the unfused path.
    """
    x = xs[0]
    n, d = x.shape
    c, ha = np.empty(d), np.empty(d)
    _diag_coefficients(h, A, a, c, ha)
    sq = math.sqrt(h)
    s = st.saved
    for k in range(k0, k1):
        rs = open_stream(rng)
        nan = 0.0  # accumulates v - v: 0 while every v is finite, NaN after an inf or NaN
        for i in range(n):
            for p in range(d):
                z, rs = draw_normal(rng, rs)
                v = _diag_update(x[i, p], c[p], ha[p], B[0, 0, p], b[0, p], z * sq)
                x[i, p] = v
                nan += v - v
        close_stream(rng, rs)
        if nan != 0.0 and st.step < 0:
            st.step = k + 1
            st.n_bad = count_bad(x)
            st.level = 0
            if not st.keep:
                break
        if s < save_steps.shape[0] and save_steps[s] == k + 1:
            save_levels(xs, out, s)
            s += 1
    st.saved = s


def fused_applies(ratios, code: int, dense: bool) -> bool:
    """Whether a run takes the fused loop :func:`linear_diag_brownian_run`: one level on the
    fine grid, a Brownian driver and a diagonal problem."""
    return len(ratios) == 1 and ratios[0] == 1 and code == BROWNIAN and not dense


@numba.njit(nogil=True, cache=True)
def linear_kernel(xs, acc, buf, k0, k1, h, ratios, save_steps, rng, code, alpha, scale,
                  A, a, B, b, dense, out, status):
    """Steps ``k0 .. k1-1`` of the levels ``xs`` ``(L, n, d)`` of a linear SDE (the block
    contract of :meth:`.numba_backend.NumbaBackend.prepare`). One Brownian level of a diagonal
    problem runs :func:`linear_diag_brownian_run` instead (:func:`fused_applies`): the backend
    calls it directly, since called from here its loop ran about 9% slower."""
    st = status[0]
    L = ratios.shape[0]
    tmp = np.empty(xs.shape[2])
    tmp2 = np.empty(xs.shape[2])
    work = np.empty((buf.shape[1] + 3, buf.shape[0]))
    s = st.saved
    for k in range(k0, k1):
        fill(code, rng, buf, h, alpha, scale, work)
        for lev in range(L):
            r = ratios[lev]
            ready, inc = level_increment(acc[lev], buf, k, r)
            if not ready:
                continue
            if dense:
                ok = linear_dense_step(xs[lev], inc, r * h, A, a, B, b, tmp)
            else:
                ok = linear_diag_step(xs[lev], inc, r * h, A, a, B, b, tmp, tmp2)
            if r != 1:
                zero(acc[lev])
            if not ok and st.step < 0:
                st.step = (k + 1) // r
                st.n_bad = count_bad(xs[lev])
                st.level = lev
                if not st.keep:
                    return
        if s < save_steps.shape[0] and save_steps[s] == k + 1:
            save_levels(xs, out, s)
            s += 1
    st.saved = s
