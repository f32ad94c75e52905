"""The problem: an Itô SDE ``dX = f(t, X) dt + g(t, X) dL`` driven by Brownian or α-stable noise.

Shapes (``n`` paths, state dimension ``d``, noise dimension ``m``):

============  ==========================  ===========  =====================================
noise kind    ``g(t, x)`` returns          ``m``        noise term over a step
============  ==========================  ===========  =====================================
diagonal      ``(n, d)``                   ``d``        ``g * dL`` (elementwise)
scalar        ``(n, d)``                   ``1``        ``g * dL[:, :1]`` (one shared noise)
general       ``(n, d, m)``                given        ``einsum('ndm,nm->nd', g, dL)``
additive      constant ``(d,)`` or         ``d`` or     ``dL * b`` or ``dL @ B.T``
              ``(d, m)``, or ``g(t)``      ``m``
============  ==========================  ===========  =====================================

``f(t, x)`` always takes ``x`` of shape ``(n, d)`` and returns ``(n, d)``. ``t`` is a float.

Diffusion as a product (torchsde's name): instead of ``g``, give ``g_prod(t, x, dL)`` returning
the noise term ``(n, d)`` for increments ``dL`` ``(n, m)`` without forming ``g`` — for a
network, where ``g`` is ``d × N``. Every backend that runs the SDE calls ``g_prod`` with the
step's increments (the numba backend runs such an SDE on numpy, after a warning).

One ``f`` for numpy and torch (array-API style): the numpy backends call ``f``/``g`` with numpy
arrays, the torch backend with torch tensors. Operations both share (``-x``, ``x ** 3``,
``0.5 * x``, ``x @ A.T``) need nothing more; for functions, take the namespace of the input —
``xp = array_api_compat.array_namespace(x)``, then ``xp.sin(x)``, ``xp.ones_like(x)`` (what
scipy does) — and create no numpy arrays from ``x``.

Examples
--------
A 2-d Itô SDE with diagonal multiplicative noise:

>>> import numpy as np
>>> import sdesim
>>> sde = sdesim.SDE(lambda t, x: -x**3, lambda t, x: 0.5 * np.ones_like(x) + 0.1 * x, d=2)
>>> sde.noise, sde.m
('diagonal', 2)

>>> from array_api_compat import array_namespace
>>> def f(t, x):
...     xp = array_namespace(x)
...     return -xp.sin(x)
>>> sde = sdesim.SDE(f, lambda t, x: 0.5 + 0.0 * x, d=1)   # runs on backend="numpy" and "torch"

Writing ``f`` and ``g`` so that the numba backend can compile them: use numpy operations that
numba supports on 2-d float arrays (arithmetic, ufuncs, ``np.empty``/``np.zeros_like``, loops,
slicing), no Python objects, closures over other Python functions, or keyword arguments; capture
constants as numpy arrays or floats. Where numba cannot compile them the numba backend says why
and runs the numpy backend instead.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ._validate import as_finite_array
from .drivers import Brownian, Driver

__all__ = ["SDE", "LinearSDE", "ou", "gbm", "linear", "NOISE_KINDS"]

NOISE_KINDS = ("diagonal", "scalar", "general", "additive")
#: Said after a shape error: x is a probe or a chunk of paths, not all n_paths.
_ROWS = " (n is the number of rows of x: a few probe paths or one chunk, not n_paths)"


class SDE:
    """An Itô SDE ``dX = f(t, X) dt + g(t, X) dL_t`` over paths vectorised as ``(n, d)``.

    Parameters
    ----------
    f : callable ``f(t, x) -> (n, d)``
        Drift, vectorised over paths; ``x`` has shape ``(n, d)``.
    g : callable or array_like, optional
        Diffusion; its shape depends on ``noise`` (see the module table). For ``"additive"``
        a constant ``(d,)`` (diagonal) or ``(d, m)`` array, or a callable ``g(t)`` returning one.
        Omitted when ``g_prod`` is given.
    d : int
        State dimension.
    m : int, optional
        Noise dimension; required for ``"general"``, implied otherwise.
    noise : {"diagonal", "scalar", "general", "additive"}
    driver : Driver, default ``Brownian()``
        ``sdesim.Brownian()`` or ``sdesim.Stable(alpha)`` (Lévy-driven, Itô/Euler sense).
    name : str, optional
    g_prod : callable ``g_prod(t, x, dL) -> (n, d)``, optional
        The noise term ``g(t, x) dL`` for increments ``dL`` ``(n, m)``, instead of ``g`` (module
        docstring); any noise kind but ``"additive"``.

    Raises
    ------
    ValueError
        Unknown ``noise``, inconsistent ``m``, wrong additive ``g`` shape, both or neither of
        ``g`` and ``g_prod``, ``g_prod`` with additive noise. Wrong shapes returned
        by ``f``/``g`` are reported by :meth:`check` before a run and wherever a backend calls
        them, with the message of :meth:`shape_error` on every backend.

    Examples
    --------
    >>> import numpy as np, sdesim
    >>> sde = sdesim.SDE(lambda t, x: -x, np.array([[1.0, 0.5], [0.0, 1.0]]), d=2,
    ...                  noise="additive")
    >>> sde.m
    2

    A diffusion given as a product (``g`` of shape ``(n, 2, 3)`` never formed):

    >>> W = np.arange(6.0).reshape(2, 3) / 10
    >>> sde = sdesim.SDE(lambda t, x: -x, g_prod=lambda t, x, dL: dL @ W.T, d=2, m=3,
    ...                  noise="general")
    >>> sde.noise_term(0.0, np.zeros((4, 2)), np.ones((4, 3))).shape
    (4, 2)

    References
    ----------
    Kloeden & Platen (1992), Numerical Solution of SDEs, §9.1 (Itô SDE, noise classes).
    """

    def __init__(self, f: Callable, g=None, *, d: int, m: int | None = None,
                 noise: str = "diagonal", driver: Driver | None = None, name: str | None = None,
                 g_prod: Callable | None = None):
        if noise not in NOISE_KINDS:
            raise ValueError(f"noise must be one of {NOISE_KINDS}, got {noise!r}")
        if not callable(f):
            raise TypeError(f"f must be callable f(t, x) -> (n, d), got {type(f).__name__}")
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"d must be a positive integer, got {d!r}")
        self.f, self.d, self.noise = f, int(d), noise
        self.driver = Brownian() if driver is None else driver
        if not isinstance(self.driver, Driver):
            raise TypeError(f"driver must be a sdesim Driver (Brownian() or Stable(alpha)), "
                            f"got {type(self.driver).__name__}")
        self.name = name or "SDE"
        self._additive_const = None
        self.g_prod = _checked_g_prod(g, g_prod, noise)
        if g_prod is not None:
            implied_m = {"diagonal": self.d, "scalar": 1}.get(noise)
        elif noise == "additive" and not callable(g):
            b = as_finite_array(g, "g", ndim=(1, 2))
            if b.shape[0] != self.d:
                raise ValueError(f"g (additive) must have shape ({self.d},) or ({self.d}, m), "
                                 f"got {b.shape}")
            b = b.copy()
            b.flags.writeable = False
            self._additive_const = b
            implied_m = b.shape[1] if b.ndim == 2 else self.d
        elif not callable(g):
            raise TypeError(f"g must be callable for noise={noise!r}, got {type(g).__name__}")
        else:
            implied_m = {"diagonal": self.d, "scalar": 1}.get(noise)
        self.g = g
        if noise == "general":
            if m is None:
                raise ValueError("m (noise dimension) is required for noise='general'")
            implied_m = int(m)
        elif noise == "additive" and implied_m is None:
            implied_m = self.d if m is None else int(m)
        if m is not None and int(m) != implied_m:
            raise ValueError(f"m must be {implied_m} for noise={noise!r} with these shapes, got {m}")
        if implied_m < 1:
            raise ValueError(f"m must be >= 1, got {implied_m}")
        self.m = int(implied_m)
        self.driver.check_dimension(self.m)

    @property
    def additive_constant(self) -> np.ndarray | None:
        """The constant additive diffusion, ``(d,)`` or ``(d, m)`` (a read-only copy of ``g``),
        or ``None`` when ``g`` is a callable or the noise is not additive.

        Compiled backends pass it to their kernels as an argument (so SDEs differing only in
        it share a kernel).
        """
        return self._additive_const

    # ------------------------------------------------------------------ evaluation
    def _no_g(self) -> TypeError:
        return TypeError(f"{self.name} gives its diffusion as g_prod(t, x, dL) only: g(t, x) is "
                         f"not formed; use noise_term(t, x, dL)")

    def drift(self, t: float, x: np.ndarray) -> np.ndarray:
        """Drift ``f(t, x)``, shape ``(n, d)``; raises :meth:`shape_error` on any other shape."""
        fx = self.f(t, x)
        if isinstance(fx, (list, tuple)):  # as g: nested lists are read as an array
            fx = np.asarray(fx, dtype=float)
        if np.shape(fx) != (x.shape[0], self.d):
            raise self.shape_error("f", x.shape[0], np.shape(fx))
        return fx

    def diffusion(self, t: float, x: np.ndarray | None) -> np.ndarray:
        """Diffusion coefficient as returned by ``g`` (shape per noise kind, module table).

        Raises :meth:`shape_error` unless the shape is the one the noise kind requires
        (``x`` may be ``None`` for additive noise); a ``TypeError`` for an SDE given by
        ``g_prod``.
        """
        if self.g_prod is not None:
            raise self._no_g()
        if self.noise == "additive":
            gx = self._additive_const if self._additive_const is not None else np.asarray(self.g(t))
            if gx.shape != (self.d, self.m) and (gx.shape != (self.d,) or self.m != self.d):
                raise self.shape_error("g", 0, gx.shape)
            return gx
        gx = self.g(t, x)
        if np.shape(gx) != self.g_shape(x.shape[0]):
            raise self.shape_error("g", x.shape[0], np.shape(gx))
        return gx

    def g_shape(self, n: int) -> tuple[int, ...]:
        """The shape ``g(t, x)`` must return at ``x`` of shape ``(n, d)`` (non-additive noise)."""
        return (n, self.d, self.m) if self.noise == "general" else (n, self.d)

    def shape_error(self, which: str, rows: int, got: tuple) -> ValueError:
        """The error for ``f`` or ``g`` (``which``) returning shape ``got`` at ``x`` of shape
        ``(rows, d)``: the one message every backend raises."""
        d, m = self.d, self.m
        if which == "g_prod":
            return ValueError(f"g_prod(t, x, dL) must return shape (n, d) = ({rows}, {d}) "
                              f"at x of shape ({rows}, {d}) and dL of shape ({rows}, {m}), "
                              f"got {tuple(got)}{_ROWS}")
        if which == "f":
            return ValueError(f"f(t, x) must return shape (n, d) = ({rows}, {d}) at x of "
                              f"shape ({rows}, {d}), got {tuple(got)}{_ROWS}")
        if self.noise == "additive":
            want = f"(d, m) = ({d}, {m})" if m != d else f"(d,) = ({d},) or (d, m) = ({d}, {m})"
            return ValueError(f"g(t) must return shape {want} for noise='additive', "
                              f"got {tuple(got)}")
        want = "(n, d, m)" if self.noise == "general" else "(n, d)"
        return ValueError(f"g(t, x) must return shape {want} = {self.g_shape(rows)} for "
                          f"noise={self.noise!r} at x of shape ({rows}, {d}), got {tuple(got)}"
                          f"{_ROWS}")

    def noise_term(self, t: float, x: np.ndarray, dL: np.ndarray) -> np.ndarray:
        """``g(t, x) dL`` for increments ``dL`` of shape ``(n, m)`` (through ``g_prod`` when
        given); returns ``(n, d)``. Raises :meth:`shape_error` on a wrong shape."""
        if self.g_prod is not None:
            out = self.g_prod(t, x, dL)
            if np.shape(out) != (x.shape[0], self.d):
                raise self.shape_error("g_prod", x.shape[0], np.shape(out))
            return out
        gx = self.diffusion(t, x)
        if self.noise in ("diagonal", "scalar"):  # scalar: dL has shape (n, 1) and broadcasts
            return gx * dL
        if self.noise == "general":
            return np.einsum("ndm,nm->nd", gx, dL)
        if gx.ndim == 1:  # additive diagonal
            return dL * gx
        return dL @ gx.T

    def probe_states(self, x0: np.ndarray) -> np.ndarray:
        """States to check ``f`` and ``g`` on before a run: the first rows of ``x0`` ``(n, d)``,
        repeated as needed, as many as the first of 5, 7, 11 that is neither ``d`` nor ``m``
        (so that a constant ``(d, d)`` or ``(m, m)`` array, or ``x[:2]``, cannot pass as
        ``(n_paths, d)``)."""
        rows = next(r for r in (5, 7, 11) if r not in (self.d, self.m))
        return np.array(x0[np.arange(rows) % x0.shape[0]], dtype=float)

    def check(self, t: float, x: np.ndarray) -> None:
        """Evaluate ``f`` and ``g`` once on ``x`` (shape ``(n, d)``, e.g. :meth:`probe_states`)
        and check what they return.

        Raises
        ------
        ValueError
            :meth:`shape_error` (naming ``f`` or ``g``, the expected shape and the shape
            returned), or non-finite values at the initial state.
        """
        fx = self.drift(t, x)
        if self.g_prod is None:
            gname, gx = "g", self.diffusion(t, x)
        else:
            gname, gx = "g_prod", self.noise_term(t, x, np.ones((x.shape[0], self.m)))
        for name, val in (("f", fx), (gname, gx)):
            if not np.all(np.isfinite(val)):
                raise ValueError(f"{name} returned non-finite values at t={t} for the initial state")

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, d={self.d}, m={self.m}, "
                f"noise={self.noise!r}, driver={self.driver!r})")


def _checked_g_prod(g, g_prod, noise: str):
    """``g_prod`` after checking it against ``g`` and ``noise`` (errors name the argument)."""
    if g_prod is None:
        if g is None:
            raise TypeError("give the diffusion as g (a callable or, for additive noise, an "
                            "array) or as g_prod(t, x, dL); got neither")
        return None
    if g is not None:
        raise TypeError("give the diffusion as g or as g_prod, not both")
    if not callable(g_prod):
        raise TypeError(f"g_prod must be callable g_prod(t, x, dL) -> (n, d), got "
                        f"{type(g_prod).__name__}")
    if noise == "additive":
        raise ValueError("g_prod is for noise 'diagonal', 'scalar' or 'general'; an additive "
                         "noise is a constant g: give it as g")
    return g_prod


class LinearSDE(SDE):
    """Linear SDE ``dX = (A X + a) dt + Σ_j (B_j X + b_j) dL_j``, with compiled fast paths.

    Stored in one of two forms, chosen by the constructors:

    - ``"diag"``: ``A``, ``a``, ``B``, ``b`` are ``(d,)`` vectors and the noise is diagonal,
      ``dX_i = (A_i X_i + a_i) dt + (B_i X_i + b_i) dL_i``;
    - ``"dense"``: ``A`` ``(d, d)``, ``a`` ``(d,)``, ``B`` ``(m, d, d)``, ``b`` ``(m, d)``.

    Build it with :func:`ou`, :func:`gbm` or :func:`linear`.
    """

    def __init__(self, form: str, A, a, B, b, *, driver=None, name=None):
        self.form = form
        self.A, self.a, self.B, self.b = (np.ascontiguousarray(v, dtype=float) for v in (A, a, B, b))
        self.nonzero = {k: bool(np.any(v)) for k, v in zip("AaBb", (self.A, self.a, self.B, self.b))}
        if form == "diag":
            if not self.nonzero["B"]:
                super().__init__(self._f_diag, self.b, d=self.A.shape[0], noise="additive",
                                 driver=driver, name=name)
            else:
                super().__init__(self._f_diag, self._g_diag, d=self.A.shape[0], noise="diagonal",
                                 driver=driver, name=name)
        else:
            d, m = self.A.shape[0], self.B.shape[0]
            if not self.nonzero["B"]:
                super().__init__(self._f_dense, self.b.T.copy(), d=d, m=m, noise="additive",
                                 driver=driver, name=name)
            else:
                super().__init__(self._f_dense, self._g_dense, d=d, m=m, noise="general",
                                 driver=driver, name=name)

    def _f_diag(self, t, x):
        return self.A * x + self.a

    def _g_diag(self, t, x):
        return self.B * x + self.b

    def _f_dense(self, t, x):
        return x @ self.A.T + self.a

    def _g_dense(self, t, x):
        # (n, d, m): column j is B_j x + b_j
        return np.einsum("jde,ne->ndj", self.B, x) + self.b.T[None]


def _infer_d(d, **arrays) -> int:
    """The state dimension the (named) arguments imply: their first axis, or ``d``; 1 for
    scalars only. Raises a ValueError naming each argument's implied dimension when they differ."""
    implied = {name: a.shape[0] for name, a in arrays.items() if a.ndim >= 1}
    if d is not None:
        implied["d"] = int(d)
    if len(set(implied.values())) > 1:
        said = ", ".join(f"d = {v}" if name == "d" else f"{name} implies d = {v}"
                         for name, v in implied.items())
        raise ValueError(f"inconsistent dimensions: {said}")
    return next(iter(implied.values()), 1)


