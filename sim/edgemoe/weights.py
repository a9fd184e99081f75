"""Edge-MoE weights: seeded random at real shapes, quantisation, and file loaders.

Float weights use the golden model's containers
(:class:`~sparseforge.sim.edgemoe.golden.ModelWeights`) holding float64 arrays;
:func:`quantize` turns them into the raw integers of the design's formats, and
:func:`dequantize` back into the floats those integers mean (what the float reference
should run on, so that a comparison measures the arithmetic, not the weight rounding).

:func:`load_bin_folder` reads the per-tensor ``*.float32.bin`` files of the public
Edge-MoE design (raw little-endian float32, C order, ``[out][in]`` matrices);
:func:`load_state_dict` an M3ViT PyTorch state dict (``model.state_dict()`` of its
multi-task MoE ViT, or the file ``torch.save`` wrote).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.families.edgemoe.numerics import Numerics

from .golden import LayerWeights, ModelWeights

__all__ = ["PIXEL_FRAC", "STATE_DICT_PREFIXES", "dequantize", "load_bin_folder",
           "load_state_dict", "quantize", "quantize_image", "random_image", "random_weights"]

#: Prefixes a saved M3ViT state dict may carry (data-parallel wrapper, multi-task model).
STATE_DICT_PREFIXES = ("module.", "backbone.")

#: Pixels are ``ap_ufixed<8,0>``: 8 fraction bits, values in [0, 1).
PIXEL_FRAC = 8

#: Which format each weight field is stored in (``Numerics`` attribute).
_FIELD_FORMAT = {
    "norm1_w": "norm", "norm2_w": "norm", "norm_w": "norm",
    "norm1_b": "bias", "norm2_b": "bias", "norm_b": "bias",
    "qkv_b": "bias", "proj_b": "bias", "fc1_b": "bias", "fc2_b": "bias",
    "exp1_b": "bias", "exp2_b": "bias", "patch_b": "bias",
    "qkv_w": "weight", "proj_w": "weight", "fc1_w": "weight", "fc2_w": "weight",
    "gate_w": "weight", "exp1_w": "weight", "exp2_w": "weight", "patch_w": "weight",
    "pos_embed": "act",
}


def random_weights(cfg: EdgeMoEConfig, seed: int = 0) -> ModelWeights:
    """Float weights at the config's shapes, seeded: matrices ``N(0, 1/in)`` (so the
    activations stay of order one), biases ``N(0, 0.1)``, LayerNorm scales
    ``1 + N(0, 0.1)``, position embeddings ``N(0, 0.5)``, gates ``N(0, 1/D)``."""
    rng = np.random.default_rng(seed)
    d, e = cfg.dim, cfg.experts

    def mat(*shape):
        return rng.normal(0.0, 1.0 / np.sqrt(shape[-1]), shape)

    def vec(*shape, mean=0.0, std=0.1):
        return mean + rng.normal(0.0, std, shape)

    layers = []
    for i in range(cfg.layers):
        lw = LayerWeights(norm1_w=vec(d, mean=1.0), norm1_b=vec(d), qkv_w=mat(3 * d, d),
                          qkv_b=vec(3 * d), proj_w=mat(d, d), proj_b=vec(d),
                          norm2_w=vec(d, mean=1.0), norm2_b=vec(d))
        if cfg.is_moe(i):
            hdn = cfg.expert_hidden
            lw.gate_w = mat(cfg.tasks, e, d)
            lw.exp1_w, lw.exp1_b = mat(e, hdn, d), vec(e, hdn)
            lw.exp2_w, lw.exp2_b = mat(e, d, hdn), vec(e, d)
        else:
            hdn = cfg.mlp_hidden
            lw.fc1_w, lw.fc1_b = mat(hdn, d), vec(hdn)
            lw.fc2_w, lw.fc2_b = mat(d, hdn), vec(d)
        layers.append(lw)
    return ModelWeights(patch_w=mat(d, cfg.patch_inputs), patch_b=vec(d),
                        pos_embed=rng.normal(0.0, 0.5, (cfg.tokens, d)), layers=layers,
                        norm_w=vec(d, mean=1.0), norm_b=vec(d))


def random_image(cfg: EdgeMoEConfig, seed: int = 0) -> np.ndarray:
    """A float image ``[C][H][W]`` of multiples of 1/256 in [0, 1)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (cfg.in_chans, cfg.image_h, cfg.image_w)) / 256.0


def quantize_image(image: np.ndarray) -> np.ndarray:
    """Raw ``ap_ufixed<8,0>`` pixels of a float image in [0, 1) (truncated, saturated)."""
    raw = np.floor(np.asarray(image, np.float64) * (1 << PIXEL_FRAC))
    return np.clip(raw, 0, (1 << PIXEL_FRAC) - 1).astype(np.int64)


