"""Evaluation time of the SAT performance models on the training workloads.

Usage::

    python benchmarks/sat_perf_model_speed.py [--board vcu1525] [--repeat 5] [--max-ms 1000]

Times one call of the architecture model (``compare_step``: every GEMM of a step,
dense and BDWP) and of the generated kernel's model (``kernel_step``, on boards with
a project) per workload, on the board-sized array, best of ``--repeat`` runs.  The
models are closed form per GEMM: a ResNet-50 step takes milliseconds.  Exit status 1
when one call takes longer than ``--max-ms`` (the check that used to be a wall-clock
assert in the test suite, where a loaded machine made it flaky).
"""

from __future__ import annotations

import argparse
import time

from sparseforge.board_registry import get_board
from sparseforge.errors import ConfigError
from sparseforge.hwgen.project import project_kind
from sparseforge.sim.sat.kernel_workload import kernel_step
from sparseforge.sim.sat.workload import MemoryModel, compare_step, default_config
from sparseforge.workloads import get_workload, workload_names


def _best_ms(call, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="vcu1525")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max-ms", type=float, default=1000.0,
                        help="fail when one model call takes longer (default 1000 ms)")
    args = parser.parse_args(argv)
    board = get_board(args.board)
    cfg, memory = default_config(board), MemoryModel.for_board(board)
    try:
        project_kind(board)
        has_kernel = True
    except ConfigError:
        has_kernel = False
    print(f"{board.name}, {cfg.rows}x{cfg.cols} {cfg.n}:{cfg.m}, best of {args.repeat}")
    print("| workload | GEMMs | architecture model ms | kernel model ms |")
    print("|---|---|---|---|")
    slowest = 0.0
    for name in workload_names():
        wl = get_workload(name)
        arch = _best_ms(lambda wl=wl: compare_step(cfg, wl, memory), args.repeat)
        kern = _best_ms(lambda wl=wl: kernel_step(cfg, wl, board), args.repeat) \
            if has_kernel else None
        slowest = max(slowest, arch, kern or 0.0)
        print(f"| {name} | {len(wl.gemms())} | {arch:.1f} | "
              f"{'-' if kern is None else f'{kern:.1f}'} |")
    print(f"slowest call {slowest:.1f} ms (budget {args.max_ms:g} ms)")
    return 0 if slowest <= args.max_ms else 1


if __name__ == "__main__":
    raise SystemExit(main())
