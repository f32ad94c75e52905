"""Run registered experiments and write the report: table, ``report.md``, PNG figures, JSON.

``python -m validation [--quick] [--only NAME ...] [--out DIR] [--seed N] [--list]`` calls
:func:`main`; tests call :func:`run_experiments` on a registry of their own.

Output folder (default ``validation/results/<timestamp>[-quick]/``, with ``validation/results/
latest`` pointing at the newest run):

- ``report.md``: the summary table, then per experiment its claim, description, parameters,
  claims with details, notes and figures (PNG links);
- ``<experiment>__<figure>.png``;
- ``results.json``: the same content, machine-readable.

The exit status is 0 when every claim passed and 1 when any failed or an experiment raised.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import math
import os
import pkgutil
import platform
import shutil
import subprocess
import sys
import textwrap
import time
import traceback
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from .registry import REGISTRY, SETTINGS, Claim, Registry, Result, as_result  # noqa: E402

__all__ = ["ExperimentRun", "RunReport", "discover", "run_experiments", "main",
           "format_table", "terminal_width", "experiment_seed"]

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_RESULTS = PACKAGE_DIR / "results"
# table columns: (header, widest, narrowest before the table may outgrow the terminal)
_COLS = (("experiment", 22, 18), ("claim", 54, 20), ("measured", 34, 12), ("expected", 30, 12),
         ("verdict", 7, 7))
_SEP = "  "
_MAX_CELL_LINES = 4      # longer cells are cut with "…" (report.md has them in full)
_FALLBACK_WIDTH = 100    # when the terminal size cannot be read (pipes, CI)


@dataclass
class ExperimentRun:
    """The outcome of one experiment: its result (claims, figures, ...) and how long it took."""

    name: str
    claim: str
    description: str
    result: Result
    seconds: float
    error: str | None = None
    figure_files: list = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.passed for c in self.result.claims)


@dataclass
class RunReport:
    """All experiment runs of one invocation, the output folder and the exit code."""

    runs: list
    out_dir: Path | None
    meta: dict

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.runs)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    @property
    def n_claims(self) -> int:
        return sum(len(r.result.claims) for r in self.runs)

    @property
    def n_failed(self) -> int:
        return sum(not c.passed for r in self.runs for c in r.result.claims)


# ----------------------------------------------------------------------------- helpers
def discover(package: str = "validation", registry: Registry | None = None) -> list[str]:
    """Import every ``<package>.exp_*`` module (each registers its experiments); their names.

    A module that fails to import is registered as a failing experiment named after the module,
    so one broken experiment shows up in the report instead of stopping all the others.
    """
    registry = REGISTRY if registry is None else registry
    pkg = importlib.import_module(package)
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("exp_"))
    for m in names:
        try:
            importlib.import_module(f"{package}.{m}")
        except Exception:
            tb = traceback.format_exc()
            if m in registry:
                continue

            def broken(quick, rng, _tb=tb, _m=m):
                raise ImportError(f"module {package}.{_m} failed to import:\n{_tb}")

            broken.__qualname__ = f"broken_{m}"
            registry.experiment(m, f"module {package}.{m} imports")(broken)
    return names


def experiment_seed(seed: int, name: str) -> np.random.SeedSequence:
    """The experiment's own seed: independent of which other experiments run, or in what order."""
    return np.random.SeedSequence([int(seed), zlib.crc32(name.encode())])


def fmt_value(v) -> str:
    """A measured value as text: floats with 4 significant digits, everything else ``str``."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4g}"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return str(v)


def _jsonable(obj):
    """Convert numpy scalars/arrays, tuples, paths and non-finite floats for strict JSON."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else str(x)
    if isinstance(obj, complex):
        return {"re": _jsonable(obj.real), "im": _jsonable(obj.imag)}
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


def _wrap(text: str, width: int) -> list[str]:
    lines = []
    for part in str(text).splitlines() or [""]:
        lines += textwrap.wrap(part, width, break_long_words=True, break_on_hyphens=False) or [""]
    return lines


def terminal_width() -> int:
    """Columns of the terminal (``shutil.get_terminal_size``; 100 when it cannot be read)."""
    return shutil.get_terminal_size(fallback=(_FALLBACK_WIDTH, 24)).columns


def _cell(text, width: int) -> tuple[list[str], bool]:
    """``text`` wrapped to ``width``, at most ``_MAX_CELL_LINES`` lines; True if it was cut."""
    lines = _wrap(text, width)
    if len(lines) <= _MAX_CELL_LINES:
        return lines, False
    last = lines[_MAX_CELL_LINES - 1]
    return lines[:_MAX_CELL_LINES - 1] + [last[:width - 1] + "…"], True


