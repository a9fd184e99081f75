"""The all-bank PIM commands (docs/designs/dram.md, "PIM commands"): every rule at its
bound and one cycle early, for the independent checker and for the timing engine.

Stand-in device: the checker tests' distinct timings (cl 11, cwl 9, bl 4, rcd 13, rp 12,
ras 30, rc 44, ccd_s 5, ccd_l 7, rrd_s 6, rrd_l 8, faw 29, wr 15, rtp 10, wtr_s 3, wtr_l 9,
rtrs 2, rfc 100, rfc_pb 50) plus PIM timings rcd_mac 17, ccd_mac 14, mac_latency 16,
3 result slots, 8 global-buffer columns, READRES = 2 bursts (8 cycles of data).  Each
bound below is worked out by hand from the rule's formula.
"""

from types import SimpleNamespace

import pytest

from sparseforge.sim.dram.checker import RULES, check_commands
from sparseforge.sim.dram.commands import Command, Kind
from sparseforge.sim.dram.device import load_device
from sparseforge.sim.dram.timing import ChannelState, IllegalCommand

TIMING = dict(cl=11, cwl=9, bl=4, rcd=13, rp=12, ras=30, rc=44, ccd_s=5, ccd_l=7, rrd_s=6,
              rrd_l=8, faw=29, wr=15, rtp=10, wtr_s=3, wtr_l=9, rtrs=2, rfc=100, refi=5000,
              rfc_pb=50)
PIM = dict(lanes=16, gbuf_bytes=256, gbuf_columns=8, result_slots=3, rcd_mac=17,
           ccd_mac=14, mac_latency=16, gact_faw=True, readres_bursts=2)


def device(ranks=1, pim=True, gact_faw=True, **timing):
    return SimpleNamespace(
        name="standin", channels=2, ranks=ranks, bankgroups=4, banks_per_group=4,
        rows=1024, columns=128, burst_bytes=32,
        timing=SimpleNamespace(**{**TIMING, **timing}),
        pim=SimpleNamespace(**{**PIM, "gact_faw": gact_faw}) if pim else None)


DEV = device()
DEV2 = device(ranks=2)
NOFAW = device(gact_faw=False, faw=60)


def act(c, bg=0, ba=0, row=5, rank=0):
    return Command(c, Kind.ACT, 0, rank, bg, ba, row)


def pre(c, bg=0, ba=0, rank=0):
    return Command(c, Kind.PRE, 0, rank, bg, ba)


def prea(c, rank=0):
    return Command(c, Kind.PREA, 0, rank)


def rd(c, bg=0, ba=0, row=5, col=3, rank=0):
    return Command(c, Kind.RD, 0, rank, bg, ba, row, col)


def wr(c, bg=0, ba=0, row=5, col=3, rank=0):
    return Command(c, Kind.WR, 0, rank, bg, ba, row, col)


def ref(c, rank=0):
    return Command(c, Kind.REF, 0, rank)


def refpb(c, bg=0, ba=0):
    return Command(c, Kind.REFPB, 0, 0, bg, ba)


def gw(c, col=0):
    return Command.gwrite(c, 0, col)


def gact(c, row=5, rank=0):
    return Command.gact(c, 0, rank, row)


def mac(c, col=0, row=5, rank=0):
    return Command.mac(c, 0, rank, row, col)


def macl(c, col=0, row=5, rank=0):
    return Command.mac(c, 0, rank, row, col, latch=True)


def rr(c, slot=0, rank=0):
    return Command.readres(c, 0, rank, slot)


