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

from amaranth import Cat, ClockDomain, Elaboratable, Module, Mux, Signal
from amaranth.lib import fifo

from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import (
    ADDRESS_FIELDS,
    DESC_BYTES,
    DESC_FIELD,
    OPCODES,
    STATUS,
    Geometry,
    info_words,
    operand_chunk,
    register_map,
    wgen_chunk,
)
from sparseforge.hwgen.lib.axi_lite import AxiLiteControl
from sparseforge.hwgen.lib.axi_master import BurstReader, BurstWriter
from sparseforge.hwgen.sat.engine import SatEngine
from sparseforge.hwgen.sat.weight_gen import SparseWeightGenerator
from sparseforge.regmap import CONTROL_PORTS, MASTER_PORTS, kernel_ports

__all__ = ["RESET_STAGES", "SatKernel", "kernel_chunk_steps", "kernel_verilog",
           "wgen_chunk_records"]

TAG_A, TAG_B, TAG_DESC, TAG_W = 0, 1, 2, 3

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
    m_axi_gmem : dict[str, Signal]
        ``m_axi_gmem_<sig>`` ports by suffix.
    """

    def __init__(self, cfg: SatConfig, *, fifo_records: int | None = None):
        """``fifo_records`` (tests only) builds the A, B and W record FIFOs that many
        records deep while the read credits still assume the normal depth, so that a
        list overflows them: the check of ``record_overflow``."""
        self.cfg = cfg
        self._fifo_records = fifo_records
        self.rmap = register_map(cfg)
        self.geo = Geometry.of(cfg)
        self._ports = [Signal(p.width, name=p.name) for p in kernel_ports(self.rmap)]
        by_name = {s.name: s for s in self._ports}
        self.ap_clk, self.ap_rst_n = by_name["ap_clk"], by_name["ap_rst_n"]
        self.interrupt = by_name["interrupt"]
        self.s_axi_control = {n: by_name[f"s_axi_control_{n}"] for n, _, _ in CONTROL_PORTS}
        self.m_axi_gmem = {n: by_name[f"m_axi_gmem_{n}"] for n, _, _ in MASTER_PORTS}
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

        m.submodules.reader = rd = BurstReader(db, cfg.max_burst, tags=4)
        m.submodules.writer = wr = BurstWriter(db, cfg.max_burst)
        read_ports = [p for p in MASTER_PORTS if p[0].startswith(("ar", "r"))]
        write_ports = [p for p in MASTER_PORTS if not p[0].startswith(("ar", "r"))]
        self._bind(m, self.m_axi_gmem, rd.bus, read_ports, "in", live)
        self._bind(m, self.m_axi_gmem, wr.bus, write_ports, "in", live)

        m.submodules.engine = eng = SatEngine(cfg)

        # -------------------------------------------------------------- operand FIFOs
        # R beats are packed into whole records before the FIFOs, so the engine can
        # take one A and one B record per cycle.
        chunk, depth = operand_chunk(cfg).records, operand_chunk(cfg).depth
        built = self._fifo_records or depth  # `depth` is what the credits below count on
        m.submodules.fifo_a = fa = fifo.SyncFIFO(width=geo.a_words * db, depth=built)
        m.submodules.fifo_b = fb = fifo.SyncFIFO(width=geo.b_words * db, depth=built)
        m.submodules.pack_a = pack_a = _Packer(geo.a_words, db, fa)
        m.submodules.pack_b = pack_b = _Packer(geo.b_words, db, fb)
        m.d.comb += [
            pack_a.data.eq(rd.out_data), pack_a.valid.eq(rd.out_valid & (rd.out_tag == TAG_A)),
            pack_b.data.eq(rd.out_data), pack_b.valid.eq(rd.out_valid & (rd.out_tag == TAG_B)),
        ]
        take = Signal()
        m.d.comb += [
            eng.data.valid.eq(fa.r_rdy & fb.r_rdy),
            eng.data.payload.eq(Cat(fa.r_data[:geo.a_bits], fb.r_data[:geo.b_bits])),
            take.eq(eng.data.valid & eng.data.ready),
            fa.r_en.eq(take), fb.r_en.eq(take),
        ]

        # -------------------------------------------------------------- result serialiser
        m.submodules.ser_r = ser_r = _Serialiser(geo.r_words, db)
        m.d.comb += [ser_r.i_data.eq(eng.result.payload), ser_r.i_valid.eq(eng.result.valid),
                     eng.result.ready.eq(ser_r.i_ready)]

        # -------------------------------------------------------------- weight generation
        # Dense W records (C·M weights, a row-major tile of W) -> C dense groups -> the
        # generator (one group per cycle) -> C pruned groups = one B record -> writer.
        C, M, wd = cfg.cols, cfg.m, cfg.width
        wchunk, wdepth = wgen_chunk(cfg).records, wgen_chunk(cfg).depth
        m.submodules.fifo_w = fw = fifo.SyncFIFO(width=geo.d_words * db,
                                                  depth=self._fifo_records or wdepth)
        m.submodules.pack_w = pack_w = _Packer(geo.d_words, db, fw)
        m.d.comb += [pack_w.data.eq(rd.out_data),
                     pack_w.valid.eq(rd.out_valid & (rd.out_tag == TAG_W))]
        m.submodules.wgen = wgen = SparseWeightGenerator(cfg.n, M, wd)
        colw = Signal()  # wgen_col: groups are the record's columns
        m.d.comb += wgen.colwise.eq(0)  # the record cut below does the transposition
        rec = fw.r_data[:geo.d_bits]
        gsel = Signal(range(max(C, 2)))  # 1 bit at least (Verilog has no 0-bit wires)
        beat = Signal(M * wd)
        with m.Switch(gsel):
            for j in range(C):
                with m.Case(j):
                    row_g = rec[j * M * wd:(j + 1) * M * wd]
                    col_g = Cat(*(rec[(r * C + j) * wd:(r * C + j + 1) * wd] for r in range(M)))
                    m.d.comb += beat.eq(Mux(colw, col_g, row_g))
        feed = Signal()
        m.d.comb += [wgen.inp.payload.eq(beat), wgen.inp.valid.eq(fw.r_rdy),
                     feed.eq(wgen.inp.valid & wgen.inp.ready),
                     fw.r_en.eq(feed & (gsel == C - 1))]
        with m.If(feed):
            m.d.sync += gsel.eq(Mux(gsel == C - 1, 0, gsel + 1))

        gbits = cfg.n * (wd + cfg.index_bits)
        m.submodules.ser_w = ser_w = _Serialiser(geo.b_words, db)
        gcount = Signal(range(max(C, 2)))
        last_g = gcount == C - 1
        if C > 1:
            held = Signal((C - 1) * gbits, reset_less=True)  # data: read with gcount
            m.d.comb += ser_w.i_data.eq(Cat(held, wgen.out.payload))
        else:
            m.d.comb += ser_w.i_data.eq(wgen.out.payload)
        m.d.comb += [ser_w.i_valid.eq(wgen.out.valid & last_g),
                     wgen.out.ready.eq(~last_g | ser_w.i_ready)]
        with m.If(wgen.out.valid & wgen.out.ready):
            m.d.sync += gcount.eq(Mux(last_g, 0, gcount + 1))
            if C > 1:
                for j in range(C - 1):
                    with m.If(gcount == j):
                        m.d.sync += held.word_select(j, gbits).eq(wgen.out.payload)

        # the writer takes the words of whichever command runs
        wg = Signal()  # the current command is a weight generation
        m.d.comb += [
            wr.data.payload.eq(Mux(wg, ser_w.o_data, ser_r.o_data)),
            wr.data.valid.eq(Mux(wg, ser_w.o_valid, ser_r.o_valid)),
            ser_w.o_ready.eq(wg & wr.data.ready),
            ser_r.o_ready.eq(~wg & wr.data.ready),
        ]

        # -------------------------------------------------------------- descriptor
        desc_words = DESC_BYTES * 8 // db
        desc = Signal(DESC_BYTES * 8, reset_less=True)  # data: decoded after a fetch
        desc_count = Signal(range(desc_words + 1))
        with m.If(rd.out_valid & (rd.out_tag == TAG_DESC)):
            for w in range(desc_words):
                with m.If(desc_count == w):
                    m.d.sync += desc.word_select(w, db).eq(rd.out_data)
            m.d.sync += desc_count.eq(desc_count + 1)

        def field(name):  # a descriptor field, placed by the one layout table
            f = DESC_FIELD[name]
            return desc[f.offset:f.offset + f.bits]

        op, d_n, d_m, d_steps = field("op"), field("n"), field("m"), field("steps")
        shift = (db // 8).bit_length() - 1  # log2 of the AXI word in bytes
        # every address and stride a whole number of AXI words, or no burst is legal
        misaligned = Cat(*(field(name)[:shift] for name in ADDRESS_FIELDS)).any()

        # command state
        sparse = Signal()
        steps = Signal(32)
        row_tiles, col_tiles = Signal(32), Signal(32)
        a_base, b_base, c_base = Signal(64), Signal(64), Signal(64)
        a_stride, b_stride = Signal(32), Signal(32)
        tiles = Signal(64)
        status = Signal(8)
        err_cmd = Signal(32)
        cycles = Signal(64)
        cmds_done = Signal(32)
        cmd_ptr = Signal(64)
        cmds_left = Signal(32)
        running = Signal()
        axi_err = Signal(8)
        desc_err = Signal()  # a read error on the descriptor being fetched

        with m.If(rd.error):
            m.d.sync += axi_err.eq(STATUS["AXI_READ"])
        with m.If(wr.error):
            m.d.sync += axi_err.eq(STATUS["AXI_WRITE"])

        # A record FIFO written while full loses a record: the credits below should make
        # that impossible, so it is a kernel fault, sticky until reset.
        overflow = self.record_overflow
        with m.If(Cat(*(f.w_en & ~f.w_rdy for f in (fa, fb, fw))).any()):
            m.d.sync += overflow.eq(1)

        # -------------------------------------------------------------- tile commands
        cmds_issued = Signal(64)
        issue_on = Signal()
        m.d.comb += [eng.cmd.valid.eq(issue_on & (cmds_issued != tiles)),
                     eng.cmd.payload.sparse.eq(sparse),
                     eng.cmd.payload.steps.eq(steps)]
        with m.If(eng.cmd.valid & eng.cmd.ready):
            m.d.sync += cmds_issued.eq(cmds_issued + 1)

        # -------------------------------------------------------------- read sequencer
        credit = Signal(range(depth + 1), init=depth)  # free records (A and B alike)
        seq_on = Signal()
        ti, tj = Signal(32), Signal(32)
        steps_left = Signal(32)
        a_row, a_cur, b_col, b_cur = Signal(64), Signal(64), Signal(64), Signal(64)
        c_steps = Signal(range(chunk + 1))
        m.d.comb += c_steps.eq(steps_left)
        with m.If(steps_left > chunk):
            m.d.comb += c_steps.eq(chunk)
        words_a = c_steps * geo.a_words
        words_b = c_steps * geo.b_words
        # A and B records are requested in pairs and popped together: one credit count
        # (records) covers both FIFOs; it is charged when the A request is issued.
        take_a = rd.req.valid & rd.req.ready & (rd.req.payload.tag == TAG_A)
        m.d.sync += credit.eq(credit + take - Mux(take_a, c_steps, 0))
        # weight generation: dense records, contiguous, a chunk at a time (own credits)
        w_left = Signal(64)  # records still to request
        w_recs = Signal(64)  # records of the command (TJ·S)
        w_steps = Signal(range(wchunk + 1))
        m.d.comb += w_steps.eq(w_left)
        with m.If(w_left > wchunk):
            m.d.comb += w_steps.eq(wchunk)
        w_credit = Signal(range(wdepth + 1), init=wdepth)
        take_w = rd.req.valid & rd.req.ready & (rd.req.payload.tag == TAG_W)
        m.d.sync += w_credit.eq(w_credit + fw.r_en - Mux(take_w, w_steps, 0))
        seq_done = Signal()

        # -------------------------------------------------------------- command FSM
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
                    m.d.comb += [rd.req.valid.eq(1), rd.req.payload.addr.eq(cmd_ptr),
                                 rd.req.payload.words.eq(desc_words),
                                 rd.req.payload.tag.eq(TAG_DESC)]
                    with m.If(rd.req.ready):
                        m.d.sync += [desc_count.eq(0), desc_err.eq(0)]
                        m.next = "FETCH"
            with m.State("FETCH"):
                # only the descriptor's beats arrive now (the last command's reads are done)
                with m.If(rd.error):
                    m.d.sync += desc_err.eq(1)
                with m.If(desc_count == desc_words):
                    with m.If(desc_err):  # never decode what came with SLVERR / DECERR
                        m.d.sync += [status.eq(STATUS["AXI_READ"]), err_cmd.eq(cmds_done)]
                        m.next = "DONE"
                    with m.Else():
                        m.next = "DECODE"
            with m.State("DECODE"):
                bad_op = ~Cat(*(op == v for v in OPCODES.values())).any()
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
                with m.Else():
                    is_wgen = (op == OPCODES["wgen_row"]) | (op == OPCODES["wgen_col"])
                    m.d.sync += [
                        wg.eq(is_wgen), colw.eq(op == OPCODES["wgen_col"]),
                        w_recs.eq(d_steps * field("col_tiles")),
                        sparse.eq(op != OPCODES["dense"]), steps.eq(d_steps),
                        row_tiles.eq(field("row_tiles")), col_tiles.eq(field("col_tiles")),
                        a_base.eq(field("a_addr")), b_base.eq(field("b_addr")),
                        c_base.eq(field("c_addr")),
                        a_stride.eq(field("a_stride")), b_stride.eq(field("b_stride")),
                        tiles.eq(Mux(is_wgen, 0, field("row_tiles") * field("col_tiles"))),
                    ]
                    m.next = "SETUP"
            with m.State("SETUP"):
                m.d.comb += [wr.job.valid.eq(1), wr.job.payload.addr.eq(c_base),
                             wr.job.payload.words.eq(Mux(
                                 wg, w_recs * geo.b_words,
                                 tiles * (cfg.rows // cfg.drain_rows * geo.r_words)))]
                with m.If(wr.job.ready):
                    m.d.sync += [cmds_issued.eq(0), issue_on.eq(1), seq_on.eq(1),
                                 seq_done.eq(Mux(wg, w_recs == 0, (tiles == 0) | (steps == 0))),
                                 w_left.eq(w_recs),
                                 ti.eq(0), tj.eq(0), steps_left.eq(steps),
                                 a_row.eq(a_base), a_cur.eq(a_base),
                                 b_col.eq(b_base), b_cur.eq(b_base)]
                    m.next = "RUN"
            with m.State("RUN"):
                with m.If(overflow):  # records were lost: this command cannot finish
                    m.d.sync += [issue_on.eq(0), seq_on.eq(0),
                                 status.eq(STATUS["FIFO_OVERFLOW"]), err_cmd.eq(cmds_done)]
                    m.next = "DONE"
                with m.Elif(seq_done & rd.idle & (cmds_issued == tiles) & wr.idle
                            & ~wr.job.valid):
                    m.d.sync += [issue_on.eq(0), seq_on.eq(0), cmds_done.eq(cmds_done + 1),
                                 cmds_left.eq(cmds_left - 1), cmd_ptr.eq(cmd_ptr + DESC_BYTES)]
                    m.next = "NEXT"
            with m.State("DONE"):
                m.d.comb += ctl.done.eq(1)
                m.d.sync += running.eq(0)
                m.next = "IDLE"

        # operand read requests: A chunk, then B chunk, for each chunk of each tile
        with m.FSM(name="reads"):
            with m.State("A"):
                with m.If(seq_on & ~seq_done & wg):
                    with m.If(w_credit >= w_steps):
                        m.d.comb += [rd.req.valid.eq(1), rd.req.payload.addr.eq(a_cur),
                                     rd.req.payload.words.eq(w_steps * geo.d_words),
                                     rd.req.payload.tag.eq(TAG_W)]
                        with m.If(rd.req.ready):
                            m.d.sync += [a_cur.eq(a_cur + ((w_steps * geo.d_words) << shift)),
                                         w_left.eq(w_left - w_steps)]
                            with m.If(w_left == w_steps):
                                m.d.sync += seq_done.eq(1)
                with m.Elif(seq_on & ~seq_done):
                    with m.If(credit >= c_steps):
                        m.d.comb += [rd.req.valid.eq(1), rd.req.payload.addr.eq(a_cur),
                                     rd.req.payload.words.eq(words_a),
                                     rd.req.payload.tag.eq(TAG_A)]
                        with m.If(rd.req.ready):
                            m.d.sync += a_cur.eq(a_cur + (words_a << shift))
                            m.next = "B"
            with m.State("B"):
                m.d.comb += [rd.req.valid.eq(1), rd.req.payload.addr.eq(b_cur),
                             rd.req.payload.words.eq(words_b),
                             rd.req.payload.tag.eq(TAG_B)]
                with m.If(rd.req.ready):
                    m.d.sync += [b_cur.eq(b_cur + (words_b << shift)),
                                 steps_left.eq(steps_left - c_steps)]
                    m.next = "A"
                    with m.If(steps_left == c_steps):  # tile done: next tile
                        m.d.sync += steps_left.eq(steps)
                        with m.If(tj == col_tiles - 1):
                            m.d.sync += [tj.eq(0), ti.eq(ti + 1), b_col.eq(b_base),
                                         b_cur.eq(b_base), a_row.eq(a_row + a_stride),
                                         a_cur.eq(a_row + a_stride)]
                            with m.If(ti == row_tiles - 1):
                                m.d.sync += seq_done.eq(1)
                        with m.Else():
                            m.d.sync += [tj.eq(tj + 1), b_col.eq(b_col + b_stride),
                                         b_cur.eq(b_col + b_stride), a_cur.eq(a_row)]

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
            ctl.status["INFO0"].eq(info[0]),
            ctl.status["INFO1"].eq(info[1]),
            ctl.status["INFO2"].eq(info[2]),
        ]
        return m


def kernel_verilog(cfg: SatConfig, *, fifo_records: int | None = None) -> str:
    """Verilog of the kernel, top module ``cfg.kernel_name`` (deterministic).

    ``fifo_records``: tests only, see :class:`SatKernel`.
    """
    from amaranth.back import verilog

    top = SatKernel(cfg, fifo_records=fifo_records)
    return verilog.convert(top, name=cfg.kernel_name, ports=top.ports(), emit_src=False)
