"""The numba backend: compiled Euler–Maruyama kernels with an in-kernel generator.

Each chunk of paths runs in one compiled call that loops over all steps, draws its increments
inside the kernel and releases the GIL, so chunks run on several threads. A chunk's result
depends only on its seed (the chunk's child ``Generator``), never on the thread that ran it.

Generators (:func:`_fill`):

- ``"numba"`` (default): xoshiro256++ with numpy's ziggurat normal, state in registers
  (:mod:`.xoshiro`), seeded from the chunk's ``Generator``; 4–5× cheaper per normal than a call
  into a numpy ``Generator``. Its stream is not numpy's, so it agrees with the numpy backend in
  law (tested statistically), not bitwise.
- ``"numba-numpy-rng"``: the same kernels drawing from the chunk's numpy ``Generator``
  (numba implements numpy's samplers bit for bit). Same seed and the same ``chunk_size`` as the
  numpy backend (pass it: the default chunk sizes differ, and a result depends on it) gives:

  - bitwise equal output for diagonal, scalar and additive noise with a Brownian driver: the
    same numbers in the same order and every update the same sequence of IEEE operations —
    provided ``f`` and ``g`` themselves compile to numpy's rounding: ``x**3`` (numba's ``pow``)
    differs from numpy's in the last bit for a few % of entries, ``x*x*x`` does not;
  - equal to rounding (``rtol ~ 1e-13``) for ``general`` noise and dense linear drifts, whose
    sums over the noise/state index are ordered differently from numpy's ``einsum`` and BLAS,
    and for α-stable drivers, whose CMS transform runs on the vectorised polynomial
    ``sin``/``cos``/``log``/``exp`` of :mod:`.stable_cms` (about 1 ulp each), not numpy's libm.

Kernels:

- built-in linear problems (:func:`sdesim.ou`, :func:`sdesim.gbm`, :func:`sdesim.linear`) run
  one kernel compiled once and cached on disk (``cache=True``), with the coefficients as
  arguments; one Brownian level of a diagonal problem runs a fused whole-run loop
  (:func:`_linear_diag_brownian_run`);
- a user's ``f`` and ``g`` are compiled with ``numba.njit`` on first use (a few seconds, said on
  stderr unless ``quiet``; a constant additive noise is an argument, so a sweep over noise
  levels compiles once). If numba cannot compile them (also when they are bound methods or
  callable objects) the backend warns why and runs the numpy backend instead. The shapes they
  return are checked at every call (:func:`user_step`), so no kernel reads or writes outside
  its arrays whatever they return.

A chunk runs in blocks of fine steps (:func:`~.common.step_blocks`), its states, increment sums,
save index and generator state carried from block to block: progress is reported during a long
chunk, and the result is the same as in one call.
"""
from __future__ import annotations

import inspect
import math
import sys
import warnings
from functools import partial
from types import SimpleNamespace

import numba
import numpy as np
from numba.core import types
from numba.core.dispatcher import Dispatcher
from numba.extending import overload

from ..drivers import BROWNIAN
from ..sde import LinearSDE
from . import numpy_backend, xoshiro
from .stable_cms import cauchy_block, cms_block
from .common import (F_CALL, G_CALL, SimulationDiverged, new_status, raise_shape_error,
                     step_blocks)

__all__ = ["run_chunk", "parallel", "prepare", "user_step", "compile_user", "NotCompilable",
           "COMPILE_ERRORS", "announce_compile", "fallback_warning", "generic_key",
           "noise_constant"]

parallel = True  # chunks run on a thread pool


# ----------------------------------------------------------------------------- noise
# The two streams behind one interface, resolved when a kernel compiles: ``rng`` is either a
# numpy ``Generator`` (numpy's stream; ``s`` is unused) or a xoshiro256++ state array whose
# words live in the local tuple ``s`` between ``_open`` and ``_close``.
def _open(rng):
    """The local stream state of ``rng`` (compiled code only)."""


def _close(rng, s):
    """Write the local state ``s`` back into ``rng`` (compiled code only)."""


def _normal(rng, s):
    """``(standard normal, s)`` (compiled code only)."""


