"""Driving noise: increments of Brownian motion and of symmetric α-stable Lévy motion.

A driver is an *increment sampler*: given a step ``h`` it fills an ``(n_paths, m)`` array with
independent increments of an m-dimensional driving process over a step of length ``h``.

Guarantees (both drivers):

1. **Coupling across grids.** The increments over a coarse step are *defined* as the sums of
   the fine increments it contains. For Brownian motion and for α-stable Lévy motion the sum of
   ``r`` independent increments over steps ``h`` has exactly the law of one increment over
   ``r h``, so summing fine increments is an exact sample of the coarse grid driven by the same
   path. :func:`sdesim.simulate.expectation_levels` uses this for coupled weak-error estimates.
2. **Seeding.** Every draw comes from the ``numpy.random.Generator`` passed in, in row-major
   order of ``(path, coordinate)``. The backend ``"numba-numpy-rng"`` draws the same numbers in
   the same order (numba implements numpy's ziggurat and uniform/exponential samplers bit for
   bit); the default ``"numba"`` backend seeds its faster in-kernel xoshiro256++ stream from
   the chunk's generator instead (:mod:`sdesim.backends.xoshiro`): same law, other numbers.

References
----------
Chambers, Mallows & Stuck (1976), JASA 71:340, for the α-stable sampler; docs/theory.md §0.5 and
§C.6 for the parameterisation.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from ._validate import alpha_array, as_finite_array, positive_float

__all__ = ["Driver", "Brownian", "Stable", "standard_stable"]

class Driver(ABC):
    """Base class of increment samplers (see the module docstring for the guarantees).

    A driver is a law, nothing else: how a compiled backend samples it is the backend's
    business (:func:`sdesim.backends.encoding.driver_encoding`).
    """

    @property
    @abstractmethod
    def min_alpha(self) -> float:
        """Smallest stability index over the noise coordinates (2.0 for Brownian motion)."""

    @abstractmethod
    def increments(self, rng: np.random.Generator, h: float, shape: tuple[int, int],
                   out: np.ndarray | None = None) -> np.ndarray:
        """Draw increments over a step ``h``; returns an array of ``shape`` ``(n_paths, m)``.

        ``out`` (float64, C-contiguous, of ``shape``) is filled in place when given.
        """

    def check_dimension(self, m: int) -> None:
        """Check the driver's parameters against the noise dimension ``m`` (a ``ValueError``
        naming the parameter when they cannot drive ``m`` coordinates); nothing to check here."""


class Brownian(Driver):
    """Standard Brownian increments ``ΔW ~ N(0, h I_m)``.

    Examples
    --------
    >>> import numpy as np
    >>> dW = Brownian().increments(np.random.default_rng(0), 0.01, (1000, 2))
    >>> dW.shape
    (1000, 2)
    """

    @property
    def min_alpha(self) -> float:
        return 2.0

    def increments(self, rng, h, shape, out=None):
        out = rng.standard_normal(shape, out=out)
        out *= math.sqrt(h)
        return out

    def __repr__(self) -> str:
        return "Brownian()"


def standard_stable(rng: np.random.Generator, alpha, shape: tuple[int, ...]) -> np.ndarray:
    """Standard symmetric α-stable samples, characteristic function ``exp(-|u|^α)``.

    Chambers–Mallows–Stuck: with ``V ~ U(-π/2, π/2)`` and ``W ~ Exp(1)`` independent,
    ``Z = sin(αV) / cos(V)^{1/α} · (cos((1-α)V) / W)^{(1-α)/α}`` (``tan V`` at α = 1).
    All uniforms are drawn first, then all exponentials (row-major), which the backend
    ``"numba-numpy-rng"`` reproduces bit for bit.

    Parameters
    ----------
    rng : numpy.random.Generator
    alpha : float or array_like, broadcastable to ``shape``
        Stability index in (0, 2]; e.g. shape ``(m,)`` for one α per noise coordinate.
    shape : tuple of int

    Returns
    -------
    ndarray of ``shape``. At α = 2 the law is ``N(0, 2)``; the law is scipy's
    ``levy_stable(alpha, 0)`` (S0 and S1 coincide for β = 0).

    Examples
    --------
    >>> import numpy as np
    >>> z = standard_stable(np.random.default_rng(0), 2.0, (100_000,))
    >>> bool(abs(z.var() - 2.0) < 0.05)
    True

    References
    ----------
    Chambers, Mallows & Stuck (1976), JASA 71:340; docs/theory.md §C.6.
    """
    a = np.asarray(alpha, dtype=float)
    V = (rng.random(shape) - 0.5) * math.pi
    W = rng.standard_exponential(shape)
    return _cms(a, V, W)


def _cms(a: np.ndarray, V: np.ndarray, W: np.ndarray) -> np.ndarray:
    """CMS transform of uniform angles ``V`` and exponentials ``W`` (same formula as the kernels)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.sin(a * V) / np.cos(V) ** (1.0 / a)
             * (np.cos((1.0 - a) * V) / W) ** ((1.0 - a) / a))
    if np.any(a == 1.0):
        z = np.where(a == 1.0, np.tan(V), z)
    return z


