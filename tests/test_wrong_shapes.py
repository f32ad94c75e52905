"""Wrong shapes from a user's f/g, f/g numba cannot take, long runs, and the divergence advice.

Every backend ("numpy", "numba", "numba-numpy-rng") and every entry point (simulate,
expectation, weak_order, exit_times) must stop a wrong shape with the one named ValueError of
``SDE.shape_error`` — never crash the interpreter, broadcast, or return numbers.

numba compiles once per distinct Python function (seconds each), so the wrong functions are a
fixed module-level set; only the two that pass the probe of ``SDE.probe_states`` (5 rows for
d, m <= 3) reach the compiled kernels, which must catch them at the call.
"""
import importlib
import importlib.util
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sdesim
import sdesim.engine as engine
from sdesim.backends import common, numba_backend, numpy_backend
from sdesim.escape import Box, exit_times
from sdesim.weak import weak_order

sim = importlib.import_module("sdesim.simulate")  # the module (sdesim.simulate is the function)
BACKENDS = ("numpy", "numba", "numba-numpy-rng") + (
    ("torch",) if importlib.util.find_spec("torch") is not None else ())
ENTRIES = ("simulate", "expectation", "weak_order", "exit_times")
P = 5  # probe rows of SDE.probe_states when d, m are in {1, 2, 3}


def _f_ok(t, x):
    return -x


def _g_ok(t, x):
    return 0.3 + 0.0 * x


def _g_const_22(t, x):
    return np.full((2, 2), 0.3)


def _g_const_probe_rows(t, x):  # passes the probe: the kernels must catch it
    return np.full((P, x.shape[1]), 0.3)


def _g_first_two(t, x):
    return x[:2]


def _g_row(t, x):
    return 0.3 * np.ones((1, x.shape[1]))


def _g_vector(t, x):
    return 0.3 * np.ones(x.shape[1])


def _g_one_d(t, x):
    return 0.3 + 0.0 * x[:, 0]


def _g_extra_axis(t, x):
    return (0.3 + 0.0 * x)[:, :, None]


def _g_additive_too_long(t):
    return np.ones(4)


def _f_transposed(t, x):
    return -x.T.copy()


def _f_first_probe_rows(t, x):  # passes the probe: the kernels must catch it
    return -x[:P]


def _f_scalar(t, x):
    return 0.0


# name: (the function that is wrong, noise, m, f, g)
WRONG = {
    "g constant (2, 2)": ("g", "diagonal", None, _f_ok, _g_const_22),
    "g constant (5, d)": ("g", "diagonal", None, _f_ok, _g_const_probe_rows),
    "g x[:2]": ("g", "diagonal", None, _f_ok, _g_first_two),
    "g (1, d)": ("g", "diagonal", None, _f_ok, _g_row),
    "g (d,)": ("g", "scalar", None, _f_ok, _g_vector),
    "g 1-d": ("g", "diagonal", None, _f_ok, _g_one_d),
    "g extra axis": ("g", "diagonal", None, _f_ok, _g_extra_axis),
    "g (n, d) for general noise": ("g", "general", 2, _f_ok, _g_ok),
    "g(t) additive (4,)": ("g", "additive", None, _f_ok, _g_additive_too_long),
    "f transposed": ("f", "diagonal", None, _f_transposed, _g_ok),
    "f x[:5]": ("f", "diagonal", None, _f_first_probe_rows, _g_ok),
    "f scalar": ("f", "diagonal", None, _f_scalar, _g_ok),
}
MATCH = {"f": r"f\(t, x\) must return shape \(n, d\)", "g": r"g\(t(, x)?\) must return shape"}


