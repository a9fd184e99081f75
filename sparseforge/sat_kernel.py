"""The SAT kernel's contract with the host: register map, command list, memory layouts.

Pure Python + NumPy (the host driver imports it on a board).  The kernel
(:mod:`sparseforge.hwgen.shell.sat_kernel`) executes a **command list** in
memory: ``n_cmds`` descriptors of :data:`DESC_BYTES` bytes each, one GEMM per
descriptor, all with one ``ap_start``.  Everything here is derived from the
:class:`~sparseforge.configs.SatConfig`; see ``docs/designs/sat_kernel.md``.

Descriptor (sixteen little-endian 32-bit words)
-----------------------------------------------
====  =====================================================================
word  meaning
====  =====================================================================
0     ``op`` (bits 7:0, :data:`OPCODES`), ``n`` (15:8), ``m`` (23:16)
1     ``steps`` per tile (S)
2     row tiles (TI)
3     column tiles (TJ)
4-5   A stream address (64-bit, low word first)
6-7   B stream address
8-9   result address
10    A row-tile stride, bytes
11    B column-tile stride, bytes
12-15 reserved, zero
====  =====================================================================

The kernel runs tile (ti, tj) for ti < TI, tj < TJ (row-major, the order of
:func:`sparseforge.sat_schedule.plan_gemm`): it streams ``S`` A records from
``A + ti·a_stride`` and ``S`` B records from ``B + tj·b_stride`` into the
engine, and writes the tile's ``R / drain_rows`` result beats contiguously
from the result address on.

Memory layouts (all in units of AXI words of ``axi_data_bits`` bits)
--------------------------------------------------------------------
* **A record** — one step of one row tile: the ``a`` field of the engine's data
  beat (``R·M·width`` bits, row 0 lowest), zero-padded to :attr:`Geometry.a_words`.
* **B record** — one step of one column tile: the ``b`` field
  (``C·N·(width + log2 M)`` bits), padded to :attr:`Geometry.b_words`.
* **result beat** — ``drain_rows·C`` signed ``acc_bits`` accumulators (row 0,
  column 0 lowest), padded to :attr:`Geometry.r_words`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from .configs import SatConfig
from .errors import ConfigError
from .regmap import Arg, Register, RegisterMap, ap_ctrl_registers
from .sat_schedule import (
    GemmPlan,
    assemble_result,
    pack_data_beats,
    plan_gemm,
    unpack_result_beat,
)

__all__ = [
    "DESC_BYTES",
    "ERRORS",
    "OPCODES",
    "CommandList",
    "Descriptor",
    "Geometry",
    "pack_a_stream",
    "pack_b_stream",
    "register_map",
    "unpack_results",
]

DESC_BYTES = 64

#: Descriptor opcodes.  ``ff`` and ``bp`` run the same sparse datapath (the mask
#: direction is in how B was compressed); they are kept apart for the record.
OPCODES = {"dense": 1, "ff": 2, "bp": 3}

#: STATUS error codes (0: no error).
ERRORS = {
    1: "unknown opcode",
    2: "N:M of the descriptor differs from the kernel's",
    3: "steps above the kernel's maximum (steps_bits)",
    4: "AXI read error response (SLVERR/DECERR)",
    5: "AXI write error response (SLVERR/DECERR)",
}


@dataclass(frozen=True)
class Geometry:
    """Sizes of the kernel's records for one config.

    Attributes
    ----------
    word_bits, word_bytes : int
        AXI data width.
    a_bits, b_bits, r_bits : int
        Payload bits of an A record, a B record and a result beat.
    a_words, b_words, r_words : int
        The same, rounded up to whole AXI words.
    beats_per_tile : int
        Result beats per tile, ``rows / drain_rows``.
    """

    word_bits: int
    a_bits: int
    b_bits: int
    r_bits: int

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

    @classmethod
    def of(cls, cfg: SatConfig) -> Geometry:
        return cls(cfg.axi_data_bits, cfg.rows * cfg.m * cfg.width,
                   cfg.cols * cfg.n * (cfg.width + cfg.index_bits),
                   cfg.drain_rows * cfg.cols * cfg.acc_bits)


def register_map(cfg: SatConfig) -> RegisterMap:
    """The SAT kernel's register map (the single source for RTL, header, XML, driver)."""
    regs = [*ap_ctrl_registers(),
            Register("STATUS", 0x20, "ro", "error code of the last run (0: none; see ERRORS)"),
            Register("ERR_CMD", 0x24, "ro", "index of the command that failed"),
            Register("CYCLES_LO", 0x28, "ro", "clock cycles of the last run, ap_start to "
                     "ap_done (bits 31:0)"),
            Register("CYCLES_HI", 0x2C, "ro", "clock cycles of the last run (bits 63:32)"),
            Register("CMDS_DONE", 0x30, "ro", "commands completed in the last run"),
            Register("INFO0", 0x34, "ro", "rows | cols << 8 | n << 16 | m << 24"),
            Register("INFO1", 0x38, "ro",
                     "width | acc_bits << 8 | drain_rows << 16 | steps_bits << 24"),
            Register("INFO2", 0x3C, "ro", "axi_data_bits | max_burst << 16")]
    args = [Arg("cmd_list", 0, 0x10, 64, "pointer", "void*",
                "address of the command list (64-byte descriptors)", "m_axi_gmem"),
            Arg("n_cmds", 1, 0x1C, 32, "scalar", "uint32_t", "number of descriptors")]
    return RegisterMap(cfg.kernel_name, "sat", cfg.to_dict(), tuple(regs), tuple(args),
                       ({"port": "m_axi_gmem", "data_bits": cfg.axi_data_bits,
                         "addr_bits": 64},))


