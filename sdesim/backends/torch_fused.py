"""Fused Triton kernels for the torch backend on CUDA: Philox normals at the GPU's rate, and
whole runs of the built-in diagonal linear SDEs in one launch.

Two kernels, both drawing the torch backend's counter-based stream bit for bit
(:func:`sdesim.backends.torch_backend.normals`): the normal with draw number ``q`` of path
``i`` comes from output ``q % 4`` of Philox4x32-10 on the counter ``(i, c mod 2^32, c // 2^32,
0)``, ``c = q // 4``, under the run's two 32-bit keys (``tl.philox``, Salmon et al. 2011), then
Box–Muller on the pairs of outputs ``(0, 1)`` and ``(2, 3)`` as uniforms ``(v + 1/2) / 2^32``.
The uint32 outputs are identical to the torch ops'; the normals agree to rounding (Box–Muller
here runs in the run's dtype, there in float64), so results agree with the plain torch path in
law and to float rounding, not bitwise.

- :func:`normals_into` fills a block of scaled increments ``(n, Q)`` (one Philox call serves four
  draws); :mod:`.torch_graphs` uses it.
- :func:`linear_chunk` runs a whole chunk of ``dX_j = (A_j X_j + a_j) dt + (B_j X_j + b_j) dW_j``
  (:func:`sdesim.ou`, :func:`sdesim.gbm`, ``sdesim.linear`` in diagonal form; Brownian driver)
  with each path's state in registers for all steps, every output of each Philox call used, and
  only the saved states written. Coupled levels (``ratios``) step in the same kernel, each level
  driven by its sum of fine increments, kept on-chip.

Each fine step of path ``i`` uses draws ``q = k m + j`` (step ``k``, coordinate ``j``). A
plain run (one level) with ``2 <= d <=`` :data:`ROWS_MAX_D` runs a kernel generated for its
``d`` (:func:`rows_source`): each thread keeps one path's ``d`` coordinates as ``d`` registers,
and a group of ``G = 4 / gcd(d, 4)`` steps draws exactly ``G d / 4`` Philox counters, whose
outputs go to their coordinates by name — no padding, no data moved between threads. Otherwise
(coupled levels, ``d = 1`` or larger ``d``) a program draws ``G`` steps' counters as one tile of
``CP`` (a power of 2) and routes draw ``q`` to its coordinate with ``tl.gather``, so
``CP / (G m / 4) - 1`` of the Philox work is padding.

The kernels run only on CUDA tensors (the torch backend calls them through :mod:`.torch_fast`);
tests run them on the CPU under Triton's interpreter (``TRITON_INTERPRET=1``).

References
----------
Salmon, Moraes, Dror & Shaw (2011), "Parallel random numbers: as easy as 1, 2, 3" (Philox);
Kloeden & Platen (1992), Numerical Solution of SDEs, §9.1 and §14.1 (Euler–Maruyama).
"""
from __future__ import annotations

import linecache
import math

import numpy as np
import torch
import triton
import triton.language as tl

__all__ = ["normals_into", "linear_chunk", "supports_linear", "group_shape", "rows_source",
           "ROWS_MAX_D"]

_CP_MAX = 16  # most Philox counters per path in one tile
#: Largest ``d`` run by a generated one-path-per-thread kernel (:func:`rows_source`).
ROWS_MAX_D = 16
_ROWS_BLOCK = 128  # paths per program of the generated kernels
_ROWS = {}  # d -> the compiled (jit) generated kernel


@triton.jit
def _normal_pair(a, b, F: tl.constexpr):
    """Box–Muller on two uint32 tiles, uniforms (v + 1/2) / 2^32 in dtype F."""
    ua = (a.to(F) + 0.5) * 2.3283064365386963e-10
    ub = (b.to(F) + 0.5) * 2.3283064365386963e-10
    r = tl.sqrt(-2.0 * tl.log(ua))
    th = 6.283185307179586 * ub
    return r * tl.cos(th), r * tl.sin(th)


