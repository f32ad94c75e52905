"""A fast bulk sampler of the symmetric α-stable law (numba, vectorised CMS, seeded chunks).

``python -m bench.stable_sampler`` times it against scipy's ``levy_stable.rvs``.

References
----------
Chambers, Mallows & Stuck (1976), JASA 71:340; docs/theory.md §0.5, §C.6.
"""
from __future__ import annotations

import operator

import numpy as np

from .._validate import alpha_array, positive_float
from ..backends.stable_cms import stable_chunk
from ..engine import executor_for, root_seed, run_chunks

__all__ = ["stable_rvs", "STABLE_CHUNK"]

STABLE_CHUNK = 1 << 17                   # samples per seeded chunk (fixed: results depend on it)


def stable_rvs(alpha: float, size, rng=None, *, scale: float = 1.0,
               n_threads: int | None = None) -> np.ndarray:
    """Fast bulk sampler of the symmetric α-stable law ``levy_stable(alpha, 0, scale=scale)``.

    The same law and formula as :func:`sdesim.drivers.standard_stable` (Chambers–Mallows–Stuck,
    characteristic function ``exp(-|scale·u|^α)``; ``N(0, 2 scale²)`` at α = 2), written for
    throughput: one ``exp`` of two ``log`` s instead of two powers, the constants of α computed
    once, ``cos((1-α)V)`` from the sines and cosines of ``V`` and ``αV``, and polynomial
    ``sin``/``cos``/``log``/``exp`` (fdlibm's, about 1 ulp) that the compiler vectorises; the
    result agrees with the reference formula to a relative ``~1e-14`` (tested to 1e-13).

    Speed (``python -m bench.stable_sampler``, 10⁶ samples at α = 1.5, on a 2-core Xeon):
    about 16 ms on one thread and 11-12 ms on two, against about 145 ms for
    ``scipy.stats.levy_stable.rvs`` and 50 ms for ``standard_stable``; about 6 ms of the
    one-thread time is drawing the uniforms and exponentials from the Generator.

    The samples are drawn in chunks of :data:`STABLE_CHUNK` (131 072) in C order by the chunk
    engine (:func:`sdesim.engine.run_chunks`): chunk ``c`` uses the child generator ``c`` of
    ``rng`` in a numba kernel (:func:`sdesim.backends.stable_cms.stable_chunk`) that releases
    the GIL, and chunks run on ``n_threads`` threads. The result therefore never depends on
    ``n_threads``. Within a chunk, each block of 2048 samples draws its uniforms, then its
    exponentials (none at α = 1, where ``Z = tan V``), so the stream is a function of the seed
    and of ``size`` (a shorter request is not a prefix of a longer one) and is not that of
    ``standard_stable(rng, ...)``.

    Parameters
    ----------
    alpha : float
        Stability index in (0, 2] (one value; for one α per coordinate use
        :func:`sdesim.drivers.standard_stable`).
    size : int or tuple of int
        Output shape, e.g. ``10**6`` or ``(n_paths, m)``.
    rng : int, Generator, SeedSequence or None
        Seed. A Generator is advanced by one draw (it seeds the chunks).
    scale : float
        Scale σ > 0.
    n_threads : int, optional
        Threads (default ``NUMBA_NUM_THREADS`` or the CPU count).

    Returns
    -------
    ndarray of shape ``size``, float64.

    Raises
    ------
    ValueError
        α outside (0, 2] or not a scalar, negative ``size``, ``scale <= 0``, ``n_threads < 1``.
    TypeError
        ``size`` is not an int or a tuple of ints.

    Examples
    --------
    >>> import numpy as np
    >>> z = stable_rvs(1.5, (1000, 3), rng=0)
    >>> z.shape
    (1000, 3)
    >>> bool(np.array_equal(stable_rvs(1.5, 10**5, rng=1, n_threads=1),
    ...                     stable_rvs(1.5, 10**5, rng=1, n_threads=2)))
    True

    References
    ----------
    Chambers, Mallows & Stuck (1976), JASA 71:340; Weron (1996), Stat. Probab. Lett. 28:165;
    fdlibm (Sun Microsystems, 1993) for the elementary functions; docs/theory.md §0.5, §C.6.
    """
    a = alpha_array(alpha)
    if a.ndim != 0:
        raise ValueError(f"alpha must be a scalar for stable_rvs, got shape {a.shape} (use "
                         f"sdesim.drivers.standard_stable for one alpha per coordinate)")
    a = float(a)
    sc = positive_float(scale, "scale")
    shape = _shape(size)
    executor = executor_for(True, n_threads)
    out = np.empty(shape)
    flat = out.reshape(-1)

    def task(chunk) -> None:
        stable_chunk(chunk.rng, flat[chunk.start:chunk.stop], a, sc)

    for _ in run_chunks(task, flat.shape[0], STABLE_CHUNK, root_seed(rng), executor=executor):
        pass
    return out


def _shape(size) -> tuple[int, ...]:
    """``size`` as a tuple of non-negative ints (an int is a 1-d shape)."""
    shape = (size,) if np.ndim(size) == 0 else tuple(size)
    try:
        shape = tuple(int(operator.index(k)) for k in shape)
    except TypeError:
        raise TypeError(f"size must be an int or a tuple of ints, got {size!r}") from None
    if any(k < 0 for k in shape):
        raise ValueError(f"size must be non-negative, got {size!r}")
    return shape
