"""The timing engine: per-bank state and the earliest cycle each command is legal.

:class:`ChannelState` holds one channel's state (every bank's open row and the cycles
of its last ACT / PRE / RD / WR, every rank's ACT history, refresh and bus state) and
answers :meth:`~ChannelState.earliest` — the first cycle at or after ``now`` at which a
command meets every rule of docs/designs/dram.md — in closed form, so the controller
jumps from command to command instead of stepping cycles.  :meth:`~ChannelState.issue`
records a command (and refuses one that is not legal at its cycle).

The all-bank PIM commands (``GWRITE``, ``GACT``, ``MAC``, ``MACL``, ``READRES``) follow
the table of docs/designs/dram.md, "PIM commands"; they need a device with ``pim``
(:class:`~sparseforge.sim.dram.device.PimTiming`).

The rules are re-derived independently by :mod:`sparseforge.sim.dram.checker`; tests
run both on the same command streams.
"""

from __future__ import annotations

import copy
from collections import deque

from .commands import PIM_KINDS, Command, Kind

__all__ = ["ChannelState", "IllegalCommand"]

_NEVER = -(1 << 60)  # "long ago": every bound measured from it is already met


class IllegalCommand(RuntimeError):
    """A command issued before its earliest legal cycle, or in a wrong bank state."""


class _Bank:
    __slots__ = ("act", "open_row", "pre", "rd", "refpb_end", "wr")

    def __init__(self) -> None:
        self.open_row = -1
        self.act = self.pre = self.rd = self.wr = _NEVER
        self.refpb_end = _NEVER  # the bank is refreshing (REFPB) until this cycle


class _Rank:
    __slots__ = ("act_any", "acts", "acts_bg", "last_col", "mac", "pre_any", "rd_bg",
                 "readres", "ref_end", "slot_next", "slots", "wr_bg")

    def __init__(self, bankgroups: int) -> None:
        self.acts: deque[int] = deque(maxlen=4)  # the last four ACT cycles (tFAW)
        self.acts_bg = [_NEVER] * bankgroups  # last ACT per bank group (tRRD)
        self.rd_bg = [_NEVER] * bankgroups  # last RD per bank group (tCCD, RD→WR)
        self.wr_bg = [_NEVER] * bankgroups  # last WR per bank group (tCCD, tWTR)
        self.pre_any = _NEVER  # last PRE of any bank (REF needs tRP after it)
        self.ref_end = _NEVER  # the rank is refreshing until this cycle
        self.last_col = _NEVER
        self.act_any = _NEVER  # last activation (ACT or GACT) of any bank (tRCD_MAC)
        self.mac = _NEVER  # last MAC / MACL of the rank
        self.readres = _NEVER  # last READRES of the rank (READRES -> WR turnaround)
        self.slots: list[int] = []  # cycle each filled result slot is readable
        self.slot_next = 0  # the next MACL's slot (restarts at every GACT)


