"""torchsde interop: an sdesim SDE as a torchsde SDE object, and a torchsde SDE object as an
sdesim SDE.

Both directions are Itô and keep the noise kind (diagonal, scalar, general, additive; torchsde's
names are sdesim's). torchsde's shapes differ in two places: its scalar noise ``g`` is
``(n, d, 1)`` (sdesim's ``(n, d)``), and its additive ``g(t, y)`` is ``(n, d, m)`` (sdesim's a
constant ``(d,)`` or ``(d, m)``, or ``g(t)``); the converters reshape. A diffusion given as a
product (``g_prod``) stays one.

References
----------
Li, Wong, Chen & Duvenaud (2020), "Scalable gradients for stochastic differential equations",
AISTATS (torchsde).
"""
from __future__ import annotations

import numpy as np
import torch

from ..backends.torch_device import resolve_device, resolve_dtype
from ..backends.torch_model import TorchModel
from ..drivers import Brownian
from ..sde import NOISE_KINDS, SDE

__all__ = ["to_torchsde", "from_torchsde", "TorchsdeSDE"]


class TorchsdeSDE(torch.nn.Module):
    """An sdesim SDE as torchsde sees it: ``sde_type = "ito"``, ``noise_type``, ``f(t, y)`` and
    ``g(t, y)`` — or ``g_prod(t, y, v)`` only, when the SDE gives its diffusion as a product
    (then pass ``bm=`` to ``torchsde.sdeint``: torchsde cannot infer the noise size).

    Built by :func:`to_torchsde`; ``y`` must have the device and dtype it was built for.
    """

    sde_type = "ito"

    def __init__(self, sde: SDE, model: TorchModel):
        super().__init__()
        self.sde, self.model, self.noise_type = sde, model, sde.noise
        if sde.g_prod is None:
            self.g = self._g
        else:
            self.g_prod = self._g_prod

    def _y(self, y: "torch.Tensor") -> "torch.Tensor":
        m = self.model
        if not isinstance(y, torch.Tensor) or y.dtype != m.dtype or y.device != m.device:
            got = (f"{y.dtype} on {y.device}" if isinstance(y, torch.Tensor)
                   else type(y).__name__)
            raise TypeError(f"y must be a tensor of dtype {m.dtype} on {m.device} (the dtype= "
                            f"and device= of to_torchsde), got {got}")
        return y

    def f(self, t, y):
        """Drift ``(n, d)``."""
        return self.model.drift(float(t), self._y(y))

    def _g(self, t, y):
        """Diffusion in torchsde's shapes: ``(n, d)`` diagonal, ``(n, d, m)`` otherwise."""
        y = self._y(y)
        gx = self.model.diffusion(float(t), y)
        if self.noise_type == "scalar":
            return gx[..., None]
        if self.noise_type == "additive":
            gx = torch.diag(gx) if gx.ndim == 1 else gx
            return gx.expand(y.shape[0], *gx.shape)
        return gx

    def _g_prod(self, t, y, v):
        """``g(t, y) v`` ``(n, d)`` for ``v`` ``(n, m)``."""
        return self.model.noise_term(float(t), self._y(y), v)


def to_torchsde(sde: SDE, *, device=None, dtype=None) -> TorchsdeSDE:
    """``sde`` as a torchsde SDE object (an ``nn.Module`` with ``f``, ``g`` or ``g_prod``,
    ``sde_type = "ito"`` and sdesim's noise kind as ``noise_type``).

    Parameters
    ----------
    sde : SDE
        Brownian-driven (torchsde has no α-stable noise); ``f``/``g`` written for tensors
        (array-API style, :class:`sdesim.SDE`).
    device, dtype : optional
        Those of the states torchsde will pass (as in :func:`sdesim.simulate` with
        ``backend="torch"``: default CUDA in float32 when available, else the CPU in float64).

    Returns
    -------
    TorchsdeSDE

    Raises
    ------
    TypeError
        ``sde`` not an SDE.
    ValueError
        An α-stable driver; a bad ``device``/``dtype``.

    Examples
    --------
    >>> import torch, torchsde, sdesim
    >>> obj = to_torchsde(sdesim.gbm(0.5, 0.4), device="cpu", dtype=torch.float64)
    >>> y0 = torch.ones(100, 1, dtype=torch.float64)
    >>> ys = torchsde.sdeint(obj, y0, [0.0, 0.5], method="euler", dt=0.05)
    >>> tuple(ys.shape), obj.noise_type
    ((2, 100, 1), 'diagonal')

    References
    ----------
    Li, Wong, Chen & Duvenaud (2020), AISTATS (torchsde).
    """
    if not isinstance(sde, SDE):
        raise TypeError(f"sde must be a sdesim.SDE, got {type(sde).__name__}")
    if not isinstance(sde.driver, Brownian):
        raise ValueError(f"to_torchsde needs a Brownian driver (torchsde has no α-stable "
                         f"noise), got sde.driver = {sde.driver!r}")
    dev = resolve_device(device)
    return TorchsdeSDE(sde, TorchModel(sde, dev, resolve_dtype(dtype, dev)))


