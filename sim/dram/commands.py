"""DRAM commands: what the controller issues and the checker verifies.

Every command is one line of a command log, ``<cycle> <KIND> ch rank bg bank row col``
(eight fields, unused ones -1).  Which fields each kind uses (:data:`FIELDS`):

============  ===========================================================================
kind          fields used (all others are -1)
============  ===========================================================================
``ACT``       rank, bankgroup, bank, row
``PRE``       rank, bankgroup, bank
``PREA``      rank (closes every bank of the rank)
``RD``/``WR`` rank, bankgroup, bank, row (the open row), column
``REF``       rank
``REFPB``     rank, bankgroup, bank
``GWRITE``    column = the global-buffer column written (the buffer is per channel:
              rank -1)
``GACT``      rank, row (opened in every bank of the rank)
``MAC``       rank, row (the row open in every bank), column (row column = buffer column)
``MACL``      as MAC; the result goes to the rank's next result slot
``READRES``   rank, column = the result slot read (every bank's value of that slot)
============  ===========================================================================
"""

from __future__ import annotations

import enum
from typing import NamedTuple

__all__ = ["FIELDS", "PIM_KINDS", "Command", "Kind"]


class Kind(enum.Enum):
    """A DRAM command.

    ``ACT`` opens a row, ``PRE`` closes a bank's row, ``PREA`` closes every bank of a
    rank, ``RD`` / ``WR`` move one burst of a column of the open row, ``REF`` refreshes
    every bank of a rank (all precharged), ``REFPB`` one bank.

    The all-bank PIM commands (docs/designs/dram.md, "PIM commands"): ``GWRITE`` writes
    one burst (``lanes`` BF16 values) into the channel's global buffer; ``GACT`` opens
    one row in every bank of a rank; ``MAC`` makes every bank of the rank multiply one
    column of its open row with the same column of the global buffer and accumulate;
    ``MACL`` is a MAC that then latches the accumulator into the bank's next result
    slot and restarts it at +0; ``READRES`` reads one result slot of every bank of the
    rank over the data bus.
    """

    ACT = "ACT"
    PRE = "PRE"
    PREA = "PREA"
    RD = "RD"
    WR = "WR"
    REF = "REF"
    REFPB = "REFPB"
    GWRITE = "GWRITE"
    GACT = "GACT"
    MAC = "MAC"
    MACL = "MACL"
    READRES = "READRES"


#: The all-bank PIM commands.
PIM_KINDS = frozenset({Kind.GWRITE, Kind.GACT, Kind.MAC, Kind.MACL, Kind.READRES})

#: The fields (of rank, bankgroup, bank, row, column) each kind uses; the others are -1.
FIELDS: dict[Kind, tuple[str, ...]] = {
    Kind.ACT: ("rank", "bankgroup", "bank", "row"),
    Kind.PRE: ("rank", "bankgroup", "bank"),
    Kind.PREA: ("rank",),
    Kind.RD: ("rank", "bankgroup", "bank", "row", "column"),
    Kind.WR: ("rank", "bankgroup", "bank", "row", "column"),
    Kind.REF: ("rank",),
    Kind.REFPB: ("rank", "bankgroup", "bank"),
    Kind.GWRITE: ("column",),
    Kind.GACT: ("rank", "row"),
    Kind.MAC: ("rank", "row", "column"),
    Kind.MACL: ("rank", "row", "column"),
    Kind.READRES: ("rank", "column"),
}


class Command(NamedTuple):
    """One command issued at ``cycle`` (tCK).  Fields a command does not use are -1
    (see :data:`FIELDS`; ``rank`` defaults to 0 for the kinds that use it)."""

    cycle: int
    kind: Kind
    channel: int
    rank: int = 0
    bankgroup: int = -1
    bank: int = -1
    row: int = -1
    column: int = -1

    def line(self) -> str:
        """``<cycle> <KIND> ch rank bg bank row col``: the command-log format."""
        return (f"{self.cycle} {self.kind.value} {self.channel} {self.rank} {self.bankgroup} "
                f"{self.bank} {self.row} {self.column}")

    @classmethod
    def parse(cls, line: str) -> Command:
        """Inverse of :meth:`line`.

        Raises
        ------
        ValueError
            Not eight fields, an unknown kind, a field that is not an integer, or (for
            the PIM kinds) a field the kind does not use that is not -1.
        """
        parts = line.split()
        if len(parts) != 8:
            raise ValueError(f"command line {line!r}: expected 8 fields "
                             "(cycle kind channel rank bankgroup bank row column)")
        try:
            kind = Kind(parts[1])
        except ValueError:
            raise ValueError(f"command line {line!r}: kind {parts[1]!r}; allowed: "
                             f"{', '.join(k.value for k in Kind)}") from None
        try:
            cycle, ch, rank, bg, bank, row, col = (int(p) for p in (parts[0], *parts[2:]))
        except ValueError:
            raise ValueError(f"command line {line!r}: every field but the kind must be an "
                             "integer") from None
        cmd = cls(cycle, kind, ch, rank, bg, bank, row, col)
        if kind in PIM_KINDS:
            unused = [f"{name} {getattr(cmd, name)}" for name in
                      ("rank", "bankgroup", "bank", "row", "column")
                      if name not in FIELDS[kind] and getattr(cmd, name) != -1]
            if unused:
                raise ValueError(f"command line {line!r}: {kind.value} uses only "
                                 f"{', '.join(FIELDS[kind])}; {', '.join(unused)} must be -1")
        return cmd

    # -- constructors of the PIM commands (the fields they use, the rest -1) -------

    @classmethod
    def gwrite(cls, cycle: int, channel: int, column: int) -> Command:
        """``GWRITE`` of global-buffer column ``column``."""
        return cls(cycle, Kind.GWRITE, channel, -1, -1, -1, -1, column)

    @classmethod
    def gact(cls, cycle: int, channel: int, rank: int, row: int) -> Command:
        """``GACT``: open ``row`` in every bank of ``rank``."""
        return cls(cycle, Kind.GACT, channel, rank, -1, -1, row, -1)

    @classmethod
    def mac(cls, cycle: int, channel: int, rank: int, row: int, column: int,
            latch: bool = False) -> Command:
        """``MAC`` (``MACL`` with ``latch``) of ``column`` of the open ``row``."""
        return cls(cycle, Kind.MACL if latch else Kind.MAC, channel, rank, -1, -1, row, column)

    @classmethod
    def readres(cls, cycle: int, channel: int, rank: int, slot: int) -> Command:
        """``READRES`` of result slot ``slot`` of every bank of ``rank``."""
        return cls(cycle, Kind.READRES, channel, rank, -1, -1, -1, slot)
