"""The backend contract.

A backend provides ``run_chunk(sde, x0, h, n_fine, ratios, save_steps, rng)``:

- ``x0``: ``(n, d)`` initial states of one chunk of paths;
- ``h``: the fine step; ``n_fine``: number of fine steps;
- ``ratios``: ``(L,)`` ints; level ``l`` steps with ``ratios[l] * h`` and is driven by the sums
  of the fine increments it contains (coupled grids; a plain run is ``ratios = (1,)``);
- ``save_steps``: sorted fine-step indices (multiples of every ratio) at which to save;
- ``rng``: the chunk's ``numpy.random.Generator``; increments are drawn per fine step as one
  ``(n, m)`` block in row-major order, so backends that share the generator share the noise.

It returns an array ``(L, len(save_steps), n, d)`` and raises :class:`SimulationDiverged` when a
state becomes non-finite.
"""
from __future__ import annotations

__all__ = ["SimulationDiverged", "get_backend", "BACKENDS"]

BACKENDS = ("numpy", "numba", "numba-numpy-rng")


class SimulationDiverged(FloatingPointError):
    """A simulated state became inf/NaN.

    Attributes
    ----------
    step : int
        Index of the (level) step that produced the first non-finite state (1-based).
    time : float
        Time at the end of that step.
    n_paths : int
        Number of paths non-finite after that step (in the chunk where it happened).
    level_dt : float
        Step size of the grid on which it happened.
    """

    def __init__(self, step: int, time: float, n_paths: int, chunk_paths: int, level_dt: float):
        self.step, self.time, self.n_paths, self.level_dt = step, time, n_paths, level_dt
        super().__init__(
            f"simulation diverged: non-finite state at step {step} (t = {time:.6g}, dt = "
            f"{level_dt:.6g}) in {n_paths} of {chunk_paths} paths of the chunk; reduce dt, check "
            f"the drift/diffusion for blow-up, or pass on_nonfinite='keep' to simulate()")


def get_backend(name: str):
    """Return the backend module called ``name`` (one of :data:`BACKENDS`)."""
    if name == "numpy":
        from . import numpy_backend
        return numpy_backend
    if name == "numba":
        from . import numba_backend
        return numba_backend
    if name == "numba-numpy-rng":
        from . import numba_backend
        return numba_backend.NUMPY_RNG
    raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
