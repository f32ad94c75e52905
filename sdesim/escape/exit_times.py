"""First exit times of an SDE from a domain, Brownian or α-stable driven, streamed over many paths.

:func:`exit_times` runs Euler–Maruyama paths until they leave a domain (an
:class:`~sdesim.escape.Interval`, :class:`~sdesim.escape.Box`, :class:`~sdesim.escape.Ball` or a
user :class:`~sdesim.escape.Predicate`) or reach ``t_max`` (censored), and records per path the
exit time, the exit position and the exit axis. The result, :class:`ExitTimes`, gives the mean
exit time with a CI, the survival curve ``P(σ > u)`` and exit-axis probabilities.

Monitoring is discrete: a path is checked after every step, so the estimated exit time is that of
the EM chain, ``σ_h = min{kh : X_k ∉ D}``. For exact increments (pure Lévy or Brownian motion)
``σ_h >= σ`` pathwise, and the bias is ``O(√h)`` for Brownian noise (Gobet 2000; shifting the
boundary inwards by ``0.5826 σ_g √h`` (``sdesim.exact.GOBET_SHIFT``) reduces it to ``o(√h)``,
Broadie–Glasserman–Kou 1997, Gobet–Menozzi 2010). Exact and asymptotic references to compare
with are in :mod:`sdesim.exact` (``getoor_mean_exit_time``, ``diffusion_mean_exit_time``,
``kramers_time``, ``big_jump_rate``, ``scheduler_survival``).

The paths run on a backend (:meth:`sdesim.backends.Backend.exit_chunk`) in chunks of the chunk
engine: ``"numba"`` (compiled, one fast in-kernel generator per chunk, chunks on threads; alive
paths are compacted after every step so finished paths cost nothing), ``"numpy"`` (the readable
reference) and ``"numba-numpy-rng"`` (the numba kernel drawing from numpy's stream).
``"numpy"`` and ``"numba-numpy-rng"`` draw the increments of the alive paths, in path order,
from the chunk's generator, so they agree to rounding (bitwise for Brownian additive/diagonal
noise when ``f``/``g`` round as numpy does: ``x*x*x``, not ``x**3``); ``"numba"`` agrees with
them in law.

References
----------
Getoor (1961), Trans. AMS 101:75; Imkeller & Pavlyukevich (2006), SPA 116:611; Gobet (2000),
ESAIM P&S 4:93; docs/theory.md §C.6.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validate import as_finite_array, initial_states, n_steps_for, positive_float, positive_int
from ..backends import backend_options, get_backend
from ..distributed.executors import resolve_executor
from ..distributed.shipping import ProcessLocal, by_content
from ..engine import Progress, SharedRows, root_seed, run_chunks
from ..sde import SDE
from ..simulate import check_sde
from ..stats import Estimate
from .domains import Domain

__all__ = ["ExitTimes", "exit_times", "CHUNK_SIZE"]

#: Paths per chunk, the same for all backends (so that "numpy" and "numba-numpy-rng" see the
#: same noise); results depend on it.
CHUNK_SIZE = 4096


@dataclass(frozen=True)
class ExitTimes:
    """First exit times of ``n`` paths, in path order.

    Attributes
    ----------
    times : ndarray (n,)
        Exit time ``k dt`` of the EM chain, or ``t_max`` for censored paths.
    exited : ndarray (n,) of bool
        False for paths still inside at ``t_max`` (censored).
    position : ndarray (n, d)
        State at exit (at ``t_max`` for censored paths).
    axis : ndarray (n,) of int
        Exit axis (see the domain class), -1 when censored.
    side : ndarray (n,) of int
        -1 or +1 (the sign of the exit along ``axis``), 0 when censored.
    dt, t_max : float
    """

    times: np.ndarray
    exited: np.ndarray
    position: np.ndarray
    axis: np.ndarray
    side: np.ndarray
    dt: float
    t_max: float

    @property
    def n(self) -> int:
        return int(self.times.shape[0])

    @property
    def n_censored(self) -> int:
        """Paths still inside the domain at ``t_max``."""
        return int(self.n - np.count_nonzero(self.exited))

    def mean(self) -> Estimate:
        """Mean of ``min(σ, t_max)`` with its standard error.

        This is the mean exit time when :attr:`n_censored` is 0; otherwise it is the
        restricted mean, a lower bound (check ``n_censored`` or raise ``t_max``).

        Examples
        --------
        >>> import numpy as np
        >>> r = ExitTimes(np.array([1., 2., 3.]), np.ones(3, bool), np.zeros((3, 1)),
        ...               np.zeros(3, int), np.ones(3, int), 0.1, 10.0)
        >>> r.mean()
        Estimate(2 ± 0.58, n=3)
        """
        t = self.times
        se = float(t.std(ddof=1) / math.sqrt(t.size)) if t.size > 1 else math.inf
        return Estimate(float(t.mean()), se, t.size)

    def survival(self, u) -> Estimate:
        """``P(σ > u)`` at times ``u`` (array, each ``< t_max``) with binomial standard errors."""
        u = as_finite_array(u, "u", ndim=(0, 1))
        if np.any(u >= self.t_max):
            raise ValueError(f"u must be < t_max = {self.t_max} (later times are censored)")
        ts = np.sort(np.where(self.exited, self.times, np.inf))
        p = 1.0 - np.searchsorted(ts, u, side="right") / self.n
        return Estimate(p, np.sqrt(p * (1 - p) / self.n), self.n)

    def exit_probability(self, axis: int, side: int | None = None) -> Estimate:
        """``P(exit through axis (and side))`` among all paths (censored ones count as not)."""
        hit = self.axis == int(axis)
        if side is not None:
            hit &= self.side == int(side)
        p = float(np.mean(hit))
        return Estimate(p, math.sqrt(p * (1 - p) / self.n), self.n)

    def plot(self, ax=None, label: str | None = None):
        """Survival curve ``P(σ > u)`` on ``[0, t_max)``; returns the Axes."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        u = np.linspace(0, self.t_max, 200, endpoint=False)
        s = self.survival(u)
        ax.step(u, s.mean, where="post", label=label)
        ax.set_xlabel("u")
        ax.set_ylabel("P(σ > u)")
        ax.set_yscale("log")
        return ax

    def __repr__(self) -> str:
        return (f"ExitTimes(n={self.n}, mean={self.mean()!r}, censored={self.n_censored}, "
                f"dt={self.dt:g}, t_max={self.t_max:g})")


