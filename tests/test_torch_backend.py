"""The torch backend: Philox4x32-10 noise, Brownian and α-stable drivers against exact EM-chain
laws, counter-based independence of the chunk size (runs, levels, exit times), g_prod, array-API
user functions, device/dtype arguments and their errors, shape errors and fallbacks."""
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sdesim  # noqa: E402
from array_api_compat import array_namespace, device as xp_device  # noqa: E402
from scipy import stats  # noqa: E402

from sdesim.backends.torch_backend import TORCH  # noqa: E402
from sdesim.backends.torch_model import TorchModel  # noqa: E402
from sdesim.backends.torch_philox import normals, philox4x32, uniform_pairs  # noqa: E402
from sdesim.backends.torch_stable import StableIncrements  # noqa: E402
from sdesim.escape import Ball, Box, Interval, Predicate, exit_times  # noqa: E402
from sdesim.exact import em_chain_moments, ou_em_chain_moments  # noqa: E402
from sdesim.schemes import EulerMaruyama  # noqa: E402
from sdesim.weak import weak_order  # noqa: E402

K = 5.0  # tolerance in standard errors
RUN = dict(backend="torch", quiet=True)
MASK = 0xFFFFFFFF


def _philox_ref(ctr, key):
    """Philox4x32-10 in plain Python integers (Salmon et al. 2011)."""
    c, (k0, k1) = list(ctr), key
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & MASK, (k1 + 0xBB67AE85) & MASK
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & MASK, (p0 >> 32) ^ c[3] ^ k1, p0 & MASK]
    return c


def _t(vals):
    return torch.tensor(vals, dtype=torch.int64)


