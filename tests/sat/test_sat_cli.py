"""`sparseforge generate | verify | perf | synth sat`: outputs, figures, bad input."""

import json

import pytest

from sparseforge.cli import main
from sparseforge.families.sat.config import SatConfig
from sparseforge.sim.sat.workload import MemoryModel, compare_step
from sparseforge.workloads import Gemm, Workload, get_workload

pytest.importorskip("amaranth")


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_perf_resnet50_vcu1525_json(capsys):
    code, out, _ = run(capsys, "perf", "sat", "--workload", "resnet50", "--board", "vcu1525",
                       "--size", "board", "--json")
    assert code == 0
    r = json.loads(out)
    a = r["architecture"]
    assert a["dense_cycles"] > a["bdwp_cycles"] > 0
    assert 1.0 < a["speedup"] <= a["compute_bound_limit"] == 2.0  # 3 / (2·2/8 + 1)
    assert sum(x["dense_cycles"] for x in a["layers"]) == a["dense_cycles"]
    # 64x32x2 = 4096 multipliers: the largest power-of-two array in 80 % of 6840 DSPs
    assert (r["config"]["rows"], r["config"]["cols"]) == (64, 32)
    assert r["array"]["size"] == "board" and "6840 DSPs" in r["array"]["why"]
    assert r["kernel"] is None and "no project emission" in r["no_kernel"]  # legacy shell


def _one_gemm(g):
    return Workload("one", "one GEMM", (1,), (_Fixed([g]),), 1)


def test_step_model_on_one_gemm_by_hand():
    """37x96x21 on 4x4, 2:8, int8, acc_bits 32 (numbers from docs/designs/sat.md and the
    sim/sat/workload.py docstring, worked out by hand).

    Engine: S + (T - 1)·P + C + R + 2 cycles, T = ceil(37/4)·ceil(21/4) = 10·6 = 60
    tiles, P = max(S + 1, R, C + 1) (drain_rows 1).  BDWP: S = ceil(96/8) = 12, P = 13:
    12 + 59·13 + 10 = 789.  Dense: S = ceil(96/2) = 48, P = 49: 48 + 59·49 + 10 = 2949.

    Bytes: A 37·96 = 3552, dense B 96·21 = 2016, C 37·21·4 = 3108.  Compressed B
    12 steps · 2 kept · 21 columns · (1 + 3/8) bytes = 693.
    """
    cfg = SatConfig(rows=4, cols=4, n=2, m=8)
    wl = _one_gemm(Gemm("x", "FF", 37, 96, 21, 1, "rowwise", 96))
    # 1 TB/s: memory never the bound; exactly the engine cycles
    fast = MemoryModel(peak_gbs=1e3, efficiency=1.0, clock_mhz=100, buffer_bytes=1 << 30)
    r = compare_step(cfg, wl, fast)
    assert (r["dense_cycles"], r["bdwp_cycles"]) == (2949, 789)
    assert not r["memory_bound_layers"]
    # 0.1 GB/s at 100 MHz = 1 byte per cycle; B fits on chip and is read once, as dense
    # data in both modes: 3552 + 2016 + 3108 = 8676 bytes = 8676 cycles > compute
    slow = MemoryModel(peak_gbs=0.1, efficiency=1.0, clock_mhz=100, buffer_bytes=1 << 30)
    r = compare_step(cfg, wl, slow)
    assert (r["dense_cycles"], r["bdwp_cycles"]) == (8676, 8676)
    assert r["memory_bound_layers"] == ["x"]
    # no buffer: B is read once per row block (10): dense 2016 + 9·2016 = 20160 bytes,
    # total 26820; BDWP reads dense B once, then 9 compressed re-reads: 2016 + 9·693 =
    # 8253, total 14913
    none = MemoryModel(peak_gbs=0.1, efficiency=1.0, clock_mhz=100, buffer_bytes=0)
    r = compare_step(cfg, wl, none)
    assert (r["dense_cycles"], r["bdwp_cycles"]) == (26820, 14913)


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
        ".sparseforge-output", "Makefile", "README.md", "blocks/sat_engine.v",
        "blocks/sat_engine_wgen.v",
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


SMALL = ("--set", "rows=2", "--set", "cols=2", "--set", "n=1", "--set", "m=4",
         "--set", "acc_bits=20")


@pytest.mark.slow
def test_synth_is_the_emitted_kernel_with_its_parts_apart(capsys):
    code, out, err = run(capsys, "synth", "sat", "--board", "zcu104", *SMALL, "--json")
    assert code == 0, err
    est = json.loads(out)
    assert est["top"] == "sat_kernel"  # the kernel generate emits, not the bare engine
    parts = est["parts"]
    assert set(parts) == {"shell", "engine", "weight_generator"}
    assert parts["engine"]["module"] == "sat_kernel.engine"
    assert parts["engine"]["dsp"] == 2 * 2 * 1  # one DSP48E2 per int8 multiplier
    assert parts["weight_generator"]["dsp"] == 0  # top-N: comparators, no multiplier
    for key in ("lut", "ff", "dsp", "bram36", "uram"):
        assert sum(p[key] for p in parts.values()) == est[key], key
    for name in ("shell", "engine", "weight_generator"):
        assert parts[name]["lut"] > 0 and parts[name]["ff"] > 0, name
    assert est["percent"]["dsp"] == pytest.approx(100 * est["dsp"] / 1728)
    assert "IBUF" not in est["cells"] and "OBUF" not in est["cells"]  # -noiopad


