"""Tests for sdesim.exact: exact cross-checks against the closed forms of docs/theory.md §C.1,
§C.2 and §C.6.

Everything here is deterministic. Tolerances are either a small multiple of machine precision
(identities that hold exactly), the rounding of a number quoted in docs/theory.md, the stated
accuracy of an ODE integrator, or an asymptotic statement (ratio 2 + O(h)). Only the public
names of sdesim.exact are used.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

import sdesim
from sdesim.exact import (
    Moments,
    em_chain_moments,
    linear_moments,
    ou_cov,
    ou_em_chain_moments,
    ou_em_stationary_cov,
    ou_mean,
    ou_stationary_cov,
    sde_stationary_cov,
    sgd_quadratic_moments,
    sgd_stationary_cov,
    stable_ou_charfn,
    stable_ou_em_scale,
    stable_ou_scale,
)

EPS = np.finfo(float).eps

# A stable, non-normal 3-d OU problem.
A3 = np.array([[1.2, 0.7, -0.3], [-0.4, 0.9, 0.5], [0.2, -0.6, 1.5]])
B3 = np.array([[0.5, 0.1], [-0.2, 0.8], [0.3, 0.4]])

# A 2-d linear SDE with two non-commuting multiplicative noise matrices.
A2 = np.array([[-1.0, 0.5], [-0.3, -0.8]])
B2_LIST = [np.array([[0.3, 0.1], [0.0, 0.2]]), np.array([[0.0, -0.2], [0.25, 0.0]])]
A2_CONST = np.array([0.2, -0.1])
B2_CONST = [np.array([0.1, 0.0]), np.array([0.0, 0.15])]
X2 = np.array([1.0, -0.5])


def assert_close(actual, desired, rtol, atol=0.0):
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=atol)


# ------------------------------------------------------------------------------------------
# OU, continuous (C.1)
# ------------------------------------------------------------------------------------------


def test_ou_cov_tends_to_stationary_cov():
    # the slowest mode decays like exp(-2 * 0.97 * 50): S(50) = S_inf to rounding
    assert np.linalg.eigvals(A3).real.min() > 0.9
    assert_close(ou_cov(A3, B3, 50.0), ou_stationary_cov(A3, B3), rtol=1e-10)
    S = ou_stationary_cov(A3, B3)
    assert_close(A3 @ S + S @ A3.T, B3 @ B3.T, rtol=0, atol=1e-14)


def test_ou_cov_satisfies_its_ode():
    t, Q = 0.7, B3 @ B3.T
    S = ou_cov(A3, B3, t)
    E = expm(-A3 * t)
    # exact identity: dS/dt = e^{-At} Q e^{-A^T t} = -A S - S A^T + Q
    assert_close(-A3 @ S - S @ A3.T + Q, E @ Q @ E.T, rtol=0, atol=50 * EPS)
    # central difference: error <= delta^2 / 6 * max|S'''| (S''' = A^2 S' + 2 A S' A^T + S' A^T^2,
    # varying by a relative O(|A| delta) over the stencil) plus rounding ~ eps |S| / delta
    delta = 1e-3
    fd = (ou_cov(A3, B3, t + delta) - ou_cov(A3, B3, t - delta)) / (2 * delta)
    Sp = E @ Q @ E.T
    S3 = A3 @ A3 @ Sp + 2 * A3 @ Sp @ A3.T + Sp @ A3.T @ A3.T
    bound = 1.1 * delta**2 / 6 * np.abs(S3).max() + 100 * EPS * np.abs(S).max() / delta
    assert np.abs(fd - (-A3 @ S - S @ A3.T + Q)).max() < bound
    assert_close(ou_cov(A3, B3, 0.0), np.zeros((3, 3)), rtol=0, atol=0)


def test_ou_cov_symmetric_eigenbasis_formula():
    rng = np.random.default_rng(1)
    Qm, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    lam = np.array([0.3, 1.0, 2.5, 7.0])
    A = Qm @ np.diag(lam) @ Qm.T
    B = rng.normal(size=(4, 3))
    for t in [0.01, 0.8, 5.0]:
        C = Qm.T @ B @ B.T @ Qm
        ls = lam[:, None] + lam[None, :]
        S_eig = C * (-np.expm1(-ls * t)) / ls
        assert_close(Qm.T @ ou_cov(A, B, t) @ Qm, S_eig, rtol=0, atol=1e-14)


def test_ou_cov_long_horizon_stiff_does_not_overflow():
    # |A| t = 1e6: handled by halving and doubling; exact value diag(1/(2*100)) = 0.005
    S = ou_cov(100.0 * np.eye(2), np.eye(2), 1e4)
    assert_close(S, 0.005 * np.eye(2), rtol=1e-13)


def test_ou_mean():
    rng = np.random.default_rng(2)
    Qm, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    lam = np.array([0.5, 1.0, 3.0])
    A = Qm @ np.diag(lam) @ Qm.T
    x0 = np.array([1.0, -2.0, 0.5])
    assert_close(ou_mean(A, x0, 1.3), Qm @ (np.exp(-lam * 1.3) * (Qm.T @ x0)), rtol=1e-13)
    assert_close(ou_mean(A, x0, 0.0), x0, rtol=0)


# ------------------------------------------------------------------------------------------
# General linear SDE (continuous)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mu, sigma", [(0.5, 0.4), (-1.3, 0.9), (0.0, 1.0)])
def test_linear_moments_gbm(mu, sigma):
    for t in [0.0, 0.5, 2.0]:
        mo = linear_moments([[mu]], [[[sigma]]], [1.7], t)
        assert_close(mo.mean, [1.7 * np.exp(mu * t)], rtol=1e-13)
        assert_close(mo.second, [[1.7**2 * np.exp((2 * mu + sigma**2) * t)]], rtol=1e-13)
        assert_close(mo.cov, mo.second - mo.mean**2, rtol=0)


def test_linear_moments_ou_matches_ou_functions():
    x0, t = np.array([1.0, -2.0, 0.5]), 0.9
    expect_mean, expect_cov = ou_mean(A3, x0, t), ou_cov(A3, B3, t)
    mo = linear_moments(-A3, [], x0, t, b_list=B3.T)  # additive path
    assert_close(mo.mean, expect_mean, rtol=1e-13)
    assert_close(mo.cov, expect_cov, rtol=0, atol=1e-14)
    # the general Kronecker path (taken once some B_j != 0) is independent code: append a 4th
    # coordinate, a GBM that the OU block never sees, with its own multiplicative noise
    mu, sigma, y0 = -0.4, 0.6, 1.3
    A = np.zeros((4, 4))
    A[:3, :3], A[3, 3] = -A3, mu
    B_list, b_list = np.zeros((3, 4, 4)), np.zeros((3, 4))
    B_list[2, 3, 3], b_list[:2, :3] = sigma, B3.T
    mk = linear_moments(A, B_list, np.append(x0, y0), t, b_list=b_list)
    assert_close(mk.mean[:3], expect_mean, rtol=1e-13)
    assert_close(mk.second[:3, :3], expect_cov + np.outer(expect_mean, expect_mean),
                 rtol=0, atol=1e-13)
    assert_close(mk.mean[3], y0 * np.exp(mu * t), rtol=1e-13)
    assert_close(mk.second[3, 3], y0**2 * np.exp((2 * mu + sigma**2) * t), rtol=1e-13)


def test_linear_moments_constant_drift_scalar():
    # dX = (A X + a) dt + b dW: mean e^{At} x0 + a (e^{At} - 1)/A, var b^2 (e^{2At} - 1)/(2A)
    A, a, b, x0, t = -0.7, 0.3, 0.5, 2.0, 1.4
    mo = linear_moments([[A]], [], [x0], t, a=[a], b_list=[[b]])
    assert_close(mo.mean, [np.exp(A * t) * x0 + a * np.expm1(A * t) / A], rtol=1e-14)
    assert_close(mo.cov, [[b**2 * np.expm1(2 * A * t) / (2 * A)]], rtol=1e-14)


def test_linear_moments_matches_matrix_ode_integration():
    # independent check of the Kronecker algebra: integrate the moment ODE in matrix form
    d = 2

    def rhs(_, z):
        m, P = z[:d], z[d:].reshape(d, d)
        dP = A2 @ P + P @ A2.T + np.outer(A2_CONST, m) + np.outer(m, A2_CONST)
        for B, b in zip(B2_LIST, B2_CONST):
            dP += B @ P @ B.T + np.outer(B @ m, b) + np.outer(b, B @ m) + np.outer(b, b)
        return np.concatenate([A2 @ m + A2_CONST, dP.ravel()])

    z0 = np.concatenate([X2, np.outer(X2, X2).ravel()])
    sol = solve_ivp(rhs, (0, 1.5), z0, method="DOP853", rtol=1e-13, atol=1e-14)
    mo = linear_moments(A2, B2_LIST, X2, 1.5, a=A2_CONST, b_list=B2_CONST)
    # integrator tolerance 1e-13 per step, ~1e2 steps
    assert_close(mo.mean, sol.y[:d, -1], rtol=1e-10)
    assert_close(mo.second, sol.y[d:, -1].reshape(d, d), rtol=1e-10)


# ------------------------------------------------------------------------------------------
# Euler–Maruyama chains (C.2)
# ------------------------------------------------------------------------------------------

MU, SIG = 0.5, 0.4


def _gbm_em(N, T=1.0):
    return em_chain_moments([[MU]], [[[SIG]]], [1.0], T / N, N)


@pytest.mark.parametrize("N", [1, 7, 160, 1000])
def test_em_gbm_closed_forms(N):
    h = 1.0 / N
    mo = _gbm_em(N)
    assert_close(mo.mean, [(1 + MU * h) ** N], rtol=1e-13)
    assert_close(mo.second, [[((1 + MU * h) ** 2 + SIG**2 * h) ** N]], rtol=1e-13)


def test_em_gbm_weak_error_constants_c2():
    exact1, exact2 = np.exp(MU), np.exp(2 * MU + SIG**2)
    C1 = 0.5 * MU**2 * np.exp(MU)
    C2 = np.exp(2 * MU + SIG**2) * (0.5 * (2 * MU + SIG**2) ** 2 - MU**2)
    mo = _gbm_em(160)
    err1, err2 = exact1 - mo.mean[0], exact2 - mo.second[0, 0]
    # the numbers quoted in docs/theory.md §C.2, to the digits quoted
    assert round(err1, 7) == 1.2849e-3 and round(err2, 6) == 8.390e-3
    assert round(C1 / 160, 7) == 1.2881e-3 and round(C2 / 160, 6) == 8.429e-3
    # err = C h + O(h^2): (err/h - C) halves when h halves
    dev = []
    for N in [160, 320, 640]:
        mo = _gbm_em(N)
        dev.append(((exact1 - mo.mean[0]) * N - C1, (exact2 - mo.second[0, 0]) * N - C2))
    dev = np.array(dev)
    ratios = dev[:-1] / dev[1:]
    assert np.all(np.abs(ratios - 2) < 0.02), ratios


def test_em_weak_order_one_noncommuting_2d():
    assert np.abs(B2_LIST[0] @ B2_LIST[1] - B2_LIST[1] @ B2_LIST[0]).max() > 0.01
    T = 1.0
    exact = linear_moments(A2, B2_LIST, X2, T, a=A2_CONST, b_list=B2_CONST)
    norms = []
    for k in range(6):
        N = 25 * 2**k
        em = em_chain_moments(A2, B2_LIST, X2, T / N, N, a=A2_CONST, b_list=B2_CONST)
        err = np.concatenate([exact.mean - em.mean, (exact.second - em.second).ravel()])
        norms.append(np.linalg.norm(err))
    r = np.array(norms[:-1]) / np.array(norms[1:])
    # r = 2 + O(h), and the O(h) part itself halves with h
    dev = np.abs(r - 2)
    assert np.all(dev < 0.02), r
    assert np.all((dev[1:] / dev[:-1] > 0.45) & (dev[1:] / dev[:-1] < 0.55)), r


def _em_raw_moments(A, Bs, a, bs, x0, h, ns):
    """``(E X_n, E X_n X_n^T)`` for each n in increasing ``ns``, by the raw-moment step recursion
    of ``X' = M X + c + sum_j (B_j X + b_j) dW_j`` (written here, independently of sdesim)."""
    M, c = np.eye(len(x0)) + h * A, h * a
    m, P, out = x0.copy(), np.outer(x0, x0), []
    for k in range(max(ns) + 1):
        if k in ns:
            out.append((m, P))
        Mm = M @ m
        P_next = M @ P @ M.T + np.outer(Mm, c) + np.outer(c, Mm) + np.outer(c, c)
        for B, b in zip(Bs, bs):
            Bm = B @ m
            P_next += h * (B @ P @ B.T + np.outer(Bm, b) + np.outer(b, Bm) + np.outer(b, b))
        m, P = Mm + c, P_next
    return out


