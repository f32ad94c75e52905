"""The SGD view: loss oracles, SGD / NGD / SVAG, the SDE approximation, NSR diagnostics.

>>> import numpy as np
>>> from sdesim import sgd
>>> orc = sgd.NoisyQuadratic(np.eye(2), noise="skewed")
>>> est = sgd.expectation(orc, np.ones(2), lambda x: x[:, 0], T=1.0, lr=0.1, n_paths=2000,
...                       method="svag", l=4, rng=0, quiet=True)
>>> est.n
2000

Modules: :mod:`.oracles` (and :mod:`.noise`), :mod:`.algorithms`, :mod:`.sde_approx`,
:mod:`.lsr`, and for SαS gradient noise :mod:`.levy_sde` (the Lévy SDE of SGD) with
:mod:`.schedulers`. References: Li, Malladi & Arora (2021), NeurIPS; "Revisiting the noise model
of SGD" (TMLR submission), eq. (3); docs/theory.md §0, §A, §C.1–C.6.
"""
import warnings

from .algorithms import (SGD_METHODS, expectation, gd, gradient_estimate, ngd, run, sgd, svag,
                         svag_coefficients)
from .lsr import (Equilibrium, closeness, critical_kappa, gn_estimates, lsi_bounds, lsi_constant,
                  lsi_fails, lsi_ratio, measure_equilibrium, sde_failure)
from .levy_sde import levy_sgd_sde
from .noise import GRADIENT_NOISE_KINDS, GradientNoise, moment_tensors, psd_sqrt
from .oracles import (Ackley, DoubleWell, FunctionOracle, LinearRegression, NoisyQuadratic,
                      Oracle, ScaleInvariantRegression)
from .schedulers import multistep_scheduler, power_law_scheduler
from .sde_approx import flow, modified_drift, modified_equation, sgd_sde

__all__ = [
    "Oracle", "NoisyQuadratic", "LinearRegression", "ScaleInvariantRegression", "DoubleWell",
    "Ackley", "FunctionOracle", "GradientNoise", "GRADIENT_NOISE_KINDS", "psd_sqrt",
    "moment_tensors", "SGD_METHODS", "run", "expectation", "gd", "sgd", "ngd", "svag", "svag_coefficients",
    "gradient_estimate",
    "sgd_sde", "modified_equation", "modified_drift", "flow",
    "levy_sgd_sde", "power_law_scheduler", "multistep_scheduler",
    "Equilibrium", "measure_equilibrium", "gn_estimates", "closeness", "sde_failure",
    "lsi_ratio", "lsi_constant", "lsi_fails", "lsi_bounds", "critical_kappa",
]

# Old names that named two different sets across the package.
_RENAMED = {"METHODS": "SGD_METHODS"}


def __getattr__(name: str):
    """Old names, with a ``DeprecationWarning`` naming the new one."""
    if name not in _RENAMED:
        raise AttributeError(f"module 'sdesim.sgd' has no attribute {name!r}")
    warnings.warn(f"sdesim.sgd.{name} is deprecated: use sdesim.sgd.{_RENAMED[name]}",
                  DeprecationWarning, stacklevel=2)
    return globals()[_RENAMED[name]]
