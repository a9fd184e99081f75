"""GPT-2-architecture weights as the PIM-GPT stores them: BF16 bit patterns.

:class:`GptWeights` holds every parameter of a :class:`~sparseforge.sim.pimgpt.models.
GptConfig` model as ``uint16`` BF16 bit patterns (round to nearest even from float32 by
:func:`sparseforge.sim.pim.fp.f32_to_bf16`), matrices **output-major** ``[out, in]``
(one output row per DRAM row span, the layout of ``docs/designs/pimgpt.md``):

==============  ==============  ====================================================
name            shape           role
==============  ==============  ====================================================
``wte``         ``[V, d]``      token embedding; also the tied output projection
``wpe``         ``[n_ctx, d]``  position embedding
``ln1_g/_b``    ``[d]``         LayerNorm before attention
``w_qkv``       ``[3d, d]``     ``q | k | v`` projection, heads contiguous in each
``b_qkv``       ``[3d]``
``w_proj``      ``[d, d]``      attention output projection
``b_proj``      ``[d]``
``ln2_g/_b``    ``[d]``         LayerNorm before the MLP
``w_fc``        ``[4d, d]``     MLP up projection
``b_fc``        ``[4d]``
``w_fc2``       ``[d, 4d]``     MLP down projection
``b_fc2``       ``[d]``
``lnf_g/_b``    ``[d]``         final LayerNorm
==============  ==============  ====================================================

Two sources: :func:`random_weights` (GPT-2's initialisation, for models at real shapes
without a checkpoint) and :func:`load_hf` (a local Hugging Face GPT-2 checkpoint folder:
``config.json`` + ``model.safetensors``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sparseforge.errors import SparseforgeError
from sparseforge.sim.pim.fp import bf16_to_f32, f32_to_bf16

from .models import GptConfig

__all__ = [
    "LAYER_FIELDS",
    "CheckpointError",
    "GptWeights",
    "LayerWeights",
    "load_hf",
    "random_weights",
]


class CheckpointError(SparseforgeError, ValueError):
    """A checkpoint folder is unusable: a missing file or tensor, a wrong shape, an
    unsupported setting; the message names the file, the tensor and what was expected."""


#: The per-layer parameters, in the order of :class:`LayerWeights`.
LAYER_FIELDS = ("ln1_g", "ln1_b", "w_qkv", "b_qkv", "w_proj", "b_proj",
                "ln2_g", "ln2_b", "w_fc", "b_fc", "w_fc2", "b_fc2")


def _layer_shapes(c: GptConfig) -> dict[str, tuple[int, ...]]:
    d = c.d_model
    return {"ln1_g": (d,), "ln1_b": (d,), "w_qkv": (3 * d, d), "b_qkv": (3 * d,),
            "w_proj": (d, d), "b_proj": (d,), "ln2_g": (d,), "ln2_b": (d,),
            "w_fc": (4 * d, d), "b_fc": (4 * d,), "w_fc2": (d, 4 * d), "b_fc2": (d,)}


def _global_shapes(c: GptConfig) -> dict[str, tuple[int, ...]]:
    d = c.d_model
    return {"wte": (c.vocab, d), "wpe": (c.n_ctx, d), "lnf_g": (d,), "lnf_b": (d,)}


def _check_bits(where: str, a, shape: tuple[int, ...]) -> None:
    if not isinstance(a, np.ndarray) or a.dtype != np.uint16:
        raise ValueError(f"{where}: {type(a).__name__} of dtype "
                         f"{getattr(a, 'dtype', None)}; expected a uint16 array of BF16 "
                         f"bit patterns")
    if a.shape != shape:
        raise ValueError(f"{where}: shape {a.shape}; expected {shape}")


@dataclass(frozen=True, eq=False)
class LayerWeights:
    """One decoder block's parameters (BF16 bit patterns, see the module docstring)."""

    ln1_g: np.ndarray
    ln1_b: np.ndarray
    w_qkv: np.ndarray
    b_qkv: np.ndarray
    w_proj: np.ndarray
    b_proj: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray
    w_fc: np.ndarray
    b_fc: np.ndarray
    w_fc2: np.ndarray
    b_fc2: np.ndarray

    def items(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(name, bits)`` in :data:`LAYER_FIELDS` order."""
        for name in LAYER_FIELDS:
            yield name, getattr(self, name)


@dataclass(frozen=True, eq=False)
class GptWeights:
    """All parameters of one model as BF16 bit patterns (``uint16``).

    Parameters
    ----------
    config : GptConfig
        The model's shape; every array is checked against it.
    wte, wpe : ndarray of uint16
        Token ``[V, d]`` and position ``[n_ctx, d]`` embeddings.
    layers : tuple of LayerWeights
        ``n_layer`` decoder blocks.
    lnf_g, lnf_b : ndarray of uint16
        Final LayerNorm, ``[d]`` each.

    Raises
    ------
    ValueError
        An array is not ``uint16`` or has the wrong shape (the message names it).
    """

    config: GptConfig
    wte: np.ndarray
    wpe: np.ndarray
    layers: tuple[LayerWeights, ...]
    lnf_g: np.ndarray
    lnf_b: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.config, GptConfig):
            raise TypeError(f"GptWeights.config: {type(self.config).__name__}; "
                            f"expected a GptConfig")
        for name, shape in _global_shapes(self.config).items():
            _check_bits(f"GptWeights.{name}", getattr(self, name), shape)
        layers = tuple(self.layers)
        object.__setattr__(self, "layers", layers)
        if len(layers) != self.config.n_layer:
            raise ValueError(f"GptWeights.layers: {len(layers)} layers; expected "
                             f"n_layer = {self.config.n_layer}")
        shapes = _layer_shapes(self.config)
        for i, layer in enumerate(layers):
            for name, shape in shapes.items():
                _check_bits(f"GptWeights.layers[{i}].{name}", getattr(layer, name), shape)

    def f32(self, bits: np.ndarray) -> np.ndarray:
        """FP32 values of one of this object's arrays (exact widening of BF16)."""
        return bf16_to_f32(bits)

    def named(self) -> Iterator[tuple[str, np.ndarray]]:
        """Every parameter as ``(name, bits)``: ``wte``, ``wpe``, ``h.{i}.{field}``,
        ``lnf_g``, ``lnf_b``."""
        yield "wte", self.wte
        yield "wpe", self.wpe
        for i, layer in enumerate(self.layers):
            for name, bits in layer.items():
                yield f"h.{i}.{name}", bits
        yield "lnf_g", self.lnf_g
        yield "lnf_b", self.lnf_b

    def n_params(self) -> int:
        """Parameters stored (the tied output projection once)."""
        return sum(a.size for _, a in self.named())

    def nbytes(self) -> int:
        """Bytes of BF16 storage."""
        return sum(a.nbytes for _, a in self.named())


# ------------------------------------------------------------------------------ random

_CHUNK = 1 << 22  # float32 elements generated at once (16 MiB)


def _normal_bf16(rng: np.random.Generator, shape: tuple[int, ...], std: float,
                 mean: float = 0.0) -> np.ndarray:
    """``N(mean, std^2)`` samples rounded to BF16, drawn in float32 chunks so that no
    float32 copy of a large matrix is ever held."""
    out = np.empty(int(np.prod(shape)), np.uint16)
    if std == 0:  # a constant (+0, not the -0 of 0 * a negative draw)
        out[:] = f32_to_bf16(np.array([mean], np.float32))[0]
        return out.reshape(shape)
    for start in range(0, out.size, _CHUNK):
        n = min(_CHUNK, out.size - start)
        v = rng.standard_normal(n, dtype=np.float32)
        v *= np.float32(std)
        if mean:
            v += np.float32(mean)
        out[start:start + n] = f32_to_bf16(v)
    return out.reshape(shape)


def random_weights(config: GptConfig, seed: int = 0, *, std: float = 0.02,
                   bias_std: float = 0.01, ln_std: float = 0.0) -> GptWeights:
    """Random weights at the shapes of ``config``, GPT-2's initialisation.

    Matrices and embeddings ``N(0, std^2)``, the residual output projections
    (``w_proj``, ``w_fc2``) scaled by ``1 / sqrt(2 n_layer)`` as GPT-2 does; biases
    ``N(0, bias_std^2)`` (GPT-2 starts them at 0; small random values exercise the bias
    paths); LayerNorm gains ``1 + N(0, ln_std^2)`` and shifts ``N(0, ln_std^2)`` (GPT-2:
    ``ln_std = 0``, i.e. gains 1 and shifts 0).  Every value is rounded to BF16.

    Each tensor has its own generator, ``numpy.random.default_rng([seed, k])`` for the
    ``k``-th tensor of :meth:`GptWeights.named`, so the weights depend on ``seed`` and the
    shapes only.  Values are drawn in float32 chunks of 4M elements, so the peak memory
    beyond the BF16 result is about 100 MiB (a chunk and its rounding temporaries) even
    for GPT-2 XL.
    """
    if not isinstance(config, GptConfig):
        raise TypeError(f"random_weights: config is {type(config).__name__}; expected a "
                        f"GptConfig")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"random_weights: seed = {seed!r}; allowed: an integer >= 0")
    for name, v in (("std", std), ("bias_std", bias_std), ("ln_std", ln_std)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise ValueError(f"random_weights: {name} = {v!r}; allowed: a finite float >= 0")
    counter = iter(range(1 << 30))

    def draw(shape, s, mean=0.0):
        return _normal_bf16(np.random.default_rng([int(seed), next(counter)]), shape, s,
                            mean)

    c, d = config, config.d_model
    resid_std = std / math.sqrt(2 * c.n_layer)
    wte = draw((c.vocab, d), std)
    wpe = draw((c.n_ctx, d), std)
    layers = []
    for _ in range(c.n_layer):
        layers.append(LayerWeights(
            ln1_g=draw((d,), ln_std, 1.0), ln1_b=draw((d,), ln_std),
            w_qkv=draw((3 * d, d), std), b_qkv=draw((3 * d,), bias_std),
            w_proj=draw((d, d), resid_std), b_proj=draw((d,), bias_std),
            ln2_g=draw((d,), ln_std, 1.0), ln2_b=draw((d,), ln_std),
            w_fc=draw((4 * d, d), std), b_fc=draw((4 * d,), bias_std),
            w_fc2=draw((d, 4 * d), resid_std), b_fc2=draw((d,), bias_std)))
    return GptWeights(c, wte, wpe, tuple(layers), draw((d,), ln_std, 1.0),
                      draw((d,), ln_std))


# ---------------------------------------------------------------------- Hugging Face

#: Our layer field -> (the Hugging Face GPT-2 tensor name under ``h.{i}.``, whether it is
#: a Conv1D weight stored ``[in, out]`` that must be transposed).
_HF_LAYER = {
    "ln1_g": ("ln_1.weight", False), "ln1_b": ("ln_1.bias", False),
    "w_qkv": ("attn.c_attn.weight", True), "b_qkv": ("attn.c_attn.bias", False),
    "w_proj": ("attn.c_proj.weight", True), "b_proj": ("attn.c_proj.bias", False),
    "ln2_g": ("ln_2.weight", False), "ln2_b": ("ln_2.bias", False),
    "w_fc": ("mlp.c_fc.weight", True), "b_fc": ("mlp.c_fc.bias", False),
    "w_fc2": ("mlp.c_proj.weight", True), "b_fc2": ("mlp.c_proj.bias", False),
}
_HF_GLOBAL = {"wte": "wte.weight", "wpe": "wpe.weight", "lnf_g": "ln_f.weight",
              "lnf_b": "ln_f.bias"}

#: HF GPT2Config defaults for keys a config.json may leave out.
_HF_DEFAULTS = {"n_positions": 1024, "layer_norm_epsilon": 1e-5}


def _read_config(path: Path, name: str | None) -> GptConfig:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file (a GPT-2 checkpoint folder needs "
                              f"config.json and model.safetensors)")
    try:
        cfg = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not a JSON file ({e})") from e
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path}: expected a JSON object, found "
                              f"{type(cfg).__name__}")
    values = {}
    for key in ("n_layer", "n_embd", "n_head", "vocab_size", "n_positions",
                "layer_norm_epsilon"):
        if key in cfg:
            values[key] = cfg[key]
        elif key in _HF_DEFAULTS:
            values[key] = _HF_DEFAULTS[key]
        else:
            raise CheckpointError(f"{path}: key {key!r} missing (needed: n_layer, n_embd, "
                                  f"n_head, vocab_size)")
    act = cfg.get("activation_function", "gelu_new")
    if act != "gelu_new":
        raise CheckpointError(f"{path}: activation_function = {act!r}; allowed: "
                              f"'gelu_new' (GPT-2's tanh GELU, the only one modelled)")
    n_inner = cfg.get("n_inner")
    if n_inner is not None and n_inner != 4 * values["n_embd"]:
        raise CheckpointError(f"{path}: n_inner = {n_inner!r}; allowed: null or "
                              f"4 * n_embd = {4 * values['n_embd']!r}")
    try:
        return GptConfig(name or path.parent.name or "hf-gpt2", values["n_layer"],
                         values["n_embd"], values["n_head"], values["vocab_size"],
                         values["n_positions"], float(values["layer_norm_epsilon"]))
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: {e}") from e