@pytest.mark.parametrize("d", [3, 8])
def test_em_chain_moments_match_step_recursion(d):
    # em_chain_moments picks the cheaper exact algorithm: binary powers of the (d + d^2)
    # Kronecker map at d = 3, the step recursion on (mean, covariance) at d = 8
    rng = np.random.default_rng(3)
    h = 0.01
    A = -np.eye(d) + 0.3 * rng.normal(size=(d, d)) / np.sqrt(d)
    Bs = 0.3 * rng.normal(size=(2, d, d)) / np.sqrt(d)
    a, bs, x0 = rng.normal(size=d), rng.normal(size=(2, d)), rng.normal(size=d)
    ns = [0, 1, 5, 37, 100]
    mo = em_chain_moments(A, Bs, x0, h, ns, a=a, b_list=bs)
    for i, (m, P) in enumerate(_em_raw_moments(A, Bs, a, bs, x0, h, ns)):
        assert_close(mo.mean[i], m, rtol=0, atol=1e-13 * np.abs(m).max())
        assert_close(mo.second[i], P, rtol=0, atol=1e-12 * np.abs(P).max())
    # additive noise (every B_j = 0) takes binary powers of the affine (mean, cov) map
    add = em_chain_moments(A, [], x0, h, [3, 250], a=a, b_list=bs)
    for i, (m, P) in enumerate(_em_raw_moments(A, np.zeros((2, d, d)), a, bs, x0, h, [3, 250])):
        assert_close(add.mean[i], m, rtol=0, atol=1e-13 * np.abs(m).max())
        assert_close(add.second[i], P, rtol=0, atol=1e-12 * np.abs(P).max())


