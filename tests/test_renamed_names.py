"""Old names users may have typed raise or warn with the new name (nothing is renamed silently)."""
import importlib
import sys

import numpy as np
import pytest

import sdesim
from sdesim import levy, sgd


@pytest.mark.parametrize("module, old, new", [
    (sgd, "METHODS", "SGD_METHODS"),
    (levy, "METHODS", "TAIL_INDEX_METHODS"),
    (levy, "levy_sgd_sde", "sdesim.sgd.levy_sgd_sde"),
    (levy, "power_law_scheduler", "sdesim.sgd.power_law_scheduler"),
])
def test_old_names_warn_with_the_new_name(module, old, new):
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        getattr(module, old)


def test_old_order_fit_module_warns():
    sys.modules.pop("sdesim.order_fit", None)
    with pytest.warns(DeprecationWarning, match=r"sdesim\.weak"):
        importlib.import_module("sdesim.order_fit")


def test_exact_references_moved_out_of_the_constructor():
    with pytest.raises(AttributeError, match=r"sdesim\.exact\.ou_mean"):
        sdesim.linear.ou_mean


@pytest.mark.parametrize("call", [
    lambda f: sdesim.expectation(sdesim.ou(1.0, 1.0), [0.0], g=f, T=1.0, dt=0.5, n_paths=4),
    lambda f: sdesim.expectation_levels(sdesim.ou(1.0, 1.0), [0.0], g=f, T=1.0, dts=[0.5],
                                        n_paths=4),
    lambda f: sdesim.weak_order(sdesim.ou(1.0, 1.0), [0.0], g=f, T=1.0, dts=[0.5], n_paths=4),
    lambda f: sgd.expectation(sgd.NoisyQuadratic(np.eye(1)), [0.0], g=f, T=1.0, lr=0.5,
                              n_paths=4),
])
def test_test_function_is_phi_not_g(call):
    with pytest.raises(TypeError, match="'phi'"):
        call(lambda x: x[:, 0])


def test_the_two_noise_sets_have_different_names():
    assert set(sdesim.sde.NOISE_KINDS) == {"diagonal", "scalar", "general", "additive"}
    assert "gaussian" in sgd.GRADIENT_NOISE_KINDS and "svag" in sgd.SGD_METHODS
    assert "mohammadi" in levy.TAIL_INDEX_METHODS
