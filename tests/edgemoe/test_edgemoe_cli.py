"""``sparseforge generate | verify | perf edgemoe``: inputs checked before anything is
written, deterministic output, JSON figures."""

import json

import pytest

from sparseforge.cli import main

SMALL = ["--set", "image_h=32", "--set", "image_w=64", "--set", "dim=48", "--set", "layers=2",
         "--set", "experts=4", "--set", "expert_hidden=32", "--set", "mlp_hidden=64"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_perf_reports_latency_and_resources(capsys):
    code, out, _ = run(capsys, "perf", "edgemoe", "--board", "zcu102", "--lanes", "8", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["board"] == "zcu102" and data["config"]["lanes"] == 8
    assert data["ms"] == pytest.approx(data["cycles"] / 300e3)
    assert set(data["kernels"]) >= {"attn_qk", "attn_av", "lin_qkv", "lin_exp1", "layernorm"}
    assert data["dsp"] <= 2520


def test_generate_writes_sources_once_checked(capsys, tmp_path):
    out = tmp_path / "em"
    code, text, _ = run(capsys, "generate", "edgemoe", "--board", "zcu104", "--kv-storage",
                        "uram", "--out", str(out))
    assert code == 0, text
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert "src/edgemoe_kernels.h" in files and "tb/edgemoe_tb.cpp" in files
    assert "tb/hls_stream.h" in files and "config.json" in files
    first = {f: (out / f).read_bytes() for f in files}
    code, _, _ = run(capsys, "generate", "edgemoe", "--board", "zcu104", "--kv-storage", "uram",
                     "--out", str(out))
    assert code == 0
    assert {f: (out / f).read_bytes() for f in files} == first  # byte-identical


@pytest.mark.parametrize("argv, words", [
    (["--board", "u280"], ["board = 'u280'", "zcu102"]),
    (["--board", "kv260"], ["BRAM36", "kv260"]),
    (["--board", "zcu102", "--dim", "190"], ["dim = 190"]),
    (["--board", "zcu102", "--name", "void"], ["name", "void"]),
])
def test_bad_input_writes_nothing(capsys, tmp_path, argv, words):
    out = tmp_path / "never"
    code, _, err = run(capsys, "generate", "edgemoe", *argv, "--out", str(out))
    assert code == 2
    for word in words:
        assert word in err
    assert not out.exists()


def test_help_lists_the_parameters(capsys):
    code, out, _ = run(capsys, "perf", "edgemoe", "--help")
    assert code == 0
    for flag in ("--lanes", "--tile-in", "--moe-layers", "--act-format", "--gelu-step-log2"):
        assert flag in out


@pytest.mark.slow
def test_verify_passes_on_a_small_model(capsys):
    code, out, _ = run(capsys, "verify", "edgemoe", *SMALL, "--json")
    data = json.loads(out)
    assert code == 0 and data["failed"] == 0
    assert [c["check"].split(" (")[0] for c in data["checks"]] == [
        "GELU", "exp", "forward, task 0", "trip counts, task 0", "forward, task 1",
        "trip counts, task 1"]


@pytest.mark.slow
def test_flow_writes_the_report_with_plots(capsys, tmp_path):
    out = tmp_path / "flow"
    code, text, err = run(capsys, "flow", "edgemoe", "--board", "zcu102", "--out", str(out),
                          *SMALL)
    assert code == 0, err
    assert "C-sim 6/6 checks bit-exact" in text
    reports = {p.name for p in (out / "reports").iterdir()}
    assert {"latency_per_stage.png", "resources.png", "approximation_error.png",
            "index.md", "index.html", "flow.json"} <= reports
    md = (out / "reports" / "index.md").read_text()
    assert "bit-exact" in md and "ms per image" in md and "max abs error" in md
    assert (out / "project" / "src" / "edgemoe_top.cpp").is_file()
