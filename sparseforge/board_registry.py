"""Board registry: load and validate the board data files in ``boards/``.

One TOML file per board, schema in ``docs/boards.md``.  Every table carries a
``source`` naming entries of the file's ``[sources]`` table, so each figure
can be traced to a vendor document.

>>> from sparseforge.board_registry import get_board
>>> get_board("u280").resources.dsp
9024
"""

from __future__ import annotations

import dataclasses
import re
import sys
import typing
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from .errors import BoardFileError, UnknownBoardError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "Board",
    "Clocks",
    "Device",
    "Host",
    "Memory",
    "PsPlPort",
    "Resources",
    "all_boards",
    "board_names",
    "get_board",
    "load_board_file",
]

_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


# --------------------------------------------------------------------------- records
# Field metadata: "choices" (allowed strings), "min" (smallest allowed number).


def _choices(*values: str):
    return field(metadata={"choices": values})


def _at_least(low: float):
    return field(metadata={"min": low})


@dataclass(frozen=True)
class Device:
    """The FPGA / adaptive SoC on the board."""

    part: str
    family: str = _choices("zynquplus", "virtexuplus", "virtexuplushbm", "versal")
    architecture: str = _choices("ultrascale+", "versal")
    board_part: str = ""
    source: str = ""

    @property
    def synth_family(self) -> str | None:
        """``synth_xilinx -family`` value for this device (``xcup``), or ``None`` for
        Versal, which Yosys' ``synth_xilinx`` does not map."""
        return {"ultrascale+": "xcup"}.get(self.architecture)


@dataclass(frozen=True)
class Resources:
    """Device resource totals (counts)."""

    lut: int = _at_least(1)
    ff: int = _at_least(1)
    dsp: int = _at_least(1)
    dsp_kind: str = _choices("DSP48E2", "DSP58")
    bram36: int = _at_least(0)
    uram: int = _at_least(0)
    source: str = ""


@dataclass(frozen=True)
class Memory:
    """One off-chip memory system reachable by a kernel.

    ``peak_gbs`` is the vendor's aggregate peak in GB/s (10^9 bytes/s) over
    all ``channels``; ``width_bits`` is one channel's data width without ECC.
    """

    name: str
    kind: str = _choices("DDR4", "LPDDR4", "HBM2", "HBM2e")
    attached_to: str = _choices("ps", "pl")
    capacity_gib: float = _at_least(0)
    channels: int = _at_least(1)
    pseudo_channels: int = _at_least(0)
    width_bits: int = _at_least(1)
    data_rate_mts: int = _at_least(0)
    peak_gbs: float = _at_least(0)
    source: str = ""


@dataclass(frozen=True)
class Clocks:
    """Default kernel / PL clock, MHz."""

    default_mhz: float = _at_least(1)
    source: str = ""


@dataclass(frozen=True)
class Host:
    """How software reaches the board: PYNQ on a Zynq MPSoC, or XRT."""

    kind: str = _choices("zynq_pynq", "alveo_xrt", "versal_xrt")
    platform: str = ""
    pynq: str = ""
    source: str = ""


@dataclass(frozen=True)
class PsPlPort:
    """An AXI port between processing system and programmable logic."""

    name: str
    direction: str = _choices("pl_to_ps", "ps_to_pl")
    max_width_bits: int = _at_least(32)
    coherent: bool = False
    source: str = ""


@dataclass(frozen=True)
class Board:
    """One board of the registry (all values from its data file)."""

    name: str
    display_name: str
    vendor: str
    sources: dict[str, str]
    device: Device
    resources: Resources
    memory: tuple[Memory, ...]
    clocks: Clocks
    host: Host
    ps_pl_ports: tuple[PsPlPort, ...] = ()
    path: str = field(default="", compare=False)

    @property
    def has_ps(self) -> bool:
        """Whether the board has a processing system wired to the PL (Zynq / Versal)."""
        return self.host.kind in ("zynq_pynq", "versal_xrt")

    @property
    def kernel_memory(self) -> Memory:
        """The memory a generated kernel uses by default: the widest-bandwidth one."""
        return max(self.memory, key=lambda m: m.peak_gbs)

    def to_dict(self) -> dict:
        """JSON-serialisable form (``sparseforge boards show --json``)."""
        out = dataclasses.asdict(self)
        out.pop("path")
        out["memory"] = list(out["memory"])
        out["ps_pl_ports"] = list(out["ps_pl_ports"])
        return out


# --------------------------------------------------------------------------- lookup


def board_names() -> list[str]:
    """Names of the registry's boards, sorted."""
    return sorted(_packaged_files())


def get_board(name: str) -> Board:
    """Look a board up by name (case-insensitive) or by the path of a ``.toml`` file.

    Raises
    ------
    UnknownBoardError
        No such board; the message lists the known ones.
    BoardFileError
        The board's file is malformed.
    """
    if name.endswith(".toml") and Path(name).is_file():
        return load_board_file(Path(name))
    files = _packaged_files()
    key = name.strip().lower()
    if key not in files:
        raise UnknownBoardError(
            f"unknown board {name!r}; known boards: {', '.join(sorted(files))} "
            "(or give the path of a board .toml file)"
        )
    return _load_packaged(key)


