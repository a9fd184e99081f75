"""The SAT RTL regression: emit Verilog, lint it, run the cocotb bench, report.

Used by ``sparseforge verify sat`` and by the slow tests.
"""

from __future__ import annotations

import json
from pathlib import Path

from sparseforge.families.sat.config import SatConfig
from sparseforge.sim.lib.cocotb_runner import run_cocotb
from sparseforge.sim.lib.stalls import Stalls
from sparseforge.sim.lib.verilator_lint import amaranth_waivers, lint
from sparseforge.sim.sat.vectors import default_vectors

__all__ = ["KERNEL_WAIVERS", "run_kernel_runs", "run_regression", "run_wgen_regression",
           "with_stalls"]

#: What the kernel's Verilog does on purpose, besides Amaranth's own warning classes.
KERNEL_WAIVERS = {"SYMRSVDWORD": "Vitis names the interrupt port `interrupt`, a C++ word"}


def _lint(source: Path, top: str, extra: dict[str, str] | None = None) -> dict:
    """Lint one file Amaranth wrote (its own warning classes waived in it only)."""
    return lint([source], top, amaranth_waivers(source, extra)).to_dict()


def with_stalls(items: list[dict], stalls: Stalls | dict | str | None,
                seed: int = 0) -> list[dict]:
    """``items`` (bench vectors or runs), then each again under ``stalls`` (id
    ``"<id>@stall"``, its own seed); ``items`` alone when ``stalls`` never stalls."""
    stalls = Stalls.of(stalls)
    if not stalls.active:
        return list(items)
    return list(items) + [{**v, "id": f"{v['id']}@stall",
                           "stalls": stalls.with_seed(seed * 1000 + i).to_dict()}
                          for i, v in enumerate(items)]


def run_regression(cfg: SatConfig, build_dir: Path, vectors: list[dict] | None = None,
                   simulator: str = "verilator", seed: int = 0,
                   stalls: Stalls | dict | str | None = "mixed") -> dict:
    """Build the engine for ``cfg`` and run ``vectors`` (default: :func:`default_vectors`).

    Every vector runs twice: as given (cycles must equal the model) and under
    ``stalls`` (:class:`~sparseforge.sim.lib.stalls.Stalls`, default the ``mixed``
    pattern on the data source and the result sink; ``None``: once, no stalls).
    Returns the bench report: ``{"vectors": [...], "passed", "failed", "sim_cycles",
    "cycles_per_second", "lint"}``; ``lint`` (Verilator only, else ``None``) is
    :meth:`LintResult.to_dict` of the engine's file: the lint passes or not, it does
    not stop the run, and ``failed`` counts vectors only.
    """
    from sparseforge.hwgen.sat.emit import write_verilog

    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    sources = write_verilog(cfg, build_dir / "rtl")
    engine_src = sources[cfg.name]
    lint_result = _lint(engine_src, cfg.name) if simulator == "verilator" else None
    vectors = default_vectors(cfg, seed=seed) if vectors is None else vectors
    vectors = with_stalls(vectors, stalls, seed)
    spec_path, report_path = build_dir / "spec.json", build_dir / "report.json"
    spec_path.write_text(json.dumps({"config": cfg.to_dict(), "vectors": vectors,
                                     "report": str(report_path)}))
    if report_path.exists():
        report_path.unlink()
    result = run_cocotb(
        sources=[engine_src], toplevel=cfg.name, test_module="sparseforge.sim.sat.engine_bench",
        build_dir=build_dir / f"sim_{simulator}", simulator=simulator,
        extra_env={"SAT_BENCH_SPEC": str(spec_path)}, waivers=amaranth_waivers(engine_src),
    )
    if not report_path.exists():
        raise RuntimeError(f"the bench wrote no report ({result.failures} cocotb failures); "
                           f"see {result.results_xml}")
    report = json.loads(report_path.read_text())
    report["passed"] = sum(v["passed"] for v in report["vectors"])
    report["failed"] = len(report["vectors"]) - report["passed"]
    report["lint"] = lint_result
    return report


