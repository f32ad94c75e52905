"""The error models of the order fit, their GLS fit on one range, and the truncation allowance.

The models are ``e(h) = C h^p (1 + D h + E h²)`` truncated after 0, 1 or 2 correction terms
(``"power"``, ``"power+next"``, ``"power+next2"``). :func:`_fit_range` fits one model to one
range of step sizes by generalised least squares (GLS); :class:`_Data` holds the checked data
with the whitening matrix of each range, :class:`_Rules` the settings of
:func:`sdesim.weak.fit_order`; :func:`_dscale` and :func:`_allowance` bound the shift of ``p`` by
the first omitted term of the expansion. The method is explained in :mod:`sdesim.weak.fit`.

References
----------
Seber & Wild (1989), *Nonlinear Regression*, §2.1–2.3 (GLS, linearised CIs, χ² test);
Talay & Tubaro (1990), Stoch. Anal. Appl. 8:483 (error expansion of weak schemes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import optimize, special

_NC = {"power": 0, "power+next": 1, "power+next2": 2}          # number of correction terms
_MODEL_TEXT = {"power": "C h^p", "power+next": "C h^p(1+Dh)",
               "power+next2": "C h^p(1+Dh+Eh²)"}
_P_GRID = np.linspace(0.02, 6.0, 200)  # start values for p: profile over p, linear in the rest
_DSE = 1.0


# --------------------------------------------------------------------------------------------
# one model on one range
# --------------------------------------------------------------------------------------------

@dataclass
class _Fit:
    model: str
    start: int              # number of coarse data values dropped
    theta: np.ndarray       # (p, a_0, ..., a_nc): e(h) = sum_j a_j h^{p+j}
    info_inv: np.ndarray    # (J^T J)^{-1} of the whitened problem
    J: np.ndarray           # whitened Jacobian at the optimum
    W: np.ndarray           # whitening matrix
    hs: np.ndarray          # step sizes of the range
    chi2: float
    dof: int
    pvalue: float
    max_rel: float          # exact data: largest |relative residual|
    singular: bool

    @property
    def p(self) -> float:
        return float(self.theta[0])

    def coef(self, j: int) -> float:
        """D (j=1) or E (j=2): a_j / a_0, 0 when the model has no such term."""
        nc = len(self.theta) - 2
        if j > nc or self.theta[1] == 0:
            return 0.0
        return float(self.theta[1 + j] / self.theta[1])

    def correction_size(self) -> float:
        """max over the range of |D h| + |E h²|: how large the 'correction' is."""
        h = self.hs.max()
        return abs(self.coef(1)) * h + abs(self.coef(2)) * h * h


def _design(hs, p, nc, kind, log=False):
    cols = [(np.log(hs) if log else 1.0) * hs ** (p + j) for j in range(nc + 1)]
    X = np.stack(cols, axis=1)
    return X if kind == "errors" else X[:-1] - X[1:]


def _profile_start(hs, wy, W, nc, kind):
    """Best ``(p, a)`` over the grid ``_P_GRID``: linear GLS in ``a`` at each ``p``, vectorised.

    Columns are scaled to unit norm before solving the normal equations, which keeps them
    well conditioned enough for a start value.
    """
    P = _P_GRID
    j = np.arange(nc + 1)
    X = hs[None, :, None] ** (P[:, None, None] + j[None, None, :])      # (P, K, nc+1)
    if kind == "differences":
        X = X[:, :-1, :] - X[:, 1:, :]
    A = np.einsum("ij,pjk->pik", W, X)                                    # (P, n_y, nc+1)
    scale = np.linalg.norm(A, axis=1, keepdims=True)                      # (P, 1, nc+1)
    scale[scale == 0] = 1.0
    A = A / scale
    G = np.einsum("pik,pil->pkl", A, A) + 1e-12 * np.eye(nc + 1)
    b = np.einsum("pik,i->pk", A, wy)
    try:
        coef = np.linalg.solve(G, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        coef = np.stack([np.linalg.lstsq(Ai, wy, rcond=None)[0] for Ai in A])
    r = np.einsum("pik,pk->pi", A, coef) - wy
    rss = np.einsum("pi,pi->p", r, r)
    rss[~np.isfinite(rss)] = np.inf
    a = coef / scale[:, 0, :]
    # prefer p whose leading term leads (|D h| + |E h²| <= 1): otherwise a fit with p lowered by
    # one and a vanishing leading coefficient represents the same curve (a spurious optimum)
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.sum(np.abs(a[:, 1:] / a[:, :1]) * hs.max() ** j[None, 1:], axis=1)
    valid = np.isfinite(corr) & (corr <= 1.0)
    i = int(np.argmin(np.where(valid, rss, np.inf))) if np.any(valid) else int(np.argmin(rss))
    return float(P[i]), a[i]


def _fit_range(hs, y, W, model, kind, exact, start) -> _Fit:
    """GLS fit of ``model`` to ``(hs, y)`` (already restricted to the range) with whitening ``W``.

    The model ``sum_j a_j h^{p+j}`` is linear in ``a`` at fixed ``p``: the start value comes from
    profiling the linear GLS over a grid of ``p``; ``scipy.optimize.least_squares`` (Levenberg–
    Marquardt, analytic Jacobian) then polishes all parameters.
    """
    nc = _NC[model]
    wy = W @ y
    p0, a0 = _profile_start(hs, wy, W, nc, kind)

    def resid(th):
        return W @ (_design(hs, th[0], nc, kind) @ th[1:]) - wy

    def jac(th):
        X = _design(hs, th[0], nc, kind)
        dX = _design(hs, th[0], nc, kind, log=True)
        return W @ np.column_stack([dX @ th[1:], X])

    x0 = np.concatenate([[p0], a0])
    n_y = wy.size
    with np.errstate(all="ignore"):  # LM may probe extreme p; non-finite trials are rejected
        if n_y >= x0.size:
            sol = optimize.least_squares(resid, x0, jac=jac, method="lm", xtol=1e-13,
                                         ftol=1e-13, gtol=1e-13, max_nfev=400 * x0.size)
            theta = sol.x
        else:  # pragma: no cover - excluded by the callers
            theta = x0
        if not np.all(np.isfinite(resid(theta))):
            theta = x0
        r = resid(theta)
        J = jac(theta)
    chi2 = float(r @ r)
    dof = n_y - theta.size
    JTJ = J.T @ J
    singular = not np.all(np.isfinite(JTJ))
    if not singular:
        lam, V = np.linalg.eigh(JTJ)
        singular = lam[0] <= 1e-14 * lam[-1]
    info_inv = np.full(JTJ.shape, np.inf) if singular else (V / lam) @ V.T
    pval = float(special.chdtrc(dof, chi2)) if (dof > 0 and not exact) else float("nan")
    max_rel = float(np.max(np.abs(r))) if exact else float("nan")
    return _Fit(model, start, theta, info_inv, J, W, hs, chi2, dof, pval, max_rel, singular)


# --------------------------------------------------------------------------------------------
# the data and the rules of the fit
# --------------------------------------------------------------------------------------------

class _Rules(NamedTuple):
    """The settings of :func:`fit_order` that decide acceptance, allowance and CI."""

    min_points: int
    alpha_gof: float    # family-wise false-rejection rate of the χ² tests of all candidates
    rtol: float
    gamma: float
    z: float            # normal quantile of the CI level
    alpha_each: float   # level of each candidate's χ² test (calibrated from alpha_gof)


@dataclass
class _Data:
    """The checked data, coarse to fine, with its whitening matrix for each range."""

    hs: np.ndarray
    y: np.ndarray
    cov: np.ndarray | None
    kind: str
    floor: float = 0.0      # relative model-error floor: sd rtol·|y_k| added to each datum
    whiten: dict = field(default_factory=dict)  # start -> whitening matrix of y[start:]

    @property
    def exact(self) -> bool:
        return self.cov is None

    @property
    def sigma(self) -> np.ndarray:
        """The covariance the fit uses: ``cov + diag((floor·y)²)``.

        The floor states that the truncated expansion is trusted to a relative accuracy
        ``floor`` per datum (the ``rtol`` of exact data): without it, data far more precise
        than that (coupled differences with Monte-Carlo error 1e-8) fail every χ² test on the
        omitted terms alone. It is negligible whenever the Monte-Carlo error exceeds it.
        """
        return self.cov + np.diag((self.floor * self.y) ** 2)

    @property
    def n_y(self) -> int:
        return self.y.size

    @property
    def stderrs(self) -> np.ndarray:
        return np.zeros(self.n_y) if self.exact else np.sqrt(np.diag(self.cov))

    def fit(self, start: int, model: str) -> _Fit:
        """Fit ``model`` to the data that remain after dropping the ``start`` coarsest."""
        if start not in self.whiten:
            if self.exact:
                self.whiten[start] = np.diag(1.0 / np.abs(self.y[start:]))
            else:
                Lc = np.linalg.cholesky(self.sigma[start:, start:])
                self.whiten[start] = np.linalg.solve(Lc, np.eye(self.n_y - start))
        return _fit_range(self.hs[start:], self.y[start:], self.whiten[start], model, self.kind,
                          self.exact, start)


def _sorted_data(hs, y, cov, kind: str, floor: float) -> _Data:
    """The data with errors sorted coarse to fine (differences already are)."""
    if kind == "errors":
        idx = np.argsort(-hs, kind="stable")
        hs, y = hs[idx], y[idx]
        if cov is not None:
            cov = cov[np.ix_(idx, idx)]
    return _Data(hs, y, cov, kind, 0.0 if cov is None else floor)


def _difference_matrix(k: int) -> np.ndarray:
    """``(k-1, k)`` matrix ``L`` with ``(L y)_i = y_i − y_{i+1}`` (successive differences)."""
    L = np.zeros((k - 1, k))
    L[np.arange(k - 1), np.arange(k - 1)] = 1.0
    L[np.arange(k - 1), np.arange(1, k)] = -1.0
    return L


def _common_mode_data(data: _Data) -> _Data:
    """Errors with a free common offset ``c`` as their successive differences.

    ``y_k = c + e(h_k)`` for every ``c`` is the same model as ``y_k − y_{k+1} =
    e(h_k) − e(h_{k+1})``, and GLS on the differences is GLS on the errors with ``c``
    profiled out, so this is how the common-mode term enters the model.
    """
    L = _difference_matrix(data.n_y)
    return _Data(data.hs, L @ data.y, L @ data.cov @ L.T, "differences", data.floor)


def _offset(data: _Data, fit: _Fit) -> tuple[float, float]:
    """GLS estimate of the common offset ``c`` of errors ``y = c + e(h)`` on the fit's range,
    with its standard error from the joint linearised model in ``(c, θ)`` (statistical
    covariance only): ``c`` and the fitted ``e`` share the data, so the error of ``e``'s
    parameters (the extrapolation to ``h = 0``) is part of ``c``'s."""
    hs, a, p = data.hs[fit.start:], fit.theta[1:], fit.p
    X = _design(hs, p, a.size - 1, "errors")
    r = data.y[fit.start:] - X @ a
    G = np.column_stack([np.ones_like(hs), _design(hs, p, a.size - 1, "errors", log=True) @ a,
                         X])
    cov = data.cov[fit.start:, fit.start:]
    ones = G[:, 0]
    w = np.linalg.solve(cov, ones)
    info = np.linalg.pinv(G.T @ np.linalg.solve(cov, G))
    return float(w @ r / (ones @ w)), math.sqrt(max(float(info[0, 0]), 0.0))


