"""cocotb bench of the SAT kernel (AXI shell + engine) with cocotbext-axi models.

An ``AxiLiteMaster`` drives ``s_axi_control``; an ``AxiRam`` answers
``m_axi_gmem``.  Each *run* of the spec is one command list executed with one
``ap_start``: the bench places operands (packed by :mod:`sparseforge.families.sat.contract`)
and descriptors in the RAM, starts the kernel, polls ``ap_done``, reads the
results back and compares them with the golden GEMMs.  It records the
kernel's own ``CYCLES`` register (``ap_start`` to ``ap_done``) per run.

Spec (JSON file named by ``SAT_KERNEL_SPEC``): ``{"config": {...}, "runs":
[{"id", "vectors": [vector, ...], "base": int}], "report": path}``; vectors are
those of :mod:`sparseforge.sim.sat.vectors` (GEMMs, weight generations, GEMMs on
a weight generated earlier in the list).  A run may instead carry a ready-made
buffer, ``{"id", "image": {"path": .npy of uint8, "base", "n_cmds", "dump": path}}``
(e.g. a :class:`~sparseforge.families.sat.contract.CommandList` image): the bench writes it at
``base``, runs ``n_cmds`` commands from there and dumps the buffer after the run to
``dump`` (.npy) for the caller to check.

Stalls (:mod:`sparseforge.sim.lib.stalls`): ``"stalls"`` at the top of the spec, or in a
run (which wins), is a :class:`~sparseforge.sim.lib.stalls.Stalls` dict (or ``null``):
seeded pauses on the five channels of the RAM (``gmem.aw`` … ``gmem.r``: ``ready``
low on AW / W / AR, ``valid`` low on R / B) and of the AXI4-Lite master
(``control.*``); every run is reported with the ``duty`` it ran under.  Results
must stay bit-exact; ``CYCLES`` grows.

Error runs: ``"corrupt": {"index", "word", "value"}`` overwrites one descriptor
word, ``{"index", "field", "value"}`` one field of
:data:`~sparseforge.families.sat.contract.DESC_FIELDS`; ``"fault": {"index", "kind": "read" |
"write"}`` makes the RAM answer ``SLVERR`` to every read of command ``index``'s
source (``a``) range, or every write to its result range, and ``"kind": "desc"``
to the read of its descriptor (``"field"``: only the beat(s) holding that field).
All expect ``expect_status``, ``ERR_CMD = index`` and the results of the commands
before it; a data fault lets its command finish (``CMDS_DONE = index + 1``), a
corrupt descriptor or a descriptor fault does not (``CMDS_DONE = index``).
``"cmd_list_offset": k`` starts the list ``k`` bytes after its descriptors (an
unaligned ``cmd_list``); ``"expect_err_cmd"`` / ``"expect_done"`` override the
expected ``ERR_CMD`` / ``CMDS_DONE`` (``expect_done`` alone: the list stops before
its end but no command failed, e.g. at command 0).

Every AR and AW burst the RAM receives is checked against the AXI4 rules (aligned
to the word, 1 to ``max_burst`` beats, INCR, never across 4 KiB): an illegal burst
fails its run at once.  ``"bursts": true`` adds the run's bursts, in order, to its
report (``[channel "r" | "w", address, beats]``).  The bench also watches the
kernel's sticky ``record_overflow`` flag (a record FIFO written while full, STATUS
``FIFO_OVERFLOW``): a run during which it rises fails unless it expects that status.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import (
    DESC_BYTES,
    DESC_FIELD,
    STATUS,
    Descriptor,
    WgenPlan,
    command_ranges,
    pack_a_stream,
    pack_b_stream,
    pack_wgen_stream,
    plan_wgen,
    register_map,
    result_bytes,
    unpack_results,
    unpack_wgen_result,
    wgen_bytes,
)
from sparseforge.families.sat.schedule import plan_gemm
from sparseforge.sim.lib.stalls import Stalls, stall_axi
from sparseforge.sim.sat.vectors import (
    WGEN_MODES,
    make_operands,
    make_weight,
    pruned_operand,
    pruned_reference,
    reference,
    wgen_reference,
)

RAM_BYTES = 1 << 24


def _align(x: int, a: int = 64) -> int:
    return -(-x // a) * a


def layout_run(cfg: SatConfig, vectors: list[dict], base: int):
    """Place a command list and its operands from ``base``; returns (image, jobs, cmd_addr).

    ``image`` is ``[(addr, bytes), ...]`` to write, ``jobs`` per vector
    ``(plan, c_addr, want)``: a :class:`GemmPlan` and C for a GEMM, a
    :class:`WgenPlan` and the golden :class:`~sparseforge.nm.NMTensor` for a
    weight generation.
    """
    image, jobs, descs = [], [], []
    addr = _align(base + len(vectors) * DESC_BYTES)
    for vec in vectors:
        if vec["mode"] in WGEN_MODES:
            w = make_weight(cfg, vec)
            wplan = plan_wgen(cfg, w, vec["mode"] == "wgen_col")
            dense = pack_wgen_stream(cfg, w, wplan.colwise)
            src, addr = addr, _align(addr + dense.size + 64 * 3)
            dst, addr = addr, _align(addr + wgen_bytes(cfg, wplan)[1] + 64)
            image.append((src, dense.tobytes()))
            descs.append(Descriptor.for_wgen(cfg, wplan, src, dst))
            jobs.append((wplan, dst, wgen_reference(cfg, vec)))
            continue
        if "wgen" in vec:  # B is the stream a weight generation of this list writes
            gen = vectors[vec["wgen"]]
            wplan, b_addr = jobs[vec["wgen"]][0], jobs[vec["wgen"]][1]
            a = pruned_operand(cfg, vec, gen)
            b_shape = wplan.shape if wplan.colwise else wplan.shape[::-1]
            plan = plan_gemm(cfg, a, np.zeros(b_shape, np.int8), True)
            a_bytes = pack_a_stream(cfg, plan)
            a_addr, addr = addr, _align(addr + a_bytes.size + 64 * 3)
            c_addr, addr = addr, _align(addr + result_bytes(cfg, len(plan.tiles)) + 64)
            image.append((a_addr, a_bytes.tobytes()))
            descs.append(Descriptor.for_plan(cfg, plan, vec["mode"], a_addr, b_addr, c_addr))
            jobs.append((plan, c_addr, pruned_reference(cfg, vec, gen)))
            continue
        a, b, sparse = make_operands(cfg, vec)
        plan = plan_gemm(cfg, a, b, sparse)
        a_bytes, b_bytes = pack_a_stream(cfg, plan), pack_b_stream(cfg, plan)
        a_addr, addr = addr, _align(addr + a_bytes.size + 64 * 3)
        b_addr, addr = addr, _align(addr + b_bytes.size + 64 * 5)
        c_addr, addr = addr, _align(addr + result_bytes(cfg, len(plan.tiles)) + 64)
        image += [(a_addr, a_bytes.tobytes()), (b_addr, b_bytes.tobytes())]
        op = "dense" if not sparse else ("bp" if vec["mode"] == "bp" else "ff")
        descs.append(Descriptor.for_plan(cfg, plan, op, a_addr, b_addr, c_addr))
        jobs.append((plan, c_addr, reference(cfg, vec)))
    image.append((base, b"".join(d.pack() for d in descs)))
    return image, jobs, base


def _inject_fault(cfg: SatConfig, ram, descs: bytes, fault: dict):
    """Make the RAM answer SLVERR inside one command's source or result range; returns
    the function that undoes it."""
    i = fault["index"]
    if fault["kind"] == "desc":  # the descriptor's own fetch (reads of cmd_addr + 64·i ...)
        lo = fault["cmd_addr"] + i * DESC_BYTES
        hi = lo + DESC_BYTES
        if "field" in fault:  # only the beat(s) holding this field
            f = DESC_FIELD[fault["field"]]
            lo, hi = lo + f.offset // 8, lo + (f.offset + f.bits) // 8
    else:
        desc = Descriptor.unpack(descs[i * DESC_BYTES:(i + 1) * DESC_BYTES])
        lo, hi = command_ranges(cfg, desc)["a" if fault["kind"] == "read" else "c"]
    reads = fault["kind"] in ("read", "desc")
    port = ram.read_if if reads else ram.write_if
    method = "_read" if reads else "_write"
    orig = getattr(port, method)

    async def faulty(address, *args):
        # reads: (word address, bytes); writes: (address, data) of one strobe run
        if address < hi and lo < address + (args[0] if reads else 1):
            raise OSError(f"injected fault at {address:#x}")
        return await orig(address, *args)

    setattr(port, method, faulty)
    level = port.log.level
    port.log.setLevel(logging.ERROR)  # one "operation failed" warning per beat otherwise

    def restore():
        setattr(port, method, orig)
        port.log.setLevel(level)

    return restore


class BusMonitor:
    """Records every AR / AW burst the RAM takes and checks it against the AXI4 rules.

    Wraps the channels' ``recv`` (the RAM's own read / write processes call it once
    per burst), so it costs nothing per clock cycle.
    """

    def __init__(self, ram, word_bytes: int, max_burst: int):
        self.word_bytes, self.max_burst = word_bytes, max_burst
        self.bursts: list[tuple[str, int, int]] = []
        self.illegal: list[str] = []
        for kind, port, name in (("r", ram.read_if, "ar"), ("w", ram.write_if, "aw")):
            channel = getattr(port, f"{name}_channel")
            channel.recv = self._wrap(kind, name, channel.recv)

    def _wrap(self, kind: str, name: str, recv):
        async def wrapped():
            txn = await recv()
            addr = int(getattr(txn, f"{name}addr"))
            beats = int(getattr(txn, f"{name}len")) + 1
            size = int(getattr(txn, f"{name}size"))
            burst = int(getattr(txn, f"{name}burst"))
            self.bursts.append((kind, addr, beats))
            wb = self.word_bytes
            why = []
            if addr % wb:
                why.append(f"address not a multiple of {wb}")
            if not 1 <= beats <= self.max_burst:
                why.append(f"{beats} beats (max_burst {self.max_burst})")
            if addr // 4096 != (addr + beats * wb - 1) // 4096:
                why.append("crosses 4 KiB")
            if (size, burst) != (wb.bit_length() - 1, 1):
                why.append(f"size {size} / burst type {burst}")
            if why:
                self.illegal.append(f"{name.upper()} {addr:#x} len {beats - 1} at "
                                    f"{get_sim_time('ns')} ns: {', '.join(why)}")
            return txn

        return wrapped


class IllegalBurst(AssertionError):
    """The kernel issued a burst that breaks the AXI4 rules."""


async def _watch_overflow(dut, seen: list) -> None:
    """Note the time whenever the kernel's sticky ``record_overflow`` flag rises."""
    while True:
        await RisingEdge(dut.record_overflow)
        seen.append(get_sim_time("ns"))


