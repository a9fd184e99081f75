"""The SAT kernel: control slave + command processor + AXI master around the engine.

Top-level ports follow the Vitis RTL-kernel convention
(:mod:`sparseforge.regmap`); the register map, command list and memory
layouts are :mod:`sparseforge.families.sat.contract`.  Block diagram and timing:
``docs/designs/sat_kernel.md``.

::

    s_axi_control ─► AxiLiteControl ─ start, args ─► command FSM ─ tile cmds ─► SatEngine
                                                         │  descriptor, A/B requests  │
    m_axi_gmem AR/R ◄─► BurstReader ─ tag A ─► FIFO A ─► A record ─┐            result beats
                                    ─ tag B ─► FIFO B ─► B record ─┴► data beat      │
    m_axi_gmem AW/W/B ◄─ BurstWriter ◄──────── words ◄── serialiser ◄───────────────┘
                       ▲                                    (GEMM)
                       └── words ◄── B record ◄── SparseWeightGenerator ◄── group ◄── FIFO W
                                     (C groups)    (one group per cycle)   (C per    ◄─ tag W
                                                                            record)

Operand reads are issued a chunk of steps at a time, A chunk then B chunk,
only when the target FIFO has room for the whole chunk (credits), so read
data never waits.  One command runs at a time: fetch the descriptor, check
it, run its tiles (reads, engine, writes overlap), wait for the last write
response, next command.

A weight-generation command (``wgen_row`` / ``wgen_col``) reads its dense W
records (``C·M`` weights each, a row-major tile of W) the same way, a chunk at a
time into FIFO W; each record is cut into its C dense groups (row ``j`` of the
tile row-wise, column ``j`` column-wise: the transposition is the wiring of
this cut), which the generator prunes one per cycle; C pruned groups make one
B record, serialised into the writer.  The result is a B stream a later
``ff`` / ``bp`` command reads.

Hardening (``docs/designs/sat_kernel.md``): the descriptor is decoded from the
one field table :data:`~sparseforge.families.sat.contract.DESC_FIELDS`, STATUS codes come by
name from :data:`~sparseforge.families.sat.contract.STATUS`; an unaligned address, stride or
``cmd_list`` and a read error on the descriptor fetch stop the list before any
data traffic; a write into a full record FIFO sets the sticky ``record_overflow``
flag (STATUS ``FIFO_OVERFLOW``).  ``ap_rst_n`` is registered (two flops,
:data:`RESET_STAGES`) before it fans out; the AXI handshake signals are gated off
while either reset is asserted, so the ports obey the AXI reset rules although
the internal reset lags ``ap_rst_n``.
"""

from __future__ import annotations

from amaranth import Cat, ClockDomain, Elaboratable, Module, Mux, Signal, unsigned
from amaranth.lib import fifo
from amaranth.lib.memory import Memory

from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import (
    ADDRESS_FIELDS,
    DESC_BYTES,
    DESC_FIELD,
    OPCODES,
    STATUS,
    Geometry,
    info_words,
    master_names,
    operand_chunk,
    register_map,
    wgen_chunk,
)
from sparseforge.hwgen.lib.axi_lite import AxiLiteControl
from sparseforge.hwgen.lib.axi_master import BurstReader, BurstWriter
from sparseforge.hwgen.lib.operand_buffer import OperandBuffer
from sparseforge.hwgen.sat.engine import SatEngine
from sparseforge.hwgen.sat.weight_gen import SparseWeightGenerator
from sparseforge.regmap import CONTROL_PORTS, MASTER_PORTS, kernel_ports

__all__ = ["RESET_STAGES", "SatKernel", "kernel_chunk_steps", "kernel_verilog",
           "wgen_chunk_records"]

TAG_A, TAG_B, TAG_DESC, TAG_W, TAG_Q = 0, 1, 2, 3, 4
#: Read tags (bits of the readers' tag field).
TAGS = 5

#: Flops between ``ap_rst_n`` and the kernel's reset (cuts its combinational fan-out).
RESET_STAGES = 2

#: AXI handshake signals (by port suffix): gated off while in reset.
_HANDSHAKES = frozenset(f"{ch}{hs}" for ch in ("aw", "w", "b", "ar", "r")
                        for hs in ("valid", "ready"))


def kernel_chunk_steps(cfg: SatConfig) -> int:
    """Steps per operand read request (:func:`sparseforge.families.sat.contract.operand_chunk`)."""
    return operand_chunk(cfg).records


def wgen_chunk_records(cfg: SatConfig) -> int:
    """Dense W records per read request (:func:`sparseforge.families.sat.contract.wgen_chunk`)."""
    return wgen_chunk(cfg).records


class _Packer(Elaboratable):
    """Packs ``words`` consecutive AXI words (word 0 lowest) into one record FIFO entry."""

    def __init__(self, words: int, word_bits: int, sink: fifo.SyncFIFO):
        self.words, self.word_bits, self.sink = words, word_bits, sink
        self.valid = Signal()
        self.data = Signal(word_bits)

    def elaborate(self, platform):
        m = Module()
        n, wb = self.words, self.word_bits
        if n == 1:
            m.d.comb += [self.sink.w_data.eq(self.data), self.sink.w_en.eq(self.valid)]
            return m
        held = Signal((n - 1) * wb, reset_less=True)  # data: only read with idx
        idx = Signal(range(n))
        m.d.comb += [self.sink.w_data.eq(Cat(held, self.data)),
                     self.sink.w_en.eq(self.valid & (idx == n - 1))]
        with m.If(self.valid):
            for w in range(n - 1):
                with m.If(idx == w):
                    m.d.sync += held.word_select(w, wb).eq(self.data)
            m.d.sync += idx.eq(Mux(idx == n - 1, 0, idx + 1))
        return m


