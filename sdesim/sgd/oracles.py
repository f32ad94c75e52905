"""Loss oracles: the stochastic-gradient view of a loss, vectorised over paths.

Every oracle answers, for states ``x`` of shape ``(n_paths, d)``:

===============================  ==================  ==========================================
method                           returns             meaning
===============================  ==================  ==========================================
``loss(x)``                      ``(n,)``            ``L(x) = E L_γ(x)``
``grad(x)``                      ``(n, d)``          ``∇L(x)``
``sample_grad(x, rng, B)``       ``(n, d)``          one minibatch gradient ``∇L_γ(x)`` per path
``noise_cov(x, B)``              ``(n, d, d)``       its covariance Σ(x) (LMA's Σ: 1/B and the
                                                     without-replacement factor included)
``noise_trace(x, B)``            ``(n,)``            ``Tr Σ(x)`` (LMA's N; O(n N d) for data sets)
``gaussian_grad(x, rng, B)``     ``(n, d)``          ``∇L + Σ^{1/2} z`` (the NGD gradient, eq. 3)
``hessian_vector(x, v)``         ``(n, d)``          ``∇²L(x) v`` (exact for every built-in oracle)
``noise_third_moment(x, B)``     ``(n, d, d, d)``    ``Λ(x) = E(∇L_γ - ∇L)^{⊗3}`` where known
===============================  ==================  ==========================================

Write your own by subclassing :class:`Oracle` (implement ``loss``, ``grad`` and ``sample_grad``;
``noise_cov`` if you know Σ) or wrap callables with :class:`FunctionOracle`.

References
----------
Li, Malladi & Arora (2021) (LMA), eqs. (1)–(3), Lemma 4.7, §5; THEORY.md §0.1, §A.3, §C.5.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Callable

import numpy as np

from .._validate import as_finite_array, positive_float, positive_int
from .noise import GradientNoise, psd_sqrt

__all__ = ["Oracle", "NoisyQuadratic", "LinearRegression", "ScaleInvariantRegression",
           "DoubleWell", "Ackley", "FunctionOracle", "GradientNoise"]


class Oracle(ABC):
    """Base class of loss oracles (see the module table for the protocol and shapes).

    Attributes
    ----------
    d : int
        Parameter dimension.
    n_examples : int or None
        Size of the finite data set, ``None`` for an infinite population.
    replacement : bool
        Whether minibatches are drawn with replacement (irrelevant when ``n_examples`` is None).
    """

    d: int
    n_examples: int | None = None
    replacement: bool = True
    constant_noise: bool = False  # Σ does not depend on x (additive noise)

    @abstractmethod
    def loss(self, x: np.ndarray) -> np.ndarray:
        """``L(x)``, shape ``(n,)``."""

    @abstractmethod
    def grad(self, x: np.ndarray) -> np.ndarray:
        """``∇L(x)``, shape ``(n, d)``."""

    @abstractmethod
    def sample_grad(self, x: np.ndarray, rng: np.random.Generator, batch_size: int = 1) -> np.ndarray:
        """One minibatch gradient per path, shape ``(n, d)``, mean ``∇L(x)``."""

    def noise_cov(self, x: np.ndarray, batch_size: int = 1) -> np.ndarray:
        """Covariance Σ(x) of ``sample_grad(x, ·, batch_size)``, shape ``(n, d, d)``.

        Optional: an oracle that only samples gradients does not know Σ, and the base class
        raises ``NotImplementedError`` saying how to supply it. The built-in oracles know it
        exactly.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not know its noise covariance Σ(x): override noise_cov "
            f"or pass noise_cov= to FunctionOracle (sdesim.sgd.gn_estimates measures Tr Σ from "
            f"samples)")

    def noise_trace(self, x: np.ndarray, batch_size: int = 1) -> np.ndarray:
        """``Tr Σ(x)``, shape ``(n,)``: the N of LMA Definition 5.1 at one state.

        The default takes the trace of :meth:`noise_cov`; the finite-sum oracles override it
        with an ``O(n N d)`` formula that never forms Σ (the equilibrium diagnostics call it at
        every saved state).
        """
        return np.trace(self.noise_cov(x, batch_size), axis1=1, axis2=2)

    def noise_third_moment(self, x: np.ndarray, batch_size: int = 1) -> np.ndarray:
        """Third-moment tensor Λ(x) of the minibatch gradient noise, shape ``(n, d, d, d)``.

        Optional, like :meth:`noise_cov`: only oracles that know Λ (the built-in ones, or a
        :class:`FunctionOracle` given a ``GradientNoise``) provide it.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not know its noise third moment Λ(x): override "
            f"noise_third_moment or give FunctionOracle a GradientNoise")

    def gaussian_grad(self, x: np.ndarray, rng: np.random.Generator, batch_size: int = 1) -> np.ndarray:
        """``∇L(x) + Σ(x)^{1/2} z``, ``z ~ N(0, I_d)``: the NGD gradient (LMA eq. 3), ``(n, d)``."""
        z = rng.standard_normal(x.shape)
        return self.grad(x) + np.einsum("nij,nj->ni", psd_sqrt(self.noise_cov(x, batch_size)), z)

    def hessian_vector(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``∇²L(x) v``, shape ``(n, d)``.

        The default is the central difference ``(∇L(x + εv) - ∇L(x - εv)) / 2ε`` with
        ``ε = 6e-6 (1 + |x|) / |v|`` (error ``O(ε²)``, about 1e-10 relative); every built-in
        oracle overrides it with the exact product (a :class:`FunctionOracle` uses its
        ``hessian_vector`` argument if given).
        """
        nv = np.linalg.norm(v, axis=1, keepdims=True)
        eps = 6e-6 * (1.0 + np.linalg.norm(x, axis=1, keepdims=True)) / np.where(nv > 0, nv, 1.0)
        return (self.grad(x + eps * v) - self.grad(x - eps * v)) / (2 * eps)

    # ----------------------------------------------------------------- input checks
    def check_batch_size(self, batch_size) -> int:
        """Validated ``batch_size``: an int >= 1, and <= n_examples without replacement."""
        B = positive_int(batch_size, "batch_size")
        if self.n_examples is not None and not self.replacement and B > self.n_examples:
            raise ValueError(f"batch_size must be <= the data set size {self.n_examples} when "
                             f"sampling without replacement, got {B}")
        return B

    def check(self, x: np.ndarray, batch_size: int = 1, rng=None) -> None:
        """Call each method once on ``x`` ``(n, d)`` and check the shapes and finiteness.

        Raises
        ------
        ValueError
            Naming the method, the expected and the returned shape.
        """
        n, d = x.shape
        if d != self.d:
            raise ValueError(f"x0 must have d = {self.d} coordinates for this oracle, got {d}")
        rng = np.random.default_rng(0) if rng is None else rng
        B = self.check_batch_size(batch_size)
        for name, fn, want in (("loss", lambda: self.loss(x), (n,)),
                               ("grad", lambda: self.grad(x), (n, d)),
                               ("sample_grad", lambda: self.sample_grad(x, rng, B), (n, d))):
            val = np.asarray(fn())
            if val.shape != want:
                raise ValueError(f"oracle.{name}(x) must return shape {want} for x of shape "
                                 f"{x.shape}, got {val.shape}")
            if not np.all(np.isfinite(val)):
                raise ValueError(f"oracle.{name}(x) returned non-finite values at the initial state")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(d={self.d})"


