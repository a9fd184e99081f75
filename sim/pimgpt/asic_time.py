"""Cycles of the ASIC's steps (ASIC clock), from its operators' pipelines.

The ASIC has ``A`` lanes; each lane has one pipelined unit of every operator of
:data:`sparseforge.sim.pim.units.ASIC_UNITS` (latency ``lat``, one element per cycle).
The cost of a step follows the order of the golden functions
(:mod:`sparseforge.sim.pimgpt.asic`):

* an elementwise **pass** over ``n`` elements through operators ``f1 .. fk`` (chained,
  one pipeline): ``ceil(n / A) - 1 + lat(f1) + ... + lat(fk)``;
* a **reduction** of ``b`` vectors of ``n`` elements: each lane adds its elements in
  order, one add in flight per vector, so a lane needs ``max(b, lat(add))`` cycles per
  element step: ``max(b, lat(add)) ceil(n / A)``, then the ``log2 A`` tree levels
  ``(b - 1) + log2(A) lat(add)``;
* partial sums: a GEMV whose input had ``s`` spans needs ``(s - 1) n`` adds, charged as
  a pass after the PIM phase (not overlapped with it: an upper bound).

Every step's formula is in :func:`asic_cycles`; docs/designs/pimgpt.md lists them.
"""

from __future__ import annotations

from math import ceil

from sparseforge.pim_units import ASIC_LANES, ASIC_UNITS

__all__ = ["ASIC_LANES", "asic_cycles"]



def _lat(*names: str) -> int:
    return sum(ASIC_UNITS[n].latency for n in names)


def _pass(n: int, lanes: int, *ops: str) -> int:
    if n <= 0:
        return 0
    return ceil(n / lanes) - 1 + _lat(*ops)


def _reduce(n: int, lanes: int, batch: int = 1) -> int:
    la = ASIC_UNITS["add"].latency
    levels = lanes.bit_length() - 1
    return max(batch, la) * ceil(n / lanes) + (batch - 1) + levels * la


def _partials(n: int, spans: int, lanes: int) -> int:
    return _pass((spans - 1) * n, lanes, "add") if spans > 1 else 0


def asic_cycles(op: str, args: dict, lanes: int) -> int:
    """ASIC cycles of one step (``op`` and ``args`` of a
    :class:`sparseforge.sim.pimgpt.program.Asic`)."""
    a = lanes
    if op == "embed":
        return _pass(args["n"], a, "add")
    if op == "layernorm":
        n = args["n"]
        return (_reduce(n, a) + _lat("mul")  # mean
                + _lat("add", "mul") + _reduce(n, a) + _lat("mul")  # c, c*c, variance
                + _lat("add", "rsqrt")  # + eps, 1/sqrt
                + _pass(n, a, "mul", "mul", "add"))  # (c * inv) * g + b
    if op == "bias":
        return _partials(args["n"], args["spans"], a) + _pass(args["n"], a, "add")
    if op == "residual":
        return _partials(args["n"], args["spans"], a) + _pass(args["n"], a, "add", "add")
    if op == "bias_gelu":
        return _partials(args["n"], args["spans"], a) + _pass(args["n"], a, "add", "gelu")
    if op == "softmax":
        h, ctx = args["heads"], args["ctx"]
        n = h * ctx
        return (_pass(n, a, "mul")  # the 1/sqrt(dh) scale
                + ceil(n / a) + (a.bit_length() - 1)  # running max, one compare a cycle
                + _pass(n, a, "add", "exp")  # exp(s - max)
                + _reduce(ctx, a, batch=h)  # the sums
                + _pass(h, a, "recip")
                + _pass(n, a, "mul"))
    if op == "gather_v":
        return _partials(args["n"], args["tiles"], a) + _pass(args["n"], a, "add")
    if op == "argmax":
        return _partials(args["n"], args["spans"], a) + ceil(args["n"] / a) + \
            (a.bit_length() - 1)
    raise ValueError(f"unknown ASIC step {op!r}")
