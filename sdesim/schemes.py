"""One-step maps. Euler–Maruyama for Itô SDEs driven by Brownian or α-stable Lévy noise."""
from __future__ import annotations

import numpy as np

from .sde import SDE

__all__ = ["EulerMaruyama"]


class EulerMaruyama:
    """Euler–Maruyama: ``X_{k+1} = X_k + f(t_k, X_k) h + g(t_k, X_k) ΔL_k``.

    Properties
    ----------
    - Interpretation: Itô (the diffusion is evaluated at the start of the step, *before* the
      drift update — the textbook scheme; some peers evaluate it after).
    - Brownian driver: strong order 1/2 (1 for additive noise), weak order 1 for smooth
      coefficients and test functions (Kloeden & Platen, Thms 10.2.2 and 14.5.1).
    - α-stable driver, ``ΔL = h^{1/α} σ Z``: converges weakly; the order-1 expansion of
      Protter & Talay (1997) needs moments the stable law lacks, so the weak order depends on α
      and on the smoothness of the test function (docs/theory.md §C.6). The exact stationary law of
      the scheme on the stable OU process is known (``sdesim.exact.stable_ou_em_scale``).
    - Noise kinds: diagonal, scalar, general, additive.

    When to use: the reference scheme of the SDE view of SGD — SGD with Gaussian noise *is*
    EM at ``h = η`` (docs/theory.md §0.3).

    Examples
    --------
    >>> import numpy as np, sdesim
    >>> sde = sdesim.ou(1.0, 1.0)
    >>> x = np.zeros((4, 1)); dW = np.full((4, 1), 0.1)
    >>> float(EulerMaruyama.step(sde, 0.0, x, 0.01, dW)[0, 0])
    0.1

    References
    ----------
    Maruyama (1955); Kloeden & Platen (1992), Numerical Solution of SDEs, §9.1 and §14.1;
    Protter & Talay (1997), Ann. Probab. 25:393 (Lévy-driven Euler scheme).
    """

    strong_order = 0.5
    weak_order = 1.0

    @staticmethod
    def step(sde: SDE, t: float, x: np.ndarray, h: float, dL: np.ndarray) -> np.ndarray:
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
        array passes. The numba kernel performs the same IEEE operations in the same order.
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
