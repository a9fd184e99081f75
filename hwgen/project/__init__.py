"""Vivado / Vitis project emission from a kernel's register map (Jinja2 templates).

>>> from sparseforge.families.sat.config import SatConfig
>>> from sparseforge.families.sat.contract import register_map
>>> rmap = register_map(SatConfig())
>>> files = emit_project(rmap, "zcu104", {"sat_kernel.v": stub_verilog(rmap)})
>>> sorted(files)[:3]
['Makefile', 'README.md', 'include/sat_kernel_regs.h']

An HLS design (Vitis HLS exports the IP; Zynq boards): :func:`emit_hls_project`.

Structural checks without vendor tools: :mod:`sparseforge.hwgen.project.checks`.
Design note: ``docs/projects.md``.
"""

from .emit import (
    MemoryTarget,
    emit_project,
    emit_project_dir,
    memory_targets,
    overlay_ip_name,
    plain_line,
    project_kind,
    render_template,
    supported_boards,
    tcl_word,
)
from .hls_project import emit_hls_project, hls_ip_dir
from .notebook import code_cells, notebook_json
from .ports import Port, kernel_ports, stub_verilog

__all__ = ["MemoryTarget", "Port", "code_cells", "emit_hls_project", "emit_project",
           "emit_project_dir", "hls_ip_dir", "kernel_ports", "memory_targets", "notebook_json",
           "overlay_ip_name", "plain_line", "project_kind", "render_template", "stub_verilog",
           "supported_boards", "tcl_word"]
