"""The torch backend's CUDA fast paths, chosen per chunk.

:func:`fast_chunk` runs a chunk through the fastest path that fits, or returns ``None`` so
that the plain torch loop runs it:

1. a diagonal linear SDE with a Brownian driver (:func:`sdesim.ou`, :func:`sdesim.gbm`,
   diagonal ``sdesim.linear``), plain or coupled levels: one fused Triton launch
   (:func:`.torch_fused.linear_chunk`);
2. any other SDE with a Brownian driver that the torch backend runs, one level: blocks of steps with Triton noise, as CUDA
   graphs on small problems (:func:`.torch_graphs.block_chunk`);
3. otherwise (coupled levels of a user's ``f``/``g``, α-stable drivers, CPU tensors, a step that cannot be
   captured, a non-finite state to report): ``None``.

Every path draws the same counter-based stream as the plain loop, so a result still depends
only on ``(seed, path index, step)``, never on the chunk size or the path taken.
"""
from __future__ import annotations

import numpy as np
import torch

from ..drivers import Brownian
from .torch_fused import linear_chunk, supports_linear
from .torch_graphs import block_chunk

__all__ = ["fast_chunk"]


def fast_chunk(model, sde, x0: np.ndarray, h: float, n_fine: int, ratios, save_steps, key,
               path_start: int = 0, keep_nonfinite: bool = False, progress=None, *,
               as_tensor: bool = False):
    """``(L, S, n, d)`` states of the chunk (as :meth:`Backend.run_chunk`): numpy float64, or
    with ``as_tensor`` a float64 tensor on the device; or ``None``.

    ``model``: the torch backend's model of ``sde`` (``device``, ``dtype``, ``tensor``,
    ``step``); ``key``: the run's two 32-bit Philox keys; ``x0`` may be a broadcast view (row
    stride 0), which crosses to the device as one row; the rest as ``run_chunk``.
    """
    if model.device.type != "cuda":
        return None
    n, d = x0.shape
    save_steps = np.asarray(save_steps, dtype=np.int64)
    L, S = len(ratios), len(save_steps)
    first = int(S > 0 and save_steps[0] == 0)
    start = model.rows(x0)
    if supports_linear(sde, model.dtype):
        states, bad = linear_chunk(sde, start.to(model.dtype), h, n_fine, ratios,
                                   save_steps[first:], key, path_start)
        if int(bad.item()) and not keep_nonfinite:
            return None
    elif L == 1 and int(ratios[0]) == 1 and isinstance(sde.driver, Brownian):
        x = start.to(model.dtype).clone(memory_format=torch.contiguous_format)  # stepped in place
        states = block_chunk(model, sde, x, h, n_fine,
                             save_steps[first:], key, path_start, keep_nonfinite)
        if states is None:
            return None
        states = states[None]
    else:
        return None
    if progress is not None:
        progress(n * n_fine)
    if as_tensor:
        out = torch.empty((L, S, n, d), dtype=torch.float64, device=model.device)
        out[:, first:] = states
        out[:, :first] = start
        return out
    out = np.empty((L, S, n, d))
    out[:, :first] = x0
    host = torch.empty(states.shape, dtype=states.dtype, pin_memory=True)
    out[:, first:] = host.copy_(states).numpy()  # pinned, in the run's dtype: half the bytes
    return out

