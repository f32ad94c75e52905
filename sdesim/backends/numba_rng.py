"""The compiled kernels' noise: two streams behind one interface, and the increment sampler.

A kernel draws from ``rng``: either the chunk's numpy ``Generator`` (numpy's stream, bit for bit
the draws of :meth:`sdesim.drivers.Driver.increments`) or a xoshiro256++ state array seeded from
it (:mod:`.xoshiro`, 4–5× cheaper per normal), whose words live in a local tuple ``s`` between
:func:`open_stream` and :func:`close_stream`. Which one is resolved when the kernel compiles
(``@overload``), so one kernel source serves both backends ``"numba"`` and
``"numba-numpy-rng"``.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba.core import types
from numba.extending import overload

from . import xoshiro
from .encoding import BROWNIAN
from .stable_cms import cauchy_block, cms_block

__all__ = ["open_stream", "close_stream", "draw_normal", "draw_uniform", "draw_exponential",
           "fill", "stream_for"]


def open_stream(rng):
    """The local stream state of ``rng`` (compiled code only)."""


def close_stream(rng, s):
    """Write the local state ``s`` back into ``rng`` (compiled code only)."""


def draw_normal(rng, s):
    """``(standard normal, s)`` (compiled code only)."""


def draw_uniform(rng, s):
    """``(uniform on [0, 1), s)`` (compiled code only)."""


def draw_exponential(rng, s):
    """``(standard exponential, s)`` (compiled code only)."""


def _is_state(rng) -> bool:
    return isinstance(rng, types.Array)


@overload(open_stream, inline="always")
def _open_impl(rng):
    return (lambda rng: xoshiro.load(rng)) if _is_state(rng) else (lambda rng: 0)


@overload(close_stream, inline="always")
def _close_impl(rng, s):
    return (lambda rng, s: xoshiro.store(rng, s)) if _is_state(rng) else (lambda rng, s: None)


@overload(draw_normal, inline="always")
def _normal_impl(rng, s):
    if _is_state(rng):
        return lambda rng, s: xoshiro.normal(s)
    return lambda rng, s: (rng.standard_normal(), s)


@overload(draw_uniform, inline="always")
def _uniform_impl(rng, s):
    if _is_state(rng):
        return lambda rng, s: xoshiro.uniform(s)
    return lambda rng, s: (rng.random(), s)


@overload(draw_exponential, inline="always")
def _exponential_impl(rng, s):
    if _is_state(rng):
        return lambda rng, s: xoshiro.exponential(s)
    return lambda rng, s: (rng.standard_exponential(), s)


def stream_for(rng: np.random.Generator, numpy_rng: bool):
    """What a kernel draws from for the chunk generator ``rng``: ``rng`` itself when
    ``numpy_rng``, else a xoshiro256++ state seeded from it (:func:`.xoshiro.seed_state`)."""
    return rng if numpy_rng else xoshiro.seed_state(rng)


@numba.njit(nogil=True, cache=True)
def fill(code, rng, buf, h, alpha, scale, work):
    """Increments over a step ``h`` into ``buf`` ``(n, m)``, drawn from ``rng``: a numpy
    ``Generator`` (then exactly the draws of ``Driver.increments``, in its order) or a
    xoshiro256++ state array (updated in place). ``(code, alpha, scale)``: the driver's
    :func:`.encoding.driver_encoding`. ``work``: scratch of shape ``(m + 3, >= n)`` for the
    α-stable transform (allocated once by the caller, not at every step)."""
    n, m = buf.shape
    s = open_stream(rng)
    if code == BROWNIAN:
        sq = math.sqrt(h)
        for i in range(n):
            for j in range(m):
                z, s = draw_normal(rng, s)
                buf[i, j] = z * sq
    else:
        # CMS: all uniforms, then all exponentials (numpy's order; row j of work holds noise
        # coordinate j's), then the vectorised transform column by column (one α per
        # noise coordinate)
        for i in range(n):
            for j in range(m):
                u, s = draw_uniform(rng, s)
                buf[i, j] = (u - 0.5) * math.pi
        for i in range(n):
            for j in range(m):
                work[j, i], s = draw_exponential(rng, s)
        vc, oc, tmp = work[m, :n], work[m + 1, :n], work[m + 2, :n]
        for j in range(m):
            a = alpha[j]
            for i in range(n):
                vc[i] = buf[i, j]
            if a == 1.0:
                cauchy_block(vc, oc, scale[j] * h)
            else:
                cms_block(vc, work[j, :n], oc, a, scale[j] * h ** (1.0 / a), tmp)
            for i in range(n):
                buf[i, j] = oc[i]
    close_stream(rng, s)
