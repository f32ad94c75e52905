"""First exit times of an SDE from a domain, Brownian or α-stable driven, streamed over many paths.

:func:`exit_times` runs Euler–Maruyama paths until they leave a domain (an :class:`Interval`,
:class:`Box`, :class:`Ball` or a user :class:`Predicate`) or reach ``t_max`` (censored), and
records per path the exit time, the exit position and the exit axis. The result,
:class:`ExitTimes`, gives the mean exit time with a CI, the survival curve ``P(σ > u)`` and
exit-axis probabilities.

Monitoring is discrete: a path is checked after every step, so the estimated exit time is that of
the EM chain, ``σ_h = min{kh : X_k ∉ D}``. For exact increments (pure Lévy or Brownian motion)
``σ_h >= σ`` pathwise, and the bias is ``O(√h)`` for Brownian noise (Gobet 2000; shifting the
boundary inwards by ``0.5826 σ_g √h`` reduces it to ``o(√h)``, Broadie–Glasserman–Kou 1997,
Gobet–Menozzi 2010).

Exact and asymptotic references for tests and validation are here too:
:func:`getoor_mean_exit_time`, :func:`diffusion_mean_exit_time`, :func:`kramers_time`,
:func:`stable_tail_constant`, :func:`big_jump_rate`, :func:`scheduler_survival`.

Backends: ``"numba"`` (compiled, one fast in-kernel generator per chunk, chunks on threads;
alive paths are compacted after every step so finished paths cost nothing), ``"numpy"`` (the
readable reference) and ``"numba-numpy-rng"`` (the numba kernel drawing from numpy's stream).
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
import os
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np

from ._validate import alpha_array, as_finite_array, n_steps_for, positive_float, positive_int
from .backends import xoshiro
from .backends.common import BACKENDS, new_status, raise_shape_error
from .sde import SDE, LinearSDE
from .stats import Estimate

__all__ = ["Interval", "Box", "Ball", "Predicate", "ExitTimes", "exit_times",
           "getoor_mean_exit_time", "diffusion_mean_exit_time", "kramers_time",
           "stable_tail_constant", "big_jump_rate", "scheduler_survival", "GOBET_SHIFT"]

GOBET_SHIFT = 0.5825971579390106  # -zeta(1/2)/sqrt(2 pi): the discrete-monitoring boundary shift
BOX, BALL = 0, 1
CHUNK_SIZE = 4096


# ----------------------------------------------------------------------------- domains
class Domain(ABC):
    """An open domain: paths exit when they leave it. Subclasses give ``classify``."""

    def arrays(self, d: int):
        """``(code, lo, hi, center, radius²)`` for the compiled kernel (``None`` if numpy-only)."""
        return None

    @abstractmethod
    def classify(self, x: np.ndarray, x_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(axis, side)`` of shape ``(n,)`` for states ``x`` ``(n, d)``; axis -1 = inside."""


class Box(Domain):
    """The open box ``{x : lo < x < hi}`` (bounds may be ±inf).

    The exit axis is the coordinate that is furthest outside its bounds, the side ``-1`` (below
    ``lo``) or ``+1`` (above ``hi``).

    Parameters
    ----------
    lo, hi : array_like (d,) or float

    Examples
    --------
    >>> import numpy as np
    >>> Box([-1, -2], [1, 2]).classify(np.array([[0.0, 3.0]]), np.zeros((1, 2)))
    (array([1]), array([1]))
    """

    def __init__(self, lo, hi):
        self.lo = np.atleast_1d(np.asarray(lo, dtype=float))
        self.hi = np.atleast_1d(np.asarray(hi, dtype=float))
        if np.any(np.isnan(self.lo)) or np.any(np.isnan(self.hi)):
            raise ValueError("lo and hi must not be NaN")
        if np.any(self.lo >= self.hi):
            raise ValueError(f"lo must be < hi elementwise, got lo={self.lo.tolist()}, "
                             f"hi={self.hi.tolist()}")

    def _bounds(self, d: int):
        try:
            return np.broadcast_to(self.lo, (d,)).copy(), np.broadcast_to(self.hi, (d,)).copy()
        except ValueError:
            raise ValueError(f"domain bounds must have shape ({d},) to match the SDE, got "
                             f"{self.lo.shape} and {self.hi.shape}") from None

    def arrays(self, d):
        lo, hi = self._bounds(d)
        return BOX, lo, hi, np.zeros(d), 0.0

    def classify(self, x, x_start):
        lo, hi = self._bounds(x.shape[1])
        viol = np.maximum(lo - x, x - hi)
        viol = np.where(np.isnan(x), np.inf, viol)
        axis = np.argmax(viol, axis=1)
        rows = np.arange(x.shape[0])
        out = viol[rows, axis] >= 0
        side = np.where(x[rows, axis] >= hi[axis], 1, -1)
        return np.where(out, axis, -1), np.where(out, side, 0)

    def __repr__(self):
        return f"Box(lo={self.lo.tolist()}, hi={self.hi.tolist()})"


