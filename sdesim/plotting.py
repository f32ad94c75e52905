"""matplotlib figures for sdesim's result types.

matplotlib is imported inside each function (``import sdesim`` never imports it), and nothing
here calls ``plt.show()``: every function draws on the Axes it is given (or on a new one) and
returns that Axes, so the same code works in notebooks, scripts and headless (Agg) runs.
"""
from __future__ import annotations

import numpy as np

__all__ = ["plot_weak_order", "plot_paths"]


def _new_axes(ax, figsize=(5.0, 3.8)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt
    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _label_mantissas(lo: float, hi: float) -> tuple:
    """Mantissas of the labelled log ticks on ``[lo, hi]``: decades only (``10^k``), unless
    fewer than two decades fall inside; then also ``2, 5 × 10^k``, or else every ``m × 10^k``."""
    k = np.arange(np.floor(np.log10(lo)), np.ceil(np.log10(hi)) + 1)
    for subs in ((1.0,), (1.0, 2.0, 5.0)):
        ticks = np.outer(10.0 ** k, subs)
        if np.count_nonzero((ticks >= lo) & (ticks <= hi)) >= 2:
            return subs
    return tuple(float(m) for m in range(1, 10))


def _log_ticks(axis, lo: float, hi: float) -> None:
    """Log-axis ticks whose labels do not collide: few labelled major ticks, minor unlabelled.

    Independent of the matplotlib version and style (the ``classic`` style labels minor log
    ticks). The major locator thins the ticks to what the axis length holds; which mantissas
    are labelled is chosen by :func:`_label_mantissas` for the view ``[lo, hi]``.
    """
    from matplotlib import ticker
    subs = _label_mantissas(lo, hi)
    axis.set_major_locator(ticker.LogLocator(base=10.0, subs=subs, numticks="auto"))
    # every major tick gets its label (by default the formatter hides some below two decades)
    axis.set_major_formatter(ticker.LogFormatterSciNotation(
        labelOnlyBase=False, minor_thresholds=(np.inf, np.inf)))
    axis.set_minor_locator(ticker.LogLocator(base=10.0, subs="auto", numticks="auto"))
    axis.set_minor_formatter(ticker.NullFormatter())


def plot_weak_order(result, ax=None):
    """Log–log plot of a weak-order study: |errors| with error bars, the fit, a slope-1 guide.

    Draws ``|y_k|`` against the step size (for successive differences, against the coarser step
    of each pair) with error bars ``z·stderr`` (``z = 1.96`` at 95%), the fitted error model
    (solid on the fitted range, dotted where points were dropped), a slope-1 guide line through
    the finest point, dropped points as hollow markers, and a title with the order and its CI
    (or why it is not resolved). Both log axes label decades only (``2, 5 × 10^k`` too when
    fewer than two decades show) and leave minor ticks unlabelled, so the labels do not collide
    however many decades the steps span.

    Parameters
    ----------
    result : WeakOrderResult or OrderFit
        The study (:func:`sdesim.weak.weak_order`) or a bare fit
        (:func:`sdesim.weak.fit_order`).
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new figure is made when omitted.

    Returns
    -------
    matplotlib.axes.Axes
        The Axes drawn on.

    Raises
    ------
    TypeError
        If ``result`` is neither a WeakOrderResult nor an OrderFit.

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from sdesim.weak import fit_order
    >>> hs = 1 / 2 ** np.arange(2, 8)
    >>> ax = plot_weak_order(fit_order(hs, 3 * hs * (1 - 2 * hs)))
    >>> ax.get_xscale(), ax.get_yscale()
    ('log', 'log')

    References
    ----------
    Kloeden & Platen (1992), *Numerical Solution of SDEs*, §14.5 (weak-order plots).
    """
    from scipy import stats

    fit = getattr(result, "fit", result)
    needed = ("hs", "y", "stderrs", "used", "kind", "error_model", "order_ci")
    if not all(hasattr(fit, a) for a in needed):
        raise TypeError("result must be a WeakOrderResult or an OrderFit, got "
                        f"{type(result).__name__}")
    ax = _new_axes(ax)
    hs = np.asarray(fit.hs, dtype=float)
    y = np.abs(np.asarray(fit.y, dtype=float))
    z = float(stats.norm.ppf(0.5 + fit.level / 2))
    err = z * np.asarray(fit.stderrs, dtype=float)
    used = np.asarray(fit.used, dtype=bool)
    differences = fit.kind == "differences"
    x = hs[:-1] if differences else hs
    ylabel = (r"$|E\,g(X^{h}_T) - E\,g(X^{h'}_T)|$" if differences
              else r"$|E\,g(X^{h}_T) - E\,g(X_T)|$")

    # data: filled = fitted, hollow = dropped
    lower = np.minimum(err, 0.999 * y)  # keep the log axis finite; bars reaching 0 are clipped
    for mask, face, label in ((used, None, f"estimate ± {100 * fit.level:g}% CI"),
                              (~used, "none", "dropped from the fit")):
        if not np.any(mask):
            continue
        ax.errorbar(x[mask], y[mask], yerr=np.vstack([lower[mask], err[mask]]), fmt="o",
                    color="C0", mfc=face if face else "C0", capsize=3, label=label, zorder=3)

    # fitted curve
    h_dense = np.geomspace(x.min(), x.max(), 200)
    if differences:
        ratio = float(np.exp(np.mean(np.log(hs[:-1] / hs[1:]))))
        curve = np.abs(fit.error_model(h_dense) - fit.error_model(h_dense / ratio))
    else:
        curve = np.abs(fit.error_model(h_dense))
    h_cut = x[used].max() if np.any(used) else x.max()
    inside = h_dense <= h_cut * (1 + 1e-12)
    ax.plot(h_dense[inside], curve[inside], "-", color="C1",
            label=f"fit {fit.model_text()}, p = {fit.order:.3f}")
    if np.any(~inside):
        ax.plot(h_dense[~inside], curve[~inside], ":", color="C1")

    # slope-1 guide through the finest point
    i_fine = int(np.argmin(x))
    if y[i_fine] > 0:
        ax.plot(h_dense, y[i_fine] * h_dense / x[i_fine], "--", color="0.5", lw=1,
                label="slope 1")

    ax.set_xscale("log")
    ax.set_yscale("log", nonpositive="clip")
    _log_ticks(ax.xaxis, *sorted(ax.get_xlim()))
    _log_ticks(ax.yaxis, *sorted(ax.get_ylim()))
    ax.set_xlabel("step size h" + (" (h' = next finer step)" if differences else ""))
    ax.set_ylabel(ylabel)
    lo, hi = fit.order_ci
    if fit.status == "not resolved":
        title = f"weak order not resolved: {fit.cause_text(short=True)}"
    elif fit.exact:
        title = f"weak order {fit.order:.3f} (exact data)"
    else:
        title = f"weak order {fit.order:.3f} [{lo:.3f}, {hi:.3f}] ({100 * fit.level:g}% CI)"
    if fit.status == "poor fit":
        title += " — unreliable fit"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="best")
    ax.grid(True, which="both", alpha=0.25)
    return ax