def _uniform(rng, s):
    """``(uniform on [0, 1), s)`` (compiled code only)."""


def _exponential(rng, s):
    """``(standard exponential, s)`` (compiled code only)."""


def _is_state(rng) -> bool:
    return isinstance(rng, types.Array)


@overload(_open, inline="always")
def _open_impl(rng):
    return (lambda rng: xoshiro.load(rng)) if _is_state(rng) else (lambda rng: 0)


@overload(_close, inline="always")
def _close_impl(rng, s):
    return (lambda rng, s: xoshiro.store(rng, s)) if _is_state(rng) else (lambda rng, s: None)


@overload(_normal, inline="always")
def _normal_impl(rng, s):
    if _is_state(rng):
        return lambda rng, s: xoshiro.normal(s)
    return lambda rng, s: (rng.standard_normal(), s)


@overload(_uniform, inline="always")
def _uniform_impl(rng, s):
    if _is_state(rng):
        return lambda rng, s: xoshiro.uniform(s)
    return lambda rng, s: (rng.random(), s)


@overload(_exponential, inline="always")
def _exponential_impl(rng, s):
    if _is_state(rng):
        return lambda rng, s: xoshiro.exponential(s)
    return lambda rng, s: (rng.standard_exponential(), s)


@numba.njit(nogil=True, cache=True)
def _fill(code, rng, buf, h, alpha, scale):
    """Increments over a step ``h`` into ``buf`` ``(n, m)``, drawn from ``rng``: a numpy
    ``Generator`` (then exactly the draws of ``Driver.increments``, in its order) or a
    xoshiro256++ state array (updated in place)."""
    n, m = buf.shape
    s = _open(rng)
    if code == BROWNIAN:
        sq = math.sqrt(h)
        for i in range(n):
            for j in range(m):
                z, s = _normal(rng, s)
                buf[i, j] = z * sq
    else:
        # CMS: all uniforms, then all exponentials (numpy's order), then the vectorised
        # transform column by column (one α per noise coordinate)
        w = np.empty((n, m))
        for i in range(n):
            for j in range(m):
                u, s = _uniform(rng, s)
                buf[i, j] = (u - 0.5) * math.pi
        for i in range(n):
            for j in range(m):
                w[i, j], s = _exponential(rng, s)
        vc, wc, oc, tmp = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        for j in range(m):
            a = alpha[j]
            for i in range(n):
                vc[i] = buf[i, j]
                wc[i] = w[i, j]
            if a == 1.0:
                cauchy_block(vc, oc, scale[j] * h)
            else:
                cms_block(vc, wc, oc, a, scale[j] * h ** (1.0 / a), tmp)
            for i in range(n):
                buf[i, j] = oc[i]
    _close(rng, s)


@numba.njit(nogil=True, cache=True)
def _add(acc, buf):
    for i in range(acc.shape[0]):
        for j in range(acc.shape[1]):
            acc[i, j] += buf[i, j]


@numba.njit(nogil=True, cache=True)
def _zero(acc):
    for i in range(acc.shape[0]):
        for j in range(acc.shape[1]):
            acc[i, j] = 0.0


@numba.njit(nogil=True, cache=True)
def _count_bad(x):
    """Number of rows (paths) of ``x`` with a non-finite entry."""
    bad = 0
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            if not np.isfinite(x[i, j]):
                bad += 1
                break
    return bad


@numba.njit(nogil=True, cache=True)
def _record_shape(st, call, rows, a):
    """Record in the status record ``st`` that ``call`` (``F_CALL``/``G_CALL``) returned the
    array ``a`` of a wrong shape at ``x`` with ``rows`` rows."""
    st.call = call
    st.rows = rows
    st.ndim = a.ndim
    for i in range(min(a.ndim, 3)):
        st.shape[i] = a.shape[i]


@numba.njit(nogil=True, cache=True)
def _save(xs, out, s):
    for lev in range(xs.shape[0]):
        for i in range(xs.shape[1]):
            for p in range(xs.shape[2]):
                out[lev, s, i, p] = xs[lev, i, p]


