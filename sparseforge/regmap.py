"""Kernel register maps: one JSON document per generated kernel (pure Python).

Every kernel sparseforge generates has the Vitis ``ap_ctrl_hs`` control block on
an AXI4-Lite slave, its arguments from 0x10, and a few read-only status
registers.  The register map is derived from the design's config **once**
(:func:`sparseforge.families.sat.contract.register_map` for SAT), written as
``regmap.json``, and everything else — the Amaranth control slave, the C
header, ``kernel.xml``, the Vivado packaging scripts and the host driver — is
generated from it or reads it.

Layout of the document (``schema = "sparseforge.regmap/1"``)::

    {
      "schema": "sparseforge.regmap/1",
      "kernel": "sat_kernel",            # Verilog top = Vitis kernel = IP name
      "vlnv": "sparseforge.org:kernel:sat_kernel:1.0",
      "design": "sat",
      "config": {...},                   # the design config it was derived from
      "clock": "ap_clk", "reset": "ap_rst_n", "interrupt": "interrupt",
      "control": {"port": "s_axi_control", "addr_bits": 7, "data_bits": 32},
      "masters": [{"port": "m_axi_gmem", "data_bits": 128, "addr_bits": 64}],
      "registers": [{"name", "offset", "bits", "access", "doc", "fields"?,
                     "values"?: [{"name", "value", "doc"}, ...]}, ...],
      "args": [{"name", "id", "offset", "bits", "kind", "c_type", "port"?}, ...]
    }

``access`` is one of ``rw`` (read/write), ``ro`` (read-only), ``wo``,
``rw_sc`` (CTRL: write 1 to start, self-clearing), ``cor`` (clear on read)
and ``tow`` (ISR: toggle on write, Vitis' convention).  A 64-bit argument
occupies two 32-bit registers ``<name>_lo`` / ``<name>_hi`` at ``offset`` and
``offset + 4``.

Port names follow the Vitis RTL-kernel convention, lower case:
``ap_clk``, ``ap_rst_n`` (active low), ``interrupt``,
``s_axi_control_{awvalid,awready,awaddr,wvalid,wready,wdata,wstrb,bvalid,bready,bresp,
arvalid,arready,araddr,rvalid,rready,rdata,rresp}`` and, per master,
``m_axi_<name>_{awvalid,awready,awid,awaddr,awlen,awsize,awburst,wvalid,wready,wdata,
wstrb,wlast,bvalid,bready,bid,bresp,arvalid,arready,arid,araddr,arlen,arsize,arburst,
rvalid,rready,rid,rdata,rlast,rresp}``.  IDs are one bit and always 0 (one ID: every
response comes back in order).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .errors import ConfigError
from .names import REGISTER_LANGUAGES, check_identifier

__all__ = [
    "CONTROL_PORTS",
    "CTRL_BITS",
    "MASTER_PORTS",
    "SCHEMA",
    "Arg",
    "Port",
    "Register",
    "RegisterMap",
    "ap_ctrl_registers",
    "kernel_ports",
]

SCHEMA = "sparseforge.regmap/1"

#: CTRL (0x00) bit positions of ``ap_ctrl_hs``.
CTRL_BITS = {"ap_start": 0, "ap_done": 1, "ap_idle": 2, "ap_ready": 3, "auto_restart": 7}

#: AXI4-Lite slave signals: (suffix, direction seen from the kernel, width or None).
#: ``None`` widths are ``addr_bits`` (addresses) or fixed by the protocol below.
CONTROL_PORTS = (
    ("awvalid", "in", 1), ("awready", "out", 1), ("awaddr", "in", None),
    ("wvalid", "in", 1), ("wready", "out", 1), ("wdata", "in", 32), ("wstrb", "in", 4),
    ("bvalid", "out", 1), ("bready", "in", 1), ("bresp", "out", 2),
    ("arvalid", "in", 1), ("arready", "out", 1), ("araddr", "in", None),
    ("rvalid", "out", 1), ("rready", "in", 1), ("rdata", "out", 32), ("rresp", "out", 2),
)

#: AXI4 master signals: (suffix, direction seen from the kernel, width);
#: ``"A"`` is the address width, ``"D"`` the data width, ``"S"`` data width / 8.
MASTER_PORTS = (
    ("awvalid", "out", 1), ("awready", "in", 1), ("awid", "out", 1), ("awaddr", "out", "A"),
    ("awlen", "out", 8),
    ("awsize", "out", 3), ("awburst", "out", 2),
    ("wvalid", "out", 1), ("wready", "in", 1), ("wdata", "out", "D"), ("wstrb", "out", "S"),
    ("wlast", "out", 1),
    ("bvalid", "in", 1), ("bready", "out", 1), ("bid", "in", 1), ("bresp", "in", 2),
    ("arvalid", "out", 1), ("arready", "in", 1), ("arid", "out", 1), ("araddr", "out", "A"),
    ("arlen", "out", 8),
    ("arsize", "out", 3), ("arburst", "out", 2),
    ("rvalid", "in", 1), ("rready", "out", 1), ("rid", "in", 1), ("rdata", "in", "D"),
    ("rlast", "in", 1), ("rresp", "in", 2),
)

_ACCESS = ("rw", "ro", "wo", "rw_sc", "cor", "tow")


@dataclass(frozen=True)
class Register:
    """One 32-bit register of the control slave.

    Attributes
    ----------
    name : str
        Identifier (upper case by convention), used in the C header as
        ``<KERNEL>_<NAME>_OFFSET``.
    offset : int
        Byte offset, a multiple of 4.
    access : str
        One of ``rw ro wo rw_sc cor tow``.
    doc : str
        One line.
    fields : dict[str, int]
        Named single bits (bit positions), optional.
    values : tuple of (name, value, doc)
        Named values of the whole register (e.g. STATUS codes), optional; the C
        header defines ``<KERNEL>_<NAME>_<VALUE NAME>``.
    """

    name: str
    offset: int
    access: str
    doc: str
    fields: dict[str, int] = field(default_factory=dict)
    values: tuple[tuple[str, int, str], ...] = ()

    def to_dict(self) -> dict:
        d = {"name": self.name, "offset": self.offset, "bits": 32, "access": self.access,
             "doc": self.doc}
        if self.fields:
            d["fields"] = dict(self.fields)
        if self.values:
            d["values"] = [{"name": n, "value": v, "doc": doc} for n, v, doc in self.values]
        return d


@dataclass(frozen=True)
class Arg:
    """A kernel argument (what ``kernel.xml`` lists and the driver sets).

    Attributes
    ----------
    name : str
        Identifier.
    id : int
        Position in the kernel's argument list.
    offset : int
        Byte offset of the (low) word.
    bits : int
        32 or 64.
    kind : {"scalar", "pointer"}
    c_type : str
        C type for kernel.xml / the header (``uint32_t``, ``void*``).
    port : str or None
        The AXI master a pointer argument is accessed through.
    doc : str
    """

    name: str
    id: int
    offset: int
    bits: int
    kind: str
    c_type: str
    doc: str
    port: str | None = None

    def to_dict(self) -> dict:
        d = {"name": self.name, "id": self.id, "offset": self.offset, "bits": self.bits,
             "kind": self.kind, "c_type": self.c_type, "doc": self.doc}
        if self.port is not None:
            d["port"] = self.port
        return d


def ap_ctrl_registers() -> list[Register]:
    """The four registers of Vitis' ``ap_ctrl_hs`` block at 0x00-0x0C."""
    return [
        Register("CTRL", 0x00, "rw_sc", "ap_start (w1, self-clearing), ap_done (clear on "
                 "read), ap_idle, ap_ready (clear on read), auto_restart", dict(CTRL_BITS)),
        Register("GIE", 0x04, "rw", "global interrupt enable", {"enable": 0}),
        Register("IER", 0x08, "rw", "interrupt enable: ap_done, ap_ready",
                 {"ap_done": 0, "ap_ready": 1}),
        Register("ISR", 0x0C, "tow", "interrupt status (toggle on write): ap_done, ap_ready",
                 {"ap_done": 0, "ap_ready": 1}),
    ]


