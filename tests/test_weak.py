"""Tests of sdesim.weak: EM weak order 1 on GBM and a 2-d linear SDE, moment checks, refusals."""
import math
import re

import numpy as np
import pytest
from scipy import stats

import sdesim
from sdesim.exact import stable_ou_charfn, stable_ou_em_scale
from sdesim.weak import WeakOrderResult, check_test_function_moments, fit_order, weak_order

T = 1.0
DTS = [T / 2 ** k for k in range(1, 7)]          # T/2 ... T/64
MU, SIGMA, X0 = 0.5, 0.4, 1.0                    # GBM of docs/theory.md §C.2
EXACT_GBM = X0 ** 2 * math.exp((2 * MU + SIGMA ** 2) * T)


def square(x):
    return x[:, 0] ** 2


def gbm_em_chain(dts):
    """Exact E X_N^2 of the EM chain of GBM (docs/theory.md §C.2), one value per step size."""
    h = np.asarray(dts, dtype=float)
    return X0 ** 2 * ((1 + MU * h) ** 2 + SIGMA ** 2 * h) ** np.rint(T / h)


def chi2_quantile_ok(d, cov, alpha=1e-4):
    """Joint test that the mean estimates ``d`` (K,) with covariance ``cov`` are centred at 0."""
    chi2 = float(d @ np.linalg.solve(cov, d))
    return chi2 <= stats.chi2.ppf(1 - alpha, d.size), chi2


@pytest.fixture(scope="module")
def gbm_exact():
    return weak_order(sdesim.gbm(MU, SIGMA), X0, square, T=T, dts=DTS, n_paths=200_000,
                      exact=EXACT_GBM, rng=1, quiet=True)


@pytest.fixture(scope="module")
def gbm_coupled():
    return weak_order(sdesim.gbm(MU, SIGMA), X0, square, T=T, dts=DTS, n_paths=200_000, rng=2,
                      quiet=True)


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
    r = weak_order(sdesim.gbm(MU, SIGMA), X0, square, T=T, dts=DTS, n_paths=20_000,
                   coupled=False, rng=3, quiet=True)
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
    exact = float(np.trace(sdesim.exact.linear_moments(A2, B2, X02, T).second))
    dts = [T / 2 ** k for k in range(1, 8)]                    # T/2 ... T/128
    r = weak_order(sdesim.linear(A2, B2), X02, sq_norm, T=T, dts=dts, n_paths=200_000,
                   exact=exact if with_exact else None, rng=4, quiet=True)
    lo, hi = r.order_ci
    assert r.fit.status == "ok" and lo <= 1.0 <= hi and r.ci_halfwidth <= 0.12
    em = np.array([np.trace(sdesim.exact.em_chain_moments(A2, B2, X02, h, int(round(T / h)))
                            .second) for h in r.dts])
    ok, chi2 = chi2_quantile_ok(r.means - em, r.cov)
    assert ok, chi2


# ------------------------------------------------------------------------------ α-stable

@pytest.mark.parametrize("phi", [lambda x: x[:, 0], lambda x: x[:, 0] ** 2],
                         ids=["x", "x^2"])
def test_stable_driver_refuses_unbounded_test_function(phi):
    sde = sdesim.ou(1.0, 1.0, driver=sdesim.Stable(1.5))
    with pytest.raises(ValueError, match=r"^phi grows.*cos"):
        weak_order(sde, 0.5, phi, T=T, dts=DTS, n_paths=1000, rng=0, quiet=True)
    # expectation and expectation_levels return the numbers but say that they mean nothing
    with pytest.warns(RuntimeWarning, match=r"phi grows.*mean nothing"):
        sdesim.expectation(sde, 0.5, phi, T=T, dt=DTS[-1], n_paths=100, rng=0, quiet=True)
    with pytest.warns(RuntimeWarning, match=r"phi grows.*mean nothing"):
        sdesim.expectation_levels(sde, 0.5, phi, T=T, dts=DTS[:2], n_paths=100, rng=0,
                                  quiet=True)


