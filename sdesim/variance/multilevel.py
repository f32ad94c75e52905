"""Multilevel Monte Carlo (Giles 2008): ``E phi(X_T)`` to a target RMSE at a fraction of the cost.

Levels ``l = 0..L`` step with ``h_l = h_0 / M^l`` (``M = 2``). Level 0 estimates
``E phi(X^{h_0}_T)``; level ``l ≥ 1`` estimates ``E[phi(X^{h_l}_T) − phi(X^{h_{l−1}}_T)]`` on coupled
fine/coarse pairs (the coarse path driven by the sums of the fine increments:
:func:`sdesim.expectation_levels`), whose variance ``V_l`` decays like ``h_l`` for
Euler–Maruyama. The telescoping sum is ``E phi(X^{h_L}_T)``. With ``C_l`` the cost of one sample
(fine plus coarse steps), the variance ``Σ V_l / N_l = ε²/2`` is reached at least cost with

    ``N_l = ⌈2 ε⁻² √(V_l / C_l) Σ_k √(V_k C_k)⌉``  (Giles 2008, eq. (6)),

and levels are added until the bias estimate ``max(|Ŷ_L|, |Ŷ_{L−1}| / M^α) / (M^α − 1)`` is below
``ε/√2`` (α the weak order, 1 for EM), so the mean squared error is at most ``ε²``. Plain Monte
Carlo on the finest grid would need ``2 ε⁻² Var phi(X^{h_L}_T)`` paths of ``C_L^fine`` steps each:
both costs are reported, in path-steps. Samples come in batches, each an
:func:`~sdesim.expectation_levels` run with its own child seed (level, batch) of the root seed,
through the chunk engine.

References
----------
Giles (2008), "Multilevel Monte Carlo path simulation", Oper. Res. 56:607, §2–3 (Algorithm,
eq. (6), the convergence test); Giles (2015), Acta Numerica 24:259, Algorithm 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .._validate import callable_phi, positive_float, positive_int
from ..engine import root_seed
from ..simulate import check_sde, expectation_levels
from ..stats import Estimate, MomentAccumulator

__all__ = ["mlmc", "MLMCResult"]

M = 2


@dataclass(frozen=True, repr=False)
class MLMCResult:
    """A multilevel estimate and its account of itself.

    Attributes
    ----------
    estimate : Estimate
        ``E phi(X^{h_L}_T)`` with its standard error (``n`` = samples on level 0).
    rmse : float
        The target.
    dts : ndarray (L+1,)
        Step of each level.
    n : ndarray (L+1,)
        Samples per level.
    variance : ndarray (L+1,)
        ``V_l``: per-sample variance of ``phi`` (level 0) and of the fine−coarse differences.
    mean : ndarray (L+1,)
        Level means.
    cost_per_sample : ndarray (L+1,)
        ``C_l`` in path-steps (fine plus coarse).
    cost : float
        Total path-steps spent, pilot batches included.
    plain_cost : float
        Path-steps plain Monte Carlo on the finest grid needs for the same RMSE.
    converged : bool
        The bias test passed before ``max_levels``.
    """

    estimate: Estimate
    rmse: float
    dts: np.ndarray
    n: np.ndarray
    variance: np.ndarray
    mean: np.ndarray
    cost_per_sample: np.ndarray
    cost: float
    plain_cost: float
    converged: bool

    @property
    def speedup(self) -> float:
        """``plain_cost / cost``."""
        return self.plain_cost / self.cost

    def __repr__(self) -> str:
        e = self.estimate
        status = "" if self.converged else ", BIAS TEST NOT PASSED (raise max_levels)"
        return (f"MLMCResult({float(e.mean):.6g} ± {float(e.stderr):.2g}, target RMSE "
                f"{self.rmse:.2g}, {len(self.dts)} levels (finest dt={self.dts[-1]:.3g}), cost "
                f"{self.cost:.3g} path-steps vs plain MC {self.plain_cost:.3g} "
                f"({self.speedup:.3g}x cheaper){status})")

    def summary(self) -> str:
        """The repr and a table per level: step, N_l, mean, V_l, C_l."""
        lines = [repr(self), "  level  dt          N_l         mean         V_l        C_l"]
        for l, h in enumerate(self.dts):
            lines.append(f"  {l:<5d}  {h:<10.4g}  {int(self.n[l]):<10d}  {self.mean[l]: .4e}  "
                         f"{self.variance[l]:.3e}  {self.cost_per_sample[l]:g}")
        return "\n".join(lines)


def mlmc(sde, x0, phi: Callable, *, T: float, rmse: float, dt0: float | None = None,
         n_init: int = 2000, max_levels: int = 12, weak_order: float = 1.0, rng=None,
         backend: str = "numba", quiet: bool = False) -> MLMCResult:
    """Estimate ``E phi(X_T)`` by multilevel Monte Carlo to root-mean-square error ``rmse``.

    Parameters
    ----------
    sde : SDE
    x0 : float or array_like (d,)
    phi : callable ``phi(x) -> (n,)`` on states ``(n, d)``
    T : float
    rmse : float
        Target root-mean-square error ``ε`` (> 0): variance ``ε²/2`` plus squared bias ``≤ ε²/2``.
    dt0 : float, optional
        Step of level 0 (default ``T``: one step); must divide ``T``.
    n_init : int, default 2000
        Samples of a new level before its variance is trusted.
    max_levels : int, default 12
        Most levels (``L + 1``).
    weak_order : float, default 1.0
        ``α`` of the bias test (EM: 1).
    rng, backend, quiet
        As in :func:`sdesim.expectation`.

    Returns
    -------
    MLMCResult
        Its ``repr`` prints the estimate, the cost and plain Monte Carlo's cost.

    Raises
    ------
    ValueError
        ``rmse <= 0`` or not finite, ``dt0`` not dividing ``T``, ``max_levels < 2``.

    Examples
    --------
    >>> import sdesim
    >>> res = sdesim.variance.mlmc(sdesim.gbm(0.5, 0.4), 1.0, lambda x: x[:, 0], T=1.0,
    ...                            rmse=0.01, rng=0, quiet=True)
    >>> res.cost < res.plain_cost
    True

    References
    ----------
    Giles (2008), Oper. Res. 56:607, §2–3; Giles (2015), Acta Numerica 24:259, Algorithm 1.
    """
    sde = check_sde(sde)
    phi = callable_phi(phi)
    T = positive_float(T, "T")
    if isinstance(rmse, bool) or not isinstance(rmse, (int, float)) or not math.isfinite(rmse) \
            or rmse <= 0:
        raise ValueError(f"rmse must be a finite number > 0, got {rmse!r}")
    h0 = T if dt0 is None else positive_float(dt0, "dt0")
    if abs(T / h0 - round(T / h0)) > 1e-9 * T / h0:
        raise ValueError(f"dt0 must divide T = {T}, got {dt0}")
    n_init = positive_int(n_init, "n_init", minimum=2)
    max_levels = positive_int(max_levels, "max_levels", minimum=2)
    steps0 = int(round(T / h0))
    seed = root_seed(rng)
    accs: list[MomentAccumulator] = []
    batches: list[int] = []
    cost = 0.0

    def c_level(l: int) -> float:
        return steps0 * (1.0 if l == 0 else M ** l * (1 + 1 / M))

    def sample(l: int, n: int) -> None:
        nonlocal cost
        dts = [h0] if l == 0 else [h0 / M ** l, h0 / M ** (l - 1)]
        child = np.random.SeedSequence(seed.entropy,
                                       spawn_key=tuple(seed.spawn_key) + (l, batches[l]))
        batches[l] += 1
        le = expectation_levels(sde, x0, phi, T=T, dts=dts, n_paths=max(n, 2), rng=child,
                                backend=backend, quiet=quiet)
        k = le.n
        m2 = le.cov * k * (k - 1)
        part = MomentAccumulator(len(dts), full_cov=True)
        part.n, part.mean, part.m2 = k, np.asarray(le.mean, dtype=float), m2
        accs[l].merge(part)
        cost += k * c_level(l)

    def stats(l: int) -> tuple[float, float]:
        a = accs[l]
        if l == 0:
            return a.mean[0], a.covariance()[0, 0]
        cov = a.covariance()
        return a.mean[0] - a.mean[1], cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]

    alpha_m = M ** weak_order
    L, converged = 1, False
    while True:
        while len(accs) <= L:
            accs.append(MomentAccumulator(1 if len(accs) == 0 else 2, full_cov=True))
            batches.append(0)
            sample(len(accs) - 1, n_init)
        V = np.array([max(stats(l)[1], 0.0) for l in range(L + 1)])
        C = np.array([c_level(l) for l in range(L + 1)])
        N = np.ceil(2 * rmse ** -2 * np.sqrt(V / C) * np.sum(np.sqrt(V * C))).astype(int)
        for l in range(L + 1):
            extra = N[l] - accs[l].n
            if extra > 0:
                sample(l, int(extra))
        means = np.array([stats(l)[0] for l in range(L + 1)])
        bias = max(abs(means[L]), abs(means[L - 1]) / alpha_m) / (alpha_m - 1)
        if bias <= rmse / math.sqrt(2):
            converged = True
            break
        if L + 1 >= max_levels:
            break
        L += 1
    V = np.array([stats(l)[1] for l in range(L + 1)])
    n = np.array([accs[l].n for l in range(L + 1)])
    var_fine = accs[L].covariance()[0, 0]
    plain = 2 * rmse ** -2 * var_fine * steps0 * M ** L
    est = Estimate(float(np.sum(means)), float(math.sqrt(np.sum(V / n))), int(n[0]))
    return MLMCResult(est, float(rmse), h0 / M ** np.arange(L + 1), n, V, means,
                      np.array([c_level(l) for l in range(L + 1)]), float(cost), float(plain),
                      converged)
