"""Scenarios of the SAT kernel on the simulated board, driven by the unmodified SatDriver.

Each scenario is a blocking ``function(board) -> dict`` run inside the simulation
by :func:`sparseforge.sim.lib.board.run_on_sim_board`.  Expected values come from
the BDWP golden model (:mod:`sparseforge.sim.bdwp.golden`, written from the
maths); the driver is bound to the simulated kernel by its VLNV, as
``pynq.Overlay`` binds it.
"""

from __future__ import annotations

import numpy as np

from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import CommandList, Descriptor, command_ranges, register_map
from sparseforge.host.kernel import DriverError
from sparseforge.host.sat import KernelRunError, SatDriver
from sparseforge.sim.bdwp import golden
from sparseforge.sim.sat.kernel_perf import MemoryPort, list_cycles


def _driver(board) -> SatDriver:
    cfg = SatConfig.from_dict(board.regmap.config)
    if cfg.kernel_name != SatConfig().kernel_name:
        SatDriver.for_config(cfg)  # registers the VLNV of a renamed kernel with pynq
    drv = board.driver()
    assert isinstance(drv, SatDriver), type(drv)
    return drv


def _ints(rng, cfg: SatConfig, shape) -> np.ndarray:
    lo, hi = -(1 << (cfg.width - 1)), (1 << (cfg.width - 1)) - 1
    out = rng.integers(lo, hi + 1, shape)
    out.flat[:4] = [lo, hi, 0, lo][:out.size]  # extremes in every operand
    return out.astype(np.int8 if cfg.width <= 8 else np.int16)


def _timing(drv: SatDriver, board) -> dict:
    """The kernel's CYCLES, the model with the memory always ready, and the model at
    the port the board's stalls make (``MemoryPort.stalled(duty)``)."""
    return {"cycles": drv.last_cycles,
            "model": list_cycles(drv.config, drv.last_descriptors),
            "model_stalled": list_cycles(drv.config, drv.last_descriptors,
                                         MemoryPort.stalled(board.stalls.duty)),
            "duty": board.stalls.duty}


def gemm_modes(board) -> dict:
    """One GEMM per start in every mode, random shapes, against the golden model."""
    drv = _driver(board)
    cfg, acc = drv.config, drv.config.acc_bits
    out = []
    for case in board.params["cases"]:
        rng = np.random.default_rng(case["seed"])
        mode, batch, fan_in, fan_out = case["mode"], case["batch"], case["in"], case["out"]
        wait = {"interrupt": True} if case.get("interrupt") else {"poll_interval": 1e-7}
        c0 = board.cycles
        x = _ints(rng, cfg, (batch, fan_in))
        w = _ints(rng, cfg, (fan_out, fan_in))
        dy = _ints(rng, cfg, (batch, fan_out))
        if mode == "ff":
            got = drv.gemm(x, w.T, "ff", **wait)
            want = golden.forward_gemm(x, w, cfg.n, cfg.m, acc_bits=acc)
        elif mode == "bp":
            got = drv.gemm(dy, w, "bp", **wait)
            want = golden.backward_data_gemm(dy, w, cfg.n, cfg.m, acc_bits=acc)
        elif mode == "wu":
            got = drv.gemm(dy.T, x, "wu", **wait)
            want = golden.weight_grad_gemm(dy, x, acc_bits=acc)
        else:
            got = drv.gemm(x, w.T, "dense", **wait)
            want = golden.forward_gemm(x, w, None, None, acc_bits=acc)
        call = board.cycles - c0  # the whole driver call: registers, polls, syncs
        out.append({**case, "shape": list(got.shape), "equal": bool(np.array_equal(got, want)),
                    "call_cycles": call, **_timing(drv, board)})
    return {"cases": out, "status": drv.status}


def training_step(board) -> dict:
    """A multi-layer BDWP step: every layer's FF, BP and WU GEMM from one command list.

    The host runs the golden forward pass (with a shift-and-clip requantisation
    between layers) to get each layer's input, and the golden backward pass for
    each layer's output gradient; the kernel then computes all ``3·L`` GEMMs of
    the step with one start.
    """
    drv = _driver(board)
    cfg, acc = drv.config, drv.config.acc_bits
    rng = np.random.default_rng(board.params["seed"])
    dims, batch, shift = board.params["dims"], board.params["batch"], board.params["shift"]
    lo, hi = -(1 << (cfg.width - 1)), (1 << (cfg.width - 1)) - 1

    def requant(v):
        return np.clip(v >> shift, lo, hi).astype(np.int8 if cfg.width <= 8 else np.int16)

    ws = [_ints(rng, cfg, (dims[i + 1], dims[i])) for i in range(len(dims) - 1)]
    xs = [_ints(rng, cfg, (batch, dims[0]))]
    for w in ws[:-1]:
        xs.append(requant(np.maximum(golden.forward_gemm(xs[-1], w, cfg.n, cfg.m,
                                                         acc_bits=acc), 0)))
    dys = [_ints(rng, cfg, (batch, dims[-1]))]
    for w in ws[:0:-1]:
        dys.insert(0, requant(golden.backward_data_gemm(dys[0], w, cfg.n, cfg.m,
                                                        acc_bits=acc)))
    steps = drv.training_step(list(zip(xs, ws, dys)), prune=board.params["prune"])
    equal = []
    for x, w, dy, s in zip(xs, ws, dys, steps):
        equal.append({
            "y": bool(np.array_equal(s.y, golden.forward_gemm(x, w, cfg.n, cfg.m, acc_bits=acc))),
            "dx": bool(np.array_equal(s.dx, golden.backward_data_gemm(dy, w, cfg.n, cfg.m,
                                                                      acc_bits=acc))),
            "dw": bool(np.array_equal(s.dw, golden.weight_grad_gemm(dy, x, acc_bits=acc)))})
    return {"layers": equal, "commands": len(drv.last_descriptors), "status": drv.status,
            **_timing(drv, board)}