def test_em_step_sequences_stack_in_the_order_given():
    rng = np.random.default_rng(3)
    d, h = 3, 0.01
    A = -A3
    Bs = 0.3 * rng.normal(size=(2, d, d))
    a, bs, x0 = rng.normal(size=d), rng.normal(size=(2, d)), rng.normal(size=d)
    # a sequence (unsorted, repeated) gives stacked moments in the order given
    seq = [37, 0, 100, 37]
    mo = em_chain_moments(A, Bs, x0, h, seq, a=a, b_list=bs)
    assert mo.mean.shape == (4, d) and mo.second.shape == (4, d, d) and mo.cov.shape == (4, d, d)
    for i, n in enumerate(seq):
        # a sequence is evaluated incrementally (37, then 63 more): equal up to rounding
        single = em_chain_moments(A, Bs, x0, h, n, a=a, b_list=bs)
        assert_close(mo.mean[i], single.mean, rtol=0, atol=1e-14)
        assert_close(mo.second[i], single.second, rtol=0, atol=1e-13)
    assert np.array_equal(mo.second[0], mo.second[3])
    assert_close(mo.cov[1], np.zeros((d, d)), rtol=0, atol=0)
    assert_close(mo.mean[1], x0, rtol=0, atol=0)


def test_ou_em_closed_forms_c2():
    theta, sigma, x0, h = 1.3, 0.7, 2.0, 0.05
    ns = [0, 1, 10, 200]
    mo = ou_em_chain_moments([[theta]], [[sigma]], [x0], h, ns)
    for i, N in enumerate(ns):
        q = 1 - theta * h
        assert_close(mo.mean[i], [q**N * x0], rtol=1e-14)
        var = sigma**2 * (1 - q ** (2 * N)) / (theta * (2 - theta * h))
        assert_close(mo.cov[i], [[var]], rtol=1e-13, atol=1e-16)
    stat = ou_em_stationary_cov([[theta]], [[sigma]], h)
    assert_close(stat, [[sigma**2 / (theta * (2 - theta * h))]], rtol=1e-14)


