"""What chunk tasks carry to worker processes, and what they must not carry back out.

- :func:`by_content`: a handle on an object (the user's SDE) that travels as its cloudpickled
  bytes and resolves, in each process, to one cached copy per content. A compiled backend keeps
  the kernels of a user's ``f``/``g`` keyed on the functions themselves
  (:mod:`sdesim.backends.numba_user`): a worker that got a fresh copy of the SDE with every run
  (or from every other worker) would compile it again each time, seconds each; with the handle
  it compiles once per process.
- :class:`ProcessLocal`: a dict of what a task prepared in its own process (compiled kernels):
  it pickles with its keys but None values, so that a task object that Dask ships on from one
  worker to another never carries compiled code (numba would rebuild and recompile it there).
"""
from __future__ import annotations

from .._cache import BoundedCache

__all__ = ["by_content", "ByContent", "ProcessLocal"]

_LOADED = BoundedCache(16)  # pickled bytes -> the object, in each process


class ByContent:
    """A handle on ``obj``: ``handle.obj`` is the object itself in the process that made the
    handle and, elsewhere, the one copy of this process for the same pickled bytes."""

    def __init__(self, obj=None, blob: bytes | None = None):
        self._obj, self._blob = obj, blob

    @property
    def obj(self):
        if self._obj is None:
            if self._blob not in _LOADED:
                import cloudpickle
                _LOADED[self._blob] = cloudpickle.loads(self._blob)
            self._obj = _LOADED[self._blob]
        return self._obj

    def __reduce__(self):
        if self._blob is None:
            import cloudpickle
            self._blob = cloudpickle.dumps(self._obj)
        return ByContent, (None, self._blob)


def by_content(obj) -> ByContent:
    """A :class:`ByContent` handle on ``obj`` (pickled with cloudpickle when first shipped).

    Examples
    --------
    >>> import pickle
    >>> h = by_content([1, 2])
    >>> copies = [pickle.loads(pickle.dumps(h)).obj for _ in range(2)]
    >>> h.obj, copies[0] == [1, 2], copies[0] is copies[1]
    ([1, 2], True, True)
    """
    return ByContent(obj)


class ProcessLocal(dict):
    """A dict whose pickle keeps its keys with None values (what was prepared in one process
    stays there).

    Examples
    --------
    >>> import pickle
    >>> pickle.loads(pickle.dumps(ProcessLocal(kernel=len)))
    {'kernel': None}
    """

    def __reduce__(self):
        return ProcessLocal, (dict.fromkeys(self),)
