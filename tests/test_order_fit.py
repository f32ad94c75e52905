"""Tests of sdesim.weak.fit_order: exact EM-chain errors, CI coverage, input checks, old path."""
import importlib
import math
import re
import subprocess
import sys

import numpy as np
import pytest

import sdesim
from sdesim.weak import OrderFit, fit_order

# GBM dX = mu X dt + sigma X dW, g = x^2, EM with N = T/h steps (docs/theory.md §C.2):
#   E X_N^2 = x0^2 ((1 + mu h)^2 + sigma^2 h)^N,  exact x0^2 exp((2 mu + sigma^2) T).
# These parameters give a plain log-log slope of 0.854 over dt = T/4 ... T/128 for a correct EM.
MU, SIGMA, T, X0 = 1.5, 0.5, 1.0, 1.0


def gbm_em_errors(hs):
    hs = np.asarray(hs, dtype=float)
    n = np.rint(T / hs)
    em = X0 ** 2 * ((1 + MU * hs) ** 2 + SIGMA ** 2 * hs) ** n
    return em - X0 ** 2 * math.exp((2 * MU + SIGMA ** 2) * T)


HS = T / 2.0 ** np.arange(2, 8)  # T/4 ... T/128


# ------------------------------------------------------------------------ (a) exact errors

def test_plain_loglog_slope_of_correct_em_is_biased():
    y = gbm_em_errors(HS)
    slope = np.polyfit(np.log(HS), np.log(np.abs(y)), 1)[0]
    assert abs(slope - 0.854) < 0.002          # deterministic: the number quoted in the docs
    power = fit_order(HS, y, model="power")
    assert power.order < 0.9                    # a plain power law is well below 1 ...
    assert power.status == "poor fit"           # ... and the fit says it does not fit
    assert "does not pass" in power.reason


def test_auto_recovers_order_one_from_exact_em_chain_moments():
    fit = fit_order(HS, gbm_em_errors(HS))
    assert isinstance(fit, OrderFit)
    assert abs(fit.order - 1) < 0.02
    assert fit.status == "ok" and fit.exact
    assert fit.order_ci == (fit.order, fit.order)       # exact data: zero-width CI ...
    assert 0 < fit.truncation_allowance < 0.02          # ... and a reported allowance
    assert abs(fit.order - 1) <= fit.truncation_allowance
    # it says which model and what it dropped
    assert fit.model in ("power+next", "power+next2")
    assert fit.hs_dropped == (0.25,)
    assert "dropped h = 0.25" in fit.reason and "not explained" in fit.reason
    assert "dropped h = 0.25" in repr(fit)
    assert "power" in fit.model and fit.model_text() in repr(fit)


def test_exact_differences_also_recover_order_one():
    hs = T / 2.0 ** np.arange(2, 9)
    e = gbm_em_errors(hs)
    fit = fit_order(hs, e[:-1] - e[1:], kind="differences")
    assert abs(fit.order - 1) < 0.02 and fit.status == "ok"


def test_non_dyadic_steps():
    hs = np.array([0.3, 0.2, 0.12, 0.08, 0.05, 0.03, 0.02])
    y = 2.0 * hs ** 1.5 * (1 - 0.7 * hs)
    for kind, data in (("errors", y), ("differences", y[:-1] - y[1:])):
        fit = fit_order(hs, data, kind=kind)
        assert abs(fit.order - 1.5) < 1e-6, kind


def test_errors_are_sorted_with_their_covariance():
    hs = T / 2.0 ** np.arange(1, 8)
    y = 0.7 * hs * (1 + 0.3 * hs)
    cov = np.diag((0.01 * y) ** 2)
    perm = np.array([3, 0, 6, 1, 5, 2, 4])
    a = fit_order(hs, y, cov)
    b = fit_order(hs[perm], y[perm], cov[np.ix_(perm, perm)])
    assert a.order == pytest.approx(b.order, abs=1e-9)
    assert np.all(np.diff(b.hs) < 0)


# ------------------------------------------------------------------------ (b) CI coverage

