"""Tiling a GEMM onto the SAT engine: the beats the host (or a bench) sends.

Pure NumPy, shared by the cocotb bench, the performance model and the host
driver.  ``C[Mg, Ng] = A[Mg, K] · B[K, Ng]`` is cut into output tiles of
``rows x cols`` (row-major over tiles: tile (ti, tj) is the ti-th block of
rows and the tj-th block of columns); edge tiles are zero-padded and the
padding is dropped from the results.

* dense mode: K is padded to ``steps·N``; step t carries ``A[:, tN:(t+1)N]``
  in A's first N slots (the rest zero) and ``B[tN:(t+1)N, :]`` as the N values
  of every column (indices ``0..N-1``);
* sparse mode: B is compressed along K with :func:`sparseforge.nm.compress`
  (``axis=0``, zero padding); step t is group t: ``A[:, tM:(t+1)M]`` and each
  column's N kept values and indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparseforge import nm
from sparseforge.families.sat.config import SatConfig
from sparseforge.formats.integer import from_bits

__all__ = [
    "GemmPlan",
    "Tile",
    "assemble_result",
    "data_beat_bits",
    "pack_cmd",
    "pack_data_beats",
    "pack_dense_group",
    "plan_gemm",
    "tile_steps",
    "unpack_compressed_group",
    "unpack_result_beat",
]


@dataclass(frozen=True)
class Tile:
    """One output tile: where it goes and its beats.

    Attributes
    ----------
    row0, col0 : int
        Position of the tile's (0, 0) element in C.
    a : ndarray, shape (steps, rows, m)
        A operand per step (dense mode: first n slots used).
    w, idx : ndarray, shape (steps, cols, n)
        B values and in-group indices per step.
    """

    row0: int
    col0: int
    a: np.ndarray
    w: np.ndarray
    idx: np.ndarray

    @property
    def steps(self) -> int:
        return self.a.shape[0]


@dataclass(frozen=True)
class GemmPlan:
    """A GEMM cut into tiles for one engine configuration."""

    cfg: SatConfig
    sparse: bool
    shape: tuple[int, int, int]  # (Mg, K, Ng)
    steps: int
    tiles: tuple[Tile, ...]


def tile_steps(cfg: SatConfig, k: int, sparse: bool) -> int:
    """Steps per tile for a reduction of length ``k``: ``ceil(k/m)`` sparse, ``ceil(k/n)`` dense."""
    return -(-k // (cfg.m if sparse else cfg.n))


def plan_gemm(cfg: SatConfig, a: np.ndarray, b: np.ndarray, sparse: bool) -> GemmPlan:
    """Cut ``A[Mg, K] · B[K, Ng]`` into tiles; in sparse mode B is N:M-compressed along K.

    Raises
    ------
    ValueError
        Shapes that do not chain, non-integer operands, values that do not fit
        in ``cfg.width`` bits, or a step count above ``cfg.max_steps``.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"A is {a.shape} and B is {b.shape}: expected A[Mg, K] and B[K, Ng]")
    for name, arr in (("A", a), ("B", b)):
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} has dtype {arr.dtype}; the engine takes integers")
        lo, hi = -(1 << (cfg.width - 1)), (1 << (cfg.width - 1)) - 1
        if arr.size and (arr.min() < lo or arr.max() > hi):
            raise ValueError(f"{name} holds values outside {lo}..{hi} (width = {cfg.width})")
    mg, k = a.shape
    ng = b.shape[1]
    steps = tile_steps(cfg, k, sparse)
    if steps > cfg.max_steps:
        raise ValueError(f"K = {k} needs {steps} steps; this engine takes at most "
                         f"{cfg.max_steps} (steps_bits = {cfg.steps_bits})")
    R, C, N, M = cfg.rows, cfg.cols, cfg.n, cfg.m
    mg_pad, ng_pad = -(-mg // R) * R, -(-ng // C) * C
    per_step = M if sparse else N
    a_full = np.zeros((mg_pad, steps * per_step), dtype=np.int64)
    a_full[:mg, :k] = a
    a_steps = np.zeros((mg_pad, steps, M), dtype=np.int64)
    a_steps[:, :, :per_step] = a_full.reshape(mg_pad, steps, per_step)
    if sparse:
        comp = nm.compress(b.astype(np.int64), N, M, axis=0)  # values (Ng, G, N)
        w_cols = np.zeros((ng_pad, steps, N), dtype=np.int64)
        i_cols = np.zeros((ng_pad, steps, N), dtype=np.int64)
        w_cols[:ng] = comp.values
        i_cols[:ng] = comp.indices
        i_cols[ng:] = np.arange(N)
    else:
        b_full = np.zeros((steps * N, ng_pad), dtype=np.int64)
        b_full[:k, :ng] = b
        w_cols = b_full.reshape(steps, N, ng_pad).transpose(2, 0, 1)
        i_cols = np.broadcast_to(np.arange(N), w_cols.shape)
    tiles = []
    for r0 in range(0, mg_pad, R):
        a_tile = a_steps[r0:r0 + R].transpose(1, 0, 2)
        for c0 in range(0, ng_pad, C):
            tiles.append(Tile(r0, c0, a_tile, w_cols[c0:c0 + C].transpose(1, 0, 2),
                              np.ascontiguousarray(i_cols[c0:c0 + C].transpose(1, 0, 2))))
    return GemmPlan(cfg, sparse, (mg, k, ng), steps, tuple(tiles))


def assemble_result(plan: GemmPlan, tile_results: list[np.ndarray]) -> np.ndarray:
    """Put each tile's ``rows x cols`` result in place and drop the padding."""
    cfg = plan.cfg
    mg, _, ng = plan.shape
    if len(tile_results) != len(plan.tiles):
        raise ValueError(f"{len(tile_results)} tile results for {len(plan.tiles)} tiles")
    out = np.zeros((-(-mg // cfg.rows) * cfg.rows, -(-ng // cfg.cols) * cfg.cols), np.int64)
    for tile, res in zip(plan.tiles, tile_results):
        out[tile.row0:tile.row0 + cfg.rows, tile.col0:tile.col0 + cfg.cols] = res
    return out[:mg, :ng]


# --------------------------------------------------------------------------- bit packing
# The engine's stream payloads as flat integers (LSB = bit 0), laid out exactly as the
# generator's Amaranth layouts (hwgen/sat/engine.py): a test checks both agree.


def data_beat_bits(cfg: SatConfig) -> int:
    """Width of one data beat: ``R*M*width + C*N*(width + log2 M)`` bits."""
    return cfg.rows * cfg.m * cfg.width + cfg.cols * cfg.n * (cfg.width + cfg.index_bits)


def pack_data_beats(cfg: SatConfig, tile: Tile) -> list[int]:
    """Each step of ``tile`` as the integer the ``data`` stream's payload carries.

    Layout (LSB first): ``a[row][slot]`` (``width`` bits each, rows outer), then for
    each column ``w[0..N-1]`` (``width`` bits each) followed by ``idx[0..N-1]``
    (``log2 M`` bits each).
    """
    steps = tile.steps
    fields = [(tile.a.reshape(steps, -1), cfg.width)]
    per_col = []
    for j in range(cfg.cols):
        per_col.append((tile.w[:, j, :], cfg.width))
        per_col.append((tile.idx[:, j, :], cfg.index_bits))
    fields += per_col
    bits = np.concatenate(
        [((np.asarray(v, dtype=np.int64)[..., None] & ((1 << w) - 1)) >> np.arange(w) & 1)
         .reshape(steps, -1) for v, w in fields], axis=1).astype(np.uint8)
    packed = np.packbits(bits, axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


def pack_cmd(cfg: SatConfig, sparse: bool, steps: int) -> int:
    """The ``cmd`` payload: bit 0 ``sparse``, then ``steps`` (``steps_bits`` bits)."""
    if not 0 <= steps <= cfg.max_steps:
        raise ValueError(f"steps = {steps}; allowed: 0 to {cfg.max_steps}")
    return int(bool(sparse)) | (steps << 1)


def unpack_result_beat(cfg: SatConfig, word: int) -> list[list[int]]:
    """A ``result`` payload as ``drain_rows`` rows of C signed accumulators.

    Row 0 of the beat is in the low bits; within a row, column 0 is lowest.
    """
    mask = (1 << cfg.acc_bits) - 1
    return [[from_bits((word >> ((r * cfg.cols + j) * cfg.acc_bits)) & mask, cfg.acc_bits)
             for j in range(cfg.cols)] for r in range(cfg.drain_rows)]


def pack_dense_group(cfg: SatConfig, values) -> int:
    """One weight-generator input beat: M signed ``width``-bit values, element 0 lowest."""
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & ((1 << cfg.width) - 1)) << (i * cfg.width)
    return word


def unpack_compressed_group(cfg: SatConfig, word: int) -> tuple[list[int], list[int]]:
    """A weight-generator output beat as (N signed values, N indices).

    Layout (LSB first): ``values[0..N-1]`` (``width`` bits each), then
    ``idx[0..N-1]`` (``log2 M`` bits each).
    """
    w, ib = cfg.width, cfg.index_bits
    values = [from_bits((word >> (s * w)) & ((1 << w) - 1), w) for s in range(cfg.n)]
    base = cfg.n * w
    indices = [(word >> (base + s * ib)) & ((1 << ib) - 1) for s in range(cfg.n)]
    return values, indices
