"""The ``executor=`` argument of sdesim's chunked calls, resolved to an engine executor."""
from __future__ import annotations

from ..engine import Executor, Serial, Threads, default_threads, executor_for
from .._validate import thread_count

__all__ = ["resolve_executor", "EXECUTOR_NAMES"]

EXECUTOR_NAMES = ("serial", "threads", "dask", "torch.distributed")
_ADDRESS_SCHEMES = ("tcp://", "tls://", "inproc://", "ucx://", "ws://", "wss://")


def resolve_executor(executor, parallel: bool, n_threads: int | None = None) -> Executor:
    """The :class:`~sdesim.engine.Executor` of a call's ``executor=`` argument.

    Parameters
    ----------
    executor : None, str, Executor or distributed.Client
        ``None``: threads when ``parallel`` (kernels that release the GIL), else serial;
        ``"serial"``; ``"threads"`` (``n_threads`` of them, default all cores); ``"dask"``
        (the current Dask client, else a local cluster of processes); a scheduler address
        ``"tcp://host:port"``; a ``distributed.Client``; ``"torch.distributed"`` (the ranks of
        the initialised default process group); or an ``Executor`` object.
    parallel : bool
        Whether the backend's chunks may run on threads (used when ``executor`` is None).
    n_threads : int, optional
        Checked in every case; used by the thread executors.

    Raises
    ------
    ValueError
        An unknown name; ``n_threads`` out of range.
    TypeError
        ``executor`` of another type.

    Examples
    --------
    >>> resolve_executor(None, True, 2), resolve_executor("serial", True)
    (Threads(2), Serial())
    """
    n = thread_count(n_threads)
    if executor is None:
        return executor_for(parallel, n)
    if isinstance(executor, Executor):
        return executor
    if type(executor).__module__.split(".")[0] == "distributed":
        from .dask_executor import DaskExecutor
        return DaskExecutor(executor)
    if not isinstance(executor, str):
        raise TypeError(f"executor must be None, one of {EXECUTOR_NAMES}, a scheduler address, "
                        f"a distributed.Client or an sdesim.engine.Executor, got "
                        f"{type(executor).__name__}")
    if executor == "serial":
        return Serial()
    if executor == "threads":
        return Threads(n or default_threads())
    if executor == "dask" or executor.startswith(_ADDRESS_SCHEMES):
        from .dask_executor import DaskExecutor
        return DaskExecutor.connect(None if executor == "dask" else executor)
    if executor == "torch.distributed":
        from ..torch.distributed import TorchDistributed
        return TorchDistributed()
    raise ValueError(f"executor must be one of {EXECUTOR_NAMES} or a scheduler address like "
                     f"'tcp://host:8786', got {executor!r}")
