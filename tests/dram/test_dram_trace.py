"""DRAM traces: the request / completion / command-log formats and synthetic traces."""

import numpy as np
import pytest

from sparseforge.sim.dram.commands import Command, Kind
from sparseforge.sim.dram.trace import (
    Trace,
    TraceFormatError,
    format_completions,
    format_trace,
    parse_completions,
    parse_trace,
    random_trace,
    read_command_log,
    read_completions,
    read_trace,
    stream_trace,
    write_command_log,
    write_completions,
    write_trace,
)

TEXT = """\
# a comment, then a blank line

0x1F40 READ 0
0x2000 write 12   # trailing comment
0xffffffffffffffff R 12
0x0 W 40
"""


def test_parse_accepts_every_spelling():
    t = parse_trace(TEXT)
    assert t.address.dtype == np.uint64 and t.is_write.dtype == bool
    assert t.cycle.dtype == np.int64
    assert t.address.tolist() == [0x1F40, 0x2000, 2**64 - 1, 0]
    assert t.is_write.tolist() == [False, True, False, True]
    assert t.cycle.tolist() == [0, 12, 12, 40]
    assert len(t) == 4


def test_trace_round_trip(tmp_path):
    t = parse_trace(TEXT)
    assert format_trace(t).splitlines()[:2] == ["0x1f40 READ 0", "0x2000 WRITE 12"]
    write_trace(tmp_path / "t.trace", t)
    back = read_trace(tmp_path / "t.trace")
    for name in ("address", "is_write", "cycle"):
        assert np.array_equal(getattr(back, name), getattr(t, name))


def test_completions_round_trip(tmp_path):
    t = parse_trace(TEXT)
    done = np.array([30, 50, 51, 90])
    assert format_completions(t, done).splitlines()[0] == "0x1f40 READ 0 30"
    write_completions(tmp_path / "c.txt", t, done)
    back, back_done = read_completions(tmp_path / "c.txt")
    assert back.cycle.tolist() == [0, 12, 12, 40] and back_done.tolist() == done.tolist()
    with pytest.raises(ValueError, match="request 3: completion 39 before its arrival 40"):
        format_completions(t, [30, 50, 51, 39])
    with pytest.raises(TraceFormatError, match=r"<completions>:1: .*completion 3 before arrival 5"):
        parse_completions("0x10 READ 5 3\n")


def test_command_log_round_trip(tmp_path):
    log = [Command(0, Kind.ACT, 0, 0, 1, 2, 300), Command(13, Kind.RD, 0, 0, 1, 2, 300, 7),
           Command(40, Kind.PREA, 1), Command(60, Kind.REF, 1)]
    write_command_log(tmp_path / "cmd.log", log)
    assert (tmp_path / "cmd.log").read_text().splitlines()[1] == "13 RD 0 0 1 2 300 7"
    assert read_command_log(tmp_path / "cmd.log") == log


def test_command_log_error_names_the_line(tmp_path):
    (tmp_path / "bad.log").write_text("# log\n0 ACT 0 0 0 0 5 -1\n5 NOP 0 0 0 0 0 0\n")
    with pytest.raises(TraceFormatError, match=r"bad\.log:3: '5 NOP 0 0 0 0 0 0': .*kind 'NOP'"):
        read_command_log(tmp_path / "bad.log")


@pytest.mark.parametrize(("line", "message"), [
    ("0x10 READ", "2 fields; expected 3"),
    ("16 READ 0", "address '16' needs a 0x prefix"),
    ("0xzz READ 0", "address '0xzz' is not hexadecimal"),
    ("0x10000000000000000 READ 0", "does not fit 64 bits"),
    ("0x10 LOAD 0", "kind 'LOAD'; allowed: READ, WRITE, R, W"),
    ("0x10 READ -4", "arrival cycle '-4' is not a non-negative decimal integer"),
    ("0x10 READ 1.5", "arrival cycle '1.5'"),
])
def test_errors_name_line_and_text(line, message):
    with pytest.raises(TraceFormatError) as err:
        parse_trace(f"0x0 READ 0\n\n{line}\n", source="t.trace")
    assert str(err.value).startswith(f"t.trace:3: {line!r}: ")
    assert message in str(err.value)


def test_decreasing_arrivals_are_refused():
    with pytest.raises(TraceFormatError,
                       match=r"t:3: '0x40 READ 9': arrival cycle 9 is before the previous "
                             r"request's 10"):
        parse_trace("0x0 READ 10\n0x20 READ 10\n0x40 READ 9\n", source="t")
    with pytest.raises(ValueError, match=r"decrease at request 1 \(3 after 5\)"):
        Trace([0, 64], [False, False], [5, 3])


def test_stream_trace():
    t = stream_trace(5, 128, start=0x1000, write=True, rate=0.5)
    assert t.address.tolist() == [0x1000, 0x1080, 0x1100, 0x1180, 0x1200]
    assert t.is_write.all()
    assert t.cycle.tolist() == [0, 2, 4, 6, 8]
    assert stream_trace(4, rate=2.0).cycle.tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="rate = 0; must be > 0"):
        stream_trace(3, rate=0)


def test_random_trace_is_seeded_and_within_bounds():
    a = random_trace(20_000, 1 << 20, write_fraction=0.25, seed=7, rate=0.5)
    b = random_trace(20_000, 1 << 20, write_fraction=0.25, seed=7, rate=0.5)
    c = random_trace(20_000, 1 << 20, write_fraction=0.25, seed=8, rate=0.5)
    assert np.array_equal(a.address, b.address) and np.array_equal(a.cycle, b.cycle)
    assert not np.array_equal(a.address, c.address)
    assert a.address.max() < 1 << 20 and np.all(a.address % 64 == 0)
    assert abs(a.is_write.mean() - 0.25) < 0.02          # 5 sigma is ~0.015
    assert np.all(np.diff(a.cycle) >= 0)
    assert abs(a.cycle[-1] / 20_000 - 2.0) < 0.1         # mean gap 1 / rate
    assert random_trace(10, 4096, seed=1).is_write.sum() == 0
    with pytest.raises(ValueError, match="write_fraction 1.5 not in"):
        random_trace(10, 4096, write_fraction=1.5)
    # a random trace survives the text format
    assert np.array_equal(parse_trace(format_trace(a)).address, a.address)
