"""Euler–Maruyama for Itô SDEs driven by Brownian or α-stable Lévy noise: the numpy step and
the update every compiled kernel inlines."""
from __future__ import annotations

import numpy as np

from ..sde import NOISE_KINDS
from .base import UPDATE_LAYOUTS, Scheme

__all__ = ["EulerMaruyama"]


class EulerMaruyama(Scheme):
    """Euler–Maruyama: ``X_{k+1} = X_k + f(t_k, X_k) h + g(t_k, X_k) ΔL_k``.

    Properties
    ----------
    - Interpretation: Itô (the diffusion is evaluated at the start of the step, *before* the
      drift update — the textbook scheme; some peers evaluate it after).
    - Brownian driver: strong order 1/2, 1 for additive noise (:meth:`strong_order`: there EM
      coincides with Milstein); weak order 1 for smooth coefficients and test functions
      (Kloeden & Platen, Thms 10.2.2, 10.3.5 and 14.5.1).
    - α-stable driver, ``ΔL = h^{1/α} σ Z``: converges weakly; the order-1 expansion of
      Protter & Talay (1997) needs moments the stable law lacks, so the weak order depends on α
      and on the smoothness of the test function (docs/theory.md §C.6). The exact stationary law of
      the scheme on the stable OU process is known (``sdesim.exact.stable_ou_em_scale``).
    - Noise kinds: diagonal, scalar, general, additive.

    When to use: the reference scheme of the SDE view of SGD — SGD with Gaussian noise *is*
    EM at ``h = η`` (docs/theory.md §0.3).

    Algorithm: :meth:`step` (numpy backend), :meth:`step_linear_diag` (numpy, diagonal linear
    SDEs in place); the compiled kernels inline :meth:`kernel_step` with :meth:`kernel_update`
    for a user's ``f``/``g``, and ``kernel_linear_diag_*`` / :meth:`kernel_linear_dense_step`
    for linear SDEs — the same IEEE operations in the same order as the numpy step where the
    docstrings say so (so ``"numba-numpy-rng"`` reproduces ``"numpy"`` bit for bit there).

    Examples
    --------
    >>> import numpy as np, sdesim
    >>> sde = sdesim.ou(1.0, 1.0)
    >>> x = np.zeros((4, 1)); dW = np.full((4, 1), 0.1)
    >>> float(EulerMaruyama.step(sde, 0.0, x, 0.01, dW)[0, 0])
    0.1
    >>> EulerMaruyama.strong_order("additive"), EulerMaruyama.strong_order("diagonal")
    (1.0, 0.5)

    References
    ----------
    Maruyama (1955); Kloeden & Platen (1992), Numerical Solution of SDEs, §9.1, §10.2–10.3 and
    §14.1; Protter & Talay (1997), Ann. Probab. 25:393 (Lévy-driven Euler scheme).
    """

    name = "euler_maruyama"
    weak_order = 1.0

    @staticmethod
    def strong_order(noise: str) -> float:
        """Strong order for the noise kind ``noise``: 1 for additive noise, else 1/2.

        Raises
        ------
        ValueError
            ``noise`` not one of :data:`sdesim.sde.NOISE_KINDS`.
        """
        if noise not in NOISE_KINDS:
            raise ValueError(f"noise must be one of {NOISE_KINDS}, got {noise!r}")
        return 1.0 if noise == "additive" else 0.5

    @staticmethod
    def step(sde, t: float, x: np.ndarray, h: float, dL: np.ndarray) -> np.ndarray:
        """One EM step from ``x`` ``(n, d)`` with increments ``dL`` ``(n, m)``; returns ``(n, d)``."""
        noise = sde.noise_term(t, x, dL)
        x_new = x + h * sde.drift(t, x)
        x_new += noise
        return x_new

    @staticmethod
    def step_linear_diag(sde, x: np.ndarray, h: float, dL: np.ndarray,
                         tmp: np.ndarray) -> np.ndarray:
        """The same step for a diagonal :class:`~sdesim.sde.LinearSDE`, in place and allocation-free.

        ``x <- x (1 + h A) + h a + (B x + b) dL`` elementwise, with ``x``, ``dL`` and the work
        array ``tmp`` of shape ``(n, d)``. Terms whose coefficients are all zero are skipped
        (adding an exact zero changes nothing), so the common OU and GBM steps cost four
        array passes. :func:`kernel_linear_diag_update` performs the same IEEE operations in
        the same order.
        """
        nonzero = sde.nonzero
        if nonzero["B"]:
            np.multiply(x, sde.B, out=tmp)
            if nonzero["b"]:
                tmp += sde.b
            tmp *= dL
        else:
            np.multiply(dL, sde.b, out=tmp)
        x *= 1.0 + h * sde.A
        if nonzero["a"]:
            x += h * sde.a
        x += tmp
        return x

    @staticmethod
    def kernel_step(drift, diffusion, update):
        """The compiled kernels' EM step (:meth:`Scheme.kernel_step`): ``f`` first, then ``g``
        (both at the start of the step), then ``update``."""
        def step(t, x, inc, hl, gc, st):
            fx, ok = drift(t, x, st)
            if not ok:
                return False
            gx, ok = diffusion(t, x, inc, gc, st)
            if not ok:
                return False
            update(x, fx, gx, inc, hl)
            return True
        return step

    @staticmethod
    def kernel_update(layout: str):
        """``x <- x + hl fx + g·inc`` in place for the layout of ``g``
        (:data:`~sdesim.schemes.base.UPDATE_LAYOUTS`): ``update(x, fx, gx, inc, hl)``.

        Raises
        ------
        ValueError
            An unknown ``layout``.
        """
        if layout not in UPDATE_LAYOUTS:
            raise ValueError(f"layout must be one of {UPDATE_LAYOUTS}, got {layout!r}")
        return _UPDATES[layout]

    @staticmethod
    def kernel_linear_diag_coefficients(hl, A, a, c, ha):
        """The coefficients of :meth:`kernel_linear_diag_update` for a step ``hl``: ``c <-
        1 + hl A``, ``ha <- hl a`` (``A`` a row ``(1, d)``, ``a``, ``c``, ``ha`` of shape ``(d,)``)."""
        for p in range(c.shape[0]):
            c[p] = 1.0 + hl * A[0, p]
            ha[p] = hl * a[p]

    @staticmethod
    def kernel_linear_diag_update(xv, cp, hap, Bp, bp, inc):
        """One coordinate of the diagonal linear EM step, ``x (1 + hl A) + hl a + (B x + b) inc``,
        from that coordinate's coefficients ``cp = 1 + hl A_p``, ``hap = hl a_p`` (scalars: no
        array views in the hot loops); the operations of :meth:`step_linear_diag`."""
        return xv * cp + hap + (Bp * xv + bp) * inc

    @staticmethod
    def kernel_linear_dense_step(x, inc, hl, A, a, B, b, tmp):
        """In place ``x <- x + hl (A x + a) + Σ_j (B_j x + b_j) inc_j`` per path (``tmp``: a work
        row ``(d,)``); returns True if every new state is finite."""
        n, d = x.shape
        m = inc.shape[1]
        nan = 0.0  # accumulates v - v: 0 while every v is finite, NaN after an inf or NaN
        for i in range(n):
            for p in range(d):
                drift = 0.0
                for q in range(d):
                    drift += A[p, q] * x[i, q]
                noise = 0.0
                for j in range(m):
                    gj = b[j, p]
                    for q in range(d):
                        gj += B[j, p, q] * x[i, q]
                    noise += gj * inc[i, j]
                tmp[p] = x[i, p] + hl * (drift + a[p]) + noise
            for p in range(d):
                x[i, p] = tmp[p]
                nan += tmp[p] - tmp[p]
        return nan == 0.0


