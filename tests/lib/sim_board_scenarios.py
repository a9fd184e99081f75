"""The vecadd test kernel's register map and driver, and scenarios run on the simulated board.

A scenario is a blocking ``function(board) -> dict`` executed inside the
simulation by :func:`sparseforge.sim.lib.board.run_on_sim_board`; it uses the driver
exactly as on a PYNQ board and returns JSON-serialisable facts for the test to
assert on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pynq

from sparseforge.host.kernel import DriverError, KernelDriver
from sparseforge.regmap import Arg, Register, RegisterMap, ap_ctrl_registers

VECADD_V = Path(__file__).resolve().parent / "fixtures" / "vecadd_kernel.v"
WORD_BYTES = 16  # the fixture's 128-bit AXI words
IDLE, DONE, START = 0x4, 0x2, 0x1


def vecadd_regmap() -> RegisterMap:
    """The register map of ``tests/lib/fixtures/vecadd_kernel.v`` (Vitis argument layout)."""
    regs = [*ap_ctrl_registers(),
            Register("WORDS_DONE", 0x40, "ro", "AXI words written by the last run"),
            Register("STATUS", 0x44, "ro", "bit 0: read error response, bit 1: write error")]
    args = [Arg("src", 0, 0x10, 64, "pointer", "void*", "input words", "m_axi_gmem"),
            Arg("dst", 1, 0x1C, 64, "pointer", "void*", "output words", "m_axi_gmem"),
            Arg("n_words", 2, 0x28, 32, "scalar", "uint32_t", "128-bit words to process"),
            Arg("hang", 3, 0x30, 32, "scalar", "uint32_t", "1: do not finish until cleared")]
    return RegisterMap("vecadd_kernel", "vecadd", {"data_bits": 128}, tuple(regs), tuple(args),
                       ({"port": "m_axi_gmem", "data_bits": 128, "addr_bits": 64},))


class VecaddDriver(KernelDriver):
    """Driver of the vecadd kernel: ``dst = src + 1`` per 32-bit lane."""

    bindto = (vecadd_regmap().vlnv,)  # pynq only iterates it; a tuple keeps ruff quiet
    REGMAP = vecadd_regmap()
    pointer_alignment = WORD_BYTES

    def add_one(self, src, dst, **options) -> int:
        """Run on whole buffers; returns CTRL at ap_done."""
        return self.run(src=src, dst=dst, n_words=src.nbytes // WORD_BYTES, **options)


def _buffers(board, words: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    src = pynq.allocate(words * WORD_BYTES // 4, "u4", target=board.device)
    dst = pynq.allocate(words * WORD_BYTES // 4, "u4", target=board.device)
    src[:] = rng.integers(0, 1 << 32, src.size, dtype=np.uint64).astype(np.uint32)
    src[-1] = 0xFFFFFFFF  # wraps to 0
    return src, dst


def add_one(board) -> dict:
    """Bind by VLNV, run, compare; also the pynq register_map and the cycle counter."""
    drv = board.driver(pass_regmap=False)
    src, dst = _buffers(board, board.params["words"])
    c0 = board.cycles
    ctrl = drv.add_one(src, dst, poll_interval=0)
    return {"driver": type(drv).__name__, "ctrl": ctrl, "cycles": board.cycles - c0,
            "equal": bool(np.array_equal(dst, src + np.uint32(1))),
            "src_address": int(src.device_address), "dst_address": int(dst.device_address),
            "words_done": drv.read_reg("WORDS_DONE"), "status": drv.read_reg("STATUS"),
            "pynq_n_words": int(drv.register_map.n_words),
            "idle_after": drv.is_idle, "faults": len(board.memory.faults)}


def coherence(board) -> dict:
    """Without flush the kernel reads stale device memory; without invalidate the host does."""
    drv = board.driver()
    src, dst = _buffers(board, 4)
    drv.add_one(src, dst, sync=False, poll_interval=0)
    stale_host = dst.copy()
    dst.invalidate()
    poison_plus_one = dst.copy()
    src.flush()
    drv.add_one(src, dst, sync=False, poll_interval=0)
    dst.invalidate()
    with pynq.allocate(64, "u1") as tmp:  # active device: the board; freed on exit
        tmp_region = tmp.device_address
    return {"stale_host_zero": bool(not stale_host.any()),
            "poison_plus_one": [int(v) for v in poison_plus_one[:2]],
            "after_flush_equal": bool(np.array_equal(dst, src + np.uint32(1))),
            "tmp_address": int(tmp_region), "tmp_freed": tmp.freed,
            "live_regions": len(board.memory.regions)}


def timeout_then_release(board) -> dict:
    """A hanging run times out with CTRL in the message; releasing ``hang`` finishes it."""
    drv = board.driver()
    src, dst = _buffers(board, 2)
    c0 = board.cycles
    try:
        drv.add_one(src, dst, hang=1, timeout=2e-6, poll_interval=1e-7)
        message = None
    except TimeoutError as exc:
        message = str(exc)
    waited = board.cycles - c0
    busy = not drv.is_idle
    try:
        drv.start()
        restart_error = None
    except RuntimeError as exc:
        restart_error = str(exc)
    drv.set_arg("hang", 0)
    ctrl = drv.wait(timeout=1e-5, poll_interval=0)
    return {"message": message, "waited_cycles": waited, "busy": busy,
            "restart_error": restart_error, "ctrl_at_done": ctrl, "idle": drv.is_idle}


def ctrl_bits(board) -> dict:
    """ap_idle / ap_start while running, ap_done clear-on-read, the driver's done latch."""
    drv = board.driver()
    src, dst = _buffers(board, 64)
    src.flush()
    read = drv.io.read32  # raw reads: no latch
    before = read(0)
    drv.set_arg("src", src)
    drv.set_arg("dst", dst)
    drv.set_arg("n_words", 64)
    drv.start()
    running = read(0)
    seen = []
    while True:  # raw polling until ap_done shows, then one more read
        v = read(0)
        if v & DONE:
            seen.append(v)
            seen.append(read(0))
            break
    # the latch: poll is_idle (clears ap_done in the hardware), then wait() still returns
    drv.start()
    while not drv.is_idle:
        pass
    raw_after_idle = read(0)
    ctrl = drv.wait(timeout=1e-6, poll_interval=0)
    return {"before": before, "running": running, "at_done": seen[0], "after_read": seen[1],
            "raw_after_idle": raw_after_idle, "wait_ctrl": ctrl}


