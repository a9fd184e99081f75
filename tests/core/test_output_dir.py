"""Output folders (``--out DIR``): only a folder sparseforge wrote is replaced.

Issue 10, defect 1: ``generate sat --out DIR`` used to delete whatever was in DIR
(a user's ``notes.txt``, or the whole current directory with ``--out .``) and
left the folder at mode 0700.  These tests pin the rules of
:mod:`sparseforge.output_dir`: a folder is replaced only when it is absent,
empty, or carries sparseforge's marker file; any other folder needs ``--force``;
the current directory (and the folders above it), a repository root, the home
directory (and the folders above it) and the filesystem root are never replaced;
the new folder has the permissions ``os.mkdir`` gives.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest

from sparseforge.cli import main
from sparseforge.errors import ConfigError
from sparseforge.output_dir import (
    MARKER,
    OutputDirError,
    atomic_output_dir,
    check_output_dir,
)


def _write(target: Path, **kwargs) -> None:
    with atomic_output_dir(target, **kwargs) as staging:
        (staging / "a.txt").write_text("new\n")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".staging-" in p.name or ".old-" in p.name]


@pytest.fixture
def umask():
    """Set the process umask for one test, restoring it afterwards."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


# --------------------------------------------------------------------------- the CLI


def test_generate_keeps_a_users_notes(tmp_path, capsys):
    """The reported case: a notes.txt in the target folder was gone after one run."""
    out = tmp_path / "work"
    out.mkdir()
    (out / "notes.txt").write_text("my notes\n")
    code = main(["generate", "sat", "--board", "zcu104", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert (out / "notes.txt").read_text() == "my notes\n"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert str(out.resolve()) in err and "--force" in err and "not written by sparseforge" in err
    assert _leftovers(tmp_path) == []


def test_generate_force_replaces_a_foreign_folder_and_regenerates_its_own(tmp_path, capsys):
    out = tmp_path / "work"
    out.mkdir()
    (out / "notes.txt").write_text("my notes\n")
    argv = ["generate", "sat", "--board", "zcu104", "--out", str(out)]
    assert main([*argv, "--force"]) == 0
    assert not (out / "notes.txt").exists() and (out / "rtl/sat_kernel.v").is_file()
    assert json.loads((out / MARKER).read_text())["written_by"] == "sparseforge"
    # Its own folder is replaced without --force: a file of the old run is gone.
    assert main([*argv, "--set", "kernel_name=other_kernel"]) == 0
    assert (out / "rtl/other_kernel.v").is_file() and not (out / "rtl/sat_kernel.v").exists()
    assert _leftovers(tmp_path) == []
    capsys.readouterr()


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_generate_refuses_the_current_directory(tmp_path, monkeypatch, capsys, force):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("my notes\n")
    code = main(["generate", "sat", "--board", "zcu104", "--out", ".", *force])
    err = capsys.readouterr().err
    assert code == 2 and "current directory" in err and str(tmp_path.resolve()) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_flow_refuses_a_foreign_folder_before_running_a_step(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    from sparseforge.families.sat import family as sat

    def boom(*args):
        raise AssertionError("a step ran")

    monkeypatch.setattr(sat, "FAMILY", dataclasses.replace(sat.FAMILY, generate=boom))
    out = tmp_path / "flow"
    out.mkdir()
    (out / "notes.txt").write_text("x")
    code = main(["flow", "sat", "--board", "zcu104", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and str(out.resolve()) in err and "--force" in err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_force_is_an_option_of_the_verbs_that_write_folders():
    from sparseforge.cli import build_parser

    parser = build_parser()
    for verb in ("generate", "flow"):
        args = parser.parse_args([verb, "sat", "--out", "x", "--force"])
        assert args.force is True
        assert parser.parse_args([verb, "sat", "--out", "x"]).force is False


# --------------------------------------------------------------------------- the rules


def test_absent_folder_is_created_with_the_mkdir_permissions(tmp_path, umask):
    for mask in (0o022, 0o027, 0o077):
        umask(mask)
        reference = tmp_path / f"ref-{mask:o}"
        os.mkdir(reference)
        out = tmp_path / f"deep-{mask:o}" / "out"
        _write(out)
        assert _mode(out) == _mode(reference), f"umask {mask:03o}"
        assert _mode(out.parent) == _mode(reference)
        assert (out / "a.txt").read_text() == "new\n"
        assert _mode(out / MARKER) == _mode(out / "a.txt")


def test_replacing_keeps_the_folders_own_permissions(tmp_path, umask):
    umask(0o022)
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o750)
    _write(out)                 # empty folder: accepted, its mode kept
    assert _mode(out) == 0o750
    _write(out)                 # its own folder now
    assert _mode(out) == 0o750
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.txt"]


def test_empty_existing_folder_is_accepted(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert check_output_dir(out) == out.resolve()
    _write(out)
    assert (out / "a.txt").is_file() and (out / MARKER).is_file()


def test_marker_folder_is_replaced_as_a_whole(tmp_path):
    out = tmp_path / "out"
    _write(out)
    (out / "stale.v").write_text("old run\n")
    _write(out)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.txt"]
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("marker", ["", "not json", '{"written_by": "someone else"}', "[1]"])
def test_a_file_that_only_looks_like_the_marker_does_not_count(tmp_path, marker):
    out = tmp_path / "out"
    out.mkdir()
    (out / MARKER).write_text(marker)
    with pytest.raises(OutputDirError, match="--force"):
        _write(out)
    assert (out / MARKER).read_text() == marker


def test_foreign_folder_is_refused_and_force_replaces_it(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep\n")
    with pytest.raises(OutputDirError) as info:
        _write(out)
    message = str(info.value)
    assert str(out.resolve()) in message and "--force" in message
    assert isinstance(info.value, ConfigError)
    assert (out / "notes.txt").read_text() == "keep\n"
    _write(out, force=True)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.txt"]


def test_a_file_in_the_way_is_refused_and_force_replaces_it(tmp_path):
    out = tmp_path / "out"
    out.write_text("a file\n")
    with pytest.raises(OutputDirError, match="not a folder"):
        _write(out)
    assert out.read_text() == "a file\n"
    _write(out, force=True)
    assert (out / "a.txt").is_file()


@pytest.mark.parametrize("force", [False, True])
def test_current_directory_and_its_parents_are_never_replaced(tmp_path, monkeypatch, force):
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)
    for target, what in ((Path("."), "current directory"), (inner, "current directory"),
                         (Path(".."), "contains the current directory"),
                         (tmp_path, "contains the current directory")):
        with pytest.raises(OutputDirError, match=what) as info:
            _write(target, force=force)
        assert str(target.resolve()) in str(info.value)
    assert inner.is_dir() and list(inner.iterdir()) == []


@pytest.mark.parametrize("force", [False, True])
def test_home_directory_is_never_replaced(tmp_path, monkeypatch, force):
    home = tmp_path / "home" / "user"
    home.mkdir(parents=True)
    (home / ".bashrc").write_text("# mine\n")
    monkeypatch.setenv("HOME", str(home))
    for target, what in ((home, "home directory"), (Path("~").expanduser(), "home directory"),
                         (home.parent, "contains the home directory")):
        with pytest.raises(OutputDirError, match=what) as info:
            _write(target, force=force)
        assert str(target.resolve()) in str(info.value)
    assert (home / ".bashrc").read_text() == "# mine\n"


@pytest.mark.parametrize("git", ["dir", "file"])  # a clone, or a worktree / submodule
def test_repository_root_is_never_replaced(tmp_path, git):
    repo = tmp_path / "repo"
    repo.mkdir()
    if git == "dir":
        (repo / ".git").mkdir()
    else:
        (repo / ".git").write_text("gitdir: /elsewhere\n")
    # Even a repository sparseforge once wrote into (marker present) stays.
    (repo / MARKER).write_text(json.dumps({"written_by": "sparseforge"}))
    for force in (False, True):
        with pytest.raises(OutputDirError, match="repository") as info:
            _write(repo, force=force)
        assert str(repo.resolve()) in str(info.value)
    assert (repo / ".git").exists()


@pytest.mark.parametrize("git", ["dir", "file"])
def test_a_folder_with_a_repository_below_it_is_never_replaced(tmp_path, git):
    work = tmp_path / "work"
    nested = work / "projects" / "mine"
    nested.mkdir(parents=True)
    if git == "dir":
        (nested / ".git").mkdir()
    else:
        (nested / ".git").write_text("gitdir: /elsewhere\n")
    (work / MARKER).write_text(json.dumps({"written_by": "sparseforge"}))
    for force in (False, True):
        with pytest.raises(OutputDirError, match="holds a repository at") as info:
            _write(work, force=force)
        assert str(nested.resolve()) in str(info.value)
    assert (nested / ".git").exists()
    # a symbolic link to a repository is not followed (the link goes, the repo stays)
    other = tmp_path / "other"
    other.mkdir()
    (other / "link").symlink_to(nested, target_is_directory=True)
    _write(other, force=True)
    assert (nested / ".git").exists()


@pytest.mark.parametrize("inside", [".git", ".git/objects", ".git/new"])
def test_a_git_folder_is_never_replaced(tmp_path, inside):
    (tmp_path / "repo" / ".git" / "objects").mkdir(parents=True)
    with pytest.raises(OutputDirError, match=r"inside a repository's \.git folder"):
        _write(tmp_path / "repo" / inside, force=True)
    assert (tmp_path / "repo" / ".git" / "objects").is_dir()
    assert not (tmp_path / "repo" / ".git" / "new").exists()


def test_the_flow_command_line_records_force():
    from sparseforge.cli import build_parser
    from sparseforge.flow import command_line

    args = build_parser().parse_args(["flow", "sat", "--board", "zcu104", "--out", "o",
                                      "--force"])
    assert command_line(args) == "sparseforge flow sat --board zcu104 --out o --force"


def test_filesystem_root_is_never_replaced():
    with pytest.raises(OutputDirError, match="filesystem root"):
        check_output_dir(Path("/"), force=True)


def test_a_failed_run_leaves_the_folder_and_no_staging(tmp_path):
    out = tmp_path / "out"
    _write(out)
    with pytest.raises(RuntimeError):
        with atomic_output_dir(out) as staging:
            (staging / "b.txt").write_text("half")
            raise RuntimeError("render failed")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "a.txt"]
    assert _leftovers(tmp_path) == []


def test_the_check_runs_before_anything_is_created(tmp_path):
    out = tmp_path / "not-yet" / "out"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x").write_text("x")
    with pytest.raises(OutputDirError):
        with atomic_output_dir(foreign):
            raise AssertionError("the body ran")
    assert check_output_dir(out) == out.resolve()
    assert not (tmp_path / "not-yet").exists()
