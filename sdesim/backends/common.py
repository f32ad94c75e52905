"""The backend contract.

A backend provides ``run_chunk(sde, x0, h, n_fine, ratios, save_steps, rng, keep_nonfinite=False,
progress=None)``:

- ``x0``: ``(n, d)`` initial states of one chunk of paths;
- ``h``: the fine step; ``n_fine``: number of fine steps;
- ``ratios``: ``(L,)`` ints; level ``l`` steps with ``ratios[l] * h`` and is driven by the sums
  of the fine increments it contains (coupled grids; a plain run is ``ratios = (1,)``);
- ``save_steps``: sorted fine-step indices (multiples of every ratio) at which to save;
- ``rng``: the chunk's ``numpy.random.Generator``; increments are drawn per fine step as one
  ``(n, m)`` block in row-major order, so backends that share the generator share the noise;
- ``progress``: called with the number of path-steps done after every block of
  :func:`step_blocks` (so a long chunk reports as it goes; results do not depend on blocks).

It returns an array ``(L, len(save_steps), n, d)``, raises :meth:`sdesim.SDE.shape_error` when
``f`` or ``g`` returns a wrong shape (checked at every call) and :class:`SimulationDiverged`
when a state becomes non-finite.

Compiled kernels report to the Python side through a :data:`STATUS` record (:func:`new_status`).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

__all__ = ["SimulationDiverged", "get_backend", "BACKENDS", "STATUS", "new_status",
           "raise_shape_error", "step_blocks", "BLOCK_WORK", "F_CALL", "G_CALL"]

BACKENDS = ("numpy", "numba", "numba-numpy-rng")

#: What a compiled kernel reports, one record per chunk (``status[0]``):
STATUS = np.dtype([
    ("step", np.int64),    # (level) step of the first non-finite state; -1 while there is none
    ("n_bad", np.int64),   # paths non-finite after that step
    ("level", np.int64),   # level on which it happened
    ("keep", np.bool_),    # keep stepping after a non-finite state (else stop there)
    ("saved", np.int64),   # save_steps written so far (carried from one block to the next)
    ("call", np.int64),    # the user function that returned a wrong shape: 0, F_CALL or G_CALL
    ("rows", np.int64),    # rows of x at that call
    ("ndim", np.int64),    # number of axes it returned
    ("shape", np.int64, (3,)),  # the first (up to 3) of them
])
F_CALL, G_CALL = 1, 2

#: Path-dimension-steps per kernel call (:func:`step_blocks`): ~20 ms of a compiled kernel's
#: work (~0.1-0.4 s of numpy's), so a progress bar moves during a long chunk while the
#: per-call overhead (~10 µs) stays below 0.1%.
BLOCK_WORK = 2**22


def new_status(keep: bool = False) -> np.ndarray:
    """A fresh :data:`STATUS` record array of length 1 (no divergence, no shape error)."""
    status = np.zeros(1, dtype=STATUS)
    status["step"] = -1
    status["keep"] = keep
    return status


def raise_shape_error(status: np.ndarray, sde) -> None:
    """Raise ``sde.shape_error`` when a kernel recorded a wrong shape in ``status``."""
    st = status[0]
    if st["call"]:
        got = tuple(int(v) for v in st["shape"][:st["ndim"]])
        raise sde.shape_error("f" if st["call"] == F_CALL else "g", int(st["rows"]), got)


def step_blocks(n_steps: int, n: int, d: int, m: int, levels: int) -> Iterator[tuple[int, int]]:
    """``(k0, k1)`` ranges covering ``range(n_steps)``, each about :data:`BLOCK_WORK`
    path-dimension-steps of ``n`` paths in dimension ``max(d, m)`` on ``levels`` levels."""
    size = max(1, BLOCK_WORK // (n * max(d, m) * levels))
    return ((k0, min(n_steps, k0 + size)) for k0 in range(0, n_steps, size))


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
    entry : str or None
        The public function that raised it (``"simulate"``, ``"expectation"``, ...).
    advice : str or None
        What to do about it in that call, besides reducing ``dt``.
    """

    def __init__(self, step: int, time: float, n_paths: int, chunk_paths: int, level_dt: float,
                 entry: str | None = None, advice: str | None = None):
        self.step, self.time, self.n_paths, self.level_dt = step, time, n_paths, level_dt
        self.chunk_paths, self.entry, self.advice = chunk_paths, entry, advice
        super().__init__(
            f"{entry + ': ' if entry else ''}simulation diverged: non-finite state at step {step} "
            f"(t = {time:.6g}, dt = {level_dt:.6g}) in {n_paths} of {chunk_paths} paths of the "
            f"chunk; reduce dt or check the drift/diffusion for blow-up"
            f"{', ' + advice if advice else ''}")

    def in_call(self, entry: str, advice: str) -> "SimulationDiverged":
        """The same error as raised by the public function ``entry``, with ``advice`` that fits
        that call (e.g. how to see the paths)."""
        return SimulationDiverged(self.step, self.time, self.n_paths, self.chunk_paths,
                                  self.level_dt, entry, advice)


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