def _run(entry, sde, backend, n_paths, chunk_size):
    x0 = np.full(sde.d, 0.5)
    kw = dict(n_paths=n_paths, rng=1, backend=backend, chunk_size=chunk_size, quiet=True)
    if entry == "simulate":
        return sdesim.simulate(sde, x0, T=0.1, dt=0.02, **kw)
    if entry == "expectation":
        return sdesim.expectation(sde, x0, lambda x: x[:, 0], T=0.1, dt=0.02, **kw)
    if entry == "weak_order":
        return weak_order(sde, x0, lambda x: x[:, 0], T=0.1, dts=[0.1 / 2**k for k in range(5)],
                          **kw)
    return exit_times(sde, x0, Box(-10.0, 10.0), dt=0.02, t_max=0.1, **kw)


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("kind", sorted(WRONG))
@settings(max_examples=5, deadline=None, derandomize=True)
@given(d=st.integers(1, 3), n_paths=st.integers(P + 1, 300),
       chunk_size=st.one_of(st.none(), st.integers(P + 1, 64)))
def test_every_wrong_shape_raises_the_same_named_error_on_every_backend(kind, entry, d, n_paths,
                                                                        chunk_size):
    """Every kind of wrong function on every entry point (parametrised, so each is covered);
    hypothesis draws d, the number of paths and the chunk size; every backend runs each case."""
    which, noise, m, f, g = WRONG[kind]
    sde = sdesim.SDE(f, g, d=d, m=m, noise=noise)
    messages = []
    for backend in BACKENDS:
        with pytest.raises(ValueError, match=MATCH[which]) as info:
            _run(entry, sde, backend, n_paths, chunk_size)
        messages.append(str(info.value))
    if chunk_size is not None:  # the same chunks on every backend: the very same message
        assert messages[1:] == messages[:1] * (len(BACKENDS) - 1), messages


@pytest.mark.parametrize("backend", BACKENDS)
def test_issue_reproductions_raise_named_errors(backend):
    """The reported cases: a segfault (rc 139), a transposed f, and 5e271 from g = x[:2]."""
    kw = dict(T=1.0, dt=0.01, phi=lambda x: x[:, 0] ** 2, n_paths=100_000, rng=0, quiet=True,
              backend=backend)
    cases = [(_f_ok, lambda t, x: np.full((2, 2), 0.3), r"g\(t, x\) must return shape "
              r"\(n, d\) = \(5, 2\) for noise='diagonal' at x of shape \(5, 2\), "
              r"got \(2, 2\)"),
             (lambda t, x: -x.T.copy(), _g_ok, r"f\(t, x\) must return shape .* got \(2, 5\)"),
             (_f_ok, lambda t, x: x[:2], r"g\(t, x\) must return shape .* got \(2, 2\)")]
    for f, g, match in cases:
        with pytest.raises(ValueError, match=match):
            sdesim.expectation(sdesim.SDE(f, g, d=2), [1.0, 1.0], **kw)


@pytest.mark.parametrize("backend", BACKENDS)
def test_shapes_that_pass_the_probe_are_caught_where_f_and_g_are_called(backend):
    sde = sdesim.SDE(_f_ok, _g_const_probe_rows, d=2)
    with pytest.raises(ValueError, match=r"= \(1000, 2\) .* got \(5, 2\)"):
        sdesim.simulate(sde, [1.0, 1.0], T=0.1, dt=0.01, n_paths=3000, chunk_size=1000,
                        backend=backend, rng=0, quiet=True)


def test_numpy_backend_never_broadcasts_g():
    # (1, d) and (d,) broadcast against (n, d) in numpy: every call is checked instead
    for g in (_g_row, _g_vector):
        sde = sdesim.SDE(_f_ok, g, d=2)
        with pytest.raises(ValueError, match=r"g\(t, x\) must return shape"):
            numpy_backend.run_chunk(sde, np.ones((7, 2)), 0.01, 3, (1,), [3],
                                    np.random.default_rng(0))