@triton.jit
def _normals_kernel(out_ptr, q0_ptr, scale_ptr, seed, path_start, n, Q,
                    BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """out[p, col] = scale * normal(path_start + p, q0 + col), col < Q; q0 read on device."""
    F = out_ptr.dtype.element_ty
    q0 = tl.load(q0_ptr)
    scale = tl.load(scale_ptr)
    off = q0 % 4
    p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)[:, None]
    cc = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)[None, :]
    c = q0 // 4 + cc
    path = (path_start + p + cc * 0).to(tl.uint32)
    lo = (c & 0xFFFFFFFF).to(tl.uint32) + (p * 0).to(tl.uint32)
    hi = (c >> 32).to(tl.uint32) + (p * 0).to(tl.uint32)
    o0, o1, o2, o3 = tl.philox(seed, path, lo, hi, hi * 0)
    z0, z1 = _normal_pair(o0, o1, F)
    z2, z3 = _normal_pair(o2, o3, F)
    base = 4 * cc - off
    row = out_ptr + p * Q
    ok = p < n
    tl.store(row + base, z0 * scale, mask=ok & (base >= 0) & (base < Q))
    tl.store(row + base + 1, z1 * scale, mask=ok & (base + 1 >= 0) & (base + 1 < Q))
    tl.store(row + base + 2, z2 * scale, mask=ok & (base + 2 >= 0) & (base + 2 < Q))
    tl.store(row + base + 3, z3 * scale, mask=ok & (base + 3 < Q))


@triton.jit
def _linear_kernel(x0_ptr, out_ptr, coef_ptr, ratio_ptr, save_ptr, bad_ptr,
                   seed, path_start, n, n_fine, L, S,
                   D: tl.constexpr, DP: tl.constexpr, LP: tl.constexpr, COUPLED: tl.constexpr,
                   G: tl.constexpr, CP: tl.constexpr, BLOCK: tl.constexpr):
    """A whole chunk of a diagonal linear SDE; tiles are [paths, levels, coordinates]."""
    F = out_ptr.dtype.element_ty
    NC: tl.constexpr = G * D // 4  # Philox counters per group of G steps
    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    j = tl.arange(0, DP)
    lv = tl.arange(0, LP)
    p3, l3, j3 = p[:, None, None], lv[None, :, None], j[None, None, :]
    live = (p3 < n) & (l3 < L) & (j3 < D)
    x = tl.load(x0_ptr + p3 * D + j3 + l3 * 0, mask=live, other=0.0)
    cmask = j3 < D
    A = tl.load(coef_ptr + j3, mask=cmask, other=0.0)
    a = tl.load(coef_ptr + D + j3, mask=cmask, other=0.0)
    B = tl.load(coef_ptr + 2 * D + j3, mask=cmask, other=0.0)
    b = tl.load(coef_ptr + 3 * D + j3, mask=cmask, other=0.0)
    h = tl.load(coef_ptr + 4 * D)
    sqrt_h = tl.load(coef_ptr + 4 * D + 1)
    r = tl.load(ratio_ptr + l3, mask=l3 < L, other=1)
    hl = r.to(F) * h
    acc = tl.zeros((BLOCK, LP, DP), F)
    since = tl.zeros((BLOCK, LP, DP), tl.int32)
    path = (path_start + p[:, None]).to(tl.uint32) + tl.zeros((1, CP), tl.uint32)
    cc = tl.arange(0, CP)[None, :] + tl.zeros((BLOCK, 1), tl.int32)
    zero = tl.zeros((BLOCK, CP), tl.uint32)
    gidx = tl.where(j < D, j, 0)[None, :] + tl.zeros((BLOCK, 1), tl.int32)
    s = tl.full((), 0, tl.int32)
    nxt = tl.load(save_ptr)
    for grp in range(tl.cdiv(n_fine, G)):
        c = (grp * NC + cc).to(tl.uint32)  # counters < 2^31 (checked by linear_chunk)
        o0, o1, o2, o3 = tl.philox(seed, path, c, zero, zero)
        z0, z1 = _normal_pair(o0, o1, F)
        z2, z3 = _normal_pair(o2, o3, F)
        if D > 1:
            flat = tl.reshape(tl.join(tl.join(z0, z2), tl.join(z1, z3)), (BLOCK, 4 * CP))
        for g in tl.static_range(G):
            if D == 1:
                if g % 4 == 0:
                    z = z0
                elif g % 4 == 1:
                    z = z1
                elif g % 4 == 2:
                    z = z2
                else:
                    z = z3
            else:
                z = tl.gather(flat, gidx + g * D, 1)
            dw = z[:, None, :] * sqrt_h
            k = grp * G + g
            if k < n_fine:
                if COUPLED:
                    acc += dw
                    since += 1
                    now = since == r
                    x = tl.where(now, x + hl * (A * x + a) + (B * x + b) * acc, x)
                    acc = tl.where(now, 0.0, acc)
                    since = tl.where(now, 0, since)
                else:
                    x = x + h * (A * x + a) + (B * x + b) * dw
                if k + 1 == nxt:
                    tl.store(out_ptr + ((l3 * S + s) * n + p3) * D + j3, x, mask=live)
                    s += 1
                    nxt = tl.load(save_ptr + s)
    finite = (x - x) == 0.0  # false for inf and NaN
    tl.atomic_add(bad_ptr, tl.sum(tl.where(live & ~finite, 1, 0)))


