"""Exact moments of the Euler–Maruyama chain of a linear SDE (no Monte Carlo).

``em_chain_moments`` for ``dX = (A X + a) dt + sum_j (B_j X + b_j) dW_j``; ``ou_em_chain_moments``
and ``ou_em_stationary_cov`` for the OU problem ``dX = -A X dt + B dW``.

References
----------
docs/theory.md §C.1 (discrete recursion), §C.2 (EM chains whose moments are exact).
"""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from .._validate import real_scalar
from ._checks import _linear_problem, _ou_problem, _steps
from ._matrix import _em_stationary, _moment_system, _sym, _unvec, _vec
from ._moments import FloatArray, Moments, StepsLike

__all__ = ["em_chain_moments", "ou_em_chain_moments", "ou_em_stationary_cov"]

_T = TypeVar("_T")


def _power(elem: _T, n: int, compose: Callable[[_T, _T], _T], identity: _T) -> _T:
    """``elem`` composed with itself ``n`` times, by binary exponentiation (O(log n) steps)."""
    result, base = identity, elem
    while n:
        if n & 1:
            result = compose(base, result)
        n >>= 1
        if n:
            base = compose(base, base)
    return result


def _compose_gaussian(s2, s1):
    """Compose two additive-noise affine maps ``(M, c, Q)``: m -> M m + c, C -> M C M^T + Q."""
    M2, c2, Q2 = s2
    M1, c1, Q1 = s1
    return M2 @ M1, M2 @ c1 + c2, _sym(M2 @ Q1 @ M2.T + Q2)


def _compose_affine(s2, s1):
    """Compose two affine maps ``(L, o)``: z -> L z + o."""
    L2, o2 = s2
    L1, o1 = s1
    return L2 @ L1, L2 @ o1 + o2


def _em_moments_additive(M, c, Q, x0, ns) -> list[Moments]:
    """Moments after each n in sorted ``ns``: m -> M m + c, C -> M C M^T + Q per step."""
    d = M.shape[0]
    identity = (np.eye(d), np.zeros(d), np.zeros((d, d)))
    step = (M, c, Q)
    mean, cov, done, out = x0.copy(), np.zeros((d, d)), 0, []
    for n in ns:
        Mk, ck, Qk = _power(step, int(n) - done, _compose_gaussian, identity)
        mean, cov, done = Mk @ mean + ck, _sym(Mk @ cov @ Mk.T + Qk), int(n)
        out.append(Moments(mean, cov + np.outer(mean, mean), cov))
    return out


def _em_moments_direct(M, c, Bs, bs, h, x0, ns) -> list[Moments]:
    """Step-by-step recursion on (mean, covariance); O(n d^3), any d.

    m' = M m + c,   C' = M C M^T + h sum_j (B_j C B_j^T + g_j g_j^T),  g_j = B_j m + b_j.
    """
    d = M.shape[0]
    mean, cov, done, out = x0.copy(), np.zeros((d, d)), 0, []
    for n in ns:
        for _ in range(int(n) - done):
            g = Bs @ mean + bs  # (m, d)
            new_cov = M @ cov @ M.T + h * (np.einsum("jab,bc,jdc->ad", Bs, cov, Bs) + g.T @ g)
            mean, cov = M @ mean + c, _sym(new_cov)
        done = int(n)
        out.append(Moments(mean, cov + np.outer(mean, mean), cov))
    return out


def _em_moments_power(M, c, Bs, bs, h, x0, ns) -> list[Moments]:
    """Powers of the (d + d^2) affine moment map by binary exponentiation; O(d^6 log n)."""
    d = M.shape[0]
    step = _moment_system(M, Bs, c, bs, h)
    identity = (np.eye(d + d * d), np.zeros(d + d * d))
    z, done, out = np.concatenate([x0, _vec(np.outer(x0, x0))]), 0, []
    for n in ns:
        L, o = _power(step, int(n) - done, _compose_affine, identity)
        z, done = L @ z + o, int(n)
        out.append(Moments(z[:d], _sym(_unvec(z[d:], d))))
    return out


