"""Exact moments and stationary covariances of SGD on a quadratic, and of its SDE.

SGD on ``L(x) = (x - x*)^T H (x - x*) / 2``: ``x_{k+1} = x_k - lr H (x_k - x*) + lr xi_k`` with
``Cov xi_k = Sigma`` is EM with step ``h = lr`` for the OU problem ``A = H``,
``B B^T = lr Sigma``.

:func:`sgd_quadratic_cumulants` adds the third cumulant for SGD, SVAG and the naive √l
amplification with any noise law of known covariance and third moment (docs/theory.md §C.3).

References
----------
docs/theory.md §0.3 (NGD is EM), §C.1 ("Discrete SGD/NGD, exact"; "The SGD special case"),
§C.3 (SVAG on a quadratic with additive noise).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .._validate import psd_matrix, real_scalar, shaped_array, symmetric_matrix
from ._checks import _steps, _vector
from ._matrix import _continuous_stationary, _em_stationary, _factor
from ._moments import FloatArray, Moments, StepsLike
from .em_chain import em_chain_moments

__all__ = ["sgd_quadratic_moments", "sgd_quadratic_cumulants", "Cumulants", "sgd_stationary_cov",
           "sde_stationary_cov"]

#: The recursions of :func:`sgd_quadratic_cumulants` (the noisy ones of ``sdesim.sgd.run``).
CUMULANT_METHODS = ("sgd", "svag", "naive")


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


class Cumulants(NamedTuple):
    """First three cumulants of a random vector (read-only arrays).

    Attributes
    ----------
    mean : ndarray, shape (..., d)
        ``E X``.
    cov : ndarray, shape (..., d, d)
        ``Cov X``.
    k3 : ndarray, shape (..., d, d, d)
        Third cumulant ``E (X - E X)^{⊗3}`` (equal to the third central moment).

    Leading axes (``...``) appear when several step counts are asked for at once.

    Example
    -------
    >>> c = Cumulants(np.zeros(1), np.ones((1, 1)), np.zeros((1, 1, 1)))
    >>> c.k3.shape
    (1, 1, 1)
    """

    mean: FloatArray
    cov: FloatArray
    k3: FloatArray


def _symmetric_tensor(value: ArrayLike, name: str, d: int) -> FloatArray:
    """A finite fully symmetric ``(d, d, d)`` tensor (up to a relative 1e-10)."""
    K = shaped_array(value, name, (d, d, d), f"(d, d, d) = ({d}, {d}, {d})")
    tol = 1e-10 * max(float(np.max(np.abs(K))), np.finfo(float).tiny)
    for axes in ((1, 0, 2), (0, 2, 1)):
        gap = float(np.max(np.abs(K - K.transpose(axes))))
        if gap > tol:
            raise ValueError(f"{name} must be a fully symmetric tensor (a third moment), got "
                             f"max |{name} - {name}.transpose{axes}| = {gap:.3g}")
    return K


def _method_factors(method: str, l: float) -> tuple[float, float, float]:
    """``(h / lr, cov factor, third-cumulant factor)`` of the step noise ``ζ`` of ``method``.

    SVAG: ``ζ = c₁ξ₁ + c₂ξ₂`` with ``c₁ + c₂ = 1``, ``c₁² + c₂² = l``, so its cumulants are
    ``l Σ`` and ``(c₁³ + c₂³) K3 = (3l - 1)/2 K3``; naive: ``√l ξ``, so ``l Σ`` and
    ``l^{3/2} K3`` (docs/theory.md §C.3 and (b)).
    """
    if method not in CUMULANT_METHODS:
        raise ValueError(f"method must be one of {CUMULANT_METHODS}, got {method!r}")
    if method == "sgd":
        if l != 1:
            raise ValueError(f"l (SVAG's amplification) only applies to method='svag' or "
                             f"'naive'; method='sgd' would ignore it: leave l=1, got l={l!r}")
        return 1.0, 1.0, 1.0
    if l < 1:
        raise ValueError(f"l must be >= 1 (SVAG's variance amplification), got {l}")
    return 1.0 / l, l, (3.0 * l - 1.0) / 2.0 if method == "svag" else l**1.5


def sgd_quadratic_cumulants(
    H: ArrayLike,
    Sigma: ArrayLike,
    K3: ArrayLike,
    lr: float,
    x0: ArrayLike,
    x_star: ArrayLike,
    n_steps: StepsLike,
    *,
    method: str = "sgd",
    l: float = 1.0,
) -> Cumulants:
    """Exact mean, covariance and third cumulant of SGD, SVAG or naive amplification on a quadratic.

    The recursion on ``L(x) = (x - x*)^T H (x - x*) / 2`` with additive gradient noise is
    ``x_{k+1} = x_k - h (H (x_k - x*) + ζ_k)`` with ``h = lr`` for ``"sgd"`` and ``h = lr / l``
    for ``"svag"`` and ``"naive"`` (as ``sdesim.sgd.run``; ``ζ`` is subtracted, which sets the
    sign of the third cumulant). ``ζ_k`` are i.i.d.; for a minibatch noise ``ξ`` (``∇L_γ - ∇L``)
    with covariance ``Sigma`` and third moment ``K3``:

    ==========  ================================  ==============  ==========================
    method      ``ζ``                             ``Cov ζ``       third cumulant of ``ζ``
    ==========  ================================  ==============  ==========================
    ``"sgd"``   ``ξ``                             ``Σ``           ``K3``
    ``"svag"``  ``c₁ξ₁ + c₂ξ₂`` (two batches)     ``l Σ``         ``(3l - 1)/2 · K3``
    ``"naive"`` ``√l ξ`` (one batch)              ``l Σ``         ``l^{3/2} K3``
    ==========  ================================  ==============  ==========================

    Cumulants of independent sums add and a linear map ``M`` acts on a third cumulant as
    ``K ×₁ M ×₂ M ×₃ M``, so with ``M = I - h H`` and ``x_0`` deterministic:
    ``m_{k+1} = M m_k + h H x*``, ``S_{k+1} = M S_k M^T + h² Cov ζ`` and
    ``K_{k+1} = K_k ×₁ M ×₂ M ×₃ M - h³ K3(ζ)``. Only these moments of the noise enter: the
    result is exact for any noise law. The Gaussian-driven SDE limit has third cumulant 0, so
    ``k3`` is the whole third-cumulant gap, of order ``1/l`` for SVAG and ``l^{-1/2}`` for the
    naive amplification at fixed SDE time ``n_steps · h``.

    Parameters
    ----------
    H : array_like, shape (d, d)
        Symmetric Hessian.
    Sigma : array_like, shape (d, d)
        Symmetric PSD covariance of the (minibatch) gradient noise ``ξ``.
    K3 : array_like, shape (d, d, d)
        Fully symmetric third moment ``Λ = E ξ^{⊗3}`` of the gradient noise (e.g.
        ``NoisyQuadratic(..., noise="skewed").noise_third_moment``; ``Λ / B²`` for a batch of
        ``B`` examples).
    lr : float
        Learning rate ``lr > 0`` (SVAG and naive step with ``lr / l``).
    x0, x_star : array_like, shape (d,)
        Initial point (deterministic) and minimiser.
    n_steps : int or sequence of int
        Number(s) of steps (``l T / lr`` for SDE time ``T`` with SVAG and naive).
    method : {"sgd", "svag", "naive"}
        The recursion (table above).
    l : float
        Amplification ``l >= 1`` for ``"svag"`` and ``"naive"``; ``"sgd"`` needs ``l = 1``.

    Returns
    -------
    Cumulants
        ``mean`` (d,), ``cov`` (d, d) and ``k3`` (d, d, d); with a leading axis K for a
        sequence of K step counts (in the order given).

    Raises
    ------
    ValueError
        If ``H`` is not symmetric, ``Sigma`` is not symmetric PSD, ``K3`` is not a symmetric
        ``(d, d, d)`` tensor, ``lr <= 0``, ``l < 1`` (or ``l != 1`` with ``"sgd"``), an unknown
        ``method``, negative ``n_steps``, wrong shapes or non-finite input (each names the
        argument).

    Example
    -------
    SVAG with l = 4 in 1-d (λ = 1, centred Exp(1) noise: Σ = 1, Λ = 2) for SDE time 2 at
    lr = 0.5, against the closed form of docs/theory.md §C.3:

    >>> l, lr, k = 4, 0.5, 16
    >>> c = sgd_quadratic_cumulants([[1.0]], [[1.0]], [[[2.0]]], lr, [0.0], [0.0], k,
    ...                             method="svag", l=l)
    >>> mu = 1 - lr / l
    >>> closed = -(lr / l) ** 3 * (3 * l - 1) / 2 * 2.0 * (1 - mu ** (3 * k)) / (1 - mu**3)
    >>> bool(np.isclose(c.k3[0, 0, 0], closed, rtol=1e-12))
    True

    References
    ----------
    Z. Li, S. Malladi and S. Arora, "On the Validity of Modeling SGD with Stochastic
    Differential Equations (SDEs)", NeurIPS 2021, §4 (SVAG, eq. 5) and Lemma 4.7 (the one-step
    moments; (iii) is the third moment); docs/theory.md §C.3 (exact SVAG moments on a quadratic,
    consequence (b) for the naive amplification).
    """
    H = symmetric_matrix(H, "H")
    d = H.shape[0]
    Sigma = psd_matrix(Sigma, "Sigma", d)
    K3 = _symmetric_tensor(K3, "K3", d)
    lr = real_scalar(lr, "lr", positive=True)
    x0 = _vector(x0, "x0", d)
    x_star = _vector(x_star, "x_star", d)
    steps, scalar = _steps(n_steps)
    h_factor, cov_factor, k3_factor = _method_factors(method, real_scalar(l, "l", positive=True))
    h = lr * h_factor
    M = np.eye(d) - h * H
    drift, cov_inc, k3_inc = h * H @ x_star, h**2 * cov_factor * Sigma, -h**3 * k3_factor * K3
    state = [x0.copy(), np.zeros((d, d)), np.zeros((d, d, d))]
    out = [np.empty((len(steps),) + v.shape) for v in state]

    def save(k: int) -> None:
        for arr, value in zip(out, state):
            arr[steps == k] = value

    save(0)
    for k in range(1, int(steps.max(initial=0)) + 1):
        mean, cov, k3 = state
        for spec in ("ia,abc->ibc", "jb,ibc->ijc", "kc,ijc->ijk"):  # K3 x1 M x2 M x3 M
            k3 = np.einsum(spec, M, k3)
        state = [M @ mean + drift, M @ cov @ M.T + cov_inc, k3 + k3_inc]
        save(k)
    for arr in out:
        arr.flags.writeable = False
    return Cumulants(*(arr[0] if scalar else arr for arr in out))


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
