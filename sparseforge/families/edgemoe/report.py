"""The Edge-MoE family's part of the flow report: headlines, sections and plots.

Read through :data:`sparseforge.families.edgemoe.family.FAMILY`'s ``report``:
``TITLES``, :func:`headline`, :func:`blocks`, :func:`write_files` (see
:mod:`sparseforge.report.flow_report`).  Plots: latency per stage stacked by kernel,
the resource estimate by part, the approximation error per unit.  matplotlib is
imported only when plots are drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparseforge.report.document import Image, Table, require_matplotlib, save_png
from sparseforge.report.flow_report import step_result

__all__ = ["PLOTS", "TITLES", "blocks", "headline", "write_files"]

TITLES = {"generate": "Generated HLS project", "verify": "Verification: C-sim vs golden model",
          "perf": "Latency and resources (modelled)"}

PLOTS = {
    "latency_per_stage.png": "Latency per stage, stacked by kernel",
    "resources.png": "Resource estimate by part",
    "approximation_error.png": "Approximation error per unit (golden vs float)",
}


def write_files(flow: dict, reports: Path) -> list[str]:
    """Draw the plots of the perf and verify steps into ``reports``."""
    perf = step_result(flow, "perf")
    verify = step_result(flow, "verify", ok_only=False)
    if perf is None and not (verify or {}).get("approximation"):
        return []
    require_matplotlib()
    import matplotlib
    from matplotlib import style
    from matplotlib.figure import Figure

    written = []
    with style.context("default"), matplotlib.rc_context(
            {"svg.hashsalt": "sparseforge", "font.size": 9}):
        if perf is not None:
            fig = Figure(figsize=(10, 4.5), layout="constrained")
            ax = fig.add_subplot()
            stages = perf["stage_kernels"]
            labels = sorted({k for s in stages for k in s})
            bottom = [0.0] * len(stages)
            colours = matplotlib.colormaps["tab20"]
            for i, label in enumerate(labels):
                values = [s.get(label, 0.0) for s in stages]
                ax.bar(range(len(stages)), values, 0.7, bottom=bottom, label=label,
                       color=colours(i % 20))
                bottom = [b + v for b, v in zip(bottom, values)]
            ax.set_xticks(range(len(stages)), perf["stage_names"], rotation=60, ha="right")
            ax.set_ylabel("ms per image")
            ax.set_title(f"{PLOTS['latency_per_stage.png']}: {perf['ms']:.2f} ms on "
                         f"{perf['board']}")
            ax.legend(fontsize=7, ncol=2)
            save_png(fig, reports / "latency_per_stage.png")
            written.append("reports/latency_per_stage.png")

            fig = Figure(figsize=(10, 4), layout="constrained")
            for i, (key, unit) in enumerate((("dsp_parts", "DSP48E2"),
                                             ("bram_parts", "BRAM36"))):
                ax = fig.add_subplot(1, 2, i + 1)
                parts = {k: v for k, v in perf[key].items() if v}
                ax.barh(list(parts), list(parts.values()))
                ax.set_xlabel(unit)
                ax.set_title(f"{unit}: {sum(parts.values()):,} (estimated)")
            save_png(fig, reports / "resources.png")
            written.append("reports/resources.png")
        approx = (verify or {}).get("approximation")
        if approx:
            fig = Figure(figsize=(8, 3.5), layout="constrained")
            ax = fig.add_subplot()
            names = list(approx["units"]) + [f"task {t} output" for t in approx["tasks"]]
            values = [v["max_abs"] for v in approx["units"].values()] + \
                [v["max_abs"] for v in approx["tasks"].values()]
            ax.barh(names, values)
            ax.set_xscale("log")
            ax.set_xlabel("max |fixed point - float|")
            ax.set_title(PLOTS["approximation_error.png"])
            save_png(fig, reports / "approximation_error.png")
            written.append("reports/approximation_error.png")
    return written


def headline(step: dict) -> str | None:
    """One line per Edge-MoE step result (``None``: not an Edge-MoE result)."""
    r = step["result"]
    if "checks" in r:
        ok = sum(1 for c in r["checks"] if c["passed"])
        text = f"C-sim {ok}/{len(r['checks'])} checks bit-exact with the golden model"
        approx = r.get("approximation")
        if approx:
            worst = max(v["max_abs"] for v in approx["tasks"].values())
            text += f"; task outputs within {worst:.1e} of the float model"
        return text
    if "stage_kernels" in r:
        return (f"{r['ms']:.2f} ms per image on {r['board']} at {r['clock_mhz']:g} MHz; "
                f"{r['dsp']:,} DSP48E2, {r['bram36']:,} BRAM36, {r['uram']} URAM (estimated)")
    return None


def blocks(step: dict, flow: dict, plots: set[str]) -> list | None:
    """The blocks of an Edge-MoE step's section (``None``: generic)."""
    r = step["result"]
    if "checks" in r:
        out: list[Any] = [
            "The rendered HLS C++ compiled with g++ and run on seeded random inputs; every "
            "output compared bit for bit with the NumPy golden model, and the C-sim's loop "
            "trip counts with the latency model's.",
            Table(("check", "values", "result"),
                  [(c["check"], f"{c['values']:,}", "pass" if c["passed"] else "FAIL")
                   for c in r["checks"]], "lrl")]
        approx = r.get("approximation")
        if approx:
            rows = [(k, f"{v['max_abs']:.2e}", f"{v['rms']:.2e}")
                    for k, v in approx["units"].items()]
            rows += [(f"task {t} output (whole model)", f"{v['max_abs']:.2e}",
                      f"{v['rms']:.2e}") for t, v in approx["tasks"].items()]
            out += ["What the fixed-point approximations cost: the golden model against "
                    "exact float functions (units) and the float reference model on the "
                    "same weights (task outputs). Gate choices shared with the float "
                    "gate: " + ", ".join(f"task {t} {100 * a:.1f} %" for t, a in
                                          approx["routing_agreement"].items()) + ".",
                    Table(("unit", "max abs error", "rms error"), rows, "lrr")]
            if "approximation_error.png" in plots:
                out.append(Image("approximation_error.png", PLOTS["approximation_error.png"]))
        return out
    if "stage_kernels" in r:
        c = r["config"]
        out = [f"{c['lanes']} attention lanes, a {c['tile_in']}x{c['tile_out']} linear unit, "
               f"{c['weight_ports']} weight ports, at {r['clock_mhz']:g} MHz; expert queues "
               "taken as even. Modelled from the loop bounds (docs/designs/edgemoe.md), "
               "not synthesised.",
               Table(("kernel", "ms per image"),
                     [(k, f"{v / (r['clock_mhz'] * 1e3):.3f}")
                      for k, v in sorted(r["kernels"].items(), key=lambda kv: -kv[1])],
                     "lr")]
        if "latency_per_stage.png" in plots:
            out.append(Image("latency_per_stage.png", PLOTS["latency_per_stage.png"]))
        out.append(Table(("part", "DSP48E2"), [(k, str(v)) for k, v in r["dsp_parts"].items()],
                         "lr"))
        out.append(Table(("part", "BRAM36"), [(k, str(v)) for k, v in r["bram_parts"].items()],
                         "lr"))
        if "resources.png" in plots:
            out.append(Image("resources.png", PLOTS["resources.png"]))
        return out
    return None
