"""The PIM-GPT ASIC's special-function operators as pipelined stream units (Amaranth 0.5).

:class:`AsicUnit` wraps one function of :data:`FUNCTIONS` (``exp``, ``recip``,
``rsqrt``, ``gelu``, and the plain FP32 ``add`` / ``mul`` of the vector lanes) in a
fully pipelined datapath with an input and an output stream
(:class:`amaranth.lib.stream.Signature`): one element accepted per cycle, every
result bit for bit the golden function of :mod:`sparseforge.sim.pimgpt.asic` (or
:func:`~sparseforge.sim.pim.fp.fadd` / :func:`~sparseforge.sim.pim.fp.fmul`).  Each FP32
add or multiply is one pipeline stage; exact bit operations share a stage with the
operation they feed.  The latency the pipeline builder counts is asserted against
:data:`sparseforge.sim.pim.units.ASIC_UNITS`.

Handshake: every register advances together when ``en = ~o.valid | o.ready`` (the
output register is empty or being emptied); ``i.ready = en``.  So ``o.ready`` low holds
the whole pipeline, and a result is never dropped or duplicated.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from sparseforge.pim_units import ASIC_UNITS, CONSTANTS, EXP_DEGREE, NR_STEPS

from . import fp
from .pipe import Pipe, Timed

__all__ = ["FUNCTIONS", "AsicUnit", "build_exp", "build_gelu", "build_recip",
           "build_rsqrt", "pipeline_valid"]

_K = CONSTANTS
_SIGN = 0x80000000
# exp's range-reduction integer: |CLAMP * LOG2E| < 2^_EXP_K_BITS (checked below)
_EXP_K_BITS = 8


def _is_nan(x):
    return (x[23:31] == 255) & (x[:23] != 0)


def _mantissa(x, field: int):
    """FP32 with ``x``'s fraction and the exponent field ``field`` (sign +)."""
    return Cat(x[:23], Const(field, 8), Const(0, 1))


# ------------------------------------------------------------------------------ exp


def _exp_clamp(m: Module, x):
    """ftz(x) clamped to [-CLAMP, CLAMP] (NaN passes: the result is replaced later)."""
    xf = fp.f32_ftz(x)
    over = (xf[:31] > _K["CLAMP"]) & ~_is_nan(xf)
    return Mux(over, Cat(Const(_K["CLAMP"], 31), xf[31]), xf)


def build_exp(p: Pipe, x: Timed) -> Timed:
    """exp of FP32 ``x`` (32 bits) as :func:`sparseforge.sim.pimgpt.asic.exp`; 20 stages.

    Stages: clamp and ``t = xc * LOG2E``; ``k = rint(t)`` (10-bit signed) and
    ``kf = float(k)``; ``kf * -LN2_HI`` and ``kf * -LN2_LO`` side by side; two adds
    (``r``); 7 Horner multiply/add pairs; ``2^k`` added to the exponent field and the
    NaN override.
    """
    clamp = fp.bits_value(_K["CLAMP"]) * fp.bits_value(_K["LOG2E"])
    if not abs(clamp) < 2 ** _EXP_K_BITS - 1:
        raise ValueError(f"exp: CLAMP * LOG2E = {clamp} needs more than {_EXP_K_BITS} bits")
    if EXP_DEGREE != 7:
        raise ValueError(f"exp: the golden polynomial has degree {EXP_DEGREE}; the RTL 7")
    xc = p.op(_exp_clamp, x, reg=False)
    t = p.op(lambda m, a: fp.fmul(m, a, Const(_K["LOG2E"], 32), "exp_t"), xc)

    def reduce(m, tt):
        k = fp.rint(m, tt, _EXP_K_BITS, "exp_k")
        return Cat(fp.int_to_f32(m, k, "exp_kf"), k)

    kk = p.op(reduce, t, name="exp_kkf")
    kf, k = p.slice(kk, 0, 32), p.slice(kk, 32, 32 + _EXP_K_BITS + 2)
    hi = p.op(lambda m, a: fp.fmul(m, a, Const(_K["LN2_HI"] ^ _SIGN, 32), "exp_hi"), kf)
    lo = p.op(lambda m, a: fp.fmul(m, a, Const(_K["LN2_LO"] ^ _SIGN, 32), "exp_lo"), kf)
    r = p.op(lambda m, a, b: fp.fadd(m, a, b, "exp_r1"), xc, hi)
    r = p.op(lambda m, a, b: fp.fadd(m, a, b, "exp_r"), r, lo)
    poly = p.const(_K["C7"])
    for c in ("C6", "C5", "C4", "C3", "C2", "ONE", "ONE"):
        poly = p.op(lambda m, a, b: fp.fmul(m, a, b, "exp_pm"), poly, r)
        poly = p.op(lambda m, a, c=c: fp.fadd(m, a, Const(_K[c], 32), "exp_pa"), poly)

    def finish(m, pp, kv, xv):
        out = fp.scale_exponent(m, pp, kv.as_signed(), "exp_scale")
        return Mux(_is_nan(xv), fp.F32_NAN, out)

    return p.op(finish, poly, k, x, name="exp_out")