def _corrupt_descriptor(ram, cmd_addr: int, bad: dict) -> None:
    """Overwrite one word (``"word"``) or one field (``"field"``) of a descriptor."""
    at = cmd_addr + bad["index"] * DESC_BYTES
    if "field" not in bad:
        ram.write(at + 4 * bad["word"], int(bad["value"]).to_bytes(4, "little"))
        return
    f = DESC_FIELD[bad["field"]]
    value = int.from_bytes(ram.read(at, DESC_BYTES), "little")
    mask = ((1 << f.bits) - 1) << f.offset
    value = value & ~mask | (int(bad["value"]) << f.offset & mask)
    ram.write(at, value.to_bytes(DESC_BYTES, "little"))


def _expected_stop(run: dict) -> tuple[int, int] | None:
    """``(ERR_CMD, CMDS_DONE)`` a run that must stop early expects, else ``None``."""
    bad, fault = run.get("corrupt"), run.get("fault")
    if bad:
        stop = (bad["index"], bad["index"])
    elif fault:
        i = fault["index"]
        stop = (i, i if fault["kind"] == "desc" else i + 1)
    elif "expect_done" in run or "expect_err_cmd" in run:
        stop = (0, 0)
    else:
        return None
    return (run.get("expect_err_cmd", stop[0]), run.get("expect_done", stop[1]))


