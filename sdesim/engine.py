"""The chunk engine: a root seed, chunks of work with their own child seeds, an executor, results
in chunk order.

Every Monte-Carlo loop of sdesim runs through :func:`run_chunks`. The guarantees live here, once:

1. **Seeding.** Chunk ``c`` (of work under the key ``key``) draws from its own generator
   ``Generator(PCG64(SeedSequence(entropy, spawn_key + key + (c,))))`` of the root seed
   (:func:`root_seed`, :func:`child_generator`). A chunk's result is therefore a function of the
   root seed, the key, the chunk index and the chunk's items only.
2. **Order.** Results come back in chunk order whatever order chunks finish in, so whatever is
   merged from them (streaming moments, saved paths) is the same for any executor and any
   number of threads or workers: a result depends on the seed and the chunk size, never on how
   the work was spread.
3. **Bounded memory.** At most a window of ``2 × workers`` chunk results is alive at a time
   in this process (a Dask cluster keeps finished tasks' results on its workers until they are
   merged: a few numbers per chunk for an estimate).
4. **Any process.** A task is a function of its chunk alone, so it may run in another process
   (a Dask worker, a torch.distributed rank): there the task is pickled (cloudpickle: lambdas
   travel) and progress is counted as chunks complete (:attr:`Executor.remote`).
   Reductions happen in the task (a chunk returns, e.g., its
   :class:`~sdesim.stats.MomentAccumulator`, not its paths) and are merged in chunk order, the
   same arithmetic in every executor, so estimates are bitwise the same on one thread, on
   threads, on a Dask cluster and on several torch.distributed ranks.

An executor is a small object with one method, :meth:`Executor.map_ordered`. Two ship here:
:class:`Serial` and :class:`Threads` (for kernels that release the GIL); the Dask and
torch.distributed ones are in :mod:`sdesim.distributed` and :mod:`sdesim.torch.distributed`.

Examples
--------
>>> import numpy as np
>>> seed = root_seed(0)
>>> def task(chunk):
...     return chunk.rng.standard_normal(chunk.stop - chunk.start).sum()
>>> serial = list(run_chunks(task, 10, 4, seed, executor=Serial()))
>>> threads = list(run_chunks(task, 10, 4, seed, executor=Threads(2)))
>>> serial == threads, len(serial)
(True, 3)
"""
from __future__ import annotations

import os
import threading
import time
import warnings
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterator, TypeVar

import numpy as np

from ._validate import positive_int, thread_count

__all__ = ["Chunk", "Executor", "Serial", "Threads", "Progress", "SharedRows", "root_seed",
           "child_generator", "default_threads", "executor_for", "run_chunks", "ETA_WARN_S",
           "ETA_WINDOW_S"]

R = TypeVar("R")

#: A run whose measured rate predicts more than this many seconds still to go warns (once),
#: the rate being measured over ETA_WINDOW_S seconds after its first unit of reported work.
ETA_WARN_S = 120.0
ETA_WINDOW_S = 0.5


def root_seed(rng) -> np.random.SeedSequence:
    """The root ``SeedSequence`` of a run from ``rng``.

    Parameters
    ----------
    rng : int >= 0, numpy.random.Generator, numpy.random.SeedSequence or None
        An int is the seed; a ``Generator`` gives one draw of entropy (so a run advances it);
        ``None`` takes fresh entropy from the OS.

    Raises
    ------
    TypeError
        ``rng`` of another type (floats and strings included).
    ValueError
        A negative int.
    """
    if rng is None:
        return np.random.SeedSequence()
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, np.random.Generator):
        return np.random.SeedSequence(int(rng.integers(2**63)))
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0:
            raise ValueError(f"rng must be a non-negative int seed, got {int(rng)}")
        return np.random.SeedSequence(int(rng))
    raise TypeError(f"rng must be an int seed >= 0, numpy Generator, SeedSequence or None, "
                    f"got {type(rng).__name__} {rng!r}")


def child_generator(seed: np.random.SeedSequence, *key: int) -> np.random.Generator:
    """The generator of the child ``key`` of ``seed`` (``spawn_key + key``), as numpy spawns it."""
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + key)))


