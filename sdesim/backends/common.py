"""What every backend shares to run a chunk: blocks of steps.

A chunk runs in blocks of fine steps (:func:`step_blocks`), its states carried from one block
to the next, so that progress is reported during a long chunk while the result does not depend
on the blocks. (The contract itself is :mod:`.contract`; errors and the kernels' status record
are in :mod:`.errors`.)
"""
from __future__ import annotations

from typing import Iterator

__all__ = ["step_blocks", "BLOCK_WORK"]

#: Path-dimension-steps per kernel call (:func:`step_blocks`): ~20 ms of a compiled kernel's
#: work (~0.1-0.4 s of numpy's), so a progress bar moves during a long chunk while the
#: per-call overhead (~10 µs) stays below 0.1%.
BLOCK_WORK = 2**22


def step_blocks(n_steps: int, n: int, d: int, m: int, levels: int) -> Iterator[tuple[int, int]]:
    """``(k0, k1)`` ranges covering ``range(n_steps)``, each about :data:`BLOCK_WORK`
    path-dimension-steps of ``n`` paths in dimension ``max(d, m)`` on ``levels`` levels."""
    size = max(1, BLOCK_WORK // (n * max(d, m) * levels))
    return ((k0, min(n_steps, k0 + size)) for k0 in range(0, n_steps, size))
