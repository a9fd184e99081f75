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
from .sat_schedule import GemmPlan, assemble_result, pack_data_beats

__all__ = [
    "DESC_BYTES",
    "ERRORS",
    "OPCODES",
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
    beats = cfg.rows // cfg.drain_rows
    need = result_bytes(cfg, len(plan.tiles))
    raw = np.asarray(raw, dtype=np.uint8).reshape(-1)
    if raw.size < need:
        raise ValueError(f"result buffer holds {raw.size} bytes; {len(plan.tiles)} tiles "
                         f"need {need}")
    beat_bytes = geo.r_words * geo.word_bytes
    recs = raw[:need].reshape(len(plan.tiles) * beats, beat_bytes)[:, :geo.r_bits // 8]
    acc = recs.reshape(-1, cfg.drain_rows * cfg.cols, cfg.acc_bits // 8) \
        if cfg.acc_bits % 8 == 0 else None
    if acc is not None:
        vals = np.zeros(acc.shape[:2], dtype=np.int64)
        for byte in range(cfg.acc_bits // 8):
            vals |= acc[:, :, byte].astype(np.int64) << (8 * byte)
    else:  # odd accumulator widths: bit by bit
        bits = np.unpackbits(recs, axis=1, bitorder="little")[:, :geo.r_bits]
        bits = bits.reshape(-1, cfg.drain_rows * cfg.cols, cfg.acc_bits).astype(np.int64)
        vals = (bits << np.arange(cfg.acc_bits)).sum(axis=2)
    half = 1 << (cfg.acc_bits - 1)
    vals = np.where(vals >= half, vals - (1 << cfg.acc_bits), vals)
    tiles = vals.reshape(len(plan.tiles), cfg.rows, cfg.cols)
    return assemble_result(plan, list(tiles))
