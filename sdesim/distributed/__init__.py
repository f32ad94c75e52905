"""Scale-out: the same Monte-Carlo call on threads, on a Dask cluster or on several
torch.distributed ranks, with the same answer bit for bit.

Every chunked call of sdesim takes ``executor=``; :func:`resolve_executor` turns it into an
:class:`sdesim.engine.Executor`:

- ``None``: the default (threads for backends whose kernels release the GIL, else serial);
- ``"serial"``, ``"threads"``, or an :class:`~sdesim.engine.Executor` object;
- ``"dask"``: the current Dask client if there is one, else a ``LocalCluster`` of one
  single-threaded worker process per core, started once per session
  (:class:`~.dask_executor.DaskExecutor`); a ``distributed.Client`` or a scheduler address
  (``"tcp://host:8786"``) joins a running cluster;
- ``"torch.distributed"``: the ranks of the initialised default process group, one process per
  GPU under ``torchrun`` (:mod:`sdesim.torch.distributed`).

A chunk's result is a function of the seed, the chunk size and the chunk index only, and chunks
are reduced in the task and merged in chunk order (:mod:`sdesim.engine`), so the executor never
changes an estimate. A chunk that diverges fails the call with its seed named
(:class:`~sdesim.backends.errors.ChunkRun`); :func:`replay_chunk` runs it again alone.
docs/cluster.md is the guide.
"""
from .executors import EXECUTOR_NAMES, resolve_executor

__all__ = ["resolve_executor", "EXECUTOR_NAMES", "DaskExecutor", "replay_chunk"]

_LAZY = {"DaskExecutor": "dask_executor", "replay_chunk": "replay"}  # dask: an optional extra


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'sdesim.distributed' has no attribute {name!r}")