# ============================================================================ additive noise
class _AdditiveNoiseOracle(Oracle):
    """Oracles whose minibatch gradient is ``∇L(x) + ξ_B`` with state-independent noise ξ."""

    constant_noise = True

    def __init__(self, d: int, Sigma, noise: str, df, alpha):
        Sigma = np.eye(d) if Sigma is None else Sigma
        self.noise = GradientNoise(np.atleast_2d(np.asarray(Sigma, dtype=float)), noise,
                                   df=df, alpha=alpha)
        if self.noise.d != d:
            raise ValueError(f"Sigma must have shape ({d}, {d}), got {self.noise.Sigma.shape}")
        self.d = d

    def sample_grad(self, x, rng, batch_size=1):
        return self.grad(x) + self.noise.sample(rng, x.shape[0], batch_size)

    def noise_cov(self, x, batch_size=1):
        return np.broadcast_to(self.noise.cov(batch_size), (x.shape[0], self.d, self.d))

    def noise_trace(self, x, batch_size=1):
        return np.full(x.shape[0], float(np.trace(self.noise.cov(batch_size))))

    def noise_third_moment(self, x, batch_size=1):
        return np.broadcast_to(self.noise.third_moment(batch_size), (x.shape[0],) + (self.d,) * 3)

    def gaussian_grad(self, x, rng, batch_size=1):
        R = psd_sqrt(self.noise.cov(batch_size))
        return self.grad(x) + rng.standard_normal(x.shape) @ R.T

    def __repr__(self) -> str:
        return f"{type(self).__name__}(d={self.d}, noise={self.noise!r})"


