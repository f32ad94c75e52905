"""The SDE approximation, the modified equation and the flows; and the NSR diagnostics."""
import warnings

import numpy as np
import pytest

import sdesim
from sdesim import sgd
from sdesim.sgd import (Ackley, DoubleWell, FunctionOracle, GradientNoise, LinearRegression,
                        NoisyQuadratic, Oracle, ScaleInvariantRegression, critical_kappa, flow,
                        gn_estimates, gd, measure_equilibrium, modified_drift, moment_tensors,
                        sgd_sde)

K = 5.0


def _assert_within(est, exact, what):
    z = (est.mean - np.asarray(exact)) / np.maximum(est.stderr, 1e-15)
    assert np.all(np.abs(z) <= K), f"{what}: max |z| = {np.max(np.abs(z)):.2f}"


def test_sgd_sde_em_at_h_equal_lr_is_ngd_exactly_in_law():
    """docs/theory.md §0.3: EM of the SDE at h = η has SGD's exact mean and covariance; on the
    default (numba) backend, which compiles the oracle's kernel without a warning."""
    H = np.array([[1.0, 0.3], [0.3, 2.0]])
    S = np.array([[1.0, 0.2], [0.2, 0.5]])
    orc = NoisyQuadratic(H, S)
    lr, B, T = 0.2, 2, 1.0
    sde = sgd_sde(orc, lr, batch_size=B)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = sdesim.simulate(sde, [1.0, -1.0], T=T, dt=lr, n_paths=100_000, save_at=[T], rng=0,
                            quiet=True)
    exact = sdesim.exact.sgd_quadratic_moments(H, S / B, lr, [1.0, -1.0], [0.0, 0.0], int(T / lr))
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
    """SGD with SαS noise is EM at h = η of dX = -∇L dt + L dL^α, the driver of scale
    ε = η^{1-1/α} B^{1/α-1} (§0.6): ε sits in the driver, as in levy_sgd_sde, and g is L."""
    orc = NoisyQuadratic([[1.0]], [[4.0]], noise="stable", alpha=1.5)
    sde = sgd_sde(orc, 0.1, batch_size=8)
    assert isinstance(sde.driver, sdesim.Stable)
    assert np.array_equal(sde.diffusion(0.0, np.zeros((1, 1))), [[2.0]])   # L = Σ^{1/2}
    eps = 0.1 ** (1 - 1 / 1.5) * 8 ** (1 / 1.5 - 1)
    np.testing.assert_allclose(sde.driver.scale, eps, rtol=4 * np.finfo(float).eps)
    assert sde.eps == sde.driver.scale


@pytest.mark.parametrize("alpha", [1.5, [1.3, 1.8]])  # one α, or one per coordinate
@pytest.mark.parametrize("backend", ["numpy", "numba-numpy-rng"])
def test_sgd_with_stable_noise_is_exactly_em_of_its_levy_sde(backend, alpha):
    """From x0 = x* = 0 on a quadratic, SGD x - η(H x + ξ) and EM x + η(-H x) + L dL with the
    same draws (same seed and chunks) are mirror images: SGD subtracts the noise the SDE adds,
    so y_k = -x_k, up to the order of the floating-point operations (a few ulps a step); with a
    non-diagonal scale matrix L."""
    H = np.array([[1.0, 0.3], [0.3, 2.0]])
    orc = NoisyQuadratic(H, [[1.0, 0.4], [0.4, 0.5]], noise="stable", alpha=alpha)
    lr, B, T = 0.1, 4, 1.0
    kw = dict(T=T, n_paths=64, rng=3, chunk_size=16, quiet=True)
    y = sgd.run(orc, np.zeros(2), lr=lr, batch_size=B, **kw).xs
    x = sdesim.simulate(sgd_sde(orc, lr, batch_size=B), np.zeros(2), dt=lr, backend=backend,
                        **kw).xs
    bound = 8 * (T / lr) * np.finfo(float).eps * np.abs(x).max()
    np.testing.assert_allclose(y, -x, rtol=0, atol=bound)


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
    """GD on a quadratic: GD - GF = O(η), GD - modified flow = O(η²) (docs/theory.md §C.4)."""
    lam, x0, T = 1.5, 1.0, 1.0
    orc = NoisyQuadratic([[lam]])
    np.testing.assert_allclose(flow(orc, [x0], T), x0 * np.exp(-lam * T), rtol=1e-10)
    eta = 0.01
    np.testing.assert_allclose(flow(orc, [x0], T, lr=eta),
                               x0 * np.exp(-(lam + eta * lam**2 / 2) * T), rtol=1e-10)
    errs_gf, errs_mf = [], []
    for eta in [0.02, 0.01]:
        xg = gd(orc, [x0], T=T, lr=eta, save_at=[T], quiet=True).xs[-1, 0, 0]
        errs_gf.append(xg - flow(orc, [x0], T)[0])
        errs_mf.append(xg - flow(orc, [x0], T, lr=eta)[0])
    assert errs_gf[0] / errs_gf[1] == pytest.approx(2.0, rel=0.05)
    assert errs_mf[0] / errs_mf[1] == pytest.approx(4.0, rel=0.05)
    # leading constants of docs/theory.md §C.4
    assert errs_gf[1] == pytest.approx(-x0 * np.exp(-lam * T) * 0.01 * lam**2 * T / 2, rel=0.03)


