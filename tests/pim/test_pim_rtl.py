"""PIM datapath RTL (``hwgen/pim``): bit-exact with the golden functions, timing as
``sim/pim/units.py``.

The slow test builds one Verilator model holding every unit (FP32 add and multiply,
exp, recip, rsqrt, gelu, the MAC unit at 16, 2 and 1 lanes) and runs the bench of
``sim/pim/rtl_bench.py`` on it (the one ``sparseforge verify pimgpt`` runs): edge
cases and random values, a free phase that measures latency and II, then seeded
random / bursty valid gaps and ready back-pressure.  The expected bits come from
``sim/pim/fp.py``, ``sim/pim/mac.py`` and ``sim/pimgpt/asic.py``, never from the RTL.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sparseforge.sim.pim.fp import bf16_mul, bits_to_f32, f32_bits, fadd, fmul
from sparseforge.sim.pim.rtl_bench import (
    MAC_LANES,
    _bits,
    add_mul_pairs,
    exp_ties,
    golden_unary,
    mac_columns,
    mul_ties,
    unary_inputs,
)
from sparseforge.sim.pim.units import ASIC_UNITS, MAC_II, Unit, mac_latency
from sparseforge.sim.pimgpt import asic

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
    ties = exp_ties()
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


@pytest.mark.slow
def test_verilator_units_bit_exact_and_timed(tmp_path):
    pytest.importorskip("amaranth")
    pytest.importorskip("cocotb")
    from sparseforge.sim.pim.rtl_bench import run_bench

    report = run_bench(tmp_path, MAC_LANES, seed=2026)
    assert report["lint"]["passed"], report["lint"]["unwaived"]
    assert set(report["units"]) == {*ASIC_UNITS, *(f"mac{n}" for n in MAC_LANES)}
    latency = {**{f: ASIC_UNITS[f].latency for f in ASIC_UNITS},
               **{f"mac{n}": mac_latency(n) for n in MAC_LANES}}
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
    assert report["failed"] == 0 and all(r["passed"] for r in report["units"].values())