def rows_source(d: int) -> str:
    """Source of the Triton kernel that runs a plain chunk of a ``d``-dimensional diagonal linear
    SDE with one path per thread (module docstring): the state as ``x0 .. x{d-1}``, draws
    ``z{q}`` of a group of ``G`` steps from ``G d / 4`` Philox counters, each counter drawn just
    before its first draw is used. The same arithmetic as ``_linear_kernel``."""
    G = 4 // math.gcd(d, 4)
    body = ["def _rows_kernel(x0_ptr, out_ptr, coef_ptr, save_ptr, bad_ptr, seed, path_start,",
            "                 n, n_fine, BLOCK: tl.constexpr):",
            "    F = out_ptr.dtype.element_ty",
            "    p = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)",
            "    live = p < n",
            "    path = (path_start + p).to(tl.uint32)",
            "    zero = tl.zeros((BLOCK,), tl.uint32)",
            f"    h = tl.load(coef_ptr + {4 * d})",
            f"    sqrt_h = tl.load(coef_ptr + {4 * d + 1})"]
    for j in range(d):
        body.append(f"    x{j} = tl.load(x0_ptr + p * {d} + {j}, mask=live, other=0.0)")
        body += [f"    {c}{j} = tl.load(coef_ptr + {i * d + j})" for i, c in enumerate("AaBb")]
    body += ["    s = tl.full((), 0, tl.int32)",
             "    nxt = tl.load(save_ptr)",
             f"    for grp in range(tl.cdiv(n_fine, {G})):",
             f"        c = zero + grp * {G * d // 4}  # uint32, < 2^31 (linear_chunk)"]
    drawn = set()
    for g in range(G):
        for q in range(g * d, (g + 1) * d):
            if q // 4 not in drawn:
                i = q // 4
                drawn.add(i)
                body += [f"        o0, o1, o2, o3 = tl.philox(seed, path, c + {i}, zero, zero)",
                         f"        z{4 * i}, z{4 * i + 1} = _normal_pair(o0, o1, F)",
                         f"        z{4 * i + 2}, z{4 * i + 3} = _normal_pair(o2, o3, F)"]
        body.append(f"        if grp * {G} + {g} < n_fine:")
        body += [f"            x{j} = x{j} + h * (A{j} * x{j} + a{j}) + (B{j} * x{j} + b{j})"
                 f" * (z{g * d + j} * sqrt_h)" for j in range(d)]
        body.append(f"            if grp * {G} + {g} + 1 == nxt:")
        body += [f"                tl.store(out_ptr + (s * n + p) * {d} + {j}, x{j}, mask=live)"
                 for j in range(d)]
        body += ["                s += 1", "                nxt = tl.load(save_ptr + s)"]
    body.append("    bad = tl.zeros((BLOCK,), tl.int32)")
    body += [f"    bad += tl.where(live & ((x{j} - x{j}) != 0.0), 1, 0)  # inf, NaN"
             for j in range(d)]
    body.append("    tl.atomic_add(bad_ptr, tl.sum(bad))")
    return "\n".join(body) + "\n"


def _rows_kernel(d: int):
    """The jit kernel of :func:`rows_source` for ``d``, generated once per process (its source
    registered with ``linecache``, where Triton reads a kernel's source)."""
    if d not in _ROWS:
        src = rows_source(d)
        name = f"<sdesim.backends.torch_fused rows kernel d={d}>"
        linecache.cache[name] = (len(src), None, src.splitlines(True), name)
        scope = {"tl": tl, "_normal_pair": _normal_pair}
        exec(compile(src, name, "exec"), scope)  # noqa: S102 - our own generated source
        _ROWS[d] = triton.jit(scope["_rows_kernel"])
    return _ROWS[d]


