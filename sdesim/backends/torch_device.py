"""The torch backend's device and dtype: from the ``device=`` / ``dtype=`` arguments, else the
environment (``SDESIM_TORCH_DEVICE``, ``SDESIM_TORCH_DTYPE``), else CUDA when available and
float32 there, float64 on the CPU. Errors name the argument (or the variable) they came from."""
from __future__ import annotations

import os

import torch

__all__ = ["resolve_device", "resolve_dtype"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device=None) -> "torch.device":
    """The torch device to run on.

    Parameters
    ----------
    device : str or torch.device, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``; default ``SDESIM_TORCH_DEVICE`` if set, else
        ``cuda`` when available, else ``cpu``.

    Raises
    ------
    ValueError
        Not a device name; a CUDA device without CUDA, or with an index past the devices
        there are; a device type other than cpu and cuda.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    name = "device"
    if device is None:
        env = os.environ.get("SDESIM_TORCH_DEVICE")
        if env:
            name, device = "SDESIM_TORCH_DEVICE", env
        else:
            device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"{name} must be a torch device or its name ('cpu', 'cuda', "
                         f"'cuda:1'), got {device!r}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name}={str(device)!r} asks for CUDA, but torch.cuda.is_available() "
                             f"is False on this machine (torch {torch.__version__}); use "
                             f"device='cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{name}={str(device)!r}: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    elif dev.type != "cpu":
        raise ValueError(f"{name} must be a cpu or cuda device, got {str(device)!r}")
    return dev


def resolve_dtype(dtype, device: "torch.device") -> "torch.dtype":
    """The floating dtype of the states and increments.

    Parameters
    ----------
    dtype : torch.float32, torch.float64, "float32", "float64" or None
        Default: ``SDESIM_TORCH_DTYPE`` if set, else float64 on the CPU and float32 on CUDA.
    device : torch.device

    Raises
    ------
    ValueError
        Any other dtype.

    Examples
    --------
    >>> resolve_dtype(None, torch.device("cpu"))
    torch.float64
    """
    name = "dtype"
    if dtype is None:
        env = os.environ.get("SDESIM_TORCH_DTYPE")
        if not env:
            return torch.float64 if device.type == "cpu" else torch.float32
        name, dtype = "SDESIM_TORCH_DTYPE", env
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    if dtype in (torch.float32, torch.float64):
        return dtype
    raise ValueError(f"{name} must be torch.float32 or torch.float64 (or 'float32', 'float64'), "
                     f"got {dtype!r}")
