"""Exact moments of the Ornstein–Uhlenbeck process and of a general linear SDE (continuous time).

``ou_mean``, ``ou_cov`` and ``ou_stationary_cov`` for ``dX = -A X dt + B dW``;
``linear_moments`` for ``dX = (A X + a) dt + sum_j (B_j X + b_j) dW_j`` (Itô).

References
----------
docs/theory.md §C.1 (OU, continuous), §C.2; Van Loan (1978); Kloeden & Platen (1992) §4.8.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import expm

from .._validate import real_scalar, square_matrix
from ._checks import _linear_problem, _ou_problem, _vector
from ._matrix import _continuous_stationary, _gramian, _moment_generator, _sym, _unvec, _vec
from ._moments import FloatArray, Moments

__all__ = ["ou_mean", "ou_cov", "ou_stationary_cov", "linear_moments"]


def _linear_moments_additive(A, a, bs, x0, t) -> Moments:
    """Additive noise (all B_j = 0): mean by a (d+1) exponential, covariance by Van Loan."""
    d = A.shape[0]
    blk = np.zeros((d + 1, d + 1))
    blk[:d, :d] = A
    blk[:d, d] = a
    mean = (expm(blk * t) @ np.append(x0, 1.0))[:d]
    cov = _gramian(A, bs.T @ bs, t)
    return Moments(mean, cov + np.outer(mean, mean), cov)


def _linear_moments_kron(A, Bs, a, bs, x0, t) -> Moments:
    """General case: expm of the (1 + d + d^2) moment generator (Kronecker form)."""
    d = A.shape[0]
    G = _moment_generator(A, Bs, a, bs)
    z0 = np.concatenate([x0, _vec(np.outer(x0, x0)), [1.0]])
    z = expm(G * t) @ z0
    return Moments(z[:d], _sym(_unvec(z[d:-1], d)))


def ou_mean(A: ArrayLike, x0: ArrayLike, t: float) -> FloatArray:
    """Mean of the OU process ``dX = -A X dt + B dW`` at time ``t``: ``e^{-A t} x0``.

    Parameters
    ----------
    A : array_like, shape (d, d)
        Drift matrix (the drift is ``-A X``).
    x0 : array_like, shape (d,)
        Initial state.
    t : float
        Time, ``t >= 0``.

    Returns
    -------
    ndarray, shape (d,)
        ``E[X_t] = expm(-A t) @ x0``.

    Raises
    ------
    ValueError
        If ``A`` is not square, ``x0`` is not of shape ``(d,)``, an input is not finite, or
        ``t < 0``.

    Example
    -------
    >>> import numpy as np
    >>> round(float(ou_mean([[1.0]], [1.0], 1.0)[0]), 6)
    0.367879

    References
    ----------
    docs/theory.md §C.1, ``m(t) = e^{-At} x0``.
    """
    A = square_matrix(A, "A")
    x0 = _vector(x0, "x0", A.shape[0])
    t = real_scalar(t, "t", positive=False)
    return expm(-A * t) @ x0


def ou_cov(A: ArrayLike, B: ArrayLike, t: float) -> FloatArray:
    """Covariance of the OU process ``dX = -A X dt + B dW`` at time ``t``.

    ``S(t) = int_0^t e^{-A u} B B^T e^{-A^T u} du``, computed with Van Loan's block-matrix
    exponential (long horizons are split and doubled, so nothing overflows). It does not
    depend on ``x0``, and ``A`` need not be stable.

    Parameters
    ----------
    A : array_like, shape (d, d)
        Drift matrix (the drift is ``-A X``).
    B : array_like, shape (d, m)
        Diffusion matrix.
    t : float
        Time, ``t >= 0``.

    Returns
    -------
    ndarray, shape (d, d)
        ``S(t)``, symmetric positive semi-definite; it solves
        ``dS/dt = -A S - S A^T + B B^T``, ``S(0) = 0``.

    Raises
    ------
    ValueError
        On wrong shapes (``A`` not square, ``B`` without d rows), non-finite input, or
        ``t < 0``.

    Example
    -------
    >>> import numpy as np
    >>> S = ou_cov([[1.0]], [[1.0]], 1.0)          # (1 - e^{-2}) / 2
    >>> round(float(S[0, 0]), 6)
    0.432332

    References
    ----------
    docs/theory.md §C.1; C. F. Van Loan, IEEE Trans. Automat. Control 23 (1978) 395–404.
    """
    A, B = _ou_problem(A, B)
    t = real_scalar(t, "t", positive=False)
    return _gramian(-A, B @ B.T, t)


def ou_stationary_cov(A: ArrayLike, B: ArrayLike) -> FloatArray:
    """Stationary covariance of ``dX = -A X dt + B dW``: solves ``A S + S A^T = B B^T``.

    Parameters
    ----------
    A : array_like, shape (d, d)
        Drift matrix; every eigenvalue must have positive real part.
    B : array_like, shape (d, m)
        Diffusion matrix.

    Returns
    -------
    ndarray, shape (d, d)
        ``S_inf = lim_{t->inf} S(t)`` (``scipy.linalg.solve_continuous_lyapunov``).

    Raises
    ------
    ValueError
        If some eigenvalue of ``A`` has real part ``<= 0`` (message names ``A``), or on wrong
        shapes / non-finite input.

    Example
    -------
    >>> import numpy as np
    >>> S = ou_stationary_cov(np.diag([1.0, 2.0]), np.eye(2))
    >>> np.diag(S).tolist()
    [0.5, 0.25]

    References
    ----------
    docs/theory.md §C.1 (``S_inf`` solves ``A S + S A^T = B B^T``).
    """
    A, B = _ou_problem(A, B)
    return _continuous_stationary(A, B @ B.T, "A")


def linear_moments(
    A: ArrayLike,
    B_list: ArrayLike | Sequence[ArrayLike],
    x0: ArrayLike,
    t: float,
    a: ArrayLike | None = None,
    b_list: ArrayLike | Sequence[ArrayLike] | None = None,
) -> Moments:
    """Exact mean and second moment of ``dX = (A X + a) dt + sum_j (B_j X + b_j) dW_j``.

    The moments solve the linear ODE system (Itô)::

        dm/dt = A m + a
        dP/dt = A P + P A^T + a m^T + m a^T
                + sum_j (B_j P B_j^T + B_j m b_j^T + b_j m^T B_j^T + b_j b_j^T)

    with ``m(0) = x0``, ``P(0) = x0 x0^T``. It is solved exactly as one matrix exponential of
    size ``1 + d + d^2`` (vec with Kronecker products; cost O(d^6), meant for small d). With
    additive noise (every ``B_j`` zero) it reduces to a (d+1) exponential for the mean and
    Van Loan's formula for the covariance, which is cheap for any d.

    Parameters
    ----------
    A : array_like, shape (d, d)
        Linear drift.
    B_list : sequence of m arrays of shape (d, d), or array of shape (m, d, d)
        Multiplicative noise coefficients. Empty (``[]``) means all ``B_j = 0``.
    x0 : array_like, shape (d,)
        Deterministic initial state.
    t : float
        Time, ``t >= 0``.
    a : array_like, shape (d,), optional
        Constant drift; zero if omitted.
    b_list : sequence of m arrays of shape (d,), or array of shape (m, d), optional
        Additive noise coefficients; zero if omitted. If both lists are non-empty they must
        have the same length m; an empty list means those coefficients are zero.

    Returns
    -------
    Moments
        ``mean`` of shape (d,) and ``second = E[X_t X_t^T]`` of shape (d, d); ``.cov`` gives
        the covariance.

    Raises
    ------
    ValueError
        On wrong shapes (the message names the argument and gives expected vs got), lists of
        different lengths, non-finite input or ``t < 0``.

    Example
    -------
    >>> import numpy as np
    >>> mo = linear_moments([[0.5]], [[[0.4]]], [1.0], 1.0)   # GBM, mu=0.5, sigma=0.4
    >>> bool(np.isclose(mo.second[0, 0], np.exp(2 * 0.5 + 0.4**2)))
    True

    References
    ----------
    Kloeden & Platen (1992) §4.8 (moment equations of linear SDEs); docs/theory.md §C.1, §C.2.
    """
    A, Bs, x0, a, bs = _linear_problem(A, B_list, x0, a, b_list)
    t = real_scalar(t, "t", positive=False)
    if not np.any(Bs):
        return _linear_moments_additive(A, a, bs, x0, t)
    return _linear_moments_kron(A, Bs, a, bs, x0, t)
