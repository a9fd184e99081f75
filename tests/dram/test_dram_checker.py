"""The independent DRAM checker: every rule at its bound and one cycle early.

The stand-in device has distinct hand-chosen timings so that each sequence below
breaks exactly one rule when moved one cycle early; each bound is worked out in a
comment from the rule's formula (docs/designs/dram.md, section "Checker").
"""

import time
from types import SimpleNamespace

import pytest

from sparseforge.sim.dram.checker import (
    RULES,
    CommandLogError,
    assert_legal,
    check_commands,
)
from sparseforge.sim.dram.commands import Command, Kind

TIMING = SimpleNamespace(cl=11, cwl=9, bl=4, rcd=13, rp=12, ras=30, rc=44, ccd_s=5, ccd_l=7,
                         rrd_s=6, rrd_l=8, faw=29, wr=15, rtp=10, wtr_s=3, wtr_l=9, rtrs=2,
                         rfc=100, refi=5000, rfc_pb=50)


def device(ranks=1, channels=2, **timing):
    return SimpleNamespace(channels=channels, ranks=ranks, bankgroups=4, banks_per_group=4,
                           rows=1024, columns=128,
                           timing=SimpleNamespace(**{**vars(TIMING), **timing}))


DEV = device()
DEV2 = device(ranks=2)


def act(cycle, bg=0, ba=0, row=5, ch=0, rank=0):
    return Command(cycle, Kind.ACT, ch, rank, bg, ba, row)


def pre(cycle, bg=0, ba=0, ch=0, rank=0):
    return Command(cycle, Kind.PRE, ch, rank, bg, ba)


def prea(cycle, ch=0, rank=0):
    return Command(cycle, Kind.PREA, ch, rank)


def rd(cycle, bg=0, ba=0, row=5, col=3, ch=0, rank=0):
    return Command(cycle, Kind.RD, ch, rank, bg, ba, row, col)


def wr(cycle, bg=0, ba=0, row=5, col=3, ch=0, rank=0):
    return Command(cycle, Kind.WR, ch, rank, bg, ba, row, col)


def ref(cycle, ch=0, rank=0):
    return Command(cycle, Kind.REF, ch, rank)


def refpb(cycle, bg=0, ba=0, ch=0, rank=0):
    return Command(cycle, Kind.REFPB, ch, rank, bg, ba)


def only(violations, rule, earliest, index=None):
    """Exactly one violation, of ``rule``, with that earliest legal cycle."""
    assert [(v.rule, v.earliest_legal_cycle) for v in violations] == [(rule, earliest)], \
        "\n".join(map(str, violations))
    if index is not None:
        assert violations[0].command_index == index


