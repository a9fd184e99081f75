"""C simulation of HLS designs: compile with g++ against the Apache-2.0 ``ap_types``, run.

:func:`build` compiles a rendered design and its testbench into one executable,
:func:`run` feeds it raw little-endian arrays and reads its outputs back.  Guide:
``docs/hls.md``.

Headers
-------
The include path of every build is, in order:

1. ``<build_dir>/_sf_include/``: sparseforge's own ``hls_stream.h`` (an
   ``hls::stream`` FIFO) and ``sf_csim_io.h`` (testbench I/O, trip counters), from
   ``templates/hls/common/``;
2. ``<build_dir>/src/``: the design's sources;
3. ``<build_dir>/_ap_types/`` (``-isystem``): copies of the ``ap_int`` / ``ap_fixed``
   headers of the installed ``hls4ml`` wheel (``hls4ml/templates/vivado/ap_types/``)
   that pass the licence check.

**Licence rule.**  A header of that folder is copied onto the include path only if it
carries the Apache-2.0 notice (:data:`APACHE_NOTICE`) and no proprietary notice
(:data:`PROPRIETARY_NOTICES`); :func:`check_ap_headers` decides.  The candidates are
``ap_*.h`` and ``etc/*.h`` and whatever ``ap_int.h`` / ``ap_fixed.h`` include from the
folder; if one that ``ap_int.h`` or ``ap_fixed.h`` needs fails, no build is made
(:class:`LicenceError`).  In hls4ml 1.x the folder's ``hls_stream.h`` and
``ap_shift_reg.h`` carry a proprietary notice and ``ap_float.h``, ``hls_math.h`` and
``utils/x_hls_utils.h`` no licence notice: none of them is ever on the include path,
and a design that includes one fails to compile with a message saying why.

Caching
-------
The executable ``<build_dir>/<name>`` is reused when the SHA-256 of everything that
makes it (source texts, the full compiler command, the compiler's identity and
version, every staged header's text) equals the one stored beside it in
``<name>.sha256``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sparseforge.errors import ConfigError, SparseforgeError
from sparseforge.hwgen.hls import common_headers
from sparseforge.toolchain import ToolNotFound, ap_types_include, cxx_command

__all__ = ["APACHE_NOTICE", "PROPRIETARY_NOTICES", "CsimBuildError", "CsimResult",
           "CsimRunError", "HeaderCheck", "LicenceError", "build", "check_ap_headers",
           "parse_tripcounts", "run"]

#: The notice every ``ap_types`` header on the include path must carry.
APACHE_NOTICE = "Licensed under the Apache License, Version 2.0"

#: Notices that keep a header off the include path, whatever else it says.
PROPRIETARY_NOTICES = ("confidential and proprietary", "proprietary information")

#: The headers a design includes to get the arbitrary-precision types.
AP_ROOTS = ("ap_int.h", "ap_fixed.h")

#: ``-O`` levels :func:`build` accepts.
OPT_LEVELS = ("0", "1", "2", "3", "s", "g")

_SHIM_DIR, _SRC_DIR, _AP_DIR = "_sf_include", "src", "_ap_types"
_SRC_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*")
_SRC_SUFFIXES = (".cpp", ".cc", ".cxx", ".h", ".hpp", ".hh", ".inc")
_UNIT_SUFFIXES = (".cpp", ".cc", ".cxx")
_ARRAY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_MACRO = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MACRO_VALUE = re.compile(r"-?[A-Za-z0-9_.]+")
_INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)
_MISSING_HEADER = re.compile(r"fatal error: ([^\s:]+): No such file or directory")
_STDERR_LINES = 60


class LicenceError(SparseforgeError, RuntimeError):
    """An ``ap_types`` header that the build needs fails the licence check."""


class CsimBuildError(SparseforgeError, RuntimeError):
    """g++ failed.

    Attributes
    ----------
    command : list of str
        The compiler command (run in the build folder).
    stderr : str
        The compiler's complete error output (the message holds its first lines).
    """

    def __init__(self, message: str, command: Sequence[str], stderr: str) -> None:
        super().__init__(message)
        self.command = list(command)
        self.stderr = stderr


class CsimRunError(SparseforgeError, RuntimeError):
    """A C-sim executable failed, timed out, or left a missing or wrong-sized output."""


@dataclass(frozen=True)
class HeaderCheck:
    """What :func:`check_ap_headers` found in an ``ap_types`` folder.

    Attributes
    ----------
    folder : Path
        The folder checked.
    accepted : dict[str, str]
        Relative path -> SHA-256 of the headers that go on the include path.
    refused : dict[str, str]
        Relative path -> reason, for every other header file of the folder.
    """

    folder: Path
    accepted: dict[str, str]
    refused: dict[str, str]


@dataclass(frozen=True)
class CsimResult:
    """Outcome of :func:`run`.

    Attributes
    ----------
    outputs : dict[str, numpy.ndarray]
        Output name -> array of the requested dtype and shape.
    stdout, stderr : str
        What the executable printed.
    tripcounts : dict[str, int]
        ``SF_TRIP`` label -> iterations counted (empty if no ``tripcounts.txt``).
    """

    outputs: dict[str, np.ndarray]
    stdout: str = ""
    stderr: str = ""
    tripcounts: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.outputs[name]


# --------------------------------------------------------------------------- public API


def build(sources: Mapping[str, str] | Sequence[str | Path], build_dir: str | Path, *,
          name: str = "csim", defines: Mapping[str, int | str | None] | None = None,
          flags: Sequence[str] = (), opt_level: str | int = "2", std: str = "c++17",
          ap_types: str | Path | None = None, timeout: float = 600.0) -> Path:
    """Compile ``sources`` into the executable ``<build_dir>/<name>`` (cached).

    Parameters
    ----------
    sources : Mapping[str, str] or Sequence[path]
        Relative path -> C++ text (rendered files), or files to copy in by their
        base name.  They are written to ``<build_dir>/src/`` (which holds nothing
        else); every ``.cpp`` / ``.cc`` / ``.cxx`` file is a translation unit.
    build_dir : path
        The build folder; created if missing, reused between builds.
    name : str, default "csim"
        File name of the executable.
    defines : Mapping[str, int | str | None], optional
        ``-D`` macros: name -> value (``None``: defined without a value).
    flags : Sequence[str]
        Further compiler arguments, passed as given (no shell).
    opt_level : str or int, default "2"
        ``-O`` level, one of :data:`OPT_LEVELS`.
    std : str, default "c++17"
        ``-std=`` value (``c++14``, ``c++17``, ``c++20``, ``gnu++17``, ...).
    ap_types : path, optional
        The ``ap_types`` folder (default: the hls4ml wheel's,
        :func:`sparseforge.toolchain.ap_types_include`).
    timeout : float, default 600
        Seconds the compiler may take.

    Returns
    -------
    Path
        The executable.  It is not rebuilt when nothing that makes it changed.

    Raises
    ------
    ConfigError
        A source name, macro or option that cannot be used; the message names it.
    LicenceError
        A header ``ap_int.h`` / ``ap_fixed.h`` needs fails the licence check.
    ToolNotFound
        No g++ (or ``$CXX``), or hls4ml is not installed (``pip install hls4ml``).
    CsimBuildError
        The compiler failed: the message holds its first error lines and the command.
    """
    texts = _source_texts(sources)
    if not _ARRAY_NAME.fullmatch(name) or name.endswith(".sha256"):
        raise ConfigError(f"executable name = {name!r}; allowed: letters, digits, '_', '.', '-'")
    units = [path for path in texts if path.endswith(_UNIT_SUFFIXES)]
    if not units:
        raise ConfigError(f"sources {sorted(texts)}: no translation unit; allowed: at least "
                          f"one file ending in {', '.join(_UNIT_SUFFIXES)}")
    opt = str(opt_level)
    if opt not in OPT_LEVELS:
        raise ConfigError(f"opt_level = {opt_level!r}; allowed: {', '.join(OPT_LEVELS)}")
    if not isinstance(std, str) or not re.fullmatch(r"(c|gnu)\+\+(11|14|17|20|2a|23|2b)", std):
        raise ConfigError(f"std = {std!r}; allowed: c++11 to c++23 (or gnu++...)")
    if isinstance(flags, str) or not all(isinstance(f, str) for f in flags):
        raise ConfigError(f"flags = {flags!r}; allowed: a list of compiler arguments (str)")
    checked = check_ap_headers(ap_types)
    cxx = cxx_command()

    root = Path(build_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    shim = common_headers()
    _sync_folder(root / _SHIM_DIR, shim)
    _sync_folder(root / _SRC_DIR, texts)
    _sync_folder(root / _AP_DIR, {rel: (checked.folder / rel).read_text(encoding="utf-8")
                                  for rel in checked.accepted})

    exe_tmp = f"{name}.tmp{os.getpid()}"
    command = [cxx, f"-std={std}", f"-O{opt}", *_define_flags(defines or {}),
               "-I", _SHIM_DIR, "-I", _SRC_DIR, "-isystem", _AP_DIR, *flags,
               *(f"{_SRC_DIR}/{u}" for u in units), "-o", exe_tmp]
    key = _digest({
        "command": [*command[1:-1], name],
        "compiler": _compiler_identity(cxx),
        "sources": {p: _sha256(t) for p, t in texts.items()},
        "shim": {p: _sha256(t) for p, t in shim.items()},
        "ap_types": checked.accepted,
    })
    exe, stamp = root / name, root / f"{name}.sha256"
    if exe.is_file() and stamp.is_file() and stamp.read_text().strip() == key:
        return exe

    try:
        proc = subprocess.run(command, cwd=root, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        (root / exe_tmp).unlink(missing_ok=True)
        raise CsimBuildError(f"g++ ran longer than {timeout:g} s; command (in {root}): "
                             f"{shlex.join(command)}", command, "") from None
    if proc.returncode != 0:
        (root / exe_tmp).unlink(missing_ok=True)
        raise CsimBuildError(_build_message(proc, command, root, checked),
                             command, proc.stderr)
    stamp.unlink(missing_ok=True)
    os.replace(root / exe_tmp, exe)
    stamp.write_text(key + "\n")
    return exe


def run(executable: str | Path, inputs: Mapping[str, np.ndarray] | None = None,
        outputs: Mapping[str, tuple[object, int | Sequence[int]]] | None = None, *,
        args: Sequence[str] = (), timeout: float = 60.0,
        run_dir: str | Path | None = None) -> CsimResult:
    """Run a C-sim executable on ``inputs`` and read its ``outputs``.

    The executable is started as ``executable RUN_DIR *args`` with ``RUN_DIR`` its
    working directory (``sf::init(argc, argv)`` of ``sf_csim_io.h`` reads it).

    Parameters
    ----------
    executable : path
        What :func:`build` returned.
    inputs : Mapping[str, numpy.ndarray], optional
        Name -> array, written to ``RUN_DIR/<name>.bin`` as raw little-endian
        elements in C order (``int32`` -> 4 bytes per element, and so on).
    outputs : Mapping[str, (dtype, shape)], optional
        Name -> (numpy dtype, shape) of each array the executable writes to
        ``RUN_DIR/<name>.bin``; read back little-endian.
    args : Sequence[str]
        Further command-line arguments.
    timeout : float, default 60
        Seconds the executable may run.
    run_dir : path, optional
        Folder to run in (kept afterwards; earlier outputs in it are deleted first).
        Default: a fresh temporary folder, deleted after a successful run and kept
        (its path in the error) after a failed one.

    Returns
    -------
    CsimResult
        The outputs, stdout / stderr, and the trip counts of ``tripcounts.txt``.

    Raises
    ------
    ConfigError
        An array name that is not a plain file name, or an input of object dtype.
    CsimRunError
        The executable exited with a non-zero status or a signal (an ``hls::stream``
        read while empty aborts), ran past ``timeout``, or an output file is missing
        or has the wrong size; the message says which and shows its stderr.
    """
    inputs, outputs = dict(inputs or {}), dict(outputs or {})
    specs = {name: _output_spec(name, spec) for name, spec in outputs.items()}
    for name in inputs:
        _check_array_name("input", name)
    clash = sorted(set(inputs) & set(specs))
    if clash:
        raise ConfigError(f"array names {clash} are both inputs and outputs; rename one")
    exe = Path(executable).resolve()
    if not exe.is_file():
        raise CsimRunError(f"executable {exe} does not exist (build it with csim.build)")
    temporary = run_dir is None
    folder = Path(tempfile.mkdtemp(prefix="sf_csim_")) if temporary else Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name in [*specs, "tripcounts"]:
        (folder / (f"{name}.bin" if name in specs else "tripcounts.txt")).unlink(missing_ok=True)
    for name, array in inputs.items():
        (folder / f"{name}.bin").write_bytes(_le_bytes(name, array))

    command = [str(exe), str(folder.resolve()), *map(str, args)]
    try:
        proc = subprocess.run(command, cwd=folder, capture_output=True, text=True,
                              errors="replace", timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise CsimRunError(f"{exe.name} ran longer than {timeout:g} s (run folder kept: "
                           f"{folder})") from None
    if proc.returncode != 0:
        raise CsimRunError(f"{exe.name} {_exit_text(proc.returncode)} (run folder kept: "
                           f"{folder}); stderr:\n{_tail(proc.stderr)}")
    results = {name: _read_output(folder, name, dtype, shape)
               for name, (dtype, shape) in specs.items()}
    counts_file = folder / "tripcounts.txt"
    counts = parse_tripcounts(counts_file.read_text()) if counts_file.is_file() else {}
    if temporary:
        shutil.rmtree(folder, ignore_errors=True)
    return CsimResult(results, proc.stdout, proc.stderr, counts)


def parse_tripcounts(text: str) -> dict[str, int]:
    """``label -> count`` from the text of a ``tripcounts.txt`` (lines ``label count``).

    Blank lines are skipped.

    Raises
    ------
    CsimRunError
        A line is not ``label count`` with a non-negative integer count, or a label
        appears twice; the message quotes the line and its number.
    """
    counts: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise CsimRunError(f"tripcounts.txt line {number}: {line!r}; expected "
                               "'label count' with a non-negative integer count")
        if parts[0] in counts:
            raise CsimRunError(f"tripcounts.txt line {number}: label {parts[0]!r} appears "
                               "twice")
        counts[parts[0]] = int(parts[1])
    return counts


def check_ap_headers(folder: str | Path | None = None) -> HeaderCheck:
    """Apply the licence rule to an ``ap_types`` folder.

    Every ``*.h`` file below ``folder`` is looked at.  A header is accepted when it is
    a candidate (``ap_*.h`` at the top, ``etc/*.h``, or included from the folder by an
    accepted header), carries :data:`APACHE_NOTICE` and carries none of
    :data:`PROPRIETARY_NOTICES` (compared case-insensitively, whitespace and comment
    marks ignored, so a notice wrapped over lines still counts).

    Parameters
    ----------
    folder : path, optional
        Default: the hls4ml wheel's ``templates/vivado/ap_types``.

    Raises
    ------
    ToolNotFound
        ``folder`` is None and hls4ml is not installed, or the folder lacks
        ``ap_int.h`` / ``ap_fixed.h``; the message says ``pip install hls4ml``.
    LicenceError
        ``ap_int.h``, ``ap_fixed.h`` or a header they include from the folder fails
        the rule; the message names the file and why.
    """
    root = ap_types_include() if folder is None else Path(folder)
    root = root.resolve()
    missing = [h for h in AP_ROOTS if not (root / h).is_file()]
    if missing:
        raise ToolNotFound(f"ap_types folder {root} lacks {', '.join(missing)}; fix: pip "
                           "install hls4ml  (its wheel carries the Apache-2.0 ap_int.h / "
                           "ap_fixed.h)")
    headers = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*.h"))
               if p.is_file()}
    verdicts = {rel: _licence_problem(path.read_text(encoding="utf-8", errors="replace"))
                for rel, path in headers.items()}

    # what ap_int.h / ap_fixed.h need, transitively, inside the folder
    needed, todo = set(), list(AP_ROOTS)
    while todo:
        rel = todo.pop()
        if rel in needed:
            continue
        needed.add(rel)
        problem = verdicts[rel]
        if problem:
            raise LicenceError(
                f"ap_types header {root / rel} {problem}; it is needed by "
                f"{' / '.join(AP_ROOTS)}, so no C-simulation build can use this folder. "
                "sparseforge only compiles against headers licensed under Apache-2.0 "
                "(fix: pip install hls4ml>=1.0, whose ap_types headers are)")
        text = headers[rel].read_text(encoding="utf-8", errors="replace")
        for inc in _INCLUDE.findall(text):
            for target in (inc, (Path(rel).parent / inc).as_posix()):
                if target in headers:
                    todo.append(target)
                    break

    accepted, refused = {}, {}
    for rel, path in headers.items():
        candidate = rel in needed or (
            "/" not in rel and rel.startswith("ap_")) or rel.startswith("etc/")
        if verdicts[rel]:
            refused[rel] = verdicts[rel]
        elif not candidate:
            refused[rel] = "is not an ap_int / ap_fixed header (not used)"
        else:
            accepted[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return HeaderCheck(root, accepted, refused)


# --------------------------------------------------------------------------- the parts


def _licence_problem(text: str) -> str:
    """``""`` if ``text`` passes the licence rule, else why not."""
    flat = " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())
    for notice in PROPRIETARY_NOTICES:
        if " ".join(re.sub(r"[^a-z0-9]+", " ", notice).split()) in flat:
            return f"carries a proprietary notice ({notice!r})"
    if " ".join(re.sub(r"[^a-z0-9]+", " ", APACHE_NOTICE.lower()).split()) not in flat:
        return f"carries no Apache-2.0 notice ({APACHE_NOTICE!r})"
    return ""


def _source_texts(sources: Mapping[str, str] | Sequence[str | Path]) -> dict[str, str]:
    if isinstance(sources, Mapping):
        texts = dict(sources)
    elif isinstance(sources, Sequence) and not isinstance(sources, (str, bytes)):
        texts = {}
        for item in sources:
            path = Path(item)
            if not path.is_file():
                raise ConfigError(f"source file {str(item)!r} does not exist")
            if path.name in texts:
                raise ConfigError(f"two source files are named {path.name!r}; sources are "
                                  "copied into the build folder by base name")
            texts[path.name] = path.read_text(encoding="utf-8")
    else:
        raise ConfigError(f"sources = {sources!r}; allowed: a mapping of file name -> C++ "
                          "text, or a list of file paths")
    if not texts:
        raise ConfigError("sources: empty; a build needs at least one .cpp file")
    for path, text in texts.items():
        if (not isinstance(path, str) or not _SRC_PATH.fullmatch(path)
                or not path.endswith(_SRC_SUFFIXES)):
            raise ConfigError(f"source name {path!r}: allowed: a relative path of letters, "
                              "digits, '_', '.', '-' (no leading '.', no '..') ending in "
                              f"{', '.join(_SRC_SUFFIXES)}")
        if Path(path).name in common_headers():
            raise ConfigError(f"source name {path!r}: {Path(path).name} is sparseforge's own "
                              "C-sim header (templates/hls/common/); rename the source")
        if not isinstance(text, str):
            raise ConfigError(f"sources[{path!r}]: expected C++ text, got "
                              f"{type(text).__name__}")
    return dict(sorted(texts.items()))


def _define_flags(defines: Mapping[str, int | str | None]) -> list[str]:
    out = []
    for macro, value in sorted(defines.items()):
        if not isinstance(macro, str) or not _MACRO.fullmatch(macro):
            raise ConfigError(f"define name {macro!r}; allowed: a C macro name "
                              "([A-Za-z_][A-Za-z0-9_]*)")
        if value is None:
            out.append(f"-D{macro}")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, str)) or (
                isinstance(value, str) and not _MACRO_VALUE.fullmatch(value)):
            raise ConfigError(f"define {macro} = {value!r}; allowed: an int, None, or a "
                              "token of letters, digits, '_', '.' (optionally '-' first)")
        out.append(f"-D{macro}={value}")
    return out


def _sync_folder(folder: Path, files: Mapping[str, str]) -> None:
    """Make ``folder`` hold exactly ``files``; files whose text is unchanged are not
    rewritten (their modification times stay)."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.rglob("*"), reverse=True):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel not in files:
            path.unlink()
        elif path.is_dir() and not any(f.startswith(rel + "/") for f in files):
            shutil.rmtree(path)
    for rel, text in files.items():
        target = folder / rel
        data = text.encode("utf-8")
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@functools.cache
def _compiler_version(cxx: str, mtime_ns: int) -> str:
    try:
        proc = subprocess.run([cxx, "--version"], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolNotFound(f"running {cxx} --version failed: {exc}") from None
    return (proc.stdout or proc.stderr).strip()


def _compiler_identity(cxx: str) -> str:
    return f"{cxx}\n{_compiler_version(cxx, Path(cxx).stat().st_mtime_ns)}"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _digest(data: dict) -> str:
    return _sha256(json.dumps(data, sort_keys=True))


def _build_message(proc: subprocess.CompletedProcess, command: Sequence[str], root: Path,
                   checked: HeaderCheck) -> str:
    stderr, notes = proc.stderr, []
    for header in dict.fromkeys(_MISSING_HEADER.findall(stderr)):
        reason = checked.refused.get(header)
        if reason is not None:
            notes.append(f"{header} is in {checked.folder} but not on the include path: it "
                         f"{reason}; C-simulation uses only the Apache-2.0 ap_int / "
                         "ap_fixed headers and sparseforge's own hls_stream.h")
    lines = [f"{Path(command[0]).name} exited with status {proc.returncode}; its first "
             "error lines:", _head(stderr),
             f"command (run in {root}): {shlex.join(command)}", *notes]
    return "\n".join(lines)


def _head(text: str) -> str:
    lines = text.strip().splitlines()
    more = len(lines) - _STDERR_LINES
    return "\n".join(lines[:_STDERR_LINES] + ([f"... ({more} more lines)"] if more > 0 else []))


def _tail(text: str) -> str:
    lines = text.strip().splitlines()
    more = len(lines) - _STDERR_LINES
    return "\n".join(([f"({more} earlier lines) ..."] if more > 0 else [])
                     + lines[-_STDERR_LINES:]) or "(empty)"


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _check_array_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not _ARRAY_NAME.fullmatch(name) or name == "tripcounts":
        raise ConfigError(f"{kind} name {name!r}: allowed: a file name of letters, digits, "
                          "'_', '.', '-' (not 'tripcounts'); the file is RUN_DIR/<name>.bin")
    return name


def _output_spec(name: str, spec: object) -> tuple[np.dtype, tuple[int, ...]]:
    _check_array_name("output", name)
    try:
        dtype, shape = spec  # type: ignore[misc]
        dtype = np.dtype(dtype)
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        shape = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ConfigError(f"output {name!r} = {spec!r}; allowed: (dtype, shape), e.g. "
                          "(np.int32, (16, 8))") from None
    if dtype.hasobject or any(s < 0 for s in shape):
        raise ConfigError(f"output {name!r} = {spec!r}: dtype must be numeric and the "
                          "shape non-negative")
    return dtype, shape


def _le_bytes(name: str, array: object) -> bytes:
    arr = np.asarray(array)
    if arr.dtype.hasobject:
        raise ConfigError(f"input {name!r} has dtype object; allowed: numeric arrays")
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()


def _read_output(folder: Path, name: str, dtype: np.dtype,
                 shape: tuple[int, ...]) -> np.ndarray:
    path = folder / f"{name}.bin"
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if not path.is_file():
        present = sorted(p.name for p in folder.iterdir())
        raise CsimRunError(f"output {name!r}: the executable wrote no {path.name} in {folder} "
                           f"(files there: {', '.join(present) or 'none'})")
    size = path.stat().st_size
    if size != expected:
        raise CsimRunError(f"output {name!r}: {path} holds {size} bytes; expected {expected} "
                           f"(shape {shape} of {dtype}, {dtype.itemsize} bytes each)")
    data = np.frombuffer(path.read_bytes(), dtype=dtype.newbyteorder("<"))
    return data.astype(dtype).reshape(shape)
