"""simulate / expectation: backend agreement, seeding, exact references, streaming, errors."""
import numpy as np
import pytest

import sdesim


def _lin2():
    """2-d linear SDE with two non-commuting multiplicative noise matrices."""
    A = np.array([[-1.0, 0.5], [0.0, -0.8]])
    B1 = np.array([[0.0, 0.4], [0.0, 0.0]])
    B2 = np.array([[0.0, 0.0], [0.3, 0.0]])
    return A, [B1, B2]


def _user_sdes():
    """User-written SDEs (plain arithmetic, so numba reproduces numpy bit for bit)."""
    diag = sdesim.SDE(lambda t, x: -x * x * x + 0.5 * x, lambda t, x: 0.3 + 0.1 * x, d=2)
    scalar = sdesim.SDE(lambda t, x: -x, lambda t, x: 0.2 * x, d=3, noise="scalar")
    additive = sdesim.SDE(lambda t, x: 1.0 - x, np.array([0.5, 0.4]), d=2, noise="additive")
    return {"diag": diag, "scalar": scalar, "additive": additive}


BITWISE = {
    "ou": lambda: sdesim.ou(1.5, [0.5, 1.0, 0.2]),
    "gbm": lambda: sdesim.gbm(0.5, 0.4),
    **{f"user-{k}": (lambda v=v: v) for k, v in _user_sdes().items()},
}


@pytest.mark.parametrize("name", sorted(BITWISE))
def test_numpy_and_numba_agree_bitwise(name):
    sde = BITWISE[name]()
    x0 = np.full(sde.d, 0.8)
    kw = dict(T=0.5, dt=0.01, n_paths=300, rng=7, chunk_size=64, quiet=True, save_at=[0.1, 0.5])
    a = sdesim.simulate(sde, x0, backend="numpy", **kw)
    b = sdesim.simulate(sde, x0, backend="numba-numpy-rng", **kw)
    assert np.array_equal(a.xs, b.xs)


def test_general_noise_and_stable_agree_to_rounding():
    # einsum/BLAS and numba sum over the noise index in different orders; sin/cos/pow of the
    # stable sampler may differ in the last bit: agreement is to rounding, not bitwise.
    A, Bs = _lin2()
    matrix_additive = sdesim.SDE(lambda t, x: 1.0 - x, np.array([[0.5, 0.1], [0.0, 0.4]]), d=2,
                                 noise="additive")
    for sde in (sdesim.linear(A, Bs), sdesim.ou(1.0, 1.0, d=2, driver=sdesim.Stable([1.4, 1.9])),
                matrix_additive):
        kw = dict(T=0.5, dt=0.01, n_paths=200, rng=3, chunk_size=50, quiet=True)
        a = sdesim.simulate(sde, np.ones(2), backend="numpy", **kw)
        b = sdesim.simulate(sde, np.ones(2), backend="numba-numpy-rng", **kw)
        np.testing.assert_allclose(a.xs, b.xs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["numba", "numba-numpy-rng"])
def test_numba_result_independent_of_threads(backend):
    sde = sdesim.ou(1.0, 0.7, d=4)
    kw = dict(T=1.0, dt=0.01, n_paths=1000, rng=123, chunk_size=64, quiet=True, save_at=[1.0],
              backend=backend)
    one = sdesim.simulate(sde, np.zeros(4), n_threads=1, **kw)
    two = sdesim.simulate(sde, np.zeros(4), n_threads=2, **kw)
    assert np.array_equal(one.xs, two.xs)


def test_seed_types_and_reproducibility():
    sde = sdesim.gbm(0.1, 0.2)
    kw = dict(x0=1.0, T=1.0, dt=0.1, n_paths=50, quiet=True)
    a = sdesim.simulate(sde, rng=5, **kw)
    b = sdesim.simulate(sde, rng=np.random.SeedSequence(5), **kw)
    c = sdesim.simulate(sde, rng=6, **kw)
    assert np.array_equal(a.xs, b.xs) and not np.array_equal(a.xs, c.xs)
    sdesim.simulate(sde, rng=np.random.default_rng(0), **kw)
    with pytest.raises(TypeError, match="rng"):
        sdesim.simulate(sde, rng="seed", **kw)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_gbm_moments_match_exact_em_chain(backend):
    mu, sigma, h, n = 0.5, 0.4, 0.1, 10
    exact = sdesim.exact.em_chain_moments([[mu]], [[[sigma]]], [1.0], h, n)
    est = sdesim.expectation(sdesim.gbm(mu, sigma), 1.0,
                             lambda x: np.stack([x[:, 0], x[:, 0] ** 2], 1), T=1.0, dt=h,
                             n_paths=200_000, rng=1, backend=backend, quiet=True)
    z = est.zscore([exact.mean[0], exact.second[0, 0]])
    assert np.all(np.abs(z) < 4.5), z


