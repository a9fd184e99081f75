"""Edge-MoE generator: renders templates/hls/edgemoe/ for one config (design.py, tables.py)."""

from .design import HEADERS, TESTBENCH, design_context, render_design

__all__ = ["HEADERS", "TESTBENCH", "design_context", "render_design"]
