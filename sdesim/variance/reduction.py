"""What a variance-reduced run simulates and how its samples become estimates.

:func:`plan` turns the options of :func:`sdesim.expectation` / :func:`sdesim.expectation_levels`
(``antithetic``, ``control``) into a :class:`Plan`: the SDE to run (the user's, or the augmented
one of the linearised control), its mirror for antithetic pairs, the initial states, and the
map from a chunk's states to per-sample columns ``[phi per level, controls, phi of one path]``.
The engine loop stays in :mod:`sdesim.simulate` (one pilot run when there are controls, one
main run); :meth:`Plan.finish` turns the two accumulators into means, their covariance, and the
covariance plain Monte Carlo would have had with as many simulated paths, whose ratio is the
measured variance-reduction factor.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validate import phi_values
from ..sde import SDE, LinearSDE
from .antithetic import check_symmetric, mirror
from .control import Control, check_control, fit_coefficients
from .linearised import augmented_sde, chain_moments, check_brownian, linear_controls, linearise

__all__ = ["Plan", "Reduced", "plan", "PILOT_KEY"]

#: Spawn key of the pilot run's chunks (the main run uses ``()``): independent streams.
PILOT_KEY = (0x5EED,)


@dataclass(frozen=True)
class Reduced:
    """Variance-reduced estimates of ``E phi`` on ``L`` grids (``k`` values of ``phi`` each).

    Attributes
    ----------
    mean : ndarray (L k,)
    cov : ndarray (L k, L k)
        Covariance of ``mean``.
    plain_cov : ndarray (L k, L k)
        Covariance plain Monte Carlo would have with the same number of simulated paths.
    n : int
        Independent samples (antithetic pairs count once).
    scalar : bool
        ``phi`` returned one value per path.
    """

    mean: np.ndarray
    cov: np.ndarray
    plain_cov: np.ndarray
    n: int
    scalar: bool


class Plan:
    """A variance-reduced run (module docstring); built by :func:`plan`."""

    def __init__(self, sde, mirrored, x0, d, phi, steps, controls, n, n_pilot, k, scalar):
        self.sde, self.mirror, self.x0, self.d = sde, mirrored, x0, d
        self.phi, self.steps, self.controls = phi, steps, controls
        self.n, self.n_pilot, self.k, self.scalar = n, n_pilot, k, scalar
        self.beta = None

    def samples(self, res: np.ndarray) -> np.ndarray:
        """Per-sample columns from a chunk's states ``res`` ``(L, 1, rows, D)`` (rows = 2n with
        antithetic pairs: the mirrored paths after the plain ones).

        Before :meth:`fit` (the pilot): ``[phi per grid, controls]``, pairs averaged. After:
        ``[phi − β controls, phi of one path]``: the reduced samples, and the plain ones whose
        variance plain Monte Carlo would have.
        """
        phis = []
        for lev in range(res.shape[0]):
            v, _ = phi_values(self.phi, res[lev, 0][:, :self.d])
            if v.shape[1] != self.k:
                raise ValueError(f"phi must return the same number of values on every call, "
                                 f"got {v.shape[1]} and {self.k}")
            phis.append(v)
        p = np.concatenate(phis, axis=1)
        plain = p
        if self.controls is not None:
            p = np.concatenate([p] + [self.controls(res[lev, 0], lev)
                                      for lev in range(res.shape[0])], axis=1)
        if self.mirror is not None:
            n = p.shape[0] // 2
            p, plain = 0.5 * (p[:n] + p[n:]), plain[:n]
        if self.beta is None and self.controls is not None:
            return p
        kp = plain.shape[1]
        z = p[:, :kp] if self.beta is None else p[:, :kp] - p[:, kp:] @ self.beta.T
        return np.concatenate([z, plain], axis=1)

    def fit(self, pilot) -> None:
        """Fix the coefficients ``β`` from the pilot's accumulator of ``[phi, controls]``."""
        self.beta = fit_coefficients(pilot.covariance(), len(self.steps) * self.k)

    def finish(self, main) -> Reduced:
        """:class:`Reduced` from the main run's accumulator."""
        kp = len(self.steps) * self.k
        cov = main.covariance()
        plain = cov[kp:, kp:] / (2 if self.mirror is not None else 1)
        return Reduced(main.mean[:kp].copy(), cov[:kp, :kp] / main.n, plain / main.n, main.n,
                       self.scalar)


def _user_controls(control: Control, steps):
    def controls(state, lev):
        return control.columns(state, steps[lev])
    return controls


def _linear_controls(lin, ratios, x0, d):
    moments = [chain_moments(lin, r, x0) for r in ratios]

    def controls(state, lev):
        mu, P = moments[lev]
        return linear_controls(state[:, -d:], mu, P)
    return controls


def plan(sde: SDE, x: np.ndarray, phi, h: float, n_fine: int, ratios, backend: str,
         antithetic: bool, control, n_paths: int) -> Plan:
    """The :class:`Plan` of a run of ``n_paths`` simulated paths from the states ``x``
    ``(n_paths, d)`` on the grids ``ratios[l] * h``.

    Raises
    ------
    ValueError
        ``antithetic`` with an asymmetric driver or fewer than 4 paths; per-path ``x0``; a bad
        ``control`` (:func:`~.control.check_control`); ``control='linear'`` with a non-Brownian
        driver.
    TypeError
        ``antithetic`` not a bool, ``control`` of another type.
    """
    if not isinstance(antithetic, (bool, np.bool_)):
        raise TypeError(f"antithetic must be True or False, got {antithetic!r}")
    control = check_control(control, len(ratios))
    if not np.all(x == x[0]):
        raise ValueError("antithetic and control need one initial state x0 of shape (d,) "
                         "shared by all paths, got per-path initial states")
    n = n_paths
    if antithetic:
        check_symmetric(sde)
        if n_paths < 4:
            raise ValueError(f"n_paths must be >= 4 with antithetic=True (pairs of paths), "
                             f"got {n_paths}")
        n = n_paths // 2
    if control == "linear":
        check_brownian(sde)
    steps = [r * h for r in ratios]
    x0, d = np.array(x[0], dtype=float), sde.d
    run, controls, states = sde, None, x[:n]
    probe = sde.probe_states(x)
    if isinstance(control, Control):
        controls = _user_controls(control, steps)
    elif control == "linear" and isinstance(sde, LinearSDE):
        controls = _linear_controls(linearise(sde, x0, h, n_fine), ratios, x0, d)
    elif control == "linear":
        run, lin = augmented_sde(sde, x0, h, n_fine, backend, probe)
        controls = _linear_controls(lin, ratios, x0, d)
        states = np.broadcast_to(np.concatenate([x0, x0]), (n, 2 * d))
    mirrored = mirror(run, backend, run.probe_states(states)) if antithetic else None
    v, scalar = phi_values(phi, probe)
    q = 0 if controls is None else controls(np.repeat(states[:1], 2, axis=0), 0).shape[1]
    n_pilot = 0 if controls is None else max(2000, 50 * q * len(ratios))
    return Plan(run, mirrored, states, d, phi, steps, controls, n, n_pilot, v.shape[1], scalar)
