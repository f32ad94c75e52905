"""Monte-Carlo estimates and streaming (Welford/Chan) moment accumulators."""
from __future__ import annotations

from dataclasses import dataclass

from statistics import NormalDist

import numpy as np

from ._arrays import namespace, on_host, to_host
from ._validate import positive_int

__all__ = ["Estimate", "MomentAccumulator", "normal_quantile"]


def normal_quantile(level: float) -> float:
    """Two-sided normal quantile ``z`` with ``P(|N(0,1)| <= z) = level``."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2)


@dataclass(frozen=True)
class Estimate:
    """A Monte-Carlo estimate: ``mean`` ± ``stderr`` from ``n`` independent samples.

    ``mean`` and ``stderr`` are floats or arrays of one shape (e.g. ``(n_times, k)``).

    Examples
    --------
    >>> e = Estimate(1.0, 0.01, 10_000)
    >>> lo, hi = e.ci()
    >>> round(lo, 4), round(hi, 4)
    (0.9804, 1.0196)
    """

    mean: np.ndarray | float
    stderr: np.ndarray | float
    n: int
    #: Measured variance-reduction factor (variance plain Monte Carlo would have with as many
    #: simulated paths / the variance obtained), when variance reduction was used.
    vr_factor: np.ndarray | float | None = None

    def ci(self, level: float = 0.95) -> tuple:
        """Normal-approximation confidence interval ``(lo, hi)`` at ``level``.

        Python floats for a scalar estimate, arrays of ``mean``'s shape otherwise.
        """
        z = normal_quantile(level)
        lo = np.asarray(self.mean) - z * np.asarray(self.stderr)
        hi = np.asarray(self.mean) + z * np.asarray(self.stderr)
        return (float(lo), float(hi)) if lo.ndim == 0 else (lo, hi)

    def zscore(self, reference) -> np.ndarray | float:
        """``(mean - reference) / stderr``: how many standard errors from ``reference``."""
        return (self.mean - np.asarray(reference)) / np.asarray(self.stderr)

    def __repr__(self) -> str:
        if np.ndim(self.mean) == 0:
            vr = "" if self.vr_factor is None else f", variance reduced {self.vr_factor:.3g}x"
            if self.vr_factor is not None and float(self.stderr) <= 1e-12 * abs(float(self.mean)):
                vr = ", variance reduced to rounding: the control variate is exact here"
            return f"Estimate({float(self.mean):.6g} ± {float(self.stderr):.2g}, n={self.n}{vr})"
        with np.printoptions(precision=5):
            return f"Estimate(mean={np.asarray(self.mean)}, stderr={np.asarray(self.stderr)}, n={self.n})"


class MomentAccumulator:
    """Streaming mean and (co)variance of ``dim``-vectors, merged chunk by chunk (Chan et al.).

    Chunks are merged with the pairwise update of Chan, Golub & LeVeque (1979), so the result is
    exact in exact arithmetic and stable in floating point; memory is ``O(dim)`` (``O(dim²)``
    with ``full_cov``) whatever the number of samples.

    Parameters
    ----------
    dim : int
        Length of each sample vector.
    full_cov : bool
        Keep the full ``(dim, dim)`` covariance (needed for correlated, coupled estimates).

    Examples
    --------
    >>> import numpy as np
    >>> acc = MomentAccumulator(2)
    >>> rng = np.random.default_rng(0)
    >>> for _ in range(10):
    ...     acc.update(rng.standard_normal((1000, 2)))
    >>> acc.n
    10000

    References
    ----------
    Chan, Golub & LeVeque (1979), "Updating formulae and a pairwise algorithm for computing
    sample variances"; Welford (1962).
    """

    def __init__(self, dim: int, full_cov: bool = False):
        self.dim, self.full_cov = positive_int(dim, "dim"), bool(full_cov)
        self.n = 0
        self.mean = np.zeros(self.dim)
        self.m2 = np.zeros((self.dim, self.dim)) if full_cov else np.zeros(self.dim)

    @classmethod
    def of(cls, batch, full_cov: bool = False) -> "MomentAccumulator":
        """The accumulator of the samples ``batch`` ``(n_b, dim)`` alone (one chunk's summary,
        to :meth:`merge` later, e.g. in another process).

        ``batch`` may be an array of another library on its device (a torch tensor on a GPU,
        :mod:`sdesim._arrays`): its moments are then computed there, in float64, and only they
        are copied to the host.
        """
        if on_host(batch):
            batch = np.asarray(batch, dtype=float)
        if batch.ndim != 2:
            raise ValueError(f"batch must have shape (n_b, dim), got {tuple(batch.shape)}")
        acc = cls(batch.shape[1], full_cov)
        acc.update(batch)
        return acc

    def update(self, batch) -> None:
        """Add samples ``batch`` of shape ``(n_b, dim)`` (array_like, or an array of another
        library: as in :meth:`of`)."""
        if on_host(batch):
            batch = np.asarray(batch, dtype=float).reshape(-1, self.dim)
        else:
            xp = namespace(batch)
            batch = xp.reshape(xp.astype(batch, xp.float64), (-1, self.dim))
        nb = batch.shape[0]
        if nb == 0:
            return
        self._combine(nb, *_batch_moments(batch, self.full_cov))

    def merge(self, other: "MomentAccumulator") -> "MomentAccumulator":
        """Add the samples summarised by ``other`` (same ``dim`` and ``full_cov``); return self.

        The same arithmetic as :meth:`update`: merging ``MomentAccumulator.of(b)`` for the
        batches ``b`` in one order gives bitwise what updating with them in that order gives.
        """
        if (other.dim, other.full_cov) != (self.dim, self.full_cov):
            raise ValueError(f"other must have dim={self.dim}, full_cov={self.full_cov}, got "
                             f"dim={other.dim}, full_cov={other.full_cov}")
        if other.n:
            self._combine(other.n, other.mean, other.m2)
        return self

    def _combine(self, nb: int, mb: np.ndarray, m2b: np.ndarray) -> None:
        """Chan et al.'s pairwise update by ``nb`` samples of mean ``mb`` and M2 ``m2b``."""
        n = self.n + nb
        with np.errstate(over="ignore", invalid="ignore"):  # estimate() raises on overflow
            delta = mb - self.mean
            corr = np.outer(delta, delta) if self.full_cov else delta * delta
            self.m2 = self.m2 + m2b + corr * (self.n * nb / n)
            self.mean = self.mean + delta * (nb / n)
        self.n = n

    def variance(self) -> np.ndarray:
        """Sample variance per component (ddof = 1), shape ``(dim,)``."""
        self._need(2)
        diag = np.diag(self.m2) if self.full_cov else self.m2
        return diag / (self.n - 1)

    def covariance(self) -> np.ndarray:
        """Sample covariance (ddof = 1), shape ``(dim, dim)``; needs ``full_cov=True``."""
        if not self.full_cov:
            raise ValueError("covariance() needs MomentAccumulator(full_cov=True)")
        self._need(2)
        return self.m2 / (self.n - 1)

    def estimate(self) -> Estimate:
        """:class:`Estimate` of the mean vector, ``stderr = sqrt(var / n)``.

        Raises
        ------
        OverflowError
            The mean or the variance is not finite: the samples are too large for float64
            moments (values beyond ~1e154 square to inf), so no standard error exists.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            stderr = np.sqrt(self.variance() / self.n)
        if not (np.all(np.isfinite(self.mean)) and np.all(np.isfinite(stderr))):
            raise OverflowError(
                f"the moments of the {self.n} samples are not finite (mean "
                f"{np.asarray(self.mean).ravel()[:3]}, standard error "
                f"{np.asarray(stderr).ravel()[:3]}): the values are too large for float64 "
                f"(beyond ~1e154 they square to inf), e.g. a run that diverged without "
                f"overflowing; rescale the test function or use a smaller step")
        return Estimate(self.mean.copy(), stderr, self.n)

    def _need(self, k: int) -> None:
        if self.n < k:
            raise ValueError(f"need at least {k} samples for a variance, have {self.n}")


def _batch_moments(batch, full_cov: bool) -> tuple:
    """Mean ``(dim,)`` and M2 (``(dim, dim)`` or ``(dim,)``) of ``batch`` ``(n_b, dim)``, computed
    in ``batch``'s library (on its device), as numpy arrays."""
    xp = namespace(batch)
    mb = xp.mean(batch, axis=0)
    c = batch - mb
    if full_cov:
        m2b = c.T @ c
    elif xp is np:
        m2b = np.einsum("ij,ij->j", c, c)
    else:
        m2b = xp.sum(c * c, axis=0)
    return to_host(mb), to_host(m2b)
