"""Control variates: ``phi(X) − β·(h(X) − E h(X))`` with ``β`` fitted on an independent pilot.

Two kinds of controls ``h``:

- a user's :class:`Control`: ``h(x)`` with its expectation under the scheme (a number for one
  step size, or a function of the step for several: ``E h(X^h_T)`` depends on ``h``);
- ``control="linear"``: the moments of the SDE linearised along its noise-free path and driven
  by the same increments (:mod:`.linearised`).

The coefficients ``β`` (a matrix when ``phi`` or the levels give several estimates and the
controls several columns) minimise the variance of every linear combination of the estimates
(multivariate regression, ``β = Σ_φh Σ_hh⁺``); fitted on a pilot run with its own seed, they are
independent of the main run, so the estimator stays unbiased.

References
----------
Glasserman (2004), *Monte Carlo Methods in Financial Engineering*, §4.1 (control variates, the
optimal coefficient and the pilot); Lavenberg & Welch (1981), Manage. Sci. 27:322 (multiple
controls).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Control", "fit_coefficients", "check_control"]


@dataclass(frozen=True)
class Control:
    """A user's control variate: ``h(x)`` with known expectation under the scheme.

    Parameters
    ----------
    h : callable ``h(x) -> (n,)`` or ``(n, q)``
        On states ``x`` of shape ``(n, d)``.
    mean : float, array_like (q,), or callable ``mean(dt) -> (q,)``
        ``E h(X^{dt}_T)`` for the Euler–Maruyama chain with step ``dt`` (e.g. from
        :func:`sdesim.exact.em_chain_moments`); a callable is needed when several steps are run
        (``weak_order``, ``expectation_levels``). The exact continuous ``E h(X_T)`` biases the
        estimate by ``β (E h(X^h_T) − E h(X_T)) = O(h)``.

    Examples
    --------
    >>> import sdesim
    >>> from sdesim.variance import Control
    >>> cv = Control(lambda x: x[:, 0], mean=lambda dt: (1 + 0.5 * dt) ** round(1 / dt))
    >>> est = sdesim.expectation(sdesim.gbm(0.5, 0.4), 1.0, lambda x: x[:, 0] ** 2, T=1.0,
    ...                          dt=0.1, n_paths=20_000, rng=0, quiet=True, control=cv)
    >>> est.vr_factor > 1
    True

    References
    ----------
    Glasserman (2004), *Monte Carlo Methods in Financial Engineering*, §4.1 (control
    variates, the coefficient from a pilot).
    """

    h: Callable
    mean: object

    def means(self, dt: float) -> np.ndarray:
        """``E h(X^{dt}_T)`` as ``(q,)``."""
        m = self.mean(dt) if callable(self.mean) else self.mean
        return np.atleast_1d(np.asarray(m, dtype=float))

    def columns(self, x: np.ndarray, dt: float) -> np.ndarray:
        """``h(x) − E h`` as ``(n, q)``.

        Raises
        ------
        ValueError
            ``h`` returns another shape than ``(n,)`` / ``(n, q)``, or non-finite values, or a
            ``q`` other than the length of ``mean``.
        """
        v = np.asarray(self.h(x), dtype=float)
        if v.ndim == 1:
            v = v[:, None]
        mean = self.means(dt)
        if v.ndim != 2 or v.shape[0] != x.shape[0] or v.shape[1] != mean.size:
            raise ValueError(f"control.h must map states of shape {x.shape} to (n_paths,) or "
                             f"(n_paths, q) with q = len(control.mean) = {mean.size}, got "
                             f"{np.shape(self.h(x))}")
        if not np.all(np.isfinite(v)):
            raise ValueError("control.h returned non-finite values")
        return v - mean


def check_control(control, n_steps: int) -> object:
    """``control`` if it is None, ``"linear"`` or a :class:`Control` usable for ``n_steps`` step
    sizes, else a ``TypeError``/``ValueError`` naming ``control``."""
    if control is None or (isinstance(control, str) and control == "linear"):
        return control
    if not isinstance(control, Control):
        raise TypeError(f"control must be None, 'linear' or a sdesim.variance.Control(h, mean), "
                        f"got {type(control).__name__} {control!r}")
    if not callable(control.h):
        raise TypeError(f"control.h must be callable h(x) -> (n,) or (n, q), got "
                        f"{type(control.h).__name__}")
    if n_steps > 1 and not callable(control.mean):
        raise ValueError("control.mean must be a function of the step, mean(dt) -> E h(X^dt_T), "
                         "when several step sizes are run: E h(X^h_T) depends on h")
    return control


def fit_coefficients(cov: np.ndarray, k: int) -> np.ndarray:
    """``β`` ``(k, q)`` from the covariance of ``[phi (k), controls (q)]``: ``Σ_φh Σ_hh⁺``
    (least squares, so collinear or constant controls are harmless)."""
    s_hh, s_hp = cov[k:, k:], cov[k:, :k]
    return np.linalg.lstsq(s_hh, s_hp, rcond=None)[0].T
