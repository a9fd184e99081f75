"""Golden functions of the PIM-GPT ASIC: exp, reciprocal, inverse square root, GELU,
reductions, softmax, LayerNorm.

Every function is a fixed sequence of FP32 operations of :mod:`sparseforge.sim.pim.fp`
(round to nearest even, subnormals flushed, canonical NaN) plus exact bit operations
(exponent fields, integer rounding), written from the maths in
docs/designs/pimgpt.md ("Numerics").  The functional simulator, the reference decoder and the
RTL operators (``hwgen/pim``) compute exactly these functions.

* :func:`exp`: range reduction ``x = k ln2 + r`` (``k`` the nearest integer of
  ``x log2 e``, ties to even; ``ln 2`` split into a 9-bit high part and a low part so
  ``k * LN2_HI`` is exact), a degree-7 Taylor polynomial of ``e^r`` by Horner's rule,
  then ``2^k`` added to the exponent field (a result exponent above 254 is infinity,
  below 1 is +0).  ``x`` is first clamped to [-104, 104].
* :func:`recip`: the mantissa ``m`` in [1, 2) starts from the magic-constant guess
  ``0x7EF311C3 - bits(m)``, three Newton–Raphson steps ``y (2 - m y)``, then the
  exponent is subtracted.
* :func:`rsqrt`: ``x = m 4^j`` with ``m`` in [1, 4); the fast-inverse-square-root guess
  ``0x5F3759DF - (bits(m) >> 1)``, three Newton–Raphson steps
  ``y (1.5 - (0.5 m) y y)``, then ``2^-j``.
* :func:`gelu`: the tanh form ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``,
  computed as ``x / (1 + exp(-2u))`` (no cancellation for negative ``x``).
"""

from __future__ import annotations

import numpy as np

from sparseforge.pim_units import CONSTANTS, NR_STEPS
from sparseforge.sim.pim.fp import F32_NAN, bits_to_f32, f32_bits, fadd, fmul, ftz

__all__ = [
    "CONSTANTS",
    "exp",
    "gelu",
    "layernorm",
    "recip",
    "reduce_max",
    "reduce_sum",
    "rsqrt",
    "softmax",
]


def _c(bits: int) -> np.float32:
    return bits_to_f32(np.array([bits], np.uint32))[0]


_K = {name: _c(bits) for name, bits in CONSTANTS.items()}



def _f32(x) -> np.ndarray:
    return ftz(np.asarray(x, dtype=np.float32))


def _neg(x) -> np.ndarray:
    return bits_to_f32(f32_bits(x) ^ np.uint32(0x80000000))


def _scale_exponent(p, k) -> np.ndarray:
    """``p * 2^k`` for normal positive ``p`` by adding ``k`` to the exponent field;
    a field above 254 gives +inf, below 1 gives +0."""
    bits = f32_bits(p).astype(np.int64)
    e = ((bits >> 23) & 0xFF) + np.asarray(k, np.int64)
    out = (bits & 0x807FFFFF) | (np.clip(e, 0, 255) << 23)
    out = np.where(e >= 255, 0x7F800000, out)
    out = np.where(e <= 0, 0, out)
    return bits_to_f32(out.astype(np.uint32))


def exp(x) -> np.ndarray:
    """e^x (see the module docstring); NaN → NaN, +inf → +inf, -inf → +0."""
    x = _f32(x)
    xc = np.clip(x, -_K["CLAMP"], _K["CLAMP"]).astype(np.float32)
    t = fmul(xc, _K["LOG2E"])
    k = np.rint(np.where(np.isnan(t), 0, t)).astype(np.int64)  # nearest, ties to even
    kf = k.astype(np.float32)  # |k| <= 150 (after the clamp): exact
    r = fadd(xc, fmul(kf, _neg(_K["LN2_HI"])))
    r = fadd(r, fmul(kf, _neg(_K["LN2_LO"])))
    p = np.full_like(r, _K["C7"])
    for c in ("C6", "C5", "C4", "C3", "C2", "ONE", "ONE"):
        p = fadd(fmul(p, r), _K[c])
    out = _scale_exponent(p, k)
    return np.where(np.isnan(x), bits_to_f32(np.uint32(F32_NAN)), out).astype(np.float32)


def _split(x):
    """Sign bit, biased exponent field and the mantissa as a value in [1, 2)."""
    bits = f32_bits(x)
    sign = bits & np.uint32(0x80000000)
    e = ((bits >> 23) & 0xFF).astype(np.int64)
    m = bits_to_f32((bits & np.uint32(0x007FFFFF)) | np.uint32(0x3F800000))
    return sign, e, m


def recip(x) -> np.ndarray:
    """1/x: ±0 → ±inf, ±inf → ±0, NaN → NaN; results below 2^-126 flush to ±0."""
    x = _f32(x)
    sign, e, m = _split(x)
    y = bits_to_f32(np.uint32(CONSTANTS["RECIP_MAGIC"]) - f32_bits(m))
    for _ in range(NR_STEPS):
        y = fmul(y, fadd(_K["TWO"], _neg(fmul(m, y))))
    # y is in (0.5, 1]: 1/x = y * 2^(127 - e)
    out = f32_bits(_scale_exponent(y, 127 - e)) | sign
    out = np.where(e == 0, sign | np.uint32(0x7F800000), out)  # ±0
    out = np.where(e == 255, sign, out)  # ±inf
    out = np.where(np.isnan(x), np.uint32(F32_NAN), out)
    return bits_to_f32(out.astype(np.uint32))


