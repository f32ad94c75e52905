"""Backends step many paths at once; all share one contract (see :mod:`.common`).

- ``"numpy"``: the readable reference (:mod:`.numpy_backend`).
- ``"numba"``: compiled kernels with a fast in-kernel generator (:mod:`.xoshiro`), run over
  chunks of paths on several threads (:mod:`.numba_backend`).
- ``"numba-numpy-rng"``: the same kernels drawing from numpy's ``Generator``, for bitwise
  comparisons with ``"numpy"``.
"""
from __future__ import annotations

from .common import BACKENDS, SimulationDiverged, get_backend

__all__ = ["BACKENDS", "SimulationDiverged", "get_backend"]
