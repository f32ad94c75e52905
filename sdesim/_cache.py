"""A bounded memo for compiled kernels keyed on user callables.

Kernels compiled for a user's ``f``/``g`` (or an oracle's gradient) are kept so that the next
call with the same functions reuses them; a session that builds many SDEs (a sweep over fresh
lambdas) must not keep every kernel alive, so the memo drops the least recently used entry
beyond ``maxsize``.
"""
from __future__ import annotations

from collections import OrderedDict

__all__ = ["BoundedCache"]


class BoundedCache(OrderedDict):
    """A dict of at most ``maxsize`` entries; reading or writing an entry makes it the most
    recent, and the least recent one is dropped when a new entry would exceed ``maxsize``.

    Examples
    --------
    >>> c = BoundedCache(2)
    >>> c["a"], c["b"] = 1, 2
    >>> c["a"]
    1
    >>> c["c"] = 3
    >>> sorted(c)
    ['a', 'c']
    """

    def __init__(self, maxsize: int = 64):
        super().__init__()
        self.maxsize = int(maxsize)

    def __getitem__(self, key):
        value = super().__getitem__(key)
        self.move_to_end(key)
        return value

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)
