"""The fixed-point golden model against the maths: hand-worked values, exact float
functions within the approximations' stated error, and the float reference model."""

import math

import numpy as np
import pytest

from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.sim.edgemoe import weights as W
from sparseforge.sim.edgemoe.golden import Golden
from sparseforge.sim.edgemoe.reference import Reference

SMALL = dict(image_h=32, image_w=64, dim=48, heads=3, layers=2, experts=4, expert_hidden=32,
             mlp_hidden=64)
ERF = np.vectorize(math.erf)


@pytest.fixture(scope="module")
def g():
    return Golden(EdgeMoEConfig())


def test_linear_by_hand(g):
    act, wf, bf = g.nx.act, g.nx.weight, g.nx.bias
    x = act.quantize(np.array([[1.5, -2.0, 0.25]]))
    w = wf.quantize(np.array([[0.25, 0.5, -1.0], [1.0, 1.0, 1.0]]))
    b = bf.quantize(np.array([0.125, -3.0]))
    # 1.5*0.25 - 2*0.5 - 0.25 + 0.125 = -0.75;  1.5 - 2 + 0.25 - 3 = -3.25
    assert act.to_float(g.linear(x, w, b)).tolist() == [[-0.75, -3.25]]
    # truncation: 2**-22 * 2**-14 products below one activation step round down
    tiny = act.quantize(np.array([[2.0 ** -22]]))
    half = wf.quantize(np.array([[0.5]]))
    assert g.linear(tiny, half, None).tolist() == [[0]]  # floor(0.5 LSB)
    assert g.linear(-tiny, half, None).tolist() == [[-1]]  # floor(-0.5 LSB)


def test_gelu_follows_the_erf_definition(g):
    act = g.nx.act
    x = act.quantize(np.linspace(-8, 8, 20001))
    xf = act.to_float(x)
    exact = 0.5 * xf * (1 + ERF(xf / math.sqrt(2)))
    got = act.to_float(g.gelu(x))
    # linear interpolation of delta with step h = 1/32: |error| <= h**2/8 max|delta''|
    # (max |delta''| = 2 phi(0) = 0.80) plus the table's and the result's rounding
    bound = (1 / 32) ** 2 / 8 * 0.80 + 2 * 2.0 ** -22
    assert np.abs(got - exact).max() <= bound
    # ReLU beyond the table: exactly x (x >= 5.5) and 0 (x <= -5.5)
    big = act.quantize(np.array([5.5, 7.25, -5.5, -100.0]))
    assert g.gelu(big).tolist() == [big[0], big[1], 0, 0]
    assert g.gelu(np.array([0])).tolist() == [0]


def test_exp_of_non_positive_arguments(g):
    act, e = g.nx.act, g.nx.exp
    d = act.quantize(-np.linspace(0, 40, 40001))
    got = e.to_float(g.exp_neg(d, act.frac_bits))
    exact = np.exp(act.to_float(d))
    # table step 1/64: interpolation error of 2**f <= (ln2/64)**2/8 * 2 relative, plus
    # the argument's and the result's rounding (2**-20 and 2**-23)
    assert np.abs(got - exact).max() <= 2 * (math.log(2) / 64) ** 2 / 8 + 3 * 2.0 ** -20
    assert g.exp_neg(np.array([0]), act.frac_bits).tolist() == [1 << e.frac_bits]  # e**0 = 1
    with pytest.raises(ValueError, match="<= 0"):
        g.exp_neg(np.array([1]), act.frac_bits)


def test_single_pass_softmax_statistics(g):
    act = g.nx.act
    rng = np.random.default_rng(1)
    s = act.quantize(rng.normal(0, 4, (20, 129)))
    recip, m = g.softmax_stats(s)
    sf = act.to_float(s)
    assert np.array_equal(m, s.max(axis=1))  # the running max ends at the max
    exact = 1 / np.exp(sf - sf.max(axis=1, keepdims=True)).sum(axis=1)
    assert np.allclose(g.nx.recip.to_float(recip), exact, rtol=1e-4)
    p = g.nx.prob.to_float(g.softmax_weights(s, recip, m))
    ref = np.exp(sf - sf.max(axis=1, keepdims=True)) * exact[:, None]
    assert np.abs(p - ref).max() < 2e-5


def test_single_pass_order_matters_only_in_the_last_bits(g):
    act = g.nx.act
    s = act.quantize(np.random.default_rng(2).normal(0, 3, (1, 129)))
    a, _ = g.softmax_stats(s)
    b, _ = g.softmax_stats(s[:, ::-1])
    assert abs(int(a[0]) - int(b[0])) <= 64  # a few LSBs of 2**-23


