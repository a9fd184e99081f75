"""BDWP step speedup of the SAT engine over dense, on the five training workloads.

Usage::

    python benchmarks/sat_speedup.py --board vcu1525 --nm 2:8 [--set rows=32 --set cols=32]
        [--out FILE.md]

Prints (and writes with --out) a Markdown table: per workload the dense and BDWP
step time, the speedup, the per-phase speedups and the memory-bound layer count,
and the mean speedup over the workloads.  The array defaults to the largest
power-of-two array that fits the board's DSPs (sparseforge.sim.sat.workload).
"""

from __future__ import annotations

import argparse
import time

from sparseforge.board_registry import get_board
from sparseforge.families.sat.config import SatConfig
from sparseforge.sim.sat.workload import MemoryModel, compare_step, default_config
from sparseforge.workloads import get_workload

WORKLOADS = ("resnet18", "resnet50", "vgg16", "vit_b16", "bert_base")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="vcu1525")
    parser.add_argument("--nm", default="2:8", help="N:M, e.g. 2:8")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    board = get_board(args.board)
    n, m = (int(x) for x in args.nm.split(":"))
    base = default_config(board, n, m)
    given = SatConfig.given_keys(args.sets)
    cfg = base.replace(**{k: v for k, v in SatConfig.from_cli(args.sets).to_dict().items()
                          if k in given} | {"n": n, "m": m})
    memory = MemoryModel.for_board(board)
    start = time.perf_counter()
    rows, speedups = [], []
    for name in WORKLOADS:
        r = compare_step(cfg, get_workload(name), memory)
        d, s = r["phase_cycles"]["dense"], r["phase_cycles"]["bdwp"]
        speedups.append(r["speedup"])
        rows.append(f"| {name} | {r['batch']} | {r['dense_ms']:.1f} | {r['bdwp_ms']:.1f} | "
                    f"**{r['speedup']:.3f}** | {d['FF'] / s['FF']:.2f} | {d['BP'] / s['BP']:.2f} | "
                    f"{d['WU'] / s['WU']:.2f} | {len(r['memory_bound_layers'])} |")
    elapsed = time.perf_counter() - start
    mean = sum(speedups) / len(speedups)
    text = "\n".join([
        f"SAT on {board.name}: {cfg.rows}x{cfg.cols} array, {n}:{m}, {cfg.multipliers} "
        f"multipliers (of {board.resources.dsp} DSPs), {memory.clock_mhz:g} MHz, "
        f"{memory.peak_gbs:g} GB/s peak at {memory.efficiency:.0%}; compute-bound limit "
        f"{3 / (2 * n / m + 1):.2f}x",
        "",
        "| workload | batch | dense ms | BDWP ms | step speedup | FF | BP | WU | "
        "memory-bound layers |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        f"| **mean** | | | | **{mean:.3f}** | | | | |",
        "",
        f"Model time for all five workloads: {elapsed * 1000:.0f} ms.",
    ])
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
