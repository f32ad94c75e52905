"""Fitting a convergence order, with uncertainty, honestly outside the asymptotic range.

A weak (or strong) error of a one-step scheme expands as ``e(h) = C h^p (1 + D h + O(h^2))``.
A plain log–log slope through ``|e(h)|`` is only the order ``p`` when every ``D h`` is small; on
the coarse grids that make a study cheap it is not, and the slope comes out biased (EM on GBM
with ``g = x²`` gives a slope of 0.85 over ``dt = T/4 … T/128`` with ``μ = 1.5, σ = 0.5,
T = 1``, although EM has weak order 1 and the numbers are the *exact* EM-chain moments of
THEORY.md §C.2). :func:`fit_order` therefore

1. models the next term of the expansion (``model="power+next"``: ``C h^p (1 + D h)``),
2. fits by generalised least squares with the *full* covariance of the estimates (coupled
   Monte-Carlo estimates at different step sizes are strongly correlated),
3. tests the goodness of fit (χ²) and, with ``model="auto"``, drops the coarsest step size until
   the model fits, recording what it dropped and why, and
4. refuses to sound confident when the data do not resolve the order (``status="not resolved"``).

Two kinds of data are understood:

* ``kind="errors"``: ``y_k = e(h_k)`` (signed), one value per step size;
* ``kind="differences"``: ``y_k = e(h_k) - e(h_{k+1})``, one value per *pair* of successive step
  sizes. These are what coupled paths estimate cheaply when no exact answer is known: the exact
  value cancels. Step ratios need not be 2.

References
----------
Richardson extrapolation and the asymptotic error expansion of weak schemes:
Talay & Tubaro (1990), Stoch. Anal. Appl. 8:483 (``e(h) = C_1 h + C_2 h^2 + …`` for EM);
Kloeden & Platen (1992), *Numerical Solution of SDEs*, §14.5 and §15.3.
Generalised least squares and the χ² goodness-of-fit test: Seber & Wild (1989), *Nonlinear
Regression*, §2.1 and §2.3. Birge ratio: Birge (1932), Phys. Rev. 40:207.
THEORY.md §C.2 for the closed-form EM-chain moments used in the tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize, stats

__all__ = ["OrderFit", "fit_order"]

_KINDS = ("errors", "differences")
_MODELS = ("auto", "power", "power+next")
_N_PARAMS = {"power": 2, "power+next": 3}
_MODEL_TEXT = {"power": "C h^p", "power+next": "C h^p(1+Dh)"}
_P_GRID = np.linspace(0.02, 6.0, 600)  # start values for p (profile over p, linear in C, CD)


@dataclass(frozen=True, repr=False)
class OrderFit:
    """Result of :func:`fit_order`: the fitted order with its confidence interval and diagnostics.

    Attributes
    ----------
    order : float
        Fitted order ``p``.
    order_stderr : float
        Standard error of ``p`` (0 for exact data; inflated by ``ci_inflation``).
    order_ci : tuple of float
        ``(lo, hi)`` confidence interval for ``p`` at ``level`` (zero width for exact data).
    level : float
        Confidence level of ``order_ci``.
    model : str
        Model used in the final fit: ``"power"`` (``e = C h^p``) or ``"power+next"``
        (``e = C h^p (1 + D h)``).
    model_requested : str
        The ``model`` argument (``"auto"``, ``"power"`` or ``"power+next"``).
    C, D : float
        Fitted constants of ``e(h) = C h^p (1 + D h)``; ``D = 0`` for ``model="power"``.
    param_cov : ndarray, shape (n_params, n_params)
        Covariance of ``(C, p, C·D)`` (``power+next``) or ``(C, p)`` (``power``); zeros for exact
        data.
    chi2 : float
        χ² of the final fit (whitened residual sum of squares); for exact data the sum of squared
        relative residuals.
    dof : int
        Degrees of freedom, ``n_used - n_params``.
    gof_pvalue : float
        ``P(χ²_dof ≥ chi2)``; ``nan`` for exact data or ``dof = 0``.
    kind : str
        ``"errors"`` or ``"differences"``.
    exact : bool
        True when the data were given without covariance (no Monte-Carlo noise).
    hs : ndarray, shape (K,)
        All step sizes, coarse to fine.
    y : ndarray, shape (K,) or (K-1,)
        The data, in the order of ``hs`` (for differences, ``y[k]`` belongs to the pair
        ``hs[k], hs[k+1]``).
    stderrs : ndarray, same shape as ``y``
        ``sqrt(diag(cov))`` (zeros for exact data).
    used : ndarray of bool, same shape as ``y``
        Which data entered the final fit.
    hs_dropped : tuple of float
        Coarse step sizes dropped by ``model="auto"`` (empty when none).
    reason : str
        Why the final model and points were chosen.
    status : str
        ``"ok"``, ``"poor fit"`` (the model does not fit the points it was given, even after
        dropping down to ``min_points``), or ``"not resolved"`` (the Monte-Carlo noise swamps
        the signal: the order is not measured).
    ci_inflation : float
        Factor applied to the standard errors (the Birge ratio ``sqrt(chi2/dof)`` when the fit
        is poor, else 1).
    notes : tuple of str
        Human-readable remarks (what was dropped, why a CI has zero width, ...).
    """

    order: float
    order_stderr: float
    order_ci: tuple
    level: float
    model: str
    model_requested: str
    C: float
    D: float
    param_cov: np.ndarray
    chi2: float
    dof: int
    gof_pvalue: float
    kind: str
    exact: bool
    hs: np.ndarray
    y: np.ndarray
    stderrs: np.ndarray
    used: np.ndarray
    hs_dropped: tuple
    reason: str
    status: str
    ci_inflation: float = 1.0
    notes: tuple = field(default_factory=tuple)

    @property
    def reliable(self) -> bool:
        """True when ``status == "ok"``: the model fits and the order is resolved."""
        return self.status == "ok"

    @property
    def ci_halfwidth(self) -> float:
        """Half-width of ``order_ci``."""
        return 0.5 * (self.order_ci[1] - self.order_ci[0])

    @property
    def hs_used(self) -> np.ndarray:
        """Step sizes that entered the final fit (for differences: both ends of each pair)."""
        if self.kind == "errors":
            return self.hs[self.used]
        k = np.flatnonzero(self.used)
        return self.hs[np.unique(np.concatenate([k, k + 1]))] if k.size else self.hs[:0]

    def error_model(self, h) -> np.ndarray:
        """The fitted error ``e(h) = C h^p (1 + D h)``, evaluated at step sizes ``h`` (any shape)."""
        h = np.asarray(h, dtype=float)
        return self.C * h ** self.order * (1.0 + self.D * h)

    def predict(self) -> np.ndarray:
        """Fitted values of the data ``y`` (shape of ``y``): errors or successive differences."""
        e = self.error_model(self.hs)
        return e if self.kind == "errors" else e[:-1] - e[1:]

    def model_text(self) -> str:
        """The model as a formula, e.g. ``"C h^p(1+Dh)"``."""
        return _MODEL_TEXT[self.model]

    def _headline(self) -> str:
        lo, hi = self.order_ci
        pct = f"{100 * self.level:g}%"
        if self.status == "not resolved":
            return (f"order not resolved (p = {self.order:.3g} [{lo:.3g}, {hi:.3g}] at {pct}: "
                    f"the Monte-Carlo noise swamps the error signal)")
        if self.exact:
            s = f"order {self.order:.4f} (exact data, no CI)"
        else:
            s = f"order {self.order:.3f} [{lo:.3f}, {hi:.3f}] ({pct} CI)"
        if self.status == "poor fit":
            s += " UNRELIABLE: model does not fit"
        return s

    def _dropped_text(self) -> str:
        if not self.hs_dropped:
            return "dropped none"
        return "dropped h = " + ", ".join(f"{h:.4g}" for h in self.hs_dropped)

    def __repr__(self) -> str:
        if self.exact:
            gof = f"rms relative residual {math.sqrt(self.chi2 / max(1, int(self.used.sum()))):.2g}"
        else:
            gof = f"chi2 {self.chi2:.3g}/{self.dof} dof, p = {self.gof_pvalue:.3g}"
        return (f"OrderFit({self._headline()}; model {self.model_text()}, kind={self.kind!r}, "
                f"{int(self.used.sum())}/{self.used.size} points, {self._dropped_text()}, {gof}, "
                f"status={self.status!r})")

    def summary(self) -> str:
        """A multi-line, human-readable account of the fit (headline, model, dropping, notes)."""
        lines = [self._headline(),
                 f"model: e(h) = {self.model_text()} with C = {self.C:.4g}"
                 + (f", D = {self.D:.4g}" if self.model == "power+next" else "")
                 + f" (requested {self.model_requested!r})",
                 f"data: {self.kind}, {int(self.used.sum())} of {self.used.size} used; "
                 f"{self._dropped_text()}",
                 f"reason: {self.reason}"]
        if not self.exact:
            p = "n/a (dof = 0)" if not np.isfinite(self.gof_pvalue) else f"{self.gof_pvalue:.3g}"
            lines.append(f"goodness of fit: chi2 = {self.chi2:.3g} on {self.dof} dof, p-value {p}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------

def _check_inputs(hs, y, cov, kind, model, level, min_points, alpha_gof, rtol):
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    if model not in _MODELS:
        raise ValueError(f"model must be one of {_MODELS}, got {model!r}")
    try:
        hs = np.asarray(hs, dtype=float)
        y = np.asarray(y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError("hs and y must be numeric array-likes") from exc
    if hs.ndim != 1 or hs.size < 2:
        raise ValueError(f"hs must be a 1-d array of at least 2 step sizes, got shape {hs.shape}")
    if not np.all(np.isfinite(hs)) or np.any(hs <= 0):
        raise ValueError(f"hs must be finite and > 0, got {hs.tolist()}")
    if np.unique(hs).size != hs.size:
        raise ValueError(f"hs must be distinct, got {hs.tolist()}")
    n_y = hs.size if kind == "errors" else hs.size - 1
    if y.ndim != 1 or y.size != n_y:
        what = "len(hs)" if kind == "errors" else "len(hs) - 1"
        raise ValueError(f"y must have shape ({n_y},) = ({what},) for kind={kind!r}, "
                         f"got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y must be finite")
    if kind == "differences" and np.any(np.diff(hs) >= 0):
        raise ValueError("hs must be strictly decreasing (coarse to fine) for kind='differences', "
                         f"because y[k] = e(hs[k]) - e(hs[k+1]); got {hs.tolist()}")
    if not (isinstance(level, (float, int)) and 0 < level < 1):
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    if not (isinstance(alpha_gof, (float, int)) and 0 <= alpha_gof < 1):
        raise ValueError(f"alpha_gof must lie in [0, 1), got {alpha_gof!r}")
    if not (isinstance(rtol, (float, int)) and rtol > 0):
        raise ValueError(f"rtol must be > 0, got {rtol!r}")
    need = _N_PARAMS["power+next" if model == "auto" else model]
    if isinstance(min_points, bool) or not isinstance(min_points, (int, np.integer)) \
            or min_points < need:
        raise ValueError(f"min_points must be an integer >= {need} (the number of parameters of "
                         f"model {model!r}), got {min_points!r}")
    if n_y < min_points:
        raise ValueError(f"not enough points: y has {n_y} values but min_points={min_points} are "
                         f"needed for model {model!r}; give more step sizes in hs")
    if cov is not None:
        try:
            cov = np.asarray(cov, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError("cov must be a numeric (n_y, n_y) array or None") from exc
        if cov.shape != (n_y, n_y):
            raise ValueError(f"cov must have shape ({n_y}, {n_y}) (the covariance of y), "
                             f"got {cov.shape}")
        if not np.all(np.isfinite(cov)):
            raise ValueError("cov must be finite")
        scale = float(np.max(np.abs(np.diag(cov)))) if n_y else 0.0
        if scale <= 0:
            raise ValueError("cov has a zero diagonal: y has no noise; pass cov=None for exact data")
        if not np.allclose(cov, cov.T, rtol=0, atol=1e-8 * scale):
            raise ValueError("cov must be symmetric")
        cov = 0.5 * (cov + cov.T)
        lam = np.linalg.eigvalsh(cov)
        if lam[0] < -1e-10 * lam[-1]:
            raise ValueError(f"cov must be positive semi-definite; smallest eigenvalue "
                             f"{lam[0]:.3g} (largest {lam[-1]:.3g})")
        if lam[0] <= 1e-13 * lam[-1]:
            raise ValueError(f"cov is singular (eigenvalues {lam[0]:.3g} … {lam[-1]:.3g}): some "
                             "combination of y has no noise, so it cannot be whitened")
    elif np.any(y == 0):
        raise ValueError("y must be non-zero when cov is None (exact data are fitted on relative "
                         "residuals)")
    return hs, y, cov


# --------------------------------------------------------------------------------------------
# the fit of one model to a set of points
# --------------------------------------------------------------------------------------------

@dataclass
class _Single:
    theta: np.ndarray      # (C, p) or (C, p, B = C D)
    cov: np.ndarray        # parameter covariance (zeros for exact data)
    chi2: float
    dof: int
    pvalue: float
    max_rel: float         # max |relative residual| (exact data only)
    singular: bool


def _basis(hs, p, model, kind):
    """Columns of the design at fixed p: (n_y, n_lin); ``y ≈ basis @ (C, C D)``."""
    cols = [hs ** p]
    if model == "power+next":
        cols.append(hs ** (p + 1))
    X = np.stack(cols, axis=1)
    return X if kind == "errors" else X[:-1] - X[1:]


def _dbasis(hs, p, model, kind):
    """d basis / d p."""
    lh = np.log(hs)
    cols = [lh * hs ** p]
    if model == "power+next":
        cols.append(lh * hs ** (p + 1))
    X = np.stack(cols, axis=1)
    return X if kind == "errors" else X[:-1] - X[1:]


def _fit_single(hs, y, W, model, kind, exact):
    """GLS fit of ``model`` to the points ``(hs, y)``.

    ``W`` is the whitening matrix (``L^{-1}`` with ``cov = L L^T``), or, for exact data, the
    diagonal ``1/|y|`` (relative residuals). Parameters are ``(C, p[, B])`` with ``B = C D`` so that
    the model is linear in C and B at fixed p: the start value comes from profiling the
    (linear) GLS over a grid of p, then ``scipy.optimize.least_squares`` polishes all parameters.
    """
    n_lin = _N_PARAMS[model] - 1
    wy = W @ y

    def linear(p):
        A = W @ _basis(hs, p, model, kind)
        coef, *_ = np.linalg.lstsq(A, wy, rcond=None)
        r = A @ coef - wy
        return coef, float(r @ r)

    prof = [linear(p)[1] for p in _P_GRID]
    p0 = float(_P_GRID[int(np.argmin(prof))])
    c0, _ = linear(p0)

    def resid(theta):
        p, lin = theta[1], np.concatenate([[theta[0]], theta[2:]])
        return W @ (_basis(hs, p, model, kind) @ lin) - wy

    def jac(theta):
        p, lin = theta[1], np.concatenate([[theta[0]], theta[2:]])
        X = _basis(hs, p, model, kind)
        dX = _dbasis(hs, p, model, kind)
        J = np.empty((hs.size if kind == "errors" else hs.size - 1, 1 + len(lin)))
        J[:, 0] = X[:, 0]
        J[:, 1] = dX @ lin
        if n_lin == 2:
            J[:, 2] = X[:, 1]
        return W @ J

    x0 = np.concatenate([[c0[0], p0], c0[1:]])
    sol = optimize.least_squares(resid, x0, jac=jac, method="lm", xtol=1e-14, ftol=1e-14,
                                 gtol=1e-14, max_nfev=2000)
    theta = sol.x
    r = resid(theta)
    chi2 = float(r @ r)
    n_y = wy.size
    dof = n_y - theta.size
    J = jac(theta)
    JTJ = J.T @ J
    singular = False
    if exact:
        pcov = np.zeros((theta.size, theta.size))
    else:
        try:
            pcov = linalg.inv(JTJ)
            if not np.all(np.isfinite(pcov)) or np.any(np.diag(pcov) < 0):
                raise linalg.LinAlgError
        except linalg.LinAlgError:
            pcov = np.full((theta.size, theta.size), np.inf)
            singular = True
        if np.linalg.cond(JTJ) > 1e14:
            singular = True
    pval = float(stats.chi2.sf(chi2, dof)) if (dof > 0 and not exact) else float("nan")
    max_rel = float(np.max(np.abs(r))) if exact else float("nan")
    return _Single(theta, pcov, chi2, dof, pval, max_rel, singular)


# --------------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------------

def fit_order(hs, y, cov=None, *, kind: str = "errors", model: str = "auto",
              level: float = 0.95, min_points: int = 3, alpha_gof: float = 0.01,
              rtol: float = 1e-3) -> OrderFit:
    """Fit the convergence order ``p`` of ``e(h) = C h^p (1 + D h)`` with a confidence interval.

    The data are either signed errors ``y_k = e(h_k)`` or successive differences
    ``y_k = e(h_k) - e(h_{k+1})`` (what coupled paths estimate without an exact answer). With a
    covariance the fit is generalised least squares: the residuals are whitened with the
    Cholesky factor of ``cov`` and minimised with :func:`scipy.optimize.least_squares`; the
    parameter covariance is ``(J^T cov^{-1} J)^{-1}`` at the optimum and the CI of ``p`` uses the
    normal quantile. (The normal rather than a t quantile is right here: ``cov`` is estimated
    from many paths and treated as known, and no scale is estimated from the residuals, so the
    linearised estimator is asymptotically normal.)

    With ``model="auto"`` the model ``C h^p (1 + D h)`` is fitted to all points; while its χ²
    goodness-of-fit p-value is below ``alpha_gof`` the coarsest step size is dropped and the fit
    repeated, down to ``min_points`` data values. For exact data (``cov=None``) the criterion is
    the largest relative residual, which must not exceed ``rtol``. The result records the model,
    the dropped step sizes and why.

    Parameters
    ----------
    hs : array_like, shape (K,)
        Step sizes, positive and distinct; any ratios (not only dyadic). For
        ``kind="differences"`` they must be strictly decreasing (coarse to fine); for
        ``kind="errors"`` any order (they are sorted, coarse to fine, with ``y`` and ``cov``).
    y : array_like, shape (K,) for ``kind="errors"`` or (K-1,) for ``kind="differences"``
        Signed errors ``e(h_k)``, or differences ``e(h_k) - e(h_{k+1})``.
    cov : array_like, shape (n_y, n_y), optional
        Covariance matrix of ``y`` (full: coupled estimates are correlated). ``None`` means ``y`` is
        exact (e.g. the exact EM-chain moments of THEORY.md §C.2): the fit is then least squares on
        relative residuals and the CI has zero width.
    kind : {"errors", "differences"}
        What ``y`` holds (see above).
    model : {"auto", "power", "power+next"}
        ``"power"``: ``e = C h^p``; ``"power+next"``: ``e = C h^p (1 + D h)``; ``"auto"``:
        ``"power+next"`` with dropping of unexplained coarse steps.
    level : float, default 0.95
        Confidence level of ``order_ci``.
    min_points : int, default 3
        Fewest data values ``"auto"`` may keep (at least the number of model parameters).
    alpha_gof : float, default 0.01
        Significance level of the χ² goodness-of-fit test that triggers dropping.
    rtol : float, default 1e-3
        Exact data only: the largest relative residual accepted by ``"auto"``.

    Returns
    -------
    OrderFit
        ``order``, ``order_ci``, ``order_stderr``, the model and constants ``C, D``, χ², dof,
        goodness-of-fit p-value, the dropped step sizes, ``reason``, ``status``
        (``"ok"``, ``"poor fit"``, ``"not resolved"``) and ``notes``.
        A poor final fit has its standard errors inflated by the Birge ratio ``sqrt(chi2/dof)``.
        The status is ``"not resolved"`` when the finest datum lies within 2 standard errors
        of 0 and the CI is wider than 0.5, or when the parameters are not identified.

    Raises
    ------
    ValueError
        If ``hs`` is not 1-d, positive, finite and distinct (and decreasing for differences),
        ``y`` has the wrong shape or non-finite entries (or a zero entry with ``cov=None``),
        ``cov`` has the wrong shape or is not symmetric positive definite, ``kind``/``model`` are
        unknown, ``level``/``alpha_gof``/``rtol`` are out of range, or there are fewer than
        ``min_points`` data values.
    TypeError
        If the inputs are not numeric.

    Examples
    --------
    >>> import numpy as np
    >>> hs = 1.0 / 2 ** np.arange(2, 8)
    >>> y = 3.0 * hs * (1 - 2.0 * hs)            # exact errors of an order-1 scheme
    >>> fit = fit_order(hs, y)
    >>> round(fit.order, 6), fit.model
    (1.0, 'power+next')
    >>> fit_order(hs, y, model="power").order < 0.95   # a plain power law is biased
    True

    References
    ----------
    Talay & Tubaro (1990), Stoch. Anal. Appl. 8:483 (error expansion of weak schemes);
    Seber & Wild (1989), *Nonlinear Regression*, §2.1–2.3 (GLS, linearised CIs, χ² test);
    Birge (1932), Phys. Rev. 40:207 (inflation by sqrt(χ²/dof)).
    """
    hs, y, cov = _check_inputs(hs, y, cov, kind, model, level, min_points, alpha_gof, rtol)
    exact = cov is None
    if kind == "errors":
        order_idx = np.argsort(-hs, kind="stable")
        hs, y = hs[order_idx], y[order_idx]
        if cov is not None:
            cov = cov[np.ix_(order_idx, order_idx)]
    n_y = y.size
    stderrs = np.zeros(n_y) if exact else np.sqrt(np.diag(cov))

    def fit_from(start, mdl):
        """Fit model ``mdl`` to the data with index >= start (coarsest ``start`` dropped)."""
        ys = y[start:]
        hsub = hs[start:]
        if exact:
            W = np.diag(1.0 / np.abs(ys))
        else:
            Lc = linalg.cholesky(cov[start:, start:], lower=True)
            W = linalg.solve_triangular(Lc, np.eye(ys.size), lower=True)
        return _fit_single(hsub, ys, W, mdl, kind, exact)

    def fits(res: _Single) -> bool:
        if exact:
            return res.max_rel <= rtol
        return res.dof == 0 or res.pvalue >= alpha_gof

    notes: list[str] = []
    if model == "auto":
        mdl = "power+next"
        start = 0
        res = fit_from(0, mdl)
        history = [(0, res)]
        while not fits(res) and n_y - start > min_points:
            start += 1
            res = fit_from(start, mdl)
            history.append((start, res))
        crit = (f"max relative residual <= rtol={rtol:g}" if exact
                else f"chi2 goodness-of-fit p-value >= alpha_gof={alpha_gof:g}")
        if start == 0 and fits(res):
            reason = f"model C h^p(1+Dh) fits all points ({crit})"
        elif fits(res):
            reason = (f"model C h^p(1+Dh) did not fit the {start} coarsest step size(s) "
                      f"({crit} failed); dropped them and it fits the rest")
            first = history[0][1]
            notes.append(f"with all points the fit gave p = {first.theta[1]:.4g}"
                         + ("" if exact else f" (gof p-value {first.pvalue:.2g})")
                         + "; the coarse steps carry terms beyond C h^p(1+Dh)")
        else:
            reason = (f"model C h^p(1+Dh) did not fit even after dropping down to "
                      f"min_points={min_points} points ({crit} failed)")
    else:
        mdl = model
        start = 0
        res = fit_from(0, mdl)
        reason = f"model {_MODEL_TEXT[mdl]} requested, all points used"
    used = np.zeros(n_y, dtype=bool)
    used[start:] = True
    hs_dropped = tuple(float(h) for h in hs[:start])

    theta = res.theta
    p = float(theta[1])
    C = float(theta[0])
    D = float(theta[2] / theta[0]) if (mdl == "power+next" and theta[0] != 0) else 0.0
    status = "ok"
    inflation = 1.0
    z = float(stats.norm.ppf(0.5 + level / 2))
    if exact:
        se = 0.0
        ci = (p, p)
        notes.append("exact data (cov=None): no Monte-Carlo noise, the CI has zero width; the "
                     "remaining uncertainty is the truncation of the error expansion")
        if not fits(res):
            status = "poor fit"
            notes.append(f"largest relative residual {res.max_rel:.3g} exceeds rtol={rtol:g}: the "
                         f"model {_MODEL_TEXT[mdl]} does not describe these errors")
        elif model == "auto" and start + 1 <= n_y - min_points:
            # sensitivity to the coarsest kept point, as an indication of truncation error
            nxt = fit_from(start + 1, mdl)
            notes.append(f"dropping one more coarse step changes p by "
                         f"{float(nxt.theta[1]) - p:+.2g}")
    else:
        var_p = float(res.cov[1, 1])
        se = math.sqrt(var_p) if np.isfinite(var_p) else float("inf")
        if res.dof > 0 and res.pvalue < alpha_gof:
            status = "poor fit"
            inflation = math.sqrt(res.chi2 / res.dof)
            se *= inflation
            notes.append(f"the model {_MODEL_TEXT[mdl]} does not fit (chi2 = {res.chi2:.3g} on "
                         f"{res.dof} dof, p-value {res.pvalue:.2g}); standard errors inflated by "
                         f"the Birge ratio {inflation:.3g}; do not trust this order")
        if res.dof == 0:
            notes.append("dof = 0: the model interpolates the points and its fit cannot be tested")
        ci = (p - z * se, p + z * se)
        y_fine, se_fine = y[-1], stderrs[-1]
        if res.singular or not np.isfinite(se):
            status = "not resolved"
            notes.append("the parameters are not identified by these points (singular "
                         "information matrix)")
        elif abs(y_fine) <= 2 * se_fine and (ci[1] - ci[0]) > 0.5:
            status = "not resolved"
            notes.append(f"the finest datum {y_fine:.3g} is within 2 standard errors "
                         f"({se_fine:.2g}) of 0 and the CI is {ci[1] - ci[0]:.2g} wide: use more "
                         "paths, coarser steps, or coupled paths")
        elif (ci[1] - ci[0]) > 2.0:
            status = "not resolved"
            notes.append(f"the CI is {ci[1] - ci[0]:.2g} wide: the order is not measured")
    if hs_dropped:
        notes.insert(0, "dropped coarse step sizes h = "
                     + ", ".join(f"{h:.4g}" for h in hs_dropped))
    return OrderFit(order=p, order_stderr=se, order_ci=(float(ci[0]), float(ci[1])),
                    level=float(level), model=mdl, model_requested=model, C=C, D=D,
                    param_cov=res.cov * inflation ** 2, chi2=res.chi2, dof=res.dof,
                    gof_pvalue=res.pvalue, kind=kind, exact=exact, hs=hs, y=y,
                    stderrs=stderrs, used=used, hs_dropped=hs_dropped, reason=reason,
                    status=status, ci_inflation=inflation, notes=tuple(notes))