def _map(w: ModelWeights, fn) -> ModelWeights:
    def one(name, value):
        return None if value is None else fn(name, value)

    layers = [LayerWeights(**{f.name: one(f.name, getattr(lw, f.name))
                              for f in dataclasses.fields(LayerWeights)}) for lw in w.layers]
    top = {f.name: one(f.name, getattr(w, f.name)) for f in dataclasses.fields(ModelWeights)
           if f.name != "layers"}
    return ModelWeights(layers=layers, **top)


def quantize(cfg: EdgeMoEConfig, w: ModelWeights) -> ModelWeights:
    """Raw integers of float weights, each in its format (with that format's rounding
    and overflow modes)."""
    nx = Numerics.of(cfg)
    return _map(w, lambda name, v: getattr(nx, _FIELD_FORMAT[name]).quantize(v))


def dequantize(cfg: EdgeMoEConfig, w: ModelWeights) -> ModelWeights:
    """The floats that raw weights mean."""
    nx = Numerics.of(cfg)
    return _map(w, lambda name, v: getattr(nx, _FIELD_FORMAT[name]).to_float(v))


def load_bin_folder(cfg: EdgeMoEConfig, folder: str | Path) -> tuple[ModelWeights, dict]:
    """Float weights from a folder of ``*.float32.bin`` files (the public design's).

    Names: ``patch_embed_weight`` ``[D][C][p][p]``, ``patch_embed_bias``,
    ``pos_embed`` ``[T][D]``; per layer ``l{i}_`` + ``qkv_weight`` ``[3D][D]``,
    ``qkv_bias``, ``attn_proj_weight``, ``attn_proj_bias``, ``norm{1,2}_{weight,bias}``;
    dense layers ``fc{1,2}_{weight,bias}``; MoE layers ``w_gate_T_task{t}``
    ``[E][D]``, ``htoh4_weight`` ``[E][H][D]``, ``htoh4_bias``, ``h4toh_weight``
    ``[E][D][H]``, ``h4toh_bias``; optional final ``norm_{weight,bias}`` (identity
    when absent: the public design has no final norm).  Returns ``(weights, extra)``
    with ``extra`` the other ``.float32.bin`` files by name (e.g. ``image``).

    Raises
    ------
    FileNotFoundError
        Naming the first missing file.
    ValueError
        When a file's size does not match the config's shape (names the file, the
        float count found and the shape expected).
    """
    folder = Path(folder)
    d, e, t = cfg.dim, cfg.experts, cfg.tokens
    used: set[str] = set()

    def get(name, shape, optional=False):
        path = folder / f"{name}.float32.bin"
        if not path.exists():
            if optional:
                return None
            raise FileNotFoundError(f"{path}: missing (needed for shape {shape})")
        data = np.fromfile(path, "<f4").astype(np.float64)
        if data.size != int(np.prod(shape)):
            raise ValueError(f"{path}: {data.size} floats; expected shape {shape} "
                             f"({int(np.prod(shape))} floats) for this config")
        used.add(path.name)
        return data.reshape(shape)

    layers = []
    for i in range(cfg.layers):
        p = f"l{i}_"
        lw = LayerWeights(norm1_w=get(p + "norm1_weight", (d,)),
                          norm1_b=get(p + "norm1_bias", (d,)),
                          qkv_w=get(p + "qkv_weight", (3 * d, d)),
                          qkv_b=get(p + "qkv_bias", (3 * d,)),
                          proj_w=get(p + "attn_proj_weight", (d, d)),
                          proj_b=get(p + "attn_proj_bias", (d,)),
                          norm2_w=get(p + "norm2_weight", (d,)),
                          norm2_b=get(p + "norm2_bias", (d,)))
        if cfg.is_moe(i):
            hdn = cfg.expert_hidden
            lw.gate_w = np.stack([get(f"{p}w_gate_T_task{k}", (e, d))
                                  for k in range(cfg.tasks)])
            lw.exp1_w, lw.exp1_b = get(p + "htoh4_weight", (e, hdn, d)), \
                get(p + "htoh4_bias", (e, hdn))
            lw.exp2_w, lw.exp2_b = get(p + "h4toh_weight", (e, d, hdn)), \
                get(p + "h4toh_bias", (e, d))
        else:
            hdn = cfg.mlp_hidden
            lw.fc1_w, lw.fc1_b = get(p + "fc1_weight", (hdn, d)), get(p + "fc1_bias", (hdn,))
            lw.fc2_w, lw.fc2_b = get(p + "fc2_weight", (d, hdn)), get(p + "fc2_bias", (d,))
        layers.append(lw)
    norm_w = get("norm_weight", (d,), optional=True)
    norm_b = get("norm_bias", (d,), optional=True)
    w = ModelWeights(
        patch_w=get("patch_embed_weight", (d, cfg.in_chans, cfg.patch, cfg.patch))
        .reshape(d, -1),
        patch_b=get("patch_embed_bias", (d,)), pos_embed=get("pos_embed", (t, d)),
        layers=layers, norm_w=np.ones(d) if norm_w is None else norm_w,
        norm_b=np.zeros(d) if norm_b is None else norm_b)
    extra = {path.name[:-len(".float32.bin")]: np.fromfile(path, "<f4")
             for path in sorted(folder.glob("*.float32.bin")) if path.name not in used}
    return w, extra


