"""SDE test problems with exact answers, taken from other projects' test suites.

Each problem names its source (project, file or object, parameters as there) and says how its
exact ``E φ(X_T)`` is computed here: from the exact second moments of a linear SDE
(:func:`sdesim.exact.linear_moments`), or from the problem's pathwise solution as a function
of ``W_T`` by Gauss–Hermite quadrature. Where we changed something (a random initial state
fixed, a Stratonovich equation converted to Itô, a dimension chosen), the note says so.

Sources
-------
* SciML DiffEqProblemLibrary.jl, ``lib/SDEProblemLibrary/src/SDEProblemLibrary.jl``
  (``prob_sde_additive``, ``prob_sde_additivesystem``, ``prob_sde_cubic``,
  ``prob_sde_linear_stratonovich``, ``generate_stiff_stoch_heat``);
* SciML StochasticDiffEq.jl, weak-convergence tests of the Rößler SRK methods
  (``test/weak_convergence``: the non-commutative 2-d problem of Debrabant & Rößler (2008)
  used for ``RS1``/``RS2``, and the 4-d, 10-noise linear problem of Rößler (2010) eq. (7.4));
* mattja/sdeint, ``sdeint/tests/test_integrate.py`` (``test_strat_ND_additive``,
  ``test_exact_KP4446``: Kloeden & Platen (1992) eq. (4.46)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

import sdesim
from sdesim.exact import linear_moments

__all__ = ["PeerProblem", "PEER_PROBLEMS"]


@dataclass(frozen=True)
class PeerProblem:
    """One test problem: the SDE, ``x0``, horizon, test function and exact ``E φ(X_T)``."""

    key: str
    title: str
    source: str
    sde: Callable[[], sdesim.SDE]
    x0: np.ndarray
    T: float
    phi: Callable[[np.ndarray], np.ndarray]
    phi_text: str
    exact: Callable[[], float]


def _gauss_hermite(fn: Callable[[np.ndarray], np.ndarray], T: float, n: int = 160) -> float:
    """``E fn(W_T)`` for ``W_T ~ N(0, T)`` by Gauss–Hermite quadrature on ``n`` nodes."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    return float(np.sum(w * fn(math.sqrt(T) * z)) / np.sum(w))


def _trace_second(A, Bs, x0, T, b_list=None) -> float:
    return float(np.trace(linear_moments(A, Bs, x0, T, b_list=b_list).second))


def _sq_norm(x):
    return np.sum(x * x, axis=1)


def _first_sq(x):
    return x[:, 0] * x[:, 0]


# --- SDEProblemLibrary prob_sde_additive / prob_sde_additivesystem: time-dependent additive
# noise, du = (β/√(1+t) − u/(2(1+t))) dt + αβ/√(1+t) dW, u = u0/√(1+t) + β(t + αW)/√(1+t).
_ALPHA1, _BETA1 = 0.1, 0.05
_ALPHA4 = np.array([0.1, 0.1, 0.1, 0.1])
_BETA4 = np.array([0.5, 0.25, 0.125, 0.1115])


def _additive_sde(alpha, beta) -> sdesim.SDE:
    alpha, beta = np.atleast_1d(alpha).astype(float), np.atleast_1d(beta).astype(float)
    scale = alpha * beta

    def f(t, x):
        return beta / math.sqrt(1.0 + t) - x / (2.0 * (1.0 + t))

    def g(t):
        return scale / math.sqrt(1.0 + t)

    return sdesim.SDE(f, g, d=beta.size, noise="additive", name="additive (SDEProblemLibrary)")


def _additive_exact(alpha, beta, u0, T) -> float:
    alpha, beta = np.atleast_1d(alpha), np.atleast_1d(beta)
    mean = (u0 + beta * T) / math.sqrt(1 + T)
    var = alpha**2 * beta**2 * T / (1 + T)
    return float(np.sum(mean**2 + var))


# --- Debrabant & Rößler's non-commutative 2-d problem as StochasticDiffEq.jl's RS1/RS2 weak
# tests write it: f = (5/4 (u2 − u1), 1/4 (u1 − u2)), g = [[√3/2 (u1 − u2), (u1 + u2)/2],
# [0, u1]], u0 = (0.1, 0.1), E u1(1)² = e²/100. That value holds for the Stratonovich reading
# (the Itô one gives e/100), so the Itô SDE simulated here has the drift A + ½ Σ_j B_j².
_RS_A = np.array([[-1.25, 1.25], [0.25, -0.25]])
_RS_B = [np.array([[math.sqrt(3) / 2, -math.sqrt(3) / 2], [0.0, 0.0]]),
         np.array([[0.5, 0.5], [1.0, 0.0]])]
