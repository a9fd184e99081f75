"""Tests of sparseforge.formats.integer against Python-int definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseforge.formats import fits, from_bits, int_range, saturate, to_bits, wrap

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def ref_range(width: int, signed: bool) -> tuple[int, int]:
    return (-(2 ** (width - 1)), 2 ** (width - 1) - 1) if signed else (0, 2**width - 1)


def ref_wrap(x: int, width: int, signed: bool) -> int:
    low = x % 2**width  # the kept bits, as an unsigned number
    return low - 2**width if signed and low >= 2 ** (width - 1) else low


widths = st.integers(1, 64)
int64s = st.one_of(st.integers(INT64_MIN, INT64_MAX), st.integers(-300, 300))


@settings(max_examples=300, deadline=None)
@given(width=widths, signed=st.booleans(), xs=st.lists(int64s, min_size=1, max_size=20))
def test_array_helpers_match_python_ints(width, signed, xs):
    lo, hi = ref_range(width, signed)
    assert int_range(width, signed) == (lo, hi)
    arr = np.array(xs, dtype=np.int64)
    assert fits(arr, width, signed).tolist() == [lo <= x <= hi for x in xs]
    if signed or width < 64:
        assert wrap(arr, width, signed).tolist() == [ref_wrap(x, width, signed) for x in xs]
        assert saturate(arr, width, signed).tolist() == [min(max(x, lo), hi) for x in xs]
    patterns = [x for x in xs if -(2 ** (width - 1)) <= x < 2**width]
    bits = to_bits(np.array(patterns, dtype=np.int64), width)
    assert bits.dtype == np.uint64
    assert bits.tolist() == [x % 2**width for x in patterns]
    if signed or width < 64:
        back = from_bits(bits, width, signed)
        assert back.dtype == np.int64
        assert back.tolist() == [ref_wrap(x, width, signed) for x in patterns]


@settings(max_examples=300, deadline=None)
@given(width=widths, signed=st.booleans(), x=st.integers(-(2**80), 2**80))
def test_scalar_helpers_match_python_ints_beyond_int64(width, signed, x):
    lo, hi = ref_range(width, signed)
    assert fits(x, width, signed) is (lo <= x <= hi)
    result = wrap(x, width, signed)
    assert type(result) is int and result == ref_wrap(x, width, signed)
    assert saturate(x, width, signed) == min(max(x, lo), hi)
    if -(2 ** (width - 1)) <= x < 2**width:
        assert to_bits(x, width) == x % 2**width
        assert from_bits(x % 2**width, width, signed) == ref_wrap(x, width, signed)


def test_examples():
    assert int_range(1, True) == (-1, 0)
    assert int_range(64, False) == (0, 2**64 - 1)
    assert wrap(200, 8) == -56
    assert wrap(256 + 5, 8, signed=False) == 5
    assert wrap(np.array([127, 128, -129]), 8).tolist() == [127, -128, 127]
    assert wrap(np.array([INT64_MIN]), 64).tolist() == [INT64_MIN]
    assert saturate(np.array([-1000, 5, 1000]), 8, signed=False).tolist() == [0, 5, 255]
    assert to_bits(-1, 64) == 2**64 - 1
    assert to_bits(np.array([-1, 255]), 8).tolist() == [255, 255]
    assert from_bits(np.array([2**64 - 1], dtype=np.uint64), 64).tolist() == [-1]
    assert from_bits(0b1000, 4) == -8
    assert fits(np.array([2**64 - 1], dtype=np.uint64), 64, False).tolist() == [True]
    assert fits(np.array([2**63], dtype=np.uint64), 64, True).tolist() == [False]


def test_arrays_keep_shape():
    grid = np.arange(-6, 6).reshape(3, 4)
    assert wrap(grid, 3).shape == (3, 4)
    assert to_bits(grid, 4).shape == (3, 4)
    assert isinstance(wrap(np.int64(9), 3), int)  # NumPy scalars count as scalars


@pytest.mark.parametrize("width", [0, 65, -1])
def test_bad_width_names_field_and_range(width):
    with pytest.raises(ValueError, match=rf"width = {width} .*1\.\.64"):
        int_range(width, True)
    with pytest.raises(ValueError, match="width"):
        wrap(np.array([1]), width)


def test_bad_values():
    with pytest.raises(ValueError, match=r"x = 256 does not fit 8 bits"):
        to_bits(np.array([1, 256]), 8)
    with pytest.raises(ValueError, match=r"x = -129"):
        to_bits(-129, 8)
    with pytest.raises(ValueError, match=r"bits = 16 is not a 4-bit pattern"):
        from_bits(np.array([16]), 4)
    with pytest.raises(ValueError, match=r"bits = -1"):
        from_bits(-1, 4)
    with pytest.raises(ValueError, match="int64"):
        wrap(np.array([1]), 64, signed=False)
    with pytest.raises(ValueError, match="int64"):
        saturate(np.array([2**64 - 1], dtype=np.uint64), 8)
    with pytest.raises(TypeError, match="integers"):
        wrap(np.array([1.5]), 8)
    with pytest.raises(TypeError, match="width"):
        int_range(8.0, True)