class Stable(Driver):
    """Symmetric α-stable Lévy increments ``h^{1/α} σ Z`` with ``E e^{iuZ} = e^{-|u|^α}``.

    Parameterisation: one increment over a unit step is scipy's
    ``levy_stable(alpha, beta=0, loc=0, scale=σ)`` (S0 = S1 at β = 0). At α = 2 it is
    ``N(0, 2σ²)``; use ``scale=1/sqrt(2)`` to match a standard Brownian motion.

    Parameters
    ----------
    alpha : float or array_like of shape (m,)
        Stability index in (0, 2], one value for all noise coordinates or one per coordinate.
    scale : float or array_like of shape (m,), default 1.0
        Scale σ > 0 per noise coordinate.

    Raises
    ------
    ValueError
        If ``alpha`` is outside (0, 2] or ``scale`` is not positive and finite.

    Examples
    --------
    >>> import numpy as np
    >>> drv = Stable([1.5, 1.9])
    >>> drv.increments(np.random.default_rng(0), 0.01, (4, 2)).shape
    (4, 2)

    References
    ----------
    docs/theory.md §0.5 (standard SαS law), §C.6 (CMS sampler, Euler scheme).
    """

    def __init__(self, alpha, scale=1.0):
        self.alpha = alpha_array(alpha)
        self.scale = as_finite_array(scale, "scale", ndim=(0, 1))
        if np.any(self.scale <= 0):
            raise ValueError(f"scale must be > 0, got {self.scale.tolist()}")

    @property
    def min_alpha(self) -> float:
        return float(np.min(self.alpha))

    def per_coordinate(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """``(alpha, scale)``, each of shape ``(m,)``: the law of each of ``m`` noise coordinates.

        Raises
        ------
        ValueError
            ``alpha`` or ``scale`` given per coordinate with a length other than ``m``.
        """
        alpha = alpha_array(self.alpha, m)
        if self.scale.ndim == 1 and self.scale.shape[0] != m:
            raise ValueError(f"scale must be a scalar or have shape ({m},), got {self.scale.shape}")
        return alpha, np.broadcast_to(self.scale, (m,)).astype(float).copy()

    def check_dimension(self, m: int) -> None:
        self.per_coordinate(m)

    def increments(self, rng, h, shape, out=None):
        positive_float(h, "h")
        alpha, scale = self.per_coordinate(shape[1])
        z = standard_stable(rng, alpha, shape)
        z *= scale * h ** (1.0 / alpha)
        if out is None:
            return z
        out[...] = z
        return out

    def __repr__(self) -> str:
        a = self.alpha.tolist()
        s = self.scale.tolist()
        return f"Stable(alpha={a}, scale={s})"
