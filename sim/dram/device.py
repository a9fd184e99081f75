"""DRAM devices as data: organisation, timing in cycles of tCK, energy per command.

One TOML file per memory in ``presets/`` (schema in docs/designs/dram.md, "Devices");
every table cites entries of the file's ``[sources]`` table.  Users load their own
files by path.

>>> from sparseforge.sim.dram.device import load_device
>>> hbm2 = load_device("hbm2")
>>> hbm2.timing.rcd, hbm2.row_bytes
(14, 1024)
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from sparseforge.errors import SparseforgeError
from sparseforge.sim.pim.units import mac_latency

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "KINDS",
    "Device",
    "DeviceFileError",
    "Energy",
    "PimTiming",
    "Timing",
    "UnknownDeviceError",
    "all_devices",
    "device_names",
    "load_device",
]

#: Memory standards a preset may name as its ``kind``.
KINDS = ("DDR4", "DDR5", "LPDDR4", "LPDDR5", "GDDR5", "GDDR6", "HBM2", "HBM2E", "HBM3")

_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


class DeviceFileError(SparseforgeError, ValueError):
    """A device file is malformed; the message names the file, the field and the value."""


class UnknownDeviceError(SparseforgeError, KeyError):
    """No preset of that name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Timing:
    """Timing constraints, all in integer cycles of tCK (see docs/designs/dram.md).

    ``bl`` is the burst's duration on the data bus in tCK (BL/2 for a DDR bus), not the
    number of beats.  ``rfc_pb`` = 0: the device has no per-bank refresh.
    """

    cl: int
    cwl: int
    bl: int
    rcd: int
    rp: int
    ras: int
    rc: int
    ccd_s: int
    ccd_l: int
    rrd_s: int
    rrd_l: int
    faw: int
    wr: int
    rtp: int
    wtr_s: int
    wtr_l: int
    rtrs: int
    rfc: int
    refi: int
    rfc_pb: int = 0


#: Timing fields that may be 0 (everything else must be >= 1).
_MAY_BE_ZERO = {"rtrs", "rfc_pb"}


@dataclass(frozen=True)
class Energy:
    """Energy per command in pJ (one command on one channel), background power in mW
    (one channel; 0 = not given)."""

    act: float
    pre: float
    rd: float
    wr: float
    ref: float
    act_standby_mw: float = 0.0
    pre_standby_mw: float = 0.0


@dataclass(frozen=True)
class PimTiming:
    """The all-bank PIM extension of a device, resolved from its ``[pim]`` table
    (docs/designs/dram.md, "PIM commands").  Cycles are tCK.

    Attributes
    ----------
    lanes : int
        BF16 values per burst (one GWRITE, one MAC column): ``burst_bytes / 2``.
    gbuf_bytes : int
        Size of the channel's global buffer; ``gbuf_columns = gbuf_bytes / burst_bytes``
        columns of ``lanes`` values.
    result_slots : int
        Result slots per bank (MACLs between two GACTs of a rank).
    rcd_mac : int
        Activation (GACT or ACT) of a bank -> MAC.
    ccd_mac : int
        MAC -> MAC of one rank.
    mac_latency : int
        MACL -> its result readable by READRES.
    gact_faw : bool
        Whether GACT counts as four ACTs for tRRD / tFAW (True) or is exempt (False).
    readres_bursts : int
        Bursts one READRES moves: ``ceil(banks * 4 / burst_bytes)`` (FP32 per bank).
    """

    lanes: int
    gbuf_bytes: int
    gbuf_columns: int
    result_slots: int
    rcd_mac: int
    ccd_mac: int
    mac_latency: int
    gact_faw: bool
    readres_bursts: int


#: ``[pim]`` fields and their defaults (functions of the organisation and timing).
#: ``mac_latency`` default: the RTL MAC unit's latency in its cycles
#: (:func:`sparseforge.sim.pim.units.mac_latency`: products, adder tree, accumulator add)
#: times ``ccd_mac`` tCK (the unit takes one column per MAC slot).
PIM_FIELDS = ("lanes", "gbuf_bytes", "result_slots", "rcd_mac", "ccd_mac", "mac_latency",
              "gact_faw")