def test_uncompilable_f_with_a_wrong_shape_falls_back_to_the_named_error():
    """numba cannot type f (a list comprehension of Python floats) and f's shape is right only on
    the probe's 5 rows: the numpy fallback raises the named error, not numba's."""
    def f(t, x):
        return np.array([[float(v) for v in row] for row in -x[:P]])

    sde = sdesim.SDE(f, _g_ok, d=1)
    with pytest.warns(RuntimeWarning, match="numba could not compile"), \
            pytest.raises(ValueError, match=r"f\(t, x\) must return shape .* got \(5, 1\)"):
        sdesim.simulate(sde, [1.0], T=0.1, dt=0.01, n_paths=20, rng=0, quiet=True)


# ----------------------------------------------------------------------------- item 2
class Problem:
    """A user's problem class: drift and diffusion as methods, and as ``__call__``."""

    def __init__(self, k):
        self.k = k

    def drift(self, t, x):
        return -self.k * x

    def diffusion(self, t, x):
        return 0.3 + 0.0 * x

    def __call__(self, t, x):
        return -self.k * x


@pytest.mark.parametrize("backend", ["numba", "numba-numpy-rng"])
@pytest.mark.parametrize("how", ["bound method", "callable object"])
def test_methods_and_callable_objects_fall_back_to_numpy_with_a_reason(backend, how):
    prob = Problem(1.5)
    f = prob.drift if how == "bound method" else prob
    how = how.replace("callable", "callable Problem")
    sde = sdesim.SDE(f, prob.diffusion, d=2)
    kw = dict(T=0.2, dt=0.01, n_paths=50, rng=3, chunk_size=25, quiet=True, save_at=[0.2])
    with pytest.warns(RuntimeWarning, match=f"numba could not compile.*f is a {how}"):
        got = sdesim.simulate(sde, [1.0, 1.0], backend=backend, **kw)
    ref = sdesim.simulate(sde, [1.0, 1.0], backend="numpy", **kw)
    assert np.array_equal(got.xs, ref.xs)
    with pytest.warns(RuntimeWarning, match=f"for exit_times.*f is a {how}"):
        got = exit_times(sde, [0.0, 0.0], Box(-1.0, 1.0), dt=0.01, t_max=0.5, n_paths=50,
                         rng=3, backend=backend, quiet=True)
    ref = exit_times(sde, [0.0, 0.0], Box(-1.0, 1.0), dt=0.01, t_max=0.5, n_paths=50, rng=3,
                     backend="numpy", quiet=True)
    assert np.array_equal(got.times, ref.times)


def test_jitted_f_is_used_as_it_is_and_its_compilation_announced(capsys):
    import numba

    @numba.njit
    def drift(t, x):
        return 1.0 - x * x * x

    sde = sdesim.SDE(drift, np.array([0.5]), d=1, noise="additive")
    kw = dict(T=0.1, dt=0.01, n_paths=40, rng=5, chunk_size=20, save_at=[0.1])
    got = sdesim.simulate(sde, [0.0], backend="numba-numpy-rng", quiet=False, **kw)
    assert "sdesim: compiling f/g with numba" in capsys.readouterr().err
    again = sdesim.simulate(sde, [0.0], backend="numba-numpy-rng", quiet=False, **kw)
    assert "compiling" not in capsys.readouterr().err  # cached: not announced again
    ref = sdesim.simulate(sde, [0.0], backend="numpy", quiet=True, **kw)
    assert np.array_equal(got.xs, ref.xs) and np.array_equal(again.xs, ref.xs)


