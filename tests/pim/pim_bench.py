"""cocotb bench of the PIM datapath units (run from ``test_pim_rtl.py``).

The spec (JSON, file named by ``PIM_BENCH_SPEC``) lists, per unit of the bench top
(``<unit>_i`` / ``<unit>_o`` stream ports): the input payloads, the golden outputs
(computed by the pytest side from ``sim/pim`` and ``sim/pimgpt``), how many inputs
run in the free phase, which inputs produce an output (``emits``; every input for the
ASIC units, the ``last`` columns for a MAC unit), the expected latency and a stall
pattern.  All units run side by side, one clock.

Free phase: valid every cycle, ready every cycle; the bench records the cycle each
input is accepted and each result leaves, so ``latency`` = result cycle - accept cycle
of the input it belongs to, and ``ii`` = the largest gap between accepts.  Then, once
the free phase has drained, the stalled phase: seeded random / bursty gaps on
``valid`` and back-pressure on ``ready`` (:class:`sparseforge.sim.lib.stalls.Stalls`).
The report lists mismatches (bit patterns) and the measured figures; the pytest side
asserts on it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.triggers import ReadOnly, RisingEdge

from sparseforge.sim.lib.cocotb_reset import start_clock_and_reset
from sparseforge.sim.lib.stalls import Stalls


class _Unit:
    def __init__(self, dut, name: str, spec: dict):
        self.name = name
        self.iv = getattr(dut, f"{name}_i__valid")
        self.ir = getattr(dut, f"{name}_i__ready")
        self.ip = getattr(dut, f"{name}_i__payload")
        self.ov = getattr(dut, f"{name}_o__valid")
        self.orr = getattr(dut, f"{name}_o__ready")
        self.op = getattr(dut, f"{name}_o__payload")
        self.inputs = [int(v, 16) for v in spec["inputs"]]
        self.expect = [int(v, 16) for v in spec["expect"]]
        self.emits = spec["emits"]  # input index of each output
        self.free = spec["free"]
        stalls = Stalls.of(spec["stalls"])
        self.src, self.sink = stalls.pauses(f"{name}.in"), stalls.pauses(f"{name}.out")
        self.sent = 0
        self.got: list[int] = []
        self.accept_cycle: list[int] = []
        self.out_cycle: list[int] = []
        self.stalled = False
        self.gaps = self.held = self.refused = 0  # stall events seen (stalled phase)
        self.offer = self.ready = 0

    @property
    def done(self) -> bool:
        return len(self.got) >= len(self.expect) and self.sent == len(self.inputs)

    def drive(self):
        if not self.stalled and self.sent == self.free:
            # the free phase is over: stall once its results have all left
            free_out = sum(1 for e in self.emits if e < self.free)
            self.stalled = len(self.got) >= free_out
        can = self.sent < len(self.inputs) and (self.sent < self.free or self.stalled)
        pause_in, pause_out = (next(self.src), next(self.sink)) if self.stalled \
            else (False, False)
        self.offer = int(can and not pause_in)
        self.gaps += int(can and pause_in)
        self.ready = int(not pause_out)
        self.iv.value = self.offer
        if self.offer:
            self.ip.value = self.inputs[self.sent]
        self.orr.value = self.ready

    def sample(self, cycle: int):
        if self.offer and int(self.ir.value):
            self.accept_cycle.append(cycle)
            self.sent += 1
        elif self.offer:
            self.refused += 1
        if self.ready and int(self.ov.value):
            self.got.append(int(self.op.value))
            self.out_cycle.append(cycle)
        elif int(self.ov.value):
            self.held += 1

    def report(self, extra_valid: int) -> dict:
        mism = [{"index": i, "input": hex(self.inputs[self.emits[i]]) if self.name[:3] != "mac"
                 else self.emits[i], "got": hex(g), "want": hex(w)}
                for i, (g, w) in enumerate(zip(self.got, self.expect)) if g != w]
        free_out = [i for i, e in enumerate(self.emits) if e < self.free]
        lat = sorted({self.out_cycle[i] - self.accept_cycle[self.emits[i]] for i in free_out})
        gaps = [b - a for a, b in zip(self.accept_cycle[:self.free - 1],
                                      self.accept_cycle[1:self.free])]
        return {"outputs": len(self.got), "expected": len(self.expect),
                "mismatches": len(mism), "first_mismatches": mism[:8],
                "latencies": lat, "ii": max(gaps) if gaps else None,
                "extra_valid_cycles": extra_valid, "valid_gaps": self.gaps,
                "results_held": self.held, "inputs_refused": self.refused,
                "cycles": (self.out_cycle[-1] - self.accept_cycle[0] + 1) if self.got else 0}


@cocotb.test()
async def pim_units(dut):
    """Every unit of the spec: bit-exact against golden, latency / II measured."""
    spec = json.loads(Path(os.environ["PIM_BENCH_SPEC"]).read_text())
    units = [_Unit(dut, name, s) for name, s in spec["units"].items()]
    idle = tuple(f"{u.name}_{p}" for u in units for p in ("i__valid", "o__ready"))
    await start_clock_and_reset(dut, idle)
    cycle, limit = 0, spec["max_cycles"]
    while not all(u.done for u in units) and cycle < limit:
        for u in units:
            u.drive()
        await ReadOnly()
        for u in units:
            u.sample(cycle)
        await RisingEdge(dut.clk)
        cycle += 1
    # no result may follow the last one expected
    extra = {u.name: 0 for u in units}
    for u in units:
        u.iv.value = 0
        u.orr.value = 1
    for _ in range(64):
        await ReadOnly()
        for u in units:
            extra[u.name] += int(u.ov.value)
        await RisingEdge(dut.clk)
    Path(spec["report"]).write_text(json.dumps(
        {"cycles": cycle, "units": {u.name: u.report(extra[u.name]) for u in units}}, indent=1))