class _Serialiser(Elaboratable):
    """One ``words``-word record in (``valid`` / ``ready``), its AXI words out in order."""

    def __init__(self, words: int, word_bits: int):
        self.words, self.word_bits = words, word_bits
        self.i_valid, self.i_ready = Signal(), Signal()
        self.i_data = Signal(words * word_bits)
        self.o_valid, self.o_ready = Signal(), Signal()
        self.o_data = Signal(word_bits)

    def elaborate(self, platform):
        m = Module()
        n, wb = self.words, self.word_bits
        if n == 1:
            m.d.comb += [self.o_data.eq(self.i_data), self.o_valid.eq(self.i_valid),
                         self.i_ready.eq(self.o_ready)]
            return m
        buf = Signal(n * wb, reset_less=True)  # data: only read while full
        idx = Signal(range(n))
        full = Signal()
        m.d.comb += [self.i_ready.eq(~full), self.o_valid.eq(full),
                     self.o_data.eq(buf.word_select(idx, wb))]
        with m.If(self.i_valid & ~full):
            m.d.sync += [buf.eq(self.i_data), full.eq(1), idx.eq(0)]
        with m.If(self.o_valid & self.o_ready):
            m.d.sync += idx.eq(idx + 1)
            with m.If(idx == n - 1):
                m.d.sync += full.eq(0)
        return m


class _Walk:
    """The block sequence of a GEMM command, walked by one sequencer of the kernel.

    Blocks ``(bi, bj, kc)`` row-major (K chunks innermost); ``ti0``, ``tj0``, ``kc0``
    are the first row tile, column tile and step of the current block.  ``start``
    puts it at the first block (``done`` at once when there is no tile); ``step``
    moves to the next (``done`` after the last).  The loader, the feeder, the
    command issuer and the accumulator each walk their own copy, so none waits on
    another's position: they agree because the walk is the same function of the
    command's fields.
    """

    def __init__(self, m: Module, name: str, cmd: dict):
        S, TI, TJ, BI, BJ, Kc = (cmd[k] for k in ("S", "TI", "TJ", "BI", "BJ", "Kc"))
        self.start, self.step = Signal(name=f"{name}_start"), Signal(name=f"{name}_step")
        self.ti0, self.tj0 = Signal(32, name=f"{name}_ti0"), Signal(32, name=f"{name}_tj0")
        self.kc0 = Signal(32, name=f"{name}_kc0")
        self.done = Signal(name=f"{name}_done")
        self.rows = Signal(16, name=f"{name}_rows")  # row tiles of this block
        self.cols = Signal(16, name=f"{name}_cols")
        self.sc = Signal(32, name=f"{name}_sc")  # steps of this chunk
        self.first_kc, self.last_kc = Signal(name=f"{name}_first_kc"), Signal(name=f"{name}_last_kc")
        self.last_bj, self.last_bi = Signal(name=f"{name}_last_bj"), Signal(name=f"{name}_last_bi")
        self.a_ld, self.b_ld = Signal(name=f"{name}_a_ld"), Signal(name=f"{name}_b_ld")
        rows_left, cols_left, steps_left = TI - self.ti0, TJ - self.tj0, S - self.kc0
        single = Kc >= S  # one K chunk: A stays for the whole row block
        one_col = BJ >= TJ  # one column block: B stays for the whole GEMM
        m.d.comb += [
            self.rows.eq(Mux(BI < rows_left, BI, rows_left)),
            self.cols.eq(Mux(BJ < cols_left, BJ, cols_left)),
            self.sc.eq(Mux(Kc < steps_left, Kc, steps_left)),
            self.first_kc.eq(self.kc0 == 0),
            self.last_kc.eq(self.kc0 + Kc >= S),
            self.last_bj.eq(self.tj0 + BJ >= TJ),
            self.last_bi.eq(self.ti0 + BI >= TI),
            # an operand is loaded when its block key changes: A (bi, kc), B (bj, kc)
            self.a_ld.eq((S != 0) & (~single | (self.tj0 == 0))),
            self.b_ld.eq((S != 0) & (~single | ~one_col | (self.ti0 == 0))),
        ]
        with m.If(self.start):
            m.d.sync += [self.ti0.eq(0), self.tj0.eq(0), self.kc0.eq(0),
                         self.done.eq((TI == 0) | (TJ == 0))]
        with m.Elif(self.step):
            with m.If(~self.last_kc):
                m.d.sync += self.kc0.eq(self.kc0 + Kc)
            with m.Elif(~self.last_bj):
                m.d.sync += [self.kc0.eq(0), self.tj0.eq(self.tj0 + BJ)]
            with m.Elif(~self.last_bi):
                m.d.sync += [self.kc0.eq(0), self.tj0.eq(0), self.ti0.eq(self.ti0 + BI)]
            with m.Else():
                m.d.sync += self.done.eq(1)


