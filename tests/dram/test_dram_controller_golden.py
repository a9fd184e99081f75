"""The controller's exact output on a grid of traces, against stored digests.

Each case runs :func:`~sparseforge.sim.dram.controller.simulate` on a seeded trace and
hashes everything it returns (every completion cycle, every command line, row hits,
command counts).  The digests were recorded with the straightforward controller of
commit cd8c263 (which re-grouped the whole queue by bank and asked
``ChannelState.earliest`` for every bank's candidate at every step), before the
controller was restructured for speed; the restructured one must reproduce them bit
for bit.  The grid covers every preset, both page policies, the three refresh modes,
reads and writes (write drain), light load (empty queues), overload (full queues),
several requests per arrival cycle (ties in FR-FCFS), several ranks, a small queue,
identical channels (shared simulation) and a stand-in device whose timings are all
distinct.

Regenerate (only after a deliberate change of behaviour, saying why in the commit)::

    python tests/dram/test_dram_controller_golden.py
"""

from __future__ import annotations

import dataclasses
import hashlib
from types import SimpleNamespace

import numpy as np
import pytest

from sparseforge.sim.dram.controller import ControllerConfig, simulate
from sparseforge.sim.dram.device import load_device
from sparseforge.sim.dram.mapping import AddressMapping
from sparseforge.sim.dram.trace import random_trace, stream_trace

#: Stand-in device: 2 ranks of 2 x 4 banks, every timing distinct.
_STANDIN_T = SimpleNamespace(cl=11, cwl=9, bl=4, rcd=13, rp=12, ras=30, rc=44, ccd_s=5,
                             ccd_l=7, rrd_s=6, rrd_l=8, faw=29, wr=15, rtp=10, wtr_s=3,
                             wtr_l=9, rtrs=2, rfc=100, refi=900, rfc_pb=50)
_STANDIN = SimpleNamespace(name="standin", channels=2, ranks=2, bankgroups=2,
                           banks_per_group=4, rows=64, columns=32, burst_bytes=32,
                           capacity_bytes=2 * 2 * 8 * 64 * 32 * 32, timing=_STANDIN_T)


def _device(name: str):
    if name == "standin":
        return _STANDIN
    if name == "hbm2_8ch":
        return dataclasses.replace(load_device("hbm2"), channels=8)
    dev = load_device(name)
    # a short refresh interval so that refreshes interleave with the traffic
    return dataclasses.replace(dev, timing=dataclasses.replace(dev.timing, refi=600))


def _mapping(dev, stream: bool):
    if dev.ranks > 1:
        return AddressMapping(dev, "ro-ra-bg-ba-co-ch" if stream else "ro-bg-ra-ba-co-ch")
    return AddressMapping(dev, "ro-bg-ba-co-ch")


#: (name, device, trace, n, rate, write fraction, seed, config keywords)
CASES = [
    ("gddr6-random-open", "gddr6", "random", 1200, 0.3, 0.3, 1, {}),
    ("gddr6-random-closed", "gddr6", "random", 1200, 0.3, 0.3, 2,
     dict(page_policy="closed")),
    ("gddr6-random-perbank", "gddr6", "random", 1200, 0.5, 0.4, 3,
     dict(refresh="per_bank", write_high=10, write_low=3)),
    ("gddr6-random-overload", "gddr6", "random", 1500, 4.0, 0.5, 4,
     dict(write_high=8, write_low=2)),
    ("gddr6-random-light", "gddr6", "random", 600, 0.01, 0.3, 5, {}),
    ("gddr6-stream", "gddr6", "stream", 3000, 1.0, 0.0, 0, {}),
    ("gddr6-stream-writes-closed", "gddr6", "stream", 2000, 0.7, 1.0, 0,
     dict(page_policy="closed")),
    ("gddr6_aim-random", "gddr6_aim", "random", 1200, 0.6, 0.2, 6,
     dict(queue_depth=8, write_high=6, write_low=1)),
    ("hbm2-random-open", "hbm2", "random", 2000, 2.0, 0.3, 7, {}),
    ("hbm2-random-closed-off", "hbm2", "random", 2000, 1.0, 0.3, 8,
     dict(page_policy="closed", refresh="off")),
    ("hbm2_8ch-stream", "hbm2_8ch", "stream", 4000, 4.0, 0.0, 0, {}),
    ("hbm2_8ch-random", "hbm2_8ch", "random", 3000, 4.0, 0.0, 9, {}),
    ("hbm3-random-perbank-closed", "hbm3", "random", 1500, 1.5, 0.3, 10,
     dict(refresh="per_bank", page_policy="closed")),
    ("hbm3-stream-writes", "hbm3", "stream", 2000, 2.0, 1.0, 0,
     dict(refresh="per_bank")),
    ("standin-random-open", "standin", "random", 1500, 0.4, 0.35, 11,
     dict(write_high=6, write_low=2)),
    ("standin-random-closed-perbank", "standin", "random", 1500, 0.8, 0.35, 12,
     dict(page_policy="closed", refresh="per_bank", queue_depth=16)),
    ("standin-random-depth1", "standin", "random", 400, 0.2, 0.5, 13,
     dict(queue_depth=1, write_high=1, write_low=0)),
]


