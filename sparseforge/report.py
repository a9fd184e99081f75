"""The report of ``sparseforge flow``: Markdown, HTML, PNG plots and the raw JSON.

:func:`write_report` turns a flow record (see :func:`sparseforge.flow.run_flow`)
into ``reports/`` inside the flow folder:

* ``index.md`` and ``index.html`` — the same content, built from one list of
  :class:`Section`; the HTML is self-contained (inline CSS, no JavaScript) and
  references the PNGs next to it;
* ``cycles_per_layer.png``, ``utilisation_per_layer.png``, ``phase_time.png`` —
  matplotlib (Agg, default style), written without a ``Software`` tag so that
  the same results give byte-identical files;
* ``lint-<top>.log`` — Verilator's lint output of each linted top (``verify``);
* ``flow.json`` — every step's full result, wall times and error tracebacks.

Everything above the last section ("Wall time") of ``index.md`` / ``index.html``
depends only on the step results, so two runs of the same flow give the same
text there.  The step results are read by their keys (``vectors`` for a
regression, ``architecture`` (and ``kernel``) for a performance model, ``lut`` /
``percent`` for a synthesis estimate); other results are shown as key / value
tables.  matplotlib is imported only when plots are drawn.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SparseforgeError

__all__ = ["Image", "Link", "Section", "Table", "headline", "require_matplotlib",
           "to_html", "to_markdown", "write_report"]

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


# --------------------------------------------------------------------------- document model


@dataclass(frozen=True)
class Link:
    """A table cell or paragraph that links to ``href`` (relative to ``reports/``)."""

    text: str
    href: str


@dataclass(frozen=True)
class Table:
    """A table; ``align`` holds ``l`` or ``r`` per column (default: all left)."""

    header: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    align: str = ""


@dataclass(frozen=True)
class Image:
    """A picture next to the report (``src`` relative to ``reports/``)."""

    src: str
    alt: str


@dataclass(frozen=True)
class Code:
    """A preformatted block (a command line)."""

    text: str


@dataclass
class Section:
    """A titled part of the report: paragraphs (``str``), tables, images and code."""

    title: str
    blocks: list[Any] = field(default_factory=list)


# --------------------------------------------------------------------------- entry points


def require_matplotlib() -> None:
    """Raise a clear error unless matplotlib (the ``bench`` extra) is importable."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SparseforgeError(
            "the flow report draws its plots with matplotlib, which is not installed; "
            "install the bench extra: pip install 'sparseforge[bench]' (in a clone: "
            "pip install -e '.[bench]')") from None


def write_report(flow: dict, folder: Path) -> list[str]:
    """Write ``reports/`` for ``flow`` into the flow folder; returns the relative paths."""
    reports = Path(folder) / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    perf = _result(flow, "perf")
    written = []
    if perf is not None and perf.get("architecture", {}).get("layers"):
        for name in _draw_plots(perf["architecture"], reports):
            written.append(f"reports/{name}")
    verify = _result(flow, "verify", ok_only=False)
    for x in (verify or {}).get("lint") or ():
        (reports / _lint_log(x)).write_text(x["log"])
        written.append(f"reports/{_lint_log(x)}")
    sections = build_sections(flow, {Path(p).name for p in written})
    title = _title(flow)
    (reports / "index.md").write_text(to_markdown(title, sections))
    (reports / "index.html").write_text(to_html(title, sections))
    (reports / "flow.json").write_text(json.dumps(flow, indent=2, sort_keys=True) + "\n")
    return sorted([*written, "reports/index.md", "reports/index.html", "reports/flow.json"])


def headline(step: dict) -> str:
    """One line saying what a step did (or why it did not)."""
    if step["status"] == "skipped":
        return "not run: an earlier step failed"
    if step["status"] == "error":
        return step["error"].splitlines()[0]
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
    if "files" in r:
        return f"wrote {len(r['files'])} files into {step.get('folder') or r.get('out')}/"
    return "failed" if step["status"] == "failed" else "ok"


# --------------------------------------------------------------------------- sections


def build_sections(flow: dict, plots: set[str] = frozenset()) -> list[Section]:
    """The report's sections, in order; ``plots`` names the PNGs that were drawn."""
    sections = [_overview(flow), _config_section(flow)]
    if flow.get("board"):
        sections.append(_board_section(flow["board"]))
    for step in flow["steps"]:
        sections.append(_step_section(step, flow, plots))
    sections.append(_times_section(flow))
    return sections


