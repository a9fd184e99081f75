"""N:M structured sparsity: masks, compression and a packed storage layout.

Everything the SAT hardware, its golden model, its performance model and its
host driver need about N:M sparsity is defined here, once (pure NumPy).

Definitions
-----------
* A tensor is split along ``axis`` into **groups** of ``m`` consecutive
  elements; each group keeps ``n`` of them (``1 <= n < m``, ``m`` a power of
  two, ``2 <= m <= 32``).
* **Selection rule** (the hardware implements the same): the ``n`` elements
  of largest magnitude ``|w|`` are kept; among equal magnitudes the **lower
  index wins**.  Integer magnitudes are exact (``|-128| = 128 > 127``), so a
  hardware comparator needs one bit more than the operand.  A group always
  yields exactly ``n`` kept positions — an all-zero group (or one with fewer
  than ``n`` non-zeros) keeps its lowest-index zeros — so the compressed form
  has a fixed size.  NaN is rejected.
* **Padding rule** (``pad="zero"``, the default): a length that is not a
  multiple of ``m`` is padded at the end with zeros to the next multiple; the
  padding takes part in the selection like any zero (it can only be chosen
  when fewer than ``n`` non-zeros precede it, with value 0) and is dropped
  again by :func:`decompress`.  ``pad="none"`` makes such a length an error.
* **Row-wise** masks group along a weight's input (reduction) dimension,
  ``axis=1`` of ``W[out, in, ...]``: the forward GEMM ``Y = X·Wfᵀ``.
  **Column-wise** masks group along the output dimension, ``axis=0``: the
  backward-data GEMM ``dX = dY·Wb``.

The packed storage layout (a host-side format, not what the SAT kernel reads) is
described in :class:`NMPackLayout` and ``docs/nm_format.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sparseforge.formats.integer import from_bits

__all__ = [
    "PAD_RULES",
    "NMPackLayout",
    "NMTensor",
    "compress",
    "decompress",
    "group_count",
    "index_bits",
    "mask",
    "mask_colwise",
    "mask_rowwise",
    "pack",
    "unpack",
    "validate_nm",
]

PAD_RULES = ("zero", "none")
MAX_M = 32


# --------------------------------------------------------------------------- validation


def validate_nm(n: int, m: int, where: str = "") -> None:
    """Raise ``ValueError`` unless ``1 <= n < m``, ``m`` a power of two, ``2 <= m <= 32``.

    ``where`` (e.g. a layer name) is prefixed to the message.
    """
    prefix = f"{where}: " if where else ""
    for name, value in (("n", n), ("m", m)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{prefix}{name} = {value!r} must be an integer")
    if not 2 <= m <= MAX_M or m & (m - 1):
        raise ValueError(
            f"{prefix}m = {m} is not allowed; allowed: a power of two from 2 to {MAX_M}"
        )
    if not 1 <= n < m:
        raise ValueError(f"{prefix}n = {n} is not allowed for m = {m}; allowed: 1 to {m - 1}")


def index_bits(m: int) -> int:
    """Bits of one in-group index, ``log2(m)``."""
    validate_nm(1, m)
    return m.bit_length() - 1


def group_count(length: int, m: int, pad: str = "zero", where: str = "") -> int:
    """Number of groups covering ``length`` elements (padding per ``pad``)."""
    if pad not in PAD_RULES:
        raise ValueError(f"pad = {pad!r} is not allowed; allowed: {', '.join(PAD_RULES)}")
    if length % m and pad == "none":
        prefix = f"{where}: " if where else ""
        raise ValueError(
            f"{prefix}grouped dimension of length {length} is not a multiple of m = {m} "
            "and pad='none'; use pad='zero' to pad with zeros"
        )
    return -(-length // m)


# --------------------------------------------------------------------------- masks


def mask(w: np.ndarray, n: int, m: int, axis: int = -1, pad: str = "zero") -> np.ndarray:
    """Boolean keep-mask of the N:M selection along ``axis`` (same shape as ``w``).

    Parameters
    ----------
    w : array_like
        Integer or floating-point tensor.
    n, m : int
        Keep ``n`` of every ``m`` consecutive elements along ``axis``.
    axis : int
        Grouped axis.
    pad : {"zero", "none"}
        Padding rule for a length that is not a multiple of ``m``.
    """
    w = np.asarray(w)
    positions = _select(w, n, m, axis, pad)  # (..., G, n) in-group indices
    moved = np.moveaxis(w, axis, -1)
    length = moved.shape[-1]
    groups = positions.shape[-2]
    keep = np.zeros((*moved.shape[:-1], groups, m), dtype=bool)
    np.put_along_axis(keep, positions, True, axis=-1)
    keep = keep.reshape(*moved.shape[:-1], groups * m)[..., :length]
    return np.moveaxis(keep, -1, axis)


def mask_rowwise(w: np.ndarray, n: int, m: int, pad: str = "zero") -> np.ndarray:
    """Forward-GEMM mask: groups along the input dimension (``axis=1``) of ``W[out, in, ...]``."""
    _check_weight_rank(w)
    return mask(w, n, m, axis=1, pad=pad)


def mask_colwise(w: np.ndarray, n: int, m: int, pad: str = "zero") -> np.ndarray:
    """Backward-data mask: groups along the output dimension (``axis=0``) of ``W[out, in, ...]``."""
    _check_weight_rank(w)
    return mask(w, n, m, axis=0, pad=pad)


# --------------------------------------------------------------------------- compression


@dataclass(frozen=True, eq=False)
class NMTensor:
    """A tensor compressed to N:M form along one axis.

    Attributes
    ----------
    values : ndarray, shape ``(*rest, G, n)``
        Kept values of each group, in ascending in-group index order; ``rest``
        is the original shape without ``axis``.
    indices : ndarray of uint8, shape ``(*rest, G, n)``
        In-group positions (``0 .. m-1``) of the kept values, ascending.
    n, m : int
    axis : int
        Grouped axis of the original tensor (non-negative).
    shape : tuple of int
        Original (dense) shape.
    """

    values: np.ndarray
    indices: np.ndarray
    n: int
    m: int
    axis: int
    shape: tuple[int, ...]

    @property
    def groups(self) -> int:
        """Groups per row, ``ceil(shape[axis] / m)``."""
        return self.values.shape[-2]

    def decompress(self) -> np.ndarray:
        """Dense tensor with the dropped elements zero (see :func:`decompress`)."""
        return decompress(self)


def compress(w: np.ndarray, n: int, m: int, axis: int = -1, pad: str = "zero") -> NMTensor:
    """Compress ``w`` to N:M form along ``axis`` (selection rule in the module docstring)."""
    w = np.asarray(w)
    positions = _select(w, n, m, axis, pad)
    moved = _grouped(np.moveaxis(w, axis, -1), m)
    values = np.take_along_axis(moved, positions, axis=-1)
    return NMTensor(values, positions.astype(np.uint8), n, m, axis % w.ndim, tuple(w.shape))


def decompress(t: NMTensor) -> np.ndarray:
    """Dense tensor of ``t.shape``: kept values in place, zeros elsewhere."""
    rest = t.values.shape[:-2]
    dense = np.zeros((*rest, t.groups, t.m), dtype=t.values.dtype)
    np.put_along_axis(dense, t.indices.astype(np.intp), t.values, axis=-1)
    length = t.shape[t.axis]
    dense = dense.reshape(*rest, t.groups * t.m)[..., :length]
    return np.moveaxis(dense, -1, t.axis)


# --------------------------------------------------------------------------- packed layout


@dataclass(frozen=True)
class NMPackLayout:
    """A compact two-plane byte layout of an N:M-compressed matrix (storage, interchange).

    This is a host-side format, for files and for exchanging compressed weights
    with other tools: values and indices in two separate planes with aligned rows.
    It is **not** what the SAT kernel reads: the kernel reads B records (per output
    column, its N values then its N indices, one record per engine step), laid out
    by :func:`sparseforge.families.sat.contract.pack_b_stream` and described in
    ``docs/designs/sat_kernel.md``.

    A compressed tensor is viewed as ``rows`` rows (all axes but the grouped
    one, C order) of ``groups`` groups.  The buffer holds two planes::

        offset 0                  values plane: rows x value_row_bytes
        offset index_offset       index plane:  rows x index_row_bytes

    * A **values row** is the row's ``groups * n`` kept values in order (group
      0 first, ascending in-group index inside a group), each ``value_bits``
      wide, two's complement, packed LSB-first: value ``j`` occupies bits
      ``j*value_bits .. (j+1)*value_bits-1`` of the row read as one
      little-endian integer.
    * An **index row** is the same ``groups * n`` in-group indices, each
      ``log2(m)`` bits, packed the same way (an index may straddle bytes).
    * Each row is zero-padded to a multiple of ``align_bytes``, so every row of
      either plane starts on an aligned address (use the AXI bus width).

    Parameters
    ----------
    n, m : int
    value_bits : int
        Width of one value, 1..32 bits (integer data; quantise floats first).
    align_bytes : int
        Row alignment, a power of two from 1 to 4096.
    """

    n: int
    m: int
    value_bits: int = 8
    align_bytes: int = 4

    def __post_init__(self) -> None:
        validate_nm(self.n, self.m)
        if isinstance(self.value_bits, bool) or not 1 <= self.value_bits <= 32:
            raise ValueError(f"value_bits = {self.value_bits!r}; allowed: 1 to 32")
        a = self.align_bytes
        if not 1 <= a <= 4096 or a & (a - 1):
            raise ValueError(f"align_bytes = {a!r}; allowed: a power of two from 1 to 4096")

    @property
    def index_bits(self) -> int:
        """Bits of one index, ``log2(m)``."""
        return index_bits(self.m)

    def value_row_bytes(self, groups: int) -> int:
        """Bytes of one values row (padded)."""
        return self._aligned(groups * self.n * self.value_bits)

    def index_row_bytes(self, groups: int) -> int:
        """Bytes of one index row (padded)."""
        return self._aligned(groups * self.n * self.index_bits)

    def index_offset(self, rows: int, groups: int) -> int:
        """Byte offset of the index plane."""
        return rows * self.value_row_bytes(groups)

    def total_bytes(self, rows: int, groups: int) -> int:
        """Bytes of the whole buffer."""
        return self.index_offset(rows, groups) + rows * self.index_row_bytes(groups)

    def _aligned(self, bits: int) -> int:
        nbytes = -(-bits // 8)
        return -(-nbytes // self.align_bytes) * self.align_bytes


def pack(t: NMTensor, layout: NMPackLayout) -> np.ndarray:
    """Pack ``t`` into a ``uint8`` buffer laid out per ``layout``.

    Raises
    ------
    ValueError
        ``layout``'s n/m differ from ``t``'s, the values are not integers, or a
        value does not fit in ``layout.value_bits`` (two's complement).
    """
    if (layout.n, layout.m) != (t.n, t.m):
        raise ValueError(f"layout is {layout.n}:{layout.m} but the tensor is {t.n}:{t.m}")
    if not np.issubdtype(t.values.dtype, np.integer):
        raise ValueError(f"pack needs integer values, got dtype {t.values.dtype}; quantise first")
    values = t.values.astype(np.int64).reshape(-1, t.groups * t.n)
    lo, hi = -(1 << (layout.value_bits - 1)), (1 << (layout.value_bits - 1)) - 1
    if values.size and (values.min() < lo or values.max() > hi):
        bad = values[(values < lo) | (values > hi)][0]
        raise ValueError(
            f"value {int(bad)} does not fit in value_bits = {layout.value_bits} "
            f"(allowed: {lo} to {hi})"
        )
    rows = values.shape[0]
    vplane = _pack_rows(values, layout.value_bits, layout.value_row_bytes(t.groups))
    iplane = _pack_rows(t.indices.astype(np.int64).reshape(rows, -1), layout.index_bits,
                        layout.index_row_bytes(t.groups))
    return np.concatenate([vplane.reshape(-1), iplane.reshape(-1)])


def unpack(buf: np.ndarray, layout: NMPackLayout, shape: tuple[int, ...], axis: int = -1,
           dtype: np.dtype = np.int8) -> NMTensor:
    """Inverse of :func:`pack` for a tensor of dense ``shape`` grouped along ``axis``."""
    shape = tuple(int(s) for s in shape)
    axis %= len(shape)
    groups = -(-shape[axis] // layout.m)
    rest = shape[:axis] + shape[axis + 1:]
    rows = math.prod(rest)
    buf = np.asarray(buf, dtype=np.uint8).reshape(-1)
    if buf.size < layout.total_bytes(rows, groups):
        raise ValueError(
            f"buffer holds {buf.size} bytes; the layout needs {layout.total_bytes(rows, groups)}"
        )
    count = groups * layout.n
    off = layout.index_offset(rows, groups)
    vplane = buf[:off].reshape(rows, -1)
    iplane = buf[off:off + rows * layout.index_row_bytes(groups)].reshape(rows, -1)
    values = _unpack_rows(vplane, layout.value_bits, count, signed=True)
    indices = _unpack_rows(iplane, layout.index_bits, count, signed=False)
    return NMTensor(
        values.astype(dtype).reshape(*rest, groups, layout.n),
        indices.astype(np.uint8).reshape(*rest, groups, layout.n),
        layout.n, layout.m, axis, shape,
    )


# --------------------------------------------------------------------------- internals


def _select(w: np.ndarray, n: int, m: int, axis: int, pad: str) -> np.ndarray:
    """In-group positions ``(..., G, n)`` (ascending) kept by the selection rule."""
    validate_nm(n, m)
    if w.ndim == 0:
        raise ValueError("mask needs at least a 1-D tensor")
    if not -w.ndim <= axis < w.ndim:
        raise ValueError(f"axis = {axis} is out of range for a {w.ndim}-D tensor")
    if w.dtype == bool or not (np.issubdtype(w.dtype, np.integer)
                               or np.issubdtype(w.dtype, np.floating)):
        raise ValueError(f"N:M selection needs integer or float data, got dtype {w.dtype}")
    group_count(w.shape[axis], m, pad)
    if np.issubdtype(w.dtype, np.floating) and np.isnan(w).any():
        raise ValueError("N:M selection is undefined for NaN values")
    groups = _grouped(np.moveaxis(w, axis, -1), m)
    if np.issubdtype(w.dtype, np.integer):
        magnitude = np.abs(groups.astype(np.int64))
    else:
        magnitude = np.abs(groups.astype(np.float64))
    # Stable sort of descending magnitude: equal magnitudes keep index order,
    # so the lower index wins.
    order = np.argsort(-magnitude, axis=-1, kind="stable")[..., :n]
    return np.sort(order, axis=-1)


def _grouped(moved: np.ndarray, m: int) -> np.ndarray:
    """Last axis zero-padded to a multiple of ``m`` and split into ``(G, m)``."""
    length = moved.shape[-1]
    groups = -(-length // m)
    if groups * m != length:
        pad_width = [(0, 0)] * (moved.ndim - 1) + [(0, groups * m - length)]
        moved = np.pad(moved, pad_width)
    return moved.reshape(*moved.shape[:-1], groups, m)


def _check_weight_rank(w: np.ndarray) -> None:
    if np.ndim(w) < 2:
        raise ValueError(f"a weight tensor W[out, in, ...] needs >= 2 dimensions, got {np.ndim(w)}")


def _pack_rows(values: np.ndarray, bits: int, row_bytes: int) -> np.ndarray:
    rows, count = values.shape
    unsigned = values & ((1 << bits) - 1)
    bitmat = ((unsigned[..., None] >> np.arange(bits)) & 1).astype(np.uint8)
    packed = np.packbits(bitmat.reshape(rows, count * bits), axis=-1, bitorder="little")
    out = np.zeros((rows, row_bytes), dtype=np.uint8)
    out[:, : packed.shape[1]] = packed
    return out


def _unpack_rows(plane: np.ndarray, bits: int, count: int, signed: bool) -> np.ndarray:
    rows = plane.shape[0]
    bitmat = np.unpackbits(plane, axis=-1, bitorder="little")[:, : count * bits]
    weights = (1 << np.arange(bits)).astype(np.int64)
    values = (bitmat.reshape(rows, count, bits).astype(np.int64) * weights).sum(-1)
    return from_bits(values, bits, signed) if signed else values
