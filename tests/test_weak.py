"""Tests of sdesim.weak: EM weak order 1 on GBM and a 2-d linear SDE, moment checks, refusals."""
import math

import numpy as np
import pytest
from scipy import stats

import sdesim
from sdesim.weak import WeakOrderResult, check_test_function_moments, weak_order

T = 1.0
DTS = [T / 2 ** k for k in range(1, 7)]          # T/2 ... T/64
MU, SIGMA, X0 = 0.5, 0.4, 1.0                    # GBM of THEORY.md §C.2
EXACT_GBM = X0 ** 2 * math.exp((2 * MU + SIGMA ** 2) * T)


def square(x):
    return x[:, 0] ** 2


def gbm_em_chain(dts):
    """Exact E X_N^2 of the EM chain of GBM (THEORY.md §C.2), one value per step size."""
    h = np.asarray(dts, dtype=float)
    return X0 ** 2 * ((1 + MU * h) ** 2 + SIGMA ** 2 * h) ** np.rint(T / h)


def chi2_quantile_ok(d, cov, alpha=1e-4):
    """Joint test that the mean estimates ``d`` (K,) with covariance ``cov`` are centred at 0."""
    chi2 = float(d @ np.linalg.solve(cov, d))
    return chi2 <= stats.chi2.ppf(1 - alpha, d.size), chi2


@pytest.fixture(scope="module")
def gbm_exact():
    return weak_order(sdesim.gbm(MU, SIGMA), X0, T, square, DTS, 200_000, exact=EXACT_GBM,
                      rng=1, quiet=True)


@pytest.fixture(scope="module")
def gbm_coupled():
    return weak_order(sdesim.gbm(MU, SIGMA), X0, T, square, DTS, 200_000, rng=2, quiet=True)


# ------------------------------------------------------------------------------ GBM

def test_gbm_order_one_against_exact(gbm_exact):
    r = gbm_exact
    assert isinstance(r, WeakOrderResult)
    assert r.kind == "errors" and r.exact == EXACT_GBM and r.coupled
    assert r.errors.shape == (6,) and r.stderrs.shape == (6,) and r.cov.shape == (6, 6)
    assert np.all(np.diff(r.dts) < 0)
    assert r.fit.status == "ok"
    lo, hi = r.order_ci
    assert lo <= 1.0 <= hi
    assert r.ci_halfwidth <= 0.1
    assert r.order == r.fit.order


def test_gbm_order_one_coupled_without_exact(gbm_coupled):
    r = gbm_coupled
    assert r.kind == "differences" and r.exact is None
    assert r.errors.shape == (5,) and r.stderrs.shape == (5,)
    assert r.fit.status == "ok"
    lo, hi = r.order_ci
    assert lo <= 1.0 <= hi
    assert r.ci_halfwidth <= 0.1
    # coupling: a successive difference is far more precise than either level
    assert np.all(r.stderrs < 0.3 * np.sqrt(np.diag(r.cov))[1:])


@pytest.mark.parametrize("fixture", ["gbm_exact", "gbm_coupled"])
def test_gbm_means_match_exact_em_chain_moments(fixture, request):
    r = request.getfixturevalue(fixture)
    ok, chi2 = chi2_quantile_ok(r.means - gbm_em_chain(r.dts), r.cov)
    assert ok, chi2


def test_independent_sampling_is_much_noisier(gbm_coupled):
    r = weak_order(sdesim.gbm(MU, SIGMA), X0, T, square, DTS, 20_000, coupled=False, rng=3,
                   quiet=True)
    assert not r.coupled
    assert np.allclose(r.cov, np.diag(np.diag(r.cov)))          # independent levels
    # per-path variance of a difference: O(1) independent, O(h) coupled
    var_ind = r.stderrs ** 2 * r.n_paths
    var_cpl = gbm_coupled.stderrs ** 2 * gbm_coupled.n_paths
    assert np.all(var_ind > 20 * var_cpl)


# ---------------------------------------------------------------- 2-d, non-commuting noise

A2 = np.array([[0.3, 1.0], [-1.0, -0.2]])
B2 = [np.array([[0.5, 0.0], [0.0, -0.3]]), np.array([[0.0, 0.6], [0.4, 0.0]])]
X02 = np.array([1.0, 0.5])


def sq_norm(x):
    return x[:, 0] ** 2 + x[:, 1] ** 2


