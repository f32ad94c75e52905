"""The torch backend: the Euler–Maruyama step on torch tensors, with counter-based noise.

States live on one torch device: ``SDESIM_TORCH_DEVICE`` if set (``"cpu"``, ``"cuda"``,
``"cuda:1"``), else ``cuda`` when available, else ``cpu``; in ``float64`` on the CPU and
``float32`` on CUDA unless ``SDESIM_TORCH_DTYPE`` says ``float32`` or ``float64``. Chunks enter
and leave as numpy (:class:`~.contract.Backend`); torch is imported when this module is.

Noise (counter-based): the Brownian increment of path ``i`` (its index in the whole run) at fine
step ``k``, coordinate ``j``, is a function of ``(key, i, k, j)`` only — Philox4x32-10
(:func:`philox4x32`, four normals per counter through Box–Muller on its two pairs of 32-bit
uniforms: :func:`normals`), drawn a block of steps at a time. The 64-bit ``key`` is one per
run: the chunk generator's seed with its last spawn-key entry (the chunk index,
:mod:`sdesim.engine` guarantee 1) dropped. So results do not depend on the chunk size or on the device's thread layout; they
agree with the other backends in law only. Uniforms have 32 bits, so ``|ΔW| / √h`` is at most
about 6.7.

User ``f`` and ``g`` receive torch tensors: write them with operations tensors and arrays share
(array-API style: ``-x``, ``x ** 3``, ``0.5 * x``, ``x @ A.T``, ``x.sin()``); a function that
raises on a tensor or returns something else hands the run to the numpy backend with a
RuntimeWarning. The built-in linear SDEs (:func:`sdesim.ou`, :func:`sdesim.gbm`,
:func:`sdesim.linear`) step with torch ops here. Brownian drivers only: an α-stable driver runs on
the numpy backend (with a RuntimeWarning); so do exit times.

Status: a first version. It steps in Python, a block of Philox draws at a time, so it is far
below the GPU's random-number rate and, on the CPU, much slower than the numba backend (use
``"numba"`` there); bench/README.md has the measured numbers. Fused kernels are still to come.
"""
from __future__ import annotations

import math
import os
import warnings

import numpy as np
import torch

from ..drivers import Brownian
from ..sde import LinearSDE
from .common import step_blocks
from .contract import Backend
from .errors import SimulationDiverged
from .numpy_backend import NUMPY

__all__ = ["TorchBackend", "TORCH", "philox4x32", "normals", "default_device", "default_dtype"]

_MASK = 0xFFFFFFFF
_M0, _M1 = 0xD2511F53, 0xCD9E8D57  # Philox4x32 multipliers
_W0, _W1 = 0x9E3779B9, 0xBB67AE85  # Weyl key bumps
_ROUNDS = 10