def test_ou_em_multivariate_stationary():
    h = 0.05
    S = ou_em_stationary_cov(A3, B3, h)
    M = np.eye(3) - h * A3
    assert_close(M @ S @ M.T + h * B3 @ B3.T, S, rtol=0, atol=1e-14)
    far = ou_em_chain_moments(A3, B3, np.ones(3), h, 10**5)
    assert_close(far.cov, S, rtol=0, atol=1e-13)
    # EM stationary covariance -> continuous one as h -> 0, with an O(h) gap
    gaps = [np.abs(ou_em_stationary_cov(A3, B3, hh) - ou_stationary_cov(A3, B3)).max()
            for hh in (1e-2, 5e-3)]
    assert abs(gaps[0] / gaps[1] - 2) < 0.02


# ------------------------------------------------------------------------------------------
# SGD on a quadratic (C.1, "Discrete SGD/NGD, exact")
# ------------------------------------------------------------------------------------------


def _eigen_problem():
    rng = np.random.default_rng(4)
    Qm, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    lam = np.array([0.5, 2.0, 6.0])
    H = Qm @ np.diag(lam) @ Qm.T
    G = rng.normal(size=(3, 3))
    Sigma = G @ G.T
    return Qm, lam, H, Sigma


def test_sgd_stationary_cov_eigenbasis_formula():
    Qm, lam, H, Sigma = _eigen_problem()
    C = Qm.T @ Sigma @ Qm
    for lr in [0.01, 0.1, 0.3]:
        S = sgd_stationary_cov(H, Sigma, lr)
        denom = lam[:, None] + lam[None, :] - lr * lam[:, None] * lam[None, :]
        assert_close(Qm.T @ S @ Qm, lr * C / denom, rtol=0, atol=1e-13)
        Sc = sde_stationary_cov(H, Sigma, lr)
        assert_close(Qm.T @ Sc @ Qm, lr * C / (lam[:, None] + lam[None, :]), rtol=0, atol=1e-14)
        # equivalent form H S + S H - lr H S H = lr Sigma
        assert_close(H @ S + S @ H - lr * H @ S @ H, lr * Sigma, rtol=0, atol=1e-13)


