"""The SAT kernel cycle model against the RTL on sampled configurations.

Usage::

    python benchmarks/sat_kernel_model_sweep.py [--count 24] [--seed 0] [--max-array 8]
        [--size large] [--stalls] [--jobs 2] [--out table.md]

Draws ``--count`` configurations across SatConfig's validated space
(:func:`sparseforge.sim.sat.model_check.sample_configs`), builds each kernel with
Verilator, runs :func:`~sparseforge.sim.sat.model_check.model_runs` on the
cocotbext-axi RAM (results checked bit-exact by the bench) and prints one table row
per configuration: the kernel's ``CYCLES`` against ``list_cycles``, the worst
relative error over runs of 200 cycles or more and the worst absolute error over
shorter runs.  ``--stalls`` runs every list a second time under the bench's default
stall pattern (:class:`sparseforge.sim.lib.stalls.Stalls`, duty 0.25 on every AXI
channel) and adds the slow-down against the unstalled run and against the model
of a stalled port (``MemoryPort.stalled(0.25)``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


def _one(args):
    cfg_dict, seed, size, stalls = args
    from sparseforge.families.sat.config import SatConfig
    from sparseforge.sim.lib.stalls import Stalls
    from sparseforge.sim.sat.kernel_perf import MemoryPort
    from sparseforge.sim.sat.model_check import compare, model_runs
    from sparseforge.sim.sat.verify import run_kernel_runs, with_stalls

    cfg = SatConfig(**cfg_dict)
    runs = model_runs(cfg, seed=seed, size=size)
    pattern = Stalls() if stalls else None
    every = with_stalls(runs, pattern, seed)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = run_kernel_runs(cfg, Path(tmp), every, lint=False)
    out = {"config": cfg_dict, "seed": seed, "size": size,
           "rows": compare(cfg, runs, report), "seconds": time.perf_counter() - t0}
    if stalls:
        out["stalled"] = compare(cfg, every[len(runs):], report,
                                 MemoryPort.stalled(pattern.duty))
    return out


def main(argv=None) -> int:
    from sparseforge.sim.sat.model_check import config_id, sample_configs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-array", type=int, default=8)
    parser.add_argument("--size", choices=("small", "large"), default="large")
    parser.add_argument("--stalls", action="store_true")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    parser.add_argument("--out", type=Path, help="write the Markdown table here too")
    args = parser.parse_args(argv)
    cfgs = sample_configs(args.count, args.seed, args.max_array)
    work = [(c.to_dict(), args.seed * 1000 + i, args.size, args.stalls)
            for i, c in enumerate(cfgs)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(_one, work))
    head = ("| # | config | runs | cycles | worst rel. error (>= 200 cycles) "
            "| worst abs. error (< 200) |")
    if args.stalls:
        head += " stalled / unstalled | stalled / stalled model |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    worst_rel, worst_abs, stall_lo, stall_hi = 0.0, 0.0, [], []
    for i, res in enumerate(results):
        from sparseforge.families.sat.config import SatConfig

        cfg = SatConfig(**res["config"])
        rows = res["rows"]
        assert all(r["passed"] for r in rows), rows
        long_ = [r["error"] / r["model"] for r in rows if r["cycles"] >= 200]
        short = [r["error"] for r in rows if r["cycles"] < 200]
        rel = max(long_, key=abs, default=0.0)
        ab = max(short, key=abs, default=0.0)
        worst_rel = max(worst_rel, abs(rel))
        worst_abs = max(worst_abs, abs(ab))
        line = (f"| {i} | {config_id(cfg)} | {len(rows)} | "
                f"{min(r['cycles'] for r in rows)}–{max(r['cycles'] for r in rows)} | "
                f"{100 * rel:+.1f} % | {ab:+.1f} |")
        if args.stalls:
            st = res["stalled"]
            assert all(r["passed"] for r in st), st
            slow = [s["cycles"] / r["cycles"] for s, r in zip(st, rows)]
            vs = [s["cycles"] / s["model"] for s in st]
            stall_lo.append(min(slow))
            stall_hi.append(max(vs))
            line += f" {min(slow):.2f}–{max(slow):.2f} | {min(vs):.2f}–{max(vs):.2f} |"
        lines.append(line)
    lines.append("")
    lines.append(f"{len(results)} configurations, "
                 f"{sum(len(r['rows']) for r in results)} command lists, "
                 f"worst {100 * worst_rel:.1f} % (>= 200 cycles) and {worst_abs:.1f} cycles "
                 f"(< 200); wall {time.perf_counter() - t0:.0f} s.")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
