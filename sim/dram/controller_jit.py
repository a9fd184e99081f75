"""The compiled backend of :func:`~sparseforge.sim.dram.controller.simulate`.

:func:`run_channel` is one channel's controller loop (request queue, FR-FCFS choice,
page policy, write drain, refresh) over NumPy arrays, compiled by numba
(``@njit(cache=True)``; with ``NUMBA_DISABLE_JIT=1``, or without numba, the same
functions run as plain Python, slowly).  It is the *straightforward* controller whose
output ``tests/dram/test_dram_controller_golden.py`` recorded (commit cd8c263): at
every step it scans the queue, takes each bank's candidate command (the oldest request
of the mode that hits the open row: RD / WR; else the oldest request of the mode: PRE
of the open row, or ACT) and its earliest legal cycle, and issues the least by
(cycle, row miss, arrival, the bank's oldest queued request).  Compiled, a full scan
per command (64 queue entries, 16-32 banks) costs less than the incremental
bookkeeping of the Python controller, and is far simpler to keep exact.

The timing rules: :mod:`sparseforge.sim.dram.timing` (``ChannelState.earliest`` /
``apply``) is the source of truth.  The ``_earliest_*`` and ``_apply`` functions below
are its controller-side subset (ACT, PRE, PREA, RD, WR, REF, REFPB; the PIM terms
omitted: this controller issues no PIM command, so they are "long ago" and never bind)
over arrays instead of objects.  They are the only copy in this module; any change to
a rule in ``timing.py`` must be made here too.  Equality is enforced by the golden
digests (both backends), the backend-comparison test on random traces
(``tests/dram/test_dram_controller_backends.py``) and the independent checker
(``tests/dram/test_dram_controller_checked.py``, both backends).
"""

from __future__ import annotations

import numpy as np

try:  # numba is optional: without it this module runs as (slow) Python
    from numba import njit
    from numba.typed import List

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only without numba
    HAVE_NUMBA = False

    def njit(*args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]
        return lambda f: f

    List = list

__all__ = ["HAVE_NUMBA", "KIND_ORDER", "run_channel", "timing_array"]

NEVER = -(1 << 60)  # timing._NEVER: "long ago"

#: Command kind codes of the log (index into this tuple of Kind values).
KIND_ORDER = ("ACT", "PRE", "PREA", "RD", "WR", "REF", "REFPB")
K_ACT, K_PRE, K_PREA, K_RD, K_WR, K_REF, K_REFPB = range(7)

#: Timing parameters, in the order of the array ``timing_array`` builds.
TIMING_NAMES = ("cl", "cwl", "bl", "rcd", "rp", "ras", "rc", "ccd_s", "ccd_l", "rrd_s",
                "rrd_l", "faw", "wr", "rtp", "wtr_s", "wtr_l", "rtrs", "rfc", "refi",
                "rfc_pb")
(T_CL, T_CWL, T_BL, T_RCD, T_RP, T_RAS, T_RC, T_CCD_S, T_CCD_L, T_RRD_S, T_RRD_L,
 T_FAW, T_WR, T_RTP, T_WTR_S, T_WTR_L, T_RTRS, T_RFC, T_REFI, T_RFC_PB) = range(20)

# bank state rows (bk[FIELD, flat bank]); rank state columns (rk[rank, FIELD])
B_OPEN, B_ACT, B_PRE, B_RD, B_WR, B_REFPB = range(6)
R_REF_END, R_PRE_ANY, R_NACTS = range(3)
# channel state (chs[FIELD])
C_BUS_FREE, C_LAST_CMD = range(2)


def timing_array(t) -> np.ndarray:
    """The device timing ``t`` as the int64 array the compiled functions read."""
    return np.array([int(getattr(t, n) or 0) for n in TIMING_NAMES], np.int64)


# ---------------------------------------------------------------- the timing rules
# Controller-side subset of timing.ChannelState.earliest / apply (see the docstring).

@njit(cache=True, inline="always")
def _base(now, chs, rk, r):
    """max(now, command bus, the rank's all-bank refresh)."""
    at = now
    x = chs[C_LAST_CMD] + 1
    if x > at:
        at = x
    x = rk[r, R_REF_END]
    if x > at:
        at = x
    return at


