"""Variance reduction for Monte-Carlo expectations of SDEs.

- **Antithetic increments** (:mod:`.antithetic`): every path also runs on its negated
  increments; ``expectation(..., antithetic=True)``, ``weak_order(..., antithetic=True)``.
- **Control variates** (:mod:`.control`, :mod:`.linearised`): a user's
  :class:`Control` ``(h, mean)`` or ``control="linear"``, the moments of the SDE linearised along
  its noise-free path on the same noise, with coefficients fitted on an independent pilot.
- **Multilevel Monte Carlo** (:mod:`.multilevel`): :func:`mlmc` estimates ``E phi(X_T)`` to a target
  RMSE at a cost below plain Monte Carlo's (Giles 2008), and prints both costs.

Every estimate reports the variance-reduction factor measured on the run (``vr_factor``: the
variance plain Monte Carlo would have with as many simulated paths, over the variance
obtained). :mod:`.reduction` is what :mod:`sdesim.simulate` runs. See docs/variance-reduction.md.

References
----------
Glasserman (2004), *Monte Carlo Methods in Financial Engineering*, ch. 4; Giles (2008), Oper.
Res. 56:607.
"""
from .antithetic import mirror
from .control import Control

__all__ = ["Control", "mirror", "mlmc", "MLMCResult"]


def __getattr__(name: str):
    # mlmc runs sdesim.simulate, which imports this package: loaded on first use
    if name in ("mlmc", "MLMCResult"):
        from . import multilevel as module
        return getattr(module, name)
    raise AttributeError(f"module 'sdesim.variance' has no attribute {name!r}")
