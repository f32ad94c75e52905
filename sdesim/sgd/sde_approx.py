"""The SDE approximation of SGD and the modified equation, as problems the core engine runs.

- :func:`sgd_sde`: ``dX = -(∇L + λX) dt + (η Σ_B(X))^{1/2} dW`` (LMA eq. 2 / 6), time ``t = kη``.
  With SαS gradient noise it is the Lévy SDE ``dX = -(∇L + λX) dt + L dL^α`` whose driver has
  the scale ``ε = η^{1-1/α} B^{1/α-1}``, per coordinate ``ε_j = η^{1-1/α_j} B^{1/α_j-1}`` of
  ``dL^α`` when the noise has one α per coordinate (TMLR eq. 3) (built as :func:`sdesim.sgd.levy_sgd_sde` builds its
  SDEs: ε in the driver, not in ``g``), of which SGD is exactly the Euler scheme at ``h = η``
  (docs/theory.md §0.6).
- :func:`modified_drift` / ``sgd_sde(order=2)``: the first-order modified equation
  ``-∇(F + (η/4)|∇F|²) = -(∇F + (η/2) ∇²F ∇F)`` with ``F = L + λ|x|²/2`` (docs/theory.md §C.4),
  from Hessian-vector products.
- :func:`flow`: the deterministic gradient flow or modified flow, solved to tight tolerance.

Caution (docs/theory.md §C.4): the order-2 equation is a finite-horizon statement; at stationarity
it is further from SGD than the order-1 SDE.

The drift and diffusion of :func:`sgd_sde` call the oracle's numba kernels
(:meth:`~sdesim.sgd.Oracle.numba_kernel`), so the SDE of every built-in oracle, and of a
:class:`~sdesim.sgd.FunctionOracle` whose functions numba compiles, runs compiled on the default
numba backend.
"""
from __future__ import annotations

import warnings
from functools import lru_cache

import numba
import numpy as np
from numba.extending import register_jitable
from scipy.integrate import solve_ivp

from .._arrays import host
from .._cache import BoundedCache
from .._validate import as_finite_array, positive_float
from ..sde import SDE
from .levy_sde import _levy_sde
from .noise import psd_sqrt
from .oracles import Oracle

__all__ = ["sgd_sde", "modified_drift", "modified_equation", "flow"]


def _check(oracle, lr, weight_decay):
    if not isinstance(oracle, Oracle):
        raise TypeError(f"oracle must be a sdesim.sgd Oracle, got {type(oracle).__name__}")
    lr = positive_float(lr, "lr")
    wd = float(weight_decay)
    if not np.isfinite(wd) or wd < 0:
        raise ValueError(f"weight_decay must be finite and >= 0, got {weight_decay}")
    return lr, wd


class _Same:
    """Hashes and compares an oracle by identity: the memo key of :func:`_drift` and
    :func:`_diffusion` (an oracle need not be hashable)."""

    __slots__ = ("oracle",)

    def __init__(self, oracle):
        self.oracle = oracle

    def __hash__(self):
        return id(self.oracle)

    def __eq__(self, other):
        return isinstance(other, _Same) and other.oracle is self.oracle


def _python_kernel(oracle: Oracle, method: str, batch_size: int = 1) -> tuple:
    """``(fn, None)`` with ``fn`` calling ``oracle.<method>`` in Python: the kernel form of
    :meth:`Oracle.numba_kernel` for methods numba cannot compile. Compiled code (after
    ``register_jitable``) makes the call through ``numba.objmode``; in plain Python that block is
    an ordinary one."""
    meth = getattr(oracle, method)
    if method == "hessian_vector":
        def fn(x, v, params):
            with numba.objmode(out="float64[:, ::1]"):
                out = np.array(host(meth(x, v)), dtype=np.float64, order="C")
            return out
    elif method == "noise_cov":
        def fn(x, params):
            with numba.objmode(out="float64[:, :, ::1]"):
                out = np.array(host(meth(x, batch_size)), dtype=np.float64, order="C")
            return out
    else:
        def fn(x, params):
            with numba.objmode(out="float64[:, ::1]"):
                out = np.array(host(meth(x)), dtype=np.float64, order="C")
            return out
    return fn, None


def _kernel(oracle: Oracle, method: str, batch_size: int = 1) -> tuple:
    """The oracle's numba kernel for ``method``, or (with a RuntimeWarning naming the oracle's
    method and numba's reason) :func:`_python_kernel`."""
    try:
        return oracle.numba_kernel(method, batch_size)
    except NotImplementedError as exc:
        warnings.warn(
            f"sgd_sde: {exc}. The SDE calls {type(oracle).__name__}.{method} from Python at every "
            f"step (through numba.objmode), so the numba backend runs it at about the numpy "
            f"backend's speed, after compiling its kernel (backend='numpy' skips the compile)",
            RuntimeWarning, stacklevel=4)
        fn, params = _python_kernel(oracle, method, batch_size)
        return register_jitable(fn), params