def _em_moments(A, Bs, a, bs, x0, h, n_steps: StepsLike) -> Moments:
    """Validated core of :func:`em_chain_moments`; picks the cheapest exact algorithm."""
    ns, scalar = _steps(n_steps)
    d = A.shape[0]
    M, c = np.eye(d) + h * A, h * a
    order = np.argsort(ns, kind="stable")
    sorted_ns = ns[order]
    if not np.any(Bs):
        results = _em_moments_additive(M, c, h * (bs.T @ bs), x0, sorted_ns)
    else:
        n_max = int(sorted_ns[-1]) if len(sorted_ns) else 0
        D = d + d * d
        # rough flop counts; the per-step floor stands for numpy's call overhead
        cost_direct = n_max * max(2 * (len(Bs) + 2) * d**3, 20_000)
        cost_power = len(sorted_ns) * 4 * max(1, n_max.bit_length()) * D**3
        core = _em_moments_power if cost_power < cost_direct else _em_moments_direct
        results = core(M, c, Bs, bs, h, x0, sorted_ns)
    if scalar:
        return results[0]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    picked = [results[i] for i in inverse]
    if not picked:
        return Moments(np.zeros((0, d)), np.zeros((0, d, d)), np.zeros((0, d, d)))
    return Moments(
        np.stack([r.mean for r in picked]),
        np.stack([r.second for r in picked]),
        np.stack([r.cov for r in picked]),
    )


def em_chain_moments(
    A: ArrayLike,
    B_list: ArrayLike | Sequence[ArrayLike],
    x0: ArrayLike,
    h: float,
    n_steps: StepsLike,
    a: ArrayLike | None = None,
    b_list: ArrayLike | Sequence[ArrayLike] | None = None,
) -> Moments:
    """Exact moments of the Euler–Maruyama chain of a linear SDE after ``n_steps`` steps.

    The chain is ``X_{n+1} = X_n + h (A X_n + a) + sum_j (B_j X_n + b_j) dW_j`` with
    ``dW_j ~ N(0, h)`` i.i.d., ``X_0 = x0``. With ``M = I + h A`` and ``c = h a`` its moments
    obey, exactly (only second moments of ``dW`` enter, so the result also holds for any
    centred increments with variance h)::

        m' = M m + c
        C' = M C M^T + h sum_j (B_j C B_j^T + g_j g_j^T),   g_j = B_j m + b_j.

    No Monte Carlo. Additive noise uses binary powers of the affine map (O(d^3 log n));
    multiplicative noise uses the step recursion or binary powers of the (d + d^2) Kronecker
    form, whichever is cheaper.

    Parameters
    ----------
    A : array_like, shape (d, d)
        Linear drift.
    B_list : sequence of m arrays of shape (d, d), or array (m, d, d)
        Multiplicative noise coefficients; ``[]`` means zero.
    x0 : array_like, shape (d,)
        Initial state.
    h : float
        Step size, ``h > 0``.
    n_steps : int or sequence of int
        Number(s) of steps, ``>= 0``.
    a : array_like, shape (d,), optional
        Constant drift; zero if omitted.
    b_list : sequence of m arrays of shape (d,), or array (m, d), optional
        Additive noise coefficients; zero if omitted (same length rule as
        :func:`linear_moments`).

    Returns
    -------
    Moments
        For an integer ``n_steps``: ``mean`` (d,), ``second`` (d, d). For a sequence of K step
        counts: one stacked ``Moments`` with ``mean`` (K, d), ``second`` and ``cov``
        (K, d, d), in the order given.

    Raises
    ------
    ValueError
        On wrong shapes, non-finite input, ``h <= 0`` or negative ``n_steps``.
    TypeError
        If ``n_steps`` is not integer-valued.

    Example
    -------
    >>> import numpy as np
    >>> mo = em_chain_moments([[0.5]], [[[0.4]]], [1.0], 0.1, [0, 10])  # GBM
    >>> mo.mean.shape, mo.second.shape
    ((2, 1), (2, 1, 1))
    >>> bool(np.isclose(mo.mean[1, 0], 1.05**10))
    True

    References
    ----------
    docs/theory.md §C.2 (EM chains whose moments are exact), §C.1 (discrete recursion).
    """
    A, Bs, x0, a, bs = _linear_problem(A, B_list, x0, a, b_list)
    h = real_scalar(h, "h", positive=True)
    return _em_moments(A, Bs, a, bs, x0, h, n_steps)


