"""Emit a Vitis HLS + Vivado project around an HLS design (Zynq UltraScale+ boards).

:func:`emit_hls_project` is :func:`~sparseforge.hwgen.project.emit_project` for a
kernel written in HLS C++: instead of packaging RTL, ``run_hls.tcl`` has Vitis HLS
C-simulate, synthesise and export the top function as IP, and the block design
(the same ``vivado/build_bd.tcl`` template as the RTL projects) takes that IP from
Vitis HLS' export folder.  Each ``m_axi`` bundle of the top function is its own AXI4
master and gets its own PS slave port (HP0..HP3, then HPC0/1:
:func:`sparseforge.project_memory.memory_targets` with ``dedicated=True``), so the
bundles do not share one port's bandwidth.  The register map, the C header and the
validation rules are the RTL projects' (``docs/projects.md``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sparseforge.board_registry import Board, get_board
from sparseforge.errors import ConfigError
from sparseforge.regmap import RegisterMap

from .emit import (
    _check_clock,
    _check_driver,
    _check_host,
    _check_map,
    _check_safe,
    _common_context,
    _number,
    _render,
    _zynq_context,
    check_text_files,
    plain_line,
    project_kind,
)

__all__ = ["CSIM_DATA_DIR", "CSIM_DATA_MANIFEST", "HLS_SOLUTION", "emit_hls_project",
           "hls_ip_dir"]

#: Vitis HLS' solution of every emitted project.
HLS_SOLUTION = "solution1"
#: Where ``make csim-data`` writes the C-simulation inputs (relative to the project).
CSIM_DATA_DIR = "build/csim_data"
#: The file the C-sim data writer writes last; ``make`` and ``run_hls.tcl`` look for it.
CSIM_DATA_MANIFEST = "inputs.json"

_SOURCE_SUFFIXES = (".cpp", ".cc", ".h", ".hpp")
_TB_SUFFIXES = (".cpp", ".cc", ".h", ".hpp")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def hls_ip_dir(kernel: str) -> tuple[str, ...]:
    """Folders, below the project's ``build/``, of the IP ``export_design`` writes
    (the unzipped ``impl/ip`` of the solution): the block design's IP repository."""
    return ("hls", kernel, HLS_SOLUTION, "impl", "ip")


