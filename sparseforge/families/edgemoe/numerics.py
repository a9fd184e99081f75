"""The Edge-MoE numeric contract: every fixed-point format the design computes in.

The HLS templates declare these types (``typedef`` lines rendered from
:meth:`Numerics.typedefs`) and the golden model (:mod:`sparseforge.sim.edgemoe.golden`)
rounds at the same points with the same modes.  Formats that the config does not
name are derived here from it, with the reason beside each.  See
docs/designs/edgemoe.md, "Numbers: one contract, two implementations".

Only formats and integer parameters live here; tables (GELU, exp) are computed
separately by the generator and by the golden model, each from the formula.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sparseforge.formats import FixedFormat, ap_fixed, ap_ufixed

from .config import EdgeMoEConfig

__all__ = ["EXP_TABLE_LOG2", "LN_EPS", "Numerics"]

#: The exp unit's table of ``2**(j / 2**EXP_TABLE_LOG2)``, ``j = 0 .. 2**EXP_TABLE_LOG2``.
EXP_TABLE_LOG2 = 6

#: LayerNorm epsilon (the public design's value).
LN_EPS = 1e-6


@dataclass(frozen=True)
class Numerics:
    """All formats of one design, derived from an :class:`EdgeMoEConfig`.

    Attributes
    ----------
    act, weight, bias, norm, gelu_table : FixedFormat
        The config's formats.
    acc : FixedFormat
        Linear-unit accumulator, 63 bits, ``F_act + F_weight`` fraction bits: every
        product and sum is exact (wraps only past ``2**(I - 1)``).
    qk_acc : FixedFormat
        Accumulator of ``q . k``, 63 bits, ``2 F_act`` fraction bits.
    av_acc : FixedFormat
        Accumulator of attention x V, 63 bits, ``F_prob + F_act`` fraction bits.
    diff : FixedFormat
        A difference of two activations, exact: one bit more than ``act``.
    scale : FixedFormat
        The attention scale ``1 / sqrt(head_dim)``: ``ap_ufixed<18,1>``.
    exp_arg : FixedFormat
        ``(s - m) * log2(e)``: 32 bits, two integer bits more than ``act``
        (``s - m`` has one more; the factor 1.44 one more).
    log2e : FixedFormat
        The constant ``log2(e)``: ``ap_ufixed<18,1>``.
    exp_table : FixedFormat
        Entries ``2**(j/64)`` in ``[1, 2]``: ``ap_ufixed<25,2>``.
    exp : FixedFormat
        ``e**x`` for ``x <= 0``, in ``(0, 1]``: ``ap_ufixed<24,1>``.
    sum : FixedFormat
        The running softmax sum, at most ``max(tokens, experts)``: 32 bits.
    recip : FixedFormat
        ``1 / S``, in ``(0, 1]``: ``ap_ufixed<24,1>``.
    prob : FixedFormat
        A softmax weight ``e**(s - m) / S`` (attention) or a gate score:
        ``ap_ufixed<24,1>``.
    sq_sum : FixedFormat
        LayerNorm sum of squared deviations, ``ap_ufixed<63,39>`` (24 fraction bits).
    var : FixedFormat
        LayerNorm variance, ``ap_ufixed<48,24>``.
    std : FixedFormat
        ``sqrt(var + eps)``, ``ap_ufixed<32,12>`` (20 fraction bits).
    inv_std : FixedFormat
        ``1 / std``, ``ap_ufixed<32,12>``: up to ``1 / sqrt(eps) = 1000``.
    """

    act: FixedFormat
    weight: FixedFormat
    bias: FixedFormat
    norm: FixedFormat
    gelu_table: FixedFormat
    acc: FixedFormat
    qk_acc: FixedFormat
    av_acc: FixedFormat
    diff: FixedFormat
    scale: FixedFormat
    exp_arg: FixedFormat
    log2e: FixedFormat
    exp_table: FixedFormat
    exp: FixedFormat
    sum: FixedFormat
    recip: FixedFormat
    prob: FixedFormat
    sq_sum: FixedFormat
    var: FixedFormat
    std: FixedFormat
    inv_std: FixedFormat

    @classmethod
    def of(cls, cfg: EdgeMoEConfig) -> Numerics:
        act, weight = cfg.format("act_format"), cfg.format("weight_format")
        f_acc = act.frac_bits + weight.frac_bits
        f_qk = 2 * act.frac_bits
        sum_int = max(cfg.tokens, cfg.experts).bit_length() + 1
        prob = ap_ufixed(24, 1)
        return cls(
            act=act, weight=weight, bias=cfg.format("bias_format"),
            norm=cfg.format("norm_format"), gelu_table=cfg.format("gelu_table_format"),
            acc=ap_fixed(63, 63 - f_acc), qk_acc=ap_fixed(63, 63 - f_qk),
            av_acc=ap_fixed(63, 63 - prob.frac_bits - act.frac_bits),
            diff=ap_fixed(act.width + 1, act.int_bits + 1),
            scale=ap_ufixed(18, 1), exp_arg=ap_fixed(32, act.int_bits + 2),
            log2e=ap_ufixed(18, 1), exp_table=ap_ufixed(25, 2), exp=ap_ufixed(24, 1),
            sum=ap_ufixed(32, sum_int), recip=ap_ufixed(24, 1), prob=prob,
            sq_sum=ap_ufixed(63, 39), var=ap_ufixed(48, 24), std=ap_ufixed(32, 12),
            inv_std=ap_ufixed(32, 12))

    def formats(self) -> dict[str, FixedFormat]:
        """Every format by its role name (the C++ type is ``<role>_t``)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def typedefs(self) -> list[tuple[str, str]]:
        """``(type name, C++ type)`` for every format: what the templates declare."""
        return [(f"{name}_t", fmt.hls_type) for name, fmt in self.formats().items()]


def attention_scale(cfg: EdgeMoEConfig) -> float:
    """The real attention scale ``1 / sqrt(head_dim)`` (before quantisation)."""
    return 1.0 / math.sqrt(cfg.head_dim)
