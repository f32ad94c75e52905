"""What backends raise, and the status record through which compiled kernels report it.

- :class:`SimulationDiverged`: a state became inf/NaN (every backend, every entry point).
- :class:`NotCompilable`: a user's ``f``/``g`` or a driver that a compiled backend cannot take;
  the backend warns why and the numpy backend runs instead.
- :func:`numba_reason`: what numba's error message says went wrong, in a line.
- :data:`STATUS`: the record (numpy structured dtype, named fields) a compiled kernel writes
  instead of raising, read back by :func:`raise_shape_error` and the backend's ``run_chunk``.

Wrong shapes returned by ``f``/``g`` are reported with :meth:`sdesim.SDE.shape_error`, the one
message of every backend.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["SimulationDiverged", "NotCompilable", "ChunkRun", "STATUS", "new_status",
           "raise_shape_error", "F_CALL", "G_CALL", "numba_reason"]

#: Colour codes numba puts in its messages, and the lines that only say where it failed.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_WHERE = ("Failed in nopython mode pipeline", "During:", "File ", "^", "Rewrite", "- ")


def numba_reason(exc: Exception, words: int = 40) -> str:
    r"""What went wrong in numba's message ``exc``, as one line of at most ``words`` words:
    colour codes and the lines that only locate the failure (pipeline stage, file, caret)
    left out.

    Examples
    --------
    >>> numba_reason(TypeError("\x1b[1mFailed in nopython mode pipeline\nNo implementation "
    ...                        "of zeros\x1b[0m\nDuring: typing"))
    'No implementation of zeros'
    """
    lines = [ln.strip() for ln in _ANSI.sub("", str(exc)).splitlines()]
    text = " ".join(ln for ln in lines if ln and not ln.startswith(_WHERE))
    return " ".join(text.split()[:words])

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


class NotCompilable(Exception):
    """``f``, ``g`` or the driver is not something a compiled backend takes (a bound method, a
    callable object, a driver without a compiled sampler, ...)."""


@dataclass(frozen=True)
class ChunkRun:
    """One chunk of a run, enough to run it again alone (with the call's ``sde`` and ``x0``):
    ``sdesim.distributed.replay_chunk(sde, x0, chunk)``.

    Attributes
    ----------
    entropy : int
        The run's root entropy (the ``rng`` seed, when it was an int).
    spawn_key : tuple of int
        The chunk's spawn key (its last entry is the chunk index): the chunk's generator is
        ``Generator(PCG64(SeedSequence(entropy, spawn_key=spawn_key)))``.
    start, stop : int
        The chunk's paths ``[start, stop)`` of the run.
    h : float
        The fine step.
    n_fine : int
        Number of fine steps.
    ratios : tuple of int
        Level ``l`` steps with ``ratios[l] * h`` (coupled levels; ``(1,)`` for a plain run).
    backend : str
        The backend that ran it.
    """

    entropy: int
    spawn_key: tuple
    start: int
    stop: int
    h: float
    n_fine: int
    ratios: tuple
    backend: str


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
    chunk : ChunkRun or None
        The chunk it happened in (its seed, paths and grid), to replay it alone with
        ``sdesim.distributed.replay_chunk(sde, x0, error.chunk)``.
    step_name : str
        The step's name in the call: ``"dt"`` (an SDE) or ``"lr"`` (an SGD recursion, whose
        step is the learning rate).
    """

    def __init__(self, step: int, time: float, n_paths: int, chunk_paths: int, level_dt: float,
                 entry: str | None = None, advice: str | None = None,
                 chunk: ChunkRun | None = None, step_name: str = "dt"):
        self.step, self.time, self.n_paths, self.level_dt = step, time, n_paths, level_dt
        self.chunk_paths, self.entry, self.advice, self.chunk = chunk_paths, entry, advice, chunk
        self.step_name = step_name
        culprit = "the drift/diffusion" if step_name == "dt" else "the gradients"
        where = "" if chunk is None else (
            f" (paths {chunk.start}..{chunk.stop - 1}, seed entropy={chunk.entropy}, "
            f"spawn_key={chunk.spawn_key}: replay it alone with "
            f"sdesim.distributed.replay_chunk(sde, x0, error.chunk))")
        super().__init__(
            f"{entry + ': ' if entry else ''}simulation diverged: non-finite state at step {step} "
            f"(t = {time:.6g}, {step_name} = {level_dt:.6g}) in {n_paths} of {chunk_paths} paths "
            f"of the chunk{where}; reduce {step_name} or check {culprit} for blow-up"
            f"{', ' + advice if advice else ''}")

    def __reduce__(self):  # pickled with its fields (it crosses processes: Dask, torchrun)
        return SimulationDiverged, (self.step, self.time, self.n_paths, self.chunk_paths,
                                    self.level_dt, self.entry, self.advice, self.chunk,
                                    self.step_name)

    def in_call(self, entry: str, advice: str) -> "SimulationDiverged":
        """The same error as raised by the public function ``entry``, with ``advice`` that fits
        that call (e.g. how to see the paths)."""
        both = advice if not self.advice else f"{self.advice}; {advice}"
        return SimulationDiverged(self.step, self.time, self.n_paths, self.chunk_paths,
                                  self.level_dt, entry, both, self.chunk, self.step_name)

    def in_chunk(self, chunk: ChunkRun) -> "SimulationDiverged":
        """The same error, naming the chunk it happened in."""
        return SimulationDiverged(self.step, self.time, self.n_paths, self.chunk_paths,
                                  self.level_dt, self.entry, self.advice, chunk, self.step_name)
