"""The SGD view: loss oracles, SGD / NGD / SVAG, the SDE approximation, NSR diagnostics.

>>> import numpy as np
>>> from sdesim import sgd
>>> orc = sgd.NoisyQuadratic(np.eye(2), noise="skewed")
>>> est = sgd.expectation(orc, np.ones(2), lr=0.1, T=1.0, g=lambda x: x[:, 0], n_paths=2000,
...                       method="svag", l=4, rng=0, quiet=True)
>>> est.n
2000

Modules: :mod:`.oracles` (and :mod:`.noise`), :mod:`.algorithms`, :mod:`.sde_approx`,
:mod:`.lsr`. Reference: Li, Malladi & Arora (2021), NeurIPS; docs/theory.md §0, §A, §C.1–C.5.
"""
from .algorithms import METHODS, expectation, gd, gradient_estimate, ngd, run, sgd, svag, svag_coefficients
from .lsr import (Equilibrium, closeness, critical_kappa, gn_estimates, lsi_bounds, lsi_constant,
                  lsi_fails, lsi_ratio, measure_equilibrium, sde_failure)
from .noise import GradientNoise, moment_tensors, psd_sqrt
from .oracles import (Ackley, DoubleWell, FunctionOracle, LinearRegression, NoisyQuadratic,
                      Oracle, ScaleInvariantRegression)
from .sde_approx import flow, modified_drift, modified_equation, sgd_sde

__all__ = [
    "Oracle", "NoisyQuadratic", "LinearRegression", "ScaleInvariantRegression", "DoubleWell",
    "Ackley", "FunctionOracle", "GradientNoise", "psd_sqrt", "moment_tensors",
    "METHODS", "run", "expectation", "gd", "sgd", "ngd", "svag", "svag_coefficients",
    "gradient_estimate",
    "sgd_sde", "modified_equation", "modified_drift", "flow",
    "Equilibrium", "measure_equilibrium", "gn_estimates", "closeness", "sde_failure",
    "lsi_ratio", "lsi_constant", "lsi_fails", "lsi_bounds", "critical_kappa",
]
