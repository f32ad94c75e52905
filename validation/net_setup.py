"""The digits net shared by the ``exp_net_*`` experiments (imported inside their ``run``, so
``python -m validation`` works without torch and skips nothing else)."""
from __future__ import annotations

import numpy as np


def digits_setup(n_train: int, hidden: int, *, groups: int = 4, scale_invariant: bool = False,
                 seed: int = 0, smooth: bool = False, device: str = "cpu"):
    """``(oracle, test_oracle)``: a float32 GroupNorm MLP on ``n_train`` digits, and the same net
    on 300 held-out digits (for test loss and accuracy), on ``device``. ``smooth=True`` puts tanh
    in place of the ReLU (a smooth loss, as weak-order theorems assume)."""
    import torch
    from sdesim.torch import TorchOracle, digits, digits_mlp
    torch.set_num_threads(2)
    ds = digits(n_train, 300, rng=seed, device=device)
    net = digits_mlp(hidden, groups, scale_invariant=scale_invariant, seed=seed, device=device)
    if smooth:
        net[2] = torch.nn.Tanh()
    ce = torch.nn.CrossEntropyLoss(reduction="none")
    return TorchOracle(net, ce, ds.train), TorchOracle(net, ce, ds.test)


def test_metrics(test_oracle, xs: np.ndarray) -> np.ndarray:
    """Per-run test loss and accuracy at states ``xs`` ``(n, d)``: ``(n, 2)``."""
    import torch
    loss = test_oracle.loss(xs).numpy()
    logits = test_oracle.outputs(xs, test_oracle.inputs)
    acc = (logits.argmax(dim=-1) == test_oracle.targets).to(torch.float64).mean(dim=1).numpy()
    return np.column_stack([loss, acc])


def mean_ci(v: np.ndarray, axis: int = 0):
    """Mean and the half-width of its 95% CI (1.96 standard errors) along ``axis``."""
    n = v.shape[axis]
    return v.mean(axis=axis), 1.96 * v.std(axis=axis, ddof=1) / np.sqrt(n)
