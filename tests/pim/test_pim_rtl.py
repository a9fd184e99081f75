"""PIM datapath RTL (``hwgen/pim``): bit-exact with the golden functions, timing as
``sim/pim/units.py``.

The slow test builds one Verilator model holding every unit (FP32 add and multiply,
exp, recip, rsqrt, gelu, the MAC unit at 16 and 2 lanes) and runs
``pim_bench.py`` on it: edge cases and random values, a free phase that measures
latency and II, then seeded random / bursty valid gaps and ready back-pressure.  The
expected bits come from ``sim/pim/fp.py``, ``sim/pim/mac.py`` and
``sim/pimgpt/asic.py``, never from the RTL.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sparseforge.sim.pim.fp import bf16_mul, bits_to_f32, f32_bits, fadd, fmul
from sparseforge.sim.pim.mac import mac_column
from sparseforge.sim.pim.units import ASIC_UNITS, MAC_II, Unit, mac_latency
from sparseforge.sim.pimgpt import asic

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


def _exp_ties() -> np.ndarray:
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
        parts += [_bits(u(600) * 220 - 110), _bits(near), _exp_ties(),
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


# ------------------------------------------------------------------------------ fast tests


def test_units_table():
    assert set(ASIC_UNITS) == {"add", "mul", "exp", "recip", "rsqrt", "gelu"}
    assert all(u.ii == 1 for u in ASIC_UNITS.values()) and MAC_II == 1
    assert [mac_latency(n) for n in (1, 2, 16, 64)] == [2, 3, 6, 8]
    assert Unit(latency=5, ii=1).cycles(10) == 14
    for bad in (0, 3, 12, -4, 2.0, True):
        with pytest.raises(ValueError, match="lanes"):
            mac_latency(bad)
    with pytest.raises(ValueError, match="latency"):
        Unit(latency=0, ii=1)


def test_golden_vectors_hit_the_edges():
    """The vector sets exercise what the bench is meant to (checked on the golden side)."""
    rng = np.random.default_rng(1)
    pairs = add_mul_pairs(rng, "mul")
    a, b = bits_to_f32(pairs[:, 0]), bits_to_f32(pairs[:, 1])
    with np.errstate(invalid="ignore", over="ignore"):
        exact = np.abs(a.astype(np.float64) * b.astype(np.float64))
    finite = np.isfinite(exact)
    assert np.count_nonzero(finite & (exact < 2.0 ** -126) & (exact > 2.0 ** -127)) > 20
    assert np.count_nonzero(f32_bits(fmul(a, b)) == 0x00800000) > 3  # rounded up to min
    assert len(mul_ties(rng)) >= 300
    ties = _exp_ties()
    assert len(ties) > 100
    pairs = add_mul_pairs(rng, "add")
    s = f32_bits(fadd(bits_to_f32(pairs[:, 0]), bits_to_f32(pairs[:, 1])))
    assert np.count_nonzero(s == 0) > 50 and np.count_nonzero(s == 0x7F800000) > 5
    x = unary_inputs(rng, "gelu")
    y = golden_unary("gelu", x)
    xf = bits_to_f32(x)
    r1 = asic.recip(np.float32(1.0))
    assert np.count_nonzero(y == 0x80000000) > 100            # very negative x: -0
    for v in (-1e10, -3e38, -100.0):
        assert golden_unary("gelu", _bits([v]))[0] == 0x80000000
    pos = np.isfinite(xf) & (xf > 5)
    assert np.count_nonzero(pos) > 50                          # large x: x * recip(1)
    assert np.array_equal(y[pos], f32_bits(fmul(xf[pos], r1)))
    cols, _ = mac_columns(rng, 16, 40)
    prods = f32_bits(bf16_mul(np.array([c[0] for c in cols]), np.array([c[1] for c in cols])))
    assert np.count_nonzero((prods & 0x7FFFFFFF) == 0) > 50


@pytest.mark.filterwarnings("ignore:.*created but never used")  # the refused units
def test_rtl_rejects_bad_parameters():
    pytest.importorskip("amaranth")
    from sparseforge.hwgen.pim.asic import AsicUnit
    from sparseforge.hwgen.pim.emit import asic_verilog, unit_verilog
    from sparseforge.hwgen.pim.mac import PimMacUnit

    with pytest.raises(ValueError, match="allowed"):
        AsicUnit("tanh")
    with pytest.raises(ValueError, match="power of two"):
        PimMacUnit(12)
    with pytest.raises(ValueError, match="identifier"):
        asic_verilog("exp", name="bad name")
    with pytest.raises(ValueError, match="unit"):
        unit_verilog("mac")
    assert asic_verilog("add") == asic_verilog("add")  # deterministic


# ------------------------------------------------------------------------------ the bench


def _bench_top(units):
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


@pytest.mark.slow
def test_verilator_units_bit_exact_and_timed(tmp_path):
    pytest.importorskip("amaranth")
    pytest.importorskip("cocotb")
    from amaranth.back import verilog

    from sparseforge.hwgen.pim.asic import AsicUnit
    from sparseforge.hwgen.pim.mac import PimMacUnit
    from sparseforge.sim.lib.cocotb_runner import run_cocotb
    from sparseforge.sim.lib.stalls import Stalls
    from sparseforge.sim.lib.verilator_lint import amaranth_waivers, lint

    rng = np.random.default_rng(2026)
    spec_units, latency = {}, {}
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
        inputs = [inputs[i] for i in order]
        spec_units[f] = {"inputs": [hex(v) for v in inputs],
                         "expect": [hex(int(want[i])) for i in order],
                         "emits": list(range(len(inputs))), "free": 96,
                         "stalls": Stalls(kind="mixed", seed=11 + n).to_dict()}
        latency[f] = ASIC_UNITS[f].latency
    for lanes in MAC_LANES:
        cols, results = mac_columns(rng, lanes, 800 if lanes > 1 else 400)
        emits = [i for i, c in enumerate(cols) if c[2]]
        spec_units[f"mac{lanes}"] = {
            "inputs": [hex(pack_column(w, x, last, lanes)) for w, x, last in cols],
            "expect": [hex(r) for r in results], "emits": emits, "free": emits[40] + 1,
            "stalls": Stalls(kind="mixed", seed=lanes).to_dict()}
        latency[f"mac{lanes}"] = mac_latency(lanes)

    units = {f: AsicUnit(f) for f in ASIC_UNITS}
    units.update({f"mac{n}": PimMacUnit(n) for n in MAC_LANES})
    source = tmp_path / "pim_bench_top.v"
    source.write_text(verilog.convert(_bench_top(units), name="pim_bench_top",
                                      emit_src=False))
    linted = lint([source], "pim_bench_top", amaranth_waivers(source))
    assert linted.passed, linted.to_dict()["unwaived"]
    total = sum(len(s["inputs"]) for s in spec_units.values())
    spec = tmp_path / "spec.json"
    report_path = tmp_path / "report.json"
    spec.write_text(json.dumps({"units": spec_units, "report": str(report_path),
                                "max_cycles": 4 * total + 2000}))
    run_cocotb(sources=[source], toplevel="pim_bench_top", test_module="pim_bench",
               build_dir=tmp_path / "sim", extra_env={"PIM_BENCH_SPEC": str(spec)},
               waivers=amaranth_waivers(source), build_args=["-CFLAGS", "-O0"])
    report = json.loads(report_path.read_text())
    for name, r in report["units"].items():  # the measured figures (pytest -s)
        print(f"{name}: {r['outputs']} results, latency {r['latencies']}, ii {r['ii']}, "
              f"{r['cycles']} cycles; stalls: {r['valid_gaps']} valid gaps, "
              f"{r['results_held']} results held, {r['inputs_refused']} inputs refused")
    problems = []
    for name, r in report["units"].items():
        if r["mismatches"] or r["outputs"] != r["expected"] or r["extra_valid_cycles"]:
            problems.append((name, r))
        if not (r["valid_gaps"] and r["results_held"] and r["inputs_refused"]):
            problems.append((name, {"stalls not exercised": r}))
        if r["latencies"] != [latency[name]] or r["ii"] != 1:
            problems.append((name, {"latencies": r["latencies"], "ii": r["ii"],
                                    "want": latency[name]}))
    assert not problems, json.dumps(problems, indent=1)