# ---------------------------------------------------------------------- recip, rsqrt


def build_recip(p: Pipe, x: Timed) -> Timed:
    """1/x of FP32 ``x`` (32 bits) as :func:`sparseforge.sim.pimgpt.asic.recip`; 10
    stages: the magic guess (a 32-bit subtraction) with the first multiply, 3
    Newton–Raphson steps ``y (2 - m y)`` of 3 stages, exponent scaling and the special
    cases."""
    m1 = p.op(lambda m, v: _mantissa(v, 127), x, reg=False)
    y = p.op(lambda m, v: (Const(_K["RECIP_MAGIC"], 32) - v)[:32], m1, reg=False)
    two = p.const(_K["TWO"])
    for _ in range(NR_STEPS):
        q = p.op(lambda m, a, b: fp.fmul(m, a, b, "rc_my"), m1, y)
        s = p.op(lambda m, a, b: fp.fadd(m, a, fp.f32_neg(b), "rc_sub"), two, q)
        y = p.op(lambda m, a, b: fp.fmul(m, a, b, "rc_y"), y, s)

    def finish(m, yv, xv):
        sign, e = xv[31], xv[23:31]
        out = fp.scale_exponent(m, yv, 127 - e, "rc_scale") | Cat(Const(0, 31), sign)
        out = Mux(e == 0, Cat(Const(fp.F32_INF, 31), sign), out)
        out = Mux(e == 255, Cat(Const(0, 31), sign), out)
        return Mux(_is_nan(xv), fp.F32_NAN, out)

    return p.op(finish, y, x, name="rc_out")


def build_rsqrt(p: Pipe, x: Timed) -> Timed:
    """1/sqrt(x) of FP32 ``x`` (32 bits) as :func:`sparseforge.sim.pimgpt.asic.rsqrt`;
    13 stages: ``m4`` (m or 2m: the exponent field 127 or 128, what the golden exact
    ``m * 2`` gives) and ``0.5 m4`` (field one lower), the magic guess, 3 Newton–Raphson
    steps ``y (1.5 - ((0.5 m4) y) y)`` of 4 stages, ``2^-j`` and the special cases."""
    def halves(m, v):
        odd = ~v[23]                        # (e - 127) odd  <=>  e even
        m4 = Mux(odd, _mantissa(v, 128), _mantissa(v, 127))
        half = Mux(odd, _mantissa(v, 127), _mantissa(v, 126))
        y0 = (Const(_K["RSQRT_MAGIC"], 32) - (m4 >> 1))[:32]
        return Cat(half, y0)

    hy = p.op(halves, x, reg=False)
    half, y = p.slice(hy, 0, 32), p.slice(hy, 32, 64)
    three_halfs = p.const(_K["THREE_HALFS"])
    for _ in range(NR_STEPS):
        a = p.op(lambda m, u, v: fp.fmul(m, u, v, "rs_hy"), half, y)
        b = p.op(lambda m, u, v: fp.fmul(m, u, v, "rs_hyy"), a, y)
        c = p.op(lambda m, u, v: fp.fadd(m, u, fp.f32_neg(v), "rs_sub"), three_halfs, b)
        y = p.op(lambda m, u, v: fp.fmul(m, u, v, "rs_y"), y, c)

    def finish(m, yv, xv):
        sign, e = xv[31], xv[23:31]
        odd = ~e[0]
        j = Signal(range(-65, 66), name="rs_j")
        m.d.comb += j.eq((e - 127 - odd) >> 1)
        out = fp.scale_exponent(m, yv, -j, "rs_scale")
        out = Mux(e == 0, Cat(Const(fp.F32_INF, 31), sign), out)
        out = Mux((e == 255) & ~sign, 0, out)
        return Mux(_is_nan(xv) | (sign & (e != 0)), fp.F32_NAN, out)

    return p.op(finish, y, x, name="rs_out")


# ------------------------------------------------------------------------------- gelu


