"""The kernel cycle model on configurations sampled across SatConfig's validated space.

Fast: the sampler's space is the validator's (every bound accepted, one step past it
refused) and the sampler reaches every corner.  Slow: the kernel of each of a few
sampled configurations (seeded; ``SPARSEFORGE_MODEL_SEED`` picks others) runs
:func:`~sparseforge.sim.sat.model_check.model_runs` bit-exact, and its ``CYCLES``
register agrees with :func:`~sparseforge.sim.sat.kernel_perf.list_cycles`:

* memory always ready: within ``max(2 %, 3 cycles)``;
* memory stalling (``Stalls()``: random and bursty pauses on every AXI channel, duty
  0.25): never faster than the same list without stalls, and at most 30 % above the
  model of a stalled port (``MemoryPort.stalled(0.25)``: rates and handshakes 1/0.75
  as slow) — bursts of stalls cost short commands more than their average, see
  ``docs/designs/sat_kernel.md``.

The sweep of ``benchmarks/sat_kernel_model_sweep.py`` (``docs/benchmarks.md``) runs
the same check on 24 configurations.
"""

import os

import numpy as np
import pytest

from sparseforge.errors import ConfigError
from sparseforge.families.sat.config import SatConfig
from sparseforge.sim.sat.model_check import SPACE, config_id, sample_config, sample_configs

#: Agreement asked of every command list with the memory always ready.
TOLERANCE, TOLERANCE_CYCLES = 0.02, 3
#: Under the default stalls: at most this much above the model of a stalled port.
STALL_BOUND = 1.30

CI_SEED = int(os.environ.get("SPARSEFORGE_MODEL_SEED", "25"))


def _accepts(**values) -> bool:
    try:
        SatConfig(**values)
    except ConfigError:
        return False
    return True


def test_space_is_what_the_validator_accepts():
    for name, spec in SPACE.items():
        if name in ("n", "acc_bits"):
            continue  # bounds that depend on another field: below
        ctx = {"n": 1} if name == "m" else {}  # the default n = 2 needs m > 2
        if spec[0] == "choice":
            values = spec[1]
            assert all(_accepts(**{name: v}, **ctx) for v in values), name
            gaps = [v + 1 for v in values if v + 1 not in values]
            for bad in (min(values) - 1, max(values) * 2, *gaps):
                assert not _accepts(**{name: bad}, **ctx), (name, bad)
        else:
            _, low, high = spec
            assert _accepts(**{name: low}) and _accepts(**{name: high}), name
            assert not _accepts(**{name: low - 1}) and not _accepts(**{name: high + 1}), name
    for m in SPACE["m"][1]:  # n: 1 .. m - 1
        assert _accepts(m=m, n=1) and _accepts(m=m, n=m - 1)
        assert not _accepts(m=m, n=0) and not _accepts(m=m, n=m)
    for width in SPACE["width"][1]:  # acc_bits: 2 * width .. 48
        assert _accepts(width=width, acc_bits=2 * width) and _accepts(width=width, acc_bits=48)
        assert not _accepts(width=width, acc_bits=2 * width - 1)
        assert not _accepts(width=width, acc_bits=49)
    assert not _accepts(rows=3, drain_rows=2) and _accepts(rows=64, drain_rows=2)


def test_sampler_reaches_every_corner_and_repeats():
    rng = np.random.default_rng(0)
    cfgs = [sample_config(rng, max_array=64, max_multipliers=1 << 20) for _ in range(400)]
    seen = {name: {getattr(c, name) for c in cfgs} for name in SPACE}
    for name, spec in SPACE.items():
        if spec[0] == "choice":
            assert seen[name] == set(spec[1]), name
    for name in ("rows", "cols", "steps_bits", "fifo_rows"):
        assert {SPACE[name][1], SPACE[name][2]} <= seen[name], name
    assert {c.n for c in cfgs if c.m == 16} >= {1, 15}
    assert {c.acc_bits for c in cfgs if c.width == 16} >= {32, 48}
    assert [config_id(c) for c in sample_configs(5, 3)] == \
        [config_id(c) for c in sample_configs(5, 3)]
    small = sample_configs(50, 1, max_array=8, max_multipliers=32)
    assert all(c.rows <= 8 and c.cols <= 8 and c.multipliers <= 32 for c in small)


CI_CONFIGS = sample_configs(2, CI_SEED, max_multipliers=16)  # small: build time


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(CI_CONFIGS)),
                         ids=[config_id(c) for c in CI_CONFIGS])
def test_kernel_cycles_match_the_model_on_sampled_configs(index, tmp_path):
    from sparseforge.sim.lib.stalls import Stalls
    from sparseforge.sim.sat.kernel_perf import MemoryPort
    from sparseforge.sim.sat.model_check import compare, model_runs
    from sparseforge.sim.sat.verify import run_kernel_runs, with_stalls

    cfg = CI_CONFIGS[index]
    runs = model_runs(cfg, seed=CI_SEED * 100 + index)
    stalls = Stalls()
    every = with_stalls(runs, stalls, seed=index)
    report = run_kernel_runs(cfg, tmp_path, every, lint=False)
    free = compare(cfg, runs, report)
    stalled = compare(cfg, every[len(runs):], report, MemoryPort.stalled(stalls.duty))
    print(f"seed {CI_SEED}, {config_id(cfg)}:")
    for f, s in zip(free, stalled):
        print(f"  {f['id']:14} {f['cycles']:6} cycles, model {f['model']:8.1f}; stalled "
              f"{s['cycles']:6}, stalled model {s['model']:8.1f}")
    for f, s in zip(free, stalled):
        assert f["passed"] and s["passed"], (f, s)  # bit-exact, status 0
        assert abs(f["error"]) <= max(TOLERANCE * f["model"], TOLERANCE_CYCLES), f
        assert s["cycles"] >= f["cycles"], (f, s)  # stalls only slow the kernel down
        assert s["cycles"] <= STALL_BOUND * s["model"], s
    assert sum(s["cycles"] for s in stalled) > 1.05 * sum(f["cycles"] for f in free)


def test_model_pieces_measured_on_rtl_traces():
    """The timings the model takes from the RTL, as read off Verilator traces of the
    kernel (AXI handshakes per cycle) on sampled configurations."""
    from sparseforge.families.sat.contract import ReadChunk
    from sparseforge.sim.sat.kernel_perf import read_cycles, serialiser_cycles

    # a 3-word result beat leaves the serialiser in 4 cycles (one bubble per record)
    assert [serialiser_cycles(n) for n in (1, 2, 3)] == [1, 3, 4]
    # 8x1 3:4 int16, 256-bit, max_burst 2: one-step chunks of an A request (2 words, one
    # burst) and a B request (1 word): the reader takes each in two cycles, 4 a step
    one = ReadChunk.of(1)
    assert one.depth == 2
    assert read_cycles(10, (2, 1), one, 1, max_burst=2) == 40
    # 1x2 1:8 int16, 128-bit, max_burst 2: one dense record (2 words) a request, two in
    # the FIFO, consumed in C = 2 cycles: the credit loop, (3 + 2 + 2) / 2 a record
    assert read_cycles(10, (2,), one, 2, max_burst=2) == 35
    # long chunks are read-bound: words over the rate, stalls stretching the rest
    assert read_cycles(64, (2, 1), ReadChunk.of(32), 1, max_burst=64) == 192
    assert read_cycles(64, (2, 1), ReadChunk.of(32), 1, 64, rate=0.75) == 256
