"""The PIM-GPT family's part of the flow report: headlines, sections and plots.

Read through :data:`sparseforge.families.pimgpt.family.FAMILY`'s ``report``:
``TITLES``, :func:`headline`, :func:`blocks`, :func:`write_files` (see
:mod:`sparseforge.report.flow_report`).  The plots come from the perf step's
``sweeps`` (:func:`sparseforge.families.pimgpt.family.sweeps`): the latency breakdown
at a few contexts, ms/token against the channel count, against the ASIC clock, and the
speedup over the GPU baseline when ``docs/data/pimgpt_gpu.json`` exists (otherwise the
plot is left out and the report says so).  matplotlib is imported only when plots are
drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparseforge.report.document import Image, Table, require_matplotlib, save_png
from sparseforge.report.flow_report import step_result

__all__ = ["PLOTS", "TITLES", "blocks", "headline", "write_files"]

TITLES = {"generate": "Generated RTL", "verify": "Verification: functional, timing, RTL",
          "perf": "Latency per token (timed simulator)"}

PLOTS = {
    "latency_breakdown.png": "Latency per token by category, at several contexts",
    "channel_scaling.png": "ms/token against PIM channels",
    "asic_clock.png": "ms/token against the ASIC clock",
    "gpu_speedup.png": "Speedup over the GPU baseline (batch 1)",
}

_CATEGORIES = ("mac", "act_pre", "refresh", "transfer", "asic")


def write_files(flow: dict, reports: Path) -> list[str]:
    """Draw the plots of the perf step's sweeps into ``reports``."""
    perf = step_result(flow, "perf")
    sweeps = (perf or {}).get("sweeps")
    if not sweeps:
        return []
    require_matplotlib()
    import matplotlib
    from matplotlib import style
    from matplotlib.figure import Figure

    written = []
    with style.context("default"), matplotlib.rc_context(
            {"svg.hashsalt": "sparseforge", "font.size": 9}):
        fig = Figure(figsize=(7, 4), layout="constrained")
        ax = fig.add_subplot()
        points = sweeps["contexts"]
        tck_ms = perf["ms_per_token"] / perf["cycles"] if perf["cycles"] else 0.0
        bottom = [0.0] * len(points)
        for cat in _CATEGORIES:
            values = [p["breakdown_cycles"][cat] * tck_ms for p in points]
            ax.bar(range(len(points)), values, 0.6, bottom=bottom, label=cat)
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.set_xticks(range(len(points)), [str(p["context"]) for p in points])
        ax.set_xlabel("context (tokens attended)")
        ax.set_ylabel("ms per token")
        ax.set_title(f"{PLOTS['latency_breakdown.png']}: {perf['model']}")
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        save_png(fig, reports / "latency_breakdown.png")
        written.append("reports/latency_breakdown.png")

        fits = [p for p in sweeps["channels"] if p["fits"]]
        if fits:
            fig = Figure(figsize=(7, 4), layout="constrained")
            ax = fig.add_subplot()
            ax.plot([p["channels"] for p in fits], [p["ms_per_token"] for p in fits], "o-")
            ax.set_xlabel("PIM channels")
            ax.set_ylabel("ms per token")
            ax.set_xticks([p["channels"] for p in fits])
            ax.set_ylim(bottom=0)
            ax.set_title(f"{PLOTS['channel_scaling.png']}: {perf['model']}, context "
                         f"{perf['context']}")
            save_png(fig, reports / "channel_scaling.png")
            written.append("reports/channel_scaling.png")

        fig = Figure(figsize=(7, 4), layout="constrained")
        ax = fig.add_subplot()
        clocks = sweeps["clocks"]
        labels = [f"{c['asic_mhz']:g}" for c in clocks]
        bars = ax.bar(labels, [c["ms_per_token"] for c in clocks], 0.6)
        for bar, c in zip(bars, clocks):
            ax.annotate(f"+{c['increase_pct']:.1f} %", (bar.get_x() + bar.get_width() / 2,
                                                       bar.get_height()),
                        ha="center", va="bottom", fontsize=8)
        ax.set_xlabel("ASIC clock, MHz")
        ax.set_ylabel("ms per token")
        ax.set_title(f"{PLOTS['asic_clock.png']}: {perf['model']}")
        save_png(fig, reports / "asic_clock.png")
        written.append("reports/asic_clock.png")

        gpu = sweeps.get("gpu")
        if gpu:
            fig = Figure(figsize=(7, 4), layout="constrained")
            ax = fig.add_subplot()
            series: dict[str, list] = {}
            for g in gpu:
                series.setdefault(f"{g['dtype']} {g['mode']}", []).append(g)
            for label, rows in series.items():
                ax.plot([r["context"] for r in rows], [r["speedup"] for r in rows], "o-",
                        label=label)
            ax.set_xlabel("context")
            ax.set_ylabel("speedup (GPU ms / PIM ms)")
            ax.set_title(f"{PLOTS['gpu_speedup.png']}: {perf['model']}")
            ax.legend(fontsize=8)
            save_png(fig, reports / "gpu_speedup.png")
            written.append("reports/gpu_speedup.png")
    return written