@dataclass(frozen=True)
class Chunk:
    """One chunk of work: items ``[start, stop)``, its index and its own generator.

    ``report(work)``, when not None, reports units of work done as the chunk runs (the run's
    :class:`Progress`); it is None when the executor is remote (progress is then counted per
    finished chunk).
    """

    index: int
    start: int
    stop: int
    rng: np.random.Generator
    report: Callable[[int], None] | None = None

    @property
    def seed(self) -> np.random.SeedSequence:
        """The chunk's own ``SeedSequence`` (entropy and spawn key): replaying the chunk alone
        needs only this and ``[start, stop)``."""
        return self.rng.bit_generator.seed_seq


class Executor(ABC):
    """Runs chunk tasks; yields their results in task order.

    Attributes
    ----------
    remote : bool
        Tasks run in other processes (or their results come from there): they report no
        progress as they run; the caller counts a task's work when ``done`` is called.
    """

    remote = False

    @abstractmethod
    def map_ordered(self, fn: Callable[[int], R], n_tasks: int,
                    done: Callable[[int], None] | None = None) -> Iterator[R]:
        """``fn(0), fn(1), …, fn(n_tasks - 1)``, yielded in that order; ``done(c)``, if given,
        is called once task ``c`` has finished, in the order tasks finish (possibly from
        another thread)."""


class Serial(Executor):
    """One chunk after another in the calling thread."""

    def map_ordered(self, fn, n_tasks, done=None):
        for c in range(n_tasks):
            res = fn(c)
            if done is not None:
                done(c)
            yield res

    def __repr__(self) -> str:
        return "Serial()"


class Threads(Executor):
    """Chunks on a pool of ``n_threads`` threads (for work that releases the GIL), a bounded
    window of ``2 n_threads`` chunks in flight, results in order."""

    def __init__(self, n_threads: int):
        self.n_threads = positive_int(n_threads, "n_threads")

    def map_ordered(self, fn, n_tasks, done=None):
        if self.n_threads == 1 or n_tasks <= 1:
            yield from Serial().map_ordered(fn, n_tasks, done)
            return
        window = 2 * self.n_threads
        pool = _pool(self.n_threads)

        def submit(c):
            fut = pool.submit(fn, c)
            if done is not None:
                fut.add_done_callback(
                    lambda f: not f.cancelled() and f.exception() is None and done(c))
            return fut

        pending = [submit(c) for c in range(min(window, n_tasks))]
        nxt = len(pending)
        try:
            while pending:
                res = pending.pop(0).result()
                if nxt < n_tasks:
                    pending.append(submit(nxt))
                    nxt += 1
                yield res
        finally:  # on an error or an abandoned run, chunks not yet started never start
            for fut in pending:
                fut.cancel()

    def __repr__(self) -> str:
        return f"Threads({self.n_threads})"


@lru_cache(maxsize=4)
def _pool(n_threads: int) -> ThreadPoolExecutor:
    """A persistent pool of ``n_threads`` workers (starting one costs ~0.5 ms a call)."""
    return ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="sdesim")


def default_threads() -> int:
    """Threads used when ``n_threads`` is not given: ``NUMBA_NUM_THREADS`` or all cores."""
    return int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1))


def executor_for(parallel: bool, n_threads: int | None) -> Executor:
    """:class:`Threads` for work that releases the GIL (``parallel``), else :class:`Serial`.

    ``n_threads`` is checked (an int in ``[1, MAX_THREADS]`` or None for :func:`default_threads`).
    """
    n = thread_count(n_threads)
    if not parallel:
        return Serial()
    return Threads(n or default_threads())


