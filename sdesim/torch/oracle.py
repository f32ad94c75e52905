"""Deep-net oracles: an ``nn.Module``, a per-example loss and a finite data set as a loss oracle.

:class:`TorchOracle` implements the oracle protocol of :mod:`sdesim.sgd` on torch tensors. The
state is the flat vector of the model's *trainable* parameters (``requires_grad=True``, in
``named_parameters()`` order); frozen parameters and buffers are constants. Every method is
vectorised over paths: ``x`` has shape ``(n, d)`` and each row is one independent network,
evaluated with ``torch.func.functional_call`` under ``torch.func.vmap``, so 256 or 1024 runs of a
small net are one batched computation.

Everything is a gradient of a *re-weighted* loss ``Σ_i w_i ℓ_i(x)`` over examples ``i``
(:meth:`TorchOracle.weighted_grad`), one forward-backward pass per call:

===============================  =============================================================
method                           weights
===============================  =============================================================
``grad``                         ``w_i = 1/N`` over the whole data set
``sample_grad``                  ``w = 1/B`` on a minibatch of B indices (with/without replacement)
``sample_grad_mix`` (SVAG)       ``w = c_j/B`` on the concatenation of independent minibatches γ_j
``gaussian_grad`` (NGD)          ``w_i = δ_i/N``, ``δ_i = 1 + c (z_i - z̄)``, ``c² = N f_B``
``noise_product(x, v, B)``       ``w_i = c (v_i - v̄)/N``: ``G(x) v`` with ``G Gᵀ = Σ_B(x)``
===============================  =============================================================

``f_B = 1/B`` with replacement and ``(N-B)/((N-1)B)`` without (docs/theory.md §0.1), so the NGD
gradient is exactly Gaussian with mean ∇L and covariance Σ_B, and ``G`` is a ``d × N`` square
root of Σ_B that is never formed (docs/theory.md §A.3): no ``d × d`` matrix anywhere.
:meth:`~TorchOracle.per_example_grads` (``vmap(grad(...))`` over examples) gives the per-sample
gradients where they are asked for (Tr Σ, tests).

Per-example independence. The weights above are only meaningful when the loss of example
``i`` depends on example ``i`` alone. **BatchNorm** (in training mode) normalises with the
statistics of the whole batch and couples the examples, so a model with a BatchNorm layer is
refused; use **GroupNorm** or **LayerNorm** (per-example statistics), as LMA's NGD experiments do.

Randomness. Minibatch indices and Gaussian weights are drawn on the model's device by a torch
generator seeded, at each call, by one draw from the numpy ``rng`` the recursion passes, so a
run depends on the seed alone (chunking as in :func:`sdesim.sgd.run`).

References
----------
Li, Malladi & Arora (2021), eqs. (1), (3), (5), §5 and their NGD on a fixed subset with
per-example loss weights; docs/theory.md §0.1, §A.3.
"""
from __future__ import annotations

import functools
import math
import threading

import numpy as np
import torch
from torch.func import functional_call, grad, vmap

from ..sgd import Oracle

__all__ = ["TorchOracle", "batchnorm_layers"]

_MAX_ROWS = 2**22  # path-examples per forward pass (longer passes are split over examples)
_MAX_GRADS = 2**25  # entries of one block of per-sample gradients (noise_trace)


#: One lock for every oracle: ``functional_call`` swaps a module's parameters while it runs and
#: the seeded generator is shared, so two threads inside one oracle would mix their
#: parameters and batches (wrong numbers, a module left holding vmapped tensors).
_LOCK = threading.RLock()


def _serialised(method):
    """Run ``method`` holding :data:`_LOCK` (threads executor: correct, not parallel)."""
    @functools.wraps(method)
    def locked(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)
    return locked