def ou(A, B, *, mean=None, d: int | None = None, driver: Driver | None = None) -> LinearSDE:
    """Ornstein–Uhlenbeck process ``dX = -A (X - mean) dt + B dL``.

    Parameters
    ----------
    A : float, array_like (d,) or (d, d)
        Mean-reversion matrix; a scalar or vector means a diagonal matrix.
    B : float, array_like (d,) or (d, m)
        Noise matrix; a scalar or vector means diagonal noise (m = d).
    mean : array_like (d,), optional
        Long-run mean (default 0).
    d : int, optional
        Dimension when ``A`` and ``B`` are scalars (default 1).
    driver : Driver, optional
        Brownian (default) or ``Stable(alpha)`` for the α-stable OU process.

    Returns
    -------
    LinearSDE

    Examples
    --------
    >>> import sdesim
    >>> sde = sdesim.ou(1.0, 0.5, d=3)
    >>> sde.d, sde.noise
    (3, 'additive')

    References
    ----------
    docs/theory.md §C.1 (OU moments, Lyapunov equation), §C.6 (stable OU).
    """
    A_ = as_finite_array(A, "A", ndim=(0, 1, 2))
    B_ = as_finite_array(B, "B", ndim=(0, 1, 2))
    dd = _infer_d(d, A=A_, B=B_)
    mu = np.zeros(dd) if mean is None else as_finite_array(mean, "mean", ndim=(0, 1))
    mu = np.broadcast_to(mu, (dd,)).astype(float)
    if A_.ndim < 2 and B_.ndim < 2:
        Av = np.broadcast_to(A_, (dd,)).astype(float)
        return LinearSDE("diag", -Av, Av * mu, np.zeros(dd), np.broadcast_to(B_, (dd,)),
                         driver=driver, name="OU")
    Am = np.diag(np.broadcast_to(A_, (dd,))) if A_.ndim < 2 else A_
    Bm = np.diag(np.broadcast_to(B_, (dd,))) if B_.ndim < 2 else B_
    if Am.shape != (dd, dd):
        raise ValueError(f"A must have shape ({dd}, {dd}), got {Am.shape}")
    if Bm.ndim != 2 or Bm.shape[0] != dd:
        raise ValueError(f"B must have shape ({dd}, m), got {Bm.shape}")
    m = Bm.shape[1]
    return LinearSDE("dense", -Am, Am @ mu, np.zeros((m, dd, dd)), Bm.T, driver=driver, name="OU")


