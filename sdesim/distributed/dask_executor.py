"""Chunks as Dask tasks: a ``LocalCluster`` of processes, or any running Dask cluster.

A run is cut into chunks by the engine (:func:`sdesim.engine.run_chunks`); here consecutive
chunks are grouped into about ``tasks_per_thread`` tasks per worker thread (so the per-task
cost of Dask, about a millisecond, is spread over many chunks), each task returns the list of
its chunks' results (a per-chunk accumulator, not paths, for estimates), and the results are
yielded in chunk order whatever order tasks finish in. The chunk task itself is sent to the
cluster once per run, as a Dask task of its own that every chunk task depends on: a worker
deserialises it once, and a worker lost with it is recovered by Dask recomputing it.

Everything about placement, retries and lost workers is Dask's: a worker that dies mid-run has
its tasks rerun elsewhere (up to ``distributed.scheduler.allowed-failures`` times), and since a
chunk's result is a function of its seed alone the answer is bitwise the same. An exception
in a chunk (e.g. :class:`~sdesim.SimulationDiverged`, which names the chunk's seed) fails the
call with that exception.

Workers need sdesim importable and the user's ``f``, ``g`` and ``phi`` (pickled with
cloudpickle, so lambdas and closures travel); compiled kernels are loaded from numba's disk
cache, or compiled, once per worker process and run.
"""
from __future__ import annotations

import multiprocessing
import os
from typing import Callable, Iterator

import distributed

from ..engine import Executor

__all__ = ["DaskExecutor", "local_client"]

_CLIENTS: dict = {}  # one Client per scheduler address, and one on the session's LocalCluster
_MAIN_GUARD = ("executor='dask' starts worker processes, and each new process imports your "
               "script's main module again (Python's multiprocessing rule): in a script, put the "
               "sdesim calls under `if __name__ == \"__main__\":`, or start a cluster yourself "
               "and pass executor=distributed.Client(...)")


def local_client(n_workers: int | None = None) -> "distributed.Client":
    """A client of this session's ``LocalCluster`` of ``n_workers`` single-threaded worker
    processes (default: one per core), started on first use and shut down at exit."""
    n = n_workers or os.cpu_count() or 1
    client = _CLIENTS.get(("local", n))
    if client is None or client.status != "running":
        if multiprocessing.parent_process() is not None:  # a worker re-running the main module
            raise RuntimeError(_MAIN_GUARD)
        try:
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1,
                                               processes=True, dashboard_address=None)
        except RuntimeError as exc:
            raise RuntimeError(f"could not start a Dask LocalCluster ({exc}); {_MAIN_GUARD}") \
                from exc
        client = _CLIENTS[("local", n)] = distributed.Client(cluster, set_as_default=False)
    return client


def _identity(x):
    return x


def _run_tasks(fn: Callable[[int], object], lo: int, hi: int) -> list:
    """``[fn(lo), ..., fn(hi - 1)]``: one Dask task, a run of consecutive chunks."""
    return [fn(c) for c in range(lo, hi)]


class DaskExecutor(Executor):
    """Chunks on a Dask cluster (``distributed``), results in chunk order.

    Parameters
    ----------
    client : distributed.Client, optional
        The cluster to run on; default :func:`local_client`.
    tasks_per_thread : int
        Tasks per worker thread in a run (consecutive chunks are grouped): enough for load
        balancing and for a lost worker to cost little, few enough that Dask's per-task cost
        does not show.

    Examples
    --------
    >>> import sdesim
    >>> from distributed import Client, LocalCluster
    >>> cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
    ...                        dashboard_address=None)
    >>> client = Client(cluster)
    >>> ex = DaskExecutor(client)
    >>> est = sdesim.expectation(sdesim.gbm(0.5, 0.4), 1.0, lambda x: x[:, 0], T=1.0, dt=0.01,
    ...                          n_paths=20_000, rng=1, quiet=True, executor=ex)
    >>> ref = sdesim.expectation(sdesim.gbm(0.5, 0.4), 1.0, lambda x: x[:, 0], T=1.0, dt=0.01,
    ...                          n_paths=20_000, rng=1, quiet=True)
    >>> bool(est.mean == ref.mean)
    True
    >>> client.close(); cluster.close()
    """

    remote = True

    def __init__(self, client: "distributed.Client | None" = None, tasks_per_thread: int = 8):
        if client is not None and not isinstance(client, distributed.Client):
            raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
        self._client = client
        self.tasks_per_thread = int(tasks_per_thread)

    @classmethod
    def connect(cls, address: str | None = None) -> "DaskExecutor":
        """On the scheduler at ``address``; without one, on the current (default) Dask client
        if there is one, else on :func:`local_client`."""
        if address is None:
            try:
                return cls(distributed.default_client())
            except ValueError:  # no client in this session
                return cls(local_client())
        client = _CLIENTS.get(address)
        if client is None or client.status != "running":
            client = _CLIENTS[address] = distributed.Client(address, set_as_default=False)
        return cls(client)

    @property
    def client(self) -> "distributed.Client":
        if self._client is None:
            self._client = local_client()
        return self._client

    def map_ordered(self, fn, n_tasks, done=None) -> Iterator:
        if n_tasks == 0:
            return
        client = self.client
        threads = max(1, sum(client.nthreads().values()))
        per = max(1, -(-n_tasks // (self.tasks_per_thread * threads)))
        bounds = [(lo, min(lo + per, n_tasks)) for lo in range(0, n_tasks, per)]
        shared = client.submit(_identity, fn, pure=False)
        futures = []
        for lo, hi in bounds:
            fut = client.submit(_run_tasks, shared, lo, hi, pure=False)
            if done is not None:
                fut.add_done_callback(_reporter(done, lo, hi))
            futures.append(fut)
        try:
            for fut in futures:
                results = fut.result()
                fut.release()
                yield from results
        finally:  # on an error or an abandoned run, tasks not yet run never run
            client.cancel(futures + [shared])

    def __repr__(self) -> str:
        return f"DaskExecutor({self._client!r})"


def _reporter(done: Callable[[int], None], lo: int, hi: int):
    def report(fut) -> None:
        if fut.status == "finished":
            for c in range(lo, hi):
                done(c)
    return report