def _drift_function(grad: tuple, hvp: tuple | None, lr: float, wd: float, order: int):
    """``f(t, x)``: ``-∇F`` (order 1) or ``-(∇F + (η/2) ∇²F ∇F)`` (order 2), ``F = L + λ|x|²/2``,
    from the kernels ``grad = (fn, params)`` and ``hvp = (fn, params)``; numba compiles it when
    they are numba functions, and Python runs it either way."""
    gfn, gp = grad
    if order == 1:
        def f(t, x):
            return -(gfn(x, gp) + wd * x)
        return f
    hfn, hp = hvp

    def f(t, x):
        g = gfn(x, gp) + wd * x
        return -(g + 0.5 * lr * (hfn(x, g, hp) + wd * g))
    return f


def _hashable(params):
    """A numba kernel's ``params`` as an exact hashable key (arrays by dtype, shape and bytes);
    TypeError when some part is not hashable."""
    if isinstance(params, tuple):
        return tuple(_hashable(p) for p in params)
    if isinstance(params, np.ndarray):
        return params.dtype.str, params.shape, params.tobytes()
    hash(params)
    return params


def _drift_key(oracle: Oracle, order: int):
    """What the drift of ``oracle`` is made of: its numba kernels and their parameters when it has
    them (so oracles that differ only in their noise law, e.g. a sweep over α, share one drift),
    else the oracle itself (:class:`_Same`)."""
    methods = ("grad", "hessian_vector") if order == 2 else ("grad",)
    try:
        return tuple((fn, _hashable(p)) for fn, p in map(oracle.numba_kernel, methods))
    except (NotImplementedError, TypeError):
        return _Same(oracle)


_DRIFTS = BoundedCache(64)


def _drift(oracle: Oracle, lr: float, wd: float, order: int):
    """The drift of :func:`sgd_sde`, one per (kernels of the oracle, η (order 2 only), λ, order):
    SDEs that share it share the numba kernel compiled for it (a sweep over B, over η at order 1,
    or over the noise law of one landscape)."""
    key = (_drift_key(oracle, order), lr, wd, order)
    if key not in _DRIFTS:
        hvp = _kernel(oracle, "hessian_vector") if order == 2 else None
        _DRIFTS[key] = _drift_function(_kernel(oracle, "grad"), hvp, lr, wd, order)
    return _DRIFTS[key]


@lru_cache(maxsize=64)
def _diffusion(key: _Same, lr: float, batch_size: int):
    """``g(t, x) = (η Σ_B(x))^{1/2}`` ``(n, d, d)`` from the oracle's ``noise_cov`` kernel
    (:func:`~sdesim.sgd.noise.psd_sqrt` compiles too)."""
    cfn, cp = _kernel(key.oracle, "noise_cov", batch_size)

    def g(t, x):
        return psd_sqrt(lr * cfn(x, cp))
    return g


def modified_drift(oracle: Oracle, lr: float, *, weight_decay: float = 0.0):
    """Drift of the first-order modified equation, ``x -> -(∇F + (η/2) ∇²F ∇F)``, ``(n, d)``.

    ``F = L + (λ/2)|x|²``, so ``∇²F v = ∇²L v + λ v``. Exact where the oracle's
    ``hessian_vector`` is: every built-in oracle has the closed form; a :class:`FunctionOracle`
    without ``hessian_vector=`` falls back to second-order central differences of ``grad``.

    Examples
    --------
    >>> import numpy as np
    >>> from sdesim.sgd import NoisyQuadratic
    >>> f = modified_drift(NoisyQuadratic([[2.0]]), lr=0.1)
    >>> f(np.ones((1, 1))).item()   # -(H + η H²/2) x = -(2 + 0.2)
    -2.2

    References
    ----------
    docs/theory.md §C.4; Li, Tai & E (2017, 2019), the SME of order 2.
    """
    lr, wd = _check(oracle, lr, weight_decay)
    f = _drift_function(_python_kernel(oracle, "grad"), _python_kernel(oracle, "hessian_vector"),
                        lr, wd, 2)
    return lambda x: f(0.0, x)


