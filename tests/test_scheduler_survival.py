"""escape.scheduler_survival against its exact values at every horizon (no sampling here).

``P(σ > u) = exp(-rate0 I(u))`` with ``I(u) = ∫_0^u s_t^{α-1} dt``: for the power-law scheduler
``s_t = (1+t)^{γ-1}``, ``I(u) = ((1+u)^{γ_l} - 1)/γ_l`` with ``γ_l = 1 + (γ-1)(α-1)``, and
``log(1+u)`` at ``γ_l = 0`` (γ = -1 with α = 1.5); for a multi-step scheduler ``I`` is piecewise
linear. Both are checked on the closed-form path (the schedulers' ``kind``) and on the
quadrature path (the same scheduler as a plain function), for u from 1 to 10⁹.
"""
import math

import numpy as np
import pytest

from sdesim.exact import scheduler_survival
from sdesim.sgd import multistep_scheduler, power_law_scheduler

U = 10.0 ** np.arange(0, 10)  # 1 .. 1e9


def _power_law_exact(u, rate0, alpha, gamma):
    gl = 1.0 + (gamma - 1.0) * (alpha - 1.0)
    L = np.log1p(u)
    return np.exp(-rate0 * (L if gl == 0 else np.expm1(gl * L) / gl))


@pytest.mark.parametrize("gamma,alpha", [(1.0, 1.5), (0.5, 1.6), (-1.0, 1.5), (-2.0, 1.5),
                                         (-2.0, 1.9), (0.2, 1.2), (-5.0, 2.0)])
def test_power_law_scheduler_matches_the_closed_form_at_every_horizon(gamma, alpha):
    rate0 = 0.05
    exact = _power_law_exact(U, rate0, alpha, gamma)
    closed = scheduler_survival(U, rate0, alpha, power_law_scheduler(gamma))
    quad = scheduler_survival(U, rate0, alpha, lambda t: (1.0 + t) ** (gamma - 1.0))
    np.testing.assert_allclose(closed, exact, rtol=1e-13)
    np.testing.assert_allclose(quad, exact, rtol=1e-9)
    assert np.all((quad >= 0) & (quad <= 1)) and np.all((closed >= 0) & (closed <= 1))


def test_the_reported_case_is_a_probability():
    """quad over [0, 1e7] missed the mass near 0 and returned 1.0000316 here."""
    exact = math.exp(-0.05 * ((1 + 1e7) ** -0.5 - 1) / -0.5)   # 0.904866
    assert scheduler_survival(1e7, 0.05, 1.5, power_law_scheduler(-2.0)) == pytest.approx(
        exact, rel=1e-13)
    assert scheduler_survival(1e7, 0.05, 1.5, lambda t: (1 + t) ** -3.0) == pytest.approx(
        exact, rel=1e-9)


def test_multistep_scheduler_is_exactly_piecewise_linear():
    alpha, rate0 = 1.6, 0.3
    milestones, factors = [2.0, 5.0, 1e4], [1.0, 0.3, 0.1, 0.01]
    w = np.array(factors) ** (alpha - 1)
    u = np.r_[0.0, 1.0, 2.0, 4.0, 9.0, U]

    def integral(v):
        edges = [0.0] + milestones + [np.inf]
        return sum(w[q] * max(0.0, min(v, edges[q + 1]) - edges[q]) for q in range(len(w)))

    exact = np.exp(-rate0 * np.array([integral(v) for v in u]))
    ms = multistep_scheduler(milestones, factors)
    np.testing.assert_allclose(scheduler_survival(u, rate0, alpha, ms), exact, rtol=1e-13)
    np.testing.assert_allclose(scheduler_survival(u, rate0, alpha, ms.py_func), exact, rtol=1e-9)


def test_shapes_and_bad_input():
    s = power_law_scheduler(0.5)
    assert isinstance(scheduler_survival(3.0, 0.1, 1.5, s), float)
    assert scheduler_survival(np.ones((2, 3)), 0.1, 1.5, s).shape == (2, 3)
    assert scheduler_survival(0.0, 0.1, 1.5, s) == 1.0
    with pytest.raises(ValueError, match="u must be >= 0"):
        scheduler_survival(-1.0, 0.1, 1.5, s)
    with pytest.raises(ValueError, match="rate0 must be >= 0"):
        scheduler_survival(1.0, -0.1, 1.5, s)
    with pytest.raises(ValueError, match="alpha"):
        scheduler_survival(1.0, 0.1, 2.5, s)
    with pytest.raises(TypeError, match="scheduler must be callable"):
        scheduler_survival(1.0, 0.1, 1.5, 0.5)
    with pytest.raises(ValueError, match="scheduler"):
        scheduler_survival(1.0, 0.1, 1.5, lambda t: -1.0)
