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
``numba_kernel(method, B)``      ``(fn, params)``    a numba form of ``grad``, ``hessian_vector``
                                                     or ``noise_cov`` (:meth:`Oracle.numba_kernel`)
===============================  ==================  ==========================================

Write your own by subclassing :class:`Oracle` (implement ``loss``, ``grad`` and ``sample_grad``;
``noise_cov`` if you know Σ; ``numba_kernel`` if you want :func:`sdesim.sgd.sgd_sde` to compile
your functions) or wrap callables with :class:`FunctionOracle`.

The built-in oracles' gradients, Hessian-vector products and (for the finite sums) noise
covariances are numba kernels ``fn(x, params)`` (compiled once per machine, cached on disk): the
methods call them, and so do the SDEs of :func:`sdesim.sgd.sgd_sde`, which therefore run compiled
on the numba backend.

References
----------
Li, Malladi & Arora (2021) (LMA), eqs. (1)–(3), Lemma 4.7, §5; docs/theory.md §0.1, §A.3, §C.5.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Callable

import numba
import numpy as np
from numba.extending import overload, register_jitable

from .._validate import as_finite_array, positive_float, positive_int
from ..backends.errors import numba_reason
from .noise import GradientNoise, check_batch_size, psd_sqrt

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
        B = self.check_batch_size(batch_size)
        z = rng.standard_normal(x.shape)
        return self.grad(x) + np.einsum("nij,nj->ni", psd_sqrt(self.noise_cov(x, B)), z)

    def sample_grad_mix(self, x, rng, batch_size: int, coefs) -> np.ndarray:
        """``Σ_j c_j ∇L_{γ_j}(x)`` over independent minibatches ``γ_j`` (zero ``c_j`` skipped),
        shape ``(n, d)``: SVAG's gradient with ``coefs = svag_coefficients(l)`` (LMA eq. 5).

        The default draws one :meth:`sample_grad` per non-zero coefficient, in order; an
        oracle that can take all batches in one pass (:class:`sdesim.torch.TorchOracle`: one
        forward-backward with per-example weights ``c_j/B``) overrides it.
        """
        terms = [c * self.sample_grad(x, rng, batch_size) for c in coefs if c != 0.0]
        out = terms[0]
        for t in terms[1:]:
            out = out + t
        return out

    def asarray(self, x):
        """The states ``x`` ``(n, d)`` as the arrays this oracle computes on: numpy here, torch
        tensors on the model's device and dtype for :class:`sdesim.torch.TorchOracle`. The SGD
        recursion (:func:`sdesim.sgd.run`) steps in this namespace."""
        return x

    def hessian_vector(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``∇²L(x) v``, shape ``(n, d)``.

        The default is the central difference ``(∇L(x + εv) - ∇L(x - εv)) / 2ε`` with
        ``ε = 6e-6 (1 + |x|) / |v|`` (error ``O(ε²)``, about 1e-10 relative); every built-in
        oracle overrides it with the exact product (a :class:`FunctionOracle` uses its
        ``hessian_vector`` argument if given).
        """
        return _central_hvp(np.asarray(x, dtype=float), np.asarray(v, dtype=float), self.grad)

    def numba_kernel(self, method: str, batch_size: int = 1) -> tuple:
        """A numba-compilable form of ``method`` for :func:`sdesim.sgd.sgd_sde`.

        Parameters
        ----------
        method : {"grad", "hessian_vector", "noise_cov"}
        batch_size : int
            The minibatch size of ``"noise_cov"``.

        Returns
        -------
        (fn, params)
            ``fn(x, params)`` equals ``self.grad(x)`` or ``self.noise_cov(x, batch_size)``;
            ``fn(x, v, params)`` equals ``self.hessian_vector(x, v)``. ``fn`` is callable from
            numba-compiled code (a ``numba.njit`` function, or a plain function registered with
            ``numba.extending.register_jitable``) and from Python; ``params`` is anything numba
            can freeze as a constant (floats, arrays, tuples of them, a compiled function).

        Raises
        ------
        NotImplementedError
            Saying why there is none. The base class has none: override this method to make an
            oracle's SDE compile; :func:`~sdesim.sgd.sgd_sde` otherwise calls the Python method
            from the compiled code at every step. Every built-in oracle has ``"grad"`` and
            ``"hessian_vector"``; the finite-sum ones ``"noise_cov"`` too (the others have a
            constant Σ and need none).
        """
        raise NotImplementedError(
            f"{type(self).__name__}.{method} is a Python method and {type(self).__name__} "
            f"defines no numba kernel for it (override Oracle.numba_kernel to give one)")

    # ----------------------------------------------------------------- input checks
    def check_batch_size(self, batch_size) -> int:
        """Validated ``batch_size``: an integer >= 1, and <= n_examples without replacement.

        Raises
        ------
        ValueError
            ``batch_size`` below 1, not an integer, or above the data set size without
            replacement (:func:`sdesim.sgd.noise.check_batch_size`).
        """
        return check_batch_size(batch_size, self.n_examples, self.replacement)

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


# ============================================================================ numba kernels
# A kernel is ``fn(x, params)`` (``fn(x, v, params)`` for a Hessian-vector product) on states
# ``x`` of shape ``(n, d)`` (C-contiguous float64), compiled with numba and cached on disk, so it
# compiles once per machine. The built-in oracles' methods call it, and so do the SDEs of
# sgd_sde; it is written as loops, not matrix products, because numba links the code of
# everything f and g call into each SDE's kernel, and BLAS/LAPACK calls make that take seconds.
_JIT = dict(nogil=True, cache=True, error_model="numpy")


@numba.njit(**_JIT)
def _quadratic_grad(x, p):
    """``H (x - x*)`` per row, ``p = (H, x*)`` (H symmetric)."""
    H, x_star = p
    n, d = x.shape
    out = np.zeros((n, d))
    for i in range(n):
        for k in range(d):
            xk = x[i, k] - x_star[k]
            for j in range(d):
                out[i, j] += xk * H[k, j]
    return out


@numba.njit(**_JIT)
def _quadratic_hvp(x, v, p):
    """``H v`` per row, ``p = (H, x*)``."""
    return _quadratic_grad(v, (p[0], np.zeros(v.shape[1])))


@numba.njit(**_JIT)
def _double_well_grad(x, p):
    """``4h x (x² - 1)``, ``p = (h,)``."""
    return 4.0 * p[0] * x * (x * x - 1.0)


@numba.njit(**_JIT)
def _double_well_hvp(x, v, p):
    """``h (12x² - 4) v``, ``p = (h,)``."""
    return p[0] * (12.0 * x * x - 4.0) * v


@numba.njit(**_JIT)
def _ackley_parts(x, i, b):
    """Row ``i``'s ``r = |x|/√2``, ``e^{-br}`` and ``e^{c̄}`` with ``c̄ = ½ Σ_j cos 2πx_j``."""
    sq, cs = 0.0, 0.0
    for j in range(x.shape[1]):
        sq += x[i, j] * x[i, j]
        cs += math.cos(2 * math.pi * x[i, j])
    r = math.sqrt(0.5 * sq)
    return r, math.exp(-b * r), math.exp(0.5 * cs)


@numba.njit(**_JIT)
def _ackley_grad(x, p):
    """Ackley's gradient, ``p = (a, b)``; the radial term is taken as 0 at ``x = 0``."""
    a, b = p
    out = np.empty(x.shape)
    for i in range(x.shape[0]):
        r, e, c = _ackley_parts(x, i, b)
        radial = a * b * e * 0.5 / r if r > 0 else 0.0
        for j in range(x.shape[1]):
            out[i, j] = radial * x[i, j] + c * math.pi * math.sin(2 * math.pi * x[i, j])
    return out


@numba.njit(**_JIT)
def _ackley_hvp(x, v, p):
    """Exact ``∇²L(x) v`` of Ackley's function (closed form; the radial term is 0 at ``x = 0``).

    With ``r = |x|/√2`` and ``s_j = sin 2πx_j``: the radial term is
    ``ab e^{-br} [v/(2r) - (1/(4r³) + b/(4r²)) x (xᵀv)]`` and the cosine term
    ``e^{c̄} π² [2 cos(2πx) ⊙ v - s (sᵀv)]`` with ``c̄ = ½ Σ_j cos 2πx_j``.
    """
    a, b = p
    n, d = x.shape
    out = np.empty((n, d))
    for i in range(n):
        r, e, c = _ackley_parts(x, i, b)
        xv, sv = 0.0, 0.0
        for j in range(d):
            xv += x[i, j] * v[i, j]
            sv += math.sin(2 * math.pi * x[i, j]) * v[i, j]
        for j in range(d):
            radial = 0.0
            if r > 0:
                radial = a * b * e * (v[i, j] / (2 * r) - (1 / (4 * r**3) + b / (4 * r**2))
                                      * x[i, j] * xv)
            t = 2 * math.pi * x[i, j]
            out[i, j] = radial + c * math.pi**2 * (2 * math.cos(t) * v[i, j] - math.sin(t) * sv)
    return out


@numba.njit(**_JIT)
def _finite_sum_grad(x, p):
    """``T_x (1/N) Σ_k a_k r_k``, ``r_k = ⟨a_k, z⟩ - y_k`` (``z = x``, or ``x/|x|`` and ``T_x =
    P_u/|x|`` for the scale-invariant model), ``p = (A, y, Ĥ, b̂, scale_invariant)``."""
    A, y, H, b, scale_invariant = p
    n, d = x.shape
    N = A.shape[0]
    out = np.zeros((n, d))
    z = np.empty(d)
    for i in range(n):
        nrm = math.sqrt(np.sum(x[i] * x[i])) if scale_invariant else 1.0
        z[:] = x[i] / nrm
        for k in range(N):
            r = -y[k]
            for j in range(d):
                r += A[k, j] * z[j]
            for j in range(d):
                out[i, j] += r * A[k, j] / N
        if scale_invariant:
            um = np.sum(z * out[i])
            for j in range(d):
                out[i, j] = (out[i, j] - um * z[j]) / nrm
    return out


@numba.njit(**_JIT)
def _finite_sum_hvp(x, v, p):
    """Exact ``∇²L(x) v``: ``Ĥ v`` for least squares; for the scale-invariant model, with
    ``ρ = |x|``, ``u = x/ρ``, ``P = I - uuᵀ``, ``g = Ĥu - b̂`` (``Ĥ = AᵀA/N``, ``b̂ = Aᵀy/N``) and
    ``w = Pv/ρ``: ``(P Ĥ w - (uᵀg) w - u (gᵀw)) / ρ - (uᵀv) P g / ρ²``, which is symmetric and
    satisfies ``∇²L(x) x = -∇L(x)`` (the derivative of ``⟨∇L(x), x⟩ = 0``)."""
    A, y, H, b, scale_invariant = p
    n, d = x.shape
    if not scale_invariant:
        return _quadratic_grad(v, (H, np.zeros(d)))
    out = np.empty((n, d))
    g, w, Hw = np.empty(d), np.empty(d), np.empty(d)
    for i in range(n):
        rho = math.sqrt(np.sum(x[i] * x[i]))
        u = x[i] / rho
        uv = np.sum(u * v[i])
        for j in range(d):
            w[j] = (v[i, j] - u[j] * uv) / rho
        for j in range(d):
            g[j], Hw[j] = -b[j], 0.0
            for k in range(d):
                g[j] += H[j, k] * u[k]
                Hw[j] += H[j, k] * w[k]
        ug, uHw, gw = np.sum(u * g), np.sum(u * Hw), np.sum(g * w)
        for j in range(d):
            out[i, j] = ((Hw[j] - u[j] * uHw - ug * w[j] - u[j] * gw) / rho
                         - uv * (g[j] - u[j] * ug) / rho**2)
    return out


@numba.njit(**_JIT)
def _finite_sum_cov(x, p):
    """``Σ(x) = f_B (1/N) Σ_k c_k c_kᵀ``, ``c_k = T_x(a_k r_k - mean_k a_k r_k)``, ``(n, d, d)``;
    ``p = (A, y, f_B, scale_invariant)``."""
    A, y, factor, scale_invariant = p
    n, d = x.shape
    N = A.shape[0]
    out = np.zeros((n, d, d))
    c = np.empty((N, d))
    z = np.empty(d)
    mean = np.empty(d)
    for i in range(n):
        nrm = math.sqrt(np.sum(x[i] * x[i])) if scale_invariant else 1.0
        z[:] = x[i] / nrm
        mean[:] = 0.0
        for k in range(N):
            r = -y[k]
            for j in range(d):
                r += A[k, j] * z[j]
            for j in range(d):
                c[k, j] = r * A[k, j]
                mean[j] += c[k, j] / N
        for k in range(N):
            uc = 0.0
            for j in range(d):
                c[k, j] -= mean[j]
                uc += c[k, j] * z[j]
            if scale_invariant:
                for j in range(d):
                    c[k, j] = (c[k, j] - uc * z[j]) / nrm
            for a in range(d):
                for e in range(d):
                    out[i, a, e] += c[k, a] * c[k, e]
        out[i] *= factor / N
    return out


def _rows(v):
    """Row sums of ``v`` ``(n, k)`` as a column ``(n, 1)``."""
    return np.sum(v, axis=1, keepdims=True)


@overload(_rows)
def _rows_numba(v):
    """:func:`_rows` in compiled code, as a loop (numba has no ``keepdims``)."""
    def impl(v):
        out = np.zeros((v.shape[0], 1))
        for i in range(v.shape[0]):
            for j in range(v.shape[1]):
                out[i, 0] += v[i, j]
        return out
    return impl


@register_jitable
def _central_hvp(x, v, grad):
    """``(grad(x + εv) - grad(x - εv)) / 2ε`` with ``ε = 6e-6 (1 + |x|) / |v|`` per row (error
    O(ε²))."""
    nv = np.sqrt(_rows(v * v))
    eps = 6e-6 * (1.0 + np.sqrt(_rows(x * x))) / (nv + (nv == 0.0))
    return (grad(x + eps * v) - grad(x - eps * v)) / (2 * eps)


@register_jitable
def _call(x, fun):
    """``fun(x)``: the kernel form of a compiled function of ``x`` (``params = fun``)."""
    return fun(x)


@register_jitable
def _call2(x, v, fun):
    """``fun(x, v)``: the kernel form of a compiled Hessian-vector product (``params = fun``)."""
    return fun(x, v)


def _c(x) -> np.ndarray:
    """``x`` as the C-contiguous float64 array the kernels take."""
    return np.ascontiguousarray(x, dtype=float)


class _KernelOracle(Oracle):
    """An oracle whose ``grad`` and ``hessian_vector`` are the kernels ``_kernels`` with
    parameters ``_params``, which :meth:`numba_kernel` hands to :func:`sdesim.sgd.sgd_sde`."""

    _kernels: dict = {}
    _params: tuple = ()

    def grad(self, x):
        """``∇L(x)``, shape ``(n, d)``."""
        return self._kernels["grad"](_c(x), self._params)

    def hessian_vector(self, x, v):
        """Exact ``∇²L(x) v``, shape ``(n, d)``."""
        return self._kernels["hessian_vector"](_c(x), _c(v), self._params)

    def numba_kernel(self, method, batch_size=1):
        if method in self._kernels:
            return self._kernels[method], self._params
        return super().numba_kernel(method, batch_size)


# ============================================================================ additive noise
class _AdditiveNoiseOracle(_KernelOracle):
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
        For ``"student_t"`` and ``"stable"``; ``alpha`` may be an array ``(d,)``, one tail index
        per noise coordinate (:class:`GradientNoise`; :func:`sgd_sde` then builds the Lévy SDE
        with a per-coordinate ``Stable`` driver).

    Examples
    --------
    >>> import numpy as np
    >>> orc = NoisyQuadratic(np.diag([1.0, 2.0]), np.eye(2), noise="skewed")
    >>> x = np.ones((3, 2))
    >>> orc.grad(x).tolist()[0], float(orc.noise_cov(x, 4)[0, 0, 0])
    ([1.0, 2.0], 0.25)

    References
    ----------
    docs/theory.md §C.1 (exact SGD moments), §C.3 (SVAG moments for any noise law).
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
        self._params = (self.H, self.x_star)

    _kernels = {"grad": _quadratic_grad, "hessian_vector": _quadratic_hvp}

    def loss(self, x):
        y = x - self.x_star
        return 0.5 * np.einsum("ni,ij,nj->n", y, self.H, y)


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
        self._params = (self.barrier,)

    _kernels = {"grad": _double_well_grad, "hessian_vector": _double_well_hvp}

    def loss(self, x):
        return self.barrier * (x[:, 0] ** 2 - 1.0) ** 2


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
        self._params = (self.a, self.b)

    _kernels = {"grad": _ackley_grad, "hessian_vector": _ackley_hvp}

    def loss(self, x):
        r = np.sqrt(0.5 * np.sum(x * x, axis=1))
        c = np.exp(0.5 * np.sum(np.cos(2 * np.pi * x), axis=1))
        return -self.a * np.exp(-self.b * r) - c + self.a + math.e


# ============================================================================ finite data sets
class _FiniteSum(_KernelOracle):
    """``L = (1/N) Σ_i ℓ_i`` with ``∇ℓ_i(x) = T_x(a_i r_i(x))``, ``r_i = ⟨a_i, z(x)⟩ - y_i``.

    ``z(x)`` is the model's input map and ``T_x`` a linear map (identity for least squares; the
    scaled projection ``P_u / |x|`` for the scale-invariant model, ``_scale_invariant``). The
    minibatch means (with or without replacement), the third moment and exact NGD by
    per-example weights follow from ``_inputs`` and ``_transform``; the gradient, the exact
    ``∇²L v`` and the covariance Σ(x) are the numba kernels ``_finite_sum_*``; the fast
    ``noise_trace`` also needs ``_sum_sq_centred`` (written for identity ``T_x``).
    """

    _kernels = {"grad": _finite_sum_grad, "hessian_vector": _finite_sum_hvp}
    _scale_invariant = False

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
        self._H = self.A.T @ self.A / N
        self._b = self.A.T @ self.y / N
        self._params = (self.A, self.y, self._H, self._b, self._scale_invariant)

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

    def _indices(self, rng, n, B):
        N = self.n_examples
        if self.replacement:
            return rng.integers(0, N, size=(n, B))
        keys = rng.random((n, N))  # the B smallest of N i.i.d. keys: a uniform B-subset
        return np.argpartition(keys, B - 1, axis=1)[:, :B] if B < N else np.argsort(keys, axis=1)

    def sample_grad(self, x, rng, batch_size=1):
        B = self.check_batch_size(batch_size)
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

    def _cov_params(self, batch_size) -> tuple:
        return (self.A, self.y, self._factor(self.check_batch_size(batch_size), 2),
                self._scale_invariant)

    def noise_cov(self, x, batch_size=1):
        return _finite_sum_cov(_c(x), self._cov_params(batch_size))

    def numba_kernel(self, method, batch_size=1):
        if method == "noise_cov":
            return _finite_sum_cov, self._cov_params(batch_size)
        return super().numba_kernel(method, batch_size)

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
        """Exact NGD gradient by per-example weights ``δ_i = 1 + c (z_i - z̄)``.

        ``c² = N/B`` (times ``(N-B)/(N-1)`` without replacement) makes the covariance of
        ``(1/N) Σ δ_i ∇ℓ_i`` exactly Σ(x); cost ``O(n N d)``, Σ is never formed
        (docs/theory.md §A.3).
        """
        B, N = self.check_batch_size(batch_size), self.n_examples
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
    docs/theory.md §0.1 (Σ with and without replacement), §A.3 (exact NGD by per-example weights).
    """


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
    LMA §5, eqs. (6)–(7), Lemma E.7; docs/theory.md §C.5, family 2.
    """

    _scale_invariant = True

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
        Additive state-independent noise; only without ``sample_grad`` (which has its own).
    noise_cov : callable ``noise_cov(x, batch_size) -> (n, d, d)``, optional
        Σ(x) of your ``sample_grad`` if you know it (needed by NGD, :func:`sgd_sde` and the exact
        N of the diagnostics).
    hessian_vector : callable ``hessian_vector(x, v) -> (n, d)``, optional
        Default: central differences of ``grad``.
    n_examples : int, optional
        Size of your data set (for the batch-size check without replacement).
    replacement : bool, default True
        ``False`` (minibatches without replacement) needs ``n_examples``.

    Notes
    -----
    :func:`sgd_sde` compiles ``grad``, ``hessian_vector`` and ``noise_cov`` with ``numba.njit``
    when they are plain functions numba compiles (numpy operations on 2-d float arrays, see
    :class:`sdesim.SDE`), so the SDE runs on the numba backend at full speed; otherwise it warns
    and calls them from Python at every step.

    Raises
    ------
    TypeError
        A non-callable argument (named). Wrong shapes are reported, naming the method, when a
        run starts (:meth:`Oracle.check`).
    ValueError
        An argument that would be ignored: ``noise`` with ``sample_grad``, or
        ``replacement=False`` without ``n_examples``.

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
        if noise is not None and sample_grad is not None:
            raise ValueError("noise is only used without sample_grad (sample_grad draws the "
                             "gradient noise itself); pass one of them, got both")
        if not replacement and n_examples is None:
            raise ValueError("replacement=False needs n_examples (the data set size bounds "
                             "batch_size without replacement); got n_examples=None")
        self._loss, self._grad, self._sample, self._cov, self._hvp = (
            loss, grad, sample_grad, noise_cov, hessian_vector)
        self.noise = noise
        self.constant_noise = sample_grad is None
        self.n_examples = None if n_examples is None else positive_int(n_examples, "n_examples")
        self.replacement = bool(replacement)
        self._jitted: dict = {}

    def loss(self, x):
        return np.asarray(self._loss(x), dtype=float)

    def grad(self, x):
        return np.asarray(self._grad(x), dtype=float)

    def sample_grad(self, x, rng, batch_size=1):
        batch_size = self.check_batch_size(batch_size)
        if self._sample is not None:
            return np.asarray(self._sample(x, rng, batch_size), dtype=float)
        g = self.grad(x)
        return g if self.noise is None else g + self.noise.sample(rng, x.shape[0], batch_size)

    def noise_cov(self, x, batch_size=1):
        batch_size = self.check_batch_size(batch_size)
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
        batch_size = self.check_batch_size(batch_size)
        if self._sample is None and self.noise is not None:
            return np.broadcast_to(self.noise.third_moment(batch_size), (x.shape[0],) + (self.d,) * 3)
        return super().noise_third_moment(x, batch_size)

    def hessian_vector(self, x, v):
        if self._hvp is None:
            return super().hessian_vector(x, v)
        return np.asarray(self._hvp(x, v), dtype=float)

    def numba_kernel(self, method, batch_size=1):
        """Your ``grad`` / ``hessian_vector`` / ``noise_cov`` compiled with ``numba.njit``
        (central differences of the compiled ``grad`` when no ``hessian_vector`` was given).

        Raises
        ------
        NotImplementedError
            When numba cannot compile the function (numba's reason in the message), or for
            ``"noise_cov"`` when none was given.
        """
        ones = np.ones((2, self.d))
        if method == "grad":
            return _call, self._compiled("grad", self._grad, (ones,))
        if method == "hessian_vector" and self._hvp is None:
            return _central_hvp, self._compiled("grad", self._grad, (ones,))
        if method == "hessian_vector":
            return _call2, self._compiled("hessian_vector", self._hvp, (ones, ones))
        if method == "noise_cov" and self._cov is not None:
            B = self.check_batch_size(batch_size)
            return self._compiled("noise_cov", self._cov, (ones, B)), B
        return super().numba_kernel(method, batch_size)

    def _compiled(self, name: str, fun: Callable, probe: tuple):
        """``fun`` through ``numba.njit``, compiled once on ``probe``; memoised per oracle."""
        if name not in self._jitted:
            try:
                jf = numba.njit(fun)
                jf(*probe)
                self._jitted[name] = jf
            except (numba.core.errors.NumbaError, NotImplementedError, TypeError) as exc:
                why = numba_reason(exc)
                self._jitted[name] = (f"numba could not compile the {name} given to "
                                      f"FunctionOracle ({why})")
        res = self._jitted[name]
        if isinstance(res, str):
            raise NotImplementedError(res)
        return res