class SatKernel(Elaboratable):
    """The SAT kernel top (Verilog module ``cfg.kernel_name``).

    Attributes
    ----------
    ap_clk, ap_rst_n, interrupt : Signal
    record_overflow : Signal
        Sticky: a record FIFO was written while full (STATUS ``FIFO_OVERFLOW``);
        cleared by reset only.  Benches watch it (an internal signal of that name).
    s_axi_control : dict[str, Signal]
        ``s_axi_control_<sig>`` ports by suffix.
    m_axi : list[dict[str, Signal]]
        Per memory port ``p``, its ``<master>_<sig>`` ports by suffix (masters:
        :func:`~sparseforge.families.sat.contract.master_names`).
    m_axi_gmem : dict[str, Signal]
        Port 0's (``m_axi[0]``).
    """

    def __init__(self, cfg: SatConfig, *, fifo_records: int | None = None):
        """``fifo_records`` (tests only) builds the weight-generation record FIFOs that
        many records deep while the read credits still assume the normal depth, so that
        a list overflows them: the check of ``record_overflow``."""
        self.cfg = cfg
        self._fifo_records = fifo_records
        self.rmap = register_map(cfg)
        self.geo = Geometry.of(cfg)
        self._ports = [Signal(p.width, name=p.name) for p in kernel_ports(self.rmap)]
        by_name = {s.name: s for s in self._ports}
        self.ap_clk, self.ap_rst_n = by_name["ap_clk"], by_name["ap_rst_n"]
        self.interrupt = by_name["interrupt"]
        self.s_axi_control = {n: by_name[f"s_axi_control_{n}"] for n, _, _ in CONTROL_PORTS}
        self.m_axi = [{n: by_name[f"{master}_{n}"] for n, _, _ in MASTER_PORTS}
                      for master in master_names(cfg)]
        self.m_axi_gmem = self.m_axi[0]
        self.record_overflow = Signal(name="record_overflow")

    def ports(self) -> list[Signal]:
        """Top-level ports in declaration order (:func:`sparseforge.regmap.kernel_ports`)."""
        return list(self._ports)

    # ------------------------------------------------------------------ wiring helpers
    @staticmethod
    def _bind(m, flat: dict, group, table, inward: str, live):
        """Connect flat top-level port signals to a component's port group; handshake
        signals only while ``live`` (out of reset), in both directions."""
        for name, direction, _ in table:
            inner, outer = getattr(group, name), flat[name]
            gate = live if name in _HANDSHAKES else 1
            if direction == inward:
                m.d.comb += inner.eq(outer & gate if name in _HANDSHAKES else outer)
            else:
                m.d.comb += outer.eq(inner & gate if name in _HANDSHAKES else inner)

    def elaborate(self, platform):
        cfg, geo = self.cfg, self.geo
        db = geo.word_bits
        P = cfg.mem_ports
        lp = P.bit_length() - 1  # log2(P): P is a power of two
        R, C, M, wd = cfg.rows, cfg.cols, cfg.m, cfg.width
        beats = R // cfg.drain_rows
        shift = (db // 8).bit_length() - 1  # log2 of the AXI word in bytes
        m = Module()
        # Reset: ap_rst_n (synchronous, active low) through RESET_STAGES flops of a
        # reset-less domain, so no register sees the port's combinational fan-out.
        m.domains.sync = cd = ClockDomain("sync")
        m.domains.ap_reset = rd_cd = ClockDomain("ap_reset", reset_less=True)
        rst_pipe = Signal(RESET_STAGES, init=(1 << RESET_STAGES) - 1, name="rst_pipe")
        m.d.ap_reset += rst_pipe.eq(Cat(~self.ap_rst_n, rst_pipe[:-1]))
        m.d.comb += [rd_cd.clk.eq(self.ap_clk), cd.clk.eq(self.ap_clk),
                     cd.rst.eq(rst_pipe[-1])]
        live = Signal(name="axi_live")  # neither ap_rst_n nor the registered reset
        m.d.comb += live.eq(self.ap_rst_n & ~rst_pipe.any())

        m.submodules.ctl = ctl = AxiLiteControl(self.rmap)
        self._bind(m, self.s_axi_control, ctl.bus, CONTROL_PORTS, "in", live)
        m.d.comb += self.interrupt.eq(ctl.interrupt)

        # -------------------------------------------------------------- memory ports
        read_ports = [p for p in MASTER_PORTS if p[0].startswith(("ar", "r"))]
        write_ports = [p for p in MASTER_PORTS if not p[0].startswith(("ar", "r"))]
        rds, wrs = [], []
        for p in range(P):
            rd = BurstReader(db, cfg.max_burst, tags=TAGS)
            wr = BurstWriter(db, cfg.max_burst)
            m.submodules[f"reader{p}" if P > 1 else "reader"] = rd
            m.submodules[f"writer{p}" if P > 1 else "writer"] = wr
            self._bind(m, self.m_axi[p], rd.bus, read_ports, "in", live)
            self._bind(m, self.m_axi[p], wr.bus, write_ports, "in", live)
            rds.append(rd)
            wrs.append(wr)
        port_base = [ctl.args[f"base{p}"] for p in range(P)]

        m.submodules.engine = eng = SatEngine(cfg)

        # -------------------------------------------------------------- descriptor
        desc_words = DESC_BYTES * 8 // db
        desc = Signal(DESC_BYTES * 8, reset_less=True)  # data: decoded after a fetch
        desc_count = Signal(range(desc_words + 1))
        rd0 = rds[0]
        with m.If(rd0.out_valid & (rd0.out_tag == TAG_DESC)):
            for w in range(desc_words):
                with m.If(desc_count == w):
                    m.d.sync += desc.word_select(w, db).eq(rd0.out_data)
            m.d.sync += desc_count.eq(desc_count + 1)

        def field(name):  # a descriptor field, placed by the one layout table
            f = DESC_FIELD[name]
            return desc[f.offset:f.offset + f.bits]

        op, d_n, d_m, d_steps = field("op"), field("n"), field("m"), field("steps")
        # every address and stride a whole number of AXI words, or no burst is legal
        misaligned = Cat(*(field(name)[:shift] for name in ADDRESS_FIELDS)).any()

        # command registers (set in DECODE)
        wg = Signal()  # the command is a weight generation
        colw = Signal()  # wgen_col: groups are the record's columns
        sparse = Signal()
        S = Signal(32)
        TI, TJ = Signal(32), Signal(32)
        BI, BJ, Kc = Signal(16), Signal(16), Signal(24)
        out_mode = Signal(8)
        a_addr, b_addr, c_addr = Signal(64), Signal(64), Signal(64)
        a_stride, b_stride = Signal(32), Signal(32)
        # derived in CHECK
        tiles = Signal(64)
        slot = Signal(32)  # records of one tile's chunk per port (buffer slot)
        blk_a_step, blk_b_step = Signal(64), Signal(64)  # bytes from one block to the next
        kc_a_step, kc_b_step = Signal(64), Signal(64)  # bytes from one chunk to the next
        w_recs = Signal(64)  # weight generation: records per port, TJ·ceil(S/P)
        cmd = {"S": S, "TI": TI, "TJ": TJ, "BI": BI, "BJ": BJ, "Kc": Kc}

        status = Signal(8)
        err_cmd = Signal(32)
        cycles = Signal(64)
        cmds_done = Signal(32)
        cmd_ptr = Signal(64)
        cmds_left = Signal(32)
        running = Signal()
        axi_err = Signal(8)
        desc_err = Signal()  # a read error on the descriptor being fetched
        with m.If(Cat(*(rd.error for rd in rds)).any()):
            m.d.sync += axi_err.eq(STATUS["AXI_READ"])
        with m.If(Cat(*(wr.error for wr in wrs)).any()):
            m.d.sync += axi_err.eq(STATUS["AXI_WRITE"])

        go = Signal()  # one-cycle pulse: the command's sequencers start
        overflow = self.record_overflow

        # ============================================================== GEMM datapath
        a_words, b_words = geo.a_words, geo.b_words
        cap_a, cap_b = cfg.a_buf // P, cfg.b_buf // P
        m.submodules.abuf = abuf = OperandBuffer(a_words, db, P, cap_a)
        m.submodules.bbuf = bbuf = OperandBuffer(b_words, db, P, cap_b)
        cnt = Signal(32)  # records per port of one tile's chunk: ceil(sc / P)

        # ---------------------------------------------------------- loader
        lw = _Walk(m, "ld", cmd)
        a_fill, b_fill = Signal(), Signal()  # bank being filled
        a_loads, a_rels, b_loads, b_rels = (Signal(8) for _ in range(4))
        a_occ, b_occ = Signal(8), Signal(8)
        m.d.comb += [a_occ.eq(a_loads - a_rels), b_occ.eq(b_loads - b_rels)]
        loaded = Signal(32)  # blocks whose operands are all in their banks
        ld_a, ld_b = Signal(), Signal()
        a_base, b_base = Signal(64), Signal(64)  # offset of the block's first tile
        kc_off_a, kc_off_b = Signal(64), Signal(64)  # offset of the block's chunk
        cur = Signal(64)  # offset of the tile being requested
        tile_l = Signal(16)
        acc_mask = Signal(P)  # ports that took the current request
        a_tl = [Signal(16, name=f"a_tiles_left{p}") for p in range(P)]
        b_tl = [Signal(16, name=f"b_tiles_left{p}") for p in range(P)]
        arrived = Signal()
        m.d.comb += arrived.eq(~Cat(*a_tl, *b_tl).any())
        ld_done = Signal()
        req_tag = Signal(3)
        req_words = Signal(32)
        ld_req = Signal()  # the loader drives the read requests
        ld_setup = Signal()  # the loader starts a block's loads: arrival counters reset
        with m.FSM(name="loader"):
            with m.State("IDLE"):
                with m.If(go & ~wg):
                    m.d.comb += lw.start.eq(1)
                    m.d.sync += [ld_done.eq(0), loaded.eq(0), a_fill.eq(0), b_fill.eq(0),
                                 a_loads.eq(0), a_rels.eq(0), b_loads.eq(0), b_rels.eq(0),
                                 a_base.eq(a_addr), b_base.eq(b_addr),
                                 kc_off_a.eq(0), kc_off_b.eq(0)]
                    m.next = "BLOCK"
            with m.State("BLOCK"):
                with m.If(lw.done):
                    m.d.sync += ld_done.eq(1)
                    m.next = "IDLE"
                with m.Elif((~lw.a_ld | (a_occ < 2)) & (~lw.b_ld | (b_occ < 2))):
                    m.d.comb += ld_setup.eq(1)
                    m.d.sync += [ld_a.eq(lw.a_ld), ld_b.eq(lw.b_ld),
                                 a_loads.eq(a_loads + lw.a_ld), b_loads.eq(b_loads + lw.b_ld),
                                 cnt.eq((lw.sc + (P - 1)) >> lp),
                                 tile_l.eq(0), acc_mask.eq(0),
                                 cur.eq(Mux(lw.a_ld, a_base + kc_off_a, b_base + kc_off_b))]
                    for p in range(P):
                        m.d.sync += [a_tl[p].eq(Mux(lw.a_ld, lw.rows, 0)),
                                     b_tl[p].eq(Mux(lw.b_ld, lw.cols, 0))]
                    with m.If(lw.a_ld):
                        m.next = "REQ_A"
                    with m.Elif(lw.b_ld):
                        m.next = "REQ_B"
                    with m.Else():
                        m.next = "WAIT"
            for which, words, stride, count in (("A", a_words, a_stride, lw.rows),
                                                ("B", b_words, b_stride, lw.cols)):
                with m.State(f"REQ_{which}"):
                    m.d.comb += [ld_req.eq(1), req_tag.eq(TAG_A if which == "A" else TAG_B),
                                 req_words.eq(cnt * words)]
                    took = Cat(*(rd.req.valid & rd.req.ready for rd in rds))
                    all_took = (acc_mask | took).all()
                    m.d.sync += acc_mask.eq(Mux(all_took, 0, acc_mask | took))
                    with m.If(all_took):
                        m.d.sync += [tile_l.eq(tile_l + 1), cur.eq(cur + stride)]
                        with m.If(tile_l == count - 1):
                            m.d.sync += tile_l.eq(0)
                            if which == "A":
                                with m.If(ld_b):
                                    m.d.sync += cur.eq(b_base + kc_off_b)
                                    m.next = "REQ_B"
                                with m.Else():
                                    m.next = "WAIT"
                            else:
                                m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(arrived):
                    m.d.comb += lw.step.eq(1)
                    m.d.sync += [loaded.eq(loaded + 1), a_fill.eq(a_fill ^ ld_a),
                                 b_fill.eq(b_fill ^ ld_b)]
                    with m.If(~lw.last_kc):
                        m.d.sync += [kc_off_a.eq(kc_off_a + kc_a_step),
                                     kc_off_b.eq(kc_off_b + kc_b_step)]
                    with m.Elif(~lw.last_bj):
                        m.d.sync += [kc_off_a.eq(0), kc_off_b.eq(0),
                                     b_base.eq(b_base + blk_b_step)]
                    with m.Else():
                        m.d.sync += [kc_off_a.eq(0), kc_off_b.eq(0), b_base.eq(b_addr),
                                     a_base.eq(a_base + blk_a_step)]
                    m.next = "BLOCK"

        # arrivals: port p's words go to sub-bank p, in request order (A tiles, B tiles)
        for p, rd in enumerate(rds):
            for which, buf, words, fill, tl in (("A", abuf, a_words, a_fill, a_tl[p]),
                                                ("B", bbuf, b_words, b_fill, b_tl[p])):
                wptr = Signal(32, name=f"{which}_wptr{p}")  # record within the bank
                tbase = Signal(32, name=f"{which}_tbase{p}")  # the tile's first record
                j = Signal(32, name=f"{which}_j{p}")  # record within the tile's chunk
                wi = Signal(range(max(words, 2)), name=f"{which}_wi{p}")  # word
                hit = rd.out_valid & (rd.out_tag == (TAG_A if which == "A" else TAG_B))
                m.d.comb += [buf.w_en[p].eq(hit), buf.w_bank[p].eq(fill),
                             buf.w_addr[p].eq(wptr), buf.w_word[p].eq(wi),
                             buf.w_data[p].eq(rd.out_data)]
                with m.If(ld_setup):
                    m.d.sync += [wptr.eq(0), tbase.eq(0), j.eq(0), wi.eq(0)]
                with m.Elif(hit):
                    rec_end = (wi == words - 1) if words > 1 else 1
                    if words > 1:
                        m.d.sync += wi.eq(Mux(rec_end, 0, wi + 1))
                    with m.If(rec_end):
                        with m.If(j == cnt - 1):
                            m.d.sync += [j.eq(0), tbase.eq(tbase + slot),
                                         wptr.eq(tbase + slot), tl.eq(tl - 1)]
                        with m.Else():
                            m.d.sync += [j.eq(j + 1), wptr.eq(wptr + 1)]

        # ---------------------------------------------------------- feeder
        fw_ = _Walk(m, "fd", cmd)
        a_bank, b_bank = Signal(init=1), Signal(init=1)  # bank the block reads
        fed = Signal(32)
        fd_done = Signal()
        f_ti, f_tj = Signal(16), Signal(16)
        f_s = Signal(32)
        a_tb, b_tb = Signal(32), Signal(32)
        data_bits = geo.a_bits + geo.b_bits
        m.submodules.feed_fifo = ff = fifo.SyncFIFO(width=data_bits, depth=4)
        issue = Signal()
        inflight = Signal()
        m.d.sync += inflight.eq(issue)
        m.d.comb += [
            abuf.r_en.eq(issue), abuf.r_bank.eq(a_bank), abuf.r_addr.eq(a_tb + (f_s >> lp)),
            abuf.r_sub.eq(f_s[:max(lp, 1)] if lp else 0),
            bbuf.r_en.eq(issue), bbuf.r_bank.eq(b_bank), bbuf.r_addr.eq(b_tb + (f_s >> lp)),
            bbuf.r_sub.eq(f_s[:max(lp, 1)] if lp else 0),
            ff.w_en.eq(inflight),
            ff.w_data.eq(Cat(abuf.r_data[:geo.a_bits], bbuf.r_data[:geo.b_bits])),
            eng.data.valid.eq(ff.r_rdy),
            eng.data.payload.eq(ff.r_data),
            ff.r_en.eq(eng.data.valid & eng.data.ready),
        ]
        with m.FSM(name="feeder"):
            with m.State("IDLE"):
                with m.If(go & ~wg):
                    m.d.comb += fw_.start.eq(1)
                    m.d.sync += [fd_done.eq(0), fed.eq(0), a_bank.eq(1), b_bank.eq(1)]
                    m.next = "BLOCK"
            with m.State("BLOCK"):
                with m.If(fw_.done):
                    m.d.sync += fd_done.eq(1)
                    m.next = "IDLE"
                with m.Elif(loaded != fed):
                    m.d.sync += [a_bank.eq(a_bank ^ fw_.a_ld), b_bank.eq(b_bank ^ fw_.b_ld),
                                 f_ti.eq(0), f_tj.eq(0), f_s.eq(0), a_tb.eq(0), b_tb.eq(0)]
                    with m.If(fw_.sc == 0):
                        m.next = "END"
                    with m.Else():
                        m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += issue.eq(ff.level < 3 - inflight)
                with m.If(issue):
                    m.d.sync += f_s.eq(f_s + 1)
                    with m.If(f_s == fw_.sc - 1):
                        m.d.sync += f_s.eq(0)
                        with m.If(f_tj == fw_.cols - 1):
                            m.d.sync += [f_tj.eq(0), b_tb.eq(0), a_tb.eq(a_tb + slot),
                                         f_ti.eq(f_ti + 1)]
                            with m.If(f_ti == fw_.rows - 1):
                                m.next = "END"
                        with m.Else():
                            m.d.sync += [f_tj.eq(f_tj + 1), b_tb.eq(b_tb + slot)]
            with m.State("END"):
                m.d.comb += fw_.step.eq(1)
                m.d.sync += fed.eq(fed + 1)
                m.next = "RELEASE"
            with m.State("RELEASE"):
                # the next block loads a new A (B): the bank this one read is free
                with m.If(~fw_.done):
                    m.d.sync += [a_rels.eq(a_rels + fw_.a_ld), b_rels.eq(b_rels + fw_.b_ld)]
                m.next = "BLOCK"

        # ---------------------------------------------------------- tile commands
        kw = _Walk(m, "cm", cmd)
        k_ti, k_tj = Signal(16), Signal(16)
        cm_done = Signal()
        m.d.comb += [eng.cmd.payload.sparse.eq(sparse), eng.cmd.payload.steps.eq(kw.sc)]
        with m.FSM(name="tiles"):
            with m.State("IDLE"):
                with m.If(go & ~wg):
                    m.d.comb += kw.start.eq(1)
                    m.d.sync += cm_done.eq(0)
                    m.next = "BLOCK"
            with m.State("BLOCK"):
                m.d.sync += [k_ti.eq(0), k_tj.eq(0)]
                with m.If(kw.done):
                    m.d.sync += cm_done.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.next = "TILE"
            with m.State("TILE"):
                m.d.comb += eng.cmd.valid.eq(1)
                with m.If(eng.cmd.ready):
                    m.d.sync += k_tj.eq(k_tj + 1)
                    with m.If(k_tj == kw.cols - 1):
                        m.d.sync += [k_tj.eq(0), k_ti.eq(k_ti + 1)]
                        with m.If(k_ti == kw.rows - 1):
                            m.d.comb += kw.step.eq(1)
                            m.next = "BLOCK"

        # ---------------------------------------------------------- accumulator
        aw_ = _Walk(m, "ac", cmd)
        lanes = cfg.drain_rows * C
        ab = cfg.acc_bits
        cmem = Memory(shape=unsigned(lanes * ab), depth=cfg.c_buf * beats, init=[])
        m.submodules.cbuf = cmem
        c_wp = cmem.write_port()
        c_rp = cmem.read_port(transparent_for=(c_wp,))
        acc_addr = Signal(range(cfg.c_buf * beats + 1))
        q = Signal(range(max(beats, 2)))
        a_ti, a_tj = Signal(16), Signal(16)
        s1_valid, s1_first, s1_last = Signal(), Signal(), Signal()
        s1_beat = Signal(lanes * ab, reset_less=True)
        s1_addr = Signal.like(acc_addr)
        s1_port = Signal(range(max(P, 2)))
        s1_sum = Signal(lanes * ab)
        for i in range(lanes):
            old = Mux(s1_first, 0, c_rp.data[i * ab:(i + 1) * ab])
            m.d.comb += s1_sum[i * ab:(i + 1) * ab].eq(old + s1_beat[i * ab:(i + 1) * ab])
        out_ready = Signal()
        s1_go = Signal()
        m.d.comb += s1_go.eq(~s1_last | out_ready)
        take = Signal()
        m.d.comb += [eng.result.ready.eq(~s1_valid | s1_go),
                     take.eq(eng.result.valid & eng.result.ready),
                     c_rp.addr.eq(acc_addr), c_rp.en.eq(take),
                     c_wp.addr.eq(s1_addr), c_wp.data.eq(s1_sum),
                     c_wp.en.eq(s1_valid & ~s1_last)]
        with m.If(go & ~wg):
            m.d.comb += aw_.start.eq(1)
            m.d.sync += [acc_addr.eq(0), q.eq(0), a_ti.eq(0), a_tj.eq(0)]
        with m.Elif(take):
            m.d.sync += [s1_beat.eq(eng.result.payload), s1_addr.eq(acc_addr),
                         s1_first.eq(aw_.first_kc), s1_last.eq(aw_.last_kc),
                         s1_port.eq(q[:max(lp, 1)] if lp else 0),
                         q.eq(q + 1), acc_addr.eq(acc_addr + 1)]
            with m.If(q == beats - 1):
                m.d.sync += [q.eq(0), a_tj.eq(a_tj + 1)]
                with m.If(a_tj == aw_.cols - 1):
                    m.d.sync += [a_tj.eq(0), a_ti.eq(a_ti + 1)]
                    with m.If(a_ti == aw_.rows - 1):
                        m.d.sync += [a_ti.eq(0), acc_addr.eq(0)]
                        m.d.comb += aw_.step.eq(1)
        with m.If(take):
            m.d.sync += s1_valid.eq(1)
        with m.Elif(s1_go):
            m.d.sync += s1_valid.eq(0)
        out_valid = s1_valid & s1_last

        # ---------------------------------------------------------- result serialisers
        ser_r = []
        for p in range(P):
            s = _Serialiser(geo.r_words, db)
            m.submodules[f"ser_r{p}" if P > 1 else "ser_r"] = s
            m.d.comb += [s.i_data.eq(s1_sum), s.i_valid.eq(out_valid & (s1_port == p))]
            ser_r.append(s)
        with m.Switch(s1_port):
            for p in range(P):
                with m.Case(p):
                    m.d.comb += out_ready.eq(ser_r[p].i_ready)

        # ============================================================== weight generation
        # Dense W records (C·M weights, a row-major tile of W), record (tj, s) on port
        # s mod P -> FIFO W_p -> C dense groups (round robin over the ports, the records'
        # order) -> the generator (one group per cycle) -> C pruned groups = one B record
        # -> serialiser of port s mod P -> writer.
        wchunk, wdepth = wgen_chunk(cfg).records, wgen_chunk(cfg).depth
        fws, take_w = [], []
        w_left = [Signal(64, name=f"w_left{p}") for p in range(P)]
        w_cur = [Signal(64, name=f"w_cur{p}") for p in range(P)]
        for p, rd in enumerate(rds):
            f = fifo.SyncFIFO(width=geo.d_words * db, depth=self._fifo_records or wdepth)
            m.submodules[f"fifo_w{p}" if P > 1 else "fifo_w"] = f
            pk = _Packer(geo.d_words, db, f)
            m.submodules[f"pack_w{p}" if P > 1 else "pack_w"] = pk
            m.d.comb += [pk.data.eq(rd.out_data), pk.valid.eq(rd.out_valid & (rd.out_tag == TAG_W))]
            fws.append(f)
        with m.If(Cat(*(f.w_en & ~f.w_rdy for f in fws)).any()):
            m.d.sync += overflow.eq(1)
        m.submodules.wgen = wgen = SparseWeightGenerator(cfg.n, M, wd)
        m.d.comb += wgen.colwise.eq(0)  # the record cut below does the transposition
        rr_in = Signal(range(max(P, 2)))  # port whose FIFO holds the next record
        rec = Signal(geo.d_bits)
        rec_rdy = Signal()
        with m.Switch(rr_in):
            for p in range(P):
                with m.Case(p):
                    m.d.comb += [rec.eq(fws[p].r_data[:geo.d_bits]), rec_rdy.eq(fws[p].r_rdy)]
        gsel = Signal(range(max(C, 2)))  # 1 bit at least (Verilog has no 0-bit wires)
        gbeat = Signal(M * wd)
        with m.Switch(gsel):
            for j in range(C):
                with m.Case(j):
                    row_g = rec[j * M * wd:(j + 1) * M * wd]
                    col_g = Cat(*(rec[(r * C + j) * wd:(r * C + j + 1) * wd] for r in range(M)))
                    m.d.comb += gbeat.eq(Mux(colw, col_g, row_g))
        feed = Signal()
        pop = Signal()
        m.d.comb += [wgen.inp.payload.eq(gbeat), wgen.inp.valid.eq(rec_rdy),
                     feed.eq(wgen.inp.valid & wgen.inp.ready), pop.eq(feed & (gsel == C - 1))]
        for p in range(P):
            m.d.comb += fws[p].r_en.eq(pop & (rr_in == p))
        with m.If(feed):
            m.d.sync += gsel.eq(Mux(gsel == C - 1, 0, gsel + 1))
        with m.If(pop):
            m.d.sync += rr_in.eq(rr_in + 1 if P > 1 else 0)

        gbits = cfg.n * (wd + cfg.index_bits)
        gcount = Signal(range(max(C, 2)))
        last_g = gcount == C - 1
        rr_out = Signal(range(max(P, 2)))  # port of the next pruned record
        pruned = Signal(C * gbits)
        if C > 1:
            held = Signal((C - 1) * gbits, reset_less=True)  # data: read with gcount
            m.d.comb += pruned.eq(Cat(held, wgen.out.payload))
        else:
            m.d.comb += pruned.eq(wgen.out.payload)
        ser_w = []
        for p in range(P):
            s = _Serialiser(geo.b_words, db)
            m.submodules[f"ser_w{p}" if P > 1 else "ser_w"] = s
            m.d.comb += [s.i_data.eq(pruned), s.i_valid.eq(wgen.out.valid & last_g & (rr_out == p))]
            ser_w.append(s)
        w_ready = Signal()
        with m.Switch(rr_out):
            for p in range(P):
                with m.Case(p):
                    m.d.comb += w_ready.eq(ser_w[p].i_ready)
        m.d.comb += wgen.out.ready.eq(~last_g | w_ready)
        with m.If(wgen.out.valid & wgen.out.ready):
            m.d.sync += gcount.eq(Mux(last_g, 0, gcount + 1))
            with m.If(last_g):
                m.d.sync += rr_out.eq(rr_out + 1 if P > 1 else 0)
            if C > 1:
                for j in range(C - 1):
                    with m.If(gcount == j):
                        m.d.sync += held.word_select(j, gbits).eq(wgen.out.payload)
        with m.If(go):
            m.d.sync += [rr_in.eq(0), rr_out.eq(0)]

        # weight-generation reads: per port, its records contiguous, a chunk at a time
        w_req = []
        for p, rd in enumerate(rds):
            w_credit = Signal(range(wdepth + 1), init=wdepth, name=f"w_credit{p}")
            w_n = Signal(range(wchunk + 1), name=f"w_n{p}")
            m.d.comb += w_n.eq(Mux(w_left[p] > wchunk, wchunk, w_left[p]))
            want = Signal(name=f"w_want{p}")
            m.d.comb += want.eq(wg & (w_left[p] != 0) & (w_credit >= w_n))
            t = want & rd.req.ready
            m.d.sync += w_credit.eq(w_credit + fws[p].r_en - Mux(t, w_n, 0))
            with m.If(go & wg):
                m.d.sync += [w_left[p].eq(w_recs), w_cur[p].eq(a_addr)]
            with m.Elif(t):
                m.d.sync += [w_left[p].eq(w_left[p] - w_n),
                             w_cur[p].eq(w_cur[p] + ((w_n * geo.d_words) << shift))]
            w_req.append((want, w_n))

        # ---------------------------------------------------------- read request mux
        fetch = Signal()  # the command FSM fetches a descriptor (port 0)
        for p, rd in enumerate(rds):
            want, w_n = w_req[p]
            if p == 0:
                with m.If(fetch):
                    m.d.comb += [rd.req.valid.eq(1), rd.req.payload.addr.eq(cmd_ptr),
                                 rd.req.payload.words.eq(desc_words),
                                 rd.req.payload.tag.eq(TAG_DESC)]
            with m.If(ld_req):
                m.d.comb += [rd.req.valid.eq(~acc_mask[p]),
                             rd.req.payload.addr.eq(port_base[p] + cur),
                             rd.req.payload.words.eq(req_words),
                             rd.req.payload.tag.eq(req_tag)]
            with m.Elif(want):
                m.d.comb += [rd.req.valid.eq(1), rd.req.payload.addr.eq(port_base[p] + w_cur[p]),
                             rd.req.payload.words.eq(w_n * geo.d_words),
                             rd.req.payload.tag.eq(TAG_W)]

        # ---------------------------------------------------------- writers
        r_per_port = [-(-(beats - p) // P) for p in range(P)]  # beats of a tile per port
        job_mask = Signal(P)
        for p, wr in enumerate(wrs):
            m.d.comb += [
                wr.data.payload.eq(Mux(wg, ser_w[p].o_data, ser_r[p].o_data)),
                wr.data.valid.eq(Mux(wg, ser_w[p].o_valid, ser_r[p].o_valid)),
                ser_w[p].o_ready.eq(wg & wr.data.ready),
                ser_r[p].o_ready.eq(~wg & wr.data.ready),
                wr.job.payload.addr.eq(port_base[p] + c_addr),
                wr.job.payload.words.eq(Mux(wg, w_recs * geo.b_words,
                                            tiles * (r_per_port[p] * geo.r_words))),
            ]

        # ============================================================== command FSM
        a_bytes, b_bytes = a_words * geo.word_bytes, b_words * geo.word_bytes
        wr_idle = Cat(*(wr.idle for wr in wrs)).all()
        rd_idle = Cat(*(rd.idle for rd in rds)).all()
        w_all_sent = ~Cat(*w_left).any()
        with m.FSM(name="command"):
            with m.State("IDLE"):
                with m.If(ctl.start):
                    m.d.sync += [cmd_ptr.eq(ctl.args["cmd_list"]),
                                 cmds_left.eq(ctl.args["n_cmds"]), status.eq(0),
                                 err_cmd.eq(0), cycles.eq(0), cmds_done.eq(0),
                                 axi_err.eq(0), running.eq(1)]
                    m.next = "NEXT"
            with m.State("NEXT"):
                with m.If(overflow):
                    m.d.sync += [status.eq(STATUS["FIFO_OVERFLOW"]), err_cmd.eq(cmds_done)]
                    m.next = "DONE"
                with m.Elif(axi_err != 0):
                    m.d.sync += [status.eq(axi_err), err_cmd.eq(cmds_done - 1)]
                    m.next = "DONE"
                with m.Elif(cmds_left == 0):
                    m.next = "DONE"
                with m.Elif(cmd_ptr[:shift] != 0):  # the fetch itself would be unaligned
                    m.d.sync += [status.eq(STATUS["BAD_ADDRESS"]), err_cmd.eq(cmds_done)]
                    m.next = "DONE"
                with m.Else():
                    m.d.comb += fetch.eq(1)
                    with m.If(rd0.req.ready):
                        m.d.sync += [desc_count.eq(0), desc_err.eq(0)]
                        m.next = "FETCH"
            with m.State("FETCH"):
                # only the descriptor's beats arrive now (the last command's reads are done)
                with m.If(rd0.error):
                    m.d.sync += desc_err.eq(1)
                with m.If(desc_count == desc_words):
                    with m.If(desc_err):  # never decode what came with SLVERR / DECERR
                        m.d.sync += [status.eq(STATUS["AXI_READ"]), err_cmd.eq(cmds_done)]
                        m.next = "DONE"
                    with m.Else():
                        m.next = "DECODE"
            with m.State("DECODE"):
                bad_op = ~Cat(*(op == v for v in OPCODES.values())).any()
                is_wgen = (op == OPCODES["wgen_row"]) | (op == OPCODES["wgen_col"])
                with m.If(bad_op):
                    m.d.sync += [status.eq(STATUS["BAD_OPCODE"]), err_cmd.eq(cmds_done)]
                    m.next = "DONE"
                with m.Elif((d_n != cfg.n) | (d_m != cfg.m)):
                    m.d.sync += [status.eq(STATUS["BAD_NM"]), err_cmd.eq(cmds_done)]
                    m.next = "DONE"
                with m.Elif(d_steps > cfg.max_steps):
                    m.d.sync += [status.eq(STATUS["BAD_STEPS"]), err_cmd.eq(cmds_done)]
                    m.next = "DONE"
                with m.Elif(misaligned):
                    m.d.sync += [status.eq(STATUS["BAD_ADDRESS"]), err_cmd.eq(cmds_done)]
                    m.next = "DONE"
                with m.Elif(~is_wgen & ((field("out_mode") > 2) | (
                        (field("out_mode") != 0) if not cfg.requant else 0))):
                    m.d.sync += [status.eq(STATUS["BAD_OUTPUT"]), err_cmd.eq(cmds_done)]
                    m.next = "DONE"
                with m.Else():
                    m.d.sync += [
                        wg.eq(is_wgen), colw.eq(op == OPCODES["wgen_col"]),
                        sparse.eq(op != OPCODES["dense"]), S.eq(d_steps),
                        TI.eq(Mux(is_wgen, 0, field("row_tiles"))), TJ.eq(field("col_tiles")),
                        BI.eq(field("blk_rows")), BJ.eq(field("blk_cols")),
                        Kc.eq(field("k_chunk")), out_mode.eq(field("out_mode")),
                        a_addr.eq(field("a_addr")), b_addr.eq(field("b_addr")),
                        c_addr.eq(field("c_addr")),
                        a_stride.eq(field("a_stride")), b_stride.eq(field("b_stride")),
                    ]
                    m.next = "CHECK"
            with m.State("CHECK"):
                ke = Mux(Kc < S, Kc, S)
                sl = (ke + (P - 1)) >> lp
                n_tiles = TI * TJ
                bad = (BI == 0) | (BJ == 0) | (Kc == 0) | (BI * sl > cap_a) | \
                    (BJ * sl > cap_b) | (BI * BJ > cfg.c_buf)
                if lp:
                    bad = bad | ((Kc < S) & (Kc[:lp] != 0))
                m.d.sync += [tiles.eq(n_tiles), slot.eq(sl),
                             blk_a_step.eq(BI * a_stride), blk_b_step.eq(BJ * b_stride),
                             kc_a_step.eq((Kc >> lp) * a_bytes),
                             kc_b_step.eq((Kc >> lp) * b_bytes),
                             w_recs.eq(TJ * ((S + (P - 1)) >> lp))]
                with m.If(~wg & (n_tiles != 0) & bad):
                    m.d.sync += [status.eq(STATUS["BAD_BLOCK"]), err_cmd.eq(cmds_done)]
                    m.next = "DONE"
                with m.Else():
                    m.d.sync += job_mask.eq(0)
                    m.next = "SETUP"
            with m.State("SETUP"):
                took = Cat(*(wr.job.valid & wr.job.ready for wr in wrs))
                for p, wr in enumerate(wrs):
                    m.d.comb += wr.job.valid.eq(~job_mask[p])
                m.d.sync += job_mask.eq(job_mask | took)
                with m.If((job_mask | took).all()):
                    m.d.comb += go.eq(1)
                    m.next = "RUN"
            with m.State("RUN"):
                seq_done = Mux(wg, w_all_sent, ld_done & fd_done & cm_done)
                with m.If(overflow):  # records were lost: this command cannot finish
                    m.d.sync += [status.eq(STATUS["FIFO_OVERFLOW"]), err_cmd.eq(cmds_done)]
                    m.next = "DONE"
                with m.Elif(~go & seq_done & rd_idle & wr_idle):
                    m.d.sync += [cmds_done.eq(cmds_done + 1), cmds_left.eq(cmds_left - 1),
                                 cmd_ptr.eq(cmd_ptr + DESC_BYTES)]
                    m.next = "NEXT"
            with m.State("DONE"):
                m.d.comb += ctl.done.eq(1)
                m.d.sync += running.eq(0)
                m.next = "IDLE"

        with m.If(running):
            m.d.sync += cycles.eq(cycles + 1)
        info = info_words(cfg)
        m.d.comb += [
            ctl.running.eq(running),
            ctl.status["STATUS"].eq(status),
            ctl.status["ERR_CMD"].eq(err_cmd),
            ctl.status["CYCLES_LO"].eq(cycles[:32]),
            ctl.status["CYCLES_HI"].eq(cycles[32:]),
            ctl.status["CMDS_DONE"].eq(cmds_done),
        ]
        for i, value in enumerate(info):
            m.d.comb += ctl.status[f"INFO{i}"].eq(value)
        return m


def kernel_verilog(cfg: SatConfig, *, fifo_records: int | None = None) -> str:
    """Verilog of the kernel, top module ``cfg.kernel_name`` (deterministic).

    ``fifo_records``: tests only, see :class:`SatKernel`.
    """
    from amaranth.back import verilog

    top = SatKernel(cfg, fifo_records=fifo_records)
    return verilog.convert(top, name=cfg.kernel_name, ports=top.ports(), emit_src=False)