def stable_ou_em_cos(u, x0, theta, sigma, alpha, dts):
    """Exact ``E cos(u X_N)`` of the EM chain of ``dX = -theta X dt + sigma dL^alpha``, N = T/h.

    ``X_N = (1 - theta h)^N x0 + S`` with ``S`` SαS of scale ``s_N``,
    ``s_N^alpha = s_inf^alpha (1 - |1 - theta h|^(alpha N))`` (``s_inf``: the chain's stationary
    scale, :func:`sdesim.exact.stable_ou_em_scale`), so
    ``E cos(u X_N) = cos(u (1 - theta h)^N x0) exp(-|s_N u|^alpha)`` (docs/theory.md §C.6).
    """
    h = np.asarray(dts, dtype=float)
    n = np.rint(T / h)
    s_n = (stable_ou_em_scale(theta, sigma, alpha, h)
           * (1 - np.abs(1 - theta * h) ** (alpha * n)) ** (1 / alpha))
    return np.cos(u * (1 - theta * h) ** n * x0) * np.exp(-np.abs(s_n * u) ** alpha)


def test_stable_ou_cos_matches_exact_em_chain_charfn():
    theta, sigma, alpha, x0, u = 1.0, 1.0, 1.5, 0.5, 1.0
    sde = sdesim.ou(theta, sigma, driver=sdesim.Stable(alpha))
    exact = float(np.real(stable_ou_charfn(u, x0, theta, sigma, alpha, t=T)))
    r = weak_order(sde, x0, lambda x: np.cos(u * x[:, 0]), T=T, dts=DTS[:5], n_paths=20_000,
                   exact=exact, rng=5, quiet=True)
    assert isinstance(r, WeakOrderResult) and r.kind == "errors"
    se = np.sqrt(np.diag(r.cov))
    z_em = (r.means - stable_ou_em_cos(u, x0, theta, sigma, alpha, r.dts)) / se
    assert np.all(np.abs(z_em) <= 4.5), z_em     # 5 levels: family false-failure rate < 4e-5
    # the test is sharp enough to see the O(h) bias of EM: at h = T/2 the continuous law's
    # E cos(u X_T) is rejected (predicted gap about 20 standard errors)
    assert abs(r.errors[0] / se[0]) > 4.5, r.errors / se


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
        check_test_function_moments(lambda x: x[:3], [0.0, 0.0], 1.5)
    # a vector phi counts its fastest component
    both = check_test_function_moments(
        lambda x: np.column_stack([np.cos(x[:, 0]), np.abs(x[:, 0]) ** 0.3]), [0.0], 1.5)
    assert both == pytest.approx(0.3, abs=0.01)


# ------------------------------------------------------- why an order is not resolved

def _gbm_study(mu, sigma, dts, n_paths, rng, exact=True):
    """weak_order of E X_T^2 for GBM(mu, sigma) from x0 = 1, against the exact value or not."""
    ref = math.exp((2 * mu + sigma ** 2) * T) if exact else None
    return weak_order(sdesim.gbm(mu, sigma), X0, square, T=T, dts=dts, n_paths=n_paths,
                      exact=ref, rng=rng, quiet=True)


def _no_infinite_ci(r):
    for text in (repr(r), r.summary()):
        assert not re.search(r"\b(inf|nan)\b", text), text


def test_coarse_steps_blame_the_truncation_allowance_and_finer_steps_fix_it():
    # T/1 ... T/16 is pre-asymptotic for GBM(0.5, 0.5): tiny statistical error, huge allowance
    coarse = [T / 2 ** k for k in range(0, 5)]
    r = _gbm_study(0.5, 0.5, coarse, 100_000, rng=1)
    f = r.fit
    assert f.status == "not resolved" and f.cause == "truncation"
    assert f.truncation_allowance > 5 * f.statistical_halfwidth_raw
    assert re.search(r"NOT RESOLVED \(the truncation allowance dominates: the steps are too "
                     r"coarse.*use finer steps", repr(r))
    assert "Monte-Carlo noise" not in repr(r) + f.headline()
    _no_infinite_ci(r)
    # the remedy it names works: same paths and seed, steps down to T/128
    fine = _gbm_study(0.5, 0.5, coarse + [T / 2 ** k for k in range(5, 8)], 100_000, rng=1)
    assert fine.fit.status == "ok" and fine.order_ci[0] <= 1 <= fine.order_ci[1]