@njit(cache=True, inline="always")
def _base_bank(now, chs, rk, bk, r, fb):
    """_base and the bank's per-bank refresh (ACT, PRE, RD, WR, REFPB)."""
    at = _base(now, chs, rk, r)
    x = bk[B_REFPB, fb]
    return x if x > at else at


@njit(cache=True, inline="always")
def _pre_bound(T, bk, fb):
    """timing.ChannelState._pre_bound: tRAS, tRTP, write recovery."""
    at = bk[B_ACT, fb] + T[T_RAS]
    x = bk[B_RD, fb] + T[T_RTP]
    if x > at:
        at = x
    x = bk[B_WR, fb] + T[T_CWL] + T[T_BL] + T[T_WR]
    return x if x > at else at


@njit(cache=True)
def _earliest_pre(T, now, chs, rk, bk, r, fb):
    at = _base_bank(now, chs, rk, bk, r, fb)
    if bk[B_OPEN, fb] < 0:
        return at  # a PRE of a precharged bank is a no-op
    x = _pre_bound(T, bk, fb)
    return x if x > at else at


@njit(cache=True)
def _earliest_act(T, now, chs, rk, bk, acts, acts_bg, r, g, fb):
    at = _base_bank(now, chs, rk, bk, r, fb)
    x = bk[B_PRE, fb] + T[T_RP]
    if x > at:
        at = x
    x = bk[B_ACT, fb] + T[T_RC]
    if x > at:
        at = x
    for h in range(acts_bg.shape[1]):
        x = acts_bg[r, h] + (T[T_RRD_L] if h == g else T[T_RRD_S])
        if x > at:
            at = x
    if rk[r, R_NACTS] == 4:
        x = acts[r, 0] + T[T_FAW]
        if x > at:
            at = x
    return at


@njit(cache=True)
def _earliest_col(T, now, chs, rk, bk, rd_bg, wr_bg, r, g, fb, write):
    """RD (``write`` 0) or WR (1) to the bank's open row."""
    at = _base_bank(now, chs, rk, bk, r, fb)
    x = bk[B_ACT, fb] + T[T_RCD]
    if x > at:
        at = x
    for h in range(rd_bg.shape[1]):
        same = h == g
        ccd = T[T_CCD_L] if same else T[T_CCD_S]
        if write:
            x = wr_bg[r, h] + ccd
            y = rd_bg[r, h] + T[T_CL] + T[T_BL] + T[T_RTRS] - T[T_CWL]
        else:
            x = rd_bg[r, h] + ccd
            y = wr_bg[r, h] + T[T_CWL] + T[T_BL] + (T[T_WTR_L] if same else T[T_WTR_S])
        if x > at:
            at = x
        if y > at:
            at = y
    x = chs[C_BUS_FREE] - (T[T_CWL] if write else T[T_CL])
    return x if x > at else at


@njit(cache=True)
def _rank_base(now, chs, rk, bk, r, banks):
    """_base and every bank's per-bank refresh (PREA, REF)."""
    at = _base(now, chs, rk, r)
    for fb in range(r * banks, (r + 1) * banks):
        x = bk[B_REFPB, fb]
        if x > at:
            at = x
    return at


@njit(cache=True)
def _earliest_prea(T, now, chs, rk, bk, r, banks):
    at = _rank_base(now, chs, rk, bk, r, banks)
    for fb in range(r * banks, (r + 1) * banks):
        if bk[B_OPEN, fb] >= 0:
            x = _pre_bound(T, bk, fb)
            if x > at:
                at = x
    return at


@njit(cache=True)
def _earliest_ref(T, now, chs, rk, bk, r, banks):
    at = _rank_base(now, chs, rk, bk, r, banks)
    x = rk[r, R_PRE_ANY] + T[T_RP]
    return x if x > at else at


@njit(cache=True)
def _earliest_refpb(T, now, chs, rk, bk, r, fb):
    at = _base_bank(now, chs, rk, bk, r, fb)
    x = bk[B_PRE, fb] + T[T_RP]
    return x if x > at else at


