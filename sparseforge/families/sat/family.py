"""``sparseforge generate | verify | perf | synth | flow sat``.

Every verb validates its input (config, board, DSP budget, workload) before it
writes anything; ``generate`` writes its output folder atomically.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from sparseforge.errors import ConfigError, SparseforgeError
from sparseforge.families import DesignFamily
from sparseforge.families.sat import report as sat_report
from sparseforge.families.sat.config import SatConfig
from sparseforge.output_dir import atomic_output_dir

__all__ = ["FAMILY"]

DEFAULT_WORKLOAD = "resnet50"
#: The flow's workload: ResNet-18's 21 layers all fit the report's per-layer plots.
FLOW_WORKLOAD = "resnet18"


def _need_board(board, verb: str):
    if board is None:
        raise ConfigError(f"sparseforge {verb} sat needs --board (see `sparseforge boards`)")
    return board


def _check_fits(cfg: SatConfig, board) -> None:
    if cfg.multipliers > board.resources.dsp:
        raise ConfigError(
            f"rows*cols*n = {cfg.rows}*{cfg.cols}*{cfg.n} = {cfg.multipliers} multipliers "
            f"exceed the {board.resources.dsp} DSP slices of {board.name}; allowed: at most "
            f"{board.resources.dsp} (reduce rows, cols or n)")


def _array(cfg: SatConfig, board, args) -> tuple[SatConfig, dict]:
    """The array every verb of a command line uses, and why (``docs/cli.md``, "Array size").

    ``--size config`` (the default): the configuration as given (defaults, then
    ``--config``, then ``--set``), so ``generate``, ``verify``, ``perf`` and ``synth``
    work on the same design.  ``--size board``: rows, cols (and drain_rows, unless
    given) of the largest array that fits the board's DSPs
    (:func:`sparseforge.sim.sat.workload.default_config`), every other parameter as
    given.  Returns the config and ``{"rows", "cols", "size", "why"}``.
    """
    from sparseforge.sim.sat.workload import DSP_FRACTION, default_config

    size = getattr(args, "size", None) or "config"
    fitted = default_config(board, cfg.n, cfg.m, cfg.width) if board is not None else None
    if size == "config":
        why = "the configuration as given by the defaults, --config and --set"
        if fitted is not None and (fitted.rows, fitted.cols) != (cfg.rows, cfg.cols):
            why += (f"; --size board would give {fitted.rows}x{fitted.cols}, the largest "
                    f"array that fits {board.name}'s DSPs")
        return cfg, {"rows": cfg.rows, "cols": cfg.cols, "size": "config", "why": why}
    if size != "board":
        raise ConfigError(f"--size {size}; allowed: config, board")
    if fitted is None:
        raise ConfigError("--size board sizes the array to a board: it needs --board")
    given = SatConfig.given_keys(getattr(args, "sets", ()), getattr(args, "config", None))
    clash = sorted(given & {"rows", "cols"})
    if clash:
        raise ConfigError(f"--size board sets rows and cols from the board, but "
                          f"{' and '.join(clash)} {'is' if len(clash) == 1 else 'are'} given "
                          "too; drop them, or use --size config")
    sized = cfg.replace(rows=fitted.rows, cols=fitted.cols, **(
        {} if "drain_rows" in given else {"drain_rows": fitted.drain_rows}))
    why = (f"--size board: the largest power-of-two array whose {sized.multipliers} "
           f"multipliers fit {DSP_FRACTION:.0%} of {board.name}'s {board.resources.dsp} DSPs")
    return sized, {"rows": sized.rows, "cols": sized.cols, "size": "board", "why": why}


def _array_line(cfg: SatConfig, array: dict) -> str:
    """``4x4 array, 2:8, int8, 32 multipliers: why``: the first thing every verb says."""
    return (f"{cfg.rows}x{cfg.cols} array, {cfg.n}:{cfg.m}, int{cfg.width}, "
            f"{cfg.multipliers} multipliers: {array['why']}")


#: The parts ``synth`` counts apart: part name -> submodule of the kernel
#: (``hwgen/sat/kernel.py``); everything else is the AXI shell.
KERNEL_PARTS = {"engine": "engine", "weight_generator": "wgen"}

#: The SAT kernel's PYNQ driver, named in the project README.
DRIVER = "sparseforge.host.sat:SatDriver"


def project_files(cfg: SatConfig, board) -> dict[str, str]:
    """Every file of ``sparseforge generate sat`` for ``board`` (path -> text).

    The kernel (``rtl/<kernel_name>.v``) inside a Vivado (Zynq) or Vitis (Alveo)
    project derived from ``regmap.json``, a Jupyter notebook in ``host/``, the
    engine and the weight generator on their own in ``blocks/`` (for users who
    build their own shell around them) and ``config.json``.
    """
    from sparseforge.families.sat.contract import register_map
    from sparseforge.hwgen.project import (
        emit_project,
        memory_targets,
        notebook_json,
        overlay_ip_name,
        plain_line,
        project_kind,
        render_template,
    )
    from sparseforge.hwgen.sat.emit import engine_verilog, weight_gen_name, weight_gen_verilog
    from sparseforge.hwgen.sat.kernel import kernel_verilog

    kind = project_kind(board)  # refuses boards without project emission before any work
    rmap = register_map(cfg)
    alveo = kind == "alveo"
    memory = ", ".join(t.target for t in memory_targets(rmap, board)) if alveo else ""
    script = render_template(
        "notebook/sat_gemm.py.j2", kernel=rmap.kernel, title=plain_line(board.display_name),
        ip=overlay_ip_name(rmap, board), alveo=alveo, memory=memory,
        bitstream=f"{rmap.kernel}.{'xclbin' if alveo else 'bit'}",
        clock_mhz=f"{board.clocks.default_mhz:g}", n=cfg.n, m=cfg.m)
    try:
        notebook = notebook_json(script)
    except ValueError as exc:
        raise ConfigError(f"board {board.name}: the notebook cannot be emitted: {exc}") from None
    files = emit_project(rmap, board, {f"{rmap.kernel}.v": kernel_verilog(cfg)},
                         driver=DRIVER, host_files={f"{rmap.kernel}_gemm.ipynb": notebook})
    files["config.json"] = json.dumps({"design": "sat", "board": board.name,
                                       "config": cfg.to_dict()}, indent=2,
                                      sort_keys=True) + "\n"
    files[f"blocks/{cfg.name}.v"] = engine_verilog(cfg)
    files[f"blocks/{weight_gen_name(cfg)}.v"] = weight_gen_verilog(cfg)
    return dict(sorted(files.items()))


def generate(cfg: SatConfig, board, args) -> dict:
    """The kernel's bitstream project (Vivado or Vitis), notebook and blocks, into --out."""
    board = _need_board(board, "generate")
    if not args.out:
        raise ConfigError("sparseforge generate sat needs --out DIR")
    cfg, array = _array(cfg, board, args)
    _check_fits(cfg, board)
    files = project_files(cfg, board)
    with atomic_output_dir(Path(args.out), force=getattr(args, "force", False)) as folder:
        for rel, text in files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
    return {"out": str(Path(args.out)), "files": sorted(files), "multipliers": cfg.multipliers,
            "array": array,
            "text": f"{_array_line(cfg, array)}\nwrote {len(files)} files to {args.out}: "
                    f"{', '.join(sorted(files))}"}


