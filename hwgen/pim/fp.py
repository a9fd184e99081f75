"""Combinational FP32 / BF16 building blocks of the PIM datapath (Amaranth 0.5).

Every function here adds combinational logic to a :class:`~amaranth.hdl.Module` and
returns the result as a :class:`~amaranth.hdl.Value`; pipelining is the caller's
business (:mod:`sparseforge.hwgen.pim.pipe`).  They compute bit for bit what the golden
functions of :mod:`sparseforge.sim.pim.fp` and :mod:`sparseforge.sim.pimgpt.asic` compute:

* subnormal inputs (exponent field 0) read as signed zeros;
* round to nearest, ties to even (guard, round and sticky bits);
* a result whose value rounded to 24 bits with an unbounded exponent is below 2^-126
  becomes a signed zero (the sign of the exact result); overflow gives a signed
  infinity;
* every NaN result is the canonical quiet NaN ``0x7FC00000``; ``inf * 0`` and
  ``inf - inf`` are NaN; ``x + (-x) = +0``, ``(-0) + (-0) = -0``.

Bit layouts: FP32 ``[31] sign, [30:23] exponent (bias 127), [22:0] fraction``; BF16
``[15] sign, [14:7] exponent, [6:0] fraction``.
"""

from __future__ import annotations

import struct

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed

__all__ = [
    "F32_INF",
    "F32_NAN",
    "bf16_mul",
    "bits_value",
    "clz",
    "f32_ftz",
    "f32_neg",
    "fadd",
    "fmul",
    "int_to_f32",
    "rint",
    "scale_exponent",
]

#: The canonical quiet NaN and +infinity (FP32 bit patterns).
F32_NAN = 0x7FC00000
F32_INF = 0x7F800000


def bits_value(bits: int) -> float:
    """The value of the FP32 bit pattern ``bits`` (a Python float, exact)."""
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def _w(m: Module, value, name: str, shape=None) -> Signal:
    """A combinational signal named ``name`` driven by ``value`` (readable Verilog)."""
    value = Value.cast(value)
    sig = Signal(shape if shape is not None else value.shape(), name=name)
    m.d.comb += sig.eq(value)
    return sig


def _fields(a: Value, exp_bits: int, frac_bits: int):
    """(sign, exponent, fraction, zero, inf, nan) of a float of the given widths; an
    exponent field of 0 reads as zero (subnormals flushed)."""
    frac = a[:frac_bits]
    exp = a[frac_bits:frac_bits + exp_bits]
    sign = a[frac_bits + exp_bits]
    top = (1 << exp_bits) - 1
    return sign, exp, frac, exp == 0, (exp == top) & (frac == 0), (exp == top) & (frac != 0)


def clz(m: Module, x: Value, name: str = "clz") -> Signal:
    """Leading zeros of the ``len(x)``-bit unsigned ``x`` (``len(x)`` when ``x`` is 0),
    a priority encoder; result ``ceil(log2(len(x) + 1))`` bits."""
    n = len(x)
    count = Const(n, range(n + 1))
    for i in range(n):  # the highest set bit wins: it is applied last
        count = Mux(x[i], n - 1 - i, count)
    return _w(m, count, name, range(n + 1))


def f32_ftz(a: Value) -> Value:
    """``a`` with a subnormal (exponent field 0) replaced by the zero of its sign."""
    return Mux(a[23:31] == 0, Cat(Const(0, 31), a[31]), a)


def f32_neg(a: Value) -> Value:
    """``a`` with its sign bit flipped (exact, any value)."""
    return Cat(a[:31], ~a[31])


def _pack(m: Module, name: str, sign, exp_s: Value, frac: Value, nan, inf, zero) -> Signal:
    """Select the FP32 result: NaN > infinity > zero (specials), then a normal result of
    the signed biased exponent ``exp_s``: <= 0 flushes to signed zero, >= 255 is a signed
    infinity."""
    res = Mux(exp_s <= 0, Cat(Const(0, 31), sign),
              Mux(exp_s >= 255, Cat(Const(F32_INF, 31), sign),
                  Cat(frac, exp_s[:8], sign)))
    res = Mux(zero, Cat(Const(0, 31), sign), res)
    res = Mux(inf, Cat(Const(F32_INF, 31), sign), res)
    return _w(m, Mux(nan, Const(F32_NAN, 32), res), name, 32)


