"""The golden FP arithmetic (sim/pim/fp.py, sim/pim/mac.py) against an exact oracle.

The oracle is written here from the rules of docs/designs/pimgpt.md with Python's
exact rationals: the exact result, rounded to 24 significant bits (ties to even) with an
unbounded exponent, flushed to a signed zero below 2^-126, infinity at or above 2^128.
ml_dtypes' bfloat16 is the independent oracle of the BF16 conversion.
"""

from __future__ import annotations

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from sparseforge.sim.pim.fp import (
    bf16_mul,
    bf16_to_f32,
    bits_to_f32,
    f32_bits,
    f32_to_bf16,
    fadd,
    fmul,
    pairwise_sum,
)
from sparseforge.sim.pim.mac import span_dot, tiled_dot

NAN = 0x7FC00000


def _value(bits: int) -> Fraction | str:
    """The exact value of FP32 bits under flush-to-zero inputs ('inf' / '-inf' / 'nan')."""
    sign = -1 if bits >> 31 else 1
    e, m = (bits >> 23) & 0xFF, bits & 0x7FFFFF
    if e == 255:
        return "nan" if m else ("inf" if sign > 0 else "-inf")
    if e == 0:
        return Fraction(0) if sign > 0 else "-0"
    return sign * Fraction((1 << 23) | m, 1 << 23) * Fraction(2) ** (e - 127)


def _round(v: Fraction, negative_zero: bool = False) -> int:
    """FP32 bits of an exact value under the rules."""
    if v == 0:
        return 0x80000000 if negative_zero else 0
    sign = 0x80000000 if v < 0 else 0
    a = abs(v)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    # a = m * 2^(e - 23) with m in [2^23, 2^24): round m to an integer, ties to even
    scaled = a / Fraction(2) ** (e - 23)
    m = scaled.numerator // scaled.denominator
    rem = scaled - m
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and m & 1):
        m += 1
    if m == 1 << 24:
        m, e = 1 << 23, e + 1
    if e < -126:
        return sign  # flushed
    if e > 127:
        return sign | 0x7F800000
    return sign | ((e + 127) << 23) | (m & 0x7FFFFF)


def _oracle(op: str, a: int, b: int) -> int:
    va, vb = _value(a), _value(b)
    if "nan" in (va, vb):
        return NAN
    sa = 1 if (a >> 31) else 0
    sb = 1 if (b >> 31) else 0
    inf_a, inf_b = isinstance(va, str) and "inf" in va, isinstance(vb, str) and "inf" in vb
    za = va == 0 or va == "-0"
    zb = vb == 0 or vb == "-0"
    if op == "mul":
        s = sa ^ sb
        if (inf_a and zb) or (inf_b and za):
            return NAN
        if inf_a or inf_b:
            return (s << 31) | 0x7F800000
        if za or zb:
            return s << 31
        return _round(va * vb, negative_zero=bool(s))
    if inf_a and inf_b:
        return NAN if sa != sb else a & 0xFF800000
    if inf_a:
        return a & 0xFF800000
    if inf_b:
        return b & 0xFF800000
    xa = Fraction(0) if za else va
    xb = Fraction(0) if zb else vb
    total = xa + xb
    if total == 0:
        return 0x80000000 if (za and zb and sa and sb) else 0
    return _round(total, negative_zero=total < 0)


