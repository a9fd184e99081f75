"""Emit the SAT engine and the sparse weight generator as Verilog (deterministic)."""

from __future__ import annotations

from pathlib import Path

from amaranth.back import verilog

from sparseforge.families.sat.config import SatConfig

from .engine import SatEngine
from .weight_gen import SparseWeightGenerator

__all__ = ["engine_verilog", "weight_gen_name", "weight_gen_verilog", "write_verilog"]


def engine_verilog(cfg: SatConfig) -> str:
    """Verilog of the engine, top module ``cfg.name``."""
    return verilog.convert(SatEngine(cfg), name=cfg.name, emit_src=False)


def weight_gen_name(cfg: SatConfig) -> str:
    """Top module name of the weight generator: ``<name>_wgen``."""
    return f"{cfg.name}_wgen"


def weight_gen_verilog(cfg: SatConfig) -> str:
    """Verilog of the sparse weight generator, top module :func:`weight_gen_name`."""
    return verilog.convert(SparseWeightGenerator(cfg.n, cfg.m, cfg.width),
                           name=weight_gen_name(cfg), emit_src=False)


def write_verilog(cfg: SatConfig, folder: Path) -> dict[str, Path]:
    """Write ``<name>.v`` and ``<name>_wgen.v`` into ``folder``; return {top: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for top, text in ((cfg.name, engine_verilog(cfg)),
                      (weight_gen_name(cfg), weight_gen_verilog(cfg))):
        path = folder / f"{top}.v"
        path.write_text(text)
        out[top] = path
    return out