def test_sgd_stationary_commuting_identity():
    # [H, Sigma] = 0: delta = S - S^c = (lr^2 / 2) Sigma (2I - lr H)^{-1}, exactly
    Qm, lam, H, _ = _eigen_problem()
    Sigma = Qm @ np.diag([1.0, 0.3, 2.0]) @ Qm.T
    for lr in [0.05, 0.2]:
        delta = sgd_stationary_cov(H, Sigma, lr) - sde_stationary_cov(H, Sigma, lr)
        expected = lr**2 / 2 * Sigma @ np.linalg.inv(2 * np.eye(3) - lr * H)
        assert_close(delta, expected, rtol=0, atol=1e-14)


def test_sgd_stationary_noncommuting_2x2():
    H = np.diag([1.0, 3.0])
    Sigma = np.array([[1.0, 0.8], [0.8, 1.0]])
    lr = 0.1
    assert np.abs(H @ Sigma - Sigma @ H).max() > 0.1
    S, Sc = sgd_stationary_cov(H, Sigma, lr), sde_stationary_cov(H, Sigma, lr)
    delta = S - Sc
    residual = H @ S + S @ H - lr * H @ S @ H - lr * Sigma
    assert np.abs(residual).max() < 10 * EPS
    resid_delta = H @ delta + delta @ H - lr * H @ delta @ H - lr * H @ Sc @ H
    assert np.abs(resid_delta).max() < 10 * EPS
    # not (lr^2/4) Sigma in general: the off-diagonal part differs at first order
    assert abs(delta[0, 1] - lr**2 / 4 * Sigma[0, 1]) > 1e-4


