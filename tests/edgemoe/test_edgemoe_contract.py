"""The kernel contract: Vitis HLS' s_axilite offsets, the register map, the parameter
buffers' layout, and the rendered top function's argument order."""

import re

import numpy as np
import pytest

from sparseforge.errors import ConfigError
from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.families.edgemoe.contract import (
    ALIGN_ELEMENTS,
    pack_params,
    param_layout,
    register_map,
    top_args,
    vitis_offsets,
)
from sparseforge.hwgen.edgemoe.design import render_design
from sparseforge.sim.edgemoe import weights as W

#: The public Edge-MoE bitstream's control registers (its hardware handoff file):
#: (argument, scalar or pointer, offset).
PUBLIC = [("num_images", "scalar", 0x10), ("reload", "scalar", 0x18), ("images", "pointer", 0x20),
          ("x", "pointer", 0x2C), ("tmp1", "pointer", 0x38), ("tmp2", "pointer", 0x44),
          ("tmp3", "pointer", 0x50), ("tmp4", "pointer", 0x5C), ("tmp_hidden", "pointer", 0x68),
          ("attn", "pointer", 0x74), ("softmax_info", "pointer", 0x80),
          ("patch_w", "pointer", 0x8C), ("patch_b", "pointer", 0x98), ("pos", "pointer", 0xA4),
          ("attn_w", "pointer", 0xB0), ("attn_b", "pointer", 0xBC), ("w_gate", "pointer", 0xC8),
          ("moe_w1", "pointer", 0xD4), ("moe_b1", "pointer", 0xE0), ("moe_w2", "pointer", 0xEC),
          ("moe_b2", "pointer", 0xF8), ("vit_w1", "pointer", 0x104),
          ("vit_b1", "pointer", 0x110), ("vit_w2", "pointer", 0x11C),
          ("vit_b2", "pointer", 0x128), ("norm_w", "pointer", 0x134),
          ("norm_b", "pointer", 0x140), ("debug_id", "scalar", 0x14C)]


def test_offset_rule_reproduces_a_vitis_built_top_function():
    assert vitis_offsets([k for _, k, _ in PUBLIC]) == [o for _, _, o in PUBLIC]
    # a function with a return value, as Vitis HLS' generated driver headers lay it out
    # (ADDR_AP_RETURN 0x10; two 64-bit arguments at 0x18 and 0x24)
    assert vitis_offsets(["pointer", "pointer"], returns=True) == [0x18, 0x24]
    with pytest.raises(ValueError, match="kind"):
        vitis_offsets(["array"])


def test_register_map_follows_the_top_function():
    cfg = EdgeMoEConfig(weight_ports=3)
    rmap = register_map(cfg)
    names = [a.name for a in rmap.args]
    assert names == [a.name for a in top_args(cfg)]
    assert names[7:10] == ["weights_0", "weights_1", "weights_2"]
    # the top function returns STATUS (ap_return at 0x10): arguments from 0x18
    assert rmap.register("STATUS").offset == 0x10 and rmap.register("STATUS").access == "ro"
    assert rmap.arg("image").offset == 0x18 and rmap.arg("features").offset == 0x24
    assert rmap.arg("task_id").bits == 32 and rmap.arg("task_id").offset == 0x18 + 13 * 12
    assert {m["port"] for m in rmap.masters} == {"m_axi_act", "m_axi_w0", "m_axi_w1",
                                                 "m_axi_w2"}
    assert rmap.arg("weights_2").port == "m_axi_w2"


def test_rendered_top_signature_has_the_contract_order():
    for ports in (1, 2):
        cfg = EdgeMoEConfig(weight_ports=ports)
        files = render_design(cfg)
        top = files["edgemoe_top.cpp"]
        model = files["edgemoe_model.h"]
        sig = re.search(r'extern "C" unsigned int edgemoe_vit\((.*?)\)\s*\{', top,
                        re.S).group(1)
        ports_decl = re.search(r"#define EM_WEIGHT_PORTS (.*)", model).group(1)
        sig = sig.replace("EM_WEIGHT_PORTS", ports_decl)
        params = [re.findall(r"(\w+)(?:\[[^\]]*\])*$", p.strip())[0] for p in sig.split(",")]
        assert params == [a.name for a in top_args(cfg)]
        for a in top_args(cfg):
            if a.kind == "pointer":
                assert f"port={a.name} bundle={a.bundle} " in top


def test_parameter_buffers_hold_each_tensor_at_its_offset():
    cfg = EdgeMoEConfig(image_h=32, image_w=64, dim=48, layers=2, experts=4,
                        expert_hidden=32, mlp_hidden=64)
    raw = W.quantize(cfg, W.random_weights(cfg, 3))
    bufs = pack_params(cfg, raw)
    layout = param_layout(cfg)
    assert bufs["weights"].dtype == np.int16 and bufs["pos_embed"].dtype == np.int32
    off, shape = layout["weights"]["exp2_w"]
    assert off % ALIGN_ELEMENTS == 0 and shape == (1, 4, 48, 32)
    # layer 1 is the first MoE layer: expert 3, row 5, column 7 of its second matrix
    h = cfg.expert_hidden
    assert bufs["weights"][off + (3 * cfg.dim + 5) * h + 7] == raw.layers[1].exp2_w[3, 5, 7]
    off, _ = layout["biases"]["norm_b"]
    assert bufs["biases"][off + 1 * 2 * cfg.dim + cfg.dim + 4] == raw.layers[1].norm2_b[4]
    raw.layers[0].qkv_w = raw.layers[0].qkv_w[:-1]
    with pytest.raises(ConfigError, match="qkv_w"):
        pack_params(cfg, raw)