class NoisyQuadratic(_AdditiveNoiseOracle):
    """``L(x) = ½ (x - x*)ᵀ H (x - x*)`` with minibatch gradient ``H (x - x*) + ξ_B``.

    Parameters
    ----------
    H : array_like (d, d)
        Symmetric Hessian.
    Sigma : array_like (d, d)
        Per-example noise covariance (the minibatch covariance is ``Sigma / B``); the squared
        scale matrix for ``noise="stable"``.
    x_star : array_like (d,), optional
        Minimiser (default 0).
    noise : {"gaussian", "skewed", "student_t", "stable"}
        Law of ξ, see :class:`GradientNoise` (``"skewed"`` has third moment ``Λ ≠ 0``).
    df, alpha : float, optional
        For ``"student_t"`` and ``"stable"``.

    Examples
    --------
    >>> import numpy as np
    >>> orc = NoisyQuadratic(np.diag([1.0, 2.0]), np.eye(2), noise="skewed")
    >>> x = np.ones((3, 2))
    >>> orc.grad(x).tolist()[0], float(orc.noise_cov(x, 4)[0, 0, 0])
    ([1.0, 2.0], 0.25)

    References
    ----------
    THEORY.md §C.1 (exact SGD moments), §C.3 (SVAG moments for any noise law).
    """

    def __init__(self, H, Sigma=None, *, x_star=None, noise: str = "gaussian", df=None, alpha=None):
        self.H = as_finite_array(np.atleast_2d(np.asarray(H, dtype=float)), "H", ndim=(2,))
        d = self.H.shape[0]
        if self.H.shape != (d, d) or not np.allclose(self.H, self.H.T):
            raise ValueError(f"H must be a symmetric (d, d) matrix, got shape {self.H.shape}")
        self.x_star = np.zeros(d) if x_star is None else as_finite_array(x_star, "x_star", ndim=(1,))
        if self.x_star.shape != (d,):
            raise ValueError(f"x_star must have shape ({d},), got {self.x_star.shape}")
        super().__init__(d, Sigma, noise, df, alpha)

    def loss(self, x):
        y = x - self.x_star
        return 0.5 * np.einsum("ni,ij,nj->n", y, self.H, y)

    def grad(self, x):
        return (x - self.x_star) @ self.H

    def hessian_vector(self, x, v):
        return v @ self.H


