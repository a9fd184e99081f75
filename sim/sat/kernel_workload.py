"""The generated SAT kernel on a real workload and board: one training step, dense vs BDWP.

:mod:`sparseforge.sim.sat.workload` predicts the SAT *architecture* (operands
buffered on chip, each read once).  This module predicts the *kernel this
release generates* (``docs/designs/sat_kernel.md``): every GEMM of the step is
one command of the list, each tile streams its A and B records from memory
through the kernel's single AXI master, results are written back in bursts.
Per command the cycles are :func:`sparseforge.sim.sat.kernel_perf.command_cycles`
(the model the RTL is tested against within 5 %), with the memory side of the
board (:func:`project_port`): the memory the emitted project connects the
kernel to, at the kernel clock.
"""

from __future__ import annotations

from sparseforge.board_registry import Board
from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import Descriptor, Geometry, register_map
from sparseforge.project_memory import MemoryTarget, memory_targets
from sparseforge.sim.sat.engine_perf import gemm_timing
from sparseforge.sim.sat.kernel_perf import MemoryPort, command_cycles
from sparseforge.workloads import Gemm, Workload

__all__ = ["kernel_step", "project_memory", "project_port"]


def project_memory(cfg: SatConfig, board: Board) -> MemoryTarget:
    """The memory the kernel's AXI master reaches in the project emitted for ``board``.

    :func:`sparseforge.project_memory.memory_targets` of the kernel's register map,
    the function the project emitter renders its PS port (Zynq) or ``sp=`` line
    (Alveo) from: the PS DDR through ``S_AXI_HP0_FPD``, ``HBM[0]`` (one
    pseudo-channel) or ``DDR[0]`` (one channel).
    """
    return memory_targets(register_map(cfg), board)[0]


def project_port(board: Board, cfg: SatConfig, clock_mhz: float | None = None,
                 efficiency: float = 0.8) -> MemoryPort:
    """The kernel's AXI port on ``board`` in words per cycle.

    ``efficiency`` x the peak of :func:`project_memory`, shared by reads and
    writes (one DRAM channel), each direction capped at one word per cycle.
    """
    if not 0 < efficiency <= 1:
        raise ValueError(f"efficiency = {efficiency}; allowed: 0 < efficiency <= 1")
    mhz = clock_mhz or board.clocks.default_mhz
    peak = project_memory(cfg, board).peak_gbs
    words = efficiency * peak * 1e9 / (mhz * 1e6 * cfg.axi_data_bits / 8)
    return MemoryPort(min(1.0, words), min(1.0, words), words)


def _command(cfg: SatConfig, g: Gemm, sparse: bool) -> Descriptor:
    """The command of one instance of ``g`` (streams at 4 KiB-aligned addresses)."""
    geo = Geometry.of(cfg)
    steps = gemm_timing(cfg, g.m, g.k, g.n, sparse, g.group_len if sparse else None).steps
    return Descriptor("ff" if sparse else "dense", cfg.n, cfg.m, steps,
                      -(-g.m // cfg.rows), -(-g.n // cfg.cols), 0, 1 << 32, 2 << 32,
                      steps * geo.a_words * geo.word_bytes, steps * geo.b_words * geo.word_bytes)


def kernel_step(cfg: SatConfig, workload: Workload, board: Board,
                clock_mhz: float | None = None, efficiency: float = 0.8) -> dict:
    """Cycles of one training step on the generated kernel, dense and BDWP.

    Returns
    -------
    dict
        ``dense_cycles``, ``bdwp_cycles``, ``speedup``, ``dense_ms``, ``bdwp_ms``,
        ``memory`` (what the port reaches), ``words_per_cycle`` (sustained),
        ``read_words_per_step`` (AXI words one engine step needs), ``clock_mhz``.
    """
    mhz = clock_mhz or board.clocks.default_mhz
    port = project_port(board, cfg, mhz, efficiency)
    totals = {"dense": 0.0, "bdwp": 0.0}
    for g in workload.gemms():
        for mode in totals:
            sparse = mode == "bdwp" and g.sparse is not None
            totals[mode] += g.count * command_cycles(cfg, _command(cfg, g, sparse), port)
    geo = Geometry.of(cfg)
    dense, bdwp = round(totals["dense"]), round(totals["bdwp"])
    return {"dense_cycles": dense, "bdwp_cycles": bdwp, "speedup": dense / bdwp,
            "dense_ms": dense / (mhz * 1e3), "bdwp_ms": bdwp / (mhz * 1e3),
            "memory": project_memory(cfg, board).description, "words_per_cycle": port.shared_rate,
            "read_words_per_step": geo.a_words + geo.b_words, "clock_mhz": mhz,
            "axi_data_bits": cfg.axi_data_bits}
