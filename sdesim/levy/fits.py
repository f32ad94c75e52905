"""Gaussian-vs-SαS fits of a sample: McCulloch's quantile fit and the histogram comparison.

References
----------
McCulloch (1986), Commun. Stat. Simul. 15:1109; "Revisiting the noise model of SGD" (TMLR
submission), Tables 1-2; docs/theory.md §B.4.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as _sps

from .._validate import positive_int
from .tail_index import _mcculloch_point, _samples, alpha_mle

__all__ = ["FitComparison", "compare_fits", "fit_stable_quantiles"]


def fit_stable_quantiles(x) -> tuple[float, float, float]:
    """Fit ``SαS(alpha, scale, loc)`` by McCulloch's quantile method (β = 0).

    ``ν = (q95 - q05)/(q75 - q25)`` gives α through the exact table ``ν(α)`` (computed with
    scipy, α ∈ [0.5, 2]; outside it α is clipped, as McCulloch does at α = 2); the scale is
    ``(q75 - q25)/φ(α)``; the location is the median.

    Parameters
    ----------
    x : array_like, shape (n,)

    Returns
    -------
    (alpha, scale, loc) : tuple of float, in scipy's ``levy_stable(alpha, 0, loc, scale)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sdesim.drivers import standard_stable
    >>> a, s, m = fit_stable_quantiles(3 + 2 * standard_stable(np.random.default_rng(0), 1.5, (20_000,)))
    >>> round(a, 1), round(s, 1), round(m, 1)
    (1.5, 2.0, 3.0)

    References
    ----------
    McCulloch (1986); docs/theory.md §B.4 (what ``levy_stable.fit`` starts from).
    """
    a, s, m, _ = _mcculloch_point(_samples(x))
    return a, s, m


@dataclass(frozen=True)
class FitComparison:
    """Gaussian vs SαS fits of one sample, scored on a common histogram (TMLR Tables 1-2).

    Attributes
    ----------
    edges : ndarray (bins + 1,)
        Bin edges (equal width over the central ``range_quantiles`` of the sample).
    counts : ndarray (bins,)
        Sample counts per bin.
    n : int
        Sample size (counts are out of ``n``; values outside the range are in no bin).
    gauss : tuple (mean, std)
    stable : tuple (alpha, scale, loc)
        scipy's ``levy_stable(alpha, 0, loc, scale)``.
    sse : dict {"gauss": float, "stable": float}
        Sum over bins of (histogram density - model's mean density on the bin)².
    chi2 : dict {"gauss": float, "stable": float}
        Pearson statistic Σ (O - E)² / E over the bins, E from the model's bin probabilities.
    pvalue : dict {"gauss": float, "stable": float}
        χ² tail probability with ``bins - 1 - k`` degrees of freedom (k = 2 or 3 fitted
        parameters; approximate, since the parameters are not fitted to the binned data).
    """

    edges: np.ndarray
    counts: np.ndarray
    n: int
    gauss: tuple
    stable: tuple
    sse: dict
    chi2: dict
    pvalue: dict

    @property
    def better(self) -> str:
        """``"stable"`` or ``"gauss"``: the smaller χ² statistic."""
        return "stable" if self.chi2["stable"] < self.chi2["gauss"] else "gauss"

    def plot(self, ax=None):
        """Histogram density with both fitted densities over it; returns the Axes."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        w = np.diff(self.edges)
        ax.bar(self.edges[:-1], self.counts / (self.n * w), width=w, align="edge",
               color="0.8", edgecolor="0.6", label="sample")
        t = np.linspace(self.edges[0], self.edges[-1], 300)
        a, s, m = self.stable
        ax.plot(t, _sps.norm.pdf(t, *self.gauss), "C0",
                label=f"Gaussian (SSE {self.sse['gauss']:.3g}, χ² {self.chi2['gauss']:.3g})")
        ax.plot(t, _sps.levy_stable.pdf(t, a, 0.0, m, s), "C3",
                label=f"SαS α={a:.2f} (SSE {self.sse['stable']:.3g}, χ² {self.chi2['stable']:.3g})")
        ax.set_xlabel("noise value")
        ax.set_ylabel("density")
        ax.legend(fontsize=7)
        return ax

    def __repr__(self) -> str:
        return (f"FitComparison(n={self.n}, bins={self.counts.size}, SαS alpha="
                f"{self.stable[0]:.3g}, SSE gauss/stable = {self.sse['gauss']:.3g}/"
                f"{self.sse['stable']:.3g}, chi2 gauss/stable = {self.chi2['gauss']:.3g}/"
                f"{self.chi2['stable']:.3g}, better={self.better!r})")


def compare_fits(x, *, bins: int = 40, range_quantiles: tuple[float, float] = (0.005, 0.995),
                 stable_fit: str = "mcculloch") -> FitComparison:
    """Fit a Gaussian (MLE) and an SαS law (McCulloch or MLE) to ``x``; score both on a histogram.

    The histogram has ``bins`` equal bins over the sample's ``range_quantiles`` (heavy tails
    would otherwise put almost every value in a few bins). For each model, the expected count
    of bin k is ``n (F(e_{k+1}) - F(e_k))``; SSE compares densities, χ² compares counts.
    TMLR does not state its binning, so its absolute numbers are not comparable to these.

    Parameters
    ----------
    x : array_like, shape (n,)
    bins : int
    range_quantiles : (float, float)
    stable_fit : {"mcculloch", "mle"}
        ``"mle"`` is slow (see :func:`alpha_mle`).

    Returns
    -------
    FitComparison

    Raises
    ------
    ValueError
        Too few samples, non-finite values, bad ``bins``/``range_quantiles``/``stable_fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sdesim.drivers import standard_stable
    >>> fc = compare_fits(standard_stable(np.random.default_rng(0), 1.5, (20_000,)))
    >>> fc.better
    'stable'

    References
    ----------
    TMLR Tables 1-2 (SSE and χ² of the two fits); McCulloch (1986).
    """
    x = _samples(x)
    bins = positive_int(bins, "bins")
    if bins < 5:
        raise ValueError(f"bins must be >= 5, got {bins}")
    qlo, qhi = (float(v) for v in range_quantiles)
    if not 0 <= qlo < qhi <= 1:
        raise ValueError(f"range_quantiles must satisfy 0 <= lo < hi <= 1, got {range_quantiles}")
    if stable_fit == "mcculloch":
        a, s, m = fit_stable_quantiles(x)
    elif stable_fit == "mle":
        est = alpha_mle(x)
        a, s, m = float(est.alpha), est.extra["scale"], est.extra["loc"]
    else:
        raise ValueError(f"stable_fit must be 'mcculloch' or 'mle', got {stable_fit!r}")
    gauss = (float(x.mean()), float(x.std()))
    edges = np.linspace(*np.quantile(x, [qlo, qhi]), bins + 1)
    counts, _ = np.histogram(x, edges)
    n, w = x.size, np.diff(edges)
    probs = {"gauss": np.diff(_sps.norm.cdf(edges, *gauss)),
             "stable": np.diff(_sps.levy_stable.cdf(edges, a, 0.0, m, s))}
    dens = counts / (n * w)
    sse, chi2, pval = {}, {}, {}
    for key, p in probs.items():
        E = np.maximum(n * p, 1e-300)
        sse[key] = float(np.sum((dens - p / w) ** 2))
        chi2[key] = float(np.sum((counts - E) ** 2 / E))
        dof = bins - 1 - (2 if key == "gauss" else 3)
        pval[key] = float(_sps.chi2.sf(chi2[key], dof))
    return FitComparison(edges, counts, n, gauss, (a, s, m), sse, chi2, pval)
