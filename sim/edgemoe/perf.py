"""Latency and resource model of the Edge-MoE design, from its loop bounds.

Latency
-------
Every pipelined loop runs at II = 1 for the iterations of
:mod:`sparseforge.families.edgemoe.schedule` (the bounds the templates are rendered
with; the C-sim trip counters check them, expert queues included).  A loop
invocation costs ``iterations + depth`` cycles (:data:`PIPELINE_DEPTH`, assumed:
Vitis HLS is not run here), or the cycles its off-chip traffic needs at the port's
bandwidth when that is longer.  Activations, scores and the softmax statistics live
in off-chip memory between kernels, as in the public design; weights stream into the
linear unit's two on-chip buffers, the load of one call overlapping the calls before
it (:func:`latency` steps through the loads and calls as events).

Assumptions, all in this module: the depths; LayerNorm's square root and division
latency (:data:`LN_TOKEN_CYCLES`, paid once: its three stages overlap across tokens);
the gate's per-expert softmax step (:data:`GATE_CYCLES_PER_EXPERT`); one PS-PL port for
activations and ``weight_ports`` ports striped with the weights, each at most the port
width times the clock, all sharing :data:`MEMORY_EFFICIENCY` of the PS DDR peak
equally; the attention unit holds the layer's K and V on chip (read once).

Resources
---------
DSP48E2 per multiplier from the operand widths (27 x 18 signed slices), BRAM36 from
the on-chip buffers (Xilinx BRAM18 aspect ratios).  Estimates for the budget check
before anything is written, not synthesis results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sparseforge.errors import ConfigError
from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.families.edgemoe.numerics import Numerics
from sparseforge.families.edgemoe.schedule import (
    LINEAR_CALLS,
    LoopCount,
    linear_calls,
    model_loops,
    tiles,
)

__all__ = ["GATE_CYCLES_PER_EXPERT", "LN_TOKEN_CYCLES", "MEMORY_EFFICIENCY", "PIPELINE_DEPTH",
           "KernelTime", "Latency", "Resources", "bram18_for", "check_fits",
           "dsp_per_multiplier", "latency", "resources", "trip_counts", "uram_for"]

#: Pipeline depth (cycles from the first iteration's start to the last one's end,
#: beyond the iterations) per loop kind: assumed.
PIPELINE_DEPTH = {"linear": 12, "patch_embed": 10, "attn_kv": 4, "attn_qk": 16, "attn_av": 20,
                  "layernorm": 8, "gate": 0}
#: LayerNorm's latency of one token through the integer square root (unrolled,
#: pipelined) and the two divisions; paid once, the three stages overlap across
#: tokens (DATAFLOW): assumed.
LN_TOKEN_CYCLES = 80
#: The gate's cycles per token and expert (the softmax update's dependence on S, m).
GATE_CYCLES_PER_EXPERT = 3
#: Fraction of the PS DDR's peak bandwidth the kernel's two ports get together.
MEMORY_EFFICIENCY = 0.8


@dataclass(frozen=True)
class KernelTime:
    """One loop invocation in the latency model.

    Attributes
    ----------
    label : str
        Loop label (``SF_TRIP``) or linear call site (``lin_*``).
    iterations : int
        Pipelined iterations.
    compute : int
        ``iterations + depth`` (and fixed per-token work), cycles.
    traffic_bytes : int
        Activation bytes read and written off chip.
    cycles : float
        What the invocation takes: the longer of compute and traffic, and, for a
        linear call, not before its weights are on chip.
    weight_bytes : int
        Weights the linear call loads.
    """

    label: str
    iterations: int
    compute: int
    traffic_bytes: int
    cycles: float
    weight_bytes: int = 0


@dataclass
class Latency:
    """Latency of one image: ``stages[0]`` the patch embedding, ``stages[1..L]`` the
    layers, ``stages[-1]`` the final LayerNorm."""

    cfg: EdgeMoEConfig
    clock_mhz: float
    stages: list[list[KernelTime]]
    act_bytes_per_cycle: float
    weight_bytes_per_cycle: float

    @property
    def cycles(self) -> float:
        return sum(k.cycles for s in self.stages for k in s)

    @property
    def ms(self) -> float:
        """Milliseconds per image at the clock."""
        return self.cycles / (self.clock_mhz * 1e3)

    def stage_cycles(self) -> list[float]:
        return [sum(k.cycles for k in s) for s in self.stages]

    def by_kernel(self) -> dict[str, float]:
        """Cycles per kernel kind (linear call sites apart), over the image."""
        out: dict[str, float] = {}
        for s in self.stages:
            for k in s:
                out[k.label] = out.get(k.label, 0.0) + k.cycles
        return out


def trip_counts(cfg: EdgeMoEConfig, routing: dict[int, list[int]] | None = None
                ) -> dict[str, int]:
    """Iterations per ``SF_TRIP`` label over one forward pass, as the C-sim counts
    them (``linear`` is the sum of the ``lin_*`` call sites)."""
    out: dict[str, int] = {}
    for stage in model_loops(cfg, routing):
        for loop in stage:
            out[loop.label] = out.get(loop.label, 0) + int(loop.iterations)
    out["linear"] = sum(v for k, v in out.items() if k in LINEAR_CALLS)
    return out


def _port_rates(cfg: EdgeMoEConfig, board, clock_mhz: float) -> tuple[float, float]:
    """(activation, weight) bytes per cycle."""
    ddr = [m for m in board.memory if m.attached_to == "ps"]
    if not board.has_ps or not ddr:
        raise ConfigError(f"board = {board.name!r} has no PS DDR; the Edge-MoE design "
                          "targets Zynq UltraScale+ boards (zcu102, zcu104, kv260)")
    ports = [p.max_width_bits for p in board.ps_pl_ports if p.direction == "pl_to_ps"]
    if len(ports) < 1 + cfg.weight_ports:
        raise ConfigError(f"weight_ports = {cfg.weight_ports} needs {1 + cfg.weight_ports} "
                          f"PS-PL ports with the activation port; board {board.name!r} has "
                          f"{len(ports)}")
    port = min(cfg.axi_bits, max(ports)) / 8
    shared = ddr[0].peak_gbs * 1e9 * MEMORY_EFFICIENCY / (clock_mhz * 1e6)
    # every port busy at once: each gets at most an equal share of the DDR
    each = min(port, shared / (1 + cfg.weight_ports))
    return each, each * cfg.weight_ports


def _traffic(cfg: EdgeMoEConfig, loop: LoopCount, rows: int) -> int:
    """Activation bytes one invocation moves off chip."""
    a = cfg.format("act_format").width // 8
    t, d = cfg.tokens, cfg.dim
    if loop.label in LINEAR_CALLS:
        out_dim, in_dim = linear_calls(cfg)[loop.label]
        # the residual (proj, fc2) and the experts' sum (exp2) read what they add to
        extra = rows * out_dim * a if loop.label in ("lin_proj", "lin_fc2", "lin_exp2") else 0
        return rows * (in_dim + out_dim) * a + extra
    if loop.label == "patch_embed":
        return cfg.in_chans * cfg.image_h * cfg.image_w + t * d * a
    if loop.label == "attn_kv":  # K and V of the layer in, kept on chip
        return 2 * t * d * a
    if loop.label == "attn_qk":  # the query rows in, the scores out
        return t * d * a + t * t * cfg.heads * a
    if loop.label == "attn_av":  # the scores in, the output out
        return t * d * a + t * t * cfg.heads * a
    if loop.label == "layernorm":
        return 2 * loop.iterations // 3 * cfg.word_values * a
    return t * cfg.experts * a  # gate: the logits


def _compute(cfg: EdgeMoEConfig, loop: LoopCount) -> int:
    if loop.label in LINEAR_CALLS:
        return loop.iterations + PIPELINE_DEPTH["linear"]
    if loop.label == "layernorm":  # three stages streamed token after token
        words = cfg.dim // cfg.word_values
        return (loop.iterations // 3 + 2 * words + 3 * PIPELINE_DEPTH["layernorm"]
                + LN_TOKEN_CYCLES)
    if loop.label == "gate":
        return loop.iterations * (cfg.experts * GATE_CYCLES_PER_EXPERT + cfg.top_k * cfg.experts)
    if loop.label == "patch_embed":
        return loop.iterations + cfg.patches * PIPELINE_DEPTH["patch_embed"]
    return loop.iterations + PIPELINE_DEPTH[loop.label]


def latency(cfg: EdgeMoEConfig, board, routing: dict[int, list[int]] | None = None,
            clock_mhz: float | None = None) -> Latency:
    """Latency of one image on ``board`` (see the module docstring).

    ``routing``: MoE layer -> tokens per expert (from the golden model or the
    C-sim); without it, every expert gets ``T * k / E`` tokens.
    """
    mhz = cfg.clock_mhz if clock_mhz is None else clock_mhz
    act_rate, w_rate = _port_rates(cfg, board, mhz)
    stages = model_loops(cfg, routing)
    # weight loads: in call order, two buffers; load j starts when the loader is free
    # and call j-2 (the buffer's last user) has finished
    t = 0.0
    loader_free = 0.0
    done: list[float] = []  # finish time of each weight-using call, in order
    out: list[list[KernelTime]] = []
    for stage in stages:
        times = []
        for loop in stage:
            rows = _rows(cfg, loop)
            compute = _compute(cfg, loop)
            traffic = _traffic(cfg, loop, rows)
            busy = max(compute, traffic / act_rate)
            start = t
            if loop.weight_bytes:
                j = len(done)
                load_start = max(loader_free, done[j - 2] if j >= 2 else 0.0)
                loaded = load_start + loop.weight_bytes / w_rate
                loader_free = loaded
                start = max(t, loaded)
            end = start + busy
            if loop.weight_bytes:
                done.append(end)
            times.append(KernelTime(loop.label, int(loop.iterations), compute, traffic,
                                    end - t, loop.weight_bytes))
            t = end
        out.append(times)
    return Latency(cfg, mhz, out, act_rate, w_rate)


def _rows(cfg: EdgeMoEConfig, loop: LoopCount) -> int:
    if loop.label in LINEAR_CALLS:
        return round(loop.iterations / tiles(cfg, *linear_calls(cfg)[loop.label]))
    return cfg.tokens


# --------------------------------------------------------------------------- resources


def dsp_per_multiplier(a_bits: int, b_bits: int) -> int:
    """DSP48E2 slices of one ``a_bits x b_bits`` signed product (27 x 18 multipliers,
    the wider operand on the 27-bit port)."""
    wide, narrow = max(a_bits, b_bits), min(a_bits, b_bits)
    return math.ceil(wide / 27) * math.ceil(narrow / 18)


def bram18_for(depth: int, width: int) -> int:
    """BRAM18 of one ``depth x width`` memory, the best Xilinx aspect ratio."""
    if depth * width <= 1024:  # small: LUT RAM or registers
        return 0
    shapes = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in shapes)


def uram_for(depth: int, width: int) -> int:
    """UltraRAM blocks (4096 x 72) of one ``depth x width`` memory."""
    return math.ceil(width / 72) * math.ceil(depth / 4096)


@dataclass
class Resources:
    """Estimated DSP48E2, BRAM36 and UltraRAM of one design, with their parts."""

    dsp: int
    bram36: int
    uram: int = 0
    dsp_parts: dict[str, int] = field(default_factory=dict)
    bram_parts: dict[str, int] = field(default_factory=dict)
    uram_parts: dict[str, int] = field(default_factory=dict)


def resources(cfg: EdgeMoEConfig) -> Resources:
    """DSP, BRAM and UltraRAM of the design's multipliers and on-chip buffers (the
    weight buffers and K / V where ``weight_storage`` and ``kv_storage`` put them)."""
    uram = cfg.kv_storage == "uram"
    nx = Numerics.of(cfg)
    a, w = nx.act.width, nx.weight.width
    p, v = cfg.lanes, cfg.word_values
    exp_unit = (dsp_per_multiplier(nx.diff.width, nx.log2e.width)
                + dsp_per_multiplier(nx.exp_table.width + 1, nx.exp_arg.frac_bits)
                + dsp_per_multiplier(nx.exp.width, nx.recip.width))
    gelu_unit = dsp_per_multiplier(nx.gelu_table.width + 1, nx.act.frac_bits)
    dsp = {
        "linear unit": cfg.tile_in * cfg.tile_out * dsp_per_multiplier(a, w),
        "linear GELU": cfg.tile_out * gelu_unit,
        "patch embedding": cfg.tile_in * cfg.tile_out * dsp_per_multiplier(8, w),
        "attention q.k": p * v * dsp_per_multiplier(a, a) + p * dsp_per_multiplier(a, 18),
        "attention softmax": p * (exp_unit + dsp_per_multiplier(nx.sum.width, nx.exp.width)),
        "attention x V": p * v * dsp_per_multiplier(nx.prob.width, a) + p * exp_unit,
        "LayerNorm": v * (dsp_per_multiplier(a, a) + dsp_per_multiplier(a, nx.inv_std.width)
                          + dsp_per_multiplier(a, nx.norm.width)),
        "gate": exp_unit + dsp_per_multiplier(nx.sum.width, nx.exp.width),
    }
    max_tiles = max(tiles(cfg, o, i) for o, i in linear_calls(cfg).values())
    bram = {
        # two weight buffers, every (o, i) of a tile its own bank
        "weight buffers": 2 * cfg.tile_in * cfg.tile_out * bram18_for(max_tiles, w)
        if cfg.weight_storage == "bram" else 0,
        "bias buffer": bram18_for(max(3 * cfg.dim, cfg.mlp_hidden), nx.bias.width),
        "input row cache": cfg.tile_in * bram18_for(
            max(cfg.dim, cfg.mlp_hidden, cfg.expert_hidden, cfg.patch_inputs) // cfg.tile_in,
            a),
        "attention K and V of the layer":
            0 if uram else 2 * v * bram18_for(cfg.tokens * cfg.dim // v, a),
        "attention lanes (Q rows, outputs)": 2 * p * v * bram18_for(cfg.dim // v, a),
        "softmax statistics": 2 * bram18_for(cfg.tokens * cfg.heads, nx.recip.width + a),
        "expert queues": bram18_for(cfg.experts * cfg.tokens,
                                    cfg.tokens.bit_length() + nx.prob.width),
        "tables (GELU, exp)": 0,
    }
    urams = {"attention K and V of the layer":
             2 * v * uram_for(cfg.tokens * cfg.dim // v, a) if uram else 0,
             # two weight buffers: per output, one word of a tile's tile_in inputs
             "weight buffers": 2 * cfg.tile_out * uram_for(max_tiles, cfg.tile_in * w)
             if cfg.weight_storage == "uram" else 0}
    return Resources(sum(dsp.values()), math.ceil(sum(bram.values()) / 2),
                     sum(urams.values()), dsp, {k: math.ceil(x / 2) for k, x in bram.items()},
                     urams)


def check_fits(cfg: EdgeMoEConfig, board) -> Resources:
    """The design's resources, or :class:`ConfigError` naming what exceeds ``board``."""
    budget = board.resources
    r = resources(cfg)
    for what, used, have in (("DSP48E2", r.dsp, budget.dsp), ("BRAM36", r.bram36,
                                                                budget.bram36),
                             ("UltraRAM", r.uram, budget.uram)):
        if used > have:
            hint = "fewer lanes or a smaller tile"
            if what == "BRAM36" and budget.uram:
                spare = [f for f in ("kv_storage", "weight_storage")
                         if getattr(cfg, f) == "bram"]
                if spare:
                    hint += f", or {' / '.join(spare)} = uram (the board has " \
                            f"{budget.uram} UltraRAM)"
            raise ConfigError(f"the Edge-MoE design needs {used} {what} (lanes = {cfg.lanes}, "
                              f"tile_in x tile_out = {cfg.tile_in}x{cfg.tile_out}); board "
                              f"{board.name!r} has {have}; allowed: {hint}")
    return r