def load_state_dict(cfg: EdgeMoEConfig, state, final_norm_task: int | None = None
                    ) -> ModelWeights:
    """Float weights from an M3ViT state dict.

    ``state``: a mapping of key -> tensor or array, or the path of a file
    ``torch.save`` wrote (needs PyTorch).  Keys may carry the prefixes
    :data:`STATE_DICT_PREFIXES` (``module.backbone.blocks.1...``).  Read:
    ``patch_embed.proj.{weight,bias}`` (``[D][C][p][p]``), ``cls_token`` and
    ``pos_embed`` (``[1][T][D]``, row 0 the CLS position: token 0 becomes ``cls_token
    + pos_embed[0]``, what the CLS token is after M3ViT adds the embeddings); per block
    ``blocks.{i}.norm1``, ``attn.qkv`` (Q, K, V stacked on the outputs), ``attn.proj``,
    ``norm2``; dense blocks ``mlp.fc1`` / ``mlp.fc2``; MoE blocks
    ``mlp.experts.htoh4`` / ``h4toh`` (``[E][out][in]``) and one gate per task
    ``mlp.gate.{t}.w_gate`` (``[D][E]``, transposed here to ``[E][D]``).  M3ViT's
    final norm belongs to each task's decoder (``decoders.{t}.norm``):
    ``final_norm_task`` takes that task's, otherwise the final norm is the identity
    (as in the public Edge-MoE design).

    Raises
    ------
    KeyError
        Naming the first missing key.
    ValueError
        When a tensor's shape differs from the config's (names key, shape, expected).
    """
    if isinstance(state, (str, Path)):
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - torch is in the dev install
            raise ImportError("reading a .pth state dict needs PyTorch (pip install "
                              "torch==2.13.0), or pass a dict of arrays") from exc
        state = torch.load(state, map_location="cpu", weights_only=True)
    table = {}
    for key, value in state.items():
        name = key
        for prefix in STATE_DICT_PREFIXES:
            name = name.removeprefix(prefix)
        table[name] = value
    d, e, t = cfg.dim, cfg.experts, cfg.tokens

    def get(key, shape):
        if key not in table:
            raise KeyError(f"state dict has no {key!r} (needed, shape {shape})")
        value = table[key]
        array = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value,
                           np.float64)
        if array.shape != tuple(shape):
            raise ValueError(f"state dict {key!r}: shape {array.shape}; expected {shape} "
                             "for this config")
        return array

    pos = get("pos_embed", (1, t, d))[0].copy()
    pos[0] += get("cls_token", (1, 1, d))[0, 0]
    layers = []
    for i in range(cfg.layers):
        b = f"blocks.{i}."
        lw = LayerWeights(norm1_w=get(b + "norm1.weight", (d,)),
                          norm1_b=get(b + "norm1.bias", (d,)),
                          qkv_w=get(b + "attn.qkv.weight", (3 * d, d)),
                          qkv_b=get(b + "attn.qkv.bias", (3 * d,)),
                          proj_w=get(b + "attn.proj.weight", (d, d)),
                          proj_b=get(b + "attn.proj.bias", (d,)),
                          norm2_w=get(b + "norm2.weight", (d,)),
                          norm2_b=get(b + "norm2.bias", (d,)))
        if cfg.is_moe(i):
            h = cfg.expert_hidden
            lw.gate_w = np.stack([get(f"{b}mlp.gate.{k}.w_gate", (d, e)).T
                                  for k in range(cfg.tasks)])
            lw.exp1_w = get(b + "mlp.experts.htoh4.weight", (e, h, d))
            lw.exp1_b = get(b + "mlp.experts.htoh4.bias", (e, h))
            lw.exp2_w = get(b + "mlp.experts.h4toh.weight", (e, d, h))
            lw.exp2_b = get(b + "mlp.experts.h4toh.bias", (e, d))
        else:
            m = cfg.mlp_hidden
            lw.fc1_w, lw.fc1_b = get(b + "mlp.fc1.weight", (m, d)), get(b + "mlp.fc1.bias", (m,))
            lw.fc2_w, lw.fc2_b = get(b + "mlp.fc2.weight", (d, m)), get(b + "mlp.fc2.bias", (d,))
        layers.append(lw)
    if final_norm_task is None:
        norm_w, norm_b = np.ones(d), np.zeros(d)
    else:
        norm_w = get(f"decoders.{final_norm_task}.norm.weight", (d,))
        norm_b = get(f"decoders.{final_norm_task}.norm.bias", (d,))
    patch = get("patch_embed.proj.weight", (d, cfg.in_chans, cfg.patch, cfg.patch))
    return ModelWeights(patch_w=patch.reshape(d, -1), patch_b=get("patch_embed.proj.bias", (d,)),
                        pos_embed=pos, layers=layers, norm_w=norm_w, norm_b=norm_b)
