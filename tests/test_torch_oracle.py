"""sdesim.torch.TorchOracle: gradients, the per-example noise (NGD, SVAG, the SDE's product), runs
vmapped over parameter vectors, and bad input. CPU only, float64 nets, fixed seeds; stochastic
checks are z-tests at K = 4.5 standard errors against exact values from per-sample gradients."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sdesim  # noqa: E402
from sdesim import sgd  # noqa: E402
from sdesim.torch import TorchOracle, batchnorm_layers, digits, digits_mlp  # noqa: E402

K = 4.5
CE = torch.nn.CrossEntropyLoss(reduction="none")


def _net(norm=True, seed=0):
    torch.manual_seed(seed)
    layers = [torch.nn.Linear(4, 6)]
    if norm:
        layers.append(torch.nn.GroupNorm(2, 6))
    layers += [torch.nn.Tanh(), torch.nn.Linear(6, 3)]
    return torch.nn.Sequential(*layers).double()


def _oracle(N=24, replacement=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    data = (torch.randn(N, 4, generator=g, dtype=torch.float64),
            torch.randint(0, 3, (N,), generator=g))
    return TorchOracle(_net(seed=seed), CE, data, replacement=replacement)


def _sigma_B(orc, x, B):
    """Exact Σ_B at one state ``x`` ``(d,)`` from per-sample gradients: f_B Cov_i(∇ℓ_i)."""
    g = orc.per_example_grads(x[None])[0].numpy()
    c = g - g.mean(axis=0)
    N = orc.n_examples
    f = 1 / B if orc.replacement else (N - B) / ((N - 1) * B)
    return f * c.T @ c / N


def _check_moments(samples, mean, cov, P):
    """z-tests of the mean and of the second moments of the projections ``samples @ P``
    (``samples`` (K, d), exact ``mean`` (d,), ``cov`` (d, d)); empirical standard errors."""
    u = (samples - mean) @ P
    n = u.shape[0]
    z_mean = u.mean(axis=0) / (u.std(axis=0, ddof=1) / math.sqrt(n))
    assert np.all(np.abs(z_mean) <= K), z_mean
    C = P.T @ cov @ P
    iu = np.triu_indices(P.shape[1])
    prods = u[:, iu[0]] * u[:, iu[1]]
    z_cov = (prods.mean(axis=0) - C[iu]) / (prods.std(axis=0, ddof=1) / math.sqrt(n))
    assert np.all(np.abs(z_cov) <= K), z_cov


def test_full_gradient_matches_central_differences():
    orc = _oracle()
    rng = np.random.default_rng(1)
    x = orc.x0[None] + 0.1 * rng.standard_normal((3, orc.d))
    g = orc.grad(x).numpy()
    eps = 1e-5
    for _ in range(3):
        v = rng.standard_normal((3, orc.d))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        fd = (orc.loss(x + eps * v) - orc.loss(x - eps * v)).numpy() / (2 * eps)
        # unit v: truncation O(eps² |L'''|) ~ 1e-10, rounding 1e-16/eps ~ 1e-11
        np.testing.assert_allclose(fd, np.sum(g * v, axis=1), rtol=1e-7, atol=1e-9)


def test_rows_are_independent_nets():
    orc = _oracle()
    x = orc.x0[None] + 0.2 * np.random.default_rng(2).standard_normal((4, orc.d))
    together = orc.grad(x).numpy()
    for i in range(4):
        np.testing.assert_allclose(orc.grad(x[i:i + 1]).numpy()[0], together[i], rtol=1e-12,
                                   atol=1e-14)
    # and the flat vector is the model: loss of row 0 = the module's own loss at those weights
    torch.nn.utils.vector_to_parameters(torch.as_tensor(x[0]), orc.model.parameters())
    own = CE(orc.model(orc.inputs), orc.targets).mean().item()
    assert orc.loss(x[:1]).item() == pytest.approx(own, rel=1e-12)


@pytest.mark.parametrize("replacement", [True, False])
def test_ngd_noise_is_gaussian_with_covariance_sigma_over_B(replacement):
    """NGD gradient - ∇L: mean 0, covariance Σ_B = f_B Cov_i(∇ℓ_i) (docs/theory.md §A.3)."""
    orc = _oracle(replacement=replacement)
    B, n = 4, 6000
    x0 = orc.x0
    xs = np.broadcast_to(x0, (n, orc.d))
    noise = (orc.gaussian_grad(xs, np.random.default_rng(3), B) - orc.grad(xs)).numpy()
    P = np.random.default_rng(4).standard_normal((orc.d, 5))
    _check_moments(noise, np.zeros(orc.d), _sigma_B(orc, torch.as_tensor(x0), B), P)


def test_minibatch_and_svag_covariances():
    """SGD's minibatch gradient has covariance Σ_B; SVAG's two-batch mix l Σ_B (LMA eq. 5)."""
    orc = _oracle()
    B, n, l = 3, 6000, 4.0
    x0 = orc.x0
    xs = np.broadcast_to(x0, (n, orc.d))
    mean = orc.grad(x0[None]).numpy()[0]
    S = _sigma_B(orc, torch.as_tensor(x0), B)
    P = np.random.default_rng(5).standard_normal((orc.d, 4))
    _check_moments(orc.sample_grad(xs, np.random.default_rng(6), B).numpy(), mean, S, P)
    mix = orc.sample_grad_mix(xs, np.random.default_rng(7), B, sgd.svag_coefficients(l))
    _check_moments(mix.numpy(), mean, l * S, P)


@pytest.mark.parametrize("replacement", [True, False])
def test_svag_mix_draws_its_first_batch_as_sgd_does(replacement):
    """sample_grad_mix draws batch j from the j-th draw of the seeded generator, so its first
    batch is sample_grad's from the same seed (coupled SVAG levels, sgd.run's noise_grid):
    recovered exactly from two mixes on one seed by linearity."""
    orc = _oracle(replacement=replacement)
    B = 5
    x = orc.x0[None] + 0.1 * np.random.default_rng(3).standard_normal((3, orc.d))
    mix = lambda a, b: orc.sample_grad_mix(x, np.random.default_rng(11), B, (a, b))  # noqa: E731
    m1, m2 = mix(1.0, 1.0), mix(1.0, -1.0)
    first, second = (m1 + m2) / 2, (m1 - m2) / 2
    np.testing.assert_allclose(first.numpy(), orc.sample_grad(x, np.random.default_rng(11),
                                                              B).numpy(), rtol=1e-10, atol=1e-13)
    assert not torch.allclose(first, second)


def test_noise_product_is_the_weighted_gradient_and_trace():
    """G v = Σ_i c (v_i - v̄)/N ∇ℓ_i exactly (G Gᵀ = Σ_B), and noise_trace = Tr Σ_B."""
    orc = _oracle()
    B = 5
    x = orc.x0[None] + 0.1 * np.random.default_rng(8).standard_normal((2, orc.d))
    v = torch.as_tensor(np.random.default_rng(9).standard_normal((2, orc.n_examples)))
    per = orc.per_example_grads(x)  # (2, N, d)
    N = orc.n_examples
    c = math.sqrt(N / B)
    want = torch.einsum("ni,nid->nd", c * (v - v.mean(1, keepdim=True)) / N, per)
    np.testing.assert_allclose(orc.noise_product(x, v, B).numpy(), want.numpy(), rtol=1e-10,
                               atol=1e-12)
    tr = [np.trace(_sigma_B(orc, torch.as_tensor(x[i]), B)) for i in range(2)]
    np.testing.assert_allclose(orc.noise_trace(x, B).numpy(), tr, rtol=1e-10)


def test_sgd_sde_uses_the_product_and_runs_on_torch():
    orc = _oracle()
    lr, B = 0.1, 4
    sde = sgd.sgd_sde(orc, lr, batch_size=B)
    assert (sde.noise, sde.m, sde.d) == ("general", orc.n_examples, orc.d)
    x = orc.asarray(np.broadcast_to(orc.x0, (3, orc.d)))
    dW = torch.randn(3, orc.n_examples, dtype=torch.float64)
    np.testing.assert_allclose(sde.noise_term(0.0, x, dW).numpy(),
                               math.sqrt(lr) * orc.noise_product(x, dW, B).numpy(), rtol=1e-12)
    run = lambda: sdesim.simulate(sde, orc.x0, T=0.2, dt=0.05, n_paths=6, rng=1,  # noqa: E731
                                  backend="torch", device="cpu", dtype=torch.float64,
                                  quiet=True).xs
    a, b = run(), run()
    assert a.shape == (5, 6, orc.d) and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)  # seeded
    assert not np.allclose(a[-1, 0], a[-1, 1])  # independent paths


def test_methods_run_through_the_sgd_recursion():
    orc = _oracle()
    for method, kw in (("sgd", {}), ("ngd", {}), ("svag", {"l": 2})):
        p = sgd.run(orc, orc.x0, T=0.2, lr=0.1, method=method, batch_size=4, n_paths=5,
                    rng=0, quiet=True, **kw)
        q = sgd.run(orc, orc.x0, T=0.2, lr=0.1, method=method, batch_size=4, n_paths=5,
                    rng=0, quiet=True, **kw)
        assert p.xs.shape == (len(p.ts), 5, orc.d)
        np.testing.assert_array_equal(p.xs, q.xs)
    est = sgd.expectation(orc, orc.x0, orc.loss, T=0.2, lr=0.1, batch_size=4, n_paths=8, rng=0,
                          quiet=True)
    assert est.mean < orc.loss(orc.x0[None]).item()


def test_digits_net():
    ds = digits(60, 20)
    orc = TorchOracle(digits_mlp(8), CE, ds.train)
    assert orc.n_examples == 60 and orc.d == 64 * 8 + 8 + 16 + 8 * 10 + 10
    si = TorchOracle(digits_mlp(8, scale_invariant=True), CE, ds.train)
    x = si.x0[None]
    np.testing.assert_allclose(si.loss(3.0 * x).numpy(), si.loss(x).numpy(), rtol=1e-6)


# ----------------------------------------------------------------------------- bad input
def test_batchnorm_is_refused_naming_the_layer():
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6),
                              torch.nn.Linear(6, 3)).double()
    assert batchnorm_layers(net) == ["1"]
    data = (torch.randn(8, 4, dtype=torch.float64), torch.randint(0, 3, (8,)))
    with pytest.raises(ValueError, match=r"model has BatchNorm layers \['1'\].*GroupNorm"):
        TorchOracle(net, CE, data)


def test_dtype_and_device_mismatches_name_the_argument():
    net = _net()
    y = torch.randint(0, 3, (8,))
    with pytest.raises(ValueError, match="data inputs must have the model's dtype torch.float64"):
        TorchOracle(net, CE, (torch.randn(8, 4, dtype=torch.float32), y))
    with pytest.raises(ValueError, match="data inputs must be on the model's device cpu, got meta"):
        TorchOracle(net, CE, (torch.empty(8, 4, dtype=torch.float64, device="meta"), y))
    with pytest.raises(ValueError, match="data targets must be on the model's device"):
        TorchOracle(net, CE, (torch.randn(8, 4, dtype=torch.float64), y.to("meta")))
    mixed = _net()
    mixed[0].float()
    with pytest.raises(ValueError, match="model's parameters must share one dtype"):
        TorchOracle(mixed, CE, (torch.randn(8, 4, dtype=torch.float64), y))
    orc = TorchOracle(net, CE, (torch.randn(8, 4, dtype=torch.float64), y))
    with pytest.raises(ValueError, match="x must be a tensor on the model's device cpu with its "
                                         "dtype torch.float64, got cpu and torch.float32"):
        orc.grad(torch.zeros(2, orc.d, dtype=torch.float32))
    with pytest.raises(ValueError, match=r"x must have shape \(n, d\)"):
        orc.grad(np.zeros((2, orc.d + 1)))


def test_bad_loss_and_data_are_named():
    net, x = _net(), torch.randn(8, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (8,))
    with pytest.raises(ValueError, match="loss_fn must return one loss per example"):
        TorchOracle(net, torch.nn.CrossEntropyLoss(), (x, y))
    with pytest.raises(TypeError, match="data must be a pair"):
        TorchOracle(net, CE, x)
    with pytest.raises(ValueError, match="data must hold the same number"):
        TorchOracle(net, CE, (x, y[:5]))
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        TorchOracle(lambda z: z, CE, (x, y))


def test_threads_executor_gives_the_serial_runs_bitwise_and_leaves_the_model_intact():
    # functional_call swaps the module's parameters and the oracle's generator is shared:
    # the oracle serialises its calls, so threads give the serial numbers (they raced before)
    orc = _oracle()
    kw = dict(T=0.5, lr=0.1, batch_size=4, n_paths=32, chunk_size=8, rng=0, quiet=True)
    serial = sgd.run(orc, orc.x0, **kw).xs[-1]
    for _ in range(2):
        assert np.array_equal(sgd.run(orc, orc.x0, executor="threads", **kw).xs[-1], serial)
    assert torch.isfinite(orc.model(orc.inputs)).all()


def test_dropout_in_training_mode_is_refused_and_eval_mode_accepted():
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Dropout(0.5), torch.nn.Linear(6, 3))
    data = (torch.randn(10, 4), torch.randint(0, 3, (10,)))
    loss = torch.nn.CrossEntropyLoss(reduction="none")
    with pytest.raises(ValueError, match=r"Dropout layers \['1'\] in training mode.*eval\(\)"):
        TorchOracle(net, loss, data)
    orc = TorchOracle(net.eval(), loss, data)
    assert orc.loss(orc.x0[None]).shape == (1,)


def test_gradient_flow_of_a_float32_net_finishes_and_matches_float64():
    # the default tolerances follow the oracle's dtype (1e-12 would never be met in float32)
    o64 = _oracle()
    o32 = TorchOracle(_net().float(), CE, (o64.inputs.float(), o64.targets))
    a, b = sgd.flow(o32, o32.x0, 0.5), sgd.flow(o64, o64.x0, 0.5)
    assert np.abs(a - b).max() < 1e-4
