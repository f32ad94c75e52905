"""scikit-learn's bundled digits as torch tensors: a real data set that needs no download.

``load_digits`` ships inside scikit-learn (1797 grey 8×8 images of the digits 0–9), so the net
experiments run offline; install it with the ``digits`` extra (``pip install sdesim[digits]``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Digits", "digits"]


@dataclass(frozen=True)
class Digits:
    """A train/test split of the digits: ``train`` and ``test`` are ``(inputs, targets)`` pairs.

    Attributes
    ----------
    train, test : tuple of tensors
        Inputs ``(N, 64)`` (pixels standardised with the training set's mean and spread, or
        ``(N, 1, 8, 8)`` with ``image=True``) and targets ``(N,)`` (int64 labels 0–9).
    """

    train: tuple
    test: tuple


def digits(n_train: int = 1000, n_test: int = 500, *, image: bool = False, rng=0,
           dtype: torch.dtype = torch.float32, device="cpu") -> Digits:
    """Load scikit-learn's bundled digits, shuffle with ``rng`` and split into train and test.

    Parameters
    ----------
    n_train, n_test : int
        Sizes of the two disjoint sets (``n_train + n_test <= 1797``).
    image : bool
        Inputs as images ``(N, 1, 8, 8)`` (for a CNN) instead of vectors ``(N, 64)``.
    rng : int or numpy Generator
        Seed of the shuffle.
    dtype, device
        Of the inputs (targets are int64 on the same device).

    Returns
    -------
    Digits

    Raises
    ------
    ImportError
        scikit-learn is not installed (the ``digits`` extra).
    ValueError
        ``n_train`` or ``n_test`` below 2, or together above 1797.

    Examples
    --------
    >>> from sdesim.torch import digits
    >>> ds = digits(100, 50)
    >>> tuple(ds.train[0].shape), tuple(ds.test[1].shape)
    ((100, 64), (50,))

    References
    ----------
    Alpaydin & Kaynak (1998), UCI optical recognition of handwritten digits (the 8 × 8
    set scikit-learn's ``load_digits`` ships).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError("sdesim.torch.digits needs scikit-learn (its bundled digits data set): "
                          "pip install 'sdesim[digits]'") from exc
    X, y = load_digits(return_X_y=True)
    if n_train < 2 or n_test < 2 or n_train + n_test > len(y):
        raise ValueError(f"n_train and n_test must be >= 2 with n_train + n_test <= {len(y)}, "
                         f"got {n_train} and {n_test}")
    perm = np.random.default_rng(rng).permutation(len(y))
    tr, te = perm[:n_train], perm[n_train:n_train + n_test]
    mu, sd = X[tr].mean(axis=0), X[tr].std(axis=0) + 1.0  # +1: constant border pixels

    def pair(i):
        inputs = torch.as_tensor((X[i] - mu) / sd, dtype=dtype, device=device)
        if image:
            inputs = inputs.reshape(-1, 1, 8, 8)
        return inputs, torch.as_tensor(y[i], dtype=torch.int64, device=device)
    return Digits(pair(tr), pair(te))
