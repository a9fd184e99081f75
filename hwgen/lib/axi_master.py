"""AXI4 memory master: a burst reader and a burst writer (INCR bursts, one ID).

Both split a request of any length into bursts of at most ``max_burst`` beats
(at most 256, AXI4's INCR limit) that never cross a 4 KiB boundary (AXI4 rule).
Addresses are 64-bit byte addresses; a request's address is taken as that of the
AXI word holding it (its low ``log2(data_bits / 8)`` bits are ignored), so a burst
is always aligned and every burst is legal whatever the blocks are given.  The
SAT kernel refuses unaligned descriptors itself (STATUS ``BAD_ADDRESS``) before
any traffic; the alignment here is the blocks' own guarantee, not a feature to
rely on.

* :class:`BurstReader` takes ``{addr, words, tag}`` requests, issues AR
  bursts (up to ``outstanding`` in flight) and hands every returned beat out
  with its request's tag, in order.  ``rready`` is always high: the user
  reserves room for what it asks for before asking (credits).
* :class:`BurstWriter` takes ``{addr, words}`` jobs and writes the words
  pushed into its data stream, a burst at a time once the burst's data is
  buffered; it is idle again once every write response has come back.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from sparseforge.regmap import MASTER_PORTS

__all__ = ["BurstReader", "BurstWriter", "master_signature"]


def master_signature(data_bits: int, addr_bits: int = 64) -> wiring.Signature:
    """The ``m_axi_<name>`` port group seen from the kernel (master side)."""
    widths = {"A": addr_bits, "D": data_bits, "S": data_bits // 8}
    members = {}
    for name, direction, width in MASTER_PORTS:
        members[name] = (Out if direction == "out" else In)(widths.get(width, width))
    return wiring.Signature(members)


def _check_params(data_bits: int, max_burst: int) -> None:
    if data_bits not in (32, 64, 128, 256, 512, 1024):
        raise ValueError(f"data_bits = {data_bits}; allowed: 32, 64, 128, 256, 512, 1024")
    if isinstance(max_burst, bool) or not isinstance(max_burst, int) or \
            not 1 <= max_burst <= 256:
        raise ValueError(f"max_burst = {max_burst!r}; allowed: 1 to 256 beats (AXI4 INCR)")


def _word_aligned(addr, data_bits: int):
    """``addr`` with the bits below one AXI word cleared (the word that holds it)."""
    shift = (data_bits // 8).bit_length() - 1
    return Cat(Const(0, shift), addr[shift:]) if shift else addr


def _burst_len(m: Module, addr, left, data_bits: int, max_burst: int):
    """Beats of the next burst: min(left, max_burst, words to the next 4 KiB line).

    ``addr`` is word-aligned (:func:`_word_aligned`), so the words to the 4 KiB line
    are 1 to ``4096 / word_bytes``: the result is 1 to 256 whenever ``left`` > 0.
    """
    shift = (data_bits // 8).bit_length() - 1
    page_words = 4096 >> shift
    to_4k = Signal(range(page_words + 1))
    m.d.comb += to_4k.eq(page_words - addr[shift:12])
    limit = Mux(to_4k < max_burst, to_4k, max_burst)
    return Mux(left < limit, left, limit)


class BurstReader(wiring.Component):
    """Read requests → AR bursts; R beats out with their tag.

    Ports
    -----
    req : In(stream {addr: 64, words: 32, tag})
    out_valid, out_data, out_tag : Out
        One returned beat per cycle at most (no back-pressure).
    bus : Out(master_signature)
        Only the AR and R members are driven / used.
    error : Out(1)
        Pulses on a beat whose ``rresp`` is not OKAY.
    idle : Out(1)
        No request being split and no burst outstanding.
    """

    def __init__(self, data_bits: int, max_burst: int, tags: int, outstanding: int = 8):
        _check_params(data_bits, max_burst)
        self._db, self._mb, self._out = data_bits, max_burst, outstanding
        self._tag_bits = max(1, (tags - 1).bit_length())
        self.req_layout = data.StructLayout({"addr": 64, "words": 32,
                                             "tag": unsigned(self._tag_bits)})
        super().__init__({
            "req": In(stream.Signature(self.req_layout)),
            "out_valid": Out(1),
            "out_data": Out(data_bits),
            "out_tag": Out(self._tag_bits),
            "bus": Out(master_signature(data_bits)),
            "error": Out(1),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        bus, db = self.bus, self._db
        m.submodules.tags = tags = fifo.SyncFIFO(width=self._tag_bits, depth=self._out)

        addr = Signal(64)
        left = Signal(32)
        tag = Signal(self._tag_bits)
        m.d.comb += self.req.ready.eq(left == 0)
        with m.If(self.req.valid & self.req.ready):
            m.d.sync += [addr.eq(_word_aligned(self.req.payload.addr, db)),
                         left.eq(self.req.payload.words), tag.eq(self.req.payload.tag)]

        length = Signal(range(self._mb + 1))
        m.d.comb += length.eq(_burst_len(m, addr, left, db, self._mb))
        m.d.comb += [
            bus.arvalid.eq((left != 0) & tags.w_rdy),
            bus.araddr.eq(addr),
            bus.arlen.eq(length - 1),
            bus.arsize.eq((db // 8).bit_length() - 1),
            bus.arburst.eq(1),  # INCR
            tags.w_data.eq(tag),
            tags.w_en.eq(bus.arvalid & bus.arready),
        ]
        with m.If(bus.arvalid & bus.arready):
            m.d.sync += [addr.eq(addr + (length << ((db // 8).bit_length() - 1))),
                         left.eq(left - length)]

        m.d.comb += [
            bus.rready.eq(1),
            self.out_valid.eq(bus.rvalid),
            self.out_data.eq(bus.rdata),
            self.out_tag.eq(tags.r_data),
            tags.r_en.eq(bus.rvalid & bus.rlast),
            self.error.eq(bus.rvalid & (bus.rresp != 0)),
            self.idle.eq((left == 0) & (tags.r_level == 0) & ~tags.w_en),
        ]
        return m


class BurstWriter(wiring.Component):
    """Write jobs → AW/W bursts from a data FIFO; B responses counted.

    Ports
    -----
    job : In(stream {addr: 64, words: 32})
        One job at a time; the next is accepted once the previous is idle.
    data : In(stream(data_bits))
        The words to write, in address order.
    bus : Out(master_signature)
        Only the AW, W and B members are driven / used.
    error : Out(1)
        Pulses on a write response that is not OKAY.
    idle : Out(1)
        No job, no burst in flight, every response received.
    """

    def __init__(self, data_bits: int, max_burst: int, depth: int | None = None):
        _check_params(data_bits, max_burst)
        self._db, self._mb = data_bits, max_burst
        self._depth = depth or 2 * max_burst
        super().__init__({
            "job": In(stream.Signature(data.StructLayout({"addr": 64, "words": 32}))),
            "data": In(stream.Signature(data_bits)),
            "bus": Out(master_signature(data_bits)),
            "error": Out(1),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        bus, db = self.bus, self._db
        shift = (db // 8).bit_length() - 1
        m.submodules.buf = buf = fifo.SyncFIFO(width=db, depth=self._depth)
        m.d.comb += [buf.w_data.eq(self.data.payload), buf.w_en.eq(self.data.valid),
                     self.data.ready.eq(buf.w_rdy)]

        addr = Signal(64)
        left = Signal(32)
        active = Signal()
        beats = Signal(range(self._mb + 1))
        pending = Signal(16)  # bursts whose response has not come back
        length = Signal(range(self._mb + 1))
        m.d.comb += length.eq(_burst_len(m, addr, left, db, self._mb))

        aw_fire = bus.awvalid & bus.awready
        b_fire = bus.bvalid & bus.bready
        with m.If(aw_fire & ~b_fire):
            m.d.sync += pending.eq(pending + 1)
        with m.Elif(b_fire & ~aw_fire):
            m.d.sync += pending.eq(pending - 1)
        m.d.comb += [bus.bready.eq(1), self.error.eq(b_fire & (bus.bresp != 0))]

        m.d.comb += [bus.awaddr.eq(addr), bus.awlen.eq(length - 1), bus.awsize.eq(shift),
                     bus.awburst.eq(1), bus.wstrb.eq((1 << (db // 8)) - 1),
                     bus.wdata.eq(buf.r_data)]
        with m.FSM(name="writer"):
            with m.State("IDLE"):
                m.d.comb += self.job.ready.eq(pending == 0)
                with m.If(self.job.valid & (pending == 0)):
                    m.d.sync += [addr.eq(_word_aligned(self.job.payload.addr, db)),
                                 left.eq(self.job.payload.words), active.eq(1)]
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                with m.If(left == 0):
                    m.d.sync += active.eq(0)
                    m.next = "IDLE"
                with m.Elif(buf.r_level >= length):
                    m.d.comb += bus.awvalid.eq(1)
                    with m.If(bus.awready):
                        m.d.sync += [beats.eq(length), addr.eq(addr + (length << shift)),
                                     left.eq(left - length)]
                        m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += [bus.wvalid.eq(1), bus.wlast.eq(beats == 1),
                             buf.r_en.eq(bus.wready)]
                with m.If(bus.wready):
                    m.d.sync += beats.eq(beats - 1)
                    with m.If(beats == 1):
                        m.next = "ISSUE"
        m.d.comb += self.idle.eq(~active & (pending == 0) & ~self.job.valid)
        return m
