"""What the fixed-point approximations cost: the golden model against the float reference.

:func:`approximation_errors` measures each non-linear unit on a dense sweep of its
input range (GELU, exp, the softmax weights, LayerNorm) against the exact function,
and the whole model's task outputs against the float reference run on the same
(dequantised) weights, so the figures are what the arithmetic costs, not the weight
rounding.  The reference's routing is replaced by the golden model's where the two
gates would choose different experts (see :meth:`Reference.moe`), reported apart.
"""

from __future__ import annotations

import math

import numpy as np

from sparseforge.families.edgemoe.config import EdgeMoEConfig

from . import weights as W
from .golden import Golden
from .reference import Reference

__all__ = ["approximation_errors"]

_ERF = np.vectorize(math.erf, otypes=[np.float64])


def _stats(got: np.ndarray, want: np.ndarray) -> dict[str, float]:
    err = np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))
    scale = float(np.abs(want).max()) or 1.0
    return {"max_abs": float(err.max()), "rms": float(np.sqrt((err ** 2).mean())),
            "max_rel_to_range": float(err.max() / scale)}


def approximation_errors(cfg: EdgeMoEConfig, seed: int = 0,
                         tasks: tuple[int, ...] | None = None) -> dict:
    """Error of each unit and of the task outputs (see the module docstring).

    Returns ``{"units": {name: {max_abs, rms, max_rel_to_range}}, "tasks": {task:
    {...}}, "routing_agreement": {task: fraction of (token, slot) choices the float
    gate makes the same way}}``.
    """
    g, r = Golden(cfg), Reference(cfg)
    act = g.nx.act
    units = {}
    x = act.quantize(np.linspace(-8, 8, 16001))
    xf = act.to_float(x)
    units[f"GELU (table, step 2^-{cfg.gelu_step_log2})"] = _stats(
        act.to_float(g.gelu(x)), 0.5 * xf * (1 + _ERF(xf / math.sqrt(2))))
    d = act.quantize(-np.linspace(0, 30, 30001))
    units["exp (x <= 0)"] = _stats(g.nx.exp.to_float(g.exp_neg(d, act.frac_bits)),
                                   np.exp(act.to_float(d)))
    rng = np.random.default_rng(seed)
    s = act.quantize(rng.normal(0, 3, (64, cfg.tokens)))
    recip, m = g.softmax_stats(s)
    sf = act.to_float(s)
    units["softmax weights (single pass)"] = _stats(
        g.nx.prob.to_float(g.softmax_weights(s, recip, m)), Reference.softmax(sf))
    xs = act.quantize(rng.normal(0, 4, (cfg.tokens, cfg.dim)) + rng.normal(0, 3, (cfg.tokens, 1)))
    gamma = g.nx.norm.quantize(rng.normal(1, 0.2, cfg.dim))
    beta = g.nx.bias.quantize(rng.normal(0, 0.2, cfg.dim))
    units["LayerNorm"] = _stats(
        act.to_float(g.layernorm(xs, gamma, beta)),
        Reference.layernorm(act.to_float(xs), g.nx.norm.to_float(gamma),
                            g.nx.bias.to_float(beta)))
    raw = W.quantize(cfg, W.random_weights(cfg, seed + 1))
    floats = W.dequantize(cfg, raw)
    img = W.quantize_image(W.random_image(cfg, seed + 2))
    out, agree = {}, {}
    for task in (tuple(range(cfg.tasks)) if tasks is None else tasks):
        trace: dict = {}
        got = act.to_float(g.forward(img, raw, task, trace=trace))
        want = r.forward(img / 256.0, floats, task)
        out[task] = _stats(got, want)
        same = total = 0
        for key, routing in trace.items():
            if key.startswith("routing"):
                layer = int(key[len("routing"):])
                # the float gate on the golden model's own LayerNorm output
                ref_exp, _ = r.gate(act.to_float(trace[f"gate_input{layer}"]),
                                    floats.layers[layer].gate_w[task])
                same += int((np.sort(ref_exp, 1) == np.sort(routing["experts"], 1)).sum())
                total += ref_exp.size
        agree[task] = same / total if total else 1.0
    return {"units": units, "tasks": out, "routing_agreement": agree}
