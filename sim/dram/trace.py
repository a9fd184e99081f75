"""DRAM request traces and command logs, in and out; seeded synthetic traces.

Request trace, one request per line (the format other DRAM simulators read)::

    # comment
    0x1f40 READ 0
    0x2000 WRITE 12

The address is hexadecimal with a ``0x`` prefix (bytes); the kind is ``READ`` or
``WRITE`` in any case, or ``R`` / ``W``; the arrival cycle (tCK) is a non-negative
decimal integer.  Everything after ``#`` and blank lines are ignored.  Arrival cycles
must not decrease: a trace out of order is refused (naming the line), not sorted,
because a simulator fed a silently re-ordered trace measures another workload.

Completions add the completion cycle: ``0x<addr> READ|WRITE <arrival> <completion>``.
Command logs hold one :meth:`Command.line` per line (same comment rules).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .commands import Command

__all__ = [
    "Trace",
    "TraceFormatError",
    "format_completions",
    "format_trace",
    "parse_command_log",
    "parse_completions",
    "parse_trace",
    "random_trace",
    "read_command_log",
    "read_completions",
    "read_trace",
    "stream_trace",
    "write_command_log",
    "write_completions",
    "write_trace",
]

_KINDS = {"READ": False, "R": False, "WRITE": True, "W": True}


class TraceFormatError(ValueError):
    """A line of a trace or command log that does not parse; names the source,
    the line number (from 1) and the line's text."""


@dataclass(frozen=True)
class Trace:
    """Requests: ``address`` (bytes, uint64), ``is_write`` (bool), ``cycle`` (arrival,
    tCK, int64, non-decreasing), all of one length."""

    address: np.ndarray
    is_write: np.ndarray
    cycle: np.ndarray

    def __post_init__(self):
        for name, dtype in (("address", np.uint64), ("is_write", np.bool_),
                            ("cycle", np.int64)):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=dtype))
        lengths = {len(self.address), len(self.is_write), len(self.cycle)}
        if len(lengths) != 1:
            raise ValueError(f"Trace arrays of different lengths: address {len(self.address)}, "
                             f"is_write {len(self.is_write)}, cycle {len(self.cycle)}")
        if np.any(self.cycle < 0):
            raise ValueError(f"Trace: negative arrival cycle {int(self.cycle.min())}")
        drops = np.flatnonzero(np.diff(self.cycle) < 0)
        if drops.size:
            i = int(drops[0])
            raise ValueError(f"Trace: arrival cycles decrease at request {i + 1} "
                             f"({int(self.cycle[i + 1])} after {int(self.cycle[i])})")

    def __len__(self) -> int:
        return len(self.address)


# -- request traces --------------------------------------------------------------


def parse_trace(text: str, source: str = "<trace>") -> Trace:
    """The :class:`Trace` in ``text`` (see the module docstring for the format)."""
    address, is_write, cycle, _ = _parse_requests(text, source, completions=False)
    return Trace(address, is_write, cycle)


def read_trace(path: str | os.PathLike) -> Trace:
    """:func:`parse_trace` of the file ``path``."""
    return parse_trace(Path(path).read_text(), str(path))


def format_trace(trace: Trace) -> str:
    """``trace`` as text, one ``0x<addr> READ|WRITE <cycle>`` line per request."""
    return "".join(f"{a:#x} {'WRITE' if w else 'READ'} {c}\n"
                   for a, w, c in zip(trace.address.tolist(), trace.is_write.tolist(),
                                      trace.cycle.tolist()))


def write_trace(path: str | os.PathLike, trace: Trace) -> None:
    """Write ``trace`` to ``path`` (:func:`format_trace`)."""
    Path(path).write_text(format_trace(trace))


# -- completions -----------------------------------------------------------------


def parse_completions(text: str, source: str = "<completions>") -> tuple[Trace, np.ndarray]:
    """The requests and their completion cycles (int64, tCK) in ``text``, one
    ``0x<addr> READ|WRITE <arrival> <completion>`` line per request; a completion
    before its arrival is refused."""
    address, is_write, cycle, done = _parse_requests(text, source, completions=True)
    return Trace(address, is_write, cycle), done


def read_completions(path: str | os.PathLike) -> tuple[Trace, np.ndarray]:
    """:func:`parse_completions` of the file ``path``."""
    return parse_completions(Path(path).read_text(), str(path))


def format_completions(trace: Trace, completion: np.ndarray) -> str:
    """``trace`` with each request's ``completion`` cycle, one line per request."""
    completion = np.asarray(completion, dtype=np.int64)
    if completion.shape != (len(trace),):
        raise ValueError(f"completion has shape {completion.shape}; the trace has "
                         f"{len(trace)} requests")
    late = np.flatnonzero(completion < trace.cycle)
    if late.size:
        i = int(late[0])
        raise ValueError(f"request {i}: completion {int(completion[i])} before its arrival "
                         f"{int(trace.cycle[i])}")
    return "".join(f"{a:#x} {'WRITE' if w else 'READ'} {c} {d}\n"
                   for a, w, c, d in zip(trace.address.tolist(), trace.is_write.tolist(),
                                         trace.cycle.tolist(), completion.tolist()))


def write_completions(path: str | os.PathLike, trace: Trace, completion: np.ndarray) -> None:
    """Write :func:`format_completions` to ``path``."""
    Path(path).write_text(format_completions(trace, completion))


# -- command logs ----------------------------------------------------------------


