"""The numpy backend: the readable reference implementation of the backend contract."""
from __future__ import annotations

import numpy as np

from ..schemes import EulerMaruyama
from ..sde import LinearSDE
from .common import step_blocks
from .contract import Backend, ExitChunk
from .errors import SimulationDiverged

__all__ = ["NumpyBackend", "NUMPY", "run_chunk"]


class NumpyBackend(Backend):
    """The scheme's numpy step on whole chunks (:class:`~.contract.Backend`).

    Runs every SDE and every domain; nothing to prepare (:meth:`prepare` returns True).
    Diagonal linear problems (OU, GBM) take the in-place step
    :meth:`EulerMaruyama.step_linear_diag`; everything else the general
    :meth:`EulerMaruyama.step`. ``f`` and ``g`` are checked at every call by
    :meth:`sdesim.SDE.drift` and :meth:`sdesim.SDE.diffusion`, so nothing broadcasts.
    """

    name = "numpy"
    parallel = False  # chunks run one after another

    def __repr__(self) -> str:
        return "NumpyBackend()"

    def prepare(self, sde, probe, *, quiet=True):
        return True

    def prepare_exit(self, sde, probe, domain, *, quiet=True):
        return True

    def run_chunk(self, sde, x0, h, n_fine, ratios, save_steps, rng, keep_nonfinite=False, *,
                  progress=None, kernel=None):
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

    def exit_chunk(self, sde, x0, h, n_max, domain, rng, *, kernel=None) -> ExitChunk:
        """Step the alive paths, classify them (``domain.classify``), drop the exited."""
        n, d = x0.shape
        out = ExitChunk(np.full(n, -1, dtype=np.int64), np.array(x0, dtype=float),
                        np.full(n, -1, np.int64), np.zeros(n, np.int64))
        idx, x, start = np.arange(n), out.position.copy(), out.position.copy()

        def sweep(k):
            nonlocal idx, x
            ax, sd = domain.classify(x, start[idx])
            gone = ax >= 0
            j = idx[gone]
            out.steps[j], out.axis[j], out.side[j] = k, ax[gone], sd[gone]
            out.position[j] = x[gone]
            idx, x = idx[~gone], x[~gone]

        sweep(0)
        for k in range(n_max):
            if idx.size == 0:
                break
            inc = sde.driver.increments(rng, h, (idx.size, sde.m))
            with np.errstate(over="ignore", invalid="ignore"):
                x = EulerMaruyama.step(sde, k * h, x, h, inc)
            sweep(k + 1)
        out.position[idx] = x
        return out


NUMPY = NumpyBackend()
run_chunk = NUMPY.run_chunk
