"""Cycle-accurate performance model of the SAT engine (closed form).

The engine's timing contract (``docs/designs/sat.md``): with the data stream
always valid and the result stream always ready, a GEMM cut into T tiles of S
steps takes::

    S + (T - 1) * P + C + R + 2,    P = cfg.tile_period(S)

cycles from the first command handshake to the last result handshake, both
included.  The cocotb and Amaranth benches assert this equals the RTL's
measured cycle count on every GEMM they run.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.schedule import tile_steps

__all__ = ["GemmTiming", "gemm_cycles", "gemm_timing"]


@dataclass(frozen=True)
class GemmTiming:
    """Cycle figures of one GEMM on the engine.

    Attributes
    ----------
    cycles : int
        Total cycles (first command to last result, inclusive).
    tiles : int
        Output tiles, ``ceil(Mg/R) * ceil(Ng/C)``.
    steps : int
        Steps per tile (``ceil(K/N)`` dense, ``ceil(K/M)`` sparse).
    period : int
        Cycles between consecutive tiles, :meth:`SatConfig.tile_period`.
    macs : int
        Useful multiply-accumulates, ``Mg * K * Ng`` (dense) or ``Mg * N/M-kept * Ng``.
    utilisation : float
        ``macs / (cycles * R * C * N)``.
    """

    cycles: int
    tiles: int
    steps: int
    period: int
    macs: int
    utilisation: float


def gemm_timing(cfg: SatConfig, mg: int, k: int, ng: int, sparse: bool,
                group_len: int | None = None, count: int = 1) -> GemmTiming:
    """Timing of ``C[mg, ng] = A[mg, k] · B[k, ng]``; ``sparse``: B is N:M along k.

    ``group_len`` (sparse only): K is ``k // group_len`` runs of ``group_len``, each
    padded to a multiple of M on its own (im2col of a convolution); default one run.
    ``count`` independent GEMMs of this shape stream their tiles back to back.
    """
    for name, value in (("Mg", mg), ("K", k), ("Ng", ng), ("count", count)):
        if value < 1:
            raise ValueError(f"{name} = {value}; GEMM dimensions must be >= 1")
    if sparse and group_len and group_len != k:
        if k % group_len:
            raise ValueError(f"K = {k} is not a whole number of runs of {group_len}")
        steps = (k // group_len) * -(-group_len // cfg.m)
    else:
        steps = tile_steps(cfg, k, sparse)
    tiles = -(-mg // cfg.rows) * -(-ng // cfg.cols) * count
    period = cfg.tile_period(steps)
    cycles = steps + (tiles - 1) * period + cfg.cols + cfg.rows + 2
    macs = mg * min(steps * cfg.n, k) * ng * count  # multiplications doing GEMM work
    return GemmTiming(cycles, tiles, steps, period, macs,
                      macs / (cycles * cfg.multipliers))


def gemm_cycles(cfg: SatConfig, mg: int, k: int, ng: int, sparse: bool) -> int:
    """Cycles of one GEMM (see :func:`gemm_timing`)."""
    return gemm_timing(cfg, mg, k, ng, sparse).cycles