# ----------------------------------------------------------------------------- item 3
def test_absurd_work_is_refused_up_front():
    ou = sdesim.ou(1.0, 0.5)
    with pytest.raises(ValueError, match=r"expectation: n_paths x steps .* = 1e\+13 .*MAX_WORK"):
        sdesim.expectation(ou, [1.0], lambda x: x[:, 0], T=1.0, dt=0.1, n_paths=10**12,
                           quiet=True)  # the reported case: some 19 hours
    with pytest.raises(ValueError, match=r"simulate: .* fewer n_paths or a larger dt"):
        sdesim.simulate(ou, [1.0], T=1.0, dt=1e-12, n_paths=1000, save_at=[1.0], quiet=True)
    with pytest.raises(ValueError, match=r"expectation_levels: .*MAX_WORK"):
        weak_order(ou, [1.0], lambda x: x[:, 0], T=1.0, dts=[1e-11 * 2**k for k in range(5)],
                   n_paths=1000, rng=0, quiet=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_blocks_of_steps_do_not_change_results(backend, monkeypatch):
    sdes = [sdesim.ou(1.5, [0.5, 1.0]),  # the fused linear run
            sdesim.ou(1.0, 0.5, d=2, driver=sdesim.Stable([1.4, 1.9])),
            sdesim.SDE(_f_ok, _g_ok, d=2, noise="scalar")]
    if backend == "numba":
        sdes = sdes[:2]  # (the user kernel is exercised on numba-numpy-rng: one compile less)

    def runs():
        out = []
        for sde in sdes:
            kw = dict(n_paths=90, rng=4, backend=backend, chunk_size=40, quiet=True)
            out.append(sdesim.simulate(sde, [1.0, 0.5], T=0.5, dt=0.01, **kw).xs)
            le = sdesim.expectation_levels(sde, [1.0, 0.5], lambda x: x[:, 0] ** 2, T=0.5,
                                           dts=[0.05, 0.025, 0.0125], **kw)
            out.append(le.mean)
        return out

    one_block = runs()
    monkeypatch.setattr(common, "BLOCK_WORK", 150)  # 1 to 3 steps a block
    for a, b in zip(one_block, runs()):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("module", [numpy_backend, numba_backend, numba_backend.NUMPY_RNG])
def test_progress_is_reported_within_a_chunk(module, monkeypatch):
    monkeypatch.setattr(common, "BLOCK_WORK", 1000)
    calls = []
    module.run_chunk(sdesim.ou(1.0, 0.5, d=2), np.zeros((100, 2)), 0.01, 30, (1,), [30],
                     np.random.default_rng(0), progress=calls.append)
    assert calls == [100 * 5] * 6  # blocks of 1000 // (100 * 2) = 5 steps


def test_long_runs_warn_with_the_expected_duration_even_when_quiet(monkeypatch):
    monkeypatch.setattr(common, "BLOCK_WORK", 100)
    kw = dict(T=0.5, dt=0.01, phi=lambda x: x[:, 0], n_paths=100, rng=0, quiet=True)
    with pytest.warns(RuntimeWarning, match=r"expectation: this run will take about .* more"):
        monkeypatch.setattr(engine, "ETA_WARN_S", 0.0)
        monkeypatch.setattr(engine, "ETA_WINDOW_S", 0.0)
        sdesim.expectation(sdesim.ou(1.0, 0.5), [1.0], **kw)
    monkeypatch.setattr(engine, "ETA_WARN_S", 120.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        sdesim.expectation(sdesim.ou(1.0, 0.5), [1.0], **kw)


# ----------------------------------------------------------------------------- item 4
def test_divergence_advice_fits_the_call():
    sde = sdesim.gbm(2000.0, 0.1)  # x grows 201-fold a step: overflow after ~134 steps
    kw = dict(T=20.0, dt=0.1, n_paths=10, rng=0, quiet=True)
    with pytest.raises(sdesim.SimulationDiverged, match=r"^simulate: .* pass on_nonfinite="
                                                        r"'keep' to simulate\(\)"):
        sdesim.simulate(sde, [1.0], save_at=[20.0], **kw)
    for backend in ("numpy", "numba"):
        with pytest.raises(sdesim.SimulationDiverged,
                           match=r"^expectation: .* simulate\(\.\.\., on_nonfinite='keep'\)"):
            sdesim.expectation(sde, [1.0], lambda x: x[:, 0], backend=backend, **kw)
    with pytest.raises(sdesim.SimulationDiverged, match=r"^expectation_levels: .*\(expectation_"
                                                        r"levels\(\) streams estimates"):
        weak_order(sde, [1.0], lambda x: x[:, 0], T=20.0, dts=[2.0 / 2**k for k in range(5)],
                   n_paths=10, rng=0, quiet=True)