def kernel_runs(cfg: SatConfig) -> list[dict]:
    """The kernel's part of ``verify``: one command list with every opcode (GEMMs of
    every mode and kind, weight generations both ways, shapes that are not tile
    multiples), the same list with every AXI channel stalling (seeded random and
    bursty pauses, :class:`sparseforge.sim.lib.stalls.Stalls`) and a list the kernel must
    stop at a descriptor of the wrong N:M."""
    from sparseforge.families.sat.contract import STATUS
    from sparseforge.sim.lib.stalls import Stalls
    from sparseforge.sim.sat.vectors import default_vectors, wgen_vectors

    vecs = default_vectors(cfg, count=1, seed=11)
    every = vecs + wgen_vectors(cfg, seed=12)
    return [{"id": "command list", "vectors": every},
            {"id": "command list, stalls", "vectors": every,
             "stalls": Stalls(seed=13).to_dict()},
            {"id": "wrong N:M stops the list", "vectors": vecs[:3],
             "expect_status": STATUS["BAD_NM"],
             "corrupt": {"index": 1, "field": "m", "value": 2 * cfg.m}}]


def verify(cfg: SatConfig, board, args) -> dict:
    """The cocotb regression on the emitted Verilog; non-zero exit on any mismatch."""
    from sparseforge.sim.sat.verify import (
        run_kernel_runs,
        run_regression,
        run_wgen_regression,
    )

    cfg, array = _array(cfg, board, args)
    if board is not None:
        _check_fits(cfg, board)
    with tempfile.TemporaryDirectory(prefix="sparseforge-verify-") as tmp:
        folder = Path(args.out) if args.out else Path(tmp)
        report = run_regression(cfg, folder, simulator=args.sim)
        wgen = run_wgen_regression(cfg, folder, simulator=args.sim)
        kernel = run_kernel_runs(cfg, folder / "kernel", kernel_runs(cfg), simulator=args.sim)
    lint = [r["lint"] for r in (report, wgen, kernel) if r.get("lint")]
    lint_failed = sum(1 for x in lint if not x["passed"])
    lines = [_array_line(cfg, array),
             f"{'vector':18} {'Mg':>4} {'K':>4} {'Ng':>4}  {'cycles':>7} {'model':>7}  result"]
    for v in report["vectors"]:
        lines.append(f"{v['id']:18} {v['mg']:4} {v['k']:4} {v['ng']:4}  {v['cycles']:7} "
                     f"{v['model_cycles']:7}  {'pass' if v['passed'] else 'FAIL'}")
    for c in wgen["cases"]:
        mode = "column-wise" if c["colwise"] else "row-wise"
        lines.append(f"weight generator {mode:11} {'stalls' if c['stall'] else 'no stalls':9} "
                     f"{c['groups']} groups in {c['cycles']} cycles  "
                     f"{'pass' if not c['mismatches'] else 'FAIL'}")
    k_failed = sum(1 for r in kernel["runs"] if not r["passed"])
    for r in kernel["runs"]:
        what = (f"STATUS {r['status']} at command {r['err_cmd']}" if r["status"] else
                f"{r['cmds_done']} commands bit-exact")
        lines.append(f"kernel {r['id']:24} {what} in {r['cycles']} cycles  "
                     f"{'pass' if r['passed'] else 'FAIL'}")
    for x in lint:
        lines.append(f"lint {x['top']:24} {_rule_counts(x['warnings']) or 'no warnings'}; "
                     f"waived in {', '.join(x['files'])} (Amaranth output): "
                     f"{_rule_counts(x['waived']) or 'none'}  "
                     f"{'pass' if x['passed'] else 'FAIL'}")
        lines += [f"  {w}" for w in x["unwaived"]]
    lines.append(f"engine: {report['passed']} passed, {report['failed']} failed; weight "
                 f"generator: {len(wgen['cases']) - wgen['failed']} passed, {wgen['failed']} "
                 f"failed; kernel: {len(kernel['runs']) - k_failed} passed, {k_failed} failed; "
                 f"lint: {len(lint) - lint_failed} passed, {lint_failed} failed; "
                 f"RTL simulation {report['cycles_per_second']:.0f} cycles/s ({args.sim})")
    for part in (wgen, kernel):
        part.pop("lint", None)
    report["weight_generator"] = wgen
    report["kernel"] = kernel
    report["lint"] = lint
    report["lint_warnings"] = _sum_counts(x["warnings"] for x in lint)
    report["lint_waived"] = _sum_counts(x["waived"] for x in lint)
    report["array"] = array
    report["failed"] += wgen["failed"] + k_failed + lint_failed
    report["text"] = "\n".join(lines)
    return report


