"""The validation registry and runner plumbing, on tiny fake experiments (not the real ones)."""
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest

from validation import runner
from validation.registry import Claim, Registry, Result, as_result

ROOT = Path(__file__).resolve().parent.parent


def _fake_registry(fail=False, boom=False):
    reg = Registry()
    seen = {}

    @reg.experiment("fake_ok", "a fake claim that holds")
    def fake_ok(quick, rng):
        """Fake description line."""
        seen["quick"], seen["rng"] = quick, rng
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        return Result([Claim("one equals one", 1.0, "== 1", True, {"arr": np.arange(3),
                                                                    "nan": float("nan")})],
                      figures={"line": fig}, params={"n": np.int64(5)}, notes=["a note"])

    if fail:
        @reg.experiment("fake_fail", "a fake claim that fails")
        def fake_fail(quick, rng):
            return [Claim("two equals three", "2", "3", False),
                    Claim("still fine", 0.5, "< 1", True)]

    if boom:
        @reg.experiment("fake_boom", "a fake experiment that raises")
        def fake_boom(quick, rng):
            raise RuntimeError("kaboom")

    return reg, seen


def test_passing_run_writes_table_report_json_and_figure(tmp_path):
    reg, seen = _fake_registry()
    out = io.StringIO()
    rep = runner.run_experiments(reg, quick=True, out_dir=tmp_path / "res", seed=3, stream=out)
    assert rep.exit_code == 0 and rep.passed and rep.n_claims == 1
    assert seen["quick"] is True
    assert isinstance(seen["rng"], np.random.SeedSequence)
    text = out.getvalue()
    for word in ("experiment", "claim", "measured", "expected", "verdict", "fake_ok",
                 "one equals one", "PASS", "[1/1]", "ALL CLAIMS PASSED"):
        assert word in text
    res = tmp_path / "res"
    assert (res / "fake_ok__line.png").stat().st_size > 0
    md = (res / "report.md").read_text()
    assert "one equals one" in md and "Fake description line." in md and "a note" in md
    assert "![fake_ok__line.png](fake_ok__line.png)" in md
    doc = json.loads((res / "results.json").read_text())      # strict JSON (nan converted)
    assert doc["passed"] is True and doc["meta"]["seed"] == 3 and doc["meta"]["quick"] is True
    (exp,) = doc["experiments"]
    assert exp["name"] == "fake_ok" and exp["params"] == {"n": 5}
    assert exp["claims"][0]["details"] == {"arr": [0, 1, 2], "nan": "nan"}
    assert exp["figures"] == ["fake_ok__line.png"]


def test_failing_claim_and_exception_give_nonzero_exit(tmp_path):
    reg, _ = _fake_registry(fail=True, boom=True)
    out = io.StringIO()
    rep = runner.run_experiments(reg, out_dir=tmp_path, stream=out)
    assert rep.exit_code == 1 and not rep.passed
    assert [r.name for r in rep.runs] == ["fake_ok", "fake_fail", "fake_boom"]  # all ran
    assert rep.n_claims == 4 and rep.n_failed == 2
    text = out.getvalue()
    assert "FAIL" in text and "kaboom" in text and "2 of 4 claims FAILED" in text
    doc = json.loads((tmp_path / "results.json").read_text())
    by_name = {e["name"]: e for e in doc["experiments"]}
    assert by_name["fake_fail"]["passed"] is False
    assert "RuntimeError: kaboom" in by_name["fake_boom"]["error"]
    assert "**FAIL**" in (tmp_path / "report.md").read_text()


def test_only_selects_and_seeds_are_per_experiment(tmp_path):
    reg, _ = _fake_registry(fail=True)
    rep = runner.run_experiments(reg, ["fake_ok"], out_dir=tmp_path, stream=io.StringIO())
    assert [r.name for r in rep.runs] == ["fake_ok"] and rep.exit_code == 0
    with pytest.raises(KeyError, match="nope"):
        runner.run_experiments(reg, ["nope"], write=False, stream=io.StringIO())
    a = runner.experiment_seed(0, "fake_ok").generate_state(2)
    assert np.array_equal(a, runner.experiment_seed(0, "fake_ok").generate_state(2))
    assert not np.array_equal(a, runner.experiment_seed(0, "fake_fail").generate_state(2))
    assert not np.array_equal(a, runner.experiment_seed(1, "fake_ok").generate_state(2))


