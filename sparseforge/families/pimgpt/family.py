"""``sparseforge generate | verify | perf | synth | flow pimgpt``.

The family's target is a memory (``--memory``: a DRAM / PIM preset with a ``[pim]``
table or a device file, default :data:`~sparseforge.families.pimgpt.config.DEFAULT_MEMORY`).
Every verb checks the config, the memory and the mapping of the configured model on
``channels`` channels (:func:`sparseforge.sim.pimgpt.perf.system`) before any work, so
an unknown preset, a memory without PIM, a context beyond ``n_ctx`` or a model that does
not fit the banks is a :class:`~sparseforge.errors.ConfigError` (exit status 2) and
nothing is written.

* ``perf``: one timed token (:func:`sparseforge.sim.pimgpt.perf.token_latency`).
* ``verify``: the functional simulator against the NumPy reference (bit for bit) and
  the float32 torch model (an error figure); a timed token's command log through the
  independent checker, and its cycles against the fast mode's; the RTL bench of every
  datapath unit (:mod:`sparseforge.sim.pim.rtl_bench`).
* ``generate``: the datapath's Verilog, a README of the units and ``config.json``.
* ``synth``: the Yosys estimate of every unit (:func:`sparseforge.hwgen.pim.emit.datapath_synth`).
* ``flow``: generate, verify, perf (with the sweeps the report plots) and the report.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import tempfile
import time
from pathlib import Path

from sparseforge.errors import ConfigError
from sparseforge.families import DesignFamily
from sparseforge.families.pimgpt import report as pimgpt_report
from sparseforge.families.pimgpt.config import DEFAULT_MEMORY, PimGptConfig
from sparseforge.output_dir import atomic_output_dir, check_output_dir

__all__ = ["CHANNEL_SWEEP", "CLOCK_SWEEP", "FAMILY", "GPU_DATA", "PROMPT_LEN", "VERIFY_LAYERS",
           "VERIFY_VOCAB", "rtl_files", "sweeps", "verify_model"]

#: ``verify``'s functional run: decoder layers and vocabulary when the config says 0
#: (the published size): the functional simulator executes every command with its data
#: (about 2.8 s per token and layer at GPT-2 XL's width), so a full-size model would
#: take minutes per token.
VERIFY_LAYERS = 2
VERIFY_VOCAB = 2048
#: Prompt tokens of the functional run (seeded random ids).
PROMPT_LEN = 4
#: The report's sweeps: PIM channels, ASIC clocks (MHz).
CHANNEL_SWEEP = (4, 6, 8, 10, 12, 14, 16)
CLOCK_SWEEP = (1000.0, 500.0, 250.0, 100.0)
#: The GPU baseline (``benchmarks/pimgpt_gpu.py --out docs/data/pimgpt_gpu.json``), read
#: from the source tree when it exists.
GPU_DATA = Path(__file__).resolve().parents[3] / "docs" / "data" / "pimgpt_gpu.json"


# --------------------------------------------------------------------------- checks


def _memory(target, args):
    """The memory of the command line (``--memory``, else the default), with ``[pim]``.

    A verb run inside ``flow`` gets ``target = None`` and the flow's ``args.memory``.
    """
    from sparseforge.sim.dram.device import device_names, load_device

    device = target
    if device is None:
        device = load_device(getattr(args, "memory", None) or DEFAULT_MEMORY)
    if device.pim is None:
        pim = [n for n in device_names() if load_device(n).pim is not None]
        raise ConfigError(f"memory = {device.name!r} has no [pim] table (it is a plain "
                          f"{device.kind} device); allowed: a PIM preset "
                          f"({', '.join(pim)}) or a device file with a [pim] table")
    return device


def _system(cfg: PimGptConfig, device, model=None):
    """The mapping of ``model`` (default: the configured one) on ``cfg.channels`` channels;
    raises :class:`ConfigError` if it does not fit."""
    from sparseforge.sim.pimgpt.perf import system

    return system(model or cfg.gpt(), device, cfg.channels)


def _checked(cfg: PimGptConfig, target, args):
    """``(device, model, mapping)`` of the configured system, every input checked."""
    device = _memory(target, args)
    model = cfg.gpt()
    return device, model, _system(cfg, device, model)


def _system_device(device, channels: int):
    """``device`` with ``channels`` channels: the system's memory as one device (its
    chips side by side; channels are independent), for the functional channels and the
    command checker, which refuse channel numbers beyond the preset's own."""
    if channels <= device.channels:
        return device
    return dataclasses.replace(device, channels=channels)


