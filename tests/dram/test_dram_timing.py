"""The timing engine: each rule's earliest legal cycle computed by hand from the rule
(docs/designs/dram.md) on a stand-in device whose timings are all distinct."""

from types import SimpleNamespace

import numpy as np
import pytest

from sparseforge.sim.dram.commands import Command, Kind
from sparseforge.sim.dram.controller import ControllerConfig, simulate
from sparseforge.sim.dram.timing import ChannelState, IllegalCommand

T = SimpleNamespace(cl=14, cwl=11, bl=4, rcd=13, rp=12, ras=30, rc=45, ccd_s=5, ccd_l=7,
                    rrd_s=3, rrd_l=6, faw=29, wr=15, rtp=8, wtr_s=2, wtr_l=9, rtrs=2,
                    rfc=100, refi=5000, rfc_pb=0)
DEV = SimpleNamespace(channels=1, ranks=1, bankgroups=2, banks_per_group=4, rows=1024,
                      columns=64, timing=T)


def state():
    return ChannelState(DEV)


def act(st, cycle, bg, b, row):
    st.issue(Command(cycle, Kind.ACT, 0, 0, bg, b, row))


def test_act_to_column_waits_trcd_and_pre_waits_tras():
    st = state()
    act(st, 0, 0, 0, 5)
    assert st.earliest(Kind.RD, 0, 0, 0, 5) == 13  # tRCD
    assert st.earliest(Kind.PRE, 0, 0, 0) == 30  # tRAS
    st.issue(Command(30, Kind.PRE, 0, 0, 0, 0))
    assert st.earliest(Kind.ACT, 0, 0, 0, 6) == 45  # max(PRE + tRP = 42, ACT + tRC = 45)


def test_rrd_and_faw():
    st = state()
    act(st, 0, 0, 0, 1)
    act(st, 3, 1, 0, 1)   # tRRD_S after group 0
    act(st, 9, 1, 1, 1)   # tRRD_L after the ACT at 3 in group 1: 3 + 6
    act(st, 12, 0, 1, 1)  # max(9 + 3, 0 + 6)
    # five ACTs: the fifth waits for the first + tFAW = 29 (tRRD alone would allow 15)
    assert st.earliest(Kind.ACT, 0, 1, 2, 1) == 29
    with pytest.raises(IllegalCommand, match="earliest legal cycle 29"):
        act(st, 28, 1, 2, 1)


def test_column_to_column_ccd_and_turnarounds():
    st = state()
    act(st, 0, 0, 0, 1)
    act(st, 6, 0, 1, 1)
    act(st, 9, 1, 0, 1)
    st.issue(Command(19, Kind.RD, 0, 0, 0, 1, 1, 0))  # 6 + tRCD
    # RD -> RD same group: tCCD_L 7; other group: tCCD_S 5 (and the bus: 19 + 4)
    assert st.earliest(Kind.RD, 0, 0, 0, 1) == 26
    assert st.earliest(Kind.RD, 0, 1, 0, 1) == 24
    # RD -> WR: CL + BL + tRTRS - CWL = 14 + 4 + 2 - 11 = 9 after the RD
    assert st.earliest(Kind.WR, 0, 1, 0, 1) == 28
    st.issue(Command(28, Kind.WR, 0, 0, 1, 0, 1, 3))
    # WR -> RD: CWL + BL + tWTR from the WR: same group 11 + 4 + 9, other 11 + 4 + 2
    assert st.earliest(Kind.RD, 0, 1, 0, 1) == 28 + 24
    assert st.earliest(Kind.RD, 0, 0, 0, 1) == 28 + 17
    # write recovery: PRE >= WR + CWL + BL + tWR = 28 + 30
    assert st.earliest(Kind.PRE, 0, 1, 0) == 58
    # read to precharge: tRTP after the RD at 19 (tRAS from 6 is later: 36)
    assert st.earliest(Kind.PRE, 0, 0, 1) == 36


def test_bus_occupancy_and_command_bus():
    st = state()
    act(st, 0, 0, 0, 1)
    act(st, 3, 1, 0, 1)
    st.issue(Command(16, Kind.RD, 0, 0, 1, 0, 1, 0))  # data 30..34
    # a WR to the other group: its data (at +CWL) may not overlap the read's burst and
    # RD -> WR turnaround: 16 + 9 = 25; data at 36 >= 34: turnaround dominates
    assert st.earliest(Kind.WR, 0, 0, 0, 1) == 25
    assert st.earliest(Kind.ACT, 0, 0, 1, 7, now=16) == 17  # one command per cycle


