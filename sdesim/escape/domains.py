"""Domains for first exit times: :class:`Interval`, :class:`Box`, :class:`Ball` and a user
:class:`Predicate`.

A domain is open; a path exits at its first check outside. Each domain says how it classifies
a state (``classify``: the exit axis and side, axis -1 inside) and, except :class:`Predicate`,
how it is encoded for compiled kernels (``arrays``:
:class:`sdesim.backends.contract.DomainArrays`, the same rule).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable

import numpy as np

from .._validate import as_finite_array, positive_float
from ..backends.contract import BALL, BOX, DomainArrays

__all__ = ["Domain", "Interval", "Box", "Ball", "Predicate"]


class Domain(ABC):
    """An open domain: paths exit when they leave it. Subclasses give ``classify``."""

    def arrays(self, d: int) -> DomainArrays | None:
        """The domain in ``d`` dimensions encoded for compiled kernels, or ``None`` (a domain
        only the numpy backend runs)."""
        return None

    @abstractmethod
    def classify(self, x: np.ndarray, x_start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(axis, side)`` of shape ``(n,)`` for states ``x`` ``(n, d)``; axis -1 = inside."""


class Box(Domain):
    """The open box ``{x : lo < x < hi}`` (bounds may be ±inf).

    The exit axis is the coordinate that is furthest outside its bounds, the side ``-1`` (below
    ``lo``) or ``+1`` (above ``hi``).

    Parameters
    ----------
    lo, hi : array_like (d,) or float

    Examples
    --------
    >>> import numpy as np
    >>> Box([-1, -2], [1, 2]).classify(np.array([[0.0, 3.0]]), np.zeros((1, 2)))
    (array([1]), array([1]))
    """

    def __init__(self, lo, hi):
        lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
        if lo.ndim > 1 or hi.ndim > 1:
            raise ValueError(f"lo and hi must be floats or 1-d arrays, got shapes {lo.shape} and "
                             f"{hi.shape}")
        if lo.ndim == hi.ndim == 1 and lo.shape != hi.shape:
            raise ValueError(f"hi must have the shape of lo, {lo.shape}, got {hi.shape}")
        self.lo, self.hi = np.atleast_1d(lo), np.atleast_1d(hi)
        if np.any(np.isnan(self.lo)) or np.any(np.isnan(self.hi)):
            raise ValueError("lo and hi must not be NaN")
        if np.any(self.lo >= self.hi):
            raise ValueError(f"lo must be < hi elementwise, got lo={self.lo.tolist()}, "
                             f"hi={self.hi.tolist()}")

    def _bounds(self, d: int):
        try:
            return np.broadcast_to(self.lo, (d,)).copy(), np.broadcast_to(self.hi, (d,)).copy()
        except ValueError:
            raise ValueError(f"domain: the Box bounds must have shape ({d},) to match the SDE "
                             f"(d = {d}), got {self.lo.shape} and {self.hi.shape}") from None

    def arrays(self, d):
        lo, hi = self._bounds(d)
        return DomainArrays(BOX, lo, hi, np.zeros(d), 0.0)

    def classify(self, x, x_start):
        lo, hi = self._bounds(x.shape[1])
        viol = np.maximum(lo - x, x - hi)
        viol = np.where(np.isnan(x), np.inf, viol)
        axis = np.argmax(viol, axis=1)
        rows = np.arange(x.shape[0])
        out = viol[rows, axis] >= 0
        side = np.where(x[rows, axis] >= hi[axis], 1, -1)
        return np.where(out, axis, -1), np.where(out, side, 0)

    def __repr__(self):
        return f"Box(lo={self.lo.tolist()}, hi={self.hi.tolist()})"


