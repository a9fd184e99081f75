"""Verilator lint with waivers by file (sim/lib/verilator_lint.py) and the simulation build's
waiver configuration (sim/lib/cocotb_runner.py)."""

import subprocess

import pytest

pytest.importorskip("amaranth")
from amaranth import Module
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from sparseforge.sim.lib import cocotb_runner
from sparseforge.sim.lib.verilator_lint import amaranth_waivers, lint, waiver_config
from sparseforge.toolchain import ToolNotFound, simulator_env, verilator_root

#: A hand-written block with a real width bug: 8 bits into a 4-bit output.
HAND = """module hand(input [7:0] a, output [3:0] y);
  assign y = a;
endmodule
module top(input [7:0] a, input [2:0] s, output [7:0] y, output [8:0] z, output [3:0] h);
  gen g(.a(a), .s(s), .y(y), .z(z));
  hand u(.a(a), .y(h));
endmodule
"""


class _Gen(wiring.Component):
    """Amaranth output with the backend's own implicit widening (signed + unsigned)."""

    a: In(8)
    s: In(3)
    y: Out(8)
    z: Out(9)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.y.eq(self.a >> self.s), self.z.eq(self.a.as_signed() + self.s)]
        return m


@pytest.fixture
def sources(tmp_path):
    try:
        verilator_root()
    except ToolNotFound as exc:
        pytest.skip(str(exc))
    gen, hand = tmp_path / "gen.v", tmp_path / "hand.v"
    gen.write_text(verilog.convert(_Gen(), name="gen"))
    hand.write_text(HAND)
    return gen, hand


def test_a_hand_written_width_warning_still_shows(sources):
    """Amaranth's classes are waived in the file Amaranth wrote only: the same class in
    a hand-written file fails the lint, with its line in the result and the log."""
    gen, hand = sources
    result = lint([gen, hand], "top", amaranth_waivers(gen))
    assert not result.passed
    assert result.counts() == {"warnings": {"WIDTHTRUNC": 1}, "waived": {"WIDTHEXPAND": 1}}
    (bad,) = result.warnings
    assert (bad.rule, bad.file, bad.line) == ("WIDTHTRUNC", "hand.v", 2)
    assert "%Warning-WIDTHTRUNC: hand.v:2:" in result.log
    assert "%Warning-WIDTHEXPAND: gen.v:" in result.log  # the log keeps waived ones too
    assert str(gen.parent) not in result.log  # relative names: no temporary paths
    d = result.to_dict()
    assert d["files"] == ["gen.v", "hand.v"] and d["passed"] is False
    assert d["unwaived"] == [f"hand.v:2: WIDTHTRUNC: {bad.message}"]
    # without waivers, Amaranth's own warning fails too
    assert lint([gen], "gen").counts()["warnings"] == {"WIDTHEXPAND": 1}
    assert lint([gen], "gen", amaranth_waivers(gen)).passed


def test_waiver_config_waives_exactly_what_the_lint_waives(sources, tmp_path):
    """Verilator reading the rendered .vlt (as the simulation build does) reports the
    warnings :func:`lint` calls not waived, and no other."""
    gen, hand = sources
    vlt = tmp_path / "waivers.vlt"
    vlt.write_text(waiver_config(amaranth_waivers(gen)))
    assert f'lint_off -rule WIDTHEXPAND -file "{gen.resolve()}"' in vlt.read_text()
    proc = subprocess.run([str(verilator_root() / "bin" / "verilator"), "--lint-only",
                           "-Wno-fatal", str(vlt), "--top-module", "top", str(gen.resolve()),
                           str(hand.resolve())], capture_output=True, text=True,
                          env=simulator_env(), check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("%Warning-") == 1 and "%Warning-WIDTHTRUNC" in proc.stderr
    assert "hand.v:2:" in proc.stderr


def test_waiver_config_refuses_a_path_it_cannot_match_exactly(tmp_path):
    with pytest.raises(ValueError, match="cannot be matched exactly"):
        waiver_config(amaranth_waivers(tmp_path / "a*b.v"))


def test_simulation_build_waives_by_file_not_globally(sources, tmp_path, monkeypatch):
    """run_cocotb passes Verilator the waiver file and no global -Wno-WIDTH* switch."""
    gen, hand = sources
    seen = {}

    class Runner:
        def build(self, **kw):
            seen.update(kw)

        def test(self, **kw):
            path = tmp_path / "results.xml"
            path.write_text('<testsuites><testsuite><testcase name="t"/></testsuite>'
                            "</testsuites>")
            return path

    import cocotb_tools.runner

    monkeypatch.setattr(cocotb_tools.runner, "get_runner", lambda sim: Runner())
    cocotb_runner.run_cocotb(sources=[gen, hand], toplevel="top", test_module="x",
                             build_dir=tmp_path / "build", waivers=amaranth_waivers(gen))
    args = seen["build_args"]
    assert not [a for a in args if a.startswith("-Wno-WIDTH")]
    assert args[-1] == str((tmp_path / "build" / "waivers.vlt").resolve())
    assert str(hand.resolve()) not in (tmp_path / "build" / "waivers.vlt").read_text()