# Each case: (rule, builder(cycle) -> commands, bound).  At cycle == bound the log is
# legal; at bound - 1 the last command breaks exactly ``rule``, earliest legal == bound.
CASES = [
    # ACT @0 -> RD: 0 + rcd 13 = 13
    ("tRCD", lambda c: [act(0), rd(c)], 13),
    # ACT @0 -> WR: 0 + rcd 13 = 13
    ("tRCD", lambda c: [act(0), wr(c)], 13),
    # ACT @0 -> PRE: 0 + ras 30 = 30
    ("tRAS", lambda c: [act(0), pre(c)], 30),
    # PRE @40 -> ACT: 40 + rp 12 = 52 (tRC from ACT @0: 44, already met)
    ("tRP", lambda c: [act(0), pre(40), act(c)], 52),
    # ACT @0 -> ACT: 0 + rc 44 = 44 (tRP from PRE @30: 42, already met)
    ("tRC", lambda c: [act(0), pre(30), act(c)], 44),
    # RD @25 -> PRE: 25 + rtp 10 = 35 (tRAS: 30, met)
    ("tRTP", lambda c: [act(0), rd(25), pre(c)], 35),
    # WR @13 -> PRE: 13 + cwl 9 + bl 4 + wr 15 = 41 (tRAS: 30, met)
    ("tWR", lambda c: [act(0), wr(13), pre(c)], 41),
    # WR @13 -> PREA closes bank 0.0: 41 as above
    ("tWR", lambda c: [act(0), wr(13), prea(c)], 41),
    # ACT 0.0 @0 -> ACT 0.1 (same group): 0 + rrd_l 8 = 8
    ("tRRD_L", lambda c: [act(0), act(c, ba=1)], 8),
    # ACT 0.0 @0 -> ACT 1.0 (other group): 0 + rrd_s 6 = 6
    ("tRRD_S", lambda c: [act(0), act(c, bg=1)], 6),
    # ACTs @0, 6, 12, 18 in groups 0-3 (rrd_s apart); the fifth (bank 0.1): 0 + faw 29 = 29
    # (tRRD_L from 0.0 @0: 8, tRRD_S from 3.0 @18: 24, both met)
    ("tFAW", lambda c: [act(0), act(6, bg=1), act(12, bg=2), act(18, bg=3), act(c, ba=1)], 29),
    # sliding window: ACTs @0, 10, 16, 22, 29; a sixth (bank 1.1) needs the first of the
    # last four (@10) + faw 29 = 39 (tRRD_S from 0.1 @29: 35, tRRD_L from 1.0 @10: 18)
    ("tFAW", lambda c: [act(0), act(10, bg=1), act(16, bg=2), act(22, bg=3), act(29, ba=1),
                        act(c, bg=1, ba=1)], 39),
    # same bank RD @13 -> RD: 13 + ccd_l 7 = 20 (bus: data [24,28) then [30,34), apart)
    ("tCCD_L", lambda c: [act(0), rd(13), rd(c, col=4)], 20),
    # same group, other bank: RD 0.0 @21 -> RD 0.1: 21 + 7 = 28 (tRCD 0.1: 8 + 13 = 21)
    ("tCCD_L", lambda c: [act(0), act(8, ba=1), rd(21), rd(c, ba=1)], 28),
    # RD 0.0 @19 -> RD 1.0: 19 + ccd_s 5 = 24 (tRCD of 1.0: 6 + 13 = 19; bus: bl 4 < 5)
    ("tCCD_S", lambda c: [act(0), act(6, bg=1), rd(19), rd(c, bg=1)], 24),
    # WR @13 -> WR same bank: 13 + ccd_l 7 = 20
    ("tCCD_L", lambda c: [act(0), wr(13), wr(c, col=4)], 20),
    # WR 0.0 @19 -> WR 1.0: 19 + ccd_s 5 = 24
    ("tCCD_S", lambda c: [act(0), act(6, bg=1), wr(19), wr(c, bg=1)], 24),
    # WR @13 -> RD same group: 13 + cwl 9 + bl 4 + wtr_l 9 = 35
    ("tWTR_L", lambda c: [act(0), wr(13), rd(c)], 35),
    # WR 0.0 @19 -> RD 1.0: 19 + cwl 9 + bl 4 + wtr_s 3 = 35
    ("tWTR_S", lambda c: [act(0), act(6, bg=1), wr(19), rd(c, bg=1)], 35),
    # RD @13 -> WR: 13 + cl 11 + bl 4 + rtrs 2 - cwl 9 = 21 (bus: RD [24,28), WR [29,33))
    ("tRTRS", lambda c: [act(0), rd(13), wr(c, col=4)], 21),
    # RD of bank 1.0 @19 -> WR of bank 0.0: 19 + 11 + 4 + 2 - 9 = 27 (any bank of the rank)
    ("tRTRS", lambda c: [act(0), act(6, bg=1), rd(19, bg=1), wr(c)], 27),
    # REF @0 -> any command to the rank: 0 + rfc 100 = 100
    ("tRFC", lambda c: [ref(0), act(c)], 100),
    ("tRFC", lambda c: [ref(0), ref(c)], 100),
    ("tRFC", lambda c: [ref(0), pre(c)], 100),
    # PRE @30 -> REF: 30 + rp 12 = 42
    ("tRP", lambda c: [act(0), pre(30), ref(c)], 42),
    # REF needs every bank's last PRE + rp: PREA @36 closes 0.0 and 1.0 -> 36 + 12 = 48
    ("tRP", lambda c: [act(0), act(6, bg=1), prea(36), ref(c)], 48),
    # PREA @36: ACT 1.0 @6 + ras 30 = 36 (bank 0.0 needs only 30)
    ("tRAS", lambda c: [act(0), act(6, bg=1), prea(c)], 36),
    # PREA @36 -> ACT: 36 + rp 12 = 48 (tRC: 44)
    ("tRP", lambda c: [act(0), act(6, bg=1), prea(36), act(c)], 48),
    # REFPB @0 of bank 0.0 -> ACT of that bank: 0 + rfc_pb 50 = 50
    ("tRFC_pb", lambda c: [refpb(0), act(c)], 50),
    # REFPB @0 -> REF of the rank: 50
    ("tRFC_pb", lambda c: [refpb(0), ref(c)], 50),
    # PRE @30 -> REFPB of that bank: 30 + rp 12 = 42
    ("tRP", lambda c: [act(0), pre(30), refpb(c)], 42),
    # same cycle, same channel: the second must wait one cycle
    # (no-op PREs of closed banks, so no other rule is involved)
    ("command bus", lambda c: [pre(0), pre(c, ch=1), pre(c, bg=1)], 1),
]


