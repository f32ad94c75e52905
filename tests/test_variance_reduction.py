"""Variance reduction (sdesim.variance): every estimator unbiased within 4 SE of an exact value
(the Euler–Maruyama chain's moments of GBM in closed form), the measured reduction factor > 1
where theory says so, multilevel Monte Carlo cheaper than plain Monte Carlo, bad inputs named."""
import numpy as np
import pytest

import sdesim
from sdesim.variance import Control, mlmc

MU, SIG, T = 0.5, 0.4, 1.0


def em_moment(q: int, h: float) -> float:
    """E X_T^q of the EM chain of GBM from 1 (q = 1, 2, 3): E(1 + mu h + sig dW)^q per step."""
    a, s2 = 1 + MU * h, SIG ** 2 * h
    per_step = {1: a, 2: a * a + s2, 3: a ** 3 + 3 * a * s2}[q]
    return per_step ** round(T / h)


def user_gbm():
    return sdesim.SDE(lambda t, x: MU * x, lambda t, x: SIG * x, d=1)


CUBE = lambda x: x[:, 0] ** 3  # noqa: E731


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_antithetic_unbiased_and_reduces(backend):
    est = sdesim.expectation(sdesim.gbm(MU, SIG), 1.0, lambda x: x[:, 0], T=T, dt=0.05,
                             n_paths=40_000, rng=3, backend=backend, quiet=True,
                             antithetic=True)
    assert abs(est.zscore(em_moment(1, 0.05))) < 4
    assert est.n == 20_000
    assert est.vr_factor > 3  # phi nearly odd around the mean: strong negative correlation


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_user_control_unbiased_and_reduces(backend):
    cv = Control(lambda x: x[:, 0] ** 2, mean=lambda dt: em_moment(2, dt))
    est = sdesim.expectation(sdesim.gbm(MU, SIG), 1.0, CUBE, T=T, dt=0.05, n_paths=40_000,
                             rng=4, backend=backend, quiet=True, control=cv)
    assert abs(est.zscore(em_moment(3, 0.05))) < 4
    assert est.vr_factor > 3


@pytest.mark.parametrize("sde, backend", [(sdesim.gbm(MU, SIG), "numba"), (user_gbm(), "numpy")])
def test_linear_control_unbiased_and_reduces(sde, backend):
    """Built-in linear SDE: the controls are its own moments; a user's f/g: the augmented SDE."""
    est = sdesim.expectation(sde, 1.0, CUBE, T=T, dt=0.05, n_paths=40_000, rng=5,
                             backend=backend, quiet=True, control="linear", antithetic=True)
    assert abs(est.zscore(em_moment(3, 0.05))) < 4
    assert est.vr_factor > 10


def test_linear_control_on_nonlinear_sde_is_unbiased():
    """Nonlinear drift, additive noise: the controls' exact moments are the linearised chain's;
    the reference is a plain run 25x larger (independent seed)."""
    sde = sdesim.SDE(lambda t, x: -x + np.sin(x), np.array([0.5]), d=1, noise="additive")
    phi = lambda x: x[:, 0] ** 2  # noqa: E731
    kw = dict(T=T, dt=0.05, backend="numpy", quiet=True)
    ref = sdesim.expectation(sde, 1.0, phi, n_paths=1_000_000, rng=6, **kw)
    est = sdesim.expectation(sde, 1.0, phi, n_paths=40_000, rng=7, control="linear", **kw)
    z = (est.mean - ref.mean) / np.hypot(est.stderr, ref.stderr)
    assert abs(z) < 4
    assert est.vr_factor > 20


def test_levels_with_controls_unbiased_on_every_grid():
    dts = [0.25, 0.125, 0.0625]
    le = sdesim.expectation_levels(sdesim.gbm(MU, SIG), 1.0, CUBE, T=T, dts=dts,
                                   n_paths=20_000, rng=8, backend="numba", quiet=True,
                                   control="linear", antithetic=True)
    z = (le.mean - [em_moment(3, h) for h in dts]) / le.stderr
    assert np.all(np.abs(z) < 4)
    assert np.all(le.vr_factor > 1)


def test_weak_order_reports_reduction_on_differences():
    res = sdesim.weak_order(user_gbm(), 1.0, CUBE, T=T, dts=[2.0 ** -k for k in range(1, 6)],
                            n_paths=20_000, rng=9, backend="numpy", quiet=True,
                            control="linear")
    assert res.vr_factor.shape == res.errors.shape
    assert np.all(res.vr_factor > 1)
    assert "variance reduced" in repr(res)


def test_mlmc_unbiased_and_cheaper_than_plain():
    res = mlmc(sdesim.gbm(MU, SIG), 1.0, lambda x: x[:, 0], T=T, rmse=0.005, rng=10,
               backend="numba", quiet=True)
    assert res.converged
    assert abs(res.estimate.zscore(em_moment(1, res.dts[-1]))) < 4
    assert res.cost < res.plain_cost  # measured in path-steps
    assert np.sqrt(np.sum(res.variance / res.n)) <= res.rmse / np.sqrt(2) * 1.01
    assert "plain MC" in repr(res)


def test_bad_inputs_are_named():
    sde, phi = sdesim.gbm(MU, SIG), lambda x: x[:, 0]
    kw = dict(T=T, dt=0.1, n_paths=100, rng=0, backend="numpy", quiet=True)
    with pytest.raises(ValueError, match="control.h must map"):
        sdesim.expectation(sde, 1.0, phi, control=Control(lambda x: x, mean=[1.0, 2.0]), **kw)
    with pytest.raises(TypeError, match="control must be None, 'linear'"):
        sdesim.expectation(sde, 1.0, phi, control="quadratic", **kw)
    with pytest.raises(ValueError, match="rmse must be a finite number > 0"):
        mlmc(sde, 1.0, phi, T=T, rmse=0.0)
    skewed = type("Skewed", (sdesim.Brownian,), {})()
    with pytest.raises(ValueError, match="antithetic=True needs a symmetric driver"):
        sdesim.expectation(sdesim.SDE(lambda t, x: -x, np.array([1.0]), d=1, noise="additive",
                                      driver=skewed), 1.0, phi, antithetic=True, **kw)
    with pytest.raises(ValueError, match="control='linear' needs a Brownian driver"):
        sdesim.expectation(sdesim.ou(1.0, 1.0, driver=sdesim.Stable(1.5)), 0.0, phi,
                           control="linear", **kw)
    with pytest.raises(ValueError, match="control.mean must be a function of the step"):
        sdesim.expectation_levels(sde, 1.0, phi, T=T, dts=[0.5, 0.25], n_paths=100, rng=0,
                                  quiet=True, control=Control(phi, mean=1.0))
    with pytest.raises(ValueError, match="times must be None with antithetic"):
        sdesim.expectation(sde, 1.0, phi, times=[0.5, 1.0], antithetic=True, **kw)
