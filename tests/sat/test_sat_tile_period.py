"""The engine's tile period is a property of its data path, not of its throttle.

``SatConfig.tile_period`` is read twice: by the engine's tile throttle (which holds
a tile's last beat back until the spacing is legal) and by the cycle model.  A test
that the engine meets the model would pass for any formula the throttle follows.
Here the throttle is switched off (a config whose ``tile_period`` admits every
spacing: the engine then never holds a tile back) and tiles are driven at a fixed
spacing ``d`` (cycles between the last beats of consecutive tiles) in the Amaranth
simulator.  The results are bit-exact exactly at the spacings the formula calls
legal (``tile_period(d - 1) == d``) and wrong or lost at every other spacing, so the
formula is the data path's own limit: no smaller legal spacing exists, and none of
the legal ones loses data.
"""

import numpy as np
import pytest

pytest.importorskip("amaranth")
from amaranth.sim import Simulator

from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.schedule import (
    assemble_result,
    pack_cmd,
    pack_data_beats,
    plan_gemm,
    unpack_result_beat,
)
from sparseforge.hwgen.sat.engine import SatEngine
from sparseforge.sim.bdwp import golden


class _Unthrottled(SatConfig):
    """The same engine with every tile spacing legal for its throttle."""

    def tile_period(self, steps: int) -> int:
        return steps + 1


def run_at_spacing(cfg: SatConfig, a, b, spacing: int):
    """Drive every tile ``spacing`` cycles after the previous one (unthrottled engine).

    Returns ``(C or None, held)``: the assembled result (None when beats were lost)
    and whether the engine ever refused a beat the schedule offered.
    """
    hw = _Unthrottled(**cfg.to_dict())
    dut = SatEngine(hw)
    plan = plan_gemm(cfg, a, b, sparse=True)
    tiles = [(pack_cmd(cfg, True, t.steps), pack_data_beats(cfg, t)) for t in plan.tiles]
    steps = plan.tiles[0].steps
    need = len(tiles) * cfg.rows // cfg.drain_rows
    limit = len(tiles) * spacing + steps + cfg.rows + cfg.cols + 20
    out = {"rows": [], "held": False}

    async def tb(ctx):
        ctx.set(dut.result.ready, 1)
        beats = 0
        for cycle in range(limit):
            t, phase = divmod(cycle, spacing)
            cmd_valid = data_valid = 0
            if t < len(tiles) and phase == 0:
                cmd_valid = 1
                ctx.set(dut.cmd.payload.as_value(), tiles[t][0])
            elif t < len(tiles) and 1 <= phase <= steps:
                data_valid = 1
                ctx.set(dut.data.payload.as_value(), tiles[t][1][phase - 1])
            ctx.set(dut.cmd.valid, cmd_valid)
            ctx.set(dut.data.valid, data_valid)
            if (cmd_valid and not ctx.get(dut.cmd.ready)) or (
                    data_valid and not ctx.get(dut.data.ready)):
                out["held"] = True
                return
            if ctx.get(dut.result.valid):
                out["rows"] += unpack_result_beat(cfg, ctx.get(dut.result.payload.as_value()))
                beats += 1
            await ctx.tick()
            if beats == need:
                return

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    rows = out["rows"]
    if len(rows) != len(tiles) * cfg.rows:
        return None, out["held"]
    per_tile = [np.array(rows[i * cfg.rows:(i + 1) * cfg.rows]) for i in range(len(tiles))]
    return assemble_result(plan, per_tile), out["held"]


# (rows, cols, drain_rows, k): each floor of the formula binding — R (drain 1),
# C (drain 1), C + 1 (drain 2), R / 2 (drain 2: a tile two ahead shares the FIFO) —
# and tiles of two sparse steps (k = 2m), where the floor is above steps + 1 too.
CASES = [(4, 2, 1, 2), (2, 4, 1, 2), (1, 3, 1, 4), (4, 3, 2, 2), (10, 2, 2, 2), (8, 2, 2, 4)]


@pytest.mark.parametrize(("rows", "cols", "drain", "k"), CASES,
                         ids=[f"{r}x{c}-d{d}-k{k}" for r, c, d, k in CASES])
def test_results_are_right_exactly_at_the_legal_spacings(rows, cols, drain, k):
    cfg = SatConfig(rows=rows, cols=cols, n=1, m=2, acc_bits=20, drain_rows=drain)
    rng = np.random.default_rng(rows * 10 + cols)
    a = rng.integers(-128, 128, (rows, k))
    b = rng.integers(-128, 128, (k, 4 * cols))  # four tiles: t and t + 2 share a FIFO
    want = golden.integer_matmul(a, np.where(_kept(cfg, b), b, 0), cfg.acc_bits)
    steps = k // cfg.m
    period = cfg.tile_period(steps)
    # from two below the period (steps + 1 at least: one command + the data beats)
    spacings = range(max(steps + 1, period - 2), period + 2)
    legal, right = [], []
    for d in spacings:
        got, held = run_at_spacing(cfg, a, b, d)
        legal.append(cfg.tile_period(d - 1) == d)
        right.append(got is not None and np.array_equal(got, want))
        if legal[-1]:
            assert not held, f"the unthrottled engine held a beat at legal spacing {d}"
    assert right == legal, (f"spacings {list(spacings)}: bit-exact {right}, "
                            f"formula-legal {legal}")
    if period > steps + 1:  # the floor binds: one cycle less breaks the data path
        assert not right[spacings.index(period - 1)] and right[spacings.index(period)]

def _kept(cfg, b):
    from sparseforge import nm

    return nm.mask(b, cfg.n, cfg.m, axis=0)