def test_few_paths_blame_monte_carlo_noise(gbm_exact):
    r = _gbm_study(MU, SIGMA, DTS, 500, rng=1)
    assert r.fit.status == "not resolved" and r.fit.cause == "noise"
    assert r.fit.statistical_halfwidth_raw > r.fit.truncation_allowance
    assert re.search(r"NOT RESOLVED \(Monte-Carlo noise dominates.*use more paths", repr(r))
    assert "finer steps:" not in r.fit.headline()
    _no_infinite_ci(r)
    assert gbm_exact.fit.status == "ok"          # the remedy: the same study with 2e5 paths


def test_unidentified_fit_from_few_paths_blames_noise_without_infinite_ci():
    r = _gbm_study(MU, SIGMA, DTS, 300, rng=5, exact=False)
    assert r.fit.status == "not resolved" and not math.isfinite(r.fit.order_stderr)
    assert r.fit.cause == "noise"
    assert re.search(r"Monte-Carlo noise dominates.*use more paths", repr(r))
    assert "not identified" in r.fit.headline()
    _no_infinite_ci(r)


def test_poor_fit_with_small_statistical_error_is_not_blamed_on_noise():
    # T/1 ... T/16 for GBM(1, 1): 1e5 paths fix the errors well, but no model of the expansion fits
    r = _gbm_study(1.0, 1.0, [T / k for k in (1, 2, 4, 8, 16)], 100_000, rng=1)
    assert r.fit.status == "poor fit" and r.fit.cause == "misfit"
    assert re.search(r"UNRELIABLE \(the model does not fit: the statistical error is small, so "
                     r"it is not Monte-Carlo noise; use finer steps", repr(r))
    assert re.search(r"statistical half-width alone 0\.\d+, so not Monte-Carlo noise",
                     r.fit.headline())


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


def _labelled_ticks(axis, view, coord):
    """The tick labels of ``axis`` that carry text and sit inside the view interval."""
    lo, hi = sorted(view)
    return [t for t in axis.get_ticklabels(which="both")
            if t.get_visible() and t.get_text() and lo <= t.get_position()[coord] <= hi]


@pytest.mark.parametrize("style", ["default", "classic"])
@pytest.mark.parametrize("kind", ["errors", "differences"])
@pytest.mark.parametrize("hs", [2.0 ** -np.arange(1, 10),                  # 2.4 decades
                                np.array([0.4, 0.3, 0.2, 0.15, 0.1, 0.08])],  # 0.7 decades
                         ids=["2^-1..2^-9", "0.4..0.08"])
def test_plot_tick_labels_do_not_overlap(hs, kind, style):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sdesim.plotting import plot_weak_order
    e = 0.8 * hs * (1 - 0.6 * hs)
    y = e if kind == "errors" else e[:-1] - e[1:]
    with plt.style.context(style):                   # "classic" labels minor log ticks
        fig, ax = plt.subplots(figsize=(3.2, 2.6))
        plot_weak_order(fit_order(hs, y, np.diag((1e-3 * y) ** 2), kind=kind), ax=ax)
        fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for axis, view, coord in ((ax.xaxis, ax.get_xlim(), 0), (ax.yaxis, ax.get_ylim(), 1)):
        labels = _labelled_ticks(axis, view, coord)
        assert len(labels) >= 2, [t.get_text() for t in labels]
        assert not any(t.get_text() for t in axis.get_minorticklabels())
        boxes = [t.get_window_extent(renderer) for t in labels]
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                assert not boxes[i].overlaps(boxes[j]), (labels[i].get_text(),
                                                         labels[j].get_text())
    plt.close(fig)


