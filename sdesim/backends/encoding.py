"""Kernel encodings of the laws: a :class:`~sdesim.drivers.Driver` as the compiled samplers see it.

Drivers describe laws (:mod:`sdesim.drivers`); the compiled kernels take a driver as a code and
two per-coordinate arrays (:func:`driver_encoding`), the sampler of
:func:`.numba_rng.fill` switching on the code.
"""
from __future__ import annotations

import numpy as np

from ..drivers import Brownian, Driver, Stable
from .errors import NotCompilable

__all__ = ["BROWNIAN", "STABLE", "driver_encoding", "DRIVER_ADVICE"]

#: What to do when a driver has no compiled sampler (for the fallback warning).
DRIVER_ADVICE = ("Use sdesim.Brownian() or sdesim.Stable(alpha) to run on the numba backends, or "
                 "backend='numpy' to keep this driver without the warning.")

BROWNIAN, STABLE = 0, 1


def driver_encoding(driver: Driver, m: int) -> tuple[int, np.ndarray, np.ndarray]:
    """``(code, alpha, scale)`` of ``driver`` for ``m`` noise coordinates.

    ``alpha`` and ``scale`` have shape ``(m,)``: the stability index and scale of each
    coordinate for :class:`~sdesim.drivers.Stable` (code :data:`STABLE`), placeholders
    ``(2, 1)`` for :class:`~sdesim.drivers.Brownian` (code :data:`BROWNIAN`).

    Raises
    ------
    NotCompilable
        A driver the compiled samplers do not know: a user's :class:`Driver` subclass (of
        ``Brownian`` and ``Stable`` too: its ``increments`` may differ).
    """
    if type(driver) is Stable:
        alpha, scale = driver.per_coordinate(m)
        return STABLE, alpha, scale
    if type(driver) is Brownian:
        return BROWNIAN, np.full(m, 2.0), np.ones(m)
    raise NotCompilable(f"the driver {type(driver).__name__} ({driver!r}) has no compiled sampler "
                        f"(Brownian() and Stable(alpha) have; a Driver subclass runs on numpy, "
                        f"where its increments() is called)")