def default_device() -> "torch.device":
    """``SDESIM_TORCH_DEVICE`` if set, else ``cuda`` when available, else ``cpu``."""
    name = os.environ.get("SDESIM_TORCH_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def default_dtype(device) -> "torch.dtype":
    """``SDESIM_TORCH_DTYPE`` (``float32``/``float64``) if set, else float64 on the CPU and
    float32 on other devices.

    Raises
    ------
    ValueError
        ``SDESIM_TORCH_DTYPE`` set to anything else.
    """
    name = os.environ.get("SDESIM_TORCH_DTYPE")
    if not name:
        return torch.float64 if torch.device(device).type == "cpu" else torch.float32
    if name not in ("float32", "float64"):
        raise ValueError(f"SDESIM_TORCH_DTYPE must be 'float32' or 'float64', got {name!r}")
    return getattr(torch, name)


# ----------------------------------------------------------------------------- Philox4x32-10
def _mulhilo(a: int, b: "torch.Tensor"):
    """High and low 32 bits of ``a * b`` (``a`` a 32-bit constant, ``b`` int64 tensor of
    32-bit values), through 16-bit halves of ``b`` so that no int64 product overflows."""
    p_lo, p_hi = a * (b & 0xFFFF), a * (b >> 16)  # each < 2^48
    s = p_lo + ((p_hi & 0xFFFF) << 16)
    return (p_hi >> 16) + (s >> 32), s & _MASK


def philox4x32(counter, key):
    """Philox4x32-10 (Salmon et al. 2011, the Random123 generator) on int64 tensors.

    Parameters
    ----------
    counter : sequence of 4 int64 tensors (broadcastable), values in ``[0, 2^32)``
    key : sequence of 2 ints in ``[0, 2^32)``

    Returns
    -------
    list of 4 int64 tensors of 32-bit values.

    Examples
    --------
    >>> z = torch.zeros(1, dtype=torch.int64)
    >>> [hex(int(v)) for v in philox4x32([z, z, z, z], (0, 0))]
    ['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
    """
    c0, c1, c2, c3 = counter
    k0, k1 = int(key[0]) & _MASK, int(key[1]) & _MASK
    for r in range(_ROUNDS):
        if r:
            k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
        hi0, lo0 = _mulhilo(_M0, c0)
        hi1, lo1 = _mulhilo(_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return [c0, c1, c2, c3]


def normals(key, paths: "torch.Tensor", q0: int, q1: int, dtype) -> "torch.Tensor":
    """Standard normals ``(len(paths), q1 - q0)``: entry ``(p, q - q0)`` a function of ``(key,
    paths[p], q)`` only — output ``q % 4`` of Philox4x32-10 on the counter ``(paths[p],
    c mod 2^32, c // 2^32, 0)``, ``c = q // 4``, after Box–Muller on its outputs ``(u0, u1)``
    and ``(u2, u3)`` as uniforms ``(v + 1/2) / 2^32``.

    The run numbers the draws of path ``i`` ``q = k m + j`` (fine step ``k``, coordinate ``j``).
    ``paths``: int64 on the target device; ``key``: two 32-bit ints.
    """
    c_first, c_end = q0 // 4, -(-q1 // 4)
    c = torch.arange(c_first, c_end, dtype=torch.int64, device=paths.device)[None]
    i = paths.reshape(-1, 1).expand(-1, c.shape[1])
    out = philox4x32([i, (c & _MASK).expand_as(i), (c >> 32).expand_as(i), torch.zeros_like(i)],
                     key)
    u = [(v.to(torch.float64) + 0.5) * 2.0**-32 for v in out]
    z = []
    for a, b in ((u[0], u[1]), (u[2], u[3])):
        r, th = torch.sqrt(-2.0 * torch.log(a)), (2.0 * math.pi) * b
        z += [r * torch.cos(th), r * torch.sin(th)]
    flat = torch.stack(z, dim=-1).reshape(len(paths), -1)  # draw q at column q - 4 c_first
    return flat[:, q0 - 4 * c_first:q1 - 4 * c_first].to(dtype)


def run_key(rng: np.random.Generator) -> tuple[int, int]:
    """The run's Philox key from a chunk's generator: its seed without the chunk index."""
    ss = rng.bit_generator.seed_seq
    run = np.random.SeedSequence(ss.entropy, spawn_key=tuple(ss.spawn_key)[:-1])
    k0, k1 = run.generate_state(2, np.uint32)
    return int(k0), int(k1)


# ----------------------------------------------------------------------------- f, g on tensors
class _Model:
    """``f``, ``g`` and the noise term of an SDE on tensors of one device and dtype."""

    def __init__(self, sde, device, dtype):
        self.sde, self.device, self.dtype = sde, device, dtype
        self.const = None
        if sde.additive_constant is not None:
            self.const = self.tensor(sde.additive_constant)
        if isinstance(sde, LinearSDE):
            self.A, self.a, self.B, self.b = (self.tensor(v) for v in (sde.A, sde.a, sde.B, sde.b))

    def tensor(self, v):
        v = v if isinstance(v, torch.Tensor) else np.array(v, dtype=float)  # a writable copy
        return torch.as_tensor(v, dtype=self.dtype, device=self.device)

    def drift(self, t, x):
        sde = self.sde
        if isinstance(sde, LinearSDE):
            return self.A * x + self.a if sde.form == "diag" else x @ self.A.T + self.a
        fx = sde.f(t, x)
        if tuple(getattr(fx, "shape", ())) != (x.shape[0], sde.d):
            raise sde.shape_error("f", x.shape[0], tuple(getattr(fx, "shape", ())))
        return fx

    def diffusion(self, t, x):
        sde = self.sde
        if sde.noise == "additive":
            gx = self.const if self.const is not None else self.tensor(sde.g(t))
            if gx.shape != (sde.d, sde.m) and (gx.shape != (sde.d,) or sde.m != sde.d):
                raise sde.shape_error("g", 0, tuple(gx.shape))
            return gx
        if isinstance(sde, LinearSDE):
            if sde.form == "diag":
                return self.B * x + self.b
            return torch.einsum("jde,ne->ndj", self.B, x) + self.b.T[None]
        gx = sde.g(t, x)
        if tuple(getattr(gx, "shape", ())) != sde.g_shape(x.shape[0]):
            raise sde.shape_error("g", x.shape[0], tuple(getattr(gx, "shape", ())))
        return gx

    def step(self, t, x, h, dW):
        """The EM step of :meth:`sdesim.schemes.EulerMaruyama.step`, on tensors."""
        gx = self.diffusion(t, x)
        noise = self.sde.noise
        if noise in ("diagonal", "scalar"):
            term = gx * dW
        elif noise == "general":
            term = torch.einsum("ndm,nm->nd", gx, dW)
        else:
            term = dW * gx if gx.ndim == 1 else dW @ gx.T
        return x + h * self.drift(t, x) + term


def _unsupported(sde, model, probe) -> str | None:
    """Why this backend cannot run ``sde`` (``None`` if it can); raises shape errors."""
    if not isinstance(sde.driver, Brownian):
        return (f"the torch backend does not yet run {sde.driver!r} drivers (Brownian only); "
                f"the numpy backend runs instead")
    if isinstance(sde, LinearSDE):
        return None
    x = model.tensor(probe)
    calls = [("f", sde.f)] + ([("g", sde.g)] if sde.noise != "additive" else [])
    for name, fn in calls:
        try:
            val = fn(0.0, x)
        except Exception as exc:  # noqa: BLE001 - any failure on tensors means: not torch-able
            val = exc
        if not isinstance(val, torch.Tensor):
            return (f"the torch backend calls {name} with torch tensors (array-API style "
                    f"operations), and {name} gave {type(val).__name__} {val!s:.80}; the numpy "
                    f"backend runs instead")
    model.drift(0.0, x)  # shape errors, as on numpy
    model.diffusion(0.0, x)
    return None


class TorchBackend(Backend):
    """EM on torch tensors with counter-based Philox noise (module docstring).

    ``counter_based``: the engine passes ``path_start`` (the chunk's first path index in the
    run) to :meth:`run_chunk`, so that a path's noise does not depend on its chunk.
    """

    name = "torch"
    parallel = False  # one device; chunks run one after another
    counter_based = True

    def __repr__(self) -> str:
        return "TorchBackend()"

    def prepare(self, sde, probe, *, quiet=True):
        device = default_device()
        model = _Model(sde, device, default_dtype(device))
        why = _unsupported(sde, model, probe)
        if why is not None:
            warnings.warn(why, RuntimeWarning, stacklevel=3)
            return None
        return model

    def prepare_exit(self, sde, probe, domain, *, quiet=True):
        warnings.warn("the torch backend does not yet run exit times; the numpy backend runs "
                      "instead", RuntimeWarning, stacklevel=3)
        return None

    def exit_chunk(self, sde, x0, h, n_max, domain, rng, *, kernel=None):
        """The numpy backend's exits (:meth:`prepare_exit` hands exit runs to it)."""
        return NUMPY.exit_chunk(sde, x0, h, n_max, domain, rng)

    def run_chunk(self, sde, x0, h, n_fine, ratios, save_steps, rng, keep_nonfinite=False, *,
                  progress=None, kernel=None, path_start=0):
        """:meth:`Backend.run_chunk`; ``path_start``: index in the run of the chunk's first
        path (the noise of path ``path_start + p`` at step ``k`` is drawn from that index)."""
        model = kernel if kernel is not None else self.prepare(sde, sde.probe_states(x0))
        if model is None:
            return NUMPY.run_chunk(sde, x0, h, n_fine, ratios, save_steps, rng, keep_nonfinite,
                                   progress=progress)
        n, d = x0.shape
        L, S, m = len(ratios), len(save_steps), sde.m
        key = run_key(rng)
        paths = torch.arange(path_start, path_start + n, dtype=torch.int64, device=model.device)
        sqrt_h = math.sqrt(h)
        xs = [model.tensor(x0) for _ in ratios]
        acc = [torch.zeros((n, m), dtype=model.dtype, device=model.device) for _ in ratios]
        out = np.empty((L, S, n, d))
        s = 0
        if S and save_steps[0] == 0:
            out[:, 0] = x0
            s = 1
        with torch.no_grad():
            for k0, k1 in step_blocks(n_fine, n, d, m, L):
                block = normals(key, paths, k0 * m, k1 * m, model.dtype) * sqrt_h
                for k in range(k0, k1):
                    dW = block[:, (k - k0) * m:(k - k0 + 1) * m]
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
                            out[lev, s] = xs[lev].to(device="cpu", dtype=torch.float64).numpy()
                        s += 1
                if progress is not None:
                    progress(n * (k1 - k0))
        return out


def _check_finite(x, kl, hl, n):
    """Raise :class:`SimulationDiverged` if a row of ``x`` is not finite after level step ``kl``."""
    ok = torch.isfinite(x).all(dim=1)
    if not bool(ok.all()):
        raise SimulationDiverged(kl + 1, (kl + 1) * hl, int((~ok).sum()), n, hl)


TORCH = TorchBackend()