def bad_inputs(board) -> dict:
    """Every bad call raises DriverError naming field and value, with no register access."""
    drv = board.driver()
    src, dst = _buffers(board, 4)
    drv.set_arg("n_words", 4)
    accesses = board.device.register_accesses
    calls = {
        "unknown_arg": lambda: drv.set_arg("length", 3),
        "unknown_reg": lambda: drv.read_reg("NOPE"),
        "wide_reg_name": lambda: drv.write_reg("src", 1),
        "too_big": lambda: drv.set_arg("n_words", 1 << 32),
        "negative": lambda: drv.set_arg("n_words", -1),
        "float": lambda: drv.set_arg("n_words", 2.5),
        "numpy_array": lambda: drv.set_arg("src", np.zeros(16, np.uint32)),
        "strided": lambda: drv.set_arg("src", src[::2]),
        "misaligned": lambda: drv.set_arg("src", src[1:]),
        "pointer_type": lambda: drv.set_arg("dst", "0x1000"),
        "read_only": lambda: drv.write_reg("WORDS_DONE", 0),
        "reg_value": lambda: drv.write_reg("GIE", 1 << 33),
        "run_mixed": lambda: drv.run(src=src, dst=dst, n_words=1 << 40),
    }
    errors = {}
    for name, call in calls.items():
        try:
            call()
            errors[name] = None
        except DriverError as exc:
            errors[name] = str(exc)
    return {"errors": errors, "accesses": board.device.register_accesses - accesses,
            "n_words_kept": drv.read_reg("n_words")}


def interrupt(board) -> dict:
    """Interrupt-driven waiting: GIE/IER armed, ISR cleared afterwards."""
    drv = board.driver()
    src, dst = _buffers(board, 8)
    ctrl = drv.add_one(src, dst, interrupt=True, timeout=1e-4)
    return {"ctrl": ctrl, "equal": bool(np.array_equal(dst, src + np.uint32(1))),
            "isr": drv.read_reg("ISR"), "line": board.interrupt_level,
            "gie": drv.read_reg("GIE"), "ier": drv.read_reg("IER")}


def memory_fault(board) -> dict:
    """A write outside every buffer: SLVERR to the kernel, a recorded fault."""
    drv = board.driver()
    src, _ = _buffers(board, 2)
    stray = board.memory.base + board.memory.size // 2
    drv.run(src=src, dst=stray, n_words=2, poll_interval=0)
    faults = board.memory.take_faults() if board.params.get("take") else board.memory.faults
    return {"status": drv.read_reg("STATUS"), "faults": [str(f) for f in faults],
            "stray": stray}


def raises(board) -> dict:
    """A scenario that fails: the test sees the exception and its traceback."""
    board.driver().set_arg("n_words", 3)
    raise ValueError("scenario failed on purpose")
