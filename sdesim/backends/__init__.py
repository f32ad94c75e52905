"""Backends step many paths at once; all share one contract (see :mod:`.common`).

- ``"numpy"``: the readable reference (:mod:`.numpy_backend`).
- ``"numba"``: compiled kernels with an in-kernel generator, run over chunks of paths on
  several threads (:mod:`.numba_backend`).
"""
from __future__ import annotations

from .common import BACKENDS, SimulationDiverged, get_backend

__all__ = ["BACKENDS", "SimulationDiverged", "get_backend"]
