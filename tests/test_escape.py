"""First exit times (sdesim.escape) against exact targets: Getoor, the Brownian quadrature, the
two-sided exit law of symmetric stable processes; backends, seeding, censoring, domains, errors.

Tolerances are in standard errors (|z| <= 4 unless said). Discrete monitoring makes the EM exit
time σ_h >= σ pathwise for exact increments; its bias is handled by theory, never by a loose
tolerance: the Brownian case uses Gobet's √h expansion (Richardson) and the Broadie–Glasserman–
Kou/Gobet–Menozzi boundary shift; the stable case uses the lower bound σ_h >= σ, strict
decrease in h, and a Richardson step in h^{1/α} (see test_getoor_mean_exit_time).
"""
import math

import numpy as np
import pytest
from scipy.special import betainc

import sdesim
from sdesim.escape import Ball, Box, Interval, Predicate, exit_times
from sdesim.exact import (GOBET_SHIFT, big_jump_rate, diffusion_mean_exit_time,
                          getoor_mean_exit_time, scheduler_survival, stable_tail_constant)

K = 4.0


def _zero(t, x):
    return 0.0 * x


def _cubic(t, x):
    return -x ** 3


def pure_stable(alpha):
    """``dX = dL^α`` (standard SαS Lévy motion; α = 2 is √2 W); one compiled kernel for all α."""
    return sdesim.SDE(_zero, np.ones(1), d=1, noise="additive", driver=sdesim.Stable(alpha))


def z(est, ref):
    return (est.mean - ref) / est.stderr


# ----------------------------------------------------------------------------- exact targets
def test_reference_formulas():
    assert getoor_mean_exit_time(2.0, 1.0) == pytest.approx(0.5, rel=1e-14)
    assert getoor_mean_exit_time(1.5, 2.0, 0.0, scale=2.0) == pytest.approx(1 / math.gamma(2.5))
    # OU, θ = 1, D = 1/4, (-1, 1) from 0: docs/theory.md §C.6; and Brownian motion: (a² - x²)/(2D)
    assert diffusion_mean_exit_time(lambda y: y * y / 2, 0.25, -1, 1, 0.0) == pytest.approx(
        4.5016, abs=1e-4)
    assert diffusion_mean_exit_time(lambda y: 0.0, 0.5, -1, 2, 0.5) == pytest.approx(
        (0.5 + 1) * (2 - 0.5), rel=1e-9)
    assert stable_tail_constant(1.0) == pytest.approx(1 / math.pi)
    assert stable_tail_constant(2.0) == pytest.approx(0.0, abs=1e-15)
    assert float(big_jump_rate(1.5, 0.1, 1.0, 2.0)) == pytest.approx(
        0.1**1.5 * stable_tail_constant(1.5) * (1 + 2**-1.5))
    # power-law scheduler: closed form with γ_l = 1 + (γ-1)(α-1)
    g, a, lam, u = 0.5, 1.6, 0.3, 4.0
    gl = 1 + (g - 1) * (a - 1)
    assert scheduler_survival(u, lam, a, lambda t: (1 + t) ** (g - 1)) == pytest.approx(
        math.exp(-lam * ((1 + u) ** gl - 1) / gl), rel=1e-9)
    # multi-step scheduler: ∫ s^{α-1} is piecewise linear, the hazard drops by f^{α-1}
    from sdesim.sgd import multistep_scheduler
    ms = multistep_scheduler([2.0, 5.0], [1.0, 0.3, 0.1])
    u = np.array([1.0, 2.0, 4.0, 9.0])
    integral = np.array([1.0, 2.0, 2.0 + 2 * 0.3 ** (a - 1), 2.0 + 3 * 0.3 ** (a - 1)
                         + 4 * 0.1 ** (a - 1)])
    np.testing.assert_allclose(scheduler_survival(u, lam, a, ms), np.exp(-lam * integral),
                               rtol=1e-8)
    with pytest.raises(ValueError, match="alpha"):
        getoor_mean_exit_time(2.5, 1.0)
    with pytest.raises(ValueError, match="x must"):
        getoor_mean_exit_time(1.5, 1.0, 1.0)


