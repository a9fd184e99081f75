"""The per-bank PIM MAC unit (Amaranth 0.5): BF16 products, FP32 adder tree, FP32
accumulator, latched span results; bit for bit :func:`sparseforge.sim.pim.mac.mac_column`
and the span semantics of :func:`sparseforge.sim.pim.mac.span_dot`.

Pipeline (``L = lanes``, a power of two; latency
:func:`sparseforge.sim.pim.units.mac_latency`)::

    column (L x w, L x x, last) --> [L x bf16_mul] --reg--> [tree level 1: L/2 fadd] --reg-->
        ... --> [tree level log2 L: 1 fadd] --reg--> [acc + tree: 1 fadd] --> acc reg
                                                                          \\-> result reg (last)

The accumulator add is a single-cycle stage looping on the accumulator register, so a
column per cycle chains through it in order (the golden sum order is kept; no
re-association).  A column flagged ``last`` writes ``acc + tree`` into the result
register (the output stream) and restarts the accumulator at +0.

Handshake: every stage advances together when ``en``; ``en`` is low only when the
tree's last stage holds a ``last`` column and the result register is still full and
not being read (``o.valid & ~o.ready``): non-latching columns keep flowing while the
output waits.  ``i.ready = en``.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from sparseforge.pim_units import MAC_II, mac_latency

from . import fp
from .asic import pipeline_valid
from .pipe import Pipe, Timed

__all__ = ["PimMacUnit", "column_layout"]


def column_layout(lanes: int) -> data.StructLayout:
    """The input payload: ``w`` (lanes x 16-bit BF16, bits ``[16 lanes - 1 : 0]``, lane
    0 lowest), ``x`` (the same, next ``16 lanes`` bits), ``last`` (1 bit, on top)."""
    mac_latency(lanes)  # validates lanes
    return data.StructLayout({"w": data.ArrayLayout(16, lanes),
                              "x": data.ArrayLayout(16, lanes), "last": 1})


class PimMacUnit(wiring.Component):
    """One bank's MAC unit.

    Parameters
    ----------
    lanes : int
        BF16 pairs per column (a power of two, >= 1; 16 on GDDR6).

    Attributes
    ----------
    i : In(stream.Signature(column_layout(lanes)))
        One column per handshake.
    o : Out(stream.Signature(32))
        The FP32 result of each span (the accumulator after its ``last`` column).
    latency : int
        :func:`sparseforge.sim.pim.units.mac_latency` ``(lanes)``.
    """

    def __init__(self, lanes: int):
        self.lanes = lanes
        self.latency = mac_latency(lanes)
        if MAC_II != 1:
            raise ValueError(f"PimMacUnit: the RTL is II = 1, sim/pim/units.py says {MAC_II}")
        super().__init__({"i": In(stream.Signature(column_layout(lanes))),
                          "o": Out(stream.Signature(32))})

    def elaborate(self, platform):
        m = Module()
        en = Signal()
        p = Pipe(m, en)
        col = self.i.payload
        level = [p.op(lambda mm, w, x, n=n: fp.bf16_mul(mm, w, x, f"prod{n}"),
                      Timed(col.w[n], 0), Timed(col.x[n], 0), name=f"prod{n}_q")
                 for n in range(self.lanes)]
        depth = 0
        while len(level) > 1:  # neighbours first, one registered level at a time
            depth += 1
            level = [p.op(lambda mm, a, b, d=depth, n=n: fp.fadd(mm, a, b, f"t{d}_{n}"),
                          level[2 * n], level[2 * n + 1], name=f"t{depth}_{n}_q")
                     for n in range(len(level) // 2)]
        tree = level[0]
        stages = tree.stage
        last = p.at(Timed(col.last, 0), stages)
        valid = pipeline_valid(m, en, self.i.valid, stages)
        if stages + 1 != self.latency:
            raise AssertionError(f"PimMacUnit({self.lanes}): {stages + 1} stages, "
                                 f"sim/pim/units.py says {self.latency}")

        acc = Signal(32, name="acc")
        total = fp.fadd(m, acc, tree.value, "acc_add")
        m.d.comb += [en.eq(~(valid & last & self.o.valid & ~self.o.ready)),
                     self.i.ready.eq(en)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(en & valid):
            with m.If(last):
                m.d.sync += [self.o.payload.eq(total), self.o.valid.eq(1),
                             acc.eq(Const(0, 32))]
            with m.Else():
                m.d.sync += acc.eq(total)
        return m
