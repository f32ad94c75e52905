"""The compiled first-exit kernel: the scheme's step (the same compiled steps as
:mod:`.numba_linear` and :mod:`.numba_user`), a domain check after every step, and the alive
paths compacted to the front so that finished paths cost nothing.

One kernel is compiled per process for each drift/diffusion (:func:`_kernel_key`): SDEs that
share ``f`` and ``g`` (e.g. the same drift with different α, noise constants or, for linear
SDEs, coefficients) share it; the domain is an argument (:class:`~.contract.DomainArrays`).
"""
from __future__ import annotations

import numba
import numpy as np

from .._cache import BoundedCache
from ..sde import LinearSDE
from .contract import BOX, DomainArrays, ExitChunk
from .encoding import DRIVER_ADVICE, driver_encoding
from .errors import NotCompilable, new_status, raise_shape_error
from .numba_linear import linear_args, linear_dense_step, linear_diag_step
from .numba_rng import fill, stream_for
from .numba_user import (COMPILE_ERRORS, announce_compile, fallback_warning, generic_key,
                         noise_constant, user_step)

__all__ = ["prepare_exit"]

_KERNELS = BoundedCache(64)
_ANNOUNCED = BoundedCache(64)  # (kernel key, numpy_rng) whose compilation was announced


def _kernel_key(sde) -> tuple:
    """What a compiled kernel depends on; the coefficients it takes as arguments
    (:func:`_step_params`) are not part of it."""
    if isinstance(sde, LinearSDE):
        return ("linear", sde.form)
    return ("generic",) + generic_key(sde)


def _step_params(sde) -> tuple:
    """The run-time coefficients of the compiled step: ``(A, a, B, b)`` of a linear SDE, or the
    additive noise constant."""
    if isinstance(sde, LinearSDE):
        return linear_args(sde)[:4]
    return (noise_constant(sde),)


@numba.njit(nogil=True, cache=True)
def _classify(dom, lo, hi, center, r2, xrow):
    """(axis, side) of one state; axis -1 inside (the rule of :class:`~.contract.DomainArrays`)."""
    d = xrow.shape[0]
    if dom == BOX:
        best, ax = -np.inf, -1
        for p in range(d):
            v = xrow[p]
            viol = np.inf if np.isnan(v) else max(lo[p] - v, v - hi[p])
            if viol > best:
                best, ax = viol, p
        if best >= 0:
            return ax, (1 if xrow[ax] >= hi[ax] else -1)
        return -1, 0
    s, best, ax = 0.0, -1.0, 0
    for p in range(d):
        dv = xrow[p] - center[p]
        s += dv * dv
        a = np.inf if np.isnan(dv) else abs(dv)
        if a > best:
            best, ax = a, p
    if s < r2:
        return -1, 0
    dv = xrow[ax] - center[ax]
    return ax, (1 if dv > 0 else (-1 if dv < 0 else 0))


@numba.njit(nogil=True, cache=True)
def _sweep(x, idx, n_alive, k, dom, lo, hi, center, r2, steps, pos, axis, side):
    """Record the paths outside the domain after step k; compact the alive ones to the front."""
    j = 0
    for i in range(n_alive):
        ax, sd = _classify(dom, lo, hi, center, r2, x[i])
        if ax >= 0:
            p = idx[i]
            steps[p], axis[p], side[p] = k, ax, sd
            pos[p] = x[i]
        else:
            if j != i:
                x[j] = x[i]
                idx[j] = idx[i]
            j += 1
    return j


