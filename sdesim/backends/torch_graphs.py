"""Blocks of Euler–Maruyama steps for a user's ``f``/``g`` on CUDA: Triton noise, CUDA graphs.

The plain torch loop (:mod:`.torch_backend`) pays a Python round trip and a dozen kernel
launches per step, and draws its Philox noise with int64 torch operations. Here a block of
``B`` steps is one unit: one launch of :func:`.torch_fused.normals_into` draws the block's
increments (the same counter-based stream), then the user's step runs ``B`` times. On a small
problem (at most :data:`GRAPH_WIDTH` path-dimensions) the block is captured once as a CUDA
graph (``torch.cuda.CUDAGraph``) and replayed, the block's first step and time read from
device tensors, so a step costs a few µs of graph replay instead of a Python round trip; on a
large one the block runs eagerly (the kernels are then large enough to hide the launches).

Time reaches ``f(t, x)`` and ``g(t, x)`` as a 0-d tensor on the device. An ``f`` or ``g`` that
cannot run that way (a Python ``float(t)``, a host sync) makes :func:`block_chunk` return
``None`` and the plain loop runs. Non-finite states are detected once, at the end, through a
running sum of the states; the plain loop then reruns the chunk to raise the error that names
the step.

References
----------
NVIDIA, CUDA C++ Programming Guide, "CUDA Graphs"; Kloeden & Platen (1992), §9.1 (EM).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .torch_fused import normals_into

__all__ = ["block_chunk", "GRAPH_WIDTH", "GRAPH_STEPS"]

#: Largest ``n * max(d, m)`` run as CUDA graphs; larger chunks run their blocks eagerly.
GRAPH_WIDTH = 2**16
#: Steps per captured block (each distinct block length is captured once per chunk).
GRAPH_STEPS = 128
_EAGER_WORK = 2**24  # path-dimension-steps of noise per eager block


class _Blocks:
    """The state, the device-side block position and the captured graphs of one chunk."""

    def __init__(self, model, x0, h, m, key, path_start):
        self.model, self.h, self.m, self.key, self.path_start = model, h, m, key, path_start
        dev, dt = model.device, model.dtype
        self.x = model.tensor(x0)
        self.q0 = torch.zeros((), dtype=torch.int64, device=dev)
        self.t0 = torch.zeros((), dtype=dt, device=dev)
        self.scale = torch.tensor(math.sqrt(h), dtype=dt, device=dev)
        self.total = torch.zeros((), dtype=dt, device=dev)  # non-finite iff a state was
        self.sums = torch.zeros(GRAPH_STEPS, dtype=dt, device=dev)  # per step of a block
        self.steps = torch.arange(GRAPH_STEPS, dtype=dt, device=dev) * h
        self.bufs, self.graphs = {}, {}

    def body(self, length: int) -> None:
        """``length`` EM steps from the block position held in ``q0``/``t0``."""
        m = self.m
        buf = self.bufs.get(length)
        if buf is None:
            buf = self.bufs[length] = torch.empty((self.x.shape[0], length * m),
                                                  dtype=self.x.dtype, device=self.x.device)
        normals_into(buf, self.key, self.path_start, self.q0, self.scale)
        ts = self.t0 + (self.steps[:length] if length <= GRAPH_STEPS else
                        torch.arange(length, dtype=self.x.dtype, device=self.x.device) * self.h)
        sums = self.sums if length <= GRAPH_STEPS else torch.zeros(
            length, dtype=self.x.dtype, device=self.x.device)
        y = self.x
        for k in range(length):
            y = self.model.step(ts[k], y, self.h, buf[:, k * m:(k + 1) * m])
            torch.sum(y, dim=(0, 1), out=sums[k])  # one launch: a non-finite state shows here
        self.total.add_(sums[:length].sum())
        self.x.copy_(y)

    def run(self, k0: int, length: int, graph: bool) -> None:
        """Steps ``k0 .. k0 + length - 1``, replaying (capturing first) a graph if asked."""
        self.q0.fill_(k0 * self.m)
        self.t0.fill_(k0 * self.h)
        if not graph:
            self.body(length)
            return
        g = self.graphs.get(length)
        if g is None:
            g = self.graphs[length] = self._capture(length)
        g.replay()

    def _capture(self, length: int):
        """Warm up on a side stream (Triton compiles, allocators settle), undo it, capture."""
        saved = self.x.clone(), self.total.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            self.body(length)
        torch.cuda.current_stream().wait_stream(side)
        self.x.copy_(saved[0])
        self.total.copy_(saved[1])
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            self.body(length)
        return g


def _pieces(n_fine: int, save_steps, size: int):
    """``(k0, k1, save)`` pieces of at most ``size`` steps, cut at every save step."""
    k0 = 0
    for end in list(save_steps) + [n_fine]:
        while k0 < end:
            k1 = min(end, k0 + size)
            yield k0, k1, k1 in save_steps
            k0 = k1


def block_chunk(model, sde, x0: np.ndarray, h: float, n_fine: int, save_steps, key,
                path_start: int = 0, keep_nonfinite: bool = False, *, graph=None, size=None):
    """One level of ``n`` paths over ``n_fine`` steps of the EM step of ``model`` (the torch
    backend's ``f``/``g`` on tensors), in blocks (module docstring).

    Parameters
    ----------
    model : the torch backend's model (``device``, ``dtype``, ``tensor``, ``step(t, x, h, dW)``)
    sde : the SDE (its ``m``); x0 : ``(n, d)`` numpy or a tensor (then updated in place);
    h : step; n_fine : steps
    save_steps : increasing steps ``>= 1`` (S,); key : the run's two 32-bit Philox keys
    path_start : run index of the first path; keep_nonfinite : keep inf/NaN states
    graph : capture CUDA graphs (default: when ``n * max(d, m) <=`` :data:`GRAPH_WIDTH`)
    size : steps per block (default :data:`GRAPH_STEPS` with graphs, else about 2^24 / (n d))

    Returns
    -------
    ``(S, n, d)`` states at ``save_steps``, a tensor on the device in the run's dtype, or
    ``None`` when the plain loop must run (a
    step that cannot run on tensors in a graph, or a non-finite state with
    ``keep_nonfinite=False``).
    """
    n, d = x0.shape
    m = sde.m
    graph = n * max(d, m) <= GRAPH_WIDTH if graph is None else graph
    if size is None:
        size = GRAPH_STEPS if graph else max(1, _EAGER_WORK // (n * max(d, m)))
    saves = [int(s) for s in save_steps]
    out = torch.empty((len(saves), n, d), dtype=model.dtype, device=model.device)
    blocks = _Blocks(model, x0, h, m, key, path_start)
    s = 0
    with torch.no_grad():
        for k0, k1, save in _pieces(n_fine, saves, size):
            try:
                blocks.run(k0, k1 - k0, graph)
            except Exception:  # noqa: BLE001 - not capturable: the plain loop runs instead
                return None
            if save:
                out[s] = blocks.x
                s += 1
    if not keep_nonfinite and not bool(torch.isfinite(blocks.total)):
        return None
    return out