def test_sgd_sde_bad_input():
    orc = LinearRegression(np.ones((4, 2)) + np.eye(4, 2), np.ones(4), replacement=False)
    with pytest.raises(ValueError, match="lr"):
        sgd_sde(orc, 0.0)
    with pytest.raises(ValueError, match="batch_size"):
        sgd_sde(orc, 0.1, batch_size=5)
    with pytest.raises(ValueError, match="order"):
        sgd_sde(orc, 0.1, order=3)
    with pytest.raises(ValueError, match="batch_size only scales the noise, which noise=False"):
        sgd_sde(orc, 0.1, batch_size=2, noise=False)
    no_sigma = FunctionOracle(lambda x: x[:, 0], lambda x: np.ones_like(x), d=2,
                              sample_grad=lambda x, rng, B: np.ones_like(x))
    with pytest.raises(NotImplementedError, match="does not know its noise covariance"):
        sgd_sde(no_sigma, 0.1)
    with pytest.raises(ValueError, match="method chooses the discrete algorithm, which sde"):
        measure_equilibrium(orc, np.ones(2), lr=0.1, T=1.0, burn_in=0.5, n_paths=4,
                            sde=sgd_sde(orc, 0.1), method="svag")


# ------------------------------------------------------------- the SDEs on the numba backend
def _agree(a, b, what):
    z = (a.mean - b.mean) / np.sqrt(a.stderr**2 + b.stderr**2)
    assert np.all(np.abs(z) <= K), f"{what}: max |z| = {np.max(np.abs(z)):.2f}"


def _arctan_moments(x):
    return np.hstack([np.arctan(x), np.arctan(x) ** 2])


_DATA = (np.random.default_rng(11).standard_normal((10, 3)),
         np.random.default_rng(12).standard_normal(10))
BUILTIN_SDES = {  # oracle, order, x0 (NoisyQuadratic: the exact test on numba above)
    "double-well": (lambda: DoubleWell(0.5, 0.7, noise="skewed"), 2, [0.6]),
    "ackley": (lambda: Ackley(np.diag([0.5, 2.0])), 2, [0.3, -0.2]),
    "linear-regression": (lambda: LinearRegression(*_DATA, replacement=False), 1, [0.5, -0.5, 0.2]),
    "scale-invariant": (lambda: ScaleInvariantRegression(*_DATA), 2, [1.0, -0.5, 0.3]),
    "function-oracle": (lambda: FunctionOracle(
        lambda x: np.sum(x**2 / 2 - 0.5 * np.cos(x), axis=1), lambda x: x + 0.5 * np.sin(x), d=2,
        noise=GradientNoise(0.5 * np.eye(2), "skewed")), 2, [0.5, -0.5]),
}


