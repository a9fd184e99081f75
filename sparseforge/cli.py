"""The ``sparseforge`` command line.

::

    sparseforge doctor [--json]
    sparseforge boards [--json]
    sparseforge boards show NAME [--json]
    sparseforge generate DESIGN --board B [--PARAM V ...] [--set k=v ...] [--config F]
                         [--size S] --out DIR [--force]
    sparseforge verify   DESIGN [--board B] [--PARAM V ...] [--size S] [--json]
    sparseforge perf     DESIGN --board B [--workload W] [--PARAM V ...] [--size S] [--json]
    sparseforge synth    DESIGN --board B [--PARAM V ...] [--size S] [--json]
    sparseforge flow     DESIGN --board B [--PARAM V ...] [--size S] [--out DIR] [--force] [--json]

``DESIGN`` is a sub-command of each verb with one option per parameter of the
family's config (``sparseforge generate sat --help`` lists them with their
ranges and defaults); ``--rows 8`` is ``--set rows=8``.  ``--size config``
(default) works on the configuration as given, ``--size board`` on the largest
array that fits the board; every verb says which it used.

Exit status: 0 success, 1 a check failed (doctor found a required tool
missing, verification mismatched), 2 bad input (unknown board, design or
parameter; malformed file).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from sparseforge import __version__
from sparseforge.errors import SparseforgeError
from sparseforge.families import design_names, get_design

__all__ = ["SIZES", "build_parser", "main"]

#: ``--size``: the configuration as given, or the largest array that fits the board.
SIZES = ("config", "board")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sparseforge`` script; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error argparse printed
        return int(exc.code or 0)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except SparseforgeError as exc:
        print(f"sparseforge: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for the CLI reference in docs and for tests)."""
    parser = argparse.ArgumentParser(
        prog="sparseforge",
        description="FPGA / accelerator co-design of sparse and transformer workloads.",
    )
    parser.add_argument("--version", action="version", version=f"sparseforge {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    doctor = sub.add_parser("doctor", help="check the pip-installed toolchain")
    _add_json(doctor)
    doctor.set_defaults(handler=_cmd_doctor)

    boards = sub.add_parser("boards", help="list the board registry, or show one board")
    _add_json(boards)
    boards.set_defaults(handler=_cmd_boards)
    boards_sub = boards.add_subparsers(metavar="ACTION")
    show = boards_sub.add_parser("show", help="every field of one board, with sources")
    show.add_argument("name", help="board name (see `sparseforge boards`) or a .toml path")
    _add_json(show)
    show.set_defaults(handler=_cmd_boards_show)

    workloads = sub.add_parser("workloads", help="built-in training workloads and their GEMMs")
    workloads.add_argument("--batch", type=int, help="batch size (default: each workload's)")
    _add_json(workloads)
    workloads.set_defaults(handler=_cmd_workloads)
    wl_sub = workloads.add_subparsers(metavar="ACTION")
    wl_show = wl_sub.add_parser("show", help="every GEMM of one training step of a workload")
    wl_show.add_argument("name", help="workload name (see `sparseforge workloads`)")
    wl_show.add_argument("--batch", type=int, help="batch size (default: the workload's)")
    _add_json(wl_show)
    wl_show.set_defaults(handler=_cmd_workloads_show)

    verbs = {
        "generate": "emit RTL / HLS sources and the board project",
        "verify": "run the RTL / C-simulation regression against the golden model",
        "perf": "cycle-accurate performance model on a workload",
        "synth": "synthesis resource estimate (YoWASP Yosys synth_xilinx)",
        "flow": "generate, verify, perf, synth and write a report",
    }
    families = [get_design(name) for name in design_names()]
    for verb, text in verbs.items():
        p = sub.add_parser(verb, help=text, description=text)
        designs = p.add_subparsers(title="designs", metavar="DESIGN", dest="design",
                                   parser_class=_DesignParser)
        for family in families:
            if verb in family.verbs:
                _add_design_parser(designs, verb, family)
        p.set_defaults(handler=_cmd_no_design, verb=verb)
    return parser


class _DesignParser(argparse.ArgumentParser):
    """Sub-command parser of one design (its errors say which design it is)."""


#: Options every design sub-command has (a config parameter may not take these names).
_COMMON_OPTIONS = ("board", "memory", "set", "config", "out", "force", "size", "workload", "sim",
                   "json", "help")


def _add_design_parser(designs, verb: str, family) -> None:
    p = designs.add_parser(family.name, help=family.summary,
                           description=f"sparseforge {verb} {family.name}: {family.summary}")
    if family.target == "board":
        p.add_argument("--board", help="board name or .toml path (see `sparseforge boards`)")
    else:
        p.add_argument("--memory", help="memory preset name or .toml path (presets: "
                       "sim/dram/presets; docs/designs/dram.md)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="design parameter; repeatable; overrides --config")
    p.add_argument("--config", help="JSON or TOML file of design parameters")
    if verb in ("generate", "flow"):
        p.add_argument("--out", help="output folder, written atomically; an existing "
                       "folder is replaced only if sparseforge wrote it (or is empty)")
        p.add_argument("--force", action="store_true",
                       help="replace --out even if sparseforge did not write it (never "
                       "the current, home or a repository's root folder)")
    else:
        p.add_argument("--out", help="build folder (kept; files in it are overwritten)")
    if family.target == "board":
        p.add_argument("--size", choices=SIZES, default="config",
                       help="array size: 'config' the configuration as given (default), "
                            "'board' the largest array that fits the board's DSPs; the same "
                            "rule for every verb (docs/cli.md)")
    if verb in ("perf", "flow") and family.target == "board":
        p.add_argument("--workload", help="workload name (see `sparseforge workloads`)")
    if verb in ("verify", "flow"):
        p.add_argument("--sim", choices=("verilator", "icarus"), default="verilator",
                       help="RTL simulator (default: verilator)")
    _add_json(p)
    params = p.add_argument_group(
        f"{family.name} parameters ({family.config.__name__}; each is --set NAME=VALUE)")
    for info in family.config.params():
        if info.name in _COMMON_OPTIONS:
            raise ValueError(f"{family.config.__name__}.{info.name}: the name of a common "
                             f"option ({', '.join(_COMMON_OPTIONS)}); rename the parameter")
        flag = "--" + info.name.replace("_", "-")
        params.add_argument(flag, dest=f"param:{info.name}", metavar=_metavar(info),
                            help=f"{info.help}; allowed: {info.allowed}; default: "
                                 f"{_default_text(info.default)}".replace("%", "%%"))
    p.set_defaults(handler=_cmd_design_verb, verb=verb, design=family.name)


def _metavar(info) -> str:
    return {int: "INT", float: "FLOAT", bool: "BOOL"}.get(info.kind, "TEXT")


def _default_text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


# --------------------------------------------------------------------------- commands


def _cmd_doctor(args: argparse.Namespace) -> int:
    from sparseforge.toolchain import check_all

    statuses = check_all()
    missing = [s.name for s in statuses if s.required and not s.found]
    if args.json:
        _print_json({"ok": not missing, "tools": [s.to_dict() for s in statuses]})
    else:
        rows = [
            (s.name, "ok" if s.found else ("MISSING" if s.required else "absent"),
             s.version or "-", s.path or s.fix)
            for s in statuses
        ]
        _print_table(("tool", "status", "version", "path / fix"), rows)
        for s in statuses:
            if not s.found and s.note:
                print(f"  {s.name}: {s.note}")
        print("all required tools found" if not missing
              else f"missing required tools: {', '.join(missing)}")
    return 1 if missing else 0


def _cmd_boards(args: argparse.Namespace) -> int:
    from sparseforge.board_registry import all_boards

    boards = all_boards()
    if args.json:
        _print_json([b.to_dict() for b in boards])
        return 0
    rows = []
    for b in boards:
        mem = b.kernel_memory
        rows.append((b.name, b.device.part, f"{b.resources.lut:,}", f"{b.resources.dsp:,}",
                     f"{b.resources.bram36:,}", f"{b.resources.uram:,}",
                     f"{mem.kind} {mem.peak_gbs:g} GB/s", f"{b.clocks.default_mhz:g}",
                     b.host.kind))
    _print_table(("board", "part", "LUT", "DSP", "BRAM36", "URAM", "memory", "MHz", "host"),
                 rows)
    return 0


def _cmd_boards_show(args: argparse.Namespace) -> int:
    from sparseforge.board_registry import get_board

    board = get_board(args.name)
    data = board.to_dict()
    if args.json:
        _print_json(data)
        return 0
    print(f"{board.display_name} ({board.name})")
    for section in ("device", "resources", "clocks", "host"):
        _print_section(section, data[section], board.sources)
    for i, mem in enumerate(data["memory"]):
        _print_section(f"memory[{i}]", mem, board.sources)
    for i, port in enumerate(data["ps_pl_ports"]):
        _print_section(f"ps_pl_ports[{i}]", port, board.sources)
    return 0


def _cmd_workloads(args: argparse.Namespace) -> int:
    from sparseforge.workloads import get_workload, workload_names

    loads = [_workload(get_workload, n, args.batch) for n in workload_names()]
    if args.json:
        _print_json([w.to_dict() for w in loads])
        return 0
    rows = []
    for w in loads:
        macs = w.macs()
        rows.append((w.name, str(w.batch), str(len(w.gemms())),
                     *(f"{macs[p] / 1e9:.2f}" for p in ("FF", "BP", "WU", "total")),
                     w.description))
    _print_table(("workload", "batch", "GEMMs", "FF GMAC", "BP GMAC", "WU GMAC",
                  "step GMAC", "description"), rows)
    return 0


def _cmd_workloads_show(args: argparse.Namespace) -> int:
    from sparseforge.workloads import get_workload

    w = _workload(get_workload, args.name, args.batch)
    if args.json:
        _print_json(w.to_dict())
        return 0
    print(f"{w.name}: {w.description}, batch {w.batch}")
    rows = [(g.layer, g.phase, str(g.m), str(g.k), str(g.n), str(g.count), g.sparse or "dense",
             f"{g.macs / 1e6:.1f}") for g in w.gemms()]
    _print_table(("layer", "phase", "M", "K", "N", "count", "B operand", "MMAC"), rows)
    return 0


def _workload(get_workload, name: str, batch: int | None):
    try:
        return get_workload(name, batch)
    except (KeyError, ValueError) as exc:
        raise SparseforgeError(str(exc).strip("\"'")) from None


def _cmd_no_design(args: argparse.Namespace) -> int:
    names = [n for n in design_names() if args.verb in get_design(n).verbs]
    raise SparseforgeError(f"sparseforge {args.verb} needs a design; designs: "
                           f"{', '.join(names) or 'none yet'} (e.g. `sparseforge {args.verb} "
                           f"{names[0] if names else 'DESIGN'} --help`)")


def _cmd_design_verb(args: argparse.Namespace) -> int:
    from sparseforge.board_registry import get_board

    family = get_design(args.design)
    handler = getattr(family, args.verb)
    # --rows 8 and the like are --set rows=8, after the --set items (so they win)
    args.sets = list(args.sets) + [
        f"{key.partition(':')[2]}={value}" for key, value in vars(args).items()
        if key.startswith("param:") and value is not None]
    config = family.config.from_cli(args.sets, args.config)
    if family.target == "memory":
        from sparseforge.sim.dram.device import load_device

        target = load_device(args.memory) if args.memory else None
    else:
        target = get_board(args.board) if args.board else None
    result = handler(config, target, args)
    text = result.pop("text", None)
    if args.json:
        _print_json(result)
    elif text is not None:
        print(text)
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 1 if result.get("failed") else 0


# --------------------------------------------------------------------------- printing


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    for row in (header, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def _print_section(title: str, values: dict[str, Any], sources: dict[str, str]) -> None:
    print(f"[{title}]")
    for key, value in values.items():
        if key != "source":
            print(f"  {key:16} {value}")
    for key in (k.strip() for k in values.get("source", "").split(",") if k.strip()):
        print(f"  {'source':16} {sources.get(key, key)}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