class DoubleWell(_AdditiveNoiseOracle):
    """1-d double well ``L(x) = h (x² - 1)²`` (minima ±1, barrier ``h`` at 0) with additive noise.

    Parameters
    ----------
    barrier : float
        Height ``h > 0`` of the barrier at ``x = 0``.
    Sigma : float or array_like (1, 1)
        Per-example noise variance (default 1).
    noise, df, alpha
        As :class:`NoisyQuadratic`.

    Examples
    --------
    >>> import numpy as np
    >>> DoubleWell(0.5).loss(np.array([[0.0], [1.0]])).tolist()
    [0.5, 0.0]
    """

    def __init__(self, barrier: float = 1.0, Sigma=1.0, *, noise: str = "gaussian", df=None,
                 alpha=None):
        self.barrier = positive_float(barrier, "barrier")
        super().__init__(1, np.reshape(np.asarray(Sigma, dtype=float), (1, 1)), noise, df, alpha)

    def loss(self, x):
        return self.barrier * (x[:, 0] ** 2 - 1.0) ** 2

    def grad(self, x):
        return 4.0 * self.barrier * x * (x * x - 1.0)

    def hessian_vector(self, x, v):
        return self.barrier * (12.0 * x * x - 4.0) * v


class Ackley(_AdditiveNoiseOracle):
    """The 2-d Ackley function with additive gradient noise (a rugged non-convex landscape).

    ``L(x) = -a exp(-b √(½|x|²)) - exp(½ Σ_j cos(2π x_j)) + a + e``, global minimum 0 at 0.
    At ``x = 0`` the first term is not differentiable; its gradient is taken as 0 there.

    Parameters
    ----------
    Sigma : array_like (2, 2)
        Per-example noise covariance (default identity).
    a, b : float
        Ackley's constants (20 and 0.2).
    noise, df, alpha
        As :class:`NoisyQuadratic` (e.g. per-axis escape with SαS noise, issue 4).

    Examples
    --------
    >>> import numpy as np
    >>> round(float(Ackley().loss(np.zeros((1, 2)))[0]), 12)
    0.0
    """

    def __init__(self, Sigma=None, *, a: float = 20.0, b: float = 0.2, noise: str = "gaussian",
                 df=None, alpha=None):
        self.a, self.b = positive_float(a, "a"), positive_float(b, "b")
        super().__init__(2, Sigma, noise, df, alpha)

    def loss(self, x):
        r = np.sqrt(0.5 * np.sum(x * x, axis=1))
        c = np.exp(0.5 * np.sum(np.cos(2 * np.pi * x), axis=1))
        return -self.a * np.exp(-self.b * r) - c + self.a + math.e

    def grad(self, x):
        r = np.sqrt(0.5 * np.sum(x * x, axis=1, keepdims=True))
        safe = np.where(r > 0, r, 1.0)
        g1 = np.where(r > 0, self.a * self.b * np.exp(-self.b * r) * 0.5 * x / safe, 0.0)
        c = np.exp(0.5 * np.sum(np.cos(2 * np.pi * x), axis=1, keepdims=True))
        return g1 + c * np.pi * np.sin(2 * np.pi * x)

    def hessian_vector(self, x, v):
        """Exact ``∇²L(x) v`` (closed form; the radial term is taken as 0 at ``x = 0``).

        With ``r = |x|/√2`` and ``s_j = sin 2πx_j``: the radial term is
        ``ab e^{-br} [v/(2r) - (1/(4r³) + b/(4r²)) x (xᵀv)]`` and the cosine term
        ``e^{c̄} π² [2 cos(2πx) ⊙ v - s (sᵀv)]`` with ``c̄ = ½ Σ_j cos 2πx_j``.
        """
        r = np.sqrt(0.5 * np.sum(x * x, axis=1, keepdims=True))
        safe = np.where(r > 0, r, 1.0)
        xv = np.sum(x * v, axis=1, keepdims=True)
        radial = self.a * self.b * np.exp(-self.b * safe) * (
            v / (2 * safe) - (1 / (4 * safe**3) + self.b / (4 * safe**2)) * x * xv)
        radial = np.where(r > 0, radial, 0.0)
        c = np.exp(0.5 * np.sum(np.cos(2 * np.pi * x), axis=1, keepdims=True))
        s = np.sin(2 * np.pi * x)
        cosine = c * np.pi**2 * (2 * np.cos(2 * np.pi * x) * v - s * np.sum(s * v, axis=1, keepdims=True))
        return radial + cosine


