"""Top-N selection of one group of M values, the hardware form of ``sparseforge.nm``.

Combinational: for every element i, ``rank_i`` counts the elements that beat
it — a larger magnitude, or an equal magnitude at a lower index — and i is kept
when ``rank_i < N``.  Exactly N elements are kept (the ranks are a permutation
of 0..M-1).  A compaction network then places the kept elements in ascending
index order: output slot s takes the kept element with s kept elements before
it.  Magnitudes are ``width + 1`` bits, so ``|-128| = 128`` beats 127 exactly
as the golden rule says.  Cost: M·(M-1) magnitude comparators.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["TopN", "compressed_layout"]


def compressed_layout(n: int, m: int, width: int) -> data.StructLayout:
    """N values (signed ``width`` bits) and N indices (``log2 m`` bits), ascending index."""
    return data.StructLayout({
        "values": data.ArrayLayout(signed(width), n),
        "idx": data.ArrayLayout(unsigned(m.bit_length() - 1), n),
    })


class TopN(wiring.Component):
    """Combinational N-of-M magnitude selection with the lower-index tie rule.

    Ports
    -----
    group : In(ArrayLayout(signed(width), m))
        The M dense values of one group.
    out : Out(compressed_layout(n, m, width))
        The kept values and their in-group indices, ascending index.
    keep : Out(m)
        Keep mask (bit i set when element i is kept).
    """

    def __init__(self, n: int, m: int, width: int):
        self._n, self._m, self._width = n, m, width
        super().__init__({
            "group": In(data.ArrayLayout(signed(width), m)),
            "out": Out(compressed_layout(n, m, width)),
            "keep": Out(m),
        })

    def elaborate(self, platform):
        n, mm, width = self._n, self._m, self._width
        m = Module()
        mags = []
        for i in range(mm):
            mag = Signal(unsigned(width + 1), name=f"mag{i}")
            m.d.comb += mag.eq(abs(self.group[i]))
            mags.append(mag)
        keep_bits = []
        for i in range(mm):
            beaten_by = []
            for j in range(mm):
                if j == i:
                    continue
                beats = (mags[j] > mags[i]) if j > i else (mags[j] >= mags[i])
                beaten_by.append(beats)
            rank = Signal(range(mm), name=f"rank{i}")
            m.d.comb += rank.eq(sum(b.as_unsigned() for b in beaten_by) if beaten_by else 0)
            keep_bits.append(rank < n)
        keep = Signal(mm)
        m.d.comb += keep.eq(sum(bit.as_unsigned() << i for i, bit in enumerate(keep_bits)))
        m.d.comb += self.keep.eq(keep)
        # prefix[i] = kept elements with index < i
        prefixes = []
        for i in range(mm):
            prefix = Signal(range(mm + 1), name=f"prefix{i}")
            m.d.comb += prefix.eq(sum(keep[j].as_unsigned() for j in range(i)) if i else 0)
            prefixes.append(prefix)
        for s in range(n):
            value, index = 0, 0
            for i in range(mm):
                hit = keep[i] & (prefixes[i] == s)  # one-hot over i for each slot s
                value = value | Mux(hit, self.group[i].as_unsigned(), 0)
                index = index | Mux(hit, i, 0)
            m.d.comb += [
                self.out.values[s].eq(value),
                self.out.idx[s].eq(index),
            ]
        return m