def run_wgen_regression(cfg: SatConfig, build_dir: Path, simulator: str = "verilator",
                        seed: int = 0) -> dict:
    """Run the sparse weight generator bench (row-wise and column-wise, with and
    without back-pressure); returns ``{"cases": [...], "failed": int, "lint"}``
    (``lint`` as for :func:`run_regression`)."""
    from sparseforge.hwgen.sat.emit import weight_gen_name, write_verilog

    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    top = weight_gen_name(cfg)
    source = write_verilog(cfg, build_dir / "rtl")[top]
    lint_result = _lint(source, top) if simulator == "verilator" else None
    cases = [{"rows": 2 * cfg.m, "cols": 3 * cfg.m, "colwise": colwise, "stall": stall,
              "seed": seed + 10 * colwise + stall}
             for colwise in (False, True) for stall in (False, True)]
    spec_path, report_path = build_dir / "wgen_spec.json", build_dir / "wgen_report.json"
    spec_path.write_text(json.dumps({"config": cfg.to_dict(), "cases": cases,
                                     "report": str(report_path)}))
    if report_path.exists():
        report_path.unlink()
    run_cocotb(sources=[source], toplevel=top, test_module="sparseforge.sim.sat.wgen_bench",
               build_dir=build_dir / f"wgen_{simulator}", simulator=simulator,
               extra_env={"SAT_WGEN_SPEC": str(spec_path)}, waivers=amaranth_waivers(source))
    if not report_path.exists():
        raise RuntimeError("the weight-generator bench wrote no report")
    report = json.loads(report_path.read_text())
    report["failed"] = sum(1 for c in report["cases"] if c["mismatches"])
    report["lint"] = lint_result
    return report


def run_kernel_runs(cfg: SatConfig, build_dir: Path, runs: list[dict],
                    simulator: str = "verilator", lint: bool = True,
                    verilog: str | None = None) -> dict:
    """Build the SAT kernel (AXI shell + engine) and execute ``runs`` (command lists).

    Each run is ``{"id", "vectors": [...], "base"?}``; returns the bench report
    ``{"runs": [{"id", "cycles", "status", "mismatches", "passed", ...}], "lint", ...}``
    (``lint`` as for :func:`run_regression`, ``None`` with ``lint=False``).
    ``verilog``: the kernel's text if not ``kernel_verilog(cfg)`` (tests of a
    deliberately broken kernel).
    """
    from sparseforge.hwgen.sat.kernel import kernel_verilog

    build_dir = Path(build_dir).resolve()
    (build_dir / "rtl").mkdir(parents=True, exist_ok=True)
    source = build_dir / "rtl" / f"{cfg.kernel_name}.v"
    text = kernel_verilog(cfg) if verilog is None else verilog
    if not source.exists() or source.read_text() != text:
        source.write_text(text)
    lint_result = _lint(source, cfg.kernel_name, KERNEL_WAIVERS) \
        if lint and simulator == "verilator" else None
    spec_path, report_path = build_dir / "kernel_spec.json", build_dir / "kernel_report.json"
    spec_path.write_text(json.dumps({"config": cfg.to_dict(), "runs": runs,
                                     "report": str(report_path)}))
    if report_path.exists():
        report_path.unlink()
    result = run_cocotb(sources=[source], toplevel=cfg.kernel_name,
                        test_module="sparseforge.sim.sat.kernel_bench",
                        build_dir=build_dir / f"kernel_{simulator}", simulator=simulator,
                        extra_env={"SAT_KERNEL_SPEC": str(spec_path)},
                        waivers=amaranth_waivers(source, KERNEL_WAIVERS))
    if not report_path.exists():
        raise RuntimeError(f"the kernel bench wrote no report ({result.failures} cocotb "
                           f"failures); see {result.results_xml}")
    report = json.loads(report_path.read_text())
    report["lint"] = lint_result
    return report