@pytest.mark.parametrize("with_exact", [True, False])
def test_linear_2d_noncommuting_noise_order_one(with_exact):
    assert not np.allclose(B2[0] @ B2[1], B2[1] @ B2[0])
    exact = float(np.trace(sdesim.linear.linear_moments(A2, B2, X02, T).second))
    dts = [T / 2 ** k for k in range(1, 8)]                    # T/2 ... T/128
    r = weak_order(sdesim.linear(A2, B2), X02, T, sq_norm, dts, 200_000,
                   exact=exact if with_exact else None, rng=4, quiet=True)
    lo, hi = r.order_ci
    assert r.fit.status == "ok" and lo <= 1.0 <= hi and r.ci_halfwidth <= 0.12
    em = np.array([np.trace(sdesim.linear.em_chain_moments(A2, B2, X02, h, int(round(T / h)))
                            .second) for h in r.dts])
    ok, chi2 = chi2_quantile_ok(r.means - em, r.cov)
    assert ok, chi2


# ------------------------------------------------------------------------------ α-stable

@pytest.mark.parametrize("g", [lambda x: x[:, 0], lambda x: x[:, 0] ** 2],
                         ids=["x", "x^2"])
def test_stable_driver_refuses_unbounded_test_function(g):
    sde = sdesim.ou(1.0, 1.0, driver=sdesim.Stable(1.5))
    with pytest.raises(ValueError, match=r"^g grows.*cos"):
        weak_order(sde, 0.5, T, g, DTS, 1000, quiet=True)


def test_stable_driver_accepts_bounded_test_function():
    sde = sdesim.ou(1.0, 1.0, driver=sdesim.Stable(1.5))
    r = weak_order(sde, 0.5, T, lambda x: np.cos(x[:, 0]), DTS[:5], 20_000, rng=5, quiet=True)
    assert isinstance(r, WeakOrderResult) and np.all(np.isfinite(r.errors))


def test_check_test_function_moments():
    cos = check_test_function_moments(lambda x: np.cos(x @ np.array([1.0, 2.0])), [0.0, 1.0], 1.5)
    assert abs(cos) < 0.05
    assert check_test_function_moments(lambda x: np.sqrt(np.abs(x[:, 0])), [0.0], 1.5) == \
        pytest.approx(0.5, abs=0.01)
    assert math.isnan(check_test_function_moments(square, [0.0], 2.0))   # Brownian: no check
    with pytest.raises(ValueError, match="grows like"):
        check_test_function_moments(lambda x: np.sqrt(np.abs(x[:, 0])), [0.0], 0.9)
    with pytest.raises(ValueError, match="grows like"):
        check_test_function_moments(lambda x: x[:, 1], [0.0, 0.0], 1.9)  # any coordinate
    with pytest.raises(ValueError, match="without bound"):
        check_test_function_moments(lambda x: np.exp(x[:, 0]), [0.0], 1.5)
    with pytest.raises(ValueError, match="min_alpha"):
        check_test_function_moments(square, [0.0], 2.5)
    with pytest.raises(ValueError, match="shape"):
        check_test_function_moments(lambda x: x, [0.0, 0.0], 1.5)


# ------------------------------------------------------------------------------ output

def test_repr_summary_and_plot(gbm_coupled):
    import matplotlib
    matplotlib.use("Agg")
    text = repr(gbm_coupled)
    assert text.startswith("WeakOrderResult(weak order ") and "coupled paths" in text
    assert "dropped" in text and "C h^p" in text
    assert "reason:" in gbm_coupled.summary()
    ax = gbm_coupled.plot()
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "weak order" in ax.get_title()
    assert any("slope 1" in t.get_text() for t in ax.get_legend().get_texts())


# ------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(g=42), TypeError, "g must be callable"),
    (dict(dts=[0.5, 0.25, 0.125, 0.0625]), ValueError, "at least 5 step sizes without exact"),
    (dict(dts=[0.5, 0.25, 0.125], exact=3.0), ValueError, "at least 4 step sizes with exact"),
    (dict(dts=[0.5, 0.25, 0.25, 0.125, 0.0625]), ValueError, "distinct"),
    (dict(dts=[0.5, -0.25, 0.125, 0.0625, 0.03125]), ValueError, "dts must be finite and > 0"),
    (dict(dts=[2.0, 0.5, 0.25, 0.125, 0.0625]), ValueError, "dts must be <= T"),
    (dict(dts=[0.5, 0.25, 0.125, 0.1, 0.05]), ValueError, "cannot be coupled"),
    (dict(dts=[0.5, 0.25, 0.125, 0.0625, 0.03]), ValueError, "dts"),
    (dict(exact=float("nan")), ValueError, "exact must be finite"),
    (dict(n_paths=1), ValueError, "n_paths"),
    (dict(n_paths=10.5), TypeError, "n_paths"),
    (dict(level=1.5), ValueError, "level"),
    (dict(model="cubic"), ValueError, "model"),
    (dict(T=-1.0), ValueError, "T must be"),
])
def test_bad_input(kwargs, exc, match):
    args = dict(sde=sdesim.gbm(MU, SIGMA), x0=X0, T=T, g=square, dts=DTS[:5], n_paths=1000,
                quiet=True)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        weak_order(**args)