def rsqrt(x) -> np.ndarray:
    """1/sqrt(x): ±0 → ±inf, +inf → +0, negative or NaN → NaN."""
    x = _f32(x)
    sign, e, m = _split(x)
    odd = (e - 127) & 1  # x = m 2^(e-127); make the power of two even
    m4 = np.where(odd == 1, fmul(m, _K["TWO"]), m)  # exact: m in [1, 4)
    j = (e - 127 - odd) // 2
    half = fmul(m4, _K["HALF"])
    y = bits_to_f32(np.uint32(CONSTANTS["RSQRT_MAGIC"]) - (f32_bits(m4) >> np.uint32(1)))
    for _ in range(NR_STEPS):
        y = fmul(y, fadd(_K["THREE_HALFS"], _neg(fmul(fmul(half, y), y))))
    out = f32_bits(_scale_exponent(y, -j))
    out = np.where(e == 0, sign | np.uint32(0x7F800000), out)  # ±0
    out = np.where((e == 255) & (sign == 0), np.uint32(0), out)  # +inf
    out = np.where(np.isnan(x) | ((sign != 0) & (e != 0)), np.uint32(F32_NAN), out)
    return bits_to_f32(out.astype(np.uint32))


def gelu(x) -> np.ndarray:
    """GELU, tanh form, computed as ``x * sigmoid(2u)``:
    ``0.5 x (1 + tanh(u)) = x / (1 + exp(-2u))`` with
    ``u = sqrt(2/pi) (x + 0.044715 x^3)``.  Operation order: ``x2 = x x``,
    ``x3 = x2 x``, ``s = x + GELU_A x3``, ``u = SQRT_2_OVER_PI s``, ``v = -2 u``,
    ``y = x * recip(1 + exp(v))``.  Edges from the arithmetic: very negative ``x``
    gives ``exp(v) = inf``, ``recip(inf) = 0``, ``y = -0``; very positive ``x`` gives
    ``x * recip(1)`` (one ulp below ``x``, recip(1) being ``1 - 2^-24``); ``+inf`` →
    ``+inf``; ``-inf`` → NaN (``-inf * recip(inf) = -inf * 0``); NaN → NaN."""
    x = _f32(x)
    x3 = fmul(fmul(x, x), x)
    u = fmul(_K["SQRT_2_OVER_PI"], fadd(x, fmul(_K["GELU_A"], x3)))
    v = fmul(_neg(_K["TWO"]), u)
    return fmul(x, recip(fadd(_K["ONE"], exp(v))))


# --------------------------------------------------------------------- vector operations


def reduce_sum(x, lanes: int) -> np.ndarray:
    """Sum along the last axis as the ASIC's ``lanes`` adders do: element ``i`` goes to
    lane ``i % lanes``, each lane adds its elements in index order starting from +0,
    then the lanes are summed as a balanced tree (``lanes`` a power of two)."""
    from sparseforge.sim.pim.fp import pairwise_sum

    x = _f32(x)
    n = x.shape[-1]
    pad = -n % lanes
    if pad:
        x = np.concatenate([x, np.zeros((*x.shape[:-1], pad), np.float32)], -1)
    x = x.reshape((*x.shape[:-1], -1, lanes))
    acc = np.zeros((*x.shape[:-2], lanes), np.float32)
    for i in range(x.shape[-2]):
        acc = fadd(acc, x[..., i, :])
    return pairwise_sum(acc)


def reduce_max(x) -> np.ndarray:
    """Largest element along the last axis (exact; NaN if any element is NaN)."""
    return np.max(_f32(x), axis=-1)


def softmax(x, lanes: int) -> np.ndarray:
    """``e_i / sum e`` along the last axis: ``e_i = exp(x_i - max)``, the sum by
    :func:`reduce_sum`, then one :func:`recip` and a multiply per element."""
    x = _f32(x)
    m = reduce_max(x)[..., None]
    e = exp(fadd(x, _neg(m)))
    r = recip(reduce_sum(e, lanes))[..., None]
    return fmul(e, r)


def layernorm(x, gamma, beta, eps: float, lanes: int) -> np.ndarray:
    """LayerNorm along the last axis: ``mean = sum(x) * (1/n)``, ``c = x - mean``,
    ``var = sum(c c) * (1/n)``, ``y = (c * rsqrt(var + eps)) * gamma + beta``, where
    ``1/n`` and ``eps`` are FP32 constants (nearest values)."""
    x = _f32(x)
    n = x.shape[-1]
    inv_n = np.float32(1.0 / n)
    mean = fmul(reduce_sum(x, lanes), inv_n)[..., None]
    c = fadd(x, _neg(mean))
    var = fmul(reduce_sum(fmul(c, c), lanes), inv_n)
    inv = rsqrt(fadd(var, np.float32(eps)))[..., None]
    return fadd(fmul(fmul(c, inv), _f32(gamma)), _f32(beta))
