"""sdesim's validation suite: one experiment per claim, run by ``python -m validation``.

Experiments live in ``validation/exp_*.py`` and register themselves with
:func:`validation.registry.experiment`; :mod:`validation.runner` runs them and writes the
report (``report.md``, PNG figures, ``results.json``) under ``validation/results/``.
"""
from .registry import REGISTRY, Claim, Result, experiment

__all__ = ["REGISTRY", "Claim", "Result", "experiment"]