def parse_command_log(text: str, source: str = "<command log>") -> list[Command]:
    """The commands in ``text``, one :meth:`Command.line` per line."""
    commands = []
    for number, line, body in _lines(text):
        try:
            commands.append(Command.parse(body))
        except ValueError as err:
            raise TraceFormatError(f"{source}:{number}: {line!r}: {err}") from None
    return commands


def read_command_log(path: str | os.PathLike) -> list[Command]:
    """:func:`parse_command_log` of the file ``path``."""
    return parse_command_log(Path(path).read_text(), str(path))


def write_command_log(path: str | os.PathLike, commands: Iterable[Command]) -> None:
    """Write ``commands`` to ``path``, one :meth:`Command.line` per line."""
    Path(path).write_text("".join(c.line() + "\n" for c in commands))


# -- synthetic traces ------------------------------------------------------------


def stream_trace(n: int, stride: int = 64, *, start: int = 0, write: bool = False,
                 rate: float = 1.0) -> Trace:
    """``n`` requests to ``start``, ``start + stride``, ... (bytes), all reads (or all
    writes), request ``i`` arriving at cycle ``floor(i / rate)`` (``rate``: requests
    per cycle, > 0).  Deterministic."""
    _positive("n", n, allow_zero=True)
    _positive("rate", rate)
    if stride < 0 or start < 0:
        raise ValueError(f"stream_trace: start {start} and stride {stride} must be >= 0")
    i = np.arange(n, dtype=np.uint64)
    return Trace(np.uint64(start) + i * np.uint64(stride), np.full(n, write, dtype=bool),
                 np.floor(np.arange(n) / rate).astype(np.int64))


def random_trace(n: int, capacity: int, write_fraction: float = 0.0, seed: int = 0,
                 rate: float = 1.0, *, align: int = 64) -> Trace:
    """``n`` requests to addresses drawn uniformly from ``[0, capacity)`` bytes, aligned
    to ``align`` bytes; each a write with probability ``write_fraction``; arrivals a
    Poisson process of ``rate`` requests per cycle (exponential gaps, accumulated and
    rounded down to cycles).  The same ``seed`` gives the same trace."""
    _positive("n", n, allow_zero=True)
    _positive("rate", rate)
    _positive("align", align)
    if capacity < align:
        raise ValueError(f"random_trace: capacity {capacity} bytes is below align {align}")
    if not 0.0 <= write_fraction <= 1.0:
        raise ValueError(f"random_trace: write_fraction {write_fraction} not in [0, 1]")
    rng = np.random.default_rng(seed)
    slots = rng.integers(0, capacity // align, size=n, dtype=np.uint64)
    is_write = rng.random(n) < write_fraction
    arrival = np.floor(np.cumsum(rng.exponential(1.0 / rate, size=n))).astype(np.int64)
    return Trace(slots * np.uint64(align), is_write, arrival)


# -- the parts -------------------------------------------------------------------


def _positive(name, value, allow_zero=False):
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} = {value}; must be {'>= 0' if allow_zero else '> 0'}")


def _lines(text: str):
    """(line number from 1, the line, its text before any ``#``, stripped) of every
    line that holds something."""
    for number, line in enumerate(text.splitlines(), start=1):
        body = line.split("#", 1)[0].strip()
        if body:
            yield number, line, body


def _parse_requests(text: str, source: str, completions: bool):
    fields = 4 if completions else 3
    shape = ("0x<hex address> READ|WRITE <arrival> <completion>" if completions
             else "0x<hex address> READ|WRITE <arrival cycle>")
    address: list[int] = []
    is_write: list[bool] = []
    cycle: list[int] = []
    done: list[int] = []
    for number, line, body in _lines(text):
        where = f"{source}:{number}: {line.strip()!r}"
        parts = body.split()
        if len(parts) != fields:
            raise TraceFormatError(f"{where}: {len(parts)} fields; expected {fields}: {shape}")
        addr, kind, *cycles = parts
        if not addr.lower().startswith("0x"):
            raise TraceFormatError(f"{where}: address {addr!r} needs a 0x prefix (hex bytes)")
        try:
            a = int(addr[2:], 16)
        except ValueError:
            raise TraceFormatError(f"{where}: address {addr!r} is not hexadecimal") from None
        if a >= 1 << 64:
            raise TraceFormatError(f"{where}: address {addr!r} does not fit 64 bits")
        if kind.upper() not in _KINDS:
            raise TraceFormatError(f"{where}: kind {kind!r}; allowed: READ, WRITE, R, W "
                                   "(any case)")
        values = []
        for name, text_value in zip(("arrival", "completion"), cycles):
            if not (text_value.isascii() and text_value.isdigit()):
                raise TraceFormatError(f"{where}: {name} cycle {text_value!r} is not a "
                                       "non-negative decimal integer")
            values.append(int(text_value))
        if cycle and values[0] < cycle[-1]:
            raise TraceFormatError(f"{where}: arrival cycle {values[0]} is before the "
                                   f"previous request's {cycle[-1]} (traces must be in "
                                   "arrival order)")
        if completions and values[1] < values[0]:
            raise TraceFormatError(f"{where}: completion {values[1]} before arrival "
                                   f"{values[0]}")
        address.append(a)
        is_write.append(_KINDS[kind.upper()])
        cycle.append(values[0])
        if completions:
            done.append(values[1])
    return (np.array(address, dtype=np.uint64), np.array(is_write, dtype=bool),
            np.array(cycle, dtype=np.int64), np.array(done, dtype=np.int64))
