"""States of another library than numpy — a backend's torch tensors on a GPU, a torch oracle's
parameters — seen from the engine and the SGD recursion: ``expectation`` reduces a chunk where
its states are (docs/architecture.md), and :mod:`sdesim.sgd` steps in the oracle's own arrays.

A backend with ``device_states`` (:class:`sdesim.backends.contract.Backend`) hands a chunk's
states back on its device; the chunk's task evaluates ``phi`` there (array-API style, as ``f``
and ``g``), computes the chunk's moments there (:meth:`sdesim.stats.MomentAccumulator.of`) and
copies only those to the host. numpy arrays take the numpy path untouched (no import of
``array_api_compat``, results bitwise those of plain numpy); anything else goes through
``array_api_compat``, installed with the ``torch`` extra.
"""
from __future__ import annotations

import numpy as np

from ._validate import phi_values

__all__ = ["on_host", "namespace", "host", "to_host", "evaluate", "concat", "all_finite",
           "rows_not_finite", "NotOnDevice"]


class NotOnDevice(Exception):
    """``phi`` does not run on a chunk's device states (it raised, or returned something other
    than finite values of the states' library, device and shape ``(n,)``/``(n, k)``): the
    chunk is reduced on the host instead, where :func:`sdesim._validate.phi_values` names
    what is wrong, if anything."""


def on_host(a) -> bool:
    """Whether ``a`` is a numpy array or array_like (numbers, lists), not an array of another
    library (those support DLPack, ``__dlpack__``)."""
    return isinstance(a, (np.ndarray, np.generic)) or not hasattr(a, "__dlpack__")


def namespace(x):
    """``numpy`` for numpy arrays, else the array-API namespace of ``x``."""
    if isinstance(x, (np.ndarray, np.generic)):
        return np
    from array_api_compat import array_namespace
    return array_namespace(x)


def host(a):
    """``a`` as a numpy array (its own dtype) when it is an array of another library, on any
    device; anything else (numpy arrays, numbers, lists) unchanged."""
    if on_host(a):
        return a
    from array_api_compat import to_device
    return np.asarray(to_device(a, "cpu"))


def to_host(a) -> np.ndarray:
    """``a`` (an array of any library, on any device) as a numpy float64 array."""
    return np.asarray(host(a), dtype=float)


def all_finite(x) -> bool:
    """Whether every entry of ``x`` is finite (one reduction, the sum, and an entry-wise check
    only when the sum is not finite: finite entries near the float limit can sum to inf)."""
    if isinstance(x, np.ndarray):
        with np.errstate(over="ignore", invalid="ignore"):
            return bool(np.isfinite(x.sum()) or np.isfinite(x).all())
    xp = namespace(x)
    return bool(xp.isfinite(xp.sum(x)) or xp.all(xp.isfinite(x)))


def rows_not_finite(x) -> int:
    """Number of rows of ``x`` ``(n, d)`` with a non-finite entry."""
    xp = namespace(x)
    return int(xp.sum(~xp.all(xp.isfinite(x), axis=1)))


def concat(parts: list, axis: int):
    """``parts`` joined along ``axis`` in their own library (``np.concatenate`` for numpy)."""
    if on_host(parts[0]):
        return np.concatenate(parts, axis=axis)
    return namespace(parts[0]).concat(parts, axis=axis)


def evaluate(phi, x) -> tuple:
    """``phi(x)`` on states ``x`` ``(n, d)`` as ``(n, k)`` float64, and whether ``phi`` gave one
    value per path: :func:`sdesim._validate.phi_values` for numpy states; for a backend's device
    states, on the device.

    Raises
    ------
    NotOnDevice
        ``phi`` does not run on the device states (the class docstring): reduce on the host.
    ValueError
        On numpy states, as :func:`~sdesim._validate.phi_values`.

    Examples
    --------
    >>> import numpy as np
    >>> v, scalar = evaluate(lambda x: x[:, 0] ** 2, np.full((3, 2), 2.0))
    >>> v.shape, scalar
    ((3, 1), True)
    """
    if on_host(x):
        return phi_values(phi, x)
    xp = namespace(x)
    try:
        val = phi(x)
        same = namespace(val) is xp and val.device == x.device
    except Exception as exc:  # noqa: BLE001 - any failure: phi is for the host
        raise NotOnDevice(f"phi failed on {type(x).__name__} states: {exc!r:.200}") from None
    n = x.shape[0]
    scalar = same and val.ndim == 1 and val.shape[0] == n
    if not same or not (scalar or (val.ndim == 2 and val.shape[0] == n)):
        raise NotOnDevice("phi returned no array of its states' library, device and shape")
    val = xp.astype(xp.reshape(val, (n, -1)), xp.float64)
    if not bool(xp.all(xp.isfinite(val))):
        raise NotOnDevice("phi returned non-finite values")
    return val, scalar
