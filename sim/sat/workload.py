"""SAT performance on real training workloads: one step, dense vs BDWP.

Each GEMM of :meth:`sparseforge.workloads.Workload.gemms` costs

* **compute cycles** from the cycle-exact engine model
  (:func:`sparseforge.sim.sat.engine_perf.gemm_timing`, the formula the RTL is tested
  against), with sparse steps for the FF / BP GEMMs BDWP makes N:M and dense
  steps otherwise;
* **memory cycles** from the bytes the kernel moves over the board's memory
  bandwidth (:class:`MemoryModel`):

  - A is read once (an ``R x K`` row block is buffered and reused for every
    column tile);
  - B is read once as dense data (in sparse mode the sparse weight generator
    compresses it on chip) when the compressed / dense B fits the on-chip
    buffer, else it is read again for every row block;
  - C is written once, ``ceil(acc_bits / 8)`` bytes per element.

A GEMM takes ``max(compute, memory)`` cycles (transfers overlap compute) and is
*memory-bound* when memory is the larger.  Closed form per GEMM: a ResNet-50
step is evaluated in milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sparseforge.board_registry import Board
from sparseforge.families.sat.config import SatConfig
from sparseforge.sim.sat.engine_perf import gemm_timing
from sparseforge.workloads import Gemm, Workload

__all__ = [
    "DSP_FRACTION",
    "GemmPerf",
    "MemoryModel",
    "StepPerf",
    "compare_step",
    "default_config",
    "step_perf",
]

MODES = ("dense", "bdwp")

#: Share of the board's DSP slices :func:`default_config` fills with multipliers (the
#: rest is left to the shell, the address arithmetic and the user's own logic).
DSP_FRACTION = 0.8


@dataclass(frozen=True)
class MemoryModel:
    """Off-chip memory as the kernel sees it.

    Attributes
    ----------
    peak_gbs : float
        Peak bandwidth, GB/s (10^9 B/s), from the board registry.
    efficiency : float
        Fraction of the peak a streaming kernel sustains (0 < e <= 1).
    clock_mhz : float
        Kernel clock, MHz.
    buffer_bytes : int
        On-chip bytes available to hold one GEMM's B operand.
    """

    peak_gbs: float
    efficiency: float
    clock_mhz: float
    buffer_bytes: int

    @property
    def bytes_per_cycle(self) -> float:
        """Sustained bytes per kernel clock cycle."""
        return self.peak_gbs * self.efficiency * 1e9 / (self.clock_mhz * 1e6)

    @classmethod
    def for_board(cls, board: Board, clock_mhz: float | None = None,
                  efficiency: float = 0.8, buffer_fraction: float = 0.5) -> MemoryModel:
        """The board's kernel memory, with ``buffer_fraction`` of its BRAM + URAM for B."""
        if not 0 < efficiency <= 1:
            raise ValueError(f"efficiency = {efficiency}; allowed: 0 < efficiency <= 1")
        mem = board.kernel_memory
        on_chip = board.resources.bram36 * 36 * 1024 // 8 + board.resources.uram * 288 * 1024 // 8
        return cls(mem.peak_gbs, efficiency, clock_mhz or board.clocks.default_mhz,
                   int(on_chip * buffer_fraction))


@dataclass(frozen=True)
class GemmPerf:
    """One GEMM of a step on the engine."""

    layer: str
    phase: str
    m: int
    k: int
    n: int
    count: int
    sparse: bool
    compute_cycles: int
    memory_cycles: int
    cycles: int
    bytes: int
    macs: int
    utilisation: float

    @property
    def memory_bound(self) -> bool:
        return self.memory_cycles > self.compute_cycles


@dataclass(frozen=True)
class StepPerf:
    """One training step of a workload in one mode (``dense`` or ``bdwp``)."""

    workload: str
    mode: str
    gemms: tuple[GemmPerf, ...]

    @property
    def cycles(self) -> int:
        return sum(g.cycles for g in self.gemms)

    def phase_cycles(self) -> dict[str, int]:
        out = {"FF": 0, "BP": 0, "WU": 0}
        for g in self.gemms:
            out[g.phase] += g.cycles
        return out


def default_config(board: Board, n: int = 2, m: int = 8, width: int = 8,
                   dsp_fraction: float = DSP_FRACTION) -> SatConfig:
    """The largest power-of-two array (rows >= cols, each <= 64) whose ``rows*cols*n``
    multipliers fit ``dsp_fraction`` of the board's DSPs (one DSP per multiplier),
    draining two result rows per beat when rows is even."""
    budget = board.resources.dsp * dsp_fraction
    best = (1, 1)
    for rows in (1, 2, 4, 8, 16, 32, 64):
        for cols in (1, 2, 4, 8, 16, 32, 64):
            if cols <= rows and rows * cols * n <= budget and rows * cols > best[0] * best[1]:
                best = (rows, cols)
    return SatConfig(rows=best[0], cols=best[1], n=n, m=m, width=width,
                     drain_rows=2 if best[0] % 2 == 0 else 1)


