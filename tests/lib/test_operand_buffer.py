"""OperandBuffer (hwgen/lib/operand_buffer.py): two banks x P sub-banks of multi-word records.

Every port writes its words into its own sub-bank, all at once, while the datapath
reads the other bank; a model dict of what was written is the reference.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from sparseforge.hwgen.lib.operand_buffer import OperandBuffer


@pytest.mark.parametrize(("words", "ports", "depth"), [(1, 1, 3), (3, 2, 5), (2, 4, 4)])
def test_records_written_word_by_word_read_back_per_sub_bank(words, ports, depth):
    wb = 16
    dut = OperandBuffer(words, wb, ports, depth)
    rng = np.random.default_rng(words * 10 + ports)
    want = {}  # (bank, sub, addr) -> record value

    async def tb(ctx):
        # fill bank 1 of every sub-bank, all ports writing in the same cycles
        for addr in range(depth):
            recs = [int(rng.integers(0, 1 << (words * wb))) for _ in range(ports)]
            for w in range(words):
                for p in range(ports):
                    ctx.set(dut.w_en[p], 1)
                    ctx.set(dut.w_bank[p], 1)
                    ctx.set(dut.w_addr[p], addr)
                    ctx.set(dut.w_word[p], w)
                    ctx.set(dut.w_data[p], recs[p] >> (w * wb) & ((1 << wb) - 1))
                await ctx.tick()
            for p in range(ports):
                want[(1, p, addr)] = recs[p]
        for p in range(ports):  # one record of bank 0, sub-bank p: must not disturb bank 1
            ctx.set(dut.w_bank[p], 0)
            ctx.set(dut.w_addr[p], 0)
            ctx.set(dut.w_word[p], 0)
            ctx.set(dut.w_data[p], 0xBEEF)
        await ctx.tick()
        for p in range(ports):
            ctx.set(dut.w_en[p], 0)
        # read bank 1 in a shuffled order, one record a cycle, data the next cycle
        order = [(p, a) for p in range(ports) for a in range(depth)]
        rng.shuffle(order)
        for p, a in order:
            ctx.set(dut.r_en, 1)
            ctx.set(dut.r_bank, 1)
            ctx.set(dut.r_sub, p)
            ctx.set(dut.r_addr, a)
            await ctx.tick()
            assert ctx.get(dut.r_data) == want[(1, p, a)], (p, a)
        # r_en low: the output holds
        ctx.set(dut.r_en, 0)
        held = ctx.get(dut.r_data)
        ctx.set(dut.r_addr, 0)
        await ctx.tick()
        assert ctx.get(dut.r_data) == held

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="depth = 0; allowed: an integer >= 1"):
        OperandBuffer(1, 128, 1, 0)
    with pytest.raises(ValueError, match="sub_banks"):
        OperandBuffer(1, 128, True, 4)
