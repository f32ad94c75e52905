"""torchsde interop: to_torchsde / from_torchsde give the weak moments of the exact EM chain
(torchsde's Euler and ours), keep the noise kind, and name what they cannot take."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchsde = pytest.importorskip("torchsde")

import sdesim  # noqa: E402
from sdesim.exact import em_chain_moments  # noqa: E402
from sdesim.torch import from_torchsde, to_torchsde  # noqa: E402

K = 5.0  # tolerance in standard errors
DT, N_STEPS, N = 0.05, 10, 20_000
A2 = np.array([[-1.0, 0.3], [0.0, -0.5]])
B2 = np.array([[[0.2, 0.0], [0.1, 0.3]], [[0.0, 0.1], [0.0, 0.2]]])
b2 = np.array([[0.5, 0.0], [0.2, 0.4]])
X0 = np.array([1.0, -0.5])

# name: (sdesim SDE, A, B_list, b_list) with exact EM-chain moments
PROBLEMS = {
    "diagonal": (sdesim.gbm([0.5, -0.3], [0.4, 0.2]), np.diag([0.5, -0.3]),
                 [np.diag([0.4, 0.0]), np.diag([0.0, 0.2])], None),
    "scalar": (sdesim.SDE(lambda t, x: -x, lambda t, x: 0.5 * x, d=2, noise="scalar"),
               -np.eye(2), [0.5 * np.eye(2)], None),
    "additive": (sdesim.ou(1.0, b2.T), -np.eye(2), [], b2),  # B (d, m): column j is b_j
    "general": (sdesim.linear(A2, list(B2), b_list=list(b2)), A2, B2, b2),
}


def _exact(name):
    _, A, Bs, bs = PROBLEMS[name]
    mo = em_chain_moments(A, Bs, X0, DT, N_STEPS, b_list=bs)
    return np.concatenate([mo.mean, np.diag(mo.second)])


def _check(values, exact):
    """values (n, 2d) against exact (2d,), within K standard errors."""
    mean, se = values.mean(0), values.std(0, ddof=1) / np.sqrt(len(values))
    assert np.all(np.abs(mean - exact) < K * se), (mean, exact, se)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_to_torchsde_gives_the_em_chain_moments_with_torchsdes_euler(name):
    obj = to_torchsde(PROBLEMS[name][0], device="cpu", dtype=torch.float64)
    assert (obj.sde_type, obj.noise_type) == ("ito", name)
    torch.manual_seed(0)
    y0 = torch.tensor(X0).expand(N, 2).contiguous()
    yT = torchsde.sdeint(obj, y0, [0.0, DT * N_STEPS], method="euler", dt=DT)[-1].numpy()
    _check(np.concatenate([yT, yT ** 2], axis=1), _exact(name))


class _GBM(torch.nn.Module):
    """A torchsde user's GBM (diagonal noise) with parameters."""
    sde_type, noise_type = "ito", "diagonal"

    def __init__(self):
        super().__init__()
        self.mu = torch.nn.Parameter(torch.tensor([0.5, -0.3], dtype=torch.float64))
        self.sigma = torch.nn.Parameter(torch.tensor([0.4, 0.2], dtype=torch.float64))

    def f(self, t, y):
        return self.mu * y

    def g(self, t, y):
        return self.sigma * y


class _General(torch.nn.Module):
    """The general linear SDE, g (n, d, m) and, as _GeneralProd, g_prod only."""
    sde_type, noise_type = "ito", "general"

    def f(self, t, y):
        return y @ torch.as_tensor(A2.T, dtype=y.dtype)

    def g(self, t, y):
        B, b = torch.as_tensor(B2, dtype=y.dtype), torch.as_tensor(b2, dtype=y.dtype)
        return torch.einsum("jde,ne->ndj", B, y) + b.T[None]


class _GeneralProd(_General):
    g = None

    def g_prod(self, t, y, v):
        return torch.einsum("ndm,nm->nd", _General.g(self, t, y), v)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("obj, name", [(_GBM(), "diagonal"), (_General(), "general"),
                                       (_GeneralProd(), "general")])
def test_from_torchsde_gives_the_em_chain_moments_with_our_em(obj, name, backend):
    sde = from_torchsde(obj, d=2, m=2)
    assert sde.noise == name and (sde.g_prod is not None) == isinstance(obj, _GeneralProd)
    paths = sdesim.simulate(sde, X0, T=DT * N_STEPS, dt=DT, n_paths=N, save_at=[DT * N_STEPS],
                            rng=1, backend=backend, quiet=True)
    xT = paths.xs[-1]
    _check(np.concatenate([xT, xT ** 2], axis=1), _exact(name))


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_a_round_trip_keeps_the_paths(name):
    sde = PROBLEMS[name][0]
    back = from_torchsde(to_torchsde(sde, device="cpu", dtype=torch.float64), d=2)
    assert back.noise == sde.noise and back.m == sde.m
    kw = dict(T=0.2, dt=0.02, n_paths=50, rng=2, backend="torch", device="cpu",
              dtype=torch.float64, quiet=True)  # where the converted object lives
    np.testing.assert_allclose(sdesim.simulate(back, X0, **kw).xs,
                               sdesim.simulate(sde, X0, **kw).xs, rtol=1e-12, atol=1e-12)


def test_what_the_converters_cannot_take_is_named():
    with pytest.raises(ValueError, match=r"to_torchsde needs a Brownian driver .*Stable"):
        to_torchsde(sdesim.ou(1.0, 1.0, driver=sdesim.Stable(1.5)))
    strat = _GBM()
    strat.sde_type = "stratonovich"
    with pytest.raises(ValueError, match=r"obj.sde_type must be 'ito' .*got 'stratonovich'"):
        from_torchsde(strat, d=2)
    with pytest.raises(ValueError, match=r"m \(the noise dimension\) is required"):
        from_torchsde(_GeneralProd(), d=2)
    obj = to_torchsde(sdesim.ou(1.0, 1.0), device="cpu", dtype=torch.float64)
    with pytest.raises(TypeError, match=r"y must be a tensor of dtype torch.float64 on cpu .*"
                                        r"got torch.float32"):
        obj.f(torch.tensor(0.0), torch.zeros(3, 1))
