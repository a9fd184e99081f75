"""Synthesis estimate of the PIM datapath units (YoWASP Yosys ``synth_xilinx``).

Only the two smallest units run here (about 12 s together); the whole datapath
(:func:`sparseforge.hwgen.pim.emit.datapath_synth`, minutes) is measured in
docs/designs/pim_rtl.md.
"""

import pytest

pytest.importorskip("amaranth")

from sparseforge.hwgen.pim.emit import unit_names, unit_synth


def test_unit_names():
    assert unit_names(16) == ["mac16", "exp", "recip", "rsqrt", "gelu", "add", "mul"]
    with pytest.raises(ValueError, match="unit"):
        unit_synth("tanh")


@pytest.mark.slow
def test_synth_fp32_multiplier_uses_dsps_and_adder_does_not():
    mul = unit_synth("mul")
    add = unit_synth("add")
    # 24 x 24-bit significands: at least two DSP48E2 (27 x 18); the adder has no product
    assert mul["dsp"] >= 2 and add["dsp"] == 0
    # the output register (32 bits) and valid: at least 33 flip-flops each
    assert mul["ff"] >= 33 and add["ff"] >= 33
    # alignment shifter, leading-zero count and normaliser cost far more LUTs than the
    # multiplier's rounding and packing
    assert add["lut"] > 2 * mul["lut"] > 100
