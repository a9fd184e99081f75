"""cocotb bench of the emitted SAT engine Verilog (run through :mod:`sat_verify`).

driver (cmd + data streams, packed by :mod:`sparseforge.families.sat.schedule`) → DUT →
monitor (result stream) → scoreboard against the golden GEMMs
(:func:`sparseforge.sim.sat.vectors.reference`) and the cycle model
(:func:`sparseforge.sim.sat.engine_perf.gemm_cycles`).

The spec comes from the JSON file named by ``SAT_BENCH_SPEC``:
``{"config": {...}, "vectors": [...], "report": path}``; the report JSON lists
every vector with ``passed``, ``mismatches``, ``cycles`` and ``model_cycles``.

A vector with ``"stalls"`` (a :class:`~sparseforge.sim.lib.stalls.Stalls` dict) runs
under back-pressure: seeded pauses drop ``cmd`` / ``data`` ``valid`` (the source
runs dry, as the kernel's operand FIFOs do) and ``result`` ``ready`` (the sink is
busy, as the kernel's writer is).  It passes when bit-exact and no faster than the
model (stalls only slow the engine down); a vector without stalls must take
exactly the model's cycles.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.schedule import (
    assemble_result,
    pack_cmd,
    pack_data_beats,
    plan_gemm,
    unpack_result_beat,
)
from sparseforge.sim.lib.cocotb_reset import start_clock_and_reset
from sparseforge.sim.lib.stalls import NO_STALLS, Stalls
from sparseforge.sim.sat.engine_perf import gemm_cycles
from sparseforge.sim.sat.vectors import make_operands, reference


async def run_gemm(dut, cfg: SatConfig, a: np.ndarray, b: np.ndarray, sparse: bool,
                   stalls: Stalls = NO_STALLS):
    """Drive one GEMM; with :data:`~sparseforge.sim.lib.stalls.NO_STALLS` (the default)
    data is always valid and the sink always ready.

    Returns ``(C, cycles)``: the assembled result and the cycles from the first
    ``cmd`` handshake to the last ``result`` handshake, both included.
    """
    plan = plan_gemm(cfg, a, b, sparse)
    tiles = [(pack_cmd(cfg, sparse, t.steps), pack_data_beats(cfg, t)) for t in plan.tiles]
    need = len(tiles) * cfg.rows
    rows: list[list[int]] = []
    tile_i, beat_i = 0, None  # beat_i None: the tile's command is next
    cycle, first, last = 0, None, None
    source, sink = stalls.pauses("engine.source"), stalls.pauses("engine.result")
    while len(rows) < need:
        cmd_valid = data_valid = 0
        ready = int(not next(sink))
        dut.result__ready.value = ready
        if tile_i < len(tiles) and not next(source):
            if beat_i is None:
                cmd_valid = 1
                dut.cmd__payload.value = tiles[tile_i][0]
            else:
                data_valid = 1
                dut.data__payload.value = tiles[tile_i][1][beat_i]
        dut.cmd__valid.value = cmd_valid
        dut.data__valid.value = data_valid
        await ReadOnly()
        cmd_fire = cmd_valid and int(dut.cmd__ready.value)
        data_fire = data_valid and int(dut.data__ready.value)
        if ready and int(dut.result__valid.value):
            rows.extend(unpack_result_beat(cfg, int(dut.result__payload.value)))
            last = cycle
        await RisingEdge(dut.clk)
        if cmd_fire:
            first = cycle if first is None else first
            beat_i = 0
        elif data_fire:
            beat_i += 1
            if beat_i == len(tiles[tile_i][1]):
                tile_i, beat_i = tile_i + 1, None
        cycle += 1
    dut.cmd__valid.value = 0
    dut.data__valid.value = 0
    results = [np.array(rows[i * cfg.rows:(i + 1) * cfg.rows]) for i in range(len(tiles))]
    return assemble_result(plan, results), last - first + 1


@cocotb.test()
async def sat_regression(dut):
    """Every vector of the spec: bit-exact with golden, cycles equal to the model."""
    spec = json.loads(Path(os.environ["SAT_BENCH_SPEC"]).read_text())
    cfg = SatConfig(**spec["config"])
    await start_clock_and_reset(dut, ("cmd__valid", "data__valid", "result__ready"))
    report, total_cycles = [], 0
    start = time.perf_counter()
    for vec in spec["vectors"]:
        a, b, sparse = make_operands(cfg, vec)
        stalls = Stalls.of(vec.get("stalls"))
        got, cycles = await run_gemm(dut, cfg, a, b, sparse, stalls)
        want = reference(cfg, vec)
        model = gemm_cycles(cfg, vec["mg"], vec["k"], vec["ng"], sparse)
        mismatches = int(np.count_nonzero(got != want))
        timed = cycles >= model if stalls.active else cycles == model
        report.append({**vec, "passed": mismatches == 0 and timed,
                       "mismatches": mismatches, "cycles": int(cycles),
                       "model_cycles": int(model)})
        total_cycles += cycles
    wall = time.perf_counter() - start
    Path(spec["report"]).write_text(json.dumps(
        {"vectors": report, "sim_cycles": total_cycles, "sim_seconds": wall,
         "cycles_per_second": total_cycles / wall if wall else 0.0}, indent=1))
    failed = [r["id"] for r in report if not r["passed"]]
    assert not failed, f"failed vectors: {failed}"