# (rule, builder(cycle) -> log, bound, device, engine): at cycle == bound the log is
# legal; at bound - 1 the last command breaks exactly ``rule`` with that earliest cycle.
# ``engine``: the timing engine models every command of the log (not REFPB).
CASES = [
    # GACT @0 -> MAC: 0 + rcd_mac 17 = 17
    ("tRCD_MAC", lambda c: [gact(0), mac(c)], 17, DEV, True),
    # ACT of one bank @20 after an ACT of the others... (every bank opened by ACT): the
    # latest activation binds: banks opened at 0, 6, ... by ACT is tested below; here a
    # GACT'd rank where one bank is re-opened: PRE 0.0 @30, ACT 0.0 @42 (tRP 30 + 12; tRC
    # 0 + 44 = 44 binds) -> MAC: 44 + 17 = 61
    ("tRCD_MAC", lambda c: [gact(0), pre(30), act(44), mac(c)], 61, DEV, True),
    # MAC @17 -> MAC: 17 + ccd_mac 14 = 31
    ("tCCD_MAC", lambda c: [gact(0), mac(17), mac(c, col=1)], 31, DEV, True),
    # MACL @17 -> MACL: 31
    ("tCCD_MAC", lambda c: [gact(0), macl(17), macl(c, col=1)], 31, DEV, True),
    # GWRITE @20 -> MAC: 20 + cwl 9 + bl 4 = 33 (tRCD_MAC: 17)
    ("gbuf RAW", lambda c: [gact(0), gw(20), mac(c)], 33, DEV, True),
    # MAC @17 -> GWRITE: 17 + ccd_mac 14 - cwl 9 = 22
    ("gbuf WAR", lambda c: [gact(0), mac(17), gw(c)], 22, DEV, True),
    # GWRITE @0 -> GWRITE: 0 + ccd_s 5 = 5 (data [9, 13) then [14, 18))
    ("tCCD_S", lambda c: [gw(0), gw(c, col=1)], 5, DEV, True),
    # WR @13 -> GWRITE: 13 + 5 = 18 (data [22, 26) then [27, 31))
    ("tCCD_S", lambda c: [act(0), wr(13), gw(c)], 18, DEV, True),
    # WR of the other rank @13 -> GWRITE: 18 too (the buffer is the channel's)
    ("tCCD_S", lambda c: [act(0, rank=1), wr(13, rank=1), gw(c)], 18, DEV2, True),
    # GWRITE @10 -> WR: 10 + 5 = 15 (tRCD 13; data [19, 23) then [24, 28))
    ("tCCD_S", lambda c: [act(0), gw(10), wr(c)], 15, DEV, True),
    # RD @13 -> GWRITE: 13 + cl 11 + bl 4 + rtrs 2 - cwl 9 = 21 (RD data [24, 28),
    # GWRITE data [30, 34))
    ("tRTRS", lambda c: [act(0), rd(13), gw(c)], 21, DEV, True),
    # the same from a RD of the other rank
    ("tRTRS", lambda c: [act(0, rank=1), rd(13, rank=1), gw(c)], 21, DEV2, True),
    # MACL @17, READRES @33 (17 + 16): data [44, 52); GWRITE: 33 + 11 + 2 x 4 + 2 - 9 = 45
    # (gbuf WAR: 17 + 14 - 9 = 22)
    ("tRTRS", lambda c: [gact(0), macl(17), rr(33), gw(c)], 45, DEV, True),
    # READRES @33 -> WR of the rank (bank 0.0, open since the GACT): 45 as above
    ("tRTRS", lambda c: [gact(0), macl(17), rr(33), wr(c)], 45, DEV, True),
    # MACL @17 -> READRES of slot 0: 17 + mac_latency 16 = 33
    ("tMAC", lambda c: [gact(0), macl(17), rr(c)], 33, DEV, True),
    # slot 1 filled by the MACL @31: 31 + 16 = 47 (slot 0 was readable at 33)
    ("tMAC", lambda c: [gact(0), macl(17), macl(31, col=1), rr(c, slot=1)], 47, DEV, True),
    # READRES @33: data [44, 52); a RD's data [c + 11, c + 15) from 52: c = 41
    # (tCCD_L from the MACL: 17 + 7 = 24)
    ("data bus", lambda c: [gact(0), macl(17), rr(33), rd(c)], 41, DEV, True),
    # RD @30: data [41, 45); READRES data [c + 11, c + 19) from 45: c = 34 (tMAC: 33)
    ("data bus", lambda c: [gact(0), macl(17), rd(30), rr(c)], 34, DEV, True),
    # two READRES: [44, 52) then [c + 11, ...) from 52: c = 41
    ("data bus", lambda c: [gact(0), macl(17), rr(33), rr(c)], 41, DEV, True),
    # MAC @17 -> RD: 17 + ccd_l 7 = 24 (tRCD 13)
    ("tCCD_L", lambda c: [gact(0), mac(17), rd(c)], 24, DEV, True),
    # RD @20 -> MAC: 20 + 7 = 27 (tRCD_MAC 17)
    ("tCCD_L", lambda c: [gact(0), rd(20, bg=3), mac(c)], 27, DEV, True),
    # WR @13 -> MAC: 13 + cwl 9 + bl 4 + wtr_l 9 = 35
    ("tWTR_L", lambda c: [gact(0), wr(13, bg=2), mac(c)], 35, DEV, True),
    # MAC @25 -> PREA: 25 + rtp 10 = 35 (tRAS 30)
    ("tRTP", lambda c: [gact(0), mac(25), prea(c)], 35, DEV, True),
    # MAC @25 -> PRE of one bank: 35
    ("tRTP", lambda c: [gact(0), mac(25), pre(c, bg=3, ba=2)], 35, DEV, True),
    # GACT @0 -> PREA: 0 + ras 30 = 30
    ("tRAS", lambda c: [gact(0), prea(c)], 30, DEV, True),
    # PREA @40 -> GACT: 40 + rp 12 = 52 (tRC 44)
    ("tRP", lambda c: [gact(0), prea(40), gact(c)], 52, DEV, True),
    # the rank's latest PRE (bank 1.0 @40) -> GACT: 52 (tRC from ACT 1.0 @6: 50)
    ("tRP", lambda c: [act(0), act(6, bg=1), pre(30), pre(40, bg=1), gact(c)], 52, DEV, True),
    # GACT @0 -> GACT: 0 + rc 44 = 44 (tRP 30 + 12 = 42)
    ("tRC", lambda c: [gact(0), prea(30), gact(c)], 44, DEV, True),
    # ACT of bank 1.3 @0 -> GACT: 44 (tRP 42; tRRD_L 8; tFAW 29)
    ("tRC", lambda c: [act(0, bg=1, ba=3), pre(30, bg=1, ba=3), gact(c)], 44, DEV, True),
    # gact_faw, faw 60 > rc: ACT @0 -> GACT (four ACTs at once): 0 + faw 60 = 60
    ("tFAW", lambda c: [act(0), pre(30), gact(c)], 60, device(faw=60), True),
    # GACT @0 counts as four ACTs: the next ACT waits 0 + faw 60 = 60 (tRP 42, tRC 44)
    ("tFAW", lambda c: [gact(0), prea(30), act(c)], 60, device(faw=60), True),
    # gact_faw, rrd_l 50 > rc: ACT @0 -> GACT: 0 + rrd_l 50 = 50 (every group is its group)
    ("tRRD_L", lambda c: [act(0, bg=2), pre(30, bg=2), gact(c)], 50,
     device(rrd_l=50), True),
    # exempt GACT (gact_faw false, faw 60): only tRC binds, 44
    ("tRC", lambda c: [act(0), pre(30), gact(c)], 44, NOFAW, True),
    # ... and it does not count for the next ACT: tRC 44 from the GACT @0
    ("tRC", lambda c: [gact(0), prea(30), act(c)], 44, NOFAW, True),
    # REF @0 -> GACT: 0 + rfc 100 = 100
    ("tRFC", lambda c: [ref(0), gact(c)], 100, DEV, True),
    # REF @0 -> READRES of a filled slot... (a REF needs every bank closed: slots of the
    # GACT before it): GACT 0, MACL 17, PREA 30 (tRTP 27, tRAS 30), REF 42 (tRP) ->
    # READRES: 42 + 100 = 142
    ("tRFC", lambda c: [gact(0), macl(17), prea(30), ref(42), rr(c)], 142, DEV, True),
    # REFPB of bank 2.1 @0 -> GACT: 0 + rfc_pb 50 = 50 (the checker only)
    ("tRFC_pb", lambda c: [refpb(0, bg=2, ba=1), gact(c)], 50, DEV, False),
]


