"""The SDE approximation of SGD and the modified equation, as problems the core engine runs.

- :func:`sgd_sde`: ``dX = -(∇L + λX) dt + (η Σ_B(X))^{1/2} dW`` (LMA eq. 2 / 6), time ``t = kη``.
  With SαS gradient noise it is the Lévy SDE ``dX = -(∇L + λX) dt + η^{1-1/α} B^{1/α-1} L dL^α``,
  of which SGD is exactly the Euler scheme at ``h = η`` (THEORY.md §0.6).
- :func:`modified_drift` / ``sgd_sde(order=2)``: the first-order modified equation
  ``-∇(F + (η/4)|∇F|²) = -(∇F + (η/2) ∇²F ∇F)`` with ``F = L + λ|x|²/2`` (THEORY.md §C.4),
  from Hessian-vector products.
- :func:`flow`: the deterministic gradient flow or modified flow, solved to tight tolerance.

Caution (THEORY.md §C.4): the order-2 equation is a finite-horizon statement; at stationarity
it is further from SGD than the order-1 SDE.
"""
from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from .._validate import as_finite_array, positive_float
from ..drivers import Stable
from ..sde import SDE
from .noise import psd_sqrt
from .oracles import Oracle

__all__ = ["sgd_sde", "modified_drift", "modified_equation", "flow"]


def _check(oracle, lr, weight_decay):
    if not isinstance(oracle, Oracle):
        raise TypeError(f"oracle must be a sdesim.sgd Oracle, got {type(oracle).__name__}")
    lr = positive_float(lr, "lr")
    wd = float(weight_decay)
    if not np.isfinite(wd) or wd < 0:
        raise ValueError(f"weight_decay must be finite and >= 0, got {weight_decay}")
    return lr, wd


def _full_grad(oracle: Oracle, wd: float):
    if wd == 0:
        return oracle.grad
    return lambda x: oracle.grad(x) + wd * x


def modified_drift(oracle: Oracle, lr: float, *, weight_decay: float = 0.0):
    """Drift of the first-order modified equation, ``x -> -(∇F + (η/2) ∇²F ∇F)``, ``(n, d)``.

    ``F = L + (λ/2)|x|²``, so ``∇²F v = ∇²L v + λ v``. Exact where the oracle's
    ``hessian_vector`` is: every built-in oracle has the closed form; a :class:`FunctionOracle`
    without ``hessian_vector=`` falls back to second-order central differences of ``grad``.

    Examples
    --------
    >>> import numpy as np
    >>> from sdesim.sgd import NoisyQuadratic
    >>> f = modified_drift(NoisyQuadratic([[2.0]]), lr=0.1)
    >>> f(np.ones((1, 1))).item()   # -(H + η H²/2) x = -(2 + 0.2)
    -2.2

    References
    ----------
    THEORY.md §C.4; Li, Tai & E (2017, 2019), the SME of order 2.
    """
    lr, wd = _check(oracle, lr, weight_decay)
    grad = _full_grad(oracle, wd)

    def f(x):
        g = grad(x)
        hv = oracle.hessian_vector(x, g) + wd * g
        return -(g + 0.5 * lr * hv)
    return f