class Interval(Box):
    """The open interval ``lo < x[coord] < hi`` (other coordinates unbounded).

    Examples
    --------
    >>> Interval(-1.0, 1.0)
    Interval(-1.0, 1.0, coord=0)
    """

    def __init__(self, lo: float, hi: float, coord: int = 0):
        self.a, self.b, self.coord = float(lo), float(hi), int(coord)
        super().__init__(self.a, self.b)

    def _bounds(self, d):
        if not 0 <= self.coord < d:
            raise ValueError(f"coord must lie in [0, {d}), got {self.coord}")
        lo, hi = np.full(d, -np.inf), np.full(d, np.inf)
        lo[self.coord], hi[self.coord] = self.a, self.b
        return lo, hi

    def __repr__(self):
        return f"Interval({self.a}, {self.b}, coord={self.coord})"


class Ball(Domain):
    """The open ball ``{x : |x - center| < radius}``.

    The exit axis is the coordinate of largest ``|x_i - center_i|`` (TMLR's escape-axis
    experiment: "which axis is larger"), the side its sign.

    Examples
    --------
    >>> import numpy as np
    >>> Ball(0.0, 1.0).classify(np.array([[0.2, -1.5], [0.1, 0.1]]), np.zeros((2, 2)))
    (array([ 1, -1]), array([-1,  0]))
    """

    def __init__(self, center, radius: float):
        self.center = as_finite_array(center, "center", ndim=(0, 1))
        self.radius = positive_float(radius, "radius")

    def _center(self, d):
        if self.center.ndim == 1 and self.center.shape[0] != d:
            raise ValueError(f"center must have shape ({d},), got {self.center.shape}")
        return np.broadcast_to(self.center, (d,)).astype(float)

    def arrays(self, d):
        c = self._center(d)
        return BALL, np.zeros(d), np.zeros(d), c, self.radius**2

    def classify(self, x, x_start):
        dx = x - self._center(x.shape[1])
        r2 = np.einsum("ij,ij->i", dx, dx)
        out = ~(r2 < self.radius**2)
        axis = np.argmax(np.where(np.isnan(dx), np.inf, np.abs(dx)), axis=1)
        side = np.sign(dx[np.arange(x.shape[0]), axis]).astype(int)
        return np.where(out, axis, -1), np.where(out, side, 0)

    def __repr__(self):
        return f"Ball(center={self.center.tolist()}, radius={self.radius})"


class Predicate(Domain):
    """A user domain ``{x : inside(x)}``; ``inside`` maps states ``(n, d)`` to bools ``(n,)``.

    The exit axis is the coordinate of largest displacement from the path's start. Runs on the
    numpy backend.

    Examples
    --------
    >>> import numpy as np
    >>> dom = Predicate(lambda x: x[:, 0] ** 2 + 4 * x[:, 1] ** 2 < 1)
    >>> dom.classify(np.array([[0.0, 0.6]]), np.zeros((1, 2)))
    (array([1]), array([1]))
    """

    def __init__(self, inside: Callable[[np.ndarray], np.ndarray]):
        if not callable(inside):
            raise TypeError(f"inside must be callable inside(x) -> (n,) bool, got "
                            f"{type(inside).__name__}")
        self.inside = inside

    def classify(self, x, x_start):
        ins = np.asarray(self.inside(x))
        if ins.shape != (x.shape[0],):
            raise ValueError(f"inside(x) must return shape ({x.shape[0]},) for x of shape "
                             f"{x.shape}, got {ins.shape}")
        out = ~ins.astype(bool) | ~np.all(np.isfinite(x), axis=1)
        dx = x - x_start
        axis = np.argmax(np.where(np.isnan(dx), np.inf, np.abs(dx)), axis=1)
        side = np.sign(dx[np.arange(x.shape[0]), axis]).astype(int)
        return np.where(out, axis, -1), np.where(out, side, 0)

    def __repr__(self):
        return f"Predicate({getattr(self.inside, '__name__', 'inside')})"


