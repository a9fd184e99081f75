"""Speed of the DRAM core: simulated cycles and requests per wall-clock second.

Usage::

    python benchmarks/dram_speed.py [--scale 1.0] [--loads 1,0.25] [--out FILE.md]
                                    [--controller PATH] [--dramsim3 DIR]

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

Comparison: without ``--dramsim3`` the last column compares ``hbm2 x8`` points with the
50–90 k simulated cycles per second an earlier session measured for a cycle-accurate
C++ DRAM simulator (traces unknown).  ``--dramsim3 DIR`` (a built DRAMsim3 checkout:
``DIR/libdramsim3.so``, ``DIR/build/dramsim3main``, ``DIR/src``, ``DIR/configs``) runs
the same ``hbm2 x8`` traces through DRAMsim3 and prints a second table, ours against
it, trace by trace:

* the traces are written with :func:`~sparseforge.sim.dram.trace.write_trace`
  (``0xADDR READ CYCLE``, the format DRAMsim3 reads);
* the config is DRAMsim3's ``configs/HBM2_8Gb_x128.ini`` (8 channels already; the
  ``hbm2`` preset's timing comes from it) with two lines changed:
  ``address_mapping = rorabgbacoch`` (the same bit slices as our ``ro-ra-bg-ba-co-ch``,
  so every request goes to the same channel / rank / bank / row / column) and
  ``trans_queue_size = 64`` (our ``queue_depth``);
* the front end is :data:`DRIVER`, a few lines of C++ compiled here with ``g++`` against
  ``DIR/libdramsim3.so`` (DRAMsim3's own ``dramsim3main`` accepts at most one request
  per cycle, and these traces offer up to 4): each cycle it ticks the memory system
  and offers every arrived request, in trace order per channel, until its channel's
  queue refuses one; it stops when every request has completed and reports the cycles
  and the wall seconds of that loop (the config read and trace parse excluded, as
  ours excludes the trace generation);
* for reference the stock ``dramsim3main DIR -t TRACE -c CYCLES`` is timed too (its
  one-request-per-cycle front end, ``CYCLES`` = the driver's cycles; wall seconds of
  the whole process).

``--backend {auto,python,numba}`` picks ``simulate``'s backend (default ``auto``:
numba when installed).  With numba, one small untimed call first compiles the
controller (or loads it from numba's on-disk cache); its wall seconds are printed as
the first-call time, and the table reports warm calls.  The numba backend builds the
``Command`` objects of ``SimResult.commands`` lazily (``CommandLog``), so the timed call
does not include them, nor the merge of the channels' logs into one array in time
order; both costs are printed for the first point.

``--controller PATH`` times the ``simulate`` of another
controller file instead (e.g. an older one: ``git show REV:sim/dram/controller.py >
/tmp/old.py``; such a file must not use ``share_channels``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

from sparseforge.sim.dram.controller import simulate
from sparseforge.sim.dram.device import load_device
from sparseforge.sim.dram.mapping import AddressMapping
from sparseforge.sim.dram.stats import summarize
from sparseforge.sim.dram.trace import random_trace, stream_trace, write_trace

#: The C++ simulator's range on 8-channel HBM2, simulated cycles per second.
CPP_RANGE = (50_000, 90_000)

#: (system, trace, load) -> requests at scale 1: about 10 s each on the 2-core machine.
REQUESTS = {
    ("hbm2 x8", "stream", 1.0): 1_500_000, ("hbm2 x8", "stream", 0.25): 1_000_000,
    ("hbm2 x8", "random", 1.0): 350_000, ("hbm2 x8", "random", 0.25): 330_000,
    ("gddr6", "stream", 1.0): 1_000_000, ("gddr6", "stream", 0.25): 1_100_000,
    ("gddr6", "random", 1.0): 350_000, ("gddr6", "random", 0.25): 400_000,
}

#: The same-trace front end for DRAMsim3 (see the module docstring), C++ source.
DRIVER = r"""
// Same-trace driver for DRAMsim3: each cycle, every request whose arrival cycle has
// come is offered, in trace order per channel (a channel's oldest waiting request
// blocks only that channel while its queue is full), with no one-per-cycle cap; runs
// until every request has completed.  Usage: drv CONFIG TRACE OUTDIR CH_SHIFT CH_BITS
// (the channel field's lowest address bit and width, to keep one FIFO per channel).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <string>
#include <vector>
#include "memory_system.h"

