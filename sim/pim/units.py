"""Latency and initiation interval of the PIM datapath's RTL units (no Amaranth here).

One fact, one place: the RTL builders (:mod:`sparseforge.hwgen.pim`) assert that the
pipelines they build have exactly these latencies, the cocotb benches measure them,
and the timing model of the simulator reads them.

*Latency*: with no stalls, an input accepted (``valid & ready``) at the clock edge
ending cycle ``c`` makes its result ``valid`` at the output during cycle
``c + latency``.  For the MAC unit, the result is the accumulator updated by that
column (visible at the output when the column is the last of a span).
*II* (initiation interval): cycles between accepted inputs at full throughput; 1 for
every unit (all fully pipelined).

Microarchitecture (docs/designs/pim_rtl.md): one FP32 add or multiply per pipeline
stage; cheap bit operations (negation, clamps, exponent-field arithmetic, the
magic-constant subtractions) share a stage with the operation they feed.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ASIC_UNITS", "MAC_II", "Unit", "mac_latency"]


@dataclass(frozen=True)
class Unit:
    """Timing of one pipelined unit: ``latency`` and ``ii`` in cycles (>= 1)."""

    latency: int
    ii: int

    def __post_init__(self):
        for name in ("latency", "ii"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"Unit {name} = {getattr(self, name)}; allowed: >= 1")

    def cycles(self, n: int) -> int:
        """Cycles from the first input accepted to the last of ``n`` results valid, at
        full throughput (``n >= 1``)."""
        if n < 1:
            raise ValueError(f"Unit.cycles: n = {n}; allowed: >= 1")
        return self.latency + (n - 1) * self.ii


#: The ASIC's operators (one element per cycle per lane).  ``add`` / ``mul``: one FP32
#: add or multiply stage; ``exp``: clamp + multiply, rint + int→float, two products,
#: two adds, 7 Horner multiply/add pairs, exponent scaling; ``recip``: 3 Newton–Raphson
#: steps of 3 operations, exponent scaling; ``rsqrt``: 3 steps of 4 operations, exponent
#: scaling; ``gelu`` (``x * recip(1 + exp(-2u))``): 6 operations (``x2``, ``x3``,
#: ``a x3``, ``x + .``, ``u``, ``v = -2 u``), ``exp``, 1 add, ``recip``, 1 multiply.
ASIC_UNITS: dict[str, Unit] = {
    "add": Unit(latency=1, ii=1),
    "mul": Unit(latency=1, ii=1),
    "exp": Unit(latency=20, ii=1),
    "recip": Unit(latency=10, ii=1),
    "rsqrt": Unit(latency=13, ii=1),
    "gelu": Unit(latency=38, ii=1),
}

#: The MAC unit accepts one column per cycle.
MAC_II = 1


def _log2(lanes: int) -> int:
    if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1 \
            or lanes & (lanes - 1):
        raise ValueError(f"lanes = {lanes!r}; allowed: a power of two >= 1")
    return lanes.bit_length() - 1


def mac_latency(lanes: int) -> int:
    """Cycles from a column accepted to the accumulator updated by it being visible at
    the output: 1 (BF16 products) + log2(lanes) (adder-tree levels) + 1 (the
    accumulator add, one cycle, so back-to-back columns chain through it)."""
    return 2 + _log2(lanes)
