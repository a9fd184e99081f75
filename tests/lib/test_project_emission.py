"""Bitstream project emission (sparseforge.hwgen.project) and its structural checks.

Golden files: tests/lib/golden/project_<board>/; regenerate with SPARSEFORGE_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from sparseforge.board_registry import get_board
from sparseforge.errors import ConfigError
from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import register_map
from sparseforge.hwgen.project import (
    emit_project,
    emit_project_dir,
    kernel_ports,
    stub_verilog,
    supported_boards,
    tcl_word,
)
from sparseforge.hwgen.project.checks import (
    check_kernel_xml,
    check_references,
    check_tcl,
    verilog_ports,
)
from sparseforge.output_dir import MARKER
from sparseforge.regmap import Arg

GOLDEN = Path(__file__).parent / "golden"
RMAP = register_map(SatConfig())
STUB = {"sat_kernel.v": stub_verilog(RMAP)}
ZYNQ_FILES = {"Makefile", "README.md", "regmap.json", "rtl/sat_kernel.v",
              "include/sat_kernel_regs.h", "vivado/package_ip.tcl", "vivado/build_bd.tcl"}
ALVEO_FILES = {"Makefile", "README.md", "regmap.json", "rtl/sat_kernel.v",
               "include/sat_kernel_regs.h", "vitis/kernel.xml", "vitis/package_xo.tcl",
               "vitis/link.cfg"}


def _project(board: str, **options) -> dict[str, str]:
    return emit_project(RMAP, board, STUB, **options)


# --------------------------------------------------------------------------- emission


def test_supported_boards_are_the_zynq_and_alveo_boards():
    assert supported_boards() == ["kv260", "u250", "u280", "zcu102", "zcu104"]


@pytest.mark.parametrize("board, expected", [("zcu104", ZYNQ_FILES), ("kv260", ZYNQ_FILES),
                                             ("u280", ALVEO_FILES), ("u250", ALVEO_FILES)])
def test_file_set_per_board_kind(board, expected):
    files = _project(board)
    assert set(files) == expected
    assert list(files) == sorted(files)
    assert files["regmap.json"] == RMAP.to_json()
    assert files["rtl/sat_kernel.v"] == STUB["sat_kernel.v"]


@pytest.mark.parametrize("board", ["zcu104", "u280"])
def test_golden_project(board):
    files = _project(board, driver="sparseforge.host.sat:SatDriver",
                     host_files={"run_gemm.py": "print('example')\n"})
    folder = GOLDEN / f"project_{board}"
    if os.environ.get("SPARSEFORGE_UPDATE_GOLDEN") == "1":
        shutil.rmtree(folder, ignore_errors=True)
        for rel, text in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(text.encode("utf-8"))
    stored = {p.relative_to(folder).as_posix(): p.read_bytes().decode("utf-8")
              for p in sorted(folder.rglob("*")) if p.is_file()}
    assert sorted(stored) == sorted(files), "file set differs from the golden project"
    for rel, text in files.items():
        diff = "".join(difflib.unified_diff(stored[rel].splitlines(True), text.splitlines(True),
                                            f"golden/{rel}", f"emitted/{rel}", n=1))
        assert text == stored[rel], f"{rel} differs (SPARSEFORGE_UPDATE_GOLDEN=1):\n{diff}"


@pytest.mark.parametrize("option, value, match", [
    ("driver", "sparseforge.host.sat:SatDriver; rm -rf /", "allowed: 'package.module:Class'"),
    ("driver", "SatDriver", "allowed: 'package.module:Class'"),
    ("host_files", {"../evil.py": ""}, "host file name '../evil.py'"),
    ("host_files", {"run.sh": ""}, "ending in .ipynb, .py, .md"),
    ("host_files", {"a.py": b"x"}, "expected text"),
])
def test_driver_and_host_files_are_validated(option, value, match):
    with pytest.raises(ConfigError, match=re.escape(match)):
        _project("zcu104", **{option: value})


@pytest.mark.parametrize("board", ["zcu104", "u280"])
def test_emission_is_deterministic(board):
    first = _project(board, **({"sp_memory": "HBM[0:3]"} if board == "u280" else {}))
    rtl = {"z_pkg.vh": "`define Z 1\n", **STUB}
    again = emit_project(RMAP, get_board(board), dict(reversed(list(rtl.items()))),
                         **({"sp_memory": "HBM[0:3]"} if board == "u280" else {}))
    twice = emit_project(RMAP, board, rtl,
                         **({"sp_memory": "HBM[0:3]"} if board == "u280" else {}))
    assert {k: v.encode() for k, v in again.items()} == {k: v.encode() for k, v in twice.items()}
    assert set(again) - set(first) == {"rtl/z_pkg.vh"}
    assert not any(re.search(r"20\d\d-\d\d-\d\d|\d\d:\d\d:\d\d", t) for t in first.values())


def test_zynq_block_design_wiring():
    tcl = _project("zcu104", clock_mhz=187.5)["vivado/build_bd.tcl"]
    assert "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {187.5}" in tcl
    assert "apply_bd_automation -rule xilinx.com:bd_rule:zynq_ultra_ps_e" in tcl
    assert ("[get_bd_intf_pins zynq_ultra_ps_e_0/M_AXI_HPM0_FPD] "
            "[get_bd_intf_pins ctrl_smc/S00_AXI]") in tcl
    assert ("[get_bd_intf_pins mem_smc/M00_AXI] "
            "[get_bd_intf_pins zynq_ultra_ps_e_0/S_AXI_HP0_FPD]") in tcl
    assert "CONFIG.PSU__USE__S_AXI_GP2 {1}" in tcl
    assert "CONFIG.PSU__SAXIGP2__DATA_WIDTH {128}" in tcl
    assert "[get_bd_pins irq_concat/dout] [get_bd_pins zynq_ultra_ps_e_0/pl_ps_irq0]" in tcl
    assert "[file join $output {sat_kernel.bit}]" in tcl
    assert "[file join $output {sat_kernel.hwh}]" in tcl
    hpc = _project("kv260", ps_slave="S_AXI_HPC0_FPD")["vivado/build_bd.tcl"]
    assert "CONFIG.PSU__USE__S_AXI_GP0 {1}" in hpc and "saxihpc0_fpd_aclk" in hpc
    assert "{*:kv260_som:*}" in hpc


def test_zynq_clock_defaults_to_the_board():
    assert "FREQMHZ {100}" in _project("zcu102")["vivado/build_bd.tcl"]


def test_ip_packaging_sets_interfaces_and_address_range():
    tcl = _project("zcu104")["vivado/package_ip.tcl"]
    assert ("ipx::package_project -root_dir $ip_dir -vendor {sparseforge.org} "
            "-library {kernel}") in tcl
    assert "set_property version {1.0} $core" in tcl
    assert "set_bus_parameter [require_busif $core ap_rst_n slave] POLARITY ACTIVE_LOW" in tcl
    assert "ipx::associate_bus_interfaces -busif m_axi_gmem -clock ap_clk $core" in tcl
    assert f"set_property range {RMAP.address_range} $block" in tcl
    assert "add_register $block n_cmds 0x1C {number of descriptors} {}" in tcl
    assert "sdx_kernel" not in tcl
    xo = _project("u280")["vitis/package_xo.tcl"]
    assert "set_property sdx_kernel true $core" in xo
    assert "-kernel_name sat_kernel" in xo and "[project_file {vitis/kernel.xml}]" in xo


def test_makefiles():
    zynq = _project("zcu104")["Makefile"]
    assert "-source vivado/package_ip.tcl" in zynq and "-source vivado/build_bd.tcl" in zynq
    assert re.search(r"^ip: ", zynq, re.M) and re.search(r"^bitstream: ", zynq, re.M)
    assert re.search(r"^clean:\n\t", zynq, re.M)
    alveo = _project("u280")["Makefile"]
    assert "PLATFORM ?= xilinx_u280_gen3x16_xdma_1_202211_1" in alveo
    assert ("$(VPP) -l -t $(TARGET) --platform $(PLATFORM) --config vitis/link.cfg" in alveo)
    assert "PLATFORM ?= my_u280_platform" in _project("u280", platform="my_u280_platform")[
        "Makefile"]
    assert "PLATFORM ?= xilinx_u250_gen3x16_xdma_4_1_202210_1" in _project("u250")["Makefile"]


def test_link_cfg_memory_and_clock():
    u280 = _project("u280")["vitis/link.cfg"]
    assert "nk=sat_kernel:1:sat_kernel_1\nsp=sat_kernel_1.m_axi_gmem:HBM[0]\n" in u280
    assert "kernel_frequency" not in u280
    assert "sp=sat_kernel_1.m_axi_gmem:DDR[0]" in _project("u250")["vitis/link.cfg"]
    assert "sp=sat_kernel_1.m_axi_gmem:HBM[0:3]" in _project("u280", sp_memory="HBM[0:3]")[
        "vitis/link.cfg"]
    clocked = _project("u280", clock_mhz=250)["vitis/link.cfg"]
    assert clocked.index("kernel_frequency=0:250\n") < clocked.index("[connectivity]")


def test_kernel_xml_content():
    xml = _project("u280")["vitis/kernel.xml"]
    assert '<root versionMajor="1" versionMinor="6">' in xml
    assert 'language="ip_c" vlnv="sparseforge.org:kernel:sat_kernel:1.0"' in xml
    assert '<port name="s_axi_control" mode="slave" range="0x80" dataWidth="32"' in xml
    assert ('<arg name="cmd_list" addressQualifier="1" id="0" port="m_axi_gmem" size="0x8" '
            'offset="0x10" type="void*" hostOffset="0x0" hostSize="0x8"/>') in xml
    assert ('<arg name="n_cmds" addressQualifier="0" id="1" port="s_axi_control" size="0x4" '
            'offset="0x1C" type="uint32_t"') in xml


def test_c_header_compiles_and_matches_the_map(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    header = _project("zcu104")["include/sat_kernel_regs.h"]
    (tmp_path / "sat_kernel_regs.h").write_text(header)
    names = ["SAT_KERNEL_CTRL_OFFSET", "SAT_KERNEL_CTRL_AP_DONE_MASK",
             "SAT_KERNEL_CTRL_AUTO_RESTART_MASK", "SAT_KERNEL_IER_AP_READY_MASK",
             "SAT_KERNEL_ISR_OFFSET", "SAT_KERNEL_CMD_LIST_LO_OFFSET",
             "SAT_KERNEL_CMD_LIST_HI_OFFSET", "SAT_KERNEL_N_CMDS_OFFSET",
             "SAT_KERNEL_INFO2_OFFSET", "SAT_KERNEL_ADDRESS_RANGE"]
    prints = "".join(f'printf("%u\\n", (unsigned) {n});' for n in names)
    (tmp_path / "main.c").write_text('#include <stdio.h>\n#include "sat_kernel_regs.h"\n'
                                     '#include "sat_kernel_regs.h"\n'
                                     f"int main(void) {{ {prints} return 0; }}\n")
    subprocess.run([cc, "-Wall", "-Werror", "-o", "main", "main.c"], cwd=tmp_path, check=True)
    out = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, check=True)
    assert [int(v) for v in out.stdout.split()] == [
        0x00, 1 << 1, 1 << 7, 1 << 1, 0x0C, RMAP.arg("cmd_list").offset,
        RMAP.arg("cmd_list").offset + 4, RMAP.arg("n_cmds").offset, 0x3C, RMAP.address_range]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("options, words", [
    ({"platform": "x; rm -rf /"}, ["platform", "'x; rm -rf /'", "allowed"]),
    ({"platform": "a{b}"}, ["platform"]),
    ({"sp_memory": "HBM[40]"}, ["sp_memory", "HBM[0..31]"]),
    ({"sp_memory": "PLRAM[0]"}, ["sp_memory", "allowed"]),
    ({"ps_slave": "S_AXI_HP0_FPD"}, ["Zynq options", "u280"]),
    ({"clock_mhz": 0}, ["clock_mhz", "10 to 800"]),
    ({"clock_mhz": float("nan")}, ["clock_mhz"]),
    ({"clock_mhz": True}, ["clock_mhz"]),
])
def test_alveo_options_are_validated(options, words):
    with pytest.raises(ConfigError) as err:
        _project("u280", **options)
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize("options, words", [
    ({"ps_slave": "S_AXI_ACP_FPD"}, ["ps_slave", "S_AXI_HP0_FPD"]),
    ({"ps_master": "M_AXI_HPM9_FPD"}, ["ps_master", "M_AXI_HPM0_LPD"]),
    ({"platform": "xilinx_u280_gen3x16_xdma_1_202211_1"}, ["Alveo options", "zcu104"]),
])
def test_zynq_options_are_validated(options, words):
    with pytest.raises(ConfigError) as err:
        _project("zcu104", **options)
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize("board, words", [
    ("vcu1525", ["vcu1525", "xilinx_vcu1525_xdma_201830_1", "platform=", "zcu104"]),
    ("vhk158", ["vhk158", "versal", "kv260, u250, u280, zcu102, zcu104"]),
])
def test_unsupported_boards_are_refused(board, words):
    with pytest.raises(ConfigError) as err:
        _project(board)
    for word in words:
        assert word in str(err.value)


def test_legacy_alveo_board_with_an_explicit_platform():
    files = _project("vcu1525", platform="my_vcu1525_vitis_platform")
    assert "PLATFORM ?= my_vcu1525_vitis_platform" in files["Makefile"]
    assert "sp=sat_kernel_1.m_axi_gmem:DDR[0]" in files["vitis/link.cfg"]


@pytest.mark.parametrize("rtl, words", [
    ({"../evil.v": STUB["sat_kernel.v"]}, ["'../evil.v'", "allowed"]),
    ({"a b.v": STUB["sat_kernel.v"]}, ["'a b.v'"]),
    ({"top.vhd": STUB["sat_kernel.v"]}, [".v, .sv"]),
    ({"other.v": "module other; endmodule\n"}, ["no file declares module sat_kernel"]),
    ({}, ["non-empty"]),
])
def test_rtl_is_validated(rtl, words):
    with pytest.raises(ConfigError) as err:
        emit_project(RMAP, "zcu104", rtl)
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize("change, words", [
    ({"vendor": "evil vendor"}, ["vendor", "'evil vendor'"]),
    ({"version": "1.0}"}, ["version"]),
    ({"args": (replace(RMAP.args[0], c_type="int*/}"), RMAP.args[1])}, ["c_type"]),
    ({"registers": (replace(RMAP.registers[0], fields={"a": 32}), *RMAP.registers[1:])},
     ["field a", "bit = 32"]),
    ({"registers": (*RMAP.registers, replace(RMAP.registers[4], name="CMD_LIST_LO",
                                              offset=0x40))},
     ["SAT_KERNEL_CMD_LIST_LO_OFFSET"]),
])
def test_register_map_extras_are_validated(change, words):
    rmap = replace(RMAP, **change)
    with pytest.raises(ConfigError) as err:
        emit_project(rmap, "zcu104", {"sat_kernel.v": stub_verilog(RMAP)})
    for word in words:
        assert word in str(err.value)


def test_docs_cannot_break_out_of_tcl_braces_or_c_comments():
    regs = (replace(RMAP.registers[4], doc="x} ; exec rm -rf / ; {\\ */ evil"),
            *RMAP.registers[5:])
    rmap = replace(RMAP, registers=(*RMAP.registers[:4], *regs))
    files = emit_project(rmap, "zcu104", STUB)
    assert "{x) ; exec rm -rf / ; (/ * / evil}" in files["vivado/package_ip.tcl"]
    assert check_tcl(files["vivado/package_ip.tcl"]) == []
    assert "*/ evil" not in files["include/sat_kernel_regs.h"]


def test_board_file_text_cannot_inject_commands(tmp_path):
    text = (Path(get_board("zcu104").path).read_text()
            .replace('name = "zcu104"', 'name = "evil"')
            .replace('display_name = "Zynq UltraScale+ MPSoC ZCU104 Evaluation Kit"',
                     'display_name = "Evil \\\\\\nputs pwned {"'))
    (tmp_path / "evil.toml").write_text(text)
    board = get_board(str(tmp_path / "evil.toml"))
    assert "\\\nputs" in board.display_name
    files = emit_project(RMAP, board, STUB)
    for rel, body in files.items():
        assert not re.search(r"^puts pwned", body, re.M), rel
        if rel.endswith(".tcl"):
            assert check_tcl(body, rel) == []
    with pytest.raises(ConfigError, match="device.part"):
        bad = text.replace('part = "xczu7ev-ffvc1156-2-e"', 'part = "xczu7ev [exec rm]"')
        (tmp_path / "evil.toml").write_text(bad)
        emit_project(RMAP, get_board(str(tmp_path / "evil.toml")), STUB)


def test_a_map_without_masters_is_refused():
    with pytest.raises(ConfigError, match="at least one AXI4 master"):
        emit_project(replace(RMAP, masters=(), args=()), "zcu104", STUB)


def test_tcl_word_refuses_unsafe_text():
    assert tcl_word("a b [c] $d") == "{a b [c] $d}"
    for bad in ("a}", "{", "a\\b", "a\nb"):
        with pytest.raises(ValueError):
            tcl_word(bad)


def test_emit_project_dir_writes_atomically(tmp_path):
    out = tmp_path / "proj"
    assert emit_project_dir(out, RMAP, "u280", STUB) == out.resolve()
    assert ({p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
            == ALVEO_FILES | {MARKER})
    (out / "keep.txt").write_text("old")
    with pytest.raises(ConfigError):
        emit_project_dir(out, RMAP, "u280", STUB, platform="bad platform")
    assert (out / "keep.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


# --------------------------------------------------------------------------- checks


@pytest.mark.parametrize("board", ["zcu102", "zcu104", "kv260", "u250", "u280"])
def test_emitted_tcl_is_complete(board):
    for rel, text in _project(board).items():
        if rel.endswith(".tcl"):
            assert check_tcl(text, rel) == []


def test_check_tcl_reports_the_incomplete_command():
    text = _project("zcu104")["vivado/build_bd.tcl"]
    lines = text.splitlines(True)
    start = next(i for i, line in enumerate(lines) if line.startswith("foreach pin {"))
    lines[start] = lines[start].replace("} {", " {", 1)      # unbalance the pin list
    problems = check_tcl("".join(lines), "build_bd.tcl")
    assert problems[0].startswith(f"build_bd.tcl:{start + 1}: command starting here never "
                                  "completes")
    assert problems[-1] == "build_bd.tcl: the script as a whole is not a complete Tcl script"
    assert check_tcl('puts "a [b]\nset x {1}\n', "q.tcl")[0].startswith("q.tcl:1:")
    assert check_tcl("set a b \\\n  c\n# comment {\n") == []


@pytest.mark.parametrize("board", ["zcu104", "u280"])
def test_check_references_pass(tmp_path, board):
    out = emit_project_dir(tmp_path / board, RMAP, board, {**STUB, "inc/defs.vh": "`define A\n"})
    assert check_references(out) == []


def test_check_references_finds_missing_and_unused_files(tmp_path):
    out = emit_project_dir(tmp_path / "u280", RMAP, "u280", STUB)
    (out / "vitis/kernel.xml").unlink()
    (out / "rtl/sat_kernel.v").rename(out / "rtl/extra.v")
    problems = check_references(out)
    assert any(p.startswith("vitis/package_xo.tcl:") and "references vitis/kernel.xml" in p
               for p in problems)
    assert any(p.startswith("Makefile:") and "references vitis/kernel.xml" in p
               for p in problems)
    assert any(p.startswith("Makefile:") and "references rtl/sat_kernel.v" in p
               for p in problems)
    assert "rtl/extra.v: no TCL script adds this RTL file" in problems
    zynq = emit_project_dir(tmp_path / "zcu104", RMAP, "zcu104", STUB)
    (zynq / "vivado/build_bd.tcl").unlink()
    assert any(p.startswith("Makefile:") and "vivado/build_bd.tcl" in p
               for p in check_references(zynq))


def test_stub_has_exactly_the_convention_ports():
    ports = verilog_ports(STUB["sat_kernel.v"])["sat_kernel"]
    assert ports == {p.name: (p.direction, p.width) for p in kernel_ports(RMAP)}
    assert ports["s_axi_control_awaddr"] == ("in", 7)
    assert ports["m_axi_gmem_wdata"] == ("out", 128)
    assert ports["m_axi_gmem_wstrb"] == ("out", 16)
    assert ports["m_axi_gmem_araddr"] == ("out", 64)


def test_check_kernel_xml_pass():
    xml = _project("u280")["vitis/kernel.xml"]
    assert check_kernel_xml(xml, STUB["sat_kernel.v"], RMAP) == []


@pytest.mark.parametrize("old, new, expected", [
    ('offset="0x1C"', 'offset="0x20"',
     "kernel.xml: argument 1 (n_cmds) offset = '0x20', the register map has 28"),
    ('dataWidth="128"', 'dataWidth="256"',
     "kernel.xml: port m_axi_gmem: dataWidth 256 but m_axi_gmem_wdata is 128 bits"),
    ('range="0x80"', 'range="0x1000"', "kernel.xml: port s_axi_control: range 0x1000"),
    ('addressQualifier="1"', 'addressQualifier="0"',
     "kernel.xml: argument 0 (cmd_list) addressQualifier = '0', the register map has 1"),
    ('port="m_axi_gmem" size', 'port="m_axi_gmem1" size',
     "kernel.xml: argument cmd_list uses undeclared port 'm_axi_gmem1'"),
    ('name="m_axi_gmem" mode="master"', 'name="m_axi_gmem" mode="slave"',
     "kernel.xml: port m_axi_gmem: mode 'slave'; the register map has 'master'"),
    ('hwControlProtocol="ap_ctrl_hs"', 'hwControlProtocol="ap_ctrl_chain"',
     "kernel.xml: kernel hwControlProtocol = 'ap_ctrl_chain', expected 'ap_ctrl_hs'"),
    ("</args>", '<arg name="extra" id="2" port="s_axi_control"/></args>',
     "kernel.xml: argument id 2 (extra) is not in the register map"),
    ("</args>", "", "kernel.xml: not well-formed XML"),
])
def test_check_kernel_xml_finds_a_broken_xml(old, new, expected):
    xml = _project("u280")["vitis/kernel.xml"]
    assert old in xml
    problems = check_kernel_xml(xml.replace(old, new, 1), STUB["sat_kernel.v"], RMAP)
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize("old, new, expected", [
    ("output wire [127:0]  m_axi_gmem_wdata", "output wire [63:0]   m_axi_gmem_wdata",
     "Verilog: port m_axi_gmem_wdata is out 64 bits, expected out 128 bits"),
    ("input  wire          ap_rst_n,", "input  wire          ap_rst,",
     "Verilog: sat_kernel lacks port ap_rst_n (in, 1 bits)"),
    ("output wire          interrupt,", "input  wire          interrupt,",
     "Verilog: port interrupt is in 1 bits, expected out 1 bits"),
    ("input  wire          ap_clk,", "input  wire          ap_clk, input wire debug,",
     "Verilog: port debug is not part of the kernel convention"),
    ("module sat_kernel (", "module other_kernel (", "Verilog: no module sat_kernel"),
    ("endmodule", "endmodul", "Verilog: yosys could not read the Verilog"),
])
def test_check_kernel_xml_finds_a_broken_verilog(old, new, expected):
    verilog = STUB["sat_kernel.v"]
    assert old in verilog
    broken = verilog.replace(old, new, 1)
    if "assign interrupt" in broken and "input  wire          interrupt" in broken:
        broken = broken.replace("    assign interrupt = 1'd0;\n", "")
    problems = check_kernel_xml(_project("u280")["vitis/kernel.xml"], broken, RMAP)
    assert any(p.startswith(expected) for p in problems), problems


def test_check_kernel_xml_follows_the_register_map():
    # A map with a second master and a 64-bit scalar: the stub and the XML follow it.
    rmap = replace(RMAP, masters=(*RMAP.masters, {"port": "m_axi_out", "data_bits": 512,
                                                  "addr_bits": 64}),
                   args=(*RMAP.args, Arg("results", 2, 0x40, 64, "pointer", "void*",
                                         "results", "m_axi_out"),
                         Arg("seed", 3, 0x4C, 64, "scalar", "uint64_t", "seed")))
    verilog = stub_verilog(rmap)
    xml = emit_project(rmap, "u280", {"sat_kernel.v": verilog})["vitis/kernel.xml"]
    assert check_kernel_xml(xml, verilog, rmap) == []
    assert 'name="seed" addressQualifier="0" id="3" port="s_axi_control" size="0x8"' in xml
    problems = check_kernel_xml(xml, STUB["sat_kernel.v"], rmap)
    assert "Verilog: sat_kernel lacks port m_axi_out_wdata (out, 512 bits)" in problems
    assert any(p.startswith("kernel.xml: port m_axi_out: the Verilog lacks") for p in problems)


@pytest.mark.slow
def test_real_sat_kernel_matches_its_kernel_xml():
    shell = pytest.importorskip("sparseforge.hwgen.sat.kernel")
    verilog = shell.kernel_verilog(SatConfig())
    files = emit_project(RMAP, "u280", {"sat_kernel.v": verilog})
    assert check_kernel_xml(files["vitis/kernel.xml"], verilog, RMAP) == []
