"""Exact mean, covariance and third cumulant of SGD, SVAG and the naive √l amplification on a
quadratic (``sdesim.exact.sgd_quadratic_cumulants``, docs/theory.md §C.3)."""
from __future__ import annotations

import numpy as np
import pytest

from sdesim.exact import sgd_quadratic_cumulants, sgd_quadratic_moments
from sdesim.sgd import NoisyQuadratic, moment_tensors, run

K = 4.5
H2 = np.array([[1.0, 0.3], [0.3, 2.0]])
SIGMA2 = np.array([[1.0, 0.4], [0.4, 0.5]])
X0, X_STAR = np.array([1.0, -0.5]), np.array([0.2, 0.1])
ORACLE = NoisyQuadratic(H2, SIGMA2, x_star=X_STAR, noise="skewed")


def _lambda(batch_size: int = 1) -> np.ndarray:
    """The oracle's exact minibatch third moment Λ / B², shape (2, 2, 2)."""
    return np.asarray(ORACLE.noise_third_moment(X0[None], batch_size)[0])


def test_sgd_mean_and_cov_equal_sgd_quadratic_moments():
    steps = [0, 1, 5, 40]
    c = sgd_quadratic_cumulants(H2, SIGMA2, _lambda(), 0.1, X0, X_STAR, steps)
    mo = sgd_quadratic_moments(H2, SIGMA2, 0.1, X0, X_STAR, steps)
    np.testing.assert_allclose(c.mean, mo.mean, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(c.cov, mo.cov, rtol=1e-13, atol=1e-15)
    assert c.k3.shape == (4, 2, 2, 2) and np.all(c.k3[0] == 0)
    one = sgd_quadratic_cumulants(H2, SIGMA2, _lambda(), 0.1, X0, X_STAR, 5)
    np.testing.assert_array_equal(one.k3, c.k3[2])


def test_matches_the_closed_forms_of_theory_c3():
    """1-d values of docs/theory.md §C.3 (λ = 1, η = 0.5, t = 2, x0 = 1, Σ = 1, Λ = 2)."""
    lam, lr, T, Lam, l = 1.0, 0.5, 2.0, 2.0, 64
    k, mu = int(l * T / lr), 1 - lr * lam / l
    c = {m: sgd_quadratic_cumulants([[lam]], [[1.0]], [[[Lam]]], lr, [1.0], [0.0], k,
                                    method=m, l=l) for m in ("svag", "naive")}
    assert c["svag"].mean[0] - np.exp(-lam * T) == pytest.approx(-1.0587e-3, abs=5e-8)
    assert c["svag"].k3[0, 0, 0] == pytest.approx(-3.9069e-3, abs=5e-8)
    # naive: the same mean and covariance, third cumulant l^{3/2} / ((3l-1)/2) times SVAG's
    np.testing.assert_allclose(c["naive"].mean, c["svag"].mean, rtol=1e-15)
    np.testing.assert_allclose(c["naive"].cov, c["svag"].cov, rtol=1e-15)
    closed = -(lr / l) ** 3 * l**1.5 * Lam * (1 - mu ** (3 * k)) / (1 - mu**3)
    assert c["naive"].k3[0, 0, 0] == pytest.approx(closed, rel=1e-12)


@pytest.mark.parametrize("method,seed", [("svag", 11), ("naive", 12)])
def test_monte_carlo_third_cumulant_2d(method, seed):
    """sgd.run on NoisyQuadratic(noise="skewed"), d = 2, l = 4: the sample third central moment
    (about the exact mean, so unbiased) is within K standard errors of the exact cumulant."""
    lr, T, l, n = 0.5, 1.0, 4, 200_000
    exact = sgd_quadratic_cumulants(H2, SIGMA2, _lambda(), lr, X0, X_STAR, int(l * T / lr),
                                    method=method, l=l)
    xs = run(ORACLE, X0, T=T, lr=lr, method=method, l=l, n_paths=n, save_at=[T], rng=seed,
             quiet=True).xs[-1]
    for order, ref in ((1, exact.mean), (2, exact.cov), (3, exact.k3)):
        est = moment_tensors(xs, center=exact.mean if order > 1 else np.zeros(2), order=order)
        z = np.asarray(est.zscore(ref))
        assert np.max(np.abs(z)) <= K, (method, order, z)


def _fitted_order(method: str) -> float:
    """Slope of log ‖K₃‖ against log l at fixed SDE time, l = 2^2..2^10, from exact values.

    The Gaussian-driven SDE limit has third cumulant 0 (docs/theory.md §C.3), so ‖K₃‖ is the
    gap itself. ‖K₃‖ = C l^p (1 + a/l + b/l² + ...) exactly, so the fit includes 1/l and 1/l²
    (a plain log-log fit gives -1.006 and -0.519 here: the O(1/l) terms at l = 4).
    """
    lr, T = 0.5, 2.0
    ls = 2.0 ** np.arange(2, 11)
    gap = [np.linalg.norm(sgd_quadratic_cumulants(H2, SIGMA2, _lambda(), lr, X0, X_STAR,
                                                  int(l * T / lr), method=method, l=l).k3)
           for l in ls]
    X = np.column_stack([np.ones_like(ls), np.log(ls), 1 / ls, 1 / ls**2])
    return float(np.linalg.lstsq(X, np.log(gap), rcond=None)[0][1])


@pytest.mark.parametrize("method,order", [("svag", -1.0), ("naive", -0.5)])
def test_third_cumulant_gap_orders(method, order):
    assert abs(_fitted_order(method) - order) < 5e-4


@pytest.mark.parametrize("kwargs,match", [
    (dict(K3=np.zeros((2, 2))), r"K3 must have shape \(d, d, d\) = \(2, 2, 2\)"),
    (dict(K3=np.arange(8.0).reshape(2, 2, 2)), "K3 must be a fully symmetric tensor"),
    (dict(method="ngd"), "method must be one of"),
    (dict(method="sgd", l=4), r"l \(SVAG's amplification\) only applies"),
    (dict(method="svag", l=0.5), "l must be >= 1"),
    (dict(lr=0.0), "lr must be > 0"),
    (dict(n_steps=-1), "n_steps must be >= 0"),
    (dict(Sigma=-np.eye(2)), "Sigma must be positive semi-definite"),
])
def test_bad_input_names_the_argument(kwargs, match):
    args = dict(H=H2, Sigma=SIGMA2, K3=np.zeros((2, 2, 2)), lr=0.1, x0=X0, x_star=X_STAR,
                n_steps=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        sgd_quadratic_cumulants(**args)
