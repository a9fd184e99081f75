"""Output folders (``--out DIR``): written atomically, and only where that is safe.

A verb that writes a folder (``generate``, ``flow``,
:func:`sparseforge.hwgen.project.emit_project_dir`) builds it in a staging folder
next to the target and swaps it in only when everything was written, so a failed
run leaves no half-written folder and an earlier one untouched.

Replacing a folder deletes what was in it, so :func:`check_output_dir` decides
first whether the target may be replaced:

* absent, or an empty folder: yes;
* a folder holding :data:`MARKER` (the file sparseforge writes into every output
  folder): yes, the folder is sparseforge's own, an earlier run's output;
* anything else (a folder with other files, a plain file): only with ``force``
  (``--force`` on the command line);
* never, not even with ``force``: the current directory or a folder containing it,
  the home directory or a folder containing it, a repository root (a folder
  holding ``.git``) or a folder with a repository anywhere below it, a ``.git``
  folder or anything in one, and the filesystem root.

The new folder gets the permissions ``os.mkdir`` gives under the process umask;
a replaced folder keeps its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from .errors import ConfigError

__all__ = ["MARKER", "OutputDirError", "atomic_output_dir", "check_output_dir",
           "is_sparseforge_output"]

#: The marker file sparseforge writes into every output folder it creates; only
#: a folder holding it (with :data:`MARKER_CONTENT`'s ``written_by``) is replaced
#: without ``--force``.
MARKER = ".sparseforge-output"

#: What :data:`MARKER` holds (JSON; no version or date, so that output stays
#: byte-identical for the same input).
MARKER_CONTENT = {
    "written_by": "sparseforge",
    "note": "sparseforge replaces this folder as a whole when it writes here again; "
            "delete this file to protect the folder",
}


class OutputDirError(ConfigError):
    """The output folder may not be replaced (the CLI exits with status 2)."""


def is_sparseforge_output(folder: Path) -> bool:
    """Whether ``folder`` holds sparseforge's :data:`MARKER` file (a folder it wrote)."""
    marker = Path(folder) / MARKER
    if marker.is_symlink() or not marker.is_file():
        return False
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and data.get("written_by") == MARKER_CONTENT["written_by"]


def _is_within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_output_dir(target: str | os.PathLike, *, force: bool = False) -> Path:
    """Check that ``target`` may be (re)placed by an output folder; return it resolved.

    Parameters
    ----------
    target : path
        The output folder (``--out``); ``~`` is not expanded (the shell does that).
    force : bool
        Replace a folder that sparseforge did not write (``--force``).

    Returns
    -------
    Path
        ``target``, absolute with symbolic links resolved.

    Raises
    ------
    OutputDirError
        ``target`` is the filesystem root, the current directory or the home
        directory or contains one of them, or is a repository root or in a ``.git``
        folder (whatever ``force`` says); or it is a non-empty folder without :data:`MARKER`, or
        not a folder, and ``force`` is false.  The message names the folder.
    """
    path = Path(target).resolve()
    cwd = Path.cwd().resolve()
    try:
        home = Path.home().resolve()
    except (KeyError, RuntimeError):  # no HOME and no password entry: nothing to protect
        home = None
    never = "sparseforge never replaces it, not even with --force; choose a new folder"
    if path.parent == path:
        raise OutputDirError(f"output folder {path} is the filesystem root; {never}")
    if path == cwd:
        raise OutputDirError(f"output folder {path} is the current directory; {never} "
                             "(e.g. --out build/NAME)")
    if _is_within(cwd, path):
        raise OutputDirError(f"output folder {path} contains the current directory {cwd}; "
                             f"{never}")
    if path == home:
        raise OutputDirError(f"output folder {path} is the home directory; {never}")
    if home is not None and _is_within(home, path):
        raise OutputDirError(f"output folder {path} contains the home directory {home}; "
                             f"{never}")
    if ".git" in path.parts:
        raise OutputDirError(f"output folder {path} is inside a repository's .git folder; "
                             f"{never}")
    if not path.exists():
        return path
    if not path.is_dir():
        if force:
            return path
        raise OutputDirError(f"output {path} exists and is not a folder; pass --force to "
                             "replace it, or choose another --out")
    if (path / ".git").exists():
        raise OutputDirError(f"output folder {path} is a repository root (it holds .git); "
                             f"{never}")
    nested = _nested_repository(path)
    if nested is not None:
        raise OutputDirError(f"output folder {path} holds a repository at {nested} (it has "
                             f".git); {never}")
    if force or is_sparseforge_output(path) or not any(path.iterdir()):
        return path
    raise OutputDirError(f"output folder {path} is not empty and was not written by "
                         f"sparseforge (no {MARKER} file); replacing it would delete what is "
                         "in it: pass --force to replace it, or choose another --out")


def _nested_repository(folder: Path) -> Path | None:
    """The first folder below ``folder`` that holds ``.git`` (a repository or a
    submodule), or ``None``; symbolic links are not followed."""
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            if entry.name == ".git":
                return Path(current)
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
    return None


def _new_sibling(target: Path, tag: str) -> Path:
    """A new folder ``.<name>.<tag>-<random>`` next to ``target``, created like ``os.mkdir``
    (mode 0o777 less the umask; ``tempfile.mkdtemp`` would make it 0o700)."""
    while True:
        path = target.with_name(f".{target.name}.{tag}-{secrets.token_hex(4)}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path


@contextlib.contextmanager
def atomic_output_dir(target: str | os.PathLike, *, force: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder next to ``target``; on success it replaces ``target``.

    :func:`check_output_dir` runs first, before anything is created; then the
    body writes into the staging folder, :data:`MARKER` is added, and the staging
    folder is renamed to ``target`` (an existing ``target`` is first renamed
    aside, then deleted).  On an exception the staging folder is removed and
    ``target`` (if it existed) is left exactly as it was.

    Parameters
    ----------
    target : path
        The output folder.
    force : bool
        Replace a folder (or file) that sparseforge did not write.

    Raises
    ------
    OutputDirError
        See :func:`check_output_dir`.
    """
    target = check_output_dir(target, force=force)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _new_sibling(target, "staging")
    try:
        yield staging
        (staging / MARKER).write_text(json.dumps(MARKER_CONTENT, indent=2, sort_keys=True)
                                      + "\n", encoding="utf-8")
        if target.is_dir() and not target.is_symlink():
            os.chmod(staging, stat.S_IMODE(target.stat().st_mode))  # keep the folder's mode
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = None
    if target.exists() or target.is_symlink():
        old = _new_sibling(target, "old")
        target.rename(old / "previous")
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
