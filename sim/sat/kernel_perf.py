"""Cycle model of the SAT kernel: engine + AXI memory side, per command and per list.

The engine model (:mod:`sparseforge.sim.sat.engine_perf`) assumes data always valid and
results always taken.  The kernel adds the memory side
(``docs/designs/sat_kernel.md``):

* **reads** — every tile streams ``S`` A records and ``S`` B records
  (``a_words + b_words`` AXI words per step) through one read port, requested a
  chunk at a time (:func:`sparseforge.families.sat.contract.operand_chunk`); a chunk costs
  the longest of its words over the read rate, issuing its requests (one cycle
  per request and one per AR burst) and the credit loop (:func:`read_cycles`);
* **writes** — ``R / drain_rows`` result beats of ``r_words`` words per tile,
  in bursts of at most ``max_burst`` words that do not cross 4 KiB; the writer
  starts a burst once all its words are buffered, so the last bursts are paid
  after the last results.  A record of ``n > 1`` words passes the serialiser in
  front of the writer in ``n + 1`` cycles (it takes the next record the cycle
  after the last word left: :func:`serialiser_cycles`), so results leave at
  most one beat every ``r_words + 1`` cycles: when that is slower than the
  engine, the engine waits, and the last tile's beats trail the engine's;
* **fixed costs** — descriptor fetch and decode, first read latency, the last
  write response: :func:`fixed_cycles` per command and :data:`LIST_CYCLES` per
  list, measured on the cocotbext-axi RAM of the simulated board (one word a
  cycle, two cycles from AR to the first R beat).

A command takes::

    fixed + max(writer_done, write_stream)

where a GEMM's results come a tile at a time, the first tile's from its first beat
(``reads of one tile + C + R + 2``, less the drain of its beats) and the last
tile's by ``max(reads + C + R + 2, engine) + tail`` (``engine``:
:func:`sparseforge.sim.sat.engine_perf.gemm_cycles`), ``writer_done`` steps through the
last write bursts (each waits for its data and for the previous burst), and
``write_stream`` is the write words over the write rate plus one address cycle per
burst.  Rates are AXI words per cycle: 1.0 for the simulated board's RAM;
:func:`MemoryPort.for_board` derives them from the memory the emitted project
connects the kernel to (:func:`sparseforge.sim.sat.kernel_workload.project_port`);
:meth:`MemoryPort.stalled` is the simulated RAM with every channel stalled a
fraction of the cycles (rates lowered, handshakes and latencies stretched).

A **weight generation** (``wgen_row`` / ``wgen_col``) reads ``TJ·S`` dense records
(``d_words`` each, :func:`sparseforge.families.sat.contract.wgen_chunk` a request) and writes
``TJ·S`` B records (``b_words`` each); the generator prunes one group per cycle, so a
record takes ``C`` cycles, and the serialiser ``serialiser_cycles(b_words)``.
Records leave evenly from the first record read and pruned (``d_words + C + 1``)
until the reads, the generator or the serialiser are done, whichever is last; the
writer and the fixed costs are as for a GEMM.

Checked against the RTL on configurations sampled across the whole validated space
(``tests/sat/test_sat_model_space.py``, ``benchmarks/sat_kernel_model_sweep.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import (
    DESC_BYTES,
    Descriptor,
    Geometry,
    ReadChunk,
    operand_chunk,
    wgen_chunk,
)
from sparseforge.sim.sat.engine_perf import gemm_cycles

__all__ = ["FIXED_CYCLES", "LIST_CYCLES", "READ_LOOP_CYCLES", "MemoryPort", "burst_plan",
           "command_cycles", "fixed_cycles", "list_cycles", "read_cycles", "serialiser_cycles",
           "write_bursts"]

#: Per-command fixed cycles on the simulated board, besides the descriptor's own
#: words (next, descriptor request and read latency, decode, set-up, first
#: operand read latency, last write response).
FIXED_CYCLES = 12

#: Cycles of a list besides its commands: ``ap_start`` taken, ``ap_done`` raised.
LIST_CYCLES = 2

#: Cycles of the read credit loop besides the words and the consumer: request to AR,
#: AR to the first R beat on the simulated board's RAM, record FIFO to consumer, credit
#: back to the next request (measured: a one-record chunk of ``w`` words consumed in
#: ``c`` cycles comes back after ``3 + w + c`` cycles).
READ_LOOP_CYCLES = 3


def fixed_cycles(cfg: SatConfig) -> int:
    """Fixed cycles of one command: :data:`FIXED_CYCLES` + the descriptor's AXI words."""
    return FIXED_CYCLES + DESC_BYTES * 8 // cfg.axi_data_bits


