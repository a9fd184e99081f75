"""Work in progress (issue 13): the contract additions of docs/designs/sat_blocked.md, patched
onto the current contract so that the blocked kernel (kernel.py here) can be built and run
before the contract itself changes.  Not part of the package."""
from dataclasses import dataclass
import sparseforge.families.sat.contract as ct
from sparseforge.families.sat.config import SatConfig
from sparseforge.regmap import Arg, Register, RegisterMap

@dataclass(frozen=True)
class Cfg(SatConfig):
    mem_ports: int = 1
    a_buf: int = 256
    b_buf: int = 256
    c_buf: int = 4
    requant: bool = False

ct.STATUS["BAD_BLOCK"] = 8
ct.STATUS["BAD_OUTPUT"] = 9
for f in (ct.DescField("blk_rows", 12, 0, 16, "", ""), ct.DescField("blk_cols", 12, 16, 16, "", ""),
          ct.DescField("k_chunk", 13, 0, 24, "", ""), ct.DescField("out_mode", 13, 24, 8, "", ""),
          ct.DescField("q_addr", 14, 0, 64, "", "")):
    ct.DESC_FIELD[f.name] = f
ct.ADDRESS_FIELDS = ct.ADDRESS_FIELDS + ("q_addr",)

def master_names(cfg):
    return ["m_axi_gmem"] if cfg.mem_ports == 1 else [f"m_axi_gmem{p}" for p in range(cfg.mem_ports)]
ct.master_names = master_names
_orig = ct.register_map
def register_map(cfg):
    r = _orig(cfg)
    names = master_names(cfg)
    args = list(r.args)
    args[0] = Arg("cmd_list", 0, 0x10, 64, "pointer", "void*", "cmd list", names[0])
    for p in range(cfg.mem_ports):
        args.append(Arg(f"base{p}", 2 + p, 0x48 + 8 * p, 64, "pointer", "void*", "base", names[p]))
    masters = tuple({"port": n, "data_bits": cfg.axi_data_bits, "addr_bits": 64} for n in names)
    return RegisterMap(r.kernel, r.design, r.config, r.registers, tuple(args), masters)
ct.register_map = register_map
import importlib.util as _u, sys as _sys
from pathlib import Path as _P
_spec = _u.spec_from_file_location("sat_blocked_kernel", _P(__file__).with_name("kernel.py"))
k = _u.module_from_spec(_spec); _sys.modules["sat_blocked_kernel"] = k; _spec.loader.exec_module(k)

# ---- striped layouts (spec: docs/designs/sat_blocked.md)
import numpy as np
from dataclasses import dataclass as _dc
_old = {n: getattr(ct, n) for n in ("pack_a_stream", "pack_b_stream", "pack_wgen_stream",
                                    "unpack_results", "unpack_wgen_result", "result_bytes")}