async def _start_and_wait(axil, off: dict, cmd_addr: int, n_cmds: int,
                          monitor: BusMonitor | None = None) -> dict:
    """Start a list, wait for ``ap_done``, read the status registers."""
    await axil.write_dword(off["cmd_list_lo"], cmd_addr & 0xFFFFFFFF)
    await axil.write_dword(off["cmd_list_hi"], cmd_addr >> 32)
    await axil.write_dword(off["n_cmds"], n_cmds)
    await axil.write_dword(off["CTRL"], 1)
    ctrl = await _wait_done(axil, off["CTRL"], monitor=monitor)
    cycles = (await axil.read_dword(off["CYCLES_LO"])) | (
        await axil.read_dword(off["CYCLES_HI"])) << 32
    return {"cycles": cycles, "status": await axil.read_dword(off["STATUS"]),
            "err_cmd": await axil.read_dword(off["ERR_CMD"]),
            "cmds_done": await axil.read_dword(off["CMDS_DONE"]), "ctrl_at_done": ctrl,
            "ctrl_after_read": await axil.read_dword(off["CTRL"])}


async def _run_image(axil, ram, off: dict, run: dict) -> dict:
    """A run with a ready-made buffer: write, start, dump the buffer after the run."""
    spec = run["image"]
    buf = np.load(spec["path"])
    ram.write(spec["base"], buf.tobytes())
    regs = await _start_and_wait(axil, off, spec["base"], spec["n_cmds"])
    after = np.frombuffer(ram.read(spec["base"], buf.size), np.uint8)
    np.save(spec["dump"], after)
    return {"id": run["id"], **regs, "mismatches": [],
            "passed": regs["status"] == 0 and regs["cmds_done"] == spec["n_cmds"]}