@pytest.mark.parametrize(("rule", "build", "bound", "dev", "engine"), CASES,
                         ids=[f"{r}-{i}" for i, (r, *_) in enumerate(CASES)])
def test_checker_rule_at_bound_and_one_cycle_early(rule, build, bound, dev, engine):
    assert rule in RULES
    assert check_commands(dev, build(bound)) == [], check_commands(dev, build(bound))
    log = build(bound - 1)
    v = check_commands(dev, log)
    assert [(x.rule, x.earliest_legal_cycle, x.command_index) for x in v] == \
        [(rule, bound, len(log) - 1)], "\n".join(map(str, v))


@pytest.mark.parametrize(("rule", "build", "bound", "dev"),
                         [(r, b, n, d) for r, b, n, d, e in CASES if e],
                         ids=[f"{r}-{i}" for i, (r, *_, e) in enumerate(CASES) if e])
def test_engine_earliest_is_the_bound(rule, build, bound, dev):
    *prefix, last = build(bound)
    st = ChannelState(dev)
    for c in prefix:
        st.issue(c)
    assert st.earliest_for(last, now=0) == bound
    with pytest.raises(IllegalCommand, match=f"earliest legal cycle {bound}"):
        st.issue(last._replace(cycle=bound - 1))
    st.issue(last)


