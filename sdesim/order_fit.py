"""Deprecated: the order fit moved to :mod:`sdesim.weak` (``from sdesim.weak import fit_order``).

This module only re-exports :func:`sdesim.weak.fit_order`, :class:`sdesim.weak.OrderFit` and
:class:`sdesim.weak.Candidate`, and warns on import.
"""
import warnings

from .weak import Candidate, OrderFit, fit_order

warnings.warn("sdesim.order_fit is deprecated: import fit_order and OrderFit from sdesim.weak "
              "(from sdesim.weak import fit_order)", DeprecationWarning, stacklevel=2)

__all__ = ["OrderFit", "Candidate", "fit_order"]
