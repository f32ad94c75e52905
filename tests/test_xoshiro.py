"""The numba backend's in-kernel generator: reference outputs and the laws it samples."""
import math

import numba
import numpy as np
import pytest
from scipy import stats

import sdesim
from sdesim.backends import numba_rng, xoshiro
from sdesim.backends.encoding import BROWNIAN, STABLE

K = 4.5  # tolerance in standard errors


@numba.njit
def _words(state, n):
    s = xoshiro.load(state)
    out = np.empty(n, np.uint64)
    for k in range(n):
        out[k], s = xoshiro.next_u64(s)
    xoshiro.store(state, s)
    return out


def test_xoshiro256pp_reference_outputs():
    # The reference C code (prng.di.unimi.it/xoshiro256plusplus.c) from state {1, 2, 3, 4}.
    state = np.array([1, 2, 3, 4], np.uint64)
    assert _words(state, 3).tolist() == [41943041, 58720359, 3588806011781223]
    # ... and a Python transcription of it from a random state, 1000 outputs.
    mask = (1 << 64) - 1
    s = [int(v) for v in xoshiro.seed_state(np.random.default_rng(3))]
    expect = []
    for _ in range(1000):
        rot = (s[0] + s[3]) & mask
        expect.append((((rot << 23) | (rot >> 41)) + s[0]) & mask)
        t = (s[1] << 17) & mask
        s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t
        s[3] = ((s[3] << 45) | (s[3] >> 19)) & mask
    assert _words(xoshiro.seed_state(np.random.default_rng(3)), 1000).tolist() == expect


def _fill(code, n, alpha=2.0, seed=0):
    buf = np.empty((n, 1))
    numba_rng.fill(code, xoshiro.seed_state(np.random.default_rng(seed)), buf, 1.0,
                   np.array([alpha]), np.array([1.0]), np.empty((4, n)))
    return buf[:, 0]


def test_fast_normals_have_the_normal_law():
    n = 2_000_000
    z = _fill(BROWNIAN, n)
    # mean, variance, skewness, excess kurtosis of N(0, 1), in standard errors
    assert abs(z.mean()) <= K * math.sqrt(1 / n)
    assert abs(z.var() - 1) <= K * math.sqrt(2 / n)
    assert abs(stats.skew(z)) <= K * math.sqrt(6 / n)
    assert abs(stats.kurtosis(z)) <= K * math.sqrt(24 / n)
    # the ziggurat's tail (|z| beyond the base strip, r = 3.654) and a wedge region
    for lo, hi in ((3.6541528853610088, np.inf), (2.0, 2.5), (0.0, 0.01)):
        p = 2 * (stats.norm.cdf(hi) - stats.norm.cdf(lo))
        frac = np.mean((np.abs(z) >= lo) & (np.abs(z) < hi))
        assert abs(frac - p) <= K * math.sqrt(p * (1 - p) / n)
    assert stats.kstest(z, "norm").pvalue > 1e-4


@numba.njit
def _exponentials(state, n):
    s = xoshiro.load(state)
    out = np.empty(n)
    for k in range(n):
        out[k], s = xoshiro.exponential(s)
    return out


def test_fast_exponentials_have_the_exponential_law():
    n = 2_000_000
    e = _exponentials(xoshiro.seed_state(np.random.default_rng(4)), n)
    assert abs(e.mean() - 1) <= K * math.sqrt(1 / n)
    assert abs(e.var() - 1) <= K * math.sqrt(8 / n)
    # the ziggurat's base strip (x > r = 7.697) and a wedge region
    for lo, hi in ((7.69711747013105, np.inf), (1.0, 1.2), (0.0, 0.01)):
        p = math.exp(-lo) - math.exp(-hi)
        frac = np.mean((e >= lo) & (e < hi))
        assert abs(frac - p) <= K * math.sqrt(p * (1 - p) / n)
    assert stats.kstest(e, "expon").pvalue > 1e-4


@pytest.mark.parametrize("alpha", [0.8, 1.0, 1.5, 2.0])
def test_fast_stable_draws_match_scipy_cdf(alpha):
    n = 200_000
    z = _fill(STABLE, n, alpha, seed=int(alpha * 10))
    # CDF at fixed points vs scipy's levy_stable(α, 0) (S1 = S0 for β = 0)
    for q in (-3.0, -1.0, -0.3, 0.5, 2.0):
        p = stats.levy_stable.cdf(q, alpha, 0.0)
        assert abs(np.mean(z <= q) - p) <= K * math.sqrt(p * (1 - p) / n)


def test_fast_stream_agrees_with_exact_em_chain_moments():
    # OU, 3 coordinates: E X_T and E X_T^2 of the numba backend's fast stream vs the exact
    # moments of the Euler–Maruyama chain (no discretisation error in the comparison).
    theta, sigma, h, n_steps, n = np.array([1.0, 2.0, 0.5]), np.array([0.5, 1.0, 0.3]), 0.05, 20, 200_000
    sde = sdesim.ou(theta, sigma)
    x0 = np.array([1.0, -0.5, 2.0])
    p = sdesim.simulate(sde, x0, T=h * n_steps, dt=h, n_paths=n, save_at=[h * n_steps], rng=11,
                        quiet=True, backend="numba")
    x = p.xs[-1]
    c = 1 - h * theta
    mean = x0 * c ** n_steps
    var = sigma ** 2 * h * (1 - c ** (2 * n_steps)) / (1 - c ** 2)
    assert np.all(np.abs(x.mean(0) - mean) <= K * np.sqrt(var / n))
    assert np.all(np.abs(x.var(0) - var) <= K * var * math.sqrt(2 / n))
