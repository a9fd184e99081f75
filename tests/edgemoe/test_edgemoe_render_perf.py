"""Rendering (deterministic, injection-proof, no vendor maths) and the latency and
resource model (anchors, monotonicity, the board budget check)."""

import numpy as np
import pytest

from sparseforge.board_registry import get_board
from sparseforge.errors import ConfigError
from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.families.edgemoe.schedule import model_loops
from sparseforge.hwgen.edgemoe.design import render_design
from sparseforge.hwgen.edgemoe.tables import gelu_table
from sparseforge.sim.edgemoe.golden import Golden
from sparseforge.sim.edgemoe.perf import (
    bram18_for,
    check_fits,
    dsp_per_multiplier,
    latency,
    trip_counts,
)


def test_rendering_is_deterministic_and_self_contained():
    cfg = EdgeMoEConfig()
    a, b = render_design(cfg, testbench=True), render_design(cfg, testbench=True)
    assert a == b
    text = "\n".join(a.values())
    assert "#include <hls_math" not in text and "#include \"hls_math" not in text
    assert "hls::exp" not in text and "hls::sqrt" not in text and "hls::recip" not in text
    assert "typedef ap_fixed<32,10> act_t;" in text
    assert "namespace edgemoe_vit" in text
    assert render_design(cfg.replace(lanes=8))["edgemoe_types.h"] != a["edgemoe_types.h"]


@pytest.mark.parametrize("name", ["int", "x; system", "ab__c", "module"])
def test_names_that_could_inject_code_are_refused(name):
    with pytest.raises(ConfigError, match="name"):
        render_design(EdgeMoEConfig(name=name))


def test_generator_and_golden_tables_agree_with_the_formula():
    cfg = EdgeMoEConfig()
    # delta(1) = 1 * Phi(-1) = 0.158655...; 22 fraction bits
    assert gelu_table(cfg)[32] == round(0.15865525393145707 * 2 ** 22)
    assert np.array_equal(gelu_table(cfg), Golden(cfg).gelu_table)


def test_resource_arithmetic_by_hand():
    assert dsp_per_multiplier(27, 18) == 1
    assert dsp_per_multiplier(32, 16) == 2  # 32 > 27 bits: two slices
    assert dsp_per_multiplier(32, 32) == 4
    assert bram18_for(1024, 18) == 1 and bram18_for(2048, 18) == 2
    assert bram18_for(576, 16) == 1 and bram18_for(16, 16) == 0  # small: LUT RAM


def test_default_latency_is_in_the_public_designs_range():
    # the public design (4 lanes, 16x16 linear unit) runs about 17-21 ms per image at
    # 300 MHz by its loop bounds (docs/designs/edgemoe.md); the same choices here:
    lat = latency(EdgeMoEConfig(), get_board("zcu102"))
    assert 17.0 <= lat.ms <= 21.0
    # attention: 33 query blocks x 129 keys x 24 words, twice, per layer
    assert lat.by_kernel()["attn_qk"] >= 12 * 33 * 129 * 24


def test_target_choice_meets_15_ms_within_the_zcu102_budget():
    cfg = EdgeMoEConfig(lanes=8, tile_in=16, tile_out=32)
    board = get_board("zcu102")
    fits = check_fits(cfg, board)
    assert fits.dsp <= board.resources.dsp and fits.bram36 <= board.resources.bram36
    assert latency(cfg, board).ms <= 15.0


def test_more_lanes_and_bigger_tiles_are_never_slower():
    board = get_board("zcu102")
    base = latency(EdgeMoEConfig(), board)
    lanes = latency(EdgeMoEConfig(lanes=8), board)
    tile = latency(EdgeMoEConfig(tile_out=32), board)
    assert lanes.by_kernel()["attn_av"] < base.by_kernel()["attn_av"]
    assert tile.by_kernel()["lin_fc1"] < base.by_kernel()["lin_fc1"]
    assert lanes.ms < base.ms and tile.ms < base.ms


def test_a_design_too_big_for_the_board_is_refused():
    with pytest.raises(ConfigError, match="DSP48E2.*kv260|BRAM36.*kv260"):
        check_fits(EdgeMoEConfig(lanes=16, tile_in=32, tile_out=32), get_board("kv260"))


def test_routing_changes_the_expert_counts_only():
    cfg = EdgeMoEConfig()
    even = trip_counts(cfg)
    skewed = trip_counts(cfg, {i: [129 * 2] + [0] * 15 for i in cfg.moe_layer_set})
    assert skewed["lin_exp1"] == even["lin_exp1"]  # the same tokens in one expert
    assert skewed["lin_qkv"] == even["lin_qkv"]
    one = latency(cfg, get_board("zcu102"), {i: [258] + [0] * 15 for i in cfg.moe_layer_set})
    # one active expert loads its weights once per layer: fewer weight bytes
    weights = sum(k.weight_bytes for s in one.stages for k in s)
    assert weights < sum(x.weight_bytes for s in model_loops(cfg) for x in s)
    with pytest.raises(ValueError, match="16"):
        trip_counts(cfg, {1: [1, 2]})


def test_kv260_fits_with_ultraram_weight_buffers_only():
    board = get_board("kv260")
    small = EdgeMoEConfig(lanes=9, tile_in=8, tile_out=16)
    with pytest.raises(ConfigError, match="BRAM36"):
        check_fits(small, board)
    fits = check_fits(small.replace(weight_storage="uram"), board)
    assert fits.uram <= board.resources.uram and fits.bram36 <= board.resources.bram36
    model = render_design(small.replace(weight_storage="uram"))["edgemoe_model.h"]
    assert "#pragma HLS ARRAY_RESHAPE variable=ping complete dim=3" in model
    assert "#pragma HLS BIND_STORAGE variable=ping type=ram_2p impl=uram" in model
    assert "impl=bram" in render_design(small)["edgemoe_model.h"]
