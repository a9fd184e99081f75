"""SAT engine RTL: emitted Verilog, payload layouts, and the Verilator regression.

The regression (slow) runs every mode (ff / bp / wu) x kind (random / extreme / ties)
on shapes that are not tile multiples, for 2:4, 2:8 and 1:4 configurations, and
asserts bit-exact results and cycles equal to the cycle model on every vector; then
every vector again under seeded random and bursty stalls on the data source and the
result sink (``sparseforge.sim.lib.stalls``): bit-exact, and never faster than the model.
"""

import numpy as np
import pytest

pytest.importorskip("amaranth")
from amaranth.lib import data

from sparseforge.errors import ConfigError
from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.schedule import (
    data_beat_bits,
    pack_cmd,
    pack_data_beats,
    pack_dense_group,
    plan_gemm,
    unpack_compressed_group,
    unpack_result_beat,
)
from sparseforge.hwgen.sat.emit import engine_verilog, weight_gen_verilog
from sparseforge.hwgen.sat.engine import cmd_layout, data_layout, result_layout


def test_emission_is_deterministic():
    cfg = SatConfig(rows=2, cols=2, n=1, m=4)
    assert engine_verilog(cfg) == engine_verilog(SatConfig(rows=2, cols=2, n=1, m=4))
    assert weight_gen_verilog(cfg) == weight_gen_verilog(cfg)
    assert "module sat_engine(" in engine_verilog(cfg)


def test_packing_agrees_with_the_amaranth_layouts():
    cfg = SatConfig(rows=3, cols=2, n=2, m=8, width=8)
    layout = data_layout(cfg)
    assert layout.size == data_beat_bits(cfg)
    rng = np.random.default_rng(0)
    a, b = rng.integers(-128, 128, (3, 16)), rng.integers(-128, 128, (16, 2))
    tile = plan_gemm(cfg, a, b, sparse=True).tiles[0]
    for step, word in enumerate(pack_data_beats(cfg, tile)):
        view = data.Const(layout, word)  # decode the integer with Amaranth's own layout
        for i in range(cfg.rows):
            assert [view.a[i][k] for k in range(cfg.m)] == tile.a[step, i].tolist()
        for j in range(cfg.cols):
            assert [view.b[j].w[k] for k in range(cfg.n)] == tile.w[step, j].tolist()
            assert [view.b[j].idx[k] for k in range(cfg.n)] == tile.idx[step, j].tolist()
    cmd = data.Const(cmd_layout(cfg), pack_cmd(cfg, True, 77))
    assert (cmd.sparse, cmd.steps) == (1, 77)
    beat = data.Const(result_layout(cfg), (5 << cfg.acc_bits) | ((1 << cfg.acc_bits) - 3))
    assert unpack_result_beat(cfg, beat.as_value().value) == [[beat[0][0], beat[0][1]]]
    assert unpack_result_beat(cfg, beat.as_value().value) == [[-3, 5]]
    two = SatConfig(rows=4, cols=2, drain_rows=2)
    word = (7 << (3 * two.acc_bits)) | (1 << two.acc_bits)
    beat = data.Const(result_layout(two), word)
    assert unpack_result_beat(two, word) == [[beat[r][j] for j in range(2)] for r in range(2)]
    assert unpack_result_beat(two, word) == [[0, 1], [0, 7]]


def test_weight_generator_packing_agrees_with_the_amaranth_layouts():
    from amaranth import signed

    from sparseforge.hwgen.sat.topn import compressed_layout

    cfg = SatConfig(n=3, m=8)
    group = [-128, 127, 0, -1, 5, -6, 7, 1]
    view = data.Const(data.ArrayLayout(signed(cfg.width), cfg.m), pack_dense_group(cfg, group))
    assert [view[i] for i in range(cfg.m)] == group
    layout = compressed_layout(cfg.n, cfg.m, cfg.width)
    word = (0b101_011_000 << (cfg.n * cfg.width)) | (0x80 << 16) | (0x7F << 8) | 0xFF
    view = data.Const(layout, word)
    values, indices = unpack_compressed_group(cfg, word)
    assert values == [view.values[s] for s in range(cfg.n)] == [-1, 127, -128]
    assert indices == [view.idx[s] for s in range(cfg.n)] == [0, 3, 5]