def _build_kernel(sde):
    """Build (not yet compile) the first-exit kernel of ``sde``; raises ``NotCompilable`` for
    an ``f``/``g`` numba does not take."""
    if isinstance(sde, LinearSDE):
        dense = sde.form != "diag"

        @numba.njit(nogil=True)
        def step(t, x, inc, hl, tmp, params, st):
            A, a, B, b = params
            if dense:
                linear_dense_step(x, inc, hl, A, a, B, b, tmp[0])
            else:
                linear_diag_step(x, inc, hl, A, a, B, b, tmp[0], tmp[1])
            return True
    else:
        scheme_step = user_step(sde)

        @numba.njit(nogil=True)
        def step(t, x, inc, hl, tmp, params, st):
            return scheme_step(t, x, inc, hl, params[0], st)

    @numba.njit(nogil=True)
    def kernel(x0, h, n_max, rng, code, alpha, scale, params, dom, lo, hi, center, r2,
               steps, pos, axis, side, status):
        n, d = x0.shape
        x = x0.copy()
        idx = np.arange(n)
        buf = np.empty((n, alpha.shape[0]))
        work = np.empty((alpha.shape[0] + 3, n))
        tmp = np.empty((2, d))  # work rows for the linear steps
        n_alive = _sweep(x, idx, n, 0, dom, lo, hi, center, r2, steps, pos, axis, side)
        for k in range(n_max):
            if n_alive == 0:
                break
            inc = buf[:n_alive]
            fill(code, rng, inc, h, alpha, scale, work)
            if not step(k * h, x[:n_alive], inc, h, tmp, params, status[0]):
                return  # f or g returned a wrong shape: recorded in status
            n_alive = _sweep(x, idx, n_alive, k + 1, dom, lo, hi, center, r2,
                             steps, pos, axis, side)
        for i in range(n_alive):
            pos[idx[i]] = x[i]

    return kernel


def _compiled(sde):
    """The cached kernel of ``sde`` (built on first use), or None after a fallback warning."""
    key = _kernel_key(sde)
    if key not in _KERNELS:
        try:
            _KERNELS[key] = _build_kernel(sde)
        except NotCompilable as exc:
            fallback_warning(exc, "this SDE's f/g for exit_times")
            _KERNELS[key] = None
    return _KERNELS[key]


def prepare_exit(sde, probe: np.ndarray, numpy_rng: bool, quiet: bool):
    """The first-exit runner of ``sde``, ``run(x0, h, n_max, dom, rng) -> ExitChunk`` for states
    ``x0`` ``(n, d)``, a :class:`~.contract.DomainArrays` ``dom`` and the chunk's generator
    ``rng`` (drawing from it when ``numpy_rng``, else from xoshiro256++ seeded by it).

    Compiles (once per :func:`_kernel_key`) and checks it on the states ``probe`` ``(k, d)``
    with the stream it will draw from. Returns ``None`` after a RuntimeWarning that says why if
    numba cannot compile f/g or sample the driver. The first compilation of a user's f/g is
    announced on stderr unless ``quiet``.

    Raises
    ------
    ValueError
        :meth:`sdesim.SDE.shape_error` when f/g return a wrong shape on ``probe``.
    """
    try:
        code, alpha, scale = driver_encoding(sde.driver, sde.m)
    except NotCompilable as exc:
        fallback_warning(exc, "this SDE's driver for exit_times", DRIVER_ADVICE)
        return None
    kernel = _compiled(sde)
    if kernel is None:
        return None
    key = _kernel_key(sde)
    if not isinstance(sde, LinearSDE) and (key, numpy_rng) not in _ANNOUNCED:
        _ANNOUNCED[key, numpy_rng] = True
        announce_compile(quiet)
    params = _step_params(sde)

    def run(x0, h, n_max, dom: DomainArrays, rng) -> ExitChunk:
        n = x0.shape[0]
        out = ExitChunk(np.full(n, -1, np.int64), np.empty_like(x0), np.full(n, -1, np.int64),
                        np.zeros(n, np.int64))
        status = new_status(True)
        kernel(x0, h, n_max, stream_for(rng, numpy_rng), code, alpha, scale, params, *dom,
               *out, status)
        raise_shape_error(status, sde)
        return out

    d = probe.shape[1]
    everywhere = DomainArrays(BOX, np.full(d, -np.inf), np.full(d, np.inf), np.zeros(d), 0.0)
    try:
        run(probe, 1e-3, 1, everywhere, np.random.default_rng(0))
    except COMPILE_ERRORS as exc:
        fallback_warning(exc, "this SDE's f/g for exit_times")
        _KERNELS[_kernel_key(sde)] = None
        return None
    return run
