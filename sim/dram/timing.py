"""The timing engine: per-bank state and the earliest cycle each command is legal.

:class:`ChannelState` holds one channel's state (every bank's open row and the cycles
of its last ACT / PRE / RD / WR, every rank's ACT history, refresh and bus state) and
answers :meth:`~ChannelState.earliest` — the first cycle at or after ``now`` at which a
command meets every rule of docs/designs/dram.md — in closed form, so the controller
jumps from command to command instead of stepping cycles.  :meth:`~ChannelState.issue`
records a command (and refuses one that is not legal at its cycle).

The rules are re-derived independently by :mod:`sparseforge.sim.dram.checker`; tests
run both on the same command streams.
"""

from __future__ import annotations

from collections import deque

from .commands import Command, Kind

__all__ = ["ChannelState", "IllegalCommand"]

_NEVER = -(1 << 60)  # "long ago": every bound measured from it is already met


class IllegalCommand(RuntimeError):
    """A command issued before its earliest legal cycle, or in a wrong bank state."""


class _Bank:
    __slots__ = ("act", "open_row", "pre", "rd", "wr")

    def __init__(self) -> None:
        self.open_row = -1
        self.act = self.pre = self.rd = self.wr = _NEVER


class _Rank:
    __slots__ = ("acts", "acts_bg", "last_col", "pre_any", "rd_bg", "ref_end", "wr_bg")

    def __init__(self, bankgroups: int) -> None:
        self.acts: deque[int] = deque(maxlen=4)  # the last four ACT cycles (tFAW)
        self.acts_bg = [_NEVER] * bankgroups  # last ACT per bank group (tRRD)
        self.rd_bg = [_NEVER] * bankgroups  # last RD per bank group (tCCD, RD→WR)
        self.wr_bg = [_NEVER] * bankgroups  # last WR per bank group (tCCD, tWTR)
        self.pre_any = _NEVER  # last PRE of any bank (REF needs tRP after it)
        self.ref_end = _NEVER  # the rank is refreshing until this cycle
        self.last_col = _NEVER


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
        self.counts = {k: 0 for k in Kind}

    # ------------------------------------------------------------------ queries
    def bank(self, rank: int, bankgroup: int, bank: int) -> _Bank:
        return self.banks[rank][bankgroup][bank]

    def open_row(self, rank: int, bankgroup: int, bank: int) -> int:
        """The bank's open row, -1 when precharged."""
        return self.banks[rank][bankgroup][bank].open_row

    def all_closed(self, rank: int) -> bool:
        return all(b.open_row < 0 for group in self.banks[rank] for b in group)

    def earliest(self, kind: Kind, rank: int = 0, bankgroup: int = -1, bank: int = -1,
                 row: int = -1, now: int = 0) -> int:
        """The first cycle >= ``now`` at which ``kind`` may issue to the given bank.

        Raises
        ------
        IllegalCommand
            When the bank state forbids the command whatever the cycle (ACT on an open
            bank, RD / WR on a closed bank or another row, REF with a bank open).
        """
        t, r = self.t, self.ranks[rank]
        at = max(now, self.last_cmd + 1, r.ref_end)
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
            return max(at, self._pre_bound(b))
        if kind is Kind.PREA:
            for group in self.banks[rank]:
                for b in group:
                    if b.open_row >= 0:
                        at = max(at, self._pre_bound(b))
            return at
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
            latency = t.cl if kind is Kind.RD else t.cwl
            return max(at, self.bus_free - latency)
        if kind is Kind.REF:
            if not self.all_closed(rank):
                raise IllegalCommand(f"REF to rank {rank} with a bank open")
            return max(at, r.pre_any + t.rp)
        raise IllegalCommand(f"{kind.value}: not supported by this engine")

    def _pre_bound(self, b: _Bank) -> int:
        t = self.t
        return max(b.act + t.ras, b.rd + t.rtp, b.wr + t.cwl + t.bl + t.wr)

    # ------------------------------------------------------------------ updates
    def issue(self, cmd: Command) -> None:
        """Record ``cmd``; :class:`IllegalCommand` when it is not legal at its cycle."""
        kind, rank, bg, bk = cmd.kind, cmd.rank, cmd.bankgroup, cmd.bank
        earliest = self.earliest(kind, rank, bg, bk, cmd.row, cmd.cycle)
        if earliest != cmd.cycle:  # earliest() is never below the cycle asked for
            raise IllegalCommand(f"{cmd.line()}: earliest legal cycle {earliest}")
        t, r, c = self.t, self.ranks[rank], cmd.cycle
        self.last_cmd = c
        self.counts[kind] += 1
        if kind is Kind.ACT:
            b = self.banks[rank][bg][bk]
            b.open_row, b.act = cmd.row, c
            r.acts.append(c)
            r.acts_bg[bg] = c
        elif kind is Kind.PRE:
            b = self.banks[rank][bg][bk]
            if b.open_row >= 0:
                b.open_row, b.pre = -1, c
                r.pre_any = c
        elif kind is Kind.PREA:
            for group in self.banks[rank]:
                for b in group:
                    if b.open_row >= 0:
                        b.open_row, b.pre = -1, c
            r.pre_any = c
        elif kind is Kind.RD:
            self.banks[rank][bg][bk].rd = c
            r.rd_bg[bg] = c
            self.bus_free = max(self.bus_free, c + t.cl + t.bl)
        elif kind is Kind.WR:
            self.banks[rank][bg][bk].wr = c
            r.wr_bg[bg] = c
            self.bus_free = max(self.bus_free, c + t.cwl + t.bl)
        elif kind is Kind.REF:
            r.ref_end = c + t.rfc