def info_words(cfg: SatConfig) -> tuple[int, int, int]:
    """Values of INFO0..INFO2 (what the hardware reports about itself)."""
    return (cfg.rows | cfg.cols << 8 | cfg.n << 16 | cfg.m << 24,
            cfg.width | cfg.acc_bits << 8 | cfg.drain_rows << 16 | cfg.steps_bits << 24,
            cfg.axi_data_bits | cfg.max_burst << 16)


@dataclass(frozen=True)
class Descriptor:
    """One command of the list (see the module docstring)."""

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

    def pack(self) -> bytes:
        """The 64 bytes of the descriptor."""
        if self.op not in OPCODES:
            raise ConfigError(f"op = {self.op!r}; allowed: {', '.join(OPCODES)}")
        for name in ("steps", "row_tiles", "col_tiles", "a_stride", "b_stride"):
            v = getattr(self, name)
            if not 0 <= v < 1 << 32:
                raise ConfigError(f"descriptor {name} = {v}; allowed: 0 to 2**32 - 1")
        for name in ("a_addr", "b_addr", "c_addr"):
            v = getattr(self, name)
            if not 0 <= v < 1 << 64:
                raise ConfigError(f"descriptor {name} = {v:#x}; allowed: a 64-bit address")
        words = [OPCODES[self.op] | self.n << 8 | self.m << 16, self.steps, self.row_tiles,
                 self.col_tiles, self.a_addr & 0xFFFFFFFF, self.a_addr >> 32,
                 self.b_addr & 0xFFFFFFFF, self.b_addr >> 32, self.c_addr & 0xFFFFFFFF,
                 self.c_addr >> 32, self.a_stride, self.b_stride, 0, 0, 0, 0]
        return struct.pack("<16I", *words)

    @classmethod
    def unpack(cls, raw: bytes) -> Descriptor:
        w = struct.unpack("<16I", bytes(raw[:DESC_BYTES]))
        ops = {v: k for k, v in OPCODES.items()}
        return cls(ops.get(w[0] & 0xFF, f"0x{w[0] & 0xFF:02x}"), (w[0] >> 8) & 0xFF,
                   (w[0] >> 16) & 0xFF, w[1], w[2], w[3], w[4] | w[5] << 32,
                   w[6] | w[7] << 32, w[8] | w[9] << 32, w[10], w[11])

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


# --------------------------------------------------------------------------- command lists

_MODES = {"ff": ("ff", True), "bp": ("bp", True), "wu": ("dense", False),
          "dense": ("dense", False)}
_ALIGN = 64


def _align(x: int) -> int:
    return -(-x // _ALIGN) * _ALIGN


@dataclass(frozen=True)
class Job:
    """One GEMM of a :class:`CommandList`, with its offsets in the list's buffer."""

    mode: str
    plan: GemmPlan
    a_off: int
    b_off: int
    c_off: int
    a_bytes: np.ndarray
    b_bytes: np.ndarray


class CommandList:
    """GEMMs for one kernel start, laid out in one buffer (pure NumPy).

    Buffer layout: the descriptors (64 bytes each) at offset 0, then per GEMM its A
    stream, B stream and result area, each 64-byte aligned.

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
    """

    def __init__(self, cfg: SatConfig):
        self.cfg = cfg
        self.jobs: list[Job] = []

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
        a_off = 0
        if self.jobs:
            last = self.jobs[-1]
            a_off = last.c_off + _align(result_bytes(self.cfg, len(last.plan.tiles)))
        b_off = _align(a_off + a_bytes.size)
        c_off = _align(b_off + b_bytes.size)
        self.jobs.append(Job(op, plan, a_off, b_off, c_off, a_bytes, b_bytes))
        return len(self.jobs) - 1

    @property
    def header_bytes(self) -> int:
        return _align(len(self.jobs) * DESC_BYTES)

    @property
    def nbytes(self) -> int:
        """Bytes of the whole buffer."""
        if not self.jobs:
            return self.header_bytes
        last = self.jobs[-1]
        return self.header_bytes + _align(last.c_off + result_bytes(self.cfg,
                                                                     len(last.plan.tiles)))

    def descriptors(self, base: int) -> list[Descriptor]:
        """The descriptors for a buffer at device address ``base`` (64-byte aligned)."""
        if base % _ALIGN:
            raise ValueError(f"buffer address {base:#x} is not {_ALIGN}-byte aligned")
        h = base + self.header_bytes
        return [Descriptor.for_plan(self.cfg, j.plan, j.mode, h + j.a_off, h + j.b_off,
                                    h + j.c_off) for j in self.jobs]

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

    def results(self, buf) -> list[np.ndarray]:
        """Every GEMM's ``C`` (int64) from the buffer after the run."""
        buf = np.asarray(buf).view(np.uint8).reshape(-1)
        if buf.size < self.nbytes:
            raise ValueError(f"buffer holds {buf.size} bytes; the command list needs "
                             f"{self.nbytes}")
        h = self.header_bytes
        out = []
        for j in self.jobs:
            n = result_bytes(self.cfg, len(j.plan.tiles))
            out.append(unpack_results(self.cfg, j.plan, buf[h + j.c_off:h + j.c_off + n]))
        return out
