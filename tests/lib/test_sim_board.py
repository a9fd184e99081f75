"""KernelDriver (host/kernel.py) and the simulated PYNQ board (sim/lib/board.py).

Fast tests drive the driver against a toy ``REGISTER_RW`` device; the ``slow``
ones run the scenarios of ``sim_board_scenarios`` on the Verilator-simulated
vecadd kernel (``tests/lib/fixtures/vecadd_kernel.v``), one build shared by all.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pynq
import pytest
from pynq.overlay import _assign_drivers
from sim_board_scenarios import VECADD_V, VecaddDriver, vecadd_regmap

from sparseforge.host.kernel import DriverError, KernelDriver, PynqIO, describe_ctrl
from sparseforge.regmap import CONTROL_PORTS, MASTER_PORTS, Arg, RegisterMap, ap_ctrl_registers

BASE = 0xA000_0000


class ToyKernel(pynq.Device):
    """``REGISTER_RW`` device with a toy ap_ctrl_hs: ap_done after ``latency`` CTRL reads."""

    def __init__(self, latency: int = 2, hang: bool = False):
        super().__init__("toy0")
        self.capabilities = {"REGISTER_RW": True}
        self.latency, self.hang = latency, hang
        self.words: dict[int, int] = {}
        self.log: list[tuple[str, int, int]] = []
        self.running = self.done = False
        self.left = 0

    def read_registers(self, address, length):
        off = address - BASE
        value = self.words.get(off, 0)
        if off == 0:
            if self.running and not self.hang:
                self.left -= 1
                if self.left <= 0:
                    self.running, self.done = False, True
            value = self.running | self.done << 1 | (not self.running) << 2
            self.done = False  # clear on read
        self.log.append(("r", off, value))
        return value.to_bytes(4, "little")

    def write_registers(self, address, data):
        off, value = address - BASE, int.from_bytes(data, "little")
        self.log.append(("w", off, value))
        if off == 0 and value & 1:
            self.running, self.left = True, self.latency
        else:
            self.words[off] = value


def toy_driver(device=None, cls=VecaddDriver, **extra):
    device = device or ToyKernel()
    desc = {"phys_addr": BASE, "addr_range": 0x80, "type": vecadd_regmap().vlnv,
            "fullpath": "vecadd_kernel_1", "device": device, **extra}
    return cls(desc), device


# --------------------------------------------------------------------------- fast


def test_describe_ctrl_names_the_set_bits():
    assert describe_ctrl(0x0E) == "0x0000000e (ap_done, ap_idle, ap_ready)"
    assert describe_ctrl(0) == "0x00000000 (no bit set)"


def test_bindto_registers_the_driver_as_an_overlay_binds_it():
    vlnv = vecadd_regmap().vlnv
    desc = {"type": vlnv, "fullpath": "vecadd_kernel_1"}
    _assign_drivers({"ip": {"k": desc}, "hierarchies": {}}, False, None)
    assert desc["driver"] is VecaddDriver
    other = {"type": vlnv.replace(":1.0", ":2.0"), "fullpath": "vecadd_kernel_1"}
    with warnings.catch_warnings(record=True):
        _assign_drivers({"ip": {"k": other}, "hierarchies": {}}, False, None)
    assert other["driver"] is pynq.DefaultIP  # another version needs ignore_version
    _assign_drivers({"ip": {"k": other}, "hierarchies": {}}, True, None)
    assert other["driver"] is VecaddDriver


def test_run_splits_64_bit_pointers_and_returns_ctrl_at_done():
    drv, dev = toy_driver()
    ctrl = drv.run(src=0x1_2345_6780, dst=0x10, n_words=7, poll_interval=0)
    assert ctrl & 0x2
    writes = [(off, v) for op, off, v in dev.log if op == "w"]
    assert writes == [(0x10, 0x2345_6780), (0x14, 0x1), (0x1C, 0x10), (0x20, 0), (0x28, 7),
                      (0x00, 1)]
    assert dev.log[0] == ("r", 0, 4)  # the idle check comes before any write


def test_wait_timeout_message_holds_ctrl():
    drv, _ = toy_driver(ToyKernel(hang=True))
    drv.start()
    with pytest.raises(TimeoutError, match=r"CTRL = 0x00000001 \(ap_start\).*still running"):
        drv.wait(timeout=0.01, poll_interval=0.001)
    with pytest.raises(RuntimeError, match="is running"):
        drv.start()


def test_done_seen_by_is_idle_is_not_lost():
    drv, _ = toy_driver(ToyKernel(latency=1))
    drv.start()
    assert drv.is_idle  # this read saw (and cleared) ap_done
    assert drv.wait(timeout=0.01) & 0x2


@pytest.mark.parametrize(("call", "message"), [
    (lambda d: d.set_arg("size", 1), r"no argument 'size'; allowed: src, dst, n_words, hang"),
    (lambda d: d.set_arg("n_words", 1 << 32), r"n_words = 4294967296 does not fit uint32_t"),
    (lambda d: d.set_arg("n_words", 1.0), r"n_words = 1.0 \(float\); allowed: an integer"),
    (lambda d: d.set_arg("src", np.zeros(4)), r"src: a plain ndarray has no device address"),
    (lambda d: d.set_arg("src", 0x1008), r"src = 0x1008 is not aligned"),
    (lambda d: d.set_arg("dst", -16), r"dst = -16 does not fit a device address"),
    (lambda d: d.write_reg("STATUS", 0), r"STATUS is read-only"),
    (lambda d: d.read_reg("dst"), r"dst is a 64-bit argument"),
    (lambda d: d.run(src=0x1000, dst=0x2000, n_words=-1), r"n_words = -1"),
    (lambda d: d.start(interrupt=True), r"no interrupt line"),
])
def test_bad_input_raises_before_the_device_is_touched(call, message):
    drv, dev = toy_driver()
    with pytest.raises(DriverError, match=message):
        call(drv)
    assert dev.log == []


def test_signed_scalars_are_twos_complement():
    rmap = RegisterMap("k", "toy", {}, tuple(ap_ctrl_registers()),
                       (Arg("bias", 0, 0x10, 32, "scalar", "int32_t", "signed"),), ())
    dev = ToyKernel()
    drv, _ = toy_driver(dev, KernelDriver, regmap=rmap.to_dict(), type=rmap.vlnv)
    drv.set_arg("bias", -2)
    assert dev.log[-1] == ("w", 0x10, 0xFFFF_FFFE)
    with pytest.raises(DriverError, match="allowed: -2147483648 to 2147483647"):
        drv.set_arg("bias", 1 << 31)


def test_regmap_found_beside_the_bitstream_or_a_clear_error(tmp_path):
    dev = ToyKernel()
    with pytest.raises(DriverError, match=r"no register map .* tried: regmap="):
        toy_driver(dev, KernelDriver)
    (tmp_path / "output").mkdir()
    (tmp_path / "regmap.json").write_text(vecadd_regmap().to_json())
    dev.bitfile_name = str(tmp_path / "output" / "vecadd_kernel.bit")  # the project layout
    drv, _ = toy_driver(dev, KernelDriver)
    assert drv.regmap == vecadd_regmap()
    with pytest.raises(DriverError, match="register map is for .*vecadd_kernel:1.0, the IP is"):
        toy_driver(dev, KernelDriver, type="sparseforge.org:kernel:sat_kernel:1.0")


def test_attach_runs_over_any_io():
    dev = ToyKernel()
    io = PynqIO(pynq.MMIO(BASE, 0x80, device=dev))
    drv = VecaddDriver.attach(io)
    assert drv.run(n_words=0, poll_interval=0) & 0x2


def test_fixture_ports_follow_the_vitis_convention():
    text = VECADD_V.read_text()
    ports = set(re.findall(r"^\s*(?:input|output)\s+wire\s+(?:\[[^\]]+\]\s*)?(\w+)", text, re.M))
    want = {"ap_clk", "ap_rst_n", "interrupt"}
    want |= {f"s_axi_control_{name}" for name, _, _ in CONTROL_PORTS}
    want |= {f"m_axi_gmem_{name}" for name, _, _ in MASTER_PORTS}
    assert ports == want


# --------------------------------------------------------------------------- simulated


@pytest.fixture(scope="module")
def board_build(tmp_path_factory):
    return tmp_path_factory.mktemp("sim_board")


def on_board(build, scenario, **options):
    from sparseforge.sim.lib.board import run_on_sim_board

    options.setdefault("max_cycles", 200_000)
    return run_on_sim_board([VECADD_V], "vecadd_kernel", f"sim_board_scenarios:{scenario}",
                            build, regmap=vecadd_regmap(), **options)


@pytest.mark.slow
def test_driver_runs_the_kernel_and_the_bytes_are_right(board_build):
    words = 300  # 4800 bytes: bursts split at the 4 KiB line
    r = on_board(board_build, "add_one", params={"words": words})
    assert r["driver"] == "VecaddDriver"  # bound by VLNV, map from the class attribute
    assert r["equal"] and r["words_done"] == words and r["status"] == 0
    assert r["src_address"] == 0x1000_0000 and r["dst_address"] % 4096 == 0
    assert r["ctrl"] & 0x2 and r["idle_after"]
    assert r["pynq_n_words"] == words  # pynq's own register_map works on the sim device
    assert words < r["cycles"] < 10 * words


def test_the_board_memory_stalls_by_default():
    from sparseforge.sim.lib.board import SimBoard
    from sparseforge.sim.lib.stalls import NO_STALLS, Stalls

    board = SimBoard(None, vecadd_regmap())
    assert board.stalls == Stalls() and board.stalls.active and board.stalls.duty == 0.25
    assert SimBoard(None, vecadd_regmap(), stalls=None).stalls == NO_STALLS
    assert SimBoard(None, vecadd_regmap(), stalls={"kind": "bursty", "seed": 4}).stalls == \
        Stalls(kind="bursty", seed=4)


@pytest.mark.slow
def test_stalling_memory_slows_the_kernel_but_not_the_bytes(board_build):
    words = 300
    free = on_board(board_build, "add_one", params={"words": words}, stalls=None)
    stalled = on_board(board_build, "add_one", params={"words": words})  # the default
    again = on_board(board_build, "add_one", params={"words": words})
    assert free["equal"] and stalled["equal"] and stalled["words_done"] == words
    assert stalled["cycles"] > 1.1 * free["cycles"]
    assert again["cycles"] == stalled["cycles"]  # seeded: the same run repeats exactly


@pytest.mark.slow
def test_timeout_raises_with_ctrl_and_the_kernel_can_still_finish(board_build):
    r = on_board(board_build, "timeout_then_release")
    assert "CTRL = 0x00000001 (ap_start)" in r["message"] and "2e-06 s" in r["message"]
    assert 200 <= r["waited_cycles"] < 300  # 2 us of simulated time at 100 MHz
    assert r["busy"] and "is running" in r["restart_error"]
    assert r["ctrl_at_done"] & 0x2 and r["idle"]


@pytest.mark.slow
def test_ap_idle_and_clear_on_read_ap_done(board_build):
    r = on_board(board_build, "ctrl_bits")
    assert r["before"] == 0x4  # idle
    assert r["running"] == 0x1  # ap_start held, not idle
    assert r["at_done"] == 0xE  # done, idle, ready; ap_start released
    assert r["after_read"] == 0x4  # ap_done / ap_ready cleared by the read
    assert r["raw_after_idle"] == 0x4 and r["wait_ctrl"] == 0xE  # the driver's latch


@pytest.mark.slow
def test_bad_input_on_the_board_makes_no_bus_transaction(board_build):
    r = on_board(board_build, "bad_inputs")
    assert r["accesses"] == 0 and r["n_words_kept"] == 4
    errors = r["errors"]
    assert all(errors.values()), [k for k, v in errors.items() if not v]
    assert "strides" in errors["strided"] and "0x10000004" in errors["misaligned"]


@pytest.mark.slow
def test_interrupt_driven_wait(board_build):
    r = on_board(board_build, "interrupt")
    assert r["equal"] and r["ctrl"] & 0x2
    assert (r["gie"], r["ier"], r["isr"], r["line"]) == (1, 1, 0, 0)


@pytest.mark.slow
def test_memory_is_not_coherent_without_flush_and_invalidate(board_build):
    r = on_board(board_build, "coherence")
    assert r["stale_host_zero"]  # dst not invalidated: the host still sees its zeros
    assert r["poison_plus_one"] == [0xEFBEADDE + 1] * 2  # src not flushed: poison + 1
    assert r["after_flush_equal"]
    assert r["tmp_freed"] and r["live_regions"] == 2


@pytest.mark.slow
def test_kernel_access_outside_buffers_is_caught(board_build):
    from sparseforge.sim.lib.board import ScenarioError

    r = on_board(board_build, "memory_fault", params={"take": True})
    assert r["status"] == 0x2  # SLVERR on the writes
    assert len(r["faults"]) == 2 and f"{r['stray']:#x}" in r["faults"][0]
    with pytest.raises(ScenarioError, match="2 kernel memory fault"):
        on_board(board_build, "memory_fault")


@pytest.mark.slow
def test_scenario_exception_reaches_pytest_with_its_traceback(board_build):
    from sparseforge.sim.lib.board import ScenarioError

    with pytest.raises(ScenarioError) as info:
        on_board(board_build, "raises")
    assert info.value.exc_type == "builtins.ValueError"
    assert 'raise ValueError("scenario failed on purpose")' in info.value.remote_traceback


@pytest.mark.slow
def test_max_cycles_stops_a_runaway_scenario(board_build):
    from sparseforge.sim.lib.board import ScenarioError

    with pytest.raises(ScenarioError, match="more than max_cycles = 50"):
        on_board(board_build, "timeout_then_release", max_cycles=50)