def test_linear_noncommuting_second_moments_match_em_chain():
    A, Bs = _lin2()
    h, n = 0.05, 20
    exact = sdesim.exact.em_chain_moments(A, Bs, [1.0, -0.5], h, n)
    phi = lambda x: np.stack([x[:, 0], x[:, 1], x[:, 0] ** 2, x[:, 0] * x[:, 1], x[:, 1] ** 2], 1)
    est = sdesim.expectation(sdesim.linear(A, Bs), [1.0, -0.5], phi, T=1.0, dt=h,
                             n_paths=200_000, rng=4, quiet=True)
    P = exact.second
    ref = [exact.mean[0], exact.mean[1], P[0, 0], P[0, 1], P[1, 1]]
    assert np.all(np.abs(est.zscore(ref)) < 4.5)


def test_ou_covariance_at_several_times_matches_em_chain():
    A = np.array([[1.0, 0.3], [0.0, 2.0]])
    B = np.array([[0.5, 0.0], [0.2, 0.7]])
    h = 0.02
    times = [0.1, 0.5, 1.0]
    phi = lambda x: np.stack([x[:, 0], x[:, 0] ** 2, x[:, 0] * x[:, 1], x[:, 1] ** 2], 1)
    est = sdesim.expectation(sdesim.ou(A, B), [1.0, 1.0], phi, T=1.0, dt=h, n_paths=100_000,
                             times=times, rng=8, quiet=True)
    assert est.mean.shape == (3, 4)
    for k, t in enumerate(times):
        m = sdesim.exact.ou_em_chain_moments(A, B, [1.0, 1.0], h, round(t / h))
        P = m.second
        ref = [m.mean[0], P[0, 0], P[0, 1], P[1, 1]]
        assert np.all(np.abs((est.mean[k] - ref) / est.stderr[k]) < 4.5)


def test_expectation_streams_what_simulate_returns():
    sde = sdesim.ou(1.0, 1.0, d=2)
    kw = dict(T=1.0, dt=0.05, rng=2, chunk_size=100, quiet=True)
    p = sdesim.simulate(sde, [0.5, 0.5], n_paths=1000, save_at=[1.0], **kw)
    e = sdesim.expectation(sde, [0.5, 0.5], lambda x: x, n_paths=1000, **kw)
    np.testing.assert_allclose(e.mean, p.xs[0].mean(0), rtol=1e-12)
    np.testing.assert_allclose(e.stderr, p.xs[0].std(0, ddof=1) / np.sqrt(1000), rtol=1e-10)


def test_expectation_shapes():
    sde = sdesim.ou(1.0, 1.0)
    kw = dict(x0=0.0, T=1.0, dt=0.1, n_paths=100, rng=0, quiet=True)
    assert np.ndim(sdesim.expectation(sde, phi=lambda x: x[:, 0], **kw).mean) == 0
    assert sdesim.expectation(sde, phi=lambda x: x, **kw).mean.shape == (1,)
    assert sdesim.expectation(sde, phi=lambda x: x[:, 0], times=[0.5, 1.0], **kw).mean.shape == (2,)


def test_expectation_levels_coupled_differences_have_small_variance():
    sde = sdesim.gbm(0.5, 0.4)
    kw = dict(T=1.0, dts=[1 / 8, 1 / 16, 1 / 32], n_paths=50_000, rng=0, quiet=True)
    le = sdesim.expectation_levels(sde, 1.0, lambda x: x[:, 0] ** 2, **kw)
    ind = sdesim.expectation_levels(sde, 1.0, lambda x: x[:, 0] ** 2, coupled=False, **kw)
    var_diff_coupled = le.cov[0, 0] + le.cov[1, 1] - 2 * le.cov[0, 1]
    var_diff_indep = ind.cov[0, 0] + ind.cov[1, 1]
    assert var_diff_coupled < 0.1 * var_diff_indep
    assert np.count_nonzero(ind.cov - np.diag(np.diag(ind.cov))) == 0
    # each coupled level is itself an unbiased EM estimate
    for k, h in enumerate(le.dts):
        ex = sdesim.exact.em_chain_moments([[0.5]], [[[0.4]]], [1.0], h, round(1 / h)).second[0, 0]
        assert abs(le.mean[k] - ex) / le.stderr[k] < 4.5
    with pytest.raises(ValueError, match="dts"):
        sdesim.expectation_levels(sde, 1.0, lambda x: x[:, 0], T=1.0, dts=[0.5, 0.2], n_paths=10,
                                  quiet=True)


# ----------------------------------------------------------------------------- errors
def test_wrong_drift_shape_names_f():
    sde = sdesim.SDE(lambda t, x: x[:, 0], lambda t, x: x, d=2)
    with pytest.raises(ValueError, match=r"f\(t, x\) must return shape"):
        sdesim.simulate(sde, [1.0, 1.0], T=1.0, dt=0.1, n_paths=10, quiet=True)


