"""Chambers–Mallows–Stuck on vectorisable elementary functions (the fast SαS transform).

Shared by :func:`sdesim.levy.stable_rvs` (through :func:`stable_chunk`, the seeded bulk kernel)
and the numba backend's α-stable increments.

Example
-------
>>> import numpy as np
>>> from sdesim.backends.stable_cms import cms_block
>>> from sdesim.drivers import standard_stable
>>> rng = np.random.default_rng(0)
>>> v = (rng.random(1000) - 0.5) * np.pi
>>> w = rng.standard_exponential(1000)
>>> out = np.empty(1000)
>>> ref = standard_stable(np.random.default_rng(0), 1.5, (1000,))  # same v, w: numpy's CMS
>>> cms_block(v, w, out, 1.5, 1.0, np.empty(1000))
>>> bool(np.allclose(out, ref, rtol=1e-12))
True
"""
from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["cms_block", "cauchy_block", "stable_chunk", "STABLE_BLOCK"]

# Chambers–Mallows–Stuck with one exp of two logs, on inlined polynomial sin/cos/log/exp that
# LLVM vectorises (the libm calls do not vectorise and cost ~15 ns each). The polynomials and
# argument reductions are fdlibm's (Sun Microsystems, 1993: k_sin.c, k_cos.c, e_rem_pio2.c,
# e_log.c, e_exp.c); each is accurate to about 1 ulp on the ranges used here. The Horner steps
# are fused multiply-adds written out (:func:`_fma`, ``llvm.fma``), and no fast-math flag is set:
# letting LLVM contract on its own made the fusing depend on how a function was inlined, so a
# cold compile and a load from numba's on-disk cache gave different last bits for one seed.
# Exact products are fused too (one rounding either way: no bit changes, one instruction
# less): k·_PIO2_1, k·_PIO2_2, k·_LN2_HI (at most 32 significant bits, |k| < 2^11) and
# k·_PIO2_2T (|k| <= 2 for |x| < 5π/4).
_PIO2_1 = 1.57079632673412561417e+00    # first 33 bits of π/2
_PIO2_2 = 6.07710050630396597660e-11    # next 33 bits
_PIO2_2T = 2.02226624879595063154e-21   # π/2 - _PIO2_1 - _PIO2_2
_TWO_OVER_PI = 6.36619772367581382433e-01
_S1, _S2, _S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
_S4, _S5, _S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
_C1, _C2, _C3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
_C4, _C5, _C6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_LG1, _LG2, _LG3 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01
_LG4, _LG5 = 2.222219843214978396e-01, 1.818357216161805012e-01
_LG6, _LG7 = 1.531383769920937332e-01, 1.479819860511658591e-01
_P1, _P2, _P3 = 1.66666666666666019037e-01, -2.77777777770155933842e-03, 6.61375632143793436117e-05
_P4, _P5 = -1.65339022054652515390e-06, 4.13813679705723846039e-08
_SQRT2 = 1.4142135623730951
_EXP_CLAMP = 1400.0                      # |y| beyond this: exp(y) is 0 or inf anyway
_INF_BITS = 0x7FF0000000000000
_MANT_MASK = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000         # the bits of 1.0

_jit = dict(nogil=True, cache=True, error_model="numpy")
_jit_inline = dict(nogil=True, cache=True, error_model="numpy", inline="always")


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (``llvm.fma``): fused wherever it is written, whatever the
    inlining, so the results do not depend on how a kernel was compiled or cached."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        dbl = ir.DoubleType()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(dbl, [dbl] * 3),
                                            "llvm.fma.f64")
        return builder.call(fn, args)
    return sig, codegen


