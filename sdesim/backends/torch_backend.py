"""The torch backend: the Euler–Maruyama step on torch tensors, CPU or CUDA, with counter-based
noise.

Device and dtype: ``device=`` / ``dtype=`` of the public functions (``simulate``,
``expectation``, ``expectation_levels``, ``weak_order``, ``exit_times``), passed to
:meth:`TorchBackend.prepare` as options; by default ``SDESIM_TORCH_DEVICE`` /
``SDESIM_TORCH_DTYPE``, else CUDA when available, in float32 there and float64 on the CPU
(:mod:`.torch_device`). Chunks enter and leave as numpy float64 (:class:`~.contract.Backend`).

Noise (counter-based, :mod:`.torch_philox`): the increment of path ``i`` (its index in the
whole run) at fine step ``k``, coordinate ``j``, is a function of ``(key, i, k, j)`` only, the
64-bit ``key`` one per run (the chunk generator's seed without the chunk index). Brownian
increments are Box–Muller normals, α-stable ones Chambers–Mallows–Stuck (:mod:`.torch_stable`,
one α per coordinate). So results do not depend on the chunk size, on how paths are split
between calls or devices, or on the device's thread layout; they agree with the other backends
in law only. What stays identical between CPU and GPU is in docs/gpu.md.

Problems (:mod:`.torch_model`): the built-in linear SDEs step with torch operations; a user's
``f``, ``g`` or ``g_prod`` is called with tensors (array-API style, :class:`sdesim.SDE`), and
one that raises on a tensor or returns something else hands the run to the numpy backend with a
RuntimeWarning. Exit times (:mod:`.torch_exit`) run Box, Ball and Interval domains; a
``Predicate`` runs on numpy.

It steps in Python, one block of counter-based draws at a time: on the CPU the numba backend is
faster; on a GPU it runs every problem, and the fused kernels take the linear ones.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from .common import step_blocks
from .contract import Backend
from .errors import SimulationDiverged
from .numpy_backend import NUMPY
from .torch_device import resolve_device, resolve_dtype
from .torch_exit import exit_chunk
from .torch_model import TorchModel
from .torch_philox import normals, philox4x32, run_key

__all__ = ["TorchBackend", "TORCH", "philox4x32", "normals", "run_key"]


class TorchBackend(Backend):
    """EM on torch tensors with counter-based Philox noise (module docstring).

    ``counter_based``: the engine passes ``path_start`` (the chunk's first path index in the
    run) to :meth:`run_chunk` and :meth:`exit_chunk`, so that a path's noise does not depend on
    its chunk. :meth:`prepare` and :meth:`prepare_exit` take the options ``device`` and
    ``dtype`` (:mod:`.torch_device`) and return a :class:`~.torch_model.TorchModel`.
    ``device_states``: :meth:`run_chunk` takes ``as_tensor=True`` (states stay on a CUDA
    device for ``expectation``'s reduction there).
    """

    name = "torch"
    parallel = False  # one device; chunks run one after another
    counter_based = True
    device_states = True
    chunk_work = 2**24  # ~10^7 entries per kernel launch: one chunk for most GPU runs

    def __repr__(self) -> str:
        return "TorchBackend()"

    def prepare(self, sde, probe, *, quiet=True, device=None, dtype=None):
        """A :class:`~.torch_model.TorchModel` of ``sde`` on ``device`` in ``dtype``, checked on
        ``probe``; ``None`` after a RuntimeWarning if ``f``/``g`` cannot take tensors.

        Raises
        ------
        ValueError
            A bad ``device`` or ``dtype`` (:mod:`.torch_device`); wrong shapes on ``probe``.
        TypeError
            ``f``/``g`` returning tensors of another dtype or device.
        """
        dev = resolve_device(device)
        model = TorchModel(sde, dev, resolve_dtype(dtype, dev))
        with torch.no_grad():
            why = model.why_not(probe)
        if why is not None:
            warnings.warn(why, RuntimeWarning, stacklevel=3)
            return None
        return model

    def prepare_exit(self, sde, probe, domain, *, quiet=True, device=None, dtype=None):
        """As :meth:`prepare`; ``None`` without a warning for a domain with no array encoding
        (a ``Predicate``)."""
        if domain.arrays(sde.d) is None:
            return None
        return self.prepare(sde, probe, quiet=quiet, device=device, dtype=dtype)

    def exit_chunk(self, sde, x0, h, n_max, domain, rng, *, kernel=None, path_start=0):
        """:meth:`Backend.exit_chunk` (:mod:`.torch_exit`); ``path_start`` as in
        :meth:`run_chunk`."""
        model = kernel if kernel is not None else self.prepare_exit(
            sde, sde.probe_states(x0), domain)
        if model is None:
            return NUMPY.exit_chunk(sde, x0, h, n_max, domain, rng)
        return exit_chunk(model, x0, h, n_max, domain.arrays(sde.d), run_key(rng), path_start)

    def run_chunk(self, sde, x0, h, n_fine, ratios, save_steps, rng, keep_nonfinite=False, *,
                  progress=None, kernel=None, path_start=0, as_tensor=False):
        """:meth:`Backend.run_chunk`; ``path_start``: index in the run of the chunk's first
        path (the noise of path ``path_start + p`` at step ``k`` is drawn from that index);
        ``as_tensor``: on a device other than the CPU, the states as a float64 tensor there
        (:class:`~.contract.Backend`'s ``device_states``), else numpy as without it."""
        model = kernel if kernel is not None else self.prepare(sde, sde.probe_states(x0))
        if model is None:
            return NUMPY.run_chunk(sde, x0, h, n_fine, ratios, save_steps, rng, keep_nonfinite,
                                   progress=progress)
        n, d = x0.shape
        L, S, m = len(ratios), len(save_steps), sde.m
        key = run_key(rng)
        as_tensor = as_tensor and model.device.type != "cpu"
        if model.device.type == "cuda":  # fused kernels and CUDA graphs (.torch_fast)
            from .torch_fast import fast_chunk
            fast = fast_chunk(model, sde, x0, h, n_fine, ratios, save_steps, key, path_start,
                              keep_nonfinite, progress, as_tensor=as_tensor)
            if fast is not None:
                return fast
        paths = torch.arange(path_start, path_start + n, dtype=torch.int64, device=model.device)
        xs = [model.tensor(x0) for _ in ratios]
        acc = [torch.zeros((n, m), dtype=model.dtype, device=model.device) for _ in ratios]
        out = (torch.empty((L, S, n, d), dtype=torch.float64, device=model.device) if as_tensor
               else np.empty((L, S, n, d)))
        s = 0
        if S and save_steps[0] == 0:
            out[:, 0] = model.rows(x0) if as_tensor else x0
            s = 1
        with torch.no_grad():
            for k0, k1 in step_blocks(n_fine, n, d, m, L):
                block = model.increments(key, paths, k0, k1, h)
                for k in range(k0, k1):
                    dW = block[:, k - k0]
                    for lev, r in enumerate(ratios):
                        if r > 1:
                            acc[lev] += dW
                            if (k + 1) % r:
                                continue
                        inc = dW if r == 1 else acc[lev]
                        hl, kl = r * h, (k + 1) // r - 1
                        x = model.step(kl * hl, xs[lev], hl, inc)
                        if not keep_nonfinite:
                            _check_finite(x, kl, hl, n)
                        xs[lev] = x
                        if r > 1:
                            acc[lev] = torch.zeros_like(acc[lev])
                    if s < S and save_steps[s] == k + 1:
                        for lev in range(L):
                            out[lev, s] = xs[lev] if as_tensor else \
                                xs[lev].to(device="cpu", dtype=torch.float64).numpy()
                        s += 1
                if progress is not None:
                    progress(n * (k1 - k0))
        return out


def _check_finite(x, kl, hl, n):
    """Raise :class:`SimulationDiverged` if a row of ``x`` is not finite after level step ``kl``."""
    ok = torch.isfinite(x).all(dim=1)
    if not bool(ok.all()):
        single = x.dtype == torch.float32
        raise SimulationDiverged(kl + 1, (kl + 1) * hl, int((~ok).sum()), n, hl,
                                 advice="or run in float64 (dtype=torch.float64): float32 "
                                        "overflows beyond 3.4e38" if single else None)


TORCH = TorchBackend()
