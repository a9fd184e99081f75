"""The report of ``sparseforge flow``: Markdown, HTML, the family's plots and the raw JSON.

:func:`write_report` turns a flow record (see :func:`sparseforge.flow.run_flow`)
into ``reports/`` inside the flow folder:

* ``index.md`` and ``index.html`` — the same content, built from one list of
  :class:`~sparseforge.report.document.Section`;
* the files the family writes (its plots and logs, e.g. SAT's per-layer PNGs and
  lint logs);
* ``flow.json`` — every step's full result, wall times and error tracebacks.

The summary, configuration, board and wall-time sections are the same for every
family; each step's section and headline come from the family's ``report``
(:attr:`sparseforge.families.DesignFamily.report`: a module or object with
``TITLES``, ``headline(step)``, ``blocks(step, flow, plots)`` and
``write_files(flow, reports)``), and a result the family does not describe is
shown as a key / value table.  Everything above the last section ("Wall time")
depends only on the step results, so two runs of the same flow give the same text
there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sparseforge.report.document import (
    Code,
    Link,
    Section,
    Table,
    to_html,
    to_markdown,
)

__all__ = ["build_sections", "headline", "step_result", "write_report"]

#: Section titles of the verbs' results (a family's ``TITLES`` overrides them).
TITLES = {"generate": "Generated project", "verify": "Verification",
          "perf": "Performance", "synth": "Synthesis estimate"}


def write_report(flow: dict, folder: Path) -> list[str]:
    """Write ``reports/`` for ``flow`` into the flow folder; returns the relative paths."""
    reports = Path(folder) / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    hooks = _hooks(flow)
    written = list(hooks.write_files(flow, reports)) if hooks else []
    sections = build_sections(flow, {Path(p).name for p in written})
    title = _title(flow)
    (reports / "index.md").write_text(to_markdown(title, sections))
    (reports / "index.html").write_text(to_html(title, sections))
    (reports / "flow.json").write_text(json.dumps(flow, indent=2, sort_keys=True) + "\n")
    return sorted([*written, "reports/index.md", "reports/index.html", "reports/flow.json"])


def headline(step: dict, hooks: Any = None) -> str:
    """One line saying what a step did (or why it did not); ``hooks`` is the family's
    ``report`` (:attr:`~sparseforge.families.DesignFamily.report`)."""
    if step["status"] == "skipped":
        return "not run: an earlier step failed"
    if step["status"] == "error":
        return step["error"].splitlines()[0]
    text = hooks.headline(step) if hooks else None
    if text is not None:
        return text
    r = step["result"]
    if "files" in r:
        return f"wrote {len(r['files'])} files into {step.get('folder') or r.get('out')}/"
    return "failed" if step["status"] == "failed" else "ok"


def step_result(flow: dict, verb: str, ok_only: bool = True) -> dict | None:
    """The result of step ``verb``: when it passed, or (``ok_only=False``) also when it
    ran and failed a check."""
    for step in flow["steps"]:
        if step["step"] == verb and (step["status"] == "ok" or (
                not ok_only and step["status"] == "failed")):
            return step["result"]
    return None


# --------------------------------------------------------------------------- sections


def build_sections(flow: dict, plots: set[str] = frozenset()) -> list[Section]:
    """The report's sections, in order; ``plots`` names the files the family wrote."""
    hooks = _hooks(flow)
    sections = [_overview(flow), _config_section(flow)]
    if flow.get("board"):
        sections.append(_board_section(flow["board"]))
    for step in flow["steps"]:
        sections.append(_step_section(step, flow, plots, hooks))
    sections.append(_times_section(flow))
    return sections


def _hooks(flow: dict):
    """The ``report`` of the flow's family (``None`` for a family not in the registry)."""
    from sparseforge.families import DESIGN_MODULES, get_design

    name = flow.get("design")
    return get_design(name).report if name in DESIGN_MODULES else None


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
    steps = ", ".join(s["step"] for s in flow["steps"])
    blocks: list[Any] = [f"The {flow['design']} configuration every step ({steps}) uses."]
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


def _step_section(step: dict, flow: dict, plots: set[str], hooks) -> Section:
    titles = {**TITLES, **(getattr(hooks, "TITLES", None) or {})}
    title = titles.get(step["step"], step["step"].capitalize())
    if step["status"] == "skipped":
        return Section(title, ["Not run: an earlier step failed."])
    if step["status"] == "error":
        return Section(title, [f"The step raised an error: {step['error']}",
                               "The traceback is in flow.json."])
    blocks = hooks.blocks(step, flow, plots) if hooks else None
    if blocks is not None:
        return Section(title, blocks)
    r = step["result"]
    if "files" in r:
        folder = step.get("folder")
        rows = [(Link(f"{folder}/{f}", f"../{folder}/{f}") if folder else f,) for f in r["files"]]
        return Section(title, [Table(("file",), rows)])
    rows = [(k, str(v)) for k, v in sorted(r.items()) if isinstance(v, (str, int, float, bool))]
    return Section(title, [Table(("key", "value"), rows)])


def _times_section(flow: dict) -> Section:
    rows = [(s["step"], s["status"], f"{s['seconds']:.1f}") for s in flow["steps"]]
    rows.append(("total", "", f"{flow['seconds']:.1f}"))
    return Section("Wall time", ["Seconds per step on this run (the only part of the "
                                 "report that changes from run to run).",
                                 Table(("step", "status", "seconds"), rows, "llr")])


def _title(flow: dict) -> str:
    board = flow["board"]["name"] if flow.get("board") else None
    return f"sparseforge flow: {flow['design']}" + (f" on {board}" if board else "")