@pytest.mark.parametrize("name", list(BUILTIN_SDES))
def test_sgd_sde_runs_compiled_on_the_default_backend_and_agrees_with_numpy(name):
    """Every built-in oracle (and a FunctionOracle of numba-compilable functions) gives an SDE
    whose f and g numba compiles: no warning on the numba backend, and the same law as on the
    numpy backend (independent seeds; E arctan X and E arctan² X at T within K se)."""
    make, order, x0 = BUILTIN_SDES[name]
    kw = dict(T=0.5, dt=0.05, n_paths=20_000, quiet=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sde = sgd_sde(make(), 0.1, batch_size=2, weight_decay=0.05, order=order)
        compiled = sdesim.expectation(sde, x0, _arctan_moments, rng=1, **kw)
    reference = sdesim.expectation(sde, x0, _arctan_moments, rng=2, backend="numpy", **kw)
    _agree(compiled, reference, name)


class _PythonQuartic(Oracle):
    """A user oracle with Python methods only (and no numba kernels)."""

    d = 1

    def loss(self, x):
        return 0.25 * x[:, 0] ** 4

    def grad(self, x):
        return x**3

    def sample_grad(self, x, rng, batch_size=1):
        return x**3 + rng.standard_normal(x.shape) / np.sqrt(batch_size)

    def noise_cov(self, x, batch_size=1):
        return np.ones((x.shape[0], 1, 1)) / batch_size


def test_user_oracle_without_kernels_warns_naming_its_methods_and_still_runs():
    orc = _PythonQuartic()
    with pytest.warns(RuntimeWarning, match="is a Python method") as record:
        sde = sgd_sde(orc, 0.1, batch_size=2)
    text = [str(w.message) for w in record]
    assert any(r"_PythonQuartic.grad is a Python method" in m for m in text), text
    assert any(r"_PythonQuartic.noise_cov is a Python method" in m for m in text), text
    assert all("f/g" not in m and "from Python at every step" in m for m in text), text
    kw = dict(T=0.5, dt=0.05, n_paths=20_000, quiet=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the compiled SDE calls the methods through objmode
        compiled = sdesim.expectation(sde, [0.8], _arctan_moments, rng=1, **kw)
    _agree(compiled, sdesim.expectation(sde, [0.8], _arctan_moments, rng=2, backend="numpy",
                                        **kw), "objmode")
    python_grad = FunctionOracle(lambda x: x[:, 0],
                                 lambda x: x * np.linalg.norm(x, axis=1, keepdims=True), d=2,
                                 noise=GradientNoise(np.eye(2)))
    with pytest.warns(RuntimeWarning, match=r"numba could not compile the grad given to "
                                            r"FunctionOracle \(.*keepdims"):
        sgd_sde(python_grad, 0.1)


def test_sgd_sde_reuses_its_drift_and_so_the_compiled_kernel():
    orc = LinearRegression(*_DATA)
    a, b = sgd_sde(orc, 0.1, batch_size=2), sgd_sde(orc, 0.3, batch_size=4)
    assert a.f is b.f and a.g is not b.g        # order 1: the drift does not depend on η, B
    assert sgd_sde(orc, 0.1, batch_size=2).g is a.g
    assert sgd_sde(orc, 0.1, weight_decay=0.1).f is not a.f


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
    eq = measure_equilibrium(NoisyQuadratic(H, S), np.zeros(2), lr=lr, T=8.0, burn_in=4.0,
                             n_paths=4000, every=0.4, rng=3)
    R_exact = np.trace(sdesim.exact.sgd_stationary_cov(H, S, lr))
    G_exact = np.trace(H @ sdesim.exact.sgd_stationary_cov(H, S, lr) @ H)
    _assert_within(eq.R, R_exact, "R")
    _assert_within(eq.G, G_exact, "G")
    assert eq.N.mean == pytest.approx(2.0)
    kappa = critical_kappa(eq, C=np.sqrt(2))
    assert kappa.mean == pytest.approx(2 * (1 + 2.0 / eq.G.mean))


def test_scale_invariant_equilibrium_identity_lma_eq_11():
    rng = np.random.default_rng(4)
    orc = ScaleInvariantRegression(rng.standard_normal((16, 4)), rng.standard_normal(16))
    lr, wd = 0.5, 0.1
    eq = measure_equilibrium(orc, rng.standard_normal(4), lr=lr, batch_size=2, weight_decay=wd,
                             T=150.0, burn_in=100.0, every=2.5, n_paths=1000, rng=5)
    assert abs(eq.identity_gap.zscore(0.0)) <= K, eq.identity_gap
    assert eq.nsr.mean > 0


# ------------------------------------------------------------- LSI bounds (Theorems 5.5, 5.6)
def _eq(R, G, N, lr, B, wd):
    from sdesim.sgd import Equilibrium
    from sdesim.stats import Estimate
    e = lambda v: Estimate(v, 0.01 * v, 100)  # noqa: E731
    return Equilibrium(e(R), e(G), e(N), Estimate(N / G, 0.01 * N / G, 100), e(0.0), lr, B, wd,
                       "sgd")


@pytest.mark.parametrize("nu,lr,wd", [(20.0, 0.05, 0.1), (0.5, 0.2, 0.5), (3.0, 0.01, 1e-6)])
def test_sharp_critical_kappa_solves_its_equation_and_sharpens_thm_5_6(nu, lr, wd):
    from sdesim.sgd import lsi_bounds
    base = _eq(1.0, 1.0, nu, lr, 2, wd)
    ks = critical_kappa(base, bound="sharp").mean
    kl = critical_kappa(base).mean
    assert kl == pytest.approx(2 * (1 + nu))
    assert ks <= kl
    assert lsi_bounds(base, ks)["sharp"] == pytest.approx(2.0, rel=1e-12)  # C*² bound = C² there
    assert lsi_bounds(base, kl)["thm5.6"] == pytest.approx(2.0, rel=1e-12)
    if wd < 1e-3:  # ρ ≈ 1: κ* = C²(1 + ν) - ν
        assert ks == pytest.approx(2 * (1 + nu) - nu, rel=1e-4)
    # the delta-method stderr is the slope times se(ν)
    eps = 1e-6
    slope = (critical_kappa(_eq(1.0, 1.0, nu * (1 + eps), lr, 2, wd), bound="sharp").mean - ks) / (nu * eps)
    assert critical_kappa(base, bound="sharp").stderr == pytest.approx(abs(slope) * 0.01 * nu, rel=1e-4)


def test_lsi_bounds_hold_on_a_scale_invariant_pair():
    """Measured C*² of (B, η) vs (κB, κη) is at least every bound of LMA §5 (within K se)."""
    from sdesim.sgd import lsi_bounds, lsi_constant, lsi_fails
    rng = np.random.default_rng(6)
    A = rng.standard_normal((32, 4))
    orc = ScaleInvariantRegression(A, A @ rng.standard_normal(4) / 2 + 0.5 * rng.standard_normal(32))
    x0 = rng.standard_normal(4)
    kw = dict(weight_decay=0.1, T=40.0, burn_in=20.0, every=0.8, n_paths=400)
    base = measure_equilibrium(orc, x0, lr=0.05, batch_size=1, rng=7, **kw)
    for kappa, seed in [(4, 8), (32, 9)]:
        big = measure_equilibrium(orc, x0, lr=0.05 * kappa, batch_size=kappa, rng=seed, **kw)
        c2 = lsi_constant(base, big, kappa)
        bounds = lsi_bounds(base, kappa, big)
        assert bounds["sharp"] >= bounds["thm5.6"]
        for name, b in bounds.items():
            assert (c2.mean - b) / c2.stderr >= -K, (kappa, name, c2, b)
        assert lsi_fails(big, kappa) == (kappa == 32)  # Theorem 5.5 certifies κ = 32 here ...
        if lsi_fails(big, kappa):
            assert c2.mean > 2                         # ... and LSI did fail there


def test_lsi_helpers_bad_input():
    from sdesim.sgd import lsi_bounds, lsi_constant
    base, big = _eq(1.0, 1.0, 4.0, 0.1, 1, 0.1), _eq(1.2, 1.0, 1.0, 0.4, 4, 0.1)
    with pytest.raises(ValueError, match="scaled.lr"):
        lsi_constant(base, big, 2)
    with pytest.raises(ValueError, match="scaled.batch_size"):
        lsi_constant(base, _eq(1.2, 1.0, 1.0, 0.4, 3, 0.1), 4)
    with pytest.raises(ValueError, match="kappa"):
        lsi_bounds(base, 0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        lsi_bounds(base, 200)  # κηλ = 2: no equilibrium
    with pytest.raises(ValueError, match="bound"):
        critical_kappa(base, bound="thm5.7")
    assert lsi_constant(base, big, 4).mean == pytest.approx(1.44)


def test_modified_drift_uses_the_exact_hessian_of_the_scale_invariant_model():
    from sdesim.sgd import Oracle
    rng = np.random.default_rng(10)
    orc = ScaleInvariantRegression(rng.standard_normal((12, 3)), rng.standard_normal(12))
    x = rng.standard_normal((6, 3))
    g = orc.grad(x) + 0.1 * x
    fd = -(g + 0.5 * 0.2 * (Oracle.hessian_vector(orc, x, g) + 0.1 * g))
    np.testing.assert_allclose(modified_drift(orc, 0.2, weight_decay=0.1)(x), fd, rtol=1e-7,
                               atol=1e-9)


# -------------------------------------------- the order fit of validation/exp_sgd_svag.py
def test_svag_experiment_order_fit_covers_and_flags_degenerate_fits():
    from validation.exp_sgd_svag import fit_power_next
    h = 1 / np.array([4.0, 8, 16, 32, 64])
    cov = np.diag(np.full(5, 1e-4**2)) + 5e-5**2  # independent errors + a shared reference
    y = -0.2 * h * (1 + 0.5 * h + 0.3 * h**2)     # the omitted E h² term is in the data
    f = fit_power_next(h, y, cov)
    assert not f["degenerate"] and f["ci"][0] <= 1.0 <= f["ci"][1]
    assert abs(f["order"] - 1) <= f["allowance"] + 1e-3  # bias covered by the allowance
    # data outside the asymptotic range (the correction D h = 2 dominates at h_max) give a fit
    # that is reported as degenerate, not as an order
    g = fit_power_next(h, -0.2 * h * (1 + 8 * h), cov)
    assert abs(g["D"]) * h.max() > 1 and g["degenerate"]