DEFAULT_RESULT_SLOTS = 16


@dataclass(frozen=True)
class Device:
    """One memory: organisation, timing (cycles of ``tck_ns``), energy per command.

    ``columns`` counts column addresses per row, one per burst of ``burst_bytes``
    bytes; ``banks`` is per rank, ``channels`` are independent.
    """

    name: str
    display_name: str
    kind: str
    tck_ns: float
    channels: int
    ranks: int
    bankgroups: int
    banks_per_group: int
    rows: int
    columns: int
    burst_bytes: int
    timing: Timing
    energy: Energy
    pim: PimTiming | None = None
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    path: str = field(default="", compare=False)

    @property
    def banks(self) -> int:
        """Banks per rank (``bankgroups * banks_per_group``)."""
        return self.bankgroups * self.banks_per_group

    @property
    def row_bytes(self) -> int:
        """Bytes of one row (page) of one bank: ``columns * burst_bytes``."""
        return self.columns * self.burst_bytes

    @property
    def channel_bytes(self) -> int:
        """Capacity of one channel, bytes."""
        return self.ranks * self.banks * self.rows * self.row_bytes

    @property
    def capacity_bytes(self) -> int:
        """Capacity of the whole device (all channels), bytes."""
        return self.channels * self.channel_bytes

    @property
    def channel_peak_gbs(self) -> float:
        """Peak data rate of one channel, GB/s (10^9 B/s): one burst per ``bl`` cycles."""
        return self.burst_bytes / (self.timing.bl * self.tck_ns)

    @property
    def peak_gbs(self) -> float:
        """Peak data rate of all channels together, GB/s (10^9 B/s)."""
        return self.channels * self.channel_peak_gbs


# --------------------------------------------------------------------------- lookup


def device_names() -> list[str]:
    """Names of the packaged presets, sorted."""
    return sorted(_packaged_files())


def all_devices() -> list[Device]:
    """Every packaged preset, sorted by name."""
    return [load_device(n) for n in device_names()]


def load_device(name_or_path: str | Path) -> Device:
    """A packaged preset by name (case-insensitive), or a device file by path.

    Raises
    ------
    UnknownDeviceError
        No preset of that name (and no such file); the message lists the presets.
    DeviceFileError
        The file is malformed; the message names the file, the field and the value.
    """
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text:
        path = Path(name_or_path)
        if not path.is_file():
            raise DeviceFileError(f"{path}: no such device file")
        return _load_file(path)
    key = text.strip().lower()
    files = _packaged_files()
    if key not in files:
        raise UnknownDeviceError(
            f"unknown DRAM device {text!r}; presets: {', '.join(sorted(files))} "
            "(or give the path of a device .toml file)")
    return _load_packaged(key)


# --------------------------------------------------------------------------- parsing


@cache
def _packaged_files() -> dict[str, str]:
    folder = resources.files("sparseforge.sim.dram") / "presets"
    return {e.name[: -len(".toml")]: e.name for e in folder.iterdir()
            if e.name.endswith(".toml")}


@cache
def _load_packaged(key: str) -> Device:
    entry = resources.files("sparseforge.sim.dram") / "presets" / _packaged_files()[key]
    with resources.as_file(entry) as path:
        return _load_file(path)