def test_philox_known_answers_and_reference():
    z = _t([0])
    assert [int(v) for v in philox4x32([z, z, z, z], (0, 0))] == \
        [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    f = _t([MASK])
    assert [int(v) for v in philox4x32([f, f, f, f], (MASK, MASK))] == \
        [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]  # Random123 kat_vectors
    rng = np.random.default_rng(7)
    ctr = rng.integers(0, 2**32, size=(4, 50))
    key = tuple(int(k) for k in rng.integers(0, 2**32, size=2))
    got = philox4x32([_t(row.tolist()) for row in ctr], key)
    for col in range(50):
        assert [int(v[col]) for v in got] == _philox_ref([int(v) for v in ctr[:, col]], key)


def test_normals_are_standard_normal():
    from scipy import stats
    z = normals((123, 456), torch.arange(1000), 0, 100, torch.float64).numpy().ravel()
    n = z.size
    assert abs(z.mean()) < K / np.sqrt(n)
    assert abs(z.var() - 1.0) < K * np.sqrt(2.0 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # a draw depends on (key, path, index) only: any sub-range reproduces it
    part = normals((123, 456), torch.arange(10, 20), 37, 61, torch.float64)
    full = normals((123, 456), torch.arange(1000), 0, 100, torch.float64)
    assert torch.equal(part, full[10:20, 37:61])


def test_uniform_pairs_are_uniform_and_counter_based():
    u, w = uniform_pairs((9, 8), torch.arange(500), 3, 103)
    for v in (u, w):
        assert stats.kstest(v.numpy().ravel(), "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(u.numpy().ravel(), w.numpy().ravel())[0, 1]) < K / np.sqrt(u.numel())
    pu, pw = uniform_pairs((9, 8), torch.arange(7, 9), 50, 55)
    assert torch.equal(pu, u[7:9, 47:52]) and torch.equal(pw, w[7:9, 47:52])


def test_stable_draws_follow_scipys_law_per_coordinate():
    alphas = [1.0, 1.5, 0.7]
    z = StableIncrements(sdesim.Stable(alphas), 3, torch.device("cpu")).standard(
        (5, 6), torch.arange(1000), 0, 2).reshape(-1, 3).numpy()
    for j, a in enumerate(alphas):
        assert stats.kstest(z[:, j], lambda x: stats.levy_stable.cdf(x, a, 0)).pvalue > 1e-3


def _zscore(est, exact):
    return np.abs((np.asarray(est.mean) - exact) / np.asarray(est.stderr))


def test_ou_and_gbm_moments_match_the_exact_em_chain():
    T, dt, n = 0.5, 0.05, 20_000
    ou = ou_em_chain_moments([[1.5]], [[0.8]], [1.0], dt, 10)
    est = sdesim.expectation(sdesim.ou(1.5, 0.8), 1.0, lambda x: np.stack(
        [x[:, 0], x[:, 0] ** 2], axis=1), T=T, dt=dt, n_paths=n, rng=1, **RUN)
    assert np.all(_zscore(est, [ou.mean[0], ou.second[0, 0]]) < K)
    gbm = em_chain_moments([[0.5]], [[[0.4]]], [1.0], dt, 10)
    est = sdesim.expectation(sdesim.gbm(0.5, 0.4), 1.0, lambda x: x[:, 0], T=T, dt=dt,
                             n_paths=n, rng=2, **RUN)
    assert _zscore(est, gbm.mean[0]) < K


A2 = np.array([[-1.0, 0.3], [0.0, -0.5]])
B2 = np.array([[[0.2, 0.0], [0.1, 0.3]], [[0.0, 0.1], [0.0, 0.2]]])
b2 = np.array([[0.5, 0.0], [0.2, 0.4]])  # (m, d)


def _user(noise):
    """(sde, A, B_list, b_list) written with operations tensors and arrays share."""
    if noise == "diagonal":
        return (sdesim.SDE(lambda t, x: -x, lambda t, x: 0.3 * x + 0.2, d=2),
                -np.eye(2), [np.diag([0.3, 0.0]), np.diag([0.0, 0.3])], [[0.2, 0.0], [0.0, 0.2]])
    if noise == "scalar":
        return (sdesim.SDE(lambda t, x: -x, lambda t, x: 0.5 * x, d=2, noise="scalar"),
                -np.eye(2), [0.5 * np.eye(2)], None)
    if noise == "additive":
        return sdesim.SDE(lambda t, x: -x, b2.T, d=2, noise="additive"), -np.eye(2), [], b2
    return sdesim.linear(A2, list(B2), b_list=list(b2)), A2, B2, b2  # general, built-in


@pytest.mark.parametrize("noise", ["diagonal", "scalar", "additive", "general"])
def test_noise_kinds_match_the_exact_em_chain(noise):
    sde, A, Bs, bs = _user(noise)
    x0, dt = np.array([1.0, -0.5]), 0.05
    mo = em_chain_moments(A, Bs, x0, dt, 10, b_list=bs)
    est = sdesim.expectation(sde, x0, lambda x: np.concatenate([x, x ** 2], axis=1), T=0.5,
                             dt=dt, n_paths=20_000, rng=3, **RUN)
    assert np.all(_zscore(est, np.concatenate([mo.mean, np.diag(mo.second)])) < K)


@pytest.mark.parametrize("alphas", [[1.5], [1.3, 1.8], [1.0, 2.0]])
def test_stable_ou_matches_the_exact_em_chain_law(alphas):
    """The additive EM chain X_n = c^n x0 + Σ c^{n-1-k} σ h^{1/α} Z_k (c = 1 - θh) is SαS with
    scale σ h^{1/α} (Σ_k |c|^{αk})^{1/α}: E cos(u (X_n - c^n x0)) = exp(-(scale u)^α)."""
    a, theta, sigma, h, n, u = np.array(alphas), 1.0, 0.7, 0.05, 10, 1.3
    d = a.size
    sde = sdesim.ou(theta, sigma, d=d, driver=sdesim.Stable(alphas))
    c = 1 - theta * h
    scale = sigma * h ** (1 / a) * np.sum(np.abs(c) ** (np.outer(a, np.arange(n))), axis=1) ** (1 / a)
    est = sdesim.expectation(sde, np.ones(d), lambda x: np.cos(u * (x - c ** n)), T=n * h, dt=h,
                             n_paths=20_000, rng=8, **RUN)
    assert np.all(_zscore(est, np.exp(-(scale * u) ** a)) < K)


def test_stable_multiplicative_noise_agrees_with_the_numpy_backend():
    """GBM with SαS noise (α = 1.9): no closed form for a bounded test function, so the torch
    and the numpy backends' E clip(X_T) (bounded: standard errors are valid) must agree within
    K combined standard errors."""
    sde = sdesim.gbm(0.5, 0.2, driver=sdesim.Stable(1.9))
    est = sdesim.expectation(sde, 1.0, lambda x: np.clip(x[:, 0], -5.0, 7.0), T=0.5, dt=0.05,
                             n_paths=20_000, rng=9, **RUN)
    exact = sdesim.expectation(sde, 1.0, lambda x: np.clip(x[:, 0], -5.0, 7.0), T=0.5,
                               dt=0.05, n_paths=20_000, rng=10, backend="numpy", quiet=True)
    assert abs(est.mean - exact.mean) < K * np.hypot(est.stderr, exact.stderr)


def _user_array_api():
    """The general linear SDE of _user("general") as a user writes it once for numpy and torch:
    f and g_prod in the array-API namespace of x (g of shape (n, d, m) never formed)."""
    def f(t, x):
        xp = array_namespace(x)
        return x @ xp.asarray(A2.T, dtype=x.dtype, device=xp_device(x))

    def g_prod(t, x, dW):
        xp = array_namespace(x)
        out = xp.zeros_like(x)
        for j in range(2):
            Bj = xp.asarray(B2[j].T, dtype=x.dtype, device=xp_device(x))
            bj = xp.asarray(b2[j], dtype=x.dtype, device=xp_device(x))
            out = out + (x @ Bj + bj) * dW[:, j:j + 1]
        return out

    return sdesim.SDE(f, g_prod=g_prod, d=2, m=2, noise="general")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_g_prod_and_array_api_functions_match_the_exact_em_chain(backend):
    x0, dt = np.array([1.0, -0.5]), 0.05
    mo = em_chain_moments(A2, B2, x0, dt, 10, b_list=b2)
    est = sdesim.expectation(_user_array_api(), x0, lambda x: np.concatenate([x, x ** 2], 1),
                             T=0.5, dt=dt, n_paths=20_000, rng=11, backend=backend, quiet=True)
    assert np.all(_zscore(est, np.concatenate([mo.mean, np.diag(mo.second)])) < K)


def test_the_torch_step_is_the_numpy_step_for_array_api_functions():
    sde = _user_array_api()
    rng = np.random.default_rng(0)
    x, dW = rng.standard_normal((7, 2)), rng.standard_normal((7, 2))
    model = TorchModel(sde, torch.device("cpu"), torch.float64)
    got = model.step(0.3, torch.from_numpy(x), 0.1, torch.from_numpy(dW)).numpy()
    np.testing.assert_allclose(got, EulerMaruyama.step(sde, 0.3, x, 0.1, dW), rtol=1e-13)


CHUNKED = {
    "OU Brownian": sdesim.ou(1.0, [0.5, 1.0]),
    "dense linear": sdesim.linear(A2, list(B2), b_list=list(b2)),
    "user f, g": sdesim.SDE(lambda t, x: -x ** 3, lambda t, x: 0.3 * x + 0.2, d=2),
    "stable per coordinate": sdesim.ou(1.0, 0.5, d=2, driver=sdesim.Stable([1.2, 1.7])),
}


@pytest.mark.parametrize("name", sorted(CHUNKED))
def test_results_do_not_depend_on_the_chunk_size(name):
    sde = CHUNKED[name]
    kw = dict(T=0.2, dt=0.02, n_paths=1000, rng=4, **RUN)
    runs = [sdesim.simulate(sde, [1.0, 0.5], chunk_size=c, **kw).xs for c in (1000, 100, 333)]
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[0], runs[2])
    # coupled levels, path by path (the streamed means differ in their last bits: the merge
    # of the moment accumulators follows the chunks)
    x0, rng = np.tile([1.0, 0.5], (500, 1)), np.random.default_rng(5)
    whole = TORCH.run_chunk(sde, x0, 0.025, 8, (1, 2, 4), [0, 4, 8], rng)
    parts = [TORCH.run_chunk(sde, x0[a:b], 0.025, 8, (1, 2, 4), [0, 4, 8], rng, path_start=a)
             for a, b in ((0, 77), (77, 500))]
    assert np.array_equal(whole, np.concatenate(parts, axis=2))


def test_coupled_levels_and_weak_order_run():
    ou = sdesim.ou(1.0, 1.0)
    lev = sdesim.expectation_levels(ou, 1.0, lambda x: x[:, 0] ** 2, T=0.4, dts=[0.1, 0.05],
                                    n_paths=20_000, rng=5, **RUN)
    exact = [ou_em_chain_moments([[1.0]], [[1.0]], [1.0], h, round(0.4 / h)).second[0, 0]
             for h in (0.1, 0.05)]
    assert np.all(np.abs(lev.mean - exact) < K * lev.stderr)
    gbm = sdesim.gbm(0.5, 0.4)
    res = weak_order(gbm, 1.0, lambda x: x[:, 0] ** 2, T=1.0, dts=[2.0 ** -k for k in range(1, 6)],
                     n_paths=50_000, exact=np.exp(1.16), rng=6, device="cpu",
                     dtype=torch.float32, **RUN)
    assert res.order_ci[0] < 1 < res.order_ci[1]


@pytest.mark.parametrize("domain", [Interval(-1.0, 1.0), Box([-1.0, -0.5], [1.0, 0.8]),
                                    Ball([0.0, 0.1], 0.9)])
@pytest.mark.parametrize("driver", [sdesim.Brownian(), sdesim.Stable([1.5, 1.9])])
def test_exit_times_are_the_first_exits_of_the_simulated_paths(domain, driver):
    """Counter-based noise: exit_times sees the very paths simulate gives for the seed, for any
    chunk size: bitwise on the CPU (float64, the same operations); on CUDA simulate takes the
    fused kernel and exit_times plain float32 tensor operations, which round differently in
    the last bits (docs/gpu.md), so positions agree to a few float32 ulps there."""
    atol = 2e-6 if torch.cuda.is_available() else 0.0
    sde = sdesim.ou(0.5, 0.8, d=2, driver=driver)
    dt, t_max, n = 0.01, 1.0, 300
    paths = sdesim.simulate(sde, [0.0, 0.1], T=t_max, dt=dt, n_paths=n, rng=12, **RUN).xs
    first = np.full(n, -1)
    for k in range(paths.shape[0] - 1, -1, -1):
        ax, _ = domain.classify(paths[k], paths[0])
        first[ax >= 0] = k
    for chunk in (n, 64):
        got = exit_times(sde, [0.0, 0.1], domain, dt=dt, t_max=t_max, n_paths=n, rng=12,
                         chunk_size=chunk, **RUN)
        assert np.array_equal(np.where(got.exited, np.rint(got.times / dt), -1), first)
        out = first >= 0
        np.testing.assert_allclose(got.position[out], paths[first[out], np.flatnonzero(out)],
                                   rtol=0, atol=atol)
        ax, sd = domain.classify(got.position[out], paths[0][out])
        assert np.array_equal(got.axis[out], ax) and np.array_equal(got.side[out], sd)


def test_exit_times_with_a_predicate_run_on_numpy():
    sde = sdesim.ou(1.0, 1.0)
    kw = dict(dt=0.01, t_max=0.5, n_paths=50, rng=13, quiet=True)
    dom = Predicate(lambda x: np.abs(x[:, 0]) < 1)
    got = exit_times(sde, 0.0, dom, backend="torch", **kw)
    assert np.array_equal(got.times, exit_times(sde, 0.0, dom, backend="numpy", **kw).times)


def test_float32_runs_match_the_exact_chain():
    mo = ou_em_chain_moments([[1.0]], [[1.0]], [1.0], 0.05, 10)
    est = sdesim.expectation(sdesim.ou(1.0, 1.0), 1.0, lambda x: x[:, 0] ** 2, T=0.5, dt=0.05,
                             n_paths=20_000, rng=14, device="cpu", dtype="float32", **RUN)
    assert _zscore(est, mo.second[0, 0]) < K


def test_device_and_dtype_errors_name_the_argument():
    ou = sdesim.ou(1.0, 1.0)
    kw = dict(T=0.1, dt=0.01, n_paths=10, rng=0, quiet=True)
    with pytest.raises(ValueError, match=r"device= is an option of backend='torch' only.*"
                                         r"backend='numba'"):
        sdesim.simulate(ou, 1.0, device="cpu", **kw)
    with pytest.raises(ValueError, match=r"dtype= is an option of backend='torch' only"):
        exit_times(ou, 0.0, Interval(-1, 1), dt=0.01, t_max=0.1, n_paths=10, dtype="float32",
                   backend="numpy")
    with pytest.raises(ValueError, match=r"dtype must be torch.float32 or torch.float64.*"
                                         r"float16"):
        sdesim.simulate(ou, 1.0, backend="torch", dtype=torch.float16, **kw)
    with pytest.raises(ValueError, match=r"device must be a torch device .*got 'gpu0'"):
        sdesim.expectation(ou, 1.0, lambda x: x[:, 0], backend="torch", device="gpu0", **kw)
    bad = sdesim.SDE(lambda t, x: -x if isinstance(x, np.ndarray) else (-x).double(),
                     lambda t, x: x, d=1)  # float64 whatever x is
    with pytest.raises(TypeError, match=r"f returned a tensor of dtype torch.float64 at x of "
                                        r"dtype torch.float32 \(the run's dtype=\)"):
        sdesim.simulate(bad, 1.0, backend="torch", dtype="float32", **kw)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_named_error(monkeypatch):
    ou = sdesim.ou(1.0, 1.0)
    with pytest.raises(ValueError, match=r"device='cuda' asks for CUDA, but "
                                         r"torch.cuda.is_available\(\) is False"):
        sdesim.simulate(ou, 1.0, T=0.1, dt=0.01, backend="torch", device="cuda", quiet=True)
    monkeypatch.setenv("SDESIM_TORCH_DEVICE", "cuda:0")
    with pytest.raises(ValueError, match=r"SDESIM_TORCH_DEVICE='cuda:0' asks for CUDA"):
        exit_times(ou, 0.0, Interval(-1, 1), dt=0.01, t_max=0.1, n_paths=10, **RUN)


def test_wrong_shapes_raise_the_named_error():
    sde = sdesim.SDE(lambda t, x: -x if isinstance(x, np.ndarray) else x[:2], lambda t, x: x,
                     d=1)  # right on numpy, wrong on tensors
    with pytest.raises(ValueError, match=r"f\(t, x\) must return shape \(n, d\)"):
        sdesim.simulate(sde, 1.0, T=0.1, dt=0.01, n_paths=10, rng=0, **RUN)
    sde = sdesim.SDE(lambda t, x: -x, lambda t, x: x if isinstance(x, np.ndarray) else x.T, d=1)
    with pytest.raises(ValueError, match=r"g\(t, x\) must return shape \(n, d\)"):
        sdesim.simulate(sde, 1.0, T=0.1, dt=0.01, n_paths=10, rng=0, **RUN)


def test_what_torch_cannot_run_falls_back_to_numpy_with_a_warning():
    kw = dict(T=0.1, dt=0.01, n_paths=50, rng=6, quiet=True)
    numpy_only = sdesim.SDE(lambda t, x: -np.asarray(x), lambda t, x: x, d=1)
    with pytest.warns(RuntimeWarning, match="calls f with torch tensors"):
        got = sdesim.simulate(numpy_only, 1.0, backend="torch", **kw)
    assert np.array_equal(got.xs, sdesim.simulate(numpy_only, 1.0, backend="numpy", **kw).xs)


@pytest.fixture
def states_as_cpu_tensors(monkeypatch):
    """The torch backend hands ``expectation`` its states as tensors also on the CPU (as on a
    GPU, where ``as_tensor=True`` leaves them on the device)."""
    plain = type(TORCH).run_chunk

    def run_chunk(self, *args, as_tensor=False, **kw):
        out = plain(self, *args, **kw)
        return torch.as_tensor(out) if as_tensor else out
    monkeypatch.setattr(type(TORCH), "run_chunk", run_chunk)


def test_moments_of_tensors_are_the_moments_of_the_arrays():
    from sdesim.stats import MomentAccumulator
    x = np.random.default_rng(0).standard_normal((1000, 3)) + [1.0, -2.0, 0.5]
    for full_cov in (False, True):
        a = MomentAccumulator.of(x, full_cov=full_cov)
        t = MomentAccumulator.of(torch.as_tensor(x, dtype=torch.float32), full_cov=full_cov)
        assert t.n == a.n and isinstance(t.mean, np.ndarray) and isinstance(t.m2, np.ndarray)
        assert np.allclose(t.mean, a.mean, rtol=1e-6) and np.allclose(t.m2, a.m2, rtol=1e-5)
        a.merge(MomentAccumulator.of(torch.as_tensor(x), full_cov=full_cov))
        both = np.concatenate([x, x])
        assert a.n == 2000 and np.allclose(a.variance(), both.var(axis=0, ddof=1), rtol=1e-12)


def test_phi_on_device_states_and_when_it_is_not_there():
    from sdesim._arrays import NotOnDevice, evaluate
    x = torch.linspace(-1.0, 1.0, 12, dtype=torch.float64).reshape(6, 2)
    v, scalar = evaluate(lambda y: y[:, 0] ** 2, x)
    assert torch.is_tensor(v) and v.shape == (6, 1) and v.dtype == torch.float64 and scalar
    v, scalar = evaluate(lambda y: y * 2, x)
    assert v.shape == (6, 2) and not scalar
    for phi in (lambda y: np.asarray(y)[:, 0], lambda y: y[:3, 0], lambda y: 1 / (y[:, 0] * 0),
                lambda y: float(y[0, 0]), lambda y: y.numpy_only_method()):
        with pytest.raises(NotOnDevice, match="phi"):
            evaluate(phi, x)


def test_expectation_reduces_device_states_as_it_reduces_arrays(states_as_cpu_tensors):
    kw = dict(T=0.5, dt=0.05, n_paths=3000, chunk_size=700, rng=3, device="cpu", **RUN)
    sde, x0 = sdesim.gbm(0.3, 0.5, d=2), [1.0, 0.5]
    phi = lambda x: x[:, :1] * x[:, 1:]  # noqa: E731 - (n, 1) on tensors and arrays alike
    dev = sdesim.expectation(sde, x0, phi, times=[0.2, 0.5], **kw)
    host = sdesim.expectation(sde, x0, lambda x: phi(np.asarray(x)), times=[0.2, 0.5], **kw)
    assert dev.mean.shape == host.mean.shape == (2, 1)
    assert np.allclose(dev.mean, host.mean, rtol=1e-13) and \
        np.allclose(dev.stderr, host.stderr, rtol=1e-11)
    lev = dict(T=0.5, dts=[0.1, 0.05], n_paths=3000, chunk_size=700, rng=4, device="cpu", **RUN)
    for coupled in (True, False):
        d_ = sdesim.expectation_levels(sde, x0, lambda x: x[:, 0], coupled=coupled, **lev)
        h_ = sdesim.expectation_levels(sde, x0, lambda x: np.asarray(x)[:, 0], coupled=coupled,
                                       **lev)
        assert np.allclose(d_.mean, h_.mean, rtol=1e-13) and \
            np.allclose(d_.cov, h_.cov, rtol=1e-10, atol=0), coupled
    with pytest.raises(ValueError, match=r"phi must map states of shape \(n, d\)"):
        sdesim.expectation(sde, x0, lambda x: x[:5, 0], **kw)
    with pytest.raises(ValueError, match=r"phi must return one value per path"):
        sdesim.expectation_levels(sde, x0, lambda x: x, **lev)


def test_divergence_raises():
    sde = sdesim.SDE(lambda t, x: x ** 3, lambda t, x: x, d=1)
    with pytest.raises(sdesim.SimulationDiverged, match="non-finite"):
        sdesim.simulate(sde, 10.0, T=5.0, dt=0.5, n_paths=10, rng=0, **RUN)


def test_import_sdesim_does_not_import_torch():
    code = "import sys, sdesim; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_float32_matches_the_exact_chain():
    mo = ou_em_chain_moments([[1.0]], [[1.0]], [1.0], 0.01, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = sdesim.expectation(sdesim.ou(1.0, 1.0), 1.0, lambda x: x[:, 0] ** 2, T=1.0,
                                 dt=0.01, n_paths=200_000, rng=7, device="cuda", **RUN)
    assert _zscore(est, mo.second[0, 0]) < K


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_draws_the_cpus_noise():
    """docs/gpu.md: the Philox integers are bitwise equal on both devices; the float64 normals
    agree to the last few ulps (log, cos, sin differ between the CPU's and CUDA's libraries)."""
    z = torch.zeros(1000, dtype=torch.int64)
    ctr = [torch.arange(1000), z + 7, z, z]
    cpu = philox4x32(ctr, (3, 4))
    gpu = philox4x32([c.cuda() for c in ctr], (3, 4))
    assert all(torch.equal(a, b.cpu()) for a, b in zip(cpu, gpu))
    a = normals((3, 4), torch.arange(1000), 0, 64, torch.float64)
    b = normals((3, 4), torch.arange(1000).cuda(), 0, 64, torch.float64).cpu()
    torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-14)


def test_f_g_written_with_torch_functions_only_run_on_the_torch_backend():
    # torch.neg / torch.full_like do not take numpy arrays: the numpy probe is skipped and the
    # torch backend checks f/g on tensors; the EM chain's mean is exact, (1 - dt)^N x0
    sde = sdesim.SDE(lambda t, x: torch.neg(x), lambda t, x: torch.full_like(x, 0.5), d=1)
    dt, x0 = 0.01, 1.0
    est = sdesim.expectation(sde, x0, lambda x: x[:, 0], T=1.0, dt=dt, n_paths=20_000, rng=0,
                             backend="torch", dtype=torch.float64, quiet=True)
    assert abs(est.mean - (1 - dt) ** 100 * x0) <= 4.5 * est.stderr
    with pytest.raises(TypeError, match="neg"):
        sdesim.expectation(sde, x0, lambda x: x[:, 0], T=1.0, dt=dt, n_paths=100, rng=0,
                           backend="numpy", quiet=True)


def test_a_float64_constant_in_a_float32_run_is_a_type_error_naming_f():
    # torch raises inside f (a matmul of float32 and float64): not a reason to fall back
    A = np.array([[1.0, 0.2], [0.0, 1.0]])

    def f(t, x):
        xp = array_namespace(x)
        return -x @ xp.asarray(A.T, device=xp_device(x))
    sde = sdesim.SDE(f, lambda t, x: 0.3 * x, d=2)
    with pytest.raises(TypeError, match=r"^f mixes dtypes.*torch\.float32.*dtype=x\.dtype"):
        sdesim.expectation(sde, [1.0, 1.0], lambda x: x[:, 0], T=1.0, dt=0.01, n_paths=100,
                           backend="torch", dtype=torch.float32, quiet=True)


def test_a_float32_overflow_suggests_float64():
    # e^{5 t} passes float32's 3.4e38 near t = 17.7; float64 holds it
    sde = sdesim.SDE(lambda t, x: 5 * x, lambda t, x: 0.1 * x, d=1)
    kw = dict(T=20.0, dt=0.01, n_paths=100, backend="torch", device="cpu", rng=0, quiet=True)
    with pytest.raises(sdesim.SimulationDiverged, match=r"run in float64 \(dtype=torch\.float64\)"
                                                        r".*on_nonfinite='keep'"):
        sdesim.expectation(sde, 1.0, lambda x: x[:, 0], dtype=torch.float32, **kw)
    est = sdesim.expectation(sde, 1.0, lambda x: x[:, 0], dtype=torch.float64, **kw)
    assert np.isfinite(est.mean)