def test_layernorm_matches_the_float_definition(g):
    act = g.nx.act
    rng = np.random.default_rng(3)
    x = act.quantize(rng.normal(2, 5, (129, 192)))
    gamma = g.nx.norm.quantize(rng.normal(1, 0.2, 192))
    beta = g.nx.bias.quantize(rng.normal(0, 0.2, 192))
    got = act.to_float(g.layernorm(x, gamma, beta))
    ref = Reference.layernorm(act.to_float(x), g.nx.norm.to_float(gamma),
                              g.nx.bias.to_float(beta))
    assert np.abs(got - ref).max() < 1e-4
    # a constant row: variance 0, the output is beta (eps keeps 1/std finite)
    flat = np.full((1, 192), act.quantize(np.array(3.0)).item())
    assert np.array_equal(g.layernorm(flat, gamma, beta),
                          act.requantize(beta[None] << (act.frac_bits - g.nx.bias.frac_bits),
                                         act.frac_bits))


def test_staggered_lanes_visit_every_key_once_from_their_own_start():
    g = Golden(EdgeMoEConfig(lanes=4))
    for q in (0, 1, 2, 3, 4, 127, 128):
        order = g.key_order(q)
        assert sorted(order) == list(range(129))
        assert order[0] == q % 4 and order[-1] == (q % 4 - 1) % 129


def test_gate_picks_top_k_with_ties_to_the_lower_expert():
    cfg = EdgeMoEConfig(**SMALL)
    g = Golden(cfg)
    act = g.nx.act
    logits = act.quantize(np.array([[0.5, 2.0, 2.0, -1.0]]))
    w = np.eye(4, dtype=np.int64) << g.nx.weight.frac_bits  # identity: logits = x
    experts, scores = g.gate(np.pad(logits, ((0, 0), (0, 44))), np.pad(w, ((0, 0), (0, 44))))
    assert experts.tolist() == [[1, 2]]
    # softmax over all four experts, not renormalised over the two chosen
    e = np.exp(np.array([0.5, 2.0, 2.0, -1.0]))
    assert np.allclose(g.nx.prob.to_float(scores), e[[1, 2]] / e.sum(), atol=1e-5)


def test_whole_model_tracks_the_float_reference():
    cfg = EdgeMoEConfig(**SMALL)
    raw = W.quantize(cfg, W.random_weights(cfg, 5))
    img = W.quantize_image(W.random_image(cfg, 6))
    g, r = Golden(cfg), Reference(cfg)
    trace = {}
    got = g.nx.act.to_float(g.forward(img, raw, 0, trace=trace))
    ref = r.forward(img / 256.0, W.dequantize(cfg, raw), 0)
    assert np.abs(got - ref).max() < 2e-3  # fixed-point and approximation error
    assert "routing1" in trace and len(trace["routing1"]["queues"]) == cfg.experts
    with pytest.raises(ValueError, match="task = 2"):
        g.forward(img, raw, 2)


def test_bin_folder_loader(tmp_path):
    cfg = EdgeMoEConfig(**SMALL)
    w = W.random_weights(cfg, 7)
    d = cfg.dim

    def put(name, a):
        np.asarray(a, "<f4").tofile(tmp_path / f"{name}.float32.bin")

    put("patch_embed_weight", w.patch_w.reshape(d, cfg.in_chans, cfg.patch, cfg.patch))
    put("patch_embed_bias", w.patch_b)
    put("pos_embed", w.pos_embed)
    put("image", np.zeros(3))
    for i, lw in enumerate(w.layers):
        p = f"l{i}_"
        for name, a in (("norm1_weight", lw.norm1_w), ("norm1_bias", lw.norm1_b),
                        ("qkv_weight", lw.qkv_w), ("qkv_bias", lw.qkv_b),
                        ("attn_proj_weight", lw.proj_w), ("attn_proj_bias", lw.proj_b),
                        ("norm2_weight", lw.norm2_w), ("norm2_bias", lw.norm2_b)):
            put(p + name, a)
        if cfg.is_moe(i):
            for t in range(cfg.tasks):
                put(f"{p}w_gate_T_task{t}", lw.gate_w[t])
            put(p + "htoh4_weight", lw.exp1_w)
            put(p + "htoh4_bias", lw.exp1_b)
            put(p + "h4toh_weight", lw.exp2_w)
            put(p + "h4toh_bias", lw.exp2_b)
        else:
            put(p + "fc1_weight", lw.fc1_w)
            put(p + "fc1_bias", lw.fc1_b)
            put(p + "fc2_weight", lw.fc2_w)
            put(p + "fc2_bias", lw.fc2_b)
    got, extra = W.load_bin_folder(cfg, tmp_path)
    assert np.allclose(got.layers[1].exp2_w, w.layers[1].exp2_w.astype(np.float32))
    assert np.allclose(got.patch_w, w.patch_w.astype(np.float32))
    assert np.array_equal(got.norm_w, np.ones(d))  # no final norm in the folder
    assert list(extra) == ["image"]
    put("l0_qkv_bias", np.zeros(5))
    with pytest.raises(ValueError, match="l0_qkv_bias.float32.bin: 5 floats"):
        W.load_bin_folder(cfg, tmp_path)
    (tmp_path / "l0_qkv_bias.float32.bin").unlink()
    with pytest.raises(FileNotFoundError, match="l0_qkv_bias"):
        W.load_bin_folder(cfg, tmp_path)