class Interval(Box):
    """The open interval ``lo < x[coord] < hi`` (other coordinates unbounded).

    Examples
    --------
    >>> Interval(-1.0, 1.0)
    Interval(-1.0, 1.0, coord=0)
    """

    def __init__(self, lo: float, hi: float, coord: int = 0):
        self.a, self.b, self.coord = float(lo), float(hi), int(coord)
        super().__init__(self.a, self.b)

    def _bounds(self, d):
        if not 0 <= self.coord < d:
            raise ValueError(f"domain: the Interval's coord must lie in [0, {d}) for the SDE "
                             f"(d = {d}), got {self.coord}")
        lo, hi = np.full(d, -np.inf), np.full(d, np.inf)
        lo[self.coord], hi[self.coord] = self.a, self.b
        return lo, hi

    def __repr__(self):
        return f"Interval({self.a}, {self.b}, coord={self.coord})"


class Ball(Domain):
    """The open ball ``{x : |x - center| < radius}``.

    The exit axis is the coordinate of largest ``|x_i - center_i|`` (TMLR's escape-axis
    experiment: "which axis is larger"), the side its sign.

    Examples
    --------
    >>> import numpy as np
    >>> Ball(0.0, 1.0).classify(np.array([[0.2, -1.5], [0.1, 0.1]]), np.zeros((2, 2)))
    (array([ 1, -1]), array([-1,  0]))
    """

    def __init__(self, center, radius: float):
        self.center = as_finite_array(center, "center", ndim=(0, 1))
        self.radius = positive_float(radius, "radius")

    def _center(self, d):
        if self.center.ndim == 1 and self.center.shape[0] != d:
            raise ValueError(f"domain: the Ball's center must have shape ({d},) to match the SDE "
                             f"(d = {d}), got {self.center.shape}")
        return np.broadcast_to(self.center, (d,)).astype(float)

    def arrays(self, d):
        c = self._center(d)
        return DomainArrays(BALL, np.zeros(d), np.zeros(d), c, self.radius**2)

    def classify(self, x, x_start):
        dx = x - self._center(x.shape[1])
        r2 = np.einsum("ij,ij->i", dx, dx)
        out = ~(r2 < self.radius**2)
        axis = np.argmax(np.where(np.isnan(dx), np.inf, np.abs(dx)), axis=1)
        side = np.sign(dx[np.arange(x.shape[0]), axis]).astype(int)
        return np.where(out, axis, -1), np.where(out, side, 0)

    def __repr__(self):
        return f"Ball(center={self.center.tolist()}, radius={self.radius})"


class Predicate(Domain):
    """A user domain ``{x : inside(x)}``; ``inside`` maps states ``(n, d)`` to bools ``(n,)``.

    The exit axis is the coordinate of largest displacement from the path's start. Runs on the
    numpy backend.

    Examples
    --------
    >>> import numpy as np
    >>> dom = Predicate(lambda x: x[:, 0] ** 2 + 4 * x[:, 1] ** 2 < 1)
    >>> dom.classify(np.array([[0.0, 0.6]]), np.zeros((1, 2)))
    (array([1]), array([1]))
    """

    def __init__(self, inside: Callable[[np.ndarray], np.ndarray]):
        if not callable(inside):
            raise TypeError(f"inside must be callable inside(x) -> (n,) bool, got "
                            f"{type(inside).__name__}")
        self.inside = inside

    def classify(self, x, x_start):
        ins = np.asarray(self.inside(x))
        if ins.shape != (x.shape[0],):
            raise ValueError(f"inside(x) must return shape ({x.shape[0]},) for x of shape "
                             f"{x.shape}, got {ins.shape}")
        out = ~ins.astype(bool) | ~np.all(np.isfinite(x), axis=1)
        dx = x - x_start
        axis = np.argmax(np.where(np.isnan(dx), np.inf, np.abs(dx)), axis=1)
        side = np.sign(dx[np.arange(x.shape[0]), axis]).astype(int)
        return np.where(out, axis, -1), np.where(out, side, 0)

    def __repr__(self):
        return f"Predicate({getattr(self.inside, '__name__', 'inside')})"
