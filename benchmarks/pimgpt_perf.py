"""PIM-GPT, timed: the 8 models, the paper's trends, and the GPU comparison.

Runs the timed simulator (:func:`sparseforge.sim.pimgpt.perf.token_latency`) on

1. the 8 models (GPT-2 small .. XL, GPT-3 Small .. XL) at contexts 128, 512, 1024 (and
   2048 for GPT-3): ms/token, the latency breakdown, row-hit rate, non-GEMV (ASIC)
   share, energy per token, and the simulator's wall time per timed token;
2. the ASIC clock sweep 1000 / 500 / 250 / 100 MHz and an ASIC lanes sweep;
3. latency against the number of channels;
4. the speedup over the GPU measured by ``benchmarks/pimgpt_gpu.py`` (the JSON in
   ``docs/data/pimgpt_gpu.json``), beside the paper's own figures (labelled as such).

Usage::

    python benchmarks/pimgpt_perf.py [--memory gddr6_aim] [--out pimgpt_perf.json]

Prints Markdown tables (the ones in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sparseforge.errors import ConfigError
from sparseforge.sim.dram.device import load_device
from sparseforge.sim.pimgpt.models import get_model, model_names
from sparseforge.sim.pimgpt.perf import token_latency

ROOT = Path(__file__).resolve().parents[1]

#: The paper's figures (arXiv 2310.09385, /work/shared/PAPERS.md section 4), labelled
#: as the paper's wherever they are printed.
PAPER = {"speedup_vs_t4": "41-137x", "speedup_vs_xeon_6154": "631-1074x",
         "non_gemv_share": "~1 %", "asic_1ghz_to_100mhz": "<= 20 %",
         "row_hits": "~98 %", "channel_scaling": "near-linear"}


def _row(d: dict, wall: float) -> dict:
    share = d["breakdown_share"]
    return {"model": d["model"], "context": d["context"], "channels": d["channels"],
            "asic_mhz": d["asic_mhz"], "ms": d["ms_per_token"],
            "tokens_per_s": d["tokens_per_s"], "mac": share["mac"],
            "act_pre": share["act_pre"], "refresh": share["refresh"],
            "transfer": share["transfer"], "asic": share["asic"],
            "row_hit_rate": d["row_hit_rate"], "energy_uj": d["energy_uj"]["total"],
            "wall_s": round(wall, 3)}


def run(model: str, memory, context: int, **kw) -> dict:
    t0 = time.perf_counter()
    d = token_latency(get_model(model), memory, context, **kw).to_dict()
    return _row(d, time.perf_counter() - t0)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def gpu_table(gpu_json: Path) -> dict:
    """(model, context) -> {mode/dtype: ms/token} from the GPU benchmark's JSON."""
    data = json.loads(gpu_json.read_text())
    out: dict = {"device": data["device"], "torch": data["torch"], "points": {}}
    for r in data["results"]:
        key = (r["model"], r["context"])
        out["points"].setdefault(key, {})[f"{r['dtype']} {r['mode']}"] = r["ms_per_token"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--memory", default="gddr6_aim")
    ap.add_argument("--gpu-json", default=str(ROOT / "docs" / "data" / "pimgpt_gpu.json"))
    ap.add_argument("--out", default="pimgpt_perf.json")
    args = ap.parse_args()
    memory = load_device(args.memory)
    results: dict = {"memory": memory.name, "paper": PAPER}

    print(f"## PIM-GPT on {memory.name}, 8 channels, ASIC 1 GHz (defaults)\n")
    print("| model | context | ms/token | tokens/s | MAC | act/pre | refresh | transfer | "
          "ASIC (non-GEMV) | row hits | energy µJ/token | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    models = []
    for name in model_names():
        cfg = get_model(name)
        for ctx in (128, 512, 1024, 2048):
            if ctx > cfg.n_ctx:
                continue
            r = run(name, memory, ctx)
            models.append(r)
            print(f"| {name} | {ctx} | {r['ms']:.3f} | {r['tokens_per_s']:.0f} | "
                  f"{_pct(r['mac'])} | {_pct(r['act_pre'])} | {_pct(r['refresh'])} | "
                  f"{_pct(r['transfer'])} | {_pct(r['asic'])} | {_pct(r['row_hit_rate'])} | "
                  f"{r['energy_uj']:.0f} | {r['wall_s']:.2f} |")
    results["models"] = models

    print("\n## ASIC clock sweep (context 1024)\n")
    print("| model | 1000 MHz ms | 500 MHz | 250 MHz | 100 MHz | 100 MHz vs 1 GHz |")
    print("|---|---|---|---|---|---|")
    sweep = []
    for name in ("gpt2-small", "gpt2-xl", "gpt3-xl"):
        pts = {mhz: run(name, memory, 1024, asic_mhz=mhz) for mhz in (1000, 500, 250, 100)}
        sweep.append({"model": name, "points": pts})
        base = pts[1000]["ms"]
        print(f"| {name} | {base:.3f} | {pts[500]['ms']:.3f} | {pts[250]['ms']:.3f} | "
              f"{pts[100]['ms']:.3f} | +{100 * (pts[100]['ms'] / base - 1):.1f} % |")
    results["asic_clock"] = sweep

    print("\n## ASIC lanes (gpt2-xl, context 1024)\n")
    print("| lanes | ms/token (1 GHz) | non-GEMV share | ms/token (100 MHz) | 100 MHz vs 1 GHz |")
    print("|---|---|---|---|---|")
    lanes = []
    for a in (16, 64, 256):
        fast = run("gpt2-xl", memory, 1024, asic_lanes=a)
        slow = run("gpt2-xl", memory, 1024, asic_lanes=a, asic_mhz=100)
        lanes.append({"lanes": a, "1000": fast, "100": slow})
        print(f"| {a} | {fast['ms']:.3f} | {_pct(fast['asic'])} | {slow['ms']:.3f} | "
              f"+{100 * (slow['ms'] / fast['ms'] - 1):.1f} % |")
    results["asic_lanes"] = lanes

    print("\n## Channels (context 1024)\n")
    print("| model | channels | ms/token | speedup vs the fewest channels | ideal |")
    print("|---|---|---|---|---|")
    scaling = []
    for name in ("gpt2-small", "gpt2-medium"):
        base = None
        for ch in (2, 4, 8, 16, 32):
            try:
                r = run(name, memory, 1024, channels=ch)
            except ConfigError as exc:
                print(f"| {name} | {ch} | does not fit | | | <!-- {exc} -->")
                continue
            if base is None:
                base = r
            scaling.append(r)
            print(f"| {name} | {ch} | {r['ms']:.3f} | {base['ms'] / r['ms']:.2f}x | "
                  f"{ch / base['channels']:.0f}x |")
    results["channels"] = scaling

    gpu_path = Path(args.gpu_json)
    if gpu_path.exists():
        gpu = gpu_table(gpu_path)
        print(f"\n## PIM-GPT vs the GPU (measured: {gpu['device']}, torch {gpu['torch']}, "
              "batch 1)\n")
        print("| model | context | PIM-GPT ms/token | GPU ms/token (bf16, CUDA graph) | "
              "speedup | GPU ms/token (bf16, eager) | speedup | paper (vs T4, the "
              "paper's) |")
        print("|---|---|---|---|---|---|---|---|")
        rows = []
        for r in models:
            if r["context"] != 1024:
                continue
            g = gpu["points"].get((r["model"], 1024), {})
            graph, eager = g.get("bf16 cuda_graph"), g.get("bf16 eager")
            if graph is None:
                continue
            rows.append({"model": r["model"], "pim_ms": r["ms"], "gpu_graph_ms": graph,
                         "gpu_eager_ms": eager, "speedup_graph": graph / r["ms"],
                         "speedup_eager": eager / r["ms"]})
            print(f"| {r['model']} | 1024 | {r['ms']:.3f} | {graph:.3f} | "
                  f"{graph / r['ms']:.2f}x | {eager:.3f} | {eager / r['ms']:.2f}x | "
                  f"{PAPER['speedup_vs_t4']} |")
        results["gpu"] = rows
    Path(args.out).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