@njit(cache=True)
def _apply(T, kind, c, chs, rk, bk, acts, acts_bg, rd_bg, wr_bg, r, g, fb, row, banks):
    """timing.ChannelState.apply for the controller's kinds."""
    chs[C_LAST_CMD] = c
    if kind == K_ACT:
        bk[B_OPEN, fb] = row
        bk[B_ACT, fb] = c
        n = rk[r, R_NACTS]
        if n < 4:
            acts[r, n] = c
            rk[r, R_NACTS] = n + 1
        else:
            acts[r, 0] = acts[r, 1]
            acts[r, 1] = acts[r, 2]
            acts[r, 2] = acts[r, 3]
            acts[r, 3] = c
        acts_bg[r, g] = c
    elif kind == K_PRE:
        if bk[B_OPEN, fb] >= 0:
            bk[B_OPEN, fb] = -1
            bk[B_PRE, fb] = c
            rk[r, R_PRE_ANY] = c
    elif kind == K_PREA:
        for b in range(r * banks, (r + 1) * banks):
            if bk[B_OPEN, b] >= 0:
                bk[B_OPEN, b] = -1
                bk[B_PRE, b] = c
                rk[r, R_PRE_ANY] = c
    elif kind == K_RD:
        bk[B_RD, fb] = c
        rd_bg[r, g] = c
        e = c + T[T_CL] + T[T_BL]
        if e > chs[C_BUS_FREE]:
            chs[C_BUS_FREE] = e
    elif kind == K_WR:
        bk[B_WR, fb] = c
        wr_bg[r, g] = c
        e = c + T[T_CWL] + T[T_BL]
        if e > chs[C_BUS_FREE]:
            chs[C_BUS_FREE] = e
    elif kind == K_REF:
        rk[r, R_REF_END] = c + T[T_RFC]
    elif kind == K_REFPB:
        bk[B_REFPB, fb] = c + T[T_RFC_PB]


# ---------------------------------------------------------------- the controller

@njit(cache=True)
def _log(log, n, c, kind, r, g, b, row, col):
    """Append a command to ``log`` (grown when full); returns the log."""
    if n == log.shape[0]:
        new = np.empty((2 * n + 64, 7), np.int64)
        new[:n] = log[:n]
        log = new
    log[n, 0] = c
    log[n, 1] = kind
    log[n, 2] = r
    log[n, 3] = g
    log[n, 4] = b
    log[n, 5] = row
    log[n, 6] = col
    return log