def headline(step: dict) -> str | None:
    """One line per PIM-GPT step result (``None``: not a PIM-GPT result)."""
    r = step["result"]
    if "functional" in r:
        f, t, rtl = r["functional"], r["timing"], r["rtl"]
        text = (f"{f['tokens_equal']}/{f['steps']} tokens, {f['logits_bit_equal']:,}/"
                f"{f['logits']:,} logits bit-equal with the reference; {t['commands']:,} "
                f"commands, {t['violations']} violations")
        if rtl:
            ok = sum(1 for u in rtl["units"].values() if u["passed"])
            text += f"; RTL {ok}/{len(rtl['units'])} units bit-exact and timed"
        return text
    if "breakdown_cycles" in r:
        return (f"{r['ms_per_token']:.3f} ms/token ({r['tokens_per_s']:,.0f} tokens/s), "
                f"{r['model']} at context {r['context']} on {r['channels']} channels of "
                f"{r['memory']}; {r['energy_uj']['total'] / 1e3:.2f} mJ/token")
    return None


def blocks(step: dict, flow: dict, plots: set[str]) -> list | None:
    """The blocks of a PIM-GPT step's section (``None``: generic)."""
    r = step["result"]
    if "functional" in r:
        return _verify_blocks(r)
    if "breakdown_cycles" in r:
        return _perf_blocks(r, plots)
    return None


def _verify_blocks(r: dict) -> list:
    f, t, rtl = r["functional"], r["timing"], r["rtl"]
    ok = {True: "pass", False: "FAIL"}
    out: list[Any] = [*r["notes"]]
    out.append(f"Functional: random weights (seed {r['config']['seed']}) for {f['model']}, "
               f"prompt {f['prompt']}, {f['steps']} greedy steps through the functional "
               "simulator (every DRAM / PIM command executed with its data) against the "
               "NumPy reference decoder.")
    rows = [("tokens equal", f"{f['tokens_equal']}/{f['steps']}", ok[f["passed"]]),
            ("logits bit-equal", f"{f['logits_bit_equal']:,}/{f['logits']:,}",
             ok[f["passed"]])]
    if f["torch"]:
        rows.append(("float32 torch, max abs logit error",
                     f"{f['torch']['max_abs']:.3e} ({100 * f['torch']['relative']:.2f} % of "
                     f"max |logit|)", "figure"))
    out.append(Table(("check", "value", "result"), rows, "lrl"))
    if not f["torch"]:
        out.append(f["torch_note"] + ".")
    out.append(f"Timing: one token at context {t['context']} with every command computed on "
               f"its own; the log of {t['commands']:,} commands through the independent "
               "checker (sim/dram/checker.py), and its cycles against the fast mode's.")
    out.append(Table(("check", "value", "result"),
                     [("checker violations", str(t["violations"]), ok[t["violations"] == 0]),
                      ("cycles logged / fast", f"{t['cycles_logged']:,} / {t['cycles_fast']:,}",
                       ok[t["cycles_logged"] == t["cycles_fast"]])], "lrl"))
    if rtl:
        out.append(f"RTL: the cocotb bench ({rtl['simulator']}) of every unit, bit-exact "
                   "against the golden models, latency and II against sim/pim/units.py, with "
                   "seeded valid gaps and ready back-pressure.")
        out.append(Table(("unit", "vectors", "mismatches", "latency", "model", "II", "model",
                          "result"),
                         [(n, f"{u['vectors']:,}", str(u["mismatches"]),
                           ",".join(map(str, u["latencies"])), str(u["latency_model"]),
                           str(u["ii"]), str(u["ii_model"]), ok[u["passed"]])
                          for n, u in rtl["units"].items()], "lrrrrrrl"))
    return out


