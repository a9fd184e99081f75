"""DRAM device presets: load, values as the sources give them, bad files refused."""

from pathlib import Path

import pytest

from sparseforge.sim.dram.device import (
    DeviceFileError,
    UnknownDeviceError,
    all_devices,
    device_names,
    load_device,
)

PRESETS = Path(__file__).resolve().parents[2] / "sim" / "dram" / "presets"


def test_presets_are_listed_and_load():
    assert device_names() == ["gddr6", "gddr6_aim", "hbm2", "hbm3"]
    for dev in all_devices():
        assert dev.sources and dev.path.endswith(f"{dev.name}.toml")
        assert dev.timing.rc >= dev.timing.ras + dev.timing.rp


def test_hbm2_is_neupims_configuration():
    d = load_device("HBM2")
    t = d.timing
    assert (d.channels, d.ranks * d.banks, d.row_bytes, d.tck_ns) == (32, 32, 1024, 1.0)
    assert (t.cl, t.rcd, t.rp, t.ras) == (14, 14, 14, 34)
    assert (t.rrd_s, t.rrd_l, t.faw, t.ccd_s, t.ccd_l) == (4, 6, 30, 1, 2)
    assert (t.rfc, t.refi, t.bl) == (260, 3900, 2)
    assert d.capacity_bytes == 32 << 30          # NeuPIMs' HBM_size = 32 GB
    assert d.peak_gbs == pytest.approx(1024.0)   # 64 B / 2 ns x 32 channels


def test_gddr6_organisation_and_peak():
    d = load_device("gddr6")
    assert (d.bankgroups, d.banks_per_group, d.row_bytes, d.channels) == (4, 4, 2048, 2)
    # 16 Gb/s per pin x 16 pins = 32 GB/s per channel
    assert d.channel_peak_gbs == pytest.approx(16 * 16 / 8)
    assert d.capacity_bytes * 8 == 8 << 30       # an 8 Gb chip
    t = d.timing
    assert (t.cl, t.rcd, t.rp, t.ras, t.ccd_s, t.ccd_l, t.faw, t.refi, t.rfc) == \
        (24, 24, 24, 54, 3, 4, 32, 11862, 126)


def test_aim_timings():
    t = load_device("gddr6_aim").timing
    assert (t.rcd, t.rp, t.ras, t.ccd_s, t.ccd_l) == (36, 32, 54, 2, 2)
    assert load_device("gddr6_aim").tck_ns == 0.5


def test_energy_derivation_hbm2():
    # DRAMsim3: VDD (IDD0 tRC - IDD3N tRAS - IDD2N tRP) tCK
    assert load_device("hbm2").energy.act == pytest.approx(1.2 * (65 * 48 - 55 * 34 - 40 * 14))


def test_unknown_name_lists_presets():
    with pytest.raises(UnknownDeviceError, match="hbm2"):
        load_device("ddr9")


def _variant(tmp_path, old, new, name="hbm2"):
    text = (PRESETS / f"{name}.toml").read_text()
    assert old in text
    path = tmp_path / f"{name}.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old,new,match", [
    ("rp = 14", "rp = 0", r"'timing.rp'.*0 is below the minimum 1"),
    ("ras = 34", "ras = 34.5", r"'timing.ras'.*expected an integer, got 34.5"),
    ("rc = 48", "rc = 40", r"'timing.rc'.*40 is below ras \+ rp = 34 \+ 14 = 48"),
    ("ccd_l = 2", "ccd_l = 0", r"'timing.ccd_l'"),
    ("rrd_l = 6", "rrd_l = 3", r"'timing.rrd_l'.*3 is below rrd_s = 4"),
    ("rows = 32768", "rows = 30000", r"'organisation.rows'.*30000 is not a power of two"),
    ("kind = \"HBM2\"", "kind = \"HBM9\"", r"'kind'.*'HBM9' is not one of"),
    ("cwl = 4\n", "", r"'timing.cwl'.*missing"),
    ("faw = 30", "faw = 30\nfoo = 1", r"'timing.foo'.*unknown field"),
    ("source = \"neupims_ini, dramsim3_cfg\"", "source = \"nope\"",
     r"'timing.source'.*cites nope"),
])
def test_bad_file_refused_with_field_named(tmp_path, old, new, match):
    path = _variant(tmp_path, old, new)
    with pytest.raises(DeviceFileError, match=match) as info:
        load_device(path)
    assert str(path) in str(info.value)


