"""The timed PIM-GPT simulator: a token's program on the DRAM core's timing engine.

Every channel issues its operations' commands **in program order**, each at the first
cycle its timing rules allow (:meth:`sparseforge.sim.dram.timing.ChannelState.earliest`),
never before the start of its phase: the PIM controller of PIM-GPT is an in-order
command sequencer, not a reordering memory controller.  Time jumps from command to
command (event-driven); no loop runs per clock.

* A **PIM phase** starts when the ASIC step before it is done; it ends when the last
  channel's last result (READRES / RD data at CL + bursts after the command) has arrived
  and its last command has issued.
* An **ASIC step** takes :func:`sparseforge.sim.pimgpt.asic_time.asic_cycles` cycles of
  the ASIC clock, rounded up to DRAM cycles.
* **Refresh**: every ``tREFI`` a channel owes an all-bank REF; it issues it at the next
  operation boundary where all banks are closed (every operation closes its rows), as
  JEDEC allows (postponement is bounded by one operation, far below 8 tREFI).
* **Fast paths** (exact, tested against the expanded command log): the ``n`` MACs of
  one row issue at a fixed spacing once the first two are placed (nothing else can come
  between them), so only the first, second and last are computed; channels whose
  operation lists are identical and whose timing state at the phase start is
  equivalent (every remembered cycle older than the longest timing window counts as
  "long ago") are simulated once and copied.

Latency breakdown (DRAM cycles, summed along the slowest channel of every phase plus
the ASIC steps): ``mac`` (MAC spacing), ``act_pre`` (GACT / ACT / PRE / PREA and the
tRCD wait before a row's first MAC), ``refresh`` (REF and what waits for it),
``transfer`` (GWRITE, READRES, RD, WR and their data), ``asic``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

from sparseforge.sim.dram.commands import Command, Kind
from sparseforge.sim.dram.timing import ChannelState

from .asic_time import ASIC_LANES, asic_cycles
from .mapping import Geometry
from .program import GW, RD, ROW, RR, VW, WR, Asic, Pim, expand

__all__ = ["CATEGORIES", "TimedSystem", "TokenTiming"]

#: Latency categories, in report order.
CATEGORIES = ("mac", "act_pre", "refresh", "transfer", "asic")

_CATEGORY = {Kind.MAC: "mac", Kind.MACL: "mac", Kind.GACT: "act_pre", Kind.ACT: "act_pre",
             Kind.PRE: "act_pre", Kind.PREA: "act_pre", Kind.REF: "refresh",
             Kind.GWRITE: "transfer", Kind.READRES: "transfer", Kind.RD: "transfer",
             Kind.WR: "transfer"}


@dataclass
class TokenTiming:
    """What one token costs.

    Attributes
    ----------
    cycles : int
        DRAM cycles (tCK) from the token's first command to its argmax.
    ns : float
    breakdown : dict
        Cycles per :data:`CATEGORIES` (they sum to ``cycles``).
    phases : list of (name, kind, cycles)
    counts : dict
        Commands per kind, all channels.
    row_hits, column_accesses : int
        Column commands (MAC, MACL, RD, WR) that did not open their row, and all of them.
    """

    cycles: int = 0
    ns: float = 0.0
    breakdown: dict = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    phases: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    row_hits: int = 0
    column_accesses: int = 0

    @property
    def row_hit_rate(self) -> float:
        return self.row_hits / self.column_accesses if self.column_accesses else 0.0


class _Run:
    """One channel's walk through one phase."""

    def __init__(self, start: int, log: list | None):
        self.cur = start  # nothing issues before this cycle
        self.last = start  # cycle up to which time has been accounted
        self.end = start
        self.acct = dict.fromkeys(CATEGORIES, 0)
        self.counts: dict = {}
        self.hits = 0
        self.cols = 0
        self.log = log
        self.prev_kind = None
        self.fresh: set = set()  # banks activated and not yet read / written


