"""Small GroupNorm networks for the digits (no BatchNorm: per-example losses stay independent).

- :func:`digits_mlp`: ``Linear → GroupNorm → ReLU → Linear``; with ``scale_invariant=True`` the
  norm has no affine part and the last layer is frozen, so the trainable parameters (the first
  layer) are scale invariant, ``L(cx) = L(x)``, as LMA §5 requires (their PreResNet uses the same
  recipe: norm layers without affine parameters and a fixed last layer).
- :func:`digits_cnn`: ``Conv → GroupNorm → ReLU → pool → Linear`` on ``(1, 8, 8)`` images.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["digits_mlp", "digits_cnn"]


def digits_mlp(hidden: int = 32, groups: int = 4, *, scale_invariant: bool = False, seed: int = 0,
               dtype: torch.dtype = torch.float32, device="cpu") -> nn.Sequential:
    """A 64 → ``hidden`` → 10 MLP with GroupNorm, initialised from ``seed``.

    Parameters
    ----------
    hidden, groups : int
        Width and GroupNorm groups (``hidden`` a multiple of ``groups``).
    scale_invariant : bool
        No affine GroupNorm parameters (eps 0) and a frozen last layer: the trainable
        parameters (first layer) are scale invariant (LMA §5).
    seed : int
    dtype, device

    Examples
    --------
    >>> from sdesim.torch import digits_mlp
    >>> sum(p.numel() for p in digits_mlp(16).parameters() if p.requires_grad)
    1242
    >>> sum(p.numel() for p in digits_mlp(16, scale_invariant=True).parameters()
    ...     if p.requires_grad)
    1040
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        norm = nn.GroupNorm(groups, hidden, eps=0.0 if scale_invariant else 1e-5,
                            affine=not scale_invariant)
        net = nn.Sequential(nn.Linear(64, hidden), norm, nn.ReLU(), nn.Linear(hidden, 10))
    if scale_invariant:
        net[3].requires_grad_(False)
    return net.to(device=device, dtype=dtype)


def digits_cnn(channels: int = 8, groups: int = 4, *, seed: int = 0,
               dtype: torch.dtype = torch.float32, device="cpu") -> nn.Sequential:
    """A small CNN on ``(1, 8, 8)`` digits (``digits(image=True)``): 3×3 conv, GroupNorm, ReLU,
    2×2 max-pool, linear to 10 classes.

    Examples
    --------
    >>> import torch
    >>> from sdesim.torch import digits_cnn
    >>> tuple(digits_cnn()(torch.zeros(2, 1, 8, 8)).shape)
    (2, 10)
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Conv2d(1, channels, 3, padding=1), nn.GroupNorm(groups, channels),
                            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                            nn.Linear(channels * 16, 10))
    return net.to(device=device, dtype=dtype)
