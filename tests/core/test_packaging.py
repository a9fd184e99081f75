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


#: The import rules of docs/architecture.md: layer -> what its modules may not import.
IMPORT_RULES = {
    # the core runs with numpy alone (its verbs import generators lazily, inside functions)
    "sparseforge": {"amaranth", "jinja2", "cocotb", "cocotb_tools", "cocotbext", "torch",
                    "matplotlib", "pynq", "sparseforge.hwgen", "sparseforge.sim",
                    "sparseforge.host"},
    # generators: core, amaranth, jinja2; never the simulators or the board side
    "sparseforge.hwgen": {"cocotb", "cocotb_tools", "cocotbext", "torch", "pynq",
                          "sparseforge.sim", "sparseforge.host"},
    # drivers: core, numpy, pynq; a PYNQ image has no generator or simulator
    "sparseforge.host": {"amaranth", "jinja2", "cocotb", "cocotb_tools", "cocotbext", "torch",
                         "sparseforge.hwgen", "sparseforge.sim"},
}
#: Sub-packages of the core package that are other layers (checked on their own).
_LAYERS = ("sparseforge.hwgen", "sparseforge.sim", "sparseforge.host", "sparseforge.boards",
           "sparseforge.templates")


@pytest.mark.parametrize("layer", list(IMPORT_RULES))
def test_layer_imports_follow_the_rules(layer):
    code = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        BLOCKED = {sorted(IMPORT_RULES[layer])!r}
        LAYERS = {_LAYERS!r}
        class Block:
            def find_spec(self, name, path=None, target=None):
                if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                    raise ImportError(f"{layer} must not import {{name}}")
        sys.meta_path.insert(0, Block())
        pkg = importlib.import_module({layer!r})
        count = 0
        for mod in pkgutil.walk_packages(pkg.__path__, {layer!r} + "."):
            other = [x for x in LAYERS if x != {layer!r}]
            if mod.name.startswith(tuple(other)) or mod.name.endswith(".__main__"):
                continue
            importlib.import_module(mod.name)
            count += 1
        print(count)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) >= 3  # the walk found the layer's modules


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


#: Families the roadmap names, with the name each has in the registry once it lands.
ROADMAP = {"SAT": "sat", "Edge-MoE": "edgemoe", "PIM-GPT": "pimgpt", "NeuPIMs": "neupims",
           "FlightLLM": "flightllm"}


def test_readme_claims_only_registered_families():
    from sparseforge.families import design_names

    readme = (ROOT / "README.md").read_text()
    landed = {name for name, key in ROADMAP.items() if key in design_names()}
    coming = set(ROADMAP) - landed
    # before the "Coming" paragraph, the README speaks only of what works
    intro = readme.split("**Coming**")[0].split("## Quick start")[0]
    for name in coming:
        assert name not in intro, f"README presents {name} as working before it landed"
    # the designs x boards table: a family that has not landed has no capability cell
    table = readme[readme.index("## Designs × boards"):].split("\n## ")[0]
    rows = [r.split("|")[1:-1] for r in table.splitlines() if r.startswith("| ")][1:]
    for cells in rows:
        family = cells[0].strip()
        if any(name in family for name in coming):
            assert {c.strip() for c in cells[1:]} <= {"not yet", "–", "n/a"}, cells
