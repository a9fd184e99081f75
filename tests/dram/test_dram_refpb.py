"""Per-bank refresh (REFPB): the engine's rules, the checker's per-bank deadline, and
the controller's ``refresh="per_bank"`` mode.  Timings of the stand-in device as in
test_dram_checker.py (rp 12, ras 30, rc 44, rfc 100, refi 5000, rfc_pb 50)."""

import dataclasses
from types import SimpleNamespace

import pytest

from sparseforge.sim.dram.checker import check_commands
from sparseforge.sim.dram.commands import Command, Kind
from sparseforge.sim.dram.controller import ControllerConfig, simulate
from sparseforge.sim.dram.device import load_device
from sparseforge.sim.dram.mapping import AddressMapping
from sparseforge.sim.dram.timing import ChannelState, IllegalCommand
from sparseforge.sim.dram.trace import random_trace

TIMING = dict(cl=11, cwl=9, bl=4, rcd=13, rp=12, ras=30, rc=44, ccd_s=5, ccd_l=7, rrd_s=6,
              rrd_l=8, faw=29, wr=15, rtp=10, wtr_s=3, wtr_l=9, rtrs=2, rfc=100, refi=5000,
              rfc_pb=50)
PIM = dict(lanes=16, gbuf_bytes=256, gbuf_columns=8, result_slots=3, rcd_mac=17,
           ccd_mac=14, mac_latency=16, gact_faw=True, readres_bursts=2)


def device(**timing):
    return SimpleNamespace(name="standin", channels=1, ranks=1, bankgroups=4,
                           banks_per_group=4, rows=1024, columns=128, burst_bytes=32,
                           timing=SimpleNamespace(**{**TIMING, **timing}),
                           pim=SimpleNamespace(**PIM))


DEV = device()


def act(c, bg=0, ba=0, row=5):
    return Command(c, Kind.ACT, 0, 0, bg, ba, row)


def pre(c, bg=0, ba=0):
    return Command(c, Kind.PRE, 0, 0, bg, ba)


def prea(c):
    return Command(c, Kind.PREA, 0, 0)


def ref(c):
    return Command(c, Kind.REF, 0, 0)


def refpb(c, bg=0, ba=0):
    return Command(c, Kind.REFPB, 0, 0, bg, ba)


def gact(c, row=5):
    return Command.gact(c, 0, 0, row)


def state(*log, dev=DEV):
    st = ChannelState(dev)
    for c in log:
        st.issue(c)
    return st


def test_refpb_waits_trp_after_the_bank_precharge():
    # PRE @30 -> REFPB of that bank: 30 + rp 12 = 42
    assert state(act(0), pre(30)).earliest_for(refpb(0), now=0) == 42
    assert check_commands(DEV, [act(0), pre(30), refpb(42)]) == []


@pytest.mark.parametrize(("after", "bound"), [
    (act(0), 50),            # the refreshed bank: REFPB @0 + rfc_pb 50
    (pre(0), 50),            # even a no-op PRE of it
    (prea(0), 50),           # rank commands wait for every bank's REFPB
    (ref(0), 50),
    (gact(0), 50),
    (act(0, bg=1), 1),       # another bank: only the command bus
    (refpb(0, bg=3, ba=3), 1),
])
def test_refpb_blocks_its_bank_and_the_rank_commands(after, bound):
    st = state(refpb(0))
    assert st.earliest_for(after, now=0) == bound
    # the checker agrees: at the bound legal, one cycle early a violation
    assert check_commands(DEV, [refpb(0), after._replace(cycle=bound)]) == []
    if bound > 1:
        v = check_commands(DEV, [refpb(0), after._replace(cycle=bound - 1)])
        assert [(x.rule, x.earliest_legal_cycle) for x in v] == [("tRFC_pb", bound)]