# ----------------------------------------------------------------------------- result
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


# ----------------------------------------------------------------------------- numpy reference
def _run_numpy(sde: SDE, x0: np.ndarray, h: float, n_max: int, rng, domain: Domain):
    """Reference loop: step the alive paths, classify, drop the exited. Returns raw arrays."""
    n, d = x0.shape
    steps = np.full(n, -1, dtype=np.int64)
    pos, axis, side = x0.copy(), np.full(n, -1, np.int64), np.zeros(n, np.int64)
    idx, x, start = np.arange(n), x0.copy(), x0.copy()

    def sweep(k):
        nonlocal idx, x
        ax, sd = domain.classify(x, start[idx])
        out = ax >= 0
        j = idx[out]
        steps[j], pos[j], axis[j], side[j] = k, x[out], ax[out], sd[out]
        idx, x = idx[~out], x[~out]

    sweep(0)
    for k in range(n_max):
        if idx.size == 0:
            break
        inc = sde.driver.increments(rng, h, (idx.size, sde.m))
        t = k * h
        with np.errstate(over="ignore", invalid="ignore"):
            x = x + h * sde.drift(t, x) + sde.noise_term(t, x, inc)
        sweep(k + 1)
    pos[idx] = x
    return steps, pos, axis, side


# ----------------------------------------------------------------------------- numba kernel
_KERNELS: dict = {}
_ANNOUNCED: set = set()  # (kernel key, numpy_rng) whose compilation has been announced


def _kernel_key(sde: SDE) -> tuple:
    """What a compiled kernel depends on; the coefficients it takes as arguments
    (:func:`_step_params`) are not part of it."""
    from .backends import numba_backend as nb
    if isinstance(sde, LinearSDE):
        return ("linear", sde.form)
    return ("generic",) + nb.generic_key(sde)


def _step_params(sde: SDE) -> tuple:
    """The run-time coefficients of the compiled step: ``(A, a, B, b)`` of a linear SDE, or the
    additive noise constant."""
    from .backends import numba_backend as nb
    if isinstance(sde, LinearSDE):
        return nb._linear_args(sde)[:4]
    return (nb.noise_constant(sde),)


@numba.njit(nogil=True, cache=True)
def _classify(dom, lo, hi, center, r2, xrow):
    """(axis, side) of one state; axis -1 inside (the rule of the Domain classes)."""
    d = xrow.shape[0]
    if dom == BOX:
        best, ax = -np.inf, -1
        for p in range(d):
            v = xrow[p]
            viol = np.inf if np.isnan(v) else max(lo[p] - v, v - hi[p])
            if viol > best:
                best, ax = viol, p
        if best >= 0:
            return ax, (1 if xrow[ax] >= hi[ax] else -1)
        return -1, 0
    s, best, ax = 0.0, -1.0, 0
    for p in range(d):
        dv = xrow[p] - center[p]
        s += dv * dv
        a = np.inf if np.isnan(dv) else abs(dv)
        if a > best:
            best, ax = a, p
    if s < r2:
        return -1, 0
    dv = xrow[ax] - center[ax]
    return ax, (1 if dv > 0 else (-1 if dv < 0 else 0))