@pytest.mark.parametrize("alpha", [1.4, 1.8])
def test_getoor_mean_exit_time(alpha):
    """Pure SαS from (-1, 1), x0 = 0.5, at h = 4e-3 and 1e-3 (factor r = 4).

    EM with exact increments is the process sampled on the grid, so σ_h >= σ pathwise: each
    estimate is >= Getoor - 4 se, and σ_h decreases in h (coarse grid ⊂ fine grid). The bias
    scales as h^{1/α} (self-similarity: the returns that discrete monitoring misses start at
    distance ~h^{1/α} from the boundary, where the remaining exit time is ~h^{1/2}, and the
    overshoot law puts mass ~h^{1/α - 1/2} there; at α = 2 this is Gobet's √h); Richardson with
    that exponent removes the leading bias and must hit Getoor within 4 se.
    """
    exact = getoor_mean_exit_time(alpha, 1.0, 0.5)
    sde = pure_stable(alpha)
    h1, h2 = 4e-3, 1e-3
    e1, e2 = (exit_times(sde, 0.5, Interval(-1, 1), dt=h, t_max=40.0, n_paths=20_000,
                         rng=seed, quiet=True).mean() for h, seed in ((h1, 1), (h2, 2)))
    assert z(e1, exact) > -K and z(e2, exact) > -K
    assert e1.mean - e2.mean > 0  # decreasing in h
    c = (h1 / h2) ** (1 / alpha)
    extrap = (c * e2.mean - e1.mean) / (c - 1)
    se = math.hypot(c * e2.stderr, e1.stderr) / (c - 1)
    assert abs(extrap - exact) <= K * se, (e1, e2, extrap, se, exact)


def test_stable_two_sided_exit_law():
    """P_x(exit above 1) from (-1, 1) = I_{(1+x)/2}(α/2, α/2) (Blumenthal–Getoor–Ray, Rogozin).

    Discrete monitoring bias on the exit side is below this test's resolution (checked at two
    steps: both within 4 se).
    """
    for alpha, x0 in ((1.2, 0.5), (1.6, -0.3)):
        exact = betainc(alpha / 2, alpha / 2, (1 + x0) / 2)
        for h, seed in ((4e-3, 3), (1e-3, 4)):
            r = exit_times(pure_stable(alpha), x0, Interval(-1, 1), dt=h, t_max=40.0,
                           n_paths=6_000, rng=seed, quiet=True)
            assert r.n_censored == 0
            assert abs(z(r.exit_probability(0, side=1), exact)) <= K
            assert np.all(np.abs(r.position[r.side == 1, 0]) >= 1)


def test_brownian_exit_time_bias_and_boundary_shift():
    """OU dX = -X dt + √(1/2) dW (D = 1/4) from (-1, 1), x0 = 0.5; exact T by quadrature.

    Gobet (2000): E σ_h = T + c √h + o(√h) with c > 0. So: each plain estimate is above T by
    more than 4 se; 2 T(h/4) - T(h) (Richardson in √h) equals T within 4 se; and shifting the
    boundary inwards by 0.5826 σ √h (Broadie–Glasserman–Kou, Gobet–Menozzi) removes the √h
    term: within 4 se of T at both h.
    """
    ou = sdesim.ou(1.0, math.sqrt(0.5))
    T = diffusion_mean_exit_time(lambda y: y * y / 2, 0.25, -1.0, 1.0, 0.5)
    plain, shifted = {}, {}
    for i, h in enumerate((1e-2, 2.5e-3)):
        s = GOBET_SHIFT * math.sqrt(0.5) * math.sqrt(h)
        plain[h] = exit_times(ou, 0.5, Interval(-1, 1), dt=h, t_max=200.0, n_paths=10_000,
                              rng=10 + i, quiet=True).mean()
        shifted[h] = exit_times(ou, 0.5, Interval(-1 + s, 1 - s), dt=h, t_max=200.0,
                                n_paths=10_000, rng=20 + i, quiet=True).mean()
        assert z(plain[h], T) > K
        assert abs(z(shifted[h], T)) <= K
    a, b = plain[1e-2], plain[2.5e-3]
    assert abs(2 * b.mean - a.mean - T) <= K * math.hypot(2 * b.stderr, a.stderr)


