"""`sparseforge generate | verify | perf | synth sat`: outputs, figures, bad input."""

import json
import time

import pytest

from sparseforge.board_registry import get_board
from sparseforge.cli import main
from sparseforge.configs import SatConfig
from sparseforge.sim.sat_perf import gemm_timing
from sparseforge.sim.sat_workload import MemoryModel, compare_step, default_config
from sparseforge.workloads import Gemm, Workload, get_workload

pytest.importorskip("amaranth")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_perf_resnet50_vcu1525_json(capsys):
    code, out, _ = run(capsys, "perf", "sat", "--workload", "resnet50", "--board", "vcu1525",
                       "--json")
    assert code == 0
    r = json.loads(out)
    assert r["dense_cycles"] > r["bdwp_cycles"] > 0
    assert r["speedup"] == pytest.approx(r["dense_cycles"] / r["bdwp_cycles"])
    assert 1.0 < r["speedup"] <= r["compute_bound_limit"] == 2.0
    assert sum(x["dense_cycles"] for x in r["layers"]) == r["dense_cycles"]
    cfg = SatConfig(**r["config"])
    assert cfg.multipliers <= get_board("vcu1525").resources.dsp
    assert (cfg.rows, cfg.cols) == (64, 32)


def test_perf_model_is_fast():
    board = get_board("vcu1525")
    cfg, mem, wl = default_config(board), MemoryModel.for_board(board), get_workload("resnet50")
    start = time.perf_counter()
    compare_step(cfg, wl, mem)
    assert time.perf_counter() - start < 1.0


def test_gemm_cycles_in_the_step_are_the_engine_model():
    # Compute-bound GEMM: the step model charges exactly the RTL-tested formula.
    cfg = SatConfig(rows=4, cols=4, n=2, m=8)
    mem = MemoryModel(peak_gbs=1e6, efficiency=1.0, clock_mhz=100, buffer_bytes=1 << 30)
    wl = Workload("one", "one GEMM", (1,), (), batch=1)
    g = Gemm("x", "FF", 37, 96, 21, 1, "rowwise", 96)
    perf = compare_step(cfg, Workload(wl.name, wl.description, wl.input_shape,
                                      (_Fixed([g]),), 1), mem)
    assert perf["bdwp_cycles"] == gemm_timing(cfg, 37, 96, 21, True).cycles
    assert perf["dense_cycles"] == gemm_timing(cfg, 37, 96, 21, False).cycles


class _Fixed:
    def __init__(self, gemms):
        self._gemms = gemms

    def gemms(self, batch):
        return self._gemms


def test_memory_bound_when_bandwidth_is_tiny():
    cfg = SatConfig(rows=4, cols=4)
    mem = MemoryModel(peak_gbs=0.001, efficiency=1.0, clock_mhz=100, buffer_bytes=0)
    r = compare_step(cfg, get_workload("resnet18", batch=1), mem)
    assert len(r["memory_bound_layers"]) > 0
    assert all("memory-bound" in x["why"] for x in r["layers"] if x["why"])


def test_perf_bad_input(capsys):
    code, _, err = run(capsys, "perf", "sat", "--board", "zcu104", "--set", "rows=64",
                       "--set", "cols=64")
    assert code == 2 and "exceed the 1728 DSP slices of zcu104" in err
    code, _, err = run(capsys, "perf", "sat", "--board", "vcu1525", "--workload", "alexnet")
    assert code == 2 and "unknown workload 'alexnet'" in err
    code, _, err = run(capsys, "perf", "sat")
    assert code == 2 and "needs --board" in err
    code, _, err = run(capsys, "perf", "sat", "--board", "u280", "--set", "n=8")
    assert code == 2 and "n = 8 is out of range for m = 8" in err
    code, _, err = run(capsys, "perf", "sat", "--board", "u280", "--set", "m=6")
    assert code == 2 and "m = 6 is not allowed" in err
    code, _, err = run(capsys, "perf", "sat", "--board", "u280", "--set", "colz=6")
    assert code == 2 and "known parameters: rows, cols" in err
    code, _, err = run(capsys, "synth", "sat", "--board", "vhk158")
    assert code == 2 and "synth_xilinx has no family for it" in err


