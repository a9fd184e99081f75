"""Verilog of the PIM datapath units and their synthesis estimates.

:func:`mac_verilog` / :func:`asic_verilog` emit one unit (deterministic text);
:func:`unit_synth` runs :func:`sparseforge.hwgen.synth.synth_estimate` (YoWASP Yosys
``synth_xilinx``) on one of them; :func:`datapath_synth` on the MAC unit and every
ASIC operator.  Numbers are Yosys' mapped cell counts (an estimate; see
:mod:`sparseforge.hwgen.synth`), measured in docs/designs/pim_rtl.md.
"""

from __future__ import annotations

import re

from amaranth.back import verilog

from .asic import FUNCTIONS, AsicUnit
from .mac import PimMacUnit

__all__ = ["DEFAULT_SYNTH_BOARD", "asic_verilog", "datapath_synth", "mac_verilog",
           "unit_names", "unit_synth", "unit_verilog"]

#: The board whose architecture the estimates map to (UltraScale+, DSP48E2).
DEFAULT_SYNTH_BOARD = "u250"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"module name {name!r}; allowed: a Verilog identifier "
                         "([A-Za-z_][A-Za-z0-9_]*)")
    return name


def mac_verilog(lanes: int, name: str | None = None) -> str:
    """Verilog of :class:`~sparseforge.hwgen.pim.mac.PimMacUnit` ``(lanes)``, top module
    ``name`` (default ``pim_mac<lanes>``)."""
    unit = PimMacUnit(lanes)
    return verilog.convert(unit, name=_check_name(name or f"pim_mac{lanes}"), emit_src=False)


def asic_verilog(function: str, name: str | None = None) -> str:
    """Verilog of :class:`~sparseforge.hwgen.pim.asic.AsicUnit` ``(function)``, top module
    ``name`` (default ``pim_<function>``)."""
    unit = AsicUnit(function)
    return verilog.convert(unit, name=_check_name(name or f"pim_{function}"), emit_src=False)


def unit_names(lanes: int = 16) -> list[str]:
    """The units :func:`datapath_synth` covers: ``mac<lanes>`` and every function."""
    return [f"mac{lanes}", *FUNCTIONS]


def unit_verilog(unit: str) -> tuple[str, str]:
    """``(verilog, top)`` of ``unit``: ``mac<lanes>`` or a function of
    :data:`~sparseforge.hwgen.pim.asic.FUNCTIONS`."""
    if unit.startswith("mac") and unit[3:].isdigit():
        lanes = int(unit[3:])
        return mac_verilog(lanes), f"pim_mac{lanes}"
    if unit in FUNCTIONS:
        return asic_verilog(unit), f"pim_{unit}"
    raise ValueError(f"unit {unit!r}; allowed: mac<lanes> (e.g. mac16), "
                     f"{', '.join(FUNCTIONS)}")


def unit_synth(unit: str, board: str = DEFAULT_SYNTH_BOARD, timeout_s: int = 1800) -> dict:
    """Synthesis estimate of one unit: ``{"unit", "top", "lut", "ff", "dsp", "seconds"}``.

    Raises
    ------
    ValueError
        Unknown unit, or a board without a ``synth_xilinx`` family.
    RuntimeError
        Yosys failed.
    """
    from sparseforge.board_registry import get_board
    from sparseforge.hwgen.synth import synth_estimate

    text, top = unit_verilog(unit)
    est = synth_estimate(text, top, get_board(board), timeout_s=timeout_s)
    return {"unit": unit, "top": top, "lut": est.lut, "ff": est.ff, "dsp": est.dsp,
            "seconds": round(est.seconds, 1)}


def datapath_synth(lanes: int = 16, board: str = DEFAULT_SYNTH_BOARD) -> dict[str, dict]:
    """:func:`unit_synth` of the MAC unit (``lanes``) and of every ASIC function, by
    unit name (minutes: YoWASP runs one unit after the other)."""
    return {u: unit_synth(u, board) for u in unit_names(lanes)}
