"""SAT kernel hardening: descriptor fields checked, one layout table, legal AXI bursts
whatever the burst blocks are given, a registered reset and reset-less datapath
registers (issue 10 part B, defects 2-5 and 13).

The kernel-level runs (bad addresses, a read error on the descriptor fetch) are in
``tests/sat/test_sat_kernel.py::_runs``; the record-FIFO overflow run is the slow test at
the end of this file.
"""

import dataclasses
import itertools
import re
from pathlib import Path

import pytest

from sparseforge.errors import ConfigError
from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import (
    DESC_BYTES,
    DESC_FIELDS,
    STATUS,
    STATUS_CODES,
    Descriptor,
    descriptor_table,
    register_map,
    status_table,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "designs" / "sat_kernel.md"
GOOD = Descriptor("bp", 2, 8, 17, 3, 5, 0x1_2345_6780, 0x40, 0xFFFF_FFFF_FFFF_FFC0, 544, 96)

# --------------------------------------------------------------------------- descriptor


@pytest.mark.parametrize(("field", "value", "match"), [
    ("n", 258, r"descriptor n = 258; allowed: 0 to 255 \(8-bit field\)"),
    ("m", 65536, r"descriptor m = 65536; allowed: 0 to 255 \(8-bit field\)"),
    ("m", -1, r"descriptor m = -1; allowed: 0 to 255"),
    ("steps", 1 << 32, r"descriptor steps = 4294967296; allowed: 0 to 4294967295 "
     r"\(32-bit field\)"),
    ("row_tiles", 2.0, r"descriptor row_tiles = 2.0; allowed: an integer 0 to 4294967295"),
    ("col_tiles", True, r"descriptor col_tiles = True; allowed: an integer"),
    ("a_addr", 1 << 64, r"descriptor a_addr = 0x10000000000000000; allowed: 0 to "
     r"0xffffffffffffffff \(64-bit field\)"),
    ("b_stride", -64, r"descriptor b_stride = -64; allowed: 0 to 4294967295"),
    ("op", "sparse", r"descriptor op = 'sparse'; allowed: dense, ff, bp, wgen_row, wgen_col"),
])
def test_descriptor_pack_checks_every_field(field, value, match):
    """Defect 4: n = 258 packed as n = 2, m = 65536 raised struct.error."""
    bad = dataclasses.replace(GOOD, **{field: value})
    with pytest.raises(ConfigError, match=match):
        bad.pack()


def test_descriptor_layout_is_the_field_table():
    """Hand-written bytes of one descriptor (the wire format, stated independently)."""
    raw = GOOD.pack()
    want = bytes([3, 2, 8, 0]) + (17).to_bytes(4, "little") + (3).to_bytes(4, "little") + \
        (5).to_bytes(4, "little") + (0x1_2345_6780).to_bytes(8, "little") + \
        (0x40).to_bytes(8, "little") + (0xFFFF_FFFF_FFFF_FFC0).to_bytes(8, "little") + \
        (544).to_bytes(4, "little") + (96).to_bytes(4, "little") + bytes(16)
    assert raw == want and len(raw) == DESC_BYTES
    assert Descriptor.unpack(raw) == GOOD
    assert Descriptor.unpack(b"\x09" + raw[1:]).op == "0x09"
    with pytest.raises(ValueError, match="a descriptor is 64 bytes; got 63"):
        Descriptor.unpack(raw[:63])
    # the table covers words 0-11 without overlaps, every field inside the 64 bytes
    spans = sorted((f.offset, f.offset + f.bits) for f in DESC_FIELDS)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    assert spans[-1][1] <= DESC_BYTES * 8
    assert {f.name for f in DESC_FIELDS} == {f.name for f in dataclasses.fields(Descriptor)}


def test_docs_hold_the_descriptor_and_status_tables():
    text = DOC.read_text()
    assert descriptor_table() in text
    assert status_table() in text


def test_status_codes_reach_the_regmap_and_the_c_header():
    """The driver's messages: tests/sat/test_sat_board.py (a BAD_ADDRESS through the driver)."""
    from sparseforge.hwgen.project.emit import emit_project
    from sparseforge.regmap import RegisterMap

    assert [s.code for s in STATUS_CODES] == list(range(1, len(STATUS_CODES) + 1))
    assert STATUS["BAD_ADDRESS"] == 6 and STATUS["FIFO_OVERFLOW"] == 7
    rmap = register_map(SatConfig())
    assert RegisterMap.from_json(rmap.to_json()) == rmap
    values = rmap.register("STATUS").values
    assert [(n, v) for n, v, _ in values] == [(s.name, s.code) for s in STATUS_CODES]
    header = emit_project(rmap, "zcu104", {"sat_kernel.v": "module sat_kernel;\nendmodule\n"}
                          )["include/sat_kernel_regs.h"]
    for s in STATUS_CODES:
        assert re.search(rf"#define SAT_KERNEL_STATUS_{s.name}\s+{s.code}u\s", header), s.name
    regs = tuple(dataclasses.replace(r, values=(("BAD", -1, "x"),)) if r.name == "STATUS"
                 else r for r in rmap.registers)
    with pytest.raises(ConfigError, match="register STATUS value BAD = -1"):
        RegisterMap(rmap.kernel, rmap.design, rmap.config, regs, rmap.args, rmap.masters)


def test_rtl_uses_no_literal_status_codes_or_descriptor_words():
    """The kernel RTL reads STATUS names and DESC_FIELDS, not numbers it re-types."""
    src = (Path(__file__).resolve().parents[2] / "hwgen" / "sat" / "kernel.py"
           ).read_text()
    assert not re.search(r"status\.eq\([1-9]", src)
    assert not re.search(r"axi_err\.eq\([1-9]", src)
    assert "dword(" not in src


# --------------------------------------------------------------------------- burst blocks


def _check_burst(addr: int, beats: int, size: int, burst: int, word_bytes: int,
                 max_burst: int) -> None:
    """The AXI4 rules an INCR burst of this master must keep (asserts)."""
    assert addr % word_bytes == 0, f"burst at {addr:#x} not aligned to {word_bytes} bytes"
    assert 1 <= beats <= min(max_burst, 256), f"burst of {beats} beats at {addr:#x}"
    assert addr // 4096 == (addr + beats * word_bytes - 1) // 4096, \
        f"burst of {beats} beats at {addr:#x} crosses 4 KiB"
    assert (size, burst) == (word_bytes.bit_length() - 1, 1)


READ_CASES = [(128, 64, 0x1FF8, 300), (128, 256, 0x1FF8, 1), (128, 256, 0x0FFF, 600),
              (256, 16, 0x0003, 40), (512, 256, 0x2FFF_FFC1, 200),
              (512, 8, 0xFFFF_FFFF_FFFF_FFF8, 3), (128, 64, 0x0000, 0),
              (128, 64, 0x0FC0, 300)]  # the last two: aligned (passed before the fix too)


@pytest.mark.parametrize(("data_bits", "max_burst", "addr", "words"), READ_CASES)
def test_burst_reader_never_issues_an_illegal_burst(data_bits, max_burst, addr, words):
    """Defect 2: at 0x1FF8 (128-bit words) the reader issued arlen = 255 at 0x1FF8 for
    ever, across 4 KiB.  An unaligned address is taken as its word's (low bits
    ignored); every burst is legal; exactly ``words`` beats come back, in order."""
    from amaranth.sim import Simulator

    from sparseforge.hwgen.lib.axi_master import BurstReader

    wb = data_bits // 8
    dut = BurstReader(data_bits, max_burst, tags=4)
    bursts, beats_out = [], []
    start = addr // wb * wb

    async def tb(ctx):
        ctx.set(dut.bus.arready, 1)
        ctx.set(dut.req.payload.addr, addr)
        ctx.set(dut.req.payload.words, words)
        ctx.set(dut.req.payload.tag, 2)
        ctx.set(dut.req.valid, 1)
        await ctx.tick().until(dut.req.ready)
        ctx.set(dut.req.valid, 0)
        queue = []  # (word address, last) of beats the slave owes
        for _ in range(4 * words + 40):
            if queue:  # R beats of earlier cycles' bursts, one a cycle
                a, last = queue.pop(0)
                ctx.set(dut.bus.rvalid, 1)
                ctx.set(dut.bus.rdata, a & ((1 << data_bits) - 1))
                ctx.set(dut.bus.rlast, last)
            else:
                ctx.set(dut.bus.rvalid, 0)
            if ctx.get(dut.bus.arvalid):
                a, n = ctx.get(dut.bus.araddr), ctx.get(dut.bus.arlen) + 1
                _check_burst(a, n, ctx.get(dut.bus.arsize), ctx.get(dut.bus.arburst), wb,
                             max_burst)
                bursts.append((a, n))
                queue += [(a + i * wb, i == n - 1) for i in range(n)]
                assert len(bursts) <= words, "more bursts than words: livelock"
            if ctx.get(dut.out_valid):
                assert ctx.get(dut.out_tag) == 2
                beats_out.append(ctx.get(dut.out_data))
            await ctx.tick()
            if not queue and ctx.get(dut.idle) and len(beats_out) == words:
                break

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert sum(n for _, n in bursts) == words
    want = [(start + i * wb) % (1 << 64) for i in range(words)]
    assert [a for a, n in bursts for a in [a + i * wb for i in range(n)]] == want
    assert beats_out == [a & ((1 << data_bits) - 1) for a in want]


@pytest.mark.parametrize(("data_bits", "max_burst", "addr", "words"), READ_CASES)
def test_burst_writer_never_issues_an_illegal_burst(data_bits, max_burst, addr, words):
    """The writer's twin of the reader test: legal AW bursts, WLAST on each burst's
    last beat, every word written once at its (aligned) address, idle at the end."""
    from amaranth.sim import Simulator

    from sparseforge.hwgen.lib.axi_master import BurstWriter

    wb = data_bits // 8
    dut = BurstWriter(data_bits, max_burst)
    bursts, written = [], []
    start = addr // wb * wb

    async def tb(ctx):
        ctx.set(dut.bus.awready, 1)
        ctx.set(dut.bus.wready, 1)
        ctx.set(dut.job.payload.addr, addr)
        ctx.set(dut.job.payload.words, words)
        ctx.set(dut.job.valid, 1)
        await ctx.tick().until(dut.job.ready)
        ctx.set(dut.job.valid, 0)
        sent, current, responses = 0, [], 0
        for _ in range(4 * words + 60):
            ctx.set(dut.data.valid, sent < words)
            ctx.set(dut.data.payload, sent)
            ctx.set(dut.bus.bvalid, responses > 0)
            if ctx.get(dut.data.valid) and ctx.get(dut.data.ready):
                sent += 1
            if ctx.get(dut.bus.awvalid):
                a, n = ctx.get(dut.bus.awaddr), ctx.get(dut.bus.awlen) + 1
                _check_burst(a, n, ctx.get(dut.bus.awsize), ctx.get(dut.bus.awburst), wb,
                             max_burst)
                bursts.append((a, n))
                current += [a + i * wb for i in range(n)]
                assert len(bursts) <= words, "more bursts than words: livelock"
            if ctx.get(dut.bus.wvalid):
                assert current, "W beat without a burst"
                a = current.pop(0)
                written.append((a, ctx.get(dut.bus.wdata)))
                assert ctx.get(dut.bus.wlast) == (sum(n for _, n in bursts) == len(written)
                                                  ), "WLAST not on the burst's last beat"
                if ctx.get(dut.bus.wlast):
                    responses += 1
            if ctx.get(dut.bus.bvalid) and ctx.get(dut.bus.bready):
                responses -= 1
            await ctx.tick()
            if ctx.get(dut.idle) and len(written) == words and responses == 0:
                break

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    want = [(start + i * wb) % (1 << 64) for i in range(words)]
    assert written == list(zip(want, range(words)))


# --------------------------------------------------------------------------- reset


def _rtlil_modules(text: str) -> dict[str, list[str]]:
    """RTLIL text -> {module name: its lines}."""
    mods, name = {}, None
    for line in text.splitlines():
        if line.startswith("module "):
            name = line.split()[1]
            mods[name] = []
        elif line == "end":
            name = None
        elif name is not None:
            mods[name].append(line)
    return mods


def _flops(lines: list[str]) -> dict[str, bool]:
    """{Q wire of each ``$dff`` cell: whether its next value depends on a reset}.

    Amaranth writes every register as a ``$dff`` whose D comes from a process; a
    register of a domain with a reset has ``switch <reset>`` in that process.
    """
    procs, cells = [], []
    block, kind = None, None
    for line in lines:
        if line.startswith("  process "):
            block, kind = [], "p"
        elif line.startswith("  cell $dff "):
            block, kind = [], "c"
        elif line == "  end" and block is not None:
            (procs if kind == "p" else cells).append(block)
            block = None
        elif block is not None:
            block.append(line.strip())
    resets = {}
    for p in procs:  # wire -> does the process assigning it switch on a reset?
        has_rst = any(re.fullmatch(r"switch \\(rst|rst_pipe) \[\d+\]|switch \\rst", ln) for ln in p)
        for ln in p:
            if ln.startswith("assign "):
                resets[ln.split()[1]] = resets.get(ln.split()[1], False) or has_rst
    out = {}
    for c in cells:
        d = next(ln for ln in c if ln.startswith("connect \\D "))
        q = next(ln for ln in c if ln.startswith("connect \\Q ")).split()[2]
        out[q] = any(resets.get(tok, False) for tok in re.findall(r"[$\\][^\s\[\]{}]+", d[10:]))
    return out


def test_pe_datapath_registers_have_no_reset():
    """Defect 13: every PE register was reset; only the control bits need it."""
    from amaranth.back import rtlil

    from sparseforge.hwgen.sat.pe import SparsePE

    text = rtlil.convert(SparsePE(SatConfig(rows=1, cols=1, n=2, m=4)), emit_src=False)
    flops = _flops(_rtlil_modules(text)["\\top"])
    assert set(flops) == {"\\a_out", "\\b_out", "\\acc", "\\result", "\\ctl_out"}
    assert flops["\\ctl_out"], "valid / first / last must keep their reset"
    assert not any(flops[q] for q in ("\\a_out", "\\b_out", "\\acc", "\\result")), flops


def test_engine_and_weight_generator_data_registers_have_no_reset():
    from amaranth.back import rtlil

    from sparseforge.hwgen.sat.engine import SatEngine
    from sparseforge.hwgen.sat.weight_gen import SparseWeightGenerator

    cfg = SatConfig(rows=3, cols=2, n=1, m=2)
    flops = _flops(_rtlil_modules(rtlil.convert(SatEngine(cfg), emit_src=False))["\\top"])
    # A / B input registers and skew stages (the stages are named after the PE inputs
    # they drive): in_a, in_b, 1 + 2 row skews of A, 1 column skew of B
    data = [q for q in flops if re.match(r"\\(skew_[ab]|in_[ab]\b|[ab]_in\b)", q)]
    assert len(data) == 2 + 3 + 1 and not any(flops[q] for q in data), flops
    ctl = [q for q in flops if re.match(r"\\(skew_ctl|ctl_in)", q)]
    assert len(ctl) == 1 + 3 and all(flops[q] for q in ctl), flops
    gen = _rtlil_modules(rtlil.convert(SparseWeightGenerator(2, 4, 8), emit_src=False))["\\top"]
    flops = _flops(gen)
    banks = [q for q in flops if q.startswith("\\bank")]
    assert len(banks) == 8 and not any(flops[q] for q in banks)
    assert not flops["\\out__payload"] and flops["\\out__valid"]


def test_kernel_reset_comes_from_flops_not_the_port():
    """Defect 13: ``~ap_rst_n`` drove every register of the kernel combinationally.  Now
    the reset of every block is the last of RESET_STAGES flops clocked from ap_clk."""
    from amaranth.back import rtlil

    from sparseforge.hwgen.sat.kernel import RESET_STAGES, SatKernel

    k = SatKernel(SatConfig(rows=2, cols=2, n=1, m=2, kernel_name="k"))
    top = _rtlil_modules(rtlil.convert(k, name="k", ports=k.ports(), emit_src=False))["\\k"]
    resets = {ln.split(maxsplit=2)[2] for ln in top if ln.startswith("    connect \\rst ")}
    assert resets == {f"\\rst_pipe [{RESET_STAGES - 1}]"}, resets
    flops = _flops(top)
    assert "\\rst_pipe" in flops and not flops["\\rst_pipe"], "the pipeline has no reset"
    # the port reaches only the pipeline's first flop and the AXI handshake gates
    uses = [ln for ln in top if "\\ap_rst_n" in ln and ln.startswith("    connect \\")]
    assert len(uses) == 2, uses


def test_axi_handshakes_are_off_while_either_reset_is_asserted():
    """The registered reset lags ap_rst_n by RESET_STAGES cycles both ways; the AXI
    ports must still obey the reset rules: no READY / VALID of the kernel's while
    ap_rst_n is low, nor while its own reset is still asserted after the release (a
    master may start the cycle after ap_rst_n rises)."""
    from amaranth.sim import Simulator

    from sparseforge.hwgen.sat.kernel import RESET_STAGES, SatKernel

    k = SatKernel(SatConfig(rows=2, cols=2, n=1, m=2, kernel_name="k"))
    ctl = k.s_axi_control
    seen = []

    async def tb(ctx):
        ctx.set(ctl["awvalid"], 1)  # a master that asks at once, every cycle
        ctx.set(ctl["arvalid"], 1)
        ctx.set(ctl["rready"], 1)
        ctx.set(ctl["bready"], 1)
        for cycle in range(16):
            ctx.set(k.ap_rst_n, 0 if cycle < 3 or 10 <= cycle < 12 else 1)
            await ctx.delay(1e-9)  # let the combinational gates settle
            seen.append((ctx.get(k.ap_rst_n), ctx.get(ctl["awready"]),
                         ctx.get(ctl["arready"]), ctx.get(ctl["rvalid"]),
                         ctx.get(ctl["bvalid"])))
            ctx.set(k.ap_clk, 1)  # ap_clk is a port: the bench drives it
            await ctx.delay(5e-9)
            ctx.set(k.ap_clk, 0)
            await ctx.delay(4e-9)

    sim = Simulator(k)
    sim.add_testbench(tb)
    sim.run()
    rst_n = [s[0] for s in seen]
    ready = [s[1] | s[2] | s[3] | s[4] for s in seen]
    # cycles 0-2 and 10-11 in reset; the kernel's reset lasts RESET_STAGES cycles longer
    live = [rst_n[c] and all(rst_n[max(0, c - RESET_STAGES):c]) and c >= 3 + RESET_STAGES
            for c in range(16)]
    assert not any(r for r, ok in zip(ready, live) if not ok), seen
    assert ready[3 + RESET_STAGES] and any(ready[12 + RESET_STAGES:]), seen


# --------------------------------------------------------------------------- record FIFOs


@pytest.mark.slow
def test_record_fifo_overflow_is_sticky_and_seen(tmp_path):
    """Defect 5: the record FIFOs were written without looking at ``w_rdy``.  A kernel
    built with FIFOs of 2 records while its credits count on the normal depth (so the
    credit arithmetic is wrong on purpose) must report STATUS FIFO_OVERFLOW at the
    command that overflowed instead of hanging or writing wrong results; the bench
    sees ``record_overflow`` rise; the next start is refused the same way (sticky
    until reset).  The same list on the real kernel: no overflow."""
    from sparseforge.hwgen.sat.kernel import kernel_chunk_steps, kernel_verilog
    from sparseforge.sim.sat.verify import run_kernel_runs

    cfg = SatConfig(rows=2, cols=2, n=1, m=2, kernel_name="k_ovf")
    assert kernel_chunk_steps(cfg) > 2  # one chunk of A records alone overflows 2
    small = {"id": "small", "mode": "ff", "kind": "random", "mg": 2, "k": 2, "ng": 2,
             "seed": 1}  # one step: fits in 2 records
    big = {"id": "big", "mode": "ff", "kind": "random", "mg": 4, "k": 64, "ng": 4, "seed": 2}
    ovf = STATUS["FIFO_OVERFLOW"]
    runs = [{"id": "fits", "vectors": [small]},
            {"id": "overflows", "vectors": [small, big, small], "expect_status": ovf,
             "expect_err_cmd": 1, "expect_done": 1},
            {"id": "refused", "vectors": [small], "expect_status": ovf,
             "expect_err_cmd": 0, "expect_done": 0}]
    broken = run_kernel_runs(cfg, tmp_path / "broken", runs, lint=False,
                             verilog=kernel_verilog(cfg, fifo_records=2))
    got = {r["id"]: r for r in broken["runs"]}
    assert [r["id"] for r in broken["runs"]] == ["fits", "overflows", "refused"]
    assert all(r["passed"] for r in broken["runs"]), broken["runs"]
    assert not got["fits"]["overflow"] and got["overflows"]["overflow"]
    assert (got["overflows"]["status"], got["overflows"]["err_cmd"]) == (ovf, 1)
    good = run_kernel_runs(cfg, tmp_path / "good",
                           [{"id": "same list", "vectors": [small, big, small]}])
    assert good["runs"][0]["passed"] and not good["runs"][0]["overflow"]
