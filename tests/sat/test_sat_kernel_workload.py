"""The generated SAT kernel on a workload and board (sim/sat/kernel_workload.py).

Expected values are worked out by hand in the comments from the documented rules
(``sim/sat/kernel_perf.py`` module docstring, ``docs/designs/sat_kernel.md``), or
read from the emitted project files; none is recomputed with the functions under
test.  The default config is 4x4, 2:8, int8, acc_bits 32, 128-bit AXI, so one A
record is 4·8·8 = 256 bits = 2 words, one B record 4·2·(8 + 3) = 88 bits = 1 word,
one result beat 1·4·32 = 128 bits = 1 word; 4 beats per tile.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from sparseforge.board_registry import get_board
from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import CommandList
from sparseforge.sim.sat.kernel_perf import MemoryPort
from sparseforge.sim.sat.kernel_workload import (
    _command,
    kernel_step,
    project_memory,
    project_port,
)
from sparseforge.workloads import Gemm, get_workload


def _workload(*gemms):
    return SimpleNamespace(gemms=lambda: list(gemms))


@pytest.mark.parametrize("board, target, memory, peak_gbs", [
    # the PS DDR4 of the ZCU104: 64 bits x 2133 MT/s = 17.06 GB/s, all of it behind HP0
    ("zcu104", "S_AXI_HP0_FPD", "ps_ddr4", 17.06),
    # U280 HBM2: 460 GB/s over 32 pseudo-channels, the link puts the master on one
    ("u280", "HBM[0]", "hbm", 460 / 32),
    # U250: 77 GB/s over 4 DDR4 channels, the link puts the master on one
    ("u250", "DDR[0]", "ddr4", 77 / 4),
])
def test_memory_is_the_one_the_emitted_project_wires(board, target, memory, peak_gbs):
    """The model's memory is read from the same place the project files are: check it
    against the text of the emitted ``link.cfg`` / ``build_bd.tcl``."""
    pytest.importorskip("jinja2")
    from sparseforge.families.sat.contract import register_map
    from sparseforge.hwgen.project import emit_project, stub_verilog

    b, cfg = get_board(board), SatConfig()
    rmap = register_map(cfg)
    files = emit_project(rmap, b, {"sat_kernel.v": stub_verilog(rmap)})
    if "vitis/link.cfg" in files:
        wired = re.findall(r"^sp=sat_kernel_1\.m_axi_gmem:(\S+)$", files["vitis/link.cfg"], re.M)
    else:
        wired = re.findall(r"\[get_bd_intf_pins zynq_ultra_ps_e_0/(S_AXI_\w+)\]",
                           files["vivado/build_bd.tcl"])
    assert wired == [target]
    got = project_memory(cfg, b)
    assert (got.port, got.target, got.memory.name) == ("m_axi_gmem", target, memory)
    assert got.peak_gbs == pytest.approx(peak_gbs)


def test_project_port_in_words_per_cycle():
    b = get_board("zcu104")
    # 512-bit AXI (64 B words) at 300 MHz: 0.8 x 17.06e9 B/s = 13.648e9 B/s over
    # 300e6 x 64 B = 19.2e9 B/s per word-per-cycle: 0.710833 words per cycle, shared
    port = project_port(b, SatConfig(axi_data_bits=512), clock_mhz=300)
    assert port.shared_rate == pytest.approx(0.710833, abs=1e-6)
    assert port.read_rate == port.write_rate == pytest.approx(0.710833, abs=1e-6)
    # 128-bit (16 B) at 100 MHz: 13.648e9 / 1.6e9 = 8.53 words per cycle shared, each
    # direction capped at the one word per cycle the AXI channel carries
    port = project_port(b, SatConfig(), clock_mhz=100)
    assert port.shared_rate == pytest.approx(8.53)
    assert (port.read_rate, port.write_rate) == (1.0, 1.0)
    with pytest.raises(ValueError, match="efficiency = 0; allowed"):
        project_port(b, SatConfig(), efficiency=0)


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


def test_kernel_step_small_workload_by_hand():
    """Three GEMMs on the ZCU104 at 100 MHz (read and write rate 1 word per cycle,
    8.53 shared: never the bound here).

    Per command: fixed = 12 + 64 B descriptor / 16 B = 16 cycles; drain = C + R + 2 = 10;
    result words leave from the first tile's first beat until res_end = max(reads +
    drain, engine); each command here writes its results in one burst, which starts once
    its last word exists (res_end) and takes 1 + n cycles for n words; engine = S +
    (T - 1)·P + 10 with P = max(S + 1, R, C + 1).

    * A: FF 4x16x4, 3 instances, one tile, 4 result words in one burst
      - dense: S = 16/2 = 8, reads 8·3 = 24; res_end = 24 + 10 = 34;
        16 + 34 + 1 + 4 = 55 cycles
      - BDWP (2:8): S = 16/8 = 2, reads 6; engine 2 + 10 = 12; res_end = 16;
        16 + 16 + 5 = 37 cycles
    * B: FF 8x16x8, 2x2 = 4 tiles, 16 result words in one burst
      - dense: S = 8, reads 4·24 = 96, engine 8 + 3·9 + 10 = 45; res_end 106;
        16 + 106 + 1 + 16 = 139
      - BDWP: S = 2, reads 24, engine 2 + 3·5 + 10 = 27 (P = max(3, 4, 5));
        res_end max(34, 27) = 34; 16 + 34 + 17 = 67
    * C: WU 4x4x4, dense in both steps: S = 2, reads 6, as A's BDWP command: 37

    dense 3·55 + 139 + 37 = 341, BDWP 3·37 + 67 + 37 = 215.
    """
    wl = _workload(Gemm("a", "FF", 4, 16, 4, count=3, sparse="rowwise"),
                   Gemm("b", "FF", 8, 16, 8, sparse="rowwise"),
                   Gemm("c", "WU", 4, 4, 4))
    r = kernel_step(SatConfig(), wl, get_board("zcu104"), clock_mhz=100)
    assert (r["dense_cycles"], r["bdwp_cycles"]) == (341, 215)
    assert r["speedup"] == pytest.approx(341 / 215)
    assert r["dense_ms"] == pytest.approx(341 / 100e3)  # 100e3 cycles per ms at 100 MHz
    assert r["read_words_per_step"] == 3                # 2 A words + 1 B word
    assert r["memory"] == "ps_ddr4 via S_AXI_HP0_FPD"


def test_kernel_step_is_read_bound_by_its_records():
    """Dense 64x256x64 on 4x4: 16·16 = 256 tiles of S = 128 steps read 256·128·3 =
    98,304 words at one word per cycle; the engine alone needs 128 + 255·129 + 10 =
    33,033 cycles, so reads bound it.  On top: the last tile's drain (10), the last
    write burst (1 + 64 words: 1,024 result words in 16 bursts of 64) and the fixed
    16: 98,304 + 10 + 65 + 16 = 98,395 cycles."""
    wl = _workload(Gemm("x", "WU", 64, 256, 64))
    r = kernel_step(SatConfig(), wl, get_board("zcu104"), clock_mhz=100)
    assert r["dense_cycles"] == 98_395
    assert 98_304 <= r["dense_cycles"] <= 98_304 * 1.001  # the read bound, 0.1 %


def test_kernel_step_is_bound_by_the_shared_channel():
    """512-bit AXI at 300 MHz on the ZCU104: 0.710833 words per cycle shared by reads
    and writes.  Reads 256 tiles · 128 steps · (1 + 1) words = 65,536, writes 256 · 4
    = 1,024: at least 66,560 / 0.710833 = 93,638 cycles; the drain, the last burst
    (65) and the fixed 12 + 1 add under 0.1 %."""
    wl = _workload(Gemm("x", "WU", 64, 256, 64))
    r = kernel_step(SatConfig(axi_data_bits=512), wl, get_board("zcu104"), clock_mhz=300)
    assert 93_638 <= r["dense_cycles"] <= 93_638 * 1.001


def test_resnet18_on_the_board_array_keeps_the_bdwp_speedup():
    """32x16 2:8 (the ZCU104's board-sized array): the kernel is read-bound, yet the
    sparse FF / BP GEMMs read 4x fewer B words and take 4x fewer steps, so the step
    speedup stays close to the architecture's compute-bound limit 3 / (2·2/8 + 1) = 2."""
    board = get_board("zcu104")
    cfg = SatConfig(rows=32, cols=16, drain_rows=2)
    r = kernel_step(cfg, get_workload("resnet18"), board)
    assert 1.8 < r["speedup"] < 2.0
    # 512-bit AXI: A 32·8·8 = 2048 bits = 4 words (16 at 128 bits), B 16·2·11 = 352 bits
    # = 1 word (3): 5 words per step instead of 19, so at least 3x fewer cycles
    wide = kernel_step(cfg.replace(axi_data_bits=512), get_workload("resnet18"), board)
    assert (r["read_words_per_step"], wide["read_words_per_step"]) == (19, 5)
    assert wide["dense_cycles"] < r["dense_cycles"] / 3


def test_memory_port_default_is_the_simulated_ram():
    assert MemoryPort() == MemoryPort(1.0, 1.0, None)
