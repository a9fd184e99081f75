"""cocotb bench of the SAT kernel (AXI shell + engine) with cocotbext-axi models.

An ``AxiLiteMaster`` drives ``s_axi_control``; an ``AxiRam`` answers
``m_axi_gmem``.  Each *run* of the spec is one command list executed with one
``ap_start``: the bench places operands (packed by :mod:`sparseforge.sat_kernel`)
and descriptors in the RAM, starts the kernel, polls ``ap_done``, reads the
results back and compares them with the golden GEMMs.  It records the
kernel's own ``CYCLES`` register (``ap_start`` to ``ap_done``) per run.

Spec (JSON file named by ``SAT_KERNEL_SPEC``): ``{"config": {...}, "runs":
[{"id", "vectors": [vector, ...], "base": int}], "report": path}``; vectors are
those of :mod:`sparseforge.sim.sat_vectors` (GEMMs, weight generations, GEMMs on
a weight generated earlier in the list).  A run may instead carry a ready-made
buffer, ``{"id", "image": {"path": .npy of uint8, "base", "n_cmds", "dump": path}}``
(e.g. a :class:`~sparseforge.sat_kernel.CommandList` image): the bench writes it at
``base``, runs ``n_cmds`` commands from there and dumps the buffer after the run to
``dump`` (.npy) for the caller to check.

Stalls (:mod:`sparseforge.sim.stalls`): ``"stalls"`` at the top of the spec, or in a
run (which wins), is a :class:`~sparseforge.sim.stalls.Stalls` dict (or ``null``):
seeded pauses on the five channels of the RAM (``gmem.aw`` … ``gmem.r``: ``ready``
low on AW / W / AR, ``valid`` low on R / B) and of the AXI4-Lite master
(``control.*``); every run is reported with the ``duty`` it ran under.  Results
must stay bit-exact; ``CYCLES`` grows.

Error runs: ``"corrupt": {"index", "word", "value"}`` overwrites one descriptor
word; ``"fault": {"index", "kind": "read" | "write"}`` makes the RAM answer
``SLVERR`` to every read of command ``index``'s source (``a``) range, or every
write to its result range.  Both expect ``expect_status``, ``ERR_CMD = index`` and
the results of the commands before it; a fault lets its command finish
(``CMDS_DONE = index + 1``), a corrupt descriptor does not (``CMDS_DONE = index``).
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
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from sparseforge.configs import SatConfig
from sparseforge.sat_kernel import (
    DESC_BYTES,
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
from sparseforge.sat_schedule import plan_gemm
from sparseforge.sim.sat_vectors import (
    WGEN_MODES,
    make_operands,
    make_weight,
    pruned_operand,
    pruned_reference,
    reference,
    wgen_reference,
)
from sparseforge.sim.stalls import Stalls, stall_axi

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
    desc = Descriptor.unpack(descs[i * DESC_BYTES:(i + 1) * DESC_BYTES])
    lo, hi = command_ranges(cfg, desc)["a" if fault["kind"] == "read" else "c"]
    port = ram.read_if if fault["kind"] == "read" else ram.write_if
    method = "_read" if fault["kind"] == "read" else "_write"
    orig = getattr(port, method)

    async def faulty(address, *args):
        if lo <= address < hi:
            raise OSError(f"injected fault at {address:#x}")
        return await orig(address, *args)

    setattr(port, method, faulty)
    level = port.log.level
    port.log.setLevel(logging.ERROR)  # one "operation failed" warning per beat otherwise

    def restore():
        setattr(port, method, orig)
        port.log.setLevel(level)

    return restore


async def _start_and_wait(axil, off: dict, cmd_addr: int, n_cmds: int) -> dict:
    """Start a list, wait for ``ap_done``, read the status registers."""
    await axil.write_dword(off["cmd_list_lo"], cmd_addr & 0xFFFFFFFF)
    await axil.write_dword(off["cmd_list_hi"], cmd_addr >> 32)
    await axil.write_dword(off["n_cmds"], n_cmds)
    await axil.write_dword(off["CTRL"], 1)
    ctrl = await _wait_done(axil, off["CTRL"])
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


async def _wait_done(axil, ctrl: int, limit_polls: int = 1 << 20) -> int:
    for _ in range(limit_polls):
        v = await axil.read_dword(ctrl)
        if v & 0x2:
            return v
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

    report = []
    start = time.perf_counter()
    total = 0
    for run in spec["runs"]:
        stalls = Stalls.of(run.get("stalls", spec.get("stalls")))
        stall_axi(ram, stalls, "gmem")
        stall_axi(axil, stalls.with_seed(stalls.seed + 1), "control")
        if "image" in run:
            report.append({**await _run_image(axil, ram, off, run), "duty": stalls.duty})
            total += report[-1]["cycles"]
            continue
        image, jobs, cmd_addr = layout_run(cfg, run["vectors"], run.get("base", 0x1000))
        for addr, raw in image:
            ram.write(addr, raw)
        bad = run.get("corrupt")  # {"index": i, "word": w, "value": v}: a faulty descriptor
        if bad:
            ram.write(cmd_addr + bad["index"] * DESC_BYTES + 4 * bad["word"],
                      int(bad["value"]).to_bytes(4, "little"))
        fault = run.get("fault")
        restore = _inject_fault(cfg, ram, dict(image)[cmd_addr], fault) if fault else None
        for plan, c_addr, _want in jobs:  # poison the result areas
            size = wgen_bytes(cfg, plan)[1] if isinstance(plan, WgenPlan) else 64
            ram.write(c_addr, b"\xa5" * size)
        regs = await _start_and_wait(axil, off, cmd_addr, len(jobs))
        if restore:
            restore()
        cycles, status, err_cmd = regs["cycles"], regs["status"], regs["err_cmd"]
        done = regs["cmds_done"]
        mism = []
        if bad or fault:
            want_done = bad["index"] if bad else fault["index"] + 1
            jobs = jobs[:(bad or fault)["index"]]
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
        if not (bad or fault):
            want_done = len(jobs)
        ok_status = status == want_status and (
            not (bad or fault) or err_cmd == (bad or fault)["index"])
        report.append({"id": run["id"], **regs, "mismatches": mism, "duty": stalls.duty,
                       "passed": ok_status and done == want_done and not any(mism)})
    wall = time.perf_counter() - start
    Path(spec["report"]).write_text(json.dumps(
        {"runs": report, "sim_seconds": wall, "kernel_cycles": total}, indent=1))
    failed = [r["id"] for r in report if not r["passed"]]
    assert not failed, f"failed runs: {failed}"
