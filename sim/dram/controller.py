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

import gc
from collections.abc import Sequence
from dataclasses import dataclass, field
from heapq import heappop, heappush, heapreplace
from operator import itemgetter

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


def simulate(device, mapping, addresses, is_write, arrivals,
             config: ControllerConfig | None = None, *,
             share_channels: bool = True, backend: str = "auto") -> SimResult:
    """Run a trace; see the module docstring.

    Parameters
    ----------
    device
        The memory (:class:`sparseforge.sim.dram.device.Device` or any object with its
        organisation and ``timing`` attributes).
    mapping
        Decodes addresses (:class:`sparseforge.sim.dram.mapping.AddressMapping` or any
        object with ``decode(addresses) -> (channel, rank, bankgroup, bank, row,
        column)`` arrays).
    addresses, is_write, arrivals : array_like
        The trace: byte addresses, writes, arrival cycles (not decreasing).
    config : ControllerConfig, optional
        Defaults to ``ControllerConfig()``.
    share_channels : bool, optional
        Simulate channels whose request streams are identical (same arrivals, kinds,
        ranks, banks, rows, columns, in the same order) once and copy the result to the
        others with their channel number.  Exact (a channel's commands are a function
        of its own requests only); ``False`` simulates every channel (for timing the
        simulator itself).
    backend : {"auto", "python", "numba"}, optional
        ``"python"``: the incremental controller of this module; ``"numba"``: the
        compiled one of :mod:`~sparseforge.sim.dram.controller_jit` (needs numba; the
        first call in a fresh environment compiles it, a few seconds, cached on disk);
        ``"auto"`` (default): numba when it can be imported, else Python.  Both give
        the same output bit for bit (tests/dram/test_dram_controller_backends.py); the
        numba backend returns ``commands`` as a :class:`CommandLog`, which builds the
        :class:`Command` objects on first use.

    Returns
    -------
    SimResult
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
    if backend not in ("auto", "python", "numba"):
        raise ValueError(f"backend = {backend!r}; allowed: auto, python, numba")
    if backend != "python":
        from . import controller_jit
        if backend == "numba" and not controller_jit.HAVE_NUMBA:
            raise ImportError("backend = 'numba' needs numba (pip install numba)")
        if backend == "auto":
            backend = "numba" if controller_jit.HAVE_NUMBA else "python"
    fields = mapping.decode(addresses)
    channel, rank, bg, bank, row, col = (np.asarray(f, np.int64).reshape(n) for f in fields)
    flat_bank = (rank * device.bankgroups + bg) * device.banks_per_group + bank
    if backend == "numba":
        return _simulate_jit(device, config, channel, flat_bank, row, col, arrivals,
                             is_write, share_channels)
    completion = np.zeros(n, np.int64)
    commands: list[Command] = []
    hits = 0
    counts: dict[str, int] = {k.value: 0 for k in Kind}
    done: dict[bytes, tuple[int, np.ndarray, list[Command], int, dict]] = {}
    # the run makes millions of small acyclic objects (commands, heap entries): the
    # cyclic garbage collector's passes over them cost 10-15 % and free nothing
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for ch in range(device.channels):
            idx = np.nonzero(channel == ch)[0]
            key = None
            if share_channels:
                key = np.stack([arrivals[idx], is_write[idx].astype(np.int64),
                                flat_bank[idx], row[idx], col[idx]]).tobytes()
            if key in done:  # an identical channel ran already: the same commands
                _, first_idx, first_cmds, h, kinds = done[key]
                completion[idx] = completion[first_idx]
                cmds = [Command(c[0], c[1], ch, c[3], c[4], c[5], c[6], c[7])
                        for c in first_cmds]
            else:
                cmds, h, kinds = _run_channel(
                    device, ch, arrivals[idx].tolist(), is_write[idx].tolist(),
                    flat_bank[idx].tolist(), row[idx].tolist(), col[idx].tolist(), idx,
                    completion, config)
                if key is not None:
                    done[key] = (ch, idx, cmds, h, kinds)
            commands += cmds
            hits += h
            for kind, count in kinds.items():
                counts[kind.value] += count
        commands.sort(key=itemgetter(0, 2))  # one log, in time order (cycle, channel)
    finally:
        if gc_was_enabled:
            gc.enable()
    cycles = int(completion.max()) if n else 0
    return SimResult(completion, commands, cycles, hits, counts)


class CommandLog(Sequence):
    """The command log of the numba backend: a read-only sequence of :class:`Command`
    built from ``array`` (one row per command: cycle, kind code of
    :data:`~sparseforge.sim.dram.controller_jit.KIND_ORDER`, channel, rank, bankgroup,
    bank, row, column) the first time an element is asked for.  ``simulate`` hands it
    the channels' own logs; ``array`` merges them (in time order: cycle, then channel)
    the first time it is asked for, ``len`` needs no merge."""

    def __init__(self, logs: list[np.ndarray], channels: list[int]):
        self._logs, self._channels = logs, channels  # per channel, in issue order
        self._array: np.ndarray | None = None
        self._list: list[Command] | None = None

    @property
    def array(self) -> np.ndarray:
        """The log as one int64 array in time order (merged from the channels' logs on
        first use)."""
        if self._array is None:
            from .controller_jit import List, merge_logs

            if self._logs:
                self._array = merge_logs(List(self._logs),
                                         np.array(self._channels, np.int64))
            else:
                self._array = np.empty((0, 8), np.int64)
            self._logs = []
        return self._array

    def _commands(self) -> list[Command]:
        if self._list is None:
            kinds = [Kind(k) for k in _jit_kind_order()]
            new = tuple.__new__
            self._list = [new(Command, (c, kinds[k], ch, r, g, b, rw, co))
                          for c, k, ch, r, g, b, rw, co in self.array.tolist()]
        return self._list

    def __len__(self) -> int:
        if self._array is None:
            return sum(len(x) for x in self._logs)
        return len(self._array)

    def __getitem__(self, i):
        return self._commands()[i]

    def __iter__(self):
        return iter(self._commands())

    def __eq__(self, other) -> bool:
        if isinstance(other, CommandLog):
            return np.array_equal(self.array, other.array)
        if isinstance(other, (list, tuple)):
            return self._commands() == list(other)
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"CommandLog({len(self)} commands)"


def _jit_kind_order():
    from .controller_jit import KIND_ORDER
    return KIND_ORDER


_REFRESH_CODES = {"off": 0, "all": 1, "per_bank": 2}


def _simulate_jit(device, config: ControllerConfig, channel, flat_bank, row, col,
                  arrivals, is_write, share_channels: bool) -> SimResult:
    """:func:`simulate` on the numba backend (channel fields decoded)."""
    from .controller_jit import KIND_ORDER, run_channel, timing_array

    t = device.timing
    if config.refresh == "per_bank" and not t.rfc_pb:
        raise ValueError(f"refresh = 'per_bank' on device {getattr(device, 'name', '')!r}, "
                         "which has no per-bank refresh (rfc_pb = 0); allowed: all, off")
    n = len(arrivals)
    tarr = timing_array(t)
    wrt = is_write.astype(np.int64)
    completion = np.zeros(n, np.int64)
    logs = []
    chans = []
    hits = 0
    counts = np.zeros(len(KIND_ORDER), np.int64)
    done: dict[bytes, tuple] = {}
    for ch in range(device.channels):
        idx = np.nonzero(channel == ch)[0]
        key = None
        if share_channels:
            key = np.stack([arrivals[idx], wrt[idx], flat_bank[idx], row[idx],
                            col[idx]]).tobytes()
        if key in done:  # an identical channel ran already: the same commands
            first_idx, log, h, kinds = done[key]
            completion[idx] = completion[first_idx]
        else:
            d, log, h, kinds = run_channel(
                tarr, device.ranks, device.bankgroups, device.banks_per_group,
                np.ascontiguousarray(arrivals[idx]), wrt[idx], flat_bank[idx], row[idx],
                col[idx], config.queue_depth, config.write_high, config.write_low,
                config.page_policy == "closed", _REFRESH_CODES[config.refresh])
            completion[idx] = d
            if key is not None:
                done[key] = (idx, log, h, kinds)
        logs.append(log)
        chans.append(ch)
        hits += h
        counts += kinds
    # the channels' logs are merged into one in time order (cycle, channel) by
    # CommandLog on first use (compiled; on a 1.7 M-command log about as long as the
    # simulation, most of it the first touch of the new ~100 MB array)
    all_counts = {k.value: 0 for k in Kind}
    for name, c in zip(KIND_ORDER, counts.tolist()):
        all_counts[name] = c
    cycles = int(completion.max()) if n else 0
    return SimResult(completion, CommandLog(logs, chans), cycles, int(hits), all_counts)


def _run_channel(device, ch: int, arr: list[int], wrt: list[bool], fbank: list[int],
                 rows: list[int], cols: list[int], index: np.ndarray,
                 completion: np.ndarray, config: ControllerConfig
                 ) -> tuple[list[Command], int, dict[Kind, int]]:
    """One channel's requests (channel-local lists in arrival order; ``fbank`` the flat
    bank ``(rank * bankgroups + bankgroup) * banks_per_group + bank``; ``index`` their
    positions in the trace) through one controller.

    The scheduling is that of the module docstring, computed incrementally (it used to
    re-group the whole queue by bank and ask :meth:`ChannelState.earliest` for every
    bank's candidate at every step; ``tests/dram/test_dram_controller_golden.py``
    holds that controller's exact output):

    * each bank keeps its queued reads and writes (in arrival order) and its candidate
      command (``candidate()``), recomputed only when the bank's queue or state
      changes (or, for every bank, at a refresh and a change of drain mode);
    * a candidate's earliest cycle is ``max(now, the command bus, the bank's own
      bound, the rank's bound for its bank group [, the data bus])``, the closed forms
      of :meth:`ChannelState.earliest` for ACT, PRE, RD and WR less the terms of PIM
      commands (this controller issues none, so they are "long ago" and never bind);
      the rank's bounds (tRRD / tFAW for ACT; tCCD / tWTR / tRTRS for RD / WR) are
      cached per rank until it issues an ACT (resp. a RD / WR);
    * the best candidate (FR-FCFS order: cycle, row hit, arrival, then the bank whose
      oldest queued request came first, as a scan of the queue in arrival order would
      find) comes from heaps of lower bounds per class (every PRE; per rank, RD / WR
      and ACT), checked lazily (``class_best()``), since every bound only grows
      while a candidate stands;
    * refresh uses :meth:`ChannelState.earliest` and :meth:`ChannelState.issue`.

    Returns
    -------
    commands : list of Command
    row_hits : int
    counts : dict of Kind to int
    """
    st = ChannelState(device, ch)
    t = device.timing
    nbg, nbpg, nranks = device.bankgroups, device.banks_per_group, device.ranks
    banks = nbg * nbpg
    nb = nranks * banks
    per_bank = config.refresh == "per_bank"
    if per_bank and not t.rfc_pb:
        raise ValueError(f"refresh = 'per_bank' on device {getattr(device, 'name', '')!r}, "
                         "which has no per-bank refresh (rfc_pb = 0); allowed: all, off")
    refpbs = [0] * nranks  # REFPBs issued per rank
    if config.refresh == "off":
        next_ref = None
    elif per_bank:
        next_ref = [t.refi // banks] * nranks
    else:
        next_ref = [t.refi] * nranks
    ref_min = min(next_ref) if next_ref is not None else 0

    cl, cwl, bl, rcd, rp, ras, rc = t.cl, t.cwl, t.bl, t.rcd, t.rp, t.ras, t.rc
    rd_lat, wr_lat = cl + bl, cwl + bl
    pre_wr = cwl + bl + t.wr
    rtp, faw = t.rtp, t.faw
    # rank-wide bound of a column command to bank group g from the last RD / WR of
    # bank group h: [same group?] -> (RD after RD, RD after WR, WR after WR, WR after RD)
    col_terms = {True: (t.ccd_l, cwl + bl + t.wtr_l, t.ccd_l, cl + bl + t.rtrs - cwl),
                 False: (t.ccd_s, cwl + bl + t.wtr_s, t.ccd_s, cl + bl + t.rtrs - cwl)}
    rrd = {True: t.rrd_l, False: t.rrd_s}
    closed = config.page_policy == "closed"
    depth, write_high, write_low = config.queue_depth, config.write_high, config.write_low

    bank_obj = [st.banks[r][g][b] for r in range(nranks) for g in range(nbg)
                for b in range(nbpg)]
    rank_obj = st.ranks
    b_rank = [fb // banks for fb in range(nb)]
    b_bg = [fb // nbpg % nbg for fb in range(nb)]
    b_bank = [fb % nbpg for fb in range(nb)]
    # queued requests (channel-local numbers, oldest first) per bank: [reads, writes]
    queues: list[list[list[int]]] = [[[], []] for _ in range(nb)]
    opened = bytearray(len(arr))  # an ACT was issued for the request
    done = [0] * len(arr)  # completion cycles
    # per bank with something to do: its cached candidate (see candidate())
    cand: dict[int, tuple] = {}
    dirty: set[int] = set()  # banks whose candidate must be recomputed
    all_dirty = False
    bank_ver = [0] * nb  # version of each bank's candidate (heap entries name theirs)
    version = 0
    # heaps of candidates (see class_best): every PRE; per rank, RD / WR and ACT
    pre_w: list[tuple] = []
    pre_r: list[tuple] = []
    col_w: list[list[tuple]] = [[] for _ in range(nranks)]
    col_r: list[list[tuple]] = [[] for _ in range(nranks)]
    act_w: list[list[tuple]] = [[] for _ in range(nranks)]
    act_r: list[list[tuple]] = [[] for _ in range(nranks)]
    heaps = [pre_w, pre_r, *col_w, *col_r, *act_w, *act_r]
    act_min = [0] * nranks  # per rank: the least of its groups' ACT bounds
    col_min = [0] * nranks  # per rank: the least of its groups' RD / WR bounds
    ranks = range(nranks)
    heap_limit = 8 * nb + 64  # rebuild the heaps when stale entries pile up
    pushes = 0  # heap entries added since the heaps were last counted
    act_rank: list = [None] * nranks  # per rank: ACT bound per bank group, or None
    col_rank: list = [None] * nranks  # per rank: this mode's RD / WR bound per group
    cmds: list[Command] = []
    append = cmds.append
    new_cmd = tuple.__new__  # Command(...) without its __new__'s Python frame
    n_act = n_pre = n_rd = n_wr = 0  # commands issued by the loop, per kind
    hits = 0
    pending = 0  # the next request not yet queued
    nreq = len(arr)
    qlen = writes = 0
    now = 0
    draining = False
    mode = 0  # 1 while draining writes
    ACT, PRE, RD, WR = Kind.ACT, Kind.PRE, Kind.RD, Kind.WR
    big = 1 << 62
    # the same-group bounds are the larger ones (as every preset has them): the rank's
    # bound is then its latest command of any group + the short value, or of the same
    # group + the long one; otherwise every group is looked at
    act_fast = t.rrd_l >= t.rrd_s
    col_fast = t.ccd_l >= t.ccd_s and t.wtr_l >= t.wtr_s
    rrd_s, rrd_l, ccd_s, ccd_l = t.rrd_s, t.rrd_l, t.ccd_s, t.ccd_l
    wtr_s, wtr_l = cwl + bl + t.wtr_s, cwl + bl + t.wtr_l  # from the WR command
    rtrs = cl + bl + t.rtrs - cwl  # RD -> WR of the rank, any group
    groups = range(nbg)

    def act_bounds(r: int) -> list[int]:
        """Per bank group, the rank's tRRD / tFAW bound of an ACT to it."""
        ro = rank_obj[r]
        acts_bg = ro.acts_bg
        f = ro.acts[0] + faw if len(ro.acts) == 4 else -big
        if act_fast:
            m = max(acts_bg) + rrd_s
            if f > m:
                m = f
            out = [x if (x := a + rrd_l) > m else m for a in acts_bg]
        else:
            out = [max(f, *(last + rrd[h == g] for h, last in enumerate(acts_bg)))
                   for g in groups]
        act_rank[r] = out
        act_min[r] = min(out)
        return out

    def col_bounds(r: int) -> list[int]:
        """Per bank group, the rank's tCCD / tWTR / tRTRS bound of a RD (reads mode) or
        of a WR (write drain)."""
        ro = rank_obj[r]
        rd_bg, wr_bg = ro.rd_bg, ro.wr_bg
        if col_fast:
            mr, mw = max(rd_bg), max(wr_bg)
            if mode:
                m = mw + ccd_s
                if (x := mr + rtrs) > m:
                    m = x
                out = [x if (x := w + ccd_l) > m else m for w in wr_bg]
            else:
                m = mr + ccd_s
                if (x := mw + wtr_s) > m:
                    m = x
                out = [(x if x > y else y) if (x := a + ccd_l) > m or y > m else m
                       for a, y in zip(rd_bg, [w + wtr_l for w in wr_bg])]
        else:
            out = []
            for g in groups:
                a = -big
                for h in groups:
                    rr, rw, ww, wrr = col_terms[h == g]
                    if mode:
                        a = max(a, wr_bg[h] + ww, rd_bg[h] + wrr)
                    else:
                        a = max(a, rd_bg[h] + rr, wr_bg[h] + rw)
                out.append(a)
        col_rank[r] = out
        col_min[r] = min(out)
        return out

    def class_best(waiting: list, ready: list, bounds, thr: int, not_hit: int):
        """The best candidate of one class (one rank's RD / WR, one rank's ACT, or every
        PRE): ``((cycle, not_hit, arrival, first), bank)``, or ``(None, -1)``.

        A candidate's cycle is ``max(thr, its bank's bound, bounds[its bank group])``:
        ``thr`` (never decreasing) holds what the class shares (``now``, the command
        bus, the data bus, the least of ``bounds``), ``bounds`` (None for PRE) the
        rank's per-group bounds, which only grow.  ``waiting`` holds (lower bound of
        ``max(bank's bound, group bound)``, arrival, first, version, bank), ``ready``
        (arrival, first, version, bank) of the candidates whose bound was found at or
        below ``thr``; an entry is checked when it reaches the top of its heap and
        moved or re-keyed when its group bound has grown; entries of an older version
        of the bank's candidate are dropped."""
        while waiting and waiting[0][0] <= thr:
            e = heappop(waiting)
            if bank_ver[e[4]] == e[3]:
                heappush(ready, e[1:])
        while ready:
            e = ready[0]
            fb = e[3]
            if bank_ver[fb] != e[2]:
                heappop(ready)
                continue
            if bounds is not None:
                x = bounds[b_bg[fb]]
                if x > thr:
                    heappop(ready)
                    heappush(waiting, (max(x, cand[fb][1]), *e))
                    continue
            return (thr, not_hit, e[0], e[1]), fb
        while waiting:
            e = waiting[0]
            fb = e[4]
            if bank_ver[fb] != e[3]:
                heappop(waiting)
                continue
            if bounds is not None:
                x = max(bounds[b_bg[fb]], cand[fb][1])
                if x != e[0]:
                    heapreplace(waiting, (x, *e[1:]))
                    continue
            return (e[0], not_hit, e[1], e[2]), fb
        return None, -1

    def candidate(fb: int) -> tuple | None:
        """Bank ``fb``'s candidate in this mode: ``(class, bound, not_hit, arrival,
        first, request, kind, rank, bankgroup, bank, closed_pre)``.  Class 0: RD / WR
        (the cycle adds the rank's column bound and the bus), 1: ACT (adds the rank's
        ACT bound), 2: PRE, 3: nothing queued in this mode.  ``bound``: the bank's own
        part of the earliest cycle; ``first``: the bank's oldest queued request of
        either mode (the tie-break of a scan of the queue); ``closed_pre``: for the
        closed page policy, the bank's PRE bound when it is open and no queued request
        hits its row, else None.  None when the bank has nothing to do."""
        q = queues[fb]
        bo = bank_obj[fb]
        orow = bo.open_row
        lst = q[mode]
        r = b_rank[fb]
        closed_pre = None
        if closed and orow >= 0 and not any(rows[s] == orow for s in q[0]) \
                and not any(rows[s] == orow for s in q[1]):
            closed_pre = max(rank_obj[r].ref_end, bo.refpb_end, bo.act + ras, bo.rd + rtp,
                             bo.wr + pre_wr)
        if not lst:
            if closed_pre is None:
                return None
            return (3, 0, 0, 0, 0, -1, None, r, b_bg[fb], fb, closed_pre)
        first = min(q[0][0] if q[0] else big, q[1][0] if q[1] else big)
        base = rank_obj[r].ref_end
        if bo.refpb_end > base:
            base = bo.refpb_end
        if orow >= 0:
            for s in lst:
                if rows[s] == orow:
                    x = bo.act + rcd
                    return (0, x if x > base else base, 0, arr[s], first, s,
                            WR if mode else RD, r, b_bg[fb], fb, closed_pre)
            s = lst[0]
            return (2, max(base, bo.act + ras, bo.rd + rtp, bo.wr + pre_wr), 1, arr[s],
                    first, s, PRE, r, b_bg[fb], fb, closed_pre)
        s = lst[0]
        return (1, max(base, bo.pre + rp, bo.act + rc), 1, arr[s], first, s, ACT, r,
                b_bg[fb], fb, closed_pre)

    while pending < nreq or qlen:
        while pending < nreq and qlen < depth and arr[pending] <= now:
            w = wrt[pending]
            queues[fbank[pending]][w].append(pending)
            dirty.add(fbank[pending])
            qlen += 1
            writes += w
            pending += 1
        if not qlen:
            now = max(now, arr[pending])
            continue
        # refresh due: precharge the rank, then refresh, before anything else
        if next_ref is not None and ref_min <= now:
            due = [r for r in range(nranks) if next_ref[r] <= now]
            r = due[0]
            if per_bank:
                g, b = divmod(refpbs[r] % banks, nbpg)
                if st.open_row(r, g, b) >= 0:
                    c = st.earliest(PRE, r, g, b, now=now)
                    _issue(st, cmds, Command(c, PRE, ch, r, g, b))
                    now = c
                c = st.earliest(Kind.REFPB, r, g, b, now=now)
                _issue(st, cmds, Command(c, Kind.REFPB, ch, r, g, b))
                refpbs[r] += 1
                next_ref[r] = (refpbs[r] + 1) * t.refi // banks
            else:
                if not st.all_closed(r):
                    c = st.earliest(Kind.PREA, r, now=now)
                    _issue(st, cmds, Command(c, Kind.PREA, ch, r))
                    now = c
                c = st.earliest(Kind.REF, r, now=now)
                _issue(st, cmds, Command(c, Kind.REF, ch, r))
                next_ref[r] += t.refi
            ref_min = min(next_ref)
            now = c
            all_dirty = True
            continue
        reads = qlen - writes
        if draining and (writes == 0 or (writes <= write_low and reads)):
            draining = False
        elif not draining and writes and (writes >= write_high or reads == 0):
            draining = True
        if mode != draining:
            mode = 1 if draining else 0
            all_dirty = True
            col_rank[:] = [None] * nranks
        if pushes > heap_limit:  # stale entries may have piled up: count them
            pushes = 0
            all_dirty = all_dirty or sum(map(len, heaps)) > heap_limit
        if all_dirty:
            cand.clear()
            all_dirty = False
            for h in heaps:
                h.clear()
            dirty.update(range(nb))
        if dirty:
            for fb in dirty:
                c = candidate(fb)
                version += 1
                bank_ver[fb] = version
                if c is not None:
                    cand[fb] = c
                    cls = c[0]
                    if cls != 3:  # keyed by the bank's own bound, a lower bound
                        pushes += 1
                        heappush(pre_w if cls == 2 else act_w[c[7]] if cls == 1
                                 else col_w[c[7]], (c[1], c[3], c[4], version, fb))
                else:
                    cand.pop(fb, None)
            dirty.clear()
        g_at = st.last_cmd + 1
        if g_at < now:
            g_at = now
        bus_free = st.bus_free
        col_lat = cwl if mode else cl
        # the best of the PRE candidates, then of each rank's RD / WR and ACT ones
        bkey, bfb = class_best(pre_w, pre_r, None, g_at, 1)
        for r in ranks:
            if col_w[r] or col_r[r]:
                bounds = col_rank[r] or col_bounds(r)
                thr = bus_free - col_lat
                if thr < g_at:
                    thr = g_at
                if thr < col_min[r]:
                    thr = col_min[r]
                if bkey is None or thr <= bkey[0]:
                    key, fb = class_best(col_w[r], col_r[r], bounds, thr, 0)
                    if key is not None and (bkey is None or key < bkey):
                        bkey, bfb = key, fb
            if act_w[r] or act_r[r]:
                bounds = act_rank[r] or act_bounds(r)
                thr = act_min[r]
                if thr < g_at:
                    thr = g_at
                if bkey is None or thr <= bkey[0]:
                    key, fb = class_best(act_w[r], act_r[r], bounds, thr, 1)
                    if key is not None and (bkey is None or key < bkey):
                        bkey, bfb = key, fb
        if bkey is None:  # cannot happen: the mode always has a queued request
            raise AssertionError("no candidate command with requests queued")
        best = cand[bfb]
        cycle = bkey[0]
        _, _, _, _, _, s, kind, r, g, fb, _ = best
        if closed:  # a precharge of an open bank nothing hits, when it is earlier
            for c in cand.values():
                cp = c[10]
                if cp is not None:
                    if cp < g_at:
                        cp = g_at
                    if cp < cycle or (cp == cycle and kind is None and c[9] < fb):
                        cycle, s, kind, r, g, fb = cp, -1, None, c[7], c[8], c[9]
        # a request arriving before that cycle may change the choice: admit it first
        if pending < nreq and qlen < depth and arr[pending] < cycle:
            now = max(now, arr[pending])
            continue
        if next_ref is not None and ref_min < cycle:
            now = max(now, ref_min)
            continue
        dirty.add(fb)
        # issue: what ChannelState.apply records for ACT / PRE / RD / WR, inline (the
        # command counts are added to st.counts at the end)
        bo = bank_obj[fb]
        ro = rank_obj[r]
        st.last_cmd = cycle
        if kind is ACT:
            rw = rows[s]
            append(new_cmd(Command, (cycle, ACT, ch, r, g, b_bank[fb], rw, -1)))
            bo.open_row = rw
            bo.act = ro.act_any = ro.acts_bg[g] = cycle
            ro.acts.append(cycle)
            n_act += 1
            opened[s] = 1
            act_rank[r] = None
        elif kind is PRE or kind is None:  # None: the closed-page precharge
            append(new_cmd(Command, (cycle, PRE, ch, r, g, b_bank[fb], -1, -1)))
            if bo.open_row >= 0:
                bo.open_row = -1
                bo.pre = ro.pre_any = cycle
            n_pre += 1
        else:
            append(new_cmd(Command, (cycle, kind, ch, r, g, b_bank[fb], rows[s], cols[s])))
            if mode:
                bo.wr = ro.wr_bg[g] = st.wr_any = cycle
                e = cycle + wr_lat
                n_wr += 1
            else:
                bo.rd = ro.rd_bg[g] = cycle
                e = cycle + rd_lat
                if e > st.rd_end:
                    st.rd_end = e
                n_rd += 1
            if e > st.bus_free:
                st.bus_free = e
            done[s] = e
            hits += not opened[s]
            queues[fb][mode].remove(s)
            qlen -= 1
            writes -= mode
            col_rank[r] = None
        now = cycle
    counts = st.counts
    counts[ACT] += n_act
    counts[PRE] += n_pre
    counts[RD] += n_rd
    counts[WR] += n_wr
    completion[index] = done
    return cmds, hits, st.counts


def _issue(st: ChannelState, cmds: list[Command], cmd: Command) -> None:
    st.issue(cmd)
    cmds.append(cmd)
