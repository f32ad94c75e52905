"""One-step maps. Each scheme supplies the update every backend runs (:mod:`.base`).

- :class:`EulerMaruyama` (:mod:`.euler_maruyama`): Itô, Brownian or α-stable driven.
"""
from .base import UPDATE_LAYOUTS, Scheme
from .euler_maruyama import EulerMaruyama

__all__ = ["Scheme", "EulerMaruyama", "UPDATE_LAYOUTS"]