def _load_file(path: Path) -> Device:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DeviceFileError(f"{path}: cannot read device file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise DeviceFileError(f"{path}: not valid TOML: {exc}") from None
    return _parse(data, path)


_ORG_INT = ("channels", "ranks", "bankgroups", "banks_per_group", "rows", "columns",
            "burst_bytes")
#: Organisation fields that become address bits, so must be powers of two.
_POW2 = ("bankgroups", "banks_per_group", "rows", "columns", "burst_bytes")
_TABLES = {"organisation": ("tck_ns", *_ORG_INT),
           "timing": tuple(f.name for f in dataclasses.fields(Timing)),
           "energy": tuple(f.name for f in dataclasses.fields(Energy))}


def _parse(data: dict, path: Path) -> Device:
    def fail(where: str, message: str) -> DeviceFileError:
        return DeviceFileError(f"{path}: field {where!r}: {message}")

    top = ("name", "display_name", "kind", "sources", *_TABLES, "pim")
    for key in data:
        if key not in top:
            raise fail(key, f"unknown field; allowed: {', '.join(top)}")
    for key in top:
        if key not in data and key != "pim":
            raise fail(key, "missing")
    for key in ("name", "display_name", "kind"):
        if not isinstance(data[key], str) or not data[key]:
            raise fail(key, f"expected a non-empty string, got {data[key]!r}")
    if not _IDENT.match(data["name"]):
        raise fail("name", f"{data['name']!r} is not a lower-case identifier ([a-z][a-z0-9_]*)")
    if path.stem != data["name"]:
        raise fail("name", f"{data['name']!r} differs from the file name {path.stem!r}")
    if data["kind"] not in KINDS:
        raise fail("kind", f"{data['kind']!r} is not one of {', '.join(KINDS)}")
    sources = data["sources"]
    if not isinstance(sources, dict) or not sources:
        raise fail("sources", "expected a table of citation-key = \"citation\" pairs")
    for key, text in sources.items():
        if not isinstance(text, str) or not text.strip():
            raise fail(f"sources.{key}", f"expected a citation string, got {text!r}")

    tables = {}
    for name, fields in _TABLES.items():
        table = data[name]
        if not isinstance(table, dict):
            raise fail(name, f"expected a table, got {type(table).__name__}")
        for key in table:
            if key not in (*fields, "source"):
                raise fail(f"{name}.{key}", f"unknown field; allowed: {', '.join(fields)}, source")
        _check_source(table.get("source"), f"{name}.source", sources, fail)
        tables[name] = table

    org = tables["organisation"]
    tck = _number(org, "tck_ns", "organisation", fail, required=True)
    if tck <= 0:
        raise fail("organisation.tck_ns", f"{tck!r}: must be > 0 (ns)")
    ints = {k: _integer(org, k, "organisation", fail, low=1) for k in _ORG_INT}
    for key in _POW2:
        if ints[key] & (ints[key] - 1):
            raise fail(f"organisation.{key}", f"{ints[key]} is not a power of two "
                                              "(it becomes address bits)")

    tt = tables["timing"]
    defaults = {f.name: f.default for f in dataclasses.fields(Timing)}
    timing_values = {}
    for key in _TABLES["timing"]:
        if key not in tt and defaults[key] is not dataclasses.MISSING:
            timing_values[key] = defaults[key]
            continue
        timing_values[key] = _integer(tt, key, "timing", fail,
                                      low=0 if key in _MAY_BE_ZERO else 1)
    timing = Timing(**timing_values)
    _check_timing(timing, fail)

    et = tables["energy"]
    energy_values = {}
    for f in dataclasses.fields(Energy):
        required = f.default is dataclasses.MISSING
        value = _number(et, f.name, "energy", fail, required=required)
        if value is None:
            value = f.default
        if value < 0:
            raise fail(f"energy.{f.name}", f"{value!r}: must be >= 0")
        energy_values[f.name] = float(value)

    pim = None
    if "pim" in data:
        pim = _parse_pim(data["pim"], ints, timing, sources, fail)

    return Device(name=data["name"], display_name=data["display_name"], kind=data["kind"],
                  tck_ns=float(tck), **ints, timing=timing, energy=Energy(**energy_values),
                  pim=pim, sources=dict(sources), path=str(path))


def _parse_pim(table, org: dict, timing: Timing, sources, fail) -> PimTiming:
    """The ``[pim]`` table: every field optional but ``source``; defaults and checks in
    docs/designs/dram.md, "PIM commands"."""
    if not isinstance(table, dict):
        raise fail("pim", f"expected a table, got {type(table).__name__}")
    for key in table:
        if key not in (*PIM_FIELDS, "source"):
            raise fail(f"pim.{key}", f"unknown field; allowed: {', '.join(PIM_FIELDS)}, source")
    _check_source(table.get("source"), "pim.source", sources, fail)
    burst = org["burst_bytes"]
    row_bytes = org["columns"] * burst
    lanes = _integer(table, "lanes", "pim", fail, low=1) if "lanes" in table else burst // 2
    if 2 * lanes != burst:
        raise fail("pim.lanes", f"{lanes}: one MAC column is one burst of {burst} bytes; "
                                f"allowed: burst_bytes / 2 = {burst // 2}")
    gbuf = (_integer(table, "gbuf_bytes", "pim", fail, low=1) if "gbuf_bytes" in table
            else row_bytes)
    if gbuf % burst or gbuf > row_bytes:
        raise fail("pim.gbuf_bytes", f"{gbuf}: allowed: a multiple of burst_bytes "
                                     f"({burst}) up to row_bytes ({row_bytes})")
    values = {"rcd_mac": timing.rcd, "ccd_mac": timing.ccd_l,
              "result_slots": DEFAULT_RESULT_SLOTS}
    for key in values:
        if key in table:
            values[key] = _integer(table, key, "pim", fail, low=1)
    # the RTL MAC unit's pipeline (sim/pim/units.py), clocked at one column per MAC slot
    values["mac_latency"] = (_integer(table, "mac_latency", "pim", fail, low=1)
                             if "mac_latency" in table
                             else mac_latency(lanes) * values["ccd_mac"])
    gact_faw = table.get("gact_faw", True)
    if not isinstance(gact_faw, bool):
        raise fail("pim.gact_faw", f"expected true or false, got {gact_faw!r}")
    banks = org["bankgroups"] * org["banks_per_group"]
    return PimTiming(lanes=lanes, gbuf_bytes=gbuf, gbuf_columns=gbuf // burst,
                     gact_faw=gact_faw, readres_bursts=-(-banks * 4 // burst), **values)


def _check_source(value, where, sources, fail):
    if not isinstance(value, str) or not value.strip():
        raise fail(where, "missing or empty: every table must cite [sources] entries")
    keys = [k.strip() for k in value.split(",") if k.strip()]
    unknown = [k for k in keys if k not in sources]
    if unknown:
        raise fail(where, f"cites {', '.join(unknown)}, not in [sources] "
                          f"(known: {', '.join(sources)})")


def _integer(table, key, where, fail, low):
    here = f"{where}.{key}"
    if key not in table:
        raise fail(here, "missing")
    value = table[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise fail(here, f"expected an integer, got {value!r} ({type(value).__name__})")
    if value < low:
        raise fail(here, f"{value} is below the minimum {low}")
    return value


def _number(table, key, where, fail, required):
    here = f"{where}.{key}"
    if key not in table:
        if required:
            raise fail(here, "missing")
        return None
    value = table[key]
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise fail(here, f"expected a number, got {value!r} ({type(value).__name__})")
    return value


def _check_timing(t: Timing, fail) -> None:
    """Relations the rules rely on.  Refused: rc < ras + rp (tRC is at least one
    ACT-to-PRE plus one PRE-to-ACT; a smaller value could never bind, so it is a typo or
    a misread source), ccd_l < ccd_s and rrd_l < rrd_s (same bank group is never faster).
    Not checked: faw >= 4 * rrd_s (JEDEC does not require it; the window then never
    binds)."""
    if t.rc < t.ras + t.rp:
        raise fail("timing.rc", f"{t.rc} is below ras + rp = {t.ras} + {t.rp} = "
                                f"{t.ras + t.rp}; allowed: rc >= ras + rp")
    if t.ccd_l < t.ccd_s:
        raise fail("timing.ccd_l", f"{t.ccd_l} is below ccd_s = {t.ccd_s}; "
                                   "allowed: ccd_l >= ccd_s")
    if t.rrd_l < t.rrd_s:
        raise fail("timing.rrd_l", f"{t.rrd_l} is below rrd_s = {t.rrd_s}; "
                                   "allowed: rrd_l >= rrd_s")