def test_sgd_quadratic_moments():
    Qm, lam, H, Sigma = _eigen_problem()
    lr, x_star, x0 = 0.2, np.array([1.0, -1.0, 3.0]), np.array([0.0, 2.0, 0.0])
    M = np.eye(3) - lr * H
    mo = sgd_quadratic_moments(H, Sigma, lr, x0, x_star, [0, 1, 4])
    S = np.zeros((3, 3))
    for i, k in enumerate([0, 1, 4]):
        assert_close(mo.mean[i], x_star + np.linalg.matrix_power(M, k) @ (x0 - x_star),
                     rtol=0, atol=1e-14)
    for k in range(1, 5):
        S = M @ S @ M.T + lr**2 * Sigma
        if k in (1, 4):
            assert_close(mo.cov[[0, 1, 4].index(k)], S, rtol=0, atol=1e-14)
    far = sgd_quadratic_moments(H, Sigma, lr, x0, x_star, 10**6)
    assert_close(far.mean, x_star, rtol=1e-14)
    assert_close(far.cov, sgd_stationary_cov(H, Sigma, lr), rtol=0, atol=1e-14)


# ------------------------------------------------------------------------------------------
# alpha-stable OU (C.6)
# ------------------------------------------------------------------------------------------


def test_stable_ou_numbers_c6():
    assert round(stable_ou_em_scale(1.0, 1.0, 1.5, 0.1), 4) == 0.7764
    assert round(stable_ou_scale(1.0, 1.0, 1.5), 4) == 0.7631
    # first-order expansion: EM / continuous = 1 + (alpha - 1) theta h / (2 alpha) + O(h^2)
    alpha, theta = 1.5, 1.0
    devs = []
    for h in (1e-2, 5e-3):
        ratio = stable_ou_em_scale(theta, 1.0, alpha, h) / stable_ou_scale(theta, 1.0, alpha)
        devs.append(ratio - 1 - (alpha - 1) * theta * h / (2 * alpha))
    assert abs(devs[0] / devs[1] - 4) < 0.05  # the remainder is O(h^2)


def test_stable_ou_alpha2_is_gaussian_ou():
    # alpha = 2: sigma dL = sqrt(2) sigma dW, and scale c <-> variance 2 c^2
    theta, sigma, h = 1.7, 0.6, 0.2
    var_em = ou_em_stationary_cov([[theta]], [[np.sqrt(2) * sigma]], h)[0, 0]
    assert var_em == pytest.approx(2 * sigma**2 / (theta * (2 - theta * h)), rel=1e-14)
    c_em = stable_ou_em_scale(theta, sigma, 2.0, h)
    assert c_em == pytest.approx(np.sqrt(var_em / 2), rel=1e-14)
    for t in [0.3, 2.0]:
        var_t = ou_cov([[theta]], [[np.sqrt(2) * sigma]], t)[0, 0]
        assert stable_ou_scale(theta, sigma, 2.0, t) == pytest.approx(np.sqrt(var_t / 2), rel=1e-13)
    var_inf = ou_stationary_cov([[theta]], [[np.sqrt(2) * sigma]])[0, 0]
    assert stable_ou_scale(theta, sigma, 2.0) == pytest.approx(np.sqrt(var_inf / 2), rel=1e-14)
    # the charfn is then the Gaussian one, exp(i u mean - var u^2 / 2)
    u, x0, t = np.linspace(-3, 3, 7), 1.5, 0.4
    var_t = ou_cov([[theta]], [[np.sqrt(2) * sigma]], t)[0, 0]
    expected = np.exp(1j * u * np.exp(-theta * t) * x0 - var_t * u**2 / 2)
    assert_close(stable_ou_charfn(u, x0, theta, sigma, 2.0, t), expected, rtol=1e-13)


