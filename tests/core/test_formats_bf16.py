"""Tests of sparseforge.formats.bf16 against an exact round-to-nearest-even reference.

The reference takes the exact value of a float32 (``Fraction``), finds its two
neighbouring bf16 values (8 exponent bits, 7 mantissa bits, subnormals below
``2**-126``), picks the nearer one with ties to the even mantissa, and rounds to
infinity iff the magnitude reaches ``max_bf16 + ulp/2``.  It then encodes the
chosen value field by field.  It never calls the code under test.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseforge.formats import bf16_round, bf16_to_float32, float32_to_bf16

MANT_BITS = 7
MIN_NORMAL_EXP = -126
MAX_BF16 = Fraction(2 ** (MANT_BITS + 1) - 1) * Fraction(2) ** (127 - MANT_BITS)
HALF_ULP_AT_MAX = Fraction(2) ** (127 - MANT_BITS - 1)


def f32_from_bits(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def floor_log2(a: Fraction) -> int:
    """Exact floor(log2(a)) for a > 0."""
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    assert Fraction(2) ** e <= a < Fraction(2) ** (e + 1)
    return e


def ref_float32_to_bf16(bits: int) -> int:
    """bf16 pattern of the non-NaN float32 with pattern ``bits``."""
    x = f32_from_bits(bits)
    assert not math.isnan(x)
    sign = (bits >> 31) << 15
    if math.isinf(x):
        return sign | 0x7F80
    a = abs(Fraction(x))
    if a >= MAX_BF16 + HALF_ULP_AT_MAX:
        return sign | 0x7F80
    if a == 0:
        return sign
    exp = max(floor_log2(a), MIN_NORMAL_EXP)
    ulp = Fraction(2) ** (exp - MANT_BITS)
    n = math.floor(a / ulp)
    below, above = a - n * ulp, (n + 1) * ulp - a
    nearer_is_below = below < above or (below == above and n % 2 == 0)  # ties to even
    m = n if nearer_is_below else n + 1
    value = m * ulp
    if value == 0:
        return sign
    if value < Fraction(2) ** MIN_NORMAL_EXP:  # subnormal: exponent field 0
        mantissa = value / Fraction(2) ** (MIN_NORMAL_EXP - MANT_BITS)
        assert mantissa.denominator == 1 and 0 < mantissa < 2**MANT_BITS
        return sign | int(mantissa)
    e = floor_log2(value)
    mantissa = value / Fraction(2) ** (e - MANT_BITS) - 2**MANT_BITS
    assert mantissa.denominator == 1 and 0 <= mantissa < 2**MANT_BITS and e <= 127
    return sign | ((e + 127) << MANT_BITS) | int(mantissa)


def is_nan_bits(bits: int) -> bool:
    return (bits >> 23) & 0xFF == 0xFF and bits & 0x7FFFFF != 0


def sign_from_low_bit(b: int) -> int:
    return (b & 1) << 31


patterns = st.one_of(
    st.integers(0, 2**32 - 1),
    # exact ties and their neighbours: low half 0x8000 +- 1
    st.tuples(st.integers(0, 0xFFFF), st.sampled_from([0x7FFF, 0x8000, 0x8001, 0, 0xFFFF])).map(
        lambda t: (t[0] << 16) | t[1]
    ),
    # subnormals and the largest finite values
    st.integers(0, 0x00FFFFFF).map(lambda b: b | sign_from_low_bit(b)),
    st.integers(0x7F7E0000, 0x7F7FFFFF),
    st.integers(0xFF7E0000, 0xFF7FFFFF),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(patterns.filter(lambda b: not is_nan_bits(b)), min_size=1, max_size=32))
def test_float32_to_bf16_matches_exact_rne_reference(bit_list):
    x = np.array(bit_list, dtype=np.uint32).view(np.float32)
    got = float32_to_bf16(x)
    assert got.dtype == np.uint16
    assert got.tolist() == [ref_float32_to_bf16(b) for b in bit_list]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=32))
def test_python_floats_as_float32(values):
    bit_list = [struct.unpack("<I", struct.pack("<f", v))[0] for v in values]
    assert float32_to_bf16(values).tolist() == [ref_float32_to_bf16(b) for b in bit_list]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(1, 0x7FFFFF)).map(
            lambda t: (t[0] << 31) | 0x7F800000 | t[1]
        ),
        min_size=1,
        max_size=16,
    )
)
def test_nan_stays_quiet_nan_with_sign(bit_list):
    got = float32_to_bf16(np.array(bit_list, dtype=np.uint32).view(np.float32)).tolist()
    for bits, out in zip(bit_list, got, strict=True):
        assert out & 0x7F80 == 0x7F80 and out & 0x007F != 0  # still NaN
        assert out & 0x0040  # quiet
        assert out >> 15 == bits >> 31  # sign kept
        assert out & 0x3F == (bits >> 16) & 0x3F  # top payload bits kept


def test_exact_ties_of_every_high_half():
    """Every bf16 pattern plus exactly half an ulp (the tie cases), against the reference."""
    bit_list = [(h << 16) | 0x8000 for h in range(0x10000)]
    bit_list = [b for b in bit_list if not is_nan_bits(b)]
    got = float32_to_bf16(np.array(bit_list, dtype=np.uint32).view(np.float32))
    assert got.tolist() == [ref_float32_to_bf16(b) for b in bit_list]


def test_bf16_to_float32_is_exact_for_all_patterns():
    u16 = np.arange(0x10000, dtype=np.uint16)
    out = bf16_to_float32(u16)
    assert out.dtype == np.float32
    assert out.view(np.uint32).tolist() == [p << 16 for p in range(0x10000)]
    finite = np.isfinite(out)
    # rounding a bf16 value back is the identity (NaNs become quiet NaNs)
    assert (float32_to_bf16(out)[finite] == u16[finite]).all()
    assert (float32_to_bf16(out)[~finite & ~np.isnan(out)] == u16[np.isinf(out)]).all()


@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        (0x3F800000, 0x3F80),  # 1.0
        (0x3F808000, 0x3F80),  # 1 + 2**-8: tie, 0x3F80 is even
        (0x3F818000, 0x3F82),  # 1 + 3 * 2**-8: tie, goes up to even 0x3F82
        (0x3F808001, 0x3F81),  # just above the tie
        (0xBF818000, 0xBF82),  # negative tie
        (0x80000000, 0x8000),  # -0.0
        (0x00000001, 0x0000),  # smallest subnormal rounds to +0
        (0x80000001, 0x8000),  # ... and its negative to -0
        (0x00018000, 0x0002),  # subnormal tie, odd -> up
        (0x00008000, 0x0000),  # subnormal tie, even -> down
        (0x007FFFFF, 0x0080),  # largest subnormal rounds to the smallest normal
        (0x7F7F7FFF, 0x7F7F),  # below max_bf16 + ulp/2: stays finite
        (0x7F7F8000, 0x7F80),  # = max_bf16 + ulp/2: tie to even is infinity
        (0x7F7FFFFF, 0x7F80),  # largest float32
        (0xFF7FFFFF, 0xFF80),
        (0x7F800000, 0x7F80),  # +inf
        (0xFF800000, 0xFF80),  # -inf
        (0x7F800001, 0x7FC0),  # signalling NaN with low payload only: quiet NaN, not inf
        (0xFF800001, 0xFFC0),
        (0x7FC00000, 0x7FC0),  # quiet NaN
        (0x7FA00000, 0x7FE0),  # NaN payload kept, quiet bit set
    ],
)
def test_examples(bits, expected):
    x = np.array([bits], dtype=np.uint32).view(np.float32)
    assert hex(float32_to_bf16(x).item()) == hex(expected)


def test_bf16_round_and_shapes():
    assert bf16_round(np.float32(3.14159265)).item() == 3.140625
    out = bf16_round(np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4))
    assert out.shape == (3, 4) and out.dtype == np.float32
    assert (bf16_round(out) == out).all()  # idempotent
    assert float32_to_bf16(1.0).shape == ()


def test_bad_patterns():
    with pytest.raises(ValueError, match=r"u16 = 70000 .*0\.\.65535"):
        bf16_to_float32([1, 70000])
    with pytest.raises(ValueError, match="u16 = -1"):
        bf16_to_float32(np.array([-1]))
    with pytest.raises(TypeError, match="integers"):
        bf16_to_float32([1.5])
