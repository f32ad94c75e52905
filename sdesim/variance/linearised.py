"""The built-in control variate: the SDE linearised along its noise-free path, on the same noise.

Along the noise-free Euler path ``r_{k+1} = r_k + h f(t_k, r_k)``, ``r_0 = x0``, the drift and the
diffusion are replaced by their first-order Taylor expansions,
``f(t, y) ≈ f(t, r) + J_f (y − r)`` and ``g(t, y) ≈ g(t, r) + J_g (y − r)`` (Jacobians by central
differences), which gives an affine chain

    ``Y_{j+1} = Y_j + h_l (a_k + A_k Y_j) + Σ_i (C_k[:, i] + D_k[:, i, :] Y_j) ΔW_i``,  ``k = j h_l / h``

run on every grid ``h_l`` with the increments that drive ``X`` there (:func:`augmented_sde`: the
state ``(X, Y)`` of dimension ``2d``). Its exact mean ``μ_l`` and covariance ``P_l`` on each grid
follow from the moment recursion of an affine chain (:func:`chain_moments`, the time-dependent
form of the EM-chain moments of :func:`sdesim.exact.em_chain_moments`), so the controls

    ``Y − μ_l`` and ``(Y − μ_l)_i (Y − μ_l)_j − P_l[i, j]`` (``i ≤ j``)

have mean exactly zero for the scheme (:func:`linear_controls`), whatever ``phi``: the
regression on them (coefficients from a pilot run) captures the first two orders of the Taylor
expansion of ``phi(X)`` around ``Y``. For a linear SDE ``Y = X`` exactly.

References
----------
Kloeden & Platen (1992), *Numerical Solution of SDEs*, §4.8 (moments of linear SDEs);
Glasserman (2004), *Monte Carlo Methods in Financial Engineering*, §4.1 (control variates);
Newton (1994), SIAM J. Appl. Math. 54:1780 (control variates for SDE functionals);
docs/theory.md §C.2.
"""
from __future__ import annotations

import numpy as np

from .._cache import BoundedCache
from ..drivers import Brownian
from ..sde import SDE
from ._compile import callable_for

__all__ = ["Linearisation", "linearise", "augmented_sde", "chain_moments", "linear_controls",
           "check_brownian"]

_AUGMENTED = BoundedCache(8)


class Linearisation:
    """Coefficients of the linearised chain on the fine grid ``h``, per fine step ``k``.

    Attributes
    ----------
    h : float
    r : ndarray (N, d)        noise-free path at the start of each step
    a : ndarray (N, d)        ``f(t_k, r_k) − J_f r_k``
    A : ndarray (N, d, d)     ``J_f``
    C : ndarray (N, d, m)     ``g(t_k, r_k) − J_g r_k`` (``g`` as a ``(d, m)`` matrix)
    D : ndarray (N, d, m, d)  ``J_g``: ``D[k, :, i, :]`` multiplies ``Y`` in noise column ``i``
    """

    def __init__(self, h, r, a, A, C, D):
        self.h, self.r, self.a, self.A, self.C, self.D = h, r, a, A, C, D


def _g_matrix(sde: SDE, t: float, x: np.ndarray) -> np.ndarray:
    """``g(t, x)`` as ``(n, d, m)`` matrices for every noise kind."""
    n, d, m = x.shape[0], sde.d, sde.m
    gx = np.asarray(sde.diffusion(t, x), dtype=float)
    if sde.noise == "additive":
        M = np.diag(gx) if gx.ndim == 1 else gx
        return np.broadcast_to(M, (n, d, m))
    if sde.noise == "diagonal":
        return gx[:, :, None] * np.eye(d)[None]
    if sde.noise == "scalar":
        return gx[:, :, None]
    return gx


