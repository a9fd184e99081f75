"""PIM-GPT weights: random GPT-2 initialisation, the Hugging Face GPT-2 loader."""

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from sparseforge.sim.pimgpt.models import tiny
from sparseforge.sim.pimgpt.weights import (
    LAYER_FIELDS,
    CheckpointError,
    GptWeights,
    load_hf,
    random_weights,
)

CFG = tiny(n_layer=2, d_model=32, n_head=4, vocab=50, n_ctx=16)


def bf16_oracle(a: np.ndarray) -> np.ndarray:
    """BF16 bit patterns by torch's float32 -> bfloat16 cast (round to nearest even),
    independent of sparseforge.sim.pim.fp."""
    t = torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(torch.bfloat16)
    return t.view(torch.int16).numpy().view(np.uint16)


def widen(bits) -> np.ndarray:
    """FP32 values of BF16 bit patterns (exact), any shape, NumPy 1 or 2."""
    b = np.asarray(bits, np.uint16)
    return (b.astype(np.uint32).reshape(-1) << np.uint32(16)).view(np.float32).reshape(b.shape)


# -------------------------------------------------------------------------- random


def test_random_shapes_and_dtypes():
    w = random_weights(CFG, 0)
    d = 32
    assert w.wte.shape == (50, d) and w.wpe.shape == (16, d)
    assert len(w.layers) == 2
    lw = w.layers[1]
    assert lw.w_qkv.shape == (3 * d, d) and lw.w_proj.shape == (d, d)
    assert lw.w_fc.shape == (4 * d, d) and lw.w_fc2.shape == (d, 4 * d)
    assert lw.b_qkv.shape == (3 * d,) and lw.b_fc.shape == (4 * d,)
    assert all(a.dtype == np.uint16 for _, a in w.named())
    assert w.n_params() == CFG.n_params()
    assert w.nbytes() == 2 * CFG.n_params()


def test_random_is_deterministic_and_seeded():
    a, b, c = random_weights(CFG, 3), random_weights(CFG, 3), random_weights(CFG, 4)
    for (na, xa), (_, xb), (_, xc) in zip(a.named(), b.named(), c.named()):
        assert np.array_equal(xa, xb), na
        if not na.endswith(("ln1_g", "ln1_b", "ln2_g", "ln2_b", "lnf_g", "lnf_b")):
            assert not np.array_equal(xa, xc), na


def test_random_statistics_follow_gpt2_init():
    c = tiny(n_layer=8, d_model=128, n_head=4, vocab=2000, n_ctx=64)
    w = random_weights(c, 0)
    wte = widen(w.wte)
    assert abs(wte.mean()) < 1e-3 and abs(wte.std() - 0.02) < 0.02 * 0.02
    fc = widen(w.layers[0].w_fc)
    assert abs(fc.std() - 0.02) < 0.02 * 0.03
    resid = widen(np.stack([lw.w_fc2 for lw in w.layers]))
    expect = 0.02 / np.sqrt(2 * 8)
    assert abs(resid.std() - expect) < expect * 0.03
    b = widen(np.concatenate([lw.b_fc for lw in w.layers]))
    assert abs(b.std() - 0.01) < 0.01 * 0.1
    assert np.all(w.layers[3].ln2_g == 0x3F80) and np.all(w.lnf_b == 0)  # 1.0 and +0


def test_random_ln_noise():
    w = random_weights(CFG, 0, ln_std=0.1)
    g = widen(w.layers[0].ln1_g)
    assert 0.03 < g.std() < 0.2 and abs(g.mean() - 1) < 0.1


def test_random_values_are_bf16_roundings_of_floats():
    # every stored pattern is a finite BF16; the float32 draws are not kept, so check
    # the weaker property that a re-rounding is the identity and no NaN/inf appears
    w = random_weights(CFG, 0)
    v = widen(w.wte)
    assert np.isfinite(v).all()
    assert np.array_equal(bf16_oracle(v), w.wte)


@pytest.mark.parametrize("kw, msg", [
    (dict(seed=-1), "seed"), (dict(seed=1.5), "seed"), (dict(std=-0.1), "std"),
    (dict(bias_std=float("inf")), "bias_std"),
])
def test_random_refuses_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        random_weights(CFG, **{"seed": 0, **kw})


