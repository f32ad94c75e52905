"""Backends step many paths at once; all follow one written contract (:mod:`.contract`).

- ``"numpy"``: the readable reference (:mod:`.numpy_backend`).
- ``"numba"``: compiled kernels with a fast in-kernel generator (:mod:`.xoshiro`), run over
  chunks of paths on several threads (:mod:`.numba_backend`).
- ``"numba-numpy-rng"``: the same kernels drawing from numpy's ``Generator``, for bitwise
  comparisons with ``"numpy"``.
- ``"torch"``: the step on torch tensors (CPU or CUDA) with counter-based Philox noise
  (:mod:`.torch_backend`; torch is imported only when it is asked for).

:func:`get_backend` returns the :class:`~.contract.Backend` object of a name, importing its
module on first use (numba is imported only when a numba backend is asked for). A new backend
is one module plus its line in :data:`_REGISTRY`.
"""
from __future__ import annotations

import importlib

from .contract import Backend
from .errors import SimulationDiverged

__all__ = ["BACKENDS", "Backend", "SimulationDiverged", "get_backend", "backend_options"]

#: name -> (module, attribute holding the Backend object)
_REGISTRY = {
    "numpy": ("numpy_backend", "NUMPY"),
    "numba": ("numba_backend", "NUMBA"),
    "numba-numpy-rng": ("numba_backend", "NUMPY_RNG"),
    "torch": ("torch_backend", "TORCH"),
}
BACKENDS = tuple(_REGISTRY)
#: name -> the options its ``prepare`` / ``prepare_exit`` take (keyword arguments of the public
#: functions, passed through only when given)
_OPTIONS = {"torch": ("device", "dtype")}


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (one of :data:`BACKENDS`).

    Raises
    ------
    ValueError
        Any other name.
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    module, attr = _REGISTRY[name]
    return getattr(importlib.import_module(f".{module}", __name__), attr)


def backend_options(name: str, **options) -> dict:
    """The options given (those not ``None``) for backend ``name``, to pass to its ``prepare``.

    Examples
    --------
    >>> backend_options("numba", device=None)
    {}

    Raises
    ------
    ValueError
        An option the backend does not take (``device=`` or ``dtype=`` with a backend other
        than ``"torch"``), naming it.
    """
    given = {k: v for k, v in options.items() if v is not None}
    for k, v in given.items():
        if k not in _OPTIONS.get(name, ()):
            takes = [b for b, opts in _OPTIONS.items() if k in opts]
            raise ValueError(f"{k}= is an option of backend={takes[0]!r} only, got {k}={v!r} "
                             f"with backend={name!r}")
    return given
