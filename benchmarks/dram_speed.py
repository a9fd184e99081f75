"""Speed of the DRAM core: simulated cycles and requests per wall-clock second.

Usage::

    python benchmarks/dram_speed.py [--scale 1.0] [--loads 1,0.25] [--out FILE.md]
                                    [--controller PATH]

Runs :func:`sparseforge.sim.dram.controller.simulate` (default ``ControllerConfig``:
open page, all-bank refresh, queue depth 64) on a streaming trace
(``stream_trace``: consecutive bursts, reads) and a random trace (``random_trace``:
uniform burst-aligned addresses over the whole device, reads, seed 1), on two
systems:

* ``hbm2 x8``: 8-channel HBM2, the ``hbm2`` preset (32 channels) with ``channels = 8``
  (every other value unchanged; mapping ``ro-ra-bg-ba-co-ch``, so a trace covers all 8
  channels).  Channels are independent, so this is the same simulation as a 32-channel
  trace restricted to 8 channels, with a dense address space;
* ``gddr6``: the ``gddr6`` preset as it is (2 channels; ``ro-bg-ba-co-ch``).

Each trace is offered at ``load`` x the data bus's peak request rate (``channels / bl``
requests per cycle; load 1 saturates the bus of a stream, and far exceeds what the
banks serve of random traffic, so its queues stay full).  Every point reports the
simulated cycles (last completion), requests, wall seconds of ``simulate``, simulated
cycles and requests per second, bandwidth (``stats.summarize``), row-hit rate, and
how many channels were simulated: ``simulate`` runs identical channels once
(``share_channels``, exact); where that applies the point is also timed with every
channel simulated (``share_channels=False``).

Comparison: a cycle-accurate C++ DRAM simulator ran 8-channel HBM2 at about 50–90 k
simulated cycles per second on this machine (measured by an earlier session; its build
is not here, so it is not re-run); the last column says whether the point is at least
as fast (``hbm2 x8`` only).  ``--controller PATH`` times the ``simulate`` of another
controller file instead (e.g. an older one: ``git show REV:sim/dram/controller.py >
/tmp/old.py``; such a file must not use ``share_channels``).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import platform
import sys
import time

from sparseforge.sim.dram.controller import simulate
from sparseforge.sim.dram.device import load_device
from sparseforge.sim.dram.mapping import AddressMapping
from sparseforge.sim.dram.stats import summarize
from sparseforge.sim.dram.trace import random_trace, stream_trace

#: The C++ simulator's range on 8-channel HBM2, simulated cycles per second.
CPP_RANGE = (50_000, 90_000)

#: (system, trace, load) -> requests at scale 1: about 10 s each on the 2-core machine.
REQUESTS = {
    ("hbm2 x8", "stream", 1.0): 1_500_000, ("hbm2 x8", "stream", 0.25): 1_000_000,
    ("hbm2 x8", "random", 1.0): 350_000, ("hbm2 x8", "random", 0.25): 330_000,
    ("gddr6", "stream", 1.0): 1_000_000, ("gddr6", "stream", 0.25): 1_100_000,
    ("gddr6", "random", 1.0): 350_000, ("gddr6", "random", 0.25): 400_000,
}


def system(name: str):
    """``(device, mapping)`` of ``"hbm2 x8"`` or ``"gddr6"``."""
    if name == "hbm2 x8":
        dev = dataclasses.replace(load_device("hbm2"), channels=8)
        return dev, AddressMapping(dev, "ro-ra-bg-ba-co-ch")
    dev = load_device(name)
    return dev, AddressMapping(dev, "ro-bg-ba-co-ch")


def trace(dev, kind: str, n: int, load: float):
    """The benchmark's trace: ``kind`` ``"stream"`` or ``"random"``, ``n`` reads offered
    at ``load`` x the peak request rate."""
    rate = load * dev.channels / dev.timing.bl
    if kind == "stream":
        return stream_trace(n, dev.burst_bytes, rate=rate)
    return random_trace(n, dev.capacity_bytes, write_fraction=0.0, seed=1, rate=rate,
                        align=dev.burst_bytes)


def run_point(sim, dev, mapping, tr, **kw) -> dict:
    """Time one ``sim`` call on trace ``tr``; the figures of one table row."""
    start = time.perf_counter()
    res = sim(dev, mapping, tr.address, tr.is_write, tr.cycle, **kw)
    wall = time.perf_counter() - start
    s = summarize(dev, res, tr.is_write, tr.cycle)
    return dict(cycles=res.cycles, requests=len(tr.address), wall=wall,
                cps=res.cycles / wall, rps=len(tr.address) / wall, gbs=s.bandwidth_gbs,
                hits=s.row_hit_rate, commands=len(res.commands))


def verdict(name: str, cps: float) -> str:
    """Whether ``cps`` is at least the C++ simulator's speed (8-channel HBM2 only)."""
    if name != "hbm2 x8":
        return "n/a"
    lo, hi = CPP_RANGE
    if cps >= hi:
        return "yes (above the range)"
    if cps >= lo:
        return "within the range"
    return f"no ({cps / lo:.2f}x its low end)"


