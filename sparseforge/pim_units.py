"""The PIM datapath's contract, in the core so that ``hwgen`` and ``sim`` both read it.

One fact, one place:

* the RTL units' latency and initiation interval (:class:`Unit`, :data:`ASIC_UNITS`,
  :func:`mac_latency`, :data:`MAC_II`): the RTL builders (:mod:`sparseforge.hwgen.pim`)
  assert that the pipelines they build have exactly these latencies, the cocotb benches
  measure them, and the timing model of the simulator reads them;
* the ASIC's FP32 constants (:data:`CONSTANTS`, :data:`NR_STEPS`, :data:`EXP_DEGREE`),
  read by the golden functions (:mod:`sparseforge.sim.pimgpt.asic`) and the RTL;
* the default ASIC width (:data:`ASIC_LANES`).

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

__all__ = ["ASIC_LANES", "ASIC_UNITS", "CONSTANTS", "EXP_DEGREE", "MAC_II", "NR_STEPS", "Unit",
           "mac_latency"]


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


#: FP32 constants of the ASIC (name -> bit pattern); each is the FP32 value nearest
#: the real number named in the comment (1/n! and the GELU constants rounded to
#: nearest even), checked in tests against that number.
CONSTANTS = {
    "LOG2E": 0x3FB8AA3B,      # log2(e)
    "LN2_HI": 0x3F318000,     # 0.693359375, 9 significant bits
    "LN2_LO": 0xB95E8083,     # ln 2 - LN2_HI
    "CLAMP": 0x42D00000,      # 104.0
    "C2": 0x3F000000,         # 1/2!
    "C3": 0x3E2AAAAB,         # 1/3!
    "C4": 0x3D2AAAAB,         # 1/4!
    "C5": 0x3C088889,         # 1/5!
    "C6": 0x3AB60B61,         # 1/6!
    "C7": 0x39500D01,         # 1/7!
    "ONE": 0x3F800000,
    "TWO": 0x40000000,
    "HALF": 0x3F000000,
    "THREE_HALFS": 0x3FC00000,
    "SQRT_2_OVER_PI": 0x3F4C422A,  # sqrt(2/pi)
    "GELU_A": 0x3D372713,     # 0.044715
    "RECIP_MAGIC": 0x7EF311C3,
    "RSQRT_MAGIC": 0x5F3759DF,
}

#: Newton–Raphson steps of :func:`recip` and :func:`rsqrt`; degree of exp's polynomial.
NR_STEPS = 3
EXP_DEGREE = 7

#: Default ASIC lanes: 8 channels each deliver one READRES of 16 FP32 results every
#: 2 ns (4 tCK at 0.5 ns: two 32-byte bursts), 64 results per ns together, so an ASIC
#: at 1 GHz needs 64 lanes to take them at the rate they come.  The paper does not
#: say; docs/benchmarks.md sweeps 16 to 256.
ASIC_LANES = 64
