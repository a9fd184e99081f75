"""cocotb bench of the emitted sparse weight generator Verilog.

Streams dense weight matrices through the generator, row-wise and column-wise,
with and without back-pressure, and checks every compressed group against
:func:`sparseforge.nm.compress` (the golden selection rule).  Spec from the
JSON file named by ``SAT_WGEN_SPEC``: ``{"config", "cases": [{"rows", "cols",
"colwise", "stall", "seed"}], "report"}``; a case with ``stall`` runs under the
default :class:`~sparseforge.sim.lib.stalls.Stalls` pattern (random and bursty, seeded
by the case's ``seed``) on the input ``valid`` and the output ``ready``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from sparseforge import nm
from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.schedule import pack_dense_group, unpack_compressed_group
from sparseforge.sim.lib.cocotb_reset import start_clock_and_reset
from sparseforge.sim.lib.stalls import NO_STALLS, Stalls


def weights(cfg: SatConfig, case: dict) -> np.ndarray:
    """A dense W[rows, cols] with random values, ties, all-zero groups and extremes."""
    rng = np.random.default_rng(case["seed"])
    lo, hi = -(1 << (cfg.width - 1)), (1 << (cfg.width - 1)) - 1
    w = rng.integers(lo, hi + 1, (case["rows"], case["cols"]))
    w[rng.random(w.shape) < 0.3] = 0
    w[: cfg.m, : cfg.m // 2] = rng.integers(-2, 3, (cfg.m, cfg.m // 2))
    w[0, : cfg.m] = lo
    return w


def beats_and_expected(cfg: SatConfig, w: np.ndarray, colwise: bool):
    """Input beats (M values each) and the expected (values, indices) per output group."""
    m = cfg.m
    rows, cols = w.shape
    if not colwise:
        beats = [w[r, g * m:(g + 1) * m] for r in range(rows) for g in range(cols // m)]
        comp = nm.compress(w, cfg.n, m, axis=1)
        want = [(comp.values[r, g].tolist(), comp.indices[r, g].tolist())
                for r in range(rows) for g in range(cols // m)]
    else:
        beats = [w[rb * m + r, cb * m:(cb + 1) * m] for rb in range(rows // m)
                 for cb in range(cols // m) for r in range(m)]
        comp = nm.compress(w, cfg.n, m, axis=0)  # values[column, group]
        want = [(comp.values[cb * m + j, rb].tolist(), comp.indices[cb * m + j, rb].tolist())
                for rb in range(rows // m) for cb in range(cols // m) for j in range(m)]
    return beats, want


@cocotb.test()
async def weight_generator_matches_golden(dut):
    spec = json.loads(Path(os.environ["SAT_WGEN_SPEC"]).read_text())
    cfg = SatConfig(**spec["config"])
    await start_clock_and_reset(dut, ("inp__valid", "out__ready"))
    report = []
    for case in spec["cases"]:
        stalls = Stalls(seed=case["seed"]) if case["stall"] else NO_STALLS
        source, sink = stalls.pauses("wgen.inp"), stalls.pauses("wgen.out")
        beats, want = beats_and_expected(cfg, weights(cfg, case), case["colwise"])
        dut.colwise.value = int(case["colwise"])
        got, sent, cycles = [], 0, 0
        while len(got) < len(want):
            valid = sent < len(beats) and not next(source)
            ready = int(not next(sink))
            dut.inp__valid.value = int(valid)
            if valid:
                dut.inp__payload.value = pack_dense_group(cfg, beats[sent])
            dut.out__ready.value = ready
            await ReadOnly()
            if valid and int(dut.inp__ready.value):
                sent += 1
            if ready and int(dut.out__valid.value):
                got.append(unpack_compressed_group(cfg, int(dut.out__payload.value)))
            await RisingEdge(dut.clk)
            cycles += 1
        dut.inp__valid.value = 0
        dut.out__ready.value = 0
        for _ in range(2):
            await RisingEdge(dut.clk)
        groups = [(list(v), list(i)) for v, i in got]
        report.append({**case, "groups": len(want), "cycles": cycles,
                       "mismatches": sum(g != w for g, w in zip(groups, want))})
    Path(spec["report"]).write_text(json.dumps({"cases": report}, indent=1))
    bad = [c for c in report if c["mismatches"]]
    assert not bad, f"mismatching cases: {bad}"