def test_engine_refuses_by_state():
    st = ChannelState(DEV)
    st.issue(act(0))
    with pytest.raises(IllegalCommand, match="bank open"):
        st.earliest_for(gact(50))
    with pytest.raises(IllegalCommand, match="not every bank"):
        st.earliest_for(mac(50))
    st.issue(pre(30))
    st.issue(gact(44))
    with pytest.raises(IllegalCommand, match="not every bank"):
        st.earliest_for(mac(100, row=6))
    with pytest.raises(IllegalCommand, match="0 slot"):
        st.earliest_for(rr(100))
    for i in range(3):  # 3 result slots: MACLs at 61, 75, 89 (rcd_mac 44 + 17, ccd_mac 14)
        st.issue(macl(61 + 14 * i, col=i))
    with pytest.raises(IllegalCommand, match="all 3 result slots"):
        st.earliest_for(macl(200))
    st.earliest_for(mac(200))  # a MAC without latch is still fine
    assert st.earliest_for(rr(0, slot=2), now=0) == 89 + 16
    with pytest.raises(IllegalCommand, match="no \\[pim\\] table"):
        ChannelState(device(pim=False)).earliest_for(gw(0))


@pytest.mark.parametrize(("log", "index", "words"), [
    ([act(0), gact(50)], 1, "bank(s) 0.0 open"),
    ([gact(0), pre(30, bg=1, ba=2), mac(40)], 2, "1.2 (closed)"),
    ([gact(0, row=5), mac(17, row=6)], 1, "row 5"),
    ([gact(0), rr(100)], 1, "0 slot(s)"),
    ([gact(0), macl(17), macl(31), macl(45), macl(59)], 4, "all 3 result slots"),
    # a new GACT empties the slots
    ([gact(0), macl(17), prea(30), gact(44), rr(100)], 4, "0 slot(s)"),
])
def test_checker_state_rules(log, index, words):
    v = check_commands(DEV, log)
    assert [(x.rule, x.command_index) for x in v] == [("state", index)], v
    assert words in v[0].message


def test_checker_fields_and_devices_without_pim():
    v = check_commands(DEV, [gw(0, col=8), Command(10, Kind.GACT, 0, 0, 1, -1, 5, -1),
                             rr(20, slot=3)])
    assert [x.rule for x in v] == ["field"] * 3
    assert "column 8 not in [0, 8)" in v[0].message
    assert "bankgroup 1 is not -1" in v[1].message
    assert "column 3 not in [0, 3)" in v[2].message
    v = check_commands(device(pim=False), [gw(0), act(1)])
    assert [(x.rule, x.command_index) for x in v] == [("PIM", 0)]


def test_prea_of_a_closed_rank_is_a_no_op_after_a_mac():
    # MAC @25, PREA @35 (tRTP), a second PREA @36 closes nothing: no tRTP for it
    assert check_commands(DEV, [gact(0), mac(25), prea(35), prea(36)]) == []
    st = ChannelState(DEV)
    for c in (gact(0), mac(25), prea(35)):
        st.issue(c)
    assert st.earliest_for(prea(0), now=0) == 36


def test_refresh_does_not_block_the_global_buffer():
    assert check_commands(DEV, [ref(0), gw(1)]) == []
    st = ChannelState(DEV)
    st.issue(ref(0))
    assert st.earliest_for(gw(0), now=0) == 1


def test_command_lines_round_trip_and_unused_fields():
    for c in (gw(3, 7), gact(4, 9, rank=1), mac(5, 2), macl(6, 3), rr(7, 1)):
        assert Command.parse(c.line()) == c
    assert gw(3, 7).line() == "3 GWRITE 0 -1 -1 -1 -1 7"
    assert mac(5, 2, row=9).line() == "5 MAC 0 0 -1 -1 9 2"
    with pytest.raises(ValueError, match="row 4 must be -1"):
        Command.parse("1 READRES 0 0 -1 -1 4 0")


def _gemv_log(dev, rows=2, columns=8, slots=2):
    """A PIM GEMV on ``dev`` scheduled by the engine at the earliest cycles: per row, the
    global buffer filled, GACT, ``columns`` MACs in ``slots`` spans, READRES, PREA."""
    st, log = ChannelState(dev), []

    def go(cmd):
        cmd = cmd._replace(cycle=st.earliest_for(cmd, now=log[-1].cycle if log else 0))
        st.issue(cmd)
        log.append(cmd)

    for r in range(rows):
        for k in range(columns):
            go(gw(0, k))
        go(gact(0, row=r))
        per = columns // slots
        for k in range(columns):
            go(mac(0, k, row=r) if (k + 1) % per else macl(0, k, row=r))
        for s in range(slots):
            go(rr(0, s))
        go(prea(0))
    return log


