"""The numba backend: compiled kernels of the scheme with an in-kernel generator.

Each chunk of paths runs in compiled calls that loop over its steps, draw the increments inside
the kernel and release the GIL, so chunks run on several threads. A chunk's result depends
only on its seed (the chunk's child ``Generator``), never on the thread that ran it.

Generators (:mod:`.numba_rng`):

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

Kernels: built-in linear problems run the disk-cached kernels of :mod:`.numba_linear`; a user's
``f`` and ``g`` run the kernel of :mod:`.numba_user` (compiled on first use, or the numpy
backend after a warning that says why); first exits run :mod:`.numba_exit`. Every kernel takes
its update from the scheme (:class:`sdesim.schemes.EulerMaruyama`).

A chunk runs in blocks of fine steps (:func:`~.common.step_blocks`), its states, increment sums,
save index and generator state carried from block to block: progress is reported during a long
chunk, and the result is the same as in one call.
"""
from __future__ import annotations

import numpy as np

from .._cache import BoundedCache
from ..sde import LinearSDE
from .common import step_blocks
from .contract import Backend, ExitChunk
from .encoding import DRIVER_ADVICE, driver_encoding
from .errors import NotCompilable, SimulationDiverged, new_status, raise_shape_error
from .numba_exit import prepare_exit
from .numba_linear import fused_applies, linear_args, linear_diag_brownian_run, linear_kernel
from .numba_rng import stream_for
from .numba_user import (_GENERIC_CACHE, COMPILE_ERRORS, announce_compile, fallback_warning,
                         generic_kernel, generic_key, noise_constant)
from .numpy_backend import NUMPY

__all__ = ["NumbaBackend", "NUMBA", "NUMPY_RNG", "run_chunk"]

_LINEAR_LOADED: set = set()  # stream types (numpy_rng) whose linear kernel is loaded
_ANNOUNCED = BoundedCache(64)  # (generic_key, numpy_rng) whose compilation was announced


class NumbaBackend(Backend):
    """The numba backends (module docstring): ``NumbaBackend()`` is ``"numba"``,
    ``NumbaBackend(numpy_rng=True)`` is ``"numba-numpy-rng"``.

    The handle :meth:`prepare` returns is a callable ``kernel(xs, acc, buf, k0, k1, h, ratios,
    save_steps, stream, out, status)`` that runs fine steps ``k0 .. k1-1`` on the level states
    ``xs`` ``(L, n, d)``, the increment sums ``acc`` ``(L, n, m)`` and the noise buffer ``buf``
    ``(n, m)``, saving into ``out`` and reporting in the :data:`~.errors.STATUS` record
    ``status`` (which carries the save index between blocks), drawing from ``stream``
    (:func:`.numba_rng.stream_for`).
    """

    parallel = True  # chunks run on a thread pool

    def __init__(self, numpy_rng: bool = False):
        self.numpy_rng = bool(numpy_rng)
        self.name = "numba-numpy-rng" if self.numpy_rng else "numba"

    def __repr__(self) -> str:
        return f"NumbaBackend(numpy_rng={self.numpy_rng})"

    def prepare(self, sde, probe, *, quiet=True):
        try:
            code, alpha, scale = driver_encoding(sde.driver, sde.m)
        except NotCompilable as exc:
            fallback_warning(exc, "this SDE's driver", DRIVER_ADVICE)
            return None
        if isinstance(sde, LinearSDE):
            largs = linear_args(sde)

            def run(xs, acc, buf, k0, k1, h, ratios, save_steps, stream, out, status):
                if fused_applies(ratios, code, largs[4]):
                    A, a, B, b = largs[:4]
                    linear_diag_brownian_run(xs, stream, k0, k1, h, A, a, B, b, save_steps, out,
                                             status[0])
                    return
                linear_kernel(xs, acc, buf, k0, k1, h, ratios, save_steps, stream, code, alpha,
                              scale, *largs, out, status)
            if self.numpy_rng not in _LINEAR_LOADED:  # load (or compile) the cached kernel now,
                self._probe(sde, probe, run)      # once per process and stream type
                _LINEAR_LOADED.add(self.numpy_rng)
            return run
        key = generic_key(sde)
        try:
            kern = generic_kernel(sde)
        except NotCompilable as exc:
            fallback_warning(exc, "this SDE's f/g")
            return None
        gc = noise_constant(sde)

        def run(xs, acc, buf, k0, k1, h, ratios, save_steps, stream, out, status):
            kern(xs, acc, buf, k0, k1, h, ratios, save_steps, stream, code, alpha, scale, gc,
                 out, status)

        if (key, self.numpy_rng) not in _ANNOUNCED:
            _ANNOUNCED[key, self.numpy_rng] = True
            announce_compile(quiet)
        try:
            self._probe(sde, probe, run)
        except COMPILE_ERRORS as exc:
            _GENERIC_CACHE.pop(key, None)
            fallback_warning(exc, "this SDE's f/g")
            return None
        return run

    def _probe(self, sde, probe, kernel):
        """One step of ``kernel`` on the states ``probe``: compiles it for the stream type it
        will run on and raises the shape error if f/g return a wrong shape there."""
        self.run_chunk(sde, probe, 1e-3, 1, (1,), [1], np.random.default_rng(0), kernel=kernel)

    def run_chunk(self, sde, x0, h, n_fine, ratios, save_steps, rng, keep_nonfinite=False, *,
                  progress=None, kernel=None):
        if kernel is None:
            kernel = self.prepare(sde, sde.probe_states(x0))
            if kernel is None:
                return NUMPY.run_chunk(sde, x0, h, n_fine, ratios, save_steps, rng,
                                       keep_nonfinite, progress=progress)
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
        stream = stream_for(rng, self.numpy_rng)
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
            raise SimulationDiverged(step, float(step * hl), int(status["n_bad"][0]), n,
                                     float(hl))
        return out

    def prepare_exit(self, sde, probe, domain, *, quiet=True):
        if domain.arrays(sde.d) is None:
            return None
        return prepare_exit(sde, probe, self.numpy_rng, quiet)

    def exit_chunk(self, sde, x0, h, n_max, domain, rng, *, kernel=None) -> ExitChunk:
        if kernel is None:
            kernel = self.prepare_exit(sde, sde.probe_states(x0), domain)
            if kernel is None:
                return NUMPY.exit_chunk(sde, x0, h, n_max, domain, rng)
        return kernel(np.ascontiguousarray(x0, dtype=float), h, n_max, domain.arrays(sde.d), rng)


NUMBA = NumbaBackend()
#: The backend ``"numba-numpy-rng"``: the same kernels drawing from the chunk's numpy
#: ``Generator`` instead of xoshiro256++ (for bitwise comparisons with the numpy backend).
NUMPY_RNG = NumbaBackend(numpy_rng=True)
run_chunk = NUMBA.run_chunk