def sgd_sde(oracle: Oracle, lr: float, *, batch_size: int = 1, weight_decay: float = 0.0,
            order: int = 1, noise: bool = True) -> SDE:
    """The Itô (or Lévy) SDE approximation of SGD with LR η and batch size B, as an :class:`SDE`.

    Parameters
    ----------
    oracle : Oracle
    lr : float
        η > 0. SDE time ``t`` corresponds to SGD step ``k = t/η``.
    batch_size : int
        B; the diffusion is ``(η Σ_B(x))^{1/2}`` with the oracle's minibatch Σ.
    weight_decay : float
        λ >= 0, added to the drift as ``-λ x`` (LMA eq. 6).
    order : {1, 2}
        1: drift ``-∇F``; 2: the modified drift of :func:`modified_drift`.
    noise : bool
        ``False`` gives the deterministic flow (zero additive diffusion; ``batch_size`` must then
        stay 1, since it only scales the noise).

    Returns
    -------
    SDE
        ``noise="additive"`` (constant Σ: quadratic and landscape oracles; for SαS noise
        ``g = L`` with a ``Stable(α)`` driver of scale ``ε = η^{1-1/α} B^{1/α-1}``, recorded as
        ``sde.eps``; with one α per coordinate (``GradientNoise(..., alpha=array)``) the driver
        is ``Stable(α)`` with α and ε of shape ``(d,)``: SGD is exactly its Euler chain at
        ``h = η``, TMLR eq. 3), else ``noise="general"`` with ``m = d`` and ``g(t, x)`` the
        batched symmetric square root of ``η Σ_B(x)``, shape ``(n, d, d)``. (For an oracle with
        a ``noise_product``, :class:`sdesim.torch.TorchOracle`, no ``d × d`` anywhere: ``m =
        oracle.noise_dim`` and ``g_prod(t, x, dW) = √η G(x) dW`` with ``G Gᵀ = Σ_B``, order 1
        only; run it with ``backend="torch"`` and the model's ``device`` and ``dtype``.) Its
        ``f`` and ``g``
        call the oracle's numba kernels (:meth:`Oracle.numba_kernel`), so it runs compiled on
        the default numba backend; calling ``sgd_sde`` again with the same oracle, λ and order
        reuses the drift, and with it the compiled kernel.

    Raises
    ------
    ValueError
        ``lr <= 0``, bad ``batch_size``, ``order`` not 1 or 2, ``batch_size != 1`` with
        ``noise=False``.
    NotImplementedError
        When the oracle does not know Σ(x).

    Warns
    -----
    RuntimeWarning
        When the oracle has no numba kernel for ``grad`` (or ``hessian_vector``, ``noise_cov``):
        a Python method of a user's :class:`Oracle` subclass, or a function given to
        :class:`FunctionOracle` that numba cannot compile. The warning names the method; the SDE
        then calls it from Python at every step.

    Examples
    --------
    >>> import numpy as np, sdesim
    >>> from sdesim.sgd import NoisyQuadratic, sgd_sde
    >>> sde = sgd_sde(NoisyQuadratic([[1.0]], [[2.0]]), lr=0.1, batch_size=2)
    >>> sde.noise, float(sde.diffusion(0.0, np.zeros((1, 1)))[0, 0] ** 2)   # η Σ / B
    ('additive', 0.1)

    References
    ----------
    LMA eqs. (2), (6); docs/theory.md §0.1, §0.6, §C.4.
    """
    lr, wd = _check(oracle, lr, weight_decay)
    B = oracle.check_batch_size(batch_size)
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order!r}")
    if not noise and B != 1:
        raise ValueError(f"batch_size only scales the noise, which noise=False leaves out: pass "
                         f"batch_size=1 (the default) with noise=False, got batch_size={B}")
    name = f"SGD-SDE(order={order}, lr={lr:g}, B={B})"
    if getattr(oracle, "noise_product", None) is not None:
        return _product_sde(oracle, lr, wd, B, order, noise, name)
    f = _drift(oracle, lr if order == 2 else 0.0, wd, order)
    d = oracle.d
    if not noise:
        return SDE(f, np.zeros(d), d=d, noise="additive", name=name)
    law = getattr(oracle, "noise", None)
    if oracle.constant_noise and law is not None and law.kind == "stable" and np.any(law.alpha < 2):
        # the mean of B standard SαS is B^{1/α - 1} times one: σ of the minibatch noise
        a = np.asarray(law.alpha)
        return _levy_sde(f, law.L, d=d, alpha=a, sigma=B ** (1 / a - 1), lr=lr, name=name)
    if oracle.constant_noise:
        S = oracle.noise_cov(np.zeros((1, d)), B)[0]
        return SDE(f, psd_sqrt(lr * S), d=d, noise="additive", name=name)
    oracle.noise_cov(np.ones((1, d)), B)  # NotImplementedError now if the oracle does not know Σ
    return SDE(f, _diffusion(_Same(oracle), lr, B), d=d, m=d, noise="general", name=name)


