"""The result type of the exact moment functions, ``Moments``, and the array type aliases."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Union

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
StepsLike = Union[int, Sequence[int], NDArray[np.integer]]


@dataclass(frozen=True)
class Moments:
    """First and second moments of a random vector, ``E[X]`` and ``E[X X^T]``.

    Parameters
    ----------
    mean : ndarray, shape (..., d)
        ``E[X]``.
    second : ndarray, shape (..., d, d)
        ``E[X X^T]`` (the raw second moment, not the covariance).

    Leading axes (``...``) appear when moments are returned for several times or step counts
    at once; they are the same for ``mean`` and ``second``. Arrays are read-only.

    Attributes
    ----------
    cov : ndarray, shape (..., d, d)
        The covariance ``E[X X^T] - E[X] E[X]^T``. Where the producing function propagated
        the covariance directly (no cancellation), that value is returned.

    Example
    -------
    >>> import numpy as np
    >>> mo = Moments(np.array([1.0]), np.array([[3.0]]))
    >>> float(mo.cov[0, 0])
    2.0
    """

    mean: FloatArray
    second: FloatArray
    _cov: FloatArray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        mean = np.array(self.mean, dtype=float)
        second = np.array(self.second, dtype=float)
        if mean.ndim < 1 or second.shape != mean.shape + mean.shape[-1:]:
            raise ValueError(
                f"second must have shape mean.shape + (d,) = {mean.shape + mean.shape[-1:]}, "
                f"got {second.shape}"
            )
        mean.flags.writeable = False
        second.flags.writeable = False
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "second", second)
        if self._cov is not None:
            cov = np.array(self._cov, dtype=float)
            if cov.shape != second.shape:
                raise ValueError(f"_cov must have shape {second.shape}, got {cov.shape}")
            cov.flags.writeable = False
            object.__setattr__(self, "_cov", cov)

    @property
    def cov(self) -> FloatArray:
        """Covariance ``E[X X^T] - E[X] E[X]^T``, shape ``(..., d, d)``."""
        if self._cov is not None:
            return self._cov
        return self.second - self.mean[..., :, None] * self.mean[..., None, :]
