"""SGD / NGD / SVAG recursions: exact one-step (Lemma 4.7) and k-step moments, seeding, errors."""
import numpy as np
import pytest

from sdesim.exact import sgd_quadratic_moments
from sdesim.sgd import (FunctionOracle, LinearRegression, NoisyQuadratic, expectation,
                        moment_tensors, run, svag_coefficients)

K = 5.0


def _assert_within(est, exact, what):
    z = (est.mean - np.asarray(exact)) / np.maximum(est.stderr, 1e-15)
    assert np.all(np.abs(z) <= K), f"{what}: max |z| = {np.max(np.abs(z)):.2f}"


def _sym3(g, S):
    """3 * sym(g ⊗ S) for symmetric S: g_i S_jk + g_j S_ik + g_k S_ij."""
    return (np.einsum("i,jk->ijk", g, S) + np.einsum("j,ik->ijk", g, S)
            + np.einsum("k,ij->ijk", g, S))


def _lemma_4_7(g, S, Lam, lr, l, naive=False):
    """Exact moments of Δ = -(η/l)(∇L + ζ), docs/theory.md §C.3(c) ('naive': √l × one batch)."""
    h = lr / l
    mean = -h * g
    second = h**2 * (l * S + np.outer(g, g))
    c3 = l**1.5 if naive else (3 * l - 1) / 2
    third = -h**3 * (np.einsum("i,j,k->ijk", g, g, g) + l * _sym3(g, S) + c3 * Lam)
    return mean, second, third


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((9, 2)), rng.standard_normal(9)


@pytest.mark.parametrize("l", [1, 4, 16])
@pytest.mark.parametrize("problem", ["quadratic", "linreg-without"])
@pytest.mark.parametrize("method", ["svag", "naive"])
def test_one_step_increment_moments_lemma_4_7(problem, l, method):
    if problem == "quadratic":
        orc = NoisyQuadratic(np.diag([1.0, 3.0]), [[1.0, 0.4], [0.4, 0.6]], noise="skewed")
        B = 2
    else:
        orc = LinearRegression(*_data(), replacement=False)
        B = 3
    lr, n = 0.5, 400_000
    x0 = np.array([0.8, -0.5])
    p = run(orc, x0, T=lr / l, lr=lr, method=method, l=l, batch_size=B, n_paths=n, rng=100 * l + B,
            save_at=[lr / l], quiet=True)
    delta = p.xs[-1] - x0
    x1 = x0[None]
    g, S, Lam = orc.grad(x1)[0], orc.noise_cov(x1, B)[0], orc.noise_third_moment(x1, B)[0]
    assert np.max(np.abs(Lam)) > 1e-2
    mean, second, third = _lemma_4_7(g, S, Lam, lr, l, naive=(method == "naive"))
    zero = np.zeros(2)
    _assert_within(moment_tensors(delta, zero, 1), mean, "E Δ")
    _assert_within(moment_tensors(delta, zero, 2), second, "E ΔΔᵀ")
    _assert_within(moment_tensors(delta, zero, 3), third, "E Δ⊗3")


def test_svag_third_moment_differs_from_printed_lemma():
    """The printed Lemma 4.7 (iii) (sign, 1/l³ on the symmetrised term) is not what SVAG does."""
    orc = NoisyQuadratic([[1.0]], [[1.0]], noise="skewed")
    lr, l, n = 1.0, 4, 400_000
    p = run(orc, [1.0], T=lr / l, lr=lr, method="svag", l=l, n_paths=n, rng=1, quiet=True)
    est = moment_tensors(p.xs[-1] - 1.0, np.zeros(1), 3)
    g, S, Lam = 1.0, 1.0, 2.0
    printed = lr**3 / l**2 * (3 - 1 / l) / 2 * Lam + lr**3 / l**3 * (3 * g * S + g**3)
    corrected = _lemma_4_7(np.array([g]), np.array([[S]]), np.array([[[Lam]]]), lr, l)[2]
    _assert_within(est, corrected, "corrected Lemma 4.7 (iii)")
    assert abs(float(est.zscore(printed)[0, 0, 0])) > 10


