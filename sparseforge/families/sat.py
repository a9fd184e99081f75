"""``sparseforge generate | verify | perf | synth | flow sat``.

Every verb validates its input (config, board, DSP budget, workload) before it
writes anything; ``generate`` writes its output folder atomically.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from sparseforge.configs import SatConfig
from sparseforge.designs import DesignFamily
from sparseforge.errors import ConfigError, SparseforgeError
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


#: The SAT kernel's PYNQ driver, named in the project README.
DRIVER = "sparseforge.host.sat:SatDriver"


def project_files(cfg: SatConfig, board) -> dict[str, str]:
    """Every file of ``sparseforge generate sat`` for ``board`` (path -> text).

    The kernel (``rtl/<kernel_name>.v``) inside a Vivado (Zynq) or Vitis (Alveo)
    project derived from ``regmap.json``, a Jupyter notebook in ``host/``, the
    engine and the weight generator on their own in ``blocks/`` (for users who
    build their own shell around them) and ``config.json``.
    """
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
    from sparseforge.hwgen.shell.sat_kernel import kernel_verilog
    from sparseforge.sat_kernel import register_map

    kind = project_kind(board)  # refuses boards without project emission before any work
    rmap = register_map(cfg)
    alveo = kind == "alveo"
    memory = ", ".join(mem for _, mem in memory_targets(rmap, board)) if alveo else ""
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
    _check_fits(cfg, board)
    files = project_files(cfg, board)
    with atomic_output_dir(Path(args.out)) as folder:
        for rel, text in files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
    return {"out": str(Path(args.out)), "files": sorted(files), "multipliers": cfg.multipliers,
            "text": f"wrote {len(files)} files to {args.out}: {', '.join(sorted(files))}"}


def kernel_runs(cfg: SatConfig) -> list[dict]:
    """The kernel's part of ``verify``: one command list with every opcode (GEMMs of
    every mode and kind, weight generations both ways, shapes that are not tile
    multiples), the same list with every AXI channel stalling (seeded random and
    bursty pauses, :class:`sparseforge.sim.stalls.Stalls`) and a list the kernel must
    stop at a descriptor of the wrong N:M."""
    from sparseforge.sat_kernel import OPCODES
    from sparseforge.sim.sat_vectors import default_vectors, wgen_vectors
    from sparseforge.sim.stalls import Stalls

    vecs = default_vectors(cfg, count=1, seed=11)
    every = vecs + wgen_vectors(cfg, seed=12)
    return [{"id": "command list", "vectors": every},
            {"id": "command list, stalls", "vectors": every,
             "stalls": Stalls(seed=13).to_dict()},
            {"id": "wrong N:M stops the list", "vectors": vecs[:3], "expect_status": 2,
             "corrupt": {"index": 1, "word": 0,
                         "value": OPCODES["ff"] | cfg.n << 8 | 2 * cfg.m << 16}}]


def verify(cfg: SatConfig, board, args) -> dict:
    """The cocotb regression on the emitted Verilog; non-zero exit on any mismatch."""
    from sparseforge.sim.sat_verify import (
        run_kernel_runs,
        run_regression,
        run_wgen_regression,
    )

    if board is not None:
        _check_fits(cfg, board)
    with tempfile.TemporaryDirectory(prefix="sparseforge-verify-") as tmp:
        folder = Path(args.out) if args.out else Path(tmp)
        report = run_regression(cfg, folder, simulator=args.sim)
        wgen = run_wgen_regression(cfg, folder, simulator=args.sim)
        kernel = run_kernel_runs(cfg, folder / "kernel", kernel_runs(cfg), simulator=args.sim)
    lines = [f"{'vector':18} {'Mg':>4} {'K':>4} {'Ng':>4}  {'cycles':>7} {'model':>7}  result"]
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
    lines.append(f"engine: {report['passed']} passed, {report['failed']} failed; weight "
                 f"generator: {len(wgen['cases']) - wgen['failed']} passed, {wgen['failed']} "
                 f"failed; kernel: {len(kernel['runs']) - k_failed} passed, {k_failed} failed; "
                 f"RTL simulation {report['cycles_per_second']:.0f} cycles/s ({args.sim})")
    report["weight_generator"] = wgen
    report["kernel"] = kernel
    report["failed"] += wgen["failed"] + k_failed
    report.pop("lint", None)
    report["text"] = "\n".join(lines)
    return report


def perf(cfg: SatConfig, board, args) -> dict:
    """One training step, dense vs BDWP, on a workload and board."""
    from sparseforge.hwgen.project import project_kind
    from sparseforge.sim.sat_kernel_workload import kernel_step
    from sparseforge.sim.sat_workload import MemoryModel, compare_step, default_config
    from sparseforge.workloads import get_workload

    board = _need_board(board, "perf")
    given = SatConfig.given_keys(args.sets, args.config)
    if not {"rows", "cols"} & given:
        cfg = default_config(board, cfg.n, cfg.m, cfg.width).replace(
            **{k: v for k, v in cfg.to_dict().items() if k in given})
    _check_fits(cfg, board)
    try:
        workload = get_workload(args.workload or DEFAULT_WORKLOAD)
    except KeyError as exc:
        raise SparseforgeError(str(exc).strip("\"'")) from None
    result = compare_step(cfg, workload, MemoryModel.for_board(board))
    result["board"] = board.name
    try:
        project_kind(board)
    except ConfigError:  # no project for this board, so no kernel to predict
        kernel = None
    else:
        kernel = kernel_step(cfg, workload, board)
    result["kernel"] = kernel
    lines = [
        f"{workload.name} (batch {workload.batch}) on {board.name}: {cfg.rows}x{cfg.cols} "
        f"array, {cfg.n}:{cfg.m}, {cfg.multipliers} multipliers, {result['clock_mhz']:g} MHz, "
        f"{result['bandwidth_gbs']:.1f} GB/s sustained",
        f"dense step {result['dense_cycles']:,} cycles ({result['dense_ms']:.2f} ms), "
        f"BDWP step {result['bdwp_cycles']:,} cycles ({result['bdwp_ms']:.2f} ms): "
        f"speedup {result['speedup']:.3f}x (compute-bound limit "
        f"{result['compute_bound_limit']:.2f}x)",
        f"memory-bound layers (BDWP): {len(result['memory_bound_layers'])}",
    ]
    if kernel:
        lines.append(
            f"this release's kernel (records streamed per tile, one {cfg.axi_data_bits}-bit "
            f"AXI master on {kernel['memory']}, {kernel['read_words_per_step']} words per "
            f"step): dense {kernel['dense_ms']:.2f} ms, BDWP {kernel['bdwp_ms']:.2f} ms "
            f"(weights pruned on the host), speedup {kernel['speedup']:.3f}x")
    lines.append("layers short of the sparse limit:")
    short = [r for r in result["layers"] if r["why"]]
    for r in short[:20]:
        lines.append(f"  {r['layer']} {r['phase']}: {r['speedup']:.2f}x — {r['why']}")
    if len(short) > 20:
        lines.append(f"  ... {len(short) - 20} more (see --json)")
    result["text"] = "\n".join(lines)
    return result


def synth(cfg: SatConfig, board, args) -> dict:
    """YoWASP synth_xilinx estimate of the engine for the board."""
    from sparseforge.hwgen.sat.emit import engine_verilog
    from sparseforge.hwgen.synth import synth_estimate

    board = _need_board(board, "synth")
    _check_fits(cfg, board)
    if board.device.synth_family is None:
        raise ConfigError(f"board {board.name} is {board.device.architecture}: Yosys "
                          "synth_xilinx has no family for it; synthesis estimates cover "
                          "UltraScale+ boards")
    est = synth_estimate(engine_verilog(cfg), cfg.name, board).to_dict()
    est["board"] = board.name
    p = est["percent"]
    est["text"] = (f"{cfg.name} ({cfg.rows}x{cfg.cols}, {cfg.n}:{cfg.m}, int{cfg.width}) on "
                   f"{board.name} [{est['family']}]: LUT {est['lut']:,} ({p['lut']:.2f}%), "
                   f"FF {est['ff']:,} ({p['ff']:.2f}%), DSP48E2 {est['dsp']:,} "
                   f"({p['dsp']:.2f}%), BRAM36 {est['bram36']:g} ({p['bram36']:.2f}%), "
                   f"URAM {est['uram']} ({p['uram']:.2f}%); {est['seconds']:.1f} s")
    return est


def flow(cfg: SatConfig, board, args) -> dict:
    """generate -> verify -> perf -> synth into one folder, and a report (docs/flow.md).

    Every input is checked before anything is written: the board, the array
    against its DSPs, that Yosys can synthesise for it, and the workload.
    """
    from sparseforge.flow import FlowStep, run_flow
    from sparseforge.workloads import get_workload

    board = _need_board(board, "flow")
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
    return run_flow(FAMILY, cfg, board, args, steps)


FAMILY = DesignFamily(
    name="sat",
    summary="SAT N:M sparse training array (BDWP)",
    config=SatConfig,
    generate=generate,
    verify=verify,
    perf=perf,
    synth=synth,
    flow=flow,
)