def _rule_counts(counts: dict[str, int]) -> str:
    """``WIDTHEXPAND 35, WIDTHTRUNC 34`` (empty for no warnings)."""
    return ", ".join(f"{rule} {n}" for rule, n in counts.items())


def _sum_counts(many) -> dict[str, int]:
    """Warnings per rule summed over several lint results."""
    out: dict[str, int] = {}
    for counts in many:
        for rule, n in counts.items():
            out[rule] = out.get(rule, 0) + n
    return dict(sorted(out.items()))


def perf(cfg: SatConfig, board, args) -> dict:
    """One training step, dense vs BDWP: the generated kernel first, the architecture
    bound beside it, on the array of :func:`_array`.

    Returns ``workload``, ``batch``, ``board``, ``config``, ``array``, ``clock_mhz``,
    ``kernel`` (:func:`~sparseforge.sim.sat.kernel_workload.kernel_step`, or ``None``
    with ``no_kernel`` saying why for a board without a project) and ``architecture``
    (:func:`~sparseforge.sim.sat.workload.compare_step`: per-layer rows, phases,
    memory-bound layers).
    """
    from sparseforge.hwgen.project import project_kind
    from sparseforge.sim.sat.kernel_workload import kernel_step
    from sparseforge.sim.sat.workload import MemoryModel, compare_step
    from sparseforge.workloads import get_workload

    board = _need_board(board, "perf")
    cfg, array = _array(cfg, board, args)
    _check_fits(cfg, board)
    try:
        workload = get_workload(args.workload or DEFAULT_WORKLOAD)
    except KeyError as exc:
        raise SparseforgeError(str(exc).strip("\"'")) from None
    arch = compare_step(cfg, workload, MemoryModel.for_board(board))
    result = {"workload": workload.name, "batch": workload.batch, "board": board.name,
              "config": cfg.to_dict(), "array": array, "clock_mhz": arch["clock_mhz"]}
    try:
        project_kind(board)
    except ConfigError as exc:  # no project for this board, so no kernel to predict
        kernel, result["no_kernel"] = None, str(exc)
    else:
        kernel = kernel_step(cfg, workload, board)
    result["kernel"] = kernel
    result["architecture"] = arch
    lines = [f"{workload.name} (batch {workload.batch}) on {board.name} at "
             f"{arch['clock_mhz']:g} MHz: {_array_line(cfg, array)}"]
    if kernel:
        lines.append(
            f"generated kernel ({cfg.kernel_name}: operands streamed per tile through one "
            f"{cfg.axi_data_bits}-bit AXI master on {kernel['memory']}, "
            f"{kernel['read_words_per_step']} words per engine step; weights pruned on the "
            f"host): dense {kernel['dense_ms']:,.2f} ms, BDWP {kernel['bdwp_ms']:,.2f} ms "
            f"per step, speedup {kernel['speedup']:.3f}x")
    else:
        lines.append(f"generated kernel: no prediction, {result['no_kernel']}")
    lines += [
        f"architecture bound (operands buffered on chip, each read once; "
        f"{arch['bandwidth_gbs']:.1f} GB/s sustained): dense {arch['dense_ms']:,.2f} ms, "
        f"BDWP {arch['bdwp_ms']:,.2f} ms per step, speedup {arch['speedup']:.3f}x "
        f"(compute-bound limit {arch['compute_bound_limit']:.2f}x); "
        f"{len(arch['memory_bound_layers'])} memory-bound layers (BDWP)",
        "layers short of the sparse limit (architecture bound):",
    ]
    short = [r for r in arch["layers"] if r["why"]]
    for r in short[:20]:
        lines.append(f"  {r['layer']} {r['phase']}: {r['speedup']:.2f}x — {r['why']}")
    if len(short) > 20:
        lines.append(f"  ... {len(short) - 20} more (see --json)")
    result["text"] = "\n".join(lines)
    return result