def prune(board) -> dict:
    """W pruned on the kernel's weight generator, both ways, against ``nm.compress``."""
    from sparseforge import nm

    drv = _driver(board)
    cfg = drv.config
    rng = np.random.default_rng(5)
    cases = []
    for shape in board.params["shapes"]:
        w = _ints(rng, cfg, tuple(shape))
        w[rng.random(w.shape) < 0.3] = 0  # ties between zeros
        for colwise in (False, True):
            got = drv.prune(w, colwise)
            want = nm.compress(w, cfg.n, cfg.m, axis=0 if colwise else 1)
            cases.append({"values": bool(np.array_equal(got.values, want.values)),
                          "indices": bool(np.array_equal(got.indices, want.indices))})
    return {"cases": cases}


def bad_input(board) -> dict:
    """Every refused call raises DriverError before any simulated time passes."""
    drv = _driver(board)
    cfg = drv.config
    rng = np.random.default_rng(1)
    a, b = _ints(rng, cfg, (5, 16)), _ints(rng, cfg, (16, 3))
    drv.gemm(a, b)  # a good run first: the driver's buffer and INFO check exist
    buf = board.allocate(4096, "u1")
    small = board.allocate(256, "u1")
    freed = board.allocate(4096, "u1")
    freed.freebuffer()
    cl = CommandList(cfg)
    cl.add(a, b, "dense")
    good = cl.descriptors(int(buf.device_address))[0]
    base = int(buf.device_address)
    calls = {
        "float dtype": lambda: drv.gemm(a.astype(np.float32), b),
        "3-D operand": lambda: drv.gemm(a[None], b),
        "K mismatch": lambda: drv.gemm(a, b[:-1]),
        "value out of range": lambda: drv.gemm(a.astype(np.int32) * 1000, b),
        "unknown mode": lambda: drv.gemm(a, b, "sparse"),
        "unknown prune": lambda: drv.training_step([(a, b.T, a[:, :3])], prune="gpu"),
        "prune float": lambda: drv.prune(a.astype(np.float64)),
        "layer shapes": lambda: drv.training_step([(a, a, a)]),
        "foreign command list": lambda: drv.run_commands(CommandList(cfg.replace(n=1))),
        "result outside buffer": lambda: drv.execute(
            [Descriptor(**{**good.__dict__, "c_addr": base + 4096 - 64})], [buf]),
        "buffer smaller than descriptor": lambda: drv.execute(
            [Descriptor(**{**good.__dict__, "a_addr": int(small.device_address),
                           "row_tiles": 9})], [small, buf]),
        "misaligned address": lambda: drv.execute(
            [Descriptor(**{**good.__dict__, "b_addr": base + 8})], [buf]),
        "N:M mismatch": lambda: drv.execute(
            [Descriptor(**{**good.__dict__, "n": cfg.n + 1})], [buf]),
        "plain numpy buffer": lambda: drv.execute([good], [np.zeros(4096, np.uint8)]),
        "misaligned stride": lambda: drv.execute(
            [Descriptor(**{**good.__dict__, "a_stride": good.a_stride + 4})], [buf]),
        "negative tiles": lambda: drv.execute(
            [Descriptor(**{**good.__dict__, "row_tiles": -1})], [buf]),
        "freed buffer": lambda: drv.execute([good], [freed]),
        "empty descriptor list": lambda: drv.execute([], [buf]),
        "bad register name": lambda: drv.read_reg("NOPE"),
    }
    out = {}
    for name, call in calls.items():
        c0 = board.cycles
        try:
            call()
        except DriverError as exc:
            out[name] = {"error": str(exc), "cycles": board.cycles - c0}
        else:
            out[name] = {"error": None, "cycles": board.cycles - c0}
    return out


