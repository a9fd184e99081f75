"""DRAM commands: what the controller issues and the checker verifies."""

from __future__ import annotations

import enum
from typing import NamedTuple

__all__ = ["Command", "Kind"]


class Kind(enum.Enum):
    """A DRAM command.

    ``ACT`` opens a row, ``PRE`` closes a bank's row, ``PREA`` closes every bank of a
    rank, ``RD`` / ``WR`` move one burst of a column of the open row, ``REF`` refreshes
    every bank of a rank (all precharged), ``REFPB`` one bank.
    """

    ACT = "ACT"
    PRE = "PRE"
    PREA = "PREA"
    RD = "RD"
    WR = "WR"
    REF = "REF"
    REFPB = "REFPB"


class Command(NamedTuple):
    """One command issued at ``cycle`` (tCK).  Fields a command does not use are -1
    (``PREA`` / ``REF``: bankgroup, bank, row, column; ``PRE``: row, column)."""

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
        """Inverse of :meth:`line`."""
        parts = line.split()
        if len(parts) != 8:
            raise ValueError(f"command line {line!r}: expected 8 fields "
                             "(cycle kind channel rank bankgroup bank row column)")
        try:
            kind = Kind(parts[1])
        except ValueError:
            raise ValueError(f"command line {line!r}: kind {parts[1]!r}; allowed: "
                             f"{', '.join(k.value for k in Kind)}") from None
        cycle, ch, rank, bg, bank, row, col = (int(p) for p in (parts[0], *parts[2:]))
        return cls(cycle, kind, ch, rank, bg, bank, row, col)
