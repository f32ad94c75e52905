"""First exits on the torch backend: EM paths stepped until they leave a Box or a Ball.

The increments are the run's counter-based ones (:meth:`.torch_model.TorchModel.increments`):
path ``i`` at step ``k`` gets the increment it gets in :func:`sdesim.simulate` with the same
seed, so an exit time is the first exit of the very path ``simulate`` returns, and results do
not depend on the chunk size. Paths that have left are dropped; the alive ones draw their noise
a block of :data:`EXIT_BLOCK` steps at a time. The exit axis and side follow
:class:`~.contract.DomainArrays`.
"""
from __future__ import annotations

import numpy as np
import torch

from .contract import BOX, DomainArrays, ExitChunk

__all__ = ["exit_chunk", "classify", "EXIT_BLOCK"]

#: Steps of noise drawn at a time for the alive paths (a short block: paths leave during it).
EXIT_BLOCK = 64


def classify(x: "torch.Tensor", arrays: DomainArrays, model) -> tuple:
    """``(axis, side)`` int64 tensors ``(n,)`` of states ``x`` ``(n, d)``: ``-1`` and ``0``
    inside the domain ``arrays`` (rules of :class:`~.contract.DomainArrays`)."""
    rows = torch.arange(x.shape[0], device=x.device)
    nan = torch.isnan(x)
    if arrays.code == BOX:
        lo, hi = model.tensor(arrays.lo), model.tensor(arrays.hi)
        viol = torch.where(nan, torch.inf, torch.maximum(lo - x, x - hi))
        axis = torch.argmax(viol, dim=1)
        out = viol[rows, axis] >= 0
        side = torch.where(x[rows, axis] >= hi[axis], 1, -1)
    else:
        dx = x - model.tensor(arrays.center)
        out = ~((dx * dx).sum(dim=1) < arrays.r2)
        axis = torch.argmax(torch.where(nan, torch.inf, dx.abs()), dim=1)
        side = torch.sign(dx[rows, axis]).to(torch.int64)
    return torch.where(out, axis, -1), torch.where(out, side, 0)


def exit_chunk(model, x0: np.ndarray, h: float, n_max: int, arrays: DomainArrays, key,
               path_start: int) -> ExitChunk:
    """First exits of the chunk's paths (global indices ``path_start + p``) from ``x0`` ``(n, d)``,
    checked at the start and after every step, censored after ``n_max`` steps."""
    n = x0.shape[0]
    dev = model.device
    steps = torch.full((n,), -1, dtype=torch.int64, device=dev)
    axes = torch.full((n,), -1, dtype=torch.int64, device=dev)
    sides = torch.zeros(n, dtype=torch.int64, device=dev)
    position = model.tensor(x0)
    alive = torch.arange(n, device=dev)
    x = position.clone()

    def sweep(k, x, alive, rows):
        ax, sd = classify(x, arrays, model)
        gone = ax >= 0
        j = alive[gone]
        steps[j], axes[j], sides[j], position[j] = k, ax[gone], sd[gone], x[gone]
        keep = ~gone
        return x[keep], alive[keep], rows[keep]

    with torch.no_grad():
        x, alive, _ = sweep(0, x, alive, alive)
        for k0 in range(0, n_max, EXIT_BLOCK):
            if alive.numel() == 0:
                break
            k1 = min(n_max, k0 + EXIT_BLOCK)
            noise = model.increments(key, path_start + alive, k0, k1, h)
            rows = torch.arange(alive.numel(), device=dev)
            for k in range(k0, k1):
                x = model.step(k * h, x, h, noise[rows, k - k0])
                x, alive, rows = sweep(k + 1, x, alive, rows)
                if alive.numel() == 0:
                    break
        position[alive] = x
    return ExitChunk(steps.cpu().numpy(), position.to("cpu", torch.float64).numpy(),
                     axes.cpu().numpy(), sides.cpu().numpy())
