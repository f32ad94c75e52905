"""Oracles: minibatch gradients have mean ∇L, covariance Σ(x) and third moment Λ(x), exactly.

Statistical tests at fixed seeds; tolerances are K standard errors of each tensor entry.
"""
import numba
import numpy as np
import pytest

from sdesim.sgd import (Ackley, DoubleWell, FunctionOracle, GradientNoise, LinearRegression,
                        NoisyQuadratic, Oracle, ScaleInvariantRegression, moment_tensors,
                        psd_sqrt)

K = 5.0
N_SAMPLES = 200_000


def _data(N=12, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((N, d)), rng.standard_normal(N)


ORACLES = {
    "quad-gaussian": lambda: NoisyQuadratic(np.diag([1.0, 2.0]), [[1.0, 0.3], [0.3, 0.5]]),
    "quad-skewed": lambda: NoisyQuadratic(np.diag([1.0, 2.0]), [[1.0, 0.3], [0.3, 0.5]],
                                          noise="skewed"),
    "quad-student": lambda: NoisyQuadratic(np.eye(2), [[1.0, 0.3], [0.3, 0.5]],
                                           noise="student_t", df=7.0),
    "linreg-with": lambda: LinearRegression(*_data(), replacement=True),
    "linreg-without": lambda: LinearRegression(*_data(), replacement=False),
    "scaleinv-with": lambda: ScaleInvariantRegression(*_data(), replacement=True),
    "scaleinv-without": lambda: ScaleInvariantRegression(*_data(), replacement=False),
    "doublewell": lambda: DoubleWell(0.5, 0.7, noise="skewed"),
    "ackley": lambda: Ackley(np.diag([0.5, 2.0])),
}


def _state(orc, n):
    x = 0.3 + 0.1 * np.arange(orc.d)
    return np.broadcast_to(x, (n, orc.d)).copy()


def _assert_within(est, exact, what):
    exact = np.asarray(exact)
    se = np.maximum(est.stderr, 1e-15)
    z = (est.mean - exact) / se
    assert np.all(np.abs(z) <= K), f"{what}: max |z| = {np.max(np.abs(z)):.2f}"


@pytest.mark.parametrize("name", list(ORACLES))
@pytest.mark.parametrize("B", [1, 5])
def test_sample_grad_mean_and_covariance(name, B):
    orc = ORACLES[name]()
    x = _state(orc, N_SAMPLES)
    g = orc.grad(x[:1])[0]
    samples = orc.sample_grad(x, np.random.default_rng([list(ORACLES).index(name), B]), B)
    _assert_within(moment_tensors(samples, np.zeros(orc.d), order=1), g, f"{name} mean")
    _assert_within(moment_tensors(samples, g, order=2), orc.noise_cov(x[:1], B)[0],
                   f"{name} covariance")


@pytest.mark.parametrize("name", ["quad-skewed", "linreg-with", "linreg-without",
                                  "scaleinv-without"])
def test_sample_grad_third_moment(name):
    B = 3
    orc = ORACLES[name]()
    x = _state(orc, N_SAMPLES)
    g = orc.grad(x[:1])[0]
    samples = orc.sample_grad(x, np.random.default_rng(7), B)
    lam = orc.noise_third_moment(x[:1], B)[0]
    assert np.max(np.abs(lam)) > 0.01  # the law really is skewed
    _assert_within(moment_tensors(samples, g, order=3), lam, f"{name} third moment")


@pytest.mark.parametrize("name", ["quad-skewed", "linreg-with", "linreg-without", "scaleinv-with"])
def test_gaussian_grad_matches_sgd_covariance_and_has_no_skew(name):
    """NGD (eq. 3), incl. the per-example-weight trick on finite sums (docs/theory.md §A.3)."""
    B = 4
    orc = ORACLES[name]()
    x = _state(orc, N_SAMPLES)
    g = orc.grad(x[:1])[0]
    samples = orc.gaussian_grad(x, np.random.default_rng(11), B)
    _assert_within(moment_tensors(samples, np.zeros(orc.d), order=1), g, f"{name} NGD mean")
    _assert_within(moment_tensors(samples, g, order=2), orc.noise_cov(x[:1], B)[0],
                   f"{name} NGD covariance")
    _assert_within(moment_tensors(samples, g, order=3), 0.0, f"{name} NGD third moment")


def test_without_replacement_factor_and_full_batch():
    A, y = _data(N=10)
    x = np.full((1, 3), 0.2)
    w = LinearRegression(A, y, replacement=True).noise_cov(x, 4)[0]
    wo = LinearRegression(A, y, replacement=False).noise_cov(x, 4)[0]
    np.testing.assert_allclose(wo, w * (10 - 4) / (10 - 1), rtol=1e-12)
    full = LinearRegression(A, y, replacement=False)
    assert np.allclose(full.noise_cov(x, 10), 0.0)
    g = full.sample_grad(np.repeat(x, 3, axis=0), np.random.default_rng(0), 10)
    np.testing.assert_allclose(g, np.repeat(full.grad(x), 3, axis=0), rtol=1e-12)


def test_scale_invariance_identities():
    orc = ScaleInvariantRegression(*_data())
    x = np.random.default_rng(1).standard_normal((50, 3))
    g = orc.sample_grad(x, np.random.default_rng(2), 4)
    np.testing.assert_allclose(np.sum(g * x, axis=1), 0.0, atol=1e-12)  # <∇L_γ(x), x> = 0
    np.testing.assert_allclose(orc.loss(3.0 * x), orc.loss(x), rtol=1e-12)
    np.testing.assert_allclose(orc.grad(3.0 * x), orc.grad(x) / 3.0, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", orc.noise_cov(x, 2), x), 0.0, atol=1e-12)


@pytest.mark.parametrize("name", ["linreg-with", "doublewell", "quad-gaussian", "scaleinv-with",
                                  "scaleinv-without", "ackley"])
def test_hessian_vector_exact_matches_finite_differences(name):
    orc = ORACLES[name]()
    assert type(orc).hessian_vector is not Oracle.hessian_vector  # a closed form, not differences
    rng = np.random.default_rng(3)
    x, v = rng.standard_normal((20, orc.d)), rng.standard_normal((20, orc.d))
    exact = orc.hessian_vector(x, v)
    fd = Oracle.hessian_vector(orc, x, v)  # the base class's central differences
    # FD error is O(ε²) ≈ 1e-10 relative to the Hessian's scale (Ackley's entries reach ~1e2)
    scale = np.max(np.abs(exact), axis=1, keepdims=True)
    err = np.abs(fd - exact) / (1 + scale)
    assert np.all(err < 1e-7), f"{name}: max scaled |FD - exact| = {err.max():.2e}"


@pytest.mark.parametrize("name", ["scaleinv-with", "ackley", "linreg-without"])
def test_hessian_vector_is_symmetric_and_linear(name):
    orc = ORACLES[name]()
    rng = np.random.default_rng(8)
    x, v, w = (rng.standard_normal((30, orc.d)) for _ in range(3))
    Hv, Hw = orc.hessian_vector(x, v), orc.hessian_vector(x, w)
    np.testing.assert_allclose(np.sum(w * Hv, axis=1), np.sum(v * Hw, axis=1), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(orc.hessian_vector(x, 2 * v - 3 * w), 2 * Hv - 3 * Hw,
                               rtol=1e-10, atol=1e-10)


def test_scale_invariant_hessian_identities():
    """Differentiating <∇L(x), x> = 0 gives ∇²L(x) x = -∇L(x); ∇²L(cx) = ∇²L(x)/c²."""
    orc = ORACLES["scaleinv-with"]()
    rng = np.random.default_rng(9)
    x, v = rng.standard_normal((25, orc.d)), rng.standard_normal((25, orc.d))
    np.testing.assert_allclose(orc.hessian_vector(x, x), -orc.grad(x), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(orc.hessian_vector(2.5 * x, v), orc.hessian_vector(x, v) / 6.25,
                               rtol=1e-10, atol=1e-13)


def test_ackley_hessian_at_the_origin_keeps_only_the_cosine_term():
    orc = Ackley()
    v = np.array([[1.0, -2.0]])
    # the radial term is not differentiable at 0 and is taken as 0 there (as in grad)
    np.testing.assert_allclose(orc.hessian_vector(np.zeros((1, 2)), v),
                               np.e * 2 * np.pi**2 * v, rtol=1e-14)


@pytest.mark.parametrize("name", list(ORACLES))
@pytest.mark.parametrize("B", [1, 5, 12])
def test_noise_trace_is_the_trace_of_noise_cov(name, B):
    orc = ORACLES[name]()
    x = np.random.default_rng(10).standard_normal((15, orc.d))
    np.testing.assert_allclose(orc.noise_trace(x, B),
                               np.trace(orc.noise_cov(x, B), axis1=1, axis2=2), rtol=1e-10,
                               atol=1e-14)


def test_grad_is_gradient_of_loss():
    """Central differences with step ε = 1e-6: truncation ε² |L'''| / 6 (below 1e-10 here)
    plus rounding about 2 ulp(L) / ε (|L| < 10: below 5e-9), so 5e-8 + 1e-8 |grad L| bounds it."""
    for name in ["linreg-with", "scaleinv-with", "doublewell", "ackley", "quad-skewed"]:
        orc = ORACLES[name]()
        x = np.random.default_rng(4).uniform(0.2, 1.2, (5, orc.d))
        eps = 1e-6
        fd = np.stack([(orc.loss(x + eps * e) - orc.loss(x - eps * e)) / (2 * eps)
                       for e in np.eye(orc.d)], axis=1)
        assert np.max(np.abs(orc.loss(x))) < 10, name
        np.testing.assert_allclose(orc.grad(x), fd, rtol=1e-8, atol=5e-8, err_msg=name)


def test_stable_noise_has_no_covariance_but_exact_batch_scaling():
    nz = GradientNoise([[1.0]], "stable", alpha=1.5)
    with pytest.raises(ValueError, match="covariance"):
        nz.cov(2)
    # the mean of B standard SαS is B^{1/α - 1} SαS: rescaled by B^{1 - 1/α}, the minibatch
    # noise is standard SαS for every B. Its sample quartiles against the exact ones, with the
    # asymptotic standard error sqrt(p(1-p)/n) / f(q_p) of a sample quantile
    from scipy.stats import levy_stable
    rng = np.random.default_rng(5)
    n, p = 200_000, np.array([0.25, 0.75])
    q = levy_stable.ppf(p, 1.5, 0.0)
    se = np.sqrt(p * (1 - p) / n) / levy_stable.pdf(q, 1.5, 0.0)
    for B in (1, 4):
        x = nz.sample(rng, n, B)[:, 0] * B ** (1 - 1 / 1.5)
        assert np.all(np.abs(np.quantile(x, p) - q) <= K * se), B


# ---------------------------------------------------------------------------------- bad input
def test_bad_batch_sizes_name_the_argument():
    orc = LinearRegression(*_data(N=8), replacement=False)
    with pytest.raises(ValueError, match="batch_size"):
        orc.check_batch_size(0)
    with pytest.raises(ValueError, match="batch_size"):
        orc.check_batch_size(9)
    assert LinearRegression(*_data(N=8)).check_batch_size(20) == 20  # fine with replacement
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 2.5"):
        orc.check_batch_size(2.5)
    with pytest.raises(TypeError, match="batch_size"):
        orc.check_batch_size("4")
    assert orc.check_batch_size(4.0) == 4


BATCH_METHODS = {
    "sample_grad": lambda orc, x, B: orc.sample_grad(x, np.random.default_rng(0), B),
    "gaussian_grad": lambda orc, x, B: orc.gaussian_grad(x, np.random.default_rng(0), B),
    "noise_cov": lambda orc, x, B: orc.noise_cov(x, B),
    "noise_trace": lambda orc, x, B: orc.noise_trace(x, B),
    "noise_third_moment": lambda orc, x, B: orc.noise_third_moment(x, B),
}
BATCH_ORACLES = dict(ORACLES, **{
    "function-noise": lambda: FunctionOracle(lambda x: np.sum(x**2, axis=1), lambda x: 2 * x, d=2,
                                             noise=GradientNoise(np.eye(2), "skewed")),
    "function-sample": lambda: FunctionOracle(
        lambda x: np.sum(x**2, axis=1), lambda x: 2 * x, d=2, n_examples=4, replacement=False,
        sample_grad=lambda x, rng, B: 2 * x + rng.standard_normal(x.shape) / np.sqrt(B),
        noise_cov=lambda x, B: np.broadcast_to(np.eye(2) / B, (x.shape[0], 2, 2))),
})


@pytest.mark.parametrize("name", list(BATCH_ORACLES))
@pytest.mark.parametrize("method", list(BATCH_METHODS))
def test_every_oracle_method_checks_batch_size(name, method):
    """One check everywhere: B < 1 or not an integer raises a ValueError naming batch_size (no
    NaN from a division by B = 0), and so does B > N without replacement."""
    orc = BATCH_ORACLES[name]()
    x = _state(orc, 3)
    for bad in (0, -2, 2.5):
        with pytest.raises(ValueError, match=rf"batch_size must be an integer >= 1, got {bad}"):
            BATCH_METHODS[method](orc, x, bad)
    if orc.n_examples is not None and not orc.replacement:
        with pytest.raises(ValueError, match="batch_size must be <= the data set size"):
            BATCH_METHODS[method](orc, x, orc.n_examples + 1)


def test_noise_law_batch_size_and_ignored_arguments():
    nz = GradientNoise(np.eye(2))
    for call in (lambda: nz.sample(np.random.default_rng(0), 3, 0), lambda: nz.cov(0.5),
                 lambda: nz.third_moment(-1)):
        with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
            call()
    with pytest.raises(ValueError, match="df is only used with noise='student_t'"):
        GradientNoise(np.eye(2), "gaussian", df=5.0)
    with pytest.raises(ValueError, match="alpha is only used with noise='stable'"):
        NoisyQuadratic(np.eye(2), noise="skewed", alpha=1.5)


# ------------------------------------------------------------------------- numba kernels
def _compiled_call(fn, params, *args):
    """Call the kernel from numba-compiled code, with its parameters frozen as sgd_sde does."""
    if len(args) == 1:
        return numba.njit(lambda x: fn(x, params))(*args)
    return numba.njit(lambda x, v: fn(x, v, params))(*args)


@pytest.mark.parametrize("name", ["quad-gaussian", "linreg-without", "scaleinv-with",
                                  "doublewell", "ackley"])
def test_builtin_numba_kernels_equal_the_methods(name):
    orc = ORACLES[name]()
    rng = np.random.default_rng(3)
    x, v = rng.standard_normal((6, orc.d)), rng.standard_normal((6, orc.d))
    np.testing.assert_allclose(_compiled_call(*orc.numba_kernel("grad"), x), orc.grad(x),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(_compiled_call(*orc.numba_kernel("hessian_vector"), x, v),
                               orc.hessian_vector(x, v), rtol=1e-12, atol=1e-14)
    if orc.n_examples is not None:
        np.testing.assert_allclose(_compiled_call(*orc.numba_kernel("noise_cov", 3), x),
                                   orc.noise_cov(x, 3), rtol=1e-12, atol=1e-14)


def test_numba_kernel_of_function_oracles_and_user_subclasses():
    orc = FunctionOracle(lambda x: np.sum(x**4, axis=1) / 4, lambda x: x**3, d=2,
                         sample_grad=lambda x, rng, B: x**3,
                         noise_cov=lambda x, B: np.zeros((x.shape[0], 2, 2)) + 0.5 / B)
    x = np.random.default_rng(4).standard_normal((5, 2))
    np.testing.assert_allclose(_compiled_call(*orc.numba_kernel("grad"), x), x**3, rtol=1e-14)
    # no hessian_vector given: central differences of the compiled grad, as the method
    np.testing.assert_allclose(_compiled_call(*orc.numba_kernel("hessian_vector"), x, x),
                               orc.hessian_vector(x, x), rtol=1e-9)
    np.testing.assert_allclose(_compiled_call(*orc.numba_kernel("noise_cov", 2), x), 0.25)
    python_only = FunctionOracle(lambda x: x[:, 0],
                                 lambda x: np.linalg.norm(x, axis=1, keepdims=True) * x, d=2)
    with pytest.raises(NotImplementedError, match="numba could not compile the grad given to "
                                                  "FunctionOracle"):
        python_only.numba_kernel("grad")

    class Mine(Oracle):
        d = 1

        def loss(self, x):
            return x[:, 0] ** 2

        def grad(self, x):
            return 2 * x

        def sample_grad(self, x, rng, batch_size=1):
            return 2 * x

    with pytest.raises(NotImplementedError, match=r"Mine\.grad is a Python method"):
        Mine().numba_kernel("grad")


def test_compiled_psd_sqrt_equals_numpy_on_singular_matrices():
    """The Jacobi form numba runs (psd_sqrt in compiled code, e.g. the diffusion of sgd_sde) is
    the symmetric root numpy's eigh gives, to rounding, also for rank-deficient Σ (the
    scale-invariant model has Σx = 0)."""
    sqrt = numba.njit(lambda S: psd_sqrt(S))   # the compiled form, as sgd_sde's diffusion
    rng = np.random.default_rng(5)
    for d in (1, 2, 3, 5):
        for rank in range(d + 1):
            G = rng.standard_normal((40, d, rank)) * np.exp(3 * rng.standard_normal((40, 1, rank)))
            S = G @ np.swapaxes(G, 1, 2)
            R = sqrt(S)
            scale = np.max(np.abs(S), axis=(1, 2), keepdims=True) + 1e-300
            np.testing.assert_allclose(R @ R / scale, S / scale, atol=1e-13)
            np.testing.assert_allclose(R, np.swapaxes(R, 1, 2), atol=1e-13 * np.sqrt(scale).max())
            np.testing.assert_allclose(R / np.sqrt(scale), psd_sqrt(S) / np.sqrt(scale), atol=1e-7)


def test_bad_oracle_construction():
    with pytest.raises(ValueError, match="noise"):
        NoisyQuadratic(np.eye(2), noise="cauchy")
    with pytest.raises(ValueError, match="Sigma"):
        NoisyQuadratic(np.eye(2), -np.eye(2))
    with pytest.raises(ValueError, match="df"):
        NoisyQuadratic(np.eye(2), noise="student_t", df=2.0)
    with pytest.raises(ValueError, match="alpha"):
        NoisyQuadratic(np.eye(2), noise="stable", alpha=2.5)
    with pytest.raises(ValueError, match="y"):
        LinearRegression(np.ones((4, 2)), np.ones(3))
    with pytest.raises(TypeError, match="grad"):
        FunctionOracle(lambda x: x[:, 0], "not callable", d=1)
    with pytest.raises(ValueError, match="noise is only used without sample_grad"):
        FunctionOracle(lambda x: x[:, 0], lambda x: x, d=1, noise=GradientNoise([[1.0]]),
                       sample_grad=lambda x, rng, B: x)
    with pytest.raises(ValueError, match="replacement=False needs n_examples"):
        FunctionOracle(lambda x: x[:, 0], lambda x: x, d=1, replacement=False)


def test_user_oracle_with_wrong_shapes_is_reported_by_method():
    good_loss = lambda x: np.sum(x**2, axis=1)  # noqa: E731
    bad_grad = FunctionOracle(good_loss, lambda x: 2 * x[:, 0], d=2)
    with pytest.raises(ValueError, match=r"oracle\.grad\(x\) must return shape \(2, 2\)"):
        bad_grad.check(np.ones((2, 2)))
    bad_loss = FunctionOracle(lambda x: x, lambda x: 2 * x, d=2)
    with pytest.raises(ValueError, match=r"oracle\.loss"):
        bad_loss.check(np.ones((2, 2)))
    bad_sample = FunctionOracle(good_loss, lambda x: 2 * x, d=2,
                                sample_grad=lambda x, rng, B: np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"oracle\.sample_grad"):
        bad_sample.check(np.ones((2, 2)))
    bad_cov = FunctionOracle(good_loss, lambda x: 2 * x, d=2,
                             sample_grad=lambda x, rng, B: 2 * x, noise_cov=lambda x, B: np.eye(2))
    with pytest.raises(ValueError, match="noise_cov"):
        bad_cov.noise_cov(np.ones((3, 2)), 1)
    with pytest.raises(ValueError, match="x0"):
        bad_cov.check(np.ones((2, 3)))
