"""The golden PIM-GPT decoder: its building blocks against an independent float32
re-statement of docs/designs/pimgpt.md and against float64 maths, and its API."""

import math

import numpy as np
import pytest
import torch

from sparseforge.sim.pimgpt import asic
from sparseforge.sim.pimgpt.models import tiny
from sparseforge.sim.pimgpt.reference import (
    PimArith,
    ReferenceDecoder,
    attention,
    decode,
    decode_logits,
    linear,
)
from sparseforge.sim.pimgpt.weights import random_weights

F32 = np.float32


def bf16(a) -> np.ndarray:
    """BF16 bit patterns by torch's cast (round to nearest even): an oracle that is not
    sparseforge.sim.pim.fp."""
    t = torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(torch.bfloat16)
    return t.view(torch.int16).numpy().view(np.uint16)


def widen(bits) -> np.ndarray:
    """FP32 values of BF16 bit patterns (exact), any shape, NumPy 1 or 2."""
    b = np.asarray(bits, np.uint16)
    return (b.astype(np.uint32).reshape(-1) << np.uint32(16)).view(np.float32).reshape(b.shape)


def doc_dot(w_bits, x_bits, lanes, span):
    """The doc's tiled dot of one row, in plain NumPy float32 scalars: spans of ``span``
    elements zero-padded to ``lanes``; per column an exact product and a neighbours-first
    tree; the accumulator from +0; span results summed in order, the first as is."""
    w, x = widen(w_bits), widen(x_bits)
    total = None
    for s in range(0, len(w), span):
        ws, xs = list(w[s:s + span]), list(x[s:s + span])
        while len(ws) % lanes:
            ws.append(F32(0))
            xs.append(F32(0))
        acc = F32(0)
        for c in range(0, len(ws), lanes):
            level = [F32(a * b) for a, b in zip(ws[c:c + lanes], xs[c:c + lanes])]
            while len(level) > 1:
                level = [F32(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
            acc = F32(acc + level[0])
        total = acc if total is None else F32(total + acc)
    return total


def same_bits(a, b) -> bool:
    return np.array_equal(np.asarray(a, F32).view(np.uint32), np.asarray(b, F32).view(np.uint32))


# ------------------------------------------------------------------------ PimArith


def test_arith_defaults_are_gddr6():
    a = PimArith()
    assert (a.lanes, a.span, a.asic_lanes) == (16, 1024, 16)


@pytest.mark.parametrize("kw, msg", [
    (dict(lanes=0), "lanes = 0"), (dict(lanes=12), "lanes = 12.*power of two"),
    (dict(asic_lanes=6), "asic_lanes = 6"), (dict(span=100), "span = 100.*multiple"),
    (dict(span=True), "span = True"), (dict(lanes=2.0), "lanes = 2.0"),
])
def test_arith_refuses_bad_values(kw, msg):
    with pytest.raises(ValueError, match=msg):
        PimArith(**kw)


# ------------------------------------------------------------------------ linear


@pytest.mark.parametrize("k, lanes, span", [(30, 4, 12), (64, 16, 1024), (100, 8, 32)])
def test_linear_matches_the_doc_bit_for_bit(k, lanes, span):
    rng = np.random.default_rng(k)
    w = bf16(rng.standard_normal((7, k)))
    b = bf16(rng.standard_normal(7))
    v = (rng.standard_normal(k) * 3).astype(F32)  # FP32, rounded to BF16 by linear
    got = linear(w, b, v, PimArith(lanes, span, 16))
    xb = bf16(v)
    for r in range(7):
        want = F32(doc_dot(w[r], xb, lanes, span) + widen(b[r]))
        assert same_bits(got[r], want), (r, got[r], want)
    nob = linear(w, None, v, PimArith(lanes, span, 16))
    assert same_bits(nob[3], doc_dot(w[3], xb, lanes, span))


def test_linear_span_order_matters_and_is_followed():
    # [2^24, 1, 1, 2]; FP32 has a spacing of 2 above 2^24, ties go to even (2^24 + 4k)
    w = bf16(np.ones((1, 4)))
    v = np.array([2.0 ** 24, 1.0, 1.0, 2.0], F32)
    big = 2.0 ** 24
    # one lane, one span: ((2^24 + 1) + 1) + 2 -> 2^24 -> 2^24 -> 2^24 + 2
    assert linear(w, None, v, PimArith(1, 4, 4))[0] == big + 2
    # one lane, spans of 2: (2^24 + 1) -> 2^24; (1 + 2) = 3; 2^24 + 3 -> 2^24 + 4
    assert linear(w, None, v, PimArith(1, 2, 4))[0] == big + 4
    # four lanes: (2^24 + 1) + (1 + 2) -> 2^24 + 3 -> 2^24 + 4
    assert linear(w, None, v, PimArith(4, 4, 4))[0] == big + 4


def test_linear_is_close_to_float64_within_the_summation_bound():
    rng = np.random.default_rng(5)
    k, a = 3000, PimArith()
    w = bf16(rng.standard_normal((50, k)) * 0.02)
    b = bf16(rng.standard_normal(50) * 0.01)
    v = rng.standard_normal(k).astype(F32)
    got = linear(w, b, v, a).astype(np.float64)
    wf, xf = widen(w).astype(np.float64), widen(bf16(v)).astype(np.float64)
    exact = wf @ xf + widen(b)
    depth = math.log2(a.lanes) + a.span / a.lanes + math.ceil(k / a.span) + 1
    bound = 1.01 * depth * 2.0 ** -24 * (np.abs(wf) @ np.abs(xf) + np.abs(widen(b)))
    assert np.all(np.abs(got - exact) <= bound)
    assert np.abs(got - exact).max() > 0  # FP32 rounding is really there


# ------------------------------------------------------------------------ attention


def test_attention_matches_the_doc_bit_for_bit():
    rng = np.random.default_rng(1)
    t, h, dh, a = 21, 3, 24, PimArith(8, 16, 4)  # dh 24: two spans; T 21: padding
    q = rng.standard_normal((h, dh)).astype(F32)
    k = bf16(rng.standard_normal((t, h, dh)))
    v = bf16(rng.standard_normal((h, dh, t)))
    got = attention(q, k, v, a)
    c = F32(1 / np.sqrt(dh))
    for j in range(h):
        qb = bf16(q[j])
        s = np.array([F32(doc_dot(k[i, j], qb, 8, 16) * c) for i in range(t)], F32)
        p = bf16(asic.softmax(s[None], 4)[0])
        for i in range(dh):
            assert same_bits(got[j, i], doc_dot(v[j, i], p, 8, 16)), (j, i)


def test_attention_uniform_weights_give_the_exact_mean():
    rng = np.random.default_rng(2)
    t, h, dh = 8, 2, 16
    vals = rng.integers(-8, 9, (h, dh, t)).astype(F32)
    o = attention(np.zeros((h, dh), F32), bf16(rng.standard_normal((t, h, dh))),
                  bf16(vals), PimArith())
    assert np.array_equal(o, vals.mean(-1))


def test_attention_single_position_returns_v():
    rng = np.random.default_rng(3)
    v = bf16(rng.standard_normal((4, 16, 1)))
    o = attention(rng.standard_normal((4, 16)).astype(F32),
                  bf16(rng.standard_normal((1, 4, 16))), v, PimArith())
    assert np.array_equal(o, widen(v)[..., 0])


def test_attention_is_close_to_float64_softmax_attention():
    rng = np.random.default_rng(4)
    t, h, dh = 37, 4, 64
    q = (rng.standard_normal((h, dh)) * 0.5).astype(F32)
    k, v = bf16(rng.standard_normal((t, h, dh))), bf16(rng.standard_normal((h, dh, t)))
    o = attention(q, k, v, PimArith())
    kf, vf = widen(k).astype(np.float64), widen(v).astype(np.float64)
    s = np.einsum("thd,hd->ht", kf, widen(bf16(q))) / np.sqrt(dh)
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    exact = np.einsum("hdt,ht->hd", vf, p)
    # p is rounded to BF16 (relative 2^-9) before the dot with V
    bound = 2.0 ** -9 * np.einsum("hdt,ht->hd", np.abs(vf), p) * 1.05 + 1e-5
    assert np.all(np.abs(o - exact) <= bound)


def test_attention_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="expected"):
        attention(np.zeros((2, 8), F32), np.zeros((3, 2, 8), np.uint16),
                  np.zeros((2, 8, 4), np.uint16), PimArith())


# ------------------------------------------------------------------------ the decoder

CFG = tiny(n_layer=2, d_model=64, n_head=4, vocab=256, n_ctx=24)


@pytest.fixture(scope="module")
def weights():
    return random_weights(CFG, 7, std=0.1, ln_std=0.1)


def test_step_intermediates_follow_the_doc(weights):
    w, a = weights, PimArith(16, 32, 16)  # span 32: two spans for d = 64
    dec = ReferenceDecoder(w, a)
    for tok in (5, 9):
        dec.step(tok)
    rec = {}
    logits = dec.step(200, record=rec)
    pos, d = 2, CFG.d_model
    assert same_bits(rec["x0"], widen(w.wte[200]) + widen(w.wpe[pos]))
    l0, lw = rec["layers"][0], w.layers[0]
    want_ln = asic.layernorm(rec["x0"][None], widen(lw.ln1_g), widen(lw.ln1_b), 1e-5, 16)
    assert l0["ln1"].shape == (d,) and same_bits(l0["ln1"], want_ln[0])
    hb = bf16(l0["ln1"])
    for r in (0, d + 3, 3 * d - 1):  # a q, a k and a v row
        assert same_bits(l0["qkv"][r], F32(doc_dot(lw.w_qkv[r], hb, 16, 32)
                                           + widen(lw.b_qkv[r])))
    assert np.array_equal(dec.k_cache[0][pos], bf16(l0["qkv"][d:2 * d]).reshape(4, 16))
    assert np.array_equal(dec.v_cache[0][:, :, pos], bf16(l0["qkv"][2 * d:]).reshape(4, 16))
    assert same_bits(l0["x_mid"], rec["x0"] + l0["attn_out"])
    assert same_bits(l0["gelu"], asic.gelu(linear(lw.w_fc, lw.b_fc, l0["ln2"], a)))
    assert same_bits(l0["x"], l0["x_mid"] + l0["mlp_out"])
    assert same_bits(rec["layers"][1]["x_mid"], l0["x"] + rec["layers"][1]["attn_out"])
    yb = bf16(rec["lnf"])
    for r in (0, 17, 255):  # tied output projection, no bias
        assert same_bits(logits[r], doc_dot(w.wte[r], yb, 16, 32))
    assert dec.pos == 3


def test_layers_are_close_to_float64_gpt2(weights):
    # one step at position 0 of a float64 GPT-2 block: the attention is v itself
    w = weights
    rec = {}
    ReferenceDecoder(w).step(42, record=rec)
    x = (widen(w.wte[42]) + widen(w.wpe[0])).astype(np.float64)
    d = CFG.d_model

    def ln(v, g, b):
        m = v.mean()
        return (v - m) / np.sqrt(((v - m) ** 2).mean() + 1e-5) * widen(g) + widen(b)

    def lin(m, b, v):
        return widen(m).astype(np.float64) @ v + widen(b)

    for i, lw in enumerate(w.layers):
        qkv = lin(lw.w_qkv, lw.b_qkv, ln(x, lw.ln1_g, lw.ln1_b))
        x = x + lin(lw.w_proj, lw.b_proj, qkv[2 * d:])
        u = lin(lw.w_fc, lw.b_fc, ln(x, lw.ln2_g, lw.ln2_b))
        g = 0.5 * u * (1 + np.tanh(np.sqrt(2 / np.pi) * (u + 0.044715 * u ** 3)))
        x = x + lin(lw.w_fc2, lw.b_fc2, g)
        err = np.abs(rec["layers"][i]["x"] - x).max() / np.abs(x).max()
        assert err < 0.01, (i, err)  # BF16 activations into every dot: ~2^-9 relative
    assert np.abs(rec["layers"][-1]["x"] - x).max() > 0


def test_decode_api(weights):
    toks, logits = decode_logits(weights, [1, 2, 3], 6)
    assert len(toks) == 6 and logits.shape == (6, CFG.vocab) and logits.dtype == F32
    assert toks == [int(np.argmax(r)) for r in logits]
    assert decode(weights, [1, 2, 3], 6) == toks
    assert decode(weights, [1, 2, 3], 3) == toks[:3]  # the cache is causal
    assert decode(weights, [1, 2, 3], 0) == []
    # teacher forcing by hand: the logits of step k follow prompt + toks[:k]
    dec = ReferenceDecoder(weights)
    for t in [1, 2, 3, *toks[:2]]:
        last = dec.step(t)
    assert np.array_equal(last, logits[2])


def test_decode_refuses_bad_input(weights):
    with pytest.raises(ValueError, match="empty prompt"):
        decode(weights, [], 3)
    with pytest.raises(ValueError, match="steps = -1"):
        decode(weights, [1], -1)
    with pytest.raises(ValueError, match=r"need 25 positions.*n_ctx = 24"):
        decode(weights, list(range(20)), 6)
    assert len(decode(weights, list(range(20)), 5)) == 5  # exactly 24 positions
    with pytest.raises(ValueError, match="token = 256"):
        decode(weights, [256], 1)
    with pytest.raises(TypeError, match="GptWeights"):
        decode("weights", [1], 1)
    dec = ReferenceDecoder(weights, max_positions=1)
    dec.step(3)
    with pytest.raises(ValueError, match="beyond the context"):
        dec.step(3)
    with pytest.raises(ValueError, match="max_positions"):
        ReferenceDecoder(weights, max_positions=25)
