"""GPU baseline of PIM-GPT: batch-1 greedy GPT decoding latency on one GPU.

For each model of :mod:`sparseforge.sim.pimgpt.models` (GPT-2 small .. XL, GPT-3 Small
.. XL) at its real shape, random weights (GPT-2's initialisation, drawn on the GPU) in
fp16 and in bf16, the plain KV-cache decoder of :mod:`sparseforge.sim.pimgpt.torch_ref`
(the same code as the float32 accuracy baseline: ``F.linear``, ``F.layer_norm``, tanh
GELU, matmul + float32 softmax attention) decodes greedily, batch 1, and the time per
token is measured with CUDA events after warm-up, at context lengths 128, 512, 1024
(and 2048 for the GPT-3 models, whose ``n_ctx`` is 2048).

What one timed token is: the decoder step of one token at position ``C - 1`` (so its
attention reads exactly ``C`` cached positions, the first ``C - 1`` filled with random
keys and values), then the argmax of its logits written on the GPU into the next
step's input token (a real greedy dependency chain, no host synchronisation).  Every
timed step re-decodes at position ``C - 1``, overwriting that cache slot, so that all
of them see the same context length.

Two modes per point: ``eager`` (PyTorch launches every kernel from Python: at batch 1
this is bound by launch overhead for the small models) and ``cuda_graph`` (the step
captured once into a CUDA graph and replayed: the GPU's own speed).  ``torch.compile``
is not used (its compile time for 16 model/dtype pairs would dominate the budget).
The graph's logits are checked against the eager step's on the same input.

Output: a JSON file with the device, the torch and CUDA versions, and per
(model, dtype, context, mode) the median and minimum ms/token over ``--repeats`` timed
runs of ``--tokens`` tokens, tokens/s, and the bytes one step must read (weights + the
K/V cache) with the bandwidth that implies.

Usage::

    python benchmarks/pimgpt_gpu.py --out pimgpt_gpu.json     # on a CUDA machine, ~1-3 min
    python benchmarks/pimgpt_gpu.py --quick                   # CPU smoke test, seconds

The script needs only ``torch`` (it imports the repository's modules from the source
tree when sparseforge is not installed).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _import_sparseforge():
    """``models`` and ``torch_ref``, installed or from this source tree (whose layout
    maps ``sparseforge.sim`` to ``<root>/sim``)."""
    try:
        from sparseforge.sim.pimgpt import models, torch_ref
    except ImportError:
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        import sparseforge

        if str(ROOT) not in sparseforge.__path__:
            sparseforge.__path__.append(str(ROOT))
        from sparseforge.sim.pimgpt import models, torch_ref
    return models, torch_ref


models, torch_ref = _import_sparseforge()
TorchGpt = torch_ref.TorchGpt

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def contexts_for(config, requested: list[int]) -> list[int]:
    """The requested context lengths the model supports, plus ``n_ctx`` itself when it
    is above all of them (2048 for GPT-3)."""
    ctx = [c for c in requested if c <= config.n_ctx]
    if config.n_ctx > max(requested):
        ctx.append(config.n_ctx)
    return ctx


def step_bytes(config, context: int, elem: int) -> int:
    """Bytes one decoding step reads at least: every weight once (the tied embedding
    once, plus the token's and position's embedding rows) and ``context`` positions of
    K and V in every layer."""
    weights = config.n_params() - config.n_ctx * config.d_model
    return elem * (weights + config.d_model + config.kv_cache_elements(context))


class Stepper:
    """One greedy decoding step at a fixed position, eager or replayed from a graph."""

    def __init__(self, model: TorchGpt, pos: int) -> None:
        self.model, self.pos = model, pos
        self.token = torch.zeros(1, dtype=torch.long, device=model.device)
        self.logits = None
        self.graph = None

    def eager(self) -> None:
        self.logits = self.model.step(self.token, self.pos)
        self.token.copy_(torch.argmax(self.logits).reshape(1))

    def capture(self, warmup: int) -> None:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(warmup):  # the docs' recipe: warm up on a side stream
                self.eager()
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.eager()

    def replay(self) -> None:
        self.graph.replay()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(fn, n: int, device: torch.device) -> float:
    """Milliseconds per call of ``fn`` over ``n`` calls: CUDA events on a GPU, the
    wall clock otherwise."""
    if device.type == "cuda":
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(n):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / n
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) * 1e3 / n


def measure(fn, args, device) -> dict:
    for _ in range(args.warmup):
        fn()
    sync(device)
    runs = [time_steps(fn, args.tokens, device) for _ in range(args.repeats)]
    med = statistics.median(runs)
    return {"ms_per_token": med, "ms_per_token_min": min(runs),
            "ms_per_token_runs": runs, "tokens_per_s": 1e3 / med}


@torch.no_grad()
def bench_model(config, dtype_name: str, args, device, log) -> list[dict]:
    dtype = DTYPES[dtype_name]
    ctxs = contexts_for(config, args.contexts)
    model = TorchGpt.random(config, device=device, dtype=dtype, seed=0,
                            max_positions=max(ctxs))
    gen = torch.Generator(device=device).manual_seed(1)
    for cache in (model.k_cache, model.v_cache):  # a filled context of unit-scale values
        cache.copy_(torch.empty(cache.shape, device=device).normal_(generator=gen))
    elem = torch.finfo(dtype).bits // 8
    out = []
    for ctx in ctxs:
        pos = ctx - 1
        stepper = Stepper(model, pos)
        row = {"model": config.name, "dtype": dtype_name, "context": ctx,
               "step_bytes": step_bytes(config, ctx, elem)}
        res = measure(stepper.eager, args, device)
        out.append({**row, "mode": "eager", **res})
        log(out[-1])
        if device.type == "cuda" and not args.no_graphs:
            try:
                stepper.token.fill_(7)
                stepper.eager()
                want = stepper.logits.float().clone()
                stepper.capture(args.warmup)
                stepper.token.fill_(7)
                stepper.replay()
                sync(device)
                diff = (stepper.logits.float() - want).abs().max().item()
                res = measure(stepper.replay, args, device)
                out.append({**row, "mode": "cuda_graph", "graph_vs_eager_max_abs": diff,
                            **res})
                log(out[-1])
            except Exception as e:  # report, do not lose the rest of the run
                out.append({**row, "mode": "cuda_graph", "error": f"{type(e).__name__}: {e}"})
                log(out[-1])
            finally:
                stepper.graph = None
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="CPU smoke test: one tiny model, fp32 and bf16, eager, seconds")
    ap.add_argument("--device", default=None, help="default: cuda (cpu with --quick)")
    ap.add_argument("--models", nargs="*", default=None,
                    help=f"default: all of {', '.join(models.model_names())}")
    ap.add_argument("--dtypes", nargs="*", default=None, choices=sorted(DTYPES),
                    help="default: fp16 bf16")
    ap.add_argument("--contexts", nargs="*", type=int, default=[128, 512, 1024])
    ap.add_argument("--tokens", type=int, default=50, help="timed tokens per run")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per point")
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    ap.add_argument("--no-graphs", action="store_true", help="eager mode only")
    ap.add_argument("--budget-s", type=float, default=330.0,
                    help="stop starting new models after this many seconds")
    ap.add_argument("--out", default="pimgpt_gpu.json", help="the JSON written")
    args = ap.parse_args(argv)

    if args.quick:
        configs = [models.tiny(n_layer=2, d_model=64, n_head=4, vocab=512, n_ctx=32,
                               name="tiny")]
        args.contexts = [8, 32]
        args.tokens, args.repeats, args.warmup = 4, 2, 2
        dtypes = args.dtypes or ["fp32", "bf16"]
        device = torch.device(args.device or "cpu")
    else:
        configs = [models.get_model(n) for n in (args.models or models.model_names())]
        dtypes = args.dtypes or ["fp16", "bf16"]
        device = torch.device(args.device or "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("pimgpt_gpu: no CUDA device (use --quick for the CPU smoke test)",
              file=sys.stderr)
        return 2

    def log(r):
        if "error" in r:
            print(f"{r['model']:12s} {r['dtype']:5s} ctx {r['context']:5d} {r['mode']:10s} "
                  f"ERROR {r['error']}", flush=True)
            return
        gbps = r["step_bytes"] / (r["ms_per_token"] * 1e-3) / 1e9
        print(f"{r['model']:12s} {r['dtype']:5s} ctx {r['context']:5d} {r['mode']:10s} "
              f"{r['ms_per_token']:8.3f} ms/token {r['tokens_per_s']:9.1f} tok/s "
              f"{gbps:8.1f} GB/s", flush=True)

    t0 = time.perf_counter()
    results, skipped = [], []
    for config in configs:
        for dt in dtypes:
            if time.perf_counter() - t0 > args.budget_s:
                skipped.append(f"{config.name}/{dt}")
                continue
            results.extend(bench_model(config, dt, args, device, log))
    for r in results:
        if "ms_per_token" in r:
            r["implied_GBps"] = r["step_bytes"] / (r["ms_per_token"] * 1e-3) / 1e9
    report = {
        "benchmark": "pimgpt_gpu",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": (torch.cuda.get_device_name(device) if device.type == "cuda"
                   else platform.processor() or platform.machine()),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "settings": {"batch": 1, "tokens": args.tokens, "repeats": args.repeats,
                     "warmup": args.warmup, "quick": args.quick,
                     "contexts": args.contexts, "timer": "cuda events"
                     if device.type == "cuda" else "perf_counter",
                     "compile": "none", "graphs": device.type == "cuda"
                     and not args.no_graphs},
        "models": {c.name: {"n_layer": c.n_layer, "d_model": c.d_model,
                            "n_head": c.n_head, "vocab": c.vocab, "n_ctx": c.n_ctx,
                            "n_params": c.n_params()} for c in configs},
        "results": results,
        "skipped_over_budget": skipped,
        "wall_s": time.perf_counter() - t0,
    }
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out} ({len(results)} points, {report['wall_s']:.1f} s"
          + (f", skipped {skipped}" if skipped else "") + ")")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