def all_boards() -> list[Board]:
    """Every board of the registry, sorted by name."""
    return [get_board(n) for n in board_names()]


def load_board_file(path: Path | str) -> Board:
    """Load and validate one board file.

    Raises
    ------
    BoardFileError
        The file cannot be parsed, lacks a field, has an unknown field, a
        value of the wrong type or out of range, or cites an unknown source;
        the message names the file and the field.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BoardFileError(f"{path}: cannot read board file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise BoardFileError(f"{path}: not valid TOML: {exc}") from None
    return _parse_board(data, path)


# --------------------------------------------------------------------------- parsing


@cache
def _packaged_files() -> dict[str, str]:
    folder = resources.files("sparseforge.boards")
    return {
        entry.name[: -len(".toml")]: entry.name
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    }


@cache
def _load_packaged(key: str) -> Board:
    entry = resources.files("sparseforge.boards") / _packaged_files()[key]
    with resources.as_file(entry) as path:
        return load_board_file(path)


def _parse_board(data: dict, path: Path) -> Board:
    def fail(where: str, message: str) -> BoardFileError:
        return BoardFileError(f"{path}: field {where!r}: {message}")

    top = {"name", "display_name", "vendor", "sources", "device", "resources", "memory",
           "clocks", "host", "ps_pl_ports"}
    for key in data:
        if key not in top:
            raise fail(key, f"unknown field; allowed: {', '.join(sorted(top))}")
    for key in ("name", "display_name", "vendor", "sources", "device", "resources",
                "memory", "clocks", "host"):
        if key not in data:
            raise fail(key, "missing")
    for key in ("name", "display_name", "vendor"):
        if not isinstance(data[key], str) or not data[key]:
            raise fail(key, f"expected a non-empty string, got {data[key]!r}")
    if not _IDENT.match(data["name"]):
        raise fail("name", f"{data['name']!r} is not a lower-case identifier ([a-z][a-z0-9_]*)")
    if path.suffix == ".toml" and path.stem != data["name"]:
        raise fail("name", f"{data['name']!r} differs from the file name {path.stem!r}")
    sources = data["sources"]
    if not isinstance(sources, dict) or not sources:
        raise fail("sources", "expected a table of citation-key = \"citation\" pairs")
    for key, text in sources.items():
        if not isinstance(text, str) or not text.strip():
            raise fail(f"sources.{key}", f"expected a citation string, got {text!r}")

    def record(cls, table, where):
        if not isinstance(table, dict):
            raise fail(where, f"expected a table, got {type(table).__name__}")
        return _parse_record(cls, table, where, sources, fail)

    def records(cls, tables, where, allow_empty):
        if not isinstance(tables, list) or (not tables and not allow_empty):
            raise fail(where, "expected a non-empty array of tables ([[...]])")
        return tuple(record(cls, t, f"{where}[{i}]") for i, t in enumerate(tables))

    return Board(
        name=data["name"],
        display_name=data["display_name"],
        vendor=data["vendor"],
        sources=dict(sources),
        device=record(Device, data["device"], "device"),
        resources=record(Resources, data["resources"], "resources"),
        memory=records(Memory, data["memory"], "memory", allow_empty=False),
        clocks=record(Clocks, data["clocks"], "clocks"),
        host=record(Host, data["host"], "host"),
        ps_pl_ports=records(PsPlPort, data.get("ps_pl_ports", []), "ps_pl_ports",
                            allow_empty=True),
        path=str(path),
    )


def _parse_record(cls, table: dict, where: str, sources: dict, fail):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in table:
        if key not in fields:
            raise fail(f"{where}.{key}", f"unknown field; allowed: {', '.join(fields)}")
    values = {}
    for name, spec in fields.items():
        here = f"{where}.{name}"
        if name not in table:
            raise fail(here, "missing")
        value = table[name]
        kind = hints[name]
        if kind is bool:
            ok = isinstance(value, bool)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        else:
            ok = isinstance(value, str)
        if not ok:
            raise fail(here, f"expected {kind.__name__}, got {value!r} ({type(value).__name__})")
        choices = spec.metadata.get("choices")
        if choices and value not in choices:
            raise fail(here, f"{value!r} is not one of {', '.join(choices)}")
        low = spec.metadata.get("min")
        if low is not None and value < low:
            raise fail(here, f"{value!r} is below the minimum {low}")
        if name == "source":
            keys = [k.strip() for k in value.split(",") if k.strip()]
            if not keys:
                raise fail(here, "empty: every table must cite a [sources] entry")
            unknown = [k for k in keys if k not in sources]
            if unknown:
                raise fail(here, f"cites {', '.join(unknown)}, not in [sources] "
                                 f"(known: {', '.join(sources)})")
        values[name] = value
    return cls(**values)
