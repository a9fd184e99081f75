"""The SAT engine: an R x C output-stationary array of sparse PEs with its control.

Streams (``amaranth.lib.stream``):

* ``cmd`` — one beat per output tile: ``{sparse, steps}``;
* ``data`` — ``steps`` beats per tile: ``a[R][M]``, ``b[C]{w[N], idx[N]}``;
* ``result`` — ``R / drain_rows`` beats per tile, each ``drain_rows`` rows of
  ``C`` accumulators (rows in order).

Timing contract (``docs/designs/sat.md``): with ``data`` always valid and
``result`` always ready, a GEMM of T tiles of S steps takes
``S + (T-1)·P + C + R + 2`` cycles, ``P = cfg.tile_period(S)``, from the first ``cmd``
handshake to the last ``result`` handshake, both included.  A 0-step tile
yields an all-zero result (one internal zero beat, no data consumed).
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from sparseforge.families.sat.config import SatConfig

from .pe import BeatControl, SparsePE, a_layout, b_layout

__all__ = ["SatEngine", "cmd_layout", "data_layout", "result_layout"]


def cmd_layout(cfg: SatConfig) -> data.StructLayout:
    """Tile command: ``sparse`` (1 bit) and ``steps`` (``steps_bits``)."""
    return data.StructLayout({"sparse": 1, "steps": unsigned(cfg.steps_bits)})


def data_layout(cfg: SatConfig) -> data.StructLayout:
    """One step: A for every row, B (values + indices) for every column."""
    return data.StructLayout({
        "a": data.ArrayLayout(a_layout(cfg), cfg.rows),
        "b": data.ArrayLayout(b_layout(cfg), cfg.cols),
    })


def result_layout(cfg: SatConfig) -> data.ArrayLayout:
    """One result beat: ``drain_rows`` rows of ``cols`` signed accumulators (row 0 low)."""
    from amaranth import signed

    return data.ArrayLayout(data.ArrayLayout(signed(cfg.acc_bits), cfg.cols), cfg.drain_rows)


class SatEngine(wiring.Component):
    """R x C sparse training array (see the module docstring for the streams).

    Ports
    -----
    cmd : In(stream.Signature(cmd_layout))
    data : In(stream.Signature(data_layout))
    result : Out(stream.Signature(result_layout))
    busy : Out(1)
        High while a tile is in flight (accepted and not all rows handed out).
    """

    def __init__(self, cfg: SatConfig):
        self._cfg = cfg
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout(cfg))),
            "data": In(stream.Signature(data_layout(cfg))),
            "result": Out(stream.Signature(result_layout(cfg))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        cfg = self._cfg
        R, C = cfg.rows, cfg.cols
        m = Module()

        # Result FIFOs.  With drain_rows = 2 the row pairs of two consecutive tiles may
        # interleave in time; each tile parity gets its own FIFO and the output side
        # reads whole tiles in order.  The depth covers the pairs a tile can push
        # while the previous one is still draining (about R/4), so an always-ready
        # consumer never causes a freeze.
        beat_bits = C * cfg.acc_bits * cfg.drain_rows
        beats_per_tile = R // cfg.drain_rows
        n_fifos = cfg.drain_rows
        depth = cfg.fifo_rows if n_fifos == 1 else max(cfg.fifo_rows, R // 4 + 2)
        fifos = [fifo.SyncFIFO(width=beat_bits, depth=depth) for _ in range(n_fifos)]
        for k, f in enumerate(fifos):
            m.submodules[f"fifo{k}"] = f
        enable = Signal()
        m.d.comb += enable.eq(Cat(*(f.w_rdy for f in fifos)).all())

        # ---------------------------------------------------------------- control FSM
        sparse = Signal()
        steps = Signal(cfg.steps_bits)
        count = Signal(cfg.steps_bits)
        zero_tile = Signal()
        # gap = cycles since the last "last" beat, minus one (saturating); the next
        # tile's last beat may enter when gap + 1 is a legal cfg.tile_period value.
        gap_max = max(R, C + 2)
        gap = Signal(range(gap_max + 1), init=gap_max)
        inject = Signal(BeatControl)
        inject_a = Signal(data.ArrayLayout(a_layout(cfg), R))
        inject_b = Signal(data.ArrayLayout(b_layout(cfg), C))
        last_beat = Signal()
        spacing_ok = Signal()
        legal = [d for d in range(1, gap_max) if cfg.tile_period(d - 1) == d]
        m.d.comb += spacing_ok.eq(Cat(gap >= gap_max - 1, *(gap == d - 1 for d in legal)).any())

        parity = Signal()  # parity of the tile being streamed
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(enable)
                with m.If(self.cmd.valid & enable):
                    m.d.sync += [
                        parity.eq(~parity),
                        sparse.eq(self.cmd.payload.sparse),
                        steps.eq(self.cmd.payload.steps),
                        zero_tile.eq(self.cmd.payload.steps == 0),
                        count.eq(0),
                    ]
                    m.next = "STREAM"
            with m.State("STREAM"):
                m.d.comb += last_beat.eq(zero_tile | (count == steps - 1))
                with m.If(zero_tile):
                    # a 0-step tile: one internal beat of zeros, nothing consumed
                    with m.If(enable & spacing_ok):
                        m.d.comb += [inject.valid.eq(1), inject.first.eq(1), inject.last.eq(1)]
                        m.next = "IDLE"
                with m.Else():
                    ready = enable & (~last_beat | spacing_ok)
                    m.d.comb += self.data.ready.eq(ready)
                    with m.If(self.data.valid & ready):
                        m.d.comb += [
                            inject.valid.eq(1),
                            inject.first.eq(count == 0),
                            inject.last.eq(last_beat),
                            inject_a.eq(self.data.payload.a),
                            inject_b.eq(self.data.payload.b),
                        ]
                        m.d.sync += count.eq(count + 1)
                        with m.If(last_beat):
                            m.next = "IDLE"
        m.d.comb += [inject.sparse.eq(sparse), inject.parity.eq(parity)]
        with m.If(enable):
            with m.If(inject.valid & inject.last):
                m.d.sync += gap.eq(0)
            with m.Elif(gap != gap_max):
                m.d.sync += gap.eq(gap + 1)

        # ---------------------------------------------------------------- input register
        # Only control (valid, first, last, ...) is reset; A and B are data, used only
        # with a valid beat: reset-less, like the PEs' datapath registers.
        in_ctl = Signal(BeatControl)
        in_a = Signal(data.ArrayLayout(a_layout(cfg), R), reset_less=True)
        in_b = Signal(data.ArrayLayout(b_layout(cfg), C), reset_less=True)
        with m.If(enable):
            m.d.sync += [in_ctl.eq(inject), in_a.eq(inject_a), in_b.eq(inject_b)]

        # ---------------------------------------------------------------- skew + array
        pes = [[SparsePE(cfg) for _ in range(C)] for _ in range(R)]
        for i in range(R):
            for j in range(C):
                m.submodules[f"pe_{i}_{j}"] = pes[i][j]
                m.d.comb += pes[i][j].enable.eq(enable)
        for i in range(R):
            a_sig, ctl_sig = in_a[i], in_ctl
            for d in range(i):  # row i is delayed i cycles
                a_next = Signal(a_layout(cfg), name=f"skew_a{i}_{d}", reset_less=True)
                ctl_next = Signal(BeatControl, name=f"skew_ctl{i}_{d}")
                with m.If(enable):
                    m.d.sync += [a_next.eq(a_sig), ctl_next.eq(ctl_sig)]
                a_sig, ctl_sig = a_next, ctl_next
            m.d.comb += [pes[i][0].a_in.eq(a_sig), pes[i][0].ctl_in.eq(ctl_sig)]
            for j in range(1, C):
                m.d.comb += [pes[i][j].a_in.eq(pes[i][j - 1].a_out),
                             pes[i][j].ctl_in.eq(pes[i][j - 1].ctl_out)]
        for j in range(C):
            b_sig = in_b[j]
            for d in range(j):  # column j is delayed j cycles
                b_next = Signal(b_layout(cfg), name=f"skew_b{j}_{d}", reset_less=True)
                with m.If(enable):
                    m.d.sync += b_next.eq(b_sig)
                b_sig = b_next
            m.d.comb += pes[0][j].b_in.eq(b_sig)
            for i in range(1, R):
                m.d.comb += pes[i][j].b_in.eq(pes[i - 1][j].b_out)

        # ---------------------------------------------------------------- result rows
        # Row r is complete the cycle after its last beat leaves PE(r, C-1); rows of a
        # tile complete on consecutive cycles and the tile spacing keeps them apart.
        # With drain_rows = 2, a pair (2q, 2q+1) leaves when row 2q+1 completes; at
        # most one pair per tile parity completes in a cycle (cfg.tile_period).
        for k, f in enumerate(fifos):
            beat_data, beat_done = 0, []
            for q in range(beats_per_tile):
                rows = range(q * cfg.drain_rows, (q + 1) * cfg.drain_rows)
                ctl = pes[rows[-1]][C - 1].ctl_out
                done = ctl.valid & ctl.last & ((ctl.parity == k) if n_fifos > 1 else 1)
                beat = Cat(*(pes[i][j].result for i in rows for j in range(C)))
                beat_done.append(done)
                beat_data = beat_data | (beat & done.replicate(beat_bits))
            m.d.comb += [f.w_data.eq(beat_data), f.w_en.eq(enable & Cat(*beat_done).any())]
        # Output: whole tiles in order (tile parity 0 first: the first tile has parity 1
        # after the toggle at its command, so start reading at parity 1).
        read_parity = Signal(init=1)
        read_count = Signal(range(beats_per_tile + 1))
        if n_fifos == 1:
            src = fifos[0]
            m.d.comb += [self.result.payload.eq(src.r_data), self.result.valid.eq(src.r_rdy),
                         src.r_en.eq(self.result.ready)]
        else:
            for k, f in enumerate(fifos):
                with m.If(read_parity == k):
                    m.d.comb += [self.result.payload.eq(f.r_data),
                                 self.result.valid.eq(f.r_rdy),
                                 f.r_en.eq(self.result.ready)]
            with m.If(self.result.valid & self.result.ready):
                with m.If(read_count == beats_per_tile - 1):
                    m.d.sync += [read_count.eq(0), read_parity.eq(~read_parity)]
                with m.Else():
                    m.d.sync += read_count.eq(read_count + 1)

        # ---------------------------------------------------------------- busy
        in_flight = Signal(range(2 * R * 64 + 1))  # result beats owed to the consumer
        accepted = self.cmd.valid & self.cmd.ready
        delivered = self.result.valid & self.result.ready
        with m.If(accepted & ~delivered):
            m.d.sync += in_flight.eq(in_flight + beats_per_tile)
        with m.Elif(accepted & delivered):
            m.d.sync += in_flight.eq(in_flight + beats_per_tile - 1)
        with m.Elif(delivered):
            m.d.sync += in_flight.eq(in_flight - 1)
        m.d.comb += self.busy.eq(in_flight != 0)
        return m