@pytest.mark.parametrize(("rule", "build", "bound"), CASES,
                         ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(CASES)])
def test_rule_at_bound_and_one_cycle_early(rule, build, bound):
    assert rule in RULES
    assert check_commands(DEV, build(bound)) == []
    log = build(bound - 1)
    only(check_commands(DEV, log), rule, bound, index=len(log) - 1)


def test_rrd_applies_to_other_banks_only():
    # same bank twice: tRC (44) applies, not tRRD; a legal re-open of the bank at 44
    assert check_commands(DEV, [act(0), pre(30), act(44)]) == []


def test_wtr_is_per_rank():
    # WR on rank 0 @13 -> RD on rank 1: no tWTR; only the data bus (WR data [22, 26),
    # RD at c has data [c + 11, c + 15): c = 15 is the first that clears 26)
    log = [act(0), act(1, rank=1), wr(13), rd(15, rank=1)]
    assert check_commands(DEV2, log) == []
    only(check_commands(DEV2, [*log[:-1], rd(14, rank=1)]), "data bus", 15)


def test_data_bus_read_read_other_rank():
    # RD rank 0 @13: data [24, 28); RD rank 1: data [c + 11, ...) clear of 28 -> c >= 17
    # (rank rules do not apply across ranks; tRCD of rank 1's bank: 1 + 13 = 14)
    log = [act(0), act(1, rank=1), rd(13), rd(17, rank=1)]
    assert check_commands(DEV2, log) == []
    only(check_commands(DEV2, [*log[:-1], rd(16, rank=1)]), "data bus", 17)


def test_data_bus_read_then_write_other_rank():
    # RD rank 0 @13: data [24, 28); WR rank 1: data [c + 9, c + 13) from 28 -> c >= 19
    log = [act(0), act(1, rank=1), rd(13), wr(19, rank=1)]
    assert check_commands(DEV2, log) == []
    only(check_commands(DEV2, [*log[:-1], wr(18, rank=1)]), "data bus", 19)


def test_data_bus_slides_past_the_bursts_in_the_way():
    # RD r0 @13: data [24, 28); WR r1 @19: data [28, 32); a RD of bank r0 1.0 (tRCD
    # 6 + 13 = 19, tCCD_S 13 + 5 = 18) at c has data [c + 11, c + 15): clear of both
    # bursts from c = 32 - cl 11 = 21
    log = [act(0), act(1, rank=1), act(6, bg=1), rd(13), wr(19, rank=1)]
    assert check_commands(DEV2, [*log, rd(21, bg=1)]) == []
    only(check_commands(DEV2, [*log, rd(20, bg=1)]), "data bus", 21, index=5)


def test_data_bus_is_per_channel():
    log = [act(0), act(0, ch=1), rd(13), rd(13, ch=1)]
    assert check_commands(DEV, log) == []


def test_order_is_for_the_whole_log():
    only(check_commands(DEV, [act(10), act(5, ch=1)]), "order", 10, index=1)


def test_state_act_to_open_bank():
    only(check_commands(DEV, [act(0), act(44, row=6)]), "state", None, index=1)


@pytest.mark.parametrize("column", [rd, wr])
def test_state_column_to_closed_bank(column):
    only(check_commands(DEV, [column(13)]), "state", None, index=0)
    only(check_commands(DEV, [act(0), pre(30), column(60)]), "state", None, index=2)


@pytest.mark.parametrize("column", [rd, wr])
def test_state_column_to_other_row(column):
    v = check_commands(DEV, [act(0, row=5), column(13, row=6)])
    only(v, "state", None, index=1)
    assert "row 5 is open" in v[0].message


def test_pre_of_a_closed_bank_is_a_no_op():
    # PRE @40 of the closed bank restarts nothing: ACT at max(30 + rp 12, 0 + rc 44) = 44
    assert check_commands(DEV, [pre(0), act(1), pre(31), pre(40), act(45)]) == []
    assert check_commands(DEV, [act(0), pre(30), pre(40), act(44)]) == []
    assert check_commands(DEV, [prea(0), prea(1)]) == []