def _column_widths(rows, width: int) -> list[int]:
    """Widths of the columns so that a table line fits in ``width`` characters.

    Each column wants its longest cell (at most its cap); when they do not fit, every column
    gives up room in proportion to what it has above its minimum. Below the sum of the minimums
    (77 columns) the table is wider than ``width``.
    """
    want = [min(cap, max([len(head)] + [len(str(row[i])) for row in rows]))
            for i, (head, cap, _) in enumerate(_COLS)]
    low = [min(w, max(lo, len(head))) for w, (head, _, lo) in zip(want, _COLS)]
    room = width - len(_SEP) * (len(_COLS) - 1)
    if sum(want) <= room:
        return want
    spare = room - sum(low)
    if spare <= 0:
        return low
    give = [w - lo for w, lo in zip(want, low)]   # not all 0: sum(want) > room > sum(low)
    widths = [lo + spare * g // sum(give) for lo, g in zip(low, give)]
    for i in sorted(range(len(give)), key=lambda i: -give[i])[:room - sum(widths)]:
        widths[i] += 1  # hand out what the rounding left over, widest-wanting first
    return widths


def _rows(runs) -> list[tuple]:
    rows = []
    for r in runs:
        for c in r.result.claims:
            rows.append((r.name, c.claim, fmt_value(c.measured), c.expected,
                         "PASS" if c.passed else "FAIL"))
    return rows


def format_table(runs, width: int | None = None) -> str:
    """The plain-text summary table (experiment, claim, measured, expected, verdict).

    Cells are wrapped to fit ``width`` columns (default: the terminal's, see
    :func:`terminal_width`) and cut with "…" after a few lines; ``report.md`` has them in full.
    """
    rows = _rows(runs)
    widths = _column_widths(rows, terminal_width() if width is None else int(width))
    out = [_SEP.join(h.ljust(w) for (h, _, _), w in zip(_COLS, widths)).rstrip(),
           _SEP.join("-" * w for w in widths)]
    any_cut = False
    for row in rows:
        cells, cut = zip(*(_cell(v, w) for v, w in zip(row, widths)))
        any_cut |= any(cut)
        for k in range(max(len(c) for c in cells)):
            out.append(_SEP.join((c[k] if k < len(c) else "").ljust(w)
                                 for c, w in zip(cells, widths)).rstrip())
    if any_cut:
        out.append("(… = cut to fit the terminal; report.md has the full text)")
    return "\n".join(out)


def _md(text) -> str:
    """Escape a table cell for markdown."""
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def _md_table(header, rows) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def _compact(v):
    """Round floats (recursively) to 6 significant digits for display."""
    v = _jsonable(v)
    if isinstance(v, float):
        return float(f"{v:.6g}")
    if isinstance(v, list):
        return [_compact(x) for x in v]
    if isinstance(v, dict):
        return {k: _compact(x) for k, x in v.items()}
    return v


def _short(v, limit: int = 400) -> str:
    """A parameter or detail value as one line of text for the report (long values cut)."""
    if isinstance(v, (list, tuple, dict, np.ndarray)):
        s = json.dumps(_compact(v), ensure_ascii=False)
    else:
        s = fmt_value(v)
    return s if len(s) <= limit else s[:limit] + " …"


def _git_describe() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PACKAGE_DIR,
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=PACKAGE_DIR,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (commit or "unknown") + (" (uncommitted changes)" if dirty else "")
    except Exception:  # git missing or not a repository: the report still gets written
        return "unknown"


def _meta(quick: bool, seed: int, names, argv) -> dict:
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("sdesim", "scipy", "numba", "matplotlib"):
        try:
            versions[mod] = importlib.import_module(mod).__version__
        except Exception:
            versions[mod] = "not importable"
    return {"started": _dt.datetime.now().isoformat(timespec="seconds"),
            "command": "python -m validation " + " ".join(argv if argv is not None else []),
            "quick": bool(quick), "seed": int(seed), "experiments": list(names),
            "git": _git_describe(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "versions": versions}


# ----------------------------------------------------------------------------- writing
def _save_figures(run: ExperimentRun, out_dir: Path) -> None:
    import matplotlib.pyplot as plt
    for key, fig in run.result.figures.items():
        fname = f"{run.name}__{key}.png"
        try:
            fig.savefig(out_dir / fname, dpi=110, bbox_inches="tight")
            run.figure_files.append(fname)
        except Exception as exc:  # a broken figure must not hide the claims
            run.result.notes.append(f"figure {key!r} could not be saved: {exc!r}")
        finally:
            plt.close(fig)


def _write_report(report: RunReport, out_dir: Path) -> None:
    m = report.meta
    verdict = ("ALL CLAIMS PASSED" if report.passed else
               f"{report.n_failed} OF {report.n_claims} CLAIMS FAILED")
    lines = ["# sdesim validation report", "",
             f"**{verdict}** — {report.n_claims} claims in {len(report.runs)} "
             f"experiment{'s' if len(report.runs) != 1 else ''}, "
             f"{'quick' if m['quick'] else 'full'} mode, seed {m['seed']}, "
             f"{m['total_seconds']:.1f} s.", "",
             f"- started {m['started']}; `{m['command'].strip()}`",
             f"- git {m['git']}; {m['platform']}, {m['cpus']} CPUs",
             "- " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()), "",
             "## Summary", ""]
    lines += _md_table(["experiment", "claim", "measured", "expected", "verdict"],
                       [(f"[{n}](#{n.lower()})", c, meas, e, f"**{v}**" if v == "FAIL" else v)
                        for n, c, meas, e, v in _rows(report.runs)])
    lines.append("")
    for run in report.runs:
        status = "passed" if run.passed else ("error" if run.error else "failed")
        lines += [f'<a id="{run.name.lower()}"></a>', "", f"## {run.name}", "",
                  f"**Claim.** {run.claim}", "",
                  f"*{status}, {run.seconds:.1f} s*", ""]
        if run.description:
            lines += [run.description, ""]
        if run.result.params:
            lines += ["**Parameters**", ""]
            lines += _md_table(["parameter", "value"],
                               [(k, _short(v)) for k, v in run.result.params.items()])
            lines.append("")
        lines += ["**Claims**", ""]
        for c in run.result.claims:
            lines.append(f"- {'PASS' if c.passed else '**FAIL**'}: {c.claim} — measured "
                         f"{fmt_value(c.measured)}; expected {c.expected}")
            for k, v in c.details.items():
                lines.append(f"  - {k}: {_short(v)}")
        lines.append("")
        if run.error:
            lines += ["**Error**", "", "```", run.error.rstrip(), "```", ""]
        if run.result.notes:
            lines += ["**Notes**", ""] + [str(n) for n in run.result.notes] + [""]
        for fname in run.figure_files:
            lines += [f"![{fname}]({fname})", ""]
    (out_dir / "report.md").write_text("\n".join(lines))


def _write_json(report: RunReport, out_dir: Path) -> None:
    doc = {"meta": report.meta, "passed": report.passed, "n_claims": report.n_claims,
           "n_failed": report.n_failed, "experiments": []}
    for run in report.runs:
        doc["experiments"].append({
            "name": run.name, "claim": run.claim, "description": run.description,
            "passed": run.passed, "seconds": run.seconds, "error": run.error,
            "params": run.result.params, "notes": run.result.notes,
            "figures": run.figure_files,
            "claims": [{"claim": c.claim, "measured": c.measured, "expected": c.expected,
                        "passed": c.passed, "details": c.details} for c in run.result.claims]})
    (out_dir / "results.json").write_text(json.dumps(_jsonable(doc), indent=2, allow_nan=False))


def _default_out_dir(quick: bool) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = DEFAULT_RESULTS / (stamp + ("-quick" if quick else ""))
    k = 1
    while out.exists():
        k += 1
        out = DEFAULT_RESULTS / f"{stamp}{'-quick' if quick else ''}-{k}"
    return out


def _point_latest(out_dir: Path) -> None:
    """Make ``results/latest`` a symlink to ``out_dir`` (best effort: skipped where unsupported)."""
    link = DEFAULT_RESULTS / "latest"
    try:
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.exists():
            return  # a real folder called 'latest': leave it alone
        link.symlink_to(out_dir.name, target_is_directory=True)
    except OSError:
        pass


# ----------------------------------------------------------------------------- running
def run_experiments(registry: Registry | None = None, names=None, *, quick: bool = False,
                    out_dir=None, seed: int = 0, stream=None, argv=None,
                    write: bool = True) -> RunReport:
    """Run experiments, print progress and the table, write the report; returns a RunReport.

    Parameters
    ----------
    registry : Registry, optional
        Default: :data:`validation.registry.REGISTRY` (call :func:`discover` first to fill it).
    names : list of str, optional
        Experiments to run (default all, in registration order).
    quick : bool
        Passed to every experiment (fewer paths/steps, same claims).
    out_dir : path, optional
        Results folder (created); default ``validation/results/<timestamp>[-quick]/``.
    seed : int
        Base seed; experiment ``name`` gets ``SeedSequence([seed, crc32(name)])``.
    stream : file, optional
        Where progress and the table go (default ``sys.stdout``).
    write : bool
        Write ``report.md``, figures and ``results.json`` (False: only print).

    Returns
    -------
    RunReport
        ``.exit_code`` is 0 when every claim passed, else 1.
    """
    registry = REGISTRY if registry is None else registry
    stream = sys.stdout if stream is None else stream
    exps = registry.select(names)
    if not exps:
        raise ValueError("no experiments registered (is the experiment module imported?)")
    meta = _meta(quick, seed, [e.name for e in exps], argv)
    out = None
    if write:
        out = Path(out_dir) if out_dir is not None else _default_out_dir(quick)
        out.mkdir(parents=True, exist_ok=True)

    def say(msg=""):
        print(msg, file=stream, flush=True)

    say(f"sdesim validation: {len(exps)} experiment(s), {'quick' if quick else 'full'} mode, "
        f"seed {seed}" + (f", results -> {out}" if out else ""))
    t_all = time.perf_counter()
    runs = []
    for i, exp in enumerate(exps, 1):
        say(textwrap.fill(f"[{i}/{len(exps)}] {exp.name}: {exp.claim}", terminal_width(),
                          subsequent_indent="      "))
        t0 = time.perf_counter()
        error = None
        try:
            result = as_result(exp.run(quick, experiment_seed(seed, exp.name)))
        except Exception as exc:
            error = traceback.format_exc()
            result = Result(claims=[Claim("experiment runs to completion",
                                          f"{type(exc).__name__}: {exc}", "no exception",
                                          False)])
        run = ExperimentRun(exp.name, exp.claim, exp.description, result,
                            time.perf_counter() - t0, error)
        if out is not None:
            _save_figures(run, out)
        else:
            import matplotlib.pyplot as plt
            for fig in result.figures.values():
                plt.close(fig)
        runs.append(run)
        n_ok = sum(c.passed for c in result.claims)
        say(f"      {'ERROR' if error else 'done'} in {run.seconds:.1f} s: "
            f"{n_ok}/{len(result.claims)} claims passed")
        if error:
            say(textwrap.indent(error.rstrip(), "      | "))
    meta["total_seconds"] = time.perf_counter() - t_all
    meta["seconds"] = {r.name: r.seconds for r in runs}
    report = RunReport(runs, out, meta)
    say()
    say(format_table(runs))
    say()
    say(("ALL CLAIMS PASSED" if report.passed else
         f"{report.n_failed} of {report.n_claims} claims FAILED")
        + f" ({report.n_claims} claims, {meta['total_seconds']:.1f} s)")
    if out is not None:
        _write_report(report, out)
        _write_json(report, out)
        if out_dir is None:
            _point_latest(out)
        say(f"report: {out / 'report.md'}")
    return report


def main(argv=None) -> int:
    """The command line: ``python -m validation [--quick] [--only NAME ...] [--out DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m validation",
        description="Run sdesim's validation experiments (one per claim) and write a report. "
                    "Exits 1 when any claim fails.")
    parser.add_argument("--quick", action="store_true",
                        help="fewer paths and step sizes (about a minute on 2 cores)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these experiments")
    parser.add_argument("--out", metavar="DIR",
                        help="results folder (default validation/results/<timestamp>/)")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    parser.add_argument("--executor", metavar="NAME", default=None,
                        help="where the estimator coverage studies run their chunks: serial "
                             "(default), threads, dask, or a Dask scheduler address; the "
                             "results do not depend on it")
    args = parser.parse_args(argv)
    SETTINGS["executor"] = args.executor
    discover()
    if args.list:
        for exp in REGISTRY:
            print(textwrap.fill(f"{exp.name:24s} {exp.claim}", terminal_width(),
                                subsequent_indent=" " * 25))
        return 0
    try:
        REGISTRY.select(args.only)
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    report = run_experiments(REGISTRY, args.only, quick=args.quick, out_dir=args.out,
                             seed=args.seed, argv=sys.argv[1:] if argv is None else argv)
    return report.exit_code