@njit(cache=True)
def run_channel(T, nranks, nbg, nbpg, arr, wrt, fbank, rows, cols, depth, write_high,
                write_low, closed, refresh):
    """One channel's requests (channel-local arrays in arrival order; ``fbank`` the flat
    bank ``(rank * nbg + bankgroup) * nbpg + bank``) through one controller.

    ``closed``: the closed page policy; ``refresh``: 0 off, 1 all-bank, 2 per-bank.
    Returns ``(done, log, hits, counts)``: completion cycles, the command log (rows of
    cycle, kind code (:data:`KIND_ORDER`), rank, bankgroup, bank, row, column; in issue
    order), row hits, commands per kind code.
    """
    banks = nbg * nbpg
    nb = nranks * banks
    n = arr.shape[0]
    chs = np.full(2, NEVER, np.int64)
    rk = np.full((nranks, 3), NEVER, np.int64)
    rk[:, R_NACTS] = 0
    bk = np.full((6, nb), NEVER, np.int64)
    bk[B_OPEN, :] = -1
    acts = np.full((nranks, 4), NEVER, np.int64)
    acts_bg = np.full((nranks, nbg), NEVER, np.int64)
    rd_bg = np.full((nranks, nbg), NEVER, np.int64)
    wr_bg = np.full((nranks, nbg), NEVER, np.int64)
    done = np.zeros(n, np.int64)
    opened = np.zeros(n, np.bool_)
    counts = np.zeros(7, np.int64)
    log = np.empty((n + n // 4 + 64, 7), np.int64)  # grown by _log when full
    nlog = 0
    hits = 0
    refpbs = np.zeros(nranks, np.int64)
    next_ref = np.zeros(nranks, np.int64)
    if refresh == 2:
        next_ref[:] = T[T_REFI] // banks
    elif refresh == 1:
        next_ref[:] = T[T_REFI]
    q = np.empty(depth, np.int64)  # queued requests, oldest first
    qlen = 0
    writes = 0
    first = np.empty(nb, np.int64)  # per bank: oldest queued request (either mode)
    oldest = np.empty(nb, np.int64)  # oldest queued request of this mode
    hit = np.empty(nb, np.int64)  # oldest of this mode hitting the open row
    anyhit = np.empty(nb, np.bool_)  # a queued request (either mode) hits the open row
    pending = 0
    now = 0
    draining = False
    while pending < n or qlen > 0:
        while pending < n and qlen < depth and arr[pending] <= now:
            q[qlen] = pending
            qlen += 1
            writes += wrt[pending]
            pending += 1
        if qlen == 0:
            if arr[pending] > now:
                now = arr[pending]
            continue
        ref_min = 0
        if refresh != 0:
            ref_min = next_ref.min()
            if ref_min <= now:  # refresh due: precharge, then refresh, before anything
                r = 0
                while next_ref[r] > now:
                    r += 1
                if refresh == 2:
                    k = refpbs[r] % banks
                    g = k // nbpg
                    b = k % nbpg
                    fb = r * banks + k
                    if bk[B_OPEN, fb] >= 0:
                        c = _earliest_pre(T, now, chs, rk, bk, r, fb)
                        _apply(T, K_PRE, c, chs, rk, bk, acts, acts_bg, rd_bg, wr_bg, r,
                               g, fb, -1, banks)
                        log = _log(log, nlog, c, K_PRE, r, g, b, -1, -1)
                        nlog += 1
                        counts[K_PRE] += 1
                        now = c
                    c = _earliest_refpb(T, now, chs, rk, bk, r, fb)
                    _apply(T, K_REFPB, c, chs, rk, bk, acts, acts_bg, rd_bg, wr_bg, r, g,
                           fb, -1, banks)
                    log = _log(log, nlog, c, K_REFPB, r, g, b, -1, -1)
                    nlog += 1
                    counts[K_REFPB] += 1
                    refpbs[r] += 1
                    next_ref[r] = (refpbs[r] + 1) * T[T_REFI] // banks
                else:
                    any_open = False
                    for fb in range(r * banks, (r + 1) * banks):
                        if bk[B_OPEN, fb] >= 0:
                            any_open = True
                    if any_open:
                        c = _earliest_prea(T, now, chs, rk, bk, r, banks)
                        _apply(T, K_PREA, c, chs, rk, bk, acts, acts_bg, rd_bg, wr_bg, r,
                               -1, -1, -1, banks)
                        log = _log(log, nlog, c, K_PREA, r, -1, -1, -1, -1)
                        nlog += 1
                        counts[K_PREA] += 1
                        now = c
                    c = _earliest_ref(T, now, chs, rk, bk, r, banks)
                    _apply(T, K_REF, c, chs, rk, bk, acts, acts_bg, rd_bg, wr_bg, r, -1,
                           -1, -1, banks)
                    log = _log(log, nlog, c, K_REF, r, -1, -1, -1, -1)
                    nlog += 1
                    counts[K_REF] += 1
                    next_ref[r] += T[T_REFI]
                now = c
                continue
        reads = qlen - writes
        if draining and (writes == 0 or (writes <= write_low and reads > 0)):
            draining = False
        elif not draining and writes > 0 and (writes >= write_high or reads == 0):
            draining = True
        mode = 1 if draining else 0
        # per bank: its oldest request, this mode's oldest and oldest row hit
        first[:] = -1
        oldest[:] = -1
        hit[:] = -1
        anyhit[:] = False
        for i in range(qlen):
            s = q[i]
            fb = fbank[s]
            if first[fb] < 0:
                first[fb] = s
            same_row = rows[s] == bk[B_OPEN, fb]
            if same_row:
                anyhit[fb] = True
            if wrt[s] == mode:
                if oldest[fb] < 0:
                    oldest[fb] = s
                if same_row and hit[fb] < 0:
                    hit[fb] = s
        # FR-FCFS: the least (cycle, not_hit, arrival, first) of the banks' candidates
        bcyc = -1
        bnh = 0
        barr = 0
        bfirst = 0
        bs = -1
        bkind = -1
        bfb = -1
        for fb in range(nb):
            if oldest[fb] < 0:
                continue
            r = fb // banks
            g = fb // nbpg % nbg
            if hit[fb] >= 0:
                s = hit[fb]
                c = _earliest_col(T, now, chs, rk, bk, rd_bg, wr_bg, r, g, fb, mode)
                nh = 0
                kind = K_WR if mode else K_RD
            elif bk[B_OPEN, fb] >= 0:
                s = oldest[fb]
                c = _earliest_pre(T, now, chs, rk, bk, r, fb)
                nh = 1
                kind = K_PRE
            else:
                s = oldest[fb]
                c = _earliest_act(T, now, chs, rk, bk, acts, acts_bg, r, g, fb)
                nh = 1
                kind = K_ACT
            a = arr[s]
            f = first[fb]
            if bfb < 0 or c < bcyc or (c == bcyc and (nh < bnh or (nh == bnh and (
                    a < barr or (a == barr and f < bfirst))))):
                bcyc, bnh, barr, bfirst, bs, bkind, bfb = c, nh, a, f, s, kind, fb
        if closed:  # precharge an open bank no queued request hits, when earlier
            for fb in range(nb):
                if bk[B_OPEN, fb] >= 0 and not anyhit[fb]:
                    c = _earliest_pre(T, now, chs, rk, bk, fb // banks, fb)
                    if bfb < 0 or c < bcyc:
                        bcyc, bnh, bs, bkind, bfb = c, 2, -1, K_PRE, fb
        if bfb < 0:  # cannot happen: the mode always has a queued request
            raise AssertionError("no candidate command with requests queued")
        cycle = bcyc
        # a request arriving before that cycle may change the choice: admit it first
        if pending < n and qlen < depth and arr[pending] < cycle:
            if arr[pending] > now:
                now = arr[pending]
            continue
        if refresh != 0 and ref_min < cycle:
            if ref_min > now:
                now = ref_min
            continue
        r = bfb // banks
        g = bfb // nbpg % nbg
        b = bfb % nbpg
        row = rows[bs] if bs >= 0 else -1
        _apply(T, bkind, cycle, chs, rk, bk, acts, acts_bg, rd_bg, wr_bg, r, g, bfb, row,
               banks)
        counts[bkind] += 1
        if bkind == K_ACT:
            log = _log(log, nlog, cycle, K_ACT, r, g, b, row, -1)
            opened[bs] = True
        elif bkind == K_PRE:
            log = _log(log, nlog, cycle, K_PRE, r, g, b, -1, -1)
        else:
            log = _log(log, nlog, cycle, bkind, r, g, b, row, cols[bs])
            done[bs] = cycle + (T[T_CWL] if mode else T[T_CL]) + T[T_BL]
            if not opened[bs]:
                hits += 1
            j = 0
            while q[j] != bs:
                j += 1
            for i in range(j, qlen - 1):
                q[i] = q[i + 1]
            qlen -= 1
            writes -= mode
        nlog += 1
        now = cycle
    return done, log[:nlog].copy(), hits, counts


@njit(cache=True)
def merge_logs(logs, channels):
    """One log in time order (cycle, then channel) from per-channel logs (each in
    cycle order; ``logs[i]`` of channel ``channels[i]``, channels ascending): rows of
    cycle, kind code, channel, rank, bankgroup, bank, row, column."""
    k = len(logs)
    total = 0
    for i in range(k):
        total += logs[i].shape[0]
    out = np.empty((total, 8), np.int64)
    pos = np.zeros(k, np.int64)
    for j in range(total):
        best = -1
        bc = 0
        for i in range(k):  # the least cycle; ties: the lowest channel (the first)
            p = pos[i]
            if p < logs[i].shape[0]:
                c = logs[i][p, 0]
                if best < 0 or c < bc:
                    best, bc = i, c
        row = logs[best][pos[best]]
        out[j, 0] = row[0]
        out[j, 1] = row[1]
        out[j, 2] = channels[best]
        for f in range(2, 7):
            out[j, f + 1] = row[f]
        pos[best] += 1
    return out
