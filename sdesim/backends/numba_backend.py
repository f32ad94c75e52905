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
  (numba implements numpy's samplers bit for bit). Same seed and chunk size as the numpy
  backend gives:

  - bitwise equal output for diagonal, scalar and additive noise with a Brownian driver: the
    same numbers in the same order and every update the same sequence of IEEE operations;
  - equal to rounding (``rtol ~ 1e-13``) for ``general`` noise and dense linear drifts, whose
    sums over the noise/state index are ordered differently from numpy's ``einsum`` and BLAS,
    and for α-stable drivers, whose CMS transform runs on the vectorised polynomial
    ``sin``/``cos``/``log``/``exp`` of :mod:`.stable_cms` (about 1 ulp each), not numpy's libm.

Kernels:

- built-in linear problems (:func:`sdesim.ou`, :func:`sdesim.gbm`, :func:`sdesim.linear`) run
  one kernel compiled once and cached on disk (``cache=True``), with the coefficients as
  arguments; one Brownian level of a diagonal problem runs a fused whole-run loop
  (:func:`_linear_diag_brownian_run`);
- a user's ``f`` and ``g`` are compiled with ``numba.njit`` on first use (their compile time is
  part of the first call; a constant additive noise is an argument, so a sweep over noise
  levels compiles once). If numba cannot compile them the backend warns with numba's message
  and runs the numpy backend instead.