def test_approximation_report_measures_each_unit_and_the_tasks():
    from sparseforge.sim.edgemoe.accuracy import approximation_errors

    cfg = EdgeMoEConfig(**SMALL)
    r = approximation_errors(cfg)
    assert set(r["tasks"]) == {0, 1}
    gelu = next(v for k, v in r["units"].items() if k.startswith("GELU"))
    assert 1e-6 < gelu["max_abs"] < 2e-4  # interpolation error: visible, within bound
    assert all(v["max_abs"] < 1e-3 for v in r["tasks"].values())
    assert all(0.0 <= a <= 1.0 for a in r["routing_agreement"].values())


def _m3vit_state(cfg, w):
    """An M3ViT-style state dict of ``w`` (keys and layouts of its multi-task MoE ViT)."""
    d, p = cfg.dim, "module.backbone."
    sd = {p + "cls_token": np.full((1, 1, d), 0.25), p + "pos_embed": w.pos_embed[None].copy(),
          p + "patch_embed.proj.weight": w.patch_w.reshape(d, cfg.in_chans, cfg.patch, cfg.patch),
          p + "patch_embed.proj.bias": w.patch_b}
    sd[p + "pos_embed"][0, 0] -= 0.25  # cls + pos[0] is the CLS token's input
    for i, lw in enumerate(w.layers):
        b = f"{p}blocks.{i}."
        sd.update({b + "norm1.weight": lw.norm1_w, b + "norm1.bias": lw.norm1_b,
                   b + "attn.qkv.weight": lw.qkv_w, b + "attn.qkv.bias": lw.qkv_b,
                   b + "attn.proj.weight": lw.proj_w, b + "attn.proj.bias": lw.proj_b,
                   b + "norm2.weight": lw.norm2_w, b + "norm2.bias": lw.norm2_b})
        if cfg.is_moe(i):
            for t in range(cfg.tasks):
                sd[f"{b}mlp.gate.{t}.w_gate"] = lw.gate_w[t].T  # [D][E]
            sd.update({b + "mlp.experts.htoh4.weight": lw.exp1_w,
                       b + "mlp.experts.htoh4.bias": lw.exp1_b,
                       b + "mlp.experts.h4toh.weight": lw.exp2_w,
                       b + "mlp.experts.h4toh.bias": lw.exp2_b})
        else:
            sd.update({b + "mlp.fc1.weight": lw.fc1_w, b + "mlp.fc1.bias": lw.fc1_b,
                       b + "mlp.fc2.weight": lw.fc2_w, b + "mlp.fc2.bias": lw.fc2_b})
    sd["module.decoders.1.norm.weight"] = w.norm_w
    sd["module.decoders.1.norm.bias"] = w.norm_b
    return sd


def test_m3vit_state_dict_loader(tmp_path):
    torch = pytest.importorskip("torch")
    cfg = EdgeMoEConfig(**SMALL)
    w = W.random_weights(cfg, 8)
    sd = _m3vit_state(cfg, w)
    path = tmp_path / "m3vit.pth"
    torch.save({k: torch.tensor(np.asarray(v)) for k, v in sd.items()}, path)
    got = W.load_state_dict(cfg, path, final_norm_task=1)
    assert np.allclose(got.pos_embed, w.pos_embed)  # CLS folded into row 0
    assert np.allclose(got.layers[1].gate_w, w.layers[1].gate_w)  # transposed back
    assert np.allclose(got.layers[1].exp1_w, w.layers[1].exp1_w)
    assert np.allclose(got.norm_w, w.norm_w)
    img = W.quantize_image(W.random_image(cfg, 9))
    g = Golden(cfg)
    assert np.array_equal(g.forward(img, W.quantize(cfg, got), 0),
                          g.forward(img, W.quantize(cfg, w), 0))
    plain = W.load_state_dict(cfg, sd)
    assert np.array_equal(plain.norm_w, np.ones(cfg.dim))  # the decoders' norms are heads
    del sd["module.backbone.blocks.1.mlp.gate.1.w_gate"]
    with pytest.raises(KeyError, match=r"blocks\.1\.mlp\.gate\.1\.w_gate"):
        W.load_state_dict(cfg, sd)
    sd["module.backbone.blocks.1.mlp.gate.1.w_gate"] = np.zeros((4, 48))
    with pytest.raises(ValueError, match="expected"):
        W.load_state_dict(cfg, sd)
