"""sdesim: simulate Itô and α-stable Lévy-driven SDEs over many paths, built for the SDE view of SGD.

Quick tour
----------
>>> import sdesim
>>> sde = sdesim.gbm(mu=0.5, sigma=0.4)
>>> est = sdesim.expectation(sde, 1.0, lambda x: x[:, 0] ** 2, T=1.0, dt=0.01,
...                          n_paths=10_000, rng=0, quiet=True)
>>> est.n
10000
"""
import functools

from .backends import SimulationDiverged
from .drivers import Brownian, Driver, Stable
from .schemes import EulerMaruyama
from . import exact
from .sde import SDE, LinearSDE, gbm, ou
from .sde import linear as _linear_sde
from .simulate import LevelEstimate, Paths, expectation, expectation_levels, simulate
from .stats import Estimate, MomentAccumulator

__version__ = "0.1.0"


class _LinearConstructor:
    """``sdesim.linear``: the linear-SDE constructor :func:`sdesim.sde.linear`.

    The exact references once reached as ``sdesim.linear.<name>`` live in :mod:`sdesim.exact`;
    asking this constructor for one raises an ``AttributeError`` that names the new path.
    """

    def __init__(self, constructor):
        functools.update_wrapper(self, constructor)

    def __call__(self, *args, **kwargs):
        return self.__wrapped__(*args, **kwargs)

    def __getattr__(self, name: str):
        if name in exact.__all__:
            raise AttributeError(f"sdesim.linear.{name} has moved to sdesim.exact.{name} "
                                 f"(sdesim.linear is now only the linear-SDE constructor)")
        raise AttributeError(f"sdesim.linear has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"<sdesim.linear: the linear-SDE constructor {self.__module__}.{self.__name__}>"


linear = _LinearConstructor(_linear_sde)

# Loaded on first use: the order fit needs scipy.stats (about half a second to import).
_LAZY = {"weak_order": "weak.study", "WeakOrderResult": "weak.study", "fit_order": "weak.fit",
         "OrderFit": "weak.fit"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'sdesim' has no attribute {name!r}")


__all__ = [
    "SDE", "LinearSDE", "ou", "gbm", "linear", "exact",
    "Driver", "Brownian", "Stable",
    "EulerMaruyama",
    "simulate", "expectation", "expectation_levels", "Paths", "LevelEstimate",
    "Estimate", "MomentAccumulator", "SimulationDiverged",
    "weak_order", "WeakOrderResult", "fit_order", "OrderFit",
]