def serialiser_cycles(words: int) -> int:
    """Cycles the kernel's serialiser holds one record of ``words`` AXI words.

    One word leaves per cycle; a multi-word record is released the cycle after its
    last word left and the next one is loaded then, so ``words + 1`` cycles for
    ``words > 1`` (a one-word record passes straight through: 1).
    """
    return words + 1 if words > 1 else 1


def read_cycles(records: int, words: tuple[int, ...], chunk: ReadChunk, consume: float,
                max_burst: int, rate: float = 1.0, slowdown: float = 1.0) -> float:
    """Cycles the kernel's reads need for ``records`` records, ``chunk.records`` a request.

    ``words``: AXI words of one record per request kind (``(a_words, b_words)`` for
    a GEMM's A then B request, ``(d_words,)`` for a weight generation); ``consume``:
    cycles the consumer takes a record.  A chunk costs the longest of

    * its words over the read ``rate``;
    * issuing its requests: the reader takes a request in one cycle and one AR per
      burst, and the next request only after the last AR;
    * the credit loop: the chunk's credits come back ``READ_LOOP_CYCLES + words /
      rate + consume`` cycles after its request, and ``depth // chunk`` chunks fit in
      the FIFO at once.

    ``slowdown`` (:attr:`MemoryPort.slowdown`) stretches the handshakes and the loop.
    """
    full, rest = divmod(records, chunk.records)
    total = 0.0
    for n, count in ((chunk.records, full), (rest, 1 if rest else 0)):
        if count:
            total += count * max(_chunk_bounds(n, words, chunk, consume, max_burst, rate,
                                               slowdown))
    return total


