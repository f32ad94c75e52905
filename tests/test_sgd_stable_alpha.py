"""Per-coordinate α in the SGD view: GradientNoise("stable", alpha=(d,)) and its Lévy SDE
(TMLR "Revisiting the noise model of SGD", eq. 3; docs/theory.md §0.6)."""
import warnings

import numpy as np
import pytest

import sdesim
from sdesim import sgd
from sdesim.exact import stable_ou_em_scale
from sdesim.sgd import GradientNoise, NoisyQuadratic, sgd_sde

K = 5.0
ALPHA = np.array([1.3, 1.8])


def test_vector_alpha_is_stored_per_coordinate_and_scalar_alpha_stays_a_float():
    nz = GradientNoise(np.eye(2), "stable", alpha=ALPHA)
    assert nz.alpha.shape == (2,) and np.array_equal(nz.alpha, ALPHA)
    assert isinstance(GradientNoise(np.eye(2), "stable", alpha=1.5).alpha, float)
    assert repr(nz) == "GradientNoise(d=2, kind='stable', alpha=[1.3, 1.8])"


def test_vector_alpha_bad_input():
    with pytest.raises(ValueError, match=r"alpha must be a scalar or have one value per noise "
                                         r"coordinate \(shape \(2,\)\), got shape \(3,\)"):
        GradientNoise(np.eye(2), "stable", alpha=[1.5, 1.5, 1.5])
    with pytest.raises(ValueError, match=r"alpha must lie in \(0, 2\]"):
        GradientNoise(np.eye(2), "stable", alpha=[1.5, 2.5])
    with pytest.raises(ValueError, match="alpha is only used with noise='stable'"):
        GradientNoise(np.eye(2), "gaussian", alpha=ALPHA)
    nz = GradientNoise(np.eye(2), "stable", alpha=[1.5, 2.0])
    with pytest.raises(ValueError, match="has no covariance"):
        nz.cov()
    with pytest.raises(ValueError, match="third moment of 'stable' noise does not exist"):
        nz.third_moment()


def test_all_alpha_two_is_gaussian_with_covariance_two_sigma():
    nz = GradientNoise(np.diag([1.0, 3.0]), "stable", alpha=[2.0, 2.0])
    np.testing.assert_array_equal(nz.cov(batch_size=2), np.diag([1.0, 3.0]))
    sde = sgd_sde(NoisyQuadratic(np.eye(2), np.diag([1.0, 3.0]), noise="stable", alpha=[2, 2]),
                  0.1)
    assert not isinstance(sde.driver, sdesim.Stable)


def test_sgd_sde_has_a_per_coordinate_stable_driver():
    orc = NoisyQuadratic(np.eye(2), np.diag([4.0, 1.0]), noise="stable", alpha=ALPHA)
    lr, B = 0.1, 8
    sde = sgd_sde(orc, lr, batch_size=B)
    assert isinstance(sde.driver, sdesim.Stable)
    np.testing.assert_array_equal(sde.driver.alpha, ALPHA)
    eps = lr ** (1 - 1 / ALPHA) * B ** (1 / ALPHA - 1)
    np.testing.assert_allclose(sde.driver.scale, eps, rtol=4 * np.finfo(float).eps)
    np.testing.assert_array_equal(sde.diffusion(0.0, np.zeros((1, 2))), np.diag([2.0, 1.0]))


def _cf_zscores(xs, scale, alpha, u):
    """z-scores of the empirical E cos(u X_l) against the SαS exp(-(scale_l |u|)^α_l)."""
    c = np.cos(u * xs)
    exact = np.exp(-(scale * u) ** alpha)
    return (c.mean(axis=0) - exact) / (c.std(axis=0, ddof=1) / np.sqrt(xs.shape[0]))


@pytest.mark.parametrize("how", ["sgd", "sde"])
def test_per_coordinate_law_after_k_steps_is_the_stable_ou_em_law(how):
    """Diagonal H and Sigma: coordinate l of SGD (and of the EM chain of sgd_sde on the default
    numba backend, with no warning) after k steps from 0 is SαS(α_l) of scale
    s_l (1 - |1 - η h_l|^{α_l k})^{1/α_l}, s_l the stationary EM scale (stable_ou_em_scale with
    σ_l ε_l, ε_l = η^{1-1/α_l} B^{1/α_l - 1}); characteristic function within 5 se."""
    h, sig = np.array([1.0, 3.0]), np.array([2.0, 0.5])
    orc = NoisyQuadratic(np.diag(h), np.diag(sig**2), noise="stable", alpha=ALPHA)
    lr, B, k, n = 0.1, 2, 10, 40_000
    kw = dict(T=k * lr, n_paths=n, save_at=[k * lr], rng=11, quiet=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if how == "sgd":
            xs = sgd.run(orc, np.zeros(2), lr=lr, batch_size=B, **kw).xs[-1]
        else:
            xs = sdesim.simulate(sgd_sde(orc, lr, batch_size=B), np.zeros(2), dt=lr, **kw).xs[-1]
    eps = lr ** (1 - 1 / ALPHA) * B ** (1 / ALPHA - 1)
    stat = stable_ou_em_scale(h, sig * eps, ALPHA, lr)
    scale = stat * (1 - np.abs(1 - h * lr) ** (ALPHA * k)) ** (1 / ALPHA)
    for u in (0.5 / scale, 1.5 / scale):
        z = _cf_zscores(xs, scale, ALPHA, u)
        assert np.all(np.abs(z) <= K), f"u = {u}: z = {z}"


def test_oracles_differing_only_in_alpha_share_one_drift():
    """A sweep over α (validation/exp_escape_axis.py) compiles its drift once: the drift is
    keyed on the oracle's kernels and parameters, not on the oracle object."""
    a, b = (sgd_sde(sgd.Ackley(4 * np.eye(2), noise="stable", alpha=[al, 1.9]), 0.01)
            for al in (1.9, 1.5))
    assert a.f is b.f and not np.array_equal(a.driver.alpha, b.driver.alpha)
    c = sgd_sde(sgd.Ackley(4 * np.eye(2), a=10.0, noise="stable", alpha=[1.5, 1.9]), 0.01)
    assert c.f is not a.f
