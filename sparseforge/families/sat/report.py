"""The SAT family's part of the flow report: its sections, headlines, plots, lint logs.

The generic report (:mod:`sparseforge.report.flow_report`) asks the family for
each step's headline and blocks through :data:`sparseforge.families.sat.family.FAMILY`'s
``report`` (this module): ``TITLES``, :func:`headline`, :func:`blocks` and
:func:`write_files`.  The step results are read by their keys (``vectors`` for the
regression, ``architecture`` / ``kernel`` for the performance model, ``lut`` /
``percent`` / ``parts`` for the synthesis estimate).  matplotlib is imported only
when plots are drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparseforge.families.sat.contract import STATUS
from sparseforge.report.document import Image, Link, Table, require_matplotlib, save_png
from sparseforge.report.flow_report import step_result

__all__ = ["PLOTS", "TITLES", "blocks", "headline", "per_layer", "write_files"]

#: Layers shown in the per-layer plots; a workload with more shows its costliest ones.
MAX_PLOT_LAYERS = 30
#: Rows of the "short of the sparse limit" table.
MAX_SHORT_LAYERS = 10

#: Section titles of the verbs' results.
TITLES = {"generate": "Generated project", "verify": "Verification: RTL vs golden model",
          "perf": "Performance: dense vs BDWP", "synth": "Synthesis estimate"}

PLOTS = {
    "cycles_per_layer.png": "Architecture bound: dense vs BDWP cycles per layer (FF + BP + WU)",
    "utilisation_per_layer.png": "Architecture bound: multiplier utilisation per layer",
    "phase_time.png": "Architecture bound: step time per phase",
}


def write_files(flow: dict, reports: Path) -> list[str]:
    """Draw the plots of the perf step and write the lint logs of the verify step into
    ``reports``; returns the paths relative to the flow folder."""
    perf = step_result(flow, "perf")
    written = []
    if perf is not None and perf.get("architecture", {}).get("layers"):
        for name in _draw_plots(perf["architecture"], reports):
            written.append(f"reports/{name}")
    verify = step_result(flow, "verify", ok_only=False)
    for x in (verify or {}).get("lint") or ():
        (reports / _lint_log(x)).write_text(x["log"])
        written.append(f"reports/{_lint_log(x)}")
    return written


def headline(step: dict) -> str | None:
    """One line saying what a SAT step's result shows (``None``: not a SAT result)."""
    r = step["result"]
    if "vectors" in r:
        text = f"engine {r['passed']}/{len(r['vectors'])} vectors pass"
        wgen = r.get("weight_generator")
        if wgen:
            cases = len(wgen["cases"])
            text += f", weight generator {cases - wgen['failed']}/{cases} cases pass"
        kernel = r.get("kernel")
        if kernel:
            ok = sum(1 for k in kernel["runs"] if k["passed"])
            text += f", kernel {ok}/{len(kernel['runs'])} command lists pass"
        lint = r.get("lint") or []
        if lint:
            ok = sum(1 for x in lint if x["passed"])
            text += f", lint {ok}/{len(lint)} clean"
        bad = [v["id"] for v in r["vectors"] if not v["passed"]]
        bad += [f"lint {x['top']}" for x in lint if not x["passed"]]
        return text + (f"; FAIL: {', '.join(bad[:5])}" if bad else "")
    if "architecture" in r:
        c, a, k = r["config"], r["architecture"], r.get("kernel")
        bound = (f"dense {a['dense_ms']:,.1f} ms, BDWP {a['bdwp_ms']:,.1f} ms, "
                 f"{a['speedup']:.2f}x")
        if not k:
            return (f"{r['workload']} on a {c['rows']}x{c['cols']} array, architecture "
                    f"bound: {bound} per step (no kernel for this board)")
        return (f"{r['workload']} on the generated {c['rows']}x{c['cols']} kernel: dense "
                f"{k['dense_ms']:,.1f} ms, BDWP {k['bdwp_ms']:,.1f} ms per step, speedup "
                f"{k['speedup']:.2f}x (architecture bound: {bound})")
    if "lut" in r and "percent" in r:
        p = r["percent"]
        return (f"{r.get('top', 'design')}: LUT {r['lut']:,} ({p['lut']:.2f}%), FF "
                f"{r['ff']:,} ({p['ff']:.2f}%), DSP {r['dsp']:,} ({p['dsp']:.2f}%), BRAM36 "
                f"{r['bram36']:g} ({p['bram36']:.2f}%)")
    return None


