"""Additive gradient-noise laws with exact minibatch moments (Gaussian, skewed, Student-t, SαS).

A law is ``ξ = L ζ`` per example, ``L Lᵀ = Sigma`` and ``ζ`` has i.i.d. standardised coordinates;
a minibatch of ``B`` examples averages ``B`` independent copies. The minibatch covariance is then
``Sigma / B`` (LMA's Σ, docs/theory.md §0.1) and the minibatch third moment ``Λ / B²``.

References
----------
Li, Malladi & Arora (2021), eq. (1)–(3) and Lemma 4.7 (Λ); docs/theory.md §0.1, §0.5–0.6, §C.3.
"""
from __future__ import annotations

import math
import numbers

import numba
import numpy as np
from numba.extending import overload

from .._validate import alpha_array, positive_float, positive_int, psd_matrix
from ..drivers import standard_stable
from ..stats import Estimate, MomentAccumulator

__all__ = ["GradientNoise", "psd_sqrt", "moment_tensors", "check_batch_size",
           "GRADIENT_NOISE_KINDS"]

#: Laws of the gradient noise (not the SDE's noise kinds, :data:`sdesim.sde.NOISE_KINDS`).
GRADIENT_NOISE_KINDS = ("gaussian", "skewed", "student_t", "stable")


def psd_sqrt(S: np.ndarray) -> np.ndarray:
    """Symmetric square root of symmetric PSD matrices, batched over leading axes.

    Parameters
    ----------
    S : ndarray (..., d, d)

    Returns
    -------
    ndarray (..., d, d) with ``R @ R = S`` (negative rounding eigenvalues clipped to 0).

    Examples
    --------
    >>> import numpy as np
    >>> R = psd_sqrt(np.array([[4.0, 0.0], [0.0, 9.0]]))
    >>> np.diag(R).tolist()
    [2.0, 3.0]
    """
    w, Q = np.linalg.eigh(S)
    return (Q * np.sqrt(np.clip(w, 0.0, None))[..., None, :]) @ np.swapaxes(Q, -1, -2)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _psd_sqrt_each(S):
    """:func:`psd_sqrt` of each matrix of ``S`` ``(n, d, d)``, by cyclic Jacobi rotations.

    The eigen-decomposition ``S_i = Q diag(λ) Qᵀ`` comes from cyclic Jacobi sweeps (Golub & Van
    Loan, *Matrix Computations*, "the cyclic Jacobi method") until the off-diagonal part is below
    ``1e-15`` of the Frobenius norm; the
    result is ``Q diag(√max(λ, 0)) Qᵀ``, the same matrix as numpy's ``eigh`` gives up to rounding.
    Loops rather than LAPACK: this is what :func:`sdesim.sgd.sgd_sde`'s diffusion calls in
    compiled code, and LAPACK calls would add seconds to every SDE's compilation.
    """
    n, d = S.shape[0], S.shape[1]
    out = np.empty((n, d, d))
    a = np.empty((d, d))
    q = np.empty((d, d))
    for i in range(n):
        a[:] = S[i]
        q[:] = 0.0
        total = 0.0
        for j in range(d):
            q[j, j] = 1.0
            for k in range(d):
                total += a[j, k] * a[j, k]
        for _ in range(60):  # sweeps (quadratic convergence: a handful suffice)
            off = 0.0
            for j in range(d):
                for k in range(j + 1, d):
                    off += 2.0 * a[j, k] * a[j, k]
            if off <= 1e-30 * total:
                break
            for j in range(d - 1):
                for k in range(j + 1, d):
                    if a[j, k] == 0.0:
                        continue
                    tau = (a[k, k] - a[j, j]) / (2.0 * a[j, k])
                    t = (1.0 if tau >= 0 else -1.0) / (abs(tau) + math.sqrt(1.0 + tau * tau))
                    c = 1.0 / math.sqrt(1.0 + t * t)
                    s = t * c
                    for r in range(d):  # a <- a J, q <- q J
                        arj, ark = a[r, j], a[r, k]
                        a[r, j], a[r, k] = c * arj - s * ark, s * arj + c * ark
                        qrj, qrk = q[r, j], q[r, k]
                        q[r, j], q[r, k] = c * qrj - s * qrk, s * qrj + c * qrk
                    for r in range(d):  # a <- Jᵀ a
                        ajr, akr = a[j, r], a[k, r]
                        a[j, r], a[k, r] = c * ajr - s * akr, s * ajr + c * akr
        for j in range(d):
            for k in range(d):
                acc = 0.0
                for r in range(d):
                    acc += q[j, r] * math.sqrt(max(a[r, r], 0.0)) * q[k, r]
                out[i, j, k] = acc
    return out


@overload(psd_sqrt)
def _psd_sqrt_numba(S):
    """:func:`psd_sqrt` inside numba-compiled code (batched ``(n, d, d)``), as
    :func:`_psd_sqrt_each` (:func:`sdesim.sgd.sgd_sde` builds its diffusion with it)."""
    if getattr(S, "ndim", 0) == 3:
        return lambda S: _psd_sqrt_each(S)
    return None