@pytest.mark.parametrize(("field", "value", "fragment"), [
    ("rows", 0, "rows = 0 is out of range; allowed: 1 to 64"),
    ("n", 8, "n = 8 is out of range for m = 8"),
    ("m", 6, "m = 6 is not allowed"),
    ("m", 32, "m = 32 is not allowed"),
    ("width", 12, "width = 12 is not allowed"),
    ("acc_bits", 12, "acc_bits = 12 is out of range; allowed: 16 to 48"),
    ("name", "top; rm -rf", "not a valid identifier"),
    ("drain_rows", 3, "drain_rows = 3 is not allowed"),
])
def test_bad_config(field, value, fragment):
    with pytest.raises(ConfigError, match=fragment):
        SatConfig(**{field: value})


def test_plan_rejects_bad_operands():
    cfg = SatConfig(rows=2, cols=2, steps_bits=8)
    with pytest.raises(ValueError, match="outside -128..127"):
        plan_gemm(cfg, np.full((2, 4), 200), np.ones((4, 2), int), True)
    with pytest.raises(ValueError, match="expected A\\[Mg, K\\] and B\\[K, Ng\\]"):
        plan_gemm(cfg, np.ones((2, 4), int), np.ones((5, 2), int), True)
    with pytest.raises(ValueError, match="at most 255"):
        plan_gemm(cfg, np.ones((1, 600), int), np.ones((600, 1), int), False)


CONFIGS = [
    SatConfig(rows=2, cols=3, n=2, m=4, acc_bits=20),
    SatConfig(rows=3, cols=2, n=2, m=8, acc_bits=24),
    SatConfig(rows=2, cols=2, n=1, m=4, width=16, acc_bits=40),
    SatConfig(rows=8, cols=2, n=2, m=8, acc_bits=24, drain_rows=2),  # pairs interleave
]


@pytest.mark.slow
@pytest.mark.parametrize("cfg", CONFIGS,
                         ids=lambda c: f"{c.rows}x{c.cols}-{c.n}of{c.m}-w{c.width}-d{c.drain_rows}")
def test_verilator_regression_bit_exact_and_cycle_exact(cfg, tmp_path):
    from sparseforge.sim.sat.verify import run_regression

    report = run_regression(cfg, tmp_path)  # every vector, then again under stalls
    assert len(report["vectors"]) == 30
    for vec in report["vectors"]:
        assert vec["mismatches"] == 0, vec
        if "stalls" in vec:  # back-pressure on data and results only slows it down
            assert vec["cycles"] >= vec["model_cycles"], vec
        else:
            assert vec["cycles"] == vec["model_cycles"], vec
    stalled = [v for v in report["vectors"] if "stalls" in v]
    assert len(stalled) == 15  # the pauses happen: most vectors and the total run longer
    assert sum(v["cycles"] > v["model_cycles"] for v in stalled) >= 8
    assert sum(v["cycles"] for v in stalled) > 1.1 * sum(v["model_cycles"] for v in stalled)
    assert {v["mode"] for v in report["vectors"]} == {"ff", "bp", "wu"}
    assert report["failed"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("cfg", CONFIGS[:3], ids=lambda c: f"{c.n}of{c.m}-w{c.width}")
def test_verilator_weight_generator_matches_golden(cfg, tmp_path):
    from sparseforge.sim.sat.verify import run_wgen_regression

    report = run_wgen_regression(cfg, tmp_path)
    assert len(report["cases"]) == 4
    for case in report["cases"]:
        assert case["mismatches"] == 0, case
        if not case["stall"]:  # one group per cycle (+ one M-beat block to fill, column-wise)
            assert case["cycles"] <= case["groups"] + (cfg.m + 1 if case["colwise"] else 1)
        else:  # seeded random and bursty pauses on the input valid and the output ready
            assert case["cycles"] > case["groups"] * 1.2


def test_odd_rows_cannot_drain_two():
    with pytest.raises(ConfigError, match="drain_rows = 2 needs an even rows; got rows = 3"):
        SatConfig(rows=3, drain_rows=2)


@pytest.mark.slow
def test_icarus_regression_when_installed(tmp_path):
    import shutil

    if shutil.which("iverilog") is None:
        pytest.skip("iverilog is not on PATH (optional second simulator)")
    from sparseforge.sim.sat.verify import run_regression, run_wgen_regression

    cfg = CONFIGS[0]
    report = run_regression(cfg, tmp_path, simulator="icarus")
    assert report["failed"] == 0 and report["passed"] == 15
    assert all(v["cycles"] == v["model_cycles"] for v in report["vectors"])
    assert run_wgen_regression(cfg, tmp_path, simulator="icarus")["failed"] == 0