def test_ref_needs_every_bank_closed():
    v = check_commands(DEV, [act(0), act(6, bg=2, ba=3), pre(30), ref(100)])
    only(v, "state", None, index=3)
    assert "2.3" in v[0].message


def test_refpb_state_and_support():
    only(check_commands(DEV, [act(0), refpb(50)]), "state", None, index=1)
    only(check_commands(device(rfc_pb=0), [refpb(0)]), "REFPB", None, index=0)
    # other banks are not blocked by a REFPB
    assert check_commands(DEV, [refpb(0), act(1, bg=1)]) == []


def test_refresh_deadline():
    # no REF yet: REF 1 due by (0 + 9) x refi 5000 = 45000
    assert check_commands(DEV, [ref(45000)]) == []
    only(check_commands(DEV, [pre(45001)]), "tREFI", None, index=0)
    only(check_commands(DEV, [ref(45001)]), "tREFI", None, index=0)
    # after one REF the second is due by (1 + 9) x 5000 = 50000; reported once
    only(check_commands(DEV, [ref(10), pre(50001), pre(50002)]), "tREFI", None, index=1)
    assert check_commands(DEV, [ref(10), ref(50000)]) == []
    assert check_commands(DEV, [pre(45001)], refresh_deadline=False) == []
    assert check_commands(device(refi=0), [pre(10**9)]) == []


def test_field_out_of_range():
    v = check_commands(DEV, [act(0, bg=4), rd(13, col=128, ch=2)])
    assert [x.rule for x in v] == ["field", "field"]
    assert "bankgroup 4 not in [0, 4)" in v[0].message
    assert "channel 2 not in [0, 2)" in v[1].message


def test_one_command_breaking_several_rules_reports_each():
    # ACT @0, WR @13 (data [22, 26)), RD of the closed bank 1.0 at 14: state (closed),
    # tWTR_S (13 + 9 + 4 + 3 = 29), data bus (data [25, 29) hits [22, 26): 26 - 11 = 15)
    v = check_commands(DEV, [act(0), wr(13), rd(14, bg=1)])
    assert [(x.rule, x.earliest_legal_cycle) for x in v] == [
        ("state", None), ("data bus", 15), ("tWTR_S", 29)]


def test_assert_legal_lists_the_first_violations():
    assert_legal(DEV, [act(0), rd(13)])
    log = [act(0)] + [rd(1 + i, col=i) for i in range(12)]
    with pytest.raises(CommandLogError) as err:
        assert_legal(DEV, log, shown=3)
    text = str(err.value)
    assert "command 1 `1 RD 0 0 0 0 5 0`: tRCD" in text
    assert "(earliest legal cycle 13)" in text
    assert "... and" in text
    assert len(err.value.violations) > 3


def _legal_log(n):
    """A long legal log: per round, ACT / RD / WR / PRE on a rotating bank, REF when due.

    The PRE sits exactly at write recovery: WR @t+22 + cwl 9 + bl 4 + wr 15 = t+50.
    """
    log, t, k = [], 0, 0
    next_ref = 4000
    while len(log) < n:
        if t >= next_ref:
            log.append(ref(t + 10))   # last PRE @t-6 + rp 12 = t+6
            t += 110                  # REF + rfc 100
            next_ref += 4000
        bg, ba = k % 4, (k // 4) % 4
        log += [act(t, bg, ba, row=k % 1024), rd(t + 13, bg, ba, row=k % 1024),
                wr(t + 22, bg, ba, row=k % 1024), pre(t + 50, bg, ba)]
        t += 56
        k += 1
    return log


def test_long_legal_log_is_quick_and_clean():
    log = _legal_log(30_000)
    start = time.perf_counter()
    assert check_commands(DEV, log) == []
    assert time.perf_counter() - start < 10
    # one command moved one cycle early is found
    i = next(j for j, c in enumerate(log) if c.kind is Kind.PRE and j > 20_000)
    broken = [*log[:i], log[i]._replace(cycle=log[i].cycle - 1), *log[i + 1:]]
    only(check_commands(DEV, broken), "tWR", log[i].cycle, index=i)


def test_checker_shares_no_code_with_the_engine():
    import ast
    from pathlib import Path

    import sparseforge.sim.dram.checker as checker

    tree = ast.parse(Path(checker.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for a in node.names}
    assert imported == {"__future__", "collections", "collections.abc", "dataclasses",
                        "commands"}
