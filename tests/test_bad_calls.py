"""A fuzz list of bad calls across the public API: each raises a named TypeError/ValueError
(the message names the argument), none crashes, hangs or returns numbers."""
import signal

import numpy as np
import pytest

import sdesim
from sdesim import escape, exact, levy, sgd
from sdesim.weak import fit_order

OU = sdesim.ou(1.0, 0.5)
OU2 = sdesim.ou([1.0, 2.0], [0.5, 0.3])
ORC = sgd.NoisyQuadratic(np.eye(2), 0.1 * np.eye(2))
A = np.random.default_rng(0).standard_normal((16, 2))
REG = sgd.LinearRegression(A, A @ np.ones(2))


def phi(x):
    return x[:, 0]


def sim(**kw):
    args = dict(T=1.0, dt=0.1, n_paths=10, rng=0, quiet=True)
    args.update(kw)
    sde = args.pop("sde", OU)
    x0 = args.pop("x0", [1.0])
    return sdesim.simulate(sde, x0, **args)


def ex(**kw):
    args = dict(T=1.0, dt=0.1, n_paths=10, rng=0, quiet=True)
    args.update(kw)
    sde = args.pop("sde", OU)
    x0 = args.pop("x0", [1.0])
    f = args.pop("phi", phi)
    return sdesim.expectation(sde, x0, f, **args)


def wo(**kw):
    args = dict(T=1.0, dts=[0.5, 0.25, 0.125, 0.0625, 0.03125], n_paths=100, rng=0, quiet=True)
    args.update(kw)
    return sdesim.weak_order(args.pop("sde", OU), args.pop("x0", [1.0]), args.pop("phi", phi),
                             **args)


def lev(**kw):
    args = dict(T=1.0, dts=[0.5, 0.25], n_paths=10, rng=0, quiet=True)
    args.update(kw)
    return sdesim.expectation_levels(OU, [1.0], args.pop("phi", phi), **args)


def ext(**kw):
    args = dict(dt=0.1, t_max=1.0, n_paths=10, rng=0, quiet=True)
    args.update(kw)
    return escape.exit_times(args.pop("sde", OU), args.pop("x0", [0.0]),
                             args.pop("domain", escape.Interval(-1.0, 1.0)), **args)


def srun(**kw):
    args = dict(T=1.0, lr=0.1, n_paths=4, rng=0, quiet=True)
    args.update(kw)
    return sgd.run(args.pop("oracle", ORC), args.pop("x0", np.ones(2)), **args)


def sexp(**kw):
    args = dict(T=1.0, lr=0.1, n_paths=4, rng=0, quiet=True)
    args.update(kw)
    return sgd.expectation(args.pop("oracle", ORC), args.pop("x0", np.ones(2)),
                           args.pop("phi", phi), **args)


def const_shape(shape):
    return lambda t, x: np.full(shape, 0.3)