def ou_em_chain_moments(
    A: ArrayLike, B: ArrayLike, x0: ArrayLike, h: float, n_steps: StepsLike
) -> Moments:
    """Exact moments of the EM chain ``X_{n+1} = (I - h A) X_n + B dW_n`` (OU problem).

    This is :func:`em_chain_moments` with drift ``-A``, no multiplicative noise and
    ``b_list`` the columns of ``B``.

    Parameters
    ----------
    A : array_like, shape (d, d)
        Drift matrix (the drift is ``-A X``).
    B : array_like, shape (d, m)
        Diffusion matrix.
    x0 : array_like, shape (d,)
        Initial state.
    h : float
        Step size, ``h > 0``.
    n_steps : int or sequence of int
        Number(s) of steps (see :func:`em_chain_moments` for the stacked return).

    Returns
    -------
    Moments
        ``mean`` (d,) = ``(I - h A)^N x0``, ``second``/``cov`` (d, d); stacked with a leading
        axis of length K for K step counts.

    Raises
    ------
    ValueError
        On wrong shapes, non-finite input, ``h <= 0`` or negative ``n_steps``.

    Example
    -------
    >>> import numpy as np
    >>> mo = ou_em_chain_moments([[1.0]], [[1.0]], [2.0], 0.1, 10)
    >>> bool(np.isclose(mo.mean[0], 2 * 0.9**10))
    True

    References
    ----------
    docs/theory.md §C.2 (OU process: ``(1 - theta h)^N x0`` and
    ``sigma^2 (1 - (1 - theta h)^{2N}) / (theta (2 - theta h))``).
    """
    A, B = _ou_problem(A, B)
    return em_chain_moments(-A, [], x0, h, n_steps, b_list=B.T)


def ou_em_stationary_cov(A: ArrayLike, B: ArrayLike, h: float) -> FloatArray:
    """Stationary covariance of the EM chain ``X_{n+1} = (I - h A) X_n + B dW_n``.

    Solves ``S = (I - h A) S (I - h A)^T + h B B^T``
    (``scipy.linalg.solve_discrete_lyapunov``).

    Parameters
    ----------
    A : array_like, shape (d, d)
        Drift matrix (the drift is ``-A X``); eigenvalues must have positive real part.
    B : array_like, shape (d, m)
        Diffusion matrix.
    h : float
        Step size; the spectral radius of ``I - h A`` must be < 1.

    Returns
    -------
    ndarray, shape (d, d)
        The stationary covariance of the chain. For scalar OU it is
        ``sigma^2 / (theta (2 - theta h))``.

    Raises
    ------
    ValueError
        If the spectral radius of ``I - h A`` is >= 1 (names ``h``; names ``A`` as well when no
        ``h`` can work), ``h <= 0``, wrong shapes or non-finite input.

    Example
    -------
    >>> round(float(ou_em_stationary_cov([[1.0]], [[1.0]], 0.1)[0, 0]), 6)  # 1 / 1.9
    0.526316

    References
    ----------
    docs/theory.md §C.1 ("Discrete SGD/NGD, exact") and §C.2 (EM stationary variance of OU).
    """
    A, B = _ou_problem(A, B)
    h = real_scalar(h, "h", positive=True)
    return _em_stationary(A, B @ B.T, h, "h", "A")