def blocks(step: dict, flow: dict, plots: set[str]) -> list | None:
    """The blocks of a SAT step's section (``None``: not a SAT result)."""
    r = step["result"]
    if "vectors" in r:
        return _verify_blocks(r)
    if "architecture" in r:
        return _perf_blocks(r, flow, plots)
    if "lut" in r and "percent" in r:
        return _synth_blocks(r, flow)
    return None


def _verify_blocks(r: dict) -> list:
    vectors = r["vectors"]
    rows = [(v["id"], v.get("mode", ""), v.get("kind", ""), f"{v['mg']}x{v['k']}x{v['ng']}",
             f"{v['cycles']:,}", f"{v['model_cycles']:,}",
             "pass" if v["passed"] else f"FAIL ({v.get('mismatches', '?')} mismatches)")
            for v in vectors]
    blocks: list[Any] = [
        f"RTL simulation of the engine against the NumPy golden model: {r['passed']} of "
        f"{len(vectors)} vectors pass. RTL cycles are the cycles the simulated engine took; "
        "model cycles are the cycle model's prediction for the same GEMM. Vectors marked "
        "@stall ran again with seeded random and bursty stalls on the engine's streams: "
        "they must be bit-exact and no faster than the model.",
        Table(("vector", "mode", "kind", "M x K x N", "RTL cycles", "model cycles", "result"),
              rows, "lllrrrl"),
    ]
    wgen = r.get("weight_generator")
    if wgen:
        rows = [("column-wise" if c["colwise"] else "row-wise", "yes" if c["stall"] else "no",
                 str(c["groups"]), f"{c['cycles']:,}",
                 "pass" if not c["mismatches"] else f"FAIL ({c['mismatches']} mismatches)")
                for c in wgen["cases"]]
        blocks += ["Sparse weight generator (N:M selection and compression):",
                   Table(("mode", "back-pressure", "groups", "cycles", "result"), rows, "llrrl")]
    kernel = r.get("kernel")
    if kernel:
        rows = [(k["id"], str(k["cmds_done"]), str(k["status"]), f"{k['cycles']:,}",
                 "pass" if k["passed"] else "FAIL") for k in kernel["runs"]]
        blocks += ["The kernel (AXI4-Lite control, AXI4 master, command processor, engine, "
                   "weight generator) on cocotbext-axi models: command lists with every "
                   "opcode, results bit-exact with the golden model, and a list the kernel "
                   f"must stop (STATUS {STATUS['BAD_NM']}: wrong N:M):",
                   Table(("command list", "commands done", "STATUS", "cycles", "result"),
                         rows, "lrrrl")]
    lint = r.get("lint") or []
    if lint:
        rows = [(x["top"], ", ".join(x["files"]), _rules(x["warnings"]) or "none",
                 _rules(x["waived"]) or "none", Link(_lint_log(x), _lint_log(x)),
                 "pass" if x["passed"] else "FAIL") for x in lint]
        blocks += ["Verilator lint (default warnings) of every simulated top; any warning "
                   "no waiver covers fails it. Waivers, each only in the files named: "
                   f"{_waivers(lint)}.",
                   Table(("top", "files", "warnings", "waived", "log", "result"), rows)]
        for x in lint:
            blocks += [f"Not waived in {x['top']}: {w}" for w in x["unwaived"]]
    return blocks


def _rules(counts: dict[str, int]) -> str:
    """``WIDTHEXPAND 35, WIDTHTRUNC 34``: warnings per rule."""
    return ", ".join(f"{rule} {n}" for rule, n in counts.items())


def _waivers(lint: list[dict]) -> str:
    """``WIDTHEXPAND in a.v, b.v (why); ...``: every waiver rule with its files."""
    files: dict[tuple[str, str], list[str]] = {}
    for x in lint:
        for w in x.get("waivers", ()):
            names = files.setdefault((w["rule"], w["why"]), [])
            if w["file"] not in names:
                names.append(w["file"])
    return "; ".join(f"{rule} in {', '.join(names)} ({why})"
                     for (rule, why), names in files.items()) or "none"


def _lint_log(lint: dict) -> str:
    """File name of one lint log in ``reports/``."""
    return f"lint-{lint['top']}.log"


