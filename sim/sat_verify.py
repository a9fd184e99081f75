"""The SAT RTL regression: emit Verilog, lint it, run the cocotb bench, report.

Used by ``sparseforge verify sat`` and by the slow tests.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sparseforge.configs import SatConfig
from sparseforge.toolchain import simulator_env, verilator_root

from .cocotb_runner import run_cocotb
from .sat_vectors import default_vectors
from .stalls import Stalls

__all__ = ["lint_verilog", "run_kernel_runs", "run_regression", "run_wgen_regression",
           "with_stalls"]

#: Warning classes Amaranth's Verilog backend produces by construction (implicit width
#: changes of its own temporaries, `casez` on FSM state without default).  Every
#: other Verilator warning fails the lint.
_LINT_WAIVERS = ("-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-CASEINCOMPLETE")


def lint_verilog(source: Path, top: str, waivers: tuple[str, ...] = ()) -> str:
    """``verilator --lint-only`` (default warnings are errors) on one file; returns its output.

    Raises
    ------
    RuntimeError
        Verilator reports an error (the message holds its output).
    """
    exe = verilator_root() / "bin" / "verilator"
    proc = subprocess.run(
        [str(exe), "--lint-only", *_LINT_WAIVERS, *(f"-Wno-{w}" for w in waivers),
         "--top-module", top, str(source)],
        capture_output=True, text=True, env=simulator_env(), check=False, timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"verilator --lint-only failed on {source}:\n{proc.stderr[-4000:]}")
    return proc.stderr


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
    ``stalls`` (:class:`~sparseforge.sim.stalls.Stalls`, default the ``mixed``
    pattern on the data source and the result sink; ``None``: once, no stalls).
    Returns the bench report: ``{"vectors": [...], "passed", "failed", "sim_cycles",
    "cycles_per_second", "lint": str}``.
    """
    from sparseforge.hwgen.sat.emit import write_verilog

    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    sources = write_verilog(cfg, build_dir / "rtl")
    engine_src = sources[cfg.name]
    lint = lint_verilog(engine_src, cfg.name) if simulator == "verilator" else ""
    vectors = default_vectors(cfg, seed=seed) if vectors is None else vectors
    vectors = with_stalls(vectors, stalls, seed)
    spec_path, report_path = build_dir / "spec.json", build_dir / "report.json"
    spec_path.write_text(json.dumps({"config": cfg.to_dict(), "vectors": vectors,
                                     "report": str(report_path)}))
    if report_path.exists():
        report_path.unlink()
    result = run_cocotb(
        sources=[engine_src], toplevel=cfg.name, test_module="sparseforge.sim.sat_bench",
        build_dir=build_dir / f"sim_{simulator}", simulator=simulator,
        extra_env={"SAT_BENCH_SPEC": str(spec_path)},
    )
    if not report_path.exists():
        raise RuntimeError(f"the bench wrote no report ({result.failures} cocotb failures); "
                           f"see {result.results_xml}")
    report = json.loads(report_path.read_text())
    report["passed"] = sum(v["passed"] for v in report["vectors"])
    report["failed"] = len(report["vectors"]) - report["passed"]
    report["lint"] = lint
    return report


def run_wgen_regression(cfg: SatConfig, build_dir: Path, simulator: str = "verilator",
                        seed: int = 0) -> dict:
    """Run the sparse weight generator bench (row-wise and column-wise, with and
    without back-pressure); returns ``{"cases": [...], "failed": int}``."""
    from sparseforge.hwgen.sat.emit import weight_gen_name, write_verilog

    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    top = weight_gen_name(cfg)
    source = write_verilog(cfg, build_dir / "rtl")[top]
    if simulator == "verilator":
        lint_verilog(source, top)
    cases = [{"rows": 2 * cfg.m, "cols": 3 * cfg.m, "colwise": colwise, "stall": stall,
              "seed": seed + 10 * colwise + stall}
             for colwise in (False, True) for stall in (False, True)]
    spec_path, report_path = build_dir / "wgen_spec.json", build_dir / "wgen_report.json"
    spec_path.write_text(json.dumps({"config": cfg.to_dict(), "cases": cases,
                                     "report": str(report_path)}))
    if report_path.exists():
        report_path.unlink()
    run_cocotb(sources=[source], toplevel=top, test_module="sparseforge.sim.sat_wgen_bench",
               build_dir=build_dir / f"wgen_{simulator}", simulator=simulator,
               extra_env={"SAT_WGEN_SPEC": str(spec_path)})
    if not report_path.exists():
        raise RuntimeError("the weight-generator bench wrote no report")
    report = json.loads(report_path.read_text())
    report["failed"] = sum(1 for c in report["cases"] if c["mismatches"])
    return report


def run_kernel_runs(cfg: SatConfig, build_dir: Path, runs: list[dict],
                    simulator: str = "verilator", lint: bool = True) -> dict:
    """Build the SAT kernel (AXI shell + engine) and execute ``runs`` (command lists).

    Each run is ``{"id", "vectors": [...], "base"?}``; returns the bench report
    ``{"runs": [{"id", "cycles", "status", "mismatches", "passed", ...}], ...}``.
    """
    from sparseforge.hwgen.shell.sat_kernel import kernel_verilog

    build_dir = Path(build_dir).resolve()
    (build_dir / "rtl").mkdir(parents=True, exist_ok=True)
    source = build_dir / "rtl" / f"{cfg.kernel_name}.v"
    text = kernel_verilog(cfg)
    if not source.exists() or source.read_text() != text:
        source.write_text(text)
    if lint and simulator == "verilator":
        # SYMRSVDWORD: Vitis names the interrupt port ``interrupt`` (a C++ word)
        lint_verilog(source, cfg.kernel_name, waivers=("SYMRSVDWORD",))
    spec_path, report_path = build_dir / "kernel_spec.json", build_dir / "kernel_report.json"
    spec_path.write_text(json.dumps({"config": cfg.to_dict(), "runs": runs,
                                     "report": str(report_path)}))
    if report_path.exists():
        report_path.unlink()
    result = run_cocotb(sources=[source], toplevel=cfg.kernel_name,
                        test_module="sparseforge.sim.sat_kernel_bench",
                        build_dir=build_dir / f"kernel_{simulator}", simulator=simulator,
                        extra_env={"SAT_KERNEL_SPEC": str(spec_path)})
    if not report_path.exists():
        raise RuntimeError(f"the kernel bench wrote no report ({result.failures} cocotb "
                           f"failures); see {result.results_xml}")
    return json.loads(report_path.read_text())