@pytest.mark.parametrize("noise,g,match", [
    ("diagonal", lambda t, x: x[:, :1],
     r"g\(t, x\) must return shape \(n, d\) = \(5, 2\) .* got \(5, 1\)"),
    ("general", lambda t, x: x,
     r"g\(t, x\) must return shape \(n, d, m\) = \(5, 2, 3\) .* got \(5, 2\)"),
])
def test_wrong_diffusion_shape_names_g(noise, g, match):
    sde = sdesim.SDE(lambda t, x: -x, g, d=2, m=3 if noise == "general" else None, noise=noise)
    with pytest.raises(ValueError, match=match):
        sdesim.simulate(sde, [1.0, 1.0], T=1.0, dt=0.1, n_paths=10, quiet=True)


@pytest.mark.parametrize("T,dt,match", [
    (1.0, 0.0, "dt must be finite and > 0"),
    (1.0, -0.1, "dt must be finite and > 0"),
    (1.0, 2.0, "dt must be <= T"),
    (1.0, 0.3, "integer number of steps"),
    (0.0, 0.1, "T must be finite and > 0"),
])
def test_bad_steps(T, dt, match):
    with pytest.raises(ValueError, match=match):
        sdesim.simulate(sdesim.ou(1.0, 1.0), 0.0, T=T, dt=dt, n_paths=10, quiet=True)


@pytest.mark.parametrize("x0,match", [([np.nan], "x0 must be finite"), ([np.inf], "x0 must be finite"),
                                      ([1.0, 2.0], r"x0 must have shape \(1,\)")])
def test_bad_x0(x0, match):
    with pytest.raises(ValueError, match=match):
        sdesim.simulate(sdesim.ou(1.0, 1.0), x0, T=1.0, dt=0.1, n_paths=10, quiet=True)


def test_bad_noise_kind_and_dimensions():
    with pytest.raises(ValueError, match="noise must be one of"):
        sdesim.SDE(lambda t, x: x, lambda t, x: x, d=1, noise="multiplicative")
    with pytest.raises(ValueError, match="m .noise dimension. is required"):
        sdesim.SDE(lambda t, x: x, lambda t, x: x, d=1, noise="general")
    with pytest.raises(ValueError, match="g .additive. must have shape"):
        sdesim.SDE(lambda t, x: x, np.ones(3), d=2, noise="additive")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_divergence_reports_step_time_and_paths(backend):
    # dX = X^2 dt + 0.1 X dW from x0 = 1 blows up before t = 1 (Riccati); EM with h = 0.05
    # overflows after a few dozen steps on every path.
    sde = sdesim.SDE(lambda t, x: x * x, lambda t, x: 0.1 * x, d=1)
    with pytest.raises(sdesim.SimulationDiverged) as info:
        sdesim.simulate(sde, [1.0], T=5.0, dt=0.05, n_paths=40, rng=0, backend=backend,
                        quiet=True, chunk_size=40)
    err = info.value
    assert err.step >= 1 and err.time == pytest.approx(err.step * 0.05)
    assert 1 <= err.n_paths <= 40
    assert f"step {err.step}" in str(err) and "t = " in str(err) and "paths" in str(err)
    kept = sdesim.simulate(sde, [1.0], T=5.0, dt=0.05, n_paths=40, rng=0, backend=backend,
                           quiet=True, on_nonfinite="keep", save_at=[5.0])
    assert not np.all(np.isfinite(kept.xs))


def test_numba_fallback_warns_and_still_runs():
    def f(t, x):
        return np.array([[float(v) for v in row] for row in -x])  # not compilable by numba
    sde = sdesim.SDE(f, lambda t, x: np.ones_like(x), d=1)
    with pytest.warns(RuntimeWarning, match="numba could not compile"):
        p = sdesim.simulate(sde, [1.0], T=0.1, dt=0.01, n_paths=5, rng=0, quiet=True)
    ref = sdesim.simulate(sde, [1.0], T=0.1, dt=0.01, n_paths=5, rng=0, quiet=True,
                          backend="numpy")
    assert np.array_equal(p.xs, ref.xs)


def test_noise_constants_share_one_kernel_and_each_is_used(capfd):
    # the additive constant is a kernel argument, not a compiled-in constant: a sweep over
    # noise levels compiles once (announced once), and every run uses its own level
    def drift(t, x):
        return np.sin(x) - x

    kw = dict(T=0.5, dt=0.01, n_paths=100, rng=2, chunk_size=50, save_at=[0.5])
    for c in (0.3, 0.7, 1.1):
        sde = sdesim.SDE(drift, np.array([c, 2 * c]), d=2, noise="additive")
        a = sdesim.simulate(sde, np.zeros(2), backend="numpy", quiet=True, **kw)
        b = sdesim.simulate(sde, np.zeros(2), backend="numba-numpy-rng", quiet=False, **kw)
        assert np.array_equal(a.xs, b.xs)
    assert capfd.readouterr().err.count("compiling") == 1