def _coverage(kind, model, gamma, n_rep, seed):
    """Fraction of seeded replications whose CI contains the true p = 1."""
    rng = np.random.default_rng(seed)
    hs = T / 2.0 ** np.arange(1, 8)                       # 7 steps, T/2 ... T/128
    e = 0.8 * hs * (1 - 0.6 * hs)                          # exactly C h^p (1 + D h), p = 1
    if kind == "errors":
        mean = e
        # strongly correlated noise (like coupled estimates): common part + O(h) part
        cov = 2e-6 * np.ones((7, 7)) + np.diag(4e-5 * hs)
    else:
        mean = e[:-1] - e[1:]
        cov = np.diag(3e-5 * hs[:-1]) + 1e-5 * np.sqrt(np.outer(hs[:-1], hs[:-1])) * 0.5
    chol = np.linalg.cholesky(cov)
    hits = 0
    for _ in range(n_rep):
        y = mean + chol @ rng.standard_normal(mean.size)
        fit = fit_order(hs, y, cov, kind=kind, model=model, gamma=gamma)
        lo, hi = fit.order_ci
        hits += lo <= 1.0 <= hi
    return hits / n_rep


@pytest.mark.parametrize("kind", ["errors", "differences"])
def test_gls_ci_is_calibrated(kind):
    # the right model, no allowance: the linearised GLS interval must have 95% coverage
    n = 400
    cov = _coverage(kind, "power+next", 0.0, n, seed=11)
    se = math.sqrt(0.95 * 0.05 / n)
    assert abs(cov - 0.95) <= 4 * se, cov


@pytest.mark.parametrize("kind", ["errors", "differences"])
def test_auto_ci_covers(kind):
    # auto adds a truncation allowance, so it may over-cover but must not under-cover
    n = 200
    cov = _coverage(kind, "auto", 2.0, n, seed=12)
    se = math.sqrt(0.95 * 0.05 / n)
    assert cov >= 0.95 - 4 * se, cov


def test_unresolved_signal_is_flagged():
    hs = T / 2.0 ** np.arange(3, 9)
    rng = np.random.default_rng(3)
    e = 1e-3 * hs
    cov = np.diag(np.full(hs.size, 1e-4 ** 2))            # noise 100x the finest error
    fit = fit_order(hs, e + 1e-4 * rng.standard_normal(hs.size), cov)
    assert fit.status == "not resolved"
    assert "NOT RESOLVED" in repr(fit)
    assert not fit.reliable
    assert fit.cause == "noise"
    assert re.search(r"NOT RESOLVED .*Monte-Carlo noise dominates.*use more paths", fit.headline())


def test_unresolved_by_truncation_says_finer_steps_not_more_paths():
    # the error is exactly h(1 + 3h): the model fits, but |Dh| = 1.5 at h = 1/2 is no correction,
    # and the statistical error (0.1% of each value) is tiny next to the truncation allowance
    hs = T / 2.0 ** np.arange(1, 8)
    y = hs * (1 + 3 * hs)
    cov = np.diag((1e-3 * y) ** 2)
    fit = fit_order(hs, y, cov, model="power+next")
    assert fit.status == "not resolved" and fit.cause == "truncation"
    assert fit.truncation_allowance > 100 * fit.statistical_halfwidth_raw
    text = fit.headline()
    assert re.search(r"NOT RESOLVED .*truncation allowance dominates.*use finer steps", text)
    assert "Monte-Carlo" not in text and "more paths" not in text
    # the remedy works: dropping the two coarsest steps resolves it
    fine = fit_order(hs[2:], y[2:], cov[2:, 2:], model="power+next")
    assert fine.status == "ok" and fine.order_ci[0] <= 1 <= fine.order_ci[1]


@pytest.mark.parametrize("var, cause, pattern", [
    (1e-8, "misfit", r"model does not fit: the statistical error is small, so it is not "
                     r"Monte-Carlo noise; use finer steps"),
    (1e-4, "noise", r"Monte-Carlo noise dominates.*use more paths"),
])
def test_unidentified_fit_names_its_cause_and_prints_no_infinite_ci(var, cause, pattern):
    # alternating signs: no power law; with variance 1e-8 the values are 100 standard errors
    # from 0 (a misfit), with 1e-4 they are noise (the two-point slope alone is +-4)
    hs = T / 2.0 ** np.arange(1, 7)
    y = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0]) * 1e-2
    fit = fit_order(hs, y, np.diag(np.full(6, var)))
    assert fit.status == "not resolved" and fit.cause == cause
    assert re.search(pattern, fit.headline())
    for text in (fit.headline(), fit.summary(), repr(fit)):
        assert not re.search(r"\b(inf|nan)\b", text), text
    assert "not identified" in fit.summary()


