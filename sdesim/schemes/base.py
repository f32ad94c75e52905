"""What a scheme supplies: its orders, the numpy step, and the update the compiled kernels inline.

A scheme is one class in one file of this package. The numpy backend calls :meth:`Scheme.step`;
the numba backend and the exit-time kernel compile the scheme's ``kernel_*`` functions, which
are plain Python over float64 arrays and floats (loops, arithmetic: what ``numba.njit``
compiles), so that importing a scheme never imports numba and every backend runs one update.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import numpy as np

__all__ = ["Scheme", "UPDATE_LAYOUTS"]

#: How ``g`` reaches a compiled update (shapes for ``n`` paths, state ``d``, noise ``m``):
#: ``"rows"``: ``(n, d)``, increments ``(n, d)`` (diagonal) or ``(n, 1)`` (scalar);
#: ``"general"``: ``(n, d, m)``; ``"vector"``: additive ``(d,)``; ``"matrix"``: additive
#: ``(d, m)``.
UPDATE_LAYOUTS = ("rows", "general", "vector", "matrix")


class Scheme(ABC):
    """A one-step map ``X_{k+1} = Φ(t_k, X_k, h, ΔL_k)`` for the SDEs of :class:`sdesim.SDE`.

    Attributes
    ----------
    name : str
    weak_order : float
        For smooth coefficients and test functions, Brownian driver.
    """

    name: str
    weak_order: float

    @staticmethod
    @abstractmethod
    def strong_order(noise: str) -> float:
        """Strong order for the noise kind ``noise`` (Brownian driver)."""

    @staticmethod
    @abstractmethod
    def step(sde, t: float, x: np.ndarray, h: float, dL: np.ndarray) -> np.ndarray:
        """One step from ``x`` ``(n, d)`` with increments ``dL`` ``(n, m)``; returns ``(n, d)``."""

    @staticmethod
    @abstractmethod
    def kernel_step(drift: Callable, diffusion: Callable, update: Callable) -> Callable:
        """The compiled kernels' step ``step(t, x, inc, hl, gc, st) -> bool`` (in place on
        ``x`` ``(n, d)``), from the backend's compiled, shape-checked evaluators
        ``drift(t, x, st) -> (fx, ok)`` and ``diffusion(t, x, inc, gc, st) -> (gx, ok)`` and
        the compiled :meth:`kernel_update`. Returns False, ``x`` untouched, when an evaluator
        says not ok (``gc`` and ``st`` are the backend's: passed through)."""

    @staticmethod
    @abstractmethod
    def kernel_update(layout: str) -> Callable:
        """The in-place update of ``x`` ``(n, d)`` for the layout of ``g`` (one of
        :data:`UPDATE_LAYOUTS`)."""