@pytest.mark.parametrize("preset", ["gddr6", "gddr6_aim", "hbm2", "hbm3"])
def test_engine_schedules_are_legal_for_the_checker(preset):
    dev = load_device(preset)
    log = _gemv_log(dev)
    assert check_commands(dev, log) == []
    # every command moved one cycle earlier (where that keeps the log in order) breaks a
    # rule: the engine's earliest cycle is the checker's too
    for i, c in enumerate(log):
        if i and c.cycle - 1 > log[i - 1].cycle:
            broken = [*log[:i], c._replace(cycle=c.cycle - 1)]
            assert check_commands(dev, broken), (preset, i, c.line())


def test_aim_gemv_timing_by_hand():
    # gddr6_aim: cwl 22, bl 2, ccd_s 2, rcd_mac 56, ccd_mac 2, cl 32, mac_latency 12
    # (the RTL MAC unit's 2 + log2(16) = 6 cycles, one column per ccd_mac = 2 tCK)
    log = _gemv_log(load_device("gddr6_aim"), rows=1, columns=4, slots=1)
    got = [(c.kind.value, c.cycle) for c in log]
    # GWRITEs every ccd_s 2: 0, 2, 4, 6; GACT at 7 (command bus); MACs: 7 + 56 = 63, then
    # every 2 (gbuf RAW: 6 + 22 + 2 = 30, met); READRES: MACL 69 + 12 = 81; PREA: tRAS
    # 7 + 54 = 61, tRTP 69 + 4 = 73, command bus after the READRES: 82
    assert got == [("GWRITE", 0), ("GWRITE", 2), ("GWRITE", 4), ("GWRITE", 6), ("GACT", 7),
                   ("MAC", 63), ("MAC", 65), ("MAC", 67), ("MACL", 69), ("READRES", 81),
                   ("PREA", 82)]


def test_engine_no_op_prea_restarts_no_trp():
    # PRE @30 closes the only open bank; PREA @40 closes nothing: REF / GACT at 30 + 12
    st = ChannelState(DEV)
    for c in (act(0), pre(30), prea(40)):
        st.issue(c)
    assert st.earliest_for(ref(0), now=0) == 42
    assert st.earliest_for(gact(0), now=0) == 44  # tRC from the ACT @0 binds instead
    assert check_commands(DEV, [act(0), pre(30), prea(40), ref(42)]) == []


def _random_log(seed, dev, n=150):
    """A random mix of PIM and JEDEC commands on two ranks, each at the engine's
    earliest cycle plus a random slack of 0-3."""
    import random

    rng = random.Random(seed)
    st, log = ChannelState(dev), []
    while len(log) < n:
        rank = rng.randrange(dev.ranks)
        rows = [st.open_row(rank, g, b) for g in range(4) for b in range(4)]
        opts = [gw(0, rng.randrange(8)), prea(0, rank)]
        if all(r < 0 for r in rows):
            opts += [gact(0, rng.randrange(3), rank), ref(0, rank)]
        if rows[0] >= 0 and all(r == rows[0] for r in rows):
            opts += [mac(0, rng.randrange(8), rows[0], rank),
                     macl(0, rng.randrange(8), rows[0], rank)]
        if st.filled_slots(rank):
            opts.append(rr(0, rng.randrange(st.filled_slots(rank)), rank))
        g, b = rng.randrange(4), rng.randrange(4)
        row = rows[4 * g + b]
        if row < 0:
            opts.append(act(0, g, b, rng.randrange(3), rank))
        else:
            opts += [rd(0, g, b, row, 1, rank), wr(0, g, b, row, 1, rank), pre(0, g, b, rank)]
        c = rng.choice(opts)
        try:
            cycle = st.earliest_for(c, now=log[-1].cycle if log else 0)
        except IllegalCommand:  # MACL with every slot filled
            continue
        c = c._replace(cycle=cycle + rng.choice([0, 0, 0, 1, 3]))
        st.issue(c)
        log.append(c)
    return log


@pytest.mark.parametrize("dev", [device(ranks=2), device(ranks=2, gact_faw=False, faw=60)],
                         ids=["gact_faw", "exempt"])
def test_engine_and_checker_agree_on_random_mixed_logs(dev):
    for seed in range(3):
        log = _random_log(seed, dev)
        assert check_commands(dev, log, refresh_deadline=False) == []
        # where the engine says a command could not have been one cycle earlier, the
        # checker finds the rule it would break
        st = ChannelState(dev)
        for i, c in enumerate(log):
            tight = st.earliest_for(c, now=0) == c.cycle
            if tight and i and c.cycle - 1 > log[i - 1].cycle:
                early = [*log[:i], c._replace(cycle=c.cycle - 1)]
                assert check_commands(dev, early, refresh_deadline=False), (seed, i, c)
            st.issue(c)
