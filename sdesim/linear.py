"""Exact results for linear SDEs and linear recursions (zero Monte Carlo noise).

Everything here is deterministic and exact up to floating-point rounding. Tests and the
validation suite use these functions as references: the Ornstein–Uhlenbeck (OU) mean and
covariance, the stationary covariance from a Lyapunov equation, the exact first and second
moments of a general linear SDE *and* of its Euler–Maruyama (EM) chain, SGD on a quadratic, and
the α-stable OU process.

Sign conventions (fixed across sdesim):

- OU problem ``ou(A, B)``: ``dX = -A X dt + B dW``, ``A`` of shape ``(d, d)``, ``B`` of shape
  ``(d, m)``.
- General linear problem ``linear(A, B_list, a, b_list)``:
  ``dX = (A X + a) dt + sum_j (B_j X + b_j) dW_j``, j = 1..m, with ``A, B_j`` of shape
  ``(d, d)`` and ``a, b_j`` of shape ``(d,)``. Geometric Brownian motion is d = 1 with
  ``A = [[mu]]``, ``B_list = [[[sigma]]]``.
- SGD on ``L(x) = (x - x*)^T H (x - x*) / 2`` with learning rate ``lr`` and gradient-noise
  covariance ``Sigma``: ``x_{k+1} = x_k - lr H (x_k - x*) + lr xi_k``, ``Cov xi_k = Sigma``.
  This is EM with step ``h = lr`` for the OU problem ``A = H``, ``B B^T = lr Sigma``
  (THEORY.md §0.3 and §C.1).
- Standard SαS law: characteristic function ``exp(-|u|^alpha)``; at alpha = 2 it is
  ``N(0, 2)``, so a scale ``c`` corresponds to the variance ``2 c**2`` (THEORY.md §0.5).

Everything is Itô.

References
----------
THEORY.md §C.1 (OU, continuous and discrete; SGD on a quadratic), §C.2 (EM weak error in closed
form), §C.6 (stable OU, exact). C. F. Van Loan, "Computing integrals involving the matrix
exponential", IEEE Trans. Automat. Control 23 (1978) 395–404. P. E. Kloeden and E. Platen,
*Numerical Solution of Stochastic Differential Equations* (1992), §4.8 (moment equations of
linear SDEs).
"""
from __future__ import annotations

import math
import sys as _sys
import types as _types
from dataclasses import dataclass, field
from typing import Callable, Sequence, TypeVar, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.linalg import expm, solve_continuous_lyapunov, solve_discrete_lyapunov
from ._validate import (as_finite_array, psd_matrix, real_scalar, shaped_array, square_matrix,
                        symmetric_matrix)

__all__ = [
    "Moments",
    "ou_mean",
    "ou_cov",
    "ou_stationary_cov",
    "linear_moments",
    "em_chain_moments",
    "ou_em_chain_moments",
    "ou_em_stationary_cov",
    "sgd_quadratic_moments",
    "sgd_stationary_cov",
    "sde_stationary_cov",
    "stable_ou_scale",
    "stable_ou_em_scale",
    "stable_ou_charfn",
]

FloatArray = NDArray[np.float64]
StepsLike = Union[int, Sequence[int], NDArray[np.integer]]