# ----------------------------------------------------------------------------- linear steps
@numba.njit(inline="always")
def _diag_coefficients(hl, A, a, c, ha):
    for p in range(c.shape[0]):
        c[p] = 1.0 + hl * A[0, p]
        ha[p] = hl * a[p]


@numba.njit(inline="always")
def _diag_update(xv, cp, hap, Bp, bp, inc):
    """One coordinate of the diagonal linear EM step, ``x (1 + hl A) + hl a + (B x + b) inc``,
    from that coordinate's coefficients (scalars: no array views in the hot loops)."""
    return xv * cp + hap + (Bp * xv + bp) * inc


@numba.njit(nogil=True, cache=True)
def _linear_diag_step(x, inc, hl, A, a, B, b, c, ha):
    """In place ``x <- x (1 + hl A) + hl a + (B x + b) inc`` (elementwise); True if all finite.

    The same IEEE operations, in the same order, as ``EulerMaruyama.step_linear_diag``;
    ``c`` and ``ha`` are work arrays of length d.
    """
    n, d = x.shape
    _diag_coefficients(hl, A, a, c, ha)
    nan = 0.0  # accumulates v - v: 0 while every v is finite, NaN after an inf or NaN
    for i in range(n):
        for p in range(d):
            v = _diag_update(x[i, p], c[p], ha[p], B[0, 0, p], b[0, p], inc[i, p])
            x[i, p] = v
            nan += v - v
    return nan == 0.0


@numba.njit(nogil=True, cache=True)
def _linear_diag_brownian_run(xs, rng, k0, k1, h, A, a, B, b, save_steps, out, st):
    """Steps ``k0 .. k1-1`` of one Brownian level (``xs`` ``(1, n, d)``) of a diagonal linear SDE.

    :func:`_fill` then :func:`_linear_diag_step` fused, with every step of the block inside this
    one function: each normal is used as it is drawn (no increment buffer) and no per-step call
    pays numba's argument overhead (~60 ns, the whole cost of a step at small n·d). Same
    numbers and operations, so the same result as the unfused path.
    """
    x = xs[0]
    n, d = x.shape
    c, ha = np.empty(d), np.empty(d)
    _diag_coefficients(h, A, a, c, ha)
    sq = math.sqrt(h)
    s = st.saved
    for k in range(k0, k1):
        rs = _open(rng)
        nan = 0.0  # accumulates v - v: 0 while every v is finite, NaN after an inf or NaN
        for i in range(n):
            for p in range(d):
                z, rs = _normal(rng, rs)
                v = _diag_update(x[i, p], c[p], ha[p], B[0, 0, p], b[0, p], z * sq)
                x[i, p] = v
                nan += v - v
        _close(rng, rs)
        if nan != 0.0 and st.step < 0:
            st.step = k + 1
            st.n_bad = _count_bad(x)
            st.level = 0
            if not st.keep:
                break
        if s < save_steps.shape[0] and save_steps[s] == k + 1:
            _save(xs, out, s)
            s += 1
    st.saved = s


@numba.njit(nogil=True, cache=True)
def _linear_dense_step(x, inc, hl, A, a, B, b, tmp):
    """In place ``x <- x + hl (A x + a) + Σ_j (B_j x + b_j) inc_j`` per path; True if all finite."""
    n, d = x.shape
    m = inc.shape[1]
    nan = 0.0  # accumulates v - v: 0 while every v is finite, NaN after an inf or NaN
    for i in range(n):
        for p in range(d):
            drift = 0.0
            for q in range(d):
                drift += A[p, q] * x[i, q]
            noise = 0.0
            for j in range(m):
                gj = b[j, p]
                for q in range(d):
                    gj += B[j, p, q] * x[i, q]
                noise += gj * inc[i, j]
            tmp[p] = x[i, p] + hl * (drift + a[p]) + noise
        for p in range(d):
            x[i, p] = tmp[p]
            nan += tmp[p] - tmp[p]
    return nan == 0.0


