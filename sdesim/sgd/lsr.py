"""Noise-to-signal diagnostics: G, N, R at equilibrium, C-closeness and the linear scaling rule.

For a run of SGD (or of the SDE) at equilibrium (LMA §5, Definition 5.1):
``R = E|x|²``, ``G = E|∇L(x)|²``, ``N = E Tr Σ_B(x)``; the noise-to-signal ratio is ``N/G``.

- :func:`measure_equilibrium` streams these over paths, averaging each path over a time window
  after a burn-in (one sample per path, so standard errors are honest), with exact G and N from
  the oracle, or the unbiased minibatch estimators of docs/theory.md §A.2 (:func:`gn_estimates`)
  when the oracle does not know Σ.
- :func:`closeness` (Definition 5.1), :func:`sde_failure` (Theorem 5.2), :func:`lsi_ratio` and
  :func:`lsi_constant` (Definition 5.4), :func:`lsi_fails` (Theorem 5.5), :func:`lsi_bounds` and
  :func:`critical_kappa` (Theorem 5.6, and its sharpened form below).

What Theorems 5.5 and 5.6 can and cannot say
--------------------------------------------
Both follow from the equilibrium identity ``(2 - ηλ)λR = η(G + N)`` of each run (LMA eq. 11),
which gives, for the pair (B, η), (κB, κη) (primes: the large-batch run),

    κ(G' + N') = ρ (R'/R) (G + N),      ρ = (2 - κηλ)/(2 - ηλ) ≤ 1.

If the pair is (C, κ)-LSI then ``R'/R ≤ C``, ``κG' ≥ G/C`` and ``κN' ≥ N/C``, so with
``ν = N/G`` of the baseline: ``κ/C + ν/C ≤ ρC(1 + ν)``, i.e. the LSI constant obeys

    C*² ≥ (κ + ν) / (ρ (1 + ν))        ["sharp": all three ratios of Def. 5.4, ρ kept]
        ≥ κ / (1 + ν)                  [LMA Thm 5.6: drops κN' ≥ N/C and ρ]

and, eliminating the baseline instead, ``C*² ≥ κ(1 + ν')/(1 + κν')`` (LMA Thm 5.5, ν' = N'/G').
These are *necessary* conditions for LSI, i.e. sufficient conditions for its failure: each gives
an upper bound on the κ up to which LSI can hold, never a lower one. The sharp bound is attained
exactly when ``R'/R = G/G' = κN'/N``, i.e. when the law of the direction ``x/|x|`` does not change
along the sweep (``validation/exp_sgd_lsr.py`` shows both a case where it is attained and one
where the break comes much earlier). For ``ν ≫ 1`` LMA's κ* = C²(1 + ν) is about
``C²/(C² - 1)`` (2 for C² = 2) times the sharp one.

Conventions: N is always ``Tr Σ_B`` of the *minibatch* gradient at the run's own batch size (for
an SDE run, the batch size it was built for). LMA's ``N̄ = Tr(ηΣ)`` of the SDE is therefore
``η N`` here, so their ratio ``η N / N̄`` is ``N_sgd / N_sde`` in ours.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._arrays import host
from .._validate import n_steps_for, positive_float, positive_int
from ..sde import SDE
from ..engine import child_generator, root_seed
from ..simulate import simulate
from ..stats import Estimate, MomentAccumulator
from .algorithms import run
from .oracles import Oracle

__all__ = ["Equilibrium", "gn_estimates", "measure_equilibrium", "closeness", "sde_failure",
           "lsi_ratio", "lsi_constant", "lsi_fails", "lsi_bounds", "critical_kappa"]


@dataclass(frozen=True)
class Equilibrium:
    """Equilibrium test functions of one run (Definition 5.1), each an :class:`Estimate`.

    Attributes
    ----------
    R, G, N : Estimate
        ``E|x|²``, ``E|∇L|²``, ``E Tr Σ_B``.
    nsr : Estimate
        ``N/G`` with a delta-method standard error (from the per-path covariance of N and G).
    identity_gap : Estimate
        For SGD: ``((2 - ηλ) λ R - η(G + N)) / (η(G + N))``, which is 0 at equilibrium for a
        scale-invariant loss (LMA eq. 11); for an SDE run ``(2λR - ηN)/(ηN)`` (eq. 12).
        ``nan`` without weight decay.
    lr, batch_size, weight_decay : float, int, float
    kind : str
        ``"sgd"`` (any discrete method) or ``"sde"``.
    """

    R: Estimate
    G: Estimate
    N: Estimate
    nsr: Estimate
    identity_gap: Estimate
    lr: float
    batch_size: int
    weight_decay: float
    kind: str

    def __repr__(self) -> str:
        return (f"Equilibrium({self.kind}, lr={self.lr:g}, B={self.batch_size}: R={self.R!r}, "
                f"G={self.G!r}, N={self.N!r}, N/G={self.nsr!r})")


def gn_estimates(grads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unbiased ``Ĝ`` and ``N̂`` from ``k >= 2`` independent minibatch gradients at one state.

    ``T = mean_j |g_j|²``, ``ḡ = mean_j g_j``; ``Ĝ = (k|ḡ|² - T)/(k - 1)`` estimates ``|∇L|²``
    and ``N̂ = T - Ĝ`` estimates ``Tr Σ_B`` without bias (docs/theory.md §A.2).

    Parameters
    ----------
    grads : ndarray (k, n, d)
        ``k`` minibatch gradients for each of ``n`` states.

    Returns
    -------
    (G_hat, N_hat) : ndarrays (n,)

    Examples
    --------
    >>> import numpy as np
    >>> g = np.array([[[1.0, 0.0]], [[3.0, 0.0]]])   # k = 2 batches, one state
    >>> [a.tolist() for a in gn_estimates(g)]
    [[3.0], [2.0]]
    """
    grads = np.asarray(grads, dtype=float)
    if grads.ndim != 3 or grads.shape[0] < 2:
        raise ValueError(f"grads must have shape (k, n, d) with k >= 2, got {grads.shape}")
    k = grads.shape[0]
    T = np.mean(np.sum(grads**2, axis=2), axis=0)
    gbar2 = np.sum(grads.mean(axis=0) ** 2, axis=1)
    G = (k * gbar2 - T) / (k - 1)
    return G, T - G


