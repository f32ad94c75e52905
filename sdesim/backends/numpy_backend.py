"""The numpy backend: the readable reference implementation of the backend contract."""
from __future__ import annotations

import numpy as np

from ..schemes import EulerMaruyama
from ..sde import LinearSDE
from .common import SimulationDiverged, step_blocks

__all__ = ["run_chunk", "parallel"]

parallel = False  # chunks run one after another


def run_chunk(sde, x0, h, n_fine, ratios, save_steps, rng, keep_nonfinite=False, progress=None):
    """Run Euler–Maruyama on one chunk; see :mod:`sdesim.backends.common` for the contract.

    Returns ``(L, S, n, d)``. Raises :class:`SimulationDiverged` unless ``keep_nonfinite``, and
    :meth:`sdesim.SDE.shape_error` when ``f`` or ``g`` returns a wrong shape (checked at every
    call by :meth:`sdesim.SDE.drift` and :meth:`sdesim.SDE.diffusion`, so nothing broadcasts).
    Diagonal linear problems (OU, GBM) take the in-place step
    :meth:`EulerMaruyama.step_linear_diag`; everything else the general :meth:`EulerMaruyama.step`.
    """
    n, d = x0.shape
    L, S = len(ratios), len(save_steps)
    in_place = isinstance(sde, LinearSDE) and sde.form == "diag"
    xs = [x0.copy() for _ in ratios]
    acc = [np.zeros((n, sde.m)) if r > 1 else None for r in ratios]
    buf = np.empty((n, sde.m))
    tmp = np.empty((n, d)) if in_place else None
    out = np.empty((L, S, n, d))
    s = 0
    if S and save_steps[0] == 0:
        out[:, 0] = x0
        s = 1
    for k0, k1 in step_blocks(n_fine, n, d, sde.m, L):
        for k in range(k0, k1):
            dL = sde.driver.increments(rng, h, (n, sde.m), out=buf)
            for lev, r in enumerate(ratios):
                if r == 1:
                    inc = dL
                else:
                    acc[lev] += dL
                    if (k + 1) % r:
                        continue
                    inc = acc[lev]
                hl = r * h
                kl = (k + 1) // r - 1
                with np.errstate(over="ignore", invalid="ignore"):  # reported below, by step
                    if in_place:
                        x = EulerMaruyama.step_linear_diag(sde, xs[lev], hl, inc, tmp)
                    else:
                        x = EulerMaruyama.step(sde, kl * hl, xs[lev], hl, inc)
                if not keep_nonfinite and not np.isfinite(x.sum()):
                    n_bad = int(np.sum(~np.all(np.isfinite(x), axis=1)))
                    if n_bad:
                        raise SimulationDiverged(kl + 1, (kl + 1) * hl, n_bad, n, hl)
                xs[lev] = x
                if r > 1:
                    acc[lev][:] = 0.0
            if s < S and save_steps[s] == k + 1:
                for lev in range(L):
                    out[lev, s] = xs[lev]
                s += 1
        if progress is not None:
            progress(n * (k1 - k0))
    return out