int main(int argc, char **argv) {
    if (argc < 6) {
        std::fprintf(stderr, "usage: drv CONFIG TRACE OUTDIR CH_SHIFT CH_BITS\n");
        return 2;
    }
    int ch_shift = std::atoi(argv[4]), ch_bits = std::atoi(argv[5]);
    std::ifstream in(argv[2]);
    std::vector<uint64_t> addr, when;
    std::vector<char> wr;
    std::string a, k;
    uint64_t c;
    while (in >> a >> k >> c) {
        addr.push_back(std::stoull(a, nullptr, 16));
        wr.push_back(k == "WRITE");
        when.push_back(c);
    }
    size_t n = addr.size(), next = 0, done = 0;
    auto cb = [&done](uint64_t) { ++done; };
    dramsim3::MemorySystem *mem = dramsim3::GetMemorySystem(argv[1], argv[3], cb, cb);
    auto t1 = std::chrono::steady_clock::now();
    std::vector<std::deque<size_t>> wait(size_t(1) << ch_bits);
    uint64_t mask = (uint64_t(1) << ch_bits) - 1, clk = 0;
    while (done < n) {
        mem->ClockTick();
        for (; next < n && when[next] <= clk; ++next)
            wait[(addr[next] >> ch_shift) & mask].push_back(next);
        for (auto &q : wait) {
            while (!q.empty() && mem->WillAcceptTransaction(addr[q.front()], wr[q.front()])) {
                mem->AddTransaction(addr[q.front()], wr[q.front()]);
                q.pop_front();
            }
        }
        ++clk;
    }
    auto t2 = std::chrono::steady_clock::now();
    std::printf("requests %zu cycles %llu run_s %.6f\n", n, (unsigned long long)clk,
                std::chrono::duration<double>(t2 - t1).count());
    delete mem;
    return 0;
}
"""

#: Lines of DRAMsim3's configs/HBM2_8Gb_x128.ini changed for the comparison.
DRAMSIM3_CHANGES = {"address_mapping": "rorabgbacoch", "trans_queue_size": "64"}


class DRAMsim3:
    """A built DRAMsim3 checkout at ``root``: writes the config, compiles
    :data:`DRIVER` into ``work`` and runs traces through it."""

    def __init__(self, root: str, work: str):
        self.root, self.work = os.path.abspath(root), work
        base = os.path.join(self.root, "configs", "HBM2_8Gb_x128.ini")
        with open(base) as f:
            text = f.read()
        for key, value in DRAMSIM3_CHANGES.items():
            text, count = re.subn(rf"(?m)^{key}\s*=.*$", f"{key} = {value}", text)
            if count != 1:
                raise SystemExit(f"--dramsim3: {base} has no single {key!r} line")
        self.config = os.path.join(work, "hbm2_x8.ini")
        with open(self.config, "w") as f:
            f.write(text)
        src = os.path.join(work, "drv.cc")
        with open(src, "w") as f:
            f.write(DRIVER)
        self.driver = os.path.join(work, "drv")
        subprocess.run(["g++", "-O3", "-DNDEBUG", "-std=c++14",
                        "-I" + os.path.join(self.root, "src"),
                        "-I" + os.path.join(self.root, "ext", "headers"),
                        "-I" + os.path.join(self.root, "ext", "fmt", "include"),
                        "-DFMT_HEADER_ONLY=1", src, "-L" + self.root, "-ldramsim3",
                        "-Wl,-rpath," + self.root, "-o", self.driver], check=True)
        self.main = os.path.join(self.root, "build", "dramsim3main")

    def run(self, mapping, tr, name: str) -> dict:
        """Figures of trace ``tr`` through the driver, and the stock front end's wall
        seconds for as many cycles."""
        path = os.path.join(self.work, name + ".trace")
        write_trace(path, tr)
        out = os.path.join(self.work, "out")
        os.makedirs(out, exist_ok=True)
        res = subprocess.run([self.driver, self.config, path, out,
                              str(mapping.shifts["ch"]),
                              str(mapping.widths["ch"])],
                             check=True, capture_output=True, text=True).stdout
        fields = dict(zip(res.split()[::2], res.split()[1::2]))
        cycles, wall = int(fields["cycles"]), float(fields["run_s"])
        start = time.perf_counter()
        subprocess.run([self.main, self.config, "-t", path, "-c", str(cycles), "-o", out],
                       check=True, capture_output=True)
        stock = time.perf_counter() - start
        return dict(cycles=cycles, wall=wall, cps=cycles / wall, rps=len(tr) / wall,
                    stock_wall=stock, stock_cps=cycles / stock)


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


_BUILD_TIMED = False  # the first lazy command log's build is timed once


def run_point(sim, dev, mapping, tr, **kw) -> dict:
    """Time one ``sim`` call on trace ``tr``; the figures of one table row."""
    start = time.perf_counter()
    res = sim(dev, mapping, tr.address, tr.is_write, tr.cycle, **kw)
    wall = time.perf_counter() - start
    s = summarize(dev, res, tr.is_write, tr.cycle)
    extra = {}
    global _BUILD_TIMED
    if not _BUILD_TIMED and hasattr(type(res.commands), "array"):  # a lazy CommandLog
        _BUILD_TIMED = True
        start = time.perf_counter()
        res.commands.array  # noqa: B018 - the merge of the channels' logs
        merge = time.perf_counter() - start
        list(res.commands)
        extra = dict(lazy=True, merge=merge, build=time.perf_counter() - start)
    return dict(**extra,cycles=res.cycles, requests=len(tr.address), wall=wall,
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
    parser.add_argument("--dramsim3", metavar="DIR",
                        help="a built DRAMsim3 checkout: run the hbm2 x8 traces through "
                             "it too and print both side by side")
    parser.add_argument("--backend", choices=("auto", "python", "numba"), default="auto",
                        help="simulate()'s backend (default auto: numba when installed)")
    args = parser.parse_args(argv)
    work = tempfile.TemporaryDirectory(prefix="dram_speed_") if args.dramsim3 else None
    ds3 = DRAMsim3(args.dramsim3, work.name) if args.dramsim3 else None
    same = []
    sim, label, own = simulate, "sim/dram/controller.py", True
    if args.controller:
        spec = importlib.util.spec_from_file_location(
            "sparseforge.sim.dram._timed_controller", args.controller)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        sim, label, own = mod.simulate, args.controller, False
    notes = []
    if own:
        from sparseforge.sim.dram import controller_jit

        backend = args.backend
        if backend == "auto":
            backend = "numba" if controller_jit.HAVE_NUMBA else "python"
        label += f" (backend {backend})"
        sim = functools.partial(simulate, backend=backend)
        if backend == "numba":  # compile (or load from numba's cache), untimed
            import numba

            dev, mapping = system("gddr6")
            tr = trace(dev, "random", 2000, 0.5)
            start = time.perf_counter()
            sim(dev, mapping, tr.address, tr.is_write, tr.cycle)
            first = time.perf_counter() - start
            start = time.perf_counter()
            sim(dev, mapping, tr.address, tr.is_write, tr.cycle)
            notes.append(f"numba {numba.__version__}: first call {first:.2f} s (JIT compile, "
                         "or load from the on-disk cache); the same call warm "
                         f"{time.perf_counter() - start:.3f} s; the table times warm calls")
    loads = [float(x) for x in args.loads.split(",")]
    lines = [f"DRAM core speed: `{label}`, Python {platform.python_version()}, "
             f"{platform.machine()}, scale {args.scale:g}", *notes, "",
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
                    if p.pop("lazy", None) is not None:
                        notes.append(f"the {p['commands']:,}-command log of {name} {kind} "
                                     f"{load:g} ({simulated}), built lazily afterwards (not "
                                     f"in its wall s): channels merged into one array "
                                     f"{p.pop('merge'):.2f} s, then Command objects: "
                                     f"{p.pop('build'):.2f} s in all")
                    row = (f"| {name} | {kind} | {load:g} | {p['requests']:,} | "
                           f"{p['cycles']:,} | {simulated} | {p['wall']:.2f} | "
                           f"{p['cps']:,.0f} | {p['rps']:,.0f} | {p['gbs']:.1f} | "
                           f"{p['hits']:.3f} | {verdict(name, p['cps'])} |")
                    lines.append(row)
                    print(row, flush=True)
                if ds3 and name == "hbm2 x8":  # p: the run with every channel simulated
                    d = ds3.run(mapping, tr, f"{kind}_{load:g}")
                    same.append(f"| {kind} | {load:g} | {p['requests']:,} | "
                                f"{p['cycles']:,} | {p['wall']:.2f} | {p['cps']:,.0f} | "
                                f"{p['rps']:,.0f} | {d['cycles']:,} | {d['wall']:.2f} | "
                                f"{d['cps']:,.0f} | {d['rps']:,.0f} | "
                                f"{p['cps'] / d['cps']:.2f}x | {p['rps'] / d['rps']:.2f}x | "
                                f"{d['stock_wall']:.2f} | {d['stock_cps']:,.0f} |")
    if ds3:
        head = ["", f"Same traces through DRAMsim3 (`{ds3.root}`; configs/HBM2_8Gb_x128.ini "
                "with " + ", ".join(f"{k} = {v}" for k, v in DRAMSIM3_CHANGES.items())
                + "; every channel simulated on both sides); ratios are ours / DRAMsim3's:",
                "", "| trace | load | requests | ours: cycles | ours: wall s "
                "| ours: cycles/s | ours: requests/s | DRAMsim3: cycles | DRAMsim3: wall s "
                "| DRAMsim3: cycles/s | DRAMsim3: requests/s | cycles/s ratio "
                "| requests/s ratio | dramsim3main wall s | dramsim3main cycles/s |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        lines += head + same
        print("\n".join(head + same))
        work.cleanup()
    else:
        lines += ["", f"C++ comparison: a cycle-accurate C++ DRAM simulator at "
                  f"{CPP_RANGE[0] // 1000}–{CPP_RANGE[1] // 1000} k simulated cycles/s on "
                  "8-channel HBM2, measured on this machine by an earlier session on "
                  "unknown traces; `--dramsim3 DIR` measures one on these traces."]
        print(lines[-1])
    if notes:
        lines += ["", *notes]
        print("\n".join(notes[1:]))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
