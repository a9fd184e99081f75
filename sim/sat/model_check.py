"""The SAT kernel's cycle model against its RTL, on configurations sampled across the
whole validated space.

:func:`sample_configs` draws seeded :class:`~sparseforge.families.sat.config.SatConfig` s from
:data:`SPACE` — every field, its corners drawn on purpose (a third of the draws
take the field's minimum, a third its maximum); the array is capped at
``max_array`` rows and columns for simulation speed (the space itself goes to 64).
:func:`model_runs` builds command lists for one configuration (a one-tile GEMM, GEMMs
of every op over several tiles, weight generations of both directions and a mixed
list); :func:`compare` sets the kernel's ``CYCLES`` of each run beside
:func:`~sparseforge.sim.sat.kernel_perf.list_cycles`.  Used by
``tests/sat/test_sat_model_space.py`` (a few configurations per CI run) and
``benchmarks/sat_kernel_model_sweep.py`` (the sweep of ``docs/benchmarks.md``).
"""

from __future__ import annotations

import numpy as np

from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import DESC_BYTES, Descriptor

__all__ = ["SPACE", "compare", "config_id", "descriptors_of", "model_runs", "sample_config",
           "sample_configs"]

#: The validated space of :class:`SatConfig` (what ``SatConfig.validate`` accepts),
#: per field: ``("range", low, high)`` (inclusive) or ``("choice", values)``.
#: ``n`` is ``1 .. m - 1`` and ``acc_bits`` ``2·width .. 48``; ``drain_rows = 2``
#: needs an even ``rows``.  ``tests/sat/test_sat_model_space.py`` checks this table
#: against the validator: every bound is accepted, one step past it is refused.
SPACE: dict[str, tuple] = {
    "rows": ("range", 1, 64),
    "cols": ("range", 1, 64),
    "m": ("choice", (2, 4, 8, 16)),
    "n": ("range", 1, "m - 1"),
    "width": ("choice", (8, 16)),
    "acc_bits": ("range", "2 * width", 48),
    "steps_bits": ("range", 8, 24),
    "fifo_rows": ("range", 2, 64),
    "drain_rows": ("choice", (1, 2)),
    "axi_data_bits": ("choice", (128, 256, 512)),
    "max_burst": ("choice", (2, 4, 8, 16, 32, 64, 128, 256)),
}


def _pick(rng: np.random.Generator, low: int, high: int) -> int:
    """The minimum, the maximum or a uniform draw, a third each."""
    corner = rng.integers(3)
    if corner == 0 or low == high:
        return low
    if corner == 1:
        return high
    return int(rng.integers(low, high + 1))


def sample_config(rng: np.random.Generator, max_array: int = 8, max_multipliers: int = 64,
                  kernel_name: str = "sat_kernel") -> SatConfig:
    """One configuration drawn from :data:`SPACE`, rows and cols capped at ``max_array``
    and ``rows·cols·n`` at ``max_multipliers`` (redrawn until it fits: build time)."""
    while True:
        cfg = _draw_config(rng, max_array, kernel_name)
        if cfg.multipliers <= max_multipliers:
            return cfg


def _draw_config(rng: np.random.Generator, max_array: int, kernel_name: str) -> SatConfig:
    v: dict = {}
    v["m"] = int(rng.choice(SPACE["m"][1]))
    v["n"] = _pick(rng, 1, v["m"] - 1)
    v["width"] = int(rng.choice(SPACE["width"][1]))
    v["acc_bits"] = _pick(rng, 2 * v["width"], 48)
    v["drain_rows"] = int(rng.choice(SPACE["drain_rows"][1]))
    for name in ("rows", "cols"):
        v[name] = _pick(rng, 1, min(max_array, SPACE[name][2]))
    if v["drain_rows"] == 2 and v["rows"] % 2:
        v["rows"] = v["rows"] + 1 if v["rows"] < max_array else v["rows"] - 1
        if v["rows"] == 0:
            v["rows"] = 2
    for name in ("steps_bits", "fifo_rows"):
        v[name] = _pick(rng, SPACE[name][1], SPACE[name][2])
    for name in ("axi_data_bits", "max_burst"):
        v[name] = int(rng.choice(SPACE[name][1]))
    return SatConfig(**v, kernel_name=kernel_name)


def sample_configs(count: int, seed: int = 0, max_array: int = 8,
                   max_multipliers: int = 64) -> list[SatConfig]:
    """``count`` configurations from one seed (deterministic)."""
    rng = np.random.default_rng(seed)
    return [sample_config(rng, max_array, max_multipliers) for _ in range(count)]


