"""SAT blocks in the Amaranth simulator (fast, no Verilog build): bit-exact vs golden.

The engine test also checks the cycle model (sparseforge.sim.sat.engine_perf) against the
cycles the simulated RTL takes.
"""

import numpy as np
import pytest

pytest.importorskip("amaranth")
from amaranth.sim import Simulator

from sparseforge import nm
from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.schedule import assemble_result, plan_gemm
from sparseforge.hwgen.sat.engine import SatEngine
from sparseforge.hwgen.sat.pe import SparsePE
from sparseforge.hwgen.sat.topn import TopN
from sparseforge.hwgen.sat.weight_gen import SparseWeightGenerator
from sparseforge.sim.bdwp import golden
from sparseforge.sim.lib.stalls import NO_STALLS, Stalls
from sparseforge.sim.sat.engine_perf import gemm_cycles

NM = [(1, 2), (2, 4), (1, 4), (2, 8), (3, 8), (4, 16)]


@pytest.mark.parametrize(("n", "m"), NM)
def test_topn_matches_golden_compress(n, m):
    rng = np.random.default_rng(n * 100 + m)
    dut = TopN(n, m, 8)
    groups = [rng.integers(-128, 128, m) for _ in range(60)]
    groups += [rng.integers(-2, 3, m) for _ in range(60)]  # ties, zeros
    groups += [np.zeros(m, int), np.full(m, -128), np.full(m, 127),
               np.array([127, -128] * (m // 2))]

    async def tb(ctx):
        for g in groups:
            for i, v in enumerate(g):
                ctx.set(dut.group[i], int(v))
            want = nm.compress(np.asarray(g)[None, :], n, m, axis=1)
            assert [ctx.get(dut.out.values[s]) for s in range(n)] == want.values[0, 0].tolist()
            assert [ctx.get(dut.out.idx[s]) for s in range(n)] == want.indices[0, 0].tolist()
            keep = ctx.get(dut.keep)
            assert [(keep >> i) & 1 for i in range(m)] == nm.mask(np.asarray(g), n, m).tolist()

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()


def test_pe_sparse_dense_first_last():
    cfg = SatConfig(rows=1, cols=1, n=2, m=4, acc_bits=18)
    dut = SparsePE(cfg)
    rng = np.random.default_rng(5)

    async def tb(ctx):
        ctx.set(dut.enable, 1)
        acc = 0
        for step in range(40):
            sparse, first, last = step % 3 == 0, step % 7 == 0, step % 7 == 6
            a = rng.integers(-128, 128, 4)
            w = rng.integers(-128, 128, 2)
            idx = np.sort(rng.choice(4, 2, replace=False)) if sparse else np.array([3, 1])
            for k in range(4):
                ctx.set(dut.a_in[k], int(a[k]))
            for k in range(2):
                ctx.set(dut.b_in.w[k], int(w[k]))
                ctx.set(dut.b_in.idx[k], int(idx[k]))
            ctx.set(dut.ctl_in, {"valid": 1, "first": first, "last": last, "sparse": sparse})
            dot = sum(int(a[idx[k]] if sparse else a[k]) * int(w[k]) for k in range(2))
            acc = golden.integer_matmul(np.array([[0 if first else acc, dot]]),
                                        np.array([[1], [1]]), 18).item()
            await ctx.tick()
            assert ctx.get(dut.a_out[0]) == a[0]
            if last:
                assert ctx.get(dut.result) == acc
        ctx.set(dut.enable, 0)  # frozen: nothing moves
        held = ctx.get(dut.a_out[0])
        ctx.set(dut.a_in[0], held ^ 1)
        await ctx.tick()
        assert ctx.get(dut.a_out[0]) == held

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()


def simulate_engine(cfg, a, b, sparse, stalls=NO_STALLS):
    """Drive the engine tile by tile; return (C, cycles from first cmd to last row).

    ``stalls`` (:class:`~sparseforge.sim.lib.stalls.Stalls`) drops the source's ``valid``
    and the sink's ``ready`` on its seeded cycles; the default never stalls.
    """
    dut = SatEngine(cfg)
    plan = plan_gemm(cfg, a, b, sparse)
    src_pause, sink_pause = stalls.pauses("engine.source"), stalls.pauses("engine.result")
    out = {}

    async def source(ctx):
        for tile in plan.tiles:
            while next(src_pause):
                await ctx.tick()
            ctx.set(dut.cmd.payload, {"sparse": int(sparse), "steps": tile.steps})
            ctx.set(dut.cmd.valid, 1)
            await ctx.tick().until(dut.cmd.ready)
            ctx.set(dut.cmd.valid, 0)
            for t in range(tile.steps):
                for i in range(cfg.rows):
                    for k in range(cfg.m):
                        ctx.set(dut.data.payload.a[i][k], int(tile.a[t, i, k]))
                for j in range(cfg.cols):
                    for k in range(cfg.n):
                        ctx.set(dut.data.payload.b[j].w[k], int(tile.w[t, j, k]))
                        ctx.set(dut.data.payload.b[j].idx[k], int(tile.idx[t, j, k]))
                while next(src_pause):
                    await ctx.tick()
                ctx.set(dut.data.valid, 1)
                await ctx.tick().until(dut.data.ready)
                ctx.set(dut.data.valid, 0)

    async def sink(ctx):
        rows, cycle, first = [], 0, None
        while len(rows) < len(plan.tiles) * cfg.rows:
            ready = int(not next(sink_pause))
            ctx.set(dut.result.ready, ready)
            if first is None and ctx.get(dut.cmd.valid) and ctx.get(dut.cmd.ready):
                first = cycle
            if ready and ctx.get(dut.result.valid):
                rows += [[ctx.get(dut.result.payload[r][j]) for j in range(cfg.cols)]
                         for r in range(cfg.drain_rows)]
            await ctx.tick()
            cycle += 1
        out["rows"], out["cycles"] = np.array(rows), cycle - first

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    r = cfg.rows
    tiles = [out["rows"][i * r:(i + 1) * r] for i in range(len(plan.tiles))]
    return assemble_result(plan, tiles), out["cycles"]


def golden_gemm(cfg, a, b, sparse):
    b_used = np.where(nm.mask(b, cfg.n, cfg.m, axis=0), b, 0) if sparse else b
    return golden.integer_matmul(a, b_used, cfg.acc_bits)


@pytest.mark.parametrize(
    ("rows", "cols", "n", "m", "shape", "sparse", "drain"),
    [(2, 3, 2, 4, (5, 9, 7), True, 1), (2, 3, 2, 4, (5, 9, 7), False, 1),
     (3, 2, 1, 4, (4, 20, 3), True, 1), (2, 2, 2, 8, (3, 3, 2), True, 1),
     (4, 1, 2, 8, (9, 17, 2), False, 1), (1, 4, 3, 8, (2, 30, 9), True, 1),
     (8, 2, 2, 8, (30, 9, 5), True, 2), (6, 3, 2, 4, (13, 5, 7), True, 2),
     (8, 4, 1, 4, (17, 40, 9), False, 2), (10, 2, 2, 8, (25, 7, 3), True, 2),
     (2, 5, 1, 2, (5, 3, 11), True, 2)],
)
def test_engine_bit_exact_and_cycles(rows, cols, n, m, shape, sparse, drain):
    cfg = SatConfig(rows=rows, cols=cols, n=n, m=m, acc_bits=20, drain_rows=drain)
    rng = np.random.default_rng(sum(shape) + rows)
    mg, k, ng = shape
    a = rng.integers(-128, 128, (mg, k))
    b = rng.integers(-128, 128, (k, ng))
    b[:, 0] = np.resize([-128, 127, 0, 0], k)  # extremes, ties, all-zero groups
    result, cycles = simulate_engine(cfg, a, b, sparse)
    np.testing.assert_array_equal(result, golden_gemm(cfg, a, b, sparse))
    assert cycles == gemm_cycles(cfg, mg, k, ng, sparse)


@pytest.mark.parametrize(("rows", "drain", "kind"),
                         [(3, 1, "random"), (4, 2, "random"), (3, 1, "bursty"), (4, 2, "mixed")])
def test_engine_backpressure_loses_nothing(rows, drain, kind):
    """Seeded random / bursty pauses on the source's valid and the sink's ready."""
    cfg = SatConfig(rows=rows, cols=2, n=2, m=4, acc_bits=20, fifo_rows=2, drain_rows=drain)
    rng = np.random.default_rng(11)
    a, b = rng.integers(-128, 128, (7, 6)), rng.integers(-128, 128, (6, 5))
    result, cycles = simulate_engine(cfg, a, b, True, Stalls(kind=kind, p=0.5, seed=3))
    np.testing.assert_array_equal(result, golden_gemm(cfg, a, b, True))
    assert cycles > gemm_cycles(cfg, 7, 6, 5, True)


def test_tile_period_rules():
    one = SatConfig(rows=8, cols=4)
    assert [one.tile_period(s) for s in (0, 7, 8, 20)] == [8, 8, 9, 21]
    wide = SatConfig(rows=2, cols=6)  # floor max(R, C) = 6
    assert [wide.tile_period(s) for s in (0, 5, 6)] == [6, 6, 7]
    two = SatConfig(rows=16, cols=4, drain_rows=2)  # floor max(C + 1, R/2) = 8
    assert [two.tile_period(s) for s in (0, 7, 8, 9, 14, 20)] == [8, 8, 9, 10, 15, 21]
    pair = SatConfig(rows=4, cols=6, drain_rows=2)  # floor max(C + 1, R/2) = 7
    assert [pair.tile_period(s) for s in (0, 6, 7)] == [7, 7, 8]


def test_engine_zero_step_tile_gives_zeros():
    cfg = SatConfig(rows=2, cols=2, n=1, m=2, acc_bits=16)
    dut = SatEngine(cfg)

    async def tb(ctx):
        ctx.set(dut.result.ready, 1)
        ctx.set(dut.cmd.payload, {"sparse": 0, "steps": 0})
        ctx.set(dut.cmd.valid, 1)
        await ctx.tick().until(dut.cmd.ready)
        ctx.set(dut.cmd.valid, 0)
        rows = []
        while len(rows) < 2:
            if ctx.get(dut.result.valid):
                rows.append([ctx.get(dut.result.payload[0][j]) for j in range(2)])
            await ctx.tick()
        assert rows == [[0, 0], [0, 0]]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize(("n", "m"), [(2, 4), (1, 4), (2, 8), (4, 16)])
@pytest.mark.parametrize("colwise", [False, True])
@pytest.mark.parametrize("stall", [False, True])
def test_weight_generator_matches_golden(n, m, colwise, stall):
    rng = np.random.default_rng(n + m + colwise)
    w = (rng.integers(-3, 4, (2 * m, 2 * m)) * rng.integers(1, 43, (2 * m, 2 * m))).clip(-128, 127)
    w[0, :m], w[1, :m] = 0, -128
    dut = SparseWeightGenerator(n, m, 8)
    if colwise:
        beats = [w[rb * m + r, cb * m:(cb + 1) * m] for rb in range(2) for cb in range(2)
                 for r in range(m)]
        comp = nm.compress(w, n, m, axis=0)  # values[column, group]
        want = [(comp.values[cb * m + j, rb].tolist(), comp.indices[cb * m + j, rb].tolist())
                for rb in range(2) for cb in range(2) for j in range(m)]
    else:
        beats = [w[r, g * m:(g + 1) * m] for r in range(2 * m) for g in range(2)]
        comp = nm.compress(w, n, m, axis=1)
        want = [(comp.values[r, g].tolist(), comp.indices[r, g].tolist())
                for r in range(2 * m) for g in range(2)]
    got = []
    prng = np.random.default_rng(7)

    async def source(ctx):
        ctx.set(dut.colwise, int(colwise))
        for beat in beats:
            for i, v in enumerate(beat):
                ctx.set(dut.inp.payload[i], int(v))
            ctx.set(dut.inp.valid, 1)
            await ctx.tick().until(dut.inp.ready)
            ctx.set(dut.inp.valid, 0)
            if stall and prng.random() < 0.3:
                await ctx.tick()

    async def sink(ctx):
        cycles = 0
        while len(got) < len(want):
            ready = int(not stall or prng.random() < 0.7)
            ctx.set(dut.out.ready, ready)
            if ready and ctx.get(dut.out.valid):
                got.append(([ctx.get(dut.out.payload.values[s]) for s in range(n)],
                            [ctx.get(dut.out.payload.idx[s]) for s in range(n)]))
            await ctx.tick()
            cycles += 1
        if not stall:  # one group per cycle, plus the fill latency of one block
            assert cycles <= len(want) + (m + 1 if colwise else 1)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    assert got == want