def test_weights_refuse_wrong_arrays():
    w = random_weights(CFG, 0)
    with pytest.raises(ValueError, match=r"GptWeights\.wte: .*expected a uint16"):
        GptWeights(CFG, w.wte.astype(np.float32), w.wpe, w.layers, w.lnf_g, w.lnf_b)
    with pytest.raises(ValueError, match=r"GptWeights\.wpe: shape \(15, 32\); expected "
                                         r"\(16, 32\)"):
        GptWeights(CFG, w.wte, w.wpe[:15], w.layers, w.lnf_g, w.lnf_b)
    with pytest.raises(ValueError, match="1 layers; expected n_layer = 2"):
        GptWeights(CFG, w.wte, w.wpe, w.layers[:1], w.lnf_g, w.lnf_b)
    bad = w.layers[1].__class__(**{f: getattr(w.layers[1], f) for f in LAYER_FIELDS}
                                | {"w_fc2": w.layers[1].w_fc})
    with pytest.raises(ValueError, match=r"layers\[1\]\.w_fc2: shape \(128, 32\); "
                                         r"expected \(32, 128\)"):
        GptWeights(CFG, w.wte, w.wpe, (w.layers[0], bad), w.lnf_g, w.lnf_b)


# ---------------------------------------------------------------------- HF loader

HF_LAYER = {  # hf name -> (our field, Conv1D [in, out])
    "ln_1.weight": ("ln1_g", False), "ln_1.bias": ("ln1_b", False),
    "attn.c_attn.weight": ("w_qkv", True), "attn.c_attn.bias": ("b_qkv", False),
    "attn.c_proj.weight": ("w_proj", True), "attn.c_proj.bias": ("b_proj", False),
    "ln_2.weight": ("ln2_g", False), "ln_2.bias": ("ln2_b", False),
    "mlp.c_fc.weight": ("w_fc", True), "mlp.c_fc.bias": ("b_fc", False),
    "mlp.c_proj.weight": ("w_fc2", True), "mlp.c_proj.bias": ("b_fc2", False),
}


def make_checkpoint(c, seed=0, dtype=np.float32):
    """A GPT-2 state dict in Hugging Face's layout (Conv1D weights [in, out]), float32
    values with more than BF16's precision, and our expected [out, in] float32 views."""
    rng = np.random.default_rng(seed)
    d = c.d_model
    sd, ours = {}, {}

    def put(name, field, out_in, conv):
        v = rng.standard_normal(out_in).astype(np.float32) * 0.05
        ours[field] = v
        sd[name] = np.ascontiguousarray(v.T if conv else v).astype(dtype)

    put("wte.weight", "wte", (c.vocab, d), False)
    put("wpe.weight", "wpe", (c.n_ctx, d), False)
    put("ln_f.weight", "lnf_g", (d,), False)
    put("ln_f.bias", "lnf_b", (d,), False)
    shapes = {"ln1_g": (d,), "ln1_b": (d,), "w_qkv": (3 * d, d), "b_qkv": (3 * d,),
              "w_proj": (d, d), "b_proj": (d,), "ln2_g": (d,), "ln2_b": (d,),
              "w_fc": (4 * d, d), "b_fc": (4 * d,), "w_fc2": (d, 4 * d), "b_fc2": (d,)}
    for i in range(c.n_layer):
        for hf, (field, conv) in HF_LAYER.items():
            put(f"h.{i}.{hf}", f"h.{i}.{field}", shapes[field], conv)
        sd[f"h.{i}.attn.bias"] = np.tril(np.ones((1, 1, c.n_ctx, c.n_ctx), np.float32))
    return sd, ours


def write(folder, c, sd, prefix="", **cfg_extra):
    folder.mkdir(exist_ok=True)
    cfg = {"model_type": "gpt2", "n_layer": c.n_layer, "n_embd": c.d_model,
           "n_head": c.n_head, "vocab_size": c.vocab, "n_positions": c.n_ctx,
           "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new", **cfg_extra}
    (folder / "config.json").write_text(json.dumps(cfg))
    save_file({prefix + k: v for k, v in sd.items()}, str(folder / "model.safetensors"))
    return folder


def check_loaded(w, ours, c):
    assert w.config.n_layer == c.n_layer and w.config.d_model == c.d_model
    assert w.config.n_ctx == c.n_ctx and w.config.vocab == c.vocab
    for name, bits in w.named():
        expect = ours[name]
        assert bits.shape == expect.shape, name
        assert np.array_equal(bits, bf16_oracle(expect)), name


