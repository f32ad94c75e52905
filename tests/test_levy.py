"""Tail-index estimators, noise collection and protocols, fit comparison, the Lévy SDE of SGD.

Statistical checks are z-scores within 4 standard errors, or binomial coverage counts within
4 binomial standard deviations, with fixed seeds; deterministic quantities are compared exactly
(or to a stated rounding bound).
"""
import math
import re
import warnings

import numpy as np
import pytest
from scipy.stats import levy_stable

import sdesim
from sdesim import levy
from sdesim.backends.stable_cms import cauchy_block, cms_block, stable_chunk
from sdesim.drivers import standard_stable
from sdesim.engine import child_generator, root_seed
from sdesim.levy import (MIN_DISTINCT, STABLE_CHUNK, TAIL_INDEX_METHODS, FitComparison,
                         alpha_logmoment, alpha_mcculloch, alpha_mle, alpha_mohammadi,
                         collect_gradient_noise, compare_fits, estimate_alpha,
                         fit_stable_quantiles, stable_rvs, tail_index)
from sdesim.sgd import levy_sgd_sde, multistep_scheduler, power_law_scheduler

K = 4.0


def _cms_reference(alpha, V, W):
    """Chambers–Mallows–Stuck as printed (1976): ``sin(αV)/cos(V)^{1/α} ·
    (cos((1-α)V)/W)^{(1-α)/α}``, ``tan V`` at α = 1."""
    if alpha == 1.0:
        return np.tan(V)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return (np.sin(alpha * V) / np.cos(V) ** (1.0 / alpha)
                * (np.cos((1.0 - alpha) * V) / W) ** ((1.0 - alpha) / alpha))


class HeteroGaussian:
    """Oracle: gradient ``x`` plus Gaussian noise with per-parameter scales ``s / sqrt(B)``."""

    def __init__(self, scales):
        self.s = np.asarray(scales, float)

    def grad(self, x):
        return x

    def sample_grad(self, x, rng, batch_size):
        return x + self.s * rng.standard_normal(x.shape) / math.sqrt(batch_size)


class StableOracle(HeteroGaussian):
    """Oracle with SαS noise of index ``alpha`` (standard, scaled per parameter)."""

    def __init__(self, scales, alpha):
        super().__init__(scales)
        self.alpha = alpha

    def sample_grad(self, x, rng, batch_size):
        return x + self.s * standard_stable(rng, self.alpha, x.shape)


# ----------------------------------------------------------------------------- fast sampler
CDF_GRID = np.array([-40.0, -6.0, -3.0, -1.5, -0.7, -0.2, 0.3, 0.8, 1.6, 3.5, 7.0, 40.0])


def _cdf_z(x, grid, cdf):
    """z-scores of the empirical CDF of ``x`` at ``grid`` (binomial standard errors)."""
    emp = (x[:, None] <= grid[None, :]).mean(axis=0)
    return (emp - cdf) / np.sqrt(cdf * (1 - cdf) / x.size)


@pytest.mark.parametrize("alpha", [0.5, 0.8, 1.0, 1.2, 1.5, 1.8, 1.95, 2.0])
def test_stable_rvs_matches_scipy_cdf(alpha):
    """Empirical CDF of 2·10⁵ draws vs scipy's levy_stable(α, 0) CDF at 12 points, tails
    included (±40: P ≈ 1e-3 at α = 0.8); binomial standard errors, |z| <= 4.5 as in
    test_drivers (96 z-scores in all)."""
    x = stable_rvs(alpha, 200_000, rng=int(alpha * 100))
    assert x.shape == (200_000,) and np.all(np.isfinite(x))
    cdf = levy_stable.cdf(CDF_GRID, alpha, 0.0)
    keep = (cdf > 1e-12) & (cdf < 1 - 1e-12)   # α = 2: N(0, 2) puts ~1e-160 beyond ±40
    assert np.max(np.abs(_cdf_z(x, CDF_GRID[keep], cdf[keep]))) <= 4.5