def plot_paths(paths, n: int = 20, coord: int = 0, ax=None):
    """Plot the first ``n`` simulated paths of one coordinate against time.

    Parameters
    ----------
    paths : Paths
        Result of :func:`sdesim.simulate` (``ts`` of shape ``(n_times,)``, ``xs`` of shape
        ``(n_times, n_paths, d)``).
    n : int, default 20
        Number of paths to draw (at most ``n_paths``).
    coord : int, default 0
        State coordinate to draw, ``0 <= coord < d``.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If ``n < 1`` or ``coord`` is out of range.

    Examples
    --------
    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> from types import SimpleNamespace
    >>> p = SimpleNamespace(ts=np.linspace(0, 1, 11), xs=np.zeros((11, 5, 1)))
    >>> len(plot_paths(p, n=3).lines)
    3

    Notes
    -----
    Saved paths are ``(n_times, n_paths, d)`` throughout sdesim (:class:`sdesim.simulate.Paths`).
    """
    xs = np.asarray(paths.xs)
    ts = np.asarray(paths.ts)
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(coord, (int, np.integer)) or not 0 <= coord < xs.shape[2]:
        raise ValueError(f"coord must lie in [0, {xs.shape[2]}), got {coord!r}")
    ax = _new_axes(ax)
    k = min(int(n), xs.shape[1])
    ax.plot(ts, xs[:, :k, coord], lw=0.8, alpha=0.8)
    ax.set_xlabel("t")
    ax.set_ylabel(f"$X_t^{{({coord})}}$" if xs.shape[2] > 1 else "$X_t$")
    ax.set_title(f"{k} of {xs.shape[1]} paths", fontsize=10)
    return ax