def _overview(flow: dict) -> Section:
    steps = flow["steps"]
    if flow["failed"]:
        bad = next(s for s in steps if s["step"] == flow["failed_step"])
        status = (f"FAILED at step {bad['step']}: {bad['headline']}. "
                  "The steps after it did not run.")
    else:
        status = f"All {len(steps)} steps passed."
    rows = [(s["step"], s["status"].upper() if s["status"] != "ok" else "ok", s["headline"],
             Link(f"{s['folder']}/", f"../{s['folder']}/") if s.get("folder")
             and s["status"] == "ok" else "-",
             Link(s["log"], f"../{s['log']}") if s.get("log") else "-") for s in steps]
    return Section("Summary", [status, Code(flow["command"]),
                               Table(("step", "status", "outcome", "output", "log"), rows)])


def _config_section(flow: dict) -> Section:
    rows = [(key, str(value)) for key, value in flow["config"].items()]
    blocks: list[Any] = [f"The {flow['design']} configuration every step generates, "
                         "verifies, predicts and synthesises."]
    if flow.get("config_note"):
        blocks.append(f"Used: {flow['config_note']}.")
    return Section("Configuration", [*blocks, Table(("parameter", "value"), rows)])


def _board_section(board: dict) -> Section:
    res, mem = board["resources"], board["memory"][0] if board["memory"] else None
    rows = [("board", f"{board['display_name']} ({board['name']})"),
            ("part", board["device"]["part"]),
            ("LUT", f"{res['lut']:,}"), ("FF", f"{res['ff']:,}"),
            ("DSP", f"{res['dsp']:,} {res['dsp_kind']}"), ("BRAM36", f"{res['bram36']:,}"),
            ("URAM", f"{res['uram']:,}"),
            ("clock", f"{board['clocks']['default_mhz']:g} MHz")]
    if mem:
        rows.append(("memory", f"{mem['kind']} {mem['peak_gbs']:g} GB/s peak"))
    return Section("Board", [Table(("", "value"), rows)])


def _step_section(step: dict, flow: dict, plots: set[str]) -> Section:
    title = TITLES.get(step["step"], step["step"].capitalize())
    if step["status"] == "skipped":
        return Section(title, ["Not run: an earlier step failed."])
    if step["status"] == "error":
        return Section(title, [f"The step raised an error: {step['error']}",
                               "The traceback is in flow.json."])
    r = step["result"]
    if "vectors" in r:
        return Section(title, _verify_blocks(r))
    if "architecture" in r:
        return Section(title, _perf_blocks(r, flow, plots))
    if "lut" in r and "percent" in r:
        return Section(title, _synth_blocks(r, flow))
    if "files" in r:
        folder = step.get("folder")
        rows = [(Link(f"{folder}/{f}", f"../{folder}/{f}") if folder else f,) for f in r["files"]]
        return Section(title, [Table(("file",), rows)])
    rows = [(k, str(v)) for k, v in sorted(r.items()) if isinstance(v, (str, int, float, bool))]
    return Section(title, [Table(("key", "value"), rows)])