def gbm(mu, sigma, *, d: int | None = None, driver: Driver | None = None) -> LinearSDE:
    """Geometric Brownian motion ``dX_i = mu_i X_i dt + sigma_i X_i dL_i`` (independent coordinates).

    Parameters
    ----------
    mu, sigma : float or array_like (d,)
    d : int, optional
        Dimension when both are scalars (default 1).
    driver : Driver, optional

    Returns
    -------
    LinearSDE

    Examples
    --------
    >>> import sdesim
    >>> sdesim.gbm(0.5, 0.4).noise
    'diagonal'

    References
    ----------
    docs/theory.md §C.2 (exact EM-chain moments of GBM).
    """
    mu_ = as_finite_array(mu, "mu", ndim=(0, 1))
    s_ = as_finite_array(sigma, "sigma", ndim=(0, 1))
    dd = _infer_d(d, mu=mu_, sigma=s_)
    zero = np.zeros(dd)
    return LinearSDE("diag", np.broadcast_to(mu_, (dd,)), zero, np.broadcast_to(s_, (dd,)), zero,
                     driver=driver, name="GBM")


def linear(A, B_list, *, a=None, b_list=None, driver: Driver | None = None) -> LinearSDE:
    """Linear SDE with multiplicative matrix noise ``dX = (A X + a) dt + Σ_j (B_j X + b_j) dL_j``.

    Parameters
    ----------
    A : array_like (d, d)
    B_list : sequence of m arrays (d, d)
    a : array_like (d,), optional
    b_list : sequence of m arrays (d,), optional

    Returns
    -------
    LinearSDE (noise ``"general"`` with m = len(B_list))

    Examples
    --------
    >>> import numpy as np, sdesim
    >>> sde = sdesim.linear(-np.eye(2), [np.array([[0, 1.], [0, 0]]), np.array([[0, 0], [1., 0]])])
    >>> sde.noise, sde.m
    ('general', 2)

    References
    ----------
    Kloeden & Platen (1992) §4.8 (linear SDEs); docs/theory.md §C.2.
    """
    A_ = as_finite_array(A, "A", ndim=(2,))
    dd = A_.shape[0]
    if A_.shape != (dd, dd):
        raise ValueError(f"A must be square, got shape {A_.shape}")
    if len(B_list) == 0 and not b_list:
        raise ValueError("B_list must hold at least one (d, d) matrix (or give b_list)")
    m = max(len(B_list), len(b_list or []))
    B = np.zeros((m, dd, dd))
    for j, Bj in enumerate(B_list):
        Bj = as_finite_array(Bj, f"B_list[{j}]", ndim=(2,))
        if Bj.shape != (dd, dd):
            raise ValueError(f"B_list[{j}] must have shape ({dd}, {dd}), got {Bj.shape}")
        B[j] = Bj
    b = np.zeros((m, dd))
    for j, bj in enumerate(b_list or []):
        bj = as_finite_array(bj, f"b_list[{j}]", ndim=(1,))
        if bj.shape != (dd,):
            raise ValueError(f"b_list[{j}] must have shape ({dd},), got {bj.shape}")
        b[j] = bj
    a_ = np.zeros(dd) if a is None else as_finite_array(a, "a", ndim=(1,))
    if a_.shape != (dd,):
        raise ValueError(f"a must have shape ({dd},), got {a_.shape}")
    return LinearSDE("dense", A_, a_, B, b, driver=driver, name="linear")