def config_id(cfg: SatConfig) -> str:
    """A short readable name: ``4x4-2of8-w8-a32-d1-128b-mb64-s16-f4``."""
    return (f"{cfg.rows}x{cfg.cols}-{cfg.n}of{cfg.m}-w{cfg.width}-a{cfg.acc_bits}"
            f"-d{cfg.drain_rows}-{cfg.axi_data_bits}b-mb{cfg.max_burst}"
            f"-s{cfg.steps_bits}-f{cfg.fifo_rows}")


def _k_max(cfg: SatConfig, want: int) -> int:
    """A reduction length of at most ``want`` whose dense steps fit ``steps_bits``."""
    return max(1, min(want, cfg.max_steps * cfg.n))


def model_runs(cfg: SatConfig, seed: int = 0, size: str = "small") -> list[dict]:
    """Command lists (kernel bench runs) that exercise every part of the model.

    ``size`` ``"small"`` (a CI test: about 3 k cycles a configuration) or ``"large"``
    (the benchmark: also longer GEMMs, 10-30 k cycles).
    """
    rng = np.random.default_rng(seed)
    R, C, M = cfg.rows, cfg.cols, cfg.m
    big = size == "large"

    def gemm(vid, mode, mg, k, ng):
        return {"id": vid, "mode": mode, "kind": "random", "mg": int(mg),
                "k": _k_max(cfg, int(k)), "ng": int(ng), "seed": int(rng.integers(1 << 30))}

    def wgen(vid, mode, rows, cols):
        return {"id": vid, "mode": mode, "kind": "random", "rows": int(rows),
                "cols": int(cols), "seed": int(rng.integers(1 << 30))}

    one = gemm("one-tile", "ff", rng.integers(1, R + 1), rng.integers(1, 2 * M + 1),
               rng.integers(1, C + 1))
    scale = 3 if big else 1
    gemms = [gemm(f"{mode}-tiles", mode, rng.integers(R + 1, (2 + scale) * R + 2),
                  rng.integers(2 * M, (12 + 30 * big) * M),
                  rng.integers(C + 1, (2 + scale) * C + 2))
             for mode in ("ff", "bp", "wu")]
    wgens = [wgen(f"{mode}-big", mode, rng.integers(C + 1, (3 + 3 * big) * C + 2),
                  rng.integers(2 * M, (6 + 10 * big) * M)) for mode in ("wgen_row", "wgen_col")]
    small = [gemm(f"short-{i}", mode, rng.integers(1, 2 * R + 1), rng.integers(1, 3 * M + 1),
                  rng.integers(1, 2 * C + 1)) for i, mode in enumerate(("bp", "wu"))]
    runs = [{"id": v["id"], "vectors": [v]} for v in (one, *gemms, *wgens)]
    runs.append({"id": "list", "vectors": [*small, wgens[0], gemms[0], one]})
    if big:
        runs.append({"id": "long-wu", "vectors": [gemm("long-wu", "wu", 4 * R, 300, 4 * C)]})
    return runs


def descriptors_of(cfg: SatConfig, run: dict) -> list[Descriptor]:
    """The descriptors the kernel bench writes for ``run``."""
    from sparseforge.sim.sat.kernel_bench import layout_run

    image, jobs, base = layout_run(cfg, run["vectors"], run.get("base", 0x1000))
    raw = dict(image)[base]
    return [Descriptor.unpack(raw[i * DESC_BYTES:(i + 1) * DESC_BYTES])
            for i in range(len(jobs))]


def compare(cfg: SatConfig, runs: list[dict], report: dict, port=None) -> list[dict]:
    """Per run: ``{"id", "commands", "cycles", "model", "error"}`` (error = cycles - model,
    in cycles) from the kernel bench ``report``; ``port``: the memory port of the model
    (:class:`~sparseforge.sim.sat.kernel_perf.MemoryPort`, default one word a cycle)."""
    from sparseforge.sim.sat.kernel_perf import list_cycles

    by_id = {r["id"]: r for r in report["runs"]}
    out = []
    for run in runs:
        got = by_id[run["id"]]
        descs = descriptors_of(cfg, run)
        model = list_cycles(cfg, descs, port)
        out.append({"id": run["id"], "commands": len(descs), "cycles": got["cycles"],
                    "model": model, "error": got["cycles"] - model,
                    "passed": got["passed"], "duty": got.get("duty", 0.0)})
    return out