def kernel_error(board) -> dict:
    """A descriptor the driver lets through unchecked; the kernel stops the list."""
    drv = _driver(board)
    cfg = drv.config
    rng = np.random.default_rng(2)
    cl = CommandList(cfg)
    cl.add(_ints(rng, cfg, (4, 16)), _ints(rng, cfg, (16, 4)), "dense")
    cl.add(_ints(rng, cfg, (4, 16)), _ints(rng, cfg, (16, 4)), "ff")
    buf = board.allocate(cl.nbytes, "u1")
    base = int(buf.device_address)
    buf[:] = cl.image(base)
    buf.flush()
    d0, d1 = cl.descriptors(base)
    bad = Descriptor(**{**d1.__dict__, "m": cfg.m * 2})
    try:
        drv.execute([d0, bad, d0], [buf], check=False)
    except KernelRunError as exc:
        return {"message": str(exc), "status": exc.status, "command": exc.command,
                "done": exc.done}
    return {"message": None}


def kernel_bad_address(board) -> dict:
    """Issue 10 defect 2 through the driver: with ``check=False`` (or from bare-metal C)
    an address off the AXI word reaches the kernel, which stops the list (STATUS
    BAD_ADDRESS) before any traffic for that command; the buffer outside the first
    command's results is untouched."""
    drv = _driver(board)
    cfg = drv.config
    rng = np.random.default_rng(4)
    cl = CommandList(cfg)
    cl.add(_ints(rng, cfg, (4, 16)), _ints(rng, cfg, (16, 4)), "dense")
    cl.add(_ints(rng, cfg, (4, 16)), _ints(rng, cfg, (16, 4)), "ff")
    buf = board.allocate(cl.nbytes, "u1")
    base = int(buf.device_address)
    buf[:] = cl.image(base)
    buf.flush()
    d0, d1 = cl.descriptors(base)
    bad = Descriptor(**{**d1.__dict__, "a_addr": d1.a_addr + 8})
    before = np.asarray(buf).copy()
    try:
        drv.execute([d0, bad], [buf], check=False)
    except KernelRunError as exc:
        buf.invalidate()
        lo, hi = command_ranges(cfg, d0)["c"]
        after = np.asarray(buf).copy()
        after[lo - base:hi - base] = before[lo - base:hi - base]
        return {"message": str(exc), "status": exc.status, "command": exc.command,
                "done": exc.done, "untouched": bool((after == before).all())}
    return {"message": None}


def timeout(board) -> dict:
    """``ap_done`` not within the timeout: TimeoutError naming CTRL; then it finishes."""
    drv = _driver(board)
    cfg = drv.config
    rng = np.random.default_rng(3)
    a, b = _ints(rng, cfg, (64, 256)), _ints(rng, cfg, (256, 64))
    try:
        drv.gemm(a, b, timeout=200e-9, poll_interval=0)  # 20 cycles at 100 MHz
    except TimeoutError as exc:
        message = str(exc)
    else:
        message = None
    ctrl = drv.wait(timeout=1.0, poll_interval=1e-6)
    return {"message": message, "ctrl_after": ctrl, "idle": drv.is_idle}


def hardware_mismatch(board) -> dict:
    """A register map of another build: refused from INFO0..2 before the first start."""
    cfg = SatConfig.from_dict(board.regmap.config)
    other = cfg.replace(rows=cfg.rows * 2, n=1)
    desc = board.ip_description()
    desc["regmap"] = register_map(other).to_dict()
    drv = SatDriver(desc)
    rng = np.random.default_rng(4)
    try:
        drv.gemm(_ints(rng, cfg, (4, 8)), _ints(rng, cfg, (8, 4)))
    except DriverError as exc:
        return {"message": str(exc), "ctrl": drv.read_reg("CTRL")}
    return {"message": None}


def notebook(board) -> dict:
    """Execute the emitted notebook's code cells, unmodified, on the simulated board.

    ``pynq.Overlay`` is the only thing replaced: it opens the simulated board and
    binds drivers by VLNV the way a real Overlay does.  The cells run in the
    project's ``host/`` folder (``../output/regmap.json`` as after ``make``).
    """
    import contextlib
    import io
    import os
    from pathlib import Path

    import pynq

    from sparseforge.hwgen.project.notebook import code_cells

    project = Path(board.params["project"])
    cells = code_cells((project / "host" / board.params["notebook"]).read_text())
    opened = []

    class SimOverlay:
        def __init__(self, bitfile):
            opened.append(str(bitfile))
            setattr(self, board.params["ip"], board.driver(pass_regmap=False))

    real, cwd, printed = pynq.Overlay, os.getcwd(), io.StringIO()
    pynq.Overlay = SimOverlay
    namespace: dict = {"__name__": "__main__"}
    try:
        os.chdir(project / "host")
        with contextlib.redirect_stdout(printed):
            for i, source in enumerate(cells):
                exec(compile(source, f"<cell {i}>", "exec"), namespace)
    finally:
        pynq.Overlay = real
        os.chdir(cwd)
    sat = namespace["sat"]
    return {"cells": len(cells), "opened": opened, "printed": printed.getvalue(),
            "driver": type(sat).__name__, "c_shape": list(namespace["c"].shape),
            "last_cycles": sat.last_cycles}
