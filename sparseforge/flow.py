"""``sparseforge flow DESIGN``: run a design family's verbs in order and write a report.

The flow is generic: it calls the family's verb handlers (``generate``,
``verify``, ``perf``, ``synth``, ...) one after the other with an argument
namespace per step, times each one and keeps its result dict.  The first step
that raises, or returns a result with a true ``failed``, stops the flow; the
steps after it are reported as skipped.

Everything goes into one output folder written atomically
(:func:`~sparseforge.output_dir.atomic_output_dir`)::

    OUT/project/          what ``generate`` writes (a step's ``folder``)
    OUT/logs/STEP.log     what a step printed (compilers, simulators), if anything
    OUT/reports/          index.md, index.html, *.png, flow.json

A failing step still produces the complete folder, with a report that says
which step failed and why, and the flow result has ``failed: True`` (exit
status 1).  Only an interruption (Ctrl-C) or an error of the report writer
itself leaves no folder at all; an earlier folder at ``OUT`` is then untouched.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparseforge.errors import ConfigError
from sparseforge.families import DesignFamily
from sparseforge.output_dir import atomic_output_dir

__all__ = ["FlowStep", "command_line", "default_out", "run_flow"]

#: Where the report files and the steps' logs go inside the flow folder.
REPORTS = "reports"
LOGS = "logs"


@dataclass(frozen=True)
class FlowStep:
    """One step of a flow: a verb of the design family and the arguments it gets.

    Attributes
    ----------
    verb : str
        Name of the family's handler (``generate``, ``verify``, ...).
    folder : str or None
        Sub-folder of the flow folder passed to the handler as ``args.out``;
        ``None`` passes ``out = None`` (the handler works in a temporary folder).
    args : Mapping[str, Any]
        Other attributes of the handler's ``argparse.Namespace`` (e.g. ``sim``).
    """

    verb: str
    folder: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)


def default_out(family: DesignFamily, board) -> Path:
    """The default flow folder, ``build/flow-<design>-<board>``."""
    return Path("build") / (f"flow-{family.name}" + (f"-{board.name}" if board else ""))


def command_line(args: argparse.Namespace) -> str:
    """The ``sparseforge`` command line that produced ``args``, shell-quoted."""
    words = ["sparseforge", args.verb, args.design]
    if getattr(args, "board", None):
        words += ["--board", args.board]
    if getattr(args, "memory", None):
        words += ["--memory", args.memory]
    for item in args.sets:
        words += ["--set", item]
    if args.config:
        words += ["--config", args.config]
    if getattr(args, "size", "config") != "config":
        words += ["--size", args.size]
    if args.out:
        words += ["--out", args.out]
    if getattr(args, "force", False):
        words.append("--force")
    if args.json:
        words.append("--json")
    return shlex.join(words)


def run_flow(family: DesignFamily, cfg, board, args: argparse.Namespace,
             steps: Sequence[FlowStep], *, config_note: str | None = None,
             write_report: Callable[[dict, Path], list[str]] | None = None) -> dict:
    """Run ``steps`` of ``family`` into ``args.out`` and write the report.

    Parameters
    ----------
    family : DesignFamily
        The design family whose handlers run.
    cfg : DesignConfig
        The design configuration every step gets.
    board : Board or None
        The board every step gets.
    args : argparse.Namespace
        The parsed ``flow`` command line; each step gets a copy updated with its
        :class:`FlowStep` arguments.
    steps : Sequence[FlowStep]
        The steps, in order.
    config_note : str, optional
        One line saying which design ``cfg`` is and why (e.g. the array size rule);
        shown under the summary's first line and in the report's Configuration.
    write_report : callable, optional
        ``(flow, folder) -> [relative paths]``; default
        :func:`sparseforge.report.write_report`.

    Returns
    -------
    dict
        The summary: ``design``, ``board``, ``command``, ``out``, ``report``,
        ``files``, ``failed`` (bool), ``failed_step``, ``seconds`` and ``steps`` (each with
        ``step``, ``status`` — ``ok``, ``failed``, ``error`` or ``skipped`` —
        ``seconds``, ``headline`` and ``error``); ``text`` is the human summary.
        The full step results are in ``reports/flow.json``.

    Raises
    ------
    SparseforgeError
        A step names a verb the family does not implement (:class:`ConfigError`),
        or matplotlib is missing; raised before anything is written.
    """
    from sparseforge import report

    if write_report is None:
        report.require_matplotlib()
        write_report = report.write_report
    handlers = {s.verb: getattr(family, s.verb, None) for s in steps}
    missing = [verb for verb, handler in handlers.items() if handler is None]
    if missing:
        raise ConfigError(f"design {family.name!r} does not implement {missing[0]!r}, "
                          "which its flow needs")
    out = Path(args.out) if args.out else default_out(family, board)
    target = out.resolve()
    flow: dict[str, Any] = {
        "design": family.name,
        "board": board.to_dict() if board is not None else None,
        "config": cfg.to_dict(),
        "config_note": config_note,
        "command": command_line(args),
        "out": str(target),
        "steps": [],
    }
    with atomic_output_dir(target, force=getattr(args, "force", False)) as staging:
        for step in steps:
            record = _run_step(handlers[step.verb], step, cfg, board, args, staging)
            flow["steps"].append(_relocate(record, str(staging), str(target)))
            if record["status"] != "ok":
                break
        done = {s["step"] for s in flow["steps"]}
        flow["steps"] += [{"step": s.verb, "status": "skipped", "seconds": 0.0}
                          for s in steps if s.verb not in done]
        failed = [s for s in flow["steps"] if s["status"] in ("failed", "error")]
        flow["failed"] = bool(failed)
        flow["failed_step"] = failed[0]["step"] if failed else None
        flow["seconds"] = sum(s["seconds"] for s in flow["steps"])
        for s in flow["steps"]:
            s["headline"] = report.headline(s, family.report)
        files = write_report(flow, staging)
    return _summary(flow, target, files)


def _run_step(handler, step: FlowStep, cfg, board, args: argparse.Namespace,
              folder: Path) -> dict:
    """Call one handler; catch what it raises; the record of the step."""
    namespace = argparse.Namespace(**{**vars(args), "verb": step.verb, "json": False,
                                      "out": str(folder / step.folder) if step.folder
                                      else None, **step.args})
    record: dict[str, Any] = {"step": step.verb, "folder": step.folder}
    log = folder / LOGS / f"{step.verb}.log"
    start = time.perf_counter()
    try:
        with _output_to(log):
            result = handler(cfg, board, namespace)
    except Exception as exc:  # a failing step is reported, not propagated
        record.update(status="error", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc())
    else:
        result = dict(result)
        result.pop("text", None)
        record.update(status="failed" if result.get("failed") else "ok", result=result)
    record["seconds"] = time.perf_counter() - start
    if log.stat().st_size:
        record["log"] = f"{LOGS}/{log.name}"
    else:
        log.unlink()
    return record


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Send everything printed meanwhile, by Python or by child processes (make,
    Verilator, Yosys), to the file ``path`` instead of the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield
        finally:
            log.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _relocate(value: Any, staging: str, target: str) -> Any:
    """``value`` with the staging folder's path replaced by the final one in every string."""
    if isinstance(value, str):
        return value.replace(staging, target)
    if isinstance(value, dict):
        return {k: _relocate(v, staging, target) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_relocate(v, staging, target) for v in value]
    return value


def _summary(flow: dict, target: Path, files: list[str]) -> dict:
    """The flow's result for the CLI: no full step results, plus the human text."""
    index = target / REPORTS / "index.html"
    steps = [{k: s[k] for k in ("step", "status", "seconds", "headline", "error") if k in s}
             for s in flow["steps"]]
    board = flow["board"]["name"] if flow["board"] else None
    lines = [f"sparseforge flow {flow['design']}" + (f" on {board}" if board else "")]
    if flow.get("config_note"):
        lines.append(f"  {flow['config_note']}")
    for s in steps:
        lines.append(f"  {s['step']:9} {s['status']:7} {s['seconds']:6.1f} s  {s['headline']}")
    if flow["failed"]:
        lines.append(f"FAILED at step {flow['failed_step']}; the report says why")
    lines.append(f"total {flow['seconds']:.1f} s; report: {index}")
    return {
        "design": flow["design"], "board": board, "command": flow["command"],
        "out": str(target), "report": str(index), "files": files,
        "failed": flow["failed"], "failed_step": flow["failed_step"],
        "seconds": flow["seconds"], "steps": steps, "text": "\n".join(lines),
    }
