"""``sparseforge generate edgemoe --board B --out D``: a complete Vitis HLS + Vivado project.

Checked structurally only (Vitis HLS and Vivado are not installed here): every Tcl
command complete (tclsh), every referenced file present, ``run_hls.tcl`` dry-run with
the Vitis HLS commands stubbed (top, files, part, clock, m_axi settings, C-sim
arguments, export VLNV), the C++ ``m_axi`` bundles against the block design and the
register map, the C header against ``regmap.json``, byte-identical output.  The
C-sim data the Makefile writes is checked against the testbench in a slow test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sparseforge.board_registry import get_board
from sparseforge.cli import main
from sparseforge.errors import ConfigError
from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.families.edgemoe.contract import register_map, top_args
from sparseforge.hwgen.project import code_cells, emit_hls_project
from sparseforge.hwgen.project.checks import (
    check_hls_project,
    check_references,
    check_tcl,
    hls_commands,
)
from sparseforge.output_dir import MARKER
from sparseforge.regmap import RegisterMap
from sparseforge.sim.edgemoe import csim_data

SRC = {f"src/{n}" for n in ("edgemoe_kernels.h", "edgemoe_model.h", "edgemoe_nonlinear.h",
                            "edgemoe_top.cpp", "edgemoe_types.h", "sf_csim_io.h")}
FILES = SRC | {"tb/edgemoe_tb.cpp", "tb/hls_stream.h", "run_hls.tcl", "vivado/build_bd.tcl",
               "Makefile", "README.md", "regmap.json", "config.json",
               "include/edgemoe_vit_regs.h", "host/edgemoe_vit_infer.ipynb", MARKER}
#: kv260: the default does not fit its 144 BRAM36; M3ViT-tiny does with the weight
#: buffers in UltraRAM, 9 lanes and an 8 x 16 tile (1,244 DSP, 65 BRAM36, 64 URAM).
KV260_FIT = ("lanes=9", "tile_in=8", "tile_out=16", "weight_storage=uram")
#: zcu104: the default with K and V in UltraRAM (269 BRAM36 of 312, 16 URAM).
BOARDS = {"zcu102": (), "zcu104": ("kv_storage=uram",), "kv260": KV260_FIT}
SMALL = ("image_h=32", "image_w=64", "dim=48", "layers=2", "experts=4", "expert_hidden=32",
         "mlp_hidden=64")


def _generate(out: Path, board: str, *sets: str) -> Path:
    argv = ["generate", "edgemoe", "--board", board, "--out", str(out)]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _cfg(folder: Path) -> EdgeMoEConfig:
    return EdgeMoEConfig.from_dict(json.loads((folder / "config.json").read_text())["config"])


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("edgemoe-projects")
    return {board: _generate(tmp / board, board, *sets) for board, sets in BOARDS.items()}


# --------------------------------------------------------------------------- the project


@pytest.mark.parametrize("board", list(BOARDS))
def test_generate_writes_a_complete_checked_project(projects, board):
    folder = projects[board]
    files = _files(folder)
    assert set(files) == FILES
    cfg = _cfg(folder)
    assert RegisterMap.from_json(folder / "regmap.json") == register_map(cfg)
    assert check_references(folder) == []
    for rel, raw in files.items():
        if rel.endswith(".tcl"):
            assert check_tcl(raw.decode(), rel) == [], rel
    assert check_hls_project(folder, get_board(board), cfg.clock_mhz) == []


def test_run_hls_for_the_zcu102(projects):
    calls = dict((n, a) for n, a in hls_commands(projects["zcu102"]) if n != "add_files")
    assert calls["set_top"] == ["edgemoe_vit"]
    assert calls["set_part"] == ["xczu9eg-ffvb1156-2-e"]
    assert calls["create_clock"] == ["-period", "3.33333", "-name", "default"]  # 300 MHz
    assert calls["config_interface"] == ["-m_axi_alignment_byte_size", "64",
                                         "-m_axi_max_widen_bitwidth", "256"]
    assert calls["csim_design"] == ["-argv", "<root>/build/csim_data top"]
    assert calls["open_solution"] == ["-reset", "solution1", "-flow_target", "vivado"]
    export = calls["export_design"]
    assert export[:10] == ["-format", "ip_catalog", "-vendor", "sparseforge.org", "-library",
                           "kernel", "-version", "1.0", "-ipname", "edgemoe_vit"]


def test_steps_are_chosen_by_sf_hls_steps(projects):
    folder = projects["zcu104"]
    ip = [n for n, _ in hls_commands(folder, "csynth export", csim_data=False)]
    assert "csim_design" not in ip and "cosim_design" not in ip
    assert ip.index("csynth_design") < ip.index("export_design")
    assert [n for n, _ in hls_commands(folder, "csim")][-2:] == ["csim_design",
                                                                "close_project"]
    with pytest.raises(RuntimeError, match="run `make csim-data` first"):
        hls_commands(folder, "csim", csim_data=False)
    with pytest.raises(RuntimeError, match="allowed: csim csynth cosim export"):
        hls_commands(folder, "synth")


def test_block_design_gives_every_bundle_its_own_ps_port(projects):
    tcl = (projects["zcu102"] / "vivado/build_bd.tcl").read_text()
    for i, (bundle, hp) in enumerate([("act", 0), ("w0", 1), ("w1", 2)]):
        assert (f"[get_bd_intf_pins edgemoe_vit_0/m_axi_{bundle}] "
                f"[get_bd_intf_pins mem_smc_{i}/S00_AXI]") in tcl
        assert (f"[get_bd_intf_pins mem_smc_{i}/M00_AXI] "
                f"[get_bd_intf_pins zynq_ultra_ps_e_0/S_AXI_HP{hp}_FPD]") in tcl
        assert f"CONFIG.PSU__USE__S_AXI_GP{2 + hp} {{1}}" in tcl
        assert f"CONFIG.PSU__SAXIGP{2 + hp}__DATA_WIDTH {{128}}" in tcl
    assert "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {300}" in tcl
    assert ("set_property ip_repo_paths [list [file join $build hls edgemoe_vit solution1 "
            "impl ip]]") in tcl
    assert "create_bd_cell -type ip -vlnv {sparseforge.org:kernel:edgemoe_vit:1.0} " \
           "edgemoe_vit_0" in tcl


def test_four_weight_ports_use_hp3_and_hpc0(tmp_path):
    folder = _generate(tmp_path / "p", "zcu102", "weight_ports=4")
    tcl = (folder / "vivado/build_bd.tcl").read_text()
    assert re.findall(r"zynq_ultra_ps_e_0/(S_AXI_\w+)\]$", tcl, re.M) == [
        "S_AXI_HP0_FPD", "S_AXI_HP1_FPD", "S_AXI_HP2_FPD", "S_AXI_HP3_FPD", "S_AXI_HPC0_FPD"]
    assert check_hls_project(folder, get_board("zcu102"), 300.0) == []


def test_makefile_targets(projects):
    make = (projects["zcu104"] / "Makefile").read_text()
    for target in ("csim-data", "csim", "cosim", "ip", "bitstream", "clean"):
        assert re.search(rf"^{target}:", make, re.M), target
    assert ("$(PYTHON) -m sparseforge.sim.edgemoe.csim_data write config.json "
            "build/csim_data") in make
    assert "HLS ?= vitis_hls -f" in make
    assert "SF_HLS_STEPS=csim $(HLS) run_hls.tcl" in make
    assert 'SF_HLS_STEPS="csynth export" $(HLS) run_hls.tcl' in make
    assert "IP := build/hls/edgemoe_vit/solution1/impl/ip/component.xml" in make
    assert re.search(r"^\$\(BIT\): vivado/build_bd.tcl \$\(IP\)$", make, re.M)
    assert "-source vivado/build_bd.tcl" in make


def test_readme_says_what_was_checked(projects):
    readme = (projects["kv260"] / "README.md").read_text()
    assert "Checked structurally only" in readme
    assert "Vitis HLS and\nVivado were not run on it" in readme
    mb = csim_data.data_bytes(_cfg(projects["kv260"])) / 1e6
    assert f"make csim-data writes {mb:.1f} MB" in readme
    assert 'EdgeMoEDriver.for_regmap("regmap.json")' in readme
    for rel in FILES - {MARKER}:
        assert f"`{rel}`" in readme or rel == "README.md", rel


def test_header_compiles_and_matches_the_map(projects, tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    rmap = register_map(EdgeMoEConfig())
    names = {"EDGEMOE_VIT_ADDRESS_RANGE": rmap.address_range,
             "EDGEMOE_VIT_IMAGE_LO_OFFSET": rmap.arg("image").offset,
             "EDGEMOE_VIT_WEIGHTS_1_HI_OFFSET": rmap.arg("weights_1").offset + 4,
             "EDGEMOE_VIT_TASK_ID_OFFSET": rmap.arg("task_id").offset}
    shutil.copy(projects["zcu102"] / "include/edgemoe_vit_regs.h", tmp_path)
    prints = "".join(f'printf("%u\\n", (unsigned) {n});' for n in names)
    (tmp_path / "main.c").write_text('#include <stdio.h>\n#include "edgemoe_vit_regs.h"\n'
                                     f"int main(void) {{ {prints} return 0; }}\n")
    subprocess.run([cc, "-Wall", "-Werror", "-o", "main", "main.c"], cwd=tmp_path, check=True)
    out = subprocess.run([str(tmp_path / "main")], capture_output=True, text=True, check=True)
    assert [int(v) for v in out.stdout.split()] == list(names.values())
    assert names["EDGEMOE_VIT_TASK_ID_OFFSET"] == 0x18 + 12 * 12  # STATUS, then 12 pointers


def test_notebook_is_valid_and_uses_the_driver(projects):
    text = (projects["zcu102"] / "host/edgemoe_vit_infer.ipynb").read_text()
    nb = json.loads(text)
    assert nb["nbformat"] == 4 and nb["cells"][0]["cell_type"] == "markdown"
    cells = code_cells(text)
    for i, src in enumerate(cells):
        compile(src, f"cell {i}", "exec")
    code = "\n".join(cells)
    assert "from sparseforge.host.edgemoe import EdgeMoEDriver" in code
    assert "edgemoe = overlay.edgemoe_vit_0" in code
    assert "edgemoe.load_weights(raw)" in code and "edgemoe.infer(image, task)" in code
    assert 'BITSTREAM = "../output/edgemoe_vit.bit"' in code and "CLOCK_MHZ = 300" in code


def test_generate_is_deterministic(projects, tmp_path):
    again = _generate(tmp_path / "again", "zcu102")
    assert _files(again) == _files(projects["zcu102"])
    # another interpreter, another hash seed: the same bytes
    script = ("import sys, json; from sparseforge.board_registry import get_board; "
              "from sparseforge.families.edgemoe.config import EdgeMoEConfig; "
              "from sparseforge.families.edgemoe.family import project_files; "
              "files = project_files(EdgeMoEConfig(), get_board('zcu102')); "
              "print(json.dumps(files))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONHASHSEED": "7"})
    other = {k: v.encode() for k, v in json.loads(out.stdout).items()}
    assert other == {k: v for k, v in _files(projects["zcu102"]).items() if k != MARKER}
    assert not any(re.search(rb"20\d\d-\d\d-\d\d|/tmp/|/work/", v) for v in other.values())


# --------------------------------------------------------------------------- refusals


def test_kv260_refuses_the_default_design(capsys, tmp_path):
    out = tmp_path / "never"
    assert main(["generate", "edgemoe", "--board", "kv260", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert ("the Edge-MoE design needs 325 BRAM36 (lanes = 4, tile_in x tile_out = 16x16); "
            "board 'kv260' has 144; allowed: fewer lanes or a smaller tile, or kv_storage / "
            "weight_storage = uram (the board has 64 UltraRAM)") in err
    assert not out.exists()


@pytest.mark.parametrize("argv, words", [
    (["--board", "u280"], ["board = 'u280'", "zcu102, zcu104, kv260"]),
    (["--board", "zcu999"], ["zcu999"]),
    (["--board", "zcu102", "--set", "name=module"], ["name", "module"]),
    (["--board", "zcu104", "--set", "lanes=8", "--set", "tile_in=32"], ["DSP48E2", "zcu104"]),
])
def test_bad_input_writes_nothing(capsys, tmp_path, argv, words):
    out = tmp_path / "never"
    assert main(["generate", "edgemoe", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err
    assert not out.exists()


def _board_with_two_hp_ports(tmp_path: Path) -> Path:
    """zcu104 as a board file whose PS has only S_AXI_HP0_FPD and S_AXI_HP1_FPD."""
    text = Path(get_board("zcu104").path).read_text()
    blocks = text.split("[[ps_pl_ports]]")
    keep = [b for b in blocks[1:] if re.search(r'name = "(S_AXI_HP[01]_FPD|M_AXI_\w+)"', b)]
    path = tmp_path / "zcu104.toml"
    path.write_text("[[ps_pl_ports]]".join([blocks[0], *keep]))
    return path


def test_more_masters_than_ps_ports_is_refused_before_writing(capsys, tmp_path):
    board = _board_with_two_hp_ports(tmp_path)
    out = tmp_path / "never"
    assert main(["generate", "edgemoe", "--board", str(board), "--kv-storage", "uram",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert ("weight_ports = 2: the design has 3 AXI4 masters (act and w0 to w1), one PS "
            "slave port each; board 'zcu104' has 2 (S_AXI_HP0_FPD, S_AXI_HP1_FPD); allowed: "
            "weight_ports = 1 to 1") in err
    assert not out.exists()
    assert main(["generate", "edgemoe", "--board", str(board), "--out", str(out),
                 "--set", "weight_ports=1", "--kv-storage", "uram"]) == 0


@pytest.mark.parametrize("change, words", [
    ({"sources": {"../top.cpp": "void edgemoe_vit(int);"}}, ["'../top.cpp'", "allowed"]),
    ({"sources": {"top.cpp": "void other(int);"}}, ["top function edgemoe_vit("]),
    ({"testbench": {"tb.sh": ""}}, ["tb.sh", ".cpp"]),
    ({"csim_args": ["top; exec rm"]}, ["csim_args[0]"]),
    ({"csim_data": "x; rm -rf /"}, ["csim_data", "package.module"]),
    ({"board": "u280"}, ["Zynq UltraScale+", "u280"]),
    ({"clock_mhz": 0}, ["clock_mhz"]),
])
def test_emit_hls_project_validates_its_inputs(change, words):
    args = {"rmap": register_map(EdgeMoEConfig()), "board": "zcu102",
            "sources": {"top.cpp": "extern \"C\" void edgemoe_vit(int a) {}\n"},
            "testbench": {"tb.cpp": "int main() { return 0; }\n"}, "clock_mhz": 300.0,
            **{k: v for k, v in change.items() if k not in ("csim_args", "csim_data")}}
    options = {k: v for k, v in change.items() if k in ("csim_args", "csim_data")}
    with pytest.raises(ConfigError) as err:
        emit_hls_project(**args, **options)
    for word in words:
        assert word in str(err.value)


def test_board_file_text_cannot_inject_tcl(tmp_path):
    text = (Path(get_board("zcu102").path).read_text()
            .replace('display_name = "Zynq UltraScale+ MPSoC ZCU102 Evaluation Kit"',
                     'display_name = "Evil \\\\\\nputs pwned {"'))
    (tmp_path / "zcu102.toml").write_text(text)
    assert "\\\nputs" in get_board(str(tmp_path / "zcu102.toml")).display_name
    folder = _generate(tmp_path / "p", str(tmp_path / "zcu102.toml"))
    assert "# for Evil / puts pwned ( (" in (folder / "run_hls.tcl").read_text()
    for rel, raw in _files(folder).items():
        assert not re.search(rb"^puts pwned", raw, re.M), rel
        if rel.endswith(".tcl"):
            assert check_tcl(raw.decode(), rel) == [], rel
    assert check_hls_project(folder, get_board(str(tmp_path / "zcu102.toml")), 300.0) == []


# --------------------------------------------------------------------------- the checks


def _broken(projects, tmp_path, rel: str, old: str, new: str) -> Path:
    folder = tmp_path / "broken"
    shutil.copytree(projects["zcu102"], folder)
    text = (folder / rel).read_text()
    assert old in text, old
    (folder / rel).write_text(text.replace(old, new, 1))
    return folder


@pytest.mark.parametrize("rel, old, new, problem", [
    ("run_hls.tcl", "set_top {edgemoe_vit}", "set_top {edgemoe}",
     "set_top ['edgemoe'], the C++ top function is 'edgemoe_vit'"),
    ("src/edgemoe_top.cpp", 'extern "C" unsigned int edgemoe_vit(',
     'extern "C" unsigned int edgemoe_x(',
     "the HLS top function (the one holding the INTERFACE pragmas) is ['edgemoe_x']"),
    ("run_hls.tcl", "set_part {xczu9eg-ffvb1156-2-e}", "set_part {xczu7ev-ffvc1156-2-e}",
     "set_part ['xczu7ev-ffvc1156-2-e'], board zcu102 has 'xczu9eg-ffvb1156-2-e'"),
    ("run_hls.tcl", "-period {3.33333}", "-period {4}",
     "the config's 300 MHz is 3.33333 ns"),
    ("run_hls.tcl", "-m_axi_max_widen_bitwidth {256}", "-m_axi_max_widen_bitwidth {512}",
     "max widen bitwidth 256"),
    ("run_hls.tcl", "add_files [project_file {src/edgemoe_model.h}]",
     "add_files [project_file {src/edgemoe_types.h}]", "design files"),
    ("run_hls.tcl", "-ipname {edgemoe_vit}", "-ipname {edgemoe}",
     "export_design -ipname 'edgemoe', expected 'edgemoe_vit'"),
    ("src/edgemoe_top.cpp", "port=weights_1 bundle=w1", "port=weights_1 bundle=w3",
     "the C++ bundle m_axi_w3 is not wired to the PS"),
    ("vivado/build_bd.tcl", "[get_bd_intf_pins zynq_ultra_ps_e_0/S_AXI_HP2_FPD]",
     "[get_bd_intf_pins zynq_ultra_ps_e_0/S_AXI_HP1_FPD]", "share S_AXI_HP1_FPD"),
    ("vivado/build_bd.tcl", "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {300}",
     "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ {100}", "PL clock 0 '100' MHz"),
    ("include/edgemoe_vit_regs.h", "EDGEMOE_VIT_TASK_ID_OFFSET               0xA8u",
     "EDGEMOE_VIT_TASK_ID_OFFSET               0xACu",
     "EDGEMOE_VIT_TASK_ID_OFFSET = 172, regmap.json has 0xa8"),
])
def test_structural_checks_catch_a_broken_project(projects, tmp_path, rel, old, new,
                                                  problem):
    folder = _broken(projects, tmp_path, rel, old, new)
    problems = check_hls_project(folder, get_board("zcu102"), 300.0)
    assert any(problem in p for p in problems), problems


def test_references_catch_a_missing_source(projects, tmp_path):
    folder = _broken(projects, tmp_path, "README.md", "#", "#")
    (folder / "src/edgemoe_nonlinear.h").unlink()
    assert any("references src/edgemoe_nonlinear.h" in p for p in check_references(folder))
    problems = check_hls_project(folder, get_board("zcu102"), 300.0)
    assert any("missing input src/edgemoe_nonlinear.h" in p for p in problems), problems


# --------------------------------------------------------------------------- C-sim data


def test_csim_data_is_what_the_testbench_reads(tmp_path):
    cfg = EdgeMoEConfig.from_cli(SMALL)
    folder = tmp_path / "data"
    manifest = csim_data.write_data(cfg, folder, seed=3, task=1)
    sizes = {a.name: a.count for a in top_args(cfg)}
    assert manifest["inputs"] == {f"{n}.bin": c for n, c in sizes.items()}
    for name, count in sizes.items():
        assert (folder / f"{name}.bin").stat().st_size == 8 * count
    assert np.fromfile(folder / "task_id.bin", "<i8").tolist() == [1]
    assert sum(p.stat().st_size for p in folder.glob("*.bin")) == csim_data.data_bytes(cfg)
    want = np.fromfile(folder / csim_data.EXPECTED, "<i8").reshape(cfg.tokens, cfg.dim)
    width = sizes["features"] // cfg.tokens
    rows = np.zeros((cfg.tokens, width), "<i8")
    rows[:, :cfg.dim] = want
    rows.tofile(folder / "features_after.bin")
    assert csim_data.check_data(cfg, folder) == (0, cfg.tokens * cfg.dim)
    rows[3, 5] += 1
    rows.tofile(folder / "features_after.bin")
    assert csim_data.check_data(cfg, folder) == (1, cfg.tokens * cfg.dim)


def test_csim_data_command_line(tmp_path, capsys):
    project = _generate(tmp_path / "p", "zcu104", *SMALL)
    data = tmp_path / "data"
    assert csim_data.main(["write", str(project / "config.json"), str(data)]) == 0
    assert json.loads((data / "inputs.json").read_text())["seed"] == 0
    assert csim_data.main(["check", str(project / "config.json"), str(data)]) == 2
    assert "features_after.bin is missing" in capsys.readouterr().err


@pytest.mark.slow
def test_emitted_testbench_runs_on_the_written_data(tmp_path):
    """g++ builds the project's src/ and tb/ as they are; ``tb DATA top`` on the data of
    ``make csim-data`` gives the golden features (what ``make csim`` checks)."""
    from sparseforge.sim.lib import csim

    project = _generate(tmp_path / "p", "zcu104", *SMALL)
    cfg = _cfg(project)
    data = tmp_path / "data"
    csim_data.write_data(cfg, data)
    # the runner adds the common headers (hls_stream.h, sf_csim_io.h) itself: the same text
    common = {"hls_stream.h", "sf_csim_io.h"}
    sources = {p.name: p.read_text() for d in ("src", "tb") for p in (project / d).iterdir()
               if p.name not in common}
    from sparseforge.hwgen.hls import common_headers

    for name in common:
        folder = "tb" if name == "hls_stream.h" else "src"
        assert (project / folder / name).read_text() == common_headers()[name]
    exe = csim.build(sources, tmp_path / "build", name="tb")
    subprocess.run([str(exe), str(data), "top"], check=True, timeout=600, cwd=data)
    assert csim_data.check_data(cfg, data) == (0, cfg.tokens * cfg.dim)
