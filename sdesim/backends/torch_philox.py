"""Counter-based random numbers for the torch backend: Philox4x32-10 on torch int64 tensors.

Every number is a function of ``(key, path, index)`` alone — never of the chunk, the batch or
the device it is drawn on — so a run's results do not depend on how its paths are cut up.

Counters (the GPU kernels reproduce them): the 128-bit counter of a call is
``(path, c mod 2^32, c // 2^32, stream)`` under the run's 64-bit ``key`` (:func:`run_key`):

- ``stream = 0``, :func:`normals`: normal ``q`` of a path is output ``q % 4`` of counter
  ``c = q // 4``, after Box–Muller on the uniform pairs ``(u0, u1)`` and ``(u2, u3)``;
- ``stream = 1``, :func:`uniform_pairs`: pair ``q`` of a path is outputs ``(0, 1)`` of counter
  ``c = q // 2`` for even ``q`` and ``(2, 3)`` for odd ``q`` (the α-stable sampler's angle and
  exponential).

A 32-bit output ``v`` becomes the uniform ``(v + 1/2) / 2^32`` in ``(0, 1)``: never 0 or 1, so
``|ΔW| / √h`` is at most about 6.7. The backends number a path's draws ``q = k m + j`` (fine
step ``k``, noise coordinate ``j``).

References
----------
Salmon, Moraes, Dror & Shaw (2011), "Parallel random numbers: as easy as 1, 2, 3", SC'11
(Philox4x32-10, Random123); Box & Muller (1958), Ann. Math. Stat. 29:610.
"""
from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["philox4x32", "normals", "uniform_pairs", "run_key"]

_MASK = 0xFFFFFFFF
_M0, _M1 = 0xD2511F53, 0xCD9E8D57  # Philox4x32 multipliers
_W0, _W1 = 0x9E3779B9, 0xBB67AE85  # Weyl key bumps
_ROUNDS = 10


def _mulhilo(a: int, b: "torch.Tensor"):
    """High and low 32 bits of ``a * b`` (``a`` a 32-bit constant, ``b`` int64 tensor of
    32-bit values). The int64 product wraps modulo 2^64 (two's complement, on the CPU and on
    CUDA), so its bits are those of the unsigned 64-bit product: the arithmetic shift's sign
    bits are masked off. (Seven times faster than splitting ``b`` into 16-bit halves; the
    Random123 known answers and a plain-integer reference are in the tests.)"""
    p = a * b
    return (p >> 32) & _MASK, p & _MASK


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


def _uniforms(key, paths: "torch.Tensor", c0: int, c1: int, stream: int) -> list:
    """The four outputs of counters ``c0 .. c1-1`` of every path as float64 uniforms in (0, 1),
    each ``(len(paths), c1 - c0)``."""
    c = torch.arange(c0, c1, dtype=torch.int64, device=paths.device)[None]
    i = paths.reshape(-1, 1).expand(-1, c.shape[1])
    out = philox4x32([i, (c & _MASK).expand_as(i), (c >> 32).expand_as(i),
                      torch.full_like(i, stream)], key)
    return [(v.to(torch.float64) + 0.5) * 2.0**-32 for v in out]


def normals(key, paths: "torch.Tensor", q0: int, q1: int, dtype) -> "torch.Tensor":
    """Standard normals ``(len(paths), q1 - q0)``: entry ``(p, q - q0)`` a function of ``(key,
    paths[p], q)`` only — output ``q % 4`` of Philox4x32-10 on the counter ``(paths[p],
    c mod 2^32, c // 2^32, 0)``, ``c = q // 4``, after Box–Muller on its outputs ``(u0, u1)``
    and ``(u2, u3)`` as uniforms ``(v + 1/2) / 2^32`` (computed in float64, then cast to
    ``dtype``).

    ``paths``: int64 on the target device; ``key``: two 32-bit ints.

    Examples
    --------
    >>> z = normals((1, 2), torch.arange(3), 0, 8, torch.float64)
    >>> tuple(z.shape), torch.equal(normals((1, 2), torch.arange(1, 2), 5, 7, torch.float64),
    ...                             z[1:2, 5:7])
    ((3, 8), True)
    """
    c_first, c_end = q0 // 4, -(-q1 // 4)
    u = _uniforms(key, paths, c_first, c_end, 0)
    z = []
    for a, b in ((u[0], u[1]), (u[2], u[3])):
        r, th = torch.sqrt(-2.0 * torch.log(a)), (2.0 * math.pi) * b
        z += [r * torch.cos(th), r * torch.sin(th)]
    flat = torch.stack(z, dim=-1).reshape(len(paths), -1)  # draw q at column q - 4 c_first
    return flat[:, q0 - 4 * c_first:q1 - 4 * c_first].to(dtype)


def uniform_pairs(key, paths: "torch.Tensor", q0: int, q1: int):
    """Two float64 uniforms in (0, 1) per draw ``q`` in ``[q0, q1)`` of every path, each
    ``(len(paths), q1 - q0)``, from the counters ``(paths[p], c mod 2^32, c // 2^32, 1)``,
    ``c = q // 2`` (module docstring); a function of ``(key, paths[p], q)`` only.

    Examples
    --------
    >>> u, w = uniform_pairs((1, 2), torch.arange(2), 3, 6)
    >>> tuple(u.shape), bool(((u > 0) & (u < 1)).all())
    ((2, 3), True)
    """
    c_first, c_end = q0 // 2, -(-q1 // 2)
    o = _uniforms(key, paths, c_first, c_end, 1)
    lo = q0 - 2 * c_first
    u = torch.stack([o[0], o[2]], dim=-1).reshape(len(paths), -1)[:, lo:lo + q1 - q0]
    w = torch.stack([o[1], o[3]], dim=-1).reshape(len(paths), -1)[:, lo:lo + q1 - q0]
    return u, w


def run_key(rng: np.random.Generator) -> tuple[int, int]:
    """The run's Philox key from a chunk's generator: its seed without the chunk index (the
    last spawn-key entry, :mod:`sdesim.engine` guarantee 1), so every chunk of a run has it."""
    ss = rng.bit_generator.seed_seq
    run = np.random.SeedSequence(ss.entropy, spawn_key=tuple(ss.spawn_key)[:-1])
    k0, k1 = run.generate_state(2, np.uint32)
    return int(k0), int(k1)
