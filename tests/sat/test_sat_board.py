"""The SAT kernel end to end: SatDriver -> simulated PYNQ board -> Verilator kernel.

The driver class is the one a board uses, bound by VLNV; results are compared
with the BDWP golden model; kernel cycles (the CYCLES register) with the
kernel cycle model (:func:`sparseforge.sim.sat.kernel_perf.list_cycles`).

The board's memory stalls by default (seeded random and bursty pauses on every AXI
channel, duty 0.25): every scenario runs so, except the GEMM timing test, which
asks for an always-ready memory to check the model within ``TOLERANCE``.  Under
stalls the kernel is never faster than the model (less its tolerance) and at most
``STALL_BOUND`` times the model of a stalled port (``MemoryPort.stalled``).
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import (
    CommandList,
    command_ranges,
    register_map,
    result_bytes,
)
from sparseforge.host.kernel import DriverError
from sparseforge.host.sat import SatDriver

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

#: Model agreement asked of every end-to-end run on an always-ready memory (kernel
#: cycles, ap_start to ap_done): ``max(TOLERANCE * model, 3)`` cycles.
TOLERANCE = 0.02
#: Under the board's default stalls: CYCLES <= STALL_BOUND * list_cycles(stalled port).
STALL_BOUND = 1.3

CONFIGS = {
    "4x4-2of8-128b": SatConfig(),
    "4x8-1of4-512b-renamed": SatConfig(rows=4, cols=8, n=1, m=4, axi_data_bits=512,
                                       kernel_name="sat_k2", max_burst=16),
}


# --------------------------------------------------------------------------- fast


def test_descriptor_ranges_cover_the_command_list_layout():
    cfg = SatConfig()
    rng = np.random.default_rng(0)
    cl = CommandList(cfg)
    cl.add(rng.integers(-8, 8, (9, 40)), rng.integers(-8, 8, (40, 6)), "ff")
    cl.add(rng.integers(-8, 8, (3, 5)), rng.integers(-8, 8, (5, 13)), "dense")
    base = 0x2000_0000
    descs = cl.descriptors(base)
    spans = []
    for d, job in zip(descs, cl.jobs):
        r = command_ranges(cfg, d)
        h = base + cl.header_bytes
        assert r["a"] == (h + job.a_off, h + job.a_off + job.a_bytes.size)
        assert r["b"] == (h + job.b_off, h + job.b_off + job.b_bytes.size)
        assert r["c"] == (h + job.c_off, h + job.c_off + result_bytes(cfg, d.tiles))
        spans += list(r.values())
    spans.sort()
    assert all(e <= s for (_, e), (s, _) in itertools.pairwise(spans)), "ranges overlap"
    assert spans[-1][1] <= base + cl.nbytes


def test_for_config_binds_the_renamed_kernel():
    import pynq.overlay

    cfg = CONFIGS["4x8-1of4-512b-renamed"]
    cls = SatDriver.for_config(cfg)
    assert issubclass(cls, SatDriver) and register_map(cfg) == cls.REGMAP
    assert pynq.overlay._ip_drivers["sparseforge.org:kernel:sat_k2:1.0"] is cls


def test_attach_refuses_a_map_of_another_design():
    from sparseforge.regmap import RegisterMap

    d = register_map(SatConfig()).to_dict()
    d["design"] = "vecadd"
    with pytest.raises(DriverError, match="design 'vecadd'; SatDriver drives 'sat'"):
        SatDriver.attach(object(), RegisterMap.from_dict(d))


# --------------------------------------------------------------------------- RTL


def _cases(seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i, mode in enumerate(("dense", "ff", "bp", "wu") * 2):
        batch, fan_in, fan_out = (int(v) for v in rng.integers(3, 30, 3))
        out.append({"mode": mode, "batch": batch, "in": fan_in + 8 * (mode in ("ff", "bp")),
                    "out": fan_out, "seed": seed * 100 + i, "interrupt": i >= 4})
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Kernel Verilog per config, built once per module (the simulator build is cached)."""
    from sparseforge.hwgen.sat.kernel import kernel_verilog

    root = tmp_path_factory.mktemp("sat_board")
    out = {}
    for key, cfg in CONFIGS.items():
        src = root / key / f"{cfg.kernel_name}.v"
        src.parent.mkdir()
        src.write_text(kernel_verilog(cfg))
        out[key] = (cfg, src)
    return out


def _run(built, key, scenario, stalls="mixed", **params):
    from sparseforge.sim.lib.board import run_on_sim_board
    from sparseforge.sim.lib.verilator_lint import amaranth_waivers
    from sparseforge.sim.sat.verify import KERNEL_WAIVERS

    cfg, src = built[key]
    return run_on_sim_board([src], cfg.kernel_name, f"sat_board_scenarios:{scenario}",
                            src.parent / "build", regmap=register_map(cfg), params=params,
                            waivers=amaranth_waivers(src, KERNEL_WAIVERS),
                            max_cycles=2_000_000, stalls=stalls)