def check_batch_size(batch_size, n_examples: int | None = None, replacement: bool = True) -> int:
    """The minibatch size as an int: an integer >= 1, and <= ``n_examples`` without replacement.

    The one check behind every ``batch_size`` of :mod:`sdesim.sgd` (oracles and noise laws).

    Raises
    ------
    ValueError
        ``batch_size`` below 1, not an integer (``2.5``), or larger than the data set when
        minibatches are drawn without replacement.
    TypeError
        ``batch_size`` is not a number.

    Examples
    --------
    >>> check_batch_size(4.0), check_batch_size(8, n_examples=8, replacement=False)
    (4, 8)
    """
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, numbers.Real):
        raise TypeError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if not float(batch_size).is_integer() or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    B = int(batch_size)
    if n_examples is not None and not replacement and B > n_examples:
        raise ValueError(f"batch_size must be <= the data set size {n_examples} when sampling "
                         f"without replacement, got {B}")
    return B


def moment_tensors(samples: np.ndarray, center=None, order: int = 2,
                   chunk: int = 65536) -> Estimate:
    """Streamed estimate of ``E (X - c)^{⊗order}`` from samples, with element-wise stderrs.

    Parameters
    ----------
    samples : ndarray (n, d)
        Independent samples of a d-vector (e.g. minibatch gradients at one state).
    center : array_like (d,), optional
        The centre ``c``: pass the exact mean (e.g. ``oracle.grad``) for an unbiased estimate of
        the central moment; default the sample mean (then the estimate has an ``O(1/n)`` bias).
    order : int
        1, 2 (covariance) or 3 (third-moment tensor Λ).

    Returns
    -------
    Estimate
        ``mean`` and ``stderr`` of shape ``(d,) * order``.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.random.default_rng(0).standard_normal((10_000, 2))
    >>> est = moment_tensors(z, center=np.zeros(2), order=2)
    >>> bool(np.all(np.abs(est.zscore(np.eye(2))) < 5))
    True
    """
    x = np.asarray(samples, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"samples must have shape (n, d), got {x.shape}")
    n, d = x.shape
    c = x.mean(axis=0) if center is None else np.asarray(center, dtype=float).reshape(d)
    order = positive_int(order, "order")
    acc = MomentAccumulator(d**order)
    for lo in range(0, n, chunk):
        y = x[lo:lo + chunk] - c
        prod = y
        for _ in range(order - 1):
            prod = (prod[:, :, None] * y[:, None, :]).reshape(y.shape[0], -1)
        acc.update(prod)
    est = acc.estimate()
    shape = (d,) * order
    return Estimate(est.mean.reshape(shape), est.stderr.reshape(shape), est.n)


