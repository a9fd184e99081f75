"""``sparseforge generate | verify | perf | synth | flow pimgpt``: inputs checked before any
work, figures against hand calculations, deterministic output, verification that fails
when it should."""

from __future__ import annotations

import argparse
import json
from math import ceil
from pathlib import Path

import pytest

from sparseforge.cli import main
from sparseforge.families.pimgpt.config import PimGptConfig
from sparseforge.sim.dram.device import load_device

#: gpt2-small's shape (d 768, 12 heads of 64) with one layer and a small vocabulary.
SMALL = ["--model", "gpt2-small", "--layers", "1", "--vocab", "256"]
PRESETS = Path(__file__).resolve().parents[2] / "sim" / "dram" / "presets"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def hand_mac_counts(d: int, n_head: int, layers: int, vocab: int, context: int,
                    channels: int, banks: int = 16, lanes: int = 16, row: int = 1024,
                    slots: int = 16) -> tuple[int, int]:
    """(MAC + MACL commands, MACL commands) of one token, from the shapes alone.

    Matrices: every channel MACs ceil(outputs / (channels x banks)) rows per span, each
    of ceil(span / lanes) columns, one latch per row.  K: a row holds min(row / dh,
    slots) heads' keys of one position; a channel holds every (channels x banks)-th
    position, one latch per head.  V: items (head, block of ``banks`` features) dealt to
    channels in chunks; per item one row per tile of ``row`` positions, one latch.
    """
    dh = d // n_head
    macs = latches = 0
    for n_out, n_in in [(3 * d, d), (d, d), (4 * d, d), (d, 4 * d)] * layers + [(vocab, d)]:
        u = ceil(n_out / (channels * banks))
        per_span = [min(row, n_in - k) for k in range(0, n_in, row)]
        macs += channels * u * sum(ceil(s / lanes) for s in per_span)
        latches += channels * u * len(per_span)
    heads_per_row = min(row // dh, slots)
    for _ in range(layers):
        for c in range(channels):
            active = 0 if context <= c else (context - 1 - c) // (channels * banks) + 1
            for h0 in range(0, n_head, heads_per_row):
                nh = min(heads_per_row, n_head - h0)
                macs += active * nh * dh // lanes
                latches += active * nh
        items = n_head * ceil(dh / banks)
        chunk = ceil(items / channels)
        tiles = [min(row, context - t) for t in range(0, context, row)]
        for c in range(channels):
            mine = max(0, min(items, (c + 1) * chunk) - c * chunk)
            macs += mine * sum(ceil(t / lanes) for t in tiles)
            latches += mine * len(tiles)
    return macs, latches


def test_hand_count_matches_a_profiled_first_token():
    """The hand count itself, on the numbers worked out in the docstring's terms: one
    gpt2-small layer, vocabulary 256, 8 channels, context 64."""
    # qkv 8*18*48, proj 8*6*48, fc 8*24*48, fc2 8*6*192, wte 8*2*48, K 8*48, V 8*6*4
    assert hand_mac_counts(768, 12, 1, 256, 64, 8)[0] == (6912 + 2304 + 9216 + 9216 + 768
                                                          + 384 + 192)


@pytest.mark.parametrize("context, channels", [(64, 8), (300, 6), (1024, 16)])
def test_perf_json_figures(capsys, context, channels):
    code, out, err = run(capsys, "perf", "pimgpt", *SMALL, "--context", str(context),
                         "--channels", str(channels), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["model"] == "gpt2-small-n_layer1-vocab256" and data["memory"] == "gddr6_aim"
    assert (data["context"], data["channels"]) == (context, channels)
    macs, latches = hand_mac_counts(768, 12, 1, 256, context, channels)
    assert data["commands"]["MAC"] + data["commands"]["MACL"] == macs
    assert data["commands"]["MACL"] == latches == data["commands"]["READRES"]
    tck = load_device("gddr6_aim").tck_ns
    assert data["ms_per_token"] == pytest.approx(data["cycles"] * tck / 1e6, abs=1e-6)
    assert data["tokens_per_s"] == pytest.approx(1e3 / data["ms_per_token"], rel=1e-4)
    assert sum(data["breakdown_cycles"].values()) == data["cycles"]
    assert sum(data["breakdown_share"].values()) == pytest.approx(1.0, abs=1e-5)
    assert 0 < data["row_hit_rate"] < 1 and data["wall_s"] > 0
    assert data["energy_uj"]["total"] == pytest.approx(
        sum(v for k, v in data["energy_uj"].items() if k != "total"), abs=0.01)
    assert data["config"]["context"] == context and "text" not in data


def test_perf_text_is_a_table(capsys):
    code, out, _ = run(capsys, "perf", "pimgpt", *SMALL, "--context", "32")
    assert code == 0
    for word in ("ms (", "tokens/s", "mac ", "act_pre", "%", "row-hit rate", "mJ",
                 "commands: ", "MACL"):
        assert word in out


def _no_pim_memory(tmp_path: Path) -> Path:
    """The gddr6 preset without its [pim] table (a plain GDDR6 device file)."""
    text = (PRESETS / "gddr6.toml").read_text()
    start = text.index("[pim]")
    end = text.find("\n[", start + 1)
    folder = tmp_path / "plain"
    folder.mkdir()
    path = folder / "gddr6.toml"
    path.write_text(text[:start] + (text[end + 1:] if end >= 0 else ""))
    return path


@pytest.mark.parametrize("verb", ["generate", "perf", "verify", "synth", "flow"])
@pytest.mark.parametrize("case", ["model", "memory", "no_pim", "context", "fit"])
def test_bad_input_exits_2_and_writes_nothing(capsys, tmp_path, verb, case):
    argv = {"model": (["--model", "gpt9"], ["model", "gpt9", "allowed", "gpt2-small"]),
            "memory": (["--memory", "ddr9"], ["ddr9", "presets", "gddr6_aim"]),
            "no_pim": (["--memory", str(_no_pim_memory(tmp_path)) if case == "no_pim"
                        else ""], ["memory = 'gddr6'", "[pim]", "allowed", "gddr6_aim"]),
            "context": (["--context", "2000"], ["context = 2000", "allowed", "1 to 1024"]),
            "fit": (["--channels", "2"], ["gpt2-xl", "rows per bank", "2 channels",
                                          "allowed"])}[case]
    out = tmp_path / "never"
    code, text, err = run(capsys, verb, "pimgpt", *argv[0], "--out", str(out))
    assert code == 2, (text, err)
    for word in argv[1]:
        assert word in err
    assert not out.exists()


def test_generate_is_deterministic_and_atomic(capsys, tmp_path):
    out = tmp_path / "rtl"
    code, _, err = run(capsys, "generate", "pimgpt", "--out", str(out))
    assert code == 0, err
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [".sparseforge-output", "README.md", "config.json", "rtl/pim_add.v",
                     "rtl/pim_exp.v", "rtl/pim_gelu.v", "rtl/pim_mac16.v", "rtl/pim_mul.v",
                     "rtl/pim_recip.v", "rtl/pim_rsqrt.v"]
    readme = (out / "README.md").read_text()
    assert "| `pim_mac16` | `rtl/pim_mac16.v` |" in readme and "| 6 | 1 |" in readme
    assert "| `pim_gelu` | `rtl/pim_gelu.v` | ASIC operator gelu (FP32) | 38 | 1 |" in readme
    assert "module pim_exp(" in (out / "rtl/pim_exp.v").read_text()
    config = json.loads((out / "config.json").read_text())
    assert config == {"design": "pimgpt", "memory": "gddr6_aim",
                      "config": PimGptConfig().to_dict()}
    first = {f: (out / f).read_bytes() for f in files}
    code, _, _ = run(capsys, "generate", "pimgpt", "--out", str(out))  # its own folder
    assert code == 0
    assert {f: (out / f).read_bytes() for f in files} == first  # byte-identical

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    code, _, err = run(capsys, "generate", "pimgpt", "--out", str(foreign))
    assert code == 2 and "not empty" in err and "--force" in err
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_help_lists_the_parameters_and_memory(capsys):
    code, out, _ = run(capsys, "verify", "pimgpt", "--help")
    assert code == 0
    for flag in ("--memory", "--model", "--context", "--channels", "--asic-mhz", "--layers",
                 "--vocab", "--steps", "--seed", "--sim"):
        assert flag in out


def test_verify_parts_on_a_tiny_model():
    """The functional and timing parts of verify on a model smaller than any published
    one (the CLI's smallest, one gpt2-small layer, is in the slow test)."""
    from sparseforge.families.pimgpt.family import functional_check, timing_check
    from sparseforge.sim.pimgpt.models import tiny

    device = load_device("gddr6_aim")
    model = tiny(n_layer=2, d_model=64, n_head=4, vocab=256, n_ctx=64)
    cfg = PimGptConfig(model="gpt2-small", context=40, channels=4, steps=3, seed=5)
    f = functional_check(cfg, device, model)
    assert f["passed"] and f["tokens"] == f["reference_tokens"] and len(f["tokens"]) == 3
    assert f["logits"] == 3 * 256 == f["logits_bit_equal"] and len(f["prompt"]) == 4
    t = timing_check(cfg, device, model)
    assert t["passed"] and t["violations"] == 0 and t["counts_equal"]
    assert t["cycles_logged"] == t["cycles_fast"] > 0 and t["commands"] > 1000


def test_verify_fails_on_a_wrong_simulator(capsys, monkeypatch):
    """A functional simulator whose logits are off by one ulp somewhere is caught."""
    import numpy as np

    from sparseforge.families.pimgpt import family
    from sparseforge.sim.pimgpt import functional
    from sparseforge.sim.pimgpt.models import tiny

    real = functional.FunctionalSystem.decode

    def off_by_one_ulp(self, prompt, steps):
        tokens, logits = real(self, prompt, steps)
        logits[-1] = logits[-1].copy()
        logits[-1][7] = np.nextafter(logits[-1][7], np.float32(np.inf))
        return tokens, logits

    monkeypatch.setattr(functional.FunctionalSystem, "decode", off_by_one_ulp)
    cfg = PimGptConfig(model="gpt2-small", context=8, channels=2, steps=2)
    f = family.functional_check(cfg, load_device("gddr6_aim"), tiny(n_ctx=64))
    assert not f["passed"] and f["logits_bit_equal"] == f["logits"] - 1


def test_synth_table(capsys, monkeypatch):
    """synth reports every unit's figures and their total (the synthesis itself, minutes
    of Yosys, is replaced here; tests/pim/test_pim_synth.py runs it)."""
    pytest.importorskip("amaranth")
    from sparseforge.hwgen.pim import emit

    seen = {}

    def fake(lanes, board=emit.DEFAULT_SYNTH_BOARD):
        seen["lanes"] = lanes
        return {u: {"unit": u, "top": f"pim_{u}", "lut": 100 * (i + 1), "ff": 10 * (i + 1),
                    "dsp": i, "seconds": 1.0} for i, u in enumerate(emit.unit_names(lanes))}

    monkeypatch.setattr(emit, "datapath_synth", fake)
    code, out, err = run(capsys, "synth", "pimgpt", "--memory", "hbm2", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert seen["lanes"] == load_device("hbm2").pim.lanes == 32
    assert set(data["units"]) == {"mac32", "exp", "recip", "rsqrt", "gelu", "add", "mul"}
    assert data["total"] == {"lut": 2800, "ff": 280, "dsp": 21}


@pytest.mark.slow
def test_verify_cli_with_rtl(capsys, tmp_path):
    code, out, err = run(capsys, "verify", "pimgpt", *SMALL, "--steps", "1", "--context",
                         "16", "--out", str(tmp_path / "build"), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["failed"] == 0 and data["notes"] == []
    assert data["functional"]["passed"] and data["functional"]["logits"] == 256
    assert data["timing"]["violations"] == 0
    units = data["rtl"]["units"]
    assert set(units) == {"add", "mul", "exp", "recip", "rsqrt", "gelu", "mac16"}
    assert all(u["passed"] and u["latencies"] == [u["latency_model"]] for u in units.values())
    assert (tmp_path / "build" / "rtl" / "pim_bench_top.v").is_file()


@pytest.mark.slow
def test_flow_writes_the_report_with_plots(capsys, tmp_path):
    out = tmp_path / "flow"
    code, text, err = run(capsys, "flow", "pimgpt", *SMALL, "--steps", "1", "--context",
                          "64", "--out", str(out))
    assert code == 0, (text, err)
    reports = {p.name for p in (out / "reports").iterdir()}
    assert {"latency_breakdown.png", "channel_scaling.png", "asic_clock.png", "index.md",
            "index.html", "flow.json"} <= reports
    md = (out / "reports" / "index.md").read_text()
    assert "bit-equal" in md and "ms per token" in md and "ASIC clock" in md
    assert ("gpu_speedup.png" in reports) == ("not plotted" not in md)
    assert (out / "project" / "rtl" / "pim_mac16.v").is_file()


def test_flow_args_keep_the_memory():
    """flow's steps get no target: each resolves the flow's --memory itself."""
    from sparseforge.families.pimgpt import family

    args = argparse.Namespace(memory="hbm2")
    assert family._memory(None, args).name == "hbm2"
    assert family._memory(None, argparse.Namespace()).name == "gddr6_aim"


def test_verify_model_shrinks_only_what_is_published():
    from sparseforge.families.pimgpt.family import verify_model

    m = verify_model(PimGptConfig())
    assert (m.n_layer, m.vocab, m.d_model, m.n_head) == (2, 2048, 1600, 25)
    m = verify_model(PimGptConfig(model="gpt3-xl", layers=3, vocab=512))
    assert (m.n_layer, m.vocab, m.d_model) == (3, 512, 2048)
