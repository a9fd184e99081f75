"""N:M formats: selection rule, compression, packed layout (property tests)."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sparseforge import nm

NM_PAIRS = [(n, m) for m in (2, 4, 8, 16, 32) for n in range(1, m)]


def reference_keep(group, n):
    """Scalar reference from the definition: top-n |w|, lower index wins ties."""
    order = sorted(range(len(group)), key=lambda i: (-abs(int(group[i])) if isinstance(
        group[i], (int, np.integer)) else -abs(float(group[i])), i))
    return sorted(order[:n])


@st.composite
def int_matrix_and_nm(draw, max_rows=5, max_len=40):
    n, m = draw(st.sampled_from(NM_PAIRS))
    rows = draw(st.integers(1, max_rows))
    length = draw(st.integers(1, max_len))
    # small value range -> many ties and all-zero groups
    hi = draw(st.sampled_from([1, 3, 127]))
    w = draw(hnp.arrays(np.int8, (rows, length), elements=st.integers(-hi - 1, hi)))
    return w, n, m


@given(int_matrix_and_nm())
@settings(max_examples=300, deadline=None)
def test_mask_matches_the_definition(args):
    w, n, m = args
    keep = nm.mask(w, n, m, axis=1)
    assert keep.shape == w.shape
    padded = np.zeros((w.shape[0], -(-w.shape[1] // m) * m), dtype=np.int64)
    padded[:, : w.shape[1]] = w
    for r in range(w.shape[0]):
        for g in range(padded.shape[1] // m):
            group = [int(v) for v in padded[r, g * m:(g + 1) * m]]
            want = [g * m + i for i in reference_keep(group, n) if g * m + i < w.shape[1]]
            got = list(np.flatnonzero(keep[r, g * m:(g + 1) * m]) + g * m)
            assert got == want


@given(int_matrix_and_nm())
@settings(max_examples=200, deadline=None)
def test_every_group_keeps_exactly_n_and_round_trips(args):
    w, n, m = args
    t = nm.compress(w, n, m, axis=1)
    groups = -(-w.shape[1] // m)
    assert t.values.shape == (w.shape[0], groups, n)
    assert t.indices.shape == (w.shape[0], groups, n)
    # exactly n distinct ascending positions per group, all-zero groups included
    assert (np.diff(t.indices.astype(int), axis=-1) > 0).all()
    assert t.indices.max() < m
    np.testing.assert_array_equal(t.decompress(), np.where(nm.mask(w, n, m, axis=1), w, 0))
    # kept non-zeros: exactly min(n, non-zeros in the group)
    padded = np.zeros((w.shape[0], groups * m), dtype=np.int64)
    padded[:, : w.shape[1]] = w
    nonzeros = (padded.reshape(w.shape[0], groups, m) != 0).sum(-1)
    assert ((t.values != 0).sum(-1) == np.minimum(nonzeros, n)).all()


@given(st.sampled_from(NM_PAIRS), st.integers(1, 16), st.integers(0, 4),
       st.sampled_from([1, 4, 8, 16, 64]), st.data())
@settings(max_examples=300, deadline=None)
def test_pack_unpack_round_trips_for_every_nm(nm_pair, value_bits, rows_extra, align, data):
    n, m = nm_pair
    rows = 1 + rows_extra
    length = data.draw(st.integers(1, 3 * m))
    lo, hi = -(1 << (value_bits - 1)), (1 << (value_bits - 1)) - 1
    w = data.draw(hnp.arrays(np.int32, (rows, length), elements=st.integers(lo, hi)))
    t = nm.compress(w, n, m, axis=1)
    layout = nm.NMPackLayout(n, m, value_bits=value_bits, align_bytes=align)
    buf = nm.pack(t, layout)
    assert buf.dtype == np.uint8
    assert buf.size == layout.total_bytes(rows, t.groups)
    assert layout.value_row_bytes(t.groups) % align == 0
    back = nm.unpack(buf, layout, w.shape, axis=1, dtype=np.int32)
    np.testing.assert_array_equal(back.values, t.values)
    np.testing.assert_array_equal(back.indices, t.indices)
    np.testing.assert_array_equal(back.decompress(), t.decompress())


def test_packed_bytes_worked_example():
    # 2:4, int8 values, 4-byte rows.  Row 0 = [3, -1, 0, 7 | 0, 0, 0, 0]
    # group 0 keeps 7 (idx 3) and 3 (idx 0) -> values (3, 7), indices (0, 3)
    # group 1 is all zero -> keeps idx 0 and 1, values (0, 0)
    w = np.array([[3, -1, 0, 7, 0, 0, 0, 0],
                  [-128, 127, -127, 5, 2, -2, 2, 1]], dtype=np.int8)
    # row 1: group 0 -> |-128| = 128 wins, then 127 vs 127 tie -> idx 1 (lower) wins
    #        group 1 -> |2| ties at idx 0, 1, 2 -> idx 0 and 1
    layout = nm.NMPackLayout(2, 4, value_bits=8, align_bytes=4)
    buf = nm.pack(nm.compress(w, 2, 4, axis=1), layout)
    values_plane = [3, 7, 0, 0, 0x80, 127, 2, 0xFE]
    # indices, 2 bits each, LSB first: row0 (0,3,0,1) -> 0b01_00_11_00 = 0x4C
    #                                   row1 (0,1,0,1) -> 0b01_00_01_00 = 0x44
    index_plane = [0x4C, 0, 0, 0, 0x44, 0, 0, 0]
    assert buf.tolist() == values_plane + index_plane


def test_rowwise_and_colwise_axes():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 16))
    np.testing.assert_array_equal(nm.mask_rowwise(w, 2, 4), nm.mask(w, 2, 4, axis=1))
    np.testing.assert_array_equal(nm.mask_colwise(w, 2, 4), nm.mask(w.T, 2, 4, axis=1).T)
    assert (nm.mask_rowwise(w, 2, 4).reshape(8, 4, 4).sum(-1) == 2).all()
    assert (nm.mask_colwise(w, 2, 4).reshape(2, 4, 16).sum(1) == 2).all()
    conv = rng.standard_normal((8, 12, 3, 3))  # W[out, in, kh, kw]
    keep = nm.mask_rowwise(conv, 1, 4)
    assert (keep.reshape(8, 3, 4, 3, 3).sum(2) == 1).all()


def test_float_ties_and_signed_zero():
    w = np.array([0.5, -0.5, 0.5, -0.0, 0.0, 0.25, -0.25, 0.25])
    assert nm.mask(w, 2, 4).tolist() == [True, True, False, False,
                                          False, True, True, False]


def test_padding_rule():
    w = np.array([[1, 2, 3, 4, 5, 6]])
    assert nm.mask(w, 2, 4, axis=1).tolist() == [[False, False, True, True, True, True]]
    with pytest.raises(ValueError, match="length 6 is not a multiple of m = 4 and pad='none'"):
        nm.mask(w, 2, 4, axis=1, pad="none")
    with pytest.raises(ValueError, match=r"layer3: grouped dimension of length 3"):
        nm.group_count(3, 8, pad="none", where="layer3")


@pytest.mark.parametrize(("n", "m", "fragment"), [
    (2, 2, "n = 2 is not allowed for m = 2; allowed: 1 to 1"),
    (0, 4, "n = 0 is not allowed"),
    (2, 6, "m = 6 is not allowed; allowed: a power of two from 2 to 32"),
    (2, 64, "m = 64 is not allowed"),
    (1.0, 4, "n = 1.0 must be an integer"),
])
def test_bad_nm(n, m, fragment):
    with pytest.raises(ValueError, match=fragment):
        nm.mask(np.ones(8), n, m)


def test_bad_data():
    with pytest.raises(ValueError, match="NaN"):
        nm.mask(np.array([1.0, np.nan, 0, 0]), 2, 4)
    with pytest.raises(ValueError, match="integer or float"):
        nm.mask(np.array([True, False]), 1, 2)
    t = nm.compress(np.array([[300, 1, 0, 0]]), 1, 4, axis=1)
    with pytest.raises(ValueError, match="value 300 does not fit in value_bits = 8"):
        nm.pack(t, nm.NMPackLayout(1, 4, value_bits=8))
    with pytest.raises(ValueError, match="layout is 2:4 but the tensor is 1:4"):
        nm.pack(t, nm.NMPackLayout(2, 4))
    with pytest.raises(ValueError, match="align_bytes = 3"):
        nm.NMPackLayout(1, 4, align_bytes=3)


def test_all_nm_pairs_accepted():
    for n, m in itertools.product(range(1, 32), (2, 4, 8, 16, 32)):
        if n < m:
            nm.validate_nm(n, m)
