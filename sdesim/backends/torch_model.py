"""An SDE on torch tensors: drift, diffusion (or its product with the increments), the
Euler–Maruyama step and the driving increments, on one device and dtype.

A user's ``f``, ``g`` and ``g_prod`` are called with tensors (array-API style,
:class:`sdesim.SDE`); what they return is checked at every call — a tensor, of the shape the
noise kind requires (the one message of :meth:`sdesim.SDE.shape_error`), of the run's dtype, on
the run's device. The built-in linear SDEs (:func:`sdesim.ou`, :func:`sdesim.gbm`,
:func:`sdesim.linear`) step with torch operations on their coefficients.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..drivers import Brownian
from ..sde import LinearSDE
from .torch_philox import normals
from .torch_stable import StableIncrements

__all__ = ["TorchModel"]


class TorchModel:
    """``sde`` on tensors of ``device`` and ``dtype``.

    Parameters
    ----------
    sde : sdesim.SDE
    device : torch.device
    dtype : torch.float32 or torch.float64

    Examples
    --------
    >>> import sdesim
    >>> model = TorchModel(sdesim.ou(1.0, 0.5), torch.device("cpu"), torch.float64)
    >>> x = torch.ones(3, 1)
    >>> model.step(0.0, x, 0.1, torch.zeros(3, 1)).flatten().tolist()
    [0.9, 0.9, 0.9]
    """

    def __init__(self, sde, device, dtype):
        self.sde, self.device, self.dtype = sde, device, dtype
        self.const = None
        if sde.additive_constant is not None:
            self.const = self.tensor(sde.additive_constant)
        if isinstance(sde, LinearSDE):
            self.A, self.a, self.B, self.b = (self.tensor(v) for v in (sde.A, sde.a, sde.B, sde.b))
        self.stable = (None if isinstance(sde.driver, Brownian)
                       else StableIncrements(sde.driver, sde.m, device))

    def tensor(self, v) -> "torch.Tensor":
        """``v`` (array_like or tensor) as a tensor of the model's device and dtype."""
        v = v if isinstance(v, torch.Tensor) else np.array(v, dtype=float)  # a writable copy
        return torch.as_tensor(v, dtype=self.dtype, device=self.device)

    def rows(self, x0: np.ndarray) -> "torch.Tensor":
        """Initial states ``x0`` ``(n, d)`` as a float64 tensor on the model's device; a
        broadcast view (row stride 0, one shared initial state) crosses as one row, expanded
        there."""
        if x0.shape[0] and x0.strides[0] == 0:
            one = torch.as_tensor(np.array(x0[:1], dtype=float), device=self.device)
            return one.expand(x0.shape)
        return torch.as_tensor(np.array(x0, dtype=float), device=self.device)

    # ------------------------------------------------------------------ checked calls
    def _checked(self, which: str, val, want: tuple, x) -> "torch.Tensor":
        """``val`` returned by the user's ``which`` at ``x``, after checking its type, shape,
        dtype and device."""
        sde = self.sde
        if not isinstance(val, torch.Tensor):
            raise TypeError(f"{which} returned {type(val).__name__} for torch tensors x; on the "
                            f"torch backend {which} must return a tensor (array-API style: "
                            f"xp = array_api_compat.array_namespace(x))")
        if tuple(val.shape) != want:
            raise sde.shape_error(which, x.shape[0], tuple(val.shape))
        if val.dtype != self.dtype:
            raise TypeError(f"{which} returned a tensor of dtype {val.dtype} at x of dtype "
                            f"{self.dtype} (the run's dtype=): build constants in x's dtype "
                            f"(xp.asarray(c, dtype=x.dtype)) or pass dtype={val.dtype}")
        if val.device != x.device:
            raise TypeError(f"{which} returned a tensor on device {val.device} at x on "
                            f"{x.device} (the run's device=): create tensors on x.device")
        return val

    def drift(self, t: float, x: "torch.Tensor") -> "torch.Tensor":
        """``f(t, x)``, ``(n, d)``."""
        sde = self.sde
        if isinstance(sde, LinearSDE):
            return self.A * x + self.a if sde.form == "diag" else x @ self.A.T + self.a
        return self._checked("f", sde.f(t, x), (x.shape[0], sde.d), x)

    def diffusion(self, t: float, x: "torch.Tensor") -> "torch.Tensor":
        """``g(t, x)`` as the noise kind shapes it (:mod:`sdesim.sde`); not for ``g_prod``."""
        sde = self.sde
        if sde.noise == "additive":
            gx = self.const if self.const is not None else self.tensor(sde.g(t))
            if gx.shape != (sde.d, sde.m) and (gx.shape != (sde.d,) or sde.m != sde.d):
                raise sde.shape_error("g", 0, tuple(gx.shape))
            return gx
        if isinstance(sde, LinearSDE):
            if sde.form == "diag":
                return self.B * x + self.b
            return torch.einsum("jde,ne->ndj", self.B, x) + self.b.T[None]
        return self._checked("g", sde.g(t, x), sde.g_shape(x.shape[0]), x)

    def noise_term(self, t: float, x: "torch.Tensor", dW: "torch.Tensor") -> "torch.Tensor":
        """``g(t, x) dW`` ``(n, d)`` for increments ``dW`` ``(n, m)``, as
        :meth:`sdesim.SDE.noise_term`."""
        sde = self.sde
        if sde.g_prod is not None:
            return self._checked("g_prod", sde.g_prod(t, x, dW), (x.shape[0], sde.d), x)
        gx = self.diffusion(t, x)
        if sde.noise in ("diagonal", "scalar"):
            return gx * dW
        if sde.noise == "general":
            return torch.einsum("ndm,nm->nd", gx, dW)
        return dW * gx if gx.ndim == 1 else dW @ gx.T

    def step(self, t: float, x: "torch.Tensor", h: float, dW: "torch.Tensor") -> "torch.Tensor":
        """The EM step of :meth:`sdesim.schemes.EulerMaruyama.step` (``g`` at the start of the
        step, then ``x + h f + g dW``), on tensors ``x`` ``(n, d)``, ``dW`` ``(n, m)``."""
        term = self.noise_term(t, x, dW)
        return x + h * self.drift(t, x) + term

    def increments(self, key, paths: "torch.Tensor", k0: int, k1: int,
                   h: float) -> "torch.Tensor":
        """The driver's increments over steps ``h`` at fine steps ``k0 .. k1-1`` of the global
        paths ``paths``: ``(n, k1 - k0, m)``, a function of ``(key, path, k)`` only
        (:mod:`.torch_philox`)."""
        m = self.sde.m
        if self.stable is not None:
            return self.stable.block(key, paths, k0, k1, h, self.dtype)
        z = normals(key, paths, k0 * m, k1 * m, self.dtype) * math.sqrt(h)
        return z.reshape(len(paths), k1 - k0, m)

    # ------------------------------------------------------------------ before a run
    def why_not(self, probe: np.ndarray) -> str | None:
        """Why ``f``/``g``/``g_prod`` cannot run on tensors (``None`` if they can), from one call
        on the states ``probe`` ``(k, d)``; raises the shape and dtype errors of the checked
        calls."""
        sde = self.sde
        x = self.tensor(probe)
        dW = torch.zeros((x.shape[0], sde.m), dtype=self.dtype, device=self.device)
        if not isinstance(sde, LinearSDE):
            calls = [("f", lambda: sde.f(0.0, x))]
            if sde.g_prod is not None:
                calls.append(("g_prod", lambda: sde.g_prod(0.0, x, dW)))
            elif sde.noise != "additive":
                calls.append(("g", lambda: sde.g(0.0, x)))
            for name, call in calls:
                try:
                    val = call()
                except Exception as exc:  # noqa: BLE001 - any failure on tensors: not torch-able
                    if isinstance(exc, RuntimeError) and ("dtype" in str(exc)
                                                          or "scalar type" in str(exc)):
                        # torch ran f/g, but a constant of another dtype met the state
                        raise TypeError(
                            f"{name} mixes dtypes on the torch backend ({exc}): the state is "
                            f"{self.dtype}; create {name}'s constants in the state's dtype, "
                            f"e.g. xp.asarray(A, dtype=x.dtype, device=device(x))") from exc
                    val = exc
                if not isinstance(val, torch.Tensor):
                    return (f"the torch backend calls {name} with torch tensors (array-API "
                            f"style operations), and {name} gave {type(val).__name__} "
                            f"{val!s:.80}; the numpy backend runs instead")
        self.drift(0.0, x)  # shape and dtype errors, as at every call
        self.noise_term(0.0, x, dW)
        return None
