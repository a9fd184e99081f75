import json, os
from pathlib import Path
import shim
import cocotb, numpy as np
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam
import sparseforge.families.sat.contract as ct
from sparseforge.families.sat.schedule import plan_gemm
from sparseforge.sim.lib.stalls import Stalls, stall_axi
from sparseforge.sim.sat.vectors import make_operands, reference, make_weight, wgen_reference

@cocotb.test()
async def dbg(dut):
    spec = json.loads(Path(os.environ["DBG_SPEC"]).read_text())
    cfg = shim.Cfg(**spec["config"]); P = cfg.mem_ports
    rmap = shim.register_map(cfg)
    off = {w["name"]: w["offset"] for w in rmap.words()}
    cocotb.start_soon(Clock(dut.ap_clk, 10, unit="ns").start())
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.ap_clk, dut.ap_rst_n, reset_active_level=False)
    rams = [AxiRam(AxiBus.from_prefix(dut, n), dut.ap_clk, dut.ap_rst_n, reset_active_level=False, size=1 << 22)
            for n in shim.master_names(cfg)]
    dut.ap_rst_n.value = 0
    for _ in range(5): await RisingEdge(dut.ap_clk)
    dut.ap_rst_n.value = 1
    for _ in range(2): await RisingEdge(dut.ap_clk)
    st = Stalls.of(spec.get("stalls"))
    for p, r in enumerate(rams):
        stall_axi(r, st.with_seed(st.seed + 7 * p), f"gmem{p}")
    bases = [0x80000 + 0x1000 * p for p in range(P)]
    g = ct.Geometry.of(cfg)
    descs, jobs = [], []
    addr = 0
    for vec in spec["vectors"]:
        if vec["mode"] in ("wgen_row", "wgen_col"):
            w = make_weight(cfg, vec); wp = ct.plan_wgen(cfg, w, vec["mode"] == "wgen_col")
            src = shim.pack_wgen_stream(cfg, w, wp.colwise)
            sb, db_ = shim.wgen_port_bytes(cfg, wp)
            a_off = addr; addr += -(-sb // 64) * 64 + 64
            c_off = addr; addr += -(-db_ // 64) * 64 + 64
            for p in range(P): rams[p].write(bases[p] + a_off, src[p].tobytes())
            d = ct.Descriptor.for_wgen(cfg, wp, a_off, c_off)
            descs.append(d.pack()); jobs.append(("w", wp, c_off, db_, wgen_reference(cfg, vec)))
            continue
        a, b, sparse = make_operands(cfg, vec)
        plan = plan_gemm(cfg, a, b, sparse)
        A, B = shim.pack_a_stream(cfg, plan), shim.pack_b_stream(cfg, plan)
        a_off = addr; addr += -(-A[0].size // 64) * 64 + 64
        b_off = addr; addr += -(-B[0].size // 64) * 64 + 64
        c_off = addr
        TI = -(-plan.shape[0] // cfg.rows); TJ = -(-plan.shape[2] // cfg.cols)
        rsz = shim.result_port_bytes(cfg, TI * TJ)
        addr += -(-max(rsz) // 64) * 64 + 64
        for p in range(P):
            rams[p].write(bases[p] + a_off, A[p].tobytes()); rams[p].write(bases[p] + b_off, B[p].tobytes())
            rams[p].write(bases[p] + c_off, b"\xa5" * rsz[p])
        op = "dense" if not sparse else ("bp" if vec["mode"] == "bp" else "ff")
        d, bp = shim.for_plan(cfg, plan, op, a_off, b_off, c_off)
        if "blocks" in vec: bp = shim.BlockPlan(*vec["blocks"])
        descs.append(shim.pack_desc(d, bp)); jobs.append(("g", plan, c_off, rsz, reference(cfg, vec), bp))
    cmd = 0x1000
    rams[0].write(cmd, b"".join(descs))
    for p in range(P):
        await axil.write_dword(off[f"base{p}_lo"], bases[p] & 0xFFFFFFFF)
        await axil.write_dword(off[f"base{p}_hi"], bases[p] >> 32)
    await axil.write_dword(off["cmd_list_lo"], cmd)
    await axil.write_dword(off["cmd_list_hi"], 0)
    await axil.write_dword(off["n_cmds"], len(descs))
    await axil.write_dword(off["CTRL"], 1)
    for _ in range(200000):
        v = await axil.read_dword(off["CTRL"])
        if v & 2: break
    else:
        raise TimeoutError("no done")
    res = {k: await axil.read_dword(off[k]) for k in ("STATUS", "ERR_CMD", "CMDS_DONE", "CYCLES_LO")}
    out = []
    for j in jobs:
        if j[0] == "w":
            _, wp, c_off, db_, want = j
            got = shim.unpack_wgen_result(cfg, wp, [np.frombuffer(rams[p].read(bases[p] + c_off, db_), np.uint8) for p in range(P)])
            out.append(int(np.count_nonzero((got.values != want.values) | (got.indices != want.indices))))
        else:
            _, plan, c_off, rsz, want, bp = j
            got = shim.unpack_results(cfg, plan, bp, [np.frombuffer(rams[p].read(bases[p] + c_off, rsz[p]), np.uint8) for p in range(P)])
            out.append(int(np.count_nonzero(got != want)))
    res["mismatches"] = out
    Path(spec["report"]).write_text(json.dumps(res))