"""
from __future__ import annotations

import math
import warnings
from functools import partial
from types import SimpleNamespace

import numba
import numpy as np
from numba.core import types
from numba.extending import overload

from ..drivers import BROWNIAN
from ..sde import LinearSDE
from . import numpy_backend, xoshiro
from .stable_cms import cauchy_block, cms_block
from .common import SimulationDiverged

__all__ = ["run_chunk", "parallel", "prepare"]

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
def _start(x0, L, m, out, save_steps):
    """Per-level states, accumulators and noise buffer; saves step 0 if asked. Returns s."""
    n, d = x0.shape
    xs = np.empty((L, n, d))
    for lev in range(L):
        for i in range(n):
            for p in range(d):
                xs[lev, i, p] = x0[i, p]
    acc = np.zeros((L, n, m))
    buf = np.empty((n, m))
    s = 0
    if save_steps.shape[0] > 0 and save_steps[0] == 0:
        _save(xs, out, 0)
        s = 1
    return xs, acc, buf, s


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
def _linear_diag_brownian_run(xs, rng, n_fine, h, A, a, B, b, save_steps, s, out, status):
    """All steps of one Brownian level (``xs`` ``(1, n, d)``) of a diagonal linear SDE.

    :func:`_fill` then :func:`_linear_diag_step` fused, with every step inside this one
    function: each normal is used as it is drawn (no increment buffer) and no per-step call
    pays numba's argument overhead (~60 ns, the whole cost of a step at small n·d). Same
    numbers and operations, so the same result as the unfused path.
    """
    x = xs[0]
    n, d = x.shape
    c, ha = np.empty(d), np.empty(d)
    _diag_coefficients(h, A, a, c, ha)
    sq = math.sqrt(h)
    for k in range(n_fine):
        st = _open(rng)
        nan = 0.0  # accumulates v - v: 0 while every v is finite, NaN after an inf or NaN
        for i in range(n):
            for p in range(d):
                z, st = _normal(rng, st)
                v = _diag_update(x[i, p], c[p], ha[p], B[0, 0, p], b[0, p], z * sq)
                x[i, p] = v
                nan += v - v
        _close(rng, st)
        if nan != 0.0 and status[0] < 0:
            status[0], status[1], status[2] = k + 1, _count_bad(x), 0
            if status[3] == 0:
                return
        if s < save_steps.shape[0] and save_steps[s] == k + 1:
            _save(xs, out, s)
            s += 1


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
def _linear_kernel(x0, h, n_fine, ratios, save_steps, rng, code, alpha, scale,
                   A, a, B, b, dense, out, status):
    L = ratios.shape[0]
    xs, acc, buf, s = _start(x0, L, alpha.shape[0], out, save_steps)
    tmp = np.empty(x0.shape[1])
    tmp2 = np.empty(x0.shape[1])
    if L == 1 and ratios[0] == 1 and code == BROWNIAN and not dense:
        _linear_diag_brownian_run(xs, rng, n_fine, h, A, a, B, b, save_steps, s, out, status)
        return
    for k in range(n_fine):
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
            if not ok and status[0] < 0:
                status[0], status[1], status[2] = (k + 1) // r, _count_bad(xs[lev]), lev
                if status[3] == 0:
                    return
        if s < save_steps.shape[0] and save_steps[s] == k + 1:
            _save(xs, out, s)
            s += 1


# ----------------------------------------------------------------------------- user functions
_GENERIC_CACHE: dict = {}


def generic_key(sde) -> tuple:
    """What a compiled user-function kernel depends on: ``f``, ``g`` (or, for a constant
    additive noise, only its rank: the constant itself is an argument) and the noise kind."""
    const = sde._additive_const
    return (sde.f, sde.g if const is None else ("constant", const.ndim), sde.noise)


def noise_constant(sde) -> np.ndarray:
    """The argument ``gc`` of the compiled updates: the additive noise constant, else a dummy."""
    const = sde._additive_const
    return np.zeros(1) if const is None else np.array(const, dtype=float, order="C")


def _noise_updater(sde):
    """A compiled ``update(t, x, inc, fx, hl, gc)`` doing ``x <- x + hl*fx + g(t,x)·inc`` in
    place; ``gc`` is :func:`noise_constant` (so SDEs differing only in it share the kernel)."""
    kind = sde.noise
    if kind == "additive":
        if sde._additive_const is None:
            gj = numba.njit(sde.g)

            @numba.njit(nogil=True)
            def g_of(t, gc):
                return np.asarray(gj(t), dtype=np.float64)
        else:
            @numba.njit(nogil=True)
            def g_of(t, gc):
                return gc
    else:
        gj = numba.njit(sde.g)

    if kind in ("diagonal", "scalar"):
        @numba.njit(nogil=True)
        def update(t, x, inc, fx, hl, gc):
            gx = gj(t, x)
            for i in range(x.shape[0]):
                for p in range(x.shape[1]):
                    x[i, p] = x[i, p] + hl * fx[i, p] + gx[i, p] * inc[i, p if inc.shape[1] > 1 else 0]
    elif kind == "general":
        @numba.njit(nogil=True)
        def update(t, x, inc, fx, hl, gc):
            gx = gj(t, x)
            for i in range(x.shape[0]):
                for p in range(x.shape[1]):
                    s = 0.0
                    for j in range(inc.shape[1]):
                        s += gx[i, p, j] * inc[i, j]
                    x[i, p] = x[i, p] + hl * fx[i, p] + s
    elif np.ndim(sde.diffusion(0.0, None)) == 1:  # additive, diagonal (d,)
        @numba.njit(nogil=True)
        def update(t, x, inc, fx, hl, gc):
            gx = g_of(t, gc)
            for i in range(x.shape[0]):
                for p in range(x.shape[1]):
                    x[i, p] = x[i, p] + hl * fx[i, p] + inc[i, p] * gx[p]
    else:  # additive, matrix (d, m)
        @numba.njit(nogil=True)
        def update(t, x, inc, fx, hl, gc):
            gx = g_of(t, gc)
            for i in range(x.shape[0]):
                for p in range(x.shape[1]):
                    s = 0.0
                    for j in range(inc.shape[1]):
                        s += inc[i, j] * gx[p, j]
                    x[i, p] = x[i, p] + hl * fx[i, p] + s
    return update


def _generic_kernel(sde):
    key = generic_key(sde)
    if key in _GENERIC_CACHE:
        return _GENERIC_CACHE[key]
    fj = numba.njit(sde.f)
    update = _noise_updater(sde)

    @numba.njit(nogil=True)
    def kernel(x0, h, n_fine, ratios, save_steps, rng, code, alpha, scale, gc, out, status):
        L = ratios.shape[0]
        xs, acc, buf, s = _start(x0, L, alpha.shape[0], out, save_steps)
        for k in range(n_fine):
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
                t = ((k + 1) // r - 1) * hl
                x = xs[lev]
                update(t, x, inc, fj(t, x), hl, gc)
                if r != 1:
                    _zero(acc[lev])
                bad = _count_bad(x)
                if bad > 0 and status[0] < 0:
                    status[0], status[1], status[2] = (k + 1) // r, bad, lev
                    if status[3] == 0:
                        return
            if s < save_steps.shape[0] and save_steps[s] == k + 1:
                _save(xs, out, s)
                s += 1

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


def prepare(sde, x0_small, numpy_rng: bool = False):
    """Compile (or load) the kernel for ``sde`` and check it runs on ``x0_small`` ``(n, d)``.

    Returns a callable ``kernel(x0, h, n_fine, ratios, save_steps, rng, out, status)`` or
    ``None`` after warning when numba cannot compile the user's ``f``/``g`` (the caller then
    uses the numpy backend). The kernel draws from the xoshiro256++ stream seeded by the
    chunk's ``Generator`` ``rng`` (:func:`.xoshiro.seed_state`), or from ``rng`` itself when
    ``numpy_rng`` (numpy's stream: slower, bitwise comparable with the numpy backend).
    """
    alpha, scale = sde.driver.kernel_params(sde.m)
    code = sde.driver.code
    source = (lambda rng: rng) if numpy_rng else xoshiro.seed_state
    if isinstance(sde, LinearSDE):
        largs = _linear_args(sde)

        def run(x0, h, n_fine, ratios, save_steps, rng, out, status):
            _linear_kernel(x0, h, n_fine, ratios, save_steps, source(rng), code, alpha, scale,
                           *largs, out, status)
        return run
    kern = _generic_kernel(sde)
    gc = noise_constant(sde)

    def run(x0, h, n_fine, ratios, save_steps, rng, out, status):
        kern(x0, h, n_fine, ratios, save_steps, source(rng), code, alpha, scale, gc, out, status)

    try:
        probe = np.empty((1, 1) + x0_small.shape)
        run(np.ascontiguousarray(x0_small, dtype=float), 1e-3, 1, np.ones(1, np.int64),
            np.array([1], np.int64), np.random.default_rng(0), probe, _new_status(False))
    except (numba.core.errors.TypingError, numba.core.errors.UnsupportedError,
            numba.core.errors.LoweringError, NotImplementedError) as exc:
        first = str(exc).strip().splitlines()
        warnings.warn(
            "numba could not compile this SDE's f/g, running the numpy backend instead. "
            "Write f(t, x) and g(t, x) with numpy operations numba supports on 2-d float arrays "
            "(see sdesim.SDE's docstring). numba said: " + " ".join(first[:3]),
            RuntimeWarning, stacklevel=3)
        _GENERIC_CACHE.pop(generic_key(sde), None)
        return None
    return run


def _new_status(keep: bool) -> np.ndarray:
    return np.array([-1, 0, 0, int(keep)], dtype=np.int64)


def run_chunk(sde, x0, h, n_fine, ratios, save_steps, rng, keep_nonfinite=False, kernel=None,
              numpy_rng=False):
    """Run Euler–Maruyama on one chunk; see :mod:`sdesim.backends.common` for the contract."""
    if kernel is None:
        kernel = prepare(sde, x0[:1], numpy_rng)
        if kernel is None:
            return numpy_backend.run_chunk(sde, x0, h, n_fine, ratios, save_steps, rng,
                                           keep_nonfinite)
    ratios = np.asarray(ratios, dtype=np.int64)
    save_steps = np.asarray(save_steps, dtype=np.int64)
    out = np.empty((len(ratios), len(save_steps)) + x0.shape)
    status = _new_status(keep_nonfinite)
    kernel(np.ascontiguousarray(x0, dtype=float), float(h), int(n_fine), ratios, save_steps,
           rng, out, status)
    if status[0] >= 0 and not keep_nonfinite:
        hl = ratios[status[2]] * h
        raise SimulationDiverged(int(status[0]), float(status[0] * hl), int(status[1]),
                                 x0.shape[0], float(hl))
    return out


#: The backend ``"numba-numpy-rng"``: the same kernels drawing from the chunk's numpy
#: ``Generator`` instead of xoshiro256++ (for bitwise comparisons with the numpy backend).
NUMPY_RNG = SimpleNamespace(parallel=True, prepare=partial(prepare, numpy_rng=True),
                            run_chunk=partial(run_chunk, numpy_rng=True))