@numba.njit(nogil=True, cache=True)
def _sweep(x, idx, n_alive, k, dom, lo, hi, center, r2, steps, pos, axis, side):
    """Record the paths outside the domain after step k; compact the alive ones to the front."""
    j = 0
    for i in range(n_alive):
        ax, sd = _classify(dom, lo, hi, center, r2, x[i])
        if ax >= 0:
            p = idx[i]
            steps[p], axis[p], side[p] = k, ax, sd
            pos[p] = x[i]
        else:
            if j != i:
                x[j] = x[i]
                idx[j] = idx[i]
            j += 1
    return j


def _build_kernel(sde: SDE):
    """Build (not yet compile) the first-exit kernel of ``sde``; raises ``NotCompilable`` for
    an ``f``/``g`` numba does not take."""
    from .backends import numba_backend as nb
    fill, sweep = nb._fill, _sweep
    if isinstance(sde, LinearSDE):
        dense = sde.form != "diag"
        diag_step, dense_step = nb._linear_diag_step, nb._linear_dense_step

        @numba.njit(nogil=True)
        def step(t, x, inc, hl, tmp, params, st):
            A, a, B, b = params
            if dense:
                dense_step(x, inc, hl, A, a, B, b, tmp[0])
            else:
                diag_step(x, inc, hl, A, a, B, b, tmp[0], tmp[1])
            return True
    else:
        user_step = nb.user_step(sde)

        @numba.njit(nogil=True)
        def step(t, x, inc, hl, tmp, params, st):
            return user_step(t, x, inc, hl, params[0], st)

    @numba.njit(nogil=True)
    def kernel(x0, h, n_max, rng, code, alpha, scale, params, dom, lo, hi, center, r2,
               steps, pos, axis, side, status):
        n, d = x0.shape
        x = x0.copy()
        idx = np.arange(n)
        buf = np.empty((n, alpha.shape[0]))
        tmp = np.empty((2, d))  # work rows for the linear steps
        n_alive = sweep(x, idx, n, 0, dom, lo, hi, center, r2, steps, pos, axis, side)
        for k in range(n_max):
            if n_alive == 0:
                break
            inc = buf[:n_alive]
            fill(code, rng, inc, h, alpha, scale)
            if not step(k * h, x[:n_alive], inc, h, tmp, params, status[0]):
                return  # f or g returned a wrong shape: recorded in status
            n_alive = sweep(x, idx, n_alive, k + 1, dom, lo, hi, center, r2,
                            steps, pos, axis, side)
        for i in range(n_alive):
            pos[idx[i]] = x[i]

    return kernel


def _kernel(sde: SDE, probe: np.ndarray, numpy_rng: bool, quiet: bool):
    """The compiled first-exit kernel of ``sde``, checked on the states ``probe`` ``(n, d)`` with
    the stream it will draw from (the chunk's ``Generator`` when ``numpy_rng``, else
    xoshiro256++); ``None`` after a RuntimeWarning that says why if numba cannot compile f/g.

    Compiled once per process for each drift/diffusion (:func:`_kernel_key`): SDEs that share
    ``f`` and ``g`` (e.g. the same drift with different α, noise constants or, for linear
    SDEs, coefficients) share the kernel. The first compilation of a user's f/g is announced on
    stderr unless ``quiet``. Raises :meth:`sdesim.SDE.shape_error` when f/g return a wrong shape
    on ``probe``.
    """
    from .backends import numba_backend as nb
    key = _kernel_key(sde)
    if key not in _KERNELS:
        try:
            _KERNELS[key] = _build_kernel(sde)
        except nb.NotCompilable as exc:
            nb.fallback_warning(exc, "this SDE's f/g for exit_times")
            _KERNELS[key] = None
    kernel = _KERNELS[key]
    if kernel is None:
        return None
    if not isinstance(sde, LinearSDE) and (key, numpy_rng) not in _ANNOUNCED:
        _ANNOUNCED.add((key, numpy_rng))
        nb.announce_compile(quiet)
    status = new_status(True)
    gen = np.random.default_rng(0)
    n, d = probe.shape
    alpha, scale = sde.driver.kernel_params(sde.m)
    try:
        kernel(probe, 1e-3, 1, gen if numpy_rng else xoshiro.seed_state(gen), sde.driver.code,
               alpha, scale, _step_params(sde), BOX, np.full(d, -np.inf), np.full(d, np.inf),
               np.zeros(d), 0.0, np.full(n, -1, np.int64), probe.copy(),
               np.full(n, -1, np.int64), np.zeros(n, np.int64), status)
    except nb.COMPILE_ERRORS as exc:
        nb.fallback_warning(exc, "this SDE's f/g for exit_times")
        _KERNELS[key] = None
        return None
    raise_shape_error(status, sde)
    return kernel