def test_faw_below_four_rrd_is_allowed(tmp_path):
    # JEDEC does not require tFAW >= 4 tRRD_S; the window then never binds.
    assert load_device(_variant(tmp_path, "faw = 30", "faw = 10")).timing.faw == 10


def test_user_file_by_path(tmp_path):
    path = _variant(tmp_path, "channels = 32", "channels = 8")
    assert load_device(str(path)).channels == 8


def test_name_must_match_file(tmp_path):
    path = tmp_path / "other.toml"
    path.write_text((PRESETS / "hbm2.toml").read_text())
    with pytest.raises(DeviceFileError, match="'name'.*differs from the file name 'other'"):
        load_device(path)


def test_pim_tables_of_the_presets():
    aim = load_device("gddr6_aim").pim
    # AiM: MAC tRCD 56 (PAPERS.md), tCCD 2, all-bank activation exempt from tFAW
    assert (aim.rcd_mac, aim.ccd_mac, aim.gact_faw, aim.lanes) == (56, 2, False, 16)
    # 16 banks x 4 bytes of FP32 results = 64 bytes = 2 bursts of 32 bytes
    assert (aim.gbuf_columns, aim.readres_bursts) == (64, 2)
    hbm2 = load_device("hbm2").pim
    assert (hbm2.lanes, hbm2.gbuf_columns, hbm2.readres_bursts, hbm2.gact_faw) == \
        (32, 16, 1, True)
    for dev in all_devices():
        assert dev.pim is not None and dev.pim.lanes * 2 == dev.burst_bytes


def test_pim_defaults(tmp_path):
    # every field but source left out: lanes = 64 / 2, gbuf = one row (1024 B = 16
    # columns), rcd_mac = rcd 14, ccd_mac = ccd_l 2, mac_latency = the RTL MAC's
    # 2 + log2(32 lanes) = 7 cycles, one column per ccd_mac = 2 tCK: 14, 16 slots,
    # gact_faw on
    text = (PRESETS / "hbm2.toml").read_text()
    head, _, _ = text.partition("[pim]")
    path = tmp_path / "hbm2.toml"
    path.write_text(head + '[pim]\nsource = "pim_decision"\n')
    p = load_device(path).pim
    assert (p.lanes, p.gbuf_bytes, p.gbuf_columns, p.rcd_mac, p.ccd_mac, p.mac_latency,
            p.result_slots, p.gact_faw) == (32, 1024, 16, 14, 2, 14, 16, True)
    path.write_text(head)  # no [pim] table at all: no PIM
    assert load_device(path).pim is None


@pytest.mark.parametrize("old,new,match", [
    ("lanes = 32", "lanes = 16", r"'pim.lanes'.*16: .*allowed: burst_bytes / 2 = 32"),
    ("gbuf_bytes = 1024", "gbuf_bytes = 1000", r"'pim.gbuf_bytes'.*1000: allowed: a multiple"),
    ("gbuf_bytes = 1024", "gbuf_bytes = 2048", r"'pim.gbuf_bytes'.*up to row_bytes \(1024\)"),
    ("rcd_mac = 14", "rcd_mac = 0", r"'pim.rcd_mac'.*0 is below the minimum 1"),
    ("gact_faw = true\n", "gact_faw = true\nmac_latency = 4.5\n",
     r"'pim.mac_latency'.*expected an integer"),
    ("gact_faw = true\nsource", "gact_faw = 1\nsource",
     r"'pim.gact_faw'.*expected true or false, got 1"),
    ("result_slots = 16", "slots = 16", r"'pim.slots'.*unknown field; allowed: lanes"),
    ('source = "neupims_pim, pim_decision"', 'source = "aim"', r"'pim.source'.*cites aim"),
])
def test_bad_pim_table_refused(tmp_path, old, new, match):
    path = _variant(tmp_path, old, new)
    with pytest.raises(DeviceFileError, match=match) as info:
        load_device(path)
    assert str(path) in str(info.value)
