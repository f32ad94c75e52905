"""Every public Monte-Carlo entry point reproduces, bit for bit, the outputs recorded in
``tests/golden/golden.npz`` before the engine was restructured (same seeds, same chunk sizes),
on every backend."""
import numpy as np
import pytest

from tests.golden import cases

GOLDEN = dict(np.load(cases.HERE / "golden.npz"))


@pytest.fixture(scope="module")
def computed():
    return cases.compute()


def test_same_cases(computed):
    assert sorted(computed) == sorted(GOLDEN)


@pytest.mark.parametrize("key", sorted(GOLDEN))
def test_bitwise_equal(computed, key):
    got, want = computed[key], GOLDEN[key]
    assert got.shape == want.shape
    assert np.array_equal(got, want, equal_nan=True), \
        f"{key}: max |diff| = {np.nanmax(np.abs(got - want)):.3g}"