@numba.njit(nogil=True, cache=True)
def _linear_kernel(xs, acc, buf, k0, k1, h, ratios, save_steps, rng, code, alpha, scale,
                   A, a, B, b, dense, out, status):
    """Steps ``k0 .. k1-1`` of the levels ``xs`` ``(L, n, d)`` of a linear SDE (the block
    contract of :func:`prepare`)."""
    st = status[0]
    L = ratios.shape[0]
    if L == 1 and ratios[0] == 1 and code == BROWNIAN and not dense:
        _linear_diag_brownian_run(xs, rng, k0, k1, h, A, a, B, b, save_steps, out, st)
        return
    tmp = np.empty(xs.shape[2])
    tmp2 = np.empty(xs.shape[2])
    s = st.saved
    for k in range(k0, k1):
        _fill(code, rng, buf, h, alpha, scale)
        for lev in range(L):
            r = ratios[lev]
            if r == 1:
                inc = buf
            else:
                _add(acc[lev], buf)
                if (k + 1) % r != 0:
                    continue
                inc = acc[lev]
            if dense:
                ok = _linear_dense_step(xs[lev], inc, r * h, A, a, B, b, tmp)
            else:
                ok = _linear_diag_step(xs[lev], inc, r * h, A, a, B, b, tmp, tmp2)
            if r != 1:
                _zero(acc[lev])
            if not ok and st.step < 0:
                st.step = (k + 1) // r
                st.n_bad = _count_bad(xs[lev])
                st.level = lev
                if not st.keep:
                    return
        if s < save_steps.shape[0] and save_steps[s] == k + 1:
            _save(xs, out, s)
            s += 1
    st.saved = s


# ----------------------------------------------------------------------------- user functions
_GENERIC_CACHE: dict = {}
_ANNOUNCED: set = set()  # (generic_key, numpy_rng) whose compilation has been announced


def generic_key(sde) -> tuple:
    """What a compiled user-function kernel depends on: ``f``, ``g`` (or, for a constant
    additive noise, only its rank: the constant itself is an argument) and the noise kind."""
    const = sde._additive_const
    return (sde.f, sde.g if const is None else ("constant", const.ndim), sde.noise)


def noise_constant(sde) -> np.ndarray:
    """The argument ``gc`` of the compiled updates: the additive noise constant, else a dummy."""
    const = sde._additive_const
    return np.zeros(1) if const is None else np.array(const, dtype=float, order="C")


class NotCompilable(Exception):
    """``f`` or ``g`` is not something numba compiles (a bound method, a callable object, ...)."""


#: What stops numba from compiling a user's ``f``/``g``: the caller warns and runs numpy.
COMPILE_ERRORS = (numba.core.errors.TypingError, numba.core.errors.UnsupportedError,
                  numba.core.errors.LoweringError, NotImplementedError, NotCompilable)


def compile_user(fn, name: str):
    """``fn`` (the user's ``f`` or ``g``, called ``name``) as a numba function: an already
    jitted function as it is, a plain function (``def`` or ``lambda``) through ``numba.njit``.

    Raises
    ------
    NotCompilable
        For anything else (bound methods, callable objects, builtins), saying what it is.
    """
    if isinstance(fn, Dispatcher):
        return fn
    if inspect.isfunction(fn):
        return numba.njit(fn)
    what = (f"a bound method ({fn.__qualname__})" if inspect.ismethod(fn)
            else f"a callable {type(fn).__name__} object")
    raise NotCompilable(f"{name} is {what}; numba compiles plain functions (def or lambda) only: "
                        f"write {name} as a function of its arguments that uses numpy arrays and "
                        f"floats, not an object")


def announce_compile(quiet: bool) -> None:
    """Say on stderr (unless ``quiet``) that a user's f/g is being compiled: seconds of silence."""
    if not quiet:
        print("sdesim: compiling f/g with numba (first call, a few seconds; cached for this "
              "session)", file=sys.stderr, flush=True)