def sgd_sde(oracle: Oracle, lr: float, *, batch_size: int = 1, weight_decay: float = 0.0,
            order: int = 1, noise: bool = True) -> SDE:
    """The Itô (or Lévy) SDE approximation of SGD with LR η and batch size B, as an :class:`SDE`.

    Parameters
    ----------
    oracle : Oracle
    lr : float
        η > 0. SDE time ``t`` corresponds to SGD step ``k = t/η``.
    batch_size : int
        B; the diffusion is ``(η Σ_B(x))^{1/2}`` with the oracle's minibatch Σ.
    weight_decay : float
        λ >= 0, added to the drift as ``-λ x`` (LMA eq. 6).
    order : {1, 2}
        1: drift ``-∇F``; 2: the modified drift of :func:`modified_drift`.
    noise : bool
        ``False`` gives the deterministic flow (zero additive diffusion).

    Returns
    -------
    SDE
        ``noise="additive"`` (constant Σ: quadratic and landscape oracles; with a ``Stable``
        driver for SαS noise), else ``noise="general"`` with ``m = d`` and ``g(t, x)`` the
        batched symmetric square root of ``η Σ_B(x)``, shape ``(n, d, d)``.

    Raises
    ------
    ValueError
        ``lr <= 0``, bad ``batch_size``, ``order`` not 1 or 2.
    NotImplementedError
        When the oracle does not know Σ(x).

    Examples
    --------
    >>> import numpy as np, sdesim
    >>> from sdesim.sgd import NoisyQuadratic, sgd_sde
    >>> sde = sgd_sde(NoisyQuadratic([[1.0]], [[2.0]]), lr=0.1, batch_size=2)
    >>> sde.noise, float(sde.diffusion(0.0, np.zeros((1, 1)))[0, 0] ** 2)   # η Σ / B
    ('additive', 0.1)

    References
    ----------
    LMA eqs. (2), (6); THEORY.md §0.1, §0.6, §C.4.
    """
    lr, wd = _check(oracle, lr, weight_decay)
    B = oracle.check_batch_size(batch_size)
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    grad = _full_grad(oracle, wd)
    if order == 1:
        def f(t, x):
            return -grad(x)
    else:
        mdrift = modified_drift(oracle, lr, weight_decay=wd)

        def f(t, x):
            return mdrift(x)
    name = f"SGD-SDE(order={order}, lr={lr:g}, B={B})"
    d = oracle.d
    if not noise:
        return SDE(f, np.zeros(d), d=d, noise="additive", name=name)
    law = getattr(oracle, "noise", None)
    if oracle.constant_noise and law is not None and law.kind == "stable" and law.alpha < 2:
        a = law.alpha
        eps = lr ** (1 - 1 / a) * B ** (1 / a - 1)
        return SDE(f, eps * law.L, d=d, noise="additive", driver=Stable(a), name=name)
    if oracle.constant_noise:
        S = oracle.noise_cov(np.zeros((1, d)), B)[0]
        return SDE(f, psd_sqrt(lr * S), d=d, noise="additive", name=name)

    def g(t, x):
        return psd_sqrt(lr * oracle.noise_cov(x, B))
    return SDE(f, g, d=d, m=d, noise="general", name=name)


def modified_equation(oracle: Oracle, lr: float, *, batch_size: int = 1,
                      weight_decay: float = 0.0, noise: bool = True) -> SDE:
    """The order-2 SDE (modified equation) of SGD: ``sgd_sde(..., order=2)``.

    Examples
    --------
    >>> from sdesim.sgd import NoisyQuadratic
    >>> modified_equation(NoisyQuadratic([[1.0]]), 0.1, noise=False).noise
    'additive'
    """
    return sgd_sde(oracle, lr, batch_size=batch_size, weight_decay=weight_decay, order=2,
                   noise=noise)


def flow(oracle: Oracle, x0, T: float, *, lr: float | None = None, weight_decay: float = 0.0,
         rtol: float = 1e-12, atol: float = 1e-14) -> np.ndarray:
    """Solve the gradient flow ``ẋ = -∇F`` (or, with ``lr``, the modified flow) to time ``T``.

    Parameters
    ----------
    oracle : Oracle
    x0 : array_like (d,)
    T : float
        Time (``T/η`` GD steps correspond to it).
    lr : float, optional
        If given, the modified flow ``ẋ = -(∇F + (η/2)∇²F ∇F)`` of GD with this LR.
    weight_decay : float
    rtol, atol : float
        Tolerances of scipy's ``DOP853`` (8th order); the defaults leave errors near 1e-12.

    Returns
    -------
    ndarray (d,)

    Examples
    --------
    >>> import numpy as np
    >>> from sdesim.sgd import NoisyQuadratic
    >>> bool(abs(flow(NoisyQuadratic([[1.0]]), [1.0], 1.0)[0] - np.exp(-1)) < 1e-12)
    True

    References
    ----------
    THEORY.md §C.4 (GD vs gradient flow: order 1; vs modified flow: order 2).
    """
    T = positive_float(T, "T")
    if lr is None:
        _, wd = _check(oracle, 1.0, weight_decay)
        grad = _full_grad(oracle, wd)

        def rhs(t, y):
            return -grad(y[None])[0]
    else:
        mdrift = modified_drift(oracle, lr, weight_decay=weight_decay)

        def rhs(t, y):
            return mdrift(y[None])[0]
    y0 = as_finite_array(x0, "x0", ndim=(0, 1)).reshape(-1)
    if y0.shape != (oracle.d,):
        raise ValueError(f"x0 must have shape ({oracle.d},), got {y0.shape}")
    sol = solve_ivp(rhs, (0.0, T), y0, method="DOP853", rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"flow: the ODE solver failed: {sol.message}")
    return sol.y[:, -1]