_RS_A_ITO = _RS_A + 0.5 * sum(B @ B for B in _RS_B)

# --- Rößler (2010) eq. (7.4), StochasticDiffEq.jl's "noncommute" linear test: d = 4, m = 10,
# A_ii = −3/2, A_ij = 1/20, B^k_ii = 1/5, B^k_ij = 1/100. The test draws u0 at random; here
# u0 = (1, 1, 1, 1).
_R4_A = np.full((4, 4), 1 / 20) + np.diag(np.full(4, -1.5 - 1 / 20))
_R4_B = [np.full((4, 4), 1 / 100) + np.diag(np.full(4, 1 / 5 - 1 / 100))] * 10

# --- SDEProblemLibrary generate_stiff_stoch_heat(D, k; N): du = D/dx² Δ u dt + k u dW (one
# Brownian motion), taken at N = 3, D = 1/9 (so D/dx² = 1), k = 1, u0 = ones.
_HEAT_A = np.diag(np.full(3, -2.0)) + np.diag(np.ones(2), 1) + np.diag(np.ones(2), -1)
_HEAT_B = [np.eye(3)]

# --- sdeint test_strat_ND_additive: f = (−y0, y2, −y1 − 0.4 y2), G = diag(0.2, 0, 0.5)
# (additive, so Itô = Stratonovich); the test starts at 0 and runs 2000 s, here y0 = (1, 1, 1)
# and T = 1 so that the initial transient is part of the answer.
_SDEINT_A = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, -0.4]])
_SDEINT_G = np.diag([0.2, 0.0, 0.5])

# --- SDEProblemLibrary prob_sde_cubic: du = −¼ u (1 − u²) dt + ½ (1 − u²) dW, u0 = ½,
# u = tanh(W/2 + artanh u0).
_CUBIC_U0 = 0.5


def _cubic_drift(t, x):
    return -0.25 * x * (1.0 - x * x)


def _cubic_diffusion(t, x):
    return 0.5 * (1.0 - x * x)

# --- sdeint test_exact_KP4446, Kloeden & Platen (1992) eq. (4.46): du = −(a + b²u)(1 − u²) dt
# + b (1 − u²) dW, a = 1, b = 0.8, u0 = 0.1, u = ((1+u0) e^{−2at+2bW} + u0 − 1) /
# ((1+u0) e^{−2at+2bW} + 1 − u0); the test runs 20 s, here T = 1.
_KP_A, _KP_B, _KP_U0 = 1.0, 0.8, 0.1


def _kp4446_drift(t, x):
    return -(_KP_A + _KP_B * _KP_B * x) * (1.0 - x * x)


def _kp4446_diffusion(t, x):
    return _KP_B * (1.0 - x * x)


def _kp4446_solution(w, T=1.0):
    e = (1.0 + _KP_U0) * np.exp(-2.0 * _KP_A * T + 2.0 * _KP_B * w)
    return (e + _KP_U0 - 1.0) / (e + 1.0 - _KP_U0)


# --- SDEProblemLibrary prob_sde_wave: du = −0.01 sin(u) cos³(u) dt + 0.1 cos²(u) dW, u0 = 1,
# u = arctan(W/10 + tan u0): bounded, globally Lipschitz coefficients.
def _wave_drift(t, x):
    c = np.cos(x)
    return -0.01 * np.sin(x) * c * c * c


def _wave_diffusion(t, x):
    c = np.cos(x)
    return 0.1 * c * c


# --- SDEProblemLibrary prob_sde_linear_stratonovich: du = 1.01 u dt + 0.87 u ∘ dW, u0 = ½,
# u = u0 exp(1.01 t + 0.87 W); in Itô form the drift is (1.01 + 0.87²/2) u.
_GBM_MU, _GBM_SIG, _GBM_U0 = 1.01, 0.87, 0.5