def _perf_blocks(r: dict, flow: dict, plots: set[str]) -> list:
    c, a, k = r["config"], r["architecture"], r.get("kernel")
    mults = c["rows"] * c["cols"] * c["n"]
    ms_per_cycle = 1e-3 / a["clock_mhz"]
    why = (r.get("array") or {}).get("why")
    blocks: list[Any] = [
        f"One training step of {r['workload']} (batch {r['batch']}), dense vs BDWP "
        f"({c['n']}:{c['m']} sparse FF and BP GEMMs), on a {c['rows']}x{c['cols']} array "
        f"({mults:,} multipliers, int{c['width']}, drain_rows {c['drain_rows']}) at "
        f"{a['clock_mhz']:g} MHz" + (f": {why}." if why else "."),
    ]
    rows = []
    if k:
        rows.append((f"generated kernel ({k['axi_data_bits']}-bit AXI master on "
                     f"{k['memory']})", f"{k['dense_ms']:,.2f} ms", f"{k['bdwp_ms']:,.2f} ms",
                     f"{k['speedup']:.3f}x"))
    rows.append((f"architecture bound ({a['bandwidth_gbs']:.1f} GB/s sustained)",
                 f"{a['dense_ms']:,.2f} ms", f"{a['bdwp_ms']:,.2f} ms", f"{a['speedup']:.3f}x"))
    blocks.append(Table(("step time", "dense", "BDWP", "speedup"), rows, "lrrr"))
    if k:
        blocks.append(
            f"The generated kernel streams every tile's A and B records from memory through "
            f"its one AXI master ({k['read_words_per_step']} AXI words per engine step), "
            "weights pruned on the host. The architecture bound is the same array with its "
            "operands buffered on chip and each read once: what the engine could do behind "
            "on-chip reuse buffers (docs/designs/sat_kernel.md explains the gap). The rest "
            f"of this section is the architecture bound (compute-bound limit "
            f"{a['compute_bound_limit']:.2f}x).")
    else:
        blocks.append(f"No prediction of a generated kernel: {r.get('no_kernel', 'none')}. "
                      "The rest of this section is the architecture bound (compute-bound "
                      f"limit {a['compute_bound_limit']:.2f}x).")
    rows = []
    for phase in ("FF", "BP", "WU"):
        d, s = a["phase_cycles"]["dense"][phase], a["phase_cycles"]["bdwp"][phase]
        rows.append((phase, f"{d:,}", f"{d * ms_per_cycle:.2f}", f"{s:,}",
                     f"{s * ms_per_cycle:.2f}", f"{d / s:.2f}x" if s else "-"))
    blocks.append(Table(("phase", "dense cycles", "dense ms", "BDWP cycles", "BDWP ms",
                         "speedup"), rows, "lrrrrr"))
    bound = a["memory_bound_layers"]
    blocks.append(f"Memory-bound layers (BDWP): {', '.join(bound)}." if bound
                  else "Memory-bound layers (BDWP): none; every GEMM is compute-bound.")
    short = [x for x in a["layers"] if x.get("why")]
    if short:
        more = f", the first {MAX_SHORT_LAYERS} shown" if len(short) > MAX_SHORT_LAYERS else ""
        blocks.append(f"Sparse GEMMs below 90 % of the ideal {c['m'] / c['n']:g}x speedup: "
                      f"{len(short)}{more}.")
        blocks.append(Table(("layer", "phase", "M x K x N", "speedup", "why"), [
            (x["layer"], x["phase"], f"{x['m']}x{x['k']}x{x['n']}", f"{x['speedup']:.2f}x",
             x["why"]) for x in short[:MAX_SHORT_LAYERS]], "lllrl"))
    blocks += [Image(name, alt) for name, alt in PLOTS.items() if name in plots]
    return blocks


def _synth_blocks(r: dict, flow: dict) -> list:
    res = (flow.get("board") or {}).get("resources", {})
    keys = (("lut", "LUT"), ("ff", "FF"), ("dsp", "DSP"), ("bram36", "BRAM36"),
            ("uram", "URAM"))
    parts = r.get("parts") or {}
    header = ("resource", "used", *parts, "available", "% of board")
    rows = []
    for key, label in keys:
        avail = res.get(key)
        rows.append((label, _count(r[key]), *(_count(p[key]) for p in parts.values()),
                     f"{avail:,}" if avail is not None else "-", f"{r['percent'][key]:.2f}%"))
    what = (f"of the generated kernel ({r.get('top', '?')}), its parts counted apart "
            f"({', '.join(parts)})" if parts else f"of {r.get('top', '?')}")
    return [f"Yosys synth_xilinx -family {r.get('family', '?')} {what} for "
            f"{r.get('board', '?')}: an estimate before Vivado place and route.",
            Table(header, rows, "l" + "r" * (len(header) - 1))]