def fallback_warning(exc: Exception, what: str) -> None:
    """Warn that numba could not compile ``what`` (why: the first lines of ``exc``) and that the
    numpy backend runs instead."""
    why = " ".join(str(exc).strip().splitlines()[:3])
    warnings.warn(
        f"numba could not compile {what}, running the numpy backend instead. Write f(t, x) and "
        f"g(t, x) as plain functions with numpy operations numba supports on 2-d float arrays "
        f"(see sdesim.SDE's docstring). Why: {why}", RuntimeWarning, stacklevel=4)


@numba.njit(nogil=True, cache=True)
def _shape_is(a, want, call, rows, st):
    """True if ``a.shape == want``; else records the call in ``st`` (:func:`_record_shape`)."""
    if a.shape == want:
        return True
    _record_shape(st, call, rows, a)
    return False


@numba.njit(inline="always")
def _want_rows(x, inc):
    return (x.shape[0], x.shape[1])


@numba.njit(inline="always")
def _want_general(x, inc):
    return (x.shape[0], x.shape[1], inc.shape[1])


@numba.njit(inline="always")
def _want_vector(x, inc):
    return (x.shape[1],)


@numba.njit(inline="always")
def _want_matrix(x, inc):
    return (x.shape[1], inc.shape[1])


@numba.njit(inline="always")
def _apply_rows(x, fx, gx, inc, hl):
    """Diagonal (``inc`` ``(n, d)``) or scalar (``inc`` ``(n, 1)``) noise, ``gx`` ``(n, d)``."""
    for i in range(x.shape[0]):
        for p in range(x.shape[1]):
            x[i, p] = x[i, p] + hl * fx[i, p] + gx[i, p] * inc[i, p if inc.shape[1] > 1 else 0]


@numba.njit(inline="always")
def _apply_general(x, fx, gx, inc, hl):
    for i in range(x.shape[0]):
        for p in range(x.shape[1]):
            s = 0.0
            for j in range(inc.shape[1]):
                s += gx[i, p, j] * inc[i, j]
            x[i, p] = x[i, p] + hl * fx[i, p] + s


@numba.njit(inline="always")
def _apply_vector(x, fx, gx, inc, hl):
    for i in range(x.shape[0]):
        for p in range(x.shape[1]):
            x[i, p] = x[i, p] + hl * fx[i, p] + inc[i, p] * gx[p]


@numba.njit(inline="always")
def _apply_matrix(x, fx, gx, inc, hl):
    for i in range(x.shape[0]):
        for p in range(x.shape[1]):
            s = 0.0
            for j in range(inc.shape[1]):
                s += inc[i, j] * gx[p, j]
            x[i, p] = x[i, p] + hl * fx[i, p] + s


def user_step(sde):
    """A compiled ``step(t, x, inc, hl, gc, st) -> bool``: the EM update
    ``x <- x + hl f(t, x) + g(t, x)·inc`` in place for increments ``inc`` ``(n, m)``.

    ``gc`` is :func:`noise_constant` (so SDEs differing only in it share the kernel). The shapes
    ``f`` and ``g`` return are checked at every call: on a wrong one the step records it in the
    :data:`~.common.STATUS` record ``st`` and returns False without touching ``x``, so a kernel
    never reads or writes outside its arrays. Raises :class:`NotCompilable` (before compiling
    anything) when ``f`` or ``g`` is not a function numba takes.
    """
    fj = compile_user(sde.f, "f")
    kind = sde.noise
    if sde._additive_const is not None:
        @numba.njit(nogil=True)
        def g_at(t, x, gc):
            return gc
    elif kind == "additive":
        gj = compile_user(sde.g, "g")

        @numba.njit(nogil=True)
        def g_at(t, x, gc):
            return np.asarray(gj(t), dtype=np.float64)
    else:
        gj = compile_user(sde.g, "g")

        @numba.njit(nogil=True)
        def g_at(t, x, gc):
            return gj(t, x)
    if kind in ("diagonal", "scalar"):
        want, apply = _want_rows, _apply_rows
    elif kind == "general":
        want, apply = _want_general, _apply_general
    elif np.ndim(sde.diffusion(0.0, None)) == 1:  # additive, diagonal (d,)
        want, apply = _want_vector, _apply_vector
    else:  # additive, matrix (d, m)
        want, apply = _want_matrix, _apply_matrix

    @numba.njit(nogil=True)
    def step(t, x, inc, hl, gc, st):
        n = x.shape[0]
        fx = fj(t, x)
        if not _shape_is(fx, (n, x.shape[1]), F_CALL, n, st):
            return False
        gx = g_at(t, x, gc)
        if not _shape_is(gx, want(x, inc), G_CALL, n, st):
            return False
        apply(x, fx, gx, inc, hl)
        return True
    return step