BAD_CALLS = [
    # --- SDE construction
    ("SDE noise kind", lambda: sdesim.SDE(phi, phi, d=1, noise="diag"), ValueError, "noise"),
    ("SDE f not callable", lambda: sdesim.SDE(1.0, phi, d=1), TypeError, "f must be callable"),
    ("SDE d zero", lambda: sdesim.SDE(phi, phi, d=0), ValueError, "d must"),
    ("SDE d float", lambda: sdesim.SDE(phi, phi, d=2.0), ValueError, "d must"),
    ("SDE d string", lambda: sdesim.SDE(phi, phi, d="2"), ValueError, "d must"),
    ("SDE general without m", lambda: sdesim.SDE(phi, phi, d=2, noise="general"), ValueError, "m"),
    ("SDE m mismatch", lambda: sdesim.SDE(phi, phi, d=2, m=3), ValueError, "m must"),
    ("SDE additive wrong shape", lambda: sdesim.SDE(phi, np.ones(3), d=2, noise="additive"),
     ValueError, "g"),
    ("SDE additive NaN", lambda: sdesim.SDE(phi, [np.nan], d=1, noise="additive"), ValueError, "g"),
    ("SDE g not callable", lambda: sdesim.SDE(phi, 1.0, d=1), TypeError, "g must be callable"),
    ("SDE driver type", lambda: sdesim.SDE(phi, phi, d=1, driver="stable"), TypeError, "driver"),
    ("SDE driver alpha count", lambda: sdesim.SDE(phi, phi, d=2, driver=sdesim.Stable([1.5] * 3)),
     ValueError, "alpha"),
    ("Stable alpha 0", lambda: sdesim.Stable(0.0), ValueError, "alpha"),
    ("Stable alpha 2.5", lambda: sdesim.Stable(2.5), ValueError, "alpha"),
    ("Stable alpha nan", lambda: sdesim.Stable(np.nan), ValueError, "alpha"),
    ("Stable alpha text", lambda: sdesim.Stable("1.5"), TypeError, "alpha"),
    ("Stable scale negative", lambda: sdesim.Stable(1.5, scale=-1.0), ValueError, "scale"),
    ("ou A nan", lambda: sdesim.ou(np.nan, 1.0), ValueError, "A"),
    ("ou dims disagree", lambda: sdesim.ou([1.0, 2.0], [1.0, 2.0, 3.0]), ValueError, "dimension"),
    ("ou A not square", lambda: sdesim.ou(np.ones((2, 3)), np.ones((2, 2))), ValueError, "A"),
    ("ou B rows", lambda: sdesim.ou(np.eye(2), np.ones((3, 2))), ValueError, "B"),
    ("gbm sigma text", lambda: sdesim.gbm(0.5, "0.4"), TypeError, "sigma"),
    ("linear A not square", lambda: sdesim.linear(np.ones((2, 3)), [np.eye(2)]), ValueError, "A"),
    ("linear B wrong shape", lambda: sdesim.linear(np.eye(2), [np.eye(3)]), ValueError, "B_list"),
    ("linear no noise", lambda: sdesim.linear(np.eye(2), []), ValueError, "B_list"),
    # --- simulate
    ("simulate T text", lambda: sim(T="1"), TypeError, "T"),
    ("simulate T negative", lambda: sim(T=-1.0), ValueError, "T"),
    ("simulate T inf", lambda: sim(T=np.inf), ValueError, "T"),
    ("simulate dt zero", lambda: sim(dt=0.0), ValueError, "dt"),
    ("simulate dt > T", lambda: sim(dt=2.0), ValueError, "dt"),
    ("simulate dt not dividing", lambda: sim(dt=0.3), ValueError, "T/dt"),
    ("simulate dt nan", lambda: sim(dt=np.nan), ValueError, "dt"),
    ("simulate n_paths float", lambda: sim(n_paths=10.0), TypeError, "n_paths"),
    ("simulate n_paths zero", lambda: sim(n_paths=0), ValueError, "n_paths"),
    ("simulate n_paths text", lambda: sim(n_paths="10"), TypeError, "n_paths"),
    ("simulate n_paths bool", lambda: sim(n_paths=True), TypeError, "n_paths"),
    ("simulate x0 text", lambda: sim(x0="1"), TypeError, "x0"),
    ("simulate x0 text list", lambda: sim(x0=["1"]), TypeError, "x0"),
    ("simulate x0 nan", lambda: sim(x0=[np.nan]), ValueError, "x0"),
    ("simulate x0 wrong d", lambda: sim(x0=[1.0, 2.0]), ValueError, "x0"),
    ("simulate x0 wrong rows", lambda: sim(x0=np.ones((3, 1))), ValueError, "x0"),
    ("simulate x0 3-d", lambda: sim(x0=np.ones((10, 1, 1))), ValueError, "x0"),
    ("simulate scalar x0 for d=2", lambda: sim(sde=OU2, x0=1.0), ValueError, "x0"),
    ("simulate sde type", lambda: sim(sde="ou"), TypeError, "sde"),
    ("simulate backend", lambda: sim(backend="cuda"), ValueError, "backend"),
    ("simulate chunk_size zero", lambda: sim(chunk_size=0), ValueError, "chunk_size"),
    ("simulate chunk_size float", lambda: sim(chunk_size=4.5), TypeError, "chunk_size"),
    ("simulate n_threads zero", lambda: sim(n_threads=0), ValueError, "n_threads"),
    ("simulate n_threads huge", lambda: sim(n_threads=100_000), ValueError, "n_threads"),
    ("simulate on_nonfinite", lambda: sim(on_nonfinite="ignore"), ValueError, "on_nonfinite"),
    ("simulate save_at outside", lambda: sim(save_at=[2.0]), ValueError, "save_at"),
    ("simulate save_at off grid", lambda: sim(save_at=[0.15]), ValueError, "save_at"),
    ("simulate rng negative", lambda: sim(rng=-1), ValueError, "rng"),
    ("simulate rng text", lambda: sim(rng="seed"), TypeError, "rng"),
    ("simulate rng float", lambda: sim(rng=1.5), TypeError, "rng"),
    ("simulate too much memory", lambda: sim(n_paths=10**9, dt=0.001), ValueError, "GiB"),
    ("simulate absurd work", lambda: sim(n_paths=10**12, save_at=[1.0]), ValueError, "n_paths"),
    ("simulate absurd dt", lambda: sim(dt=1e-12, n_paths=1000, save_at=[1.0]), ValueError, "dt"),
    ("simulate f wrong shape", lambda: sim(sde=sdesim.SDE(const_shape((2, 2)), phi, d=1)),
     ValueError, "f"),
    ("simulate g wrong shape", lambda: sim(sde=sdesim.SDE(lambda t, x: -x, const_shape((3,)), d=1)),
     ValueError, "g"),
    ("simulate old positional order", lambda: sdesim.simulate(OU, [1.0], 1.0, 0.1, 10), TypeError,
     "positional"),
    # --- expectation
    ("expectation phi not callable", lambda: ex(phi=1.0), TypeError, "phi"),
    ("expectation old g keyword", lambda: sdesim.expectation(OU, [1.0], g=phi, T=1.0, dt=0.1,
                                                             n_paths=10), TypeError, "phi"),
    ("expectation n_paths 1", lambda: ex(n_paths=1), ValueError, "n_paths"),
    ("expectation times empty", lambda: ex(times=[]), ValueError, "times"),
    ("expectation times duplicate", lambda: ex(times=[0.5, 0.5]), ValueError, "times"),
    ("expectation times outside", lambda: ex(times=[1.5]), ValueError, "times"),
    ("expectation phi wrong shape", lambda: ex(phi=lambda x: np.ones(3)), ValueError, "phi"),
    ("expectation phi nan", lambda: ex(phi=lambda x: x[:, 0] * np.nan), ValueError, "phi"),
    ("expectation absurd paths", lambda: ex(n_paths=10**12), ValueError, "n_paths"),
    ("expectation old positional order", lambda: sdesim.expectation(OU, [1.0], 1.0, 0.1, phi, 10),
     TypeError, "positional"),
    # --- expectation_levels / weak_order
    ("levels dts not dividing", lambda: lev(dts=[0.5, 0.3]), ValueError, "dts"),
    ("levels dts empty", lambda: lev(dts=[]), ValueError, "dts"),
    ("levels dts negative", lambda: lev(dts=[0.5, -0.25]), ValueError, "dts"),
    ("levels dts not nested", lambda: lev(dts=[0.5, 0.2]), ValueError, "dts"),
    ("weak_order one step", lambda: wo(dts=[0.5]), ValueError, "dts"),
    ("weak_order level", lambda: wo(level=1.5), ValueError, "level"),
    ("weak_order model", lambda: wo(model="cubic"), ValueError, "model"),
    ("weak_order exact nan", lambda: wo(exact=np.nan), ValueError, "exact"),
    ("weak_order phi vector", lambda: wo(sde=OU2, x0=[1.0, 0.0], phi=lambda x: x), ValueError,
     "phi"),
    ("weak_order old g keyword", lambda: sdesim.weak_order(OU, [1.0], g=phi, T=1.0,
                                                           dts=[0.5, 0.25], n_paths=10),
     TypeError, "phi"),
    ("weak_order n_paths float", lambda: wo(n_paths=1e3), TypeError, "n_paths"),
    # --- exit times
    ("exit domain type", lambda: ext(domain=(-1, 1)), TypeError, "domain"),
    ("exit domain dim", lambda: ext(domain=escape.Ball(np.zeros(2), 1.0)), ValueError, "domain"),
    ("exit t_max not multiple", lambda: ext(t_max=1.05), ValueError, "t_max"),
    ("exit dt zero", lambda: ext(dt=0.0), ValueError, "dt"),
    ("exit n_paths zero", lambda: ext(n_paths=0), ValueError, "n_paths"),
    ("exit backend", lambda: ext(backend="gpu"), ValueError, "backend"),
    ("exit g wrong shape", lambda: ext(sde=sdesim.SDE(lambda t, x: -x, const_shape((2, 2)), d=1)),
     ValueError, "g"),
    ("Interval reversed", lambda: escape.Interval(1.0, -1.0), ValueError, "lo"),
    ("Ball radius negative", lambda: escape.Ball([0.0], -1.0), ValueError, "radius"),
    ("Box shapes", lambda: escape.Box([0.0, 0.0], [1.0]), ValueError, "hi"),
    # --- exact references
    ("getoor alpha", lambda: exact.getoor_mean_exit_time(2.5, 1.0), ValueError, "alpha"),
    ("getoor a negative", lambda: exact.getoor_mean_exit_time(1.5, -1.0), ValueError, "a"),
    ("scheduler_survival rate", lambda: exact.scheduler_survival(1.0, -0.1, 1.5,
                                                                 sgd.power_law_scheduler(-1.0)),
     ValueError, "rate0"),
    ("kramers D", lambda: exact.kramers_time(1.0, 1.0, 1.0, -1.0), ValueError, "D"),
    ("ou_mean A shape", lambda: exact.ou_mean(np.ones((2, 3)), [1.0, 1.0], 1.0), ValueError, "A"),
    ("ou_stationary_cov unstable", lambda: exact.ou_stationary_cov(-np.eye(2), np.eye(2)),
     ValueError, "A"),
    ("em_chain h negative", lambda: exact.em_chain_moments(-np.eye(1), [np.eye(1)], [1.0], -0.1, 10),
     ValueError, "h"),
    ("sgd_stationary_cov Sigma not psd", lambda: exact.sgd_stationary_cov(np.eye(2),
                                                                         -np.eye(2), 0.1),
     ValueError, "Sigma"),
    ("stable_ou_scale alpha", lambda: exact.stable_ou_scale(1.0, 1.0, 3.0), ValueError, "alpha"),
    # --- levy
    ("stable_rvs alpha", lambda: levy.stable_rvs(2.5, 10, rng=0), ValueError, "alpha"),
    ("stable_rvs size negative", lambda: levy.stable_rvs(1.5, -1, rng=0), ValueError, "size"),
    ("stable_rvs n_threads", lambda: levy.stable_rvs(1.5, 10, rng=0, n_threads=0), ValueError,
     "n_threads"),
    ("mohammadi constant", lambda: levy.alpha_mohammadi(np.ones(1000)), ValueError, "x"),
    ("logmoment constant", lambda: levy.alpha_logmoment(np.ones(1000)), ValueError, "x"),
    ("mohammadi tiny", lambda: levy.alpha_mohammadi(np.ones(3)), ValueError, "x"),
    ("mohammadi nan", lambda: levy.alpha_mohammadi(np.full(1000, np.nan)), ValueError, "x"),
    ("estimate_alpha method", lambda: levy.estimate_alpha(np.arange(1000.0), method="hill"),
     ValueError, "method"),
    # --- Lévy SDE of SGD and its schedulers (sdesim.sgd)
    ("power_law gamma nan", lambda: sgd.power_law_scheduler(np.nan), ValueError, "gamma"),
    ("multistep lengths", lambda: sgd.multistep_scheduler([1.0, 2.0], [0.5]), ValueError,
     "factors"),
    ("levy_sgd_sde alpha", lambda: sgd.levy_sgd_sde(lambda x: x, 1, 0.0, 1.0, 0.1), ValueError,
     "alpha"),
    ("levy_sgd_sde lr", lambda: sgd.levy_sgd_sde(lambda x: x, 1, 1.5, 1.0, -0.1), ValueError,
     "lr"),
    # --- sgd
    ("sgd method", lambda: srun(method="adam"), ValueError, "method"),
    ("sgd l with sgd", lambda: srun(method="sgd", l=4), ValueError, "l"),
    ("sgd l below 1", lambda: srun(method="svag", l=0.5), ValueError, "l"),
    ("sgd lr zero", lambda: srun(lr=0.0), ValueError, "lr"),
    ("sgd T not multiple", lambda: srun(T=1.05), ValueError, "T"),
    ("sgd batch_size zero", lambda: srun(oracle=REG, x0=np.zeros(2), batch_size=0), ValueError,
     "batch_size"),
    ("sgd weight_decay negative", lambda: srun(weight_decay=-1.0), ValueError, "weight_decay"),
    ("sgd x0 wrong d", lambda: srun(x0=np.ones(3)), ValueError, "x0"),
    ("sgd oracle type", lambda: srun(oracle="quadratic"), TypeError, "oracle"),
    ("sgd expectation n_paths 1", lambda: sexp(n_paths=1), ValueError, "n_paths"),
    ("sgd expectation old g", lambda: sgd.expectation(ORC, np.ones(2), g=phi, T=1.0, lr=0.1,
                                                      n_paths=4), TypeError, "phi"),
    ("sample_grad batch 0", lambda: REG.sample_grad(np.zeros((1, 2)), np.random.default_rng(0), 0),
     ValueError, "batch_size"),
    ("sample_grad batch float", lambda: REG.sample_grad(np.zeros((1, 2)),
                                                        np.random.default_rng(0), 2.5),
     (TypeError, ValueError), "batch_size"),
    ("without replacement batch > N", lambda: sgd.LinearRegression(A, A @ np.ones(2),
                                                                   replacement=False)
     .sample_grad(np.zeros((1, 2)), np.random.default_rng(0), 17), ValueError, "batch_size"),
    ("NoisyQuadratic H not symmetric", lambda: sgd.NoisyQuadratic([[1.0, 2.0], [0.0, 1.0]]),
     ValueError, "H"),
    ("NoisyQuadratic noise kind", lambda: sgd.NoisyQuadratic(np.eye(2), noise="cauchy"),
     ValueError, "noise"),
    ("GradientNoise Sigma not psd", lambda: sgd.GradientNoise(-np.eye(2)), ValueError, "Sigma"),
    ("GradientNoise stable alpha", lambda: sgd.GradientNoise(np.eye(2), "stable", alpha=3.0),
     ValueError, "alpha"),
    ("svag_coefficients l", lambda: sgd.svag_coefficients(0.5), ValueError, "l"),
    ("sgd_sde lr", lambda: sgd.sgd_sde(ORC, -0.1), ValueError, "lr"),
    ("sgd_sde order", lambda: sgd.sgd_sde(ORC, 0.1, order=3), ValueError, "order"),
    # --- stats and fits
    ("Estimate ci level", lambda: sdesim.Estimate(1.0, 0.1, 10).ci(1.5), ValueError, "level"),
    ("MomentAccumulator dim", lambda: sdesim.MomentAccumulator(0), ValueError, "dim"),
    ("fit_order lengths", lambda: fit_order([0.1, 0.05, 0.025], [1.0, 2.0]), ValueError, "y"),
    ("fit_order kind", lambda: fit_order([0.1, 0.05, 0.025], [1.0, 0.5, 0.25], kind="ratios"),
     ValueError, "kind"),
    ("fit_order negative h", lambda: fit_order([-0.1, 0.05, 0.025], [1.0, 0.5, 0.25]), ValueError,
     "hs"),
]


def test_enough_bad_calls():
    assert len(BAD_CALLS) >= 100
    assert len({name for name, *_ in BAD_CALLS}) == len(BAD_CALLS)


def _alarm(signum, frame):
    raise TimeoutError("bad call hung for 60 s")


@pytest.mark.parametrize("name, call, exc, match", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_call_raises_named_error(name, call, exc, match):
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(60)  # a hang is a failure, not a slow pass
    try:
        with pytest.raises(exc, match=match):
            call()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
