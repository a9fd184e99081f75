"""Packaging rules: the folder mapping is complete and host/ stays light."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAPPING = {"sparseforge": "sparseforge", "hwgen": "sparseforge.hwgen", "sim": "sparseforge.sim",
           "host": "sparseforge.host", "boards": "sparseforge.boards",
           "templates": "sparseforge.templates"}


def _declared_packages():
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(data["tool"]["setuptools"]["packages"]), data


def test_every_package_folder_is_declared():
    declared, data = _declared_packages()
    assert data["tool"]["setuptools"]["package-dir"] == {v: k for k, v in MAPPING.items()}
    found = set()
    for folder, package in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]))
    assert found == declared


def test_board_extra_pulls_only_numpy_and_pynq():
    _, data = _declared_packages()
    project = data["project"]
    base = [d.split(";")[0].split(">")[0].split("=")[0].strip() for d in project["dependencies"]]
    assert set(base) <= {"numpy", "tomli"}
    assert [d.split(">")[0] for d in project["optional-dependencies"]["board"]] == ["pynq"]
    assert project["requires-python"] == ">=3.10"


def test_host_imports_without_generator_or_sim_packages():
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        BLOCKED = {"amaranth", "jinja2", "cocotb", "cocotb_tools", "cocotbext", "torch"}
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"host/ must not import {name}")
        sys.meta_path.insert(0, Block())
        import sparseforge.host as host
        for mod in pkgutil.walk_packages(host.__path__, "sparseforge.host."):
            importlib.import_module(mod.name)
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


@pytest.mark.parametrize("name", ["README.md", "CHANGELOG.md", "docs/index.md", ".ci/run"])
def test_project_files_exist(name):
    assert (ROOT / name).is_file()


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci/run").read_text()
    blocks = readme.split("```")
    commands = [b.split("\n", 1)[1].strip() for b in blocks[1::2] if b.startswith("bash")]
    install, test = commands[0], commands[1]
    for line in (install + "\n" + test).splitlines():
        assert line.strip() in ci, f"{line!r} from the README is not in .ci/run"