# ----------------------------------------------------------------------------- public API
def exit_times(sde: SDE, x0, domain: Domain, dt: float, t_max: float, n_paths: int, *,
               rng=None, backend: str = "numba", chunk_size: int | None = None,
               n_threads: int | None = None, quiet: bool = False) -> ExitTimes:
    """First exit times of Euler–Maruyama paths of ``sde`` from ``domain``, censored at ``t_max``.

    Paths start at ``x0`` (paths that start outside exit at time 0), step with ``dt``, are
    checked after every step, and stop when they leave. Chunk ``c`` of ``chunk_size`` paths
    uses the child generator ``c`` of ``rng`` (as :func:`sdesim.simulate`), so results depend on
    the seed and the chunk size only, never on ``n_threads``.

    Parameters
    ----------
    sde : SDE
        Any sdesim SDE, Brownian or ``Stable(alpha)`` driven.
    x0 : array_like (d,) or (n_paths, d)
    domain : Interval, Box, Ball or Predicate
    dt : float
        Step; ``t_max/dt`` must be an integer.
    t_max : float
        Censoring time.
    n_paths : int
    rng : int, Generator, SeedSequence or None
    backend : {"numba", "numpy", "numba-numpy-rng"}
        As in :func:`sdesim.simulate`: ``"numba"`` draws from the fast xoshiro256++ stream,
        ``"numba-numpy-rng"`` from numpy's, which gives the numpy backend's exit times exactly.
        ``Predicate`` domains always run on numpy.
    chunk_size : int, optional
        Paths per chunk (default :data:`CHUNK_SIZE`, the same for all backends so that
        ``"numpy"`` and ``"numba-numpy-rng"`` see the same noise); results depend on it.
    n_threads : int, optional
    quiet : bool
        Turn off the progress bar and the note on stderr while numba compiles a new ``f``/``g``.

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
    from .simulate import _check_sde, _child, _initial_states, _root_seed
    from tqdm.auto import tqdm
    sde = _check_sde(sde)
    if not isinstance(domain, Domain):
        raise TypeError(f"domain must be an Interval, Box, Ball or Predicate, got "
                        f"{type(domain).__name__}")
    dt = positive_float(dt, "dt")
    t_max = positive_float(t_max, "t_max")
    n_max = n_steps_for(t_max, dt)
    n_paths = positive_int(n_paths, "n_paths")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    x0 = _initial_states(x0, n_paths, sde.d)
    probe = sde.probe_states(x0)
    sde.check(0.0, probe)
    arrays = domain.arrays(sde.d)
    numpy_rng = backend == "numba-numpy-rng"
    kernel = (_kernel(sde, probe, numpy_rng, quiet) if backend != "numpy" and arrays is not None
              else None)
    source = (lambda gen: gen) if numpy_rng else xoshiro.seed_state
    size = positive_int(chunk_size, "chunk_size") if chunk_size is not None else CHUNK_SIZE
    seed = _root_seed(rng)
    steps = np.empty(n_paths, np.int64)
    pos = np.empty((n_paths, sde.d))
    axis, side = np.empty(n_paths, np.int64), np.empty(n_paths, np.int64)
    if kernel is not None:
        alpha, scale = sde.driver.kernel_params(sde.m)
        params = _step_params(sde)
        code, lo, hi, center, r2 = arrays

    def work(c: int) -> int:
        sl = slice(c * size, min((c + 1) * size, n_paths))
        xc = np.array(x0[sl], dtype=float)
        gen = _child(seed, c)
        if kernel is None:
            res = _run_numpy(sde, xc, dt, n_max, gen, domain)
            steps[sl], pos[sl], axis[sl], side[sl] = res
        else:
            s_, p_, a_, d_ = (np.full(len(xc), -1, np.int64), np.empty_like(xc),
                              np.full(len(xc), -1, np.int64), np.zeros(len(xc), np.int64))
            status = new_status(True)
            kernel(xc, dt, n_max, source(gen), sde.driver.code, alpha, scale, params, code, lo,
                   hi, center, r2, s_, p_, a_, d_, status)
            raise_shape_error(status, sde)
            steps[sl], pos[sl], axis[sl], side[sl] = s_, p_, a_, d_
        return sl.stop - sl.start

    n_chunks = -(-n_paths // size)
    bar = tqdm(total=n_paths, disable=quiet, delay=2.0, unit="path", desc="exit times",
               leave=False)
    try:
        if kernel is None:
            for c in range(n_chunks):
                bar.update(work(c))
        else:
            threads = n_threads or int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1))
            with ThreadPoolExecutor(max_workers=threads) as ex:
                for done in ex.map(work, range(n_chunks)):
                    bar.update(done)
    finally:
        bar.close()
    exited = steps >= 0
    times = np.where(exited, steps * dt, t_max)
    return ExitTimes(times, exited, pos, axis, side, dt, t_max)


# ----------------------------------------------------------------------------- exact references
def getoor_mean_exit_time(alpha, a: float, x=0.0, scale: float = 1.0):
    """Mean exit time of ``scale · L^α`` (standard SαS Lévy motion) from ``(-a, a)``, started at x.

    ``E_x σ = ((a² - x²)/scale²)^{α/2} / Γ(1 + α)``; at α = 2 (``√2 W`` times ``scale``) it is
    ``(a² - x²)/(2 scale²)``.

    Parameters
    ----------
    alpha : float in (0, 2]
    a : float > 0
    x : float or ndarray, ``|x| < a``
    scale : float > 0

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> round(getoor_mean_exit_time(2.0, 1.0), 6)
    0.5

    References
    ----------
    Getoor (1961), Trans. AMS 101:75, Thm. 5.3; docs/theory.md §C.6.
    """
    al = float(alpha_array(alpha))
    a = positive_float(a, "a")
    s = positive_float(scale, "scale")
    x = as_finite_array(x, "x")
    if np.any(np.abs(x) >= a):
        raise ValueError(f"x must lie in (-a, a) = ({-a}, {a})")
    out = ((a * a - x * x) / (s * s)) ** (al / 2) / math.gamma(1 + al)
    return float(out) if np.ndim(out) == 0 else out


def diffusion_mean_exit_time(U: Callable[[float], float], D: float, lo: float, hi: float,
                             x: float) -> float:
    """Mean exit time of ``dX = -U'(X) dt + √(2D) dW`` from ``(lo, hi)``, started at ``x``.

    Solves ``D T'' - U' T' = -1``, ``T(lo) = T(hi) = 0`` by quadrature:
    ``T(x) = (1/D) ∫_lo^x e^{U(y)/D} (C - ∫_lo^y e^{-U(z)/D} dz) dy`` with ``C`` fixed by
    ``T(hi) = 0``. Potentials are shifted by their minimum on the interval to avoid overflow.

    Parameters
    ----------
    U : callable ``U(y) -> float`` (scalar)
    D : float > 0
    lo, hi : float, ``lo < x < hi``
    x : float

    Returns
    -------
    float

    Examples
    --------
    OU with θ = 1, D = 0.25 from (-1, 1) (docs/theory.md §C.6: 4.5016):

    >>> round(diffusion_mean_exit_time(lambda y: y * y / 2, 0.25, -1.0, 1.0, 0.0), 4)
    4.5016

    References
    ----------
    Gardiner, Handbook of Stochastic Methods, §5.2.7; docs/theory.md §C.6.
    """
    from scipy import integrate
    D = positive_float(D, "D")
    lo, hi, x = float(lo), float(hi), float(x)
    if not lo < x < hi:
        raise ValueError(f"x must lie in (lo, hi) = ({lo}, {hi}), got {x}")
    grid = np.linspace(lo, hi, 201)
    u0 = min(U(v) for v in grid)
    ushift = lambda y: (U(y) - u0) / D  # noqa: E731
    inner = lambda y: integrate.quad(lambda z: math.exp(-ushift(z)), lo, y, limit=200)[0]  # noqa: E731
    opts = dict(limit=200, epsabs=0, epsrel=1e-10)
    num = integrate.quad(lambda y: math.exp(ushift(y)) * inner(y), lo, hi, **opts)[0]
    den = integrate.quad(lambda y: math.exp(ushift(y)), lo, hi, **opts)[0]
    C = num / den
    val = integrate.quad(lambda y: math.exp(ushift(y)) * (C - inner(y)), lo, x, **opts)[0]
    # the e^{-u0/D} factors of the two integrals cancel
    return val / D


def kramers_time(dU: float, curv_min: float, curv_saddle: float, D: float) -> float:
    """Kramers' mean time to *cross* a saddle: ``2π / sqrt(U''(m) |U''(s)|) · e^{ΔU/D}``.

    For ``dX = -U'(X) dt + √(2D) dW`` as ``D → 0``; the mean time to first *hit* the saddle is
    half of it.

    Examples
    --------
    >>> round(kramers_time(0.25, 2.0, 1.0, 0.25) / math.e, 4)
    4.4429

    References
    ----------
    Kramers (1940); docs/theory.md §C.6.
    """
    return 2 * math.pi / math.sqrt(curv_min * abs(curv_saddle)) * math.exp(dU / D)


def stable_tail_constant(alpha) -> np.ndarray | float:
    """``C_α = Γ(α) sin(πα/2)/π``: ``P(Z > x) ~ C_α x^{-α}`` for standard SαS Z (0 at α = 2).

    Examples
    --------
    >>> round(stable_tail_constant(1.0), 6)  # Cauchy: 1/π
    0.31831

    References
    ----------
    Samorodnitsky & Taqqu (1994), Property 1.2.15; docs/theory.md §0.5.
    """
    a = alpha_array(alpha)
    from scipy.special import gamma
    out = gamma(a) * np.sin(np.pi * a / 2) / np.pi
    return float(out) if np.ndim(out) == 0 else out


def big_jump_rate(alpha, eps, b_minus, b_plus):
    """Imkeller–Pavlyukevich exit rate ``λ = ε^α C_α (b_-^{-α} + b_+^{-α})`` (standard SαS).

    For ``dX = -U'(X) dt + ε dL^α`` with a stable point at 0 and exit interval ``(-b_-, b_+)``,
    ``λ σ_ε ⇒ Exp(1)`` as ε → 0, so ``E σ_ε ≈ 1/λ``; ``P(exit right) → b_+^{-α}/(b_-^{-α} +
    b_+^{-α})``. Vectorised over its arguments.

    Examples
    --------
    >>> r = big_jump_rate(1.5, 0.1, 1.0, 1.0)
    >>> round(float(r), 6) == round(2 * 0.1**1.5 * stable_tail_constant(1.5), 6)
    True

    References
    ----------
    Imkeller & Pavlyukevich (2006), SPA 116:611, Thm. 1.1 (normalisation converted:
    their Lévy measure ``|y|^{-1-α}`` is ``α C_α`` times ours); docs/theory.md §C.6.
    """
    a = np.asarray(alpha, dtype=float)
    return (np.asarray(eps, float) ** a * stable_tail_constant(a) *
            (np.asarray(b_minus, float) ** -a + np.asarray(b_plus, float) ** -a))


def scheduler_survival(u, rate0: float, alpha: float, scheduler: Callable[[float], float]):
    """Big-jump survival ``P(σ > u) = exp(-rate0 ∫_0^u s_t^{α-1} dt)`` under a scheduler.

    For the lr-weighted Lévy SDE of SGD (TMLR eq. 3), noise ``s_t^{(α-1)/α} ε dL`` has
    big-jump rate ``s_t^{α-1} rate0``; with ``s_t = (1+t)^{γ-1}`` the integral is
    ``((1+u)^{γ_l} - 1)/γ_l`` with ``γ_l = 1 + (γ-1)(α-1)`` (``log(1+u)`` at ``γ_l = 0``).

    The integral is exact for the schedulers of :mod:`sdesim.levy`: the closed form above for
    :func:`~sdesim.levy.power_law_scheduler`, a sum over the pieces for
    :func:`~sdesim.levy.multistep_scheduler`. Any other ``s`` is integrated numerically in
    ``τ = log(1 + t)`` (``dt = e^τ dτ``) on pieces of unit length in τ, so that the quadrature
    sees the mass near ``t = 0`` at every horizon (on ``[0, 10⁷]`` in ``t`` it does not).

    Parameters
    ----------
    u : float or array_like
        Times ``>= 0``.
    rate0 : float
        Rate without the scheduler (:func:`big_jump_rate`), ``>= 0``.
    alpha : float
    scheduler : callable ``s(t) -> float``, ``s >= 0``

    Returns
    -------
    float or ndarray (the shape of ``u``), in ``[0, 1]``.

    Raises
    ------
    ValueError
        ``u < 0``, ``rate0 < 0``, α outside (0, 2], a scheduler value that is negative or not
        finite.
    TypeError
        ``scheduler`` is not callable.

    Examples
    --------
    >>> round(float(scheduler_survival(1.0, 2.0, 1.5, lambda t: 1.0)), 6) == round(math.exp(-2), 6)
    True

    References
    ----------
    TMLR Thm. E.4 and γ_l; docs/theory.md §C.6 ("with a scheduler").
    """
    al = float(alpha_array(alpha))
    rate = float(as_finite_array(rate0, "rate0", ndim=(0,)))
    if rate < 0:
        raise ValueError(f"rate0 must be >= 0, got {rate}")
    us = np.atleast_1d(as_finite_array(u, "u"))
    if np.any(us < 0):
        raise ValueError(f"u must be >= 0, got {us.min()}")
    if not callable(scheduler):
        raise TypeError(f"scheduler must be callable s(t) -> float, got {type(scheduler).__name__}")
    integral = _scheduler_integral(us, al - 1.0, scheduler)
    if not np.all(np.isfinite(integral)) or np.any(integral < 0):  # the closed forms
        raise ValueError("scheduler(t) must return finite values >= 0 on [0, u]")
    out = np.exp(-rate * integral)
    return float(out[0]) if np.ndim(u) == 0 else out


def _scheduler_integral(us: np.ndarray, p: float, scheduler: Callable) -> np.ndarray:
    """``∫_0^u s_t^p dt`` for each ``u`` of ``us`` (any shape): exact for the power-law and
    multi-step schedulers of :mod:`sdesim.levy` (their ``kind`` and ``params``), else
    :func:`_log_time_quad`."""
    kind, params = getattr(scheduler, "kind", None), getattr(scheduler, "params", None)
    if kind == "power_law":
        gl = 1.0 + (params["gamma"] - 1.0) * p
        L = np.log1p(us)
        return L if gl == 0 else np.expm1(gl * L) / gl
    if kind == "multistep":
        edges = np.r_[0.0, params["milestones"]]   # piece q: (edges[q], edges[q+1]], the last
        widths = np.r_[np.diff(edges), np.inf]      # one unbounded
        return np.clip(us[..., None] - edges, 0.0, widths) @ params["factors"] ** p
    return np.array([_log_time_quad(v, p, scheduler) for v in us.flat]).reshape(us.shape)


def _log_time_quad(u: float, p: float, scheduler: Callable) -> float:
    """``∫_0^u s_t^p dt = ∫_0^{log(1+u)} s(e^τ - 1)^p e^τ dτ`` by ``quad`` on unit pieces of τ
    (relative tolerance 1e-11 on each)."""
    from scipy import integrate
    ends = np.r_[np.arange(0.0, math.log1p(u), 1.0), math.log1p(u)]

    def f(tau):
        t = math.expm1(tau)
        v = float(scheduler(t))
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"scheduler(t) must return finite values >= 0, got {v} at t = {t:g}")
        return v ** p * math.exp(tau)
    return float(sum(integrate.quad(f, a, b, epsabs=0.0, epsrel=1e-11, limit=200)[0]
                     for a, b in zip(ends[:-1], ends[1:])))
