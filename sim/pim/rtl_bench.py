"""The RTL bench of the PIM datapath: vectors, a Verilator build, a cocotb bench, a report.

Used by ``sparseforge verify pimgpt`` and by ``tests/pim/test_pim_rtl.py``.

:func:`run_bench` builds one Verilator model holding every unit (FP32 ``add`` and
``mul``, ``exp``, ``recip``, ``rsqrt``, ``gelu`` of :class:`~sparseforge.hwgen.pim.asic.
AsicUnit` and :class:`~sparseforge.hwgen.pim.mac.PimMacUnit` at the asked lane counts),
lints it, and runs the cocotb test :func:`pim_units` of this module on it: edge cases
and random values, a free phase that measures latency and II, then seeded random /
bursty valid gaps and ready back-pressure.  The expected bits come from
:mod:`sparseforge.sim.pim.fp`, :mod:`sparseforge.sim.pim.mac` and
:mod:`sparseforge.sim.pimgpt.asic`, never from the RTL; the expected latency and II from
:mod:`sparseforge.sim.pim.units`.

The spec (JSON, file named by ``PIM_BENCH_SPEC``) lists, per unit of the bench top
(``<unit>_i`` / ``<unit>_o`` stream ports): the input payloads, the golden outputs, how
many inputs run in the free phase, which inputs produce an output (``emits``; every
input for the ASIC units, the ``last`` columns for a MAC unit) and a stall pattern.
All units run side by side, one clock.

Free phase: valid every cycle, ready every cycle; the bench records the cycle each
input is accepted and each result leaves, so ``latency`` = result cycle - accept cycle
of the input it belongs to, and ``ii`` = the largest gap between accepts.  Then, once
the free phase has drained, the stalled phase: seeded random / bursty gaps on
``valid`` and back-pressure on ``ready`` (:class:`sparseforge.sim.lib.stalls.Stalls`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sparseforge.sim.lib.stalls import Stalls
from sparseforge.sim.pim.fp import bits_to_f32, f32_bits, fadd, fmul
from sparseforge.sim.pim.mac import mac_column
from sparseforge.sim.pim.units import ASIC_UNITS, MAC_II, mac_latency
from sparseforge.sim.pimgpt import asic

try:  # the bench side needs cocotb; the vectors and the runner's Python side do not
    import cocotb
    from cocotb.triggers import ReadOnly, RisingEdge
except ImportError:  # pragma: no cover - cocotb is in the sim extra
    cocotb = None

__all__ = ["EDGE32", "MAC_LANES", "N_RANDOM", "add_mul_pairs", "add_ties", "bench_spec",
           "bench_top", "exp_ties", "golden_unary", "mac_columns", "mul_ties",
           "pack_column", "run_bench", "unary_inputs"]

#: MAC unit widths the bench builds by default (the memory's 16 lanes, and the
#: narrow trees whose edge cases differ).
MAC_LANES = (16, 2, 1)
#: random operands per unit on top of the edge cases and the targeted sets
N_RANDOM = 2000

# ------------------------------------------------------------------------------ vectors

EDGE32 = [
    0x00000000, 0x80000000,                          # signed zeros
    0x00000001, 0x007FFFFF, 0x80400000, 0x80000001,  # subnormals (read as signed zero)
    0x00800000, 0x80800000, 0x00800001, 0x00FFFFFF,  # min normal and neighbours
    0x7F800000, 0xFF800000,                          # infinities
    0x7F800001, 0xFFC00001, 0x7FFFFFFF, 0x7FC00000, 0xFF812345,  # NaNs, odd payloads
    0x7F7FFFFF, 0xFF7FFFFF, 0x7F000000, 0x7EFFFFFF,  # FLT_MAX and friends
    0x3F800000, 0xBF800000, 0x3F800001, 0x3F7FFFFF, 0x40000000, 0x3F000000,
    0x33800000, 0x34000000, 0x1F800000, 0x5F800000, 0x3FFFFFFF,
]


def _f32(rng, n, exp_lo=1, exp_hi=254, frac=None, sign=None):
    """Random FP32 bit patterns with exponent fields in [exp_lo, exp_hi]."""
    e = rng.integers(exp_lo, exp_hi + 1, n).astype(np.uint64)
    f = rng.integers(0, 1 << 23, n).astype(np.uint64) if frac is None else frac
    s = rng.integers(0, 2, n).astype(np.uint64) if sign is None else sign
    return ((s << 31) | (e << 23) | f).astype(np.uint32)


def _sparse_frac(rng, n):
    """Fractions with few set bits (products and sums land on rounding ties)."""
    f = np.zeros(n, np.uint64)
    for _ in range(3):
        f |= np.uint64(1) << rng.integers(0, 23, n).astype(np.uint64)
    return f & np.uint64((1 << 23) - 1)


def mul_ties(rng, n: int = 20000) -> np.ndarray:
    """(k, 2) operand pairs whose exact significand product is halfway between two FP32
    values (found with integer arithmetic: guard bit 1, nothing below it)."""
    a_sig = (1 << 23) | rng.integers(0, 1 << 23, n).astype(np.uint64)
    j = rng.integers(1, 24, n).astype(np.uint64)
    b_sig = (np.uint64(1) << np.uint64(23)) | (np.uint64(1) << (np.uint64(23) - j)) \
        | np.where(rng.random(n) < 0.5, 0, np.uint64(1) << (np.uint64(23) - j // 2))
    b_sig &= np.uint64((1 << 24) - 1)
    prod = a_sig * b_sig
    hi = (prod >> np.uint64(47)) & np.uint64(1)
    g = np.uint64(22) + hi
    tie = (((prod >> g) & np.uint64(1)) == 1) & ((prod & ((np.uint64(1) << g) - np.uint64(1)))
                                                == 0)
    a = _f32(rng, n, 80, 170, frac=a_sig & np.uint64((1 << 23) - 1))
    b = _f32(rng, n, 80, 170, frac=b_sig & np.uint64((1 << 23) - 1))
    return np.stack([a[tie], b[tie]], -1)[:400]


def add_ties(rng, n: int = 600) -> np.ndarray:
    """(n, 2) pairs where ``b``'s bits shifted out by the alignment are exactly one half
    of the last kept position (a rounding tie unless the sum carries or cancels)."""
    a = _f32(rng, n, 30, 220)
    d = rng.integers(1, 24, n).astype(np.uint64)
    sig = (1 << 23) | rng.integers(0, 1 << 23, n).astype(np.uint64)
    sig = (sig & ~((np.uint64(1) << d) - np.uint64(1))) | (np.uint64(1) << (d - np.uint64(1)))
    eb = (((a >> 23) & 0xFF).astype(np.int64) - d.astype(np.int64)).astype(np.uint64)
    b = ((rng.integers(0, 2, n).astype(np.uint64) << np.uint64(31)) | (eb << np.uint64(23))
         | (sig & np.uint64((1 << 23) - 1))).astype(np.uint32)
    return np.stack([a, b], -1)


def add_mul_pairs(rng, kind: str) -> np.ndarray:
    """(n, 2) uint32 operand pairs for ``add`` or ``mul``."""
    edge = np.array(EDGE32, np.uint32)
    parts = [np.stack(np.meshgrid(edge, edge), -1).reshape(-1, 2),
             rng.integers(0, 1 << 32, (N_RANDOM, 2), dtype=np.uint64).astype(np.uint32),
             np.stack([_f32(rng, N_RANDOM, 60, 190), _f32(rng, N_RANDOM, 60, 190)], -1)]
    a = _f32(rng, 400)
    ea = (a >> 23) & 0xFF
    if kind == "add":
        d = rng.integers(0, 32, 400)                       # alignment distances
        b = _f32(rng, 400, 1, 1)
        b = (b & ~np.uint32(0x7F800000)) | (np.clip(ea.astype(int) - d, 1, 254)
                                           .astype(np.uint32) << 23)
        parts.append(np.stack([a, b], -1))
        k = rng.integers(-3, 4, 300)                        # cancellations
        base = _f32(rng, 300)
        near = (base.astype(np.int64) + k + rng.choice([0, 0x800000, -0x800000], 300))
        near = np.clip(near & 0x7FFFFFFF, 0x00800000, 0x7F7FFFFF) | (base.astype(np.int64)
                                                                      & 0x80000000)
        parts.append(np.stack([base, near.astype(np.uint32) ^ np.uint32(0x80000000)], -1))
        lo, hi = _f32(rng, 300, 1, 3), _f32(rng, 300, 1, 3)  # sums near 2^-126
        parts.append(np.stack([lo, hi ^ (lo & np.uint32(0x80000000)) ^ np.uint32(0x80000000)],
                              -1))
        t1 = _f32(rng, 300, 30, 220, frac=_sparse_frac(rng, 300))  # ties
        dt = rng.integers(22, 27, 300)
        t2 = _f32(rng, 300, 1, 1, frac=_sparse_frac(rng, 300))
        t2 = (t2 & ~np.uint32(0x7F800000)) | ((((t1 >> 23) & 0xFF).astype(int) - dt)
                                              .astype(np.uint32) << 23)
        parts += [np.stack([t1, t2], -1), add_ties(rng)]
        big = _f32(rng, 100, 253, 254, sign=np.zeros(100, np.uint64))  # overflow
        parts.append(np.stack([big, big ^ np.uint32(rng.integers(0, 2) << 31)], -1))
    else:
        for lo, hi, n in ((126, 130, 500), (379, 383, 200)):  # underflow / overflow edge
            a = _f32(rng, n)
            target = rng.integers(lo, hi + 1, n)
            eb = np.clip(target - ((a >> 23) & 0xFF).astype(int), 1, 254)
            fb = np.where(rng.random(n) < 0.3, (1 << 23) - 1,
                          rng.integers(0, 1 << 23, n)).astype(np.uint64)
            b = _f32(rng, n, 1, 1, frac=fb)
            b = (b & ~np.uint32(0x7F800000)) | (eb.astype(np.uint32) << 23)
            parts.append(np.stack([a, b], -1))
        s1 = _f32(rng, 400, 100, 150, frac=_sparse_frac(rng, 400))
        s2 = _f32(rng, 400, 100, 150, frac=_sparse_frac(rng, 400))
        parts += [np.stack([s1, s2], -1), mul_ties(rng)]
    return np.concatenate(parts).astype(np.uint32)


def _bits(values) -> np.ndarray:
    return f32_bits(np.asarray(values, np.float32))


def exp_ties() -> np.ndarray:
    """x with ``fmul(x, LOG2E)`` exactly k + 1/2 (rint's ties), for |k| <= 150."""
    log2e = bits_to_f32(np.array([asic.CONSTANTS["LOG2E"]], np.uint32))[0]
    h = np.arange(-150, 151) + 0.5
    x0 = f32_bits((h / np.float64(log2e)).astype(np.float32)).astype(np.int64)
    cand = (x0[:, None] + np.arange(-4, 5)[None, :]).reshape(-1).astype(np.uint32)
    t = fmul(bits_to_f32(cand), log2e).astype(np.float64)
    return cand[(t - np.floor(t)) == 0.5]


def unary_inputs(rng, function: str) -> np.ndarray:
    """uint32 operands for an ASIC function."""
    parts = [np.array(EDGE32, np.uint32),
             rng.integers(0, 1 << 32, N_RANDOM, dtype=np.uint64).astype(np.uint32)]
    u = rng.random
    if function == "exp":
        edges = [88.7228, -87.3365, -103.279, 103.9, -103.9, 104.0, -104.0, 88.0, -88.0]
        near = np.concatenate([e + np.linspace(-0.02, 0.02, 41) for e in edges])
        parts += [_bits(u(600) * 220 - 110), _bits(near), exp_ties(),
                  _bits([150.0, -150.0, 1e5, -1e5, 0.5, -0.5, 1e-30, -1e-30])]
    elif function == "recip":
        e = np.arange(1, 255, dtype=np.uint32) << 23
        parts += [e, e | np.uint32(0x80000000), _f32(rng, 200, 250, 254), _f32(rng, 200, 1, 4),
                  _bits(u(200) * 1.5 + 0.5), _bits(-(u(100) * 1e6))]
    elif function == "rsqrt":
        e = np.arange(1, 255, dtype=np.uint32) << 23
        parts += [e, e | np.uint32(0x80000000),
                  _f32(rng, 400, sign=np.zeros(400, np.uint64)),
                  _bits(u(200) * 3.75 + 0.25), _f32(rng, 50, 250, 254), _f32(rng, 50, 1, 4)]
    else:  # gelu
        big = [1e3, 1e5, 1e10, 6.9e12, 7e12, 1e13, 1e20, 3e38, 10.0, 20.0, 40.0, 90.0,
               100.0]
        # where y becomes -0 (recip(d) flushes, about -10.001), where exp(v) overflows
        # (about -10.06), where 1 + exp(v) rounds to 1 (about 4.80)
        near = np.concatenate([e + np.linspace(-0.02, 0.02, 81)
                               for e in (-10.0011, -10.061, 4.7979)])
        parts += [_bits(u(400) * 20 - 10), _bits(u(200) * 200 - 100), _bits(big),
                  _bits(np.negative(big)), _bits(10.0 ** -u(100) * 40),
                  _bits(-(10.0 ** -u(100) * 40)), _bits(near)]
    return np.concatenate(parts).astype(np.uint32)


def golden_unary(function: str, x: np.ndarray) -> np.ndarray:
    return f32_bits(getattr(asic, function)(bits_to_f32(x)))


def _bf16(rng, n, exp_lo, exp_hi):
    e = rng.integers(exp_lo, exp_hi + 1, n).astype(np.uint32)
    return ((rng.integers(0, 2, n).astype(np.uint32) << 15) | (e << 7)
            | rng.integers(0, 128, n).astype(np.uint32)).astype(np.uint16)


def mac_columns(rng, lanes: int, n_spans: int):
    """Spans of 1..6 columns: a list of ``(w, x, last)`` (uint16 lanes) and the golden
    result of each span (uint32 bits), accumulating from +0 as ``span_dot``."""
    specials = np.array([0x0000, 0x8000, 0x0001, 0x807F, 0x7F80, 0xFF80, 0x7F81, 0xFFC1,
                         0x7F7F, 0x0080, 0x8080, 0x3F80], np.uint16)
    cols, results = [], []
    for s in range(n_spans):
        length = 1 if s < 8 else int(rng.integers(1, 7))
        acc = np.float32(0.0)
        kind = rng.choice(["normal", "normal", "cancel", "tiny", "huge", "bits", "specials"])
        for c in range(length):
            if kind == "normal":
                w, x = _bf16(rng, lanes, 110, 140), _bf16(rng, lanes, 110, 140)
            elif kind == "cancel":
                w, x = _bf16(rng, lanes, 120, 130), _bf16(rng, lanes, 120, 130)
                if lanes > 1:
                    w[1::2] = w[0::2] ^ np.uint16(0x8000)
                    x[1::2] = x[0::2]
            elif kind == "tiny":  # products near 2^-126
                w, x = _bf16(rng, lanes, 1, 127), _bf16(rng, lanes, 1, 1)
                x = (x & np.uint16(0x807F)) | (np.clip(128 - ((w >> 7) & 0xFF).astype(int)
                                                       + rng.integers(-1, 2, lanes), 1, 254)
                                               .astype(np.uint16) << 7)
            elif kind == "huge":
                w, x = _bf16(rng, lanes, 180, 254), _bf16(rng, lanes, 180, 254)
            elif kind == "bits":
                w = rng.integers(0, 1 << 16, lanes).astype(np.uint16)
                x = rng.integers(0, 1 << 16, lanes).astype(np.uint16)
            else:
                w, x = _bf16(rng, lanes, 100, 150), _bf16(rng, lanes, 100, 150)
                pick = rng.random(lanes) < 0.2
                w[pick] = rng.choice(specials, int(pick.sum()))
            acc = mac_column(acc, w, x)
            cols.append((w, x, c == length - 1))
        results.append(int(f32_bits(acc).reshape(-1)[0]))
    return cols, results


def pack_column(w, x, last, lanes: int) -> int:
    word = 0
    for n in range(lanes):
        word |= int(w[n]) << (16 * n) | int(x[n]) << (16 * (lanes + n))
    return word | int(last) << (32 * lanes)




# ------------------------------------------------------------------------------ runner


def bench_top(units: dict):
    """An Amaranth component exposing every unit of ``units`` (name -> unit) as the
    stream ports ``<name>_i`` / ``<name>_o``."""
    from amaranth.hdl import Module
    from amaranth.lib import wiring

    class BenchTop(wiring.Component):
        def __init__(self):
            members = {}
            for name, u in units.items():
                members[f"{name}_i"] = u.signature.members["i"]
                members[f"{name}_o"] = u.signature.members["o"]
            super().__init__(members)

        def elaborate(self, platform):
            m = Module()
            for name, u in units.items():
                m.submodules[name] = u
                wiring.connect(m, wiring.flipped(getattr(self, f"{name}_i")), u.i)
                wiring.connect(m, u.o, wiring.flipped(getattr(self, f"{name}_o")))
            return m

    return BenchTop()


def bench_spec(mac_lanes: Sequence[int] = MAC_LANES, seed: int = 2026) -> dict:
    """The vectors of every unit: name -> ``{"inputs", "expect", "emits", "free",
    "stalls"}`` (hex payloads; see the module docstring), seeded."""
    rng = np.random.default_rng(seed)
    units = {}
    for n, f in enumerate(ASIC_UNITS):
        if f in ("add", "mul"):
            pairs = add_mul_pairs(rng, f)
            op = fadd if f == "add" else fmul
            want = f32_bits(op(bits_to_f32(pairs[:, 0]), bits_to_f32(pairs[:, 1])))
            inputs = [int(a) | int(b) << 32 for a, b in pairs]
        else:
            x = unary_inputs(rng, f)
            want = golden_unary(f, x)
            inputs = [int(v) for v in x]
        order = rng.permutation(len(inputs))  # edge cases spread over both phases
        units[f] = {"inputs": [hex(inputs[i]) for i in order],
                    "expect": [hex(int(want[i])) for i in order],
                    "emits": list(range(len(inputs))), "free": 96,
                    "stalls": Stalls(kind="mixed", seed=11 + n).to_dict()}
    for lanes in mac_lanes:
        cols, results = mac_columns(rng, lanes, 800 if lanes > 1 else 400)
        emits = [i for i, c in enumerate(cols) if c[2]]
        units[f"mac{lanes}"] = {
            "inputs": [hex(pack_column(w, x, last, lanes)) for w, x, last in cols],
            "expect": [hex(r) for r in results], "emits": emits, "free": emits[40] + 1,
            "stalls": Stalls(kind="mixed", seed=lanes).to_dict()}
    return units


def expected_timing(name: str) -> tuple[int, int]:
    """``(latency, ii)`` of a bench unit (``add`` .. ``gelu``, ``mac<lanes>``) from
    :mod:`sparseforge.sim.pim.units`."""
    if name.startswith("mac"):
        return mac_latency(int(name[3:])), MAC_II
    unit = ASIC_UNITS[name]
    return unit.latency, unit.ii


def run_bench(build_dir: str | os.PathLike, mac_lanes: Sequence[int] = MAC_LANES,
              seed: int = 2026, simulator: str = "verilator") -> dict:
    """Build the bench top, lint it (Verilator only) and run :func:`pim_units` on it.

    Parameters
    ----------
    build_dir : path
        Build folder (kept; the Verilog, the spec, the report and the simulator build
        go there, overwritten on the next run).
    mac_lanes : sequence of int
        The MAC unit widths to build (powers of two).
    seed : int
        Seed of the random vectors.
    simulator : {"verilator", "icarus"}

    Returns
    -------
    dict
        ``units``: per unit, what the bench measured (``outputs``, ``expected``,
        ``mismatches``, ``first_mismatches``, ``latencies``, ``ii``, ``cycles``, the
        stall events seen) plus ``vectors`` (inputs), ``latency_model`` / ``ii_model``
        (:mod:`sparseforge.sim.pim.units`), ``problems`` (why it fails, in words) and
        ``passed``; ``lint`` (:meth:`LintResult.to_dict` without the log, or ``None``);
        ``failed`` (units that did not pass, plus 1 for a failed lint); ``cycles``.

    Raises
    ------
    RuntimeError
        The bench wrote no report (the simulation crashed).
    """
    from amaranth.back import verilog

    from sparseforge.hwgen.pim.asic import AsicUnit
    from sparseforge.hwgen.pim.mac import PimMacUnit
    from sparseforge.sim.lib.cocotb_runner import run_cocotb
    from sparseforge.sim.lib.verilator_lint import amaranth_waivers, lint

    build = Path(build_dir).resolve()
    build.mkdir(parents=True, exist_ok=True)
    spec_units = bench_spec(mac_lanes, seed)
    units = {f: AsicUnit(f) for f in ASIC_UNITS}
    units.update({f"mac{n}": PimMacUnit(n) for n in mac_lanes})
    source = build / "pim_bench_top.v"
    source.write_text(verilog.convert(bench_top(units), name="pim_bench_top",
                                      emit_src=False))
    linted = None
    if simulator == "verilator":
        linted = lint([source], "pim_bench_top", amaranth_waivers(source)).to_dict()
        linted.pop("log", None)
    total = sum(len(s["inputs"]) for s in spec_units.values())
    spec, report_path = build / "spec.json", build / "report.json"
    if report_path.exists():
        report_path.unlink()
    spec.write_text(json.dumps({"units": spec_units, "report": str(report_path),
                                "max_cycles": 4 * total + 2000}))
    result = run_cocotb(sources=[source], toplevel="pim_bench_top",
                        test_module="sparseforge.sim.pim.rtl_bench",
                        build_dir=build / f"sim_{simulator}", simulator=simulator,
                        extra_env={"PIM_BENCH_SPEC": str(spec)},
                        waivers=amaranth_waivers(source), build_args=["-CFLAGS", "-O0"])
    if not report_path.exists():
        raise RuntimeError(f"the PIM bench wrote no report ({result.failures} cocotb "
                           f"failures); see {result.results_xml}")
    report = json.loads(report_path.read_text())
    failed = 0
    for name, r in report["units"].items():
        latency, ii = expected_timing(name)
        problems = []
        if r["mismatches"]:
            problems.append(f"{r['mismatches']} results differ from the golden model")
        if r["outputs"] != r["expected"]:
            problems.append(f"{r['outputs']} results, {r['expected']} expected")
        if r["extra_valid_cycles"]:
            problems.append(f"{r['extra_valid_cycles']} valid cycles after the last result")
        if not (r["valid_gaps"] and r["results_held"] and r["inputs_refused"]):
            problems.append("the stalls were not all exercised")
        if r["latencies"] != [latency]:
            problems.append(f"latency {r['latencies']}, the model says {latency}")
        if r["ii"] != ii:
            problems.append(f"II {r['ii']}, the model says {ii}")
        r.update(vectors=len(spec_units[name]["inputs"]), latency_model=latency,
                 ii_model=ii, problems=problems, passed=not problems)
        failed += bool(problems)
    report["lint"] = linted
    report["failed"] = failed + int(bool(linted) and not linted["passed"])
    return report


# ------------------------------------------------------------------------------ the bench


class _Unit:
    def __init__(self, dut, name: str, spec: dict):
        self.name = name
        self.iv = getattr(dut, f"{name}_i__valid")
        self.ir = getattr(dut, f"{name}_i__ready")
        self.ip = getattr(dut, f"{name}_i__payload")
        self.ov = getattr(dut, f"{name}_o__valid")
        self.orr = getattr(dut, f"{name}_o__ready")
        self.op = getattr(dut, f"{name}_o__payload")
        self.inputs = [int(v, 16) for v in spec["inputs"]]
        self.expect = [int(v, 16) for v in spec["expect"]]
        self.emits = spec["emits"]  # input index of each output
        self.free = spec["free"]
        stalls = Stalls.of(spec["stalls"])
        self.src, self.sink = stalls.pauses(f"{name}.in"), stalls.pauses(f"{name}.out")
        self.sent = 0
        self.got: list[int] = []
        self.accept_cycle: list[int] = []
        self.out_cycle: list[int] = []
        self.stalled = False
        self.gaps = self.held = self.refused = 0  # stall events seen (stalled phase)
        self.offer = self.ready = 0

    @property
    def done(self) -> bool:
        return len(self.got) >= len(self.expect) and self.sent == len(self.inputs)

    def drive(self):
        if not self.stalled and self.sent == self.free:
            # the free phase is over: stall once its results have all left
            free_out = sum(1 for e in self.emits if e < self.free)
            self.stalled = len(self.got) >= free_out
        can = self.sent < len(self.inputs) and (self.sent < self.free or self.stalled)
        pause_in, pause_out = (next(self.src), next(self.sink)) if self.stalled \
            else (False, False)
        self.offer = int(can and not pause_in)
        self.gaps += int(can and pause_in)
        self.ready = int(not pause_out)
        self.iv.value = self.offer
        if self.offer:
            self.ip.value = self.inputs[self.sent]
        self.orr.value = self.ready

    def sample(self, cycle: int):
        if self.offer and int(self.ir.value):
            self.accept_cycle.append(cycle)
            self.sent += 1
        elif self.offer:
            self.refused += 1
        if self.ready and int(self.ov.value):
            self.got.append(int(self.op.value))
            self.out_cycle.append(cycle)
        elif int(self.ov.value):
            self.held += 1

    def report(self, extra_valid: int) -> dict:
        mism = [{"index": i, "input": hex(self.inputs[self.emits[i]]) if self.name[:3] != "mac"
                 else self.emits[i], "got": hex(g), "want": hex(w)}
                for i, (g, w) in enumerate(zip(self.got, self.expect)) if g != w]
        free_out = [i for i, e in enumerate(self.emits) if e < self.free]
        lat = sorted({self.out_cycle[i] - self.accept_cycle[self.emits[i]] for i in free_out})
        gaps = [b - a for a, b in zip(self.accept_cycle[:self.free - 1],
                                      self.accept_cycle[1:self.free])]
        return {"outputs": len(self.got), "expected": len(self.expect),
                "mismatches": len(mism), "first_mismatches": mism[:8],
                "latencies": lat, "ii": max(gaps) if gaps else None,
                "extra_valid_cycles": extra_valid, "valid_gaps": self.gaps,
                "results_held": self.held, "inputs_refused": self.refused,
                "cycles": (self.out_cycle[-1] - self.accept_cycle[0] + 1) if self.got else 0}


async def pim_units(dut):
    """Every unit of the spec: bit-exact against golden, latency / II measured
    (the report goes to the spec's ``report`` file)."""
    from sparseforge.sim.lib.cocotb_reset import start_clock_and_reset

    spec = json.loads(Path(os.environ["PIM_BENCH_SPEC"]).read_text())
    units = [_Unit(dut, name, s) for name, s in spec["units"].items()]
    idle = tuple(f"{u.name}_{p}" for u in units for p in ("i__valid", "o__ready"))
    await start_clock_and_reset(dut, idle)
    cycle, limit = 0, spec["max_cycles"]
    while not all(u.done for u in units) and cycle < limit:
        for u in units:
            u.drive()
        await ReadOnly()
        for u in units:
            u.sample(cycle)
        await RisingEdge(dut.clk)
        cycle += 1
    # no result may follow the last one expected
    extra = {u.name: 0 for u in units}
    for u in units:
        u.iv.value = 0
        u.orr.value = 1
    for _ in range(64):
        await ReadOnly()
        for u in units:
            extra[u.name] += int(u.ov.value)
        await RisingEdge(dut.clk)
    Path(spec["report"]).write_text(json.dumps(
        {"cycles": cycle, "units": {u.name: u.report(extra[u.name]) for u in units}}, indent=1))


if cocotb is not None:
    pim_units = cocotb.test()(pim_units)