def fmul(m: Module, a: Value, b: Value, name: str = "fmul") -> Signal:
    """FP32 ``a * b`` (32-bit operands and result), as :func:`sparseforge.sim.pim.fp.fmul`.

    The 24 x 24-bit significand product (48 bits, in [2^46, 2^48)) is normalised by one
    bit at most, rounded to nearest even on its guard bit and the sticky OR of the bits
    below, then flushed (rounded exponent field < 1) or overflowed (>= 255).
    """
    sa, ea, fa, za, ia, na = _fields(a, 8, 23)
    sb, eb, fb, zb, ib, nb = _fields(b, 8, 23)
    sign = _w(m, sa ^ sb, f"{name}_sign")
    prod = _w(m, Cat(fa, Const(1, 1)) * Cat(fb, Const(1, 1)), f"{name}_prod", 48)
    hi = prod[47]
    mant = Mux(hi, prod[24:48], prod[23:47])            # 24 bits, leading one on top
    guard = Mux(hi, prod[23], prod[22])
    sticky = Mux(hi, prod[:23] != 0, prod[:22] != 0)
    inc = guard & (sticky | mant[0])
    rounded = _w(m, mant + inc, f"{name}_rnd", 25)      # 2^24 when it carries out
    carry = rounded[24]
    exp_s = _w(m, ea + eb + hi + carry - 127, f"{name}_exp", signed(11))
    nan = (na | nb) | (ia & zb) | (za & ib)
    return _pack(m, name, sign, exp_s, rounded[:23], nan, ia | ib, za | zb)


def bf16_mul(m: Module, a: Value, b: Value, name: str = "bmul") -> Signal:
    """The exact FP32 product (32 bits) of two BF16 operands (16 bits each), as
    :func:`sparseforge.sim.pim.fp.bf16_mul`.

    An 8 x 8-bit significand multiply (16 bits, exact, no rounding); the product is
    flushed when below 2^-126 and overflows to infinity like :func:`fmul`.
    """
    sa, ea, fa, za, ia, na = _fields(a, 8, 7)
    sb, eb, fb, zb, ib, nb = _fields(b, 8, 7)
    sign = sa ^ sb
    prod = _w(m, Cat(fa, Const(1, 1)) * Cat(fb, Const(1, 1)), f"{name}_prod", 16)
    hi = prod[15]
    frac = Mux(hi, Cat(Const(0, 8), prod[:15]), Cat(Const(0, 9), prod[:14]))
    exp_s = _w(m, ea + eb + hi - 127, f"{name}_exp", signed(10))
    nan = (na | nb) | (ia & zb) | (za & ib)
    return _pack(m, name, sign, exp_s, frac, nan, ia | ib, za | zb)


def fadd(m: Module, a: Value, b: Value, name: str = "fadd") -> Signal:
    """FP32 ``a + b`` (32-bit operands and result), as :func:`sparseforge.sim.pim.fp.fadd`.

    Swap so ``x`` has the larger magnitude; align ``y`` by the exponent difference into
    a 27-bit significand (24 bits, guard, round, sticky = OR of everything shifted
    further); add or subtract (28 bits); normalise (one bit right after a carry, the
    leading-zero count left after a cancellation); round to nearest even; flush
    (exponent < 1) or overflow (>= 255).  An exact zero difference is +0.
    """
    sa, _, _, za, ia, na = _fields(a, 8, 23)
    sb, _, _, zb, ib, nb = _fields(b, 8, 23)
    swap = _w(m, b[:31] > a[:31], f"{name}_swap")
    x = _w(m, Mux(swap, b, a), f"{name}_x", 32)
    y = _w(m, Mux(swap, a, b), f"{name}_y", 32)
    sx, ex, sy, ey = x[31], x[23:31], y[31], y[23:31]
    diff = ex - ey                                       # >= 0: |x| >= |y|
    dist = _w(m, Mux(diff > 31, 31, diff[:5]), f"{name}_dist", 5)
    shifted = _w(m, Cat(Const(0, 27), y[:23], Const(1, 1)) >> dist, f"{name}_ysh", 51)
    y_al = Cat(shifted[24] | (shifted[:24] != 0), shifted[25:51])      # 27 bits
    x_al = Cat(Const(0, 3), x[:23], Const(1, 1))                       # 27 bits
    sub = sx ^ sy
    total = _w(m, Mux(sub, (x_al - y_al)[:27], x_al + y_al), f"{name}_sum", 28)
    lz = clz(m, total[:27], f"{name}_lz")
    carry = total[27]
    norm = _w(m, Mux(carry, Cat(total[1] | total[0], total[2:28]),
                     (total[:27] << lz)[:27]), f"{name}_norm", 27)
    inc = norm[2] & (norm[1] | norm[0] | norm[3])
    rounded = _w(m, norm[3:27] + inc, f"{name}_rnd", 25)
    shift = Mux(carry, 0, lz)                            # lz is meaningless after a carry
    exp_s = _w(m, ex + carry - shift + rounded[24], f"{name}_exp", signed(11))
    # both zero: -0 only when both are -0; one zero: the other operand (normal here)
    zero_res = Mux(za & zb, Cat(Const(0, 31), sa & sb), Mux(za, b, a))
    res = _pack(m, f"{name}_n", sx, exp_s, rounded[:23], Const(0, 1), Const(0, 1),
                Const(0, 1))
    res = Mux(total == 0, Const(0, 32), res)                          # x + (-x) = +0
    res = Mux(za | zb, zero_res, res)
    res = Mux(ia | ib, Cat(Const(F32_INF, 31), Mux(ia, sa, sb)), res)
    nan = na | nb | (ia & ib & (sa != sb))
    return _w(m, Mux(nan, Const(F32_NAN, 32), res), name, 32)


