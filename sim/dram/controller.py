"""The memory controller: per-bank queues, FR-FCFS, page policy, write drain, refresh.

:func:`simulate` runs a request trace (addresses, read / write, arrival cycles) through
one controller per channel and returns every request's completion cycle and every
issued command.  It is event-driven: at each step the controller computes, for the
command each bank needs next, the earliest legal cycle (:class:`~sparseforge.sim.dram.
timing.ChannelState`), issues the best one and jumps to it; it never steps cycle by
cycle.

Scheduling (per channel):

* **FR-FCFS**: among the commands that can issue first, column commands to an open row
  (row hits) before others, then the oldest request; within a bank the oldest request
  that hits the open row, else the oldest request;
* **page policy**: ``open`` leaves a row open after its last queued hit; ``closed``
  precharges a bank as soon as no queued request hits its open row;
* **write drain**: reads are served first; when ``write_high`` writes are queued the
  controller drains writes until ``write_low`` remain (or no read is waiting);
* **refresh** (``ControllerConfig.refresh``): ``"all"``: every ``refi`` cycles per rank a
  REF is due; the controller precharges the rank (PREA) and refreshes at the first
  legal cycle, before any other command.  ``"per_bank"``: the rank's banks are
  refreshed one at a time, round-robin (bank ``k mod banks`` by the k-th REFPB), the
  k-th REFPB of a rank due at ``floor((k + 1) * refi / banks)``, so every bank is
  refreshed once per ``refi``; the controller precharges that bank (PRE) and issues the
  REFPB, while the other banks keep serving (a device with ``rfc_pb = 0`` is refused).
  ``"off"``: no refresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .commands import Command, Kind
from .timing import ChannelState

__all__ = ["ControllerConfig", "SimResult", "simulate"]


@dataclass(frozen=True)
class ControllerConfig:
    """Controller options.

    Attributes
    ----------
    page_policy : {"open", "closed"}
    write_high, write_low : int
        Write-drain watermarks (queued writes per channel).
    refresh : {"all", "per_bank", "off"}
        All-bank refreshes (REF) every ``refi`` cycles, per-bank refreshes (REFPB), or
        none.  ``True`` / ``False`` are accepted for ``"all"`` / ``"off"``.
    queue_depth : int
        Requests a channel's queues hold at once; later arrivals wait.
    """

    page_policy: str = "open"
    write_high: int = 32
    write_low: int = 16
    refresh: str | bool = "all"
    queue_depth: int = 64

    def __post_init__(self) -> None:
        if self.refresh is True or self.refresh is False:
            object.__setattr__(self, "refresh", "all" if self.refresh else "off")
        if self.refresh not in ("all", "per_bank", "off"):
            raise ValueError(f"refresh = {self.refresh!r}; allowed: all, per_bank, off")
        if self.page_policy not in ("open", "closed"):
            raise ValueError(f"page_policy = {self.page_policy!r}; allowed: open, closed")
        if not 0 <= self.write_low < self.write_high:
            raise ValueError(f"write_low = {self.write_low}, write_high = {self.write_high}; "
                             "allowed: 0 <= write_low < write_high")
        if self.queue_depth < 1:
            raise ValueError(f"queue_depth = {self.queue_depth}; allowed: at least 1")


@dataclass
class SimResult:
    """What :func:`simulate` returns.

    Attributes
    ----------
    completion : numpy.ndarray of int64
        Cycle each request's data transfer ends, in trace order.
    commands : list of Command
        Every issued command, in cycle order (channels interleaved; within a channel
        in issue order).
    cycles : int
        The last completion (0 for an empty trace).
    row_hits : int
        Column commands that found their row open (no ACT issued for them).
    """

    completion: np.ndarray
    commands: list[Command]
    cycles: int
    row_hits: int
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class _Req:
    index: int
    arrival: int
    write: bool
    rank: int
    bankgroup: int
    bank: int
    row: int
    column: int
    opened: bool = False  # an ACT was issued for it


def simulate(device, mapping, addresses, is_write, arrivals,
             config: ControllerConfig | None = None) -> SimResult:
    """Run a trace; see the module docstring.

    ``mapping`` decodes addresses (:class:`sparseforge.sim.dram.mapping.AddressMapping`
    or any object with ``decode(addresses) -> (channel, rank, bankgroup, bank, row,
    column)`` arrays).
    """
    config = config or ControllerConfig()
    addresses = np.asarray(addresses, np.uint64)
    is_write = np.asarray(is_write, bool)
    arrivals = np.asarray(arrivals, np.int64)
    n = len(addresses)
    if not (len(is_write) == len(arrivals) == n):
        raise ValueError("addresses, is_write and arrivals must have the same length")
    if n and (np.diff(arrivals) < 0).any():
        raise ValueError("arrival cycles must not decrease")
    fields = mapping.decode(addresses)
    channel, rank, bg, bank, row, col = (np.asarray(f, np.int64) for f in fields)
    completion = np.zeros(n, np.int64)
    commands: list[Command] = []
    hits = 0
    counts: dict[str, int] = {k.value: 0 for k in Kind}
    for ch in range(device.channels):
        idx = np.nonzero(channel == ch)[0]
        reqs = [_Req(int(i), int(arrivals[i]), bool(is_write[i]), int(rank[i]), int(bg[i]),
                     int(bank[i]), int(row[i]), int(col[i])) for i in idx]
        cmds, h = _run_channel(device, ch, reqs, completion, config)
        commands += cmds
        hits += h
        for c in cmds:
            counts[c.kind.value] += 1
    commands.sort(key=lambda c: (c.cycle, c.channel))  # one log, in time order
    cycles = int(completion.max()) if n else 0
    return SimResult(completion, commands, cycles, hits, counts)


def _run_channel(device, ch: int, reqs: list[_Req], completion: np.ndarray,
                 config: ControllerConfig) -> tuple[list[Command], int]:
    st = ChannelState(device, ch)
    t = device.timing
    queue: list[_Req] = []
    cmds: list[Command] = []
    hits = 0
    pending = 0  # index of the next request not yet queued
    now = 0
    draining = False
    per_bank = config.refresh == "per_bank"
    banks = device.bankgroups * device.banks_per_group
    if per_bank and not t.rfc_pb:
        raise ValueError(f"refresh = 'per_bank' on device {getattr(device, 'name', '')!r}, "
                         "which has no per-bank refresh (rfc_pb = 0); allowed: all, off")
    refpbs = [0] * device.ranks  # REFPBs issued per rank
    if config.refresh == "off":
        next_ref = None
    elif per_bank:
        next_ref = [t.refi // banks] * device.ranks
    else:
        next_ref = [t.refi] * device.ranks
    while pending < len(reqs) or queue:
        while pending < len(reqs) and len(queue) < config.queue_depth and \
                reqs[pending].arrival <= now:
            queue.append(reqs[pending])
            pending += 1
        if not queue:
            now = max(now, reqs[pending].arrival)
            continue
        # refresh due: precharge the rank, then refresh, before anything else
        if next_ref is not None:
            due = [r for r in range(device.ranks) if next_ref[r] <= now]
            if due and per_bank:
                r = due[0]
                g, b = divmod(refpbs[r] % banks, device.banks_per_group)
                if st.open_row(r, g, b) >= 0:
                    c = st.earliest(Kind.PRE, r, g, b, now=now)
                    _issue(st, cmds, Command(c, Kind.PRE, ch, r, g, b))
                    now = c
                c = st.earliest(Kind.REFPB, r, g, b, now=now)
                _issue(st, cmds, Command(c, Kind.REFPB, ch, r, g, b))
                refpbs[r] += 1
                next_ref[r] = (refpbs[r] + 1) * t.refi // banks
                now = c
                continue
            if due:
                r = due[0]
                if not st.all_closed(r):
                    c = st.earliest(Kind.PREA, r, now=now)
                    _issue(st, cmds, Command(c, Kind.PREA, ch, r))
                    now = c
                c = st.earliest(Kind.REF, r, now=now)
                _issue(st, cmds, Command(c, Kind.REF, ch, r))
                next_ref[r] += t.refi
                now = c
                continue
        writes = sum(q.write for q in queue)
        reads = len(queue) - writes
        if draining and (writes == 0 or (writes <= config.write_low and reads)):
            draining = False
        elif not draining and writes and (writes >= config.write_high or reads == 0):
            draining = True
        best = None  # (cycle, not_hit, arrival, request, kind)
        by_bank: dict[tuple[int, int, int], list[_Req]] = {}
        for q in queue:
            by_bank.setdefault((q.rank, q.bankgroup, q.bank), []).append(q)
        for (r, g, b), bank_q in by_bank.items():
            wanted = [q for q in bank_q if q.write == draining]  # this mode's requests
            if not wanted:
                continue
            open_row = st.open_row(r, g, b)
            hit = next((q for q in wanted if q.row == open_row), None)
            if hit is not None:
                kind = Kind.WR if hit.write else Kind.RD
                cand = (st.earliest(kind, r, g, b, hit.row, now), 0, hit.arrival, hit, kind)
            elif open_row >= 0:
                oldest = wanted[0]
                cand = (st.earliest(Kind.PRE, r, g, b, now=now), 1, oldest.arrival, oldest,
                        Kind.PRE)
            else:
                oldest = wanted[0]
                cand = (st.earliest(Kind.ACT, r, g, b, oldest.row, now), 1, oldest.arrival,
                        oldest, Kind.ACT)
            if best is None or cand[:3] < best[:3]:
                best = cand
        if config.page_policy == "closed":
            for (r, g, b) in _open_banks(st, device):
                if not any(q.row == st.open_row(r, g, b) for q in by_bank.get((r, g, b), ())):
                    c = st.earliest(Kind.PRE, r, g, b, now=now)
                    if best is None or (c, 2) < best[:2]:
                        best = (c, 2, 0, None, Kind.PRE, (r, g, b))
        if best is None:  # cannot happen: the mode always has a queued request
            raise AssertionError("no candidate command with requests queued")
        cycle, kind = best[0], best[4]
        # a request arriving before that cycle may change the choice: admit it first
        if pending < len(reqs) and len(queue) < config.queue_depth and \
                reqs[pending].arrival < cycle:
            now = max(now, reqs[pending].arrival)
            continue
        if next_ref is not None and min(next_ref) < cycle:
            now = max(now, min(next_ref))
            continue
        req = best[3]
        if req is None:  # closed-page precharge
            r, g, b = best[5]
            _issue(st, cmds, Command(cycle, Kind.PRE, ch, r, g, b))
        elif kind is Kind.ACT:
            _issue(st, cmds, Command(cycle, kind, ch, req.rank, req.bankgroup, req.bank, req.row))
            req.opened = True
        elif kind is Kind.PRE:
            _issue(st, cmds, Command(cycle, kind, ch, req.rank, req.bankgroup, req.bank))
        else:
            _issue(st, cmds, Command(cycle, kind, ch, req.rank, req.bankgroup, req.bank,
                                     req.row, req.column))
            completion[req.index] = cycle + (t.cl if kind is Kind.RD else t.cwl) + t.bl
            hits += not req.opened
            queue.remove(req)
        now = cycle
    return cmds, hits


def _open_banks(st: ChannelState, device):
    for r in range(device.ranks):
        for g in range(device.bankgroups):
            for b in range(device.banks_per_group):
                if st.open_row(r, g, b) >= 0:
                    yield r, g, b


def _issue(st: ChannelState, cmds: list[Command], cmd: Command) -> None:
    st.issue(cmd)
    cmds.append(cmd)