def test_stable_rvs_scale_and_shape():
    x = stable_rvs(1.3, (50_000, 4), rng=3, scale=2.5)
    assert x.shape == (50_000, 4)
    cdf = levy_stable.cdf(2.5 * CDF_GRID[1:-1], 1.3, 0.0, scale=2.5)
    assert np.max(np.abs(_cdf_z(x.reshape(-1), 2.5 * CDF_GRID[1:-1], cdf))) <= 4.5
    # α = 2 is N(0, 2 σ²): the sample variance within 4.5 se (Var s² = 2 (2σ²)² / n)
    y = stable_rvs(2.0, 400_000, rng=4, scale=0.5)
    assert abs(y.var() - 0.5) / math.sqrt(2 * 0.5**2 / y.size) <= 4.5
    assert stable_rvs(1.5, 0, rng=0).shape == (0,)
    assert stable_rvs(1.5, (3, 0), rng=0).shape == (3, 0)


def test_stable_rvs_transform_equals_reference_formula():
    """The vectorised CMS transform (polynomial sin/cos/log/exp, one exp of two logs) equals
    the printed formula in numpy on the same angles and exponentials, to rtol 1e-13, over
    the whole range of V, including V at ±π/2 and tiny/huge W."""
    g = np.random.default_rng(0)
    n = 100_000
    V = np.r_[(g.random(n) - 0.5) * math.pi, -math.pi / 2, math.nextafter(math.pi / 2, 0),
              0.0, 1e-300, -1e-9, 1.5707, -1.5707]
    W = np.r_[g.standard_exponential(n), 1.0, 1.0, 1.0, 2.0, 40.0, 1e-300, 50.0]
    for alpha in (0.3, 0.5, 0.9, 1.0, 1.1, 1.5, 1.9, 1.999, 2.0):
        out = np.empty_like(V)
        cms_block(V.copy(), W.copy(), out, alpha, 1.0, np.empty_like(V))
        ref = _cms_reference(alpha, V, W)   # overflows to inf at W = 1e-300, as the kernel
        np.testing.assert_allclose(out, ref, rtol=1e-13, atol=0, err_msg=f"alpha={alpha}")
    out = np.empty_like(V)           # α = 1 has its own path (no exponentials): tan V
    cauchy_block(V.copy(), out, 2.0)
    np.testing.assert_allclose(out, 2.0 * np.tan(V), rtol=1e-14, atol=0)


def test_stable_rvs_seeding_contract():
    """Chunk c of STABLE_CHUNK draws comes from child generator c of the seed: the result
    depends on the seed only — never on the thread count — and int/SeedSequence seeds agree."""
    n = 2 * STABLE_CHUNK + 1234
    a = stable_rvs(1.7, n, rng=5, n_threads=1)
    for th in (2, 3, 8):
        assert np.array_equal(a, stable_rvs(1.7, n, rng=5, n_threads=th))
    assert np.array_equal(a, stable_rvs(1.7, n, rng=np.random.SeedSequence(5)))
    seed = root_seed(5)
    for c in range(3):
        ref = np.empty(min(STABLE_CHUNK, n - c * STABLE_CHUNK))
        stable_chunk(child_generator(seed, c), ref, 1.7, 1.0)
        assert np.array_equal(a[c * STABLE_CHUNK:(c + 1) * STABLE_CHUNK], ref)
    assert not np.array_equal(a, stable_rvs(1.7, n, rng=6))
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    first = stable_rvs(1.2, 100, rng=g1)
    assert np.array_equal(first, stable_rvs(1.2, 100, rng=g2))   # same generator state
    assert not np.array_equal(first, stable_rvs(1.2, 100, rng=g1))  # g1 was advanced


def test_stable_rvs_bad_input():
    for bad in (0.0, -1.0, 2.5, np.nan):
        with pytest.raises(ValueError, match="alpha"):
            stable_rvs(bad, 10, rng=0)
    with pytest.raises(ValueError, match="alpha must be a scalar"):
        stable_rvs([1.5, 1.6], 10, rng=0)
    with pytest.raises(ValueError, match="size"):
        stable_rvs(1.5, -1, rng=0)
    with pytest.raises(TypeError, match="size"):
        stable_rvs(1.5, 2.5, rng=0)
    with pytest.raises(ValueError, match="scale"):
        stable_rvs(1.5, 10, rng=0, scale=0.0)
    with pytest.raises(ValueError, match="n_threads"):
        stable_rvs(1.5, 10, rng=0, n_threads=0)