def _random_bits(rng, n: int) -> np.ndarray:
    """FP32 patterns over the whole exponent range, with specials and near-tiny values."""
    bits = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    special = np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00001, 0xFFFFFFFF,
                        0x00000001, 0x807FFFFF, 0x00800000, 0x80800000, 0x7F7FFFFF,
                        0x3F800000, 0xBF800000, 0x1F800000, 0x1F000000, 0x20000000],
                       np.uint32)
    near = (rng.integers(0x1E800000, 0x20800000, n // 4, dtype=np.int64)).astype(np.uint32)
    return np.concatenate([special, near, bits])


@pytest.mark.parametrize("op", ["add", "mul"])
def test_fadd_fmul_equal_the_exact_oracle(op):
    rng = np.random.default_rng(12 if op == "add" else 13)
    a = _random_bits(rng, 3000)
    b = np.concatenate([a[::-1][:16], _random_bits(rng, 3000)[16:]])
    if op == "add":  # make cancellations and close exponents frequent
        b[-800:] = a[-800:] ^ np.uint32(0x80000000)
        b[-800:-400] += rng.integers(0, 4, 400).astype(np.uint32)
    fn = fadd if op == "add" else fmul
    got = f32_bits(fn(bits_to_f32(a), bits_to_f32(b)))
    want = np.array([_oracle(op, int(x), int(y)) for x, y in zip(a, b)], np.uint32)
    bad = np.nonzero(got != want)[0]
    assert not len(bad), [(hex(a[i]), hex(b[i]), hex(got[i]), hex(want[i])) for i in bad[:5]]


def test_flush_rule_examples_computed_by_hand():
    def mul(x, y):
        return int(f32_bits(fmul(np.float32(x), np.float32(y))))

    assert mul(2.0 ** -63, 2.0 ** -63) == 0x00800000  # exactly 2^-126: kept
    assert mul(2.0 ** -64, 2.0 ** -63) == 0  # 2^-127: flushed
    assert mul(-(2.0 ** -64), 2.0 ** -63) == 0x80000000  # the sign survives
    # (1 - 2^-23) * 2^-126 (1 + 2^-23) = 2^-126 (1 - 2^-46): rounds up to 2^-126, kept
    a = bits_to_f32(np.uint32(0x3F7FFFFE))
    assert int(f32_bits(fmul(a, bits_to_f32(np.uint32(0x00800001))))) == 0x00800000
    # (1 - 2^-23) * 2^-126 has 24 bits and is below 2^-126: flushed
    assert int(f32_bits(fmul(a, bits_to_f32(np.uint32(0x00800000))))) == 0
    assert int(f32_bits(fadd(np.float32(1.0), np.float32(-1.0)))) == 0
    assert int(f32_bits(fadd(np.float32(-0.0), np.float32(-0.0)))) == 0x80000000
    assert int(f32_bits(fadd(np.float32(np.inf), np.float32(-np.inf)))) == NAN
    assert int(f32_bits(fmul(np.float32(np.inf), np.float32(0)))) == NAN
    # subnormal inputs read as signed zeros
    sub = bits_to_f32(np.uint32(0x80000001))
    assert int(f32_bits(fadd(sub, np.float32(0.0)))) == 0
    assert int(f32_bits(fmul(sub, np.float32(3.0)))) == 0x80000000


def test_bf16_conversion_matches_ml_dtypes_in_the_normal_range():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(20000) * np.exp(rng.uniform(-80, 80, 20000))).astype(np.float32)
    x = x[np.abs(x) > 2.0 ** -125]
    ours = f32_to_bf16(x)
    theirs = x.astype(ml_dtypes.bfloat16).view(np.uint16)
    assert np.array_equal(ours, theirs)
    back = bf16_to_f32(ours)
    assert np.array_equal(back, theirs.astype(np.uint32).__lshift__(16).view(np.float32))
    # ties to even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7
    assert int(f32_to_bf16(np.float32(1 + 2.0 ** -8))) == 0x3F80
    assert int(f32_to_bf16(np.float32(1 + 3 * 2.0 ** -8))) == 0x3F82
    assert int(f32_to_bf16(np.float32(3.4e38))) == 0x7F80  # overflows to inf
    assert int(f32_to_bf16(bits_to_f32(np.uint32(0xFFC12345)))) == 0x7FC0


def test_bf16_products_are_exact():
    rng = np.random.default_rng(9)
    a = rng.integers(0x0080, 0x7F00, 5000).astype(np.uint16) | \
        (rng.integers(0, 2, 5000).astype(np.uint16) << 15)
    b = rng.integers(0x0080, 0x7F00, 5000).astype(np.uint16)
    got = f32_bits(bf16_mul(a, b))
    want = [_oracle("mul", int(x) << 16, int(y) << 16) for x, y in zip(a, b)]
    assert np.array_equal(got, np.array(want, np.uint32))
    fa = a.view(ml_dtypes.bfloat16).astype(np.float64)
    fb = b.view(ml_dtypes.bfloat16).astype(np.float64)
    normal = (np.abs(fa * fb) >= 2.0 ** -126) & (np.abs(fa * fb) < 2.0 ** 128)
    assert np.array_equal(bits_to_f32(got)[normal].astype(np.float64), (fa * fb)[normal])


def test_mac_span_and_tiled_dot_follow_the_tree_and_span_order():
    rng = np.random.default_rng(3)
    lanes, k = 4, 24
    w = f32_to_bf16(rng.standard_normal((3, k)).astype(np.float32))
    x = f32_to_bf16(rng.standard_normal(k).astype(np.float32))
    # oracle: exact products, each FP32 add rounded by the exact oracle, in the order
    # ((p0 + p1) + (p2 + p3)) per column, acc + column sum, spans summed in order

    def add(p, q):
        return _oracle("add", p, q)

    def prod(i, j):
        return _oracle("mul", int(w[i, j]) << 16, int(x[j]) << 16)

    def span(i, lo, hi):
        acc = 0
        for c in range(lo, hi, lanes):
            p = [prod(i, j) if j < hi else 0 for j in range(c, c + lanes)]
            acc = add(acc, add(add(p[0], p[1]), add(p[2], p[3])))
        return acc

    got = f32_bits(span_dot(w, x, lanes))
    assert list(got) == [span(i, 0, k) for i in range(3)]
    got = f32_bits(tiled_dot(w[:, :22], x[:22], lanes, span=8))
    want = []
    for i in range(3):
        parts = [span(i, 0, 8), span(i, 8, 16), span(i, 16, 22)]
        want.append(add(add(parts[0], parts[1]), parts[2]))
    assert list(got) == want
    with pytest.raises(ValueError, match="power of two"):
        pairwise_sum(np.zeros(3, np.float32))