def _stripe(raw, segs, recs, rec_bytes, P):
    sp = -(-recs // P)
    a = np.asarray(raw, np.uint8).reshape(segs, recs, rec_bytes)
    pad = np.zeros((segs, sp * P, rec_bytes), np.uint8); pad[:, :recs] = a
    pad = pad.reshape(segs, sp, P, rec_bytes)
    return [np.ascontiguousarray(pad[:, :, p]).reshape(-1) for p in range(P)]

def _unstripe(ports, segs, recs, rec_bytes, P):
    sp = -(-recs // P)
    arr = np.stack([np.asarray(x, np.uint8)[:segs * sp * rec_bytes].reshape(segs, sp, rec_bytes) for x in ports], 2)
    return arr.reshape(segs, sp * P, rec_bytes)[:, :recs].reshape(-1)

def pack_a_stream(cfg, plan):
    g = ct.Geometry.of(cfg); TI = -(-plan.shape[0] // cfg.rows)
    return _stripe(_old["pack_a_stream"](cfg, plan), TI, plan.steps, g.a_words * g.word_bytes, cfg.mem_ports)
def pack_b_stream(cfg, plan):
    g = ct.Geometry.of(cfg); TJ = -(-plan.shape[2] // cfg.cols)
    return _stripe(_old["pack_b_stream"](cfg, plan), TJ, plan.steps, g.b_words * g.word_bytes, cfg.mem_ports)
def pack_wgen_stream(cfg, w, colwise):
    g = ct.Geometry.of(cfg); wp = ct.plan_wgen(cfg, w, colwise)
    return _stripe(_old["pack_wgen_stream"](cfg, w, colwise), wp.col_tiles, wp.steps, g.d_words * g.word_bytes, cfg.mem_ports)
def unpack_wgen_result(cfg, wp, ports):
    g = ct.Geometry.of(cfg)
    return _old["unpack_wgen_result"](cfg, wp, _unstripe(ports, wp.col_tiles, wp.steps, g.b_words * g.word_bytes, cfg.mem_ports))
def wgen_port_bytes(cfg, wp):
    g = ct.Geometry.of(cfg); sp = -(-wp.steps // cfg.mem_ports)
    return wp.col_tiles * sp * g.d_words * g.word_bytes, wp.col_tiles * sp * g.b_words * g.word_bytes

@_dc(frozen=True)
class BlockPlan:
    blk_rows: int; blk_cols: int; k_chunk: int

def plan_blocks(cfg, steps, TI, TJ):
    P = cfg.mem_ports; ca, cb = cfg.a_buf // P, cfg.b_buf // P
    if steps == 0 or TI == 0 or TJ == 0:
        return BlockPlan(1, 1, max(steps, 1))
    cap = min(ca, cb)
    kc = steps if -(-steps // P) <= cap else cap * P
    slot = -(-min(kc, steps) // P)
    bi = max(1, min(TI, ca // slot, cfg.c_buf)); bj = max(1, min(TJ, cb // slot, cfg.c_buf // bi))
    return BlockPlan(bi, bj, kc)

def block_tile_order(TI, TJ, BI, BJ):
    out = []
    for bi in range(0, TI, BI):
        for bj in range(0, TJ, BJ):
            for ti in range(bi, min(TI, bi + BI)):
                for tj in range(bj, min(TJ, bj + BJ)):
                    out.append((ti, tj))
    return out

def result_port_bytes(cfg, tiles):
    g = ct.Geometry.of(cfg); beats = cfg.rows // cfg.drain_rows; P = cfg.mem_ports
    return [tiles * (-(-(beats - p) // P)) * g.r_words * g.word_bytes for p in range(P)]

def unpack_results(cfg, plan, blocks, ports):
    g = ct.Geometry.of(cfg); beats = cfg.rows // cfg.drain_rows; P = cfg.mem_ports
    TI = -(-plan.shape[0] // cfg.rows); TJ = -(-plan.shape[2] // cfg.cols)
    rb = g.r_words * g.word_bytes
    order = block_tile_order(TI, TJ, blocks.blk_rows, blocks.blk_cols)
    T = len(order)
    tiles = np.zeros((TI * TJ, beats, rb), np.uint8)
    for p in range(P):
        n_p = -(-(beats - p) // P)
        arr = np.asarray(ports[p], np.uint8)[:T * n_p * rb].reshape(T, n_p, rb)
        for t, (ti, tj) in enumerate(order):
            tiles[ti * TJ + tj, p::P] = arr[t]
    return _old["unpack_results"](cfg, plan, tiles.reshape(-1))

def for_plan(cfg, plan, op, a, b, c):
    g = ct.Geometry.of(cfg); s = plan.steps; sp = -(-s // cfg.mem_ports)
    TI = -(-plan.shape[0] // cfg.rows); TJ = -(-plan.shape[2] // cfg.cols)
    bp = plan_blocks(cfg, s, TI, TJ)
    return ct.Descriptor(op, cfg.n, cfg.m, s, TI, TJ, a, b, c, sp * g.a_words * g.word_bytes,
                         sp * g.b_words * g.word_bytes), bp

def pack_desc(d, bp):
    raw = bytearray(d.pack())
    raw[48:50] = bp.blk_rows.to_bytes(2, "little"); raw[50:52] = bp.blk_cols.to_bytes(2, "little")
    raw[52:55] = bp.k_chunk.to_bytes(3, "little")
    return bytes(raw)