def _chunk_bounds(n, words, chunk, consume, max_burst, rate, slowdown):
    """(data, issue, loop) cycles of one chunk of ``n`` records (see :func:`read_cycles`)."""
    data = n * sum(words) / rate
    issue = slowdown * sum(1 + -(-n * w // max_burst) for w in words)
    loop = (slowdown * READ_LOOP_CYCLES + data + consume) / max(1, chunk.depth // n)
    return data, issue, loop


def _first_issue_overlap(records, words, chunk, consume, max_burst, rate, slowdown) -> float:
    """Cycles of a command's first chunk that the fixed read latency already holds: when
    issuing is what bounds that chunk, its first request's accept cycle (one)."""
    data, issue, loop = _chunk_bounds(min(records, chunk.records), words, chunk, consume,
                                      max_burst, rate, slowdown)
    return min(slowdown, max(0.0, issue - max(data, loop)))


def _serialiser_lag(words: int) -> int:
    """Cycles from a record entering the serialiser to its last word reaching the
    writer's buffer, beyond the one-word pass-through: ``words`` for ``words > 1``."""
    return words if words > 1 else 0


@dataclass(frozen=True)
class MemoryPort:
    """The kernel's memory port as seen in AXI words per clock cycle.

    Attributes
    ----------
    read_rate, write_rate : float
        Sustained words per cycle on the read and write channels (<= 1).
    shared_rate : float or None
        Words per cycle shared by reads and writes (a DDR channel); ``None``:
        independent channels (the simulated RAM).
    stall_duty : float
        Fraction of cycles every channel of the port is stalled (``ready`` or
        ``valid`` held low, :class:`sparseforge.sim.lib.stalls.Stalls`): handshakes and
        latencies take ``1 / (1 - stall_duty)`` times as long.  Use
        :meth:`stalled`, which also lowers the rates.
    """

    read_rate: float = 1.0
    write_rate: float = 1.0
    shared_rate: float | None = None
    stall_duty: float = 0.0

    @classmethod
    def stalled(cls, duty: float) -> MemoryPort:
        """The simulated board's RAM with every channel stalled ``duty`` of the cycles."""
        if not 0 <= duty < 1:
            raise ValueError(f"duty = {duty}; allowed: 0 <= duty < 1")
        return cls(1 - duty, 1 - duty, None, duty)

    @property
    def slowdown(self) -> float:
        """How much longer a handshake or a latency takes: ``1 / (1 - stall_duty)``."""
        return 1 / (1 - self.stall_duty)

    @classmethod
    def for_board(cls, board, cfg: SatConfig, clock_mhz: float | None = None,
                  efficiency: float = 0.8) -> MemoryPort:
        """The kernel's port on ``board``, as the emitted project wires it.

        Same as :func:`sparseforge.sim.sat.kernel_workload.project_port`.
        """
        from sparseforge.sim.sat.kernel_workload import project_port

        return project_port(board, cfg, clock_mhz, efficiency)


def write_bursts(addr: int, words: int, word_bytes: int, max_burst: int) -> list[int]:
    """Burst lengths the writer (and reader) cut ``words`` words at ``addr`` into:
    at most ``max_burst`` beats, never across a 4 KiB boundary (AXI4).  One entry per
    burst: use :func:`burst_plan` for long transfers."""
    out = []
    while words:
        n = _next_burst(addr, words, word_bytes, max_burst)
        out.append(n)
        addr += n * word_bytes
        words -= n
    return out


def _next_burst(addr: int, words: int, word_bytes: int, max_burst: int) -> int:
    return min(words, max_burst, (4096 - (addr & 0xFFF)) // word_bytes)


def burst_plan(addr: int, words: int, word_bytes: int, max_burst: int,
               last: int = 16) -> tuple[int, list[int]]:
    """``(count, tail)``: how many bursts :func:`write_bursts` cuts the transfer into
    and its last ``last`` burst lengths, in time independent of the transfer's length.

    Between the first and the last 4 KiB page every page is cut the same way
    (``ceil(page_words / max_burst)`` bursts), so whole pages are counted, not stepped.
    """
    page = 4096 // word_bytes
    head: list[int] = []
    while words and addr & 0xFFF:  # up to the first page boundary
        n = _next_burst(addr, words, word_bytes, max_burst)
        head.append(n)
        addr += n * word_bytes
        words -= n
    per_page = -(-page // max_burst)
    skip = max(0, words // page - (-(-last // per_page) + 1))
    rest = write_bursts(addr + skip * 4096, words - skip * page, word_bytes, max_burst)
    return len(head) + skip * per_page + len(rest), (head + rest)[-last:]


def _wgen_cycles(cfg: SatConfig, desc: Descriptor, port: MemoryPort) -> float:
    """Cycles of one weight-generation command (see the module docstring)."""
    geo = Geometry.of(cfg)
    records = desc.col_tiles * desc.steps
    if records == 0:
        return fixed_cycles(cfg) * port.slowdown
    read_words = records * geo.d_words
    write_words = records * geo.b_words
    count, last_bursts = burst_plan(desc.c_addr, write_words, geo.word_bytes, cfg.max_burst)
    how = ((geo.d_words,), wgen_chunk(cfg), cfg.cols, cfg.max_burst, port.read_rate,
           port.slowdown)
    read = read_cycles(records, *how) - _first_issue_overlap(records, *how)
    write = write_words / port.write_rate + count
    if port.shared_rate is not None:
        read = max(read, (read_words + write_words) / port.shared_rate)
    first = geo.d_words / port.read_rate
    lat = cfg.cols + 1  # C groups, one per cycle, then the generator's output register
    # a record leaves the generator every C cycles and the serialiser takes `ser` per
    # record; when the generator is the slower, the last record's words trail by `lag`
    ser, lag = serialiser_cycles(geo.b_words), _serialiser_lag(geo.b_words)
    res_start = first + lat + min(lag, 1)
    res_end = max(read + lat + lag, first + records * cfg.cols + 1 + lag,
                  first + records * ser + 1)
    done = _writer_done(write_words, last_bursts, _even(res_start, res_end, write_words),
                        port.slowdown)
    return fixed_cycles(cfg) * port.slowdown + max(done, write)


def command_cycles(cfg: SatConfig, desc: Descriptor, port: MemoryPort | None = None) -> float:
    """Cycles of one command on the kernel (see the module docstring)."""
    port = port or MemoryPort()
    if desc.is_wgen:
        return _wgen_cycles(cfg, desc, port)
    geo = Geometry.of(cfg)
    tiles, steps = desc.tiles, desc.steps
    if tiles == 0:
        return fixed_cycles(cfg) * port.slowdown
    R, C = cfg.rows, cfg.cols
    read_words = tiles * steps * (geo.a_words + geo.b_words)
    beats = R // cfg.drain_rows
    write_words = tiles * beats * geo.r_words
    count, last_bursts = burst_plan(desc.c_addr, write_words, geo.word_bytes, cfg.max_burst)
    how = ((geo.a_words, geo.b_words), operand_chunk(cfg), 1, cfg.max_burst, port.read_rate,
           port.slowdown)
    overlap = _first_issue_overlap(steps, *how)
    per_tile_read = read_cycles(steps, *how) - overlap  # the first tile's
    read = tiles * per_tile_read + (tiles - 1) * overlap
    write = write_words / port.write_rate + count
    if port.shared_rate is not None:
        read = max(read, (read_words + write_words) / port.shared_rate)
    sparse = desc.op != "dense"
    k = steps * (cfg.m if sparse else cfg.n)
    drain = C + R + 2
    engine = gemm_cycles(cfg, R * desc.row_tiles, k, C * desc.col_tiles, sparse)
    # The engine hands a tile's beats out `drain_rows` cycles apart; the serialiser takes
    # one every `ser` cycles: from the first tile's first beat on it is never faster than
    # that, and a tile's last beat leaves (beats - 1)·(ser - drain_rows) after the engine's.
    ser, lag = serialiser_cycles(geo.r_words), _serialiser_lag(geo.r_words)
    first_beat = max(per_tile_read + drain, steps + drain) - (beats - 1) * cfg.drain_rows
    tail = (beats - 1) * max(0, ser - cfg.drain_rows)
    res_start = first_beat + min(lag, 1)  # the first word leaves the cycle after its beat
    first_end = first_beat + (beats - 1) * max(ser, cfg.drain_rows) + lag
    res_end = max(max(read + drain, engine) + tail,
                  first_beat + (tiles * beats - 1) * ser) + lag
    # results come a tile at a time: tile t's words from res_start + t·gap to
    # first_end + t·gap, the last tile's ending at res_end
    gap = (res_end - first_end) / (tiles - 1) if tiles > 1 else 0.0
    per_tile = beats * geo.r_words

    def produced(words: int) -> float:
        t, j = divmod(max(words, 1) - 1, per_tile)
        return res_start + t * gap + (first_end - res_start) * (j + 1) / per_tile

    done = _writer_done(write_words, last_bursts, produced, port.slowdown)
    return fixed_cycles(cfg) * port.slowdown + max(done, write)


def _even(res_start: float, res_end: float, total: int):
    """Words produced at an even rate from ``res_start`` to ``res_end``."""
    span = max(0.0, res_end - res_start)
    return lambda words: res_start + span * words / total


def _writer_done(total: int, tail: list[int], produced, slowdown: float = 1.0) -> float:
    """When the writer's last burst ends.

    ``produced(w)``: the cycle the ``w``-th word reaches the writer's buffer.  A burst
    starts once its last word is there and the previous burst is done, and takes one
    address cycle plus one cycle per word.  Only the ``tail`` bursts (the last ones of
    the ``total`` words, :func:`burst_plan`) are stepped through: earlier ones keep up
    with production unless the GEMM is write-bound (covered by the caller).
    """
    cum = total - sum(tail)
    t = produced(cum)
    for n in tail:
        cum += n
        t = max(t, produced(cum)) + (1 + n) * slowdown
    return t


def list_cycles(cfg: SatConfig, descs: list[Descriptor],
                port: MemoryPort | None = None) -> float:
    """Cycles of a command list, ``ap_start`` to ``ap_done`` (the ``CYCLES`` register)."""
    return LIST_CYCLES + sum(command_cycles(cfg, d, port) for d in descs)