def synth(cfg: SatConfig, board, args) -> dict:
    """YoWASP synth_xilinx estimate of the kernel ``generate`` emits, its parts apart:
    the AXI shell, the engine and the weight generator."""
    from sparseforge.hwgen.sat.kernel import kernel_verilog
    from sparseforge.hwgen.synth import synth_estimate

    board = _need_board(board, "synth")
    cfg, array = _array(cfg, board, args)
    _check_fits(cfg, board)
    if board.device.synth_family is None:
        raise ConfigError(f"board {board.name} is {board.device.architecture}: Yosys "
                          "synth_xilinx has no family for it; synthesis estimates cover "
                          "UltraScale+ boards")
    parts = {name: f"{cfg.kernel_name}.{sub}" for name, sub in KERNEL_PARTS.items()}
    est = synth_estimate(kernel_verilog(cfg), cfg.kernel_name, board, parts,
                         rest="shell").to_dict()
    est["board"] = board.name
    est["array"] = array
    lines = [_array_line(cfg, array),
             f"{cfg.kernel_name} on {board.name} [{est['family']}], {est['seconds']:.1f} s:"]
    for name, x in (("kernel", est), *est["parts"].items()):
        p = x["percent"]
        lines.append(f"  {name:17} LUT {x['lut']:>7,} ({p['lut']:5.2f}%)  FF {x['ff']:>7,} "
                     f"({p['ff']:5.2f}%)  DSP48E2 {x['dsp']:>5,} ({p['dsp']:5.2f}%)  "
                     f"BRAM36 {x['bram36']:>5g} ({p['bram36']:5.2f}%)  URAM {x['uram']:>3} "
                     f"({p['uram']:5.2f}%)")
    est["text"] = "\n".join(lines)
    return est


def flow(cfg: SatConfig, board, args) -> dict:
    """generate -> verify -> perf -> synth into one folder, and a report (docs/flow.md).

    Every input is checked before anything is written: the board, the array
    against its DSPs, that Yosys can synthesise for it, and the workload.
    """
    from sparseforge.flow import FlowStep, run_flow
    from sparseforge.workloads import get_workload

    board = _need_board(board, "flow")
    cfg, array = _array(cfg, board, args)  # each step applies the same rule to the same args
    _check_fits(cfg, board)
    if board.device.synth_family is None:
        raise ConfigError(f"board {board.name} is {board.device.architecture}: the flow's "
                          "synth step (Yosys synth_xilinx) covers UltraScale+ boards only")
    workload = getattr(args, "workload", None) or FLOW_WORKLOAD
    try:
        get_workload(workload)
    except KeyError as exc:
        raise SparseforgeError(str(exc).strip("\"'")) from None
    steps = (FlowStep("generate", folder="project"),
             FlowStep("verify", args={"sim": getattr(args, "sim", None) or "verilator"}),
             FlowStep("perf", args={"workload": workload}),
             FlowStep("synth"))
    return run_flow(FAMILY, cfg, board, args, steps, config_note=_array_line(cfg, array))


FAMILY = DesignFamily(
    name="sat",
    summary="SAT N:M sparse training array (BDWP)",
    config=SatConfig,
    generate=generate,
    verify=verify,
    perf=perf,
    synth=synth,
    flow=flow,
    report=sat_report,
)
