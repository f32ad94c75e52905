"""The SDE approximation, the modified equation and the flows; and the NSR diagnostics."""
import numpy as np
import pytest

import sdesim
from sdesim import linear
from sdesim.sgd import (LinearRegression, NoisyQuadratic, ScaleInvariantRegression,
                        critical_kappa, flow, gn_estimates, gd, measure_equilibrium,
                        modified_drift, moment_tensors, sgd_sde)

K = 5.0


def _assert_within(est, exact, what):
    z = (est.mean - np.asarray(exact)) / np.maximum(est.stderr, 1e-15)
    assert np.all(np.abs(z) <= K), f"{what}: max |z| = {np.max(np.abs(z)):.2f}"


def test_sgd_sde_em_at_h_equal_lr_is_ngd_exactly_in_law():
    """THEORY.md §0.3: EM of the SDE at h = η has SGD's exact mean and covariance."""
    H = np.array([[1.0, 0.3], [0.3, 2.0]])
    S = np.array([[1.0, 0.2], [0.2, 0.5]])
    orc = NoisyQuadratic(H, S)
    lr, B, T = 0.2, 2, 1.0
    sde = sgd_sde(orc, lr, batch_size=B)
    p = sdesim.simulate(sde, [1.0, -1.0], T, lr, 100_000, save_at=[T], rng=0, quiet=True,
                        backend="numpy")
    exact = linear.sgd_quadratic_moments(H, S / B, lr, [1.0, -1.0], [0.0, 0.0], int(T / lr))
    _assert_within(moment_tensors(p.xs[-1], np.zeros(2), 1), exact.mean, "mean")
    _assert_within(moment_tensors(p.xs[-1], exact.mean, 2), exact.cov, "cov")


def test_state_dependent_diffusion_is_sqrt_of_lr_sigma():
    rng = np.random.default_rng(0)
    orc = LinearRegression(rng.standard_normal((10, 3)), rng.standard_normal(10), replacement=False)
    sde = sgd_sde(orc, 0.3, batch_size=4, weight_decay=0.1)
    x = rng.standard_normal((5, 3))
    g = sde.diffusion(0.0, x)
    np.testing.assert_allclose(g @ np.swapaxes(g, 1, 2), 0.3 * orc.noise_cov(x, 4), atol=1e-12)
    np.testing.assert_allclose(sde.drift(0.0, x), -(orc.grad(x) + 0.1 * x), rtol=1e-12)
    assert sde.noise == "general" and sde.m == 3


def test_stable_noise_gives_levy_sde_with_sgd_scale():
    """SGD with SαS noise is EM at h = η of dX = -∇L dt + η^{1-1/α} B^{1/α-1} L dL^α (§0.6)."""
    orc = NoisyQuadratic([[1.0]], [[4.0]], noise="stable", alpha=1.5)
    sde = sgd_sde(orc, 0.1, batch_size=8)
    assert isinstance(sde.driver, sdesim.Stable)
    expected = 0.1 ** (1 - 1 / 1.5) * 8 ** (1 / 1.5 - 1) * 2.0
    np.testing.assert_allclose(sde.diffusion(0.0, np.zeros((1, 1))), [[expected]], rtol=1e-12)


def test_modified_drift_on_quadratic_is_exact():
    H = np.array([[1.0, 0.3], [0.3, 2.0]])
    orc = NoisyQuadratic(H, x_star=[0.2, 0.1])
    x = np.random.default_rng(1).standard_normal((4, 2))
    f = modified_drift(orc, 0.1, weight_decay=0.05)
    Hl = H + 0.05 * np.eye(2)
    y = x - [0.2, 0.1]
    expected = -(y @ H + 0.05 * x) - 0.05 * (y @ H + 0.05 * x) @ Hl
    np.testing.assert_allclose(f(x), expected, rtol=1e-12)


