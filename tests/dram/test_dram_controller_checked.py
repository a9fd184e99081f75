"""The controller's command logs against the independent rule checker, on every preset,
both page policies, random and streaming traces (a property test: the checker knows only
the rules, not the engine)."""

import pytest

from sparseforge.sim.dram.checker import check_commands
from sparseforge.sim.dram.controller import ControllerConfig, simulate
from sparseforge.sim.dram.device import device_names, load_device
from sparseforge.sim.dram.mapping import AddressMapping
from sparseforge.sim.dram.trace import random_trace, stream_trace

try:
    import numba  # noqa: F401
    _NUMBA = True
except ImportError:
    _NUMBA = False

#: Both backends of simulate (the numba one skipped without numba).
BACKENDS = ["python", pytest.param("numba", marks=pytest.mark.skipif(
    not _NUMBA, reason="numba not installed"))]


def _mapping(dev):
    return AddressMapping(dev, "ro-ra-bg-ba-co-ch" if dev.ranks > 1 else "ro-bg-ba-co-ch")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("preset", device_names())
@pytest.mark.parametrize("policy", ["open", "closed"])
def test_every_issued_command_is_legal(preset, policy, backend):
    dev = load_device(preset)
    # a small slice of the device so that banks conflict: the first rows only
    span = dev.row_bytes * dev.banks * dev.ranks * dev.channels * 4
    tr = random_trace(1500, span, write_fraction=0.3, seed=hash(preset) % 1000, rate=0.5,
                      align=dev.burst_bytes)
    # short refresh interval so that refreshes interleave with the traffic
    cfg = ControllerConfig(page_policy=policy, write_high=12, write_low=4)
    res = simulate(dev, _mapping(dev), tr.address, tr.is_write, tr.cycle, cfg, backend=backend)
    violations = check_commands(dev, res.commands)
    assert not violations, violations[:5]
    assert (res.completion >= tr.cycle).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("preset", ["hbm2", "gddr6"])
def test_a_stream_hits_its_rows(preset, backend):
    dev = load_device(preset)
    tr = stream_trace(4000, dev.burst_bytes, rate=0.25)
    res = simulate(dev, _mapping(dev), tr.address, tr.is_write, tr.cycle, backend=backend)
    assert not check_commands(dev, res.commands)
    assert res.row_hits / len(tr.address) > 0.9  # column-first mapping: mostly hits
