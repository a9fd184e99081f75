"""RTL simulation speed of the SAT engine: cocotb 2 + Verilator, cycles per second.

Usage::

    python benchmarks/sat_rtl_sim_speed.py [--set rows=4 --set cols=4] [--k 512]

Runs GEMMs of every mode through the emitted Verilog (bit-exact and cycle-exact
checks stay on) and reports simulated cycles per wall-clock second of the
driving loop (Verilator model + cocotb's Python driver, three awaits per cycle).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from sparseforge.families.sat.config import SatConfig
from sparseforge.sim.sat.verify import run_regression


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--k", type=int, default=1024, help="reduction length of each GEMM")
    args = parser.parse_args(argv)
    cfg = SatConfig.from_cli(args.sets)
    vectors = [{"id": f"{mode}-{i}", "mg": 4 * cfg.rows, "k": args.k, "ng": 4 * cfg.cols,
                "mode": mode, "kind": "random", "seed": i}
               for i, mode in enumerate(("ff", "bp", "wu"))]
    with tempfile.TemporaryDirectory() as tmp:
        report = run_regression(cfg, Path(tmp), vectors)
    assert report["failed"] == 0, report
    print(f"{cfg.rows}x{cfg.cols} {cfg.n}:{cfg.m} int{cfg.width}: "
          f"{report['sim_cycles']} cycles in {report['sim_seconds']:.2f} s = "
          f"{report['cycles_per_second']:.0f} cycles/s (Verilator via cocotb)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
