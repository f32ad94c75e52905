"""The numba backend's fast in-kernel generator: xoshiro256++ bits, numpy's ziggurat normals.

numba can call a ``numpy.random.Generator`` inside a kernel, but every draw then goes through
the bit generator's function pointer; on this project's machines that costs 2.5–4.5 ns per
normal, about as much as numpy's vectorised ``standard_normal`` (8–9 ns) divided by the
threads. Here the generator state lives in four local ``uint64`` variables of the kernel loop
and the normal is drawn inline, about 1.7 ns per normal in the same measurement (see
``bench/``).

- Bits: xoshiro256++ (Blackman & Vigna, "Scrambled linear pseudorandom number generators",
  ACM TOMS 47(4), 2021), period 2^256 − 1; its outputs match the reference C code (tested).
- Normals: numpy's 256-layer ziggurat (``random_standard_normal`` in numpy's
  ``distributions.c``, Marsaglia & Tsang 2000) with numpy's own tables; fed the words of
  ``PCG64.random_raw`` it reproduced ``Generator(PCG64).standard_normal`` bit for bit when
  written. The tests check the law (moments, tail and wedge masses, KS) and the bit stream.
- Exponentials: numpy's ziggurat (``random_standard_exponential``) with numpy's tables.
- Uniforms on [0, 1): the top 53 bits, as numpy's ``random``.

Seeding: a chunk's state is four words drawn from that chunk's ``numpy.random.Generator``
(:func:`seed_state`), so results depend on the seed and the chunk only, never on threads.
The stream differs from numpy's, so the numba backend agrees with the numpy backend in law,
not bitwise; the backend ``"numba-numpy-rng"`` runs the same kernels on numpy's stream when a
bitwise comparison is wanted (see :mod:`sdesim.backends.numba_backend`).

Example
-------
Inside a compiled function, load the state into locals, draw, store it back:

>>> import numba, numpy as np
>>> from sdesim.backends import xoshiro
>>> @numba.njit
... def normals(state, n):
...     s = xoshiro.load(state)
...     out = np.empty(n)
...     for k in range(n):
...         out[k], s = xoshiro.normal(s)
...     xoshiro.store(state, s)
...     return out
>>> z = normals(xoshiro.seed_state(np.random.default_rng(0)), 100_000)
>>> bool(abs(z.mean()) < 0.02 and abs(z.var() - 1) < 0.02)
True
"""
from __future__ import annotations

import math

import numba
import numpy as np

# numpy's ziggurat tables, as numba ships them for its own numpy.random implementation.
from numba.np.random._constants import (fe_double, fi_double, ke_double, ki_double, we_double,
                                        wi_double, ziggurat_exp_r, ziggurat_nor_inv_r,
                                        ziggurat_nor_r)

__all__ = ["seed_state", "next_u64", "uniform", "normal", "exponential", "load", "store"]

_KI = np.asarray(ki_double, dtype=np.uint64)
_WI = np.asarray(wi_double, dtype=np.float64)
_FI = np.asarray(fi_double, dtype=np.float64)
_KE = np.asarray(ke_double, dtype=np.uint64)
_WE = np.asarray(we_double, dtype=np.float64)
_FE = np.asarray(fe_double, dtype=np.float64)
_R_EXP = float(ziggurat_exp_r)
_R = float(ziggurat_nor_r)
_INV_R = float(ziggurat_nor_inv_r)
_U = numba.uint64
_TWO_M53 = 1.0 / 9007199254740992.0


def seed_state(rng: np.random.Generator) -> np.ndarray:
    """Four state words ``(4,) uint64`` drawn from ``rng`` (never all zero)."""
    s = rng.integers(0, np.iinfo(np.uint64).max, size=4, dtype=np.uint64, endpoint=True)
    if not s.any():
        s[0] = 1
    return s


@numba.njit(inline="always")
def load(state):
    """The state array ``(4,) uint64`` as a tuple of locals."""
    return (state[0], state[1], state[2], state[3])


@numba.njit(inline="always")
def store(state, s):
    state[0], state[1], state[2], state[3] = s


@numba.njit(inline="always")
def _rotl(x, k):
    return (x << _U(k)) | (x >> _U(64 - k))


@numba.njit(inline="always")
def next_u64(s):
    """One xoshiro256++ output and the next state: ``(uint64, s)``."""
    s0, s1, s2, s3 = s
    r = _rotl(s0 + s3, 23) + s0
    t = s1 << _U(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    return r, (s0, s1, s2, s3)


@numba.njit(inline="always")
def uniform(s):
    """A uniform double on [0, 1) and the next state."""
    r, s = next_u64(s)
    return float(r >> _U(11)) * _TWO_M53, s


@numba.njit(inline="always")
def _normal_try(s):
    """One ziggurat try: ``(x, accepted, idx, rabs, s)`` (accepted 99.3 % of the time)."""
    r, s = next_u64(s)
    idx = int(r & _U(0xff))
    r >>= _U(8)
    rabs = (r >> _U(1)) & _U(0x000fffffffffffff)
    x = float(rabs) * _WI[idx]
    if r & _U(1):
        x = -x
    return x, rabs < _KI[idx], idx, rabs, s


@numba.njit
def _normal_rejected(s, idx, rabs, x):
    """numpy's wedge and tail tests after a rejected try, then new tries until one passes."""
    while True:
        if idx == 0:
            while True:
                u1, s = uniform(s)
                u2, s = uniform(s)
                xx = -_INV_R * math.log1p(-u1)
                yy = -math.log1p(-u2)
                if yy + yy > xx * xx:
                    return (-(_R + xx) if (rabs >> _U(8)) & _U(1) else _R + xx), s
        u, s = uniform(s)
        if (_FI[idx - 1] - _FI[idx]) * u + _FI[idx] < math.exp(-0.5 * x * x):
            return x, s
        x, ok, idx, rabs, s = _normal_try(s)
        if ok:
            return x, s


@numba.njit(inline="always")
def normal(s):
    """A standard normal and the next state (numpy's ziggurat on xoshiro256++ words).

    The rare rejection path is a separate, not inlined function, which keeps the fast path
    small enough for the compiler to keep the state in registers.
    """
    x, ok, idx, rabs, s = _normal_try(s)
    if ok:
        return x, s
    return _normal_rejected(s, idx, rabs, x)


@numba.njit(inline="always")
def _exponential_try(s):
    """One ziggurat try: ``(x, accepted, idx, s)`` (accepted 98.9 % of the time)."""
    r, s = next_u64(s)
    r >>= _U(3)
    idx = int(r & _U(0xff))
    r >>= _U(8)
    x = float(r) * _WE[idx]
    return x, r < _KE[idx], idx, s


@numba.njit
def _exponential_rejected(s, idx, x):
    """numpy's wedge and tail tests after a rejected try, then new tries until one passes."""
    while True:
        if idx == 0:
            u, s = uniform(s)
            return _R_EXP - math.log1p(-u), s
        u, s = uniform(s)
        if (_FE[idx - 1] - _FE[idx]) * u + _FE[idx] < math.exp(-x):
            return x, s
        x, ok, idx, s = _exponential_try(s)
        if ok:
            return x, s


@numba.njit(inline="always")
def exponential(s):
    """A standard exponential and the next state (numpy's ziggurat on xoshiro256++ words)."""
    x, ok, idx, s = _exponential_try(s)
    if ok:
        return x, s
    return _exponential_rejected(s, idx, x)