def _run(device_name, trace, n, rate, write_fraction, seed, config, **kw):
    dev = _device(device_name)
    stream = trace == "stream"
    mapping = _mapping(dev, stream)
    if stream:
        tr = stream_trace(n, dev.burst_bytes, rate=rate, write=write_fraction == 1.0)
    else:
        # a small slice of the device so that banks conflict: the first rows only
        span = dev.columns * dev.burst_bytes * dev.bankgroups * dev.banks_per_group \
            * dev.ranks * dev.channels * 8
        tr = random_trace(n, span, write_fraction=write_fraction, seed=seed, rate=rate,
                          align=dev.burst_bytes)
    return simulate(dev, mapping, tr.address, tr.is_write, tr.cycle,
                    ControllerConfig(**config), **kw)


def _digest(res) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(res.completion, np.int64).tobytes())
    h.update("\n".join(c.line() for c in res.commands).encode())
    h.update(f"{res.cycles} {res.row_hits} {sorted(res.counts.items())}".encode())
    return h.hexdigest()[:32]


#: Recorded with the controller of commit cd8c263 (see the module docstring).
EXPECTED = {
    'gddr6-random-open': 'be25e965c856e76bb12ff37180e5b136',
    'gddr6-random-closed': 'bc87261f912d3ad8aad6e8187f6c5496',
    'gddr6-random-perbank': 'd0a60b9c32fe5bf1416e1db8709dede9',
    'gddr6-random-overload': '6208756efcd565b41eff94b98abd2660',
    'gddr6-random-light': 'bfdc2fc563e6699f254119530c83fc89',
    'gddr6-stream': 'cee369d5765a4be3dd5f0defeca6e596',
    'gddr6-stream-writes-closed': 'a323dd0d0d79742decb48865ac96ed22',
    'gddr6_aim-random': '804f9d168ac713b2f8414bf3cd274a8f',
    'hbm2-random-open': '88a3867ccb30b5481b024a49b3b694bd',
    'hbm2-random-closed-off': '63d5f705aee4be456cc2dd91a80d33f8',
    'hbm2_8ch-stream': '4e3a23dbf5d57f498aaf1a8b72c570e4',
    'hbm2_8ch-random': '60437aaf798f5f8dd4aede87e3de62b9',
    'hbm3-random-perbank-closed': '58ba142f7a3ba7450203ace16eb47ea8',
    'hbm3-stream-writes': 'e227e42a9ecba3a311204c7b9868fd0f',
    'standin-random-open': 'f4497df611a99167fd6731242ac6261c',
    'standin-random-closed-perbank': 'c35cdc7060aefa1138b9d845fad2e194',
    'standin-random-depth1': 'e328c0bf4c10c109f0db041f5f5ceced',
}


try:
    import numba  # noqa: F401
    _NUMBA = True
except ImportError:
    _NUMBA = False

#: Both backends of simulate (the numba one skipped without numba).
BACKENDS = ["python", pytest.param("numba", marks=pytest.mark.skipif(
    not _NUMBA, reason="numba not installed"))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_output_matches_the_recorded_controller(case, backend):
    name, *args = case
    assert _digest(_run(*args, backend=backend)) == EXPECTED[name]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["hbm2_8ch-stream", "gddr6-random-open"])
def test_every_channel_simulated_gives_the_same_output(name, backend):
    # the 8-channel stream has 2 distinct channel streams, shared by default
    case = next(c for c in CASES if c[0] == name)
    assert _digest(_run(*case[1:], share_channels=False, backend=backend)) == EXPECTED[name]


if __name__ == "__main__":
    print("EXPECTED = {")
    for name, *args in CASES:
        print(f"    {name!r}: {_digest(_run(*args, backend='python'))!r},")
    print("}")
