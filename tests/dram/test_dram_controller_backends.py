"""The numba backend of ``simulate`` against the Python one on random traces: every
completion cycle, every command (cycle, kind, channel, rank, bank group, bank, row,
column, in log order), row hits and command counts equal (skipped without numba).

The cases draw the device (every preset, and a stand-in whose timings are all
distinct and whose same-group bounds are not all the larger ones), page policy,
refresh mode, watermarks, queue depth, load, write fraction and address span from a
seeded generator, so ties, full queues, write drain and refreshes all occur."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from sparseforge.sim.dram.controller import ControllerConfig, simulate
from sparseforge.sim.dram.device import device_names, load_device
from sparseforge.sim.dram.mapping import AddressMapping
from sparseforge.sim.dram.trace import random_trace

pytest.importorskip("numba")

#: 2 ranks of 2 x 4 banks, every timing distinct; tRRD_S > tRRD_L and tCCD_S > tCCD_L
#: (the Python controller's general path for the rank bounds).
_ODD_T = SimpleNamespace(cl=11, cwl=9, bl=4, rcd=13, rp=12, ras=30, rc=44, ccd_s=7,
                         ccd_l=5, rrd_s=8, rrd_l=6, faw=29, wr=15, rtp=10, wtr_s=9,
                         wtr_l=3, rtrs=2, rfc=100, refi=700, rfc_pb=50)
_ODD = SimpleNamespace(name="odd", channels=2, ranks=2, bankgroups=2, banks_per_group=4,
                       rows=64, columns=32, burst_bytes=32,
                       capacity_bytes=2 * 2 * 8 * 64 * 32 * 32, timing=_ODD_T)


def _device(name):
    if name == "odd":
        return _ODD
    dev = load_device(name)
    return dataclasses.replace(dev, channels=min(dev.channels, 4),
                               timing=dataclasses.replace(dev.timing, refi=500))


def _case(seed):
    rng = np.random.default_rng(seed)
    names = [*device_names(), "odd"]
    dev = _device(names[seed % len(names)])
    refresh = ["all", "off", "per_bank"][rng.integers(3)]
    if refresh == "per_bank" and not dev.timing.rfc_pb:
        refresh = "all"
    high = int(rng.integers(1, 20))
    cfg = ControllerConfig(page_policy=["open", "closed"][rng.integers(2)],
                           refresh=refresh, write_high=high,
                           write_low=int(rng.integers(0, high)),
                           queue_depth=int(rng.choice([1, 4, 16, 64])))
    order = ["ro-ra-bg-ba-co-ch", "ro-bg-ra-ba-co-ch", "ro-co-ra-bg-ba-ch"][rng.integers(3)]
    mapping = AddressMapping(dev, order if dev.ranks > 1 else order.replace("ra-", ""))
    span = dev.columns * dev.burst_bytes * dev.bankgroups * dev.banks_per_group \
        * dev.ranks * dev.channels * int(rng.choice([1, 4, 32]))
    tr = random_trace(int(rng.integers(200, 900)), span,
                      write_fraction=float(rng.choice([0.0, 0.3, 0.7, 1.0])),
                      seed=seed, rate=float(rng.choice([0.05, 0.5, 2.0, 8.0])),
                      align=dev.burst_bytes)
    return dev, mapping, tr, cfg


@pytest.mark.parametrize("seed", range(100))
def test_numba_backend_equals_python_backend(seed):
    dev, mapping, tr, cfg = _case(seed)
    args = (dev, mapping, tr.address, tr.is_write, tr.cycle, cfg)
    py = simulate(*args, backend="python")
    nb = simulate(*args, backend="numba")
    np.testing.assert_array_equal(nb.completion, py.completion)
    assert len(nb.commands) == len(py.commands)
    assert list(nb.commands) == py.commands
    assert [c.line() for c in nb.commands] == [c.line() for c in py.commands]
    assert (nb.cycles, nb.row_hits, nb.counts) == (py.cycles, py.row_hits, py.counts)


@pytest.mark.parametrize("share", [True, False])
def test_backends_agree_with_channel_sharing_on_and_off(share):
    dev = dataclasses.replace(load_device("hbm2"), channels=8)
    mapping = AddressMapping(dev, "ro-ra-bg-ba-co-ch")
    from sparseforge.sim.dram.trace import stream_trace

    tr = stream_trace(3000, dev.burst_bytes, rate=2.0)
    args = (dev, mapping, tr.address, tr.is_write, tr.cycle)
    py = simulate(*args, share_channels=share, backend="python")
    nb = simulate(*args, share_channels=share, backend="numba")
    np.testing.assert_array_equal(nb.completion, py.completion)
    assert list(nb.commands) == py.commands
    assert (nb.cycles, nb.row_hits, nb.counts) == (py.cycles, py.row_hits, py.counts)


def test_unknown_backend_is_refused():
    dev = load_device("hbm2")
    with pytest.raises(ValueError, match="backend"):
        simulate(dev, AddressMapping(dev, "ro-ra-bg-ba-co-ch"), [0], [False], [0],
                 backend="fortran")


def test_the_numba_backend_refuses_per_bank_refresh_without_rfc_pb():
    dev = _device("odd")
    dev = SimpleNamespace(**{**vars(dev), "timing": SimpleNamespace(
        **{**vars(dev.timing), "rfc_pb": 0})})
    mapping = AddressMapping(dev, "ro-ra-bg-ba-co-ch")
    for backend in ("python", "numba"):
        with pytest.raises(ValueError, match="per-bank"):
            simulate(dev, mapping, [0], [False], [0], ControllerConfig(refresh="per_bank"),
                     backend=backend)