def normals_into(out: torch.Tensor, key, path_start: int, q0: torch.Tensor,
                 scale: torch.Tensor) -> torch.Tensor:
    """Fill ``out`` ``(n, Q)`` with ``scale`` times the normals of draws ``q0 .. q0 + Q - 1`` of
    paths ``path_start .. path_start + n - 1`` (the stream of :mod:`.torch_backend`).

    ``q0`` (int64, ``()``) and ``scale`` (``out``'s dtype, ``()``) are device tensors read by the
    kernel, so a CUDA graph that holds the launch draws the block named by their current values.
    """
    n, Q = out.shape
    grid = (triton.cdiv(n, 16), triton.cdiv(Q // 4 + 2, 16))
    _normals_kernel[grid](out, q0, scale, _seed(key), path_start, n, Q, BLOCK_P=16, BLOCK_C=16)
    return out


def _seed(key) -> int:
    """Triton's 64-bit Philox seed from the two 32-bit keys (low word first)."""
    return int(key[0]) | (int(key[1]) << 32)


def group_shape(d: int) -> tuple[int, int]:
    """``(G, CP)``: steps per group and the counter tile width (a power of 2) for ``d`` draws
    per step; ``G d`` is a multiple of 4 and ``G d / 4 <= CP``, chosen to waste least Philox work."""
    if d == 1:
        return 4, 1
    base = 4 // math.gcd(d, 4)
    best = None
    for G in range(base, 17, base):
        nc = G * d // 4
        if nc > _CP_MAX:
            break
        cp = 1 << (nc - 1).bit_length()
        if best is None or nc / cp > best[0] + 1e-12:
            best = (nc / cp, G, cp)
    if best is None:
        return base, 1 << (base * d // 4 - 1).bit_length()
    return best[1], best[2]


def supports_linear(sde, dtype) -> bool:
    """Whether :func:`linear_chunk` runs ``sde``: a diagonal-form linear SDE, Brownian driver,
    float32/float64."""
    from ..drivers import Brownian
    from ..sde import LinearSDE
    return (isinstance(sde, LinearSDE) and sde.form == "diag" and isinstance(sde.driver, Brownian)
            and getattr(sde, "g_prod", None) is None and dtype in (torch.float32, torch.float64))


def linear_chunk(sde, x0: torch.Tensor, h: float, n_fine: int, ratios, save_steps, key,
                 path_start: int = 0):
    """One fused launch: ``n`` paths of a diagonal linear SDE over ``n_fine`` fine steps.

    Parameters
    ----------
    sde : LinearSDE in diagonal form (:func:`supports_linear`)
    x0 : tensor ``(n, d)`` on the device, float32 or float64 (the run's dtype)
    h : fine step; ratios : level ``l`` steps ``ratios[l] * h`` (``ratios`` (L,), 1 first-free)
    save_steps : fine steps ``>= 1`` at which to save, increasing (S,)
    key : the run's two 32-bit Philox keys; path_start : run index of the first path

    Returns
    -------
    (states, n_nonfinite): states ``(L, S, n, d)`` on the device, and how many final state
    entries are not finite.

    Examples
    --------
    >>> import sdesim  # doctest: +SKIP
    >>> x0 = torch.ones((1000, 1), device="cuda")  # doctest: +SKIP
    >>> linear_chunk(sdesim.ou(1.0, 0.5), x0, 0.01, 100, (1,), [100], (1, 2))[0].shape  # doctest: +SKIP
    torch.Size([1, 1, 1000, 1])
    """
    n, d = x0.shape
    L, S = len(ratios), len(save_steps)
    dev, dt = x0.device, x0.dtype
    if n_fine * d // 4 + 4 * _CP_MAX >= 2**31 or path_start + n > 2**32:
        raise ValueError(f"linear_chunk: n_fine * d = {n_fine * d} must be below about 2^33 "
                         f"and path_start + n = {path_start + n} at most 2^32")
    coef = np.concatenate([np.broadcast_to(v, (d,)) for v in (sde.A, sde.a, sde.B, sde.b)]
                          + [[h, math.sqrt(h)]])
    coef = torch.as_tensor(coef, dtype=dt, device=dev)
    ratio_t = torch.as_tensor(np.asarray(ratios, dtype=np.int32), device=dev)
    saves = torch.as_tensor(np.append(np.asarray(save_steps, dtype=np.int32), -1), device=dev)
    out = torch.empty((L, S, n, d), dtype=dt, device=dev)
    bad = torch.zeros(1, dtype=torch.int32, device=dev)
    G, CP = group_shape(d)
    DP, LP = triton.next_power_of_2(d), triton.next_power_of_2(L)
    block = max(1, min(256, 2048 // (DP * LP * CP)))
    block = 1 << (block.bit_length() - 1)
    coupled = L > 1 or int(ratios[0]) != 1
    if not coupled and 2 <= d <= ROWS_MAX_D:
        _rows_kernel(d)[(triton.cdiv(n, _ROWS_BLOCK),)](
            x0.contiguous(), out, coef, saves, bad, _seed(key), path_start, n, n_fine,
            BLOCK=_ROWS_BLOCK, num_warps=4)
        return out, bad
    _linear_kernel[(triton.cdiv(n, block),)](
        x0.contiguous(), out, coef, ratio_t, saves, bad, _seed(key), path_start, n, n_fine, L, S,
        D=d, DP=DP, LP=LP, COUPLED=coupled, G=G, CP=CP, BLOCK=block, num_warps=4)
    return out, bad
