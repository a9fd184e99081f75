"""cocotb bench of the SAT kernel (AXI shell + engine) with cocotbext-axi models.

An ``AxiLiteMaster`` drives ``s_axi_control``; an ``AxiRam`` answers
``m_axi_gmem``.  Each *run* of the spec is one command list executed with one
``ap_start``: the bench places operands (packed by :mod:`sparseforge.sat_kernel`)
and descriptors in the RAM, starts the kernel, polls ``ap_done``, reads the
results back and compares them with the golden GEMMs.  It records the
kernel's own ``CYCLES`` register (``ap_start`` to ``ap_done``) per run.

Spec (JSON file named by ``SAT_KERNEL_SPEC``): ``{"config": {...}, "runs":
[{"id", "vectors": [vector, ...], "base": int}], "report": path}``; vectors are
those of :mod:`sparseforge.sim.sat_vectors`.
"""

from __future__ import annotations

import json
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
    pack_a_stream,
    pack_b_stream,
    register_map,
    result_bytes,
    unpack_results,
)
from sparseforge.sat_schedule import plan_gemm
from sparseforge.sim.sat_vectors import make_operands, reference

RAM_BYTES = 1 << 24


def _align(x: int, a: int = 64) -> int:
    return -(-x // a) * a


def layout_run(cfg: SatConfig, vectors: list[dict], base: int):
    """Place a command list and its operands from ``base``; returns (image, jobs, cmd_addr).

    ``image`` is ``[(addr, bytes), ...]`` to write, ``jobs`` per vector
    ``(plan, c_addr, want)``.
    """
    image, jobs, descs = [], [], []
    addr = _align(base + len(vectors) * DESC_BYTES)
    for vec in vectors:
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
        image, jobs, cmd_addr = layout_run(cfg, run["vectors"], run.get("base", 0x1000))
        for addr, raw in image:
            ram.write(addr, raw)
        bad = run.get("corrupt")  # {"index": i, "word": w, "value": v}: a faulty descriptor
        if bad:
            ram.write(cmd_addr + bad["index"] * DESC_BYTES + 4 * bad["word"],
                      int(bad["value"]).to_bytes(4, "little"))
        for _, c_addr, _want in jobs:  # poison the result areas
            ram.write(c_addr, b"\xa5" * 64)
        await axil.write_dword(off["cmd_list_lo"], cmd_addr & 0xFFFFFFFF)
        await axil.write_dword(off["cmd_list_hi"], cmd_addr >> 32)
        await axil.write_dword(off["n_cmds"], len(jobs))
        await axil.write_dword(off["CTRL"], 1)
        ctrl = await _wait_done(axil, off["CTRL"])
        cycles = (await axil.read_dword(off["CYCLES_LO"])) | (
            await axil.read_dword(off["CYCLES_HI"])) << 32
        status = await axil.read_dword(off["STATUS"])
        err_cmd = await axil.read_dword(off["ERR_CMD"])
        done = await axil.read_dword(off["CMDS_DONE"])
        ctrl_after = await axil.read_dword(off["CTRL"])
        mism = []
        if bad:
            jobs = jobs[:bad["index"]]
        for plan, c_addr, want in jobs:
            raw = np.frombuffer(ram.read(c_addr, result_bytes(cfg, len(plan.tiles))), np.uint8)
            got = unpack_results(cfg, plan, raw)
            mism.append(int(np.count_nonzero(got != want)))
        total += cycles
        want_status = run.get("expect_status", 0)
        ok_status = status == want_status and (not bad or err_cmd == bad["index"])
        report.append({"id": run["id"], "cycles": cycles, "status": status,
                       "err_cmd": err_cmd, "cmds_done": done, "ctrl_at_done": ctrl,
                       "ctrl_after_read": ctrl_after, "mismatches": mism,
                       "passed": ok_status and done == len(jobs) and not any(mism)})
    wall = time.perf_counter() - start
    Path(spec["report"]).write_text(json.dumps(
        {"runs": report, "sim_seconds": wall, "kernel_cycles": total}, indent=1))
    failed = [r["id"] for r in report if not r["passed"]]
    assert not failed, f"failed runs: {failed}"
