"""Double-buffered, port-banked on-chip operand buffer (``amaranth.lib.memory``).

A buffer of records (one record: ``words`` AXI words of ``word_bits`` bits) in two
**banks** (one is filled from memory while the other feeds the datapath) and
``sub_banks`` **sub-banks** per bank: sub-bank ``p`` holds the records that arrive on
memory port ``p``, so every port writes one word a cycle into its own memory and no
two ports ever contend for a write port.  Reads take one record a cycle from the
sub-bank the reader names (all sub-banks see the same read address; the output is
the named one's record, one cycle after the read).

Each sub-bank is one :class:`amaranth.lib.memory.Memory` of ``2 * depth`` entries
(bank ``b``'s record ``i`` at entry ``b * depth + i``), ``words * word_bits`` wide,
written a word at a time (write granularity ``word_bits``): synthesis maps it to
block RAM (BRAM36 / URAM on UltraScale+).  Used by the SAT kernel
(``hwgen/sat/kernel.py``) for its A and B operands; made for any kernel that keeps
operand blocks on chip (FlightLLM's activation buffer).

Ports
-----
w_en[p], w_bank[p], w_addr[p], w_word[p], w_data[p] : In
    Sub-bank ``p``'s write: word ``w_word`` of record ``w_addr`` of bank ``w_bank``.
r_en, r_bank, r_addr, r_sub : In
    Read record ``r_addr`` of bank ``r_bank`` from sub-bank ``r_sub``.
r_data : Out(words * word_bits)
    The record read, the cycle after ``r_en``; held while ``r_en`` is low.
"""

from __future__ import annotations

from amaranth import Elaboratable, Module, Mux, Signal, unsigned
from amaranth.lib.memory import Memory

__all__ = ["OperandBuffer"]


class OperandBuffer(Elaboratable):
    """``2 x sub_banks x depth`` records of ``words`` words (see the module docstring).

    Parameters
    ----------
    words : int
        AXI words per record (>= 1).
    word_bits : int
        Bits per AXI word.
    sub_banks : int
        Sub-banks, one per memory port (>= 1).
    depth : int
        Records per sub-bank per bank (>= 1).
    """

    def __init__(self, words: int, word_bits: int, sub_banks: int, depth: int):
        for name, v in (("words", words), ("word_bits", word_bits),
                        ("sub_banks", sub_banks), ("depth", depth)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} = {v!r}; allowed: an integer >= 1")
        self.words, self.word_bits, self.sub_banks, self.depth = words, word_bits, sub_banks, depth
        P = sub_banks
        self.w_en = [Signal(name=f"w_en{p}") for p in range(P)]
        self.w_bank = [Signal(name=f"w_bank{p}") for p in range(P)]
        self.w_addr = [Signal(range(depth), name=f"w_addr{p}") for p in range(P)]
        self.w_word = [Signal(range(max(words, 2)), name=f"w_word{p}") for p in range(P)]
        self.w_data = [Signal(word_bits, name=f"w_data{p}") for p in range(P)]
        self.r_en = Signal()
        self.r_bank = Signal()
        self.r_addr = Signal(range(depth))
        self.r_sub = Signal(range(max(P, 2)))
        self.r_data = Signal(words * word_bits)

    def elaborate(self, platform):
        m = Module()
        P, D, W = self.sub_banks, self.depth, self.words
        outs = []
        for p in range(P):
            mem = Memory(shape=unsigned(W * self.word_bits), depth=2 * D, init=[])
            m.submodules[f"sub{p}"] = mem
            wp = mem.write_port(granularity=self.word_bits)
            rp = mem.read_port()
            m.d.comb += [
                wp.addr.eq(Mux(self.w_bank[p], D, 0) + self.w_addr[p]),
                wp.data.eq(self.w_data[p].replicate(W)),
                rp.addr.eq(Mux(self.r_bank, D, 0) + self.r_addr),
                rp.en.eq(self.r_en),
            ]
            if W == 1:
                m.d.comb += wp.en.eq(self.w_en[p])
            else:
                for w in range(W):
                    m.d.comb += wp.en[w].eq(self.w_en[p] & (self.w_word[p] == w))
            outs.append(rp.data)
        if P == 1:
            m.d.comb += self.r_data.eq(outs[0])
        else:
            sel = Signal(range(P))  # the sub-bank of the read in flight
            with m.If(self.r_en):
                m.d.sync += sel.eq(self.r_sub)
            with m.Switch(sel):
                for p in range(P):
                    with m.Case(p):
                        m.d.comb += self.r_data.eq(outs[p])
        return m