def _generic_kernel(sde):
    """The compiled block kernel of a user's ``f``/``g`` (the contract of :func:`prepare`),
    one per :func:`generic_key`. Raises :class:`NotCompilable` as :func:`user_step`."""
    key = generic_key(sde)
    if key in _GENERIC_CACHE:
        return _GENERIC_CACHE[key]
    step = user_step(sde)

    @numba.njit(nogil=True)
    def kernel(xs, acc, buf, k0, k1, h, ratios, save_steps, rng, code, alpha, scale, gc, out,
               status):
        st = status[0]
        L = ratios.shape[0]
        s = st.saved
        for k in range(k0, k1):
            _fill(code, rng, buf, h, alpha, scale)
            for lev in range(L):
                r = ratios[lev]
                if r == 1:
                    inc = buf
                else:
                    _add(acc[lev], buf)
                    if (k + 1) % r != 0:
                        continue
                    inc = acc[lev]
                hl = r * h
                x = xs[lev]
                if not step(((k + 1) // r - 1) * hl, x, inc, hl, gc, st):
                    return
                if r != 1:
                    _zero(acc[lev])
                bad = _count_bad(x)
                if bad > 0 and st.step < 0:
                    st.step = (k + 1) // r
                    st.n_bad = bad
                    st.level = lev
                    if not st.keep:
                        return
            if s < save_steps.shape[0] and save_steps[s] == k + 1:
                _save(xs, out, s)
                s += 1
        st.saved = s

    _GENERIC_CACHE[key] = kernel
    return kernel


# ----------------------------------------------------------------------------- entry points
def _linear_args(sde: LinearSDE):
    """``(A, a, B, b, dense)`` for the linear kernels: diagonal forms as rows ``(1, d)``,
    ``(1, 1, d)``, ``(1, d)``; always fresh writable C arrays, so every problem hits the same
    compiled specialisation (numba compiles read-only arrays separately, ~5 s each)."""
    if sde.form == "diag":
        d = sde.A.shape[0]
        arrs = (sde.A.reshape(1, d), sde.a, sde.B.reshape(1, 1, d), sde.b.reshape(1, d))
    else:
        arrs = (sde.A, sde.a, sde.B, sde.b)
    return tuple(np.array(v, dtype=float, order="C") for v in arrs) + (sde.form != "diag",)


def prepare(sde, probe, numpy_rng: bool = False, quiet: bool = True):
    """Compile (or load) the kernel for ``sde``; check it runs on the states ``probe`` ``(n, d)``.

    Returns a callable ``kernel(xs, acc, buf, k0, k1, h, ratios, save_steps, stream, out,
    status)`` that runs fine steps ``k0 .. k1-1`` on the level states ``xs`` ``(L, n, d)``, the
    increment sums ``acc`` ``(L, n, m)`` and the noise buffer ``buf`` ``(n, m)``, saving into
    ``out`` and reporting in the :data:`~.common.STATUS` record ``status`` (which carries the
    save index between blocks). It draws from ``stream``: the xoshiro256++ state seeded by the
    chunk's ``Generator`` (:func:`.xoshiro.seed_state`), or when ``numpy_rng`` the ``Generator``
    itself (numpy's stream: slower, bitwise comparable with the numpy backend).

    Returns ``None`` after a RuntimeWarning that says why when numba cannot compile the user's
    ``f``/``g`` (the caller then uses the numpy backend). Announces the first compilation of a
    user's ``f``/``g`` on stderr unless ``quiet``.

    Raises
    ------
    ValueError
        :meth:`sdesim.SDE.shape_error` when the compiled ``f``/``g`` return a wrong shape on
        ``probe``.
    """
    alpha, scale = sde.driver.kernel_params(sde.m)
    code = sde.driver.code
    if isinstance(sde, LinearSDE):
        largs = _linear_args(sde)

        def run(xs, acc, buf, k0, k1, h, ratios, save_steps, stream, out, status):
            _linear_kernel(xs, acc, buf, k0, k1, h, ratios, save_steps, stream, code, alpha,
                           scale, *largs, out, status)
        _probe(sde, probe, run, numpy_rng)  # loads (or compiles) the cached kernel now
        return run
    key = generic_key(sde)
    try:
        kern = _generic_kernel(sde)
    except NotCompilable as exc:
        fallback_warning(exc, "this SDE's f/g")
        return None
    gc = noise_constant(sde)

    def run(xs, acc, buf, k0, k1, h, ratios, save_steps, stream, out, status):
        kern(xs, acc, buf, k0, k1, h, ratios, save_steps, stream, code, alpha, scale, gc, out,
             status)

    if (key, numpy_rng) not in _ANNOUNCED:
        _ANNOUNCED.add((key, numpy_rng))
        announce_compile(quiet)
    try:
        _probe(sde, probe, run, numpy_rng)
    except COMPILE_ERRORS as exc:
        _GENERIC_CACHE.pop(key, None)
        fallback_warning(exc, "this SDE's f/g")
        return None
    return run


def _probe(sde, probe, kernel, numpy_rng):
    """One step of ``kernel`` on the states ``probe``: compiles it for the stream type it will
    run on and raises the shape error if f/g return a wrong shape there."""
    run_chunk(sde, probe, 1e-3, 1, (1,), [1], np.random.default_rng(0), kernel=kernel,
              numpy_rng=numpy_rng)


def run_chunk(sde, x0, h, n_fine, ratios, save_steps, rng, keep_nonfinite=False, kernel=None,
              numpy_rng=False, progress=None):
    """Run Euler–Maruyama on one chunk; see :mod:`sdesim.backends.common` for the contract.

    The kernel (:func:`prepare`) runs in blocks of :func:`~.common.step_blocks`, the states,
    increment sums, save index and generator state carried from one block to the next, so the
    result does not depend on the blocks.
    """
    if kernel is None:
        kernel = prepare(sde, sde.probe_states(x0), numpy_rng)
        if kernel is None:
            return numpy_backend.run_chunk(sde, x0, h, n_fine, ratios, save_steps, rng,
                                           keep_nonfinite, progress)
    n, d = x0.shape
    m = sde.m
    ratios = np.asarray(ratios, dtype=np.int64)
    save_steps = np.asarray(save_steps, dtype=np.int64)
    L = len(ratios)
    out = np.empty((L, len(save_steps), n, d))
    xs = np.empty((L, n, d))
    xs[:] = x0
    acc, buf = np.zeros((L, n, m)), np.empty((n, m))
    status = new_status(keep_nonfinite)
    if len(save_steps) and save_steps[0] == 0:
        out[:, 0] = x0
        status["saved"] = 1
    stream = rng if numpy_rng else xoshiro.seed_state(rng)
    for k0, k1 in step_blocks(n_fine, n, d, m, L):
        kernel(xs, acc, buf, k0, k1, float(h), ratios, save_steps, stream, out, status)
        if status["call"][0] or (status["step"][0] >= 0 and not keep_nonfinite):
            break
        if progress is not None:
            progress(n * (k1 - k0))
    raise_shape_error(status, sde)
    step = int(status["step"][0])
    if step >= 0 and not keep_nonfinite:
        hl = ratios[status["level"][0]] * h
        raise SimulationDiverged(step, float(step * hl), int(status["n_bad"][0]), n, float(hl))
    return out


#: The backend ``"numba-numpy-rng"``: the same kernels drawing from the chunk's numpy
#: ``Generator`` instead of xoshiro256++ (for bitwise comparisons with the numpy backend).
NUMPY_RNG = SimpleNamespace(parallel=True, prepare=partial(prepare, numpy_rng=True),
                            run_chunk=partial(run_chunk, numpy_rng=True))
