"""Weak error and weak order of a scheme, and the order fit with an honest confidence interval.

:func:`weak_order` simulates ``E g(X^h_T)`` on several step sizes and fits the weak order;
:func:`fit_order` fits a convergence order to given errors (or successive differences) with a
confidence interval that bounds the bias of the omitted terms of the error expansion.

What is where
-------------
``study.py``
    :func:`weak_order` and its result :class:`WeakOrderResult` (the study: simulate, form errors
    or differences, fit).
:func:`check_test_function_moments` (from :mod:`sdesim.moment_check`, which ``expectation``
    and ``expectation_levels`` call) refuses test functions with infinite Monte-Carlo variance
    under α-stable noise.
``fit.py``
    :func:`fit_order` and its result :class:`OrderFit`; its module docstring explains the method
    (truncation allowance, measured coverage).
``models.py``
    The error models ``C h^p (1 + D h + E h²)``, their GLS fit on one range of step sizes, and
    the truncation allowance.
``choice.py``
    The candidate fits of ``model="auto"`` (:class:`Candidate`) and the choice among them.
``verdict.py``
    Standard error, CI, status and cause (with its remedy) of the chosen fit.

Only the names below are public; the private names of these modules are shared within
``sdesim.weak`` only.

References
----------
Talay & Tubaro (1990), Stoch. Anal. Appl. 8:483; Kloeden & Platen (1992), *Numerical Solution of
SDEs*, §14.5; docs/theory.md §C.2, §C.6.
"""
from .choice import Candidate
from .fit import OrderFit, fit_order
from ..moment_check import check_test_function_moments
from .study import WeakOrderResult, weak_order

__all__ = ["weak_order", "WeakOrderResult", "fit_order", "OrderFit", "Candidate",
           "check_test_function_moments"]