def test_svag_coefficients():
    """c₁ + c₂ = 1 and c₁² + c₂² = l, to rounding (a few ulps of √(2l-1) and of l)."""
    eps = np.finfo(float).eps
    for l in [1, 2, 7.5, 64]:
        c1, c2 = svag_coefficients(l)
        assert abs(c1 + c2 - 1.0) <= 4 * eps * np.sqrt(2 * l - 1)
        assert abs(c1**2 + c2**2 - l) <= 8 * eps * l
    assert svag_coefficients(1.0) == (1.0, 0.0)


@pytest.mark.parametrize("method,l", [("sgd", 1), ("ngd", 1), ("svag", 4), ("naive", 4)])
def test_k_step_moments_on_quadratic_are_exact(method, l):
    """Linear recursion: SGD (any noise law) and SVAG (Cov ζ = lΣ, LR η/l) have the exact
    moments of sdesim.exact.sgd_quadratic_moments (docs/theory.md §C.1, §C.3)."""
    H = np.array([[1.0, 0.3], [0.3, 2.0]])
    S = np.array([[1.0, 0.2], [0.2, 0.5]])
    orc = NoisyQuadratic(H, S, x_star=[0.5, -0.2], noise="skewed")
    lr, T, B, n = 0.2, 1.0, 2, 100_000
    x0 = np.array([1.0, 1.0])
    p = run(orc, x0, T=T, lr=lr, method=method, l=l, batch_size=B, n_paths=n, save_at=[T], rng=3,
            quiet=True)
    exact = sgd_quadratic_moments(H, l * S / B, lr / l, x0, [0.5, -0.2], int(l * T / lr))
    x = p.xs[-1]
    _assert_within(moment_tensors(x, np.zeros(2), 1), exact.mean, f"{method} mean")
    _assert_within(moment_tensors(x, exact.mean, 2), exact.cov, f"{method} covariance")


def test_third_cumulant_svag_vs_ngd_1d():
    """1-d K₃ recursion of docs/theory.md §C.3: SVAG/SGD carry (3l-1)/2 Λ, NGD none."""
    lam, lr, T, s, Lam = 1.0, 0.5, 2.0, 1.0, 2.0
    orc = NoisyQuadratic([[lam]], [[s]], noise="skewed")
    for method, l in [("sgd", 1), ("svag", 2), ("ngd", 1)]:
        k = int(l * T / lr)
        mu = 1 - lr * lam / l
        k3 = 0.0 if method == "ngd" else \
            -(lr / l) ** 3 * (3 * l - 1) / 2 * Lam * (1 - mu ** (3 * k)) / (1 - mu**3)
        m = mu**k * 1.0
        est = expectation(orc, [1.0], lambda x: (x[:, 0] - m) ** 3, T=T, lr=lr, n_paths=400_000,
                          method=method, l=l, rng=5, quiet=True)
        assert abs(est.zscore(k3)) <= K, (method, est, k3)


def test_weight_decay_and_schedule_enter_the_step():
    orc = NoisyQuadratic([[1.0]], [[1.0]])
    p = run(orc, [1.0], T=0.3, lr=0.1, method="gd", weight_decay=0.5, rng=0, quiet=True,
            schedule=lambda t: 2.0 if t >= 0.1 else 1.0)
    expected = [1.0, 1 - 0.1 * 1.5, (1 - 0.15) * (1 - 0.2 * 1.5)]
    np.testing.assert_allclose(p.xs[:3, 0, 0], expected, rtol=1e-14)
    np.testing.assert_allclose(p.ts, [0, 0.1, 0.2, 0.3])


def test_results_depend_on_seed_and_chunk_size_only():
    orc = LinearRegression(*_data(), replacement=False)
    kw = dict(method="svag", l=2, batch_size=3, n_paths=100, rng=42, quiet=True)
    a = run(orc, [1.0, 0.0], T=0.5, lr=0.1, chunk_size=32, **kw).xs
    b = run(orc, [1.0, 0.0], T=0.5, lr=0.1, chunk_size=32, **kw).xs
    c = run(orc, [1.0, 0.0], T=0.5, lr=0.1, chunk_size=50, **kw).xs
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    e = expectation(orc, [1.0, 0.0], lambda x: x, T=0.5, lr=0.1, chunk_size=32, **kw)
    np.testing.assert_allclose(e.mean, a[-1].mean(axis=0), rtol=1e-12)


