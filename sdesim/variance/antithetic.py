"""Antithetic increments: every path is run twice, on its increments and on their negatives.

For a symmetric driver (Brownian motion, symmetric α-stable motion) the increments ``ΔL`` and
``−ΔL`` have the same law, so the path driven by ``−ΔL`` is a second sample of ``X^h_T`` and the
average ``(phi(X⁺) + phi(X⁻)) / 2`` of the pair is an unbiased sample of ``E phi(X^h_T)``. For
``phi`` close to odd around the mean the two are negatively correlated and the pair average
has much less than half the variance of one path.

The mirrored path needs no kernel of its own: Euler–Maruyama's noise term is ``g · ΔL``, so
``g · (−ΔL) = (−g) · ΔL`` and the mirrored path is the SDE with diffusion ``−g``
(:func:`mirror`) run from a copy of the chunk's generator, i.e. on the same increments, on any
backend (the counter-based torch backend draws from (key, path, step), which the copy keeps).

References
----------
Hammersley & Morton (1956), Proc. Camb. Phil. Soc. 52:449 (antithetic variates); Glasserman
(2004), *Monte Carlo Methods in Financial Engineering*, §4.2; Giles & Szpruch (2014), Ann. Appl.
Probab. 24:1585 (antithetic paths for SDEs).
"""
from __future__ import annotations

from .._cache import BoundedCache
from ..drivers import Brownian, Stable
from ..sde import SDE, LinearSDE
from ._compile import callable_for

__all__ = ["mirror", "check_symmetric"]

_MIRRORS = BoundedCache(32)  # (f, g, noise, numba?) -> mirrored g: one compiled kernel per SDE


def check_symmetric(sde: SDE) -> None:
    """Refuse antithetic increments for a driver whose law is not symmetric.

    Raises
    ------
    ValueError
        The driver is not ``Brownian()`` or ``Stable(alpha)`` (a user's driver may be skewed).
    """
    if type(sde.driver) not in (Brownian, Stable):
        raise ValueError(f"antithetic=True needs a symmetric driver (sdesim.Brownian() or "
                         f"sdesim.Stable(alpha)): the mirrored increments -dL must have the law "
                         f"of dL; got driver {sde.driver!r}")


def _negated(g, additive: bool):
    if additive:
        return lambda t: -g(t)
    return lambda t, x: -g(t, x)


def mirror(sde: SDE, backend: str, probe) -> SDE:
    """The SDE driven by the negated increments: same ``f`` and driver, diffusion ``−g``.

    Parameters
    ----------
    sde : SDE
    backend : str
        The backend it will run on (numba backends get a compiled ``−g``).
    probe : ndarray (k, d)
        States on which a user's ``g`` is compiled (``SDE.probe_states``).

    Returns
    -------
    SDE
        A :class:`~sdesim.LinearSDE` with ``B, b`` negated for a linear one (its kernels keep
        the coefficients as arguments), an SDE with the constant ``−g`` for constant additive
        noise, else an SDE whose ``g`` returns ``−g(t, x)``; the same object for the same
        ``f``, ``g`` and backend kind (so a compiled kernel is reused).

    Examples
    --------
    >>> import numpy as np, sdesim
    >>> from sdesim.variance import mirror
    >>> m = mirror(sdesim.gbm(0.5, 0.4), "numpy", np.ones((5, 1)))
    >>> float(m.diffusion(0.0, np.ones((1, 1)))[0, 0])
    -0.4

    References
    ----------
    Glasserman (2004), §4.2; Giles & Szpruch (2014), Ann. Appl. Probab. 24:1585.
    """
    if isinstance(sde, LinearSDE):
        return LinearSDE(sde.form, sde.A, sde.a, -sde.B, -sde.b, driver=sde.driver,
                         name=sde.name)
    const = sde.additive_constant
    g = -const if const is not None else None
    if g is None:
        additive = sde.noise == "additive"
        key = (sde.f, sde.g, sde.noise, backend.startswith("numba"))
        if key not in _MIRRORS:
            args = (0.0,) if additive else (0.0, probe)
            _MIRRORS[key] = _negated(callable_for(sde.g, backend, *args), additive)
        g = _MIRRORS[key]
    return SDE(sde.f, g, d=sde.d, m=sde.m, noise=sde.noise, driver=sde.driver, name=sde.name)
