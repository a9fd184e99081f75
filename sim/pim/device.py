"""Functional model of one PIM channel: what the DRAM commands do to the data.

:class:`PimChannel` holds one channel's bank contents (BF16 bit patterns, ``uint16``),
every bank's row buffer, the channel's global buffer, and every bank's FP32 accumulator
and result slots, and :meth:`~PimChannel.execute` applies one
:class:`~sparseforge.sim.dram.commands.Command` to them.  It checks *state* (which rows
are open, which slots are filled), never timing: timing is the DRAM core's
(:mod:`sparseforge.sim.dram.timing`, :mod:`sparseforge.sim.dram.checker`).  The MAC
arithmetic is the golden one, :func:`sparseforge.sim.pim.mac.mac_column`, applied to
every bank of a rank at once.

Model (docs/designs/dram.md, "PIM commands"):

* A row is ``columns`` columns of ``lanes`` BF16 values; rows are allocated on first use
  and start at zero.  ``ACT`` / ``GACT`` copy the row into the bank's row buffer;
  ``RD`` / ``WR`` / ``MAC`` use the row buffer; ``PRE`` / ``PREA`` write it back.
* The global buffer is the channel's: ``gbuf_columns`` columns of ``lanes`` values,
  zero at start, written by ``GWRITE``.
* ``MAC`` of column ``k``: every bank's accumulator ``+= tree(row[k] * gbuf[k])``;
  ``MACL`` then stores the accumulator in the rank's next result slot (0, 1, ...) and
  restarts it at +0.  ``GACT`` empties the slots (the next MACL fills slot 0); the
  accumulators are not touched by GACT or PREA (only MACL restarts them).
* ``READRES`` of slot ``s`` returns the FP32 values of every bank of the rank, bank
  ``bankgroup * banks_per_group + bank`` at that index.

Example
-------
>>> ch = PimChannel(load_device("gddr6_aim"))
>>> ch.load_row(0, 0, 0, 7, weights)            # 1024 BF16 values
>>> ch.execute(Command.gwrite(0, 0, 0), x[:16])
>>> ch.execute(Command.gact(10, 0, 0, 7))
>>> ch.execute(Command.mac(70, 0, 0, 7, 0, latch=True))
>>> ch.execute(Command.readres(80, 0, 0, 0))   # 16 FP32 values, one per bank
"""

from __future__ import annotations

import numpy as np

from ..dram.commands import Command, Kind
from .fp import add_flushed, bf16_mul, ftz, pairwise_sum
from .mac import mac_column

__all__ = ["PimChannel", "PimStateError"]


class PimStateError(RuntimeError):
    """A command the channel's state does not allow (MAC with no row open, a result
    slot overflow, reading an empty slot, a burst of the wrong size, ...)."""


