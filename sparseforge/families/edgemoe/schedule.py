"""Loop bounds of the Edge-MoE design: one table the templates and the latency model read.

Every pipelined loop of the HLS C++ (``templates/hls/edgemoe/``) runs a number of
iterations that is a function of the config (and, for the experts, of the routing).
The generator renders the bounds below into the C++ (``ATTN_BLOCKS``, the tile
counts, ``WORD_VALUES``), and :mod:`sparseforge.sim.edgemoe.perf` adds up the same
functions; the C-sim counts what the loops really ran (``SF_TRIP``) and a test checks
that both agree, expert queues included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .config import EdgeMoEConfig

__all__ = ["LINEAR_CALLS", "LoopCount", "attention_blocks", "layer_loops", "linear_calls",
           "linear_iterations", "model_loops", "tiles"]

#: Labels of the linear unit's call sites, in the order a layer makes them.
LINEAR_CALLS = ("lin_qkv", "lin_proj", "lin_fc1", "lin_fc2", "lin_gate", "lin_exp1",
                "lin_exp2")


@dataclass(frozen=True)
class LoopCount:
    """Iterations of one pipelined loop invocation.

    Attributes
    ----------
    label : str
        The loop's trip-counter label in the C++ (``SF_TRIP``), or a linear call site.
    iterations : int
        Iterations (each one initiation interval, II = 1).
    weight_bytes : int
        Bytes of weights the call loads first (linear unit and patch embedding).
    """

    label: str
    iterations: int
    weight_bytes: int = 0


def linear_calls(cfg: EdgeMoEConfig) -> dict[str, tuple[int, int]]:
    """``(out_dim, in_dim)`` of each linear call site, and of the patch embedding."""
    d = cfg.dim
    return {"patch_embed": (d, cfg.patch_inputs), "lin_qkv": (3 * d, d), "lin_proj": (d, d),
            "lin_fc1": (cfg.mlp_hidden, d), "lin_fc2": (d, cfg.mlp_hidden),
            "lin_gate": (cfg.experts, d), "lin_exp1": (cfg.expert_hidden, d),
            "lin_exp2": (d, cfg.expert_hidden)}


def tiles(cfg: EdgeMoEConfig, out_dim: int, in_dim: int) -> int:
    """Weight tiles of a ``[out_dim][in_dim]`` matrix: ``ceil(out / TILE_OUT) * in / TILE_IN``
    (the last output tile zero-padded)."""
    return -(-out_dim // cfg.tile_out) * (in_dim // cfg.tile_in)


def linear_iterations(cfg: EdgeMoEConfig, call: str, rows: int) -> int:
    """Iterations of the linear unit's loop for ``rows`` rows at call site ``call``."""
    return rows * tiles(cfg, *linear_calls(cfg)[call])


def attention_blocks(cfg: EdgeMoEConfig) -> int:
    """Query blocks of the reordered attention, ``ceil((T + P - 1) / P)``: lane ``j``
    of the last block still needs keys ``0 .. j-1`` of the block after it."""
    return -(-(cfg.tokens + cfg.lanes - 1) // cfg.lanes)


def _weight_bytes(cfg: EdgeMoEConfig, call: str) -> int:
    out_dim, in_dim = linear_calls(cfg)[call]
    return out_dim * in_dim * cfg.format("weight_format").width // 8


def layer_loops(cfg: EdgeMoEConfig, layer: int,
                queue_lengths: Sequence[int] | None = None) -> list[LoopCount]:
    """The pipelined loops of encoder layer ``layer``, in order (the residual adds are
    fused into the projection, the second MLP layer and the experts' second layer).

    ``queue_lengths``: tokens per expert in this layer (MoE layers only); without it
    every token is taken to go to ``top_k`` experts spread evenly (``T * k / E`` each,
    all experts active) -- the routing-free estimate.
    """
    t, d, w = cfg.tokens, cfg.dim, cfg.word_values
    ln = LoopCount("layernorm", 3 * t * (d // w))
    attn = attention_blocks(cfg) * t * (d // w)

    def lin(call, rows):
        return LoopCount(call, linear_iterations(cfg, call, rows), _weight_bytes(cfg, call))

    loops = [ln, lin("lin_qkv", t), LoopCount("attn_kv", t * (d // w)),
             LoopCount("attn_qk", attn), LoopCount("attn_av", attn),
             lin("lin_proj", t), ln]
    if not cfg.is_moe(layer):
        loops += [lin("lin_fc1", t), lin("lin_fc2", t)]
    else:
        if queue_lengths is None:
            even = t * cfg.top_k / cfg.experts
            queue_lengths = [even] * cfg.experts
        if len(queue_lengths) != cfg.experts:
            raise ValueError(f"queue_lengths has {len(queue_lengths)} entries; expected "
                             f"{cfg.experts} (one per expert)")
        loops += [lin("lin_gate", t), LoopCount("gate", t)]
        for n in queue_lengths:
            if n:
                loops += [lin("lin_exp1", n), lin("lin_exp2", n)]
    return loops


def model_loops(cfg: EdgeMoEConfig,
                routing: dict[int, Sequence[int]] | None = None) -> list[list[LoopCount]]:
    """Loops of the whole forward pass: the patch embedding, each layer, the final
    LayerNorm (one list per stage).  ``routing``: MoE layer -> queue lengths."""
    d = cfg.dim
    patch = LoopCount("patch_embed", cfg.patches * tiles(cfg, d, cfg.patch_inputs),
                      _weight_bytes(cfg, "patch_embed"))
    stages = [[patch]]
    for i in range(cfg.layers):
        stages.append(layer_loops(cfg, i, None if routing is None else routing.get(i)))
    stages.append([LoopCount("layernorm", 3 * cfg.tokens * (d // cfg.word_values))])
    return stages
