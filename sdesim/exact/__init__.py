"""Exact results for linear SDEs and linear recursions (zero Monte Carlo noise).

Everything here is deterministic and exact up to floating-point rounding. Tests and the
validation suite use these functions as references: the Ornstein–Uhlenbeck (OU) mean and
covariance, the stationary covariance from a Lyapunov equation, the exact first and second
moments of a general linear SDE *and* of its Euler–Maruyama (EM) chain, SGD on a quadratic, and
the α-stable OU process. Every function is importable from here (``sdesim.exact.ou_mean``).

What is where
-------------
- :mod:`sdesim.exact.ou`: ``ou_mean``, ``ou_cov``, ``ou_stationary_cov`` (continuous OU,
  Van Loan integrals and the continuous Lyapunov equation) and ``linear_moments`` (mean and
  second moment of a general linear SDE).
- :mod:`sdesim.exact.em_chain`: ``em_chain_moments`` (EM chain of a general linear SDE),
  ``ou_em_chain_moments``, ``ou_em_stationary_cov`` (EM chain of OU, discrete Lyapunov).
- :mod:`sdesim.exact.sgd_quadratic`: ``sgd_quadratic_moments``, ``sgd_stationary_cov`` (SGD on
  a quadratic), ``sde_stationary_cov`` (its SDE) and ``sgd_quadratic_cumulants`` (mean,
  covariance and third cumulant of SGD, SVAG and the naive amplification, as ``Cumulants``).
- :mod:`sdesim.exact.stable_ou`: ``stable_ou_scale``, ``stable_ou_em_scale``,
  ``stable_ou_charfn`` (the α-stable OU law and its EM chain).
- :mod:`sdesim.exact.exit_times`: ``getoor_mean_exit_time``, ``diffusion_mean_exit_time``,
  ``kramers_time``, ``stable_tail_constant``, ``big_jump_rate``, ``scheduler_survival``,
  ``GOBET_SHIFT`` (exit-time formulas, the references of ``sdesim.escape``).
- ``Moments``, the result type (``mean``, ``second``, ``cov``), is in ``_moments``; the
  private ``_matrix`` (matrix cores: Van Loan, Lyapunov, vec/Kronecker) and ``_checks``
  (input checks) serve the modules above.

Sign conventions (fixed across sdesim):

- OU problem ``sdesim.ou(A, B)``: ``dX = -A X dt + B dW``, ``A`` of shape ``(d, d)``, ``B`` of shape
  ``(d, m)``.
- General linear problem ``sdesim.linear(A, B_list, a=a, b_list=b_list)``:
  ``dX = (A X + a) dt + sum_j (B_j X + b_j) dW_j``, j = 1..m, with ``A, B_j`` of shape
  ``(d, d)`` and ``a, b_j`` of shape ``(d,)``. Geometric Brownian motion is d = 1 with
  ``A = [[mu]]``, ``B_list = [[[sigma]]]``.
- SGD on ``L(x) = (x - x*)^T H (x - x*) / 2`` with learning rate ``lr`` and gradient-noise
  covariance ``Sigma``: ``x_{k+1} = x_k - lr H (x_k - x*) + lr xi_k``, ``Cov xi_k = Sigma``.
  This is EM with step ``h = lr`` for the OU problem ``A = H``, ``B B^T = lr Sigma``
  (docs/theory.md §0.3 and §C.1).
- Standard SαS law: characteristic function ``exp(-|u|^alpha)``; at alpha = 2 it is
  ``N(0, 2)``, so a scale ``c`` corresponds to the variance ``2 c**2`` (docs/theory.md §0.5).

Everything is Itô.

Example
-------
>>> import sdesim
>>> round(float(sdesim.exact.ou_stationary_cov([[2.0]], [[1.0]])[0, 0]), 6)
0.25

References
----------
docs/theory.md §C.1 (OU, continuous and discrete; SGD on a quadratic), §C.2 (EM weak error in closed
form), §C.6 (stable OU, exact). C. F. Van Loan, "Computing integrals involving the matrix
exponential", IEEE Trans. Automat. Control 23 (1978) 395–404. P. E. Kloeden and E. Platen,
*Numerical Solution of Stochastic Differential Equations* (1992), §4.8 (moment equations of
linear SDEs).
"""
from ._moments import Moments
from .em_chain import em_chain_moments, ou_em_chain_moments, ou_em_stationary_cov
from .exit_times import (GOBET_SHIFT, big_jump_rate, diffusion_mean_exit_time,
                         getoor_mean_exit_time, kramers_time, scheduler_survival,
                         stable_tail_constant)
from .ou import linear_moments, ou_cov, ou_mean, ou_stationary_cov
from .sgd_quadratic import (Cumulants, sde_stationary_cov, sgd_quadratic_cumulants,
                            sgd_quadratic_moments, sgd_stationary_cov)
from .stable_ou import stable_ou_charfn, stable_ou_em_scale, stable_ou_scale

__all__ = [
    "Moments",
    "ou_mean",
    "ou_cov",
    "ou_stationary_cov",
    "linear_moments",
    "em_chain_moments",
    "ou_em_chain_moments",
    "ou_em_stationary_cov",
    "sgd_quadratic_moments",
    "sgd_quadratic_cumulants",
    "Cumulants",
    "sgd_stationary_cov",
    "sde_stationary_cov",
    "stable_ou_scale",
    "stable_ou_em_scale",
    "stable_ou_charfn",
    "getoor_mean_exit_time",
    "diffusion_mean_exit_time",
    "kramers_time",
    "stable_tail_constant",
    "big_jump_rate",
    "scheduler_survival",
    "GOBET_SHIFT",
]
