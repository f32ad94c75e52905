"""Learning-rate schedulers ``s_t`` of the Lévy SDE of SGD, compiled with numba.

Each returned function carries ``kind`` and ``params``, from which
:func:`sdesim.exact.scheduler_survival` integrates ``s^{α-1}`` exactly.

References
----------
"Revisiting the noise model of SGD" (TMLR submission), §3, Thm. 4.1; docs/theory.md §C.6.
"""
from __future__ import annotations

from typing import Callable

import numba
import numpy as np

from .._validate import as_finite_array

__all__ = ["power_law_scheduler", "multistep_scheduler"]


def power_law_scheduler(gamma: float) -> Callable[[float], float]:
    """The scheduler ``s_t = (1 + t)^{γ - 1}`` (TMLR's "exponential" ``t^{γ-1}``, shifted).

    TMLR's ``t^{γ-1}`` is a power law and singular at t = 0; the shift keeps ``s_0 = 1``. The
    returned function is compiled with numba so SDEs built from it run on the numba backend.

    Parameters
    ----------
    gamma : float
        ``γ <= 1`` decays (γ = 1 is constant).

    Returns
    -------
    callable ``s(t) -> float``

    Examples
    --------
    >>> s = power_law_scheduler(0.5)
    >>> round(s(3.0), 6)
    0.5

    References
    ----------
    TMLR §3, Thm. 4.1; docs/theory.md §C.6 (scheduler survival law, ``γ_l``).
    """
    g = float(as_finite_array(gamma, "gamma", ndim=(0,)))

    @numba.njit(cache=False)
    def s(t):
        return (1.0 + t) ** (g - 1.0)
    s.kind, s.params = "power_law", {"gamma": g}
    return s


def multistep_scheduler(milestones, factors) -> Callable[[float], float]:
    """Piecewise-constant scheduler: ``s_t = factors[p]`` for ``t`` in ``(T_p, T_{p+1}]``.

    With ``milestones = (T_1, ..., T_P)`` (increasing, > 0), ``s_t = factors[0]`` on
    ``[0, T_1]``, ``factors[1]`` on ``(T_1, T_2]``, ..., ``factors[P]`` after ``T_P``
    (e.g. ``factors = (1, 0.1, 0.01)``, PyTorch's MultiStepLR).

    Parameters
    ----------
    milestones : array_like (P,)
    factors : array_like (P + 1,)
        Positive multipliers of the base learning rate.

    Returns
    -------
    callable ``s(t) -> float`` (numba-compiled)

    Raises
    ------
    ValueError
        Non-increasing or non-positive milestones, wrong number or non-positive factors.

    Examples
    --------
    >>> s = multistep_scheduler([1.0, 2.0], [1.0, 0.1, 0.01])
    >>> s(0.5), s(1.5), s(5.0)
    (1.0, 0.1, 0.01)

    References
    ----------
    TMLR §3 (multi-step scheduler ``s_t = γ_p`` on ``(T_p, T_{p+1}]``).
    """
    T = as_finite_array(milestones, "milestones", ndim=(1,))
    fac = as_finite_array(factors, "factors", ndim=(1,))
    if np.any(T <= 0) or np.any(np.diff(T) <= 0):
        raise ValueError(f"milestones must be positive and increasing, got {T.tolist()}")
    if fac.shape[0] != T.shape[0] + 1:
        raise ValueError(f"factors must have len(milestones) + 1 = {T.shape[0] + 1} entries, "
                         f"got {fac.shape[0]}")
    if np.any(fac <= 0):
        raise ValueError(f"factors must be > 0, got {fac.tolist()}")

    @numba.njit
    def s(t):
        p = 0
        while p < T.shape[0] and t > T[p]:
            p += 1
        return fac[p]
    s.kind, s.params = "multistep", {"milestones": T, "factors": fac}
    return s
