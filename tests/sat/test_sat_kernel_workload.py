"""The generated SAT kernel on a workload and board (sim/sat/kernel_workload.py)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from sparseforge.board_registry import get_board
from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import CommandList
from sparseforge.sim.sat.kernel_perf import MemoryPort, command_cycles
from sparseforge.sim.sat.kernel_workload import (
    _command,
    kernel_step,
    project_memory,
    project_port,
)
from sparseforge.workloads import Gemm, get_workload


@pytest.mark.parametrize("board, peak_gbs, what", [
    ("zcu104", 2133e6 * 8 / 1e9, "ps_ddr4 via S_AXI_HP0_FPD"),   # 64-bit DDR4-2133 of the PS
    ("u280", 460 / 32, "pseudo-channel 0"),                        # 32 pseudo-channels
    ("u250", 77 / 4, "channel 0"),                                 # 4 DDR4-2400 channels
])
def test_project_port_is_the_memory_the_project_wires(board, peak_gbs, what):
    b = get_board(board)
    desc, peak = project_memory(b)
    assert what in desc
    assert peak == pytest.approx(peak_gbs, rel=0.03)
    cfg = SatConfig(axi_data_bits=512)
    port = project_port(b, cfg, clock_mhz=300)
    words = 0.8 * peak * 1e9 / (300e6 * 64)
    assert port.shared_rate == pytest.approx(words)
    assert port.read_rate == port.write_rate == pytest.approx(min(1.0, words))
    with pytest.raises(ValueError, match="efficiency = 0; allowed"):
        project_port(b, cfg, efficiency=0)


def test_command_of_a_gemm_matches_the_command_list():
    """The shape-only command equals the one CommandList builds from operands."""
    import numpy as np

    cfg = SatConfig()
    rng = np.random.default_rng(0)
    for sparse, (m, k, n) in ((True, (9, 40, 6)), (False, (5, 17, 13))):
        cl = CommandList(cfg)
        cl.add(rng.integers(-3, 3, (m, k)), rng.integers(-3, 3, (k, n)),
               "ff" if sparse else "dense")
        built = cl.descriptors(0)[0]
        ours = _command(cfg, Gemm("l", "FF", m, k, n, sparse="rowwise" if sparse else None),
                        sparse)
        for field in ("op", "steps", "row_tiles", "col_tiles", "a_stride", "b_stride"):
            assert getattr(ours, field) == getattr(built, field), field


def test_kernel_step_sums_its_commands():
    cfg = SatConfig()
    gemms = [Gemm("a", "FF", 30, 64, 20, count=3, sparse="rowwise"),
             Gemm("a", "WU", 20, 30, 64)]
    wl = SimpleNamespace(gemms=lambda: gemms)
    board = get_board("zcu104")
    r = kernel_step(cfg, wl, board)
    port = project_port(board, cfg)
    dense = 3 * command_cycles(cfg, _command(cfg, gemms[0], False), port) + \
        command_cycles(cfg, _command(cfg, gemms[1], False), port)
    bdwp = 3 * command_cycles(cfg, _command(cfg, gemms[0], True), port) + \
        command_cycles(cfg, _command(cfg, gemms[1], False), port)
    assert (r["dense_cycles"], r["bdwp_cycles"]) == (round(dense), round(bdwp))
    assert r["read_words_per_step"] == 3  # 4x4 2:8 int8 on 128 bits: A 256 bits, B 88 bits


def test_kernel_is_read_bound_by_its_records():
    """On the default ResNet-18 config the streamed kernel needs >= words-per-step cycles
    per engine step: the step can be no faster than its operand reads."""
    board = get_board("zcu104")
    cfg = SatConfig(rows=32, cols=16, drain_rows=2)
    r = kernel_step(cfg, get_workload("resnet18"), board)
    steps = sum(g.count * math.ceil(g.m / 32) * math.ceil(g.n / 16) * math.ceil(g.k / cfg.n)
                for g in get_workload("resnet18").gemms())
    assert r["dense_cycles"] >= steps * r["read_words_per_step"]
    assert r["speedup"] > 1.5
    wide = kernel_step(cfg.replace(axi_data_bits=512), get_workload("resnet18"), board)
    assert wide["dense_cycles"] < r["dense_cycles"] / 3


def test_memory_port_default_is_the_simulated_ram():
    assert MemoryPort() == MemoryPort(1.0, 1.0, None)