# ----------------------------------------------------------------------------- compiled parts
# Plain Python over float64 arrays; the numba backend compiles them (numba.njit(inline=...)).
def _update_rows(x, fx, gx, inc, hl):
    """Diagonal (``inc`` ``(n, d)``) or scalar (``inc`` ``(n, 1)``) noise, ``gx`` ``(n, d)``."""
    for i in range(x.shape[0]):
        for p in range(x.shape[1]):
            x[i, p] = x[i, p] + hl * fx[i, p] + gx[i, p] * inc[i, p if inc.shape[1] > 1 else 0]


def _update_general(x, fx, gx, inc, hl):
    for i in range(x.shape[0]):
        for p in range(x.shape[1]):
            s = 0.0
            for j in range(inc.shape[1]):
                s += gx[i, p, j] * inc[i, j]
            x[i, p] = x[i, p] + hl * fx[i, p] + s


def _update_vector(x, fx, gx, inc, hl):
    for i in range(x.shape[0]):
        for p in range(x.shape[1]):
            x[i, p] = x[i, p] + hl * fx[i, p] + inc[i, p] * gx[p]


def _update_matrix(x, fx, gx, inc, hl):
    for i in range(x.shape[0]):
        for p in range(x.shape[1]):
            s = 0.0
            for j in range(inc.shape[1]):
                s += inc[i, j] * gx[p, j]
            x[i, p] = x[i, p] + hl * fx[i, p] + s


_UPDATES = {"rows": _update_rows, "general": _update_general, "vector": _update_vector,
            "matrix": _update_matrix}