def _product_sde(oracle: Oracle, lr: float, wd: float, B: int, order: int, noise: bool,
                 name: str) -> SDE:
    """The SDE of an oracle whose noise is a product ``G(x) v`` with ``G Gᵀ = Σ_B`` (``G`` of
    shape ``(d, noise_dim)``, never formed; :class:`sdesim.torch.TorchOracle`): drift
    ``-(∇L + λx)``, ``g_prod(t, x, dW) = √η G(x) dW``. Its ``f`` and ``g_prod`` take and return
    the oracle's arrays, so it runs on the backend of those arrays (``backend="torch"`` with the
    model's ``device`` and ``dtype``)."""
    if order != 1:
        raise ValueError(f"order=2 needs exact Hessian-vector products, which "
                         f"{type(oracle).__name__} does not give: use order=1, got order={order}")
    root = float(np.sqrt(lr))

    def like(x, val):  # numpy states (numpy backends, SDE.check) get numpy back
        return host(val) if isinstance(x, np.ndarray) else val

    def f(t, x):
        y = oracle.asarray(x)
        return like(x, -(oracle.grad(y) + wd * y))

    def g_prod(t, x, dW):
        return like(x, root * oracle.noise_product(oracle.asarray(x), dW, B))
    if not noise:
        return SDE(f, np.zeros(oracle.d), d=oracle.d, noise="additive", name=name)
    return SDE(f, g_prod=g_prod, d=oracle.d, m=oracle.noise_dim, noise="general", name=name)


def modified_equation(oracle: Oracle, lr: float, *, batch_size: int = 1,
                      weight_decay: float = 0.0, noise: bool = True) -> SDE:
    """The order-2 SDE (modified equation) of SGD: ``sgd_sde(..., order=2)``.

    Examples
    --------
    >>> from sdesim.sgd import NoisyQuadratic
    >>> modified_equation(NoisyQuadratic([[1.0]]), 0.1, noise=False).noise
    'additive'
    """
    return sgd_sde(oracle, lr, batch_size=batch_size, weight_decay=weight_decay, order=2,
                   noise=noise)


def flow(oracle: Oracle, x0, T: float, *, lr: float | None = None, weight_decay: float = 0.0,
         rtol: float | None = None, atol: float | None = None) -> np.ndarray:
    """Solve the gradient flow ``ẋ = -∇F`` (or, with ``lr``, the modified flow) to time ``T``.

    Parameters
    ----------
    oracle : Oracle
    x0 : array_like (d,)
    T : float
        Time (``T/η`` GD steps correspond to it).
    lr : float, optional
        If given, the modified flow ``ẋ = -(∇F + (η/2)∇²F ∇F)`` of GD with this LR.
    weight_decay : float
    rtol, atol : float, optional
        Tolerances of scipy's ``DOP853`` (8th order). Default: ``rtol = max(1e-12, 100 eps)``
        and ``atol = rtol / 100`` for the machine epsilon of the oracle's arithmetic (its
        ``dtype``, float64 if it has none): 1e-12 for float64 (errors near 1e-12), 1.2e-5 for
        a float32 network, whose gradients are not smooth below its rounding (tolerances
        below it make the solver shrink its step for ever).

    Returns
    -------
    ndarray (d,)

    Examples
    --------
    >>> import numpy as np
    >>> from sdesim.sgd import NoisyQuadratic
    >>> bool(abs(flow(NoisyQuadratic([[1.0]]), [1.0], 1.0)[0] - np.exp(-1)) < 1e-12)
    True

    References
    ----------
    docs/theory.md §C.4 (GD vs gradient flow: order 1; vs modified flow: order 2).
    """
    T = positive_float(T, "T")
    _, wd = _check(oracle, 1.0 if lr is None else lr, weight_decay)
    hvp = None if lr is None else _python_kernel(oracle, "hessian_vector")
    drift = _drift_function(_python_kernel(oracle, "grad"), hvp, lr, wd, 1 if lr is None else 2)

    def rhs(t, y):
        return drift(t, y[None])[0]
    y0 = as_finite_array(x0, "x0", ndim=(0, 1)).reshape(-1)
    if y0.shape != (oracle.d,):
        raise ValueError(f"x0 must have shape ({oracle.d},), got {y0.shape}")
    if rtol is None:
        single = getattr(getattr(oracle, "dtype", None), "itemsize", 8) <= 4
        rtol = max(1e-12, 100 * float(np.finfo(np.float32 if single else np.float64).eps))
    atol = rtol / 100 if atol is None else atol
    sol = solve_ivp(rhs, (0.0, T), y0, method="DOP853", rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"flow: the ODE solver failed: {sol.message}")
    return sol.y[:, -1]