def test_noise_grid_couples_steps_at_shared_times():
    """With noise_grid, the step at SDE time t draws its minibatch from a generator keyed by t:
    SGD at η and at η/2 on the grid η/2 take the same batch at t = 0, so x^{η}_1 - x0 is exactly
    twice x^{η/2}_1 - x0; SVAG at l = 1 and 2 on the grid η/2 share SVAG's first batch."""
    orc = LinearRegression(*_data(), replacement=False)
    x0, lr = np.array([1.0, -0.5]), 0.2
    kw = dict(batch_size=3, n_paths=16, rng=9, quiet=True, noise_grid=lr / 2)
    coarse = run(orc, x0, T=lr, lr=lr, **kw).xs[1]
    fine = run(orc, x0, T=lr, lr=lr / 2, **kw).xs[1]
    np.testing.assert_allclose(coarse - x0, 2 * (fine - x0), rtol=1e-12)
    other = run(orc, x0, T=lr, lr=lr / 2, **{**kw, "rng": 10}).xs[1]
    assert not np.allclose(fine, other)
    # SVAG, l = 2, one step of η/2 from x0: c1 g_A + c2 g_B with g_A SGD's batch at t = 0
    c1, c2 = svag_coefficients(2)
    sv = run(orc, x0, T=lr / 2, lr=lr, method="svag", l=2, **kw).xs[1]
    g_a = (x0 - coarse) / lr
    g_b = ((x0 - sv) / (lr / 2) - c1 * g_a) / c2
    assert np.all(np.isfinite(g_b)) and not np.allclose(g_a, g_b)
    sv1 = run(orc, x0, T=lr, lr=lr, method="svag", l=1, **kw).xs[1]
    np.testing.assert_allclose(sv1, coarse, rtol=1e-14)


def test_noise_grid_keeps_the_law():
    """Keyed steps are independent: the k-step mean and covariance of SVAG on a quadratic stay
    the exact ones (docs/theory.md §C.3) with a grid finer than the step."""
    H = np.array([[1.0, 0.3], [0.3, 2.0]])
    S = np.array([[1.0, 0.2], [0.2, 0.5]])
    orc = NoisyQuadratic(H, S, x_star=[0.5, -0.2], noise="skewed")
    lr, T, B, n, l = 0.2, 1.0, 2, 100_000, 2
    x0 = np.array([1.0, 1.0])
    p = run(orc, x0, T=T, lr=lr, method="svag", l=l, batch_size=B, n_paths=n, save_at=[T],
            rng=4, quiet=True, noise_grid=lr / (2 * l))
    exact = sgd_quadratic_moments(H, l * S / B, lr / l, x0, [0.5, -0.2], int(l * T / lr))
    _assert_within(moment_tensors(p.xs[-1], np.zeros(2), 1), exact.mean, "mean")
    _assert_within(moment_tensors(p.xs[-1], exact.mean, 2), exact.cov, "covariance")


# ---------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs,match", [
    (dict(lr=0.0), "lr"), (dict(lr=-1.0), "lr"), (dict(l=0.5, method="svag"), "l must be"),
    (dict(batch_size=0), "batch_size"), (dict(batch_size=10), "batch_size"),
    (dict(method="adam"), "method"), (dict(T=0.25), "integer number of steps"),
    (dict(weight_decay=-1.0), "weight_decay"), (dict(x0=[1.0, 2.0, 3.0]), "x0"),
    (dict(n_paths=0), "n_paths"),
    (dict(noise_grid=0.03), r"noise_grid must divide the step 0.1"),
    (dict(noise_grid=0.0), "noise_grid"),
    (dict(batch_size=2.5), "batch_size must be an integer >= 1, got 2.5"),
    # arguments a method would ignore are refused, naming the argument and the method
    (dict(method="sgd", l=4), r"l \(SVAG's amplification\) only applies to method='svag' or "
                              r"'naive'; method='sgd' would ignore it"),
    (dict(method="ngd", l=2), r"l .* method='ngd' would ignore it"),
    (dict(method="gd", l=4), r"l .* method='gd' would ignore it"),
    (dict(method="gd", batch_size=3), r"batch_size does not apply to method='gd'"),
])
def test_bad_input_names_the_argument(kwargs, match):
    orc = LinearRegression(*_data(), replacement=False)
    args = dict(x0=[1.0, 0.0], lr=0.1, T=0.2, n_paths=4, rng=0, quiet=True)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        run(orc, args.pop("x0"), **args)


