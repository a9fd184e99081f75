"""AXI4-Lite control slave with Vitis' ``ap_ctrl_hs`` block, built from a register map.

Registers (:class:`sparseforge.regmap.RegisterMap`):

* ``CTRL`` (0x00): bit 0 ``ap_start`` — the host writes 1, it stays set until
  the kernel finishes (``ap_ready``), or re-arms itself with ``auto_restart``;
  bit 1 ``ap_done`` — set when the kernel finishes, cleared when CTRL is read;
  bit 2 ``ap_idle`` — the kernel is not running; bit 3 ``ap_ready`` — set with
  ``ap_done``, cleared on read; bit 7 ``auto_restart`` (read/write).
* ``GIE`` (0x04) bit 0; ``IER`` (0x08) bits 1:0; ``ISR`` (0x0C) bits 1:0 — an
  event (bit 0 done, bit 1 ready) sets its ISR bit when enabled in IER; writing
  1 toggles a bit.  ``interrupt = GIE & |ISR``.
* arguments: read/write words; 64-bit arguments as ``_lo`` / ``_hi`` words.
* ``ro`` registers: driven by the kernel through :attr:`AxiLiteControl.status`.

Reads of unmapped addresses return 0; writes to them are ignored (OKAY
response, as Vitis' generated slaves do).  One read and one write may be in
flight at once; each takes two cycles plus the master's ready.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from sparseforge.regmap import CONTROL_PORTS, CTRL_BITS, RegisterMap

__all__ = ["AxiLiteControl", "control_signature"]


def control_signature(addr_bits: int) -> wiring.Signature:
    """The ``s_axi_control`` port group seen from the kernel (slave side)."""
    members = {}
    for name, direction, width in CONTROL_PORTS:
        members[name] = (In if direction == "in" else Out)(addr_bits if width is None else width)
    return wiring.Signature(members)


class AxiLiteControl(wiring.Component):
    """The control slave.

    Ports
    -----
    bus : In(control_signature)
        AXI4-Lite, 32-bit data.
    start : Out(1)
        One-cycle pulse: the kernel may start (``ap_start`` set while idle).
    done : In(1)
        One-cycle pulse from the kernel when it finishes.
    running : In(1)
        High while the kernel runs (``ap_idle`` is its inverse).
    interrupt : Out(1)
    args : dict[str, Signal]
        Argument values (32 or 64 bits), by argument name.
    status : dict[str, Signal]
        Inputs for the map's ``ro`` registers, 32 bits each, by register name.
    """

    def __init__(self, rmap: RegisterMap):
        self._rmap = rmap
        self._words = rmap.words()
        super().__init__({
            "bus": In(control_signature(rmap.control_addr_bits)),
            "start": Out(1),
            "done": In(1),
            "running": In(1),
            "interrupt": Out(1),
        })
        self.args = {a.name: Signal(a.bits, name=f"arg_{a.name}") for a in rmap.args}
        self.status = {w["name"]: Signal(32, name=f"status_{w['name']}")
                       for w in self._words if w["access"] == "ro"}

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        ab = self._rmap.control_addr_bits

        ap_start = Signal()
        ap_done = Signal()
        ap_ready = Signal()
        auto_restart = Signal()
        gie = Signal()
        ier = Signal(2)
        isr = Signal(2)
        started = Signal()  # ap_start was taken by the kernel: wait for done

        # -------------------------------------------------------------- start / done
        m.d.comb += self.start.eq(ap_start & ~self.running & ~started)
        with m.If(self.start):
            m.d.sync += started.eq(1)
        with m.If(self.done):
            m.d.sync += [ap_done.eq(1), ap_ready.eq(1), started.eq(0),
                         ap_start.eq(auto_restart)]
            m.d.sync += isr.eq(isr | ier)
        m.d.comb += self.interrupt.eq(gie & isr.any())

        # -------------------------------------------------------------- write channel
        waddr = Signal(ab)
        with m.FSM(name="write"):
            with m.State("ADDR"):
                m.d.comb += bus.awready.eq(1)
                with m.If(bus.awvalid):
                    m.d.sync += waddr.eq(bus.awaddr)
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += bus.wready.eq(1)
                with m.If(bus.wvalid):
                    self._write(m, waddr, bus.wdata, bus.wstrb,
                                dict(ap_start=ap_start, auto_restart=auto_restart, gie=gie,
                                     ier=ier, isr=isr))
                    m.next = "RESP"
            with m.State("RESP"):
                m.d.comb += [bus.bvalid.eq(1), bus.bresp.eq(0)]
                with m.If(bus.bready):
                    m.next = "ADDR"

        # -------------------------------------------------------------- read channel
        rdata = Signal(32)
        ctrl_word = Signal(32)
        m.d.comb += ctrl_word.eq(
            (ap_start << CTRL_BITS["ap_start"]) | (ap_done << CTRL_BITS["ap_done"])
            | (~self.running << CTRL_BITS["ap_idle"]) | (ap_ready << CTRL_BITS["ap_ready"])
            | (auto_restart << CTRL_BITS["auto_restart"]))
        with m.FSM(name="read"):
            with m.State("ADDR"):
                m.d.comb += bus.arready.eq(1)
                with m.If(bus.arvalid):
                    word = bus.araddr[2:]
                    m.d.sync += rdata.eq(0)
                    with m.Switch(word):
                        for w in self._words:
                            with m.Case(w["offset"] >> 2):
                                m.d.sync += rdata.eq(self._read_value(
                                    w, ctrl_word, gie, ier, isr))
                    with m.If(word == 0):  # clear on read (a done in this cycle wins)
                        with m.If(~self.done):
                            m.d.sync += [ap_done.eq(0), ap_ready.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += [bus.rvalid.eq(1), bus.rdata.eq(rdata), bus.rresp.eq(0)]
                with m.If(bus.rready):
                    m.next = "ADDR"
        return m

    # ------------------------------------------------------------------ helpers
    def _arg_slice(self, name: str):
        """(arg signal, bit offset) of a data word name (``x``, ``x_lo``, ``x_hi``)."""
        for a in self._rmap.args:
            if name == a.name:
                return self.args[a.name], 0
            if a.bits == 64 and name in (f"{a.name}_lo", f"{a.name}_hi"):
                return self.args[a.name], 0 if name.endswith("_lo") else 32
        return None, 0

    def _read_value(self, w, ctrl_word, gie, ier, isr):
        name = w["name"]
        if name == "CTRL":
            return ctrl_word
        if name == "GIE":
            return gie
        if name == "IER":
            return ier
        if name == "ISR":
            return isr
        if w["access"] == "ro":
            return self.status[name]
        sig, off = self._arg_slice(name)
        return sig[off:off + 32]

    def _write(self, m, waddr, wdata, wstrb, regs):
        word = waddr[2:]
        with m.Switch(word):
            for w in self._words:
                name = w["name"]
                with m.Case(w["offset"] >> 2):
                    if name == "CTRL":
                        with m.If(wstrb[0]):
                            with m.If(wdata[CTRL_BITS["ap_start"]]):
                                m.d.sync += regs["ap_start"].eq(1)
                            m.d.sync += regs["auto_restart"].eq(
                                wdata[CTRL_BITS["auto_restart"]])
                    elif name == "GIE":
                        with m.If(wstrb[0]):
                            m.d.sync += regs["gie"].eq(wdata[0])
                    elif name == "IER":
                        with m.If(wstrb[0]):
                            m.d.sync += regs["ier"].eq(wdata[:2])
                    elif name == "ISR":
                        with m.If(wstrb[0]):
                            isr = regs["isr"]
                            # toggle on write; an event in the same cycle still sets
                            m.d.sync += isr.eq((isr ^ wdata[:2])
                                               | Cat(self.done & regs["ier"][0],
                                                     self.done & regs["ier"][1]))
                    elif w["access"] != "ro":
                        sig, off = self._arg_slice(name)
                        for b in range(4):
                            with m.If(wstrb[b]):
                                m.d.sync += sig[off + 8 * b:off + 8 * b + 8].eq(
                                    wdata[8 * b:8 * b + 8])
