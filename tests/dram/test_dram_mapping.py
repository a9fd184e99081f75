"""Address mapping: bit positions, round trips, bad schemes refused."""

import numpy as np
import pytest

from sparseforge.errors import ConfigError
from sparseforge.sim.dram.device import load_device
from sparseforge.sim.dram.mapping import AddressMapping


@pytest.fixture(scope="module")
def hbm2():
    return load_device("hbm2")


def test_bit_positions_hand_worked(hbm2):
    # HBM2: offset 6 bits (64 B), ch 5, co 4, ba 2, bg 2, ra 1, ro 15 -> 35 bits = 32 GiB
    m = AddressMapping(hbm2, "ro-ra-bg-ba-co-ch")
    assert m.offset_bits == 6
    assert m.shifts == {"ch": 6, "co": 11, "ba": 15, "bg": 17, "ra": 19, "ro": 20}
    assert m.address_bits == 35
    addr = (12345 << 20) | (1 << 19) | (2 << 17) | (3 << 15) | (9 << 11) | (17 << 6) | 5
    assert m.decode(addr) == (17, 1, 2, 3, 12345, 9)
    assert m.encode(17, 1, 2, 3, 12345, 9) == addr - 5


def test_default_scheme_gddr6():
    # GDDR6: offset 5 (32 B), ch 1, co 6, ba 2, bg 2, ro 14, ra 0 bits
    m = AddressMapping(load_device("gddr6"))
    assert m.scheme == "ro-bg-ba-co-ch"
    assert m.shifts["ch"] == 5 and m.shifts["co"] == 6 and m.shifts["ba"] == 12
    assert m.shifts["bg"] == 14 and m.shifts["ro"] == 16 and m.widths["ra"] == 0
    assert m.decode(1 << 5) == (1, 0, 0, 0, 0, 0)
    assert m.decode(1 << 16) == (0, 0, 0, 0, 1, 0)


@pytest.mark.parametrize("name", ["gddr6", "gddr6_aim", "hbm2", "hbm3"])
@pytest.mark.parametrize("scheme", ["ro-ra-bg-ba-co-ch", "ch-ra-ro-ba-bg-co", "co-ro-ch-ra-ba-bg"])
def test_round_trip_random(name, scheme):
    dev = load_device(name)
    m = AddressMapping(dev, scheme)
    rng = np.random.default_rng(12)
    addr = rng.integers(0, dev.capacity_bytes, 2000) & ~(dev.burst_bytes - 1)
    fields = m.decode(addr)
    assert np.array_equal(m.encode(*fields), addr)
    for i in range(5):   # scalars agree with the vectorised form
        assert m.decode(int(addr[i])) == tuple(int(f[i]) for f in fields)


def test_address_beyond_capacity(hbm2):
    m = AddressMapping(hbm2, "ro-ra-bg-ba-co-ch")
    with pytest.raises(ValueError, match=r"address 0x800000000 .*capacity 0x800000000"):
        m.decode(32 << 30)
    with pytest.raises(ValueError, match="address -0x1"):
        m.decode(np.array([0, -1]))
    with pytest.raises(ValueError, match=r"row 32768 out of range .*0\.\.32767"):
        m.encode(0, 0, 0, 0, 32768, 0)


@pytest.mark.parametrize("scheme,match", [
    ("ro-bg-ba-co", "missing: ch, ra"),
    ("ro-bg-ba-co-ch", "missing: ra"),
    ("ro-ra-bg-ba-co-ch-ch", "repeated: ch"),
    ("ro-ra-bk-ba-co-ch", "unknown field.*'bk'"),
])
def test_bad_schemes_refused(hbm2, scheme, match):
    with pytest.raises(ConfigError, match=match):
        AddressMapping(hbm2, scheme)


def test_non_power_of_two_refused(hbm2):
    import dataclasses
    odd = dataclasses.replace(hbm2, channels=24)
    with pytest.raises(ConfigError, match="channel count 24 is not a power of two"):
        AddressMapping(odd, "ro-ra-bg-ba-co-ch")
