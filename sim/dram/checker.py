"""Independent checker of DRAM command logs: every command legal, from the rules alone.

The referee of the timing engine (``timing.py``) and the controller: it re-derives
every rule of docs/designs/dram.md (section "Checker" lists each formula as applied
here) with plain loops over the log and the little history each rule needs.  It
shares no code with ``timing.py`` or ``controller.py`` on purpose: a bug there must
not be a bug here too.

``device`` is any object with ``channels``, ``ranks``, ``bankgroups``,
``banks_per_group``, ``rows``, ``columns`` and ``timing``; ``timing`` any object with
the integer-cycle attributes ``cl cwl bl rcd rp ras rc ccd_s ccd_l rrd_s rrd_l faw wr
rtp wtr_s wtr_l rtrs rfc refi rfc_pb`` (``bl``: burst duration on the data bus in
tCK; ``rfc_pb = 0``: no per-bank refresh; ``refi = 0``: no refresh deadline).  All
cycles are tCK.  ``Command.bank`` is the bank's index inside its bank group.

The PIM commands (``GWRITE``, ``GACT``, ``MAC``, ``MACL``, ``READRES``; docs/designs/
dram.md, "PIM commands") also need ``device.pim`` with ``gbuf_columns result_slots
rcd_mac ccd_mac mac_latency gact_faw readres_bursts`` (a device without it gets the rule
``PIM`` for each of them).

Example
-------
>>> violations = check_commands(device, commands)
>>> assert_legal(device, commands)   # raises CommandLogError listing the first ones
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from .commands import FIELDS, Command, Kind

__all__ = ["RULES", "CommandLogError", "Violation", "assert_legal", "check_commands"]

#: Every rule the checker applies: name -> what it requires (cycles are tCK;
#: "A -> B >= x" means B.cycle >= A.cycle + x).
RULES: dict[str, str] = {
    "order": "commands in non-decreasing cycle order (the whole log)",
    "command bus": "at most one command per channel per cycle",
    "field": "channel, rank, bank group, bank, row, column inside the device",
    "state": "ACT on a closed bank; RD/WR on the open row of an open bank; REF with every "
             "bank of the rank closed; REFPB on a closed bank (PRE of a closed bank is a no-op)",
    "tRCD": "same bank ACT -> RD/WR >= rcd",
    "tRAS": "same bank ACT -> PRE/PREA >= ras",
    "tRP": "same bank PRE -> ACT >= rp; every bank's last PRE -> REF >= rp; "
           "the bank's last PRE -> REFPB >= rp",
    "tRC": "same bank ACT -> ACT >= rc",
    "tRTP": "same bank RD -> PRE/PREA >= rtp",
    "tWR": "same bank WR -> PRE/PREA >= cwl + bl + wr (from the end of the write data)",
    "tRRD_L": "same rank, other bank, same bank group ACT -> ACT >= rrd_l",
    "tRRD_S": "same rank, other bank group ACT -> ACT >= rrd_s",
    "tFAW": "same rank: an ACT >= faw after the first of the rank's last four ACTs",
    "tCCD_L": "same rank, same bank group (same bank included) RD -> RD and WR -> WR >= ccd_l",
    "tCCD_S": "same rank, other bank group RD -> RD and WR -> WR >= ccd_s",
    "tWTR_L": "same rank, same bank group WR -> RD >= cwl + bl + wtr_l",
    "tWTR_S": "same rank, other bank group WR -> RD >= cwl + bl + wtr_s",
    "tRTRS": "same rank RD -> WR >= cl + bl + rtrs - cwl (bus turnaround)",
    "data bus": "no two bursts overlap on a channel: RD data [cycle + cl, cycle + cl + bl), "
                "WR data [cycle + cwl, cycle + cwl + bl)",
    "tRFC": "REF -> any command to the same rank >= rfc",
    "tRFC_pb": "REFPB -> any command to that bank (and PREA / REF of its rank) >= rfc_pb",
    "REFPB": "REFPB only on a device with per-bank refresh (rfc_pb > 0)",
    "tREFI": "the (k+1)-th refresh of every bank (the rank's REFs plus the bank's REFPBs) at "
             "or before (k + 9) x refi: at most 8 postponed",
    # the all-bank PIM commands (tRP, tRC, tRRD_L, tFAW, tCCD_L, tCCD_S, tWTR_L, tRTRS,
    # tRTP, tRAS, tRFC, tRFC_pb, data bus, state and field apply to them too, see below)
    "PIM": "GWRITE / GACT / MAC / MACL / READRES only on a device with a [pim] table",
    "tRCD_MAC": "the latest activation (ACT or GACT) of any bank of the rank -> MAC/MACL "
                ">= rcd_mac",
    "tCCD_MAC": "same rank MAC/MACL -> MAC/MACL >= ccd_mac",
    "gbuf RAW": "the channel's last GWRITE -> MAC/MACL >= cwl + bl (its data has arrived)",
    "gbuf WAR": "the channel's last MAC/MACL -> GWRITE >= ccd_mac - cwl (the new data lands "
                "after the MAC read the buffer)",
    "tMAC": "the MACL that filled the slot -> READRES of it >= mac_latency",
}

#: JEDEC lets a controller postpone up to 8 refreshes.
POSTPONE = 8

_BANK_KINDS = (Kind.ACT, Kind.PRE, Kind.RD, Kind.WR, Kind.REFPB)
_PIM = (Kind.GWRITE, Kind.GACT, Kind.MAC, Kind.MACL, Kind.READRES)


@dataclass(frozen=True)
class Violation:
    """One broken rule.

    ``command_index`` is the command's position in the log, ``rule`` a key of
    :data:`RULES`, ``earliest_legal_cycle`` the first cycle (tCK) at which this rule
    alone would allow the command given what came before it (``None`` where no cycle
    would: state, field and deadline rules), ``message`` the numbers behind it.
    """

    command_index: int
    command: Command
    rule: str
    earliest_legal_cycle: int | None
    message: str

    def __str__(self) -> str:
        when = ("" if self.earliest_legal_cycle is None
                else f" (earliest legal cycle {self.earliest_legal_cycle})")
        return (f"command {self.command_index} `{self.command.line()}`: {self.rule}: "
                f"{self.message}{when}")


class CommandLogError(AssertionError):
    """A command log broke the rules; ``violations`` holds all of them."""

    def __init__(self, violations: list[Violation], shown: int = 10):
        self.violations = violations
        lines = [str(v) for v in violations[:shown]]
        more = len(violations) - len(lines)
        if more:
            lines.append(f"... and {more} more")
        super().__init__(f"{len(violations)} DRAM rule violation(s):\n  " + "\n  ".join(lines))


def assert_legal(device, commands: Iterable[Command], *, shown: int = 10,
                 refresh_deadline: bool = True) -> None:
    """Raise :class:`CommandLogError` (listing the first ``shown``) unless every
    command of ``commands`` is legal on ``device``."""
    violations = check_commands(device, commands, refresh_deadline=refresh_deadline)
    if violations:
        raise CommandLogError(violations, shown)


def check_commands(device, commands: Iterable[Command], *,
                   refresh_deadline: bool = True) -> list[Violation]:
    """Every rule of :data:`RULES` broken by the log ``commands`` on ``device``.

    Commands are checked in log order against what came before them; a command that
    breaks a rule still takes effect (a wrong ACT opens its row) so that one mistake
    is reported once, not at every later command.  Several rules broken by one command
    give one :class:`Violation` each.  ``refresh_deadline=False`` skips ``tREFI``
    (for logs of a controller run with refresh off).  Costs O(banks) per ACT / PREA /
    REF and O(1) otherwise.
    """
    return _Checker(device, refresh_deadline).run(commands)


class _Bank:
    """What one bank remembers: its open row and the last command of each kind."""

    __slots__ = ("act", "by_gact", "open_row", "pre", "rd", "refpb", "refpbs", "wr")

    def __init__(self):
        self.open_row: int | None = None
        self.act: int | None = None
        self.by_gact = False  # the last activation was a GACT
        self.pre: int | None = None
        self.rd: int | None = None
        self.wr: int | None = None
        self.refpb: int | None = None
        self.refpbs = 0  # REFPBs of this bank so far


class _Rank:
    """What one rank remembers: its banks, ACT history, last RD / WR per bank group,
    last REF and the number of REFs so far."""

    def __init__(self, bankgroups: int, banks_per_group: int):
        self.banks = [[_Bank() for _ in range(banks_per_group)] for _ in range(bankgroups)]
        self.acts: deque[int] = deque(maxlen=4)
        self.rd_bg: list[int | None] = [None] * bankgroups
        self.wr_bg: list[int | None] = [None] * bankgroups
        self.ref: int | None = None
        self.refs = 0
        self.mac: int | None = None  # last MAC / MACL
        self.readres: int | None = None  # last READRES
        self.slots: list[int] = []  # cycle of the MACL that filled each slot since GACT
        self.min_refpbs = 0  # the fewest REFPBs of any bank of the rank
        self.late_reported = -1  # the refresh count whose deadline miss was reported

    def all_banks(self):
        for bg, group in enumerate(self.banks):
            for ba, bank in enumerate(group):
                yield bg, ba, bank


class _Checker:
    def __init__(self, device, refresh_deadline: bool):
        self.dev = device
        self.t = device.timing
        self.refresh_deadline = refresh_deadline and self.t.refi > 0
        self.ranks = [[_Rank(device.bankgroups, device.banks_per_group)
                       for _ in range(device.ranks)] for _ in range(device.channels)]
        self.bursts: list[list[tuple[int, int]]] = [[] for _ in range(device.channels)]
        self.last_cycle: list[int | None] = [None] * device.channels
        # per channel, any rank: last GWRITE, MAC/MACL, WR, RD, READRES
        self.chan = [dict.fromkeys(("gwrite", "mac", "wr", "rd", "readres"))
                     for _ in range(device.channels)]
        self.pim = getattr(device, "pim", None)
        self.max_cycle: int | None = None
        self.out: list[Violation] = []

    # -- reporting -------------------------------------------------------------

    def _flag(self, rule: str, earliest: int | None, message: str):
        self.out.append(Violation(self.index, self.cmd, rule, earliest, message))

    def _need(self, rule: str, bound: int | None, why: str):
        """The command must be at ``bound`` or later (``bound`` None: no constraint)."""
        if bound is not None and self.cmd.cycle < bound:
            self._flag(rule, bound, f"{self.cmd.kind.value} at cycle {self.cmd.cycle} is "
                                    f"before {bound} = {why}")

    # -- the walk --------------------------------------------------------------

    def run(self, commands: Iterable[Command]) -> list[Violation]:
        for index, command in enumerate(commands):
            self.index, self.cmd = index, command
            self._command(command)
        return self.out

    def _command(self, c: Command):
        if c.kind in _PIM and self.pim is None:
            self._flag("PIM", None, f"{c.kind.value} on a device without a [pim] table "
                                    "(command not checked further)")
            return
        if not self._fields_ok(c):
            return
        if self.max_cycle is not None and c.cycle < self.max_cycle:
            self._flag("order", self.max_cycle,
                       f"cycle {c.cycle} after a command at cycle {self.max_cycle}")
        self.max_cycle = c.cycle if self.max_cycle is None else max(self.max_cycle, c.cycle)
        if self.last_cycle[c.channel] == c.cycle:
            self._flag("command bus", c.cycle + 1,
                       f"another command on channel {c.channel} at cycle {c.cycle}")
        self.last_cycle[c.channel] = c.cycle
        if self.refresh_deadline:
            self._refresh_deadlines(c)
        if c.kind is Kind.GWRITE:  # the channel's global buffer: no rank
            self._gwrite(c)
            return
        rank = self.ranks[c.channel][c.rank]
        t = self.t
        if rank.ref is not None:
            self._need("tRFC", rank.ref + t.rfc, f"REF of rank {c.rank} at cycle {rank.ref} "
                                                 f"+ rfc {t.rfc}")
        if c.kind in _BANK_KINDS:
            self._refpb_block(rank, [(c.bankgroup, c.bank)])
        elif c.kind in (Kind.PREA, Kind.REF, Kind.GACT, Kind.MAC, Kind.MACL):
            self._refpb_block(rank, [(bg, ba) for bg, ba, _ in rank.all_banks()])
        getattr(self, "_" + c.kind.name.lower())(c, rank)

    def _fields_ok(self, c: Command) -> bool:
        d = self.dev
        checks = [("channel", c.channel, d.channels)]
        if c.kind is not Kind.GWRITE:
            checks.append(("rank", c.rank, d.ranks))
        if c.kind in _BANK_KINDS:
            checks += [("bankgroup", c.bankgroup, d.bankgroups),
                       ("bank", c.bank, d.banks_per_group)]
        if c.kind in (Kind.ACT, Kind.RD, Kind.WR):
            checks.append(("row", c.row, d.rows))
        if c.kind in (Kind.RD, Kind.WR):
            checks.append(("column", c.column, d.columns))
        if c.kind in _PIM:
            p = self.pim
            if c.kind in (Kind.GACT, Kind.MAC, Kind.MACL):
                checks.append(("row", c.row, d.rows))
            if c.kind is Kind.GWRITE:
                checks.append(("column", c.column, p.gbuf_columns))
            elif c.kind in (Kind.MAC, Kind.MACL):
                checks.append(("column", c.column, min(d.columns, p.gbuf_columns)))
            elif c.kind is Kind.READRES:
                checks.append(("column", c.column, p.result_slots))
        bad = [f"{name} {value} not in [0, {limit})" for name, value, limit in checks
               if not 0 <= value < limit]
        if c.kind in _PIM:
            bad += [f"{name} {getattr(c, name)} is not -1 (unused by {c.kind.value})"
                    for name in ("rank", "bankgroup", "bank", "row", "column")
                    if name not in FIELDS[c.kind] and getattr(c, name) != -1]
        if bad:
            self._flag("field", None, "; ".join(bad) + " (command not checked further)")
        return not bad

    def _refresh_deadlines(self, c: Command):
        t = self.t
        for r, rank in enumerate(self.ranks[c.channel]):
            done = rank.refs + rank.min_refpbs  # refreshes of the least refreshed bank
            deadline = (done + POSTPONE + 1) * t.refi
            if c.cycle > deadline and rank.late_reported != done:
                rank.late_reported = done
                which = "" if not rank.min_refpbs else \
                    f" and {rank.min_refpbs} REFPB(s) of each bank"
                self._flag("tREFI", None,
                           f"rank {r} of channel {c.channel} has had {rank.refs} REF(s){which}; "
                           f"refresh {done + 1} of a bank was due by cycle {deadline} = "
                           f"({done} + {POSTPONE + 1}) x refi {t.refi}")

    def _refpb_block(self, rank: _Rank, banks):
        if not self.t.rfc_pb:
            return
        for bg, ba in banks:
            b = rank.banks[bg][ba]
            if b.refpb is not None:
                self._need("tRFC_pb", b.refpb + self.t.rfc_pb,
                           f"REFPB of bank {bg}.{ba} at cycle {b.refpb} + rfc_pb {self.t.rfc_pb}")

    # -- one method per command kind --------------------------------------------

    def _act(self, c: Command, rank: _Rank):
        t = self.t
        b = rank.banks[c.bankgroup][c.bank]
        if b.open_row is not None:
            self._flag("state", None, f"ACT to bank {c.bankgroup}.{c.bank} with row "
                                      f"{b.open_row} open")
        if b.pre is not None:
            self._need("tRP", b.pre + t.rp, f"PRE of this bank at cycle {b.pre} + rp {t.rp}")
        if b.act is not None:
            self._need("tRC", b.act + t.rc, f"ACT of this bank at cycle {b.act} + rc {t.rc}")
        for rule, same_group, gap in (("tRRD_L", True, t.rrd_l), ("tRRD_S", False, t.rrd_s)):
            bound, why = None, ""
            for bg, ba, other in rank.all_banks():
                if other.act is None or (bg, ba) == (c.bankgroup, c.bank) or (
                        other.by_gact and not (self.pim and self.pim.gact_faw)):
                    continue
                if (bg == c.bankgroup) == same_group and (bound is None
                                                          or other.act + gap > bound):
                    bound = other.act + gap
                    why = f"ACT of bank {bg}.{ba} at cycle {other.act} + {rule.lower()[1:]} {gap}"
            self._need(rule, bound, why)
        if len(rank.acts) == 4:
            first = rank.acts[0]
            self._need("tFAW", first + t.faw, f"the first of the rank's last four ACTs "
                                              f"({', '.join(map(str, rank.acts))}) + faw {t.faw}")
        rank.acts.append(c.cycle)
        b.act = c.cycle
        b.by_gact = False
        b.open_row = c.row

    def _column(self, c: Command, rank: _Rank):
        """What RD and WR share: state, tRCD, tCCD, and the data bus."""
        t = self.t
        b = rank.banks[c.bankgroup][c.bank]
        if b.open_row is None:
            self._flag("state", None, f"{c.kind.value} to closed bank {c.bankgroup}.{c.bank}")
        elif b.open_row != c.row:
            self._flag("state", None, f"{c.kind.value} to row {c.row} of bank "
                                      f"{c.bankgroup}.{c.bank}; row {b.open_row} is open")
        if b.act is not None:
            self._need("tRCD", b.act + t.rcd, f"ACT of this bank at cycle {b.act} + rcd {t.rcd}")
        same = rank.rd_bg if c.kind is Kind.RD else rank.wr_bg
        self._by_group(c, same, "tCCD_L", t.ccd_l, "tCCD_S", t.ccd_s, f"{c.kind.value}")
        latency = t.cl if c.kind is Kind.RD else t.cwl
        self._data_bus(c, latency)

    def _by_group(self, c: Command, last: list[int | None], rule_l: str, gap_l: int,
                  rule_s: str, gap_s: int, what: str):
        """``last[bg] + gap_l`` for the command's bank group, ``+ gap_s`` for the others."""
        if last[c.bankgroup] is not None:
            self._need(rule_l, last[c.bankgroup] + gap_l,
                       f"{what} in bank group {c.bankgroup} at cycle {last[c.bankgroup]} "
                       f"+ {gap_l}")
        others = [(cyc, bg) for bg, cyc in enumerate(last)
                  if bg != c.bankgroup and cyc is not None]
        if others:
            cyc, bg = max(others)
            self._need(rule_s, cyc + gap_s, f"{what} in bank group {bg} at cycle {cyc} + {gap_s}")

    def _data_bus(self, c: Command, latency: int, bl: int | None = None):
        """The burst ``[cycle + latency, cycle + latency + bl)`` (``bl`` default: one
        burst) clear of every burst on the channel."""
        bl = self.t.bl if bl is None else bl
        bursts = [(a, e) for a, e in self.bursts[c.channel] if e > c.cycle]
        start = c.cycle + latency
        clash = [(a, e) for a, e in bursts if a < start + bl and start < e]
        if clash:
            # slide the burst past every burst it hits until it hits none
            s = start
            while True:
                hits = [e for a, e in bursts if a < s + bl and s < e]
                if not hits:
                    break
                s = max(hits)
            self._flag("data bus", s - latency,
                       f"data [{start}, {start + bl}) overlaps burst(s) "
                       + ", ".join(f"[{a}, {e})" for a, e in clash)
                       + f" on channel {c.channel}")
        bursts.append((start, start + bl))
        self.bursts[c.channel] = bursts

    def _rd(self, c: Command, rank: _Rank):
        t = self.t
        self._column(c, rank)
        self._by_group(c, rank.wr_bg, "tWTR_L", t.cwl + t.bl + t.wtr_l,
                       "tWTR_S", t.cwl + t.bl + t.wtr_s, "WR")
        if rank.mac is not None:  # a MAC is a column read of every bank group
            self._need("tCCD_L", rank.mac + t.ccd_l,
                       f"MAC of this rank at cycle {rank.mac} + ccd_l {t.ccd_l}")
        self.chan[c.channel]["rd"] = c.cycle
        rank.rd_bg[c.bankgroup] = c.cycle
        rank.banks[c.bankgroup][c.bank].rd = c.cycle

    def _wr(self, c: Command, rank: _Rank):
        t = self.t
        self._column(c, rank)
        last_rd = max((cyc for cyc in rank.rd_bg if cyc is not None), default=None)
        turn = []  # (bound, why): reads of this rank whose data the WR must turn after
        if last_rd is not None:
            gap = t.cl + t.bl + t.rtrs - t.cwl
            turn.append((last_rd + gap, f"RD of this rank at cycle {last_rd} + cl {t.cl} "
                                        f"+ bl {t.bl} + rtrs {t.rtrs} - cwl {t.cwl}"))
        if rank.readres is not None:
            n = self.pim.readres_bursts
            turn.append((rank.readres + t.cl + n * t.bl + t.rtrs - t.cwl,
                         f"READRES of this rank at cycle {rank.readres} + cl {t.cl} + "
                         f"{n} x bl {t.bl} + rtrs {t.rtrs} - cwl {t.cwl}"))
        if turn:
            self._need("tRTRS", *max(turn))
        gw = self.chan[c.channel]["gwrite"]
        if gw is not None:
            self._need("tCCD_S", gw + t.ccd_s, f"GWRITE at cycle {gw} + ccd_s {t.ccd_s}")
        self.chan[c.channel]["wr"] = c.cycle
        rank.wr_bg[c.bankgroup] = c.cycle
        rank.banks[c.bankgroup][c.bank].wr = c.cycle

    def _close_bounds(self, bg: int, ba: int, b: _Bank):
        """(rule, bound, why) of closing the open bank ``bg.ba``: tRAS, tRTP, write
        recovery."""
        t = self.t
        where = f"bank {bg}.{ba}"
        out = [("tRAS", b.act + t.ras, f"ACT of {where} at cycle {b.act} + ras {t.ras}")]
        if b.rd is not None:
            out.append(("tRTP", b.rd + t.rtp, f"RD of {where} at cycle {b.rd} + rtp {t.rtp}"))
        if b.wr is not None:
            out.append(("tWR", b.wr + t.cwl + t.bl + t.wr,
                        f"WR of {where} at cycle {b.wr} + cwl {t.cwl} + bl {t.bl} + wr {t.wr}"))
        return out

    def _close(self, c: Command, rank: _Rank, banks):
        """PRE / PREA of the open banks ``banks`` ((bg, ba, bank) triples): each rule
        once, against the bank that binds it (a MAC counts as a RD of every bank)."""
        worst: dict[str, tuple[int, str]] = {}
        bounds = [x for bg, ba, b in banks for x in self._close_bounds(bg, ba, b)]
        if rank.mac is not None:
            bounds.append(("tRTP", rank.mac + self.t.rtp,
                           f"MAC of this rank at cycle {rank.mac} + rtp {self.t.rtp}"))
        for rule, bound, why in bounds:
            if rule not in worst or bound > worst[rule][0]:
                worst[rule] = (bound, why)
        for rule in ("tRAS", "tRTP", "tWR"):
            if rule in worst:
                self._need(rule, *worst[rule])
        for _, _, b in banks:
            b.open_row = None
            b.pre = c.cycle

    def _pre(self, c: Command, rank: _Rank):
        b = rank.banks[c.bankgroup][c.bank]
        if b.open_row is not None:  # PRE of a closed bank: a no-op (JEDEC: a NOP)
            self._close(c, rank, [(c.bankgroup, c.bank, b)])

    def _prea(self, c: Command, rank: _Rank):
        banks = [(bg, ba, b) for bg, ba, b in rank.all_banks() if b.open_row is not None]
        if banks:  # PREA with every bank closed: a no-op
            self._close(c, rank, banks)

    def _ref(self, c: Command, rank: _Rank):
        t = self.t
        open_banks = [f"{bg}.{ba}" for bg, ba, b in rank.all_banks() if b.open_row is not None]
        if open_banks:
            self._flag("state", None, f"REF with bank(s) {', '.join(open_banks)} open")
        pres = [(b.pre, bg, ba) for bg, ba, b in rank.all_banks() if b.pre is not None]
        if pres:
            pre, bg, ba = max(pres)
            self._need("tRP", pre + t.rp, f"PRE of bank {bg}.{ba} at cycle {pre} + rp {t.rp}")
        rank.ref = c.cycle
        rank.refs += 1

    def _refpb(self, c: Command, rank: _Rank):
        t = self.t
        b = rank.banks[c.bankgroup][c.bank]
        if not t.rfc_pb:
            self._flag("REFPB", None, "the device has no per-bank refresh (rfc_pb = 0)")
        if b.open_row is not None:
            self._flag("state", None, f"REFPB to bank {c.bankgroup}.{c.bank} with row "
                                      f"{b.open_row} open")
        if b.pre is not None:
            self._need("tRP", b.pre + t.rp, f"PRE of this bank at cycle {b.pre} + rp {t.rp}")
        b.refpb = c.cycle
        b.refpbs += 1
        rank.min_refpbs = min(x.refpbs for _, _, x in rank.all_banks())

    # -- the all-bank PIM commands ----------------------------------------------

    def _gwrite(self, c: Command):
        t, p, ch = self.t, self.pim, self.chan[c.channel]
        prev = [(cyc, what) for cyc, what in ((ch["gwrite"], "GWRITE"), (ch["wr"], "WR"))
                if cyc is not None]
        if prev:
            cyc, what = max(prev)
            self._need("tCCD_S", cyc + t.ccd_s, f"{what} at cycle {cyc} + ccd_s {t.ccd_s}")
        turn = []
        if ch["rd"] is not None:
            turn.append((ch["rd"] + t.cl + t.bl + t.rtrs - t.cwl,
                         f"RD at cycle {ch['rd']} + cl {t.cl} + bl {t.bl} + rtrs {t.rtrs} "
                         f"- cwl {t.cwl}"))
        if ch["readres"] is not None:
            n = p.readres_bursts
            turn.append((ch["readres"] + t.cl + n * t.bl + t.rtrs - t.cwl,
                         f"READRES at cycle {ch['readres']} + cl {t.cl} + {n} x bl {t.bl} "
                         f"+ rtrs {t.rtrs} - cwl {t.cwl}"))
        if turn:
            self._need("tRTRS", *max(turn))
        if ch["mac"] is not None:
            self._need("gbuf WAR", ch["mac"] + p.ccd_mac - t.cwl,
                       f"MAC at cycle {ch['mac']} + ccd_mac {p.ccd_mac} - cwl {t.cwl}")
        self._data_bus(c, t.cwl)
        ch["gwrite"] = c.cycle

    def _gact(self, c: Command, rank: _Rank):
        t, p = self.t, self.pim
        banks = list(rank.all_banks())
        open_banks = [f"{bg}.{ba}" for bg, ba, b in banks if b.open_row is not None]
        if open_banks:
            self._flag("state", None, f"GACT with bank(s) {', '.join(open_banks)} open")
        pres = [(b.pre, bg, ba) for bg, ba, b in banks if b.pre is not None]
        if pres:
            pre, bg, ba = max(pres)
            self._need("tRP", pre + t.rp, f"PRE of bank {bg}.{ba} at cycle {pre} + rp {t.rp}")
        acts = [(b.act, bg, ba, b.by_gact) for bg, ba, b in banks if b.act is not None]
        if acts:
            act, bg, ba, _ = max(acts)
            self._need("tRC", act + t.rc, f"activation of bank {bg}.{ba} at cycle {act} "
                                          f"+ rc {t.rc}")
        if p.gact_faw:
            # it activates a bank in every group: every earlier ACT is same-group
            counted = [(a, bg, ba) for a, bg, ba, by_gact in acts]
            if counted:
                act, bg, ba = max(counted)
                self._need("tRRD_L", act + t.rrd_l, f"ACT of bank {bg}.{ba} at cycle {act} "
                                                    f"+ rrd_l {t.rrd_l}")
            if rank.acts:  # four ACTs at once: no other ACT in its window
                self._need("tFAW", rank.acts[-1] + t.faw,
                           f"GACT counts as four ACTs: the rank's last ACT at cycle "
                           f"{rank.acts[-1]} + faw {t.faw}")
            rank.acts.extend([c.cycle] * 4)
        for _, _, b in banks:
            b.open_row, b.act, b.by_gact = c.row, c.cycle, True
        rank.slots = []

    def _mac(self, c: Command, rank: _Rank):
        t, p, ch = self.t, self.pim, self.chan[c.channel]
        banks = list(rank.all_banks())
        wrong = [f"{bg}.{ba} ({'closed' if b.open_row is None else f'row {b.open_row}'})"
                 for bg, ba, b in banks if b.open_row != c.row]
        if wrong:
            self._flag("state", None, f"{c.kind.value} of row {c.row} needs it open in every "
                                      f"bank; bank(s) {', '.join(wrong)}")
        if c.kind is Kind.MACL and len(rank.slots) >= p.result_slots:
            self._flag("state", None, f"MACL with all {p.result_slots} result slots filled "
                                      "since the last GACT")
        acts = [(b.act, bg, ba) for bg, ba, b in banks if b.act is not None]
        if acts:
            act, bg, ba = max(acts)
            self._need("tRCD_MAC", act + p.rcd_mac, f"activation of bank {bg}.{ba} at cycle "
                                                    f"{act} + rcd_mac {p.rcd_mac}")
        if rank.mac is not None:
            self._need("tCCD_MAC", rank.mac + p.ccd_mac,
                       f"MAC of this rank at cycle {rank.mac} + ccd_mac {p.ccd_mac}")
        if ch["gwrite"] is not None:
            self._need("gbuf RAW", ch["gwrite"] + t.cwl + t.bl,
                       f"GWRITE at cycle {ch['gwrite']} + cwl {t.cwl} + bl {t.bl}")
        rds = [cyc for cyc in rank.rd_bg if cyc is not None]
        if rds:
            self._need("tCCD_L", max(rds) + t.ccd_l,
                       f"RD of this rank at cycle {max(rds)} + ccd_l {t.ccd_l}")
        wrs = [cyc for cyc in rank.wr_bg if cyc is not None]
        if wrs:
            self._need("tWTR_L", max(wrs) + t.cwl + t.bl + t.wtr_l,
                       f"WR of this rank at cycle {max(wrs)} + cwl {t.cwl} + bl {t.bl} "
                       f"+ wtr_l {t.wtr_l}")
        rank.mac = ch["mac"] = c.cycle
        if c.kind is Kind.MACL and len(rank.slots) < p.result_slots:
            rank.slots.append(c.cycle)

    _macl = _mac

    def _readres(self, c: Command, rank: _Rank):
        t, p = self.t, self.pim
        if c.column >= len(rank.slots):
            self._flag("state", None, f"READRES of slot {c.column}: {len(rank.slots)} slot(s) "
                                      "filled since the last GACT")
        else:
            filled = rank.slots[c.column]
            self._need("tMAC", filled + p.mac_latency,
                       f"MACL filling slot {c.column} at cycle {filled} + mac_latency "
                       f"{p.mac_latency}")
        self._data_bus(c, t.cl, p.readres_bursts * t.bl)
        rank.readres = self.chan[c.channel]["readres"] = c.cycle
