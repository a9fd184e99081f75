"""The functional PIM channel (sim/pim/device.py) against an independent oracle.

The oracle is written here from the definition, not from sim/pim/fp.py: BF16 values
through ``ml_dtypes.bfloat16``, products in float64 (exact for BF16 x BF16, then exact in
float32 too), summed as a balanced float32 tree (neighbours first) with plain NumPy
float32 adds, added to a float32 accumulator.  In the normal range flush-to-zero never
triggers, so IEEE float32 arithmetic is the datapath's arithmetic.
"""

import ml_dtypes
import numpy as np
import pytest

from sparseforge.sim.dram.checker import check_commands
from sparseforge.sim.dram.commands import Command, Kind
from sparseforge.sim.dram.device import load_device
from sparseforge.sim.dram.timing import ChannelState
from sparseforge.sim.pim.device import PimChannel, PimStateError

DEV = load_device("gddr6_aim")  # 16 banks, 64 columns of 16 BF16, 16 result slots
L, COLS, BANKS = 16, 64, 16


def bf16_bits(rng, shape):
    """Random BF16 bit patterns of magnitude in [0.5, 2), either sign."""
    v = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return v.astype(ml_dtypes.bfloat16).view(np.uint16)


def values(bits):
    return np.asarray(bits, np.uint16).view(ml_dtypes.bfloat16).astype(np.float64)


def tree(v):
    """Balanced float32 tree over the last axis: ((v0 + v1) + (v2 + v3)) + ..."""
    v = v.astype(np.float32)
    while v.shape[-1] > 1:
        v = v[..., 0::2] + v[..., 1::2]
    return v[..., 0]


def oracle_span(w_bits, x_bits):
    """The accumulator after MACs of columns 0.. of ``w_bits`` (..., k, L) with
    ``x_bits`` (k, L), from +0."""
    acc = np.zeros(w_bits.shape[:-2], np.float32)
    for k in range(w_bits.shape[-2]):
        prod = values(w_bits[..., k, :]) * values(x_bits[k])  # exact in float64
        acc = acc + tree(prod.astype(np.float32))
    return acc


def bits32(x):
    return np.asarray(x, np.float32).view(np.uint32)


def scheduled(commands):
    """The commands at the earliest cycles of the timing engine, in order."""
    st, out = ChannelState(DEV), []
    for c in commands:
        c = c._replace(cycle=st.earliest_for(c, now=out[-1].cycle if out else 0))
        st.issue(c)
        out.append(c)
    return out