def test_plot_title_of_unresolved_fit_names_the_cause():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sdesim.plotting import plot_weak_order
    hs = T / 2.0 ** np.arange(1, 8)
    y = hs * (1 + 3 * hs)
    ax = plot_weak_order(fit_order(hs, y, np.diag((1e-3 * y) ** 2), model="power+next"))
    assert ax.get_title() == "weak order not resolved: the truncation allowance dominates"
    plt.close(ax.figure)


# ------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(phi=42), TypeError, "phi must be a callable"),
    (dict(dts=[0.5, 0.25, 0.125, 0.0625]), ValueError, "at least 5 step sizes without exact"),
    (dict(dts=[0.5, 0.25, 0.125, 0.0625], exact=3.0), ValueError,
     "at least 5 step sizes with exact and coupled paths"),
    (dict(dts=[0.5, 0.25, 0.125], exact=3.0, coupled=False), ValueError,
     "at least 4 step sizes with exact"),
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
    args = dict(sde=sdesim.gbm(MU, SIGMA), x0=X0, phi=square, T=T, dts=DTS[:5], n_paths=1000,
                rng=0, quiet=True)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        weak_order(**args)


def test_issue_problem_with_tiny_monte_carlo_error_resolves_order_one():
    # linear drift, time-dependent additive noise: coupled differences with Monte-Carlo error
    # ~1e-8, far below what the truncated expansion leaves; used to read "poor fit" at 1.000
    f = lambda t, x: -0.5 * x / (1 + t)                       # noqa: E731
    g = lambda t: np.array([0.002]) / math.sqrt(1 + t)        # noqa: E731
    sde = sdesim.SDE(f, g, d=1, noise="additive")
    r = weak_order(sde, 1.0, lambda x: x[:, 0], T=1.0, dts=[2.0 ** -k for k in range(2, 9)],
                   n_paths=20_000, rng=1, backend="numpy", quiet=True)
    lo, hi = r.order_ci
    assert r.fit.status == "ok" and lo <= 1 <= hi and hi - lo < 0.02, r.summary()
    assert np.all(np.isfinite(r.fit.predict_stderr()))


def test_exact_mode_fits_a_common_offset(gbm_exact):
    f = gbm_exact.fit
    assert f.common_mode and abs(f.offset) <= 5 * f.offset_stderr
    assert "common-mode offset" in f.summary()


def test_a_wrong_exact_value_is_flagged_by_the_common_offset(gbm_exact):
    """Coupled errors share one Monte-Carlo offset c, fitted freely; with the right exact value
    c is 0 within its error (the fixture), with a value off by 10 standard errors it is not."""
    fit = gbm_exact.fit
    assert fit.common_mode and fit.status == "ok"
    assert abs(fit.offset / fit.offset_stderr) < 4
    wrong = EXACT_GBM + 10 * fit.offset_stderr  # 10 standard errors of the offset
    bad = weak_order(sdesim.gbm(MU, SIGMA), X0, square, T=T, dts=DTS, n_paths=200_000,
                     exact=wrong, rng=1, quiet=True)
    assert bad.fit.status == "poor fit" and bad.fit.cause == "offset"
    assert not bad.reliable
    assert "UNRELIABLE (the errors do not go to 0" in repr(bad)


def test_independent_levels_with_a_wrong_exact_value_do_not_go_to_zero():
    # without coupling a constant error reads as order ~0; an order CI that holds 0 means the
    # errors do not vanish, so the exact value is blamed, not the steps
    r = weak_order(sdesim.gbm(MU, SIGMA), X0, square, T=T, dts=[2.0 ** -k for k in range(1, 9)],
                   n_paths=200_000, exact=EXACT_GBM + 0.5, coupled=False, rng=2, quiet=True)
    assert r.fit.order_ci[0] <= 0 <= r.fit.order_ci[1]
    assert r.fit.status == "poor fit" and r.fit.cause == "offset"
    assert "check `exact`" in repr(r)