@pytest.mark.slow
@pytest.mark.parametrize("key", list(CONFIGS))
def test_gemms_in_every_mode_bit_exact_and_timed(built, key):
    cases = _cases(seed=len(key))
    res = _run(built, key, "gemm_modes", stalls=None, cases=cases)  # memory always ready
    for c in res["cases"]:
        assert c["equal"], c
        assert c["duty"] == 0
        assert abs(c["cycles"] - c["model"]) <= max(TOLERANCE * c["model"], 3), c
        assert c["call_cycles"] > c["cycles"], c  # the call adds register traffic and polls
    assert {c["mode"] for c in res["cases"]} == {"dense", "ff", "bp", "wu"}
    assert any(c["batch"] % 4 and c["out"] % 4 for c in res["cases"]), "no non-multiple shape"
    assert res["status"]["status"] == 0 and res["status"]["cmds_done"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("key", list(CONFIGS))
@pytest.mark.parametrize("prune, commands", [("kernel", 15), ("host", 9)])
def test_training_step_from_one_command_list(built, key, prune, commands):
    res = _run(built, key, "training_step", dims=[24, 19, 32, 10], batch=6, shift=6, seed=7,
               prune=prune)
    assert res["layers"] == [{"y": True, "dx": True, "dw": True}] * 3  # under stalls
    assert res["commands"] == commands and res["status"]["cmds_done"] == commands
    assert res["duty"] == 0.25
    assert (1 - TOLERANCE) * res["model"] <= res["cycles"] <= STALL_BOUND * res["model_stalled"]
    assert res["cycles"] > 1.05 * res["model"], res  # the memory did stall


@pytest.mark.slow
def test_prune_on_the_weight_generator(built):
    res = _run(built, "4x8-1of4-512b-renamed", "prune", shapes=[[13, 22], [8, 9], [33, 4]])
    assert res["cases"] == [{"values": True, "indices": True}] * 6


@pytest.mark.slow
def test_bad_input_is_refused_before_the_device_is_touched(built):
    res = _run(built, "4x4-2of8-128b", "bad_input")
    expect = {
        "float dtype": "has dtype float32; the engine takes integers",
        "3-D operand": "expected A[Mg, K] and B[K, Ng]",
        "K mismatch": "A is (5, 16) and B is (15, 3)",
        "value out of range": "values outside -128..127",
        "unknown mode": "mode = 'sparse'; allowed: ff, bp, wu, dense",
        "unknown prune": "prune = 'gpu'; allowed: 'kernel', 'host'",
        "prune float": "prune: ",
        "layer shapes": "do not chain",
        "foreign command list": "another SatConfig",
        "result outside buffer": "C range",
        "buffer smaller than descriptor": "A range",
        "misaligned address": "b_addr = ",
        "N:M mismatch": "N:M = 3:8; allowed: 2:8",
        "plain numpy buffer": "buffers[0] is a ndarray",
        "misaligned stride": "a_stride = ",
        "negative tiles": "row_tiles = -1; allowed: 0 to 4294967295 (32-bit field)",
        "freed buffer": "buffers[0]: buffer: the buffer was freed",
        "empty descriptor list": "descriptors is empty",
        "bad register name": "no register 'NOPE'",
    }
    for name, text in expect.items():
        assert res[name]["error"] is not None, f"{name}: no error"
        assert text in res[name]["error"], (name, res[name]["error"])
        assert res[name]["cycles"] == 0, f"{name}: simulated time passed before the error"


@pytest.mark.slow
def test_kernel_error_names_the_command(built):
    res = _run(built, "4x4-2of8-128b", "kernel_error")
    assert (res["status"], res["command"], res["done"]) == (2, 1, 1), res
    assert "command 1 (op ff) failed: N:M of the descriptor differs" in res["message"]


@pytest.mark.slow
def test_kernel_refuses_an_unaligned_address_the_driver_let_through(built):
    """Defect 2 end to end: ``execute(check=False)`` with ``a_addr`` 8 bytes off the
    AXI word; before the fix the reader livelocked at 0x...8 (no ap_done)."""
    from sparseforge.families.sat.contract import ERRORS, STATUS

    res = _run(built, "4x4-2of8-128b", "kernel_bad_address")
    assert (res["status"], res["command"], res["done"]) == (STATUS["BAD_ADDRESS"], 1, 1), res
    assert f"command 1 (op ff) failed: {ERRORS[STATUS['BAD_ADDRESS']]}" in res["message"]
    assert res["untouched"], "the refused command wrote to the buffer"


@pytest.mark.slow
def test_timeout_reports_ctrl_then_the_run_completes(built):
    res = _run(built, "4x4-2of8-128b", "timeout")
    assert res["message"] and "CTRL = 0x00000001 (ap_start)" in res["message"], res
    assert "still running" in res["message"]
    assert res["ctrl_after"] & 0x2 and res["idle"]


@pytest.mark.slow
def test_register_map_of_another_build_is_refused(built):
    res = _run(built, "4x4-2of8-128b", "hardware_mismatch")
    assert res["message"] and "the hardware reports rows = 4 (map: 8), n = 2 (map: 1)" in \
        res["message"], res
    assert res["ctrl"] & 0x4  # ap_idle: never started