def test_user_oracle_with_wrong_shape_fails_before_running():
    orc = FunctionOracle(lambda x: np.sum(x**2, axis=1), lambda x: 2 * x.ravel(), d=2)
    with pytest.raises(ValueError, match=r"oracle\.grad"):
        run(orc, [1.0, 1.0], T=1.0, lr=0.1, method="gd", quiet=True)
    with pytest.raises(TypeError, match="oracle"):
        run(object(), [1.0], T=1.0, lr=0.1, quiet=True)


def test_gradient_estimate_checks_method_arguments_too():
    from sdesim.sgd import gradient_estimate
    orc = LinearRegression(*_data())
    x = np.ones((3, 2))
    with pytest.raises(ValueError, match=r"l .* method='sgd' would ignore it"):
        gradient_estimate(orc, "sgd", x, np.random.default_rng(0), 2, l=4)
    with pytest.raises(ValueError, match="batch_size does not apply to method='gd'"):
        gradient_estimate(orc, "gd", x, None, 2)
    with pytest.raises(ValueError, match="method must be one of"):
        gradient_estimate(orc, "adam", x, None)
    np.testing.assert_array_equal(gradient_estimate(orc, "gd", x, None), orc.grad(x))


def test_signatures_are_keyword_only_and_name_phi():
    """T and lr are keyword-only everywhere (their order is not obvious); the test function of
    expectation is ``phi`` (``g`` is an SDE's diffusion): the old keyword names the new one."""
    from sdesim.sgd import gd, measure_equilibrium, ngd, sgd, svag
    orc = NoisyQuadratic([[1.0]])
    for fn in (run, gd, sgd, ngd, svag):
        with pytest.raises(TypeError, match="positional argument"):
            fn(orc, [1.0], 1.0, 0.1)
    with pytest.raises(TypeError, match="positional argument"):
        measure_equilibrium(orc, [1.0], 0.1, T=1.0, burn_in=0.5, n_paths=4)
    with pytest.raises(TypeError, match=r"no argument 'g': it is now called 'phi'"):
        expectation(orc, [1.0], g=lambda x: x[:, 0], T=1.0, lr=0.1, n_paths=4, quiet=True)
    est = expectation(orc, [1.0], phi=lambda x: 2 * x[:, 0], T=1.0, lr=0.1, n_paths=4,
                      method="gd", quiet=True)
    x = 1.0
    for _ in range(10):
        x = x - 0.1 * x
    assert (est.mean, est.stderr, est.n) == (2 * x, 0.0, 4)   # GD: every path the same


def test_expectation_needs_two_paths_and_says_so_before_running():
    calls = []

    def grad(x):
        calls.append(x.shape)
        return x

    orc = FunctionOracle(lambda x: 0.5 * np.sum(x**2, axis=1), grad, d=1)
    for n in (1, 0):
        with pytest.raises(ValueError, match="n_paths must be >= 2"):
            expectation(orc, [1.0], lambda x: x[:, 0], T=1.0, lr=0.1, n_paths=n, method="gd",
                        quiet=True)
    assert calls == []


def test_a_diverging_sgd_run_names_lr_and_the_paths_that_diverged():
    # lr = 1.5 on curvature 2: |1 - 1.5*2| = 2 per step; the states grow to ~1e308 and
    # overflow in a few paths first (finite states whose sum overflows are not divergence)
    from sdesim import SimulationDiverged
    orc = NoisyQuadratic(np.diag([1.0, 2.0]), np.eye(2))
    with pytest.raises(SimulationDiverged, match=r"lr = 1\.5\) in [1-9]\d* of 100 paths.*"
                                                  r"reduce lr or check the gradients"):
        expectation(orc, [1.0, 1.0], lambda x: x[:, 1], T=3000.0, lr=1.5, n_paths=100,
                        rng=0, quiet=True)
    with pytest.raises(OverflowError, match="too large for float64"):
        expectation(orc, [1.0, 1.0], lambda x: x[:, 1], T=1500.0, lr=1.5, n_paths=100,
                        rng=0, quiet=True)