def emit_hls_project(rmap: RegisterMap, board: Board | str, sources: dict[str, str],
                     testbench: dict[str, str], clock_mhz: float, *,
                     csim_args: Sequence[str] = (), csim_data: str | None = None,
                     gxx_headers: dict[str, str] | None = None, ps_master: str | None = None,
                     driver: str | None = None, host_files: dict[str, str] | None = None,
                     readme_notes: Sequence[str] = ()) -> dict[str, str]:
    """The files of a Vitis HLS + Vivado project for the HLS top function ``rmap.kernel``.

    Parameters
    ----------
    rmap : RegisterMap
        The kernel's register map: the top function's ``s_axilite`` arguments at Vitis
        HLS' offsets and one master ``m_axi_<bundle>`` per ``m_axi`` bundle.
    board : Board or str
        A Zynq UltraScale+ (PYNQ) board of the registry, or its name.
    sources : dict[str, str]
        The design: path below ``src/`` (``.cpp``, ``.cc``, ``.h``, ``.hpp``) -> text.
        A ``.cpp`` / ``.cc`` file must define ``void <rmap.kernel>(``.  Every file is
        added to the Vitis HLS project with ``-I src``.
    testbench : dict[str, str]
        The C-simulation testbench: path below ``tb/`` -> text, added with ``-tb``.
    clock_mhz : float
        Kernel clock in MHz: the HLS clock (``create_clock -period 1000/clock_mhz``)
        and PL clock 0 of the block design.
    csim_args : sequence of str
        Testbench arguments after the data folder: C-sim and co-sim run
        ``tb <project>/build/csim_data <csim_args...>``.
    csim_data : str, optional
        Python module (``package.module``) that writes and checks the C-sim data:
        ``python -m <csim_data> write config.json build/csim_data`` (``make
        csim-data``, ending with ``build/csim_data/inputs.json``) and ``... check
        config.json build/csim_data`` after C-sim / co-sim.  The caller adds
        ``config.json`` to the project.  ``None``: the testbench needs no data.
    gxx_headers : dict[str, str], optional
        Headers written to ``tb/`` for a build with g++ outside Vitis HLS (stand-ins
        for the vendor's headers, such as sparseforge's own ``hls_stream.h``); not
        added to the Vitis HLS project, whose own headers take their place.
    ps_master : str, optional
        The PS port driving ``s_axi_control`` (default ``M_AXI_HPM0_FPD``).
    driver : str, optional
        The kernel's PYNQ driver, ``"package.module:Class"``, constructed from the
        overlay's IP (named in the README).
    host_files : dict[str, str], optional
        Host-side files (notebooks, scripts): path below ``host/`` -> text.
    readme_notes : sequence of str
        Extra lines for the README's notes (one line each, cleaned of markup).

    Returns
    -------
    dict[str, str]
        Project-relative path -> text, sorted; the same inputs give the same bytes.

    Raises
    ------
    ConfigError
        A board that is not a Zynq UltraScale+ board, more masters than the board has
        PS slave ports, a name or value that cannot be emitted safely, or sources
        without the top function; the message names the field and the value.
    """
    board = get_board(board) if isinstance(board, str) else board
    if project_kind(board) != "zynq":
        raise ConfigError(f"board {board.name!r}: HLS projects are emitted for Zynq "
                          "UltraScale+ boards (PYNQ) only; allowed: a board with host.kind "
                          "zynq_pynq")
    _check_map(rmap)
    src = _check_files("source", sources, _SOURCE_SUFFIXES)
    tb = _check_files("testbench", testbench, _TB_SUFFIXES)
    gxx = _check_files("g++ header", gxx_headers or {}, (".h", ".hpp"), empty_ok=True)
    clash = sorted(set(tb) & set(gxx))
    if clash:
        raise ConfigError(f"tb/{clash[0]} is both a testbench file and a g++ header")
    _check_top(src, rmap.kernel)
    host = {f"host/{p}": t for p, t in sorted(_check_host(host_files or {}).items())}
    for i, word in enumerate(csim_args):
        _check_safe(f"csim_args[{i}]", word)
    if csim_data is not None and (not isinstance(csim_data, str)
                                  or not _MODULE.fullmatch(csim_data)):
        raise ConfigError(f"csim_data = {csim_data!r}; allowed: a Python module name "
                          "(package.module)")
    clock = _check_clock(clock_mhz)

    files = {f"src/{p}": t for p, t in sorted(src.items())}
    files.update({f"tb/{p}": t for p, t in sorted({**tb, **gxx}.items())})
    ctx = _common_context(rmap, board, {})
    ctx.update(_zynq_context(rmap, board, clock, ps_master, None, dedicated=True,
                             ip_repo=hls_ip_dir(rmap.kernel)))
    ctx.update({
        "host_files": sorted(host), "driver": _check_driver(driver), "hls_project": True,
        "sources": [f"src/{p}" for p in sorted(src)],
        "testbench": [f"tb/{p}" for p in sorted(tb)],
        "gxx_headers": [f"tb/{p}" for p in sorted(gxx)],
        "period_ns": _number(1000.0 / clock), "solution": HLS_SOLUTION,
        "axi_bits": max(m["data_bits"] for m in rmap.masters),
        "csim_args": list(csim_args), "csim_data": csim_data, "csim_dir": CSIM_DATA_DIR,
        "csim_manifest": CSIM_DATA_MANIFEST,
        "ip_dir": "/".join(("build", *hls_ip_dir(rmap.kernel))),
        "notes": [plain_line(n) for n in readme_notes],
        "display_name": plain_line(f"{rmap.kernel} (sparseforge {rmap.design} HLS kernel)"),
        "description": plain_line(f"sparseforge {rmap.design} kernel, Vitis HLS; register "
                                  "map in regmap.json"),
    })
    files.update(host)
    files["regmap.json"] = rmap.to_json()
    files[f"include/{rmap.kernel}_regs.h"] = _render("c/regs.h.j2", ctx)
    for path, template in {"run_hls.tcl": "vitis_hls/run_hls.tcl.j2",
                           "vivado/build_bd.tcl": "vivado/build_bd.tcl.j2",
                           "Makefile": "vitis_hls/Makefile.j2",
                           "README.md": "vitis_hls/README.md.j2"}.items():
        files[path] = _render(template, ctx)
    return dict(sorted(files.items()))


# --------------------------------------------------------------------------- validation


def _check_files(what: str, files: dict[str, str], suffixes: tuple[str, ...],
                 empty_ok: bool = False) -> dict[str, str]:
    return check_text_files(what, files, suffixes, empty_ok)


def _check_top(sources: dict[str, str], kernel: str) -> None:
    # void, or a 32-bit return value (ap_return on the control slave)
    top = re.compile(rf"\b(?:void|unsigned\s+int|unsigned|int)\s+{re.escape(kernel)}\s*\(")
    units = [p for p in sources if p.endswith((".cpp", ".cc"))]
    if not any(top.search(sources[p]) for p in units):
        raise ConfigError(f"sources: no .cpp file defines the top function {kernel}( "
                          f"(the register map's kernel); files: {', '.join(sorted(sources))}")