def step_perf(cfg: SatConfig, workload: Workload, mode: str, memory: MemoryModel) -> StepPerf:
    """Cycles of one training step of ``workload`` in ``mode`` (``dense`` or ``bdwp``)."""
    if mode not in MODES:
        raise ValueError(f"mode = {mode!r}; allowed: {', '.join(MODES)}")
    return StepPerf(workload.name, mode,
                    tuple(_gemm_perf(cfg, g, mode == "bdwp" and g.sparse is not None, memory)
                          for g in workload.gemms()))


def compare_step(cfg: SatConfig, workload: Workload, memory: MemoryModel) -> dict:
    """Dense vs BDWP for one step: totals, speedup, per-layer rows and shortfall reasons."""
    dense = step_perf(cfg, workload, "dense", memory)
    bdwp = step_perf(cfg, workload, "bdwp", memory)
    ideal_sparse = cfg.m / cfg.n
    layers = []
    for d, s in zip(dense.gemms, bdwp.gemms):
        row = {"layer": d.layer, "phase": d.phase, "m": d.m, "k": d.k, "n": d.n,
               "count": d.count, "sparse": s.sparse, "dense_cycles": d.cycles,
               "bdwp_cycles": s.cycles, "speedup": d.cycles / s.cycles,
               "utilisation_dense": d.utilisation, "utilisation_bdwp": s.utilisation,
               "memory_bound_dense": d.memory_bound, "memory_bound_bdwp": s.memory_bound,
               "why": _why(cfg, d, s, ideal_sparse)}
        layers.append(row)
    limit = 3 / (2 * cfg.n / cfg.m + 1)
    seconds = 1e-6 / memory.clock_mhz
    return {
        "workload": workload.name, "batch": workload.batch, "config": cfg.to_dict(),
        "clock_mhz": memory.clock_mhz, "bandwidth_gbs": memory.peak_gbs * memory.efficiency,
        "dense_cycles": dense.cycles, "bdwp_cycles": bdwp.cycles,
        "dense_ms": dense.cycles * seconds * 1e3, "bdwp_ms": bdwp.cycles * seconds * 1e3,
        "speedup": dense.cycles / bdwp.cycles, "compute_bound_limit": limit,
        "phase_cycles": {"dense": dense.phase_cycles(), "bdwp": bdwp.phase_cycles()},
        "memory_bound_layers": sorted({r["layer"] for r in layers if r["memory_bound_bdwp"]}),
        "layers": layers,
    }


def _gemm_perf(cfg: SatConfig, g: Gemm, sparse: bool, memory: MemoryModel) -> GemmPerf:
    t = gemm_timing(cfg, g.m, g.k, g.n, sparse, g.group_len if sparse else None, g.count)
    eb = cfg.width / 8
    b_dense = g.k * g.n * eb
    b_resident = (t.steps * cfg.n * g.n * (eb + cfg.index_bits / 8)) if sparse else b_dense
    row_blocks = math.ceil(g.m / cfg.rows)
    b_bytes = b_dense if b_resident <= memory.buffer_bytes else b_dense + (
        row_blocks - 1) * b_resident
    c_bytes = g.m * g.n * math.ceil(cfg.acc_bits / 8)
    total = int((g.m * g.k * eb + b_bytes + c_bytes) * g.count)
    mem_cycles = math.ceil(total / memory.bytes_per_cycle)
    cycles = max(t.cycles, mem_cycles)
    return GemmPerf(g.layer, g.phase, g.m, g.k, g.n, g.count, sparse, t.cycles, mem_cycles,
                    cycles, total, t.macs, t.macs / (cycles * cfg.multipliers))


def _why(cfg: SatConfig, d: GemmPerf, s: GemmPerf, ideal: float) -> str:
    """Why a sparse GEMM falls short of 90 % of the ideal M/N speedup ("" if it does not)."""
    if not s.sparse or d.cycles / s.cycles >= 0.9 * ideal:
        return ""
    reasons = []
    if s.memory_bound:
        reasons.append("memory-bound")
    steps_sparse = -(-s.k // cfg.m)
    if cfg.tile_period(steps_sparse) > steps_sparse + 1:
        reasons.append(f"fill/drain: {steps_sparse} sparse steps per tile < the "
                       f"{cfg.tile_period(steps_sparse)}-cycle tile period")
    if s.k % cfg.m:
        reasons.append(f"padding: K = {s.k} is not a multiple of M = {cfg.m}")
    return "; ".join(reasons)