def _verify_blocks(r: dict) -> list:
    vectors = r["vectors"]
    rows = [(v["id"], v.get("mode", ""), v.get("kind", ""), f"{v['mg']}x{v['k']}x{v['ng']}",
             f"{v['cycles']:,}", f"{v['model_cycles']:,}",
             "pass" if v["passed"] else f"FAIL ({v.get('mismatches', '?')} mismatches)")
            for v in vectors]
    blocks: list[Any] = [
        f"RTL simulation of the engine against the NumPy golden model: {r['passed']} of "
        f"{len(vectors)} vectors pass. RTL cycles are the cycles the simulated engine took; "
        "model cycles are the cycle model's prediction for the same GEMM.",
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
        from .sat_kernel import STATUS  # the SAT kernel's one STATUS table

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


def _times_section(flow: dict) -> Section:
    rows = [(s["step"], s["status"], f"{s['seconds']:.1f}") for s in flow["steps"]]
    rows.append(("total", "", f"{flow['seconds']:.1f}"))
    return Section("Wall time", ["Seconds per step on this run (the only part of the "
                                 "report that changes from run to run).",
                                 Table(("step", "status", "seconds"), rows, "llr")])


def _title(flow: dict) -> str:
    board = flow["board"]["name"] if flow.get("board") else None
    return f"sparseforge flow: {flow['design']}" + (f" on {board}" if board else "")


def _result(flow: dict, verb: str, ok_only: bool = True) -> dict | None:
    """The result of step ``verb``: when it passed, or (``ok_only=False``) also when it
    ran and failed a check."""
    for step in flow["steps"]:
        if step["step"] == verb and (step["status"] == "ok" or (
                not ok_only and step["status"] == "failed")):
            return step["result"]
    return None


# --------------------------------------------------------------------------- rendering


def to_markdown(title: str, sections: list[Section]) -> str:
    """GitHub-flavoured Markdown of the report."""
    out = [f"# {title}", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, str):
                out += [block, ""]
            elif isinstance(block, Code):
                out += ["```", block.text, "```", ""]
            elif isinstance(block, Image):
                out += [f"![{block.alt}]({block.src})", ""]
            elif isinstance(block, Table):
                out += [*_markdown_table(block), ""]
    return "\n".join(out)


def _markdown_table(table: Table) -> list[str]:
    def cell(value: Any) -> str:
        text = f"[{value.text}]({value.href})" if isinstance(value, Link) else str(value)
        return text.replace("|", "\\|") or " "

    align = table.align or "l" * len(table.header)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(cell(h) for h in table.header) + " |",
             "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    return lines


_CSS = """body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1em}
th,td{border:1px solid #ccc;padding:0.2em 0.6em;text-align:left}
th{background:#f3f3f3}td.r{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f6f6;padding:0.6em;overflow-x:auto}img{max-width:100%;display:block}"""


def to_html(title: str, sections: list[Section]) -> str:
    """A self-contained HTML page of the report (inline CSS, no scripts)."""
    esc = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{esc(title)}</title>", f"<style>\n{_CSS}\n</style>", "</head>", "<body>",
           f"<h1>{esc(title)}</h1>"]
    for section in sections:
        out.append(f"<h2>{esc(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, str):
                out.append(f"<p>{esc(block)}</p>")
            elif isinstance(block, Code):
                out.append(f"<pre><code>{esc(block.text)}</code></pre>")
            elif isinstance(block, Image):
                out.append(f'<p><img src="{esc(block.src)}" alt="{esc(block.alt)}"></p>')
            elif isinstance(block, Table):
                out += _html_table(block)
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _html_table(table: Table) -> list[str]:
    def cell(value: Any, a: str) -> str:
        text = (f'<a href="{html.escape(value.href)}">{html.escape(value.text)}</a>'
                if isinstance(value, Link) else html.escape(str(value)))
        return f'<td class="r">{text}</td>' if a == "r" else f"<td>{text}</td>"

    align = table.align or "l" * len(table.header)
    lines = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
             + "</tr>"]
    lines += ["<tr>" + "".join(cell(c, a) for c, a in zip(row, align)) + "</tr>"
              for row in table.rows]
    lines.append("</table>")
    return lines


# --------------------------------------------------------------------------- plots


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
        _save(fig, folder / "cycles_per_layer.png")

        fig = Figure(figsize=(10, 4.5), layout="constrained")
        ax = fig.add_subplot()
        ax.bar(left, [100 * x["util_dense"] for x in layers], 0.4, label="dense")
        ax.bar(right, [100 * x["util_bdwp"] for x in layers], 0.4, label="BDWP")
        ax.set_ylim(0, 105)
        ax.set_ylabel("MACs / (multipliers x cycles), %")
        ax.set_title(f"{PLOTS['utilisation_per_layer.png']}: {array}{note}")
        _layer_axis(ax, pos, names)
        _save(fig, folder / "utilisation_per_layer.png")

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
        _save(fig, folder / "phase_time.png")
    return list(PLOTS)


def _layer_axis(ax, pos: list[int], names: list[str]) -> None:
    ax.set_xticks(pos, names, rotation=90)
    ax.set_xlim(-0.6, len(pos) - 0.4)
    ax.grid(axis="y", alpha=0.3)
    _legend(ax)


def _legend(ax) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _save(fig, path: Path) -> None:
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})