def test_refpb_state_rules():
    with pytest.raises(IllegalCommand, match="row 5 open"):
        state(act(0)).earliest_for(refpb(100), now=0)
    with pytest.raises(IllegalCommand, match="no per-bank refresh"):
        state(dev=device(rfc_pb=0)).earliest_for(refpb(0), now=0)


def test_checker_deadline_counts_each_bank():
    # 15 of the 16 banks refreshed once: the 16th has had none, due by 9 x 5000 = 45000
    banks = [(g, b) for g in range(4) for b in range(4)]
    some = [refpb(10 + i, g, b) for i, (g, b) in enumerate(banks[:-1])]
    v = check_commands(DEV, [*some, pre(45001)])
    assert [(x.rule, x.command_index) for x in v] == [("tREFI", 15)]
    # all 16: the next refresh of each is due by (1 + 9) x 5000 = 50000
    every = [refpb(10 + i, g, b) for i, (g, b) in enumerate(banks)]
    assert check_commands(DEV, [*every, pre(45001), pre(50000)]) == []
    v = check_commands(DEV, [*every, pre(50001)])
    assert [x.rule for x in v] == ["tREFI"]
    # one REF counts for every bank: REF + 15 REFPBs still leave one bank at 1
    assert check_commands(DEV, [ref(0), *[c._replace(cycle=c.cycle + 100) for c in some],
                                pre(50000)]) == []


def _short_refi(name, refi):
    dev = load_device(name)
    return dataclasses.replace(dev, timing=dataclasses.replace(dev.timing, refi=refi))


def test_controller_per_bank_refresh_is_legal_and_round_robin():
    dev = _short_refi("gddr6", 1600)  # a REFPB due every 1600 / 16 = 100 cycles per rank
    mapping = AddressMapping(dev, "ro-bg-ba-co-ch")
    tr = random_trace(3000, dev.row_bytes * dev.banks * dev.channels * 4, write_fraction=0.3,
                      seed=5, rate=0.2, align=dev.burst_bytes)
    res = simulate(dev, mapping, tr.address, tr.is_write, tr.cycle,
                   ControllerConfig(refresh="per_bank"))
    assert check_commands(dev, res.commands) == []  # deadlines included
    assert res.counts["REF"] == 0
    for ch in range(dev.channels):
        pbs = [c for c in res.commands if c.kind is Kind.REFPB and c.channel == ch]
        # the run lasts about 3000 / 0.2 = 15000 cycles: about 150 REFPBs per channel
        assert len(pbs) >= res.cycles // 100 - 2
        assert [(c.bankgroup, c.bank) for c in pbs] == \
            [divmod(k % 16, 4) for k in range(len(pbs))]
    assert (res.completion >= tr.cycle).all()


def test_controller_refresh_modes():
    assert ControllerConfig(refresh=True).refresh == "all"
    assert ControllerConfig(refresh=False).refresh == "off"
    with pytest.raises(ValueError, match="allowed: all, per_bank, off"):
        ControllerConfig(refresh="sometimes")
    dev = _short_refi("gddr6", 1600)
    mapping = AddressMapping(dev, "ro-bg-ba-co-ch")
    tr = random_trace(300, dev.row_bytes * dev.banks * dev.channels, seed=1, rate=0.1,
                      align=dev.burst_bytes)
    off = simulate(dev, mapping, tr.address, tr.is_write, tr.cycle,
                   ControllerConfig(refresh="off"))
    assert off.counts["REF"] == off.counts["REFPB"] == 0
    hbm2 = load_device("hbm2")  # rfc_pb = 0
    with pytest.raises(ValueError, match="no per-bank refresh"):
        simulate(hbm2, AddressMapping(hbm2, "ro-ra-bg-ba-co-ch"), [0], [False], [0],
                 ControllerConfig(refresh="per_bank"))


def test_refpb_command_line():
    c = Command(7, Kind.REFPB, 1, 0, 2, 3)
    assert Command.parse(c.line()) == c
