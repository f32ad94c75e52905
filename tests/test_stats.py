import numpy as np
import pytest

from sdesim.stats import Estimate, MomentAccumulator, normal_quantile


@pytest.mark.parametrize("full_cov", [False, True])
def test_chan_merge_equals_batch_moments(full_cov):
    rng = np.random.default_rng(3)
    data = rng.standard_normal((10_000, 3)) @ np.array([[1, 0.5, 0], [0, 1, 0.2], [0, 0, 2.0]]) + 5
    acc = MomentAccumulator(3, full_cov=full_cov)
    for lo, hi in [(0, 1), (1, 17), (17, 4000), (4000, 4001), (4001, 10_000)]:
        acc.update(data[lo:hi])
    assert acc.n == 10_000
    np.testing.assert_allclose(acc.mean, data.mean(0), rtol=1e-13)
    np.testing.assert_allclose(acc.variance(), data.var(0, ddof=1), rtol=1e-11)
    if full_cov:
        np.testing.assert_allclose(acc.covariance(), np.cov(data.T), rtol=1e-11)
    est = acc.estimate()
    np.testing.assert_allclose(est.stderr, np.sqrt(data.var(0, ddof=1) / 10_000), rtol=1e-11)


def test_estimate_ci_and_zscore():
    e = Estimate(1.0, 0.1, 100)
    lo, hi = e.ci(0.95)
    assert lo == pytest.approx(1 - 0.1 * 1.959964, rel=1e-6) and hi == pytest.approx(1.1959964)
    assert e.zscore(0.8) == pytest.approx(2.0)
    assert "±" in repr(e)
    with pytest.raises(ValueError, match="level"):
        normal_quantile(1.5)


def test_variance_needs_two_samples():
    acc = MomentAccumulator(1)
    acc.update(np.ones((1, 1)))
    with pytest.raises(ValueError, match="at least 2"):
        acc.variance()


def test_ci_of_a_scalar_estimate_is_plain_floats():
    lo, hi = Estimate(np.float64(1.0), np.float64(0.01), 10_000).ci()
    assert type(lo) is float and type(hi) is float
    assert "np.float64" not in repr(Estimate(np.float64(1.0), 0.01, 10).ci())
    lo, hi = Estimate(np.ones(2), np.full(2, 0.1), 10).ci()
    assert lo.shape == hi.shape == (2,)


def test_estimate_of_samples_too_large_for_float64_moments_raises():
    acc = MomentAccumulator.of(np.array([[1e200], [3e200], [2e200]]))
    with pytest.raises(OverflowError, match="too large for float64"):
        acc.estimate()
    assert MomentAccumulator.of(np.array([[1e100], [3e100]])).estimate().stderr[0] == \
        pytest.approx(1e100)


def test_repr_says_when_a_control_variate_left_only_rounding():
    assert "variance reduced 25x" in repr(Estimate(7.2, 0.066, 1000, 25.0))
    assert "reduced to rounding: the control variate is exact" in \
        repr(Estimate(3.17655, 5.6e-16, 1000, 5.6e26))