_ROWS = 512  # states per oracle call: small matrix products stay single-threaded in BLAS, whose
#              threads cost 5x in CPU time on a loaded 2-core machine (measured: 25 s vs 5 s)


def _test_values(oracle: Oracle, x: np.ndarray, B: int, rng, n_batches: int | None) -> np.ndarray:
    """Per-state ``(|x|², G, N)``, shape ``(n, 3)``: exact, or estimated from ``n_batches``."""
    if x.shape[0] > _ROWS:
        return np.concatenate([_test_values(oracle, x[i:i + _ROWS], B, rng, n_batches)
                               for i in range(0, x.shape[0], _ROWS)])
    R = np.sum(x * x, axis=1)
    if n_batches is None:
        G = np.sum(host(oracle.grad(x)) ** 2, axis=1)
        N = host(oracle.noise_trace(x, B))
    else:
        G, N = gn_estimates(np.stack([host(oracle.sample_grad(x, rng, B))
                                      for _ in range(n_batches)]))
    return np.stack([R, G, N], axis=1)


def measure_equilibrium(oracle: Oracle, x0, *, lr: float, T: float, burn_in: float,
                        n_paths: int, batch_size: int = 1, weight_decay: float = 0.0,
                        every: float | None = None, method: str = "sgd", sde: SDE | None = None,
                        n_batches: int | None = None, rng=None, quiet: bool = True,
                        **run_kwargs) -> Equilibrium:
    """Estimate ``R, G, N`` at equilibrium from a run of SGD (or of an SDE) over ``n_paths`` paths.

    Each path is averaged over the saved states in ``[burn_in, T]`` (every ``every`` time
    units); the path averages are independent samples, so the standard errors hold whatever the
    autocorrelation in time.

    Parameters
    ----------
    oracle : Oracle
    x0 : array_like (d,) or (n_paths, d)
    lr : float
        η (the SDE is run with EM step ``lr / 8`` unless ``run_kwargs`` gives ``dt``).
    T, burn_in : float
        SDE time of the run and of the start of the averaging window.
    n_paths : int
    batch_size : int
    weight_decay : float
        λ (enters the identity check of LMA eqs. 11–12).
    every : float, optional
        Spacing of the averaged states (default the step).
    method : str
        Discrete method for :func:`sdesim.sgd.run` (not with ``sde``: it would be ignored).
    sde : SDE, optional
        Run this SDE (e.g. :func:`sgd_sde`) with :func:`sdesim.simulate` instead of SGD;
        ``run_kwargs`` may hold ``dt`` (default ``lr / 8``) and ``backend``.
    n_batches : int, optional
        If given, estimate G and N with :func:`gn_estimates` from this many minibatch
        gradients per state instead of the oracle's exact ``grad`` and ``noise_trace``.
    rng : int, Generator, SeedSequence or None
    quiet : bool

    Returns
    -------
    Equilibrium

    Examples
    --------
    >>> import numpy as np
    >>> from sdesim.sgd import NoisyQuadratic, measure_equilibrium
    >>> eq = measure_equilibrium(NoisyQuadratic(np.eye(2)), np.zeros(2), lr=0.1, T=2.0,
    ...                          burn_in=1.0, n_paths=200, rng=0)
    >>> round(float(eq.N.mean), 6)   # Tr Σ = 2
    2.0

    References
    ----------
    LMA Definition 5.1, eqs. (11)–(12); docs/theory.md §A.2, §C.5.
    """
    lr = positive_float(lr, "lr")
    T, burn_in = positive_float(T, "T"), float(burn_in)
    if not 0 <= burn_in < T:
        raise ValueError(f"burn_in must lie in [0, T) = [0, {T}), got {burn_in}")
    n_paths = positive_int(n_paths, "n_paths")
    B = oracle.check_batch_size(batch_size)
    if sde is not None and method != "sgd":
        raise ValueError(f"method chooses the discrete algorithm, which sde replaces: pass one of "
                         f"them, got method={method!r} and an sde")
    if n_batches is not None and positive_int(n_batches, "n_batches") < 2:
        raise ValueError(f"n_batches must be >= 2, got {n_batches}")
    seed = root_seed(rng)
    if sde is None:
        h = lr / run_kwargs.get("l", 1.0)
    else:
        h = run_kwargs.pop("dt", lr / 8)
    every = h if every is None else positive_float(every, "every")
    stride = max(1, int(round(every / h)))
    k0 = -(-int(round(burn_in / h)) // stride) * stride
    times = h * np.arange(k0, n_steps_for(T, h, "lr") + 1, stride)
    if sde is None:
        paths = run(oracle, x0, T=T, lr=lr, method=method, batch_size=B,
                    weight_decay=weight_decay, n_paths=n_paths, save_at=times,
                    rng=child_generator(seed, 0), quiet=quiet, **run_kwargs)
        kind = "sgd"
    else:
        paths = simulate(sde, x0, T=T, dt=h, n_paths=n_paths, save_at=times,
                         rng=child_generator(seed, 0).integers(2**63), quiet=quiet, **run_kwargs)
        kind = "sde"
    vrng = child_generator(seed, 1)
    xs = paths.xs
    path_means = np.zeros((xs.shape[1], 3))
    for s in range(xs.shape[0]):
        path_means += _test_values(oracle, xs[s], B, vrng, n_batches)
    path_means /= xs.shape[0]
    lam = float(weight_decay)
    R_p, G_p, N_p = path_means.T
    if kind == "sgd":  # LMA eq. (11): (2 - ηλ) λ R = η (G + N)
        resid, scale = (2 - lr * lam) * lam * R_p - lr * (G_p + N_p), lr * (G_p + N_p)
    else:  # eq. (12): 2 λ R̄ = N̄ = η N
        resid, scale = 2 * lam * R_p - lr * N_p, lr * N_p
    acc = MomentAccumulator(4, full_cov=True)
    acc.update(np.column_stack([path_means, resid]))
    cov = acc.covariance() / acc.n
    (R, G, N, res), se = acc.mean, np.sqrt(np.diag(cov))
    ratio = N / G if G > 0 else math.inf
    var = (cov[2, 2] / G**2 + N**2 * cov[1, 1] / G**4 - 2 * N * cov[1, 2] / G**3) if G > 0 else math.inf
    denom = float(np.mean(scale))
    gap = Estimate(res / denom, se[3] / denom, acc.n) if lam > 0 else Estimate(math.nan, math.nan, acc.n)
    est = lambda i: Estimate(float(acc.mean[i]), float(se[i]), acc.n)  # noqa: E731
    return Equilibrium(est(0), est(1), est(2), Estimate(ratio, math.sqrt(max(var, 0.0)), acc.n),
                       gap, lr, B, lam, kind)


def _ratio_c(pairs) -> tuple[float, dict]:
    ratios = {k: float(a / b) for k, (a, b) in pairs.items()}
    return max(max(r, 1 / r) for r in ratios.values()), ratios


def closeness(sgd_eq: Equilibrium, sde_eq: Equilibrium) -> tuple[float, dict]:
    """Smallest C for which SGD's and the SDE's equilibria are C-close (Definition 5.1).

    Returns ``(C*, ratios)`` with ``ratios`` = ``R/R̄``, ``G/Ḡ``, ``ηN/N̄`` (= ``N/N_sde`` in
    this module's convention).

    Examples
    --------
    >>> from sdesim.stats import Estimate
    >>> e = lambda v: Estimate(v, 0.0, 1)
    >>> a = Equilibrium(e(2.0), e(1.0), e(1.0), e(1.0), e(0.0), 0.1, 1, 0.1, "sgd")
    >>> b = Equilibrium(e(1.0), e(1.0), e(1.0), e(1.0), e(0.0), 0.1, 1, 0.1, "sde")
    >>> closeness(a, b)[0]
    2.0
    """
    return _ratio_c({"R": (sgd_eq.R.mean, sde_eq.R.mean), "G": (sgd_eq.G.mean, sde_eq.G.mean),
                     "N": (sgd_eq.N.mean, sde_eq.N.mean)})


def sde_failure(sgd_eq: Equilibrium, sde_eq: Equilibrium | None = None, C: float = math.sqrt(2)) -> dict:
    """The failure conditions of Theorem 5.2: either one certifies "not C-close".

    (i) ``η > (N̄/Ḡ)(C² - 1)`` (needs the SDE run; ``N̄ = η N_sde``), (ii) ``N/G < 1/(C² - 1)``
    (SGD run alone).

    Returns
    -------
    dict with booleans ``"i"`` (None without ``sde_eq``), ``"ii"`` and ``"fails"``.
    """
    C2 = positive_float(C, "C") ** 2
    ii = sgd_eq.nsr.mean < 1.0 / (C2 - 1.0)
    i = None
    if sde_eq is not None:
        i = sgd_eq.lr > sgd_eq.lr * sde_eq.N.mean / sde_eq.G.mean * (C2 - 1.0)
    return {"i": i, "ii": bool(ii), "fails": bool(ii or bool(i))}


def _check_pair(base: Equilibrium, scaled: Equilibrium, kappa: float) -> float:
    kappa = positive_float(kappa, "kappa")
    if not math.isclose(scaled.lr, kappa * base.lr, rel_tol=1e-9):
        raise ValueError(f"scaled.lr must be kappa * base.lr = {kappa * base.lr:g}, got {scaled.lr:g}")
    if not math.isclose(scaled.batch_size, kappa * base.batch_size, rel_tol=1e-9):
        raise ValueError(f"scaled.batch_size must be kappa * base.batch_size = "
                         f"{kappa * base.batch_size:g}, got {scaled.batch_size}")
    return kappa


def lsi_ratio(base: Equilibrium, scaled: Equilibrium, kappa: float) -> tuple[float, dict]:
    """Smallest C for which ``base`` (B, η) and ``scaled`` (κB, κη) satisfy (C, κ)-LSI (Def. 5.4).

    Ratios ``R/R'``, ``N/(κN')``, ``G/G'``; returns ``(C*, ratios)``.
    """
    kappa = positive_float(kappa, "kappa")
    return _ratio_c({"R": (base.R.mean, scaled.R.mean), "N": (base.N.mean, kappa * scaled.N.mean),
                     "G": (base.G.mean, scaled.G.mean)})


def lsi_constant(base: Equilibrium, scaled: Equilibrium, kappa: float) -> Estimate:
    """``C*²`` of :func:`lsi_ratio` as an :class:`Estimate`, with a delta-method standard error.

    The error is that of the largest ratio (the runs are independent, so its relative variance
    is the sum of those of numerator and denominator); it ignores the (small) chance that
    another ratio is the largest, so use it where one ratio dominates or the margin is many
    standard errors.

    Raises
    ------
    ValueError
        If ``scaled`` was not run at ``κ η`` and ``κ B``.

    Examples
    --------
    >>> from sdesim.stats import Estimate
    >>> e = lambda v, s=0.0: Estimate(v, s, 100)
    >>> base = Equilibrium(e(1.0, .01), e(1.0), e(2.0), e(2.0), e(0.0), 0.1, 1, 0.1, "sgd")
    >>> big = Equilibrium(e(1.5, .01), e(1.0), e(0.5), e(0.5), e(0.0), 0.4, 4, 0.1, "sgd")
    >>> c2 = lsi_constant(base, big, 4)
    >>> round(float(c2.mean), 4), round(float(c2.stderr), 4)
    (2.25, 0.0541)
    """
    kappa = _check_pair(base, scaled, kappa)
    pairs = {"R": (base.R, scaled.R, 1.0), "N": (base.N, scaled.N, kappa),
             "G": (base.G, scaled.G, 1.0)}
    best, rel = 0.0, 0.0
    for a, b, k in pairs.values():
        r = a.mean / (k * b.mean)
        c = max(r, 1.0 / r)
        if c >= best:
            best = c
            rel = math.hypot(a.stderr / a.mean, b.stderr / b.mean)
    return Estimate(best**2, 2 * best**2 * rel, min(base.R.n, scaled.R.n))


def _rho(base: Equilibrium, kappa: float) -> float:
    a = base.lr * base.weight_decay
    rho = (2 - kappa * a) / (2 - a)
    if not rho > 0:
        raise ValueError(f"kappa * lr * weight_decay must be < 2 for an equilibrium to exist, got "
                         f"{kappa * a:g}")
    return rho


def lsi_bounds(base: Equilibrium, kappa: float, scaled: Equilibrium | None = None) -> dict:
    """Lower bounds on the LSI constant ``C*²`` of (B, η) vs (κB, κη) implied by LMA §5.

    See the module docstring for the derivation. With ``ν = N/G`` of ``base``,
    ``ρ = (2 - κηλ)/(2 - ηλ)`` and ``ν' = N'/G'`` of ``scaled``:

    - ``"thm5.6"``: ``κ / (1 + ν)`` (LMA Theorem 5.6, from the baseline alone);
    - ``"sharp"``: ``(κ + ν) / (ρ (1 + ν))`` (the same argument with all three ratios of
      Definition 5.4 and the exact ρ; never smaller than ``"thm5.6"``);
    - ``"thm5.5"``: ``κ (1 + ν') / (1 + κ ν')`` (LMA Theorem 5.5, from the large-batch run alone;
      only with ``scaled``).

    (C, κ)-LSI is impossible for every ``C²`` below any of them. They are lower bounds only: the
    measured ``C*²`` (:func:`lsi_constant`) may be much larger.

    Parameters
    ----------
    base : Equilibrium
        SGD at (B, η) with weight decay λ > 0.
    kappa : float
    scaled : Equilibrium, optional
        SGD at (κB, κη).

    Returns
    -------
    dict of float

    Raises
    ------
    ValueError
        If ``κηλ >= 2`` (no equilibrium), or ``scaled`` does not match ``κ``.

    Examples
    --------
    >>> from sdesim.stats import Estimate
    >>> e = lambda v: Estimate(v, 0.0, 1)
    >>> base = Equilibrium(e(1.0), e(1.0), e(3.0), e(3.0), e(0.0), 0.1, 1, 0.1, "sgd")
    >>> {k: round(v, 4) for k, v in lsi_bounds(base, 8).items()}
    {'thm5.6': 2.0, 'sharp': 2.8503}
    """
    kappa = positive_float(kappa, "kappa")
    nu = float(base.nsr.mean)
    out = {"thm5.6": kappa / (1 + nu), "sharp": (kappa + nu) / (_rho(base, kappa) * (1 + nu))}
    if scaled is not None:
        _check_pair(base, scaled, kappa)
        nu2 = float(scaled.nsr.mean)
        out["thm5.5"] = kappa * (1 + nu2) / (1 + kappa * nu2)
    return out


def lsi_fails(scaled: Equilibrium, kappa: float, C: float = math.sqrt(2)) -> bool:
    """Theorem 5.5: ``N'/G' < (1 - 1/κ)/(C² - 1) - 1/κ`` at the large-batch run certifies failure."""
    kappa = positive_float(kappa, "kappa")
    C2 = positive_float(C, "C") ** 2
    return bool(scaled.nsr.mean < (1 - 1 / kappa) / (C2 - 1) - 1 / kappa)


def critical_kappa(base: Equilibrium, C: float = math.sqrt(2), *, bound: str = "thm5.6") -> Estimate:
    """The κ beyond which (C, κ)-LSI must fail, from one baseline run, with its stderr.

    - ``bound="thm5.6"``: LMA Theorem 5.6, ``κ* = C²(1 + ν)`` with ``ν = N/G`` of the baseline;
    - ``bound="sharp"``: the root of ``(κ + ν) = ρ(κ) C² (1 + ν)`` (module docstring),
      ``κ* = (2C²(1+ν) - (2-a)ν) / ((2-a) + aC²(1+ν))`` with ``a = ηλ``; never larger than
      Theorem 5.6's, and attained when the law of ``x/|x|`` does not change with κ.

    Both are upper bounds on the κ up to which LSI can hold, not predictions of where it breaks.
    LMA use ``C² = 2``. The stderr is the delta method on ``ν``'s.

    Examples
    --------
    >>> from sdesim.stats import Estimate
    >>> e = lambda v: Estimate(v, 0.0, 1)
    >>> base = Equilibrium(e(1.0), e(1.0), e(3.0), e(3.0), e(0.0), 0.1, 1, 0.1, "sgd")
    >>> float(critical_kappa(base).mean)
    8.000000000000002
    >>> round(float(critical_kappa(base, bound="sharp").mean), 4)
    4.8454
    """
    C2 = positive_float(C, "C") ** 2
    nu, se = base.nsr.mean, base.nsr.stderr
    if bound == "thm5.6":
        return Estimate(C2 * (1 + nu), C2 * se, base.nsr.n)
    if bound != "sharp":
        raise ValueError(f"bound must be 'thm5.6' or 'sharp', got {bound!r}")
    a = base.lr * base.weight_decay
    s = C2 * (1 + nu)
    num, den = 2 * s - (2 - a) * nu, (2 - a) + a * s
    dk = ((2 * C2 - (2 - a)) * den - num * a * C2) / den**2
    return Estimate(num / den, abs(dk) * se, base.nsr.n)
