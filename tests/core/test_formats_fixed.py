"""Tests of sparseforge.formats.fixed against an exact reference written from the maths.

The reference works on one Python scalar at a time with ``fractions.Fraction``:
scale by ``2**F``, round per the ap_fixed quantisation mode, then apply the
overflow mode.  It never calls the code under test.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseforge.formats import FixedFormat, Overflow, Rounding, ap_fixed, ap_ufixed

ROUNDINGS = [
    "AP_TRN",
    "AP_TRN_ZERO",
    "AP_RND",
    "AP_RND_ZERO",
    "AP_RND_MIN_INF",
    "AP_RND_INF",
    "AP_RND_CONV",
]
OVERFLOWS = ["AP_WRAP", "AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM"]
HALF = Fraction(1, 2)


# --------------------------------------------------------------------------------------
# Independent reference
# --------------------------------------------------------------------------------------


def ref_round(v: Fraction, q: str) -> int:
    """Round the exact rational ``v`` to an integer as ap_fixed mode ``q`` does."""
    n = math.floor(v)
    rem = v - n  # 0 <= rem < 1
    if q == "AP_TRN":
        return n
    if q == "AP_TRN_ZERO":
        return n if v >= 0 or rem == 0 else n + 1
    if rem != HALF:
        return n + 1 if rem > HALF else n
    # exact half between n and n + 1
    if q == "AP_RND":  # towards +inf
        return n + 1
    if q == "AP_RND_ZERO":
        return n if v > 0 else n + 1
    if q == "AP_RND_MIN_INF":
        return n
    if q == "AP_RND_INF":  # away from zero
        return n + 1 if v > 0 else n
    if q == "AP_RND_CONV":  # to even
        return n if n % 2 == 0 else n + 1
    raise AssertionError(q)


def ref_overflow(r: int, width: int, signed: bool, o: str) -> int:
    """Bring the integer ``r`` into a ``width``-bit raw value as ap_fixed mode ``o`` does."""
    lo, hi = (-(2 ** (width - 1)), 2 ** (width - 1) - 1) if signed else (0, 2**width - 1)
    if o == "AP_WRAP":
        return (r - lo) % 2**width + lo
    if o == "AP_SAT":
        return min(max(r, lo), hi)
    if o == "AP_SAT_ZERO":
        return r if lo <= r <= hi else 0
    if o == "AP_SAT_SYM":
        # Symmetric range [-hi, hi] when signed.  A signed 1-bit type would get
        # {0}; ap_fixed<1, I, Q, AP_SAT_SYM> saturates negatives to -1 instead.
        sym_lo = -hi if signed and width > 1 else lo
        return min(max(r, sym_lo), hi)
    raise AssertionError(o)


def ref_convert(value: Fraction, width: int, int_bits: int, signed: bool, q: str, o: str) -> int:
    """Raw value of the exact rational ``value`` in ap_fixed<width, int_bits, q, o>."""
    scaled = value * Fraction(2) ** (width - int_bits)
    return ref_overflow(ref_round(scaled, q), width, signed, o)


# --------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------

formats_shape = st.integers(1, 40).flatmap(
    lambda w: st.tuples(st.just(w), st.integers(-8, w + 8), st.booleans())
)


def floats_for(width: int, int_bits: int) -> st.SearchStrategy[float]:
    """Floats that matter for a format: grid points, exact halves, near-halves,
    range edges, far out of range, zeros, tiny and arbitrary finite values."""
    frac = width - int_bits
    k = st.integers(-(2 ** (width + 2)), 2 ** (width + 2))
    grid = k.map(lambda n: math.ldexp(n, -frac))
    halves = k.map(lambda n: math.ldexp(2 * n + 1, -frac - 1))
    near_halves = st.tuples(k, st.integers(1, 30), st.sampled_from([-1, 1])).map(
        lambda t: math.ldexp(2 * t[0] + 1, -frac - 1) + t[2] * math.ldexp(1.0, -frac - 1 - t[1])
    )
    edges = st.sampled_from([-2, -1, 0, 1, 2]).flatmap(
        lambda d: st.sampled_from(
            [
                math.ldexp(2 ** (width - 1) + d, -frac),
                math.ldexp(2**width + d, -frac),
                -math.ldexp(2 ** (width - 1) + d, -frac),
                math.ldexp(2 * (2 ** (width - 1) + d) + 1, -frac - 1),
                -math.ldexp(2 * (2 ** (width - 1) + d) + 1, -frac - 1),
            ]
        )
    )
    huge = st.tuples(st.floats(0.5, 1.0, exclude_max=True), st.integers(int_bits, 1024)).map(
        lambda t: math.ldexp(t[0], t[1])
    )
    tiny = st.sampled_from([5e-324, 2.2250738585072014e-308, 1e-300, math.ldexp(1.0, -frac - 40)])
    signs = st.sampled_from([1.0, -1.0])
    special = st.tuples(st.one_of(huge, tiny), signs).map(lambda t: t[0] * t[1])
    return st.one_of(
        grid,
        halves,
        near_halves,
        edges,
        special,
        st.sampled_from([0.0, -0.0]),
        st.floats(allow_nan=False, allow_infinity=False),
        st.floats(-(2.0 ** (int_bits + 1)), 2.0 ** (int_bits + 1)),
    )


@st.composite
def format_and_floats(draw):
    width, int_bits, signed = draw(formats_shape)
    xs = draw(st.lists(floats_for(width, int_bits), min_size=1, max_size=24))
    return width, int_bits, signed, xs


# --------------------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("o", OVERFLOWS)
@pytest.mark.parametrize("q", ROUNDINGS)
@settings(max_examples=150, deadline=None)
@given(case=format_and_floats())
def test_quantize_matches_exact_reference(q, o, case):
    width, int_bits, signed, xs = case
    fmt = FixedFormat(width, int_bits, signed, q, o)
    got = fmt.quantize(np.array(xs, dtype=np.float64))
    expected = [ref_convert(Fraction(x), width, int_bits, signed, q, o) for x in xs]
    assert got.dtype == np.int64
    assert got.tolist() == expected, (fmt, xs)


@pytest.mark.parametrize("o", OVERFLOWS)
@pytest.mark.parametrize("q", ROUNDINGS)
@settings(max_examples=150, deadline=None)
@given(
    shape=formats_shape,
    raws=st.lists(
        st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-4096, 4096)),
        min_size=1,
        max_size=16,
    ),
    frac_bits_in=st.integers(-80, 80),
)
def test_requantize_matches_exact_reference(q, o, shape, raws, frac_bits_in):
    width, int_bits, signed = shape
    fmt = FixedFormat(width, int_bits, signed, q, o)
    got = fmt.requantize(np.array(raws, dtype=np.int64), frac_bits_in)
    expected = [
        ref_convert(Fraction(r, 1) / Fraction(2) ** frac_bits_in, width, int_bits, signed, q, o)
        for r in raws
    ]
    assert got.tolist() == expected, (fmt, raws, frac_bits_in)


@settings(max_examples=300, deadline=None)
@given(
    src=formats_shape,
    dst=formats_shape,
    q=st.sampled_from(ROUNDINGS),
    o=st.sampled_from(OVERFLOWS),
    data=st.data(),
)
def test_cast_matches_exact_reference(src, dst, q, o, data):
    w1, i1, s1 = src
    w2, i2, s2 = dst
    lo, hi = (-(2 ** (w1 - 1)), 2 ** (w1 - 1) - 1) if s1 else (0, 2**w1 - 1)
    raws = data.draw(st.lists(st.integers(lo, hi), min_size=1, max_size=16))
    source = FixedFormat(w1, i1, s1)
    target = FixedFormat(w2, i2, s2, q, o)
    got = source.cast(raws, target)
    expected = [ref_convert(Fraction(r) / Fraction(2) ** (w1 - i1), w2, i2, s2, q, o) for r in raws]
    assert got.tolist() == expected


@settings(max_examples=200, deadline=None)
@given(shape=formats_shape, data=st.data())
def test_to_float_is_exact_and_quantize_inverts_it(shape, data):
    width, int_bits, signed = shape
    fmt = FixedFormat(width, int_bits, signed, data.draw(st.sampled_from(ROUNDINGS)))
    raws = data.draw(st.lists(st.integers(fmt.min_raw, fmt.max_raw), min_size=1, max_size=16))
    values = fmt.to_float(raws)
    assert [Fraction(v) for v in values.tolist()] == [
        Fraction(r) / Fraction(2) ** (width - int_bits) for r in raws
    ]
    assert fmt.quantize(values).tolist() == raws
    assert fmt.from_bits(fmt.to_bits(raws)).tolist() == raws
    assert fmt.to_bits(raws).tolist() == [r % 2**width for r in raws]


@settings(max_examples=100, deadline=None)
@given(case=format_and_floats(), q=st.sampled_from(ROUNDINGS), o=st.sampled_from(OVERFLOWS))
def test_quantize_vectorised_matches_elementwise_and_keeps_shape(case, q, o):
    width, int_bits, signed, xs = case
    fmt = FixedFormat(width, int_bits, signed, q, o)
    xs = (xs * 6)[:6]
    grid = np.array(xs, dtype=np.float64).reshape(2, 3)
    got = fmt.quantize(grid)
    assert got.shape == (2, 3)
    assert got.ravel().tolist() == [int(fmt.quantize(x)) for x in xs]


# --------------------------------------------------------------------------------------
# Hand-worked examples
# --------------------------------------------------------------------------------------


# ap_fixed<8,4>: F = 4, LSB 1/16, raw range -128..127 (values -8 .. 7.9375).
# 1.03125 = 16.5 LSB and -1.03125 = -16.5 LSB are exact halves.
@pytest.mark.parametrize(
    ("q", "pos", "neg"),
    [
        ("AP_TRN", 16, -17),
        ("AP_TRN_ZERO", 16, -16),
        ("AP_RND", 17, -16),
        ("AP_RND_ZERO", 16, -16),
        ("AP_RND_MIN_INF", 16, -17),
        ("AP_RND_INF", 17, -17),
        ("AP_RND_CONV", 16, -16),
    ],
)
def test_rounding_of_exact_halves(q, pos, neg):
    fmt = ap_fixed(8, 4, q)
    assert fmt.quantize([1.03125, -1.03125]).tolist() == [pos, neg]
    # 17.5 LSB: RND_CONV now rounds up to the even 18.
    if q == "AP_RND_CONV":
        assert fmt.quantize([1.09375, -1.09375]).tolist() == [18, -18]


def test_rounding_off_half():
    assert ap_fixed(8, 4, "AP_RND").quantize([1.03, 1.04, -1.04]).tolist() == [16, 17, -17]
    assert ap_fixed(8, 4, "AP_TRN_ZERO").quantize([-1.04, 1.06]).tolist() == [-16, 16]


@pytest.mark.parametrize(
    ("o", "signed_expected", "unsigned_expected"),
    [
        # signed inputs 8.0 (= 128 LSB), -8.0, -9.0, 7.97 (rounds to 128 with AP_RND)
        # unsigned inputs -1.0, 16.0, 15.97
        ("AP_WRAP", [-128, -128, 112, -128], [240, 0, 0]),
        ("AP_SAT", [127, -128, -128, 127], [0, 255, 255]),
        ("AP_SAT_ZERO", [0, -128, 0, 0], [0, 0, 0]),
        ("AP_SAT_SYM", [127, -127, -127, 127], [0, 255, 255]),
    ],
)
def test_overflow_modes(o, signed_expected, unsigned_expected):
    assert ap_fixed(8, 4, "AP_RND", o).quantize([8.0, -8.0, -9.0, 7.97]).tolist() == (
        signed_expected
    )
    assert ap_ufixed(8, 4, "AP_RND", o).quantize([-1.0, 16.0, 15.97]).tolist() == (
        unsigned_expected
    )


def test_float32_and_integer_inputs_are_exact():
    fmt = ap_fixed(8, 4, "AP_RND")
    assert fmt.quantize(np.float32(1.03125)).item() == 17
    assert fmt.quantize(np.array([1.03125, -1.03125], dtype=np.float16)).tolist() == [17, -16]
    assert fmt.quantize([1, -2, 100]).tolist() == [16, -32, 64]  # 1600 = 6 * 256 + 64


def test_negative_and_large_int_bits():
    # ap_fixed<4,-2>: F = 6, values are multiples of 1/64 in [-1/8, 7/64].
    small = ap_fixed(4, -2, "AP_RND", "AP_SAT")
    assert small.lsb == 1 / 64
    assert small.quantize([0.05, 0.5, -0.5]).tolist() == [3, 7, -8]
    # ap_ufixed<4,6>: F = -2, values are multiples of 4 in [0, 60].
    coarse = ap_ufixed(4, 6, "AP_RND_CONV")
    assert (coarse.lsb, coarse.max_value) == (4.0, 60.0)
    assert coarse.quantize([6.0, 10.0, 14.0, 64.0]).tolist() == [2, 2, 4, 0]


def test_huge_inputs_wrap_exactly():
    fmt = ap_fixed(16, 8)  # F = 8
    # 2**60 + 3 * 2**-8 is not a float64, but 2**60 + 2**10 + 3 is, as an integer input.
    assert fmt.quantize(np.int64(2**60 + 2**10 + 3)).item() == (3 << 8)
    # 1e300 * 2**8 is a multiple of 2**16, so its low 16 bits are zero.
    assert fmt.quantize([1e300, -1e300]).tolist() == [0, 0]
    # 2**53 + 2 scaled by 2**8: low 16 bits are 0x0200
    assert fmt.quantize(float(2**53 + 2)).item() == 0x0200
    assert fmt.quantize(-(2.0**53) - 2).item() == -0x0200


def test_properties_and_spelling():
    fmt = ap_fixed(8, 4, "AP_RND", "AP_SAT")
    assert (fmt.width, fmt.int_bits, fmt.signed) == (8, 4, True)
    assert (fmt.rounding, fmt.overflow) == (Rounding.RND, Overflow.SAT)
    assert (fmt.frac_bits, fmt.lsb) == (4, 0.0625)
    assert (fmt.min_raw, fmt.max_raw, fmt.min_value, fmt.max_value) == (-128, 127, -8.0, 7.9375)
    assert str(fmt) == "ap_fixed<8,4,AP_RND,AP_SAT>"
    assert str(ap_ufixed(8, 4)) == "ap_ufixed<8,4>"
    assert str(ap_fixed(8, 4, "rnd")) == "ap_fixed<8,4,AP_RND>"
    unsigned = ap_ufixed(8, 0)
    assert (unsigned.min_raw, unsigned.max_raw, unsigned.max_value) == (0, 255, 255 / 256)
    for text in ["ap_fixed<8,4,AP_RND,AP_SAT>", "ap_ufixed<12,-3,AP_RND_CONV>", "ap_fixed<1,1>"]:
        assert str(FixedFormat.parse(text)) == text
    assert FixedFormat.parse("ap_fixed<8, 4, AP_TRN, AP_WRAP, 0>") == ap_fixed(8, 4)
    assert FixedFormat(8, 4, True, Rounding.RND) == ap_fixed(8, 4, "AP_RND")
    with pytest.raises(dataclasses.FrozenInstanceError):
        fmt.width = 9  # type: ignore[misc]


def test_scalar_inputs_give_zero_d_arrays():
    fmt = ap_fixed(8, 4, "AP_RND")
    raw = fmt.quantize(1.03125)
    assert isinstance(raw, np.ndarray) and raw.shape == () and raw.item() == 17
    assert fmt.requantize(33, 5).item() == 17  # 33/32 = 16.5 LSB
    assert fmt.to_float(17).item() == 1.0625
    assert ap_fixed(8, 4).cast(17, ap_fixed(4, 2, "AP_RND")).item() == 4  # 1.0625 -> 4/4


def test_signed_one_bit_sat_sym_matches_ap_fixed():
    # ap_fixed<1,1,Q,AP_SAT_SYM> holds {-1, 0}; ap_fixed saturates negatives to -1.
    fmt = ap_fixed(1, 1, "AP_TRN", "AP_SAT_SYM")
    assert fmt.quantize([-1.0, -0.5, -7.0, 0.5, 3.0]).tolist() == [-1, -1, -1, 0, 0]


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"width": 0, "int_bits": 0}, ["width", "0", "1..63"]),
        ({"width": 64, "int_bits": 4}, ["width", "64", "1..63"]),
        ({"width": -3, "int_bits": 4}, ["width", "-3"]),
        ({"width": 8.0, "int_bits": 4}, ["width", "8.0"]),
        ({"width": True, "int_bits": 4}, ["width", "True"]),
        ({"width": 8, "int_bits": 600}, ["int_bits", "600", "-512..512"]),
        ({"width": 8, "int_bits": 4, "signed": "yes"}, ["signed", "yes"]),
        ({"width": 8, "int_bits": 4, "rounding": "AP_ROUND"}, ["rounding", "AP_ROUND", "AP_RND"]),
        ({"width": 8, "int_bits": 4, "overflow": "AP_WRAP_SM"}, ["overflow", "AP_WRAP_SM"]),
        ({"width": 8, "int_bits": 4, "overflow": 3}, ["overflow", "3", "AP_SAT"]),
    ],
)
def test_bad_fields_raise_value_error_naming_the_field(kwargs, words):
    with pytest.raises(ValueError) as info:
        FixedFormat(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_bad_mode_strings_in_helpers():
    with pytest.raises(ValueError, match="rounding"):
        ap_fixed(8, 4, "AP_NEAREST")
    with pytest.raises(ValueError, match="overflow"):
        ap_ufixed(8, 4, "AP_RND", "SATURATE")
    with pytest.raises(ValueError, match="not an ap_fixed type"):
        FixedFormat.parse("ap_int<8>")
    with pytest.raises(ValueError, match="saturation_bits"):
        FixedFormat.parse("ap_fixed<8,4,AP_TRN,AP_WRAP,2>")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_inputs_raise_naming_the_value(bad):
    fmt = ap_fixed(8, 4)
    with pytest.raises(ValueError, match=repr(bad).strip("-")):
        fmt.quantize([1.0, bad])
    with pytest.raises(ValueError, match="index"):
        fmt.quantize(np.array([[0.0, 1.0], [bad, 2.0]]))


def test_bad_raw_values():
    fmt = ap_fixed(8, 4)
    with pytest.raises(ValueError, match=r"raw = 128 .*-128\.\.127"):
        fmt.to_float([0, 128])
    with pytest.raises(ValueError, match="raw = -129"):
        fmt.cast(-129, ap_fixed(4, 2))
    with pytest.raises(ValueError, match="bits = 256"):
        fmt.from_bits(256)
    with pytest.raises(ValueError, match="does not fit int64"):
        fmt.requantize(2**63, 0)
    with pytest.raises(ValueError, match="frac_bits_in"):
        fmt.requantize(1, 2**40)
    with pytest.raises(TypeError, match="integers"):
        fmt.requantize([1.5], 0)
    with pytest.raises(TypeError, match="real numbers"):
        fmt.quantize(["1.0"])
