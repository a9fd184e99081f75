"""``sparseforge generate sat --board B --out D``: complete, checked project folders.

Structural checks only (no vendor tools here): every TCL command complete
(tclsh ``info complete``), every referenced file present, kernel.xml against
the real kernel Verilog's ports (Yosys JSON) and the register map, and
byte-identical output for the same config.  The emitted notebook runs on the
simulated board in a slow test.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from sparseforge.cli import main
from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import register_map
from sparseforge.hwgen.project import code_cells
from sparseforge.hwgen.project.checks import check_kernel_xml, check_references, check_tcl
from sparseforge.output_dir import MARKER
from sparseforge.regmap import RegisterMap

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

COMMON = {"Makefile", "README.md", "config.json", "regmap.json", "rtl/sat_kernel.v",
          "include/sat_kernel_regs.h", "host/sat_kernel_gemm.ipynb", "blocks/sat_engine.v",
          "blocks/sat_engine_wgen.v", MARKER}
EXPECTED = {"zcu104": COMMON | {"vivado/package_ip.tcl", "vivado/build_bd.tcl"},
            "u280": COMMON | {"vitis/kernel.xml", "vitis/package_xo.tcl", "vitis/link.cfg"}}


def _generate(tmp: Path, board: str, *sets: str) -> Path:
    out = tmp / f"{board}-{len(list(tmp.iterdir()))}"
    argv = ["generate", "sat", "--board", board, "--out", str(out)]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("projects")
    return {board: _generate(tmp, board) for board in EXPECTED}


@pytest.mark.parametrize("board", list(EXPECTED))
def test_generate_writes_a_complete_project(projects, board):
    folder = projects[board]
    files = _files(folder)
    assert set(files) == EXPECTED[board]
    rmap = RegisterMap.from_json(folder / "regmap.json")
    assert rmap == register_map(SatConfig())
    assert check_references(folder) == []
    for rel, raw in files.items():
        if rel.endswith(".tcl"):
            assert check_tcl(raw.decode(), rel) == [], rel
    assert "module sat_kernel(" in files["rtl/sat_kernel.v"].decode()
    readme = files["README.md"].decode()
    assert 'SatDriver.for_regmap("' in readme and "host/sat_kernel_gemm.ipynb" in readme
    if board == "u280":
        errors = check_kernel_xml(files["vitis/kernel.xml"].decode(),
                                  files["rtl/sat_kernel.v"].decode(), rmap)
        assert errors == []
        assert "sp=sat_kernel_1.m_axi_gmem:HBM[0]" in files["vitis/link.cfg"].decode()


@pytest.mark.parametrize("board", list(EXPECTED))
def test_generate_is_deterministic(projects, board, tmp_path):
    again = _generate(tmp_path, board)
    assert _files(again) == _files(projects[board])


@pytest.mark.parametrize("board, ip, suffix", [("zcu104", "sat_kernel_0", "bit"),
                                               ("u280", "sat_kernel_1", "xclbin")])
def test_notebook_is_valid_and_names_the_overlay(projects, board, ip, suffix):
    nb = json.loads((projects[board] / "host/sat_kernel_gemm.ipynb").read_text())
    assert nb["nbformat"] == 4 and nb["cells"][0]["cell_type"] == "markdown"
    cells = code_cells(json.dumps(nb))
    for i, src in enumerate(cells):
        compile(src, f"cell {i}", "exec")
    text = "\n".join(cells)
    assert f'BITSTREAM = "../output/sat_kernel.{suffix}"' in text
    assert f"sat = overlay.{ip}" in text
    assert ("sat.memory = overlay.HBM0" in text) == (board == "u280")


def test_kernel_xml_check_catches_a_renamed_port(projects):
    folder = projects["u280"]
    rtl = (folder / "rtl/sat_kernel.v").read_text().replace("m_axi_gmem_awaddr",
                                                            "m_axi_gmem_awadr")
    errors = check_kernel_xml((folder / "vitis/kernel.xml").read_text(), rtl,
                              RegisterMap.from_json(folder / "regmap.json"))
    assert errors and any("awaddr" in e for e in errors)


def test_generate_refuses_boards_without_projects(tmp_path, capsys):
    out = tmp_path / "p"
    code = main(["generate", "sat", "--board", "vcu1525", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "no project emission" in err and not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("sets", [(), ("width=16",)])  # int16 sums wrap at 32 bits
def test_emitted_notebook_runs_on_the_simulated_board(projects, tmp_path, sets):
    from sparseforge.hwgen.sat.kernel import kernel_verilog
    from sparseforge.sim.lib.board import run_on_sim_board
    from sparseforge.sim.lib.verilator_lint import amaranth_waivers
    from sparseforge.sim.sat.verify import KERNEL_WAIVERS

    project = tmp_path / "zcu104"
    shutil.copytree(_generate(tmp_path, "zcu104", *sets) if sets else projects["zcu104"],
                    project)
    (project / "output").mkdir()
    shutil.copy(project / "regmap.json", project / "output/regmap.json")  # as `make` does
    cfg = SatConfig.from_dict(json.loads((project / "config.json").read_text())["config"])
    assert (project / "rtl/sat_kernel.v").read_text() == kernel_verilog(cfg)
    res = run_on_sim_board([project / "rtl/sat_kernel.v"], "sat_kernel",
                           "sat_board_scenarios:notebook", tmp_path / "build",
                           regmap=project / "regmap.json",
                           params={"project": str(project), "notebook": "sat_kernel_gemm.ipynb",
                                   "ip": "sat_kernel_0"},
                           waivers=amaranth_waivers(project / "rtl/sat_kernel.v",
                                                    KERNEL_WAIVERS),
                           max_cycles=5_000_000)
    assert res["opened"] == ["../output/sat_kernel.bit"]
    assert res["driver"] == "SatDriver_sat_kernel" and res["c_shape"] == [64, 48]
    assert "bit-exact with NumPy" in res["printed"]
    assert "10 commands (4 weight generations, 6 GEMMs) in one start" in res["printed"]
    assert "all bit-exact" in res["printed"]
    assert res["last_cycles"] > 0


def test_board_names_cannot_inject_notebook_cells():
    from dataclasses import replace

    from sparseforge.board_registry import get_board
    from sparseforge.families.sat.family import project_files

    board = replace(get_board("zcu104"),
                    display_name='ZCU104\n# %%\nimport os; print("pwned")\n`x`')
    files = project_files(SatConfig(), board)
    cells = code_cells(files["host/sat_kernel_gemm.ipynb"])
    assert not any("pwned" in c for c in cells)
    assert len(cells) == len(code_cells(project_files(SatConfig(), get_board("zcu104"))[
        "host/sat_kernel_gemm.ipynb"]))