def _jacobian(fn, t: float, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``fn(t, r)`` and its Jacobian in ``r`` by central differences (``fn`` maps ``(n, d)`` to
    ``(n, ...)``); the Jacobian's last axis is the derivative's."""
    d = r.shape[0]
    eps = 1e-6 * np.maximum(1.0, np.abs(r))
    pts = np.concatenate([r[None], r + np.diag(eps), r - np.diag(eps)])
    v = fn(t, pts)
    jac = (v[1:d + 1] - v[d + 1:]) / (2 * eps.reshape((d,) + (1,) * (v.ndim - 1)))
    return v[0], np.moveaxis(jac, 0, -1)


def linearise(sde: SDE, x0: np.ndarray, h: float, n_fine: int) -> Linearisation:
    """The linearised chain of ``sde`` from ``x0`` ``(d,)`` on ``n_fine`` fine steps of ``h``.

    Raises
    ------
    ValueError
        The noise-free path or a coefficient becomes non-finite.
    """
    d, m = sde.d, sde.m
    r = np.empty((n_fine, d))
    a, A = np.empty((n_fine, d)), np.empty((n_fine, d, d))
    C, D = np.empty((n_fine, d, m)), np.empty((n_fine, d, m, d))
    x = np.array(x0, dtype=float)
    for k in range(n_fine):
        t = k * h
        fx, J = _jacobian(sde.drift, t, x)
        gx, Jg = _jacobian(lambda s, y: _g_matrix(sde, s, y), t, x)
        r[k], A[k], a[k], D[k] = x, J, fx - J @ x, Jg
        C[k] = gx - Jg @ x
        x = x + h * fx
    if not all(np.all(np.isfinite(v)) for v in (r, a, A, C, D)):
        raise ValueError("control='linear': the noise-free path of the SDE or the Jacobians "
                         "along it are not finite; use a user control (sdesim.variance.Control)")
    return Linearisation(h, r, a, A, C, D)


def _augmented_functions(sde: SDE, lin: Linearisation, backend: str, probe: np.ndarray):
    d, m, h = sde.d, sde.m, lin.h
    At = np.ascontiguousarray(np.transpose(lin.A, (0, 2, 1)))
    a = np.ascontiguousarray(lin.a)
    W = np.ascontiguousarray(np.transpose(lin.D, (0, 3, 1, 2)).reshape(-1, d, d * m))
    C = np.ascontiguousarray(lin.C)
    F = callable_for(sde.f, backend, 0.0, probe)
    g = callable_for(sde.g, backend, *((0.0,) if sde.noise == "additive" else (0.0, probe)))
    G = callable_for(_general_g(sde, g), backend, 0.0, probe)

    def f_aug(t, z):
        k = int(t / h + 0.5)
        out = np.empty_like(z)
        out[:, :d] = F(t, z[:, :d])
        out[:, d:] = np.ascontiguousarray(z[:, d:]) @ At[k] + a[k]
        return out

    def g_aug(t, z):
        k = int(t / h + 0.5)
        n = z.shape[0]
        out = np.empty((n, 2 * d, m))
        out[:, :d, :] = G(t, z[:, :d])
        out[:, d:, :] = (np.ascontiguousarray(z[:, d:]) @ W[k]).reshape(n, d, m) + C[k]
        return out

    return f_aug, g_aug


def _general_g(sde: SDE, g):
    """The user's ``g`` (as ``g``: compiled or not) as a function ``(t, x) -> (n, d, m)``
    (compilable by numba when ``g`` is compiled)."""
    d, m = sde.d, sde.m
    if sde.noise == "general":
        return g
    if sde.noise == "scalar":
        return lambda t, x: np.ascontiguousarray(g(t, x)).reshape(x.shape[0], d, 1)
    if sde.noise == "diagonal":
        def g_diag(t, x):
            gx = g(t, x)
            out = np.zeros((x.shape[0], d, d))
            for i in range(d):
                out[:, i, i] = gx[:, i]
            return out
        return g_diag
    const = sde.additive_constant
    M = np.ascontiguousarray(_g_matrix(sde, 0.0, np.zeros((1, d)))[0]) if const is not None \
        else None
    if M is not None:
        def g_const(t, x):
            out = np.empty((x.shape[0], d, m))
            out[:] = M
            return out
        return g_const
    diag = np.ndim(sde.diffusion(0.0, None)) == 1

    def g_additive(t, x):
        gt = np.asarray(g(t), dtype=np.float64)
        out = np.zeros((x.shape[0], d, m))
        if diag:
            for i in range(d):
                out[:, i, i] = gt[i]
        else:
            out[:] = gt
        return out
    return g_additive


def check_brownian(sde: SDE) -> None:
    """Refuse ``control='linear'`` for a non-Brownian driver (a ``ValueError`` naming it)."""
    if type(sde.driver) is not Brownian:
        raise ValueError(f"control='linear' needs a Brownian driver (its controls are second "
                         f"moments, infinite under alpha-stable noise), got {sde.driver!r}")


def augmented_sde(sde: SDE, x0: np.ndarray, h: float, n_fine: int, backend: str,
                  probe: np.ndarray) -> tuple[SDE, Linearisation]:
    """The SDE of ``(X, Y)`` (dimension ``2d``, general noise with ``sde.m`` columns) and the
    linearisation of ``Y``; the same objects for the same problem, grid and backend kind (so a
    compiled kernel is reused).

    Raises
    ------
    ValueError
        The driver is not Brownian (the controls need second moments).
    """
    check_brownian(sde)
    const = sde.additive_constant
    key = (sde.f, sde.g if const is None else const.tobytes(), sde.noise, sde.d, sde.m,
           np.asarray(x0, dtype=float).tobytes(), float(h), int(n_fine),
           backend.startswith("numba"))
    if key not in _AUGMENTED:
        lin = linearise(sde, x0, h, n_fine)
        f_aug, g_aug = _augmented_functions(sde, lin, backend, probe[:, :sde.d])
        aug = SDE(f_aug, g_aug, d=2 * sde.d, m=sde.m, noise="general", driver=sde.driver,
                  name=f"{sde.name} + linearised")
        _AUGMENTED[key] = (aug, lin)
    return _AUGMENTED[key]


def chain_moments(lin: Linearisation, ratio: int, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean ``(d,)`` and covariance ``(d, d)`` of the linearised chain after all its steps
    on the grid ``ratio * h`` (Brownian increments, ``E ΔW ΔWᵀ = h_l I``).

    ``μ' = M μ + c``, ``S' = M S Mᵀ + M μ cᵀ + c μᵀ Mᵀ + c cᵀ + h_l Σ_i (B_i S B_iᵀ + B_i μ b_iᵀ +
    b_i μᵀ B_iᵀ + b_i b_iᵀ)`` with ``M = I + h_l A_k``, ``c = h_l a_k``, ``B_i = D_k[:, i, :]``,
    ``b_i = C_k[:, i]``, ``S = E Y Yᵀ``.
    """
    hl = ratio * lin.h
    mu = np.array(x0, dtype=float)
    S = np.outer(mu, mu)
    eye = np.eye(mu.size)
    for k in range(0, lin.r.shape[0], ratio):
        M, c = eye + hl * lin.A[k], hl * lin.a[k]
        B, b = np.transpose(lin.D[k], (1, 0, 2)), lin.C[k].T  # (m, d, d), (m, d)
        Mmu = M @ mu
        cross = np.outer(Mmu, c)
        Bmu = B @ mu  # (m, d)
        noise = (np.einsum("iab,bc,idc->ad", B, S, B) + np.einsum("ia,ib->ab", Bmu, b)
                 + np.einsum("ia,ib->ab", b, Bmu) + b.T @ b)
        S = M @ S @ M.T + cross + cross.T + np.outer(c, c) + hl * noise
        mu = Mmu + c
    return mu, S - np.outer(mu, mu)


def linear_controls(y: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """The controls ``(n, d + d(d+1)/2)`` of states ``y`` ``(n, d)`` of the linearised chain:
    ``y − mean`` and the centred products ``(y − mean)_i (y − mean)_j − cov[i, j]``, ``i ≤ j``;
    each has mean zero."""
    u = y - mean
    i, j = np.triu_indices(y.shape[1])
    return np.concatenate([u, u[:, i] * u[:, j] - cov[i, j]], axis=1)