def run_chunks(task: Callable[[Chunk], R], n_items: int, chunk_size: int,
               seed: np.random.SeedSequence, *, key: tuple = (), executor: Executor | None = None,
               progress: "Progress | None" = None, units: int = 1) -> Iterator[R]:
    """Cut ``n_items`` into chunks of ``chunk_size``, run ``task`` on each, yield in chunk order.

    Parameters
    ----------
    task : callable ``task(chunk) -> result``
        Receives a :class:`Chunk` (its items ``[start, stop)`` and its own generator).
    n_items : int
        Number of items (paths, samples, batches) to cover.
    chunk_size : int
        Items per chunk (the last chunk may be shorter). Results depend on it.
    seed : numpy.random.SeedSequence
        The root seed (:func:`root_seed`).
    key : tuple of int
        Extra spawn-key entries before the chunk index, for independent streams of one seed.
    executor : Executor, optional
        Default :class:`Serial`. A remote one pickles ``task`` (with cloudpickle).
    progress : Progress, optional
        The run's progress: tasks report through ``chunk.report`` as they go (in this
        process), or ``units`` per item of a chunk is counted when a remote chunk completes.
    units : int
        Units of ``progress`` per item (e.g. steps per path).

    Yields
    ------
    The results of ``task``, in chunk order.
    """
    n_chunks = -(-n_items // chunk_size)
    key = tuple(int(k) for k in key)
    executor = executor or Serial()
    report = progress.update if progress is not None and not executor.remote else None

    def one(c: int):
        start = c * chunk_size
        return task(Chunk(c, start, min(start + chunk_size, n_items),
                          child_generator(seed, *key, c), report))

    def done(c: int) -> None:
        progress.update(units * (min((c + 1) * chunk_size, n_items) - c * chunk_size))

    remote_progress = progress is not None and executor.remote
    return executor.map_ordered(one, n_chunks, done if remote_progress else None)


class SharedRows:
    """Per-item rows ``(n, d)`` that chunk tasks slice, stored as one row when all rows are that
    row (a shared ``x0``, a broadcast view), so that pickling a task for another process costs
    ``O(d)`` whatever ``n``.

    Examples
    --------
    >>> rows = SharedRows(np.broadcast_to(np.ones(2), (10**9, 2)))
    >>> rows[3:5].shape, rows.shape
    ((2, 2), (1000000000, 2))
    """

    def __init__(self, x: np.ndarray):
        self.shape = x.shape
        self.shared = x.ndim == 2 and x.shape[0] > 0 and x.strides[0] == 0
        self.rows = np.array(x[:1] if self.shared else x)

    def __getitem__(self, items: slice) -> np.ndarray:
        """Rows ``items`` (a slice), a fresh writable float array."""
        if self.shared:
            n = len(range(*items.indices(self.shape[0])))
            return np.repeat(np.asarray(self.rows, dtype=float), n, axis=0)
        return np.array(self.rows[items], dtype=float)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Progress of one run: a tqdm bar (after 2 s, unless ``quiet``) and one RuntimeWarning
    (also when ``quiet``) when the rate measured over :data:`ETA_WINDOW_S` seconds after the
    first report predicts more than :data:`ETA_WARN_S` seconds still to go.

    The rate is measured from the first report on, so that warm-up (threads starting, memory
    first touched) does not count; :meth:`update` may be called from several threads.

    Parameters
    ----------
    total : int
        Units of work in the run (e.g. path-steps).
    quiet : bool
    desc : str
        Label of the bar.
    entry : str
        The public function running it, named in the warning.
    unit : str
    """

    def __init__(self, total: int, quiet: bool, desc: str, entry: str, unit: str = "path-step"):
        from tqdm.auto import tqdm
        self.bar = None if quiet else tqdm(total=total, delay=2.0, unit=unit, unit_scale=True,
                                           desc=desc, leave=False)
        self.total, self.entry, self.unit, self.done = total, entry, unit, 0
        self.first = None  # (time, done) at the first report
        self.estimated = False
        self.lock = threading.Lock()

    def update(self, work: int) -> None:
        """Report ``work`` more units done."""
        with self.lock:
            if self.bar is not None:
                self.bar.update(work)
            self.done += work
            now = time.perf_counter()
            if self.estimated:
                return
            if self.first is None:
                self.first = (now, self.done)
                return
            t1, done1 = self.first
            if now - t1 < ETA_WINDOW_S or now <= t1:
                return
            self.estimated = True
            rate = (self.done - done1) / (now - t1)
            left = (self.total - self.done) / rate
        if left > ETA_WARN_S:
            warnings.warn(
                f"{self.entry}: this run will take about {_duration(left)} more "
                f"({self.total:.3g} {self.unit}s at {rate:.3g} per second); interrupt it and use "
                f"fewer n_paths or a larger dt for a quicker answer", RuntimeWarning, stacklevel=1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