def test_poor_fit_says_it_is_not_noise():
    hs = T / 2.0 ** np.arange(1, 8)
    y = 0.7 * hs * (1 + 0.3 * hs)
    fit = fit_order(hs, y, np.diag((0.01 * y) ** 2), model="power")     # no curvature term
    assert fit.status == "poor fit" and fit.cause == "misfit"
    assert re.search(r"UNRELIABLE: no model fits these data \(statistical half-width alone "
                     r"0\.0\d+, so not Monte-Carlo noise\)", fit.headline())
    assert fit.statistical_halfwidth_raw < fit.ci_halfwidth / 5


def test_fit_that_fails_everywhere_is_flagged_unreliable():
    hs = T / 2.0 ** np.arange(1, 7)
    y = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0]) * 1e-2  # no power law at all
    fit = fit_order(hs, y, np.diag(np.full(6, 1e-8)))
    assert fit.status in ("poor fit", "not resolved")
    assert not fit.reliable


def test_summary_and_candidates():
    hs = T / 2.0 ** np.arange(1, 8)
    y = 0.7 * hs * (1 + 0.3 * hs)
    fit = fit_order(hs, y, np.diag((0.01 * y) ** 2))
    text = fit.summary(candidates=True)
    assert "half-width" in text and "candidates" in text
    assert len(fit.candidates) > 2
    assert fit.predict().shape == y.shape
    assert fit.ci_halfwidth > 0


# ------------------------------------------------------------------------ (c) bad input