def test_refresh_needs_banks_closed_and_blocks_the_rank():
    st = state()
    act(st, 0, 0, 0, 1)
    with pytest.raises(IllegalCommand, match="bank open"):
        st.earliest(Kind.REF)
    st.issue(Command(30, Kind.PREA, 0, 0))
    assert st.earliest(Kind.REF) == 42  # tRP after the precharge
    st.issue(Command(42, Kind.REF, 0, 0))
    assert st.earliest(Kind.ACT, 0, 0, 0, 1) == 142  # tRFC


def test_state_rules():
    st = state()
    with pytest.raises(IllegalCommand, match="open row -1"):
        st.earliest(Kind.RD, 0, 0, 0, 1)
    act(st, 0, 0, 0, 1)
    with pytest.raises(IllegalCommand, match="row 1 open"):
        st.earliest(Kind.ACT, 0, 0, 0, 2)
    with pytest.raises(IllegalCommand, match="open row 1"):
        st.earliest(Kind.WR, 0, 0, 0, 2)


class Flat:
    """addr = ((row * banks + bank) * columns + column) * 64: bank group = bank // 4."""

    def decode(self, addr):
        a = np.asarray(addr, np.int64) // 64
        col = a % 64
        bank_all = (a // 64) % 8
        row = a // 64 // 8
        zero = np.zeros_like(a)
        return zero, zero, bank_all // 4, bank_all % 4, row, col


def addr(row, bank, col):
    return ((row * 8 + bank) * 64 + col) * 64


def test_controller_row_hits_first_and_every_request_completes():
    trace = [addr(1, 0, 0), addr(2, 0, 0), addr(1, 0, 1), addr(1, 5, 3)]
    res = simulate(DEV, Flat(), trace, [False] * 4, [0, 0, 0, 0],
                   ControllerConfig(refresh=False))
    kinds = [(c.kind, c.bank, c.row) for c in res.commands]
    # row 1 of bank 0 opened, its two reads served (hit first), then row 2
    assert kinds[:2] == [(Kind.ACT, 0, 1), (Kind.ACT, 1, 1)]
    assert res.row_hits == 1 and (res.completion > 0).all()
    reads = [c for c in res.commands if c.kind is Kind.RD]
    assert [c.row for c in reads if c.bankgroup == 0 and c.bank == 0] == [1, 1, 2]


def test_controller_output_is_legal_by_replay():
    rng = np.random.default_rng(0)
    n = 400
    trace = [addr(int(r), int(b), int(c)) for r, b, c in
             zip(rng.integers(0, 8, n), rng.integers(0, 8, n), rng.integers(0, 64, n))]
    arrivals = np.sort(rng.integers(0, 4000, n))
    writes = rng.random(n) < 0.3
    dev = SimpleNamespace(**{**vars(DEV), "timing": SimpleNamespace(**{**vars(T),
                                                                       "refi": 700})})
    for policy in ("open", "closed"):
        res = simulate(dev, Flat(), trace, writes, arrivals,
                       ControllerConfig(page_policy=policy, refresh=True, write_high=8,
                                        write_low=2))
        replay = ChannelState(dev)
        for c in res.commands:
            replay.issue(c)  # raises on any illegal command
        assert (res.completion >= arrivals).all()
        assert res.counts["REF"] >= 1


@pytest.mark.parametrize("preset", ["hbm2", "gddr6"])
def test_presets_run_a_random_trace_legally(preset):
    from sparseforge.sim.dram.device import load_device
    from sparseforge.sim.dram.mapping import AddressMapping
    from sparseforge.sim.dram.stats import summarize

    dev = load_device(preset)
    mapping = AddressMapping(dev, "ro-ra-bg-ba-co-ch" if dev.ranks > 1 else "ro-bg-ba-co-ch")
    rng = np.random.default_rng(3)
    n = 600
    addresses = rng.integers(0, dev.capacity_bytes // dev.burst_bytes, n) * dev.burst_bytes
    arrivals = np.sort(rng.integers(0, 3000, n))
    writes = rng.random(n) < 0.25
    res = simulate(dev, mapping, addresses, writes, arrivals)
    states = [ChannelState(dev, ch) for ch in range(dev.channels)]
    for c in res.commands:
        states[c.channel].issue(c)
    s = summarize(dev, res, writes, arrivals)
    assert s.requests == n and s.cycles == res.cycles and s.energy_pj > 0
    assert 0 < s.bandwidth_gbs <= dev.peak_gbs