def load_hf(folder, name: str | None = None) -> GptWeights:
    """Load a local Hugging Face GPT-2 checkpoint folder as BF16 weights.

    Parameters
    ----------
    folder : str or Path
        Holds ``config.json`` (``n_layer``, ``n_embd``, ``n_head``, ``vocab_size``, and
        ``n_positions`` and ``layer_norm_epsilon``, HF's defaults 1024 and 1e-5 if
        absent) and ``model.safetensors``.
    name : str, optional
        The model's name (default: the folder's name).

    Returns
    -------
    GptWeights
        Every tensor rounded to BF16 (round to nearest even from float32; float16 and
        float64 tensors are widened or narrowed to float32 first).  GPT-2's ``Conv1D``
        weights, stored ``[in, out]``, are transposed to ``[out, in]``.

    Notes
    -----
    Tensor names are GPT-2's (``wte.weight``, ``h.{i}.attn.c_attn.weight``, ...), with or
    without a ``transformer.`` prefix.  ``lm_head.weight``, if present, must equal
    ``wte.weight`` (tied; an untied head is refused).  The causal-mask buffers
    (``h.{i}.attn.bias``, ``h.{i}.attn.masked_bias``) of old checkpoints are ignored.
    Tensors are read one at a time (``safetensors.safe_open``), so the peak memory is the
    BF16 result plus one float32 tensor.

    Raises
    ------
    CheckpointError
        A missing file, key or tensor, a tensor of the wrong shape or dtype, an
        unsupported configuration; the message names the file, the tensor, what was
        found and what was expected.
    """
    from safetensors import SafetensorError, safe_open

    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such folder")
    config = _read_config(folder / "config.json", name)
    st_path = folder / "model.safetensors"
    if not st_path.is_file():
        raise CheckpointError(f"{st_path}: no such file")
    d = config.d_model
    try:
        handle = safe_open(str(st_path), framework="np")
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{st_path}: not a safetensors file ({e})") from e
    with handle as f:
        keys = set(f.keys())
        prefix = "transformer." if "transformer.wte.weight" in keys else ""

        def get(hf_name: str, shape: tuple[int, ...], transpose: bool) -> np.ndarray:
            key = prefix + hf_name
            if key not in keys:
                raise CheckpointError(f"{st_path}: tensor {key!r} missing")
            try:
                a = f.get_tensor(key)
            except (SafetensorError, TypeError, ValueError) as e:
                raise CheckpointError(f"{st_path}: tensor {key!r} unreadable ({e}); "
                                      f"allowed dtypes: float16, float32, float64") from e
            if a.dtype not in (np.float16, np.float32, np.float64):
                raise CheckpointError(f"{st_path}: tensor {key!r} has dtype {a.dtype}; "
                                      f"allowed: float16, float32, float64")
            stored = shape[::-1] if transpose else shape
            if a.shape != stored:
                raise CheckpointError(f"{st_path}: tensor {key!r} has shape {a.shape}; "
                                      f"expected {stored}" +
                                      (" (Conv1D, stored [in, out])" if transpose else ""))
            a = a.astype(np.float32, copy=False)
            return f32_to_bf16(np.ascontiguousarray(a.T if transpose else a))

        shapes = _global_shapes(config)
        glob = {k: get(v, shapes[k], False) for k, v in _HF_GLOBAL.items()}
        lshapes = _layer_shapes(config)
        layers = []
        for i in range(config.n_layer):
            layers.append(LayerWeights(**{
                field: get(f"h.{i}.{hf}", lshapes[field], tr)
                for field, (hf, tr) in _HF_LAYER.items()}))
        for head in ("lm_head.weight", prefix + "lm_head.weight"):
            if head in keys:
                lm = f.get_tensor(head)
                if lm.shape != (config.vocab, d) or not np.array_equal(
                        f32_to_bf16(lm.astype(np.float32)), glob["wte"]):
                    raise CheckpointError(
                        f"{st_path}: tensor {head!r} differs from {prefix}wte.weight; "
                        f"allowed: an output projection tied to the token embedding")
                break
    if config.n_layer and any(f"{prefix}h.{config.n_layer}.ln_1.weight" == k for k in keys):
        raise CheckpointError(f"{st_path}: holds more layers than config.json's n_layer = "
                              f"{config.n_layer}")
    return GptWeights(config, glob["wte"], glob["wpe"], tuple(layers), glob["lnf_g"],
                      glob["lnf_b"])
