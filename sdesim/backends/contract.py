"""The backend contract: what every backend provides, in one abstract class.

A backend steps many paths of one :class:`sdesim.SDE` at once with the scheme's update
(:class:`sdesim.schemes.EulerMaruyama`). The chunk engine (:mod:`sdesim.engine`) cuts the paths
into chunks, gives each chunk its own ``numpy.random.Generator`` and calls the backend once per
chunk; the backend never sees the root seed, the threads or the other chunks. Backends are
found by name through :func:`sdesim.backends.get_backend`; a new backend is one module with a
:class:`Backend` object plus its line in the registry.

Shapes: ``n`` paths of the chunk, state dimension ``d = sde.d``, noise dimension ``m = sde.m``.

Seeding: everything random in a chunk comes from the chunk's ``rng``, so a chunk's result is
a function of its arguments and the generator's state only. Increments are drawn per fine step
as one ``(n, m)`` block (``sde.driver.increments``) in row-major order; a backend that draws
from ``rng`` itself (``"numpy"``, ``"numba-numpy-rng"``) draws exactly these numbers, one that
seeds a faster stream from it (``"numba"``: xoshiro256++) agrees in law only.

Errors: a wrong shape returned by ``f`` or ``g`` raises :meth:`sdesim.SDE.shape_error` (the
shapes are checked at every call: no backend reads or writes outside its arrays); a non-finite
state raises :class:`~.errors.SimulationDiverged` unless the caller keeps going.

Exit times: a domain reaches a backend as the object (``sdesim.escape``'s domains) with
``classify(x, x_start) -> (axis, side)`` and ``arrays(d) -> DomainArrays | None``, its encoding
for compiled kernels (:data:`BOX` or :data:`BALL`; ``None`` for a user predicate, which only
the numpy backend runs).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, NamedTuple

import numpy as np

__all__ = ["Backend", "ExitChunk", "DomainArrays", "BOX", "BALL"]

BOX, BALL = 0, 1  # domain codes of DomainArrays


class DomainArrays(NamedTuple):
    """A domain encoded for compiled kernels.

    ``code == BOX``: ``{x : lo < x < hi}`` (``lo``, ``hi`` of shape ``(d,)``, entries may be
    ±inf); the exit axis is the coordinate furthest outside its bounds, the side ``+1`` at or
    above ``hi``, else ``-1``. ``code == BALL``: ``{x : |x - center|² < r2}``; the exit axis is
    the coordinate of largest ``|x_i - center_i|``, the side its sign. A NaN coordinate counts
    as outside, furthest of all.
    """

    code: int
    lo: np.ndarray
    hi: np.ndarray
    center: np.ndarray
    r2: float


class ExitChunk(NamedTuple):
    """First exits of the ``n`` paths of one chunk, in path order.

    ``steps`` ``(n,)``: the step after which the path was first outside (0: it started
    outside), ``-1`` if it was inside after every step; ``position`` ``(n, d)``: the state then
    (the last state when censored); ``axis`` ``(n,)``: exit axis, ``-1`` when censored;
    ``side`` ``(n,)``: ``±1``, ``0`` when censored.
    """

    steps: np.ndarray
    position: np.ndarray
    axis: np.ndarray
    side: np.ndarray


class Backend(ABC):
    """A backend: plain runs and coupled levels (:meth:`run_chunk`), first exits
    (:meth:`exit_chunk`), each after an optional :meth:`prepare` / :meth:`prepare_exit`.

    Attributes
    ----------
    name : str
        The name it is registered under (one of :data:`sdesim.backends.BACKENDS`).
    parallel : bool
        Whether chunks may run on several threads at once (its kernels release the GIL).
    counter_based : bool
        Whether its noise is a function of (seed, global path index, step) alone: then
        :meth:`run_chunk` and :meth:`exit_chunk` also take ``path_start``, the global index
        of the chunk's first path, and results do not depend on the chunk size (``"torch"``);
        otherwise it draws from the chunk's ``rng`` in order and results depend on the chunk
        size.
    device_states : bool
        Whether its states live on a device other than the host's memory (``"torch"`` on
        CUDA): then :meth:`run_chunk` also takes ``as_tensor=True`` and returns the states on
        that device, as float64 arrays of its library (torch tensors; numpy arrays where the
        run's device is the host), so that ``expectation`` evaluates ``phi`` and the chunk's
        moments there and copies only those to the host; and ``x0`` may then be a read-only
        broadcast view (every row one row, row stride 0), which crosses to the device as one
        row.
    chunk_work : int
        State entries (paths × d × levels) in a default chunk of a backend that runs chunks
        one after another (:func:`sdesim.simulate.default_chunk_size`): 2^20 for the numpy
        backend (its per-call overhead is amortised by then), 2^24 for torch (a GPU kernel
        needs ~10^7 entries to fill the device and amortise a chunk's launches and copies).

    A backend with options (``"torch"``: ``device``, ``dtype``) takes them as keyword arguments
    of :meth:`prepare` and :meth:`prepare_exit`; they are passed only when the caller gave them
    (:func:`sdesim.backends.backend_options`).
    """

    name: str
    parallel: bool
    counter_based: bool = False
    device_states: bool = False
    chunk_work: int = 2**20

    @abstractmethod
    def prepare(self, sde, probe: np.ndarray, *, quiet: bool = True):
        """Compile or load what :meth:`run_chunk` runs for ``sde``, checked on the states
        ``probe`` ``(k, d)``; announce a first compilation on stderr unless ``quiet``.

        Returns
        -------
        A handle to pass back as ``run_chunk(..., kernel=handle)`` (the numpy backend, which
        prepares nothing, returns True), or ``None`` when this backend cannot run ``sde``
        (``f``/``g``/driver it cannot compile) after a RuntimeWarning that says why: the caller
        then runs the numpy backend.

        Raises
        ------
        ValueError
            :meth:`sdesim.SDE.shape_error` when ``f``/``g`` return a wrong shape on ``probe``.
        """

    @abstractmethod
    def run_chunk(self, sde, x0: np.ndarray, h: float, n_fine: int, ratios, save_steps,
                  rng: np.random.Generator, keep_nonfinite: bool = False, *,
                  progress: Callable[[int], None] | None = None, kernel=None) -> np.ndarray:
        """Run the scheme on one chunk of paths, on one grid or several coupled ones.

        Parameters
        ----------
        sde : SDE
        x0 : ndarray ``(n, d)``
            Initial states of the chunk's paths (not modified).
        h : float
            The fine step.
        n_fine : int
            Number of fine steps.
        ratios : sequence of int ``(L,)``
            Level ``l`` steps with ``ratios[l] * h`` and is driven by the sums of the fine
            increments it contains (coupled grids); a plain run is ``ratios = (1,)``.
        save_steps : sorted ints ``(S,)``
            Fine-step indices (multiples of every ratio; 0 is the start) at which to save.
        rng : numpy.random.Generator
            The chunk's generator (module docstring: seeding).
        keep_nonfinite : bool
            Keep stepping after a state becomes inf/NaN (it propagates into the output)
            instead of raising.
        progress : callable ``progress(path_steps)``, optional
            Called with ``n × (steps done)`` after every block of
            :func:`~.common.step_blocks`, so that a long chunk reports as it goes; results do
            not depend on the blocks.
        kernel : optional
            What :meth:`prepare` returned; prepared here when omitted.

        Returns
        -------
        ndarray ``(L, S, n, d)``: level ``l`` at fine step ``save_steps[s]``.

        Raises
        ------
        ValueError
            :meth:`sdesim.SDE.shape_error` (wrong shape from ``f``/``g`` at any call).
        SimulationDiverged
            A state became non-finite (unless ``keep_nonfinite``): the level step, its time,
            the number of paths of the chunk affected.
        """

    @abstractmethod
    def prepare_exit(self, sde, probe: np.ndarray, domain, *, quiet: bool = True):
        """As :meth:`prepare`, for :meth:`exit_chunk` in ``domain``.

        Returns ``None`` also, without a warning, when this backend does not run ``domain``
        (compiled backends run domains with an array encoding only).
        """

    @abstractmethod
    def exit_chunk(self, sde, x0: np.ndarray, h: float, n_max: int, domain,
                   rng: np.random.Generator, *, kernel=None) -> ExitChunk:
        """First exits from ``domain`` of the scheme's paths from ``x0``, censored after
        ``n_max`` steps.

        Every path is checked at the start and after every step of ``h`` and stops at its
        first check outside ``domain``. Each step draws the increments of the paths still
        inside, in path order, as one ``(n_alive, m)`` block from ``rng`` (or the stream seeded
        from it): finished paths cost nothing.

        Parameters
        ----------
        sde : SDE
        x0 : ndarray ``(n, d)``
        h : float
        n_max : int
        domain : a domain of :mod:`sdesim.escape` (module docstring)
        rng : numpy.random.Generator
            The chunk's generator.
        kernel : optional
            What :meth:`prepare_exit` returned; prepared here when omitted.

        Returns
        -------
        ExitChunk

        Raises
        ------
        ValueError
            :meth:`sdesim.SDE.shape_error` (wrong shape from ``f``/``g`` at any call).
        """