def batchnorm_layers(model: torch.nn.Module) -> list[str]:
    """Names of the BatchNorm layers of ``model`` (they couple the examples of a batch).

    Examples
    --------
    >>> import torch
    >>> batchnorm_layers(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2)))
    ['1']
    """
    return [name for name, m in model.named_modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


class TorchOracle(Oracle):
    """A network, a per-example loss and a data set ``(inputs, targets)`` as an SGD oracle.

    ``L(x) = (1/N) Σ_i ℓ(model_x(inputs_i), targets_i)`` over the ``N`` examples given (pass a
    fixed subset for a large data set: LMA's NGD does the same). See the module docstring for the
    methods and the weights they use.

    Parameters
    ----------
    model : torch.nn.Module
        Without BatchNorm (GroupNorm/LayerNorm instead). Its trainable parameters are the state;
        its current values are :attr:`x0`.
    loss_fn : callable ``loss_fn(outputs, targets) -> (M,)``
        Per-example losses (``reduction="none"``), e.g.
        ``torch.nn.CrossEntropyLoss(reduction="none")``.
    data : tuple ``(inputs, targets)`` of tensors
        ``N`` examples along the first axis, on the model's device; floating inputs in the
        model's dtype.
    replacement : bool, default True
        Minibatches with or without replacement (the without-replacement factor enters Σ).
    max_rows : int, optional
        Path-examples per forward pass (default ``2**22``); full-data passes over many paths are
        split over examples to bound memory.

    Attributes
    ----------
    d, n_examples, replacement
        As for every oracle (:class:`sdesim.sgd.Oracle`).
    device, dtype : torch.device, torch.dtype
        The model's.
    x0 : ndarray (d,)
        The model's trainable parameters, flattened (float64).
    noise_dim : int
        ``N``, the number of columns of the noise factor ``G`` (:meth:`noise_product`).

    Raises
    ------
    TypeError
        ``model`` not an ``nn.Module``; ``data`` not a pair of tensors; ``loss_fn`` not callable.
    ValueError
        Naming the argument: BatchNorm in ``model`` (which layers); parameters of several
        dtypes or devices (``model``); ``data`` on another device than the model, inputs of
        another dtype, or inputs and targets of different lengths; ``loss_fn`` not returning one
        loss per example; no trainable parameters.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sdesim.torch import TorchOracle
    >>> torch.manual_seed(0)
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    >>> data = (torch.randn(20, 3), torch.randint(0, 2, (20,)))
    >>> orc = TorchOracle(net, torch.nn.CrossEntropyLoss(reduction="none"), data)
    >>> x = np.stack([orc.x0, orc.x0])              # two copies of the net, (2, d)
    >>> orc.d, tuple(orc.grad(x).shape)
    (26, (2, 26))
    """

    def __init__(self, model: torch.nn.Module, loss_fn, data, *, replacement: bool = True,
                 max_rows: int = _MAX_ROWS):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        bn = batchnorm_layers(model)
        if bn:
            raise ValueError(
                f"model has BatchNorm layers {bn}: BatchNorm normalises with the statistics of "
                f"the whole batch, so the loss of one example depends on the others and the "
                f"per-example noise (NGD's per-example weights, the SDE's noise product, "
                f"per-sample gradients, runs vmapped over parameter vectors) is not defined; "
                f"use torch.nn.GroupNorm or torch.nn.LayerNorm instead")
        dropout = [name for name, m in model.named_modules()
                   if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.training]
        if dropout:
            raise ValueError(
                f"model has Dropout layers {dropout} in training mode: their random masks are "
                f"a second noise besides the minibatch's, and torch.func.vmap over runs cannot "
                f"draw them; call model.eval() first (or remove them)")
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable loss_fn(outputs, targets) -> (M,), got "
                            f"{type(loss_fn).__name__}")
        self.model, self.loss_fn = model, loss_fn
        self._names, self._shapes = [], []
        self._frozen = {}
        for name, p in model.named_parameters():
            if p.requires_grad:
                self._names.append(name)
                self._shapes.append(p.shape)
            else:
                self._frozen[name] = p.detach()
        tensors = [p for _, p in model.named_parameters()]
        if not self._names:
            raise ValueError("model must have trainable parameters (requires_grad=True), got none")
        dtypes = {p.dtype for p in tensors}
        devices = {p.device for p in tensors}
        if len(dtypes) > 1 or len(devices) > 1:
            raise ValueError(f"model's parameters must share one dtype and one device, got "
                             f"dtypes {sorted(map(str, dtypes))} on {sorted(map(str, devices))}")
        self.dtype, self.device = tensors[0].dtype, tensors[0].device
        self._buffers = {n: b.detach() for n, b in model.named_buffers()}
        self.inputs, self.targets = self._check_data(data)
        self._sizes = [math.prod(s) for s in self._shapes]
        self.d = sum(self._sizes)
        self.n_examples = int(self.inputs.shape[0])
        self.replacement = bool(replacement)
        self.noise_dim = self.n_examples
        self.max_rows = int(max_rows)
        self._gen = torch.Generator(device=self.device)
        self._check_loss_fn()

    # ------------------------------------------------------------------ checks
    def _check_data(self, data):
        if not (isinstance(data, (tuple, list)) and len(data) == 2
                and all(isinstance(t, torch.Tensor) for t in data)):
            raise TypeError(f"data must be a pair (inputs, targets) of torch tensors, got "
                            f"{type(data).__name__}")
        inputs, targets = data
        for what, t in (("inputs", inputs), ("targets", targets)):
            if t.device != self.device:
                raise ValueError(f"data {what} must be on the model's device {self.device}, got "
                                 f"{t.device} (move them with .to({str(self.device)!r}))")
        if inputs.is_floating_point() and inputs.dtype != self.dtype:
            raise ValueError(f"data inputs must have the model's dtype {self.dtype}, got "
                             f"{inputs.dtype} (convert one of them, e.g. inputs.to({self.dtype}))")
        if inputs.shape[0] != targets.shape[0] or inputs.shape[0] < 2:
            raise ValueError(f"data must hold the same number N >= 2 of inputs and targets along "
                             f"the first axis, got {inputs.shape[0]} and {targets.shape[0]}")
        return inputs.detach(), targets.detach()

    def _check_loss_fn(self):
        with torch.no_grad():
            out = self.loss_fn(self.model(self.inputs[:2]), self.targets[:2])
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2,):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"loss_fn must return one loss per example, shape (M,) for M "
                             f"examples (reduction='none'), got {shape} for M = 2")

    def check(self, x, batch_size: int = 1, rng=None) -> None:
        """Evaluate ``loss``, ``grad`` and ``sample_grad`` once on ``x`` ``(n, d)`` and check
        shapes and finiteness (as :meth:`sdesim.sgd.Oracle.check`, on the device).

        Raises
        ------
        ValueError
            Wrong ``d``, or non-finite values at the initial state.
        """
        if x.shape[1] != self.d:
            raise ValueError(f"x0 must have d = {self.d} coordinates for this oracle, got "
                             f"{x.shape[1]}")
        rng = np.random.default_rng(0) if rng is None else rng
        B = self.check_batch_size(batch_size)
        for name, val in (("loss", self.loss(x)), ("grad", self.grad(x)),
                          ("sample_grad", self.sample_grad(x, rng, B))):
            if not bool(torch.isfinite(val).all()):
                raise ValueError(f"oracle.{name}(x) returned non-finite values at the initial "
                                 f"state")

    def asarray(self, x) -> torch.Tensor:
        """``x`` ``(n, d)`` as a tensor on the model's device and dtype.

        numpy arrays (and lists) are converted; a tensor must already have the model's device and
        dtype (no silent copies between devices).

        Raises
        ------
        ValueError
            A tensor ``x`` on another device or of another dtype, or not of shape ``(n, d)``.
        """
        if isinstance(x, torch.Tensor):
            if x.device != self.device or x.dtype != self.dtype:
                raise ValueError(f"x must be a tensor on the model's device {self.device} with "
                                 f"its dtype {self.dtype}, got {x.device} and {x.dtype}")
        else:
            x = torch.tensor(np.asarray(x), dtype=self.dtype, device=self.device)
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(f"x must have shape (n, d) = (n, {self.d}), got {tuple(x.shape)}")
        return x

    # ------------------------------------------------------------------ the model as a function
    @property
    def x0(self) -> np.ndarray:
        """The model's current trainable parameters, flattened, ``(d,)`` float64."""
        flat = torch.cat([p.detach().reshape(-1) for n, p in self.model.named_parameters()
                          if p.requires_grad])
        return flat.to("cpu", torch.float64).numpy()

    def parameters(self, x) -> dict:
        """The parameter dict of one row ``x`` ``(d,)`` (views), with the frozen parameters."""
        params = dict(self._frozen)
        for name, shape, part in zip(self._names, self._shapes, torch.split(x, self._sizes)):
            params[name] = part.view(shape)
        return params

    def _outputs(self, theta, inputs):
        return functional_call(self.model, (self.parameters(theta), self._buffers), (inputs,))

    def _weighted_loss(self, theta, inputs, targets, w):
        return torch.sum(w * self.loss_fn(self._outputs(theta, inputs), targets))

    @_serialised
    def outputs(self, x, inputs: torch.Tensor) -> torch.Tensor:
        """The network's outputs for every path on shared ``inputs`` ``(M, ...)``:
        ``(n, M, ...)`` (e.g. logits, for test accuracy)."""
        x = self.asarray(x)
        with torch.no_grad():
            return vmap(self._outputs, in_dims=(0, None))(x, inputs)

    # ------------------------------------------------------------------ the weighted gradient
    @_serialised
    def weighted_grad(self, x, index, weights, *, value: bool = False) -> torch.Tensor:
        """``∇_x Σ_j w_j ℓ_{index_j}(x)`` for each path: one forward-backward pass.

        Parameters
        ----------
        x : array (n, d)
        index : LongTensor ``(M,)`` (the same examples for every path) or ``(n, M)``
        weights : tensor ``(n, M)``
        value : bool
            Return the weighted loss ``(n,)`` instead of its gradient.

        Returns
        -------
        tensor (n, d), or (n,) with ``value=True``
        """
        x = self.asarray(x)
        shared = index.ndim == 1
        n, M = x.shape[0], index.shape[-1]
        step = M if n * M <= self.max_rows else max(1, self.max_rows // n)
        fn = self._weighted_loss if value else grad(self._weighted_loss)
        batched = vmap(fn, in_dims=(0, None if shared else 0, None if shared else 0, 0))
        out = 0
        for a in range(0, M, step):
            idx = index[..., a:a + step]
            out = out + batched(x, self.inputs[idx], self.targets[idx], weights[:, a:a + step])
        return out

    def _all(self, n: int, scale: float):
        N = self.n_examples
        idx = torch.arange(N, device=self.device)
        return idx, torch.full((n, N), scale, dtype=self.dtype, device=self.device)

    def loss(self, x) -> torch.Tensor:
        """``L(x)``, shape ``(n,)``."""
        x = self.asarray(x)
        with torch.no_grad():
            return self.weighted_grad(x, *self._all(x.shape[0], 1.0 / self.n_examples),
                                      value=True)

    def grad(self, x) -> torch.Tensor:
        """``∇L(x)`` over all ``N`` examples, shape ``(n, d)``."""
        x = self.asarray(x)
        return self.weighted_grad(x, *self._all(x.shape[0], 1.0 / self.n_examples))

    # ------------------------------------------------------------------ randomness
    def _seeded(self, rng) -> torch.Generator:
        """The device generator, seeded by one draw from the numpy ``rng``."""
        return self._gen.manual_seed(int(rng.integers(2**63)))

    def _batches(self, gen, n: int, B: int, k: int = 1) -> torch.Tensor:
        """``k`` independent minibatches of ``B`` indices per path, side by side: ``(n, kB)``.

        Batch ``j`` of every path comes from the ``j``-th draw of ``gen``, so the first batches do
        not depend on ``k``: SVAG at l = 1 (one batch) and l > 1 (two) draw the same first batch
        from one seed, which coupled runs rely on (:func:`sdesim.sgd.run`'s ``noise_grid``).
        """
        N = self.n_examples
        if self.replacement:
            draws = [torch.randint(0, N, (n, B), generator=gen, device=self.device)
                     for _ in range(k)]
        else:
            draws = [torch.rand((n, N), generator=gen, device=self.device).argsort(dim=1)[:, :B]
                     for _ in range(k)]
        return torch.cat(draws, dim=1)

    def sample_grad(self, x, rng, batch_size: int = 1) -> torch.Tensor:
        """One minibatch gradient ``∇L_γ(x)`` per path (``B`` examples), shape ``(n, d)``."""
        return self.sample_grad_mix(x, rng, batch_size, (1.0,))

    @_serialised
    def sample_grad_mix(self, x, rng, batch_size: int, coefs) -> torch.Tensor:
        """``Σ_j c_j ∇L_{γ_j}(x)`` over independent minibatches in one pass (weights ``c_j/B``
        on their concatenation); SVAG's gradient with ``coefs = svag_coefficients(l)``."""
        B = self.check_batch_size(batch_size)
        x = self.asarray(x)
        coefs = [c for c in coefs if c != 0.0]
        n, k = x.shape[0], len(coefs)
        idx = self._batches(self._seeded(rng), n, B, k)
        w = torch.tensor(coefs, dtype=self.dtype, device=self.device).repeat_interleave(B) / B
        return self.weighted_grad(x, idx, w.expand(n, k * B))

    def _noise_scale(self, B: int) -> float:
        """``c = √(N f_B)`` of the per-example weights (docs/theory.md §A.3)."""
        N = self.n_examples
        f = 1.0 / B if self.replacement else (N - B) / ((N - 1) * B)
        return math.sqrt(N * f)

    @_serialised
    def gaussian_grad(self, x, rng, batch_size: int = 1) -> torch.Tensor:
        """The NGD gradient ``∇L + Σ_B^{1/2} z`` exactly in law, by per-example weights
        ``δ_i = 1 + c (z_i - z̄)``: one full-data pass, shape ``(n, d)`` (LMA eq. 3)."""
        B = self.check_batch_size(batch_size)
        x = self.asarray(x)
        n, N = x.shape[0], self.n_examples
        z = torch.randn((n, N), generator=self._seeded(rng), dtype=self.dtype, device=self.device)
        w = (1.0 + self._noise_scale(B) * (z - z.mean(dim=1, keepdim=True))) / N
        return self.weighted_grad(x, torch.arange(N, device=self.device), w)

    def noise_product(self, x, v, batch_size: int = 1) -> torch.Tensor:
        """``G(x) v`` for ``v`` ``(n, N)``, where ``G`` ``(d, N)`` has columns
        ``c (∇ℓ_i - ∇L)/N`` and ``G Gᵀ = Σ_B(x)``: the gradient of the loss weighted by
        ``c (v_i - v̄)/N``, one full-data pass, shape ``(n, d)``. With ``v = dW`` it is the
        diffusion product of the SGD SDE (:func:`sdesim.sgd.sgd_sde`) without any ``d × d``."""
        B = self.check_batch_size(batch_size)
        x = self.asarray(x)
        N = self.n_examples
        v = torch.as_tensor(v, dtype=self.dtype, device=self.device)
        if tuple(v.shape) != (x.shape[0], N):
            raise ValueError(f"v must have shape (n, N) = ({x.shape[0]}, {N}), got "
                             f"{tuple(v.shape)}")
        w = self._noise_scale(B) * (v - v.mean(dim=1, keepdim=True)) / N
        return self.weighted_grad(x, torch.arange(N, device=self.device), w)

    # ------------------------------------------------------------------ per-example gradients
    def _example_loss(self, theta, inp, tgt):
        return self.loss_fn(self._outputs(theta, inp[None]), tgt[None])[0]

    @_serialised
    def per_example_grads(self, x, index=None) -> torch.Tensor:
        """Per-sample gradients ``∇ℓ_i(x)`` (``vmap(grad(...))`` over examples and paths),
        shape ``(n, M, d)`` for the examples ``index`` ``(M,)`` (default all ``N``)."""
        x = self.asarray(x)
        idx = torch.arange(self.n_examples, device=self.device) if index is None else index
        per = vmap(vmap(grad(self._example_loss), in_dims=(None, 0, 0)), in_dims=(0, None, None))
        return per(x, self.inputs[idx], self.targets[idx])

    def noise_trace(self, x, batch_size: int = 1) -> torch.Tensor:
        """``Tr Σ_B(x) = f_B ((1/N) Σ_i |∇ℓ_i|² - |∇L|²)`` from per-sample gradients taken a
        block of examples at a time (no ``d × d``), shape ``(n,)``: LMA's N at one state."""
        B = self.check_batch_size(batch_size)
        x = self.asarray(x)
        n, N = x.shape[0], self.n_examples
        step = max(1, _MAX_GRADS // (n * self.d))
        sq = torch.zeros(n, dtype=self.dtype, device=self.device)
        mean = torch.zeros((n, self.d), dtype=self.dtype, device=self.device)
        for a in range(0, N, step):
            g = self.per_example_grads(x, torch.arange(a, min(N, a + step), device=self.device))
            sq += (g * g).sum(dim=(1, 2))
            mean += g.sum(dim=1)
        mean /= N
        return self._noise_scale(B) ** 2 / N * torch.clamp(sq / N - (mean * mean).sum(1), min=0)

    def __repr__(self) -> str:
        return (f"TorchOracle(d={self.d}, n_examples={self.n_examples}, replacement="
                f"{self.replacement}, device={self.device}, dtype={self.dtype})")
