"""The GPU baseline script's CPU smoke mode (``benchmarks/pimgpt_gpu.py --quick``)."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pimgpt_gpu.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("pimgpt_gpu", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quick_mode_writes_the_report(bench, tmp_path):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert bench.main(["--quick", "--out", str(tmp_path / "r.json")]) == 0
    finally:
        torch.set_num_threads(n)
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["torch"] == torch.__version__ and r["device"]
    points = {(p["dtype"], p["context"], p["mode"]) for p in r["results"]}
    assert points == {(d, c, "eager") for d in ("fp32", "bf16") for c in (8, 32)}
    for p in r["results"]:
        assert p["ms_per_token"] > 0 and len(p["ms_per_token_runs"]) == 2
        assert p["tokens_per_s"] == pytest.approx(1e3 / p["ms_per_token"])
    assert r["models"]["tiny"]["n_params"] == 134_912


def test_contexts_and_step_bytes(bench):
    from sparseforge.sim.pimgpt.models import get_model

    g2, g3 = get_model("gpt2-small"), get_model("gpt3-xl")
    assert bench.contexts_for(g2, [128, 512, 1024]) == [128, 512, 1024]
    assert bench.contexts_for(g3, [128, 512, 1024]) == [128, 512, 1024, 2048]
    # gpt2-small in fp16 at context 1024: 124.4M params less wpe, plus one wpe row,
    # plus 2 * 12 * 1024 * 768 cached elements, 2 bytes each
    want = 2 * (124_439_808 - 1024 * 768 + 768 + 2 * 12 * 1024 * 768)
    assert bench.step_bytes(g2, 1024, 2) == want