def distinct_channels(mapping, tr) -> tuple[int, int]:
    """(channels with requests, distinct request streams among them), as
    ``share_channels`` sees them."""
    import numpy as np

    ch, ra, bg, ba, ro, co = mapping.decode(tr.address)
    keys = set()
    used = 0
    for c in range(mapping.device.channels):
        i = np.nonzero(ch == c)[0]
        if len(i):
            used += 1
            fields = (tr.cycle, tr.is_write, ra, bg, ba, ro, co)
            keys.add(np.stack([np.asarray(f, np.int64)[i] for f in fields]).tobytes())
    return used, len(keys)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every point's request count (default 1: ~10 s each)")
    parser.add_argument("--loads", default="1,0.25",
                        help="offered loads, fractions of the peak request rate")
    parser.add_argument("--out", help="also write the Markdown table to this file")
    parser.add_argument("--controller", help="time simulate() of this controller file")
    args = parser.parse_args(argv)
    sim, label, own = simulate, "sim/dram/controller.py", True
    if args.controller:
        spec = importlib.util.spec_from_file_location(
            "sparseforge.sim.dram._timed_controller", args.controller)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        sim, label, own = mod.simulate, args.controller, False
    loads = [float(x) for x in args.loads.split(",")]
    lines = [f"DRAM core speed: `{label}`, Python {platform.python_version()}, "
             f"{platform.machine()}, scale {args.scale:g}", "",
             "| system | trace | load | requests | simulated cycles | channels simulated "
             "| wall s | sim. cycles/s | requests/s | GB/s | row hits "
             "| ≥ C++ (50–90 k cycles/s)? |",
             "|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|"]
    print("\n".join(lines), flush=True)
    for name in ("hbm2 x8", "gddr6"):
        dev, mapping = system(name)
        for kind in ("stream", "random"):
            for load in loads:
                n = max(1000, int(REQUESTS.get((name, kind, load), 200_000) * args.scale))
                tr = trace(dev, kind, n, load)
                used, distinct = distinct_channels(mapping, tr)
                runs = [(f"{distinct} of {used}" if own else f"{used} of {used}", {})]
                if own and distinct < used:
                    runs.append((f"{used} of {used} (sharing off)",
                                 dict(share_channels=False)))
                for simulated, kw in runs:
                    p = run_point(sim, dev, mapping, tr, **kw)
                    row = (f"| {name} | {kind} | {load:g} | {p['requests']:,} | "
                           f"{p['cycles']:,} | {simulated} | {p['wall']:.1f} | "
                           f"{p['cps']:,.0f} | {p['rps']:,.0f} | {p['gbs']:.1f} | "
                           f"{p['hits']:.3f} | {verdict(name, p['cps'])} |")
                    lines.append(row)
                    print(row, flush=True)
    lines += ["", f"C++ comparison: a cycle-accurate C++ DRAM simulator at "
              f"{CPP_RANGE[0] // 1000}–{CPP_RANGE[1] // 1000} k simulated cycles/s on "
              "8-channel HBM2, measured on this machine by an earlier session; its build "
              "is not here, so it was not re-run."]
    print(lines[-1])
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