def test_gemv_spans_match_the_oracle_and_the_log_is_legal():
    rng = np.random.default_rng(7)
    ch = PimChannel(DEV)
    rows = {r: bf16_bits(rng, (BANKS, COLS, L)) for r in (3, 9)}
    for r, w in rows.items():
        for b in range(BANKS):
            ch.load_row(0, b // 4, b % 4, r, w[b])
    x = bf16_bits(rng, (COLS, L))
    span = 16  # columns per span: 4 MACLs per row
    cmds = [Command.gwrite(0, 0, k) for k in range(COLS)]
    for r in rows:
        cmds.append(Command.gact(0, 0, 0, r))
        cmds += [Command.mac(0, 0, 0, r, k, latch=(k + 1) % span == 0) for k in range(COLS)]
        cmds += [Command.readres(0, 0, 0, s) for s in range(COLS // span)]
        cmds.append(Command(0, Kind.PREA, 0, 0))
    log = scheduled(cmds)
    assert check_commands(DEV, log) == []
    data = iter(x)
    results = []
    for c in log:
        out = ch.execute(c, next(data) if c.kind is Kind.GWRITE else None)
        if c.kind is Kind.READRES:
            results.append(out)
    got = np.array(results).reshape(len(rows), COLS // span, BANKS)
    for i, w in enumerate(rows.values()):
        for s in range(COLS // span):
            want = oracle_span(w[:, s * span:(s + 1) * span], x[s * span:(s + 1) * span])
            assert (bits32(got[i, s]) == bits32(want)).all()


def _ready(ch, row=5, rng=None):
    """Global buffer and row ``row`` of every bank filled with random data; rank 0
    GACT'd on it.  Returns (weights (banks, cols, L), x (cols, L))."""
    rng = rng or np.random.default_rng(1)
    w = bf16_bits(rng, (BANKS, COLS, L))
    for b in range(BANKS):
        ch.load_row(0, b // 4, b % 4, row, w[b])
    x = bf16_bits(rng, (COLS, L))
    for k in range(COLS):
        ch.execute(Command.gwrite(0, 0, k), x[k])
    ch.execute(Command.gact(0, 0, 0, row))
    return w, x


def test_slots_fill_in_order_and_the_accumulator_restarts():
    ch = PimChannel(DEV)
    w, x = _ready(ch)
    # slot 0: columns 0-2; slot 1: column 3 alone (restart at +0); slot 2: columns 4-5
    for k, latch in [(0, False), (1, False), (2, True), (3, True), (4, False), (5, True)]:
        ch.execute(Command.mac(0, 0, 0, 5, k, latch=latch))
    for slot, cols in [(2, slice(4, 6)), (0, slice(0, 3)), (1, slice(3, 4))]:
        got = ch.execute(Command.readres(0, 0, 0, slot))
        assert got.dtype == np.float32 and got.shape == (BANKS,)
        assert (bits32(got) == bits32(oracle_span(w[:, cols], x[cols]))).all()
    # a slot may be read again
    assert (bits32(ch.execute(Command.readres(0, 0, 0, 1))) ==
            bits32(oracle_span(w[:, 3:4], x[3:4]))).all()


def test_accumulator_survives_prea_and_gact_slots_do_not():
    ch = PimChannel(DEV)
    rng = np.random.default_rng(2)
    w, x = _ready(ch, row=5, rng=rng)
    ch.execute(Command.mac(0, 0, 0, 5, 0, latch=True))
    ch.execute(Command.mac(0, 0, 0, 5, 1))  # accumulates, not latched
    ch.execute(Command(0, Kind.PREA, 0, 0))
    w2 = bf16_bits(rng, (BANKS, COLS, L))
    for b in range(BANKS):
        ch.load_row(0, b // 4, b % 4, 6, w2[b])
    ch.execute(Command.gact(0, 0, 0, 6))
    with pytest.raises(PimStateError, match="slot 0 is empty"):
        ch.execute(Command.readres(0, 0, 0, 0))
    ch.execute(Command.mac(0, 0, 0, 6, 2, latch=True))
    # the span: column 1 of row 5, then column 2 of row 6, from +0
    first = tree((values(w[:, 1]) * values(x[1])).astype(np.float32))
    want = first + tree((values(w2[:, 2]) * values(x[2])).astype(np.float32))
    assert (bits32(ch.execute(Command.readres(0, 0, 0, 0))) == bits32(want)).all()


def test_slot_overflow_and_empty_slots():
    ch = PimChannel(DEV)
    _ready(ch)
    with pytest.raises(PimStateError, match="slot 0 is empty"):
        ch.execute(Command.readres(0, 0, 0, 0))
    for k in range(DEV.pim.result_slots):
        ch.execute(Command.mac(0, 0, 0, 5, k, latch=True))
    with pytest.raises(PimStateError, match="all 16 result slots"):
        ch.execute(Command.mac(0, 0, 0, 5, 0, latch=True))
    ch.execute(Command.mac(0, 0, 0, 5, 0))  # a plain MAC still works
    with pytest.raises(PimStateError, match="slot 16 not in"):
        ch.execute(Command.readres(0, 0, 0, 16))


def test_mac_needs_the_row_open_in_every_bank():
    ch = PimChannel(DEV)
    with pytest.raises(PimStateError, match="needs row 5 open"):
        ch.execute(Command.mac(0, 0, 0, 5, 0))
    _ready(ch)
    with pytest.raises(PimStateError, match="needs row 6 open"):
        ch.execute(Command.mac(0, 0, 0, 6, 0))
    ch.execute(Command(0, Kind.PRE, 0, 0, 2, 1))
    with pytest.raises(PimStateError, match=r"bank\(s\) 9 have -1"):
        ch.execute(Command.mac(0, 0, 0, 5, 0))
    with pytest.raises(PimStateError, match="GACT with bank"):
        ch.execute(Command.gact(0, 0, 0, 5))


def test_wr_rd_write_back_and_mac_on_written_data():
    ch = PimChannel(DEV)
    rng = np.random.default_rng(3)
    burst = bf16_bits(rng, (L,))
    ch.execute(Command(0, Kind.ACT, 0, 0, 1, 2, 40))
    assert (ch.execute(Command(0, Kind.RD, 0, 0, 1, 2, 40, 7)) == 0).all()  # zero rows
    ch.execute(Command(0, Kind.WR, 0, 0, 1, 2, 40, 7), burst)
    ch.execute(Command(0, Kind.PRE, 0, 0, 1, 2))
    ch.execute(Command(0, Kind.ACT, 0, 0, 1, 2, 40))
    assert (ch.execute(Command(0, Kind.RD, 0, 0, 1, 2, 40, 7)) == burst).all()
    ch.execute(Command(0, Kind.PRE, 0, 0, 1, 2))
    # an ml_dtypes.bfloat16 burst is taken as its bit patterns
    x = bf16_bits(rng, (L,))
    ch.execute(Command.gwrite(0, 0, 7), x.view(ml_dtypes.bfloat16))
    ch.execute(Command.gact(0, 0, 0, 40))
    ch.execute(Command.mac(0, 0, 0, 40, 7, latch=True))
    got = ch.execute(Command.readres(0, 0, 0, 0))
    want = np.zeros(BANKS, np.float32)
    want[1 * 4 + 2] = tree((values(burst) * values(x)).astype(np.float32))
    assert (bits32(got) == bits32(want)).all()
    # load_row of an open row updates the row buffer
    row = bf16_bits(rng, (COLS * L,))
    ch.load_row(0, 3, 3, 40, row)
    assert (ch.execute(Command(0, Kind.RD, 0, 0, 3, 3, 40, 1)) == row[L:2 * L]).all()
    assert (ch.row_values(0, 3, 3, 40).ravel() == row).all()


def test_misuse_is_refused():
    ch = PimChannel(DEV)
    with pytest.raises(PimStateError, match="burst is 16"):
        ch.execute(Command.gwrite(0, 0, 0), np.zeros(8, np.uint16))
    with pytest.raises(PimStateError, match="needs a burst"):
        ch.execute(Command.gwrite(0, 0, 0))
    with pytest.raises(PimStateError, match="global-buffer column 64"):
        ch.execute(Command.gwrite(0, 0, 64), np.zeros(L, np.uint16))
    with pytest.raises(PimStateError, match="this model is channel 0"):
        ch.execute(Command.gwrite(0, 1, 0), np.zeros(L, np.uint16))
    with pytest.raises(PimStateError, match="open row"):
        ch.execute(Command(0, Kind.RD, 0, 0, 0, 0, 1, 0))
    ch.execute(Command(0, Kind.ACT, 0, 0, 0, 0, 1))
    with pytest.raises(PimStateError, match="row 1 is open"):
        ch.execute(Command(0, Kind.ACT, 0, 0, 0, 0, 2))
    with pytest.raises(PimStateError, match="BF16 bit patterns"):
        ch.execute(Command(0, Kind.WR, 0, 0, 0, 0, 1, 0), np.full(L, 1.5))
    with pytest.raises(PimStateError, match="a row is 64 x 16"):
        ch.load_row(0, 0, 0, 1, np.zeros(10, np.uint16))
    with pytest.raises(ValueError, match="no \\[pim\\] table"):
        PimChannel(type("D", (), {"pim": None, "name": "x"})())


def test_execute_macs_equals_one_command_at_a_time():
    """A row's MACs executed at once leave the same accumulators and slots, bit for bit,
    as executing them one by one (random normal-range and edge data)."""
    dev = load_device("gddr6_aim")
    rng = np.random.default_rng(21)
    one, run = PimChannel(dev), PimChannel(dev)
    row = rng.integers(0, 0x7F80, (dev.columns, 16), dtype=np.uint16) | \
        (rng.integers(0, 2, (dev.columns, 16)).astype(np.uint16) << 15)
    row[3, :4] = [0x7F80, 0xFF80, 0x0001, 0x7FC1]  # inf, -inf, subnormal, NaN
    for ch in (one, run):
        for b in range(16):
            ch.load_row(0, b // 4, b % 4, 5, np.roll(row, b, axis=1))
        for c in range(dev.pim.gbuf_columns):
            ch.execute(Command.gwrite(0, 0, c), rng.integers(0, 0x7F00, 16, dtype=np.uint16)
                       if ch is one else one.gbuf[c])
        ch.execute(Command.gact(1, 0, 0, 5))
    macs = [Command.mac(10 + i, 0, 0, 5, i, latch=(i % 7 == 6 or i == 63)) for i in range(64)]
    for c in macs:
        one.execute(c)
    run.execute_macs(macs)
    assert np.array_equal(one.acc.view(np.uint32), run.acc.view(np.uint32))
    assert np.array_equal(one.filled, run.filled)
    assert np.array_equal(one.slots.view(np.uint32), run.slots.view(np.uint32))
    with pytest.raises(PimStateError, match="overflow"):
        run.execute_macs([Command.mac(200 + i, 0, 0, 5, i, latch=True) for i in range(8)])