# ---------------------------------------------------------------------------------------------
# Result type
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Moments:
    """First and second moments of a random vector, ``E[X]`` and ``E[X X^T]``.

    Parameters
    ----------
    mean : ndarray, shape (..., d)
        ``E[X]``.
    second : ndarray, shape (..., d, d)
        ``E[X X^T]`` (the raw second moment, not the covariance).

    Leading axes (``...``) appear when moments are returned for several times or step counts
    at once; they are the same for ``mean`` and ``second``. Arrays are read-only.

    Attributes
    ----------
    cov : ndarray, shape (..., d, d)
        The covariance ``E[X X^T] - E[X] E[X]^T``. Where the producing function propagated
        the covariance directly (no cancellation), that value is returned.

    Example
    -------
    >>> import numpy as np
    >>> mo = Moments(np.array([1.0]), np.array([[3.0]]))
    >>> float(mo.cov[0, 0])
    2.0
    """

    mean: FloatArray
    second: FloatArray
    _cov: FloatArray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        mean = np.array(self.mean, dtype=float)
        second = np.array(self.second, dtype=float)
        if mean.ndim < 1 or second.shape != mean.shape + mean.shape[-1:]:
            raise ValueError(
                f"second must have shape mean.shape + (d,) = {mean.shape + mean.shape[-1:]}, "
                f"got {second.shape}"
            )
        mean.flags.writeable = False
        second.flags.writeable = False
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "second", second)
        if self._cov is not None:
            cov = np.array(self._cov, dtype=float)
            if cov.shape != second.shape:
                raise ValueError(f"_cov must have shape {second.shape}, got {cov.shape}")
            cov.flags.writeable = False
            object.__setattr__(self, "_cov", cov)

    @property
    def cov(self) -> FloatArray:
        """Covariance ``E[X X^T] - E[X] E[X]^T``, shape ``(..., d, d)``."""
        if self._cov is not None:
            return self._cov
        return self.second - self.mean[..., :, None] * self.mean[..., None, :]


# ---------------------------------------------------------------------------------------------
# Input checks specific to this module (the shared ones are in _validate.py)
# ---------------------------------------------------------------------------------------------


def _vector(value: ArrayLike, name: str, d: int) -> FloatArray:
    return shaped_array(value, name, (d,), f"(d,) = ({d},)")


def _steps(value: StepsLike, name: str = "n_steps") -> tuple[NDArray[np.int64], bool]:
    """Non-negative integer step count(s): (flat int array, whether a scalar was given)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a non-negative integer or a sequence of them, got bool")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # pragma: no cover - ragged input
        raise TypeError(f"{name} must be integer(s), got {type(value).__name__}") from exc
    if arr.ndim > 1:
        raise ValueError(f"{name} must be an integer or a 1-d sequence, got shape {arr.shape}")
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer(s), got {value!r}")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0, got {arr.tolist()}")
    return arr.astype(np.int64).reshape(-1), arr.ndim == 0


def _coefficient_lists(
    B_list: ArrayLike | Sequence[ArrayLike] | None,
    b_list: ArrayLike | Sequence[ArrayLike] | None,
    d: int,
) -> tuple[FloatArray, FloatArray]:
    """The noise coefficients as arrays ``Bs`` (m, d, d) and ``bs`` (m, d).

    An empty or missing list means those coefficients are zero; if both are given they must
    have the same length m.
    """
    def given(x) -> bool:
        if x is None:
            return False
        try:
            return len(x) > 0
        except TypeError:  # a scalar: let the shape check reject it
            return True

    Bs = np.zeros((0, d, d))
    bs = np.zeros((0, d))
    if given(B_list):
        Bs = shaped_array(B_list, "B_list", (None, d, d), f"(m, d, d) = (m, {d}, {d})")
    if given(b_list):
        bs = shaped_array(b_list, "b_list", (None, d), f"(m, d) = (m, {d})")
    if len(Bs) and len(bs) and len(Bs) != len(bs):
        raise ValueError(
            f"B_list and b_list must have the same length m, got {len(Bs)} and {len(bs)}"
        )
    m = max(len(Bs), len(bs))
    if len(Bs) == 0:
        Bs = np.zeros((m, d, d))
    if len(bs) == 0:
        bs = np.zeros((m, d))
    return Bs, bs


def _linear_problem(A, B_list, x0, a, b_list):
    """Validated (A, Bs, x0, a, bs) of a general linear problem."""
    A = square_matrix(A, "A")
    d = A.shape[0]
    x0 = _vector(x0, "x0", d)
    a = np.zeros(d) if a is None else _vector(a, "a", d)
    Bs, bs = _coefficient_lists(B_list, b_list, d)
    return A, Bs, x0, a, bs


def _ou_problem(A: ArrayLike, B: ArrayLike) -> tuple[FloatArray, FloatArray]:
    A = square_matrix(A, "A")
    d = A.shape[0]
    B = shaped_array(B, "B", (d, None), f"(d, m) = ({d}, m)")
    return A, B


# ---------------------------------------------------------------------------------------------
# Private numerical cores (shared by the public functions)
# ---------------------------------------------------------------------------------------------


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


def _factor(S: FloatArray) -> FloatArray:
    """A square factor F with F F^T = S for symmetric PSD S (eigendecomposition)."""
    lam, Q = np.linalg.eigh(S)
    return Q * np.sqrt(np.clip(lam, 0.0, None))


# ---------------------------------------------------------------------------------------------
# Ornstein–Uhlenbeck process (continuous)
# ---------------------------------------------------------------------------------------------


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
    THEORY.md §C.1, ``m(t) = e^{-At} x0``.
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
    THEORY.md §C.1; C. F. Van Loan, IEEE Trans. Automat. Control 23 (1978) 395–404.
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
    THEORY.md §C.1 (``S_inf`` solves ``A S + S A^T = B B^T``).
    """
    A, B = _ou_problem(A, B)
    return _continuous_stationary(A, B @ B.T, "A")


