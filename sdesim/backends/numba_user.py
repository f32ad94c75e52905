"""A user's ``f`` and ``g`` in compiled kernels: compiling them, checking what they return at
every call, the scheme's step around them, and the block kernel of :func:`generic_kernel`.

``f`` and ``g`` are compiled with ``numba.njit`` on first use (seconds, said on stderr
unless ``quiet``; a constant additive noise is an argument, so a sweep over noise levels compiles
once). If numba cannot compile them (also when they are bound methods or callable objects) the
backend warns why (:func:`fallback_warning`) and runs the numpy backend instead. The shapes
they return are checked at every call, so no kernel reads or writes outside its arrays whatever
they return.
"""
from __future__ import annotations

import inspect
import sys
import warnings

import numba
import numpy as np
from numba.core.dispatcher import Dispatcher

from .._cache import BoundedCache
from ..schemes import UPDATE_LAYOUTS, EulerMaruyama
from .errors import F_CALL, G_CALL, NotCompilable, numba_reason
from .numba_arrays import count_bad, level_increment, save_levels, shape_is, zero
from .numba_rng import fill

__all__ = ["compile_user", "COMPILE_ERRORS", "announce_compile", "fallback_warning", "FG_ADVICE",
           "generic_key", "noise_constant", "user_step", "generic_kernel"]

#: What stops numba from compiling a user's ``f``/``g``: the caller warns and runs numpy.
COMPILE_ERRORS = (numba.core.errors.TypingError, numba.core.errors.UnsupportedError,
                  numba.core.errors.LoweringError, NotImplementedError, NotCompilable)

_GENERIC_CACHE = BoundedCache(64)
# The scheme's updates, compiled once (inlined into each user step).
_UPDATES = {layout: numba.njit(inline="always")(EulerMaruyama.kernel_update(layout))
            for layout in UPDATE_LAYOUTS}


def generic_key(sde) -> tuple:
    """What a compiled user-function kernel depends on: ``f``, ``g`` (or, for a constant
    additive noise, only its rank: the constant itself is an argument) and the noise kind."""
    const = sde.additive_constant
    return (sde.f, sde.g if const is None else ("constant", const.ndim), sde.noise)


def noise_constant(sde) -> np.ndarray:
    """The argument ``gc`` of the compiled steps: the additive noise constant (a fresh writable
    C array), else a dummy."""
    const = sde.additive_constant
    return np.zeros(1) if const is None else np.array(const, dtype=float, order="C")


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
        print("sdesim: compiling f/g with numba (first call: a few seconds, up to ~30 s for "
              "control='linear' or an SGD SDE; cached for this session)", file=sys.stderr,
              flush=True)


#: What to do when numba cannot compile a user's f/g.
FG_ADVICE = ("Write f(t, x) and g(t, x) as plain functions with numpy operations numba supports "
             "on 2-d float arrays (see sdesim.SDE's docstring).")


def fallback_warning(exc: Exception, what: str, advice: str = FG_ADVICE) -> None:
    """Warn that numba could not compile ``what`` and that the numpy backend runs instead, with
    ``advice`` and why (:func:`.errors.numba_reason`)."""
    why = numba_reason(exc)
    warnings.warn(f"numba could not compile {what}, running the numpy backend instead. {advice} "
                  f"Why: {why}", RuntimeWarning, stacklevel=4)


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


_WANT = {"rows": _want_rows, "general": _want_general, "vector": _want_vector,
         "matrix": _want_matrix}


def _layout(sde) -> str:
    """How ``g`` of ``sde`` reaches the update (:data:`sdesim.schemes.UPDATE_LAYOUTS`)."""
    if sde.noise in ("diagonal", "scalar"):
        return "rows"
    if sde.noise == "general":
        return "general"
    return "vector" if np.ndim(sde.diffusion(0.0, None)) == 1 else "matrix"


def _g_at(sde):
    """A compiled ``g_at(t, x, gc)``: ``g(t, x)``, additive ``g(t)``, or the constant ``gc``.

    Raises ``NotCompilable`` for an SDE given by ``g_prod`` (the kernels take ``g``)."""
    if sde.g_prod is not None:
        raise NotCompilable("the diffusion is given as g_prod(t, x, dL), and the numba kernels "
                            "take g(t, x) only")
    if sde.additive_constant is not None:
        @numba.njit(nogil=True)
        def g_at(t, x, gc):
            return gc
        return g_at
    gj = compile_user(sde.g, "g")
    if sde.noise == "additive":
        @numba.njit(nogil=True)
        def g_at(t, x, gc):
            return np.asarray(gj(t), dtype=np.float64)
        return g_at

    @numba.njit(nogil=True)
    def g_at(t, x, gc):
        return gj(t, x)
    return g_at


def user_step(sde):
    """A compiled ``step(t, x, inc, hl, gc, st) -> bool``: the scheme's step
    (:meth:`~sdesim.schemes.EulerMaruyama.kernel_step`) in place on ``x`` ``(n, d)`` for
    increments ``inc`` ``(n, m)``, around ``f`` and ``g`` checked at every call.

    ``gc`` is :func:`noise_constant` (so SDEs differing only in it share the kernel). On a wrong
    shape the step records it in the :data:`~.errors.STATUS` record ``st`` and returns False
    without touching ``x``. Raises :class:`~.errors.NotCompilable` (before compiling anything)
    when ``f`` or ``g`` is not a function numba takes.
    """
    fj = compile_user(sde.f, "f")
    g_at = _g_at(sde)
    layout = _layout(sde)
    want = _WANT[layout]

    @numba.njit(nogil=True)
    def drift(t, x, st):
        n = x.shape[0]
        fx = fj(t, x)
        return fx, shape_is(fx, (n, x.shape[1]), F_CALL, n, st)

    @numba.njit(nogil=True)
    def diffusion(t, x, inc, gc, st):
        gx = g_at(t, x, gc)
        return gx, shape_is(gx, want(x, inc), G_CALL, x.shape[0], st)

    return numba.njit(nogil=True)(EulerMaruyama.kernel_step(drift, diffusion, _UPDATES[layout]))


def generic_kernel(sde):
    """The compiled block kernel of a user's ``f``/``g`` (the block contract of
    :meth:`.numba_backend.NumbaBackend.prepare`), one per :func:`generic_key`. Raises
    :class:`~.errors.NotCompilable` as :func:`user_step`."""
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
        work = np.empty((buf.shape[1] + 3, buf.shape[0]))
        for k in range(k0, k1):
            fill(code, rng, buf, h, alpha, scale, work)
            for lev in range(L):
                r = ratios[lev]
                ready, inc = level_increment(acc[lev], buf, k, r)
                if not ready:
                    continue
                hl = r * h
                x = xs[lev]
                if not step(((k + 1) // r - 1) * hl, x, inc, hl, gc, st):
                    return
                if r != 1:
                    zero(acc[lev])
                bad = count_bad(x)
                if bad > 0 and st.step < 0:
                    st.step = (k + 1) // r
                    st.n_bad = bad
                    st.level = lev
                    if not st.keep:
                        return
            if s < save_steps.shape[0] and save_steps[s] == k + 1:
                save_levels(xs, out, s)
                s += 1
        st.saved = s

    _GENERIC_CACHE[key] = kernel
    return kernel