class GradientNoise:
    """Per-example gradient noise ``ξ = L ζ`` (``L Lᵀ = Sigma``), averaged over a minibatch.

    Parameters
    ----------
    Sigma : array_like (d, d)
        Per-example covariance (for ``"stable"``: the squared scale matrix ``L Lᵀ``; the law
        has no covariance for α < 2). With diagonal ``Sigma`` and SαS noise, coordinate l of
        ``ξ`` is SαS of index ``α_l`` and scale ``σ_l = √Sigma_ll`` (scipy's
        ``levy_stable(α_l, 0, scale=σ_l)``).
    kind : {"gaussian", "skewed", "student_t", "stable"}
        Law of the standardised coordinates ``ζ_j``:

        - ``"gaussian"``: ``N(0, 1)``;
        - ``"skewed"``: ``Exp(1) - 1`` (variance 1, third moment 2); the mean of ``B`` copies is
          sampled exactly as ``Gamma(B, 1)/B - 1``;
        - ``"student_t"``: Student-t with ``df > 2`` degrees of freedom scaled to variance 1
          (heavy-tailed, symmetric);
        - ``"stable"``: standard SαS (``E e^{iuζ_j} = e^{-|u|^{α_j}}``, one index per
          coordinate of ``ζ`` when ``alpha`` is an array); the mean of ``B`` copies is
          ``B^{1/α_j - 1} ζ_j`` exactly.
    df : float, optional
        Degrees of freedom for ``"student_t"`` (``> 2``).
    alpha : float or array_like (d,), optional
        Stability index in (0, 2] for ``"stable"``; an array gives coordinate ``j`` of ``ζ``
        its own index ``α_j`` (per-coordinate tails, TMLR "Revisiting the noise model of SGD",
        eq. 3; docs/theory.md §0.6). Stored as a float for a scalar, a ``(d,)`` array else.

    Raises
    ------
    ValueError
        Unknown ``kind``, ``Sigma`` not symmetric PSD, ``df <= 2``, ``alpha`` outside (0, 2]
        or an array not of shape ``(d,)``; ``df`` or ``alpha`` given with a ``kind`` that would
        ignore it.

    Examples
    --------
    >>> import numpy as np
    >>> nz = GradientNoise(np.eye(2), "skewed")
    >>> nz.sample(np.random.default_rng(0), 5, batch_size=4).shape
    (5, 2)
    >>> float(nz.third_moment(batch_size=2)[0, 0, 0])   # 2 / B**2
    0.5
    >>> GradientNoise(np.diag([4.0, 1.0]), "stable", alpha=[1.5, 1.9])   # σ = (2, 1)
    GradientNoise(d=2, kind='stable', alpha=[1.5, 1.9])

    References
    ----------
    docs/theory.md §0.1 (minibatch Σ = Σ₁/B), §0.5 (SαS law), §C.3 (Λ).
    """

    def __init__(self, Sigma, kind: str = "gaussian", *, df: float | None = None,
                 alpha: float | None = None):
        if kind not in GRADIENT_NOISE_KINDS:
            raise ValueError(f"noise must be one of {GRADIENT_NOISE_KINDS}, got {kind!r}")
        self.Sigma = psd_matrix(np.atleast_2d(np.asarray(Sigma, dtype=float)), "Sigma")
        self.d = self.Sigma.shape[0]
        self.kind = kind
        self.L = psd_sqrt(self.Sigma)
        self.df = self.alpha = None
        for name, value, owner in (("df", df, "student_t"), ("alpha", alpha, "stable")):
            if value is not None and kind != owner:
                raise ValueError(f"{name} is only used with noise={owner!r}, got {name}={value!r} "
                                 f"with noise={kind!r}")
        if kind == "student_t":
            if df is None:
                raise ValueError("df is required for noise='student_t'")
            self.df = positive_float(df, "df")
            if self.df <= 2:
                raise ValueError(f"df must be > 2 (finite variance), got {self.df}")
        if kind == "stable":
            if alpha is None:
                raise ValueError("alpha is required for noise='stable'")
            a = alpha_array(alpha, name="alpha")
            self.alpha = float(a) if a.ndim == 0 else alpha_array(a, self.d, "alpha")

    # ----------------------------------------------------------------- sampling
    def standardised(self, rng: np.random.Generator, n: int, batch_size: int) -> np.ndarray:
        """Mean of ``batch_size`` i.i.d. standardised vectors ``ζ``, shape ``(n, d)``."""
        B, d = check_batch_size(batch_size), self.d
        if self.kind == "gaussian":
            return rng.standard_normal((n, d)) / math.sqrt(B)
        if self.kind == "skewed":
            return rng.standard_gamma(float(B), (n, d)) / B - 1.0
        if self.kind == "student_t":
            z = rng.standard_t(self.df, (n, B, d)).mean(axis=1)
            return z * math.sqrt((self.df - 2.0) / self.df)
        return standard_stable(rng, self.alpha, (n, d)) * B ** (1.0 / self.alpha - 1.0)

    def sample(self, rng: np.random.Generator, n: int, batch_size: int = 1) -> np.ndarray:
        """Minibatch noise ``L ζ̄_B``, shape ``(n, d)``."""
        return self.standardised(rng, n, batch_size) @ self.L.T

    # ----------------------------------------------------------------- exact moments
    def cov(self, batch_size: int = 1) -> np.ndarray:
        """Minibatch covariance ``Sigma / B``, shape ``(d, d)``.

        Raises
        ------
        ValueError
            For SαS noise with α < 2 (infinite variance); a bad ``batch_size``.
        """
        B = check_batch_size(batch_size)
        if self.kind == "stable":
            if np.any(self.alpha < 2):
                raise ValueError(f"SαS noise with alpha={self.alpha} < 2 has no covariance; "
                                 "use the Lévy SDE (sgd_sde builds it) instead of Σ")
            return 2.0 * self.Sigma / B  # standard SαS at α = 2 is N(0, 2)
        return self.Sigma / B

    def third_moment(self, batch_size: int = 1) -> np.ndarray:
        """Minibatch third-moment tensor ``Λ_B = E ξ_B^{⊗3}``, shape ``(d, d, d)``.

        ``Λ_B = (κ₃ / B²) Σ_a L_{ia} L_{ja} L_{ka}`` with ``κ₃ = 2`` for ``"skewed"`` and 0 for
        the symmetric laws.

        Raises
        ------
        ValueError
            When the third moment does not exist (Student-t with ``df <= 3``, SαS with α < 2);
            a bad ``batch_size``.
        """
        B = check_batch_size(batch_size)
        if (self.kind == "student_t" and self.df <= 3) or (self.kind == "stable" and np.any(self.alpha < 2)):
            raise ValueError(f"the third moment of {self.kind!r} noise does not exist here")
        k3 = 2.0 if self.kind == "skewed" else 0.0
        return k3 / B**2 * np.einsum("ia,ja,ka->ijk", self.L, self.L, self.L)

    def __repr__(self) -> str:
        alpha = self.alpha if np.ndim(self.alpha) == 0 else self.alpha.tolist()
        extra = f", df={self.df}" if self.df else (f", alpha={alpha}" if alpha is not None else "")
        return f"GradientNoise(d={self.d}, kind={self.kind!r}{extra})"