async def _wait_done(axil, ctrl: int, limit_polls: int = 1 << 20, monitor=None) -> int:
    for _ in range(limit_polls):
        v = await axil.read_dword(ctrl)
        if v & 0x2:
            return v
        if monitor is not None and monitor.illegal:  # fail fast: the kernel may hang
            raise IllegalBurst("; ".join(monitor.illegal[:4]))
    raise TimeoutError(f"ap_done never came; CTRL = {v:#x}")


@cocotb.test()
async def sat_kernel_runs(dut):
    """Every run of the spec: results bit-exact with golden; kernel cycles recorded."""
    spec = json.loads(Path(os.environ["SAT_KERNEL_SPEC"]).read_text())
    cfg = SatConfig(**spec["config"])
    rmap = register_map(cfg)
    off = {w["name"]: w["offset"] for w in rmap.words()}
    cocotb.start_soon(Clock(dut.ap_clk, 10, unit="ns").start())
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.ap_clk,
                         dut.ap_rst_n, reset_active_level=False)
    ram = AxiRam(AxiBus.from_prefix(dut, "m_axi_gmem"), dut.ap_clk, dut.ap_rst_n,
                 reset_active_level=False, size=RAM_BYTES)
    dut.ap_rst_n.value = 0
    for _ in range(5):
        await RisingEdge(dut.ap_clk)
    dut.ap_rst_n.value = 1
    for _ in range(2):
        await RisingEdge(dut.ap_clk)

    monitor = BusMonitor(ram, cfg.axi_data_bits // 8, cfg.max_burst)
    overflows: list = []
    cocotb.start_soon(_watch_overflow(dut, overflows))
    report = []
    start = time.perf_counter()
    total = 0
    for run in spec["runs"]:
        stalls = Stalls.of(run.get("stalls", spec.get("stalls")))
        stall_axi(ram, stalls, "gmem")
        stall_axi(axil, stalls.with_seed(stalls.seed + 1), "control")
        n_bursts, n_overflows = len(monitor.bursts), len(overflows)
        if "image" in run:
            report.append({**await _run_image(axil, ram, off, run), "duty": stalls.duty})
            total += report[-1]["cycles"]
            continue
        image, jobs, cmd_addr = layout_run(cfg, run["vectors"], run.get("base", 0x1000))
        for addr, raw in image:
            ram.write(addr, raw)
        bad = run.get("corrupt")  # a faulty descriptor word or field
        if bad:
            _corrupt_descriptor(ram, cmd_addr, bad)
        fault = run.get("fault")
        restore = _inject_fault(cfg, ram, dict(image)[cmd_addr],
                                {**fault, "cmd_addr": cmd_addr}) if fault else None
        for plan, c_addr, _want in jobs:  # poison the result areas
            size = wgen_bytes(cfg, plan)[1] if isinstance(plan, WgenPlan) else 64
            ram.write(c_addr, b"\xa5" * size)
        try:
            regs = await _start_and_wait(axil, off, cmd_addr + run.get("cmd_list_offset", 0),
                                         len(jobs), monitor)
        except IllegalBurst as exc:  # the kernel's state is unknown: stop the bench here
            report.append({"id": run["id"], "passed": False, "illegal_bursts": [str(exc)]})
            break
        if restore:
            restore()
        cycles, status, err_cmd = regs["cycles"], regs["status"], regs["err_cmd"]
        done = regs["cmds_done"]
        mism = []
        stop = _expected_stop(run)
        if stop:
            want_done = stop[1]
            jobs = jobs[:stop[0]]  # the failing command's results are not checked
        for plan, c_addr, want in jobs:
            if isinstance(plan, WgenPlan):  # mismatching groups
                raw = np.frombuffer(ram.read(c_addr, wgen_bytes(cfg, plan)[1]), np.uint8)
                got = unpack_wgen_result(cfg, plan, raw)
                bad_g = (got.values != want.values) | (got.indices != want.indices)
                mism.append(int(np.count_nonzero(bad_g.any(axis=-1))))
                continue
            raw = np.frombuffer(ram.read(c_addr, result_bytes(cfg, len(plan.tiles))), np.uint8)
            got = unpack_results(cfg, plan, raw)
            mism.append(int(np.count_nonzero(got != want)))
        total += cycles
        want_status = run.get("expect_status", 0)
        if not stop:
            want_done = len(jobs)
        ok_status = status == want_status and (not stop or err_cmd == stop[0])
        illegal = monitor.illegal[:]
        monitor.illegal.clear()
        overflow = len(overflows) > n_overflows
        entry = {"id": run["id"], **regs, "mismatches": mism, "illegal_bursts": illegal,
                 "overflow": overflow, "duty": stalls.duty,
                 "passed": ok_status and done == want_done and not any(mism) and not illegal
                 and (not overflow or want_status == STATUS["FIFO_OVERFLOW"])}
        if run.get("bursts"):
            entry["bursts"] = monitor.bursts[n_bursts:]
        report.append(entry)
    wall = time.perf_counter() - start
    Path(spec["report"]).write_text(json.dumps(
        {"runs": report, "sim_seconds": wall, "kernel_cycles": total}, indent=1))
    failed = [r["id"] for r in report if not r["passed"]]
    assert not failed, f"failed runs: {failed}"
