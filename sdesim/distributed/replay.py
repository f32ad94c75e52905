"""Run one chunk of a run again, alone: the chunk a :class:`~sdesim.SimulationDiverged` names."""
from __future__ import annotations

import math

import numpy as np

from .._validate import as_finite_array
from ..backends import get_backend
from ..backends.errors import ChunkRun
from ..engine import child_generator
from ..simulate import Paths, check_sde

__all__ = ["replay_chunk"]


def replay_chunk(sde, x0, chunk: ChunkRun, *, level: int = 0) -> Paths:
    """The paths of one chunk of an earlier run, inf/NaN kept, on one machine.

    A chunk's paths are a function of its seed, its paths ``[start, stop)`` and the grid alone
    (:mod:`sdesim.engine`), so the chunk that made a large run diverge — on threads, on a Dask
    cluster, on several GPUs — can be looked at alone: the error's ``chunk`` attribute holds
    all of that (:class:`~sdesim.backends.errors.ChunkRun`, also written in the message).

    Parameters
    ----------
    sde : SDE
        The run's SDE.
    x0 : array_like ``(d,)`` or ``(n_paths, d)``
        The run's initial state(s): shared, or per path (rows ``[start, stop)`` are taken).
    chunk : ChunkRun
        ``error.chunk`` of the :class:`~sdesim.SimulationDiverged`.
    level : int
        Which coupled grid to return (index into ``chunk.ratios``; a plain run has one).

    Returns
    -------
    Paths
        ``ts`` ``(S,)``, ``xs`` ``(S, stop - start, d)``: the level's states at every step of
        the coarsest grid of the run, non-finite states kept.

    Raises
    ------
    ValueError
        ``x0`` of a wrong shape or with fewer rows than ``chunk.stop``; ``level`` out of range.

    Examples
    --------
    >>> import numpy as np, sdesim
    >>> sde = sdesim.SDE(lambda t, x: x * x, lambda t, x: 0.1 * x, d=1)
    >>> x0 = np.r_[np.zeros(150), np.full(50, 30.0)][:, None]
    >>> try:
    ...     sdesim.expectation(sde, x0, lambda x: x[:, 0], T=1.0, dt=0.01, n_paths=200,
    ...                        chunk_size=50, backend="numpy", rng=0, quiet=True)
    ... except sdesim.SimulationDiverged as err:
    ...     error = err
    >>> error.chunk.start, error.chunk.stop
    (150, 200)
    >>> bool(np.isfinite(replay_chunk(sde, x0, error.chunk).xs[-1]).any())
    False

    References
    ----------
    docs/cluster.md (replaying a chunk).
    """
    sde = check_sde(sde)
    if not isinstance(chunk, ChunkRun):
        raise TypeError(f"chunk must be the ChunkRun of a SimulationDiverged (error.chunk), "
                        f"got {type(chunk).__name__}")
    if not 0 <= level < len(chunk.ratios):
        raise ValueError(f"level must be in [0, {len(chunk.ratios)}) for ratios "
                         f"{chunk.ratios}, got {level}")
    n, d = chunk.stop - chunk.start, sde.d
    x = as_finite_array(x0, "x0", ndim=(0, 1, 2))
    if x.ndim == 2:
        if x.shape[1] != d or x.shape[0] < chunk.stop:
            raise ValueError(f"x0 must have shape ({d},) or (n_paths >= {chunk.stop}, {d}) as "
                             f"in the run, got {x.shape}")
        rows = np.array(x[chunk.start:chunk.stop], dtype=float)
    else:
        if x.size != d:
            raise ValueError(f"x0 must have shape ({d},) or (n_paths, {d}), got {x.shape}")
        rows = np.repeat(x.reshape(1, d).astype(float), n, axis=0)
    every = math.lcm(*chunk.ratios)
    save_steps = np.arange(0, chunk.n_fine + 1, every)
    module = get_backend(chunk.backend)
    rng = child_generator(np.random.SeedSequence(chunk.entropy), *chunk.spawn_key)
    at = {"path_start": chunk.start} if module.counter_based else {}
    out = module.run_chunk(sde, rows, chunk.h, chunk.n_fine, chunk.ratios, save_steps, rng,
                           True, **at)
    return Paths(save_steps * chunk.h, out[level])
