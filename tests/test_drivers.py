"""Drivers: the α-stable sampler against scipy's levy_stable CDF, scaling, coupling, errors."""
import math

import numpy as np
import pytest
from scipy import stats

import sdesim
from sdesim.backends import get_backend, numba_rng
from sdesim.backends.encoding import driver_encoding
from sdesim.drivers import standard_stable

GRID = np.array([-6.0, -3.0, -1.5, -0.7, -0.2, 0.3, 0.8, 1.6, 3.5, 7.0])


def _cdf_zscores(samples, cdf_values, grid=GRID):
    """z-scores of the empirical CDF at ``grid`` against exact values (binomial standard errors)."""
    n = samples.size
    emp = (samples[:, None] <= grid[None, :]).mean(axis=0)
    se = np.sqrt(cdf_values * (1 - cdf_values) / n)
    return (emp - cdf_values) / se


@pytest.mark.parametrize("alpha", [0.7, 1.0, 1.3, 1.5, 1.8, 2.0])
def test_standard_stable_matches_scipy_cdf(alpha):
    z = standard_stable(np.random.default_rng(11), alpha, (200_000,))
    exact = stats.levy_stable.cdf(GRID, alpha, 0.0)
    assert np.max(np.abs(_cdf_zscores(z, exact))) < 4.5


def test_alpha_two_is_normal_with_variance_two():
    z = standard_stable(np.random.default_rng(5), 2.0, (400_000,))
    # Var of the sample variance of N(0, 2): 2 * 2^2 / n
    assert abs(z.var() - 2.0) / math.sqrt(8 / z.size) < 4.5


def test_stable_increments_scale_and_per_coordinate_alpha():
    drv = sdesim.Stable([1.2, 1.9], scale=[0.5, 2.0])
    h = 0.01
    dL = drv.increments(np.random.default_rng(2), h, (200_000, 2))
    for j, (a, s) in enumerate([(1.2, 0.5), (1.9, 2.0)]):
        c = s * h ** (1 / a)
        exact = stats.levy_stable.cdf(GRID * c, a, 0.0, scale=c)
        assert np.max(np.abs(_cdf_zscores(dL[:, j], exact, GRID * c))) < 4.5


def test_brownian_increments_variance():
    dW = sdesim.Brownian().increments(np.random.default_rng(0), 0.25, (400_000, 1))
    assert abs(dW.var() - 0.25) / (0.25 * math.sqrt(2 / dW.size)) < 4.5


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("driver", [sdesim.Brownian(), sdesim.Stable([1.3, 1.7])])
def test_coarse_increments_are_sums_of_fine_ones(backend, driver):
    # dX = dL: every level's terminal state is x0 + the sum of its increments, so a coarse grid
    # driven by summed fine increments ends exactly where the fine grid ends (up to rounding).
    sde = sdesim.SDE(lambda t, x: np.zeros_like(x), np.ones(2), d=2, noise="additive",
                     driver=driver)
    out = get_backend(backend).run_chunk(sde, np.zeros((500, 2)), 0.01, 64, (1, 4, 16, 64), [64],
                            np.random.default_rng(1))
    for lev in range(1, 4):
        np.testing.assert_allclose(out[lev, 0], out[0, 0], rtol=1e-12, atol=1e-12)


def test_numba_stable_draws_match_numpy_driver():
    drv = sdesim.Stable([0.8, 1.0, 1.5, 2.0], scale=[1.0, 0.5, 2.0, 1.0])
    code, alpha, scale = driver_encoding(drv, 4)
    buf = np.empty((1000, 4))
    numba_rng.fill(code, np.random.default_rng(9), buf, 0.01, alpha, scale, np.empty((7, 1000)))
    ref = drv.increments(np.random.default_rng(9), 0.01, (1000, 4))
    np.testing.assert_allclose(buf, ref, rtol=1e-13, atol=0)


@pytest.mark.parametrize("bad", [0.0, -1.0, 2.5, [1.5, np.nan], [1.0, 2.1]])
def test_alpha_out_of_range_names_alpha(bad):
    with pytest.raises(ValueError, match="alpha"):
        sdesim.Stable(bad)


def test_per_coordinate_alpha_must_match_noise_dimension():
    with pytest.raises(ValueError, match="alpha"):
        sdesim.ou(1.0, 1.0, d=3, driver=sdesim.Stable([1.5, 1.6]))


def test_scale_must_be_positive():
    with pytest.raises(ValueError, match="scale"):
        sdesim.Stable(1.5, scale=0.0)