# ----------------------------------------------------------------------------- public API
def exit_times(sde: SDE, x0, domain: Domain, *, dt: float, t_max: float, n_paths: int,
               rng=None, backend: str = "numba", chunk_size: int | None = None,
               n_threads: int | None = None, quiet: bool = False, device=None,
               dtype=None, executor=None) -> ExitTimes:
    """First exit times of Euler–Maruyama paths of ``sde`` from ``domain``, censored at ``t_max``.

    Paths start at ``x0`` (paths that start outside exit at time 0), step with ``dt``, are
    checked after every step, and stop when they leave. Chunk ``c`` of ``chunk_size`` paths
    uses the child generator ``c`` of ``rng`` (the chunk engine, :mod:`sdesim.engine`, as
    :func:`sdesim.simulate`), so results depend on the seed and the chunk size only, never on
    ``n_threads``.

    Parameters
    ----------
    sde : SDE
        Any sdesim SDE, Brownian or ``Stable(alpha)`` driven.
    x0 : array_like (d,) or (n_paths, d)
    domain : Interval, Box, Ball or Predicate
    dt : float, keyword-only
        Step; ``t_max/dt`` must be an integer.
    t_max : float, keyword-only
        Censoring time.
    n_paths : int, keyword-only
    rng : int, Generator, SeedSequence or None
    backend : {"numba", "numpy", "numba-numpy-rng", "torch"}
        As in :func:`sdesim.simulate`: ``"numba"`` draws from the fast xoshiro256++ stream,
        ``"numba-numpy-rng"`` from numpy's, which gives the numpy backend's exit times exactly.
        ``Predicate`` domains always run on numpy (compiled kernels take encoded domains only),
        and so does an ``f``/``g`` numba cannot compile (after a warning that says why).
    chunk_size : int, optional
        Paths per chunk (default :data:`CHUNK_SIZE`, the same for all backends so that
        ``"numpy"`` and ``"numba-numpy-rng"`` see the same noise); results depend on it.
    n_threads : int, optional
        Threads for the numba backends (default: all cores); results do not depend on it.
    quiet : bool
        Turn off the progress bar (in paths; it appears on runs longer than 2 s) and the note
        on stderr while numba compiles a new ``f``/``g``. A RuntimeWarning with the expected
        duration is given in any case when a run will take more than two minutes.
    device, dtype : optional
        ``backend="torch"`` only, as in :func:`sdesim.simulate`. The torch backend's exit times
        are the first exits of the very paths :func:`sdesim.simulate` gives for the same seed
        (counter-based noise), whatever ``chunk_size``.
    executor : optional
        Where the chunks run: threads, ``"dask"``, a ``distributed.Client``,
        ``"torch.distributed"``, ... as in :func:`sdesim.simulate`; the result does not depend
        on it (docs/cluster.md).

    Returns
    -------
    ExitTimes

    Raises
    ------
    ValueError
        Bad ``dt``/``t_max``/``n_paths``/``x0``, domain of the wrong dimension, unknown backend,
        wrong shapes from ``f``/``g`` (:meth:`sdesim.SDE.shape_error`, on every backend).
    TypeError
        ``sde`` not an SDE, ``domain`` not a Domain.

    Examples
    --------
    Brownian motion ``√2 W`` (``dX = Stable(2) dL``) leaves (-1, 1) after ``a²/2 = 0.5`` on
    average (plus a discrete-monitoring bias):

    >>> import numpy as np, sdesim
    >>> from sdesim.escape import Interval, exit_times
    >>> sde = sdesim.SDE(lambda t, x: 0 * x, np.ones(1), d=1, noise="additive",
    ...                  driver=sdesim.Stable(2.0))
    >>> r = exit_times(sde, 0.0, Interval(-1, 1), dt=1e-3, t_max=10.0, n_paths=2000, rng=0,
    ...                quiet=True)
    >>> r.n_censored, bool(0.45 < r.mean().mean < 0.6)
    (0, True)

    References
    ----------
    Getoor (1961); Gobet (2000); docs/theory.md §C.6 (exact exit times, Imkeller–Pavlyukevich).
    """
    sde = check_sde(sde)
    if not isinstance(domain, Domain):
        raise TypeError(f"domain must be an Interval, Box, Ball or Predicate, got "
                        f"{type(domain).__name__}")
    dt = positive_float(dt, "dt")
    t_max = positive_float(t_max, "t_max")
    try:
        n_max = n_steps_for(t_max, dt)
    except ValueError:
        raise ValueError(f"t_max must be a whole number (>= 1) of steps dt, got t_max={t_max}, "
                         f"dt={dt} (t_max/dt = {t_max / dt:.12g})") from None
    n_paths = positive_int(n_paths, "n_paths")
    impl = get_backend(backend)
    options = backend_options(backend, device=device, dtype=dtype)
    chosen = executor
    executor = resolve_executor(executor, impl.parallel, n_threads)  # checks before any work
    size = positive_int(chunk_size, "chunk_size") if chunk_size is not None else CHUNK_SIZE
    x0 = initial_states(x0, n_paths, sde.d)
    probe = sde.probe_states(x0)
    sde.check(0.0, probe)
    domain.arrays(sde.d)  # checks the domain's dimension against the SDE's
    kernel = impl.prepare_exit(sde, probe, domain, quiet=quiet, **options)
    if kernel is None:  # a Predicate, or f/g/driver numba cannot take (it warned)
        impl = get_backend("numpy")
        kernel = impl.prepare_exit(sde, probe, domain, quiet=quiet)
        options = {}
        if chosen is None:
            executor = resolve_executor(None, impl.parallel)
    rows = SharedRows(x0)
    # in another process (a Dask worker) the task gets one copy of the SDE per process and
    # content, and prepares its kernel there (compiled once per process, never shipped)
    shipped = by_content(sde)
    prepared = ProcessLocal(kernel=kernel)

    def work(chunk):
        task_sde = shipped.obj
        if prepared["kernel"] is None:
            prepared["kernel"] = impl.prepare_exit(task_sde, probe, domain, quiet=True,
                                                   **options)
        at = {"path_start": chunk.start} if impl.counter_based else {}
        return impl.exit_chunk(task_sde, rows[chunk.start:chunk.stop], dt, n_max, domain,
                               chunk.rng, kernel=prepared["kernel"], **at)

    steps = np.empty(n_paths, np.int64)
    pos = np.empty((n_paths, sde.d))
    axis, side = np.empty(n_paths, np.int64), np.empty(n_paths, np.int64)
    i = 0
    with Progress(n_paths, quiet, "exit times", "exit_times", unit="path") as progress:
        for res in run_chunks(work, n_paths, size, root_seed(rng), executor=executor):
            j = i + res.steps.shape[0]
            steps[i:j], pos[i:j], axis[i:j], side[i:j] = res
            progress.update(j - i)
            i = j
    exited = steps >= 0
    times = np.where(exited, steps * dt, t_max)
    return ExitTimes(times, exited, pos, axis, side, dt, t_max)
