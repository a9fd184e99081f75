"""The constant tables the Edge-MoE templates hold, computed from their formulas.

These are the generator's copy; the golden model computes its own
(:mod:`sparseforge.sim.edgemoe.golden`), so a wrong entry shows up as a C-sim mismatch.
"""

from __future__ import annotations

import math

import numpy as np

from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.families.edgemoe.numerics import EXP_TABLE_LOG2, LN_EPS, Numerics

__all__ = ["exp_table", "gelu_table", "raw_constants"]


def _nearest(value: float, frac: int) -> int:
    """``value * 2**frac`` rounded to the nearest integer (halves up)."""
    return math.floor(math.ldexp(value, frac) + 0.5)


def gelu_table(cfg: EdgeMoEConfig) -> np.ndarray:
    """Raw ``gelu_table_t`` entries ``delta(i * step)``, ``delta(x) = relu(x) - gelu(x)
    = x * (1 - Phi(x))`` for ``x >= 0``, ``i = 0 .. gelu_entries - 1``."""
    frac = Numerics.of(cfg).gelu_table.frac_bits
    step = math.ldexp(1.0, -cfg.gelu_step_log2)
    out = []
    for i in range(cfg.gelu_entries):
        x = i * step
        phi = 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))
        out.append(_nearest(x * (1.0 - phi), frac))
    return np.array(out, np.int64)


def exp_table(cfg: EdgeMoEConfig) -> np.ndarray:
    """Raw ``exp_table_t`` entries ``2**(j / 2**EXP_TABLE_LOG2)``, ``j = 0 .. 2**T``."""
    n = 1 << EXP_TABLE_LOG2
    frac = Numerics.of(cfg).exp_table.frac_bits
    return np.array([_nearest(math.pow(2.0, j / n), frac) for j in range(n + 1)], np.int64)


def raw_constants(cfg: EdgeMoEConfig) -> dict[str, int]:
    """Raw fixed-point constants: the GELU range in activation raw units, ``log2(e)``,
    the attention scale ``1 / sqrt(head_dim)``, LayerNorm's epsilon in variance units."""
    nx = Numerics.of(cfg)
    return {
        "GELU_RANGE_RAW": round(cfg.gelu_range * (1 << nx.act.frac_bits)),
        "LOG2E_RAW": _nearest(math.log2(math.e), nx.log2e.frac_bits),
        "SCALE_RAW": _nearest(1.0 / math.sqrt(cfg.head_dim), nx.scale.frac_bits),
        "LN_EPS_RAW": _nearest(LN_EPS, nx.var.frac_bits),
    }