def _perf_blocks(r: dict, plots: set[str]) -> list:
    out: list[Any] = [
        f"{r['model']} at context {r['context']} on {r['channels']} channels of "
        f"{r['memory']}, ASIC at {r['asic_mhz']:g} MHz: {r['ms_per_token']:.4f} ms per token "
        f"({r['tokens_per_s']:,.1f} tokens/s), {r['cycles']:,} DRAM cycles; row-hit rate "
        f"{100 * r['row_hit_rate']:.2f} %, {r['energy_uj']['total'] / 1e3:.3f} mJ per token.",
        Table(("category", "cycles", "share"),
              [(k, f"{v:,}", f"{100 * r['breakdown_share'][k]:.2f} %")
               for k, v in r["breakdown_cycles"].items()], "lrr"),
        Table(("energy", "uJ per token"), [(k, f"{v:,.1f}") for k, v in r["energy_uj"].items()],
              "lr"),
        Table(("command", "count"), [(k, f"{v:,}") for k, v in r["commands"].items()], "lr")]
    s = r.get("sweeps")
    if not s:
        return out
    if "latency_breakdown.png" in plots:
        out.append(Image("latency_breakdown.png", PLOTS["latency_breakdown.png"]))
    out.append(Table(("context", "ms per token"),
                     [(str(p["context"]), f"{p['ms_per_token']:.4f}") for p in s["contexts"]],
                     "rr"))
    skipped = [p for p in s["channels"] if not p["fits"]]
    if "channel_scaling.png" in plots:
        out.append(Image("channel_scaling.png", PLOTS["channel_scaling.png"]))
    out.append(Table(("channels", "ms per token"),
                     [(str(p["channels"]), f"{p['ms_per_token']:.4f}" if p["fits"]
                       else "does not fit") for p in s["channels"]], "rr"))
    if skipped:
        out.append("Not plotted (the mapping does not fit): " + "; ".join(
            f"{p['channels']} channels: {p['why']}" for p in skipped) + ".")
    if "asic_clock.png" in plots:
        out.append(Image("asic_clock.png", PLOTS["asic_clock.png"]))
    out.append(Table(("ASIC clock, MHz", "ms per token", "increase"),
                     [(f"{c['asic_mhz']:g}", f"{c['ms_per_token']:.4f}",
                       f"{c['increase_pct']:.2f} %") for c in s["clocks"]], "rrr"))
    if s.get("gpu"):
        if "gpu_speedup.png" in plots:
            out.append(Image("gpu_speedup.png", PLOTS["gpu_speedup.png"]))
        out.append(s["gpu_note"] + ".")
        out.append(Table(("context", "dtype", "mode", "GPU ms", "PIM ms", "speedup"),
                         [(str(g["context"]), g["dtype"], g["mode"], f"{g['gpu_ms']:.3f}",
                           f"{g['pim_ms']:.3f}", f"{g['speedup']:.2f}x") for g in s["gpu"]],
                         "rllrrr"))
    else:
        out.append(f"Speedup over the GPU: not plotted; {s['gpu_note']}.")
    return out