class ChannelState:
    """One channel of ``device`` (a :class:`sparseforge.sim.dram.device.Device` or
    anything with its organisation and ``timing`` attributes)."""

    def __init__(self, device, channel: int = 0):
        self.device = device
        self.t = device.timing
        self.channel = channel
        self.banks = [[[_Bank() for _ in range(device.banks_per_group)]
                       for _ in range(device.bankgroups)] for _ in range(device.ranks)]
        self.ranks = [_Rank(device.bankgroups) for _ in range(device.ranks)]
        self.bus_free = _NEVER  # the data bus is busy until this cycle
        self.last_cmd = _NEVER  # one command per cycle on the command bus
        self.p = getattr(device, "pim", None)
        self.gwrite = _NEVER  # last GWRITE of the channel
        self.wr_any = _NEVER  # last WR of any rank (GWRITE's tCCD_S)
        self.rd_end = _NEVER  # end of the last RD / READRES data of any rank (GWRITE's tRTRS)
        self.mac_any = _NEVER  # last MAC / MACL of any rank (gbuf WAR)
        self.counts = {k: 0 for k in Kind}

    def clone(self, channel: int | None = None) -> ChannelState:
        """An independent copy of this state (sharing only the device), for
        ``channel`` (default: the same)."""
        new = copy.copy(self)
        new.channel = self.channel if channel is None else channel
        new.banks = [[[copy.copy(b) for b in group] for group in rank]
                     for rank in self.banks]
        new.ranks = []
        for r in self.ranks:
            c = copy.copy(r)
            c.acts = deque(r.acts, maxlen=r.acts.maxlen)
            c.acts_bg, c.rd_bg, c.wr_bg, c.slots = (list(r.acts_bg), list(r.rd_bg),
                                                    list(r.wr_bg), list(r.slots))
            new.ranks.append(c)
        new.counts = dict(self.counts)
        return new

    #: Cycle-valued fields (of the channel, of a bank, of a rank); :meth:`shift` moves
    #: them.  A field added to the state must be listed here (a test checks it).
    TIME_FIELDS = ("bus_free", "last_cmd", "gwrite", "wr_any", "rd_end", "mac_any")
    BANK_TIME_FIELDS = ("act", "pre", "rd", "wr", "refpb_end")
    RANK_TIME_FIELDS = ("act_any", "last_col", "mac", "pre_any", "readres", "ref_end")
    RANK_TIME_LISTS = ("acts_bg", "rd_bg", "wr_bg", "slots")

    def shift(self, delta: int) -> None:
        """Move every remembered cycle ``delta`` cycles later: the state a periodic
        command stream reaches ``delta`` cycles on (the PIM-GPT timed simulator skips
        repeating rows this way; its tests compare with the stream issued in full)."""
        for name in self.TIME_FIELDS:
            setattr(self, name, getattr(self, name) + delta)
        for rank in self.banks:
            for group in rank:
                for b in group:
                    for name in self.BANK_TIME_FIELDS:
                        setattr(b, name, getattr(b, name) + delta)
        for r in self.ranks:
            for name in self.RANK_TIME_FIELDS:
                setattr(r, name, getattr(r, name) + delta)
            for name in self.RANK_TIME_LISTS:
                setattr(r, name, [v + delta for v in getattr(r, name)])
            r.acts = deque((v + delta for v in r.acts), maxlen=r.acts.maxlen)

    def signature(self, ref: int, window: int) -> tuple:
        """The state as seen from cycle ``ref``: every remembered cycle relative to
        ``ref``, those more than ``window`` cycles before it all counted as
        ``-window`` (no rule reaches further back), plus the open rows and filled
        result slots.  Equal signatures, equal ``ref``-relative futures."""
        lo = ref - window

        def rel(v):
            return (v if v > lo else lo) - ref

        out = [rel(getattr(self, n)) for n in self.TIME_FIELDS]
        for rank in self.banks:
            for group in rank:
                for b in group:
                    out.append(b.open_row)
                    out += [rel(getattr(b, n)) for n in self.BANK_TIME_FIELDS]
        for r in self.ranks:
            out.append(r.slot_next)
            out += [rel(getattr(r, n)) for n in self.RANK_TIME_FIELDS]
            for n in self.RANK_TIME_LISTS:
                out.append(tuple(rel(v) for v in getattr(r, n)))
            out.append(tuple(rel(v) for v in r.acts))
        return tuple(out)

    # ------------------------------------------------------------------ queries
    def bank(self, rank: int, bankgroup: int, bank: int) -> _Bank:
        return self.banks[rank][bankgroup][bank]

    def open_row(self, rank: int, bankgroup: int, bank: int) -> int:
        """The bank's open row, -1 when precharged."""
        return self.banks[rank][bankgroup][bank].open_row

    def all_closed(self, rank: int) -> bool:
        return all(b.open_row < 0 for group in self.banks[rank] for b in group)

    def all_open(self, rank: int, row: int) -> bool:
        """Whether every bank of ``rank`` has ``row`` open (a GACT'd rank)."""
        return all(b.open_row == row for group in self.banks[rank] for b in group)

    def refpb_end(self, rank: int) -> int:
        """The end of the latest per-bank refresh of any bank of ``rank`` (commands to
        the whole rank wait for it)."""
        return max(b.refpb_end for group in self.banks[rank] for b in group)

    def filled_slots(self, rank: int) -> int:
        """Result slots of ``rank`` filled by MACLs since its last GACT."""
        return self.ranks[rank].slot_next

    def earliest_for(self, cmd: Command, now: int | None = None) -> int:
        """:meth:`earliest` for the command's own fields (``now`` defaults to its cycle)."""
        return self.earliest(cmd.kind, cmd.rank, cmd.bankgroup, cmd.bank, cmd.row,
                             cmd.cycle if now is None else now, column=cmd.column)

    def earliest(self, kind: Kind, rank: int = 0, bankgroup: int = -1, bank: int = -1,
                 row: int = -1, now: int = 0, column: int = -1) -> int:
        """The first cycle >= ``now`` at which ``kind`` may issue to the given bank.

        ``column`` matters only to ``READRES`` (the result slot); ``GWRITE`` uses no
        rank (the global buffer is the channel's).

        Raises
        ------
        IllegalCommand
            When the state forbids the command whatever the cycle (ACT on an open
            bank, RD / WR on a closed bank or another row, REF or GACT with a bank open,
            MAC / MACL unless every bank of the rank has ``row`` open, MACL with every
            result slot filled, READRES of a slot not filled since the last GACT, a PIM
            command on a device without ``pim``).
        """
        t = self.t
        if kind in PIM_KINDS:
            if self.p is None:
                raise IllegalCommand(f"{kind.value}: device {getattr(self.device, 'name', '')!r}"
                                     " has no [pim] table")
            if kind is Kind.GWRITE:
                return self._earliest_gwrite(now)
        r = self.ranks[rank]
        at = max(now, self.last_cmd + 1, r.ref_end)
        if kind in (Kind.ACT, Kind.PRE, Kind.RD, Kind.WR, Kind.REFPB):
            at = max(at, self.banks[rank][bankgroup][bank].refpb_end)
        elif kind is not Kind.READRES:  # PREA, REF, GACT, MAC, MACL: every bank
            at = max(at, self.refpb_end(rank))
        if kind in PIM_KINDS:
            return self._earliest_pim(kind, rank, row, column, at)
        if kind is Kind.REFPB:
            b = self.banks[rank][bankgroup][bank]
            if not t.rfc_pb:
                raise IllegalCommand("REFPB: the device has no per-bank refresh (rfc_pb = 0)")
            if b.open_row >= 0:
                raise IllegalCommand(f"REFPB to bank {bankgroup}.{bank} with row "
                                     f"{b.open_row} open")
            return max(at, b.pre + t.rp)
        if kind is Kind.ACT:
            b = self.banks[rank][bankgroup][bank]
            if b.open_row >= 0:
                raise IllegalCommand(f"ACT to bank {bankgroup}.{bank} with row {b.open_row} "
                                     "open")
            at = max(at, b.pre + t.rp, b.act + t.rc)
            for g, last in enumerate(r.acts_bg):
                at = max(at, last + (t.rrd_l if g == bankgroup else t.rrd_s))
            if len(r.acts) == 4:
                at = max(at, r.acts[0] + t.faw)
            return at
        if kind is Kind.PRE:
            b = self.banks[rank][bankgroup][bank]
            if b.open_row < 0:
                return at  # a PRE of a precharged bank is a no-op
            return max(at, self._pre_bound(b), r.mac + t.rtp)
        if kind is Kind.PREA:
            any_open = False
            for group in self.banks[rank]:
                for b in group:
                    if b.open_row >= 0:
                        at = max(at, self._pre_bound(b))
                        any_open = True
            return max(at, r.mac + t.rtp) if any_open else at
        if kind in (Kind.RD, Kind.WR):
            b = self.banks[rank][bankgroup][bank]
            if b.open_row < 0 or b.open_row != row:
                raise IllegalCommand(f"{kind.value} to row {row} of bank {bankgroup}.{bank} "
                                     f"(open row {b.open_row})")
            at = max(at, b.act + t.rcd)
            for g in range(len(r.rd_bg)):
                same = g == bankgroup
                ccd = t.ccd_l if same else t.ccd_s
                if kind is Kind.RD:
                    at = max(at, r.rd_bg[g] + ccd,
                             r.wr_bg[g] + t.cwl + t.bl + (t.wtr_l if same else t.wtr_s))
                else:
                    at = max(at, r.wr_bg[g] + ccd,
                             r.rd_bg[g] + t.cl + t.bl + t.rtrs - t.cwl)
            if kind is Kind.RD:
                at = max(at, r.mac + t.ccd_l)  # a MAC is a column read in every group
            elif self.p is not None:
                at = max(at, self.gwrite + t.ccd_s,
                         r.readres + t.cl + self.p.readres_bursts * t.bl + t.rtrs - t.cwl)
            latency = t.cl if kind is Kind.RD else t.cwl
            return max(at, self.bus_free - latency)
        if kind is Kind.REF:
            if not self.all_closed(rank):
                raise IllegalCommand(f"REF to rank {rank} with a bank open")
            return max(at, r.pre_any + t.rp)
        raise IllegalCommand(f"{kind.value}: not supported by this engine")

    def _earliest_gwrite(self, now: int) -> int:
        t, p = self.t, self.p
        at = max(now, self.last_cmd + 1, self.gwrite + t.ccd_s, self.wr_any + t.ccd_s,
                 self.rd_end + t.rtrs - t.cwl,  # bus turnaround after any rank's read data
                 self.mac_any + p.ccd_mac - t.cwl)  # data lands after the MAC read the buffer
        return max(at, self.bus_free - t.cwl)

    def _earliest_pim(self, kind: Kind, rank: int, row: int, column: int, at: int) -> int:
        t, p, r = self.t, self.p, self.ranks[rank]
        if kind is Kind.GACT:
            if not self.all_closed(rank):
                raise IllegalCommand(f"GACT to rank {rank} with a bank open")
            at = max(at, r.pre_any + t.rp)
            for group in self.banks[rank]:
                for b in group:
                    at = max(at, b.act + t.rc)
            if p.gact_faw and r.acts:  # four ACTs at its cycle, in every bank group
                at = max(at, max(r.acts_bg) + t.rrd_l, r.acts[-1] + t.faw)
            return at
        if kind in (Kind.MAC, Kind.MACL):
            if not self.all_open(rank, row):
                raise IllegalCommand(f"{kind.value} to rank {rank} row {row}: not every bank "
                                     f"has row {row} open")
            if kind is Kind.MACL and r.slot_next >= p.result_slots:
                raise IllegalCommand(f"MACL to rank {rank}: all {p.result_slots} result slots "
                                     "filled since the last GACT")
            return max(at, r.act_any + p.rcd_mac, r.mac + p.ccd_mac,
                       self.gwrite + t.cwl + t.bl, max(r.rd_bg) + t.ccd_l,
                       max(r.wr_bg) + t.cwl + t.bl + t.wtr_l)
        # READRES
        if not 0 <= column < r.slot_next:
            raise IllegalCommand(f"READRES of slot {column} of rank {rank}: "
                                 f"{r.slot_next} slot(s) filled since the last GACT")
        return max(at, r.slots[column], self.bus_free - t.cl)

    def _pre_bound(self, b: _Bank) -> int:
        t = self.t
        return max(b.act + t.ras, b.rd + t.rtp, b.wr + t.cwl + t.bl + t.wr)

    # ------------------------------------------------------------------ updates
    def issue(self, cmd: Command) -> None:
        """Record ``cmd``; :class:`IllegalCommand` when it is not legal at its cycle."""
        _kind, _rank, _bg, _bk = cmd.kind, cmd.rank, cmd.bankgroup, cmd.bank
        earliest = self.earliest_for(cmd)
        if earliest != cmd.cycle:  # earliest() is never below the cycle asked for
            raise IllegalCommand(f"{cmd.line()}: earliest legal cycle {earliest}")
        self.apply(cmd)

    def apply(self, cmd: Command) -> None:
        """Record ``cmd`` **without** checking it: for a caller that has proved it
        legal (the PIM-GPT timed simulator places the middle MACs of a row at a fixed
        spacing this way; its tests compare the result with :meth:`issue` on every
        command and run the independent checker on the log).  :meth:`issue` checks,
        then applies."""
        kind, rank, bg, bk = cmd.kind, cmd.rank, cmd.bankgroup, cmd.bank
        t, c = self.t, cmd.cycle
        self.last_cmd = c
        self.counts[kind] += 1
        if kind is Kind.GWRITE:
            self.gwrite = c
            self.bus_free = max(self.bus_free, c + t.cwl + t.bl)
            return
        r = self.ranks[rank]
        if kind is Kind.GACT:
            for group in self.banks[rank]:
                for b in group:
                    b.open_row, b.act = cmd.row, c
            r.act_any = c
            r.slots, r.slot_next = [], 0
            if self.p.gact_faw:
                r.acts.extend([c] * 4)
                r.acts_bg = [c] * len(r.acts_bg)
        elif kind in (Kind.MAC, Kind.MACL):
            r.mac = self.mac_any = c
            if kind is Kind.MACL:
                r.slots.append(c + self.p.mac_latency)
                r.slot_next += 1
        elif kind is Kind.READRES:
            r.readres = c
            end = c + t.cl + self.p.readres_bursts * t.bl
            self.rd_end = max(self.rd_end, end)
            self.bus_free = max(self.bus_free, end)
        elif kind is Kind.ACT:
            b = self.banks[rank][bg][bk]
            b.open_row, b.act = cmd.row, c
            r.acts.append(c)
            r.acts_bg[bg] = c
            r.act_any = c
        elif kind is Kind.PRE:
            b = self.banks[rank][bg][bk]
            if b.open_row >= 0:
                b.open_row, b.pre = -1, c
                r.pre_any = c
        elif kind is Kind.PREA:
            for group in self.banks[rank]:
                for b in group:
                    if b.open_row >= 0:  # a PREA of a closed rank is a no-op
                        b.open_row, b.pre = -1, c
                        r.pre_any = c
        elif kind is Kind.RD:
            self.banks[rank][bg][bk].rd = c
            r.rd_bg[bg] = c
            self.rd_end = max(self.rd_end, c + t.cl + t.bl)
            self.bus_free = max(self.bus_free, c + t.cl + t.bl)
        elif kind is Kind.WR:
            self.banks[rank][bg][bk].wr = c
            r.wr_bg[bg] = c
            self.wr_any = c
            self.bus_free = max(self.bus_free, c + t.cwl + t.bl)
        elif kind is Kind.REF:
            r.ref_end = c + t.rfc
        elif kind is Kind.REFPB:
            self.banks[rank][bg][bk].refpb_end = c + t.rfc_pb
