"""A user's callable in the form a backend can call from inside an SDE built around it.

Variance reduction builds new SDEs around a user's ``f``/``g`` (the mirrored SDE of
:mod:`.antithetic`, the augmented SDE of :mod:`.linearised`). Their functions call the user's:
on the numba backends they must call a compiled function (numba compiles a closure over a
compiled function, not over a Python one), elsewhere the plain one (the torch backend passes
tensors, the numpy backend runs whatever ``f``/``g`` are).
"""
from __future__ import annotations

import numpy as np

__all__ = ["callable_for"]


def callable_for(fn, backend: str, *probe_args):
    """``fn`` compiled with numba when ``backend`` is a numba backend and ``fn`` compiles on
    ``probe_args``, else ``fn`` itself (the numba backend then falls back to numpy, with its
    warning, exactly as for the plain SDE)."""
    if not backend.startswith("numba") or not callable(fn):
        return fn
    from ..backends.numba_user import COMPILE_ERRORS, compile_user
    try:
        compiled = compile_user(fn, "f/g")
        np.asarray(compiled(*probe_args))
    except COMPILE_ERRORS:
        return fn
    return compiled
