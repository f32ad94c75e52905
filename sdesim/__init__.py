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

__all__ = [
    "SDE", "LinearSDE", "ou", "gbm", "linear",
    "Driver", "Brownian", "Stable",
    "EulerMaruyama",
    "simulate", "expectation", "expectation_levels", "Paths", "LevelEstimate",
    "Estimate", "MomentAccumulator", "SimulationDiverged",
]