PEER_PROBLEMS: dict[str, PeerProblem] = {p.key: p for p in [
    PeerProblem(
        "additive", "time-dependent additive noise, scalar",
        "SDEProblemLibrary.jl prob_sde_additive (α = 0.1, β = 0.05, u0 = 1)",
        lambda: _additive_sde(_ALPHA1, _BETA1), np.array([1.0]), 1.0, _sq_norm, "u²",
        lambda: _additive_exact(_ALPHA1, _BETA1, 1.0, 1.0)),
    PeerProblem(
        "additive4", "time-dependent additive noise, 4-d system",
        "SDEProblemLibrary.jl prob_sde_additivesystem (α = 0.1, β = (0.5, 0.25, 0.125, "
        "0.1115), u0 = 1)",
        lambda: _additive_sde(_ALPHA4, _BETA4), np.ones(4), 1.0, _sq_norm, "|u|²",
        lambda: _additive_exact(_ALPHA4, _BETA4, 1.0, 1.0)),
    PeerProblem(
        "noncommuting2", "non-commuting 2-d noise, from Stratonovich",
        "StochasticDiffEq.jl RS1/RS2 weak test (Debrabant & Rößler 2008), Stratonovich "
        "converted to Itô",
        lambda: sdesim.linear(_RS_A_ITO, _RS_B), np.array([0.1, 0.1]), 1.0, _first_sq, "u₁²",
        lambda: math.exp(2.0) / 100),
    PeerProblem(
        "roessler4", "4-d linear system, 10 matrix noises",
        "StochasticDiffEq.jl noncommutative linear test, Rößler (2010) eq. (7.4), u0 = 1",
        lambda: sdesim.linear(_R4_A, _R4_B), np.ones(4), 1.0, _sq_norm, "|u|²",
        lambda: _trace_second(_R4_A, _R4_B, np.ones(4), 1.0)),
    PeerProblem(
        "heat3", "scalar noise on a 3-d system",
        "SDEProblemLibrary.jl generate_stiff_stoch_heat(D = 1/9, k = 1; N = 3)",
        lambda: sdesim.linear(_HEAT_A, _HEAT_B), np.ones(3), 1.0, _sq_norm, "|u|²",
        lambda: _trace_second(_HEAT_A, _HEAT_B, np.ones(3), 1.0)),
    PeerProblem(
        "sdeint3", "3-d damped oscillator, additive noise",
        "sdeint tests/test_integrate.py test_strat_ND_additive, y0 = 1, T = 1",
        lambda: sdesim.linear(_SDEINT_A, [np.zeros((3, 3))] * 3,
                              b_list=[_SDEINT_G[:, j] for j in range(3)]),
        np.ones(3), 1.0, _sq_norm, "|y|²",
        lambda: _trace_second(_SDEINT_A, [np.zeros((3, 3))] * 3, np.ones(3), 1.0,
                              [_SDEINT_G[:, j] for j in range(3)])),
    PeerProblem(
        "cubic", "nonlinear scalar drift and diffusion",
        "SDEProblemLibrary.jl prob_sde_cubic (u0 = 1/2)",
        lambda: sdesim.SDE(_cubic_drift, _cubic_diffusion, d=1, name="cubic (SDEProblemLibrary)"),
        np.array([_CUBIC_U0]), 1.0, lambda x: x[:, 0], "u",
        lambda: _gauss_hermite(lambda w: np.tanh(0.5 * w + math.atanh(_CUBIC_U0)), 1.0)),
    PeerProblem(
        "wave", "nonlinear drift and diffusion, bounded",
        "SDEProblemLibrary.jl prob_sde_wave (u0 = 1)",
        lambda: sdesim.SDE(_wave_drift, _wave_diffusion, d=1, name="wave (SDEProblemLibrary)"),
        np.array([1.0]), 1.0, lambda x: x[:, 0], "u",
        lambda: _gauss_hermite(lambda w: np.arctan(0.1 * w + math.tan(1.0)), 1.0)),
    PeerProblem(
        "kp4446", "nonlinear drift and diffusion (Kloeden & Platen 4.46)",
        "sdeint tests/test_integrate.py test_exact_KP4446 (a = 1, b = 0.8, u0 = 0.1), T = 1",
        lambda: sdesim.SDE(_kp4446_drift, _kp4446_diffusion, d=1, name="KP 4.46 (sdeint)"),
        np.array([_KP_U0]), 1.0, lambda x: x[:, 0], "u",
        lambda: _gauss_hermite(_kp4446_solution, 1.0)),
    PeerProblem(
        "gbm_strat", "GBM from Stratonovich",
        "SDEProblemLibrary.jl prob_sde_linear_stratonovich (α = 1.01, β = 0.87, u0 = 1/2), "
        "converted to Itô",
        lambda: sdesim.gbm(_GBM_MU + 0.5 * _GBM_SIG**2, _GBM_SIG), np.array([_GBM_U0]), 1.0,
        lambda x: x[:, 0], "u",
        lambda: _GBM_U0 * math.exp(_GBM_MU + 0.5 * _GBM_SIG**2)),
]}