# ----------------------------------------------------------------------------- engine contract
def test_backends_agree_and_threads_do_not_matter():
    for drv in (sdesim.Stable([1.5, 1.8]), None):
        sde = sdesim.SDE(_cubic, np.array([0.7, 0.5]), d=2, noise="additive", driver=drv)
        kw = dict(dt=1e-2, t_max=20.0, n_paths=600, rng=5, quiet=True, chunk_size=200)
        a = exit_times(sde, [0.0, 0.1], Ball(0.0, 1.0), backend="numba-numpy-rng", n_threads=1,
                       **kw)
        b = exit_times(sde, [0.0, 0.1], Ball(0.0, 1.0), backend="numba-numpy-rng", n_threads=2,
                       **kw)
        c = exit_times(sde, [0.0, 0.1], Ball(0.0, 1.0), backend="numpy", **kw)
        assert np.array_equal(a.times, b.times) and np.array_equal(a.position, b.position)
        assert np.array_equal(a.times, c.times)
        assert np.array_equal(a.axis, c.axis) and np.array_equal(a.side, c.side)
        np.testing.assert_allclose(a.position, c.position, rtol=1e-12, atol=1e-12)
        d = exit_times(sde, [0.0, 0.1], Ball(0.0, 1.0), backend="numba-numpy-rng",
                       **{**kw, "rng": 6})
        assert not np.array_equal(a.times, d.times)
        # the fast stream: thread-independent too
        e, f = (exit_times(sde, [0.0, 0.1], Ball(0.0, 1.0), n_threads=k, **kw) for k in (1, 2))
        assert np.array_equal(e.times, f.times) and np.array_equal(e.position, f.position)


def test_linear_sde_kernel_matches_numpy():
    kw = dict(dt=1e-2, t_max=30.0, n_paths=800, rng=7, quiet=True, chunk_size=300)
    # coefficients are kernel arguments: the second OU reuses the first one's kernel
    for theta, sigma in (([1.0, 2.0], [0.5, 0.7]), ([0.5, 1.5], [0.9, 0.4])):
        ou = sdesim.ou(theta, sigma, driver=sdesim.Stable([1.3, 1.9]))
        a = exit_times(ou, [0.0, 0.2], Box([-1, -1], [1, 2]), backend="numba-numpy-rng", **kw)
        b = exit_times(ou, [0.0, 0.2], Box([-1, -1], [1, 2]), backend="numpy", **kw)
        assert np.array_equal(a.times, b.times) and np.array_equal(a.axis, b.axis)
    # exit positions really are outside, on the recorded axis and side
    lo, hi = np.array([-1, -1]), np.array([1, 2])
    out = a.exited
    ax, sd = a.axis[out], a.side[out]
    p = a.position[out, ax]
    assert np.all(np.where(sd > 0, p >= hi[ax], p <= lo[ax]))


