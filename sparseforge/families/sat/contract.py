"""The SAT kernel's contract with the host: register map, command list, memory layouts.

Pure Python + NumPy (the host driver imports it on a board).  The kernel
(:mod:`sparseforge.hwgen.sat.kernel`) executes a **command list** in
memory: ``n_cmds`` descriptors of :data:`DESC_BYTES` bytes each, one GEMM or
one weight generation per descriptor, all with one ``ap_start``.  Everything
here is derived from the :class:`~sparseforge.families.sat.config.SatConfig`; see
``docs/designs/sat_kernel.md``.

Descriptor (sixteen little-endian 32-bit words)
-----------------------------------------------
The layout is :data:`DESC_FIELDS` (field, word, low bit, bits, and what the field
means for a GEMM — ``dense``, ``ff``, ``bp`` — and for a weight generation —
``wgen_row``, ``wgen_col``); :meth:`Descriptor.pack`, :meth:`Descriptor.unpack`,
the RTL decoder and the design doc's table (:func:`descriptor_table`) all read it.
Words no field covers are reserved and zero.  The STATUS codes the kernel reports
are :data:`STATUS_CODES`.

The kernel runs tile (ti, tj) for ti < TI, tj < TJ (row-major, the order of
:func:`sparseforge.families.sat.schedule.plan_gemm`): it streams ``S`` A records from
``A + ti·a_stride`` and ``S`` B records from ``B + tj·b_stride`` into the
engine, and writes the tile's ``R / drain_rows`` result beats contiguously
from the result address on.

A weight-generation command prunes a dense weight ``W[out, in]`` to N:M on chip
(:class:`~sparseforge.hwgen.sat.weight_gen.SparseWeightGenerator`, the rule of
:func:`sparseforge.nm.compress`) and writes the result **as a B stream**, so a
later ``ff`` / ``bp`` command of the same list reads it as its B operand
(``b_addr`` = this command's result address, ``b_stride = S·b_words·word_bytes``):

* ``wgen_row`` groups along ``in`` (``nm.compress(W, axis=1)``): the B stream of
  the forward GEMM ``Y = X·Wfᵀ`` (B = Wᵀ, K = in, Ng = out);
* ``wgen_col`` groups along ``out`` (``nm.compress(W, axis=0)``): the B stream of
  the backward-data GEMM ``dX = dY·Wb`` (B = W, K = out, Ng = in).

It reads ``TJ·S`` dense records contiguously from the source address and writes
``TJ·S`` B records contiguously from the result address.  Any shape is allowed:
the host zero-pads W to whole records, and the padding is selected exactly as
:func:`sparseforge.nm.compress`'s zero padding (and a B column beyond Ng holds the
zero group, indices ``0..n-1``, as :func:`pack_b_stream` pads it).

Memory layouts (all in units of AXI words of ``axi_data_bits`` bits)
--------------------------------------------------------------------
* **A record** — one step of one row tile: the ``a`` field of the engine's data
  beat (``R·M·width`` bits, row 0 lowest), zero-padded to :attr:`Geometry.a_words`.
* **B record** — one step of one column tile: the ``b`` field
  (``C·N·(width + log2 M)`` bits: per column, column 0 lowest, its N values then
  its N indices — one weight-generator output group), padded to
  :attr:`Geometry.b_words`.  A B stream is TJ column tiles of S records each.
* **result beat** — ``drain_rows·C`` signed ``acc_bits`` accumulators (row 0,
  column 0 lowest), padded to :attr:`Geometry.r_words`.
* **dense W record** (``wgen_*``, :func:`pack_wgen_stream`) — the ``C·M``
  signed ``width``-bit weights one B record is made of, a row-major tile of W,
  value 0 lowest, zero-padded to :attr:`Geometry.d_words`.  Record ``(tj, s)``
  (``tj`` outer) is, with W zero-padded to whole records:

  - ``wgen_row``: ``W[tj·C:(tj+1)·C, s·M:(s+1)·M]`` (C rows of M): row ``j`` is the
    dense group of output column ``j``;
  - ``wgen_col``: ``W[s·M:(s+1)·M, tj·C:(tj+1)·C]`` (M rows of C): column ``j`` is
    the dense group of output column ``j`` — the kernel transposes the tile on chip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from sparseforge import nm
from sparseforge.errors import ConfigError
from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.schedule import (
    GemmPlan,
    assemble_result,
    pack_data_beats,
    plan_gemm,
    unpack_result_beat,
)
from sparseforge.formats.integer import from_bits
from sparseforge.regmap import Arg, Register, RegisterMap, ap_ctrl_registers

__all__ = [
    "ADDRESS_FIELDS",
    "ALIGN_BYTES",
    "DESC_BYTES",
    "DESC_FIELD",
    "DESC_FIELDS",
    "ERRORS",
    "INFO_FIELDS",
    "OPCODES",
    "STATUS",
    "STATUS_CODES",
    "WGEN_OPS",
    "CommandList",
    "DescField",
    "Descriptor",
    "Geometry",
    "ReadChunk",
    "StatusCode",
    "WgenPlan",
    "command_ranges",
    "decode_info",
    "descriptor_table",
    "info_words",
    "operand_chunk",
    "pack_a_stream",
    "pack_b_stream",
    "pack_wgen_stream",
    "plan_wgen",
    "register_map",
    "status_table",
    "unpack_b_stream",
    "unpack_results",
    "unpack_wgen_result",
    "wgen_bytes",
    "wgen_chunk",
]

DESC_BYTES = 64

#: Alignment, in bytes, of every buffer, stream and stride the host places for the
#: kernel (command lists, A/B streams, results): one descriptor, and the widest AXI
#: word (512 bits), so a placement is word-aligned whatever ``axi_data_bits`` is.  The
#: kernel itself refuses only addresses that are not word-aligned (STATUS
#: ``BAD_ADDRESS``).
ALIGN_BYTES = DESC_BYTES

#: Descriptor opcodes.  ``ff`` and ``bp`` run the same sparse datapath (the mask
#: direction is in how B was compressed); they are kept apart for the record.
#: ``wgen_row`` / ``wgen_col`` prune a dense weight to N:M row-wise / column-wise
#: and write it as a B stream (see the module docstring).
OPCODES = {"dense": 1, "ff": 2, "bp": 3, "wgen_row": 4, "wgen_col": 5}

#: The weight-generation opcodes, with their ``colwise`` flag.
WGEN_OPS = {"wgen_row": False, "wgen_col": True}



class StatusCode(NamedTuple):
    """One STATUS value: ``code`` (the register's value), ``name`` (the RTL's and the
    C header's symbol, ``<KERNEL>_STATUS_<NAME>``) and ``message`` (the driver's text)."""

    code: int
    name: str
    message: str


#: STATUS codes (0: no error), the one table the RTL (by name), the C header, the
#: register map, the driver's error messages and the docs read.
STATUS_CODES = (
    StatusCode(1, "BAD_OPCODE", "unknown opcode"),
    StatusCode(2, "BAD_NM", "N:M of the descriptor differs from the kernel's"),
    StatusCode(3, "BAD_STEPS", "steps above the kernel's maximum (steps_bits)"),
    StatusCode(4, "AXI_READ", "AXI read error response (SLVERR/DECERR)"),
    StatusCode(5, "AXI_WRITE", "AXI write error response (SLVERR/DECERR)"),
    StatusCode(6, "BAD_ADDRESS", "an address or stride of the descriptor, or cmd_list, "
               "is not a multiple of the AXI word (axi_data_bits / 8 bytes)"),
    StatusCode(7, "FIFO_OVERFLOW", "a record FIFO overflowed (a kernel fault: reset the "
               "kernel before the next run)"),
)

#: STATUS code by name (what the RTL uses).
STATUS = {s.name: s.code for s in STATUS_CODES}

#: STATUS message by code (what the driver reports).
ERRORS = {s.code: s.message for s in STATUS_CODES}


def status_table() -> str:
    """The STATUS codes as a Markdown table (``docs/designs/sat_kernel.md`` holds it)."""
    rows = ["| STATUS | name | meaning |", "|---|---|---|", "| 0 | OK | no error |"]
    rows += [f"| {s.code} | {s.name} | {s.message} |" for s in STATUS_CODES]
    return "\n".join(rows) + "\n"


@dataclass(frozen=True)
class Geometry:
    """Sizes of the kernel's records for one config.

    Attributes
    ----------
    word_bits, word_bytes : int
        AXI data width.
    a_bits, b_bits, r_bits, d_bits : int
        Payload bits of an A record, a B record, a result beat and a dense W record
        (``C·M·width``, the input of one B record of a weight generation).
    a_words, b_words, r_words, d_words : int
        The same, rounded up to whole AXI words.
    beats_per_tile : int
        Result beats per tile, ``rows / drain_rows``.
    """

    word_bits: int
    a_bits: int
    b_bits: int
    r_bits: int
    d_bits: int = 0

    @property
    def word_bytes(self) -> int:
        return self.word_bits // 8

    def _words(self, bits: int) -> int:
        return -(-bits // self.word_bits)

    @property
    def a_words(self) -> int:
        return self._words(self.a_bits)

    @property
    def b_words(self) -> int:
        return self._words(self.b_bits)

    @property
    def r_words(self) -> int:
        return self._words(self.r_bits)

    @property
    def d_words(self) -> int:
        return self._words(self.d_bits)

    @classmethod
    def of(cls, cfg: SatConfig) -> Geometry:
        return cls(cfg.axi_data_bits, cfg.rows * cfg.m * cfg.width,
                   cfg.cols * cfg.n * (cfg.width + cfg.index_bits),
                   cfg.drain_rows * cfg.cols * cfg.acc_bits,
                   cfg.cols * cfg.m * cfg.width)


@dataclass(frozen=True)
class ReadChunk:
    """How the kernel requests records: ``records`` per read request, into a record FIFO
    of ``depth`` entries (two requests' worth, a power of two).  A request is issued only
    when the FIFO has room for all of it (credits), so read data never waits.  The RTL
    (``hwgen.sat.kernel``) and the cycle model read this one rule."""

    records: int
    depth: int

    @classmethod
    def of(cls, records: int) -> ReadChunk:
        return cls(records, 1 << max(1, (2 * records - 1).bit_length()))


def operand_chunk(cfg: SatConfig) -> ReadChunk:
    """GEMM operands: about one ``max_burst`` of the larger of the A and B records per
    request (an A request, then a B request of as many steps)."""
    geo = Geometry.of(cfg)
    return ReadChunk.of(max(1, cfg.max_burst // max(geo.a_words, geo.b_words)))


def wgen_chunk(cfg: SatConfig) -> ReadChunk:
    """Weight generation: about one ``max_burst`` of dense W records per request."""
    return ReadChunk.of(max(1, cfg.max_burst // Geometry.of(cfg).d_words))


def register_map(cfg: SatConfig) -> RegisterMap:
    """The SAT kernel's register map (the single source for RTL, header, XML, driver)."""
    regs = [*ap_ctrl_registers(),
            Register("STATUS", 0x20, "ro", "error code of the last run (0: none)",
                     values=tuple((c.name, c.code, c.message) for c in STATUS_CODES)),
            Register("ERR_CMD", 0x24, "ro", "index of the command that failed"),
            Register("CYCLES_LO", 0x28, "ro", "clock cycles of the last run, ap_start to "
                     "ap_done (bits 31:0)"),
            Register("CYCLES_HI", 0x2C, "ro", "clock cycles of the last run (bits 63:32)"),
            Register("CMDS_DONE", 0x30, "ro", "commands completed in the last run"),
            *(Register(name, 0x34 + 4 * i, "ro", " | ".join(
                f if lo == 0 else f"{f} << {lo}" for f, lo, _ in fields))
              for i, (name, fields) in enumerate(INFO_FIELDS))]
    args = [Arg("cmd_list", 0, 0x10, 64, "pointer", "void*",
                "address of the command list (64-byte descriptors)", "m_axi_gmem"),
            Arg("n_cmds", 1, 0x1C, 32, "scalar", "uint32_t", "number of descriptors")]
    return RegisterMap(cfg.kernel_name, "sat", cfg.to_dict(), tuple(regs), tuple(args),
                       ({"port": "m_axi_gmem", "data_bits": cfg.axi_data_bits,
                         "addr_bits": 64},))


#: INFO0..INFO2: ``(register, ((config field, low bit, bits), ...))``.
INFO_FIELDS = (("INFO0", (("rows", 0, 8), ("cols", 8, 8), ("n", 16, 8), ("m", 24, 8))),
               ("INFO1", (("width", 0, 8), ("acc_bits", 8, 8), ("drain_rows", 16, 8),
                          ("steps_bits", 24, 8))),
               ("INFO2", (("axi_data_bits", 0, 16), ("max_burst", 16, 16))))


def info_words(cfg: SatConfig) -> tuple[int, int, int]:
    """Values of INFO0..INFO2 (what the hardware reports about itself)."""
    return tuple(sum(getattr(cfg, name) << lo for name, lo, _ in fields)
                 for _, fields in INFO_FIELDS)


def decode_info(words) -> dict[str, int]:
    """The config fields held in the INFO0..INFO2 values ``words``."""
    return {name: w >> lo & ((1 << bits) - 1)
            for w, (_, fields) in zip(words, INFO_FIELDS) for name, lo, bits in fields}


class DescField(NamedTuple):
    """One field of the descriptor: ``bits`` bits from bit ``lo`` of 32-bit word ``word``
    (a 64-bit address spans two words, low word first), and its meaning for a GEMM
    and for a weight generation."""

    name: str
    word: int
    lo: int
    bits: int
    gemm: str
    wgen: str

    @property
    def offset(self) -> int:
        """Bit offset in the 512-bit descriptor (word 0 bit 0 lowest)."""
        return 32 * self.word + self.lo

    @property
    def words(self) -> str:
        """The word(s) it occupies, as the docs write them (``4-5``)."""
        last = (self.offset + self.bits - 1) // 32
        return str(self.word) if last == self.word else f"{self.word}-{last}"


#: The descriptor layout, the one table :meth:`Descriptor.pack` / :meth:`~Descriptor.unpack`,
#: the RTL decoder (:mod:`sparseforge.hwgen.sat.kernel`) and the docs read.
DESC_FIELDS = (
    DescField("op", 0, 0, 8, "opcode (`OPCODES`)", "the same"),
    DescField("n", 0, 8, 8, "N of N:M (the kernel's)", "the same"),
    DescField("m", 0, 16, 8, "M of N:M (the kernel's)", "the same"),
    DescField("steps", 1, 0, 32, "steps per tile S", "S: groups per output column, "
              "ceil(K / M)"),
    DescField("row_tiles", 2, 0, 32, "row tiles TI", "0 (unused)"),
    DescField("col_tiles", 3, 0, 32, "column tiles TJ", "TJ: column tiles of the B "
              "stream, ceil(Ng / C)"),
    DescField("a_addr", 4, 0, 64, "A stream address", "dense W records (source)"),
    DescField("b_addr", 6, 0, 64, "B stream address", "0 (unused)"),
    DescField("c_addr", 8, 0, 64, "result address", "B stream (destination)"),
    DescField("a_stride", 10, 0, 32, "A row-tile stride, bytes", "0 (unused)"),
    DescField("b_stride", 11, 0, 32, "B column-tile stride, bytes", "0 (unused)"),
)

#: :data:`DESC_FIELDS` by name.
DESC_FIELD = {f.name: f for f in DESC_FIELDS}

#: The fields that hold byte addresses or byte strides (the kernel checks their
#: alignment to the AXI word: STATUS ``BAD_ADDRESS``).
ADDRESS_FIELDS = ("a_addr", "b_addr", "c_addr", "a_stride", "b_stride")


def descriptor_table() -> str:
    """The descriptor layout as a Markdown table (``docs/designs/sat_kernel.md`` holds it)."""
    rows = ["| word | bits | field | GEMM: `dense` 1, `ff` 2, `bp` 3 | weight generation: "
            "`wgen_row` 4, `wgen_col` 5 |", "|---|---|---|---|---|"]
    used = set()
    for f in DESC_FIELDS:
        bits = f"{f.lo + f.bits - 1}:{f.lo}"
        rows.append(f"| {f.words} | {bits} | `{f.name}` | {f.gemm} | {f.wgen} |")
        used.update(range(f.offset // 32, (f.offset + f.bits - 1) // 32 + 1))
    free = [w for w in range(DESC_BYTES // 4) if w not in used]
    if free:
        rows.append(f"| {free[0]}-{free[-1]} | | reserved | 0 | 0 |")
    return "\n".join(rows) + "\n"


def _check_int(name: str, value, bits: int, hexa: bool) -> int:
    """``value`` as an int of ``bits`` bits, or a ConfigError naming the field."""
    top = (1 << bits) - 1
    limit = f"{top:#x}" if hexa else str(top)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"descriptor {name} = {value!r}; allowed: an integer 0 to "
                          f"{limit} ({bits}-bit field)")
    if not 0 <= value <= top:
        shown = f"{value:#x}" if hexa else str(value)
        raise ConfigError(f"descriptor {name} = {shown}; allowed: 0 to {limit} "
                          f"({bits}-bit field)")
    return int(value)


@dataclass(frozen=True)
class Descriptor:
    """One command of the list (layout: :data:`DESC_FIELDS`)."""

    op: str
    n: int
    m: int
    steps: int
    row_tiles: int
    col_tiles: int
    a_addr: int
    b_addr: int
    c_addr: int
    a_stride: int
    b_stride: int

    def words(self) -> tuple[int, ...]:
        """The sixteen 32-bit words of the descriptor (word 0 first).

        Raises
        ------
        ConfigError
            An unknown ``op``, or a field that is not an integer within its bits
            (the message names the field, its value and the allowed range).
        """
        if self.op not in OPCODES:
            raise ConfigError(f"descriptor op = {self.op!r}; allowed: {', '.join(OPCODES)}")
        value = 0
        for f in DESC_FIELDS:
            v = OPCODES[self.op] if f.name == "op" else _check_int(
                f.name, getattr(self, f.name), f.bits, f.name.endswith("_addr"))
            value |= v << f.offset
        return tuple(value >> (32 * i) & 0xFFFF_FFFF for i in range(DESC_BYTES // 4))

    def pack(self) -> bytes:
        """The 64 bytes of the descriptor (checks every field, see :meth:`words`)."""
        return b"".join(w.to_bytes(4, "little") for w in self.words())

    @classmethod
    def unpack(cls, raw: bytes) -> Descriptor:
        """The descriptor in the first :data:`DESC_BYTES` bytes of ``raw``; an unknown
        opcode becomes ``op = "0x.."``."""
        raw = bytes(raw[:DESC_BYTES])
        if len(raw) < DESC_BYTES:
            raise ValueError(f"a descriptor is {DESC_BYTES} bytes; got {len(raw)}")
        value = int.from_bytes(raw, "little")
        got = {f.name: value >> f.offset & ((1 << f.bits) - 1) for f in DESC_FIELDS}
        ops = {v: k for k, v in OPCODES.items()}
        got["op"] = ops.get(got["op"], f"0x{got['op']:02x}")
        return cls(**got)

    @property
    def tiles(self) -> int:
        return self.row_tiles * self.col_tiles

    @classmethod
    def for_plan(cls, cfg: SatConfig, plan: GemmPlan, op: str, a_addr: int, b_addr: int,
                 c_addr: int) -> Descriptor:
        """The command for ``plan`` with its streams at the given device addresses."""
        geo = Geometry.of(cfg)
        mg, _, ng = plan.shape
        s = plan.steps
        return cls(op, cfg.n, cfg.m, s, -(-mg // cfg.rows), -(-ng // cfg.cols), a_addr,
                   b_addr, c_addr, s * geo.a_words * geo.word_bytes,
                   s * geo.b_words * geo.word_bytes)

    @classmethod
    def for_wgen(cls, cfg: SatConfig, plan: WgenPlan, src: int, dst: int) -> Descriptor:
        """The weight generation of ``plan``: dense records at ``src``, B stream to ``dst``."""
        op = "wgen_col" if plan.colwise else "wgen_row"
        return cls(op, cfg.n, cfg.m, plan.steps, 0, plan.col_tiles, src, 0, dst, 0, 0)

    @property
    def is_wgen(self) -> bool:
        """A weight-generation command (``wgen_row`` / ``wgen_col``)."""
        return self.op in WGEN_OPS


def command_ranges(cfg: SatConfig, desc: Descriptor) -> dict[str, tuple[int, int]]:
    """The byte ranges ``[start, end)`` a command reads (``a``, ``b``) and writes (``c``).

    For a weight generation ``a`` is the dense W records and ``c`` the B stream it
    writes (there is no ``b``).  Empty for a command that moves no data.
    """
    geo = Geometry.of(cfg)
    wb = geo.word_bytes
    if desc.is_wgen:
        records = desc.steps * desc.col_tiles
        if records == 0:
            return {}
        return {"a": (desc.a_addr, desc.a_addr + records * geo.d_words * wb),
                "c": (desc.c_addr, desc.c_addr + records * geo.b_words * wb)}
    if desc.tiles == 0 or desc.steps == 0:
        return {}
    a_len = desc.steps * geo.a_words * wb
    b_len = desc.steps * geo.b_words * wb
    return {"a": (desc.a_addr, desc.a_addr + (desc.row_tiles - 1) * desc.a_stride + a_len),
            "b": (desc.b_addr, desc.b_addr + (desc.col_tiles - 1) * desc.b_stride + b_len),
            "c": (desc.c_addr, desc.c_addr + result_bytes(cfg, desc.tiles))}


# --------------------------------------------------------------------------- operand layouts


def _records(ints: list[int], words: int, word_bytes: int) -> np.ndarray:
    """Integers (one per record) as ``words`` little-endian AXI words each, bytes."""
    size = words * word_bytes
    return np.frombuffer(b"".join(v.to_bytes(size, "little") for v in ints), np.uint8)


def pack_a_stream(cfg: SatConfig, plan: GemmPlan) -> np.ndarray:
    """A records of every row tile (row tiles in order, S records each), as bytes."""
    geo = Geometry.of(cfg)
    tiles_per_row = len(plan.tiles) // _row_tiles(cfg, plan)
    mask = (1 << geo.a_bits) - 1
    ints = []
    for t in plan.tiles[::tiles_per_row]:
        ints += [beat & mask for beat in pack_data_beats(cfg, t)]
    return _records(ints, geo.a_words, geo.word_bytes)


def pack_b_stream(cfg: SatConfig, plan: GemmPlan) -> np.ndarray:
    """B records of every column tile (column tiles in order, S records each), as bytes."""
    geo = Geometry.of(cfg)
    tiles_per_row = len(plan.tiles) // _row_tiles(cfg, plan)
    ints = []
    for t in plan.tiles[:tiles_per_row]:
        ints += [beat >> geo.a_bits for beat in pack_data_beats(cfg, t)]
    return _records(ints, geo.b_words, geo.word_bytes)


def _row_tiles(cfg: SatConfig, plan: GemmPlan) -> int:
    return -(-plan.shape[0] // cfg.rows)


def result_bytes(cfg: SatConfig, tiles: int) -> int:
    """Bytes of the results of ``tiles`` tiles."""
    geo = Geometry.of(cfg)
    return tiles * (cfg.rows // cfg.drain_rows) * geo.r_words * geo.word_bytes


def unpack_results(cfg: SatConfig, plan: GemmPlan, raw: np.ndarray) -> np.ndarray:
    """The GEMM's ``C[Mg, Ng]`` (int64) from the result bytes the kernel wrote."""
    geo = Geometry.of(cfg)
    need = result_bytes(cfg, len(plan.tiles))
    raw = np.asarray(raw, dtype=np.uint8).reshape(-1)
    if raw.size < need:
        raise ValueError(f"result buffer holds {raw.size} bytes; {len(plan.tiles)} tiles "
                         f"need {need}")
    step = geo.r_words * geo.word_bytes
    rows = [row for off in range(0, need, step)
            for row in unpack_result_beat(cfg, int.from_bytes(raw[off:off + step].tobytes(),
                                                              "little"))]
    tiles = np.array(rows, dtype=np.int64).reshape(len(plan.tiles), cfg.rows, cfg.cols)
    return assemble_result(plan, list(tiles))


# --------------------------------------------------------------------------- weight generation


@dataclass(frozen=True)
class WgenPlan:
    """One weight generation: a dense ``W[out, in]`` pruned row- or column-wise.

    Attributes
    ----------
    colwise : bool
        ``False``: groups along ``in`` (``wgen_row``, the forward GEMM's B);
        ``True``: groups along ``out`` (``wgen_col``, the backward-data GEMM's B).
    shape : tuple of int
        ``W.shape``.
    steps : int
        Groups per output column, ``ceil(K / m)`` (K = in row-wise, out column-wise).
    col_tiles : int
        Column tiles of the B stream, ``ceil(Ng / cols)`` (Ng = out row-wise, in
        column-wise).
    dtype : numpy dtype
        W's dtype (that of the compressed values :func:`unpack_wgen_result` returns).
    """

    colwise: bool
    shape: tuple[int, int]
    steps: int
    col_tiles: int
    dtype: np.dtype

    @property
    def axis(self) -> int:
        """The grouped axis of W (``nm.compress``'s ``axis``)."""
        return 0 if self.colwise else 1

    @property
    def records(self) -> int:
        """Dense records read = B records written, ``col_tiles * steps``."""
        return self.col_tiles * self.steps

    @property
    def ng(self) -> int:
        """Output columns of the B stream (before padding to whole tiles)."""
        return self.shape[1 - self.axis]


def plan_wgen(cfg: SatConfig, w, colwise: bool) -> WgenPlan:
    """Check a dense weight ``W[out, in]`` for a weight generation and size it.

    Any shape of at least 1 x 1 is allowed (W is zero-padded to whole records).

    Raises
    ------
    ValueError
        ``colwise`` not a bool, W not 2-D or empty, a non-integer dtype, values that
        do not fit in ``cfg.width`` bits, or more groups per column than the kernel's
        ``max_steps``.
    """
    if not isinstance(colwise, (bool, np.bool_)):
        raise ValueError(f"colwise = {colwise!r}; allowed: True (wgen_col) or False "
                         "(wgen_row)")
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"w has shape {w.shape}; allowed: a 2-D weight W[out, in]")
    if 0 in w.shape:
        raise ValueError(f"w has shape {w.shape}; allowed: at least one row and one column")
    if w.dtype == bool or not np.issubdtype(w.dtype, np.integer):
        raise ValueError(f"w has dtype {w.dtype}; allowed: an integer dtype (quantise to "
                         f"width = {cfg.width} bits first)")
    lo, hi = -(1 << (cfg.width - 1)), (1 << (cfg.width - 1)) - 1
    if w.min() < lo or w.max() > hi:
        raise ValueError(f"w holds values outside {lo}..{hi} (width = {cfg.width})")
    colwise = bool(colwise)
    axis = 0 if colwise else 1
    k, ng = w.shape[axis], w.shape[1 - axis]
    steps = -(-k // cfg.m)
    if steps > cfg.max_steps:
        dim = "out (w.shape[0])" if colwise else "in (w.shape[1])"
        raise ValueError(f"{dim} = {k} needs steps = {steps} groups of m = {cfg.m}; allowed: "
                         f"at most {cfg.max_steps} (steps_bits = {cfg.steps_bits})")
    return WgenPlan(colwise, (int(w.shape[0]), int(w.shape[1])), steps, -(-ng // cfg.cols),
                    w.dtype)


def pack_wgen_stream(cfg: SatConfig, w, colwise: bool) -> np.ndarray:
    """The dense W records of a weight generation (``tj`` outer, ``s`` inner), as bytes.

    Record ``(tj, s)`` is a row-major tile of W (zero-padded): ``W[tj·C:, s·M:]``
    (C x M) row-wise, ``W[s·M:, tj·C:]`` (M x C) column-wise; ``width``-bit two's
    complement values, value 0 lowest, padded to :attr:`Geometry.d_words`.
    """
    plan = plan_wgen(cfg, w, colwise)
    geo = Geometry.of(cfg)
    C, M, S, TJ = cfg.cols, cfg.m, plan.steps, plan.col_tiles
    w = np.asarray(w, dtype=np.int64)
    if plan.colwise:
        full = np.zeros((S * M, TJ * C), np.int64)
        full[:w.shape[0], :w.shape[1]] = w
        recs = full.reshape(S, M, TJ, C).transpose(2, 0, 1, 3)
    else:
        full = np.zeros((TJ * C, S * M), np.int64)
        full[:w.shape[0], :w.shape[1]] = w
        recs = full.reshape(TJ, C, S, M).transpose(0, 2, 1, 3)
    # order="C": with C = 1 the reshape stays a strided view, which .view cannot take
    vals = recs.reshape(TJ * S, C * M).astype(f"<i{cfg.width // 8}", order="C").view(np.uint8)
    out = np.zeros((TJ * S, geo.d_words * geo.word_bytes), np.uint8)
    out[:, :vals.shape[1]] = vals
    return out.reshape(-1)


def wgen_bytes(cfg: SatConfig, plan: WgenPlan) -> tuple[int, int]:
    """Bytes of a weight generation's dense records and of the B stream it writes."""
    geo = Geometry.of(cfg)
    return (plan.records * geo.d_words * geo.word_bytes,
            plan.records * geo.b_words * geo.word_bytes)


def unpack_b_stream(cfg: SatConfig, raw, col_tiles: int, steps: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A B stream of ``col_tiles`` x ``steps`` records as ``(values, indices)``.

    Both have shape ``(col_tiles·C, steps, N)`` (B column, step, slot); values are
    int64, indices uint8.  The inverse of :func:`pack_b_stream` for a sparse plan.
    """
    geo = Geometry.of(cfg)
    C, N, w, ib = cfg.cols, cfg.n, cfg.width, cfg.index_bits
    rec = geo.b_words * geo.word_bytes
    records = col_tiles * steps
    raw = np.asarray(raw, dtype=np.uint8).reshape(-1)
    if raw.size < records * rec:
        raise ValueError(f"B stream buffer holds {raw.size} bytes; {records} records need "
                         f"{records * rec}")
    bits = np.unpackbits(raw[:records * rec].reshape(records, rec), axis=1,
                         bitorder="little")[:, :geo.b_bits]
    cols = bits.reshape(records, C, N * (w + ib)).astype(np.int64)
    vals = (cols[..., :N * w].reshape(records, C, N, w) << np.arange(w)).sum(-1)
    vals = from_bits(vals, w)
    idx = (cols[..., N * w:].reshape(records, C, N, ib) << np.arange(ib)).sum(-1)

    def by_column(a):  # (tj, s, j, slot) -> (tj·C + j, s, slot)
        return a.reshape(col_tiles, steps, C, N).transpose(0, 2, 1, 3).reshape(
            col_tiles * C, steps, N)

    return by_column(vals), by_column(idx).astype(np.uint8)


def unpack_wgen_result(cfg: SatConfig, plan: WgenPlan, raw) -> nm.NMTensor:
    """The compressed weight a weight generation wrote, as :func:`sparseforge.nm.compress`
    returns it (``axis`` 1 for ``wgen_row``, 0 for ``wgen_col``; values in W's dtype)."""
    vals, idx = unpack_b_stream(cfg, raw, plan.col_tiles, plan.steps)
    return nm.NMTensor(vals[:plan.ng].astype(plan.dtype), idx[:plan.ng], cfg.n, cfg.m,
                       plan.axis, plan.shape)


# --------------------------------------------------------------------------- command lists

_MODES = {"ff": ("ff", True), "bp": ("bp", True), "wu": ("dense", False),
          "dense": ("dense", False)}


def _align(x: int) -> int:
    return -(-x // ALIGN_BYTES) * ALIGN_BYTES


@dataclass(frozen=True)
class Job:
    """One command of a :class:`CommandList`, with its offsets in the list's buffer.

    A GEMM has a ``plan`` (``wgen`` is ``None``); a weight generation a ``wgen``
    plan (``plan`` is ``None``, ``a_bytes`` the dense records, ``c_off`` its B
    stream).  A GEMM on a weight generated earlier in the list (``source``: that
    job's index) reads its B stream there: ``b_off`` is the weight generation's
    ``c_off`` and ``b_bytes`` is empty.
    """

    mode: str
    plan: GemmPlan | None
    a_off: int
    b_off: int
    c_off: int
    a_bytes: np.ndarray
    b_bytes: np.ndarray
    wgen: WgenPlan | None = None
    source: int | None = None

    def c_nbytes(self, cfg: SatConfig) -> int:
        """Bytes the kernel writes from ``c_off`` on."""
        if self.wgen is not None:
            return wgen_bytes(cfg, self.wgen)[1]
        return result_bytes(cfg, len(self.plan.tiles))


class CommandList:
    """Commands for one kernel start, laid out in one buffer (pure NumPy).

    Buffer layout: the descriptors (64 bytes each) at offset 0, then per command
    its A stream (GEMM) or dense W records (weight generation), its B stream
    (GEMM on a host-packed B) and its result area (GEMM results, or the B stream
    a weight generation writes), each 64-byte aligned.

    Parameters
    ----------
    cfg : SatConfig
        The kernel's configuration (must match the bitstream).

    Examples
    --------
    >>> import numpy as np
    >>> cl = CommandList(SatConfig())
    >>> cl.add(np.ones((5, 16), np.int8), np.ones((16, 3), np.int8), "wu")
    0
    >>> cl.nbytes
    832
    >>> w = np.arange(-12, 12, dtype=np.int8).reshape(3, 8)   # W[out, in]
    >>> cl.add_wgen(w, colwise=False)                         # Wf: 2:8 along in
    1
    >>> cl.add_pruned(np.ones((2, 8), np.int8), 1)            # Y = X · Wfᵀ
    2
    """

    def __init__(self, cfg: SatConfig):
        self.cfg = cfg
        self.jobs: list[Job] = []

    def _next_off(self) -> int:
        if not self.jobs:
            return 0
        last = self.jobs[-1]
        return last.c_off + _align(last.c_nbytes(self.cfg))

    def add(self, a, b, mode: str) -> int:
        """Append ``C = A · B`` (``ff`` / ``bp``: B is N:M-compressed along K; ``wu`` /
        ``dense``: dense); returns the job's index.

        Raises
        ------
        ValueError
            Unknown mode, shapes that do not chain, non-integer dtypes, values that do
            not fit in ``cfg.width`` bits, or too many steps for the kernel.
        """
        if mode not in _MODES:
            raise ValueError(f"mode = {mode!r}; allowed: {', '.join(_MODES)}")
        op, sparse = _MODES[mode]
        plan = plan_gemm(self.cfg, a, b, sparse)
        a_bytes, b_bytes = pack_a_stream(self.cfg, plan), pack_b_stream(self.cfg, plan)
        a_off = self._next_off()
        b_off = _align(a_off + a_bytes.size)
        c_off = _align(b_off + b_bytes.size)
        self.jobs.append(Job(op, plan, a_off, b_off, c_off, a_bytes, b_bytes))
        return len(self.jobs) - 1

    def add_wgen(self, w, colwise: bool) -> int:
        """Append a weight generation: the kernel prunes the dense ``W[out, in]`` to N:M
        (row-wise along ``in``, or ``colwise`` along ``out``); returns the job's index.

        :meth:`results` gives it back as :func:`sparseforge.nm.compress` would
        (``axis=1`` row-wise, ``axis=0`` column-wise); :meth:`add_pruned` runs a
        GEMM on it in the same list.

        Raises
        ------
        ValueError
            ``colwise`` not a bool, W not 2-D or empty, a non-integer dtype, values
            that do not fit in ``cfg.width`` bits, or more than ``cfg.max_steps``
            groups per column.
        """
        plan = plan_wgen(self.cfg, w, colwise)
        a_bytes = pack_wgen_stream(self.cfg, w, plan.colwise)
        a_off = self._next_off()
        c_off = _align(a_off + a_bytes.size)
        op = "wgen_col" if plan.colwise else "wgen_row"
        self.jobs.append(Job(op, None, a_off, c_off, c_off, a_bytes,
                             np.zeros(0, np.uint8), wgen=plan))
        return len(self.jobs) - 1

    def add_pruned(self, a, wgen: int) -> int:
        """Append a GEMM whose B is the weight generated by job ``wgen`` of this list.

        After a ``wgen_row`` of ``W[out, in]``: the forward ``Y = A · Wfᵀ`` (``ff``,
        A is ``X[batch, in]``); after a ``wgen_col``: the backward-data
        ``dX = A · Wb`` (``bp``, A is ``dY[batch, out]``).  The kernel reads the B
        stream the weight generation wrote; no B is packed by the host.  Returns the
        job's index; :meth:`results` gives ``C`` (int64).

        Raises
        ------
        ValueError
            ``wgen`` is not the index of a weight generation of this list, or A does
            not fit (see :meth:`add`).
        """
        if isinstance(wgen, bool) or not isinstance(wgen, (int, np.integer)) or \
                not 0 <= wgen < len(self.jobs) or self.jobs[wgen].wgen is None:
            gens = [i for i, j in enumerate(self.jobs) if j.wgen is not None]
            raise ValueError(f"wgen = {wgen!r}; allowed: the index of a weight generation "
                             f"of this list ({gens or 'none yet: add_wgen first'})")
        src = self.jobs[wgen]
        wp = src.wgen
        # B's dense shape only sizes the plan (K, Ng); its values are never used.
        b_shape = wp.shape if wp.colwise else (wp.shape[1], wp.shape[0])
        plan = plan_gemm(self.cfg, a, np.zeros(b_shape, np.int8), sparse=True)
        a_bytes = pack_a_stream(self.cfg, plan)
        a_off = self._next_off()
        c_off = _align(a_off + a_bytes.size)
        self.jobs.append(Job("bp" if wp.colwise else "ff", plan, a_off, src.c_off, c_off,
                             a_bytes, np.zeros(0, np.uint8), source=int(wgen)))
        return len(self.jobs) - 1

    @property
    def header_bytes(self) -> int:
        return _align(len(self.jobs) * DESC_BYTES)

    @property
    def nbytes(self) -> int:
        """Bytes of the whole buffer."""
        return self.header_bytes + _align(self._next_off())

    def descriptors(self, base: int) -> list[Descriptor]:
        """The descriptors for a buffer at device address ``base`` (64-byte aligned)."""
        if base % ALIGN_BYTES:
            raise ValueError(f"buffer address {base:#x} is not {ALIGN_BYTES}-byte aligned")
        h = base + self.header_bytes
        out = []
        for j in self.jobs:
            if j.wgen is not None:
                out.append(Descriptor.for_wgen(self.cfg, j.wgen, h + j.a_off, h + j.c_off))
            else:
                out.append(Descriptor.for_plan(self.cfg, j.plan, j.mode, h + j.a_off,
                                               h + j.b_off, h + j.c_off))
        return out

    def image(self, base: int) -> np.ndarray:
        """The buffer's contents (uint8) for device address ``base``; result areas zero."""
        buf = np.zeros(self.nbytes, np.uint8)
        raw = b"".join(d.pack() for d in self.descriptors(base))
        buf[:len(raw)] = np.frombuffer(raw, np.uint8)
        h = self.header_bytes
        for j in self.jobs:
            buf[h + j.a_off:h + j.a_off + j.a_bytes.size] = j.a_bytes
            buf[h + j.b_off:h + j.b_off + j.b_bytes.size] = j.b_bytes
        return buf

    def results(self, buf) -> list:
        """Every command's result from the buffer after the run, in order.

        A GEMM gives ``C`` (int64 ndarray); a weight generation the compressed weight
        as an :class:`sparseforge.nm.NMTensor` (what ``nm.compress(W, n, m, axis)``
        returns: ``axis=1`` for ``wgen_row``, ``axis=0`` for ``wgen_col``).
        """
        buf = np.asarray(buf).view(np.uint8).reshape(-1)
        if buf.size < self.nbytes:
            raise ValueError(f"buffer holds {buf.size} bytes; the command list needs "
                             f"{self.nbytes}")
        h = self.header_bytes
        out = []
        for j in self.jobs:
            area = buf[h + j.c_off:h + j.c_off + j.c_nbytes(self.cfg)]
            if j.wgen is not None:
                out.append(unpack_wgen_result(self.cfg, j.wgen, area))
            else:
                out.append(unpack_results(self.cfg, j.plan, area))
        return out
