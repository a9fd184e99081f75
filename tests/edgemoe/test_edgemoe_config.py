"""EdgeMoEConfig: the published defaults and a clear error for every bad field."""

import pytest

from sparseforge.errors import ConfigError
from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.families.edgemoe.numerics import Numerics


def test_defaults_are_m3vit_tiny_on_zcu102():
    cfg = EdgeMoEConfig()
    # 256 x 128 image, 16 x 16 patches: 16 * 8 = 128 patches + the CLS token
    assert (cfg.patches, cfg.tokens) == (128, 129)
    assert (cfg.dim, cfg.heads, cfg.head_dim, cfg.layers) == (192, 3, 64, 12)
    assert sorted(cfg.moe_layer_set) == [1, 3, 5, 7, 9, 11]
    assert (cfg.experts, cfg.top_k, cfg.expert_hidden, cfg.mlp_hidden) == (16, 2, 384, 768)
    assert cfg.gelu_entries == 177  # step 1/32 up to 5.5
    assert cfg.word_values == 8  # 256-bit words of ap_fixed<32,10>
    assert cfg.clock_mhz == 300.0
    nx = Numerics.of(cfg)
    assert (nx.act.width, nx.act.int_bits, nx.weight.width, nx.weight.int_bits) == (32, 10, 16, 2)


@pytest.mark.parametrize("changes, words", [
    ({"dim": 190}, ["dim = 190", "heads = 3"]),
    ({"dim": 200, "heads": 4}, ["dim = 200", "tile_in = 16"]),
    ({"image_h": 120}, ["image_h = 120", "patch = 16"]),
    ({"top_k": 17}, ["top_k = 17"]),
    ({"moe_layers": "1,12"}, ["moe_layers", "layer 12", "0 to 11"]),
    ({"moe_layers": "odd,even"}, ["moe_layers", "comma-separated"]),
    ({"moe_layers": "1,1"}, ["twice"]),
    ({"act_format": "ap_fixed<32>"}, ["act_format", "not an ap_fixed type"]),
    ({"act_format": "ap_ufixed<32,10>"}, ["act_format", "signed ap_fixed"]),
    ({"weight_format": "ap_fixed<24,2>"}, ["weight_format", "4 to 18 bits"]),
    ({"gelu_range": 5.51}, ["gelu_range = 5.51", "step"]),
    ({"act_format": "ap_fixed<24,10>"}, ["24 bits", "axi_bits = 256"]),
    ({"heads": 8, "axi_bits": 512}, ["head dimension dim / heads = 24", "16"]),
    ({"expert_hidden": 200}, ["expert_hidden = 200", "tile_in = 16"]),
    ({"name": "class"}, ["name", "class"]),
    ({"lanes": 17}, ["lanes = 17"]),
])
def test_bad_fields_are_refused_naming_field_and_value(changes, words):
    with pytest.raises(ConfigError) as err:
        EdgeMoEConfig(**changes)
    for word in words:
        assert word in str(err.value)


def test_moe_layer_spellings():
    assert EdgeMoEConfig(layers=4, moe_layers="even").moe_layer_set == {0, 2}
    assert EdgeMoEConfig(layers=3, moe_layers="all").moe_layer_set == {0, 1, 2}
    assert EdgeMoEConfig(layers=3, moe_layers="none").moe_layer_set == frozenset()
    assert EdgeMoEConfig(layers=6, moe_layers="0, 5").moe_layer_set == {0, 5}


def test_accumulators_hold_the_longest_reduction_exactly():
    nx = Numerics.of(EdgeMoEConfig())
    # x (22 fraction bits) times w (14): 36 fraction bits, 63 bits in all
    assert (nx.acc.frac_bits, nx.acc.width) == (36, 63)
    # 768 products of |x| < 512, |w| < 2 stay below 2**(I - 1)
    assert 2 ** (nx.acc.int_bits - 1) > 768 * 512 * 2