@intrinsic
def _float(typingctx, b):
    """The double whose bits are the int64 ``b`` (a bitcast)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@numba.njit(**_jit_inline)
def _sincos(x):
    """``(sin x, cos x)`` for ``|x| < 5π/4`` (Cody–Waite reduction by π/2, fdlibm kernels)."""
    k = math.floor(x * _TWO_OVER_PI + 0.5)
    r = _fma(-k, _PIO2_2T, _fma(-k, _PIO2_2, _fma(-k, _PIO2_1, x)))  # exact products
    z = r * r
    ps = _fma(z, _fma(z, _fma(z, _fma(z, _fma(z, _S6, _S5), _S4), _S3), _S2), _S1)
    s = _fma(z * r, ps, r)
    hz = 0.5 * z
    w = 1.0 - hz
    pc = _fma(z, _fma(z, _fma(z, _fma(z, _fma(z, _C6, _C5), _C4), _C3), _C2), _C1)
    c = w + _fma(z * z, pc, (1.0 - w) - hz)
    if k == 0.0:
        return s, c
    if k == 1.0:
        return c, -s
    if k == -1.0:
        return -c, s
    return -s, -c


@numba.njit(**_jit_inline)
def _log_bits(b):
    """``log x`` from the bits ``b`` of a positive normal double ``x`` (``inf`` for +inf)."""
    dk = float((b >> 52) - 1023)
    m = _float((b & _MANT_MASK) | _ONE_BITS)  # 1 + mantissa · 2^-52, exactly
    if m > _SQRT2:
        m *= 0.5
        dk += 1.0
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    R = _fma(z, _fma(w, _fma(w, _fma(w, _LG7, _LG5), _LG3), _LG1),
             w * _fma(w, _fma(w, _LG6, _LG4), _LG2))
    hfsq = 0.5 * f * f
    out = _fma(dk, _LN2_HI, -((hfsq - (s * (hfsq + R) + dk * _LN2_LO)) - f))  # exact product
    if b >= _INF_BITS:
        out = math.inf
    return out


@numba.njit(**_jit_inline)
def _exp_parts(y):
    """``exp y = e · 2^k1 · 2^k2``: returns ``e`` and the bits of the two powers of two."""
    y = min(max(y, -_EXP_CLAMP), _EXP_CLAMP)
    k = math.floor(y * _INV_LN2 + 0.5)
    hi = _fma(-k, _LN2_HI, y)  # exact product
    lo = k * _LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * _fma(t, _fma(t, _fma(t, _fma(t, _P5, _P4), _P3), _P2), _P1)
    e = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    ki = np.int64(k)
    k1 = ki >> 1
    return e, (k1 + 1023) << 52, (ki - k1 + 1023) << 52


@numba.njit(**_jit)
def cms_block(v, w, out, alpha, scale, tmp):
    """CMS transform of angles ``v`` and exponentials ``w`` (shape ``(n,)``) into ``out``.

    ``out = scale · sin(αv) · exp(((1-α)/α) log(cos((1-α)v)/w) - log(cos v)/α)``, the formula
    of :func:`sdesim.drivers.standard_stable`; ``cos((1-α)v) = cos v cos αv + sin v sin αv``
    (no cancellation: both terms are >= 0 unless |αv| > π/2, and then the sum stays of the
    order of the larger term). ``v``, ``w`` and ``tmp`` are overwritten (scratch).
    """
    n = v.shape[0]
    ia = 1.0 / alpha
    p = (1.0 - alpha) * ia
    for i in range(n):
        sv, cv = _sincos(v[i])
        sa, ca = _sincos(alpha * v[i])
        out[i] = scale * sa
        tmp[i] = cv
        w[i] = (cv * ca + sv * sa) / w[i]
    wb = w.view(np.int64)
    tb = tmp.view(np.int64)
    for i in range(n):
        v[i] = p * _log_bits(wb[i]) - ia * _log_bits(tb[i])
    for i in range(n):
        e, b1, b2 = _exp_parts(v[i])
        out[i] = ((out[i] * e) * _float(b1)) * _float(b2)


@numba.njit(**_jit)
def cauchy_block(v, out, scale):
    """``out = scale · tan v`` (the CMS formula at α = 1), vectorised."""
    for i in range(v.shape[0]):
        sv, cv = _sincos(v[i])
        out[i] = scale * sv / cv


#: Samples per vectorised block of :func:`stable_chunk` (fixed: the stream depends on it).
STABLE_BLOCK = 2048


@numba.njit(**_jit)
def stable_chunk(rng, out, alpha, scale):
    """Fill ``out`` (1-d) with ``scale`` × standard SαS draws from the numpy Generator ``rng``.

    Per block of :data:`STABLE_BLOCK` samples: the uniforms, then the exponentials, then the
    vectorised transform :func:`cms_block`. At α = 1 (Cauchy, ``Z = tan V``) the exponentials
    are not needed and not drawn. Releases the GIL (chunks can run on threads).
    """
    n = out.shape[0]
    v = np.empty(STABLE_BLOCK)
    w = np.empty(STABLE_BLOCK)
    tmp = np.empty(STABLE_BLOCK)
    for s in range(0, n, STABLE_BLOCK):
        m = min(STABLE_BLOCK, n - s)
        for i in range(m):
            v[i] = (rng.random() - 0.5) * math.pi
        if alpha == 1.0:
            cauchy_block(v[:m], out[s:s + m], scale)
            continue
        for i in range(m):
            w[i] = rng.standard_exponential()
        cms_block(v[:m], w[:m], out[s:s + m], alpha, scale, tmp[:m])