def test_censoring_survival_and_restricted_mean():
    sde = pure_stable(2.0)  # √2 W from (-1, 1): E σ = 1/2, P(σ > u) has a known series
    r = exit_times(sde, 0.0, Interval(-1, 1), dt=1e-3, t_max=0.5, n_paths=4000, rng=8,
                   quiet=True)
    assert 0 < r.n_censored < r.n
    assert np.all(r.times[~r.exited] == 0.5) and np.all(r.axis[~r.exited] == -1)
    # restricted mean E min(σ, t_max) = ∫_0^t_max P(σ > u) du from the series below; the EM
    # chain exits late (σ_h >= σ), by about the boundary shift GOBET_SHIFT·√2·√h (Broadie,
    # Glasserman & Kou 1997): bracket it between the exact value for a = 1 and for a shifted by
    # twice that
    m = r.mean()
    k = np.arange(200)

    def restricted_mean(a):  # E min(σ_a, t) = a² E min(σ_1, t/a²) for √2 W from 0 in (-a, a)
        c = (2 * k + 1) ** 2 * np.pi ** 2 / 4
        t = 0.5 / a**2
        return a**2 * 4 / np.pi * np.sum((-1) ** k / (2 * k + 1) * (1 - np.exp(-c * t)) / c)

    shift = 2 * GOBET_SHIFT * math.sqrt(2) * math.sqrt(1e-3)
    assert restricted_mean(1.0) - K * m.stderr <= m.mean <= restricted_mean(1 + shift) + K * m.stderr
    u = np.array([0.1, 0.3])
    s = r.survival(u)
    # P(σ > u) for B(2u) started at 0 in (-1, 1): (4/π) Σ_k (-1)^k/(2k+1) e^{-(2k+1)²π² u/4}
    k = np.arange(200)[:, None]
    exact = 4 / np.pi * np.sum((-1) ** k / (2 * k + 1)
                               * np.exp(-(2 * k + 1) ** 2 * np.pi ** 2 * u / 4), axis=0)
    assert np.all(s.mean >= exact - K * s.stderr)  # discrete monitoring: σ_h >= σ
    with pytest.raises(ValueError, match="t_max"):
        r.survival(0.6)
    assert "censored" in repr(r)


def test_predicate_domain_and_start_outside():
    sde = sdesim.SDE(lambda t, x: -x, np.array([0.5, 0.5]), d=2, noise="additive")
    dom = Predicate(lambda x: x[:, 0] ** 2 + 4 * x[:, 1] ** 2 < 1)
    r = exit_times(sde, [0.0, 0.0], dom, dt=1e-2, t_max=50.0, n_paths=300, rng=9, quiet=True)
    assert r.n_censored == 0
    p = r.position
    assert np.all(p[:, 0] ** 2 + 4 * p[:, 1] ** 2 >= 1)
    x0 = np.array([[0.0, 0.0], [2.0, 0.0]])
    r2 = exit_times(sde, x0, Box([-1, -1], [1, 1]), dt=1e-2, t_max=1.0, n_paths=2, rng=0,
                    quiet=True)
    assert r2.times[1] == 0 and r2.axis[1] == 0 and r2.side[1] == 1


def test_bad_input_errors():
    sde = pure_stable(1.5)
    kw = dict(dt=1e-2, t_max=1.0, n_paths=10, quiet=True)
    with pytest.raises(TypeError, match="domain"):
        exit_times(sde, 0.0, (-1, 1), **kw)
    with pytest.raises(ValueError, match="dt"):
        exit_times(sde, 0.0, Interval(-1, 1), **{**kw, "dt": 0.3})
    with pytest.raises(ValueError, match="t_max"):
        exit_times(sde, 0.0, Interval(-1, 1), **{**kw, "t_max": -1.0})
    with pytest.raises(ValueError, match="x0"):
        exit_times(sde, np.nan, Interval(-1, 1), **kw)
    with pytest.raises(ValueError, match="shape"):
        exit_times(sde, 0.0, Box([-1, -1, -1], [1, 1, 1]), **kw)
    with pytest.raises(ValueError, match="backend"):
        exit_times(sde, 0.0, Interval(-1, 1), backend="cuda", **kw)
    with pytest.raises(ValueError, match="lo must be < hi"):
        Box([1.0], [0.0])
    with pytest.raises(ValueError, match="radius"):
        Ball(0.0, -1.0)
    with pytest.raises(ValueError, match="alpha"):
        sdesim.Stable(2.2)