def _caller(fn):
    """``fn(t, y, *rest)`` of a torchsde object as an sdesim function: tensors go in as they
    are; numpy arrays (the numpy backends) as float64 CPU tensors, and the result comes back as
    numpy."""
    def call(t, x, *rest):
        if isinstance(x, torch.Tensor):
            return fn(torch.as_tensor(t, dtype=x.dtype, device=x.device), x, *rest)
        with torch.no_grad():
            out = fn(torch.tensor(float(t), dtype=torch.float64), torch.as_tensor(x),
                     *(torch.as_tensor(r) for r in rest))
        return out.detach().cpu().numpy()
    return call


def from_torchsde(obj, *, d: int, m: int | None = None, name: str | None = None) -> SDE:
    """A torchsde SDE object (``f``, ``g`` and/or ``g_prod``, Itô) as an sdesim :class:`~sdesim.SDE`.

    The sdesim functions call ``obj`` with tensors: on ``backend="torch"`` with the run's, on the
    numpy backends with float64 CPU tensors (results back as numpy; the numba backend runs it on
    numpy after a warning). ``t`` is passed as a 0-d tensor, as torchsde does.

    Parameters
    ----------
    obj : torchsde-style SDE
        Attributes ``sde_type`` (``"ito"``) and ``noise_type``; methods ``f(t, y)`` and
        ``g(t, y)`` or ``g_prod(t, y, v)``.
    d : int
        State dimension.
    m : int, optional
        Noise dimension: required for general noise given by ``g_prod`` only; inferred from
        ``g`` otherwise.
    name : str, optional

    Returns
    -------
    SDE (Brownian driver, the same noise kind)

    Raises
    ------
    ValueError
        ``obj.sde_type`` not ``"ito"``; an unknown ``obj.noise_type``; ``m`` missing for a
        ``g_prod``-only general noise.
    TypeError
        ``obj`` without ``f``, or without ``g`` and ``g_prod``.

    Examples
    --------
    >>> import torch, sdesim
    >>> class GBM(torch.nn.Module):
    ...     sde_type, noise_type = "ito", "diagonal"
    ...     def f(self, t, y):
    ...         return 0.5 * y
    ...     def g(self, t, y):
    ...         return 0.4 * y
    >>> sde = from_torchsde(GBM(), d=1)
    >>> sdesim.simulate(sde, 1.0, T=0.5, dt=0.05, n_paths=8, rng=0, backend="numpy",
    ...                 quiet=True).xs.shape
    (11, 8, 1)

    References
    ----------
    Li, Wong, Chen & Duvenaud (2020), AISTATS, "Scalable gradients for stochastic
    differential equations" (torchsde's SDE interface: ``f``, ``g``, ``g_prod``, noise types).
    """
    sde_type, noise = getattr(obj, "sde_type", None), getattr(obj, "noise_type", None)
    if sde_type != "ito":
        raise ValueError(f"obj.sde_type must be 'ito' (sdesim is Itô throughout; convert a "
                         f"Stratonovich SDE by adding ½ Σ_j (∂g_j) g_j to its drift), got "
                         f"{sde_type!r}")
    if noise not in NOISE_KINDS:
        raise ValueError(f"obj.noise_type must be one of {NOISE_KINDS}, got {noise!r}")
    if not callable(getattr(obj, "f", None)):
        raise TypeError(f"obj must have a method f(t, y), got {type(obj).__name__} without one")
    f, name = _caller(obj.f), name or type(obj).__name__
    if callable(getattr(obj, "g", None)):
        g = _caller(obj.g)
        if noise in ("diagonal", "scalar"):
            gfun = g if noise == "diagonal" else (lambda t, x: g(t, x)[..., 0])
            return SDE(f, gfun, d=d, noise=noise, name=name)
        probe = np.asarray(g(0.0, np.zeros((1, d))))
        if noise == "general":
            return SDE(f, g, d=d, m=probe.shape[-1], noise="general", name=name)
        return SDE(f, lambda t: np.asarray(g(t, np.zeros((1, d))))[0], d=d, m=probe.shape[-1],
                   noise="additive", name=name)
    if not callable(getattr(obj, "g_prod", None)):
        raise TypeError(f"obj must have a method g(t, y) or g_prod(t, y, v), got "
                        f"{type(obj).__name__} with neither")
    if noise in ("general", "additive") and m is None:
        raise ValueError(f"m (the noise dimension) is required for a {noise} noise given by "
                         f"g_prod only")
    kind = "general" if noise == "additive" else noise
    return SDE(f, g_prod=_caller(obj.g_prod), d=d, m=m, noise=kind, name=name)
