"""C-simulation data of an emitted Edge-MoE project (``make csim-data``, ``make csim``).

The project's testbench runs as ``tb DATA top``: it reads every buffer of the top
function from ``DATA/<name>.bin`` (raw values as little-endian int64, the layout of
:func:`~sparseforge.sim.edgemoe.csim.top_inputs`) and writes the buffers the kernel
wrote to ``DATA/<name>_after.bin``.  :func:`write_data` writes those inputs for a
seeded random image and seeded random weights of the config, the golden model's
features for them (``expected_features.bin``) and, last, ``inputs.json`` (what was
written; ``make`` and ``run_hls.tcl`` look for it).  :func:`check_data` compares the
kernel's features with the golden ones after a Vitis HLS C-sim or co-sim.

Command line (the project's Makefile)::

    python -m sparseforge.sim.edgemoe.csim_data write config.json build/csim_data [--seed S]
    python -m sparseforge.sim.edgemoe.csim_data check config.json build/csim_data

Size: every buffer as int64, e.g. 292 MB for the default config (the weights buffer
once per weight port); :func:`data_bytes` says how much before anything is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from sparseforge.errors import ConfigError, SparseforgeError
from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.families.edgemoe.contract import top_args

__all__ = ["EXPECTED", "MANIFEST", "check_data", "data_bytes", "main", "read_config",
           "write_data"]

#: Written last by :func:`write_data`: the seed, the task and every file with its length.
MANIFEST = "inputs.json"
#: The golden model's features ``[T][D]`` (act raw, int64) for the written inputs.
EXPECTED = "expected_features.bin"

_LE_I64 = np.dtype("<i8")


def data_bytes(cfg: EdgeMoEConfig) -> int:
    """Bytes :func:`write_data` writes for ``cfg`` (inputs and expected features)."""
    return 8 * (sum(a.count for a in top_args(cfg)) + cfg.tokens * cfg.dim)


def write_data(cfg: EdgeMoEConfig, folder: str | Path, seed: int = 0, task: int = 0) -> dict:
    """Write the testbench inputs for ``task`` (weights from ``seed``, the image from
    ``seed + 1``) and the golden features into ``folder``; returns the manifest."""
    from . import weights as W
    from .csim import top_inputs
    from .golden import Golden

    if not 0 <= task < cfg.tasks:
        raise ConfigError(f"task = {task}; allowed: 0 to {cfg.tasks - 1}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)
    raw = W.quantize(cfg, W.random_weights(cfg, seed))
    image = W.quantize_image(W.random_image(cfg, seed + 1))
    files = {}
    for name, values in top_inputs(cfg, image, raw, task).items():
        (folder / f"{name}.bin").write_bytes(np.asarray(values, _LE_I64).tobytes())
        files[f"{name}.bin"] = int(np.size(values))
    expected = Golden(cfg).forward(image, raw, task)
    (folder / EXPECTED).write_bytes(np.asarray(expected, _LE_I64).tobytes())
    manifest = {"design": "edgemoe", "kernel": cfg.name, "seed": seed, "task": task,
                "inputs": files, "expected": {EXPECTED: [cfg.tokens, cfg.dim]},
                "output": "features_after.bin"}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def check_data(cfg: EdgeMoEConfig, folder: str | Path) -> tuple[int, int]:
    """``(mismatches, values)`` between the kernel's ``features_after.bin`` (its first
    ``dim`` columns) and ``expected_features.bin`` in ``folder``.

    Raises
    ------
    SparseforgeError
        A file is missing or has the wrong size.
    """
    folder = Path(folder)
    features = next(a for a in top_args(cfg) if a.name == "features")
    got = _read(folder / "features_after.bin", features.count)
    want = _read(folder / EXPECTED, cfg.tokens * cfg.dim).reshape(cfg.tokens, cfg.dim)
    got = got.reshape(cfg.tokens, -1)[:, :cfg.dim]
    return int(np.count_nonzero(got != want)), int(want.size)


def read_config(path: str | Path) -> EdgeMoEConfig:
    """The config of a project's ``config.json`` (``{"design": "edgemoe", "config": ...}``)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("design") != "edgemoe":
        raise ConfigError(f"{path}: design = {data.get('design')!r}; expected 'edgemoe'")
    return EdgeMoEConfig.from_dict(data["config"], origin=str(path))


def main(argv: list[str] | None = None) -> int:
    """``write CONFIG DIR [--seed S] [--task T]`` or ``check CONFIG DIR``; exit status 0
    on success, 1 on a mismatch, 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m sparseforge.sim.edgemoe.csim_data",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("write", "check"))
    parser.add_argument("config", help="the project's config.json")
    parser.add_argument("folder", help="the data folder (build/csim_data)")
    parser.add_argument("--seed", type=int, default=0, help="weights seed (image: seed + 1)")
    parser.add_argument("--task", type=int, default=0, help="task the MoE gates use")
    args = parser.parse_args(argv)
    try:
        cfg = read_config(args.config)
        if args.action == "write":
            manifest = write_data(cfg, args.folder, args.seed, args.task)
            print(f"wrote {len(manifest['inputs'])} inputs and {EXPECTED} "
                  f"({data_bytes(cfg) / 1e6:.1f} MB) to {args.folder}")
            return 0
        bad, total = check_data(cfg, args.folder)
    except SparseforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{cfg.name}: {total - bad} of {total} features equal the golden model's"
          + ("" if not bad else f"; {bad} differ"))
    return 1 if bad else 0


def _read(path: Path, count: int) -> np.ndarray:
    if not path.is_file():
        raise SparseforgeError(f"{path} is missing; run the C simulation first")
    raw = path.read_bytes()
    if len(raw) != 8 * count:
        raise SparseforgeError(f"{path}: {len(raw)} bytes; expected {8 * count} "
                               f"({count} int64 values)")
    return np.frombuffer(raw, _LE_I64).astype(np.int64)


if __name__ == "__main__":
    sys.exit(main())
