"""Emit a Vivado (Zynq UltraScale+) or Vitis (Alveo) project around a kernel's RTL.

:func:`emit_project` turns a register map, a board and the kernel's Verilog into
the text of every file of a project folder; :func:`emit_project_dir` writes them
atomically.  Everything is validated before anything is rendered: every name that
reaches TCL, XML, C or a Makefile is an identifier or matches a narrow character
set, and TCL values are brace-quoted.  What is emitted per board kind, and how to
build it, is in ``docs/projects.md``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from sparseforge.board_registry import Board, all_boards, get_board
from sparseforge.errors import ConfigError
from sparseforge.names import check_identifier
from sparseforge.output_dir import atomic_output_dir, check_output_dir
from sparseforge.project_memory import MemoryTarget, memory_targets
from sparseforge.regmap import SCHEMA, RegisterMap

from ..templating import render, tcl_word

__all__ = ["MemoryTarget", "emit_project", "emit_project_dir", "memory_targets",
           "overlay_ip_name", "plain_line", "project_kind", "render_template",
           "supported_boards", "tcl_word"]

#: Zynq UltraScale+ PS-PL AXI ports: board-file name -> (PSU__USE__ key, data-width key,
#: clock pin of the ``zynq_ultra_ps_e`` cell).
PS_MASTERS = {
    "M_AXI_HPM0_FPD": ("M_AXI_GP0", "MAXIGP0", "maxihpm0_fpd_aclk"),
    "M_AXI_HPM1_FPD": ("M_AXI_GP1", "MAXIGP1", "maxihpm1_fpd_aclk"),
    "M_AXI_HPM0_LPD": ("M_AXI_GP2", "MAXIGP2", "maxihpm0_lpd_aclk"),
}
PS_SLAVES = {
    "S_AXI_HPC0_FPD": ("S_AXI_GP0", "SAXIGP0", "saxihpc0_fpd_aclk"),
    "S_AXI_HPC1_FPD": ("S_AXI_GP1", "SAXIGP1", "saxihpc1_fpd_aclk"),
    "S_AXI_HP0_FPD": ("S_AXI_GP2", "SAXIGP2", "saxihp0_fpd_aclk"),
    "S_AXI_HP1_FPD": ("S_AXI_GP3", "SAXIGP3", "saxihp1_fpd_aclk"),
    "S_AXI_HP2_FPD": ("S_AXI_GP4", "SAXIGP4", "saxihp2_fpd_aclk"),
    "S_AXI_HP3_FPD": ("S_AXI_GP5", "SAXIGP5", "saxihp3_fpd_aclk"),
}
DEFAULT_PS_MASTER = "M_AXI_HPM0_FPD"

_SAFE = re.compile(r"[A-Za-z0-9_.-]+")            # platform, part, vendor, library, version
_SAFE_VLNV_PART = re.compile(r"[A-Za-z0-9_.:-]+")  # board_part
_RTL_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")
_RTL_SUFFIXES = (".v", ".sv", ".vh", ".svh")
_HOST_SUFFIXES = (".ipynb", ".py", ".md")
_C_TYPE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*( ?\*)?")
# SDAccel-era shells (2018.3 and older) cannot be linked by v++.
_LEGACY_PLATFORM = re.compile(r"_xdma_201[0-8]\d\d_")


# --------------------------------------------------------------------------- public API


def emit_project(rmap: RegisterMap, board: Board | str, rtl: dict[str, str],
                 clock_mhz: float | None = None, *, platform: str | None = None,
                 ps_master: str | None = None, ps_slave: str | None = None,
                 sp_memory: str | None = None, driver: str | None = None,
                 host_files: dict[str, str] | None = None) -> dict[str, str]:
    """The files of a bitstream project for ``rmap``'s kernel on ``board``.

    Parameters
    ----------
    rmap : RegisterMap
        The kernel's register map; its Verilog top is ``rmap.kernel``.
    board : Board or str
        A board of the registry (or its name): Zynq UltraScale+ (PYNQ) or Alveo.
    rtl : dict[str, str]
        Kernel RTL: path below ``rtl/`` (``.v``, ``.sv``, ``.vh``, ``.svh``) -> text.
        One file must declare ``module <rmap.kernel>``.
    clock_mhz : float, optional
        Kernel clock in MHz.  Zynq: PL clock 0 (default: the board's default clock).
        Alveo: ``kernel_frequency`` of the link (default: the platform's clock).
    platform : str, optional
        Alveo only: Vitis platform (default: the board file's ``host.platform``);
        the Makefile's ``PLATFORM`` overrides it again at build time.
    ps_master, ps_slave : str, optional
        Zynq only: the PS port driving ``s_axi_control`` (default ``M_AXI_HPM0_FPD``)
        and the one the kernel's masters reach memory through (default ``S_AXI_HP0_FPD``).
    sp_memory : str, optional
        Alveo only: memory of every master, ``HBM[i]``, ``HBM[i:j]`` or ``DDR[i]``
        (default: master k on ``HBM[k]`` on HBM cards, ``DDR[k mod channels]`` otherwise).
    driver : str, optional
        The kernel's PYNQ driver as ``"package.module:Class"``; the README shows how to
        load the overlay with it.
    host_files : dict[str, str], optional
        Host-side files (notebooks, scripts): path below ``host/`` -> text.

    Returns
    -------
    dict[str, str]
        Project-relative path -> file text, sorted by path; the same inputs give
        byte-identical text (no timestamps).

    Raises
    ------
    ConfigError
        An unsupported board, a name or value that cannot be emitted safely, or RTL
        without the kernel's top module; the message names the field and the value.
    """
    board = get_board(board) if isinstance(board, str) else board
    kind = _board_kind(board, platform)
    _check_map(rmap)
    files = {f"rtl/{path}": text for path, text in sorted(_check_rtl(rtl, rmap.kernel).items())}
    host = {f"host/{path}": text for path, text in sorted(_check_host(host_files or {}).items())}
    ctx = _common_context(rmap, board, files)
    ctx["host_files"] = sorted(host)
    ctx["driver"] = _check_driver(driver)
    if kind == "zynq":
        if platform is not None or sp_memory is not None:
            raise ConfigError(f"platform / sp_memory are Alveo options; board {board.name!r} "
                              "is a Zynq UltraScale+ board (use ps_master / ps_slave)")
        ctx.update(_zynq_context(rmap, board, clock_mhz, ps_master, ps_slave))
        templates = {"vivado/package_ip.tcl": "vivado/package_ip.tcl.j2",
                     "vivado/build_bd.tcl": "vivado/build_bd.tcl.j2",
                     "Makefile": "vivado/Makefile.j2", "README.md": "vivado/README.md.j2"}
    else:
        if ps_master is not None or ps_slave is not None:
            raise ConfigError(f"ps_master / ps_slave are Zynq options; board {board.name!r} "
                              "is an Alveo card (use platform / sp_memory)")
        ctx.update(_alveo_context(rmap, board, clock_mhz, platform, sp_memory))
        templates = {"vitis/kernel.xml": "vitis/kernel.xml.j2",
                     "vitis/package_xo.tcl": "vitis/package_xo.tcl.j2",
                     "vitis/link.cfg": "vitis/link.cfg.j2",
                     "Makefile": "vitis/Makefile.j2", "README.md": "vitis/README.md.j2"}
    files.update(host)
    files["regmap.json"] = rmap.to_json()
    files[f"include/{rmap.kernel}_regs.h"] = _render("c/regs.h.j2", ctx)
    for path, template in templates.items():
        files[path] = _render(template, ctx)
    return dict(sorted(files.items()))


def emit_project_dir(out_dir: str | Path, rmap: RegisterMap, board: Board | str,
                     rtl: dict[str, str], clock_mhz: float | None = None, *,
                     force: bool = False, **options) -> Path:
    """Write :func:`emit_project`'s files to ``out_dir`` atomically; returns the folder.

    All validation and rendering happen before the first byte is written; ``out_dir``
    is replaced as a whole, and only if it is absent, empty or an earlier sparseforge
    output (``force=True`` replaces another folder; some folders are never replaced:
    see :func:`sparseforge.output_dir.atomic_output_dir`).  ``options`` are
    :func:`emit_project`'s keyword arguments.
    """
    check_output_dir(out_dir, force=force)
    files = emit_project(rmap, board, rtl, clock_mhz, **options)
    target = Path(out_dir)
    with atomic_output_dir(target, force=force) as staging:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
    return target.resolve()


def project_kind(board: Board | str, platform: str | None = None) -> str:
    """``"zynq"`` (Vivado block design) or ``"alveo"`` (Vitis RTL kernel) for ``board``.

    Raises :class:`ConfigError` for a board without project emission.
    """
    return _board_kind(get_board(board) if isinstance(board, str) else board, platform)


def overlay_ip_name(rmap: RegisterMap, board: Board | str) -> str:
    """The kernel's attribute on a ``pynq.Overlay`` of the built project.

    Zynq: the block-design cell ``<kernel>_0``; Alveo: the compute unit ``<kernel>_1``
    (v++'s default name for the first CU).
    """
    return _ip_name(rmap, project_kind(board))


def _ip_name(rmap: RegisterMap, kind: str) -> str:
    return f"{rmap.kernel}_0" if kind == "zynq" else f"{rmap.kernel}_1"


def supported_boards() -> list[str]:
    """Names of the registry's boards :func:`emit_project` accepts without a ``platform``."""
    return [b.name for b in all_boards() if _classify(b, None)[0] is not None]


# --------------------------------------------------------------------------- validation


def _check_safe(field: str, value: object, pattern: re.Pattern = _SAFE,
                allowed: str = "letters, digits, '_', '.', '-'") -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(f"{field} = {value!r} cannot be emitted into build scripts; "
                          f"allowed: {allowed}")
    return value


def _check_map(rmap: RegisterMap) -> None:
    """What :class:`RegisterMap` leaves unchecked but emission needs."""
    rmap.validate()
    if not rmap.masters:
        raise ConfigError(f"register map of {rmap.kernel}: masters = []; a project needs at "
                          "least one AXI4 master (m_axi_*)")
    for field in ("vendor", "library", "version"):
        _check_safe(f"register map {field}", getattr(rmap, field))
    for r in rmap.registers:
        for name, bit in r.fields.items():  # names: RegisterMap.validate
            if not isinstance(bit, int) or not 0 <= bit < 32:
                raise ConfigError(f"register {r.name} field {name}: bit = {bit!r}; "
                                  "allowed: 0 to 31")
    for a in rmap.args:
        if not isinstance(a.c_type, str) or not _C_TYPE.fullmatch(a.c_type):
            raise ConfigError(f"argument {a.name}: c_type = {a.c_type!r}; allowed: a C type "
                              "name, optionally followed by '*' (uint32_t, void*)")
    macros = [m for m, _, _ in _header_defines(rmap)]
    dup = sorted({m for m in macros if macros.count(m) > 1})
    if dup:
        raise ConfigError(f"register map of {rmap.kernel}: C header macro names collide: "
                          f"{', '.join(dup)} (rename a register, field or argument)")


def _check_rtl(rtl: dict[str, str], kernel: str) -> dict[str, str]:
    if not isinstance(rtl, dict) or not rtl:
        raise ConfigError("rtl: expected a non-empty dict of file name -> Verilog text")
    for path, text in rtl.items():
        if (not isinstance(path, str) or not _RTL_PATH.fullmatch(path)
                or not path.endswith(_RTL_SUFFIXES)):
            raise ConfigError(f"rtl file name {path!r}: allowed: a relative path of letters, "
                              "digits, '_', '.', '-' (no leading '.', no '..') ending in "
                              f"{', '.join(_RTL_SUFFIXES)}")
        if not isinstance(text, str):
            raise ConfigError(f"rtl[{path!r}]: expected Verilog text, got {type(text).__name__}")
    top = re.compile(rf"^\s*module\s+{re.escape(kernel)}\b", re.M)
    if not any(top.search(text) for text in rtl.values()):
        raise ConfigError(f"rtl: no file declares module {kernel} (the register map's kernel); "
                          f"files: {', '.join(sorted(rtl))}")
    return rtl


def check_text_files(what: str, files: dict[str, str], suffixes: tuple[str, ...],
                     empty_ok: bool = False) -> dict[str, str]:
    """``files`` (relative path -> text) checked for a project: every path a plain
    relative path ending in one of ``suffixes``, every value text; ``ConfigError``
    naming the file otherwise."""
    if not isinstance(files, dict) or (not files and not empty_ok):
        kind = "a dict" if empty_ok else "a non-empty dict"
        raise ConfigError(f"{what} files: expected {kind} of file name -> text")
    for path, text in files.items():
        if (not isinstance(path, str) or not _RTL_PATH.fullmatch(path)
                or not path.endswith(suffixes)):
            raise ConfigError(f"{what} file name {path!r}: allowed: a relative path of "
                              "letters, digits, '_', '.', '-' (no leading '.', no '..') "
                              f"ending in {', '.join(suffixes)}")
        if not isinstance(text, str):
            raise ConfigError(f"{what} file {path!r}: expected text, got {type(text).__name__}")
    return files


def _check_host(host_files: dict[str, str]) -> dict[str, str]:
    return check_text_files("host", host_files, _HOST_SUFFIXES, empty_ok=True)


def _check_driver(driver: str | None) -> dict | None:
    if driver is None:
        return None
    module, _, cls = driver.partition(":") if isinstance(driver, str) else ("", "", "")
    if not cls or not all(p.isidentifier() and p.isascii() for p in (*module.split("."), cls)):
        raise ConfigError(f"driver = {driver!r}; allowed: 'package.module:Class' (Python "
                          "identifiers)")
    return {"module": module, "cls": cls}


def _board_kind(board: Board, platform: str | None) -> str:
    """``"zynq"`` or ``"alveo"``; raises :class:`ConfigError` for other boards."""
    kind, reason = _classify(board, platform)
    if kind is None:
        raise ConfigError(f"board {board.name!r}: no project emission: {reason}; supported "
                          f"boards: {', '.join(supported_boards())}")
    return kind


def _classify(board: Board, platform: str | None) -> tuple[str | None, str]:
    host, family = board.host.kind, board.device.family
    if host == "zynq_pynq" and family == "zynquplus":
        return "zynq", ""
    if host == "alveo_xrt":
        if platform is None and _LEGACY_PLATFORM.search(board.host.platform or ""):
            return None, (f"its platform {board.host.platform} is an SDAccel-era shell that "
                          "v++ cannot link against; pass platform= a Vitis platform of the card")
        return "alveo", ""
    return None, (f"host.kind {host!r} / device.family {family!r} is neither a Zynq "
                  "UltraScale+ (PYNQ) board nor an Alveo card")


# --------------------------------------------------------------------------- contexts


def _common_context(rmap: RegisterMap, board: Board, files: dict[str, str]) -> dict:
    fields = {r.name: r.fields for r in rmap.registers}
    registers = [{"name": w["name"], "offset": w["offset"], "doc": plain_line(w["doc"]),
                  "fields": sorted(fields.get(w["name"], {}).items(), key=lambda f: f[1])}
                 for w in rmap.words()]
    masters = [{"port": m["port"], "data_bits": m["data_bits"]} for m in rmap.masters]
    return {
        "rmap": rmap, "schema": SCHEMA, "kernel": rmap.kernel, "vlnv": rmap.vlnv,
        "title": plain_line(board.display_name),
        "part": _check_safe(f"board {board.name} device.part", board.device.part),
        "rtl_files": [p for p in files if not p.endswith((".vh", ".svh"))],
        "rtl_headers": [p for p in files if p.endswith((".vh", ".svh"))],
        "registers": registers, "masters": masters, "address_range": rmap.address_range,
        "defines": _header_defines(rmap),
        "guard": f"{rmap.kernel.upper()}_REGS_H",
        "args": [_xml_arg(a) for a in rmap.args],
    }


@dataclass(frozen=True)
class _PsPort:
    name: str
    use: str
    width_key: str
    aclk: str
    width: int


def _ps_port(board: Board, role: str, name: str, table: dict, width: int) -> _PsPort:
    known = {p.name: p for p in board.ps_pl_ports}
    usable = [n for n in table if n in known]
    if name not in usable:
        raise ConfigError(f"{role} = {name!r} for board {board.name}; allowed: "
                          f"{', '.join(usable)}")
    use, width_key, aclk = table[name]
    return _PsPort(name, use, width_key, aclk, min(width, known[name].max_width_bits))


@dataclass(frozen=True)
class _MemPath:
    """One SmartConnect of the block design: the masters it takes, the PS port it feeds."""

    smc: str
    slave: _PsPort
    masters: tuple[str, ...]


def _zynq_context(rmap: RegisterMap, board: Board, clock_mhz: float | None,
                  ps_master: str | None, ps_slave: str | None, dedicated: bool = False,
                  ip_repo: tuple[str, ...] = ("ip",)) -> dict:
    clock = _check_clock(board.clocks.default_mhz if clock_mhz is None else clock_mhz)
    board_part = _check_safe(f"board {board.name} device.board_part", board.device.board_part,
                             _SAFE_VLNV_PART, "letters, digits, '_', '.', ':', '-'")
    master = _ps_port(board, "ps_master", ps_master or DEFAULT_PS_MASTER, PS_MASTERS, 32)
    # memory_targets is the one place that says where the masters go (default: all on
    # HP0; dedicated: one port each)
    targets = memory_targets(rmap, board, ps_slave=ps_slave, dedicated=dedicated)
    widths = {m["port"]: m["data_bits"] for m in rmap.masters}
    groups: dict[str, list[str]] = {}
    for t in targets:
        groups.setdefault(t.target, []).append(t.port)
    paths = [_MemPath("mem_smc" if len(groups) == 1 else f"mem_smc_{i}",
                      _ps_port(board, "ps_slave", port, PS_SLAVES,
                               max(widths[m] for m in masters)), tuple(masters))
             for i, (port, masters) in enumerate(groups.items())]
    for part in ip_repo:
        check_identifier("IP repository folder", part)
    return {
        "kind": "zynq", "clock_mhz": _number(clock), "board_part": board_part,
        "board_glob": f"*:{board_part.split(':')[1]}:*" if board_part.count(":") == 3 else "",
        "ps_master": master, "mem_paths": paths,
        "unused_ps_masters": [v[0] for k, v in PS_MASTERS.items() if k != master.name],
        "cell": _ip_name(rmap, "zynq"), "sdx_kernel": False, "ip_repo": list(ip_repo),
    }


def _alveo_context(rmap: RegisterMap, board: Board, clock_mhz: float | None,
                   platform: str | None, sp_memory: str | None) -> dict:
    platform = platform if platform is not None else board.host.platform
    if not platform:
        raise ConfigError(f"board {board.name}: host.platform is empty; pass platform= the "
                          "Vitis platform name (e.g. xilinx_u280_gen3x16_xdma_1_202211_1)")
    _check_safe("platform", platform)
    return {
        "kind": "alveo", "platform": platform, "sdx_kernel": True,
        "clock_mhz": None if clock_mhz is None else _number(_check_clock(clock_mhz)),
        "sp": [(t.port, t.target) for t in memory_targets(rmap, board, sp_memory=sp_memory)],
        "cu": _ip_name(rmap, "alveo"),
    }


def _check_clock(mhz: object) -> float:
    if (isinstance(mhz, bool) or not isinstance(mhz, (int, float)) or not math.isfinite(mhz)
            or not 10 <= mhz <= 800):
        raise ConfigError(f"clock_mhz = {mhz!r}; allowed: a number of MHz from 10 to 800")
    return float(mhz)


def _number(value: float) -> str:
    """Shortest decimal text of a clock frequency (``100``, ``187.5``)."""
    return f"{value:.6g}"


def _xml_arg(a) -> dict:
    size = a.bits // 8
    return {"name": a.name, "id": a.id, "offset": a.offset, "size": size,
            "qualifier": 1 if a.kind == "pointer" else 0,
            "port": a.port if a.kind == "pointer" else "s_axi_control", "type": a.c_type}


def _header_defines(rmap: RegisterMap) -> list[tuple[str, str, str]]:
    """``(macro, value, comment)`` of the C header, in offset order."""
    k = rmap.kernel.upper()
    out = [(f"{k}_ADDRESS_RANGE", f"0x{rmap.address_range:X}u",
            "bytes decoded by s_axi_control")]
    for r in sorted(rmap.registers, key=lambda r: r.offset):
        out.append((f"{k}_{r.name.upper()}_OFFSET", f"0x{r.offset:02X}u",
                    f"{r.access}: {plain_line(r.doc)}"))
        for name, bit in sorted(r.fields.items(), key=lambda f: f[1]):
            out.append((f"{k}_{r.name.upper()}_{name.upper()}_MASK", f"0x{1 << bit:X}u",
                        f"bit {bit}"))
        for name, value, doc in r.values:
            out.append((f"{k}_{r.name.upper()}_{name.upper()}", f"{value}u", plain_line(doc)))
    for a in rmap.args:
        what = f"argument {a.id} ({a.kind}, {a.c_type}): {plain_line(a.doc)}"
        if a.bits == 64:
            out.append((f"{k}_{a.name.upper()}_LO_OFFSET", f"0x{a.offset:02X}u",
                        f"{what}, bits 31:0"))
            out.append((f"{k}_{a.name.upper()}_HI_OFFSET", f"0x{a.offset + 4:02X}u",
                        "bits 63:32"))
        else:
            out.append((f"{k}_{a.name.upper()}_OFFSET", f"0x{a.offset:02X}u", what))
    return out


def plain_line(text: str) -> str:
    """One line of documentation safe inside Tcl braces, C comments and notebook cells."""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", str(text)).strip()
    text = text.replace("{", "(").replace("}", ")").replace("\\", "/")
    return text.replace("*/", "* /").replace("/*", "/ *")


# --------------------------------------------------------------------------- templates


def _render(template: str, ctx: dict) -> str:
    return render(template, ctx)


def render_template(template: str, **ctx) -> str:
    """Render one of the package's templates (``templates/<template>``) with ``ctx``.

    The package's one environment (:mod:`sparseforge.hwgen.templating`): undefined
    names are errors, ``tcl``, ``hex`` and the C++ filters, blocks trimmed.
    """
    return _render(template, ctx)