# ============================================================================ finite data sets
class _FiniteSum(Oracle):
    """``L = (1/N) Σ_i ℓ_i`` with ``∇ℓ_i(x) = T_x(a_i r_i(x))``, ``r_i = ⟨a_i, z(x)⟩ - y_i``.

    ``z(x)`` is the model's input map and ``T_x`` a linear map (identity for least squares; the
    scaled projection ``P_u / |x|`` for the scale-invariant model). Everything the protocol needs
    follows from ``_inputs`` and ``_transform``: minibatch means (with or without replacement),
    the exact covariance Σ(x) and third moment, and exact NGD by per-example weights; the fast
    ``noise_trace`` also needs ``_sum_sq_centred`` (written for identity ``T_x``).
    """

    def __init__(self, A, y, *, replacement: bool = True):
        self.A = as_finite_array(A, "A", ndim=(2,))
        self.y = as_finite_array(y, "y", ndim=(1,))
        N, d = self.A.shape
        if self.y.shape != (N,):
            raise ValueError(f"y must have shape (N,) = ({N},) to match A of shape {self.A.shape}, "
                             f"got {self.y.shape}")
        if N < 2:
            raise ValueError(f"A must hold at least 2 examples (rows), got {N}")
        self.d, self.n_examples, self.replacement = d, N, bool(replacement)
        self._row_sq = np.einsum("kd,kd->k", self.A, self.A)  # |a_k|², (N,)

    # model-specific
    def _inputs(self, x):  # z(x), (n, d)
        return x

    def _transform(self, x, v):  # T_x v, (n, d)
        return v

    # shared machinery
    def _residuals(self, x):
        return self._inputs(x) @ self.A.T - self.y  # (n, N)

    def loss(self, x):
        return 0.5 * np.mean(self._residuals(x) ** 2, axis=1)

    def grad(self, x):
        return self._transform(x, self._residuals(x) @ self.A / self.n_examples)

    def _indices(self, rng, n, B):
        N = self.n_examples
        if self.replacement:
            return rng.integers(0, N, size=(n, B))
        keys = rng.random((n, N))  # the B smallest of N i.i.d. keys: a uniform B-subset
        return np.argpartition(keys, B - 1, axis=1)[:, :B] if B < N else np.argsort(keys, axis=1)

    def sample_grad(self, x, rng, batch_size=1):
        B = batch_size
        idx = self._indices(rng, x.shape[0], B)
        Ab = self.A[idx]  # (n, B, d)
        r = np.einsum("nbd,nd->nb", Ab, self._inputs(x)) - self.y[idx]
        return self._transform(x, np.einsum("nb,nbd->nd", r, Ab) / B)

    def _factor(self, B: int, order: int) -> float:
        """Variance (order 2) / third-moment (order 3) factor of a minibatch mean."""
        N = self.n_examples
        if self.replacement:
            return 1.0 / B ** (order - 1)
        if order == 2:
            return (N - B) / ((N - 1) * B)
        return (N - B) * (N - 2 * B) / ((N - 1) * (N - 2) * B**2) if N > 2 else 0.0

    def _centred_example_grads(self, x):
        """Per-example ``a_i r_i`` minus their mean, before ``T_x``: ``(n, N, d)``."""
        r = self._residuals(x)
        g = r[:, :, None] * self.A[None]
        return g - g.mean(axis=1, keepdims=True)

    def _transform_matrix(self, x):
        eye = np.broadcast_to(np.eye(self.d), (x.shape[0], self.d, self.d))
        return np.stack([self._transform(x, eye[:, :, j]) for j in range(self.d)], axis=2)

    def noise_cov(self, x, batch_size=1):
        B = self.check_batch_size(batch_size)
        c = self._centred_example_grads(x)
        pop = np.einsum("nki,nkj->nij", c, c) / self.n_examples
        T = self._transform_matrix(x)
        return self._factor(B, 2) * T @ pop @ np.swapaxes(T, 1, 2)

    def noise_trace(self, x, batch_size=1):
        """``Tr Σ(x) = f_B (1/N) Σ_k |T_x c_k|²`` in ``O(n N d)`` (Σ is never formed)."""
        B = self.check_batch_size(batch_size)
        r = self._residuals(x)
        m = r @ self.A / self.n_examples  # mean per-example gradient before T_x, (n, d)
        tr = self._sum_sq_centred(x, r, m)
        return self._factor(B, 2) * np.maximum(tr, 0.0) / self.n_examples

    def _sum_sq_centred(self, x, r, m):
        """``Σ_k |T_x c_k|²`` with ``c_k = r_k a_k - m``, shape ``(n,)``.

        This is the identity ``T_x``; a subclass with another ``_transform`` overrides it.
        """
        return (r * r) @ self._row_sq - self.n_examples * np.sum(m * m, axis=1)

    def noise_third_moment(self, x, batch_size=1):
        B = self.check_batch_size(batch_size)
        c = np.einsum("nij,nkj->nki", self._transform_matrix(x), self._centred_example_grads(x))
        return self._factor(B, 3) * np.einsum("nki,nkj,nkl->nijl", c, c, c) / self.n_examples

    def gaussian_grad(self, x, rng, batch_size=1):
        """Exact NGD gradient by per-example weights ``δ_i = 1 + c (z_i - z̄)`` (THEORY.md §A.3).

        ``c² = N/B`` (times ``(N-B)/(N-1)`` without replacement) makes the covariance of
        ``(1/N) Σ δ_i ∇ℓ_i`` exactly Σ(x); cost ``O(n N d)``, Σ is never formed.
        """
        B, N = batch_size, self.n_examples
        c2 = N * self._factor(B, 2)
        z = rng.standard_normal((x.shape[0], N))
        w = 1.0 + math.sqrt(c2) * (z - z.mean(axis=1, keepdims=True))
        return self._transform(x, (w * self._residuals(x)) @ self.A / N)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(d={self.d}, n_examples={self.n_examples}, "
                f"replacement={self.replacement})")


