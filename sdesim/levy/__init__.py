"""Heavy-tailed gradient noise: α-stable sampling, tail-index estimators, Gaussian-vs-SαS fits.

Everything here uses the standard symmetric α-stable (SαS) law of :mod:`sdesim.drivers`:
characteristic function ``exp(-|σu|^α)``, i.e. scipy's ``levy_stable(alpha, 0, loc, scale=σ)``;
at α = 2 it is ``N(loc, 2σ²)``.

Modules, by concern:

- :mod:`.sampling`: :func:`stable_rvs`, a fast bulk sampler of the law (numba, vectorised CMS,
  seeded chunks on threads through the chunk engine);
- :mod:`.tail_index`: the estimators of α with confidence intervals (names in
  :data:`TAIL_INDEX_METHODS`), :func:`collect_gradient_noise` and :func:`tail_index` with its
  two measurement protocols;
- :mod:`.fits`: McCulloch's quantile fit and the Gaussian-vs-SαS histogram comparison.

The Lévy SDE of SGD and its learning-rate schedulers live in :mod:`sdesim.sgd`
(:func:`sdesim.sgd.levy_sgd_sde`, :func:`sdesim.sgd.power_law_scheduler`,
:func:`sdesim.sgd.multistep_scheduler`); their old names here still work, with a
``DeprecationWarning``.

>>> import numpy as np
>>> from sdesim import levy
>>> est = levy.estimate_alpha(levy.stable_rvs(1.5, 20_000, rng=0), "logmoment")
>>> bool(est.lo < 1.5 < est.hi)
True

References
----------
Mohammadi, Mohammadpour & Ogata (2015), Metrika 78:549, Cor. 2.4; Simsekli, Sagun &
Gürbüzbalaban (2019), ICML, Thm. 2; McCulloch (1986), Commun. Stat. Simul. 15:1109;
"Revisiting the noise model of SGD" (TMLR submission), Tables 1-2; Chambers, Mallows & Stuck
(1976), JASA 71:340 (the sampler); docs/theory.md §0.5, §B.1-B.4.
"""
import warnings

from .fits import FitComparison, compare_fits, fit_stable_quantiles
from .sampling import STABLE_CHUNK, stable_rvs
from .tail_index import (MIN_DISTINCT, MIN_SAMPLES, TAIL_INDEX_METHODS, TailIndexEstimate,
                         alpha_logmoment, alpha_mcculloch, alpha_mle, alpha_mohammadi,
                         collect_gradient_noise, estimate_alpha, tail_index)

__all__ = ["stable_rvs", "STABLE_CHUNK", "TailIndexEstimate", "alpha_mohammadi",
           "alpha_logmoment", "alpha_mcculloch", "alpha_mle", "estimate_alpha",
           "fit_stable_quantiles", "collect_gradient_noise", "tail_index", "FitComparison",
           "compare_fits", "TAIL_INDEX_METHODS", "MIN_SAMPLES", "MIN_DISTINCT"]

#: Old names of this module -> (their new home, the name there).
_MOVED = {"METHODS": ("sdesim.levy", "TAIL_INDEX_METHODS"),
          "levy_sgd_sde": ("sdesim.sgd", "levy_sgd_sde"),
          "power_law_scheduler": ("sdesim.sgd", "power_law_scheduler"),
          "multistep_scheduler": ("sdesim.sgd", "multistep_scheduler")}


def __getattr__(name: str):
    """The old names of :data:`_MOVED`, with a ``DeprecationWarning`` naming the new one."""
    if name not in _MOVED:
        raise AttributeError(f"module 'sdesim.levy' has no attribute {name!r}")
    home, new = _MOVED[name]
    warnings.warn(f"sdesim.levy.{name} is deprecated: use {home}.{new}", DeprecationWarning,
                  stacklevel=2)
    if home == "sdesim.levy":
        return globals()[new]
    from .. import sgd
    return getattr(sgd, new)
