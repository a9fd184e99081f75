"""One token's work as a program: PIM phases (per-channel operation lists) and ASIC steps.

:func:`token_program` turns a :class:`~sparseforge.sim.pimgpt.mapping.ModelMap`, a
position and a token into the sequence the functional simulator executes with data and
the timed simulator executes on the DRAM core's timing engine.  PIM phases and ASIC
steps alternate; a PIM phase starts when the ASIC step before it is done (its inputs are
ready) and an ASIC step starts when the last result of the PIM phase before it has
arrived.

Operations of a channel (each becomes DRAM commands, docs/designs/pimgpt.md):

``GW(src, start, length, ncols)``
    ``ncols`` GWRITEs: global-buffer columns ``0 .. ncols-1`` get the BF16 of ASIC
    vector ``src`` elements ``start .. start+length-1`` (zero beyond).
``ROW(row, ncols, latch, tag)``
    GACT ``row``; ``ncols`` MACs on columns ``0 .. ncols-1``, a MACL every ``latch``
    columns; PREA.  ``tag`` says what the latched results are (see
    :mod:`sparseforge.sim.pimgpt.functional`).
``RR(n)``
    READRES of slots ``0 .. n-1``: the ``n`` latches of the ROW just before it, in order
    (a GACT empties the slots, so every ROW is followed by its RR).
``RD(bank, row, col, ncols, dst, start, stride)``
    ACT, ``ncols`` RD bursts from column ``col``, PRE: lane ``k`` of burst ``j`` is
    element ``start + (j L + k) stride`` of the ASIC vector ``dst`` (elements outside
    it are not kept).
``WR(bank, row, col, ncols, src, start)``
    ACT, ``ncols`` WR bursts from column ``col``, PRE: the BF16 of ``src[start:]``.
``VW(row, col, writes)``
    GACT ``row``, one WR of column ``col`` per ``(bank, head, feature)`` in ``writes``
    (the V cache's burst of 16 positions of that feature), PREA.
"""

from __future__ import annotations

from math import ceil
from typing import NamedTuple

from .mapping import ModelMap

__all__ = ["GW", "RD", "ROW", "RR", "VW", "WR", "Asic", "Pim", "expand", "token_program"]


class GW(NamedTuple):
    src: str
    start: int
    length: int
    ncols: int


class ROW(NamedTuple):
    row: int
    ncols: int
    latch: int
    tag: tuple


class RR(NamedTuple):
    n: int


class RD(NamedTuple):
    bank: int
    row: int
    col: int
    ncols: int
    dst: str
    start: int
    stride: int


class WR(NamedTuple):
    bank: int
    row: int
    col: int
    ncols: int
    src: str
    start: int


class VW(NamedTuple):
    row: int
    col: int
    writes: tuple  # ((bank, head, feature), ...)


class Pim(NamedTuple):
    """A PIM phase: ``ops[channel]`` is that channel's operation list."""

    name: str
    ops: list


class Asic(NamedTuple):
    """An ASIC step: ``op`` (see :mod:`sparseforge.sim.pimgpt.functional`), its operands
    and the element counts its cost depends on."""

    name: str
    op: str
    args: dict


class _Channel:
    """Builds one channel's op list.  A GACT empties the banks' result slots
    (docs/designs/dram.md, "PIM commands"), so every row's latched results are read
    (RR) right after it, before the next row is activated."""

    def __init__(self, slots: int):
        self.ops: list = []
        self.slots = slots

    def row(self, row: int, ncols: int, latch: int, tag: tuple) -> None:
        n = ncols // latch
        if n > self.slots:
            raise ValueError(f"a row latches {n} results; a bank has {self.slots} slots")
        self.ops.append(ROW(row, ncols, latch, tag))
        self.ops.append(RR(n))

    def flush(self) -> None:
        """Nothing is left pending (kept for the phase builders' symmetry)."""


def _gemv(mm: ModelMap, placement, src: str, dst: str) -> list[list]:
    """Every channel's ops for ``dst = W src`` (partial sums; the ASIC finishes)."""
    geo = mm.geo
    out = []
    for _ch in range(geo.channels):
        c = _Channel(geo.slots)
        for s, (start, length) in enumerate(placement.spans):
            ncols = ceil(length / geo.lanes)
            c.ops.append(GW(src, start, length, ncols))
            for u in range(placement.slots):
                c.row(placement.row(s, u), ncols, ncols, ("mat", dst, placement.name, s, u))
        c.flush()
        out.append(c.ops)
    return out


