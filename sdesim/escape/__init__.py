"""First exit times of SDEs from domains (:mod:`.domains`, :mod:`.exit_times`).

:func:`exit_times` runs Euler–Maruyama paths, Brownian or α-stable driven, until they leave an
:class:`Interval`, :class:`Box`, :class:`Ball` or a user :class:`Predicate`, censored at
``t_max``; :class:`ExitTimes` gives the mean exit time, the survival curve and exit-axis
probabilities. The exit-time formulas to compare with (Getoor, Kramers, the big-jump rate,
scheduler survival, the Gobet shift) are in :mod:`sdesim.exact`; reaching them here still works
but warns (``DeprecationWarning``) and names the new path.

Example
-------
>>> import numpy as np, sdesim
>>> from sdesim.escape import Interval, exit_times
>>> sde = sdesim.ou(1.0, 0.5)
>>> r = exit_times(sde, 0.0, Interval(-1, 1), dt=1e-2, t_max=5.0, n_paths=100, rng=0, quiet=True)
>>> r.n
100
"""
import warnings

from .domains import Ball, Box, Domain, Interval, Predicate
from .exit_times import ExitTimes, exit_times

__all__ = ["Domain", "Interval", "Box", "Ball", "Predicate", "ExitTimes", "exit_times"]

#: The exact references that moved to sdesim.exact.
_MOVED = ("getoor_mean_exit_time", "diffusion_mean_exit_time", "kramers_time",
          "stable_tail_constant", "big_jump_rate", "scheduler_survival", "GOBET_SHIFT")


def __getattr__(name: str):
    if name in _MOVED:
        warnings.warn(f"sdesim.escape.{name} has moved: use sdesim.exact.{name}",
                      DeprecationWarning, stacklevel=2)
        from .. import exact
        return getattr(exact, name)
    raise AttributeError(f"module 'sdesim.escape' has no attribute {name!r}")