@dataclass(frozen=True)
class RegisterMap:
    """A kernel's register map; see the module docstring for the JSON form."""

    kernel: str
    design: str
    config: dict
    registers: tuple[Register, ...]
    args: tuple[Arg, ...]
    masters: tuple[dict, ...]
    control_addr_bits: int = 7
    vendor: str = "sparseforge.org"
    library: str = "kernel"
    version: str = "1.0"

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise :class:`ConfigError` for a map that cannot be built or used safely."""
        check_identifier("kernel", self.kernel)
        check_identifier("design", self.design)
        span = 1 << self.control_addr_bits
        seen: dict[int, str] = {}

        def claim(off: int, who: str) -> None:
            if off % 4 or not 0 <= off < span:
                raise ConfigError(f"register {who}: offset {off:#x} must be a multiple of 4 "
                                  f"below {span:#x} (control_addr_bits = "
                                  f"{self.control_addr_bits})")
            if off in seen:
                raise ConfigError(f"register {who} at {off:#x} overlaps {seen[off]}")
            seen[off] = who

        for r in self.registers:
            check_identifier("register name", r.name, REGISTER_LANGUAGES)
            for bit_name in r.fields:
                check_identifier(f"register {r.name} field name", bit_name, REGISTER_LANGUAGES)
            if r.access not in _ACCESS:
                raise ConfigError(f"register {r.name}: access = {r.access!r}; allowed: "
                                  f"{', '.join(_ACCESS)}")
            claim(r.offset, r.name)
            for name, value, _ in r.values:
                check_identifier(f"register {r.name} value name", name)
                if isinstance(value, bool) or not isinstance(value, int) or \
                        not 0 <= value < 1 << 32:
                    raise ConfigError(f"register {r.name} value {name} = {value!r}; "
                                      "allowed: an integer 0 to 2**32 - 1")
        ports = {m["port"] for m in self.masters}
        for m in self.masters:
            check_identifier("master port", m["port"])
            if not m["port"].startswith("m_axi_"):
                raise ConfigError(f"master port {m['port']!r} must start with 'm_axi_'")
            if m["data_bits"] not in (32, 64, 128, 256, 512):
                raise ConfigError(f"master {m['port']}: data_bits = {m['data_bits']}; "
                                  "allowed: 32, 64, 128, 256, 512")
        for i, a in enumerate(self.args):
            check_identifier("argument name", a.name)
            if a.id != i:
                raise ConfigError(f"argument {a.name}: id = {a.id}, expected {i}")
            if a.bits not in (32, 64) or a.kind not in ("scalar", "pointer"):
                raise ConfigError(f"argument {a.name}: bits = {a.bits}, kind = {a.kind!r}; "
                                  "allowed: 32 or 64 bits, scalar or pointer")
            if a.kind == "pointer" and (a.bits != 64 or a.port not in ports):
                raise ConfigError(f"argument {a.name}: a pointer is 64 bits on one of the "
                                  f"masters {sorted(ports)}")
            for w in range(a.bits // 32):
                claim(a.offset + 4 * w, f"{a.name}[{w}]")

    # ------------------------------------------------------------------ views
    @property
    def vlnv(self) -> str:
        """``vendor:library:name:version`` of the packaged IP / kernel."""
        return f"{self.vendor}:{self.library}:{self.kernel}:{self.version}"

    def register(self, name: str) -> Register:
        for r in self.registers:
            if r.name == name:
                return r
        raise KeyError(f"no register {name!r} in {self.kernel}'s map")

    def arg(self, name: str) -> Arg:
        for a in self.args:
            if a.name == name:
                return a
        raise KeyError(f"no argument {name!r} in {self.kernel}'s map")

    def words(self) -> list[dict]:
        """Every 32-bit word of the map in offset order: ``{name, offset, access, doc}``.

        A 64-bit argument gives ``<name>_lo`` and ``<name>_hi``; scalar arguments
        are ``rw``.
        """
        out = [{"name": r.name, "offset": r.offset, "access": r.access, "doc": r.doc}
               for r in self.registers]
        for a in self.args:
            if a.bits == 64:
                out += [{"name": f"{a.name}_lo", "offset": a.offset, "access": "rw",
                         "doc": f"{a.doc} (bits 31:0)"},
                        {"name": f"{a.name}_hi", "offset": a.offset + 4, "access": "rw",
                         "doc": f"{a.doc} (bits 63:32)"}]
            else:
                out.append({"name": a.name, "offset": a.offset, "access": "rw", "doc": a.doc})
        return sorted(out, key=lambda w: w["offset"])

    @property
    def address_range(self) -> int:
        """Bytes the control slave decodes, ``2**control_addr_bits``."""
        return 1 << self.control_addr_bits

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "kernel": self.kernel,
            "vlnv": self.vlnv,
            "design": self.design,
            "config": dict(sorted(self.config.items())),
            "clock": "ap_clk",
            "reset": "ap_rst_n",
            "interrupt": "interrupt",
            "control": {"port": "s_axi_control", "addr_bits": self.control_addr_bits,
                        "data_bits": 32},
            "masters": [dict(m) for m in self.masters],
            "registers": [r.to_dict() for r in self.registers],
            "args": [a.to_dict() for a in self.args],
        }

    def to_json(self) -> str:
        """Deterministic JSON text (sorted config, fixed order), newline-terminated."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> RegisterMap:
        """Inverse of :meth:`to_dict`; raises :class:`ConfigError` on a malformed map."""
        if d.get("schema") != SCHEMA:
            raise ConfigError(f"register map schema = {d.get('schema')!r}; expected {SCHEMA!r}")
        try:
            vendor, library, name, version = d["vlnv"].split(":")
            regs = tuple(Register(r["name"], r["offset"], r["access"], r["doc"],
                                  dict(r.get("fields", {})),
                                  tuple((v["name"], v["value"], v["doc"])
                                        for v in r.get("values", ())))
                         for r in d["registers"])
            args = tuple(Arg(a["name"], a["id"], a["offset"], a["bits"], a["kind"],
                             a["c_type"], a["doc"], a.get("port")) for a in d["args"])
            rmap = cls(d["kernel"], d["design"], dict(d["config"]), regs, args,
                       tuple(dict(m) for m in d["masters"]), d["control"]["addr_bits"],
                       vendor, library, version)
        except ConfigError:  # the map's own check: its message names the field
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"malformed register map: {exc!r}") from None
        if name != rmap.kernel:
            raise ConfigError(f"register map vlnv {d['vlnv']!r} names {name!r}, kernel is "
                              f"{rmap.kernel!r}")
        return rmap

    @classmethod
    def from_json(cls, text_or_path: str | Path) -> RegisterMap:
        """Load from JSON text or a path to ``regmap.json``."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text()
        return cls.from_dict(json.loads(text))


class Port(NamedTuple):
    """One top-level port: name, direction seen from the kernel (``in``/``out``), bits."""

    name: str
    direction: str
    width: int


def kernel_ports(rmap: RegisterMap) -> list[Port]:
    """The kernel top's ports in declaration order (the one list RTL and checks share).

    Widths: control addresses ``rmap.control_addr_bits``; master addresses the
    master's ``addr_bits`` (64), data ``data_bits``, write strobes ``data_bits / 8``.
    """
    ports = [Port("ap_clk", "in", 1), Port("ap_rst_n", "in", 1), Port("interrupt", "out", 1)]
    for suffix, direction, width in CONTROL_PORTS:
        ports.append(Port(f"s_axi_control_{suffix}", direction,
                          rmap.control_addr_bits if width is None else width))
    for master in rmap.masters:
        sizes = {"A": master.get("addr_bits", 64), "D": master["data_bits"],
                 "S": master["data_bits"] // 8}
        for suffix, direction, width in MASTER_PORTS:
            ports.append(Port(f"{master['port']}_{suffix}", direction, sizes.get(width, width)))
    return ports