def test_stable_ou_broadcasting_and_limits():
    alpha = np.array([1.2, 1.5, 2.0])
    scales = stable_ou_scale(1.0, 0.5, alpha)
    assert scales.shape == (3,)
    assert_close(scales, 0.5 * alpha ** (-1 / alpha), rtol=1e-15)
    assert stable_ou_scale(2.0, 1.0, 1.3, 0.0) == 0.0
    # small t: scale ~ sigma t^{1/alpha} (pure Levy increment)
    t = 1e-9
    assert stable_ou_scale(2.0, 1.0, 1.3, t) == pytest.approx(t ** (1 / 1.3), rel=1e-8)
    em = stable_ou_em_scale(np.array([[1.0], [2.0]]), 1.0, alpha, 0.1)
    assert em.shape == (2, 3)
    # theta h = 1 (the chain forgets in one step) and theta h > 1 (|1 - theta h|)
    assert stable_ou_em_scale(10.0, 1.0, 1.5, 0.1) == pytest.approx(0.1 ** (1 / 1.5), rel=1e-15)
    q = abs(1 - 1.5)
    assert stable_ou_em_scale(15.0, 1.0, 1.5, 0.1) == pytest.approx(
        (0.1 / (1 - q**1.5)) ** (1 / 1.5), rel=1e-15)
    phi = stable_ou_charfn(np.array([0.0, 1.0]), 2.0, 1.0, 1.0, alpha[:, None])
    assert phi.shape == (3, 2) and np.all(phi[:, 0] == 1.0)
    assert_close(np.abs(phi[:, 1]), np.exp(-stable_ou_scale(1.0, 1.0, alpha) ** alpha), rtol=1e-15)


# ------------------------------------------------------------------------------------------
# Moments object
# ------------------------------------------------------------------------------------------


def test_moments_object():
    mo = Moments(np.array([1.0, 2.0]), np.array([[2.0, 2.0], [2.0, 5.0]]))
    assert_close(mo.cov, [[1.0, 0.0], [0.0, 1.0]], rtol=0)
    with pytest.raises(ValueError, match="read-only"):
        mo.mean[0] = 3.0
    with pytest.raises(AttributeError, match=r"\bmean\b"):
        mo.mean = np.zeros(2)  # frozen
    with pytest.raises(ValueError, match="second"):
        Moments(np.zeros(2), np.zeros((3, 3)))


# ------------------------------------------------------------------------------------------
# Input validation: every error names its argument
# ------------------------------------------------------------------------------------------