# ---------------------------------------------------------------------------------------------
# General linear SDE and its Euler–Maruyama chain
# ---------------------------------------------------------------------------------------------


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
    Kloeden & Platen (1992) §4.8 (moment equations of linear SDEs); THEORY.md §C.1, §C.2.
    """
    A, Bs, x0, a, bs = _linear_problem(A, B_list, x0, a, b_list)
    t = real_scalar(t, "t", positive=False)
    if not np.any(Bs):
        return _linear_moments_additive(A, a, bs, x0, t)
    return _linear_moments_kron(A, Bs, a, bs, x0, t)


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
    THEORY.md §C.2 (EM chains whose moments are exact), §C.1 (discrete recursion).
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
    THEORY.md §C.2 (OU process: ``(1 - theta h)^N x0`` and
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
    THEORY.md §C.1 ("Discrete SGD/NGD, exact") and §C.2 (EM stationary variance of OU).
    """
    A, B = _ou_problem(A, B)
    h = real_scalar(h, "h", positive=True)
    return _em_stationary(A, B @ B.T, h, "h", "A")


# ---------------------------------------------------------------------------------------------
# SGD on a quadratic
# ---------------------------------------------------------------------------------------------


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
    ``A = -H``, ``a = H x*``, ``h = lr`` and ``B B^T = lr Sigma`` (THEORY.md §0.3: NGD is EM).

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
    THEORY.md §C.1, "Discrete SGD/NGD, exact".
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
    THEORY.md §C.1, "Discrete SGD/NGD, exact".
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
    THEORY.md §C.1 ("The SGD special case": ``H S + S H = lr Sigma``); LMA eq. (2).
    """
    H = symmetric_matrix(H, "H")
    Sigma = psd_matrix(Sigma, "Sigma", H.shape[0])
    lr = real_scalar(lr, "lr", positive=True)
    return _continuous_stationary(H, lr * Sigma, "H")


# ---------------------------------------------------------------------------------------------
# alpha-stable OU process
# ---------------------------------------------------------------------------------------------


def _stable_params(theta, sigma, alpha):
    theta = as_finite_array(theta, "theta")
    if np.any(theta <= 0):
        raise ValueError(f"theta must be > 0, got {theta.tolist()}")
    sigma = as_finite_array(sigma, "sigma")
    if np.any(sigma < 0):
        raise ValueError(f"sigma must be >= 0, got {sigma.tolist()}")
    alpha = as_finite_array(alpha, "alpha")
    if np.any((alpha <= 0) | (alpha > 2)):
        raise ValueError(f"alpha must lie in (0, 2], got {alpha.tolist()}")
    return theta, sigma, alpha


def _nonneg_times(t: ArrayLike, name: str) -> FloatArray:
    try:
        t = np.array(t, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be real, got {type(t).__name__}") from exc
    if np.any(np.isnan(t)) or np.any(t == -np.inf):
        raise ValueError(f"{name} must not be NaN or -inf")
    if np.any(t < 0):
        raise ValueError(f"{name} must be >= 0 (np.inf allowed), got {t.tolist()}")
    return t


def _broadcast(**arrays: FloatArray) -> None:
    try:
        np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError as exc:
        shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
        raise ValueError(f"arguments do not broadcast together: {shapes}") from exc


def stable_ou_scale(
    theta: ArrayLike, sigma: ArrayLike, alpha: ArrayLike, t: ArrayLike = np.inf
) -> FloatArray | float:
    """Scale of the SαS part of ``X_t`` for ``dX = -theta X dt + sigma dL^alpha``.

    ``X_t = e^{-theta t} x0 + scale * Z`` in law, Z standard SαS (``E e^{iuZ} = e^{-|u|^alpha}``),
    with ``scale = sigma ((1 - e^{-alpha theta t}) / (alpha theta))^{1/alpha}``; at
    ``t = inf`` it is the stationary scale ``sigma (alpha theta)^{-1/alpha}``.

    Parameters
    ----------
    theta : array_like
        Mean-reversion rate(s), ``> 0``.
    sigma : array_like
        Noise scale(s), ``>= 0``.
    alpha : array_like
        Stability index(es) in (0, 2] (per coordinate if an array).
    t : array_like, default np.inf
        Time(s), ``>= 0``; ``np.inf`` gives the stationary law.

    Returns
    -------
    float or ndarray
        The scale, with the broadcast shape of the inputs (a float for scalar inputs).
        At ``alpha = 2`` the law is Gaussian with variance ``2 scale^2``.

    Raises
    ------
    ValueError
        If ``alpha`` is outside (0, 2] (names ``alpha``), ``theta <= 0``, ``sigma < 0``,
        ``t < 0``, non-finite parameters, or shapes that do not broadcast.

    Example
    -------
    >>> round(float(stable_ou_scale(1.0, 1.0, 1.5)), 4)
    0.7631

    References
    ----------
    THEORY.md §C.6, "Stable OU, exact" (``int f dL ~ SαS(||f||_{L^alpha})``).
    """
    theta, sigma, alpha = _stable_params(theta, sigma, alpha)
    t = _nonneg_times(t, "t")
    _broadcast(theta=theta, sigma=sigma, alpha=alpha, t=t)
    frac = -np.expm1(-alpha * theta * t) / (alpha * theta)
    out = sigma * frac ** (1.0 / alpha)
    return float(out) if out.ndim == 0 else out


def stable_ou_em_scale(
    theta: ArrayLike, sigma: ArrayLike, alpha: ArrayLike, h: ArrayLike
) -> FloatArray | float:
    """Stationary SαS scale of the EM chain ``X' = (1 - theta h) X + sigma h^{1/alpha} Z``.

    ``scale = sigma h^{1/alpha} (1 - |1 - theta h|^alpha)^{-1/alpha}``
    ``= sigma (alpha theta)^{-1/alpha} (1 + (alpha - 1) theta h / (2 alpha) + O(h^2))``.

    Parameters
    ----------
    theta : array_like
        Mean-reversion rate(s), ``> 0``.
    sigma : array_like
        Noise scale(s), ``>= 0``.
    alpha : array_like
        Stability index(es) in (0, 2].
    h : array_like
        Step size(s); requires ``0 < theta h < 2``.

    Returns
    -------
    float or ndarray
        The stationary scale, broadcast shape of the inputs. At ``alpha = 2`` its square
        times 2 is the Gaussian EM stationary variance ``2 sigma^2 / (theta (2 - theta h))``.

    Raises
    ------
    ValueError
        If ``alpha`` is outside (0, 2], ``h <= 0`` or ``theta h >= 2`` (names ``h``),
        ``theta <= 0``, ``sigma < 0``, non-finite input, or non-broadcasting shapes.

    Example
    -------
    >>> round(float(stable_ou_em_scale(1.0, 1.0, 1.5, 0.1)), 4)
    0.7764

    References
    ----------
    THEORY.md §C.6, "Stable OU, exact" (EM chain stationary scale).
    """
    theta, sigma, alpha = _stable_params(theta, sigma, alpha)
    h = as_finite_array(h, "h")
    if np.any(h <= 0):
        raise ValueError(f"h must be > 0, got {h.tolist()}")
    _broadcast(theta=theta, sigma=sigma, alpha=alpha, h=h)
    th = theta * h
    if np.any(th >= 2):
        raise ValueError(
            f"h is too large: need theta*h < 2 for a stationary EM chain, got theta*h = "
            f"{np.asarray(th).tolist()}"
        )
    # 1 - |1 - theta h|^alpha = -expm1(alpha log|1 - theta h|), accurate for small theta h
    with np.errstate(divide="ignore"):
        log_abs = np.where(th < 1, np.log1p(-np.minimum(th, 1.0)), np.log(np.abs(th - 1.0)))
    denom = -np.expm1(alpha * log_abs)
    out = sigma * (h / denom) ** (1.0 / alpha)
    return float(out) if out.ndim == 0 else out


def stable_ou_charfn(
    u: ArrayLike,
    x0: ArrayLike,
    theta: ArrayLike,
    sigma: ArrayLike,
    alpha: ArrayLike,
    t: ArrayLike = np.inf,
) -> NDArray[np.complex128]:
    """Characteristic function ``E exp(i u X_t)`` of the α-stable OU process.

    ``E e^{i u X_t} = exp(i u e^{-theta t} x0 - |scale(t) u|^alpha)`` with ``scale`` from
    :func:`stable_ou_scale`, for ``dX = -theta X dt + sigma dL^alpha``, ``X_0 = x0``.

    Parameters
    ----------
    u : array_like
        Frequencies.
    x0 : array_like
        Initial state(s).
    theta, sigma, alpha : array_like
        As in :func:`stable_ou_scale`.
    t : array_like, default np.inf
        Time(s), ``>= 0``.

    Returns
    -------
    complex ndarray
        Broadcast shape of all inputs (a numpy complex scalar for scalar inputs).

    Raises
    ------
    ValueError
        As :func:`stable_ou_scale`; also non-finite ``u`` or ``x0``.

    Example
    -------
    >>> import numpy as np
    >>> phi = stable_ou_charfn(1.0, 0.0, 1.0, 1.0, 2.0)   # alpha=2: X_inf ~ N(0, 1)
    >>> bool(np.isclose(phi, np.exp(-0.5)))
    True

    References
    ----------
    THEORY.md §C.6, "Stable OU, exact"; §0.5 (standard SαS).
    """
    u = as_finite_array(u, "u")
    x0 = as_finite_array(x0, "x0")
    theta, sigma, alpha = _stable_params(theta, sigma, alpha)
    t = _nonneg_times(t, "t")
    _broadcast(u=u, x0=x0, theta=theta, sigma=sigma, alpha=alpha, t=t)
    scale = np.asarray(stable_ou_scale(theta, sigma, alpha, t))
    drift = np.exp(-theta * t) * x0
    return np.exp(1j * u * drift - np.abs(scale * u) ** alpha)


# ----------------------------------------------------------------------------- sdesim.linear(...)
class _CallableModule(_types.ModuleType):
    """``sdesim.linear`` is both this module and the problem constructor :func:`sdesim.sde.linear`.

    ``sdesim.linear(A, B_list)`` builds the linear SDE ``dX = (A X + a) dt + Σ_j (B_j X + b_j) dW_j``
    and ``sdesim.linear.em_chain_moments(...)`` gives its exact moments, so the problem and its
    exact references live under one name.
    """

    def __call__(self, A, B_list, **kwargs):
        from .sde import linear as _linear_sde
        return _linear_sde(A, B_list, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
