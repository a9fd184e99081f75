"""Golden BDWP GEMMs against scalar Python-integer references written from the definitions."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparseforge.sim.bdwp import golden


def keep_positions(values, n, m):
    """Definition: per group of m (zero-padded), top-n |v|, lower index wins."""
    padded = list(values) + [0] * (-len(values) % m)
    kept = set()
    for g in range(0, len(padded), m):
        order = sorted(range(m), key=lambda i: (-abs(padded[g + i]), i))[:n]
        kept.update(g + i for i in order)
    return kept


def ref_forward(x, w, n, m, acc_bits, overflow):
    out_dim, in_dim = len(w), len(w[0])
    wf = [[w[o][k] if k in keep_positions(w[o], n, m) else 0 for k in range(in_dim)]
          for o in range(out_dim)]
    return [[acc(sum(x[b][k] * wf[o][k] for k in range(in_dim)), acc_bits, overflow)
             for o in range(out_dim)] for b in range(len(x))]


def ref_backward(dy, w, n, m, acc_bits, overflow):
    out_dim, in_dim = len(w), len(w[0])
    wb = [[0] * in_dim for _ in range(out_dim)]
    for k in range(in_dim):
        column = [w[o][k] for o in range(out_dim)]
        kept = keep_positions(column, n, m)
        for o in kept:
            if o < out_dim:
                wb[o][k] = w[o][k]
    return [[acc(sum(dy[b][o] * wb[o][k] for o in range(out_dim)), acc_bits, overflow)
             for k in range(in_dim)] for b in range(len(dy))]


def ref_weight_grad(dy, x, acc_bits, overflow):
    return [[acc(sum(dy[b][o] * x[b][k] for b in range(len(x))), acc_bits, overflow)
             for k in range(len(x[0]))] for o in range(len(dy[0]))]


def acc(total, bits, overflow):
    if bits is None:
        return total
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if overflow == "saturate":
        return min(max(total, lo), hi)
    total %= 1 << bits
    return total - (1 << bits) if total > hi else total


@st.composite
def case(draw):
    n, m = draw(st.sampled_from([(1, 2), (2, 4), (1, 4), (2, 8), (3, 8), (4, 16)]))
    batch = draw(st.integers(1, 4))
    out_dim = draw(st.integers(1, 2 * m + 1))
    in_dim = draw(st.integers(1, 2 * m + 1))
    bits = draw(st.sampled_from([4, 8]))
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    ints = st.integers(lo, hi) | st.sampled_from([lo, hi, 0])
    mat = lambda r, c: [[draw(ints) for _ in range(c)] for _ in range(r)]  # noqa: E731
    acc_bits = draw(st.sampled_from([None, 10, 12, 16, 24]))
    overflow = draw(st.sampled_from(["wrap", "saturate"]))
    return (n, m, mat(batch, in_dim), mat(out_dim, in_dim), mat(batch, out_dim),
            acc_bits, overflow)


@given(case())
@settings(max_examples=150, deadline=None)
def test_integer_gemms_match_definitions(args):
    n, m, x, w, dy, acc_bits, overflow = args
    X, W, DY = (np.array(a, dtype=np.int8) for a in (x, w, dy))
    kw = {"acc_bits": acc_bits, "overflow": overflow}
    assert golden.forward_gemm(X, W, n, m, **kw).tolist() == ref_forward(x, w, n, m, **_a(kw))
    assert golden.backward_data_gemm(DY, W, n, m, **kw).tolist() == ref_backward(
        dy, w, n, m, **_a(kw))
    assert golden.weight_grad_gemm(DY, X, **kw).tolist() == ref_weight_grad(dy, x, **_a(kw))


def _a(kw):
    return {"acc_bits": kw["acc_bits"], "overflow": kw["overflow"]}


def test_extremes_wrap_and_saturate():
    x = np.full((1, 16), -128, dtype=np.int8)
    w = np.full((1, 16), -128, dtype=np.int8)
    exact = 16 * 128 * 128  # 262144 = 2**18
    assert golden.forward_gemm(x, w, None, None).item() == exact
    assert golden.forward_gemm(x, w, None, None, acc_bits=18).item() == 0  # 2**18 wraps to 0
    assert golden.forward_gemm(x, w, None, None, acc_bits=19).item() == exact - 2**19
    sat = golden.forward_gemm(x, w, None, None, acc_bits=19, overflow="saturate")
    assert sat.item() == 2**18 - 1
    # 2:8 keeps 4 of the 16 products (ties -> lowest indices)
    assert golden.forward_gemm(x, w, 2, 8).item() == 4 * 128 * 128


def test_float_gemms_and_masks_differ():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((16, 24))
    x = rng.standard_normal((5, 24))
    dy = rng.standard_normal((5, 16))
    wf, wb = golden.forward_weight(w, 2, 8), golden.backward_weight(w, 2, 8)
    assert not np.array_equal(wf, wb)
    assert (np.count_nonzero(wf.reshape(16, 3, 8), axis=-1) == 2).all()
    assert (np.count_nonzero(wb.reshape(2, 8, 24), axis=1) == 2).all()
    np.testing.assert_allclose(golden.forward_gemm(x, w, 2, 8), x @ wf.T, rtol=1e-12)
    np.testing.assert_allclose(golden.backward_data_gemm(dy, w, 2, 8), dy @ wb, rtol=1e-12)
    np.testing.assert_allclose(golden.weight_grad_gemm(dy, x), dy.T @ x, rtol=1e-12)


def test_bad_inputs():
    x = np.zeros((2, 8), dtype=np.int8)
    w = np.zeros((4, 8), dtype=np.int8)
    with pytest.raises(ValueError, match="X's columns must equal W's in-dim"):
        golden.forward_gemm(x, np.zeros((4, 9), np.int8), 2, 4)
    with pytest.raises(ValueError, match="overflow = 'clip'"):
        golden.forward_gemm(x, w, 2, 4, acc_bits=16, overflow="clip")
    with pytest.raises(ValueError, match="acc_bits = 1"):
        golden.forward_gemm(x, w, 2, 4, acc_bits=1)
    with pytest.raises(ValueError, match="m = 6 is not allowed"):
        golden.forward_gemm(x, w, 2, 6)
    with pytest.raises(ValueError, match="integer operands only"):
        golden.forward_gemm(x.astype(float), w.astype(float), 2, 4, acc_bits=16)
    with pytest.raises(ValueError, match="would overflow int64"):
        golden.integer_matmul(np.full((1, 4), 2**40), np.full((4, 1), 2**30))