def _read_matrix_row(mm: ModelMap, placement, i: int, dst: str, ops: list[list]) -> None:
    """Append the RDs of output row ``i`` of ``placement`` (all its spans)."""
    ch, b, u = placement.location(i)
    for s, (start, length) in enumerate(placement.spans):
        ops[ch].append(RD(b, placement.row(s, u), 0, ceil(length / mm.geo.lanes), dst, start,
                          1))


def _read_vector(mm: ModelMap, layer: int | None, dst: str, ops: list[list]) -> None:
    """Append the RDs of a layer's parameter vectors (``None``: the final ones)."""
    first, n = mm.vector_segment(layer)
    for ch, b, row, col, ncols, start in mm.vectors.reads(first, n):
        ops[ch].append(RD(b, row, col, ncols, dst, start, mm.vectors.stride))


def token_program(mm: ModelMap, model, pos: int, token: int) -> list:
    """The phases of decoding ``token`` at position ``pos`` (``0 <= pos < n_ctx``)."""
    geo = mm.geo
    C, L = geo.channels, geo.lanes
    d, nh = model.d_model, model.n_head
    dh = d // nh
    ctx = pos + 1
    prog: list = []
    ops = [[] for _ in range(C)]
    _read_matrix_row(mm, mm.wte, token, "tok_e", ops)
    _read_matrix_row(mm, mm.wpe, pos, "pos_e", ops)
    _read_vector(mm, 0, "vec0", ops)
    prog.append(Pim("embed", ops))
    prog.append(Asic("embed", "embed", {"n": d}))
    for li, layer in enumerate(mm.layers):
        vec = f"vec{li}"
        prog.append(Asic("ln1", "layernorm", {"src": "x", "dst": "h", "vec": vec,
                                               "g": "ln1_g", "b": "ln1_b", "n": d}))
        prog.append(Pim("qkv", _gemv(mm, layer["qkv"], "h", "qkv")))
        prog.append(Asic("qkv", "bias", {"acc": "qkv", "vec": vec, "b": "b_qkv", "dst": "qkv",
                                          "n": 3 * d, "spans": len(layer["qkv"].spans)}))
        # K / V writes of this position, then the scores
        ops = [[] for _ in range(C)]
        kp, vp = layer["k"], layer["v"]
        ch, b, u = kp.location(pos)
        for g, (h0, nhg) in enumerate(kp.groups):
            ops[ch].append(WR(b, kp.row(g, u), 0, nhg * dh // L, "qkv", d + h0 * dh))
        tile, col = pos // geo.row_elems, (pos % geo.row_elems) // L
        for c in range(C):
            for m, (h, jb) in enumerate(vp.items(c)):
                writes = tuple((bk, h, jb * geo.banks + bk) for bk in range(geo.banks)
                               if jb * geo.banks + bk < dh)
                ops[c].append(VW(vp.row(m, tile), col, writes))
        for c in range(C):
            ch_ops = _Channel(geo.slots)
            ch_ops.ops = ops[c]
            active = kp.active_slots(c, ctx)
            for g, (h0, nhg) in enumerate(kp.groups):
                if not active:
                    break
                ncols = nhg * dh // L
                ch_ops.ops.append(GW("qkv", h0 * dh, nhg * dh, ncols))
                for u in range(active):
                    ch_ops.row(kp.row(g, u), ncols, dh // L, ("k", g, u))
            ch_ops.flush()
        prog.append(Pim("scores", ops))
        prog.append(Asic("softmax", "softmax", {"heads": nh, "ctx": ctx}))
        ops = []
        tiles = ceil(ctx / geo.row_elems)
        for c in range(C):
            ch_ops = _Channel(geo.slots)
            items = vp.items(c)
            m = 0
            while m < len(items):  # runs of items of the same head share the buffer
                h = items[m][0]
                end = m
                while end < len(items) and items[end][0] == h:
                    end += 1
                for tau in range(tiles):
                    length = min(geo.row_elems, ctx - tau * geo.row_elems)
                    ncols = ceil(length / L)
                    ch_ops.ops.append(GW("p", h * model.n_ctx + tau * geo.row_elems, length,
                                         ncols))
                    for mm_i in range(m, end):
                        ch_ops.row(vp.row(mm_i, tau), ncols, ncols, ("v", mm_i, tau))
                m = end
            ch_ops.flush()
            ops.append(ch_ops.ops)
        prog.append(Pim("attn_v", ops))
        prog.append(Asic("attn_v", "gather_v", {"n": d, "tiles": tiles}))
        prog.append(Pim("proj", _gemv(mm, layer["proj"], "o", "proj")))
        prog.append(Asic("proj", "residual", {"acc": "proj", "vec": vec, "b": "b_proj", "n": d,
                                               "spans": len(layer["proj"].spans)}))
        prog.append(Asic("ln2", "layernorm", {"src": "x", "dst": "h", "vec": vec,
                                               "g": "ln2_g", "b": "ln2_b", "n": d}))
        prog.append(Pim("fc", _gemv(mm, layer["fc"], "h", "fc")))
        prog.append(Asic("fc", "bias_gelu", {"acc": "fc", "vec": vec, "b": "b_fc", "dst": "a",
                                              "n": 4 * d, "spans": len(layer["fc"].spans)}))
        ops = _gemv(mm, layer["fc2"], "a", "fc2")
        if li + 1 < len(mm.layers):  # prefetch the next layer's vectors
            _read_vector(mm, li + 1, f"vec{li + 1}", ops)
        else:
            _read_vector(mm, None, "fvec", ops)
        prog.append(Pim("fc2", ops))
        prog.append(Asic("fc2", "residual", {"acc": "fc2", "vec": vec, "b": "b_fc2", "n": d,
                                              "spans": len(layer["fc2"].spans)}))
    prog.append(Asic("lnf", "layernorm", {"src": "x", "dst": "h", "g": "lnf_g",
                                           "b": "lnf_b", "n": d, "vec": "fvec"}))
    prog.append(Pim("logits", _gemv(mm, mm.wte, "h", "logits")))
    prog.append(Asic("argmax", "argmax", {"n": model.vocab, "spans": len(mm.wte.spans)}))
    return prog


def expand(op, geo, channel: int):
    """The commands of one operation, in issue order: ``(Command, payload)`` pairs with
    cycle -1 (the timing engine places them).  ``payload`` is ``(bank, head, feature)``
    for the WRs of a ``VW``, else None."""
    from sparseforge.sim.dram.commands import Command, Kind

    ranks = range(geo.ranks)
    if isinstance(op, GW):
        for col in range(op.ncols):
            yield Command(-1, Kind.GWRITE, channel, -1, -1, -1, -1, col), None
    elif isinstance(op, ROW):
        for r in ranks:
            yield Command(-1, Kind.GACT, channel, r, -1, -1, op.row, -1), None
        for i in range(op.ncols):
            kind = Kind.MACL if (i + 1) % op.latch == 0 else Kind.MAC
            for r in ranks:
                yield Command(-1, kind, channel, r, -1, -1, op.row, i), None
        for r in ranks:
            yield Command(-1, Kind.PREA, channel, r, -1, -1, -1, -1), None
    elif isinstance(op, RR):
        for slot in range(op.n):
            for r in ranks:
                yield Command(-1, Kind.READRES, channel, r, -1, -1, -1, slot), None
    elif isinstance(op, (RD, WR)):
        r, g, b = geo.bank_address(op.bank)
        kind = Kind.RD if isinstance(op, RD) else Kind.WR
        first = op.col
        yield Command(-1, Kind.ACT, channel, r, g, b, op.row, -1), None
        for i in range(op.ncols):
            yield Command(-1, kind, channel, r, g, b, op.row, first + i), None
        yield Command(-1, Kind.PRE, channel, r, g, b, -1, -1), None
    elif isinstance(op, VW):
        for r in ranks:
            yield Command(-1, Kind.GACT, channel, r, -1, -1, op.row, -1), None
        for bank, h, j in op.writes:
            r, g, b = geo.bank_address(bank)
            yield Command(-1, Kind.WR, channel, r, g, b, op.row, op.col), (bank, h, j)
        for r in ranks:
            yield Command(-1, Kind.PREA, channel, r, -1, -1, -1, -1), None
    else:
        raise TypeError(f"unknown PIM operation {op!r}")