class TimedSystem:
    """``geo.channels`` channels of ``device`` (each a
    :class:`~sparseforge.sim.dram.timing.ChannelState`) and an ASIC.

    Parameters
    ----------
    device : Device
        A preset with a ``[pim]`` table.
    geo : Geometry
    asic_mhz : float
        ASIC clock.
    asic_lanes : int
        ASIC vector lanes.
    refresh : bool
    log : bool
        Keep every issued command (``self.log``, one list per channel); turns the fast
        paths off so each command is computed on its own.
    """

    def __init__(self, device, geo: Geometry, asic_mhz: float = 1000.0,
                 asic_lanes: int = ASIC_LANES, refresh: bool = True, log: bool = False):
        if device.pim is None:
            raise ValueError(f"device {device.name!r} has no [pim] table")
        self.device, self.geo = device, geo
        self.t, self.pim = device.timing, device.pim
        self.asic_mhz, self.asic_lanes = float(asic_mhz), int(asic_lanes)
        self.refresh = refresh
        #: channel runs simulated and copied from an equivalent channel (diagnostics)
        self.stats = {"simulated": 0, "copied": 0}
        self.states = [ChannelState(device, ch) for ch in range(geo.channels)]
        self.next_ref = [self.t.refi] * geo.channels
        self.now = 0
        self.log: list[list[Command]] | None = [[] for _ in range(geo.channels)] if log \
            else None
        t, p = self.t, self.pim
        # the largest "cycle of an earlier command + delta" any rule adds: a remembered
        # cycle older than this before the phase start can no longer bind
        self._window = max(t.rc, t.ras, t.faw, t.rrd_l, t.ccd_l, t.rp + t.rcd,
                           t.cwl + t.bl + t.wr, t.cwl + t.bl + t.wtr_l, t.rtp,
                           t.cl + t.bl * max(4, p.readres_bursts) + t.rtrs, p.rcd_mac,
                           p.ccd_mac, p.mac_latency) + 1
        # (refresh and data-bus state is kept as end cycles, which the rules compare
        # directly: they need no window of their own)

    # ------------------------------------------------------------------ public
    def run(self, program: list) -> TokenTiming:
        """Time one token's program, continuing from the state the last one left."""
        res = TokenTiming()
        start = self.now
        for phase in program:
            if isinstance(phase, Pim):
                dur = self._pim_phase(phase, res)
            elif isinstance(phase, Asic):
                dur = self._asic_cycles(phase)
                res.breakdown["asic"] += dur
            else:
                raise TypeError(f"unknown phase {phase!r}")
            res.phases.append((phase.name, type(phase).__name__.lower(), dur))
            self.now += dur
        res.cycles = self.now - start
        res.ns = res.cycles * self.device.tck_ns
        return res

    def _asic_cycles(self, step: Asic) -> int:
        cyc = asic_cycles(step.op, step.args, self.asic_lanes)
        return ceil(cyc * 1000.0 / self.asic_mhz / self.device.tck_ns - 1e-9)

    # ------------------------------------------------------------------ PIM
    def _pim_phase(self, phase: Pim, res: TokenTiming) -> int:
        start = self.now
        memo: dict = {}
        runs = []
        for ch, ops in enumerate(phase.ops):
            key = None
            if self.log is None and ops:
                key = (_ops_key(ops), self._signature(ch, start))
                if key in memo:
                    self.stats["copied"] += 1
                    src_ch, run = memo[key]
                    self._copy_state(src_ch, ch)
                    runs.append(run)
                    continue
            run = self._run_channel(ch, ops, start)
            self.stats["simulated"] += 1
            if key is not None:
                memo[key] = (ch, run)
            runs.append(run)
        for run in runs:
            for k, v in run.counts.items():
                res.counts[k] = res.counts.get(k, 0) + v
            res.row_hits += run.hits
            res.column_accesses += run.cols
        slowest = max(runs, key=lambda r: r.end)
        for k, v in slowest.acct.items():
            res.breakdown[k] += v
        return slowest.end - start

    def _signature(self, ch: int, start: int, refresh: bool = True):
        """The channel's timing state relative to ``start``
        (:meth:`~sparseforge.sim.dram.timing.ChannelState.signature`); ``refresh``:
        with the refresh schedule."""
        sig = self.states[ch].signature(start, self._window)
        return (self.next_ref[ch] - start if refresh else None, sig)

    def _copy_state(self, src: int, dst: int) -> None:
        st = self.states[src].clone(dst)
        st.counts = self.states[dst].counts
        self.states[dst] = st
        self.next_ref[dst] = self.next_ref[src]

    def _run_channel(self, ch: int, ops: list, start: int) -> _Run:
        st = self.states[ch]
        run = _Run(start, self.log[ch] if self.log is not None else None)
        fast = run.log is None and self.geo.ranks == 1
        i = 0
        while i < len(ops):
            if fast and isinstance(ops[i], ROW) and i + 3 < len(ops):
                i = self._row_run(ch, st, run, ops, i)
                continue
            self._op(ch, st, run, ops[i], fast)
            i += 1
        run.end = max(run.end, run.last)
        # the tail (data still arriving after the last command) is transfer time
        run.acct["transfer"] += run.end - run.last
        return run

    def _op(self, ch: int, st: ChannelState, run: _Run, op, fast: bool) -> None:
        t = self.t
        if isinstance(op, (ROW, RD, WR, VW)):
            self._maybe_refresh(ch, st, run)
        if fast:
            if isinstance(op, ROW) and op.ncols > 3:
                self._row_fast(st, run, op)
                return
            if isinstance(op, GW) and op.ncols > 3:
                self._gw_fast(st, run, op)
                return
        for cmd, _ in expand(op, self.geo, ch):
            c = self._issue(st, run, cmd)
            if cmd.kind is Kind.READRES:
                run.end = max(run.end, c + t.cl + self.pim.readres_bursts * t.bl)
            elif cmd.kind is Kind.RD:
                run.end = max(run.end, c + t.cl + t.bl)

    def _row_run(self, ch: int, st: ChannelState, run: _Run, ops: list, i: int) -> int:
        """A run of (ROW, RR) pairs equal but for their row address: simulate pairs until
        one starts in the same relative state as the pair before it, then skip the
        rest of the run (up to the next refresh) by moving the state on by whole
        periods.  Exact: from equal relative states equal commands take equal times.
        Returns the index of the first op after what was done."""

        def pair_key(k):
            a, b = ops[k], ops[k + 1]
            if not (isinstance(a, ROW) and isinstance(b, RR)):
                return None
            return (a.ncols, a.latch, b.n)

        key = pair_key(i)
        if key is None:
            self._op(ch, st, run, ops[i], True)
            return i + 1
        n = 0  # pairs in the run
        while i + 2 * n + 1 < len(ops) and pair_key(i + 2 * n) == key:
            n += 1
        done, prev_sig, prev = 0, None, None
        while done < n:
            k = i + 2 * done
            snap = (run.last, dict(run.acct), dict(run.counts), run.hits, run.cols,
                    run.end - run.last)
            sig = self._signature(ch, run.last, refresh=False)
            if sig == prev_sig and snap[5] == prev[5] and \
                    snap[2].get("REF", 0) == prev[2].get("REF", 0):  # no refresh inside
                period = run.last - prev[0]
                left = n - done
                if self.refresh:  # no refresh may fall due inside the skipped pairs
                    left = min(left, max(0, -(-(self.next_ref[ch] - run.last) // period)))
                if period > 0 and left > 1:
                    skip = left - 1  # the last pair is simulated (so the state is exact)
                    self._skip(st, run, prev, snap, skip, period)
                    done += skip
                    prev_sig = None
                    continue
            prev_sig, prev = sig, snap
            self._op(ch, st, run, ops[k], True)
            self._op(ch, st, run, ops[k + 1], True)
            done += 1
        return i + 2 * n

    def _skip(self, st: ChannelState, run: _Run, prev, now, skip: int, period: int) -> None:
        """Add ``skip`` periods: the increments between ``prev`` and ``now``, times
        ``skip``; the state moved ``skip * period`` cycles on."""
        delta = skip * period
        st.shift(delta)
        for k, v in now[1].items():
            run.acct[k] += skip * (v - prev[1].get(k, 0))
        for k, v in now[2].items():
            inc = skip * (v - prev[2].get(k, 0))
            if inc:
                run.counts[k] = run.counts.get(k, 0) + inc
                st.counts[Kind(k)] += inc
        run.hits += skip * (now[3] - prev[3])
        run.cols += skip * (now[4] - prev[4])
        run.last += delta
        run.end += delta

    def _maybe_refresh(self, ch: int, st: ChannelState, run: _Run) -> None:
        if not self.refresh:
            return
        while self.next_ref[ch] <= max(run.cur, run.last):
            for r in range(self.geo.ranks):
                if not st.all_closed(r):
                    self._issue(st, run, Command(-1, Kind.PREA, ch, r))
                self._issue(st, run, Command(-1, Kind.REF, ch, r))
            self.next_ref[ch] += self.t.refi

    def _issue(self, st: ChannelState, run: _Run, cmd: Command, at: int | None = None) -> int:
        """Issue ``cmd`` at its earliest legal cycle (or exactly at ``at``)."""
        kind = cmd.kind
        c = st.earliest(kind, cmd.rank, cmd.bankgroup, cmd.bank, cmd.row,
                        run.cur if at is None else at, column=cmd.column)
        if at is not None and c != at:
            raise AssertionError(f"{cmd.kind.value} fast path: legal at {c}, expected {at}")
        cmd = cmd._replace(cycle=c)
        st.apply(cmd)  # legal at c by construction (earliest); the log tests re-check
        if run.log is not None:
            run.log.append(cmd)
        gap = max(0, c + 1 - run.last)
        if run.prev_kind is Kind.REF:
            run.acct["refresh"] += gap
        elif kind in (Kind.MAC, Kind.MACL) and run.prev_kind is Kind.GACT:
            # the wait for tRCD after the activation is activation time
            run.acct["act_pre"] += max(0, gap - 1)
            run.acct["mac"] += min(gap, 1)
        else:
            run.acct[_CATEGORY[kind]] += gap
        run.last = max(run.last, c + 1)
        run.counts[kind.value] = run.counts.get(kind.value, 0) + 1
        run.prev_kind = kind
        self._hits(run, cmd)
        return c

    def _hits(self, run: _Run, cmd: Command) -> None:
        """Row-hit bookkeeping: a column command is a miss when it is the first one to
        its bank (all banks, for a MAC) since the bank was activated."""
        kind, r = cmd.kind, cmd.rank
        if kind is Kind.ACT:
            run.fresh.add((r, cmd.bankgroup, cmd.bank))
        elif kind is Kind.GACT:
            run.fresh.update((r, g, b) for g in range(self.geo.bankgroups)
                             for b in range(self.geo.banks_per_group))
        elif kind in (Kind.MAC, Kind.MACL):
            run.cols += 1
            banks = {(r, g, b) for g in range(self.geo.bankgroups)
                     for b in range(self.geo.banks_per_group)}
            if run.fresh & banks:
                run.fresh -= banks
            else:
                run.hits += 1
        elif kind in (Kind.RD, Kind.WR):
            run.cols += 1
            key = (r, cmd.bankgroup, cmd.bank)
            if key in run.fresh:
                run.fresh.discard(key)
            else:
                run.hits += 1

    def _gw_fast(self, st: ChannelState, run: _Run, op: GW) -> None:
        """A GW's GWRITEs: the middle ones at the spacing of the first two."""
        ch, n = st.channel, op.ncols
        c0 = self._issue(st, run, Command(-1, Kind.GWRITE, ch, -1, -1, -1, -1, 0))
        c1 = self._issue(st, run, Command(-1, Kind.GWRITE, ch, -1, -1, -1, -1, 1))
        sp = c1 - c0
        # a middle GWRITE's only lasting effect is its count (the last one sets the
        # buffer's and the bus's state)
        st.counts[Kind.GWRITE] += n - 3
        run.counts["GWRITE"] += n - 3
        self._issue(st, run, Command(-1, Kind.GWRITE, ch, -1, -1, -1, -1, n - 1),
                    at=c1 + (n - 2) * sp)

    def _row_fast(self, st: ChannelState, run: _Run, op: ROW) -> None:
        """A ROW with its middle MACs placed at the spacing of the first two."""
        ch, n = st.channel, op.ncols
        latch = op.latch

        def kind(i):
            return Kind.MACL if (i + 1) % latch == 0 else Kind.MAC

        self._issue(st, run, Command(-1, Kind.GACT, ch, 0, -1, -1, op.row, -1))
        c0 = self._issue(st, run, Command(-1, kind(0), ch, 0, -1, -1, op.row, 0))
        c1 = self._issue(st, run, Command(-1, kind(1), ch, 0, -1, -1, op.row, 1))
        sp = c1 - c0
        # columns 2 .. n-2: a MACL fills a result slot (applied); a MAC's only lasting
        # effect is its count (the last MAC sets the MAC state)
        n_macl = 0
        for i in range(latch - 1, n - 1, latch):
            if i >= 2:
                st.apply(Command(c1 + (i - 1) * sp, Kind.MACL, ch, 0, -1, -1, op.row, i))
                n_macl += 1
        n_mac = n - 3 - n_macl
        st.counts[Kind.MAC] += n_mac
        run.counts["MAC"] = run.counts.get("MAC", 0) + n_mac
        run.counts["MACL"] = run.counts.get("MACL", 0) + n_macl
        run.cols += n - 3
        run.hits += n - 3
        self._issue(st, run, Command(-1, kind(n - 1), ch, 0, -1, -1, op.row, n - 1),
                    at=c1 + (n - 2) * sp)
        self._issue(st, run, Command(-1, Kind.PREA, ch, 0))


def _ops_key(ops: list):
    """What of an op list the timing depends on (not where the data goes)."""
    out = []
    for op in ops:
        if isinstance(op, ROW):
            out.append(("R", op.row, op.ncols, op.latch))
        elif isinstance(op, GW):
            out.append(("G", op.ncols))
        elif isinstance(op, RD):
            out.append(("D", op.bank, op.row, op.col, op.ncols))
        elif isinstance(op, WR):
            out.append(("W", op.bank, op.row, op.col, op.ncols))
        elif isinstance(op, VW):
            out.append(("V", op.row, op.col, tuple(w[0] for w in op.writes)))
        else:
            out.append(op)
    return tuple(out)