I2 = np.eye(2)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: ou_mean(np.ones((2, 3)), [1, 1], 1.0), "A"),
        (lambda: ou_mean(I2, [1, 1, 1], 1.0), "x0"),
        (lambda: ou_mean(I2, [1, np.nan], 1.0), "x0"),
        (lambda: ou_mean(I2, [1, 1], -1.0), "t"),
        (lambda: ou_mean(I2, [1, 1], np.inf), "t"),
        (lambda: ou_cov(I2, np.ones((3, 2)), 1.0), "B"),
        (lambda: ou_cov([[1.0, np.inf], [0, 1]], I2, 1.0), "A"),
        (lambda: ou_stationary_cov(np.diag([1.0, -0.5]), I2), "A"),
        (lambda: ou_stationary_cov([[0.0, 1.0], [-1.0, 0.0]], I2), "A"),
        (lambda: linear_moments(I2, [np.ones((3, 3))], [1, 1], 1.0), "B_list"),
        (lambda: linear_moments(I2, [], [1, 1], 1.0, a=[1.0]), "a"),
        (lambda: linear_moments(I2, [], [1, 1], 1.0, b_list=[[1.0, 2.0, 3.0]]), "b_list"),
        (lambda: linear_moments(I2, [I2, I2], [1, 1], 1.0, b_list=[[1.0, 2.0]]), "b_list"),
        (lambda: em_chain_moments(I2, [], [1, 1], 0.0, 3), "h"),
        (lambda: em_chain_moments(I2, [], [1, 1], 0.1, -3), "n_steps"),
        (lambda: em_chain_moments(I2, [], [1, 1], 0.1, [1, -3]), "n_steps"),
        (lambda: ou_em_chain_moments(I2, np.ones(2), [1, 1], 0.1, 3), "B"),
        (lambda: ou_em_stationary_cov(I2, I2, 2.5), "h"),
        (lambda: ou_em_stationary_cov(I2, I2, -0.1), "h"),
        (lambda: ou_em_stationary_cov(-I2, I2, 0.1), "A"),
        (lambda: sgd_stationary_cov(I2, I2, 2.0), "lr"),
        (lambda: sgd_stationary_cov(np.diag([1.0, -1.0]), I2, 0.1), "lr"),
        (lambda: sgd_stationary_cov(np.diag([1.0, -1.0]), I2, 0.1), "H"),
        (lambda: sgd_stationary_cov([[1.0, 0.5], [0.0, 1.0]], I2, 0.1), "H"),
        (lambda: sgd_stationary_cov(I2, [[1.0, 0.5], [0.0, 1.0]], 0.1), "Sigma"),
        (lambda: sgd_stationary_cov(I2, np.diag([1.0, -1.0]), 0.1), "Sigma"),
        (lambda: sgd_stationary_cov(I2, np.eye(3), 0.1), "Sigma"),
        (lambda: sde_stationary_cov(I2, np.diag([1.0, -1.0]), 0.1), "Sigma"),
        (lambda: sde_stationary_cov(np.diag([1.0, 0.0]), I2, 0.1), "H"),
        (lambda: sde_stationary_cov(I2, I2, 0.0), "lr"),
        (lambda: sgd_quadratic_moments(I2, np.diag([1.0, -1.0]), 0.1, [0, 0], [0, 0], 3), "Sigma"),
        (lambda: sgd_quadratic_moments(I2, I2, 0.1, [0, 0], [0, 0, 0], 3), "x_star"),
        (lambda: sgd_quadratic_moments(I2, I2, -0.1, [0, 0], [0, 0], 3), "lr"),
        (lambda: stable_ou_scale(1.0, 1.0, 2.5), "alpha"),
        (lambda: stable_ou_scale(1.0, 1.0, 0.0), "alpha"),
        (lambda: stable_ou_scale(1.0, 1.0, [1.5, 2.1]), "alpha"),
        (lambda: stable_ou_scale(0.0, 1.0, 1.5), "theta"),
        (lambda: stable_ou_scale(1.0, -1.0, 1.5), "sigma"),
        (lambda: stable_ou_scale(1.0, 1.0, 1.5, -1.0), "t"),
        (lambda: stable_ou_scale(1.0, 1.0, 1.5, np.nan), "t"),
        (lambda: stable_ou_em_scale(1.0, 1.0, 1.5, 0.0), "h"),
        (lambda: stable_ou_em_scale(1.0, 1.0, 1.5, 2.0), "h"),
        (lambda: stable_ou_em_scale(1.0, 1.0, 3.0, 0.1), "alpha"),
        (lambda: stable_ou_charfn(1.0, np.nan, 1.0, 1.0, 1.5), "x0"),
        (lambda: stable_ou_charfn([1.0, 2.0], 0.0, 1.0, 1.0, [1.5, 1.2, 1.1]), "alpha"),
    ],
)
def test_value_errors_name_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()


def test_type_errors():
    with pytest.raises(TypeError, match="n_steps"):
        em_chain_moments(I2, [], [1, 1], 0.1, 2.5)
    with pytest.raises(TypeError, match=r"\bA\b"):
        ou_mean("not a matrix", [1.0], 1.0)
    # an integral float is accepted
    assert em_chain_moments(I2, [], [1, 1], 0.1, 3.0).mean.shape == (2,)


# ------------------------------------------------------------------------------------------
# Public names: sdesim.exact is flat, sdesim.linear is only the constructor
# ------------------------------------------------------------------------------------------


def test_exact_namespace_is_flat():
    for name in sdesim.exact.__all__:
        obj = getattr(sdesim.exact, name)
        if callable(obj):
            assert obj.__module__.startswith("sdesim.exact."), name


def test_sdesim_linear_builds_the_sde_and_names_the_new_home_of_old_references():
    sde = sdesim.linear(A2, B2_LIST, a=A2_CONST, b_list=B2_CONST)
    assert isinstance(sde, sdesim.LinearSDE)
    for name in sdesim.exact.__all__:
        with pytest.raises(AttributeError, match=rf"sdesim\.exact\.{name}\b"):
            getattr(sdesim.linear, name)
    with pytest.raises(AttributeError, match="no_such_name"):
        sdesim.linear.no_such_name
