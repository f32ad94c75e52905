"""The torch backend: Philox4x32-10 noise, moments against the exact EM chains, counter-based
independence of the chunk size, shape errors and fallbacks."""
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sdesim  # noqa: E402
from sdesim.backends.torch_backend import normals, philox4x32  # noqa: E402
from sdesim.exact import em_chain_moments, ou_em_chain_moments  # noqa: E402

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


def test_results_do_not_depend_on_the_chunk_size():
    kw = dict(T=0.2, dt=0.02, n_paths=1000, rng=4, **RUN)
    sde = sdesim.ou(1.0, 1.0)
    a = sdesim.simulate(sde, 1.0, chunk_size=100, **kw)
    b = sdesim.simulate(sde, 1.0, chunk_size=1000, **kw)
    assert np.array_equal(a.xs, b.xs)


def test_coupled_levels_and_weak_order_run():
    ou = sdesim.ou(1.0, 1.0)
    lev = sdesim.expectation_levels(ou, 1.0, lambda x: x[:, 0] ** 2, T=0.4, dts=[0.1, 0.05],
                                    n_paths=20_000, rng=5, **RUN)
    exact = [ou_em_chain_moments([[1.0]], [[1.0]], [1.0], h, round(0.4 / h)).second[0, 0]
             for h in (0.1, 0.05)]
    assert np.all(np.abs(lev.mean - exact) < K * lev.stderr)


def test_wrong_shapes_raise_the_named_error():
    sde = sdesim.SDE(lambda t, x: -x if isinstance(x, np.ndarray) else x[:2], lambda t, x: x,
                     d=1)  # right on numpy, wrong on tensors
    with pytest.raises(ValueError, match=r"f\(t, x\) must return shape \(n_paths, d\)"):
        sdesim.simulate(sde, 1.0, T=0.1, dt=0.01, n_paths=10, rng=0, **RUN)
    sde = sdesim.SDE(lambda t, x: -x, lambda t, x: x if isinstance(x, np.ndarray) else x.T, d=1)
    with pytest.raises(ValueError, match=r"g\(t, x\) must return shape \(n_paths, d\)"):
        sdesim.simulate(sde, 1.0, T=0.1, dt=0.01, n_paths=10, rng=0, **RUN)


def test_what_torch_cannot_run_falls_back_to_numpy_with_a_warning():
    kw = dict(T=0.1, dt=0.01, n_paths=50, rng=6, quiet=True)
    numpy_only = sdesim.SDE(lambda t, x: -np.asarray(x), lambda t, x: x, d=1)
    stable = sdesim.ou(1.0, 1.0, driver=sdesim.Stable(1.5))
    for sde, why in ((numpy_only, "calls f with torch tensors"), (stable, "Stable")):
        with pytest.warns(RuntimeWarning, match=why):
            got = sdesim.simulate(sde, 1.0, backend="torch", **kw)
        assert np.array_equal(got.xs, sdesim.simulate(sde, 1.0, backend="numpy", **kw).xs)


def test_divergence_raises():
    sde = sdesim.SDE(lambda t, x: x ** 3, lambda t, x: x, d=1)
    with pytest.raises(sdesim.SimulationDiverged, match="non-finite"):
        sdesim.simulate(sde, 10.0, T=5.0, dt=0.5, n_paths=10, rng=0, **RUN)


def test_import_sdesim_does_not_import_torch():
    code = "import sys, sdesim; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_float32_matches_the_exact_chain(monkeypatch):
    monkeypatch.setenv("SDESIM_TORCH_DEVICE", "cuda")
    mo = ou_em_chain_moments([[1.0]], [[1.0]], [1.0], 0.01, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = sdesim.expectation(sdesim.ou(1.0, 1.0), 1.0, lambda x: x[:, 0] ** 2, T=1.0,
                                 dt=0.01, n_paths=200_000, rng=7, **RUN)
    assert _zscore(est, mo.second[0, 0]) < K
