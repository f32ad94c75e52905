"""sdesim: simulate Itô and α-stable Lévy-driven SDEs over many paths, built for the SDE view of SGD.

Quick tour
----------
>>> import sdesim
>>> sde = sdesim.gbm(mu=0.5, sigma=0.4)
>>> est = sdesim.expectation(sde, x0=1.0, T=1.0, dt=0.01, g=lambda x: x[:, 0] ** 2,
...                          n_paths=10_000, rng=0, quiet=True)
>>> est.n
10000
"""
from .backends.common import SimulationDiverged
from .drivers import Brownian, Driver, Stable
from .schemes import EulerMaruyama
from . import linear  # callable: sdesim.linear(A, B_list) builds the SDE (see linear.py)
from .sde import SDE, LinearSDE, gbm, ou
from .simulate import LevelEstimate, Paths, expectation, expectation_levels, simulate
from .stats import Estimate, MomentAccumulator

__version__ = "0.1.0"

# Loaded on first use: the order fit needs scipy.stats (about half a second to import).
_LAZY = {"weak_order": "weak", "WeakOrderResult": "weak", "fit_order": "order_fit",
         "OrderFit": "order_fit"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'sdesim' has no attribute {name!r}")


__all__ = [
    "SDE", "LinearSDE", "ou", "gbm", "linear",
    "Driver", "Brownian", "Stable",
    "EulerMaruyama",
    "simulate", "expectation", "expectation_levels", "Paths", "LevelEstimate",
    "Estimate", "MomentAccumulator", "SimulationDiverged",
    "weak_order", "WeakOrderResult", "fit_order", "OrderFit",
]