def test_registry_rejects_bad_names_duplicates_and_bad_returns():
    reg = Registry()
    with pytest.raises(ValueError, match="name"):
        reg.experiment("bad name!", "c")
    with pytest.raises(ValueError, match="claim"):
        reg.experiment("ok", "  ")

    @reg.experiment("dup", "first")
    def first(quick, rng):
        return []

    with pytest.raises(ValueError, match="already registered"):
        @reg.experiment("dup", "second")
        def second(quick, rng):
            return []

    assert isinstance(as_result(Claim("c", 1, "e", True)), Result)
    with pytest.raises(TypeError, match="at least one"):
        as_result([])
    with pytest.raises(TypeError, match="Claim"):
        as_result(["not a claim"])
    with pytest.raises(TypeError, match="Result"):
        as_result(42)


def test_format_table_wraps_long_cells():
    reg, _ = _fake_registry()
    long = Claim("x " * 80, "m", "e", True)
    run = runner.ExperimentRun("e", "c", "", Result([long]), 0.0)
    lines = runner.format_table([run]).splitlines()
    assert len(lines) > 3 and all(len(line) < 170 for line in lines)


def _long_registry():
    """One fake experiment with a 206-character title and long claims, measured values and
    criteria: wider than any terminal unless the table adapts."""
    reg = Registry()
    title = ("EM reproduces the stationary law of a 2-d Ornstein-Uhlenbeck process with "
             "non-commuting noise within four standard errors on every coordinate, moment and "
             "step size of the study, quick mode included as well.")
    assert len(title) == 206

    @reg.experiment("fake_long_titles_experiment", title)
    def fake(quick, rng):
        return [Claim("the weak order CI contains 1 and its half-width is at most 0.05 for " * 3,
                      "0.9987 [0.9912, 1.006] (statistical 0.004 + truncation allowance 0.003)",
                      "CI contains 1, half-width <= 0.05, chi2 p-value >= 0.01 " * 2, True),
                Claim("short claim", 1.0, "== 1", False)]

    return reg, title


def test_table_fits_a_100_column_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr(runner.shutil, "get_terminal_size",
                        lambda fallback=(100, 24): os.terminal_size((100, 24)))
    reg, title = _long_registry()
    out = io.StringIO()
    rep = runner.run_experiments(reg, out_dir=tmp_path, stream=out)
    table = runner.format_table(rep.runs)
    assert table in out.getvalue()
    assert max(len(line) for line in table.splitlines()) <= 100
    assert "…" in table and "report.md has the full text" in table
    printed = [line for line in out.getvalue().splitlines() if str(tmp_path) not in line]
    assert max(len(line) for line in printed) <= 100        # progress lines wrap too
    md = (tmp_path / "report.md").read_text()               # the report keeps every word
    claim = rep.runs[0].result.claims[0]
    assert title in md and claim.claim in md and claim.expected in md


@pytest.mark.parametrize("width", [60, 80, 100, 120, 200])
def test_table_width_follows_the_terminal(width):
    reg, _ = _long_registry()
    rep = runner.run_experiments(reg, write=False, stream=io.StringIO())
    lines = runner.format_table(rep.runs, width=width).splitlines()
    widest = max(len(line) for line in lines)
    assert widest <= max(width, 77)          # 77: the narrowest the five columns go
    assert widest >= min(width, 77) - 10     # and it uses the room it has


def test_terminal_width_falls_back_to_100(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)

    def no_terminal(*args):
        raise OSError("not a terminal")

    monkeypatch.setattr(os, "get_terminal_size", no_terminal)
    assert runner.terminal_width() == 100


def test_cli_list_runs_without_simulating():
    proc = subprocess.run([sys.executable, "-m", "validation", "--list"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ou_stationary" in proc.stdout and "stable_ou" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "validation", "--only", "no_such_exp"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no_such_exp" in bad.stderr


def test_executor_option_reaches_the_coverage_studies(monkeypatch):
    """``--executor`` sets where experiments run their own chunks (validation.registry's
    chunk_executor); the chunks' results do not depend on it."""
    from sdesim.engine import Serial, Threads, root_seed, run_chunks
    from validation import registry

    monkeypatch.setitem(registry.SETTINGS, "executor", None)
    assert isinstance(registry.chunk_executor(), Serial)

    def task(chunk):
        return chunk.rng.standard_normal(3).sum()

    serial = list(run_chunks(task, 10, 2, root_seed(5), executor=registry.chunk_executor()))
    runner.main(["--list", "--executor", "threads"])
    assert isinstance(registry.chunk_executor(), Threads)
    threads = list(run_chunks(task, 10, 2, root_seed(5), executor=registry.chunk_executor()))
    assert serial == threads
