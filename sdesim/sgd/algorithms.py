"""SGD, noisy GD, SVAG (and GD) on one recursion engine, vectorised over paths and streamed.

All methods are the recursion ``x_{k+1} = x_k - η_k (ĝ_k(x_k) + λ x_k)`` with a method-specific
gradient estimate ``ĝ`` and step ``η_k = lr · schedule(t_k) / l``:

=============  ==============================================================  =====  =======
method         ``ĝ(x)``                                                        LR     steps
=============  ==============================================================  =====  =======
``"gd"``       ``∇L(x)``                                                       η      T/η
``"sgd"``      ``∇L_γ(x)``, one minibatch of size B (LMA eq. 1)                η      T/η
``"ngd"``      ``∇L(x) + Σ(x)^{1/2} z`` (LMA eq. 3; exactly EM at h = η)       η      T/η
``"svag"``     ``c₁∇L_γ₁ + c₂∇L_γ₂``, ``c_{1,2} = (1 ± √(2l-1))/2`` (eq. 5)     η/l    lT/η
``"naive"``    ``∇L + √l (∇L_γ - ∇L)``: one batch's noise scaled by √l          η/l    lT/η
=============  ==============================================================  =====  =======

Time is SDE time: one SGD step is η, one SVAG step η/l (docs/theory.md §0.2), so all methods are
compared at the same ``T``. ``"naive"`` has SVAG's mean and covariance but a third moment of order
``l^{-1/2}`` instead of ``l^{-1}``; it exists to show why SVAG needs two batches (Lemma 4.7).

Paths run through the chunk engine (:func:`sdesim.engine.run_chunks`): chunk ``c`` of paths
uses the child seed ``(c,)`` of ``rng``, as in :func:`sdesim.simulate`, so results depend on the
seed and ``chunk_size`` only.

Coupled runs (``noise_grid=``). By default the steps of a chunk draw from its generator one
after another. With ``noise_grid = δ`` the step at SDE time ``t`` draws from the child
``(t/δ,)`` of the chunk's seed instead, so two runs with the same ``rng``, ``chunk_size`` and
``δ`` draw the same randomness (minibatch indices, Gaussian weights) at every SDE time they
share. Each run keeps its law (its steps still draw independent randomness); SVAG at l and 2l
with ``δ = η/(2l)`` (or any common refinement) are then coupled: the l-run's two batches at time
``t`` are the first two of the 2l-run's four batches in ``[t, t + η/l)`` (an oracle's
``sample_grad_mix`` draws its batches in order), and ``E g(x^l) - E g(x^{2l})`` is estimated from
paired runs with a smaller variance than from independent ones.

References
----------
Li, Malladi & Arora (2021), eqs. (1), (3), (5), (7); Lemma 4.7; docs/theory.md §0.2–0.4, §C.3.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from .._arrays import all_finite, host, rows_not_finite
from .._validate import (initial_states, n_steps_for, phi_values, positive_float, positive_int,
                        renamed)
from ..backends import SimulationDiverged
from ..distributed.executors import resolve_executor
from ..engine import SharedRows, child_generator, root_seed, run_chunks
from ..simulate import Paths
from ..stats import Estimate, MomentAccumulator
from .oracles import Oracle

__all__ = ["SGD_METHODS", "svag_coefficients", "gradient_estimate", "run", "expectation",
           "gd", "sgd", "ngd", "svag"]

#: The training recursions of :func:`run` (not the tail-index estimators,
#: :data:`sdesim.levy.TAIL_INDEX_METHODS`).
SGD_METHODS = ("gd", "sgd", "ngd", "svag", "naive")


def svag_coefficients(l: float) -> tuple[float, float]:
    """SVAG weights ``c_{1,2} = (1 ± √(2l-1))/2``: ``c₁ + c₂ = 1``, ``c₁² + c₂² = l`` (LMA eq. 5).

    Raises
    ------
    ValueError
        If ``l < 1``.

    Examples
    --------
    >>> svag_coefficients(1.0)
    (1.0, 0.0)
    """
    l = _check_l(l)
    s = math.sqrt(2.0 * l - 1.0)
    return (1.0 + s) / 2.0, (1.0 - s) / 2.0


def _check_l(l) -> float:
    l = positive_float(l, "l")
    if l < 1:
        raise ValueError(f"l must be >= 1 (SVAG's variance amplification), got {l}")
    return l


def _method_l(method: str, l, batch_size) -> float:
    """``l`` of ``method``, checked: only ``"svag"``/``"naive"`` use it, and ``"gd"`` takes no
    ``batch_size`` (both would otherwise be ignored without a word)."""
    if method not in SGD_METHODS:
        raise ValueError(f"method must be one of {SGD_METHODS}, got {method!r}")
    if method in ("svag", "naive"):
        return _check_l(l)
    if l != 1:
        raise ValueError(f"l (SVAG's amplification) only applies to method='svag' or 'naive'; "
                         f"method={method!r} would ignore it: leave l=1, got l={l!r}")
    if method == "gd" and batch_size != 1:
        raise ValueError(f"batch_size does not apply to method='gd' (full-batch gradients), which "
                         f"would ignore it: leave batch_size=1, got batch_size={batch_size!r}")
    return 1.0


def gradient_estimate(oracle: Oracle, method: str, x: np.ndarray, rng: np.random.Generator,
                      batch_size: int = 1, l: float = 1.0) -> np.ndarray:
    """The gradient estimate ``ĝ(x)`` of ``method`` (module table), shape ``(n, d)``.

    Raises
    ------
    ValueError
        Unknown ``method``; ``l != 1`` with a method other than ``"svag"``/``"naive"``;
        ``batch_size != 1`` with ``"gd"``; a bad ``batch_size`` (from the oracle).

    Examples
    --------
    >>> import numpy as np
    >>> from sdesim.sgd import NoisyQuadratic
    >>> g = gradient_estimate(NoisyQuadratic([[1.0]]), "gd", np.ones((2, 1)), None)
    >>> g.ravel().tolist()
    [1.0, 1.0]
    """
    return _estimate(oracle, method, x, rng, batch_size, _method_l(method, l, batch_size))


def _estimate(oracle: Oracle, method: str, x: np.ndarray, rng, batch_size: int, l: float):
    """:func:`gradient_estimate` for arguments already checked (the per-step call of a run)."""
    if method == "gd":
        return oracle.grad(x)
    if method == "sgd":
        return oracle.sample_grad(x, rng, batch_size)
    if method == "ngd":
        return oracle.gaussian_grad(x, rng, batch_size)
    if method == "svag":
        return oracle.sample_grad_mix(x, rng, batch_size, svag_coefficients(l))
    if method == "naive":
        g = oracle.grad(x)
        return g + math.sqrt(l) * (oracle.sample_grad(x, rng, batch_size) - g)
    raise ValueError(f"method must be one of {SGD_METHODS}, got {method!r}")


@dataclass(frozen=True)
class _Plan:
    """Validated run parameters: per-step LR, steps, save indices."""

    lr_steps: np.ndarray  # (n_steps,) step sizes η_k
    h: float               # nominal step (SDE time per step)
    save_steps: np.ndarray
    noise_keys: np.ndarray | None  # (n_steps,) t_k / noise_grid, or None (one running stream)


def _plan(lr, T, method, l, batch_size, schedule, save_at, noise_grid=None) -> _Plan:
    lr = positive_float(lr, "lr")
    T = positive_float(T, "T")
    l = _method_l(method, l, batch_size)
    h = lr / l
    n = n_steps_for(T, h, "lr" if l == 1 else "lr/l")
    ts = h * np.arange(n)
    if schedule is None:
        lr_steps = np.full(n, h)
    else:
        if not callable(schedule):
            raise TypeError(f"schedule must be callable schedule(t) -> factor, got "
                            f"{type(schedule).__name__}")
        fac = np.array([float(schedule(t)) for t in ts])
        if not np.all(np.isfinite(fac)) or np.any(fac < 0):
            raise ValueError("schedule(t) must return finite factors >= 0")
        lr_steps = h * fac
    if save_at is None:
        save = np.arange(n + 1)
    else:
        t = np.atleast_1d(np.asarray(save_at, dtype=float))
        k = np.rint(t / h).astype(np.int64)
        if np.any(k < 0) or np.any(k > n) or np.any(np.abs(k * h - t) > 1e-9 * max(1.0, T)):
            raise ValueError(f"save_at must be multiples of the step {h:g} in [0, T = {T:g}]")
        save = np.unique(k)
    return _Plan(lr_steps, h, save, _noise_keys(noise_grid, h, n))


def _noise_keys(noise_grid, h: float, n: int) -> np.ndarray | None:
    """The keys ``t_k / noise_grid`` of the ``n`` steps of size ``h`` (None: no grid)."""
    if noise_grid is None:
        return None
    stride = h / positive_float(noise_grid, "noise_grid")
    m = round(stride)
    if m < 1 or abs(stride - m) > 1e-9 * stride:
        raise ValueError(f"noise_grid must divide the step {h:g} (lr, or lr/l for SVAG) an "
                         f"integer number of times, got noise_grid = {noise_grid:g}")
    return m * np.arange(n, dtype=np.int64)


def _chunks(oracle, x0, plan, method, batch_size, l, weight_decay, seed, chunk_size,
            quiet, desc, reduce: Callable | None = None, executor=None) -> Iterator:
    """Yield the saved states of each chunk of paths, in chunk order: a list of ``S`` arrays
    ``(n_c, d)`` in the oracle's namespace (:meth:`Oracle.asarray`), or ``reduce`` of it
    (computed in the chunk's task, wherever ``executor`` runs it)."""
    n_paths, d = x0.shape
    size = positive_int(chunk_size, "chunk_size") if chunk_size is not None else \
        max(1, 2**16 // d)
    executor = resolve_executor(executor, False)
    rows = SharedRows(x0)

    def task(chunk):
        x = oracle.asarray(rows[chunk.start:chunk.stop])
        out = _recursion(oracle, x, chunk.rng, plan, method, batch_size, l, weight_decay)
        return out if reduce is None else reduce(out)

    from tqdm.auto import tqdm
    bar = tqdm(total=n_paths, disable=quiet, delay=2.0, unit="path", desc=desc, leave=False)
    try:
        for c, out in enumerate(run_chunks(task, n_paths, size, seed, executor=executor)):
            bar.update(min(size, n_paths - c * size))
            yield out
    finally:
        bar.close()


def _recursion(oracle, x, rng, plan, method, batch_size, l, weight_decay) -> list:
    """Run the recursion from the states ``x`` ``(n, d)`` (numpy, or the oracle's arrays) with
    the generator ``rng`` (one chunk of paths); return the ``S`` saved states ``(n, d)``."""
    S = len(plan.save_steps)
    out = []
    if plan.save_steps[0] == 0:
        out.append(x)
    seed = None if plan.noise_keys is None else rng.bit_generator.seed_seq
    for k, eta in enumerate(plan.lr_steps):
        step_rng = rng if seed is None else child_generator(seed, int(plan.noise_keys[k]))
        g = _estimate(oracle, method, x, step_rng, batch_size, l)
        if weight_decay:
            g = g + weight_decay * x
        x = x - eta * g
        if not all_finite(x):
            raise SimulationDiverged(k + 1, (k + 1) * plan.h, rows_not_finite(x), x.shape[0],
                                     plan.h, step_name="lr")
        if len(out) < S and plan.save_steps[len(out)] == k + 1:
            out.append(x)
    return out


def _setup(oracle, x0, n_paths, batch_size, weight_decay):
    if not isinstance(oracle, Oracle):
        raise TypeError(f"oracle must be a sdesim.sgd Oracle (e.g. FunctionOracle), got "
                        f"{type(oracle).__name__}")
    n_paths = positive_int(n_paths, "n_paths")
    x = initial_states(host(x0), n_paths, oracle.d)
    B = oracle.check_batch_size(batch_size)
    wd = float(weight_decay)
    if not math.isfinite(wd) or wd < 0:
        raise ValueError(f"weight_decay must be finite and >= 0, got {weight_decay}")
    oracle.check(np.array(x[:2], dtype=float), B)
    return x, n_paths, B, wd


def run(oracle: Oracle, x0, *, T: float, lr: float, method: str = "sgd", batch_size: int = 1,
        l: float = 1.0, weight_decay: float = 0.0, schedule: Callable | None = None,
        n_paths: int = 1, save_at=None, rng=None, chunk_size: int | None = None,
        quiet: bool = False, executor=None, noise_grid: float | None = None) -> Paths:
    """Run ``method`` on ``oracle`` for SDE time ``T`` over ``n_paths`` paths; return the paths.

    Parameters
    ----------
    oracle : Oracle
    x0 : array_like (d,) or (n_paths, d)
    T : float
        SDE time; the run takes ``T/η`` steps (``l T/η`` for SVAG), which must be an integer.
    lr : float
        Learning rate η > 0 (SVAG and ``"naive"`` step with η/l).
    method : {"gd", "sgd", "ngd", "svag", "naive"}
        See the module table.
    batch_size : int
        Minibatch size B (``<= n_examples`` without replacement); not for ``"gd"``.
    l : float
        SVAG's amplification ``l >= 1`` (``"svag"``/``"naive"`` only: other methods raise on
        ``l != 1`` rather than ignore it).
    weight_decay : float
        λ >= 0: the step is ``x - η_k (ĝ + λ x)`` (LMA eq. 7).
    schedule : callable ``schedule(t) -> float``, optional
        LR factor at SDE time ``t = k η/l`` of step k (default 1).
    n_paths : int
    save_at : array_like, optional
        SDE times to save (multiples of the step); default every step.
    rng : int, Generator, SeedSequence or None
        Seed (default fresh entropy).
    chunk_size : int, optional
        Paths per chunk (default ``2^16 // d``); results depend on it.
    quiet : bool
        No progress bar.
    executor : optional
        Where the chunks run (default serial): ``"threads"``, ``"dask"``, a
        ``distributed.Client``, ... as in :func:`sdesim.simulate`; the paths do not depend on
        it (docs/cluster.md).
    noise_grid : float, optional
        Key each step's randomness to its SDE time on this grid (it must divide the step): runs
        with the same ``rng``, ``chunk_size`` and ``noise_grid`` share the randomness of the
        times they share, e.g. SVAG at l and 2l with ``noise_grid = lr/(2l)`` (module
        docstring, "Coupled runs"). Default: one running stream per chunk.

    Returns
    -------
    Paths
        ``ts`` (SDE times) and ``xs`` of shape ``(n_times, n_paths, d)``.

    Raises
    ------
    ValueError
        ``lr <= 0``, ``l < 1``, ``batch_size`` not an integer >= 1 or larger than the data set
        without replacement, an argument the method would ignore (``l != 1`` without SVAG,
        ``batch_size != 1`` with ``"gd"``), ``T`` not a multiple of the step, ``noise_grid`` not
        dividing the step, bad ``x0``, wrong shapes from the oracle.
    SimulationDiverged
        A state became non-finite (step and time in the message).

    Examples
    --------
    >>> import numpy as np
    >>> from sdesim.sgd import NoisyQuadratic, run
    >>> p = run(NoisyQuadratic([[1.0]]), [1.0], T=1.0, lr=0.1, method="svag", l=4,
    ...         n_paths=8, rng=0, quiet=True)
    >>> p.xs.shape   # 4 * 10 steps of SDE time 0.025
    (41, 8, 1)

    References
    ----------
    LMA eqs. (1), (3), (5), (7); docs/theory.md §0.2–0.4.
    """
    x, n_paths, B, wd = _setup(oracle, x0, n_paths, batch_size, weight_decay)
    plan = _plan(lr, T, method, l, batch_size, schedule, save_at, noise_grid)
    xs = np.empty((len(plan.save_steps), n_paths, oracle.d))
    i = 0
    for out in _chunks(oracle, x, plan, method, B, l, wd, root_seed(rng), chunk_size, quiet,
                       method, None, executor):
        n_c = out[0].shape[0]
        for s, xs_s in enumerate(out):
            xs[s, i:i + n_c] = host(xs_s)
        i += n_c
    return Paths(plan.save_steps * plan.h, xs)


@renamed(g="phi")
def expectation(oracle: Oracle, x0, phi: Callable, *, T: float, lr: float, n_paths: int,
                method: str = "sgd", batch_size: int = 1, l: float = 1.0,
                weight_decay: float = 0.0, schedule: Callable | None = None, times=None,
                rng=None, chunk_size: int | None = None, quiet: bool = False,
                executor=None, noise_grid: float | None = None) -> Estimate:
    """Streamed Monte-Carlo estimate of ``E phi(x_k)`` at SDE time ``T`` (or at ``times``).

    Memory is bounded by one chunk of paths whatever ``n_paths``.

    Parameters
    ----------
    oracle, x0, T, lr, method, batch_size, l, weight_decay, schedule, rng, chunk_size, quiet
        As in :func:`run`.
    noise_grid : float, optional
        As in :func:`run`: coupled estimates at several l (module docstring).
    phi : callable ``phi(x) -> (n,)`` or ``(n, k)``
        Test function on states ``(n, d)``, given in the oracle's namespace (numpy arrays, or
        torch tensors on the model's device for :class:`sdesim.torch.TorchOracle`); its values
        are brought to numpy.
    n_paths : int
        Paths, at least 2 (a standard error needs two).
    times : array_like, optional
        SDE times (multiples of the step); default ``T`` only.
    executor : optional
        Where the chunks run (default serial): ``"threads"``, ``"dask"``, a
        ``distributed.Client``, ``"torch.distributed"``, ... as in :func:`sdesim.simulate`;
        the estimate does not depend on it (docs/cluster.md).

    Returns
    -------
    Estimate
        Shapes as :func:`sdesim.expectation`: ``()``, ``(k,)``, ``(n_times,)`` or
        ``(n_times, k)``.

    Raises
    ------
    TypeError
        ``phi`` not callable; the old keyword ``g=`` (the test function is ``phi``; ``g`` is an
        SDE's diffusion).
    ValueError
        ``n_paths < 2``, and the errors of :func:`run`.

    Examples
    --------
    >>> from sdesim.sgd import NoisyQuadratic, expectation
    >>> est = expectation(NoisyQuadratic([[1.0]]), [1.0], lambda x: x[:, 0], T=1.0, lr=0.1,
    ...                   n_paths=1000, rng=0, quiet=True)
    >>> round(float(est.mean), 2)   # E x_k = 0.9^10 exactly
    0.35
    """
    if not callable(phi):
        raise TypeError(f"phi must be callable phi(x) -> (n,) or (n, k), got "
                        f"{type(phi).__name__}")
    positive_int(n_paths, "n_paths", minimum=2)
    x, n_paths, B, wd = _setup(oracle, x0, n_paths, batch_size, weight_decay)
    plan = _plan(lr, T, method, l, batch_size, schedule, T if times is None else times,
                 noise_grid)
    if times is not None and len(plan.save_steps) != np.size(times):
        raise ValueError("times must not contain duplicates")

    def summary(out: list) -> tuple:  # in the chunk's task: its moments, not its paths
        vals = [phi_values(lambda z: host(phi(z)), x_s) for x_s in out]
        return MomentAccumulator.of(np.concatenate([v for v, _ in vals], axis=1)), vals[0][1]

    acc = None
    for part, scalar in _chunks(oracle, x, plan, method, B, l, wd, root_seed(rng), chunk_size,
                                quiet, method, summary, executor):
        acc = part if acc is None else acc.merge(part)  # in chunk order, on every executor
    est = acc.estimate()
    S = len(plan.save_steps)
    shape = (S, acc.dim // S)
    if scalar:
        shape = shape[:1]
    if times is None:
        shape = shape[1:]
    return Estimate(est.mean.reshape(shape)[()], est.stderr.reshape(shape)[()], est.n)


def _method_runner(method: str, doc: str, extra: str = ""):
    def runner(oracle: Oracle, x0, *, T: float, lr: float, **kwargs) -> Paths:
        return run(oracle, x0, T=T, lr=lr, method=method, **kwargs)
    runner.__name__ = method
    runner.__doc__ = f"""{doc}

    Same arguments and return value as :func:`run`.

    Examples
    --------
    >>> from sdesim.sgd import NoisyQuadratic, {method}
    >>> p = {method}(NoisyQuadratic([[1.0]], [[0.5]]), [1.0], T=1.0, lr=0.1,{extra} n_paths=8,
    ...         rng=0, quiet=True)
    >>> p.xs.shape[1:]
    (8, 1)

    References
    ----------
    Li, Malladi & Arora (2021), "On the Validity of Modeling SGD with Stochastic Differential
    Equations (SDEs)", NeurIPS, eqs. (1), (3), (5);
    docs/theory.md §C.1–C.3.
    """
    return runner


gd = _method_runner("gd", "Full-batch gradient descent ``x - η ∇L(x)`` (:func:`run` with method='gd').")
sgd = _method_runner("sgd", "SGD (LMA eq. 1): :func:`run` with ``method='sgd'``.")
ngd = _method_runner("ngd", "Noisy GD with SGD's covariance (LMA eq. 3): :func:`run` with "
                     "``method='ngd'``.")
svag = _method_runner("svag", "SVAG (LMA eq. 5), LR η/l and l·T/η steps: :func:`run` with "
                      "``method='svag'`` (pass ``l=``).", " l=4,")