def rint(m: Module, t: Value, int_bits: int, name: str = "rint") -> Signal:
    """The nearest integer (ties to even) of FP32 ``t``, as ``np.rint``, for
    ``|t| < 2^int_bits``; signed, ``int_bits + 2`` bits.  Zero for ``|t| < 0.5``,
    zeros, subnormals and NaN (the golden exp maps a NaN ``t`` to 0).

    ``t`` outside the domain gives an unspecified value: callers bound it (exp clamps
    its input).
    """
    if not 1 <= int_bits <= 15:
        raise ValueError(f"rint: int_bits = {int_bits}; allowed: 1..15")
    sign, exp, frac = t[31], t[23:31], t[:23]
    small = exp < 126                                   # |t| < 0.5 (and zero)
    amount = _w(m, Mux(small, 0, exp - 126), f"{name}_sh", range(16))
    # 2|t| in fixed point with 23 fraction bits: integer part above bit 24, half at 23
    fixed = _w(m, Cat(frac, Const(1, 1)) << amount[:4], f"{name}_fix", 24 + 15)
    whole = fixed[24:24 + int_bits]
    half = fixed[23]
    sticky = fixed[:23] != 0
    mag = _w(m, whole + (half & (sticky | whole[0])), f"{name}_mag", int_bits + 1)
    k = Mux(sign, -mag, mag)
    return _w(m, Mux(small | (exp == 255), 0, k), name, signed(int_bits + 2))


def int_to_f32(m: Module, k: Value, name: str = "itof") -> Signal:
    """FP32 (32 bits) of the signed integer ``k`` (at most 24 bits wide: exact); 0 gives
    +0."""
    width = len(k)
    if width > 24:
        raise ValueError(f"int_to_f32: {width}-bit integer; allowed: at most 24 bits (exact)")
    neg = k[-1]
    mag = _w(m, Mux(neg, -k, k)[:width], f"{name}_mag", width)
    lz = clz(m, mag, f"{name}_lz")
    top = width - 1 - lz                                # position of the leading one
    normed = Cat(Const(0, 24 - width), (mag << lz)[:width])   # leading one at bit 23
    frac = _w(m, normed[:23], f"{name}_frac", 23)
    exp = _w(m, 127 + top, f"{name}_exp", 8)
    return _w(m, Mux(mag == 0, 0, Cat(frac, exp, neg)), name, 32)


def scale_exponent(m: Module, p: Value, k: Value, name: str = "scale") -> Signal:
    """``p * 2^k`` by adding the signed ``k`` to the exponent field of FP32 ``p``, as
    ``asic._scale_exponent``: the sign and fraction kept, a field above 254 gives +inf
    (``0x7F800000``, whatever the sign), below 1 gives +0."""
    e = _w(m, p[23:31] + k, f"{name}_e", signed(max(len(k), 8) + 3))
    res = Cat(p[:23], e[:8], p[31])
    return _w(m, Mux(e >= 255, F32_INF, Mux(e <= 0, 0, res)), name, 32)
