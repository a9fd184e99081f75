"""``sparseforge generate | verify | perf edgemoe``.

Every verb validates the config and the board (the design must fit its DSP, BRAM
and UltraRAM budget) before it writes anything; ``generate`` writes its output
folder atomically.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from sparseforge.errors import ConfigError
from sparseforge.families import DesignFamily
from sparseforge.families.edgemoe import report as edgemoe_report
from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.output_dir import atomic_output_dir

__all__ = ["BOARDS", "CSIM_DATA", "DRIVER", "FAMILY", "project_files"]

#: The boards the Edge-MoE design targets (Zynq UltraScale+, PS DDR).
BOARDS = ("zcu102", "zcu104", "kv260")


def _board(board, verb: str):
    if board is None:
        raise ConfigError(f"sparseforge {verb} edgemoe needs --board ({', '.join(BOARDS)})")
    if board.name not in BOARDS:
        raise ConfigError(f"board = {board.name!r}; allowed for edgemoe: {', '.join(BOARDS)} "
                          "(Zynq UltraScale+ boards with PS DDR)")
    return board


def _fits(cfg: EdgeMoEConfig, board):
    from sparseforge.sim.edgemoe.perf import check_fits

    return check_fits(cfg, board)


#: The kernel's PYNQ driver, named in the project's README and notebook.
DRIVER = "sparseforge.host.edgemoe:EdgeMoEDriver"
#: The module that writes and checks the project's C-simulation data.
CSIM_DATA = "sparseforge.sim.edgemoe.csim_data"


def _check_ports(cfg: EdgeMoEConfig, board) -> None:
    """Every ``m_axi`` bundle (act, w0 .. w{weight_ports-1}) needs a PS slave port."""
    from sparseforge.project_memory import dedicated_ps_slaves

    ports = dedicated_ps_slaves(board)
    masters = 1 + cfg.weight_ports
    if masters > len(ports):
        raise ConfigError(f"weight_ports = {cfg.weight_ports}: the design has {masters} AXI4 "
                          f"masters (act and w0 to w{cfg.weight_ports - 1}), one PS slave "
                          f"port each; board {board.name!r} has {len(ports)} "
                          f"({', '.join(ports) or 'none'}); allowed: weight_ports = 1 to "
                          f"{len(ports) - 1}")


def project_files(cfg: EdgeMoEConfig, board) -> dict[str, str]:
    """Every file of ``sparseforge generate edgemoe`` for ``board`` (path -> text).

    The HLS C++ (``src/``) and its C-sim testbench (``tb/``) in a Vitis HLS + Vivado
    project (:func:`sparseforge.hwgen.project.emit_hls_project`: ``run_hls.tcl``,
    ``vivado/build_bd.tcl``, ``Makefile``, ``regmap.json``, the C header, README), a
    PYNQ notebook in ``host/`` and ``config.json``.
    """
    from sparseforge.families.edgemoe.contract import register_map
    from sparseforge.hwgen.edgemoe.design import HEADERS, render_design
    from sparseforge.hwgen.hls import common_headers
    from sparseforge.hwgen.project import (
        emit_hls_project,
        notebook_json,
        overlay_ip_name,
        plain_line,
        render_template,
    )
    from sparseforge.sim.edgemoe.csim_data import data_bytes

    _check_ports(cfg, board)
    rmap = register_map(cfg)
    rendered = render_design(cfg, testbench=True)
    common = common_headers()
    # sf_csim_io.h is part of the design (SF_TRIP, empty under synthesis); our
    # hls_stream.h stands in for Vitis HLS' own in g++ builds only.
    sources = {n: t for n, t in rendered.items() if n in HEADERS}
    sources["sf_csim_io.h"] = common["sf_csim_io.h"]
    testbench = {n: t for n, t in rendered.items() if n not in HEADERS}
    clock = f"{cfg.clock_mhz:g}"
    script = render_template("notebook/edgemoe_infer.py.j2", kernel=rmap.kernel,
                             title=plain_line(board.display_name),
                             ip=overlay_ip_name(rmap, board), clock_mhz=clock)
    try:
        notebook = notebook_json(script)
    except ValueError as exc:
        raise ConfigError(f"board {board.name}: the notebook cannot be emitted: {exc}") from None
    notes = [f"make csim-data writes {data_bytes(cfg) / 1e6:.1f} MB to build/csim_data (every "
             "buffer of the top function as int64, as the testbench reads it; the weights "
             f"once per weight port, {cfg.weight_ports}): too much to ship with the project, "
             "so it is written on demand.",
             "The C simulation of the whole model (make csim) runs one forward pass for "
             "task 0 and compares the features bit for bit with the golden model."]
    files = emit_hls_project(rmap, board, sources, testbench, cfg.clock_mhz,
                             csim_args=["top"], csim_data=CSIM_DATA,
                             gxx_headers={"hls_stream.h": common["hls_stream.h"]},
                             driver=DRIVER,
                             host_files={f"{rmap.kernel}_infer.ipynb": notebook},
                             readme_notes=notes)
    files["config.json"] = json.dumps({"design": "edgemoe", "board": board.name,
                                       "config": cfg.to_dict()}, indent=2,
                                      sort_keys=True) + "\n"
    return dict(sorted(files.items()))


def generate(cfg: EdgeMoEConfig, board, args) -> dict:
    """The design's Vitis HLS + Vivado project, checked, into --out (see
    :func:`project_files`); nothing is written if the design does not fit the board."""
    board = _board(board, "generate")
    if not args.out:
        raise ConfigError("sparseforge generate edgemoe needs --out DIR")
    res = _fits(cfg, board)
    files = project_files(cfg, board)
    with atomic_output_dir(Path(args.out), force=getattr(args, "force", False)) as folder:
        for rel, text in files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
    return {"out": str(Path(args.out)), "files": sorted(files), "dsp": res.dsp,
            "bram36": res.bram36, "uram": res.uram,
            "text": f"{cfg.name} for {board.name}: {res.dsp} DSP48E2, {res.bram36} BRAM36, "
                    f"{res.uram} URAM (estimated)\nwrote {len(files)} files to {args.out}: "
                    "HLS C++ in src/, the C-sim testbench in tb/, run_hls.tcl (Vitis HLS), "
                    "vivado/build_bd.tcl, Makefile (make csim-data, csim, ip, bitstream), "
                    "regmap.json, include/, host/ notebook; checked structurally, not built"}


def verify(cfg: EdgeMoEConfig, board, args) -> dict:
    """C-simulation (g++) of every kernel and of the forward pass for each task,
    bit-exact against the golden model, and the trip counts against the latency
    model; non-zero exit on any mismatch."""
    import numpy as np

    from sparseforge.sim.edgemoe import weights as W
    from sparseforge.sim.edgemoe.csim import EdgeMoECsim
    from sparseforge.sim.edgemoe.golden import Golden
    from sparseforge.sim.edgemoe.perf import trip_counts

    if board is not None:
        _fits(cfg, _board(board, "verify"))
    g = Golden(cfg)
    checks = []
    with tempfile.TemporaryDirectory(prefix="sparseforge-verify-") as tmp:
        folder = Path(args.out) if args.out else Path(tmp)
        start = time.perf_counter()
        sim = EdgeMoECsim(cfg, folder / "csim")
        build_s = time.perf_counter() - start
        rng = np.random.default_rng(0)
        act = g.nx.act
        x = np.concatenate([rng.integers(act.min_raw, act.max_raw, 4000, endpoint=True),
                            act.quantize(np.linspace(-6, 6, 2001)),
                            [act.min_raw, act.max_raw, 0]])
        r = sim.run("gelu", {"n": [len(x)], "x": x}, {"y": (np.int64, len(x))})
        checks.append(("GELU", len(x), bool(np.array_equal(r["y"], g.gelu(x)))))
        d = -np.abs(x)
        r = sim.run("exp", {"n": [len(d)], "x": d}, {"y": (np.int64, len(d))})
        checks.append(("exp", len(d), bool(np.array_equal(r["y"], g.exp_neg(d, act.frac_bits)))))
        raw = W.quantize(cfg, W.random_weights(cfg, 1))
        img = W.quantize_image(W.random_image(cfg, 2))
        for task in range(cfg.tasks):
            start = time.perf_counter()
            r = sim.forward(img, raw, task)
            seconds = time.perf_counter() - start
            trace: dict = {}
            want = g.forward(img, raw, task, trace=trace)
            routing = {i: [len(q) for q in trace[f"routing{i}"]["queues"]]
                       for i in sorted(cfg.moe_layer_set)}
            same = bool(np.array_equal(r["y"], want))
            counts = trip_counts(cfg, routing)
            trips = all(r.tripcounts.get(k) == v for k, v in counts.items() if k != "gate")
            checks.append((f"forward, task {task} ({seconds:.1f} s)", cfg.tokens * cfg.dim,
                           same))
            checks.append((f"trip counts, task {task}", len(counts), trips))
    approximation = None
    if getattr(args, "approximation", True):
        from sparseforge.sim.edgemoe.accuracy import approximation_errors

        approximation = approximation_errors(cfg)
    failed = sum(1 for c in checks if not c[2])
    lines = [f"{cfg.name}: C-simulation (g++, built in {build_s:.1f} s) against the golden "
             "model"]
    lines += [f"  {name:32} {n:>7} values  {'pass' if ok else 'FAIL'}" for name, n, ok in checks]
    lines.append(f"{len(checks) - failed} passed, {failed} failed")
    if approximation:
        lines.append("approximation error (golden model vs float), max abs:")
        lines += [f"  {k:32} {v['max_abs']:.2e}" for k, v in approximation["units"].items()]
        lines += [f"  {'task ' + str(t) + ' output':32} {v['max_abs']:.2e}"
                  for t, v in approximation["tasks"].items()]
    return {"checks": [{"check": n, "values": v, "passed": ok} for n, v, ok in checks],
            "failed": failed, "approximation": approximation, "text": "\n".join(lines)}


def perf(cfg: EdgeMoEConfig, board, args) -> dict:
    """Latency of one image per kernel and per layer, and the resource estimate."""
    from sparseforge.sim.edgemoe.perf import latency

    board = _board(board, "perf")
    res = _fits(cfg, board)
    lat = latency(cfg, board)
    kernels = lat.by_kernel()
    stages = lat.stage_cycles()
    lines = [f"{cfg.name} on {board.name} at {lat.clock_mhz:g} MHz: {lat.ms:.2f} ms per image "
             f"({lat.cycles:,.0f} cycles; lanes {cfg.lanes}, linear tile "
             f"{cfg.tile_in}x{cfg.tile_out}, {cfg.weight_ports} weight ports; expert "
             "queues taken as even)",
             f"resources (estimated): {res.dsp} DSP48E2 of {board.resources.dsp}, "
             f"{res.bram36} BRAM36 of {board.resources.bram36}, {res.uram} URAM of "
             f"{board.resources.uram}",
             "per kernel (ms):"]
    for label, cycles in sorted(kernels.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {label:14} {cycles / (lat.clock_mhz * 1e3):7.3f}")
    ms = 1.0 / (lat.clock_mhz * 1e3)
    stage_kernels = []
    for stage in lat.stages:
        per: dict[str, float] = {}
        for k in stage:
            per[k.label] = per.get(k.label, 0.0) + k.cycles * ms
        stage_kernels.append(per)
    stage_names = ["patch embedding",
                   *(f"layer {i} ({'MoE' if cfg.is_moe(i) else 'dense'})"
                     for i in range(cfg.layers)), "final LayerNorm"]
    return {"board": board.name, "ms": lat.ms, "cycles": lat.cycles, "clock_mhz": lat.clock_mhz,
            "kernels": kernels, "stages": stages, "stage_kernels": stage_kernels,
            "stage_names": stage_names, "dsp": res.dsp, "bram36": res.bram36,
            "uram": res.uram, "dsp_parts": res.dsp_parts, "bram_parts": res.bram_parts,
            "config": cfg.to_dict(), "text": "\n".join(lines)}


def flow(cfg: EdgeMoEConfig, board, args) -> dict:
    """generate -> verify -> perf into one folder, and a report (docs/flow.md)."""
    from sparseforge.flow import FlowStep, run_flow

    board = _board(board, "flow")
    _fits(cfg, board)
    steps = (FlowStep("generate", folder="project"), FlowStep("verify"), FlowStep("perf"))
    return run_flow(FAMILY, cfg, board, args, steps,
                    config_note=f"{cfg.name}: {cfg.tokens} tokens, {cfg.layers} layers, "
                                f"{cfg.lanes} lanes, {cfg.tile_in}x{cfg.tile_out} linear unit")


FAMILY = DesignFamily(
    name="edgemoe",
    summary="Edge-MoE multi-task ViT attention and mixture-of-experts (HLS C++)",
    config=EdgeMoEConfig,
    generate=generate,
    verify=verify,
    perf=perf,
    flow=flow,
    report=edgemoe_report,
)