def test_generate_writes_deterministic_files(tmp_path, capsys):
    args = ("generate", "sat", "--board", "zcu104", "--set", "rows=2", "--set", "cols=3")
    assert run(capsys, *args, "--out", str(tmp_path / "a"))[0] == 0
    assert run(capsys, *args, "--out", str(tmp_path / "b"))[0] == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file())
    assert [str(f) for f in files] == [
        "Makefile", "README.md", "blocks/sat_engine.v", "blocks/sat_engine_wgen.v",
        "config.json", "host/sat_kernel_gemm.ipynb", "include/sat_kernel_regs.h",
        "regmap.json", "rtl/sat_kernel.v", "vivado/build_bd.tcl", "vivado/package_ip.tcl"]
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    assert cfg["config"]["rows"] == 2 and cfg["board"] == "zcu104"


def test_generate_bad_input_writes_nothing(tmp_path, capsys):
    out = tmp_path / "proj"
    code, _, err = run(capsys, "generate", "sat", "--board", "kv260", "--set", "rows=64",
                       "--set", "cols=64", "--out", str(out))
    assert code == 2 and "exceed the 1248 DSP slices of kv260" in err
    code, _, err = run(capsys, "generate", "sat", "--board", "kv260",
                       "--set", "name=top;exec", "--out", str(out))
    assert code == 2 and "not a valid identifier" in err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_generate_failure_keeps_previous_output(tmp_path, monkeypatch, capsys):
    out = tmp_path / "proj"
    assert run(capsys, "generate", "sat", "--board", "zcu104", "--out", str(out))[0] == 0
    before = (out / "config.json").read_text()
    import sparseforge.hwgen.sat.emit as emit

    def boom(cfg):
        raise RuntimeError("generator crashed")

    monkeypatch.setattr(emit, "weight_gen_verilog", boom)
    with pytest.raises(RuntimeError, match="generator crashed"):
        main(["generate", "sat", "--board", "zcu104", "--set", "rows=2", "--out", str(out)])
    assert (out / "config.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


@pytest.mark.slow
def test_synth_default_config_maps_to_dsp48e2(capsys):
    code, out, _ = run(capsys, "synth", "sat", "--board", "vcu1525", "--json")
    assert code == 0
    est = json.loads(out)
    cfg = SatConfig()
    assert est["dsp"] == cfg.multipliers  # one DSP48E2 per int8 multiplier
    assert est["lut"] > 0 and est["ff"] > 0
    assert est["percent"]["dsp"] == pytest.approx(100 * est["dsp"] / 6840)


@pytest.mark.slow
def test_verify_cli_reports_and_passes(capsys, tmp_path):
    code, out, _ = run(capsys, "verify", "sat", "--set", "rows=2", "--set", "cols=2",
                       "--set", "n=1", "--set", "m=4", "--set", "acc_bits=20",
                       "--out", str(tmp_path), "--json")
    assert code == 0
    rep = json.loads(out)
    assert rep["failed"] == 0 and rep["passed"] == len(rep["vectors"]) == 30  # 15, stalled
    assert rep["cycles_per_second"] > 0
    runs = {r["id"]: r for r in rep["kernel"]["runs"]}
    listed = runs["command list"]
    assert listed["passed"] and listed["status"] == 0
    assert listed["cmds_done"] == len(listed["mismatches"]) > 10  # every command checked
    assert not any(listed["mismatches"])
    stalled = runs["command list, stalls"]  # every AXI channel pausing: same results
    assert stalled["passed"] and stalled["cmds_done"] == listed["cmds_done"]
    assert stalled["cycles"] > listed["cycles"] and stalled["duty"] == 0.25
    stopped = runs["wrong N:M stops the list"]
    assert (stopped["status"], stopped["err_cmd"], stopped["cmds_done"]) == (2, 1, 1)
