"""Sparse weight generator (SAT's sparse online reduction engine).

Streams dense weights in and N:M-compressed groups out, with the selection
rule of :mod:`sparseforge.nm` (top-N magnitudes, lower index wins ties),
one group per cycle.

* **Row-wise** (``colwise = 0``): each input beat is one group — M
  consecutive weights of a row of ``W[out, in]`` — and yields its compressed
  group one cycle later.
* **Column-wise** (``colwise = 1``): each input beat is M consecutive weights
  of one row; M beats (rows ``r .. r+M-1`` of the same M columns) fill an
  M x M transpose buffer, which then yields M groups, one per column, in
  column order.  Two buffers alternate, so filling the next block overlaps
  emitting the current one: sustained throughput one beat in, one group out
  per cycle.

``colwise`` must only change while the generator is empty (``busy`` low).
"""

from __future__ import annotations

from amaranth import Array, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .topn import TopN, compressed_layout

__all__ = ["SparseWeightGenerator"]


class SparseWeightGenerator(wiring.Component):
    """Dense groups in, N:M-compressed groups out.

    Parameters
    ----------
    n, m : int
        N:M (m a power of two up to 32).
    width : int
        Signed weight width, bits.

    Ports
    -----
    colwise : In(1)
        0: row-wise groups; 1: column-wise groups through the transpose buffer.
    inp : In(stream.Signature(ArrayLayout(signed(width), m)))
    out : Out(stream.Signature(compressed_layout(n, m, width)))
    busy : Out(1)
        Data held inside (a transpose buffer filling or full, or an output pending).
    """

    def __init__(self, n: int, m: int, width: int):
        self._n, self._m, self._width = n, m, width
        group = data.ArrayLayout(signed(width), m)
        super().__init__({
            "colwise": In(1),
            "inp": In(stream.Signature(group)),
            "out": Out(stream.Signature(compressed_layout(n, m, width))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        n, mm, width = self._n, self._m, self._width
        m = Module()
        m.submodules.topn = topn = TopN(n, mm, width)
        group = data.ArrayLayout(signed(width), mm)

        can_load = Signal()  # the output register is free (or being emptied) this cycle
        m.d.comb += can_load.eq(~self.out.valid | self.out.ready)
        with m.If(self.out.ready):
            m.d.sync += self.out.valid.eq(0)

        # transpose buffers: banks[b][r] is row r of bank b
        # data registers (the banks, the output group) are reset-less: only read under
        # the reset flags full / out.valid
        banks = [[Signal(group, name=f"bank{b}_row{r}", reset_less=True) for r in range(mm)]
                 for b in range(2)]
        out_q = Signal(compressed_layout(n, mm, width), reset_less=True)
        m.d.comb += self.out.payload.eq(out_q)
        full = Signal(2)
        fill_bank = Signal()
        fill_row = Signal(range(mm))
        emit_bank = Signal()
        emit_col = Signal(range(mm))

        column = Signal(group)
        for r in range(mm):
            rows = Array(banks[b][r] for b in range(2))
            m.d.comb += column[r].eq(rows[emit_bank][emit_col])

        with m.If(~self.colwise):
            m.d.comb += [
                topn.group.eq(self.inp.payload),
                self.inp.ready.eq(can_load),
            ]
            with m.If(self.inp.valid & can_load):
                m.d.sync += [out_q.eq(topn.out), self.out.valid.eq(1)]
        with m.Else():
            fill_full = Mux(fill_bank, full[1], full[0])
            m.d.comb += self.inp.ready.eq(~fill_full)
            with m.If(self.inp.valid & ~fill_full):
                for b in range(2):
                    for r in range(mm):
                        with m.If((fill_bank == b) & (fill_row == r)):
                            m.d.sync += banks[b][r].eq(self.inp.payload)
                m.d.sync += fill_row.eq(fill_row + 1)
                with m.If(fill_row == mm - 1):
                    m.d.sync += [fill_row.eq(0), fill_bank.eq(~fill_bank)]
            emit_full = Mux(emit_bank, full[1], full[0])
            m.d.comb += topn.group.eq(column)
            with m.If(emit_full & can_load):
                m.d.sync += [out_q.eq(topn.out), self.out.valid.eq(1),
                             emit_col.eq(emit_col + 1)]
                with m.If(emit_col == mm - 1):
                    m.d.sync += [emit_col.eq(0), emit_bank.eq(~emit_bank)]
            # full flags: set when a bank's last row arrives, cleared after its last column
            for b in range(2):
                set_b = (self.inp.valid & ~fill_full & (fill_row == mm - 1) & (fill_bank == b))
                clr_b = (emit_full & can_load & (emit_col == mm - 1) & (emit_bank == b))
                with m.If(set_b):
                    m.d.sync += full[b].eq(1)
                with m.Elif(clr_b):
                    m.d.sync += full[b].eq(0)

        m.d.comb += self.busy.eq(self.out.valid | full.any() | (fill_row != 0))
        return m