class PimChannel:
    """One channel of ``device`` (with a ``pim`` table): data and PIM state.

    Parameters
    ----------
    device : Device
        A :class:`sparseforge.sim.dram.device.Device` whose ``pim`` is set (or any
        object with its organisation attributes and ``pim.lanes``,
        ``pim.gbuf_columns``, ``pim.result_slots``).
    channel : int
        The channel this model answers for; commands of other channels are refused.
    """

    def __init__(self, device, channel: int = 0):
        if getattr(device, "pim", None) is None:
            raise ValueError(f"device {getattr(device, 'name', '')!r} has no [pim] table")
        if not 0 <= channel < device.channels:
            raise ValueError(f"channel {channel} not in [0, {device.channels})")
        self.device = device
        self.channel = channel
        p = device.pim
        self.lanes = p.lanes
        self.columns = device.columns
        self.banks = device.bankgroups * device.banks_per_group
        ranks = device.ranks
        self._rows: dict[tuple[int, int, int], np.ndarray] = {}  # (rank, bank, row)
        self.row_buffer = np.zeros((ranks, self.banks, self.columns, self.lanes), np.uint16)
        self.open_row = np.full((ranks, self.banks), -1, np.int64)
        self.gbuf = np.zeros((p.gbuf_columns, self.lanes), np.uint16)
        self.acc = np.zeros((ranks, self.banks), np.float32)
        self.slots = np.zeros((ranks, p.result_slots, self.banks), np.float32)
        self.filled = np.zeros(ranks, np.int64)  # slots filled since the last GACT

    # ------------------------------------------------------------------ helpers
    def _bank(self, bankgroup: int, bank: int) -> int:
        d = self.device
        if not (0 <= bankgroup < d.bankgroups and 0 <= bank < d.banks_per_group):
            raise PimStateError(f"bank {bankgroup}.{bank} not in the device "
                                f"({d.bankgroups} groups x {d.banks_per_group} banks)")
        return bankgroup * d.banks_per_group + bank

    def _rank(self, rank: int) -> int:
        if not 0 <= rank < self.device.ranks:
            raise PimStateError(f"rank {rank} not in [0, {self.device.ranks})")
        return rank

    def _row(self, rank: int, bank: int, row: int) -> np.ndarray:
        """The stored row (allocated, zero, on first use)."""
        if not 0 <= row < self.device.rows:
            raise PimStateError(f"row {row} not in [0, {self.device.rows})")
        key = (rank, bank, row)
        if key not in self._rows:
            self._rows[key] = np.zeros((self.columns, self.lanes), np.uint16)
        return self._rows[key]

    def _burst(self, data, what: str) -> np.ndarray:
        if data is None:
            raise PimStateError(f"{what} needs a burst of {self.lanes} BF16 values")
        a = np.asarray(data)
        if a.dtype.itemsize == 2 and a.dtype.kind not in "ui":  # e.g. ml_dtypes.bfloat16
            a = a.view(np.uint16)
        if a.shape != (self.lanes,):
            raise PimStateError(f"{what}: a burst is {self.lanes} BF16 values, got shape "
                                f"{a.shape}")
        if a.dtype != np.uint16:
            if a.dtype.kind not in "ui" or a.min() < 0 or a.max() > 0xFFFF:
                raise PimStateError(f"{what}: BF16 bit patterns (uint16) expected, got "
                                    f"{a.dtype}")
            a = a.astype(np.uint16)
        return a

    def _column(self, column: int, limit: int, what: str) -> int:
        if not 0 <= column < limit:
            raise PimStateError(f"{what} {column} not in [0, {limit})")
        return column

    # ------------------------------------------------------------------ set-up
    def load_row(self, rank: int, bankgroup: int, bank: int, row: int, values) -> None:
        """Store a whole row (``columns * lanes`` BF16 bit patterns, or that shape as
        ``(columns, lanes)``), as many WRs would; an open copy of it in the row buffer
        is updated too."""
        rank, b = self._rank(rank), self._bank(bankgroup, bank)
        a = np.asarray(values)
        if a.dtype.itemsize == 2 and a.dtype.kind not in "ui":
            a = a.view(np.uint16)
        if a.size != self.columns * self.lanes or a.dtype.kind not in "ui":
            raise PimStateError(f"load_row: a row is {self.columns} x {self.lanes} BF16 bit "
                                f"patterns, got {a.dtype} of shape {a.shape}")
        stored = self._row(rank, b, row)
        stored[:] = a.reshape(self.columns, self.lanes).astype(np.uint16)
        if self.open_row[rank, b] == row:
            self.row_buffer[rank, b] = stored

    def row_values(self, rank: int, bankgroup: int, bank: int, row: int) -> np.ndarray:
        """A copy of a row's contents as seen now (the row buffer when it is open),
        shape ``(columns, lanes)``."""
        rank, b = self._rank(rank), self._bank(bankgroup, bank)
        if self.open_row[rank, b] == row:
            return self.row_buffer[rank, b].copy()
        return self._row(rank, b, row).copy()

    # ------------------------------------------------------------------ commands
    def execute(self, cmd: Command, data=None):
        """Apply ``cmd``; returns RD's burst (``uint16``, ``lanes``), READRES's results
        (``float32``, one per bank), else None.

        ``data``: the burst of WR / GWRITE (``lanes`` BF16 bit patterns).

        Raises
        ------
        PimStateError
            A command the state does not allow: ACT / GACT to an open bank, RD / WR /
            MAC to a closed bank or another row, MACL with every slot filled, READRES
            of a slot not filled since the last GACT, a column or slot out of range,
            a missing or wrong-sized burst, a command of another channel.
        """
        if cmd.channel != self.channel:
            raise PimStateError(f"{cmd.line()}: this model is channel {self.channel}")
        k = cmd.kind
        if k is Kind.GWRITE:
            col = self._column(cmd.column, len(self.gbuf), "GWRITE global-buffer column")
            self.gbuf[col] = self._burst(data, "GWRITE")
            return None
        rank = self._rank(cmd.rank)
        if k in (Kind.REF, Kind.REFPB):
            return None  # refresh keeps the data
        if k is Kind.PREA:
            for b in np.nonzero(self.open_row[rank] >= 0)[0]:
                self._close(rank, int(b))
            return None
        if k is Kind.GACT:
            if (self.open_row[rank] >= 0).any():
                raise PimStateError(f"{cmd.line()}: GACT with bank(s) open")
            for b in range(self.banks):
                self._open(rank, b, cmd.row)
            self.filled[rank] = 0
            return None
        if k in (Kind.MAC, Kind.MACL):
            return self._mac(cmd, rank)
        if k is Kind.READRES:
            slot = self._column(cmd.column, self.slots.shape[1], "READRES slot")
            if slot >= self.filled[rank]:
                raise PimStateError(f"{cmd.line()}: slot {slot} is empty "
                                    f"({self.filled[rank]} filled since the last GACT)")
            return self.slots[rank, slot].copy()
        b = self._bank(cmd.bankgroup, cmd.bank)
        if k is Kind.ACT:
            if self.open_row[rank, b] >= 0:
                raise PimStateError(f"{cmd.line()}: row {self.open_row[rank, b]} is open")
            self._open(rank, b, cmd.row)
            return None
        if k is Kind.PRE:
            if self.open_row[rank, b] >= 0:
                self._close(rank, b)
            return None
        # RD / WR
        if self.open_row[rank, b] != cmd.row:
            raise PimStateError(f"{cmd.line()}: open row of bank {cmd.bankgroup}."
                                f"{cmd.bank} is {self.open_row[rank, b]}")
        col = self._column(cmd.column, self.columns, f"{k.value} column")
        if k is Kind.RD:
            return self.row_buffer[rank, b, col].copy()
        self.row_buffer[rank, b, col] = self._burst(data, "WR")
        return None

    def execute_macs(self, cmds) -> None:
        """Execute a run of MAC / MACL commands to one open row of one rank, in order,
        with exactly the arithmetic of executing them one by one (:meth:`execute`): the
        products and adder trees of all columns are computed at once, the accumulator
        additions and latches one column after the other.  Same state checks."""
        cmds = list(cmds)
        if not cmds:
            return
        first = cmds[0]
        rank = self._rank(first.rank)
        for c in cmds:
            if c.kind not in (Kind.MAC, Kind.MACL) or c.channel != self.channel or \
                    c.rank != first.rank or c.row != first.row:
                raise PimStateError(f"{c.line()}: execute_macs takes MAC / MACL commands "
                                    "of one row of one rank")
        wrong = np.nonzero(self.open_row[rank] != first.row)[0]
        if len(wrong):
            raise PimStateError(f"{first.line()}: MAC needs row {first.row} open in every "
                                f"bank; bank(s) {', '.join(map(str, wrong))} are not")
        limit = min(self.columns, len(self.gbuf))
        cols = [self._column(c.column, limit, f"{c.kind.value} column") for c in cmds]
        latches = sum(c.kind is Kind.MACL for c in cmds)
        if self.filled[rank] + latches > self.slots.shape[1]:
            raise PimStateError(f"{first.line()}: {latches} MACLs overflow the "
                                f"{self.slots.shape[1]} result slots "
                                f"({self.filled[rank]} filled since the last GACT)")
        w = self.row_buffer[rank][:, cols, :]  # (banks, n, lanes)
        trees = pairwise_sum(bf16_mul(w, self.gbuf[cols]))  # (banks, n)
        acc = ftz(self.acc[rank])
        with np.errstate(invalid="ignore", over="ignore"):
            for i, c in enumerate(cmds):
                acc = add_flushed(acc, trees[:, i])  # = fadd: both operands are flushed
                if c.kind is Kind.MACL:
                    self.slots[rank, self.filled[rank]] = acc
                    self.filled[rank] += 1
                    acc = np.zeros_like(acc)
        self.acc[rank] = acc

    def _open(self, rank: int, b: int, row: int) -> None:
        self.row_buffer[rank, b] = self._row(rank, b, row)
        self.open_row[rank, b] = row

    def _close(self, rank: int, b: int) -> None:
        self._row(rank, b, int(self.open_row[rank, b]))[:] = self.row_buffer[rank, b]
        self.open_row[rank, b] = -1

    def _mac(self, cmd: Command, rank: int) -> None:
        wrong = np.nonzero(self.open_row[rank] != cmd.row)[0]
        if len(wrong):
            raise PimStateError(f"{cmd.line()}: {cmd.kind.value} needs row {cmd.row} open in "
                                f"every bank; bank(s) {', '.join(map(str, wrong))} have "
                                f"{', '.join(str(self.open_row[rank, b]) for b in wrong)}")
        col = self._column(cmd.column, min(self.columns, len(self.gbuf)),
                           f"{cmd.kind.value} column")
        latch = cmd.kind is Kind.MACL
        if latch and self.filled[rank] >= self.slots.shape[1]:
            raise PimStateError(f"{cmd.line()}: all {self.slots.shape[1]} result slots "
                                "filled since the last GACT")
        self.acc[rank] = mac_column(self.acc[rank], self.row_buffer[rank, :, col],
                                    self.gbuf[col])
        if latch:
            self.slots[rank, self.filled[rank]] = self.acc[rank]
            self.filled[rank] += 1
            self.acc[rank] = 0.0
        return None