@pytest.mark.parametrize("kwargs, match", [
    (dict(hs=[0.1, 0.05, 0.025], y=[1.0, 0.5]), "y must have shape"),
    (dict(hs=[0.1, -0.05, 0.025], y=[1.0, 0.5, 0.25]), "hs must be finite and > 0"),
    (dict(hs=[0.1, 0.1, 0.025], y=[1.0, 0.5, 0.25]), "hs must be distinct"),
    (dict(hs=[[0.1, 0.05, 0.025]], y=[1.0, 0.5, 0.25]), "hs must be a 1-d"),
    (dict(hs=[0.1, 0.05, 0.025], y=[1.0, np.nan, 0.25]), "y must be finite"),
    (dict(hs=[0.1, 0.05], y=[1.0, 0.5]), "not enough points"),
    (dict(hs=[0.1, 0.05, 0.025], y=[1.0, 0.0, 0.25]), "y must be non-zero"),
    (dict(hs=[0.025, 0.05, 0.1, 0.2], y=[1.0, 0.5, 0.25], kind="differences"),
     "strictly decreasing"),
    (dict(hs=[0.2, 0.1, 0.05, 0.025], y=[1.0, 0.5, 0.25, 0.1], kind="spam"), "kind must be"),
    (dict(hs=[0.2, 0.1, 0.05, 0.025], y=[1.0, 0.5, 0.25, 0.1], model="cubic"), "model must be"),
    (dict(hs=[0.2, 0.1, 0.05, 0.025], y=[1.0, 0.5, 0.25, 0.1], level=1.5), "level"),
    (dict(hs=[0.2, 0.1, 0.05, 0.025], y=[1.0, 0.5, 0.25, 0.1], min_points=2), "min_points"),
    (dict(hs=[0.2, 0.1, 0.05, 0.025], y=[1.0, 0.5, 0.25, 0.1], gamma=-1.0), "gamma"),
    (dict(hs=[0.2, 0.1, 0.05, 0.025], y=[1.0, 0.5, 0.25, 0.1], cov=np.eye(3)),
     "cov must have shape"),
    (dict(hs=[0.2, 0.1, 0.05, 0.025], y=[1.0, 0.5, 0.25, 0.1],
          cov=np.diag([1.0, 1.0, 1.0, -1.0])), "positive semi-definite"),
    (dict(hs=[0.2, 0.1, 0.05, 0.025], y=[1.0, 0.5, 0.25, 0.1],
          cov=np.triu(np.ones((4, 4)))), "symmetric"),
    (dict(hs=[0.2, 0.1, 0.05, 0.025], y=[1.0, 0.5, 0.25, 0.0], cov=np.diag([1.0, 1.0, 1.0, 0.0])),
     "singular"),
    (dict(hs=[0.2, 0.1, 0.05, 0.025], y=[1.0, 0.5, 0.25, 0.1], cov=np.zeros((4, 4))),
     "cov=None"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_order(**kwargs)


def test_non_numeric_input():
    with pytest.raises(TypeError, match="hs and y must be numeric"):
        fit_order(["a", "b", "c"], [1.0, 2.0, 3.0])


# ------------------------------------------------------------------------ (d) where it lives

def test_old_module_path_warns_and_reexports(monkeypatch):
    monkeypatch.delitem(sys.modules, "sdesim.order_fit", raising=False)
    with pytest.warns(DeprecationWarning, match=r"sdesim\.order_fit is deprecated.*sdesim\.weak"):
        old = importlib.import_module("sdesim.order_fit")
    assert old.fit_order is fit_order and old.OrderFit is OrderFit
    assert sdesim.fit_order is fit_order and sdesim.OrderFit is OrderFit


def test_import_sdesim_does_not_load_the_order_fit():
    # the fit needs scipy.stats (slow to import): sdesim loads it on first use only
    code = ("import sys, sdesim; "
            "print(sorted(m for m in ('scipy.stats', 'sdesim.weak') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# ------------------------------------------- issue 9: tiny noise, common mode, FRR, predictions

def _linear_drift_differences():
    """The issue's problem dX = -X/(2(1+t)) dt + 0.002/sqrt(1+t) dW, X0 = 1, phi = x, T = 1:
    E X^h_T of EM is the product prod_n (1 - h/(2(1+t_n))) exactly (noise-free); the coupled
    differences are given a Monte-Carlo error of 1e-7 relative (diagonal covariance)."""
    hs = 2.0 ** -np.arange(2, 9)
    means = np.array([np.prod(1 - 0.5 * h / (1 + h * np.arange(round(1 / h)))) for h in hs])
    y = means[:-1] - means[1:]
    return hs, y, np.diag((1e-7 * y) ** 2)


def test_tiny_monte_carlo_error_resolves_order_one():
    hs, y, cov = _linear_drift_differences()
    fit = fit_order(hs, y, cov, kind="differences")
    lo, hi = fit.order_ci
    assert fit.status == "ok" and lo <= 1 <= hi and hi - lo < 0.02, fit.summary()
    # without the model-error floor every candidate fails χ² on the omitted terms alone
    bare = fit_order(hs, y, cov, kind="differences", rtol=1e-12)
    assert bare.status != "ok"


def test_common_offset_absorbs_a_shared_excursion():
    # errors of order 1 plus a common offset of 2 standard errors of a strongly correlated
    # covariance (coupled levels): the fit with the offset is the differences fit, recovers
    # the offset and finds it consistent with Monte-Carlo error (z < 2.58 at alpha_gof 0.01)
    hs = T / 2.0 ** np.arange(1, 8)
    e = 0.7 * hs * (1 + 0.3 * hs)
    sd = 0.02 * np.sqrt(np.abs(e).max())
    cov = sd ** 2 * (0.98 * np.ones((7, 7)) + 0.02 * np.eye(7)) * 1e-2
    shift = 2 * np.sqrt(cov[-1, -1])
    with_c = fit_order(hs, e + shift, cov, common_mode=True)
    assert with_c.status == "ok" and with_c.common_mode
    assert abs(with_c.order - 1) < 1e-6
    assert with_c.offset == pytest.approx(shift, rel=1e-6)
    assert 1 < with_c.offset / with_c.offset_stderr < 2.58
    assert with_c.predict() == pytest.approx(e + shift, rel=1e-6)
    L = np.eye(7)[:-1] - np.eye(7, k=1)[:-1]
    diff = fit_order(hs, L @ (e + shift), L @ cov @ L.T, kind="differences")
    assert with_c.order == pytest.approx(diff.order, abs=1e-9)
    assert "common-mode offset" in with_c.summary()


def test_an_offset_beyond_monte_carlo_error_marks_the_exact_value_wrong():
    # the same data shifted by 5 standard errors: the plain fit fails, the fit with the offset
    # still finds order 1 but the offset is not Monte-Carlo error: a poor fit, cause "offset"
    hs = T / 2.0 ** np.arange(1, 8)
    e = 0.7 * hs * (1 + 0.3 * hs)
    sd = 0.02 * np.sqrt(np.abs(e).max())
    cov = sd ** 2 * (0.98 * np.ones((7, 7)) + 0.02 * np.eye(7)) * 1e-2
    shifted = e + 5 * np.sqrt(cov[-1, -1])
    assert fit_order(hs, shifted, cov).status != "ok"
    with_c = fit_order(hs, shifted, cov, common_mode=True)
    assert abs(with_c.order - 1) < 1e-6
    assert with_c.status == "poor fit" and with_c.cause == "offset"
    assert "the errors do not go to 0" in with_c.headline()


def test_family_level_lies_between_bonferroni_and_alpha():
    hs = T / 2.0 ** np.arange(1, 8)
    y = 0.7 * hs * (1 + 0.3 * hs)
    fit = fit_order(hs, y, np.diag((0.01 * y) ** 2), alpha_gof=0.05)
    m = sum(1 for c in fit.candidates if np.isfinite(c.gof_pvalue))
    assert 0.05 / m <= fit.gof_level < 0.05 and fit.alpha_gof == 0.05
    assert "false-rejection rate across all is 0.05" in fit.summary()
    # deterministic: the level is a function of the data alone
    assert fit_order(hs, y, np.diag((0.01 * y) ** 2), alpha_gof=0.05).gof_level == fit.gof_level
    explicit = fit_order(hs, y, np.diag((0.01 * y) ** 2), model="power+next", alpha_gof=0.05)
    assert explicit.gof_level == 0.05


def test_predicted_errors_have_delta_method_standard_errors():
    # linear check: with p fixed the model is linear, so the delta-method SE of the prediction
    # equals the SE propagated by hand from param_cov
    hs = T / 2.0 ** np.arange(1, 8)
    y = 0.7 * hs * (1 + 0.3 * hs)
    fit = fit_order(hs, y, np.diag((0.01 * y) ** 2), model="power+next")
    h = hs[-1]
    g = np.array([np.log(h) * (fit.C * h ** fit.order + fit.C * fit.D * h ** (fit.order + 1)),
                  h ** fit.order, h ** (fit.order + 1)])
    assert fit.error_model_stderr(h) == pytest.approx(math.sqrt(g @ fit.param_cov @ g))
    assert fit.predict_stderr().shape == y.shape and np.all(fit.predict_stderr() > 0)
    assert "predicted error at the finest step" in fit.summary()
    d = fit_order(hs, y[:-1] - y[1:], np.diag((0.01 * y[:-1]) ** 2), kind="differences")
    assert d.predict_stderr().shape == (6,) and np.all(np.isfinite(d.predict_stderr()))
    exact = fit_order(hs, y)
    assert np.all(exact.error_model_stderr(hs) == 0)


def test_unidentified_fit_has_no_interval():
    hs = T / 2.0 ** np.arange(1, 7)
    y = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0]) * 1e-2
    fit = fit_order(hs, y, np.diag(np.full(6, 1e-4)))
    if not math.isfinite(fit.order_stderr):
        assert all(math.isnan(v) for v in fit.order_ci)
    for text in (fit.headline(), fit.summary(candidates=True), repr(fit)):
        assert not re.search(r"\binf\b", text), text


@pytest.mark.parametrize("kwargs, match", [
    (dict(common_mode=True, kind="differences"), "common_mode=True needs kind='errors'"),
    (dict(common_mode=1), "common_mode must be True or False"),
])
def test_common_mode_bad_input(kwargs, match):
    hs = T / 2.0 ** np.arange(1, 7)
    y = 0.7 * hs
    n = 6 if kwargs.get("kind", "errors") == "errors" else 5
    with pytest.raises((ValueError, TypeError), match=match):
        fit_order(hs, y[:n], np.eye(n) * 1e-6, **kwargs)


def test_disparate_variances_are_not_singular():
    """A coarse step with a variance 1e16 times the fine ones' (an EM step close to blowing up)
    is weighted down, not refused as singular: the check is on the correlation scale."""
    hs = 0.5 ** np.arange(1, 8)
    y = 0.3 * hs * (1 + 0.2 * hs)
    se = 1e-6 * np.ones_like(hs)
    se[0] = 1e2
    fit = fit_order(hs, y, np.diag(se**2))
    assert abs(fit.order - 1) < 0.05
