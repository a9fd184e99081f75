"""Exceptions every layer raises for bad input.

Each message names the offending field, the value given and what is allowed,
and where the value came from (a file, a ``--set`` flag) when that is known.
"""

from __future__ import annotations

__all__ = ["BoardFileError", "ConfigError", "SparseforgeError", "UnknownBoardError"]


class SparseforgeError(Exception):
    """Base class of sparseforge's user-facing errors (the CLI prints them and exits 2)."""


class ConfigError(SparseforgeError, ValueError):
    """A design parameter is unknown, malformed or out of range."""


class UnknownBoardError(SparseforgeError, KeyError):
    """A board name is not in the registry; the message lists the known boards."""

    def __str__(self) -> str:  # KeyError would print the repr of its argument
        return str(self.args[0]) if self.args else ""


class BoardFileError(SparseforgeError, ValueError):
    """A board data file is malformed; the message names the file and the field."""
