"""Board registry: the seven boards load, cite their sources, and bad files fail clearly."""

import math
import shutil
from pathlib import Path

import pytest

from sparseforge.board_registry import all_boards, board_names, get_board, load_board_file
from sparseforge.errors import BoardFileError, UnknownBoardError

BOARDS = ["kv260", "u250", "u280", "vcu1525", "vhk158", "zcu102", "zcu104"]


def test_registry_holds_the_seven_boards():
    assert board_names() == BOARDS
    assert [b.name for b in all_boards()] == BOARDS


def test_lookup_is_case_insensitive():
    assert get_board("U280") == get_board("u280")


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(UnknownBoardError) as err:
        get_board("zcu999")
    msg = str(err.value)
    assert "'zcu999'" in msg
    for name in BOARDS:
        assert name in msg


# Figures quoted in the project's papers notes (shared/PAPERS.md) and vendor data
# sheets; an independent check of the data files, not a copy of them.
@pytest.mark.parametrize(
    ("board", "part", "lut", "dsp", "bram36", "uram"),
    [
        ("u280", "xcu280-fsvh2892-2L-e", 1_303_680, 9_024, 2_016, 960),
        ("u250", "xcu250-figd2104-2L-e", 1_728_000, 12_288, 2_688, 1_280),
        ("vcu1525", "xcvu9p-fsgd2104-2L-e", 1_182_240, 6_840, 2_160, 960),
        ("zcu102", "xczu9eg-ffvb1156-2-e", 274_080, 2_520, 912, 0),
        ("zcu104", "xczu7ev-ffvc1156-2-e", 230_400, 1_728, 312, 96),
        ("kv260", "xck26-sfvc784-2LV-c", 117_120, 1_248, 144, 64),
    ],
)
def test_device_totals_match_data_sheets(board, part, lut, dsp, bram36, uram):
    b = get_board(board)
    assert b.device.part == part
    r = b.resources
    assert (r.lut, r.dsp, r.bram36, r.uram) == (lut, dsp, bram36, uram)
    assert r.ff == 2 * r.lut  # UltraScale+ CLBs: two flip-flops per LUT


def test_u280_hbm():
    hbm = next(m for m in get_board("u280").memory if m.kind == "HBM2")
    assert hbm.pseudo_channels == 32
    assert hbm.capacity_gib == 8
    assert hbm.peak_gbs == pytest.approx(460, rel=0.01)
    assert hbm.peak_gbs / hbm.pseudo_channels == pytest.approx(14.375, rel=0.01)
    assert get_board("u280").kernel_memory is hbm


@pytest.mark.parametrize("name", BOARDS)
def test_memory_figures_are_consistent(name):
    for mem in get_board(name).memory:
        assert mem.capacity_gib > 0 and mem.peak_gbs > 0
        if mem.data_rate_mts:  # channels x width x rate must give the published peak
            derived = mem.channels * mem.width_bits / 8 * mem.data_rate_mts / 1000
            assert math.isclose(derived, mem.peak_gbs, rel_tol=0.03), (mem, derived)


@pytest.mark.parametrize("name", BOARDS)
def test_host_kind_and_ports(name):
    b = get_board(name)
    if b.host.kind == "alveo_xrt":
        assert b.host.platform.startswith("xilinx_")
        assert b.ps_pl_ports == ()
        assert b.device.architecture == "ultrascale+"
    else:
        assert b.ps_pl_ports, "a board with a PS lists its PS-PL ports"
        directions = {p.direction for p in b.ps_pl_ports}
        assert directions == {"pl_to_ps", "ps_to_pl"}
    if b.host.kind == "zynq_pynq":
        assert b.device.family == "zynquplus"
        assert b.device.board_part.startswith("xilinx.com:")
        hp = [p for p in b.ps_pl_ports if p.name.startswith("S_AXI_HP")]
        assert len(hp) >= 4 and all(p.max_width_bits == 128 for p in hp)
    assert 50 <= b.clocks.default_mhz <= 500


@pytest.mark.parametrize("name", BOARDS)
def test_every_table_cites_a_vendor_document(name):
    b = get_board(name)
    tables = [b.device, b.resources, b.clocks, b.host, *b.memory, *b.ps_pl_ports]
    for table in tables:
        for key in table.source.split(","):
            assert b.sources[key.strip()].strip()


# ---------------------------------------------------------------- malformed files


@pytest.fixture
def board_copy(tmp_path):
    src = Path(get_board("zcu104").path)
    dst = tmp_path / "zcu104.toml"
    shutil.copy(src, dst)
    return dst


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_copy_of_a_board_file_loads(board_copy):
    assert load_board_file(board_copy).resources == get_board("zcu104").resources
    assert get_board(str(board_copy)).name == "zcu104"


def test_missing_field_names_file_and_field(board_copy):
    text = board_copy.read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith("dsp ")]
    board_copy.write_text("\n".join(lines) + "\n")
    with pytest.raises(BoardFileError) as err:
        load_board_file(board_copy)
    assert str(board_copy) in str(err.value)
    assert "'resources.dsp': missing" in str(err.value)


def test_wrong_type_names_field_and_value(board_copy):
    _edit(board_copy, "dsp = 1728", 'dsp = "1728"')
    with pytest.raises(BoardFileError, match=r"'resources.dsp': expected int, got '1728'"):
        load_board_file(board_copy)


def test_bad_choice_and_unknown_field(board_copy):
    _edit(board_copy, 'dsp_kind = "DSP48E2"', 'dsp_kind = "DSP48"')
    with pytest.raises(BoardFileError, match=r"'resources.dsp_kind': 'DSP48' is not one of"):
        load_board_file(board_copy)


def test_unknown_field(board_copy):
    _edit(board_copy, "dsp = 1728", "dsp = 1728\ndsps = 3")
    with pytest.raises(BoardFileError, match=r"'resources.dsps': unknown field"):
        load_board_file(board_copy)


def test_uncited_source(board_copy):
    text = board_copy.read_text()
    start = text.index("[resources]")
    src_line = next(ln for ln in text[start:].splitlines() if ln.startswith("source"))
    _edit(board_copy, src_line, 'source = "nowhere"')
    with pytest.raises(BoardFileError, match=r"'resources.source': cites nowhere"):
        load_board_file(board_copy)


def test_not_toml(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(BoardFileError, match=r"bad.toml: not valid TOML"):
        load_board_file(bad)


def test_name_must_match_file(board_copy, tmp_path):
    other = tmp_path / "other.toml"
    other.write_text(board_copy.read_text())
    with pytest.raises(BoardFileError, match=r"'name': 'zcu104' differs from the file name"):
        load_board_file(other)