# ----------------------------------------------------------------------------- estimators
@pytest.mark.parametrize("alpha", [1.1, 1.5, 1.9, 2.0])
def test_estimators_recover_alpha_on_synthetic_sas(alpha):
    x = 0.7 * standard_stable(np.random.default_rng(int(alpha * 10)), alpha, (40_000,))
    m = alpha_mohammadi(x)
    # Mohammadi's statistic is exactly unbiased for 1/α: z-score on that scale
    assert abs((m.extra["inv_alpha"] - 1 / alpha) / (m.stderr * m.alpha ** -2)) <= K
    for est in (m, alpha_logmoment(x), alpha_mcculloch(x, n_boot=100, rng=1)):
        assert est.lo <= est.alpha <= est.hi
        if not (est.method == "mcculloch" and alpha == 2.0):  # clipped at 2: se is one-sided
            assert abs(est.alpha - alpha) <= K * est.stderr, est
        assert est.covers(alpha) or abs(est.alpha - alpha) <= K * est.stderr


def test_estimators_on_scipy_samples():
    """scipy's own sampler, location and scale included: McCulloch recovers all three (scale
    and location within K bootstrap standard errors)."""
    x = levy_stable.rvs(1.6, 0.0, loc=2.0, scale=3.0, size=20_000, random_state=5)
    a, s, m = fit_stable_quantiles(x)
    est = alpha_mcculloch(x, n_boot=100, rng=0)
    assert abs(est.alpha - 1.6) <= K * est.stderr and est.alpha == a
    assert (est.extra["scale"], est.extra["loc"]) == (s, m)
    gen = np.random.default_rng(1)
    boots = np.array([fit_stable_quantiles(x[gen.integers(0, x.size, x.size)])[1:]
                      for _ in range(100)])
    se_s, se_m = boots.std(axis=0, ddof=1)
    assert abs(s - 3.0) <= K * se_s and abs(m - 2.0) <= K * se_m
    c = alpha_logmoment(x - 2.0)
    assert abs(c.alpha - 1.6) <= K * c.stderr


@pytest.mark.parametrize("method", ["mohammadi", "logmoment"])
def test_ci_coverage(method):
    """The stated 95% CI covers α in 95% of 300 repetitions (binomial, within 4 sd)."""
    rng = np.random.default_rng(11)
    reps, n = 300, 3000
    hits = sum(estimate_alpha(standard_stable(rng, 1.4, (n,)), method).covers(1.4)
               for _ in range(reps))
    assert abs(hits - 0.95 * reps) <= K * math.sqrt(reps * 0.95 * 0.05)


def test_mle_slow_reference_on_tiny_sample():
    x = standard_stable(np.random.default_rng(3), 1.5, (25,))
    est = alpha_mle(x)
    assert est.method == "mle" and math.isfinite(est.stderr)
    assert abs(est.alpha - 1.5) <= K * est.stderr


