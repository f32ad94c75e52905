"""The Lévy SDE of SGD: SGD with SαS gradient noise as the Euler chain of a Lévy-driven SDE.

One convention throughout: the noise level ``ε = η^{(α-1)/α} σ`` is the *scale of the driver*
(``Stable(alpha, scale=ε)``), never a constant folded into the noise factor ``g``. SDEs that
differ only in ε (a sweep over noise levels or learning rates) therefore share ``f`` and ``g``,
and with them the numba kernels compiled for them. :func:`levy_sgd_sde` and the SαS case of
:func:`sdesim.sgd.sgd_sde` are both built by :func:`_levy_sde`.

References
----------
"Revisiting the noise model of SGD" (TMLR submission), eq. (3); docs/theory.md §0.6.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numba
import numpy as np

from .._cache import BoundedCache
from .._validate import alpha_array, as_finite_array, positive_float, positive_int
from ..drivers import Stable
from ..sde import SDE
from .oracles import Oracle
from .schedulers import power_law_scheduler

__all__ = ["levy_sgd_sde"]


def _levy_sde(f: Callable, g, *, d: int, alpha: np.ndarray, sigma, lr: float, name: str) -> SDE:
    """``dX = f dt + g dL`` with the driver ``Stable(alpha, scale=ε)``, ``ε = η^{(α-1)/α} σ``.

    The one place where ε is computed and put into the driver's scale (module docstring); the
    SDE records ``eps`` and ``lr``. ``g`` is the additive noise factor: ``(d,)`` (diagonal),
    ``(d, m)`` or a function of ``t``.
    """
    eps = lr ** ((alpha - 1.0) / alpha) * sigma
    sde = SDE(f, g, d=d, noise="additive", driver=Stable(alpha, scale=eps), name=name)
    sde.eps, sde.lr = eps, lr
    return sde


@lru_cache(maxsize=64)
def _maybe_compiled(fun: Callable, d: int) -> Callable:
    """``fun`` compiled with numba when it compiles on a ``(2, d)`` probe, else ``fun`` itself.

    The bound ``grad`` of an oracle with a numba kernel (every built-in one of
    :mod:`sdesim.sgd`, e.g. ``Ackley().grad``) becomes a compiled function calling that kernel.
    Memoised, so SDEs built from the same ``fun`` share one compiled function (and kernels).
    """
    if hasattr(fun, "py_func"):
        return fun
    kernel = _oracle_grad_kernel(fun)
    if kernel is not None:
        fn, params = kernel

        @numba.njit
        def grad(x):
            return fn(x, params)
        return grad
    try:
        jf = numba.njit(fun)
        jf(np.zeros((2, d)))
    except Exception:  # noqa: BLE001 - any numba failure means: keep the Python function
        return fun
    return jf


def _oracle_grad_kernel(fun: Callable) -> tuple | None:
    """``(fn, params)`` of :meth:`Oracle.numba_kernel` when ``fun`` is the bound ``grad`` of an
    :class:`Oracle` that has one, else ``None``."""
    owner = getattr(fun, "__self__", None)
    if not isinstance(owner, Oracle) or getattr(fun, "__name__", None) != "grad":
        return None
    try:
        return owner.numba_kernel("grad")
    except NotImplementedError:
        return None


_SGD_FUNCTIONS = BoundedCache(64)


def _sgd_sde_functions(gU: Callable, sched: Callable, time: str, expo: np.ndarray) -> tuple:
    """Drift and noise factor of :func:`levy_sgd_sde`, one pair per (∇U, scheduler, time, α).

    The noise scale ε is the driver's scale, not a constant of ``g``, so SDEs that differ only
    in ε (or, for ``time="sgd"``, in α) share ``f`` and ``g``, and with them the compiled
    numba kernels (:func:`sdesim.escape.exit_times` compiles once per ``(f, g)``).
    """
    key = (gU, sched, time, expo.tobytes() if time != "sgd" else expo.shape)
    if key not in _SGD_FUNCTIONS:
        if time == "sgd":
            ones = np.ones(expo.shape)

            def f(t, x):
                return -sched(t) * gU(x)

            def g(t):
                return sched(t) * ones
        else:
            def f(t, x):
                return -gU(x)

            def g(t):
                return sched(t) ** expo
        _SGD_FUNCTIONS[key] = (f, g)
    return _SGD_FUNCTIONS[key]


@lru_cache(maxsize=1)
def _constant_scheduler() -> Callable[[float], float]:
    """``s_t = 1`` (built once: every SDE without a scheduler shares it)."""
    return power_law_scheduler(1.0)


def levy_sgd_sde(grad_U: Callable, d: int, alpha, sigma, lr: float, *,
                 scheduler: Callable[[float], float] | None = None,
                 time: str = "sgd") -> SDE:
    """The Lévy SDE of SGD with per-coordinate SαS noise and a learning-rate scheduler.

    SGD with learning rate ``η s_k`` and SαS gradient noise of scale ``σ_l`` on coordinate l,
    ``x_{k+1} = x_k - η s_k (∇U(x_k) - σ ⊙ Z_k)`` (Z symmetric, so the sign is a convention),
    is *exactly* the Euler–Maruyama chain of

    - ``time="sgd"`` (plain time ``t = kη``, step ``dt = η``):
      ``dX = -s_t ∇U(X) dt + s_t ε ⊙ dL_t``;
    - ``time="lr-weighted"`` (TMLR eq. 3, time ``τ = η Σ s_k``, step ``dτ = η s_k``):
      ``dX = -∇U(X) dτ + s_τ^{(α-1)/α} ε ⊙ dL_τ``,

    with ``ε_l = η^{(α_l - 1)/α_l} σ_l`` (docs/theory.md §0.6). At α = 2 and
    ``σ = s/√2`` this is the usual Gaussian SGD SDE with ``Σ = s² I``. In the lr-weighted form
    the scheduler is a function of τ.

    Parameters
    ----------
    grad_U : callable ``grad_U(x) -> (n, d)``
        Gradient of the loss on states ``(n, d)``. It is compiled with numba when it compiles
        (numpy operations on 2-d float arrays, see :class:`sdesim.SDE`), and a built-in oracle's
        ``grad`` (``sdesim.sgd.Ackley().grad``) runs its compiled kernel; otherwise the numba
        backend warns and runs numpy.
    d : int
    alpha : float or array_like (d,)
        Tail index per coordinate, in (0, 2].
    sigma : float or array_like (d,)
        SαS scale of the per-coordinate gradient noise (``levy_stable(alpha, 0, scale=σ)``).
    lr : float
        Base learning rate η.
    scheduler : callable ``s(t) -> float``, optional
        :func:`power_law_scheduler`, :func:`multistep_scheduler` or a numba-compiled function;
        default constant 1.
    time : {"sgd", "lr-weighted"}

    Returns
    -------
    SDE
        Additive noise ``g = s_t`` (or ``s_τ^{(α-1)/α}``) with driver ``Stable(alpha, scale=ε)``
        (ε is the driver's scale, not part of ``g``: SDEs that differ only in ε share ``f``,
        ``g`` and their compiled kernels); ``sde.eps`` holds ε (shape ``(d,)``), ``sde.lr``,
        ``sde.scheduler`` and ``sde.time`` the other arguments.

    Raises
    ------
    ValueError
        α outside (0, 2], non-positive ``sigma``/``lr``, unknown ``time``.

    Examples
    --------
    >>> from sdesim.sgd import levy_sgd_sde, multistep_scheduler
    >>> sde = levy_sgd_sde(lambda x: x, 2, alpha=[1.5, 1.8], sigma=1.0, lr=0.01,
    ...                    scheduler=multistep_scheduler([1.0], [1.0, 0.1]))
    >>> sde.driver.alpha.tolist()
    [1.5, 1.8]

    References
    ----------
    TMLR eq. (3); docs/theory.md §0.6 (the SGD ↔ Lévy-SDE map and its two time scales).
    """
    if not callable(grad_U):
        raise TypeError(f"grad_U must be callable grad_U(x) -> (n, d), got {type(grad_U).__name__}")
    d = positive_int(d, "d")
    a = alpha_array(alpha, d)
    sig = np.broadcast_to(as_finite_array(sigma, "sigma", ndim=(0, 1)), (d,)).astype(float)
    if np.any(sig <= 0):
        raise ValueError(f"sigma must be > 0, got {sig.tolist()}")
    eta = positive_float(lr, "lr")
    if time not in ("sgd", "lr-weighted"):
        raise ValueError(f"time must be 'sgd' or 'lr-weighted', got {time!r}")
    sched = scheduler if scheduler is not None else _constant_scheduler()
    f, g = _sgd_sde_functions(_maybe_compiled(grad_U, d), sched, time, (a - 1.0) / a)
    sde = _levy_sde(f, g, d=d, alpha=a, sigma=sig, lr=eta, name="Lévy SGD SDE")
    sde.scheduler, sde.time = sched, time
    return sde