def build_gelu(p: Pipe, x: Timed) -> Timed:
    """GELU of FP32 ``x`` (32 bits) as :func:`sparseforge.sim.pimgpt.asic.gelu`,
    ``x * recip(1 + exp(v))``; 38 stages in the golden order: ``x2 = x x``,
    ``x3 = x2 x``, ``t = GELU_A x3``, ``s = x + t``, ``u = SQRT_2_OVER_PI s``,
    ``v = (-2) u`` (a full multiply: its flush / overflow rules) (6);
    :func:`build_exp` (20); ``d = 1 + e`` (1); :func:`build_recip` (10); ``y = x r`` (1).
    """
    def mul(name, a, b):
        return p.op(lambda m, u, v: fp.fmul(m, u, v, name), a, b)

    def add(name, a, b):
        return p.op(lambda m, u, v: fp.fadd(m, u, v, name), a, b)

    c = {k: p.const(_K[k]) for k in ("GELU_A", "SQRT_2_OVER_PI", "ONE")}
    minus_two = p.const(_K["TWO"] ^ _SIGN)
    x3 = mul("ge_x3", mul("ge_x2", x, x), x)
    s = add("ge_s", x, mul("ge_ax3", c["GELU_A"], x3))
    v = mul("ge_v", minus_two, mul("ge_u", c["SQRT_2_OVER_PI"], s))
    d = add("ge_d", c["ONE"], build_exp(p, v))
    return mul("ge_out", x, build_recip(p, d))  # x: delayed 37 stages by the builder


def _build_add(p: Pipe, ab: Timed) -> Timed:
    return p.op(lambda m, v: fp.fadd(m, v[:32], v[32:64], "add"), ab, name="add_out")


def _build_mul(p: Pipe, ab: Timed) -> Timed:
    return p.op(lambda m, v: fp.fmul(m, v[:32], v[32:64], "mul"), ab, name="mul_out")


#: function name -> (input payload bits, builder).  ``add`` / ``mul`` take two FP32
#: operands: ``a`` in bits [31:0], ``b`` in [63:32].
FUNCTIONS = {
    "exp": (32, build_exp),
    "recip": (32, build_recip),
    "rsqrt": (32, build_rsqrt),
    "gelu": (32, build_gelu),
    "add": (64, _build_add),
    "mul": (64, _build_mul),
}


def pipeline_valid(m: Module, en, valid_in, latency: int):
    """The valid bits of a ``latency``-stage pipeline enabled by ``en``: returns the
    last stage's valid (1 bit, a register)."""
    v = valid_in
    for s in range(latency):
        reg = Signal(name=f"valid_{s + 1}")
        with m.If(en):
            m.d.sync += reg.eq(v)
        v = reg
    return v


class AsicUnit(wiring.Component):
    """One ASIC function as a fully pipelined stream unit (II = 1).

    Parameters
    ----------
    function : str
        One of :data:`FUNCTIONS`.

    Attributes
    ----------
    i : In(stream.Signature(32 or 64))
        The operand (FP32), or ``{a [31:0], b [63:32]}`` for ``add`` / ``mul``.
    o : Out(stream.Signature(32))
        The FP32 result, in input order, ``latency`` cycles after the input when the
        output never stalls.
    latency : int
        :data:`sparseforge.sim.pim.units.ASIC_UNITS` ``[function].latency``.
    """

    def __init__(self, function: str):
        if function not in FUNCTIONS:
            raise ValueError(f"AsicUnit: function {function!r}; allowed: "
                             f"{', '.join(FUNCTIONS)}")
        self.function = function
        self.latency = ASIC_UNITS[function].latency
        if ASIC_UNITS[function].ii != 1:
            raise ValueError(f"AsicUnit {function}: the RTL is II = 1, the table says "
                             f"{ASIC_UNITS[function].ii}")
        width = FUNCTIONS[function][0]
        super().__init__({"i": In(stream.Signature(width)), "o": Out(stream.Signature(32))})

    def elaborate(self, platform):
        m = Module()
        en = Signal()
        m.d.comb += [en.eq(~self.o.valid | self.o.ready), self.i.ready.eq(en)]
        p = Pipe(m, en)
        out = FUNCTIONS[self.function][1](p, Timed(self.i.payload, 0))
        if out.stage != self.latency:
            raise AssertionError(f"AsicUnit {self.function}: the pipeline has {out.stage} "
                                 f"stages, sim/pim/units.py says {self.latency}")
        m.d.comb += [self.o.payload.eq(out.value),
                     self.o.valid.eq(pipeline_valid(m, en, self.i.valid, self.latency))]
        return m