# --------------------------------------------------------------------------------------------
# truncation allowance
# --------------------------------------------------------------------------------------------

def _dscale(fits, margin: bool) -> float:
    """Scale ρ of the expansion (root test): max over models and k of (|D̂_k| + se)^{1/k}.

    ``D_1 = D``, ``D_2 = E``; upper estimates ``|D̂_k| + se(D̂_k)`` guard against fits that
    absorb curvature into p, and the root ``1/k`` against a first coefficient that is small
    by cancellation while the next is not. ``fits`` are the fits of one range; ``margin=False``
    leaves out ``se(D̂_k)`` (always left out for exact data, which have none).
    """
    ds = [0.0]
    for f in fits:
        nc = len(f.theta) - 2
        if nc < 1 or f.singular or f.theta[1] == 0:
            continue
        for k in range(1, nc + 1):
            d = abs(f.coef(k))
            if margin and _DSE > 0:
                grad = np.zeros(len(f.theta))
                grad[1] = -f.theta[1 + k] / f.theta[1] ** 2
                grad[1 + k] = 1.0 / f.theta[1]
                d += _DSE * math.sqrt(max(float(grad @ f.info_inv @ grad), 0.0))
            ds.append(d ** (1.0 / k))
    return max(ds)


def _allowance(fit: _Fit, dscale: float, gamma: float, kind: str) -> float:
    """Shift of p caused by the first omitted term ``gamma dscale^{nc+1} C h^{p+nc+1}``."""
    if gamma == 0 or dscale == 0:
        return 0.0
    if fit.singular:
        return float("inf")
    nc = len(fit.theta) - 2
    p, C = fit.theta[0], fit.theta[1]
    e = gamma * dscale ** (nc + 1) * C * fit.hs ** (p + nc + 1)
    dy = e if kind == "errors" else e[:-1] - e[1:]
    dth = fit.info_inv @ (fit.J.T @ (fit.W @ dy))
    return float(abs(dth[0]))

