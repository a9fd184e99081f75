"""Sparse processing element of the SAT array (output-stationary).

See ``docs/designs/sat.md``.  Per valid beat::

    sparse:  acc <- (first ? 0 : acc) + sum_{k<N} a[idx_k] * w_k
    dense:   acc <- (first ? 0 : acc) + sum_{k<N} a[k]     * w_k

and when ``last`` is set the new sum is also copied to ``result``.  A, its
control bits and B are registered and passed on (A right, B down), so the PE
is one stage of the systolic pipeline.  Everything holds while ``enable`` is
low (global freeze under back-pressure).

Reset: only the control bits (``ctl_out``: ``valid`` above all) are reset.  The
datapath registers (``a_out``, ``b_out``, the accumulator and ``result``) are
reset-less: a value is only used where a valid beat put it (the accumulator is
restarted by ``first``, ``result`` is read when a ``last`` beat leaves), so their
contents after reset do not matter, and the reset net does not reach them.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from sparseforge.families.sat.config import SatConfig

__all__ = ["BeatControl", "SparsePE", "a_layout", "b_layout"]

#: Control bits that travel with every beat (rightwards, with A); ``parity`` is the
#: tile's sequence number modulo 2 (which result FIFO its rows go to).
BeatControl = data.StructLayout({"valid": 1, "first": 1, "last": 1, "sparse": 1,
                                 "parity": 1})


def a_layout(cfg: SatConfig) -> data.ArrayLayout:
    """One PE row's A operand per step: M signed values (dense mode uses the first N)."""
    return data.ArrayLayout(signed(cfg.width), cfg.m)


def b_layout(cfg: SatConfig) -> data.StructLayout:
    """One PE column's B operand per step: N values and their in-group indices."""
    return data.StructLayout({
        "w": data.ArrayLayout(signed(cfg.width), cfg.n),
        "idx": data.ArrayLayout(unsigned(cfg.index_bits), cfg.n),
    })


class SparsePE(wiring.Component):
    """One sparse PE.

    Ports
    -----
    enable : In(1)
        Global advance; all state holds while low.
    a_in, ctl_in : In
        A group (``M x width`` bits) and its :data:`BeatControl`.
    b_in : In
        B values (``N x width``) and indices (``N x log2 M``).
    a_out, ctl_out, b_out : Out
        The inputs, registered (latency 1 cycle).
    result : Out(signed(acc_bits))
        Sum of the last completed tile.
    """

    def __init__(self, cfg: SatConfig):
        self._cfg = cfg
        super().__init__({
            "enable": In(1),
            "a_in": In(a_layout(cfg)),
            "ctl_in": In(BeatControl),
            "b_in": In(b_layout(cfg)),
            "a_out": Out(a_layout(cfg)),
            "ctl_out": Out(BeatControl),
            "b_out": Out(b_layout(cfg)),
            "result": Out(signed(cfg.acc_bits)),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        # datapath registers: reset-less (see the module docstring)
        acc = Signal(signed(cfg.acc_bits), reset_less=True)
        a_q = Signal(a_layout(cfg), reset_less=True)
        b_q = Signal(b_layout(cfg), reset_less=True)
        result = Signal(signed(cfg.acc_bits), reset_less=True)
        m.d.comb += [self.a_out.eq(a_q), self.b_out.eq(b_q), self.result.eq(result)]
        products = []
        for k in range(cfg.n):
            selected = Mux(self.ctl_in.sparse, self.a_in[self.b_in.idx[k]], self.a_in[k])
            product = Signal(signed(2 * cfg.width), name=f"product{k}")
            m.d.comb += product.eq(selected * self.b_in.w[k])
            products.append(product)
        dot = Signal(signed(2 * cfg.width + max(cfg.n - 1, 0).bit_length()))
        m.d.comb += dot.eq(sum(products))
        acc_next = Signal(signed(cfg.acc_bits))
        m.d.comb += acc_next.eq(Mux(self.ctl_in.first, 0, acc) + dot)  # wraps to acc_bits
        with m.If(self.enable):
            m.d.sync += [a_q.eq(self.a_in), self.ctl_out.eq(self.ctl_in), b_q.eq(self.b_in)]
            with m.If(self.ctl_in.valid):
                m.d.sync += acc.eq(acc_next)
                with m.If(self.ctl_in.last):
                    m.d.sync += result.eq(acc_next)
        return m