@pytest.mark.parametrize("prefix", ["", "transformer."])
def test_load_hf_transposes_conv1d_and_rounds(tmp_path, prefix):
    sd, ours = make_checkpoint(CFG)
    if prefix:
        sd["lm_head.weight"] = sd["wte.weight"]  # tied head, stored (GPT2LMHeadModel)
    w = load_hf(write(tmp_path / "ckpt", CFG, sd, prefix))
    check_loaded(w, ours, CFG)
    assert w.config.name == "ckpt"
    # the qkv split: GPT-2's c_attn columns are q | k | v, so row r of w_qkv is column r
    assert np.array_equal(w.layers[0].w_qkv[CFG.d_model + 1],
                          bf16_oracle(sd["h.0.attn.c_attn.weight"][:, CFG.d_model + 1]))


def test_load_hf_float16_and_defaults(tmp_path):
    c = tiny(n_layer=1, d_model=16, n_head=2, vocab=20, n_ctx=1024)
    sd, ours = make_checkpoint(c, dtype=np.float16)
    folder = write(tmp_path / "f16", c, sd)
    cfg = json.loads((folder / "config.json").read_text())
    del cfg["n_positions"], cfg["layer_norm_epsilon"]  # HF defaults: 1024, 1e-5
    (folder / "config.json").write_text(json.dumps(cfg))
    w = load_hf(folder, name="half")
    assert w.config.name == "half" and w.config.n_ctx == 1024 and w.config.eps == 1e-5
    for name, bits in w.named():
        assert np.array_equal(bits, bf16_oracle(ours[name].astype(np.float16))), name


def test_load_hf_missing_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such folder"):
        load_hf(tmp_path / "nope")
    (tmp_path / "a").mkdir()
    with pytest.raises(CheckpointError, match=r"config\.json: no such file"):
        load_hf(tmp_path / "a")
    sd, _ = make_checkpoint(CFG)
    folder = write(tmp_path / "b", CFG, sd)
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"model\.safetensors: no such file"):
        load_hf(folder)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_hf(folder)


def test_load_hf_missing_tensor(tmp_path):
    sd, _ = make_checkpoint(CFG)
    del sd["h.1.mlp.c_fc.bias"]
    with pytest.raises(CheckpointError, match=r"tensor 'h\.1\.mlp\.c_fc\.bias' missing"):
        load_hf(write(tmp_path / "c", CFG, sd))


def test_load_hf_wrong_shape(tmp_path):
    sd, _ = make_checkpoint(CFG)
    sd["h.0.attn.c_attn.weight"] = np.ascontiguousarray(sd["h.0.attn.c_attn.weight"].T)
    with pytest.raises(CheckpointError) as e:
        load_hf(write(tmp_path / "c", CFG, sd))
    msg = str(e.value)
    assert "'h.0.attn.c_attn.weight'" in msg and "(96, 32)" in msg and "(32, 96)" in msg


def test_load_hf_refuses_untied_head_and_other_settings(tmp_path):
    sd, _ = make_checkpoint(CFG)
    sd["lm_head.weight"] = sd["wte.weight"] + np.float32(0.5)
    with pytest.raises(CheckpointError, match="lm_head.weight.*tied"):
        load_hf(write(tmp_path / "u", CFG, sd))
    sd, _ = make_checkpoint(CFG)
    with pytest.raises(CheckpointError, match="activation_function = 'relu'"):
        load_hf(write(tmp_path / "r", CFG, sd, activation_function="relu"))
    with pytest.raises(CheckpointError, match="n_inner = 100"):
        load_hf(write(tmp_path / "n", CFG, sd, n_inner=100))
    folder = write(tmp_path / "k", CFG, sd)
    cfg = json.loads((folder / "config.json").read_text())
    del cfg["n_head"]
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="key 'n_head' missing"):
        load_hf(folder)
    cfg["n_head"] = 5  # does not divide 32
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="n_head = 5"):
        load_hf(folder)


def test_load_hf_refuses_extra_layers(tmp_path):
    c3 = tiny(n_layer=3, d_model=32, n_head=4, vocab=50, n_ctx=16)
    sd, _ = make_checkpoint(c3)
    folder = write(tmp_path / "x", c3, sd)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["n_layer"] = 2
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="more layers"):
        load_hf(folder)
