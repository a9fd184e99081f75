"""The Edge-MoE kernel's contract: top-function arguments, register map, memory layouts.

Everything the generator (the HLS top function), the project (``regmap.json``, the C
header, the block design), the host driver and the C-sim testbench must agree on is
defined here once:

* :func:`top_args`: the top function's arguments in order: pointers with their
  ``m_axi`` bundle, element type and element count; the scalar ``task_id``;
* :func:`vitis_offsets`: where Vitis HLS places them on the ``s_axilite`` control
  slave (the top function's return value, ``ap_return`` = STATUS of
  :data:`STATUS_CODES`, at :data:`FIRST_ARG_OFFSET`, then 8 bytes per 32-bit scalar
  and 12 per 64-bit pointer: two data words and a reserved one), hence
  :func:`register_map`;
* :func:`param_layout`: where each weight tensor lives in the four parameter buffers
  (``weights``, ``biases``, ``norms``, ``pos_embed``), and :func:`pack_params`, which
  fills them from raw weights (raw integers, little-endian, in each element's width).

Memory layout of every buffer: the elements' raw two's-complement bits
(:class:`~sparseforge.formats.FixedFormat` raw values) in C order, each element in
``8``, ``16`` or ``32`` bits (the width of its type rounded up), little-endian.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from sparseforge.errors import ConfigError
from sparseforge.regmap import Arg, Register, RegisterMap, ap_ctrl_registers

from .config import EdgeMoEConfig
from .numerics import Numerics

__all__ = ["ALIGN_ELEMENTS", "FIRST_ARG_OFFSET", "PARAM_BUFFERS", "STATUS", "STATUS_CODES",
           "StatusCode", "TopArg", "element_bits",
           "max_features", "pack_params", "param_layout", "register_map", "top_args",
           "vitis_offsets"]

#: The first argument's offset on Vitis HLS' ``s_axilite`` slave (after ap_ctrl_hs).
FIRST_ARG_OFFSET = 0x10
#: Every tensor in a parameter buffer starts on a multiple of this many elements
#: (64 bytes for 16-bit elements: whole AXI bursts).
ALIGN_ELEMENTS = 32
#: The parameter buffers: name -> the format role of their elements.
PARAM_BUFFERS = {"weights": "weight", "biases": "bias", "norms": "norm", "pos_embed": "act"}


@dataclass(frozen=True)
class TopArg:
    """One argument of the HLS top function.

    Attributes
    ----------
    name : str
    kind : {"pointer", "scalar"}
    role : str
        The element type: a :class:`~sparseforge.families.edgemoe.numerics.Numerics`
        role (``act``, ``weight``, ...), ``pixel`` (``ap_ufixed<8,0>``) or, for a
        scalar, ``uint32``.
    count : int
        Elements a pointer addresses (the buffer the host allocates); 1 for a scalar.
    direction : {"in", "out", "inout"}
    bundle : str or None
        The ``m_axi`` bundle (``m_axi_<bundle>`` port) of a pointer.
    doc : str
    """

    name: str
    kind: str
    role: str
    count: int
    direction: str
    bundle: str | None
    doc: str


def max_features(cfg: EdgeMoEConfig) -> int:
    """Columns of an activation row buffer: the widest layer output
    (``3 dim`` for Q/K/V, the hidden sizes, the gate's experts)."""
    return max(3 * cfg.dim, cfg.mlp_hidden, cfg.expert_hidden, cfg.experts)


def element_bits(cfg: EdgeMoEConfig, role: str) -> int:
    """Bits of one element in memory: its type's width rounded up to 8, 16 or 32."""
    if role == "pixel":
        return 8
    if role == "uint32":
        return 32
    width = getattr(Numerics.of(cfg), role).width
    for bits in (8, 16, 32):
        if width <= bits:
            return bits
    raise ConfigError(f"{role} values of {width} bits cannot be stored in memory")


def _tensors(cfg: EdgeMoEConfig) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    """Per parameter buffer, its tensors in order with their shapes."""
    d, e, h, m, t = cfg.dim, cfg.experts, cfg.expert_hidden, cfg.mlp_hidden, cfg.tokens
    n_l, n_moe = cfg.layers, len(cfg.moe_layer_set)
    n_dense = n_l - n_moe
    return {
        "weights": [("patch_w", (d, cfg.patch_inputs)), ("qkv_w", (n_l, 3 * d, d)),
                    ("proj_w", (n_l, d, d)), ("fc1_w", (n_dense, m, d)),
                    ("fc2_w", (n_dense, d, m)), ("gate_w", (n_moe, cfg.tasks, e, d)),
                    ("exp1_w", (n_moe, e, h, d)), ("exp2_w", (n_moe, e, d, h))],
        "biases": [("patch_b", (d,)), ("qkv_b", (n_l, 3 * d)), ("proj_b", (n_l, d)),
                   ("fc1_b", (n_dense, m)), ("fc2_b", (n_dense, d)),
                   ("exp1_b", (n_moe, e, h)), ("exp2_b", (n_moe, e, d)),
                   ("norm_b", (n_l, 2, d)), ("final_b", (d,))],
        "norms": [("norm_w", (n_l, 2, d)), ("final_w", (d,))],
        "pos_embed": [("pos", (t, d))],
    }


def param_layout(cfg: EdgeMoEConfig) -> dict[str, dict[str, tuple[int, tuple[int, ...]]]]:
    """``buffer -> tensor -> (element offset, shape)``, and ``buffer -> "_total"`` the
    buffer's length in elements; offsets are multiples of :data:`ALIGN_ELEMENTS`."""
    out: dict = {}
    for buffer, tensors in _tensors(cfg).items():
        off, entry = 0, {}
        for name, shape in tensors:
            entry[name] = (off, shape)
            size = int(np.prod(shape))
            off += -(-size // ALIGN_ELEMENTS) * ALIGN_ELEMENTS
        entry["_total"] = (max(off, ALIGN_ELEMENTS), ())
        out[buffer] = entry
    return out


def top_args(cfg: EdgeMoEConfig) -> list[TopArg]:
    """The top function's arguments, in order (see the module docstring)."""
    t, f = cfg.tokens, max_features(cfg)
    layout = param_layout(cfg)
    args = [
        TopArg("image", "pointer", "pixel", cfg.in_chans * cfg.image_h * cfg.image_w, "in",
               "act", "input image, pixels [C][H][W]"),
        TopArg("features", "pointer", "act", t * f, "out", "act",
               "output features of the task [T][F] (the first dim columns)"),
        TopArg("x", "pointer", "act", t * f, "inout", "act", "scratch: the residual stream"),
        TopArg("h", "pointer", "act", t * f, "inout", "act", "scratch: LayerNorm outputs"),
        TopArg("wide", "pointer", "act", t * f, "inout", "act",
               "scratch: Q/K/V, hidden layers, gate logits"),
        TopArg("y", "pointer", "act", t * f, "inout", "act", "scratch: attention outputs"),
        TopArg("scores", "pointer", "act", t * t * cfg.heads, "inout", "act",
               "scratch: attention scores [T][T][heads]"),
    ]
    for i in range(cfg.weight_ports):
        args.append(TopArg(f"weights_{i}", "pointer", "weight", layout["weights"]["_total"][0],
                           "in", f"w{i}", "the weights buffer (every weights_i points to the "
                           f"same buffer; port {i} reads tiles i, i + {cfg.weight_ports}, ...)"))
    args += [
        TopArg("biases", "pointer", "bias", layout["biases"]["_total"][0], "in", "w0",
               "the biases buffer"),
        TopArg("norms", "pointer", "norm", layout["norms"]["_total"][0], "in", "w0",
               "the LayerNorm scales buffer"),
        TopArg("pos_embed", "pointer", "act", layout["pos_embed"]["_total"][0], "in", "w0",
               "position embeddings [T][D] (row 0: the CLS token)"),
        TopArg("task_id", "scalar", "uint32", 1, "in", None,
               f"task 0 to {cfg.tasks - 1}: which gate the MoE layers use"),
    ]
    return args


def vitis_offsets(kinds: Sequence[str], returns: bool = False) -> list[int]:
    """``s_axilite`` offsets Vitis HLS gives arguments of these kinds, in order.

    The rule (as the public Edge-MoE bitstream's hardware handoff shows it): the first
    argument at 0x10; a scalar of up to 32 bits takes 8 bytes (its data word and a
    reserved one), a 64-bit pointer 12 bytes (two data words, one reserved).  A
    function that returns a 32-bit value (``returns``) has ``ap_return`` at 0x10 and
    its first argument at 0x18.
    """
    out, off = [], FIRST_ARG_OFFSET + (8 if returns else 0)
    for kind in kinds:
        if kind not in ("scalar", "pointer"):
            raise ValueError(f"kind = {kind!r}; allowed: scalar, pointer")
        out.append(off)
        off += 8 if kind == "scalar" else 12
    return out


@dataclass(frozen=True)
class StatusCode:
    """One value of the STATUS register (the top function's return value)."""

    code: int
    name: str
    message: str


#: What the top function returns (``ap_return``, register STATUS): the one table the
#: template, the register map, the C header and the driver read.
STATUS_CODES = (
    StatusCode(0, "OK", "the image was processed"),
    StatusCode(1, "BAD_TASK", "task_id is not below the number of tasks; nothing was "
               "computed or written"),
)

#: STATUS code by name.
STATUS = {c.name: c.code for c in STATUS_CODES}


_C_TYPES: dict[str, Callable[[TopArg], str]] = {
    "pointer": lambda a: "void*",
    "scalar": lambda a: "uint32_t",
}


def register_map(cfg: EdgeMoEConfig) -> RegisterMap:
    """The kernel's register map: ``ap_ctrl_hs`` and the arguments at Vitis' offsets."""
    targs = top_args(cfg)
    offsets = vitis_offsets([a.kind for a in targs], returns=True)
    args = tuple(Arg(a.name, i, off, 64 if a.kind == "pointer" else 32, a.kind,
                     _C_TYPES[a.kind](a), a.doc,
                     f"m_axi_{a.bundle}" if a.bundle else None)
                 for i, (a, off) in enumerate(zip(targs, offsets)))
    bundles = sorted({a.bundle for a in targs if a.bundle})
    end = offsets[-1] + (8 if targs[-1].kind == "scalar" else 12)
    addr_bits = max(7, (end - 1).bit_length())
    status = Register("STATUS", FIRST_ARG_OFFSET, "ro", "the top function's return value "
                      "(ap_return) of the last run", values=tuple(
                          (c.name, c.code, c.message) for c in STATUS_CODES))
    return RegisterMap(cfg.name, "edgemoe", cfg.to_dict(), (*ap_ctrl_registers(), status),
                       args,
                       tuple({"port": f"m_axi_{b}", "data_bits": cfg.axi_bits, "addr_bits": 64}
                             for b in bundles), addr_bits)


def pack_params(cfg: EdgeMoEConfig, w) -> dict[str, np.ndarray]:
    """The four parameter buffers from raw weights
    (:class:`sparseforge.sim.edgemoe.golden.ModelWeights` of raw integers): buffer ->
    ``int16`` / ``int32`` array of raw values in the element width."""
    layers = w.layers
    dense = [lw for i, lw in enumerate(layers) if not cfg.is_moe(i)]
    moe = [lw for i, lw in enumerate(layers) if cfg.is_moe(i)]

    def stack(group, field):
        if not group:
            return None
        shapes = [np.shape(getattr(lw, field)) for lw in group]
        if len(set(shapes)) > 1:
            raise ConfigError(f"weight {field}: the layers' shapes differ ({sorted(set(shapes))})"
                              "; every layer of a kind has the same shape")
        return np.stack([np.asarray(getattr(lw, field)) for lw in group])

    values = {
        "patch_w": w.patch_w, "qkv_w": stack(layers, "qkv_w"), "proj_w": stack(layers, "proj_w"),
        "fc1_w": stack(dense, "fc1_w"), "fc2_w": stack(dense, "fc2_w"),
        "gate_w": stack(moe, "gate_w"), "exp1_w": stack(moe, "exp1_w"),
        "exp2_w": stack(moe, "exp2_w"), "patch_b": w.patch_b, "qkv_b": stack(layers, "qkv_b"),
        "proj_b": stack(layers, "proj_b"), "fc1_b": stack(dense, "fc1_b"),
        "fc2_b": stack(dense, "fc2_b"), "exp1_b": stack(moe, "exp1_b"),
        "exp2_b": stack(moe, "exp2_b"),
        "norm_b": np.stack([np.stack([lw.norm1_b, lw.norm2_b]) for lw in layers]),
        "final_b": w.norm_b,
        "norm_w": np.stack([np.stack([lw.norm1_w, lw.norm2_w]) for lw in layers]),
        "final_w": w.norm_w, "pos": w.pos_embed,
    }
    out = {}
    for buffer, entry in param_layout(cfg).items():
        bits = element_bits(cfg, PARAM_BUFFERS[buffer])
        buf = np.zeros(entry["_total"][0], {16: np.int16, 32: np.int32, 8: np.int8}[bits])
        for name, (off, shape) in entry.items():
            if name == "_total" or int(np.prod(shape)) == 0:
                continue
            v = np.asarray(values[name])
            if v.shape != shape:
                raise ConfigError(f"weight {name}: shape {v.shape}; the config needs {shape}")
            buf[off:off + v.size] = v.ravel()
        out[buffer] = buf
    return out