def test_bad_input():
    good = standard_stable(np.random.default_rng(0), 1.5, (200,))
    for method in ("mohammadi", "logmoment", "mcculloch"):
        with pytest.raises(ValueError, match="at least"):
            estimate_alpha(good[:10], method)
        bad = good.copy()
        bad[3] = np.nan
        with pytest.raises(ValueError, match="finite"):
            estimate_alpha(bad, method)
        bad[3] = np.inf
        with pytest.raises(ValueError, match="finite"):
            estimate_alpha(bad, method)
        with pytest.raises(ValueError, match="1-d"):
            estimate_alpha(good.reshape(20, 10), method)
    with pytest.raises(ValueError, match="zeros"):
        alpha_logmoment(np.r_[good, 0.0])
    with pytest.raises(ValueError, match="k1"):
        alpha_mohammadi(good, k1=150)
    with pytest.raises(ValueError, match="method"):
        estimate_alpha(good, "hill")
    with pytest.raises(ValueError, match="level"):
        alpha_logmoment(good, level=1.5)
    with pytest.raises(ValueError, match="protocol"):
        tail_index(good.reshape(-1, 1), protocol="pooled")
    with pytest.raises(ValueError, match="alpha"):
        levy_sgd_sde(lambda x: x, 1, alpha=2.5, sigma=1.0, lr=0.1)
    with pytest.raises(ValueError, match="alpha"):
        levy_sgd_sde(lambda x: x, 1, alpha=0.0, sigma=1.0, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        levy_sgd_sde(lambda x: x, 1, alpha=1.5, sigma=1.0, lr=-0.1)


ESTIMATORS = {"mohammadi": alpha_mohammadi, "logmoment": alpha_logmoment,
              "mcculloch": lambda x: alpha_mcculloch(x, n_boot=20, rng=0), "mle": alpha_mle,
              "estimate_alpha": estimate_alpha,
              "tail_index": lambda x: tail_index(np.c_[np.linspace(-1, 1, x.size) ** 3, x])}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_degenerate_samples_raise_instead_of_returning_nonsense(name):
    """A constant sample used to give α = 1 with CI [1, 1] (Mohammadi) or α = inf (log-moment);
    every estimator now refuses it, and a sample of a few values, naming x."""
    est = ESTIMATORS[name]
    prefix = r"noise\[:, 1\] \(parameter 1\): " if name == "tail_index" else ""
    n = 30 if name == "mle" else 400
    for value in (0.0, 1.0, -2.5):
        with pytest.raises(ValueError, match=prefix + rf"x is constant \(all {n} values equal"):
            est(np.full(n, value))
    few = np.random.default_rng(0).choice(np.arange(1.0, MIN_DISTINCT), n)  # 9 distinct values
    with pytest.raises(ValueError, match=prefix + r"x has too few distinct values: \|?x\|? "
                                                  r"takes 9, and a tail index"):
        est(few)


def test_method_specific_degeneracies_name_x():
    rng = np.random.default_rng(2)
    with pytest.raises(ValueError, match="x has too few distinct values for the Mohammadi "
                                         "estimator: 8 of its 10 blocks .* sum to exactly 0"):
        alpha_mohammadi(np.r_[np.tile([3.0, -3.0], 40), 1 + rng.random(20)], k1=10)
    # log|x| on two values, equally often (the 200 |x| distinct only through a 1e-13 jitter)
    two = np.r_[np.full(100, 1.0), np.full(100, np.e)] * (1 + 1e-13 * np.arange(200))
    with pytest.raises(ValueError, match="x has too few distinct values for the log-moment"):
        alpha_logmoment(two * rng.choice([-1.0, 1.0], 200))
    # most values equal: a zero interquartile range
    with pytest.raises(ValueError, match="x has too few distinct values for the McCulloch "
                                         "estimator: its interquartile range is 0"):
        alpha_mcculloch(np.r_[np.zeros(300), rng.standard_normal(100)], n_boot=10, rng=0)
    with pytest.raises(ValueError, match="x has too few distinct values for the MLE"):
        alpha_mle(np.r_[np.zeros(20), rng.standard_normal(10)])
    with pytest.raises(ValueError, match=r"noise pooled across parameters: x is constant"):
        tail_index(np.ones((100, 3)), protocol="across-parameters")


# ----------------------------------------------------------------------------- protocols
def test_collect_noise_is_seeded_centred_and_checked():
    orc = HeteroGaussian([1.0, 2.0, 3.0])
    x = np.array([0.5, -1.0, 2.0])
    a = collect_gradient_noise(orc, x, 1000, 4, rng=3, chunk_size=300)
    b = collect_gradient_noise(orc, x, 1000, 4, rng=3, chunk_size=300)
    assert a.shape == (1000, 3) and np.array_equal(a, b)
    assert not np.array_equal(a, collect_gradient_noise(orc, x, 1000, 4, rng=4))
    se = np.array([1.0, 2.0, 3.0]) / 2 / math.sqrt(1000)
    assert np.all(np.abs(a.mean(axis=0) / se) <= K)
    # centring on the sample mean subtracts exactly that mean (grad(0) = 0: no other centring)
    raw = collect_gradient_noise(orc, np.zeros(3), 100, 4, rng=0)
    assert np.array_equal(collect_gradient_noise(orc, np.zeros(3), 100, 4, rng=0, center="mean"),
                          raw - raw.mean(axis=0))

    class Wrong(HeteroGaussian):
        def sample_grad(self, x, rng, batch_size):
            return x[:, :2]

    with pytest.raises(ValueError, match="sample_grad must return shape"):
        collect_gradient_noise(Wrong([1.0, 1.0, 1.0]), x, 10, 1, rng=0)
    with pytest.raises(TypeError, match="oracle must have"):
        collect_gradient_noise(object(), x, 10, 1, rng=0)
    with pytest.raises(ValueError, match="batch_size"):
        collect_gradient_noise(orc, x, 10, 0, rng=0)


def test_measurement_trap_across_vs_per_parameter():
    """Gaussian noise with log-normal per-parameter scales (sd 1 of log σ): pooled across
    parameters the Mohammadi estimate is far below 2 (docs/theory.md §B.2.1 predicts
    2/(1 + 2/log K1) ≈ 1.5); per parameter, the 95% CIs cover 2 for about 95% of parameters."""
    rng = np.random.default_rng(21)
    p = 400
    orc = HeteroGaussian(np.exp(rng.standard_normal(p)))
    noise = collect_gradient_noise(orc, np.zeros(p), 1000, 8, rng=22)
    pooled = tail_index(noise, protocol="across-parameters")
    assert pooled.protocol == "across-parameters" and pooled.hi < 1.8
    K1 = pooled.extra["k1"]
    assert abs(pooled.alpha - 2 / (1 + 2 / math.log(K1))) < 0.1  # asymptotic formula
    one_batch = tail_index(noise, protocol="across-parameters", batches=0)
    assert one_batch.n <= p and one_batch.alpha < 2
    per = tail_index(noise, protocol="per-parameter", method="logmoment")
    hits = int(np.sum(per.covers(2.0)))
    assert per.alpha.shape == (p,)
    assert abs(hits - 0.95 * p) <= K * math.sqrt(p * 0.95 * 0.05)


def test_per_parameter_stable_noise_from_sgd_oracle():
    sgd = pytest.importorskip("sdesim.sgd")
    orc = sgd.NoisyQuadratic(np.eye(3), np.eye(3), noise="stable", alpha=1.3)
    noise = collect_gradient_noise(orc, np.ones(3), 4000, 1, rng=5)
    est = tail_index(noise, method="logmoment")
    assert np.all(np.abs(est.alpha - 1.3) <= K * est.stderr)


# ----------------------------------------------------------------------------- fits
def test_compare_fits_prefers_the_right_law():
    rng = np.random.default_rng(8)
    heavy = compare_fits(standard_stable(rng, 1.5, (20_000,)))
    assert isinstance(heavy, FitComparison) and heavy.better == "stable"
    assert heavy.sse["stable"] < heavy.sse["gauss"] and heavy.pvalue["gauss"] < 1e-10
    assert heavy.pvalue["stable"] > 1e-4   # the true model: χ² test passes (rate ≤ 1e-4)
    gauss = compare_fits(rng.standard_normal(20_000))
    assert gauss.pvalue["gauss"] > 1e-4
    assert gauss.counts.sum() <= gauss.n and gauss.edges.size == 41
    ax = heavy.plot()
    assert len(ax.lines) == 2
    with pytest.raises(ValueError, match="bins"):
        compare_fits(rng.standard_normal(100), bins=2)
    with pytest.raises(ValueError, match="stable_fit"):
        compare_fits(rng.standard_normal(100), stable_fit="hill")


# ----------------------------------------------------------------------------- Lévy SDE of SGD
def test_schedulers():
    s = power_law_scheduler(0.5)
    assert s(0.0) == 1.0 and s(3.0) == 0.5    # (1 + 3)^{-1/2}, exact in floating point
    m = multistep_scheduler([1.0, 2.0], [1.0, 0.1, 0.01])
    assert (m(0.0), m(1.0), m(1.5), m(2.5)) == (1.0, 1.0, 0.1, 0.01)
    with pytest.raises(ValueError, match="milestones"):
        multistep_scheduler([2.0, 1.0], [1.0, 0.5, 0.1])
    with pytest.raises(ValueError, match="factors"):
        multistep_scheduler([1.0], [1.0])


@pytest.mark.parametrize("backend", ["numpy", "numba-numpy-rng"])
def test_levy_sgd_sde_is_exactly_sgd_in_sgd_time(backend):
    """EM of the SDE at dt = η reproduces x_{k+1} = x_k - η s_k (∇U - σ ⊙ Z_k) with the same Z
    (the sign of symmetric noise is a convention: the SDE adds its increments)."""
    def grad_U(x):
        return x ** 3 - x

    alpha, sigma, eta = np.array([1.3, 1.9]), np.array([0.2, 0.5]), 0.05
    sched = multistep_scheduler([0.5], [1.0, 0.3])
    sde = levy_sgd_sde(grad_U, 2, alpha, sigma, eta, scheduler=sched)
    n, steps = 5, 20
    paths = sdesim.simulate(sde, [0.1, -0.2], T=steps * eta, dt=eta, n_paths=n, rng=7,
                            backend=backend, quiet=True)
    gen = child_generator(root_seed(7), 0)   # chunk 0 of the seed, as the engine draws it
    x = np.tile([0.1, -0.2], (n, 1))
    for k in range(steps):
        Z = standard_stable(gen, alpha, (n, 2))
        x = x - eta * sched(k * eta) * (grad_U(x) - sigma * Z)
    # the same chain, only the order of the floating-point operations differs: a few ulps a step
    bound = 8 * steps * np.finfo(float).eps * np.abs(x).max()
    np.testing.assert_allclose(paths.xs[-1], x, rtol=0, atol=bound)


def test_lr_weighted_time_equals_sgd_time_without_scheduler():
    sde1 = levy_sgd_sde(lambda x: 2 * x, 1, 1.5, 1.0, 0.01)
    sde2 = levy_sgd_sde(lambda x: 2 * x, 1, 1.5, 1.0, 0.01, time="lr-weighted")
    x = np.ones((3, 1))
    # s = 1: the two forms are the same SDE, to the bit
    assert np.array_equal(sde1.f(0.3, x), sde2.f(0.3, x))
    assert np.array_equal(sde1.g(0.3), sde2.g(0.3))
    # ε = η^{(α-1)/α} σ is the driver's scale ((α - 1)/α = 1/3 in floating point too)
    assert sde1.eps[0] == 0.01 ** (1 / 3) and np.array_equal(sde1.driver.scale, sde1.eps)
    s = power_law_scheduler(0.5)
    sde3 = levy_sgd_sde(lambda x: 2 * x, 1, 1.5, 1.0, 0.01, scheduler=s, time="lr-weighted")
    # noise coefficient s_τ^{(α-1)/α} ε: the factor s_τ^{(α-1)/α} in g, ε in the driver
    assert sde3.g(3.0)[0] == 0.5 ** (1 / 3) and sde3.driver.scale[0] == 0.01 ** (1 / 3)


def test_levy_sgd_sde_compiles_a_builtin_oracles_grad():
    """``Ackley().grad`` (a bound method) runs its compiled kernel: no numba fallback warning,
    and the numba and numpy backends agree in law (independent seeds, bounded test function)."""
    import warnings
    from sdesim.sgd import Ackley
    sde = levy_sgd_sde(Ackley().grad, 2, alpha=1.7, sigma=0.3, lr=0.05)
    kw = dict(T=0.5, dt=0.05, n_paths=20_000, quiet=True)
    phi = lambda x: np.arctan(x)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = sdesim.expectation(sde, [0.3, -0.2], phi, rng=1, **kw)
    b = sdesim.expectation(sde, [0.3, -0.2], phi, rng=2, backend="numpy", **kw)
    assert np.all(np.abs(a.mean - b.mean) <= K * np.sqrt(a.stderr**2 + b.stderr**2))


# ----------------------------------------------------------------------------- moved names
@pytest.mark.parametrize("old,new", [("METHODS", "sdesim.levy.TAIL_INDEX_METHODS"),
                                     ("levy_sgd_sde", "sdesim.sgd.levy_sgd_sde"),
                                     ("power_law_scheduler", "sdesim.sgd.power_law_scheduler"),
                                     ("multistep_scheduler", "sdesim.sgd.multistep_scheduler")])
def test_old_names_still_work_and_warn_naming_the_new_ones(old, new):
    import importlib
    module, _, name = new.rpartition(".")
    message = re.escape(f"sdesim.levy.{old} is deprecated: use {new}") + "$"
    with pytest.warns(DeprecationWarning, match=message):
        value = getattr(levy, old)
    assert value is getattr(importlib.import_module(module), name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert levy.TAIL_INDEX_METHODS == ("mohammadi", "logmoment", "mcculloch", "mle")
        assert TAIL_INDEX_METHODS is levy.TAIL_INDEX_METHODS
    with pytest.raises(AttributeError, match="module 'sdesim.levy' has no attribute 'nope'"):
        levy.nope  # noqa: B018
