"""Chunks over the ranks of a ``torch.distributed`` process group: one process per GPU.

Under ``torchrun --nproc_per_node=W script.py`` every rank runs the same script; in it,
:func:`init` joins the process group (NCCL when CUDA is there, else gloo) and puts the rank on
its GPU, and ``executor=init()`` (or ``executor="torch.distributed"``) in any chunked call of
sdesim spreads the call's chunks over the ranks: rank ``r`` runs chunks ``r, r + W, r + 2W, …``,
a round of ``W`` chunks at a time, after which every rank receives every chunk's result
(``all_gather_object``: a per-chunk accumulator, not paths, for estimates) and merges them in
chunk order. So every rank returns the same estimate, bitwise the one of a serial run with the
same seed and chunk size, for any world size (docs/cluster.md). With the torch backend a
path's noise is a function of (seed, path, step) alone, so the paths are the same whatever the
chunk size or the number of GPUs; the estimate's last bits depend on the chunk size through the
order of the merge.

A chunk that fails (e.g. :class:`~sdesim.SimulationDiverged`, which names the chunk's seed)
fails the call on every rank with that error, after the round it is in.

Examples
--------
A script run with ``torchrun --nproc_per_node=2 script.py``::

    import sdesim
    from sdesim.torch.distributed import init

    ex = init()
    est = sdesim.expectation(sdesim.gbm(0.5, 0.4), 1.0, lambda x: x[:, 0], T=1.0, dt=1e-3,
                             n_paths=10**8, rng=0, backend="torch", chunk_size=2**20,
                             executor=ex, quiet=ex.rank != 0)
    if ex.rank == 0:
        print(est)
"""
from __future__ import annotations

import os
import pickle
from typing import Iterator

import torch
import torch.distributed as dist

from ..engine import Executor

__all__ = ["TorchDistributed", "init"]


def init(backend: str | None = None) -> "TorchDistributed":
    """Join the default process group from ``torchrun``'s environment (``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR``, ...), once, and return its executor.

    Parameters
    ----------
    backend : {"nccl", "gloo"}, optional
        Default NCCL when CUDA is available, else gloo. With CUDA the rank's device is
        ``cuda:LOCAL_RANK`` (``torch.cuda.set_device``), which the torch backend's default
        ``"cuda"`` then means.
    """
    if not dist.is_initialized():
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return TorchDistributed()


class TorchDistributed(Executor):
    """The ranks of an initialised ``torch.distributed`` process group as an executor (module
    docstring): rank ``r`` runs chunks ``r, r + W, …``; results are gathered and yielded in
    chunk order on every rank.

    Parameters
    ----------
    group : ProcessGroup, optional
        Default: the default group (:func:`init`).

    Raises
    ------
    RuntimeError
        No process group is initialised.
    """

    remote = True

    def __init__(self, group=None):
        if not dist.is_initialized():
            raise RuntimeError("executor='torch.distributed' needs an initialised process group: "
                               "call sdesim.torch.distributed.init() in a script run by "
                               "torchrun (or torch.distributed.init_process_group) first")
        self.group = group
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)

    def map_ordered(self, fn, n_tasks, done=None) -> Iterator:
        W = self.world_size
        for first in range(0, n_tasks, W):
            c = first + self.rank
            mine = _attempt(fn, c) if c < n_tasks else (True, None)
            gathered = [None] * W
            dist.all_gather_object(gathered, mine, group=self.group)
            count = min(W, n_tasks - first)
            for ok, value in gathered[:count]:
                if not ok:
                    raise value
            for k in range(count):
                if done is not None:
                    done(first + k)
            for ok, value in gathered[:count]:
                yield value

    def __repr__(self) -> str:
        return f"TorchDistributed(rank={self.rank}, world_size={self.world_size})"


def _attempt(fn, c: int) -> tuple:
    """``(True, fn(c))``, or ``(False, the exception)``: a failing rank still joins the gather,
    so that no rank waits forever and every rank raises the same error."""
    try:
        return True, fn(c)
    except Exception as exc:  # noqa: BLE001 - re-raised on every rank after the gather
        try:
            pickle.dumps(exc)
        except Exception:  # noqa: BLE001 - an error that cannot travel travels as its text
            exc = RuntimeError(f"chunk {c} failed on rank {dist.get_rank()}: {exc!r}")
        return False, exc