def _count(value: float) -> str:
    """A resource count: ``2,564``, or ``1.5`` for half a BRAM36."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def per_layer(perf: dict) -> list[dict]:
    """Per-layer totals over the phases: ``layer``, ``dense``, ``bdwp`` cycles and the
    cycle-weighted utilisations ``util_dense`` / ``util_bdwp`` (in workload order)."""
    layers: dict[str, dict] = {}
    for g in perf["layers"]:
        x = layers.setdefault(g["layer"], {"layer": g["layer"], "dense": 0, "bdwp": 0,
                                           "busy_dense": 0.0, "busy_bdwp": 0.0})
        x["dense"] += g["dense_cycles"]
        x["bdwp"] += g["bdwp_cycles"]
        x["busy_dense"] += g["utilisation_dense"] * g["dense_cycles"]
        x["busy_bdwp"] += g["utilisation_bdwp"] * g["bdwp_cycles"]
    out = []
    for x in layers.values():
        out.append({"layer": x["layer"], "dense": x["dense"], "bdwp": x["bdwp"],
                    "util_dense": x["busy_dense"] / x["dense"] if x["dense"] else 0.0,
                    "util_bdwp": x["busy_bdwp"] / x["bdwp"] if x["bdwp"] else 0.0})
    return out


def _draw_plots(perf: dict, folder: Path) -> list[str]:
    """Draw the three PNGs of the perf result into ``folder``; returns their names."""
    require_matplotlib()
    import matplotlib
    from matplotlib import style
    from matplotlib.figure import Figure

    layers = per_layer(perf)
    note = ""
    if len(layers) > MAX_PLOT_LAYERS:
        keep = {x["layer"] for x in sorted(layers, key=lambda x: -x["dense"])[:MAX_PLOT_LAYERS]}
        note = f" ({MAX_PLOT_LAYERS} costliest of {len(layers)} layers)"
        layers = [x for x in layers if x["layer"] in keep]
    names = [x["layer"] for x in layers]
    pos = list(range(len(layers)))
    left = [p - 0.2 for p in pos]
    right = [p + 0.2 for p in pos]
    c = perf["config"]
    array = f"{perf['workload']}, {c['rows']}x{c['cols']} array, {c['n']}:{c['m']}"
    with style.context("default"), matplotlib.rc_context(
            {"svg.hashsalt": "sparseforge", "font.size": 9}):
        fig = Figure(figsize=(10, 4.5), layout="constrained")
        ax = fig.add_subplot()
        ax.bar(left, [x["dense"] for x in layers], 0.4, label="dense")
        ax.bar(right, [x["bdwp"] for x in layers], 0.4, label="BDWP")
        ax.set_yscale("log")
        ax.set_ylabel("cycles per step (FF + BP + WU)")
        ax.set_title(f"{PLOTS['cycles_per_layer.png']}: {array}{note}")
        _layer_axis(ax, pos, names)
        save_png(fig, folder / "cycles_per_layer.png")

        fig = Figure(figsize=(10, 4.5), layout="constrained")
        ax = fig.add_subplot()
        ax.bar(left, [100 * x["util_dense"] for x in layers], 0.4, label="dense")
        ax.bar(right, [100 * x["util_bdwp"] for x in layers], 0.4, label="BDWP")
        ax.set_ylim(0, 105)
        ax.set_ylabel("MACs / (multipliers x cycles), %")
        ax.set_title(f"{PLOTS['utilisation_per_layer.png']}: {array}{note}")
        _layer_axis(ax, pos, names)
        save_png(fig, folder / "utilisation_per_layer.png")

        phases = ("FF", "BP", "WU")
        ms = 1e-3 / perf["clock_mhz"]
        fig = Figure(figsize=(6.5, 4), layout="constrained")
        ax = fig.add_subplot()
        for offset, mode, label in ((-0.2, "dense", "dense"), (0.2, "bdwp", "BDWP")):
            bars = ax.bar([i + offset for i in range(3)],
                          [perf["phase_cycles"][mode][p] * ms for p in phases], 0.4,
                          label=label)
            ax.bar_label(bars, fmt="%.1f", fontsize=8)
        ax.set_xticks(range(3), phases)
        ax.margins(y=0.1)
        ax.set_ylabel("ms per step")
        ax.set_title(f"{PLOTS['phase_time.png']}: {array}")
        _legend(ax)
        save_png(fig, folder / "phase_time.png")
    return list(PLOTS)


def _layer_axis(ax, pos: list[int], names: list[str]) -> None:
    ax.set_xticks(pos, names, rotation=90)
    ax.set_xlim(-0.6, len(pos) - 0.4)
    ax.grid(axis="y", alpha=0.3)
    _legend(ax)


def _legend(ax) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