class LinearRegression(_FiniteSum):
    """Least squares ``L(x) = (1/2N) Σ_i (⟨a_i, x⟩ - y_i)²`` on a finite data set.

    Minibatches of ``B`` examples are drawn with or without replacement; Σ(x) is
    state-dependent and exact: ``Σ_B(x) = f_B · Cov_i(∇ℓ_i(x))`` with ``f_B = 1/B`` (with
    replacement) or ``(N-B)/((N-1)B)`` (without).

    Parameters
    ----------
    A : array_like (N, d)
        Inputs ``a_i`` (rows).
    y : array_like (N,)
        Targets.
    replacement : bool, default True

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> orc = LinearRegression(rng.standard_normal((20, 3)), rng.standard_normal(20),
    ...                        replacement=False)
    >>> float(abs(orc.noise_cov(np.zeros((2, 3)), batch_size=20)).max())   # full batch: no noise
    0.0

    References
    ----------
    THEORY.md §0.1 (Σ with and without replacement), §A.3 (exact NGD by per-example weights).
    """

    def __init__(self, A, y, *, replacement: bool = True):
        super().__init__(A, y, replacement=replacement)
        self._H = self.A.T @ self.A / self.n_examples

    def hessian_vector(self, x, v):
        return v @ self._H


class ScaleInvariantRegression(_FiniteSum):
    """Scale-invariant least squares ``ℓ_i(x) = ½ (⟨a_i, x/|x|⟩ - y_i)²`` (LMA §5).

    ``L_γ(cx) = L_γ(x)`` for every batch, so ``⟨∇L_γ(x), x⟩ = 0`` and Σ(x) x = 0. Train it with
    weight decay (``weight_decay > 0`` in :func:`sdesim.sgd.run`) to reach the equilibrium of
    LMA Theorem 5.2. With ``u = x/|x|`` and ``P_u = I - u uᵀ``:
    ``∇ℓ_i = (⟨a_i, u⟩ - y_i) P_u a_i / |x|``.

    Parameters
    ----------
    A : array_like (N, d)
    y : array_like (N,)
    replacement : bool, default True

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> orc = ScaleInvariantRegression(rng.standard_normal((10, 3)), rng.standard_normal(10))
    >>> x = rng.standard_normal((4, 3))
    >>> bool(np.allclose(np.sum(orc.grad(x) * x, axis=1), 0))
    True

    References
    ----------
    LMA §5, eqs. (6)–(7), Lemma E.7; THEORY.md §C.5, family 2.
    """

    def __init__(self, A, y, *, replacement: bool = True):
        super().__init__(A, y, replacement=replacement)
        self._H = self.A.T @ self.A / self.n_examples
        self._b = self.A.T @ self.y / self.n_examples

    def _inputs(self, x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def _transform(self, x, v):
        nrm = np.linalg.norm(x, axis=1, keepdims=True)
        u = x / nrm
        return (v - u * np.sum(u * v, axis=1, keepdims=True)) / nrm

    def _sum_sq_centred(self, x, r, m):
        # |P_u c|² = |c|² - (u·c)², and T_x = P_u / |x|
        rho2 = np.sum(x * x, axis=1)
        u = x / np.sqrt(rho2)[:, None]
        ua = r + self.y  # ⟨a_k, u⟩, (n, N): the residuals are ⟨a_k, u⟩ - y_k
        um = np.sum(u * m, axis=1)
        proj = np.sum((r * ua) ** 2, axis=1) - self.n_examples * um * um
        return (super()._sum_sq_centred(x, r, m) - proj) / rho2

    def hessian_vector(self, x, v):
        """Exact ``∇²L(x) v`` (closed form, no differences).

        With ``ρ = |x|``, ``u = x/ρ``, ``P = I - uuᵀ``, ``g = Ĥu - b̂`` (``Ĥ = AᵀA/N``,
        ``b̂ = Aᵀy/N``) and ``w = Pv/ρ``:
        ``∇²L v = (P Ĥ w - (uᵀg) w - u (gᵀw)) / ρ - (uᵀv) P g / ρ²``, which is symmetric and
        satisfies ``∇²L(x) x = -∇L(x)`` (the derivative of ``⟨∇L(x), x⟩ = 0``).
        """
        rho = np.linalg.norm(x, axis=1, keepdims=True)
        u = x / rho
        g = u @ self._H - self._b
        ug = np.sum(u * g, axis=1, keepdims=True)
        uv = np.sum(u * v, axis=1, keepdims=True)
        w = (v - u * uv) / rho
        Hw = w @ self._H
        PHw = Hw - u * np.sum(u * Hw, axis=1, keepdims=True)
        Pg = g - u * ug
        return (PHw - ug * w - u * np.sum(g * w, axis=1, keepdims=True)) / rho - uv * Pg / rho**2


# ============================================================================ user callables
class FunctionOracle(Oracle):
    """Wrap your own loss as an oracle.

    Parameters
    ----------
    loss : callable ``loss(x) -> (n,)``
    grad : callable ``grad(x) -> (n, d)``
    d : int
    sample_grad : callable ``sample_grad(x, rng, batch_size) -> (n, d)``, optional
        Your stochastic minibatch gradient. Without it the gradient noise is ``noise`` (additive),
        or zero (deterministic: GD).
    noise : GradientNoise, optional
        Additive state-independent noise, used when ``sample_grad`` is not given.
    noise_cov : callable ``noise_cov(x, batch_size) -> (n, d, d)``, optional
        Σ(x) of your ``sample_grad`` if you know it (needed by NGD, :func:`sgd_sde` and the exact
        N of the diagnostics).
    hessian_vector : callable ``hessian_vector(x, v) -> (n, d)``, optional
        Default: central differences of ``grad``.
    n_examples : int, optional
        Size of your data set (for the batch-size check without replacement).
    replacement : bool, default True

    Raises
    ------
    TypeError
        A non-callable argument (named). Wrong shapes are reported, naming the method, when a
        run starts (:meth:`Oracle.check`).

    Examples
    --------
    >>> import numpy as np
    >>> orc = FunctionOracle(lambda x: 0.25 * np.sum(x**4, axis=1), lambda x: x**3, d=2,
    ...                      noise=GradientNoise(0.1 * np.eye(2)))
    >>> orc.sample_grad(np.ones((5, 2)), np.random.default_rng(0), 1).shape
    (5, 2)
    """

    def __init__(self, loss: Callable, grad: Callable, d: int, *, sample_grad: Callable | None = None,
                 noise: GradientNoise | None = None, noise_cov: Callable | None = None,
                 hessian_vector: Callable | None = None, n_examples: int | None = None,
                 replacement: bool = True):
        for name, fn in (("loss", loss), ("grad", grad)):
            if not callable(fn):
                raise TypeError(f"{name} must be callable, got {type(fn).__name__}")
        for name, fn in (("sample_grad", sample_grad), ("noise_cov", noise_cov),
                         ("hessian_vector", hessian_vector)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable or None, got {type(fn).__name__}")
        if noise is not None and not isinstance(noise, GradientNoise):
            raise TypeError(f"noise must be a GradientNoise, got {type(noise).__name__}")
        self.d = positive_int(d, "d")
        if noise is not None and noise.d != self.d:
            raise ValueError(f"noise must have dimension d = {self.d}, got {noise.d}")
        self._loss, self._grad, self._sample, self._cov, self._hvp = (
            loss, grad, sample_grad, noise_cov, hessian_vector)
        self.noise = noise
        self.constant_noise = sample_grad is None
        self.n_examples = None if n_examples is None else positive_int(n_examples, "n_examples")
        self.replacement = bool(replacement)

    def loss(self, x):
        return np.asarray(self._loss(x), dtype=float)

    def grad(self, x):
        return np.asarray(self._grad(x), dtype=float)

    def sample_grad(self, x, rng, batch_size=1):
        if self._sample is not None:
            return np.asarray(self._sample(x, rng, batch_size), dtype=float)
        g = self.grad(x)
        return g if self.noise is None else g + self.noise.sample(rng, x.shape[0], batch_size)

    def noise_cov(self, x, batch_size=1):
        if self._cov is not None:
            cov = np.asarray(self._cov(x, batch_size), dtype=float)
            want = (x.shape[0], self.d, self.d)
            if cov.shape != want:
                raise ValueError(f"noise_cov(x, batch_size) must return shape {want}, got {cov.shape}")
            return cov
        if self._sample is not None:
            return super().noise_cov(x, batch_size)
        S = np.zeros((self.d, self.d)) if self.noise is None else self.noise.cov(batch_size)
        return np.broadcast_to(S, (x.shape[0], self.d, self.d))

    def noise_third_moment(self, x, batch_size=1):
        if self._sample is None and self.noise is not None:
            return np.broadcast_to(self.noise.third_moment(batch_size), (x.shape[0],) + (self.d,) * 3)
        return super().noise_third_moment(x, batch_size)

    def hessian_vector(self, x, v):
        if self._hvp is None:
            return super().hessian_vector(x, v)
        return np.asarray(self._hvp(x, v), dtype=float)
