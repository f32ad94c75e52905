"""Exact moments and stationary covariances of SGD on a quadratic, and of its SDE.

SGD on ``L(x) = (x - x*)^T H (x - x*) / 2``: ``x_{k+1} = x_k - lr H (x_k - x*) + lr xi_k`` with
``Cov xi_k = Sigma`` is EM with step ``h = lr`` for the OU problem ``A = H``,
``B B^T = lr Sigma``.

References
----------
docs/theory.md §0.3 (NGD is EM), §C.1 ("Discrete SGD/NGD, exact"; "The SGD special case").
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._validate import psd_matrix, real_scalar, symmetric_matrix
from ._checks import _vector
from ._matrix import _continuous_stationary, _em_stationary, _factor
from ._moments import FloatArray, Moments, StepsLike
from .em_chain import em_chain_moments

__all__ = ["sgd_quadratic_moments", "sgd_stationary_cov", "sde_stationary_cov"]


def _check_sgd_lr(H: FloatArray, lr: float) -> None:
    """Raise unless ``0 < lr * lambda_i < 2`` for every eigenvalue of symmetric ``H``."""
    lam = np.linalg.eigvalsh(H)
    if lam.min() <= 0:
        raise ValueError(
            f"H must be positive definite for a stationary law (no lr > 0 can give "
            f"0 < lr*lambda < 2), got smallest eigenvalue {float(lam.min()):.3g}"
        )
    if lr * lam.max() >= 2:
        raise ValueError(
            f"lr = {lr:g} is too large: need 0 < lr*lambda_i < 2 for every eigenvalue of H, "
            f"got lr*lambda_max = {float(lr * lam.max()):.6g}"
        )


def sgd_quadratic_moments(
    H: ArrayLike,
    Sigma: ArrayLike,
    lr: float,
    x0: ArrayLike,
    x_star: ArrayLike,
    n_steps: StepsLike,
) -> Moments:
    """Exact moments of SGD on a quadratic: ``x_{k+1} = x_k - lr H (x_k - x*) + lr xi_k``.

    ``xi_k`` are i.i.d. with mean 0 and covariance ``Sigma`` (only these two moments enter).
    With ``M = I - lr H``: ``E x_k - x* = M^k (x0 - x*)`` and
    ``S_{k+1} = M S_k M^T + lr^2 Sigma``. Computed as :func:`em_chain_moments` with
    ``A = -H``, ``a = H x*``, ``h = lr`` and ``B B^T = lr Sigma`` (docs/theory.md §0.3: NGD is EM).

    Parameters
    ----------
    H : array_like, shape (d, d)
        Symmetric Hessian.
    Sigma : array_like, shape (d, d)
        Symmetric PSD covariance of the gradient noise (the minibatch covariance, LMA
        convention).
    lr : float
        Learning rate, ``lr > 0``.
    x0, x_star : array_like, shape (d,)
        Initial point and minimiser.
    n_steps : int or sequence of int
        Number(s) of SGD steps (see :func:`em_chain_moments` for the stacked return).

    Returns
    -------
    Moments
        ``mean`` (d,) and ``second`` (d, d); ``.cov`` is the (directly propagated)
        covariance. Stacked with a leading axis K for K step counts.

    Raises
    ------
    ValueError
        If ``H`` is not symmetric, ``Sigma`` is not symmetric PSD (names ``Sigma``),
        ``lr <= 0``, wrong shapes or non-finite input.

    Example
    -------
    >>> import numpy as np
    >>> mo = sgd_quadratic_moments([[1.0]], [[1.0]], 0.1, [1.0], [0.0], 10**6)
    >>> bool(np.isclose(mo.cov[0, 0], sgd_stationary_cov([[1.0]], [[1.0]], 0.1)[0, 0]))
    True

    References
    ----------
    docs/theory.md §C.1, "Discrete SGD/NGD, exact".
    """
    H = symmetric_matrix(H, "H")
    d = H.shape[0]
    Sigma = psd_matrix(Sigma, "Sigma", d)
    lr = real_scalar(lr, "lr", positive=True)
    x0 = _vector(x0, "x0", d)
    x_star = _vector(x_star, "x_star", d)
    F = _factor(lr * Sigma)  # F F^T = lr Sigma, so the per-step noise covariance is lr^2 Sigma
    return em_chain_moments(-H, [], x0, lr, n_steps, a=H @ x_star, b_list=F.T)


def sgd_stationary_cov(H: ArrayLike, Sigma: ArrayLike, lr: float) -> FloatArray:
    """Stationary covariance of SGD on a quadratic: ``S = M S M^T + lr^2 Sigma``, ``M = I - lr H``.

    Equivalently ``H S + S H - lr H S H = lr Sigma``; in ``H``'s eigenbasis
    ``S_ij = lr C_ij / (lambda_i + lambda_j - lr lambda_i lambda_j)``, ``C = Q^T Sigma Q``.
    This is :func:`ou_em_stationary_cov` with ``A = H``, ``h = lr``, ``B B^T = lr Sigma``.

    Parameters
    ----------
    H : array_like, shape (d, d)
        Symmetric Hessian.
    Sigma : array_like, shape (d, d)
        Symmetric PSD gradient-noise covariance.
    lr : float
        Learning rate; requires ``0 < lr * lambda_i < 2`` for every eigenvalue of ``H``.

    Returns
    -------
    ndarray, shape (d, d)
        The stationary covariance of the iterates.

    Raises
    ------
    ValueError
        Unless ``0 < lr * lambda_i < 2`` for all eigenvalues (names ``lr``; also ``H`` when
        ``H`` is not positive definite), if ``Sigma`` is not symmetric PSD (names ``Sigma``),
        ``H`` is not symmetric, wrong shapes or non-finite input.

    Example
    -------
    >>> round(float(sgd_stationary_cov([[1.0]], [[1.0]], 0.1)[0, 0]), 6)  # 0.1 / (2 - 0.1)
    0.052632

    References
    ----------
    docs/theory.md §C.1, "Discrete SGD/NGD, exact".
    """
    H = symmetric_matrix(H, "H")
    Sigma = psd_matrix(Sigma, "Sigma", H.shape[0])
    lr = real_scalar(lr, "lr", positive=True)
    _check_sgd_lr(H, lr)
    return _em_stationary(H, lr * Sigma, lr, "lr", "H")


def sde_stationary_cov(H: ArrayLike, Sigma: ArrayLike, lr: float) -> FloatArray:
    """Stationary covariance of the SGD-SDE ``dX = -H (X - x*) dt + (lr Sigma)^{1/2} dW``.

    Solves ``H S + S H = lr Sigma``; in ``H``'s eigenbasis
    ``S_ij = lr C_ij / (lambda_i + lambda_j)``. This is :func:`ou_stationary_cov` with
    ``A = H`` and ``B B^T = lr Sigma``; compare with :func:`sgd_stationary_cov`.

    Parameters
    ----------
    H : array_like, shape (d, d)
        Symmetric positive definite Hessian.
    Sigma : array_like, shape (d, d)
        Symmetric PSD gradient-noise covariance (LMA convention, minibatch).
    lr : float
        Learning rate, ``lr > 0`` (one SGD step = ``lr`` units of SDE time).

    Returns
    -------
    ndarray, shape (d, d)
        The stationary covariance of the SDE.

    Raises
    ------
    ValueError
        If ``H`` is not symmetric positive definite (names ``H``), ``Sigma`` is not symmetric
        PSD (names ``Sigma``), ``lr <= 0``, wrong shapes or non-finite input.

    Example
    -------
    >>> round(float(sde_stationary_cov([[2.0]], [[1.0]], 0.1)[0, 0]), 6)  # 0.1 / 4
    0.025

    References
    ----------
    docs/theory.md §C.1 ("The SGD special case": ``H S + S H = lr Sigma``); LMA eq. (2).
    """
    H = symmetric_matrix(H, "H")
    Sigma = psd_matrix(Sigma, "Sigma", H.shape[0])
    lr = real_scalar(lr, "lr", positive=True)
    return _continuous_stationary(H, lr * Sigma, "H")
