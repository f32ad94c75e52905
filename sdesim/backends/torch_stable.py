"""Symmetric α-stable increments for the torch backend: Chambers–Mallows–Stuck on counter-based
uniforms, one α per noise coordinate.

The law is :class:`sdesim.Stable`'s (docs/theory.md §0.5, §C.6): a standard draw ``Z`` has
characteristic function ``exp(-|u|^α)`` (scipy's ``levy_stable(alpha, 0)``), and the increment of
noise coordinate ``j`` over a step ``h`` is ``σ_j h^{1/α_j} Z``. The transform is the one of
:func:`sdesim.drivers.standard_stable`: with ``V = π (U - 1/2)`` uniform on ``(-π/2, π/2)`` and
``W = -log U'`` standard exponential,

    ``Z = sin(αV) / cos(V)^{1/α} · (cos((1-α)V) / W)^{(1-α)/α}``   (``tan V`` at α = 1),

computed in float64 from the uniform pair of draw ``q = k m + j`` of the path
(:func:`~.torch_philox.uniform_pairs`), so a draw is a function of ``(key, path, q)`` only.

References
----------
Chambers, Mallows & Stuck (1976), JASA 71:340; docs/theory.md §0.5 and §C.6.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .torch_philox import uniform_pairs

__all__ = ["StableIncrements"]


class StableIncrements:
    """α-stable increments of :class:`sdesim.Stable` ``driver`` on ``m`` noise coordinates.

    Parameters
    ----------
    driver : sdesim.Stable
    m : int
    device : torch.device

    Examples
    --------
    >>> import sdesim
    >>> inc = StableIncrements(sdesim.Stable([1.5, 1.9]), 2, torch.device("cpu"))
    >>> tuple(inc.block((1, 2), torch.arange(4), 0, 3, 0.01, torch.float64).shape)
    (4, 3, 2)
    """

    def __init__(self, driver, m: int, device):
        alpha, scale = driver.per_coordinate(m)
        self.m = m
        self.alpha = torch.as_tensor(alpha, dtype=torch.float64, device=device)
        self.scale = torch.as_tensor(scale, dtype=torch.float64, device=device)
        self.is_one = torch.as_tensor(alpha == 1.0, device=device)
        self.any_one = bool(np.any(alpha == 1.0))

    def standard(self, key, paths: "torch.Tensor", k0: int, k1: int) -> "torch.Tensor":
        """Standard SαS draws ``(n, k1 - k0, m)`` in float64: step ``k``, coordinate ``j`` is
        draw ``q = k m + j`` of each path."""
        m = self.m
        u, w = uniform_pairs(key, paths, k0 * m, k1 * m)
        V = ((u - 0.5) * math.pi).reshape(len(paths), k1 - k0, m)
        W = -torch.log(w).reshape(len(paths), k1 - k0, m)
        a = self.alpha
        z = (torch.sin(a * V) / torch.cos(V) ** (1.0 / a)
             * (torch.cos((1.0 - a) * V) / W) ** ((1.0 - a) / a))
        if self.any_one:
            z = torch.where(self.is_one, torch.tan(V), z)
        return z

    def block(self, key, paths: "torch.Tensor", k0: int, k1: int, h: float,
              dtype) -> "torch.Tensor":
        """Increments over steps ``h`` for fine steps ``k0 .. k1-1``: ``(n, k1 - k0, m)`` in
        ``dtype``."""
        factor = self.scale * float(h) ** (1.0 / self.alpha)
        return (self.standard(key, paths, k0, k1) * factor).to(dtype)
