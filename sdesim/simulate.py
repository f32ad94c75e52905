"""Run an SDE over many paths: ``simulate`` (paths at chosen times) and ``expectation`` (streamed).

Paths are generated in chunks; chunk ``c`` uses its own generator seeded by the child
``SeedSequence(entropy, spawn_key + (c,))`` of the root seed, so a result depends on the seed and
the chunk size only — never on the backend's number of threads or on the order chunks finish.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ._arrays import NotOnDevice, concat, evaluate, to_host
from ._validate import (as_finite_array, callable_phi, initial_states, n_steps_for,
                        positive_float, positive_int, renamed)
from .backends import backend_options, get_backend
from .backends import SimulationDiverged
from .backends.errors import ChunkRun
from .distributed.executors import resolve_executor
from .distributed.shipping import ProcessLocal, by_content
from .engine import Progress, SharedRows, root_seed, run_chunks
from .moment_check import refuse_heavy_tailed_phi
from .sde import SDE
from .stats import Estimate, MomentAccumulator
from .variance.reduction import PILOT_KEY, Reduced, plan as reduction_plan

__all__ = ["simulate", "expectation", "expectation_levels", "Paths", "LevelEstimate",
           "default_chunk_size", "check_sde", "initial_states", "SimulationDiverged", "MAX_WORK"]

MAX_SAVED_BYTES = 4 * 2**30
#: Runs of this many path-dimension-steps ``n_paths × steps × max(d, m) × levels`` or more are
#: refused: about a day at the ~1.5e8 per second that expectation() reaches on 2 cores (the
#: random-number floor alone, ~1e9 per second, would take hours).
MAX_WORK = 1e13


@dataclass(frozen=True)
class Paths:
    """Simulated paths: ``xs[k, i, :]`` is path ``i`` at time ``ts[k]``.

    Attributes
    ----------
    ts : ndarray (n_times,)
    xs : ndarray (n_times, n_paths, d)
    """

    ts: np.ndarray
    xs: np.ndarray

    def plot(self, n: int = 20, coord: int = 0, ax=None):
        """Plot the first ``n`` paths of coordinate ``coord``; returns the Axes."""
        from .plotting import plot_paths
        return plot_paths(self, n=n, coord=coord, ax=ax)

    def __repr__(self) -> str:
        S, n, d = self.xs.shape
        return f"Paths(n_times={S}, n_paths={n}, d={d}, t=[{self.ts[0]:.4g}, {self.ts[-1]:.4g}])"


@dataclass(frozen=True)
class LevelEstimate:
    """Estimates of ``E phi(X^{h_k}_T)`` on several grids ``dts``, with their joint covariance.

    Attributes
    ----------
    dts : ndarray (K,)
    mean : ndarray (K,)
    cov : ndarray (K, K)
        Covariance of the *mean estimates* (sample covariance / n): full when the grids are
        coupled (one driving path per sample), diagonal when they are sampled independently.
    n : int
        Paths per grid.
    coupled : bool
    plain_cov : ndarray (K, K) or None
        With variance reduction (``antithetic``, ``control``): the covariance plain Monte Carlo
        would have with as many simulated paths; ``plain_cov / cov`` (of any combination of the
        estimates) is the measured variance-reduction factor. None otherwise.
    """

    dts: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    n: int
    coupled: bool
    plain_cov: np.ndarray | None = None

    @property
    def vr_factor(self) -> np.ndarray | None:
        """Measured variance-reduction factor per grid ``(K,)`` (None without reduction)."""
        if self.plain_cov is None:
            return None
        return np.diag(self.plain_cov) / np.diag(self.cov)

    @property
    def stderr(self) -> np.ndarray:
        return np.sqrt(np.diag(self.cov))


# ----------------------------------------------------------------------------- helpers
def default_chunk_size(backend: str, d: int, n_paths: int, n_levels: int = 1) -> int:
    """Paths per chunk: one large chunk for a backend that runs chunks one after another
    (numpy: 2^20 state entries, torch: 2^24; the backend's ``chunk_work``), about 16
    cache-sized chunks for one that runs them on threads (numba).

    A serial backend amortises its per-call overhead over as many paths as memory allows; a
    parallel one splits the paths into about 16 chunks (so threads share the work evenly) of at least ~2^10 state
    entries (below that the kernel's per-step overhead dominates) and at most ~2^14 (so a
    chunk's states and noise stay in cache). A deterministic function of the
    backend and the problem size only — never of the thread count — so results are
    reproducible.
    """
    module = get_backend(backend)
    if not module.parallel:
        return max(1, module.chunk_work // (d * n_levels))
    per_path = d * n_levels
    cap = max(16, 2**14 // per_path)
    cap = 1 << (cap.bit_length() - 1)
    floor = -(-2**10 // per_path)
    return max(1, min(cap, max(floor, -(-n_paths // 16))))


def check_sde(sde) -> SDE:
    """``sde`` if it is a :class:`~sdesim.sde.SDE`, else a ``TypeError`` naming ``sde``."""
    if not isinstance(sde, SDE):
        raise TypeError(f"sde must be a sdesim.SDE, got {type(sde).__name__}")
    return sde


def _check_work(entry: str, n_paths: int, n_fine: int, sde: SDE, levels: int) -> None:
    """Refuse a run of :data:`MAX_WORK` path-dimension-steps or more, before it starts."""
    width = max(sde.d, sde.m)
    work = n_paths * n_fine * width * levels
    if work >= MAX_WORK:
        raise ValueError(
            f"{entry}: n_paths x steps x max(d, m) x levels = {n_paths} x {n_fine} x {width} x "
            f"{levels} = {work:.3g} path-dimension-steps, and runs of sdesim.simulate.MAX_WORK = "
            f"{MAX_WORK:.0e} or more are refused (about a day on 2 cores); use fewer n_paths or "
            f"a larger dt, or split the work over several calls with different seeds")


def _divergence_advice(entry: str) -> str:
    """How to see the non-finite paths, in words that fit the public function ``entry``."""
    if entry == "simulate":
        return "or pass on_nonfinite='keep' to simulate() to get the paths with their inf/NaN"
    return (f"or look at the paths with simulate(..., on_nonfinite='keep') and the same "
            f"arguments ({entry}() streams estimates and cannot keep non-finite paths)")


def _chunks(sde: SDE, x0: np.ndarray, h: float, n_fine: int, ratios, save_steps,
            seed: np.random.SeedSequence, key: tuple, backend: str, chunk_size: int | None,
            n_threads: int | None, keep_nonfinite: bool, quiet: bool,
            desc: str, entry: str, options: dict | None = None, reduce: Callable | None = None,
            executor=None, mirror: SDE | None = None, on_device: bool = False) -> Iterator:
    """Yield ``(L, S, n_c, d)`` chunk results (or ``reduce`` of them, computed in the chunk's
    task, wherever it runs) in chunk order (bounded memory), through the chunk engine
    (:func:`sdesim.engine.run_chunks`) on ``executor`` (``executor=`` of the public functions,
    :func:`sdesim.distributed.resolve_executor`); a divergence names its chunk
    (:class:`~sdesim.backends.errors.ChunkRun`).

    ``entry`` is the public function running it: errors name it and give advice that fits it.
    ``options``: the backend's options (:func:`sdesim.backends.backend_options`), for its
    ``prepare``. ``mirror``: an SDE run on the same increments as ``sde`` (from a copy of the
    chunk's generator, :func:`sdesim.variance.mirror`), its paths after the chunk's own
    (``(L, S, 2 n_c, d)``). ``on_device``: ``reduce`` takes states of another library too (a
    backend with ``device_states`` then hands them over on its device, a shared ``x0`` as one
    broadcast row, and a chunk whose ``reduce`` raises :class:`~sdesim._arrays.NotOnDevice` is
    reduced again on the host).
    """
    n_paths, d = x0.shape
    chosen = executor
    executor = resolve_executor(executor, True, n_threads)  # checks before any work
    _check_work(entry, n_paths, n_fine, sde, len(ratios))
    probe = sde.probe_states(x0)
    deferred = None
    try:
        sde.check(0.0, probe)
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - f/g for another library's arrays (torch only):
        if backend == "numpy":  # the backend's prepare checks them on its own arrays
            raise
        deferred = exc
    module = get_backend(backend)
    kernel = kernel_mirror = None
    if backend != "numpy":
        kernel = module.prepare(sde, probe, quiet=quiet, **(options or {}))
        if mirror is not None and kernel is not None:
            kernel_mirror = module.prepare(mirror, probe, quiet=quiet, **(options or {}))
        if kernel is None or (mirror is not None and kernel_mirror is None):
            if deferred is not None:
                raise deferred
            module, backend, kernel = get_backend("numpy"), "numpy", None  # both: same noise
    size = positive_int(chunk_size, "chunk_size") if chunk_size is not None else \
        default_chunk_size(backend, d, n_paths, len(ratios))
    if not module.parallel and chosen is None:
        executor = resolve_executor(None, False)
    ratios = tuple(int(r) for r in ratios)
    save_steps = np.asarray(save_steps, dtype=np.int64)
    rows = SharedRows(x0)
    # in another process (a Dask worker) the task gets one copy of the SDE per process and
    # content, and prepares its kernels there (compiled once per process, never shipped)
    shipped = {"kernel": by_content(sde), "mirror": by_content(mirror)}
    prepared = ProcessLocal(kernel=kernel, mirror=kernel_mirror)

    def prepared_kw(name: str) -> dict:
        """``{"kernel": ...}`` for the shipped SDE ``name``, prepared in this process on first
        use (the numpy backend prepares nothing)."""
        if backend == "numpy":
            return {}
        if prepared[name] is None:
            prepared[name] = module.prepare(shipped[name].obj, probe, quiet=True,
                                            **(options or {}))
        return {"kernel": prepared[name]}

    def work(chunk):
        at = {"path_start": chunk.start} if module.counter_based else {}
        device = on_device and module.device_states and mirror is None
        if device:
            at["as_tensor"] = True
        if device and rows.shared:  # one row crosses to the device, not n copies of it
            x0c = np.broadcast_to(rows.rows, (chunk.stop - chunk.start, d))
        else:
            x0c = rows[chunk.start:chunk.stop]
        try:
            twin = None if mirror is None else copy.deepcopy(chunk.rng)
            res = module.run_chunk(shipped["kernel"].obj, x0c, h, n_fine, ratios, save_steps,
                                   chunk.rng, keep_nonfinite, progress=chunk.report,
                                   **prepared_kw("kernel"), **at)
            if mirror is not None:
                res = np.concatenate([res, module.run_chunk(
                    shipped["mirror"].obj, x0c, h, n_fine, ratios, save_steps, twin,
                    keep_nonfinite, **prepared_kw("mirror"), **at)], axis=2)
        except SimulationDiverged as exc:
            ss = chunk.seed
            raise exc.in_chunk(ChunkRun(int(ss.entropy), tuple(ss.spawn_key), chunk.start,
                                        chunk.stop, h, n_fine, ratios, backend)) from None
        if reduce is None:
            return res
        try:
            return reduce(res)
        except NotOnDevice:  # phi is for numpy: the chunk's states to the host
            return reduce(to_host(res))

    with Progress(n_paths * n_fine, quiet, desc, entry) as progress:
        try:
            yield from run_chunks(work, n_paths, size, seed, key=key, executor=executor,
                                  progress=progress, units=n_fine)
        except SimulationDiverged as exc:
            raise exc.in_call(entry, _divergence_advice(entry)) from None


def _save_grid(save_at, T: float, dt: float, n_steps: int, name: str = "save_at") -> np.ndarray:
    if save_at is None:
        return np.arange(n_steps + 1)
    ts = as_finite_array(save_at, name, ndim=(0, 1)).reshape(-1)
    if ts.size == 0:
        raise ValueError(f"{name} must hold at least one time")
    if np.any(ts < 0) or np.any(ts > T * (1 + 1e-12)):
        raise ValueError(f"{name} must lie in [0, T] = [0, {T}], got {ts.min()}..{ts.max()}")
    k = np.rint(ts / dt).astype(np.int64)
    if np.any(np.abs(k * dt - ts) > 1e-9 * max(1.0, T)):
        raise ValueError(f"{name} times must be multiples of dt = {dt}")
    return np.unique(k)


def _reduced(sde: SDE, x: np.ndarray, phi, h: float, n_fine: int, ratios, seed, backend: str,
             chunk_size, n_threads, quiet: bool, entry: str, options, executor, antithetic: bool,
             control) -> Reduced:
    """A variance-reduced run (:mod:`sdesim.variance.reduction`): a pilot (with controls) on its
    own streams, then the main run; estimates at ``T`` on the grids ``ratios[l] * h``."""
    plan = reduction_plan(sde, x, phi, h, n_fine, ratios, backend, antithetic, control,
                          x.shape[0])

    def run(n: int, key: tuple, desc: str) -> MomentAccumulator:
        acc = None
        for part in _chunks(plan.sde, np.broadcast_to(plan.x0[0], (n, plan.x0.shape[1])), h,
                            n_fine, ratios, [n_fine], seed, key, backend, chunk_size, n_threads,
                            False, quiet, desc, entry, options,
                            lambda res: MomentAccumulator.of(plan.samples(res), full_cov=True),
                            executor, plan.mirror):
            acc = part if acc is None else acc.merge(part)
        return acc

    if plan.n_pilot:
        plan.fit(run(plan.n_pilot, PILOT_KEY, "pilot"))
    return plan.finish(run(plan.n, (), entry))


# ----------------------------------------------------------------------------- public API
def simulate(sde: SDE, x0, *, T: float, dt: float, n_paths: int = 1, save_at=None, rng=None,
             backend: str = "numba", chunk_size: int | None = None,
             n_threads: int | None = None, on_nonfinite: str = "raise",
             quiet: bool = False, device=None, dtype=None, executor=None) -> Paths:
    """Simulate ``n_paths`` Euler–Maruyama paths of ``sde`` on ``[0, T]`` with step ``dt``.

    Parameters
    ----------
    sde : SDE
    x0 : array_like (d,) or (n_paths, d)
        Initial state (shared or per path); a scalar when d = 1.
    T, dt : float
        Horizon and step; ``T/dt`` must be an integer and ``0 < dt <= T``.
    n_paths : int
    save_at : array_like of times, optional
        Times to save (multiples of ``dt`` in ``[0, T]``); default every step.
    rng : int, Generator, SeedSequence or None
    backend : {"numba", "numpy", "numba-numpy-rng", "torch"}
        ``"numba"``: compiled kernels with the fast in-kernel xoshiro256++ generator;
        ``"numpy"``: the readable reference; ``"numba-numpy-rng"``: the numba kernels on numpy's
        stream, bitwise equal to ``"numpy"`` for diagonal, scalar and additive Brownian noise
        given the same ``chunk_size`` (the defaults differ) and ``f``/``g`` that round as numpy
        does (``x*x*x``, not ``x**3``); see :mod:`sdesim.backends.numba_backend`.
        ``"torch"``: torch tensors on the CPU or a GPU with counter-based noise, results
        independent of ``chunk_size`` (:mod:`sdesim.backends.torch_backend`, docs/gpu.md).
    chunk_size : int, optional
        Paths per chunk (default :func:`default_chunk_size`); results depend on it.
    n_threads : int, optional
        Threads for the numba backend (default: all cores); results do not depend on it.
    on_nonfinite : {"raise", "keep"}
        ``"raise"`` stops at the first non-finite state with the step, time and path count;
        ``"keep"`` lets inf/NaN propagate into the returned paths.
    quiet : bool
        Turn off the progress bar (in path-steps; it only appears on runs longer than 2 s) and
        the note on stderr while numba compiles a new ``f``/``g``. A RuntimeWarning with the
        expected duration is given in any case when a run will take more than
        :data:`sdesim.engine.ETA_WARN_S` seconds.
    device : str or torch.device, optional
        ``backend="torch"`` only: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` (default: CUDA when
        available, else the CPU).
    dtype : torch.float32 or torch.float64 (or their names), optional
        ``backend="torch"`` only (default: float32 on CUDA, float64 on the CPU).
    executor : None, "serial", "threads", "dask", "torch.distributed", a scheduler address, a
        ``distributed.Client`` or an :class:`sdesim.engine.Executor`, optional
        Where the chunks run (:func:`sdesim.distributed.resolve_executor`; default: threads
        for the numba backends, else serial). Results do not depend on it (docs/cluster.md).

    Returns
    -------
    Paths with ``ts`` ``(n_times,)`` and ``xs`` ``(n_times, n_paths, d)``.

    Raises
    ------
    ValueError
        Bad ``dt`` (``<= 0``, ``> T``, not dividing ``T``), non-finite ``x0``, wrong shapes from
        ``f``/``g`` (naming which, on every backend), output too large for memory,
        :data:`MAX_WORK` path-dimension-steps or more; ``device``/``dtype`` with a backend other
        than ``"torch"``, a CUDA ``device`` without CUDA, a ``dtype`` other than float32/64.
    TypeError
        On ``"torch"``: ``f``/``g`` returning tensors of another dtype or device than the run's.
    SimulationDiverged
        A state became non-finite (step, time and number of paths in the message).

    Examples
    --------
    >>> import sdesim
    >>> paths = sdesim.simulate(sdesim.ou(1.0, 0.5), x0=[1.0], T=1.0, dt=0.01, n_paths=100,
    ...                         rng=0, quiet=True)
    >>> paths.xs.shape
    (101, 100, 1)
    """
    sde = check_sde(sde)
    T = positive_float(T, "T")
    dt = positive_float(dt, "dt")
    n_paths = positive_int(n_paths, "n_paths")
    if on_nonfinite not in ("raise", "keep"):
        raise ValueError(f"on_nonfinite must be 'raise' or 'keep', got {on_nonfinite!r}")
    n_steps = n_steps_for(T, dt)
    options = backend_options(backend, device=device, dtype=dtype)
    _check_work("simulate", n_paths, n_steps, sde, 1)
    steps = _save_grid(save_at, T, dt, n_steps)
    nbytes = len(steps) * n_paths * sde.d * 8
    if nbytes > MAX_SAVED_BYTES:
        raise ValueError(f"saving {len(steps)} times x {n_paths} paths x d={sde.d} needs "
                         f"{nbytes / 2**30:.1f} GiB; pass fewer save_at times or use expectation()")
    x = initial_states(x0, n_paths, sde.d)
    xs = np.empty((len(steps), n_paths, sde.d))
    i = 0
    for res in _chunks(sde, x, dt, n_steps, (1,), steps, root_seed(rng), (), backend,
                       chunk_size, n_threads, on_nonfinite == "keep", quiet, "simulate",
                       "simulate", options, None, executor):
        xs[:, i:i + res.shape[2]] = res[0]
        i += res.shape[2]
    return Paths(steps * dt, xs)


@renamed(g="phi")
def expectation(sde: SDE, x0, phi: Callable, *, T: float, dt: float, n_paths: int, times=None,
                rng=None, backend: str = "numba", chunk_size: int | None = None,
                n_threads: int | None = None, quiet: bool = False, device=None,
                dtype=None, executor=None, antithetic: bool = False,
                control=None) -> Estimate:
    """Monte-Carlo estimate of ``E phi(X_T)`` (or at several ``times``), streamed over chunks.

    Memory is bounded by a few chunks whatever ``n_paths`` (10⁸ paths run in constant memory):
    each chunk's values of ``phi`` are merged into Welford/Chan accumulators and dropped.

    Parameters
    ----------
    sde, x0, T, dt, rng, backend, chunk_size, n_threads, quiet, device, dtype, executor
        As in :func:`simulate`.
    phi : callable ``phi(x) -> (n,)`` or ``(n, k)``
        Test function on states ``x`` of shape ``(n, d)`` (named ``phi``: ``g`` is the SDE's
        diffusion).
    n_paths : int
        At least 2 (a standard error needs two paths).
    times : array_like, optional
        Times (multiples of ``dt``) at which to estimate; default ``T`` only.
    antithetic : bool, default False
        Run every path also on its negated increments and average the pair
        (:mod:`sdesim.variance.antithetic`; symmetric drivers, ``times=None``). ``n_paths``
        counts simulated paths: ``n_paths // 2`` pairs.
    control : None, "linear" or sdesim.variance.Control, optional
        Control variates (:mod:`sdesim.variance.control`; ``times=None``): a user's ``h`` with
        its expectation under the scheme, or ``"linear"``, the SDE linearised along its
        noise-free path on the same noise (Brownian drivers); coefficients from an independent
        pilot run (reported as its own progress bar). See docs/variance-reduction.md.

    Returns
    -------
    Estimate
        ``mean``/``stderr`` of shape ``()`` (scalar ``phi``, ``times=None``), ``(k,)``,
        ``(n_times,)`` or ``(n_times, k)``; ``n = n_paths`` (pairs with ``antithetic``); with
        ``antithetic`` or ``control``, ``vr_factor``: the variance plain Monte Carlo would have
        with as many simulated paths over the variance obtained, measured on the run.

    Raises
    ------
    ValueError
        As :func:`simulate`; ``phi`` returning a wrong shape or non-finite values; ``times``
        empty, with duplicates or off the grid; ``n_paths < 2``.
    SimulationDiverged
        A state became non-finite.

    Examples
    --------
    >>> import sdesim
    >>> est = sdesim.expectation(sdesim.gbm(0.5, 0.4), 1.0, lambda x: x[:, 0], T=1.0, dt=0.01,
    ...                          n_paths=100_000, rng=1, quiet=True)
    >>> bool(abs(est.zscore(1.0 * (1 + 0.005) ** 100)) < 5)
    True

    References
    ----------
    Chan, Golub & LeVeque (1979) for the streaming merge.
    """
    sde = check_sde(sde)
    phi = callable_phi(phi)
    T = positive_float(T, "T")
    dt = positive_float(dt, "dt")
    n_paths = positive_int(n_paths, "n_paths", minimum=2)
    n_steps = n_steps_for(T, dt)
    options = backend_options(backend, device=device, dtype=dtype)
    if times is not None and np.size(times) == 0:
        raise ValueError("times must hold at least one time (or be None for T only)")
    steps = _save_grid(T if times is None else times, T, dt, n_steps, "times")
    if times is not None and len(steps) != np.size(times):
        raise ValueError("times must not contain duplicates")
    x = initial_states(x0, n_paths, sde.d)
    refuse_heavy_tailed_phi(sde, x, phi, warn=True)
    if antithetic is not False or control is not None:
        if times is not None:
            raise ValueError("times must be None with antithetic or control (variance "
                             "reduction estimates E phi(X_T) at T only)")
        red = _reduced(sde, x, phi, dt, n_steps, (1,), root_seed(rng), backend, chunk_size,
                       n_threads, quiet, "expectation", options, executor, antithetic, control)
        se = np.sqrt(np.diag(red.cov))
        factor = np.diag(red.plain_cov) / np.diag(red.cov)
        if red.scalar:
            return Estimate(float(red.mean[0]), float(se[0]), red.n, float(factor[0]))
        return Estimate(red.mean, se, red.n, factor)

    def summary(res) -> tuple:  # in the chunk's task, on its device: its moments, not its paths
        vals = [evaluate(phi, res[0, s]) for s in range(len(steps))]
        return MomentAccumulator.of(concat([v for v, _ in vals], axis=1)), vals[0][1]

    acc = None
    for part, scalar in _chunks(sde, x, dt, n_steps, (1,), steps, root_seed(rng), (), backend,
                                chunk_size, n_threads, False, quiet, "expectation",
                                "expectation", options, summary, executor, on_device=True):
        acc = part if acc is None else acc.merge(part)  # in chunk order, on every executor
    est = acc.estimate()
    k = acc.dim // len(steps)
    shape = (len(steps), k)
    if scalar:
        shape = shape[:1]
    if times is None:
        shape = shape[1:]
    return Estimate(est.mean.reshape(shape)[()], est.stderr.reshape(shape)[()], est.n)


@renamed(g="phi")
def expectation_levels(sde: SDE, x0, phi: Callable, *, T: float, dts, n_paths: int,
                       coupled: bool = True, rng=None, backend: str = "numba",
                       chunk_size: int | None = None, n_threads: int | None = None,
                       quiet: bool = False, device=None, dtype=None,
                       executor=None, antithetic: bool = False,
                       control=None) -> LevelEstimate:
    """Estimate ``E phi(X^{h}_T)`` for every step ``h`` in ``dts``, coupled or independent.

    Coupled: one fine driving path per sample (step ``min(dts)``); every coarser grid is driven
    by the sums of the fine increments it contains (exact for Brownian and α-stable drivers), so
    the estimates on different grids are strongly correlated and their *differences* have
    variance O(h) instead of O(1). The joint covariance of the K estimates is streamed.

    Parameters
    ----------
    sde, x0, T, rng, backend, chunk_size, n_threads, quiet, device, dtype, executor
        As in :func:`simulate`.
    dts : sequence of float (K,)
        Step sizes; each must divide ``T``, and when coupled each must be an integer multiple
        of the smallest.
    phi : callable ``phi(x) -> (n,)``
        Test function on states ``(n, d)``.
    n_paths : int
        Paths per grid, at least 2.
    coupled : bool
    antithetic, control
        Variance reduction as in :func:`expectation` (coupled grids only; a
        :class:`~sdesim.variance.Control` needs ``mean`` as a function of the step): the
        controls of every grid enter the regression of every grid's estimate, so the
        differences between grids are reduced too.

    Returns
    -------
    LevelEstimate with ``mean`` ``(K,)`` and ``cov`` ``(K, K)`` in the order of ``dts``
    (``plain_cov`` and ``vr_factor`` with variance reduction; ``n`` counts antithetic pairs).

    Raises
    ------
    ValueError
        ``dts`` empty, that cannot be coupled or do not divide ``T``; bad ``phi``.

    Examples
    --------
    >>> import sdesim
    >>> le = sdesim.expectation_levels(sdesim.gbm(0.5, 0.4), 1.0, lambda x: x[:, 0] ** 2,
    ...                                T=1.0, dts=[0.5, 0.25], n_paths=10_000, rng=0, quiet=True)
    >>> le.cov.shape
    (2, 2)
    """
    sde = check_sde(sde)
    phi = callable_phi(phi)
    T = positive_float(T, "T")
    n_paths = positive_int(n_paths, "n_paths", minimum=2)
    options = backend_options(backend, device=device, dtype=dtype)
    if np.size(dts) == 0:
        raise ValueError("dts must hold at least one step size")
    dts = np.asarray([positive_float(h, "dts") for h in np.atleast_1d(dts)])
    if len(np.unique(dts)) != len(dts):
        raise ValueError(f"dts must be distinct, got {dts.tolist()}")
    steps = [n_steps_for(T, h, "dts") for h in dts]
    x = initial_states(x0, n_paths, sde.d)
    refuse_heavy_tailed_phi(sde, x, phi, warn=True)
    seed = root_seed(rng)
    K = len(dts)

    def values(res_level):  # (n,) on the states' device
        v, _ = evaluate(phi, res_level)
        if v.shape[1] != 1:
            raise ValueError(f"phi must return one value per path, shape (n_paths,), got "
                             f"{tuple(v.shape)}")
        return v[:, 0]

    if coupled:
        n_fine = max(steps)
        ratios = []
        for h, n in zip(dts, steps):
            if n_fine % n:
                raise ValueError(f"dts cannot be coupled: {h} is not an integer multiple of "
                                 f"{min(dts)}; use nested steps (e.g. T/2^k) or coupled=False")
            ratios.append(n_fine // n)
        if antithetic is not False or control is not None:
            red = _reduced(sde, x, phi, T / n_fine, n_fine, ratios, seed, backend, chunk_size,
                           n_threads, quiet, "expectation_levels", options, executor,
                           antithetic, control)
            if red.mean.size != K:
                raise ValueError(f"phi must return one value per path, shape (n_paths,), got "
                                 f"{red.mean.size // K} values")
            return LevelEstimate(dts, red.mean, red.cov, red.n, True, red.plain_cov)
        acc = MomentAccumulator(K, full_cov=True)
        for part in _chunks(sde, x, T / n_fine, n_fine, ratios, [n_fine], seed, (), backend,
                            chunk_size, n_threads, False, quiet, "coupled levels",
                            "expectation_levels", options,
                            lambda res: MomentAccumulator.of(
                                concat([values(res[lev, 0])[:, None] for lev in range(K)], 1),
                                full_cov=True), executor, on_device=True):
            acc.merge(part)
        return LevelEstimate(dts, acc.mean.copy(), acc.covariance() / acc.n, acc.n, True)
    if antithetic is not False or control is not None:
        raise ValueError("antithetic and control need coupled=True (the reduction acts on the "
                         "coupled grids together)")
    means, variances = np.empty(K), np.empty(K)
    for lev, (h, n) in enumerate(zip(dts, steps)):
        acc = MomentAccumulator(1)
        for part in _chunks(sde, x, h, n, (1,), [n], seed, (lev,), backend, chunk_size,
                            n_threads, False, quiet, f"level dt={h:.3g}", "expectation_levels",
                            options, lambda res: MomentAccumulator.of(values(res[0, 0])[:, None]),
                            executor, on_device=True):
            acc.merge(part)
        means[lev], variances[lev] = acc.mean[0], acc.variance()[0] / acc.n
    return LevelEstimate(dts, means, np.diag(variances), n_paths, False)