@pytest.mark.slow
def test_verify_cli_reports_and_passes(capsys, tmp_path):
    code, out, _ = run(capsys, "verify", "sat", *SMALL, "--out", str(tmp_path), "--json")
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
    # every simulated top linted: nothing left unwaived, Amaranth's classes counted
    lint = {x["top"]: x for x in rep["lint"]}
    assert list(lint) == ["sat_engine", "sat_engine_wgen", "sat_kernel"]
    assert all(x["passed"] and x["warnings"] == {} for x in lint.values())
    assert rep["lint_warnings"] == {}
    assert rep["lint_waived"]["WIDTHEXPAND"] > 0
    assert set(rep["lint_waived"]) <= {"WIDTHEXPAND", "WIDTHTRUNC", "CASEINCOMPLETE",
                                       "SYMRSVDWORD"}
    assert lint["sat_kernel"]["waived"].get("SYMRSVDWORD") == 1  # the `interrupt` port
    assert "%Warning-WIDTHEXPAND: sat_kernel.v:" in lint["sat_kernel"]["log"]
    assert rep["array"]["size"] == "config"


# --------------------------------------------------------------------------- one array size


@pytest.fixture
def small_board(tmp_path):
    """The ZCU104 with 20 DSP slices: --size board gives 4x2 with drain_rows 2 (the
    largest power-of-two rows >= cols with rows·cols·2 <= 0.8·20 = 16), cheap to emit."""
    from importlib import resources

    text = resources.files("sparseforge.boards").joinpath("zcu104.toml").read_text()
    path = tmp_path / "zcu104.toml"
    path.write_text(text.replace("dsp = 1728", "dsp = 20"))
    return str(path)


def test_perf_models_the_generated_configuration_and_leads_with_the_kernel(tmp_path, capsys):
    code, out, _ = run(capsys, "perf", "sat", "--board", "zcu104", "--workload", "resnet18")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("resnet18 (batch 16) on zcu104 at 100 MHz: 4x4 array, 2:8, "
                               "int8, 32 multipliers: the configuration as given")
    assert "--size board would give 32x16" in lines[0]
    assert lines[1].startswith("generated kernel (sat_kernel: ")
    assert lines[2].startswith("architecture bound (")
    code, out, _ = run(capsys, "perf", "sat", "--board", "zcu104", "--workload", "resnet18",
                       "--json")
    r = json.loads(out)
    assert r["config"] == SatConfig().to_dict()  # what generate emits with no --set
    assert r["kernel"]["bdwp_ms"] > r["architecture"]["bdwp_ms"]  # streamed, never faster
    assert r["array"] == {"rows": 4, "cols": 4, "size": "config", "why": r["array"]["why"]}


def test_every_verb_uses_the_same_array(tmp_path, capsys, small_board):
    """--size board sizes generate and perf alike; --size config (default) too."""
    for size, (rows, cols, drain) in (("board", (4, 2, 2)), ("config", (2, 2, 1))):
        sets = () if size == "board" else ("--set", "rows=2", "--set", "cols=2")
        out_dir = tmp_path / size
        code, out, err = run(capsys, "generate", "sat", "--board", small_board, "--size", size,
                             *sets, "--out", str(out_dir))
        assert code == 0, err
        assert out.startswith(f"{rows}x{cols} array, 2:8, int8, {rows * cols * 2} multipliers: ")
        emitted = json.loads((out_dir / "config.json").read_text())["config"]
        assert (emitted["rows"], emitted["cols"], emitted["drain_rows"]) == (rows, cols, drain)
        regmap = json.loads((out_dir / "regmap.json").read_text())["config"]
        assert (regmap["rows"], regmap["cols"]) == (rows, cols)
        code, out, _ = run(capsys, "perf", "sat", "--board", small_board, "--size", size,
                           *sets, "--workload", "resnet18", "--json")
        assert json.loads(out)["config"] == emitted


def test_size_rule_bad_input(capsys, small_board):
    code, _, err = run(capsys, "perf", "sat", "--board", small_board, "--size", "board",
                       "--set", "rows=4")
    assert code == 2 and "--size board sets rows and cols from the board, but rows is " \
        "given too" in err
    code, _, err = run(capsys, "verify", "sat", "--size", "board")
    assert code == 2 and "--size board sizes the array to a board: it needs --board" in err
    code, _, err = run(capsys, "generate", "sat", "--board", small_board, "--out", "x")
    assert code == 2 and "32 multipliers exceed the 20 DSP slices" in err