def test_flows_against_closed_forms_and_gd_orders():
    """GD on a quadratic: GD - GF = O(η), GD - modified flow = O(η²) (THEORY.md §C.4)."""
    lam, x0, T = 1.5, 1.0, 1.0
    orc = NoisyQuadratic([[lam]])
    np.testing.assert_allclose(flow(orc, [x0], T), x0 * np.exp(-lam * T), rtol=1e-10)
    eta = 0.01
    np.testing.assert_allclose(flow(orc, [x0], T, lr=eta),
                               x0 * np.exp(-(lam + eta * lam**2 / 2) * T), rtol=1e-10)
    errs_gf, errs_mf = [], []
    for eta in [0.02, 0.01]:
        xg = gd(orc, [x0], eta, T, save_at=[T], quiet=True).xs[-1, 0, 0]
        errs_gf.append(xg - flow(orc, [x0], T)[0])
        errs_mf.append(xg - flow(orc, [x0], T, lr=eta)[0])
    assert errs_gf[0] / errs_gf[1] == pytest.approx(2.0, rel=0.05)
    assert errs_mf[0] / errs_mf[1] == pytest.approx(4.0, rel=0.05)
    # leading constants of THEORY.md §C.4
    assert errs_gf[1] == pytest.approx(-x0 * np.exp(-lam * T) * 0.01 * lam**2 * T / 2, rel=0.03)


def test_sgd_sde_bad_input():
    orc = LinearRegression(np.ones((4, 2)) + np.eye(4, 2), np.ones(4), replacement=False)
    with pytest.raises(ValueError, match="lr"):
        sgd_sde(orc, 0.0)
    with pytest.raises(ValueError, match="batch_size"):
        sgd_sde(orc, 0.1, batch_size=5)
    with pytest.raises(ValueError, match="order"):
        sgd_sde(orc, 0.1, order=3)


# ------------------------------------------------------------------------------ diagnostics
def test_gn_estimates_are_unbiased():
    rng = np.random.default_rng(2)
    orc = LinearRegression(rng.standard_normal((12, 3)), rng.standard_normal(12))
    x = np.broadcast_to([0.5, -0.3, 0.2], (50_000, 3)).copy()
    G, N = gn_estimates(np.stack([orc.sample_grad(x, rng, 3) for _ in range(4)]))
    G_exact = np.sum(orc.grad(x[:1]) ** 2)
    N_exact = np.trace(orc.noise_cov(x[:1], 3)[0])
    _assert_within(moment_tensors(np.column_stack([G, N]), np.zeros(2), 1), [G_exact, N_exact],
                   "G, N")


def test_equilibrium_of_sgd_on_quadratic_matches_discrete_lyapunov():
    H, S, lr = np.diag([1.0, 4.0]), np.eye(2), 0.2
    eq = measure_equilibrium(NoisyQuadratic(H, S), np.zeros(2), lr, T=8.0, burn_in=4.0,
                             n_paths=4000, every=0.4, rng=3)
    R_exact = np.trace(linear.sgd_stationary_cov(H, S, lr))
    G_exact = np.trace(H @ linear.sgd_stationary_cov(H, S, lr) @ H)
    _assert_within(eq.R, R_exact, "R")
    _assert_within(eq.G, G_exact, "G")
    assert eq.N.mean == pytest.approx(2.0)
    kappa = critical_kappa(eq, C=np.sqrt(2))
    assert kappa.mean == pytest.approx(2 * (1 + 2.0 / eq.G.mean))


def test_scale_invariant_equilibrium_identity_lma_eq_11():
    rng = np.random.default_rng(4)
    orc = ScaleInvariantRegression(rng.standard_normal((16, 4)), rng.standard_normal(16))
    lr, wd = 0.5, 0.1
    eq = measure_equilibrium(orc, rng.standard_normal(4), lr, batch_size=2, weight_decay=wd,
                             T=150.0, burn_in=100.0, every=2.5, n_paths=1000, rng=5)
    assert abs(eq.identity_gap.zscore(0.0)) <= K, eq.identity_gap
    assert eq.nsr.mean > 0