def _system_line(cfg: PimGptConfig, device, model) -> str:
    return (f"{model.name} ({model.n_layer} layers, d_model {model.d_model}, "
            f"{model.n_head} heads, vocabulary {model.vocab}) on {cfg.channels} channels of "
            f"{device.name} ({device.pim.lanes} MAC lanes per bank, {device.banks} banks), "
            f"ASIC {cfg.asic_lanes} lanes at {cfg.asic_mhz:g} MHz, refresh "
            f"{'on' if cfg.refresh else 'off'}")


# --------------------------------------------------------------------------- perf


def _latency(cfg: PimGptConfig, device, model=None, **changes):
    from sparseforge.sim.pimgpt.perf import token_latency

    values = {"context": cfg.context, "channels": cfg.channels, "asic_mhz": cfg.asic_mhz,
              **changes}
    return token_latency(model or cfg.gpt(), device, values["context"], values["channels"],
                         values["asic_mhz"], cfg.asic_lanes, cfg.refresh)


def sweeps(cfg: PimGptConfig, device) -> dict:
    """What the flow report plots, each point one timed token.

    Returns
    -------
    dict
        ``contexts``: the configured model's ``breakdown_cycles`` / ``ms_per_token`` at a
        few contexts (n_ctx / 8, / 4, / 2, n_ctx and the configured one); ``channels``:
        ``ms_per_token`` per :data:`CHANNEL_SWEEP` count, or ``fits: false`` and why;
        ``clocks``: ``ms_per_token`` per :data:`CLOCK_SWEEP` clock and the increase over
        the fastest, percent; ``gpu``: the speedup over each GPU point of
        :data:`GPU_DATA` for the configured model (``None`` and a ``gpu_note`` when the
        file is absent or holds no point of this model).
    """
    model = cfg.gpt()
    n = model.n_ctx
    contexts = sorted({max(1, n // 8), max(1, n // 4), max(1, n // 2), n, cfg.context})
    out: dict = {"contexts": [], "channels": [], "clocks": []}
    for ctx in contexts:
        d = _latency(cfg, device, context=ctx).to_dict()
        out["contexts"].append({"context": ctx, "ms_per_token": d["ms_per_token"],
                                "breakdown_cycles": d["breakdown_cycles"],
                                "cycles": d["cycles"]})
    for ch in sorted({*CHANNEL_SWEEP, cfg.channels}):
        try:
            d = _latency(cfg, device, channels=ch).to_dict()
        except ConfigError as exc:
            out["channels"].append({"channels": ch, "fits": False, "why": str(exc)})
        else:
            out["channels"].append({"channels": ch, "fits": True,
                                    "ms_per_token": d["ms_per_token"]})
    for mhz in CLOCK_SWEEP:
        out["clocks"].append({"asic_mhz": mhz, "ms_per_token":
                              _latency(cfg, device, asic_mhz=mhz).to_dict()["ms_per_token"]})
    base = out["clocks"][0]["ms_per_token"]
    for c in out["clocks"]:
        c["increase_pct"] = round(100.0 * (c["ms_per_token"] / base - 1.0), 3)
    out["gpu"], out["gpu_note"] = _gpu_speedup(cfg, device, model)
    return out


def _gpu_speedup(cfg: PimGptConfig, device, model) -> tuple[list | None, str]:
    if not GPU_DATA.is_file():
        return None, (f"no GPU baseline: {GPU_DATA.relative_to(GPU_DATA.parents[2])} does not "
                      "exist (benchmarks/pimgpt_gpu.py writes it on a CUDA machine)")
    if cfg.layers or cfg.vocab:
        return None, "no GPU comparison: the simulated model is not the published one"
    try:
        data = json.loads(GPU_DATA.read_text())
        rows = [r for r in data["results"] if r.get("model") == cfg.model
                and "ms_per_token" in r]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"no GPU comparison: {GPU_DATA.name} unreadable ({exc})"
    if not rows:
        return None, f"no GPU comparison: {GPU_DATA.name} has no point of {cfg.model}"
    pim: dict[int, float] = {}
    out = []
    for r in sorted(rows, key=lambda r: (r["dtype"], r["mode"], r["context"])):
        ctx = int(r["context"])
        if ctx not in pim:
            pim[ctx] = _latency(cfg, device, context=ctx).ms
        out.append({"context": ctx, "dtype": r["dtype"], "mode": r["mode"],
                    "gpu_ms": r["ms_per_token"], "pim_ms": round(pim[ctx], 6),
                    "speedup": round(r["ms_per_token"] / pim[ctx], 4)})
    return out, f"GPU: {data.get('device', '?')} (batch 1, {GPU_DATA.name})"


def perf(cfg: PimGptConfig, target, args) -> dict:
    """One timed token at ``context``: latency, breakdown, row hits, energy, commands.

    Returns :meth:`~sparseforge.sim.pimgpt.perf.PerfResult.to_dict` plus ``wall_s``,
    ``config`` and (``args.sweeps``, set by ``flow``) ``sweeps`` (:func:`sweeps`).
    """
    device, model, _ = _checked(cfg, target, args)
    start = time.perf_counter()
    result = _latency(cfg, device, model)
    wall = time.perf_counter() - start
    d = result.to_dict()
    d.update(wall_s=round(wall, 3), config=cfg.to_dict(), n_layer=model.n_layer,
             vocab=model.vocab)
    if getattr(args, "sweeps", False):
        d["sweeps"] = sweeps(cfg, device)
    lines = [_system_line(cfg, device, model),
             f"one token at context {cfg.context}: {d['ms_per_token']:.4f} ms "
             f"({d['tokens_per_s']:,.1f} tokens/s), {d['cycles']:,} DRAM cycles of "
             f"{device.tck_ns:g} ns; simulated in {wall:.2f} s",
             "", f"{'category':10} {'cycles':>12} {'share':>8}"]
    for k, v in d["breakdown_cycles"].items():
        lines.append(f"{k:10} {v:12,} {100 * d['breakdown_share'][k]:7.2f} %")
    lines += ["", f"row-hit rate {100 * d['row_hit_rate']:.2f} % of column commands",
              f"energy per token {d['energy_uj']['total'] / 1e3:.3f} mJ: " + ", ".join(
                  f"{k} {v:,.1f} uJ" for k, v in d["energy_uj"].items() if k != "total"),
              "commands: " + ", ".join(f"{k} {v:,}" for k, v in d["commands"].items())]
    d["text"] = "\n".join(lines)
    return d


# --------------------------------------------------------------------------- verify


def verify_model(cfg: PimGptConfig):
    """The model ``verify`` decodes: the configured shape with ``layers`` / ``vocab``
    as given, or :data:`VERIFY_LAYERS` / :data:`VERIFY_VOCAB` where they are 0."""
    return cfg.replace(layers=cfg.layers or VERIFY_LAYERS,
                       vocab=cfg.vocab or VERIFY_VOCAB).gpt()


def functional_check(cfg: PimGptConfig, device, model) -> dict:
    """``FunctionalSystem`` against ``reference.decode_logits`` (and torch float32) on
    random weights of ``model`` (seed ``cfg.seed``): a :data:`PROMPT_LEN`-token prompt,
    ``cfg.steps`` greedy steps."""
    import numpy as np

    from sparseforge.sim.pimgpt.functional import FunctionalSystem
    from sparseforge.sim.pimgpt.reference import PimArith, decode_logits
    from sparseforge.sim.pimgpt.weights import random_weights

    mm = _system(cfg, device, model)
    weights = random_weights(model, cfg.seed)
    prompt = [int(t) for t in np.random.default_rng(cfg.seed).integers(0, model.vocab,
                                                                         PROMPT_LEN)]
    start = time.perf_counter()
    sim = FunctionalSystem(_system_device(device, cfg.channels), mm, model, weights,
                           cfg.asic_lanes)
    tokens, logits = sim.decode(prompt, cfg.steps)
    sim_s = time.perf_counter() - start
    arith = PimArith(device.pim.lanes, mm.geo.row_elems, cfg.asic_lanes)
    start = time.perf_counter()
    ref_tokens, ref_logits = decode_logits(weights, prompt, cfg.steps, arith)
    ref_s = time.perf_counter() - start
    got = np.asarray(logits, np.float32).reshape(ref_logits.shape)
    equal = got.view(np.uint32) == np.asarray(ref_logits, np.float32).view(np.uint32)
    out = {"model": model.name, "prompt": prompt, "steps": cfg.steps,
           "tokens": tokens, "reference_tokens": [int(t) for t in ref_tokens],
           "tokens_equal": sum(int(a == b) for a, b in zip(tokens, ref_tokens)),
           "logits": int(equal.size), "logits_bit_equal": int(equal.sum()),
           "simulator_s": round(sim_s, 2), "reference_s": round(ref_s, 2)}
    out["passed"] = out["tokens_equal"] == cfg.steps and out["logits_bit_equal"] == equal.size
    try:
        from sparseforge.sim.pimgpt import torch_ref
    except ImportError as exc:  # torch is the optional train extra
        out["torch"] = None
        out["torch_note"] = f"float32 torch comparison skipped: {exc}"
    else:
        _, t_logits = torch_ref.decode_logits(weights, prompt, cfg.steps, forced=ref_tokens)
        err = float(np.max(np.abs(t_logits.astype(np.float64) - ref_logits)))
        peak = float(np.max(np.abs(t_logits)))
        out["torch"] = {"max_abs": err, "max_abs_logit": peak,
                        "relative": err / peak if peak else None}
    return out


def timing_check(cfg: PimGptConfig, device, model) -> dict:
    """A timed token of ``model`` at ``cfg.context`` in ``log=True`` mode (every command
    computed on its own): its log through :func:`~sparseforge.sim.dram.checker.
    check_commands`, its cycles against the fast mode's."""
    from sparseforge.sim.dram.checker import check_commands
    from sparseforge.sim.pimgpt.program import token_program
    from sparseforge.sim.pimgpt.timed import TimedSystem

    mm = _system(cfg, device, model)
    runs = {}
    for log in (True, False):
        start = time.perf_counter()
        sim = TimedSystem(device, mm.geo, asic_mhz=cfg.asic_mhz, asic_lanes=cfg.asic_lanes,
                          refresh=cfg.refresh, log=log)
        timing = sim.run(token_program(mm, model, cfg.context - 1, 0))
        runs[log] = (sim, timing, time.perf_counter() - start)
    sim, logged, log_s = runs[True]
    _, fast, fast_s = runs[False]
    commands = list(heapq.merge(*sim.log, key=lambda c: c.cycle))
    start = time.perf_counter()
    violations = check_commands(_system_device(device, cfg.channels), commands,
                                refresh_deadline=cfg.refresh)
    check_s = time.perf_counter() - start
    out = {"model": model.name, "context": cfg.context, "commands": len(commands),
           "violations": len(violations), "first_violations": [str(v) for v in violations[:5]],
           "cycles_logged": logged.cycles, "cycles_fast": fast.cycles,
           "counts_equal": logged.counts == fast.counts,
           "logged_s": round(log_s, 2), "fast_s": round(fast_s, 3),
           "checker_s": round(check_s, 2)}
    out["passed"] = (not violations and logged.cycles == fast.cycles and out["counts_equal"])
    return out


def rtl_check(device, folder: Path, simulator: str, seed: int) -> dict:
    """The RTL bench (:func:`sparseforge.sim.pim.rtl_bench.run_bench`): every ASIC
    operator and the MAC unit at the memory's lanes, built in ``folder``."""
    from sparseforge.sim.pim.rtl_bench import run_bench

    start = time.perf_counter()
    report = run_bench(folder, mac_lanes=(device.pim.lanes,), seed=seed, simulator=simulator)
    units = {name: {k: r[k] for k in ("vectors", "outputs", "expected", "mismatches",
                                      "first_mismatches", "latencies", "latency_model", "ii",
                                      "ii_model", "valid_gaps", "results_held",
                                      "inputs_refused", "problems", "passed")}
             for name, r in report["units"].items()}
    return {"units": units, "lint": report["lint"], "failed": report["failed"],
            "simulator": simulator, "seconds": round(time.perf_counter() - start, 1),
            "passed": report["failed"] == 0}


def verify(cfg: PimGptConfig, target, args) -> dict:
    """Functional bit-exactness, the timed command log's legality, the RTL bench;
    ``failed`` counts the parts that did not pass (non-zero exit)."""
    device, _, _ = _checked(cfg, target, args)
    model = verify_model(cfg)
    _system(cfg, device, model)
    notes = []
    if not cfg.layers or not cfg.vocab:
        what = [f"{VERIFY_LAYERS} layers" if not cfg.layers else "",
                f"vocabulary {VERIFY_VOCAB}" if not cfg.vocab else ""]
        notes.append(f"verify decodes {model.name}: {' and '.join(w for w in what if w)} "
                     f"instead of the published {cfg.model}'s (set layers / vocab to choose; "
                     "a full-size functional run takes hours per token)")
    result = {"model": model.name, "memory": device.name, "notes": notes,
              "config": cfg.to_dict()}
    result["functional"] = functional_check(cfg, device, model)
    result["timing"] = timing_check(cfg, device, model)
    if getattr(args, "rtl", True):  # callers in Python may skip it, as Edge-MoE's approximation
        with tempfile.TemporaryDirectory(prefix="sparseforge-verify-") as tmp:
            folder = Path(args.out) / "rtl" if getattr(args, "out", None) else Path(tmp)
            result["rtl"] = rtl_check(device, folder, getattr(args, "sim", None)
                                      or "verilator", cfg.seed)
    else:
        result["rtl"] = None
    parts = [p for p in ("functional", "timing", "rtl") if result[p] is not None]
    result["failed"] = sum(1 for p in parts if not result[p]["passed"])
    result["text"] = _verify_text(cfg, device, model, result)
    return result


def _verify_text(cfg, device, model, r: dict) -> str:
    f, t, rtl = r["functional"], r["timing"], r["rtl"]
    ok = {True: "pass", False: "FAIL"}
    lines = [_system_line(cfg, device, model), *r["notes"],
             f"functional: {PROMPT_LEN}-token prompt {f['prompt']}, {f['steps']} greedy steps "
             f"(simulator {f['simulator_s']:.1f} s, reference {f['reference_s']:.1f} s)",
             f"  tokens equal to the reference   {f['tokens_equal']}/{f['steps']}",
             f"  logits bit-equal                {f['logits_bit_equal']:,}/{f['logits']:,}"
             f"  {ok[f['passed']]}"]
    if f["torch"]:
        lines.append(f"  float32 torch logits: max abs error {f['torch']['max_abs']:.3e} "
                     f"({100 * f['torch']['relative']:.2f} % of max |logit| "
                     f"{f['torch']['max_abs_logit']:.3g})")
    else:
        lines.append(f"  {f['torch_note']}")
    lines += [f"timing: one token at context {t['context']}, {t['commands']:,} commands "
              f"logged ({t['logged_s']:.1f} s), checked in {t['checker_s']:.1f} s",
              f"  checker violations              {t['violations']}",
              f"  cycles logged / fast mode       {t['cycles_logged']:,} / "
              f"{t['cycles_fast']:,}  {ok[t['passed']]}"]
    lines += [f"    {v}" for v in t["first_violations"]]
    if rtl is None:
        lines.append("rtl: not run")
    else:
        lint = rtl["lint"]
        lines.append(f"rtl: cocotb bench on {rtl['simulator']} ({rtl['seconds']:.0f} s)"
                     + (f"; lint {'clean' if lint['passed'] else 'FAILED'}" if lint else ""))
        lines.append(f"  {'unit':8} {'vectors':>8} {'mismatches':>10} {'latency':>8} "
                     f"{'model':>6} {'II':>3} {'model':>6}  result")
        for name, u in rtl["units"].items():
            lat = ",".join(map(str, u["latencies"])) or "-"
            lines.append(f"  {name:8} {u['vectors']:8,} {u['mismatches']:10} {lat:>8} "
                         f"{u['latency_model']:6} {u['ii'] or '-':>3} {u['ii_model']:6}  "
                         f"{ok[u['passed']]}" + (f" ({'; '.join(u['problems'])})"
                                                  if u["problems"] else ""))
    parts = [p for p in ("functional", "timing", "rtl") if r[p] is not None]
    lines.append(f"{len(parts) - r['failed']} of {len(parts)} parts passed")
    return "\n".join(lines)


# --------------------------------------------------------------------------- generate


def rtl_files(cfg: PimGptConfig, device) -> dict[str, str]:
    """Every file of ``sparseforge generate pimgpt`` (path -> text): the MAC unit at the
    memory's lanes and every ASIC operator as Verilog in ``rtl/``, ``README.md``,
    ``config.json``."""
    from sparseforge.hwgen.pim.asic import FUNCTIONS
    from sparseforge.hwgen.pim.emit import asic_verilog, mac_verilog
    from sparseforge.names import check_identifier
    from sparseforge.sim.pim.units import ASIC_UNITS, MAC_II, mac_latency

    lanes = device.pim.lanes
    units = [(f"pim_mac{lanes}", f"MAC unit, {lanes} BF16 lanes, FP32 tree and accumulator",
              mac_latency(lanes), MAC_II, lambda name: mac_verilog(lanes, name))]
    for f in FUNCTIONS:
        unit = ASIC_UNITS[f]
        units.append((f"pim_{f}", f"ASIC operator {f} (FP32)", unit.latency, unit.ii,
                      lambda name, f=f: asic_verilog(f, name)))
    files = {}
    for name, _, _, _, emit in units:
        check_identifier("module name", name)
        files[f"rtl/{name}.v"] = emit(name)
    rows = "\n".join(f"| `{name}` | `rtl/{name}.v` | {what} | {lat} | {ii} |"
                     for name, what, lat, ii, _ in units)
    files["README.md"] = (
        f"# PIM-GPT datapath RTL ({device.name}, {lanes} MAC lanes)\n\n"
        "Written by `sparseforge generate pimgpt` from the Amaranth sources in\n"
        "`hwgen/pim/` (docs/designs/pim_rtl.md). Every unit is a stream pipeline (`i` /\n"
        "`o` valid-ready ports), bit-exact with the golden models of `sim/pim/` and\n"
        "`sim/pimgpt/asic.py`; `sparseforge verify pimgpt` runs the cocotb bench of each.\n\n"
        "Latency: cycles from an input accepted to its result valid (for the MAC unit, the\n"
        "accumulator updated by that column); II: cycles between accepted inputs\n"
        "(`sim/pim/units.py`).\n\n"
        "| module | file | unit | latency | II |\n| --- | --- | --- | --- | --- |\n"
        f"{rows}\n\n"
        f"System: {cfg.model}, {cfg.channels} channels of {device.name}, ASIC "
        f"{cfg.asic_lanes} lanes at {cfg.asic_mhz:g} MHz (config.json).\n")
    files["config.json"] = json.dumps({"design": "pimgpt", "memory": device.name,
                                       "config": cfg.to_dict()}, indent=2,
                                      sort_keys=True) + "\n"
    return dict(sorted(files.items()))


def generate(cfg: PimGptConfig, target, args) -> dict:
    """The datapath's Verilog, README and config into ``--out`` (atomically)."""
    device, _, _ = _checked(cfg, target, args)
    if not getattr(args, "out", None):
        raise ConfigError("sparseforge generate pimgpt needs --out DIR")
    check_output_dir(args.out, force=getattr(args, "force", False))  # before the emission
    files = rtl_files(cfg, device)
    with atomic_output_dir(Path(args.out), force=getattr(args, "force", False)) as folder:
        for rel, text in files.items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
    return {"out": str(Path(args.out)), "files": sorted(files), "memory": device.name,
            "lanes": device.pim.lanes,
            "text": f"wrote {len(files)} files to {args.out}: the MAC unit "
                    f"({device.pim.lanes} lanes) and the ASIC operators as Verilog in rtl/, "
                    "README.md (latency / II of each), config.json"}


# --------------------------------------------------------------------------- synth


def synth(cfg: PimGptConfig, target, args) -> dict:
    """YoWASP Yosys ``synth_xilinx`` estimate of the MAC unit (the memory's lanes) and
    every ASIC operator (minutes)."""
    from sparseforge.hwgen.pim.emit import DEFAULT_SYNTH_BOARD, datapath_synth

    device, _, _ = _checked(cfg, target, args)
    units = datapath_synth(device.pim.lanes)
    total = {k: sum(u[k] for u in units.values()) for k in ("lut", "ff", "dsp")}
    lines = [f"synthesis estimate (Yosys synth_xilinx for {DEFAULT_SYNTH_BOARD}'s "
             "UltraScale+ fabric; mapped cell counts, not a placed design)",
             f"{'unit':8} {'LUT':>8} {'FF':>8} {'DSP':>5} {'seconds':>8}"]
    for name, u in units.items():
        lines.append(f"{name:8} {u['lut']:8,} {u['ff']:8,} {u['dsp']:5} {u['seconds']:8.1f}")
    lines.append(f"{'total':8} {total['lut']:8,} {total['ff']:8,} {total['dsp']:5}")
    return {"units": units, "total": total, "board": DEFAULT_SYNTH_BOARD,
            "memory": device.name, "text": "\n".join(lines)}


# --------------------------------------------------------------------------- flow


def flow(cfg: PimGptConfig, target, args) -> dict:
    """generate -> verify -> perf (with the report's sweeps) into one folder, and a report."""
    import argparse

    from sparseforge.flow import FlowStep, run_flow

    device, model, _ = _checked(cfg, target, args)
    _system(cfg, device, verify_model(cfg))
    steps = (FlowStep("generate", folder="project"),
             FlowStep("verify", args={"sim": getattr(args, "sim", None) or "verilator"}),
             FlowStep("perf", args={"sweeps": True}))
    # the flow machinery names a board; this family's target is a memory
    flow_args = argparse.Namespace(**{**vars(args), "board": None,
                                      "out": args.out or f"build/flow-pimgpt-{device.name}"})
    return run_flow(FAMILY, cfg, None, flow_args, steps,
                    config_note=f"memory {device.name} (--memory), "
                                f"{_system_line(cfg, device, model)}")


FAMILY = DesignFamily(
    name="pimgpt",
    summary="PIM-GPT: GPT decoding on GDDR6 PIM banks plus a small ASIC (simulator, RTL)",
    config=PimGptConfig,
    target="memory",
    generate=generate,
    verify=verify,
    perf=perf,
    synth=synth,
    flow=flow,
    report=pimgpt_report,
)
