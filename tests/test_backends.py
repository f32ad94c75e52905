"""The backend registry and contract, the scheme as the plug-in point, drivers as laws, and the
old paths of the exit-time references (no sampling assertions here beyond bitwise equality)."""
import math

import numpy as np
import pytest

import sdesim
from sdesim import escape, exact
from sdesim.backends import BACKENDS, Backend, SimulationDiverged, get_backend
from sdesim.backends.encoding import BROWNIAN, STABLE, driver_encoding
from sdesim.backends.errors import NotCompilable
from sdesim.schemes import EulerMaruyama


class DoubledBrownian(sdesim.Brownian):
    """A user's driver: Brownian increments times 2 (no compiled sampler knows it)."""

    def increments(self, rng, h, shape, out=None):
        out = super().increments(rng, h, shape, out=out)
        out *= 2.0
        return out


def _neg(t, x):
    return -x


def test_registry_gives_backend_objects_by_name():
    for name in BACKENDS:
        backend = get_backend(name)
        assert isinstance(backend, Backend) and backend.name == name
        assert backend is get_backend(name)
    assert get_backend("numpy").parallel is False and get_backend("numba").parallel is True
    assert get_backend("numba-numpy-rng").numpy_rng and not get_backend("numba").numpy_rng
    for bad in ("cuda", None, 3):
        with pytest.raises(ValueError, match=r"backend must be one of .*numba-numpy-rng"):
            get_backend(bad)
    assert sdesim.SimulationDiverged is SimulationDiverged


def test_strong_order_depends_on_the_noise_kind():
    assert EulerMaruyama.strong_order("additive") == 1.0
    for kind in ("diagonal", "scalar", "general"):
        assert EulerMaruyama.strong_order(kind) == 0.5
    assert EulerMaruyama.weak_order == 1.0
    with pytest.raises(ValueError, match=r"noise must be one of .* got 'multiplicative'"):
        EulerMaruyama.strong_order("multiplicative")
    with pytest.raises(ValueError, match="layout must be one of"):
        EulerMaruyama.kernel_update("diag")


def test_additive_constant_is_a_read_only_copy():
    b = np.array([0.3, 0.5])
    sde = sdesim.SDE(_neg, b, d=2, noise="additive")
    const = sde.additive_constant
    np.testing.assert_array_equal(const, b)
    b[0] = 9.0  # the SDE keeps its own copy
    assert const[0] == 0.3
    with pytest.raises(ValueError, match="read-only"):
        const[0] = 1.0
    assert sdesim.SDE(_neg, lambda t, x: 0.3 + 0 * x, d=2).additive_constant is None
    assert sdesim.ou(1.0, 0.5, d=2).additive_constant.shape == (2,)


def test_driver_encoding_is_the_backends_business():
    code, alpha, scale = driver_encoding(sdesim.Stable([1.5, 1.9], scale=[1.0, 0.5]), 2)
    assert code == STABLE and alpha.tolist() == [1.5, 1.9] and scale.tolist() == [1.0, 0.5]
    code, alpha, scale = driver_encoding(sdesim.Brownian(), 3)
    assert code == BROWNIAN and alpha.shape == scale.shape == (3,)
    with pytest.raises(NotCompilable, match="DoubledBrownian.*no compiled sampler"):
        driver_encoding(DoubledBrownian(), 1)
    assert not hasattr(sdesim.Brownian(), "code")  # drivers describe laws only
    with pytest.raises(ValueError, match="scale"):
        sdesim.ou(1.0, 1.0, d=3, driver=sdesim.Stable(1.5, scale=[1.0, 2.0]))


@pytest.mark.parametrize("backend", ["numba", "numba-numpy-rng"])
def test_a_driver_without_compiled_sampler_runs_on_numpy_with_a_reason(backend):
    sde = sdesim.SDE(_neg, np.ones(1), d=1, noise="additive", driver=DoubledBrownian())
    kw = dict(T=0.2, dt=0.01, n_paths=30, rng=1, chunk_size=10, quiet=True, save_at=[0.2])
    with pytest.warns(RuntimeWarning, match="could not compile this SDE's driver.*DoubledBrownian"):
        got = sdesim.simulate(sde, [0.0], backend=backend, **kw)
    ref = sdesim.simulate(sde, [0.0], backend="numpy", **kw)
    assert np.array_equal(got.xs, ref.xs)
    ekw = dict(dt=0.01, t_max=1.0, n_paths=30, rng=2, chunk_size=10, quiet=True)
    dom = escape.Interval(-0.5, 0.5)
    with pytest.warns(RuntimeWarning, match="driver for exit_times"):
        got = escape.exit_times(sde, 0.0, dom, backend=backend, **ekw)
    ref = escape.exit_times(sde, 0.0, dom, backend="numpy", **ekw)
    assert np.array_equal(got.times, ref.times)


def test_exit_chunk_contract_on_every_backend():
    sde = sdesim.ou(1.0, 0.8)
    x0 = np.array([[0.0], [0.9], [2.0]])
    dom = escape.Interval(-1.0, 1.0)
    for name in BACKENDS:
        out = get_backend(name).exit_chunk(sde, x0, 0.01, 50, dom, np.random.default_rng(0))
        assert out.steps.shape == out.axis.shape == out.side.shape == (3,)
        assert out.position.shape == (3, 1)
        assert out.steps[2] == 0 and out.axis[2] == 0 and out.side[2] == 1  # started outside
        censored = out.steps < 0
        assert np.all(out.axis[censored] == -1) and np.all(out.side[censored] == 0)
        assert np.all(np.abs(out.position[~censored, 0]) >= 1.0)


def test_exit_times_takes_the_step_and_horizon_by_keyword():
    sde = sdesim.ou(1.0, 0.5)
    with pytest.raises(TypeError, match="positional"):
        escape.exit_times(sde, 0.0, escape.Interval(-1, 1), 0.01, 1.0, 10)
    with pytest.raises(ValueError, match=r"t_max must be a whole number .* t_max=1.005"):
        escape.exit_times(sde, 0.0, escape.Interval(-1, 1), dt=0.01, t_max=1.005, n_paths=10)
    with pytest.raises(ValueError, match=r"hi must have the shape of lo"):
        escape.Box([0.0, 0.0], [1.0])
    with pytest.raises(ValueError, match=r"domain: the Ball's center must have shape \(1,\)"):
        escape.exit_times(sde, 0.0, escape.Ball([0.0, 0.0], 1.0), dt=0.01, t_max=1.0,
                          n_paths=10, quiet=True)


@pytest.mark.parametrize("name", ["getoor_mean_exit_time", "diffusion_mean_exit_time",
                                  "kramers_time", "stable_tail_constant", "big_jump_rate",
                                  "scheduler_survival", "GOBET_SHIFT"])
def test_old_exit_time_references_warn_and_name_the_new_path(name):
    with pytest.warns(DeprecationWarning, match=rf"use sdesim\.exact\.{name}$"):
        old = getattr(escape, name)
    assert old is getattr(exact, name)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        escape.no_such_name


def test_kramers_time_checks_its_arguments():
    assert exact.kramers_time(0.25, 2.0, -1.0, 0.25) == pytest.approx(
        2 * math.pi / math.sqrt(2.0) * math.e)
    with pytest.raises(ValueError, match="D must be"):
        exact.kramers_time(0.25, 2.0, 1.0, -0.25)
    with pytest.raises(ValueError, match="curv_min"):
        exact.kramers_time(0.25, 0.0, 1.0, 0.25)
    with pytest.raises(ValueError, match="curv_saddle must be nonzero"):
        exact.kramers_time(0.25, 2.0, 0.0, 0.25)
