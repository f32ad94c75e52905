"""Matrix cores shared by the exact references: Van Loan integrals, Lyapunov solves, vec/Kronecker.

Private to :mod:`sdesim.exact`. Every function takes validated float arrays.

References
----------
C. F. Van Loan, "Computing integrals involving the matrix exponential", IEEE Trans. Automat.
Control 23 (1978) 395–404. P. E. Kloeden and E. Platen, *Numerical Solution of Stochastic
Differential Equations* (1992), §4.8 (moment equations of linear SDEs).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.linalg import expm, solve_continuous_lyapunov, solve_discrete_lyapunov

from ._moments import FloatArray


def _sym(S: FloatArray) -> FloatArray:
    """Remove rounding asymmetry from a matrix that is symmetric in exact arithmetic."""
    return (S + np.swapaxes(S, -1, -2)) / 2


def _gramian(F: FloatArray, Q: FloatArray, t: float) -> FloatArray:
    """``int_0^t e^{F u} Q e^{F^T u} du`` by Van Loan's block exponential.

    ``expm(t [[-F, Q], [0, F^T]]) = [[*, G], [0, e^{F^T t}]]`` and the integral is
    ``e^{F t} G`` (Van Loan 1978, Thm. 1). The off-diagonal blocks grow like ``e^{|F| t}``, so
    for ``|F| t > 1`` the integral is computed at ``t / 2^k`` and doubled k times with
    ``S(2 tau) = S(tau) + e^{F tau} S(tau) e^{F^T tau}`` (no overflow for long horizons).
    """
    d = F.shape[0]
    if t == 0.0:
        return np.zeros((d, d))
    norm = float(np.linalg.norm(F, 1)) * t
    k = max(0, math.ceil(math.log2(norm))) if norm > 1.0 else 0
    tau = t / 2.0**k
    blk = np.zeros((2 * d, 2 * d))
    blk[:d, :d] = -F
    blk[:d, d:] = Q
    blk[d:, d:] = F.T
    E = expm(blk * tau)
    phi = E[d:, d:].T  # e^{F tau}
    S = _sym(phi @ E[:d, d:])
    for _ in range(k):
        S = _sym(S + phi @ S @ phi.T)
        phi = phi @ phi
    return S


def _continuous_stationary(A: FloatArray, Q: FloatArray, name: str = "A") -> FloatArray:
    """Solve ``A S + S A^T = Q`` (stationary covariance of dX = -A X dt + Q^{1/2} dW)."""
    re_min = float(np.linalg.eigvals(A).real.min())
    if re_min <= 0:
        raise ValueError(
            f"{name} must have all eigenvalues with positive real part for a stationary "
            f"law to exist, got an eigenvalue with real part {re_min:.3g}"
        )
    return _sym(solve_continuous_lyapunov(A, Q))


def _em_stationary(A: FloatArray, Q: FloatArray, h: float, h_name: str, A_name: str) -> FloatArray:
    """Stationary covariance of ``X' = (I - h A) X + noise`` with ``Cov noise = h Q``."""
    d = A.shape[0]
    eig = np.linalg.eigvals(A)
    if np.any(eig.real <= 0):
        raise ValueError(
            f"{A_name} must have all eigenvalues with positive real part (no step "
            f"{h_name} > 0 gives a stationary law), got an eigenvalue with real part "
            f"{float(eig.real.min()):.3g}"
        )
    M = np.eye(d) - h * A
    rho = float(np.max(np.abs(1.0 - h * eig)))
    if rho >= 1.0:
        raise ValueError(
            f"{h_name} = {h:g} is too large: the spectral radius of I - {h_name} {A_name} "
            f"is {rho:.6g} >= 1, so the chain has no stationary law"
        )
    return _sym(solve_discrete_lyapunov(M, h * Q))


def _vec(P: FloatArray) -> FloatArray:
    """Column-major vectorisation of a (d, d) matrix, so that vec(X P Y) = (Y^T kron X) vec(P)."""
    return P.reshape(-1, order="F")


def _unvec(p: FloatArray, d: int) -> FloatArray:
    return p.reshape(d, d, order="F")


def _moment_system(M, Bs, c, bs, h):
    """Linear map of (m, vec P) for ``X' = M X + c + sum_j (B_j X + b_j) xi_j``.

    ``xi_j`` independent of X, mean 0, ``E xi_j xi_k = h delta_jk``. Returns ``(L, o)`` with
    ``(m', vec P') = L (m, vec P) + o``; the continuous generator is the same formula with
    ``M`` -> A in the drift blocks (see :func:`_moment_generator`).
    """
    d = M.shape[0]
    col_c = c[:, None]
    Kp = np.kron(M, M)
    Km = np.kron(col_c, M) + np.kron(M, col_c)
    q = np.kron(c, c)
    for B, b in zip(Bs, bs):
        col_b = b[:, None]
        Kp = Kp + h * np.kron(B, B)
        Km = Km + h * (np.kron(col_b, B) + np.kron(B, col_b))
        q = q + h * np.kron(b, b)
    L = np.zeros((d + d * d, d + d * d))
    L[:d, :d] = M
    L[d:, :d] = Km
    L[d:, d:] = Kp
    return L, np.concatenate([c, q])


def _moment_generator(A, Bs, a, bs):
    """Generator ``G`` of the moment ODE ``d/dt (m, vec P, 1) = G (m, vec P, 1)``.

    dm/dt = A m + a;  dP/dt = A P + P A^T + a m^T + m a^T
                              + sum_j (B_j P B_j^T + B_j m b_j^T + b_j m^T B_j^T + b_j b_j^T).
    """
    d = A.shape[0]
    I = np.eye(d)
    col_a = a[:, None]
    Kp = np.kron(I, A) + np.kron(A, I)
    Km = np.kron(I, col_a) + np.kron(col_a, I)
    q = np.zeros(d * d)
    for B, b in zip(Bs, bs):
        col_b = b[:, None]
        Kp = Kp + np.kron(B, B)
        Km = Km + np.kron(col_b, B) + np.kron(B, col_b)
        q = q + np.kron(b, b)
    n = d + d * d
    G = np.zeros((n + 1, n + 1))
    G[:d, :d] = A
    G[:d, n] = a
    G[d:n, :d] = Km
    G[d:n, d:n] = Kp
    G[d:n, n] = q
    return G


def _factor(S: FloatArray) -> FloatArray:
    """A square factor F with F F^T = S for symmetric PSD S (eigendecomposition)."""
    lam, Q = np.linalg.eigh(S)
    return Q * np.sqrt(np.clip(lam, 0.0, None))
