"""The validation registry: one experiment per claim, each returning checked claims.

An experiment is a function ``run(quick, rng)`` registered with :func:`experiment`. It returns a
list of :class:`Claim` (or one :class:`Result` when it also has figures, parameters or notes).
``python -m validation`` imports every ``validation/exp_*.py`` module, runs what they registered
and writes the report (see :mod:`validation.runner`).

Writing an experiment
---------------------
::

    # validation/exp_my_claim.py
    from validation.registry import Claim, Result, experiment

    @experiment("my_claim", "EM reproduces E X_T of an OU process")
    def run(quick: bool, rng):
        \"\"\"Shown in the report as the experiment's description (say what, how, why it is exact).\"\"\"
        n = 10_000 if quick else 1_000_000
        ...                                       # simulate with rng=rng.spawn(1)[0], compare
        return Result(claims=[Claim("E X_T = exact within 4 se", measured=z, expected="|z| <= 4",
                                    passed=abs(z) <= 4, details={"n_paths": n})],
                      params={"n_paths": n}, figures={"paths": fig})

Rules that keep the report honest: a stochastic claim compares an estimate
with an exact value within k standard errors (k about 4-5, stated in ``expected``); the seed
comes from ``rng`` (a :class:`numpy.random.SeedSequence`, independent per experiment; ``spawn``
it for independent streams, never reuse one seed for two simulations); the quick mode keeps the
claim and uses fewer paths or steps.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

__all__ = ["Claim", "Result", "Experiment", "Registry", "REGISTRY", "experiment", "as_result",
           "SETTINGS", "chunk_executor"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class Claim:
    """One checked claim: what was claimed, what was measured, what was expected, the verdict.

    Attributes
    ----------
    claim : str
        The statement, e.g. ``"EM weak order CI contains 1 (GBM, g = x^2)"``.
    measured : str or float
        The measured value (a float is printed with 4 significant digits).
    expected : str
        The acceptance criterion, e.g. ``"CI contains 1"`` or ``"|z| <= 4"``.
    passed : bool
        The verdict.
    details : dict
        Anything useful for a reader (JSON-serialisable after numpy conversion): estimates,
        standard errors, z-scores, the fit summary.
    """

    claim: str
    measured: str | float
    expected: str
    passed: bool
    details: dict = field(default_factory=dict)

    def __post_init__(self):
        self.passed = bool(self.passed)


@dataclass
class Result:
    """What an experiment returns when it has more than claims.

    Attributes
    ----------
    claims : list of Claim
    figures : dict of str -> matplotlib Figure
        Saved as ``<experiment>__<key>.png`` and embedded in the report.
    params : dict
        Parameters of the run (problem, step sizes, paths), shown in the report.
    notes : list of str
        Free-text lines (markdown) for the report, e.g. a fit summary.
    """

    claims: list
    figures: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: ``name``, one-line ``claim``, the ``run`` function and its docs."""

    name: str
    claim: str
    run: Callable[..., Any]
    description: str
    module: str


def as_result(obj) -> Result:
    """Normalise what ``run`` returned (a Result, a Claim, or a list of Claims) to a Result.

    Raises
    ------
    TypeError
        If ``obj`` is none of these, or a list holds something that is not a Claim.
    """
    if isinstance(obj, Result):
        res = obj
    elif isinstance(obj, Claim):
        res = Result(claims=[obj])
    elif isinstance(obj, (list, tuple)):
        res = Result(claims=list(obj))
    else:
        raise TypeError(f"an experiment must return a Result, a Claim or a list of Claims, "
                        f"got {type(obj).__name__}")
    res.claims = list(res.claims)
    bad = [type(c).__name__ for c in res.claims if not isinstance(c, Claim)]
    if bad:
        raise TypeError(f"Result.claims must hold Claim objects, got {', '.join(bad)}")
    if not res.claims:
        raise TypeError("an experiment must check at least one claim, got none")
    return res


class Registry:
    """An ordered collection of experiments, filled by the :meth:`experiment` decorator."""

    def __init__(self):
        self._experiments: dict[str, Experiment] = {}

    def experiment(self, name: str, claim: str):
        """Register ``run(quick: bool, rng) -> list[Claim] | Result`` under ``name``.

        Parameters
        ----------
        name : str
            Unique, short, file-name safe (letters, digits, ``_ . -``); used by ``--only`` and
            in figure file names.
        claim : str
            The claim in one line (the report's heading for the experiment).

        Raises
        ------
        ValueError
            If ``name`` is not file-name safe or is already taken by another function.
        """
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"experiment name must match {_NAME.pattern!r}, got {name!r}")
        if not isinstance(claim, str) or not claim.strip():
            raise ValueError(f"experiment {name!r} needs a one-line claim, got {claim!r}")

        def register(func):
            if not callable(func):
                raise TypeError(f"@experiment({name!r}) must decorate a function")
            old = self._experiments.get(name)
            if old is not None and (old.module, old.run.__qualname__) != (
                    func.__module__, func.__qualname__):
                raise ValueError(f"experiment name {name!r} is already registered by "
                                 f"{old.module}.{old.run.__qualname__}")
            doc = inspect.cleandoc(func.__doc__ or "").strip()
            self._experiments[name] = Experiment(name, claim.strip(), func, doc, func.__module__)
            return func

        return register

    def names(self) -> list[str]:
        return list(self._experiments)

    def select(self, names=None) -> list[Experiment]:
        """The experiments called ``names`` (all, in registration order, when ``None``).

        Raises
        ------
        KeyError
            Naming the unknown names and listing the known ones.
        """
        if names is None:
            return list(self._experiments.values())
        unknown = [n for n in names if n not in self._experiments]
        if unknown:
            raise KeyError(f"unknown experiment(s) {unknown}; known: {self.names()}")
        return [self._experiments[n] for n in dict.fromkeys(names)]

    def __getitem__(self, name: str) -> Experiment:
        return self._experiments[name]

    def __contains__(self, name) -> bool:
        return name in self._experiments

    def __iter__(self) -> Iterator[Experiment]:
        return iter(list(self._experiments.values()))

    def __len__(self) -> int:
        return len(self._experiments)

    def __repr__(self) -> str:
        return f"Registry({self.names()})"


#: The registry that ``python -m validation`` runs.
REGISTRY = Registry()
#: ``@experiment(name, claim)``: register into :data:`REGISTRY`.
experiment = REGISTRY.experiment


#: Run-wide settings from the command line: ``executor`` (``--executor``) is where the
#: experiments' own chunked loops (the estimator coverage studies) run.
SETTINGS: dict = {"executor": None}


def chunk_executor():
    """The :class:`sdesim.engine.Executor` for an experiment's own chunks: ``--executor`` of
    the command line (``"serial"``, ``"threads"``, ``"dask"``, a scheduler address), serial by
    default. Results do not depend on it (the chunk engine's guarantee)."""
    from sdesim.distributed import resolve_executor
    return resolve_executor(SETTINGS["executor"], False)
