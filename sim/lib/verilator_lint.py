"""Verilator lint of generated Verilog, with waivers by file and the log kept.

Amaranth's Verilog backend produces a few warning classes by construction
(:data:`AMARANTH_RULES`): implicit width changes of its own temporaries
(``assign $1 = a_in >> $14;``, ``$signed(x) >= $signed(1'h0)``) and ``casez`` on
FSM state without a default.  They are waived **in the files Amaranth wrote and
nowhere else** (:func:`amaranth_waivers`): a hand-written or template file linted
or simulated next to them still shows its own WIDTH warnings.

One list of :class:`Waiver` records serves both places Verilator reads Verilog:

* :func:`lint` runs ``verilator --lint-only`` once without waivers, keeps the whole
  log, and sorts each warning into *waived* (its rule and file match a waiver) or
  *not waived*: the lint passes when nothing is left unwaived;
* :func:`waiver_config` renders the same records as a Verilator configuration file
  (``lint_off -rule R -file "F"``) for the simulation build
  (:func:`sparseforge.sim.lib.cocotb_runner.run_cocotb`), so the build log shows what
  the lint would fail on and nothing else.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sparseforge.toolchain import simulator_env, verilator_root

__all__ = ["AMARANTH_RULES", "LintResult", "LintWarning", "Waiver", "amaranth_waivers",
           "lint", "waiver_config"]

#: Warning rules Amaranth's Verilog backend produces by construction, with why.
AMARANTH_RULES = {
    "WIDTHEXPAND": "Amaranth's own temporaries widen implicitly",
    "WIDTHTRUNC": "Amaranth's own temporaries narrow implicitly in shifts and slices",
    "CASEINCOMPLETE": "Amaranth's casez on FSM state has no default",
}

_WARNING = re.compile(r"^%Warning-([A-Z0-9_]+): (.+?):(\d+):(?:\d+:)? (.*)$", re.M)
_ERROR = re.compile(r"^%Error", re.M)


@dataclass(frozen=True)
class Waiver:
    """One Verilator rule switched off in one file.

    Attributes
    ----------
    rule : str
        Verilator warning rule (``WIDTHEXPAND``).
    file : Path
        The file it is waived in (resolved to an absolute path when compared).
    why : str
        The reason, kept in the report.
    """

    rule: str
    file: Path
    why: str

    def matches(self, rule: str, file: Path) -> bool:
        """Whether a warning of ``rule`` in ``file`` is this waiver's."""
        return rule == self.rule and Path(file).resolve() == Path(self.file).resolve()


@dataclass(frozen=True)
class LintWarning:
    """One ``%Warning-RULE: file:line:`` of Verilator's output (``file`` as printed)."""

    rule: str
    file: str
    line: int
    message: str


@dataclass(frozen=True)
class LintResult:
    """What ``verilator --lint-only`` said about one top module.

    Attributes
    ----------
    top : str
        The top module.
    files : tuple of str
        The files linted, relative to the lint's working folder.
    log : str
        Verilator's whole output (file names relative to that folder).
    warnings : tuple of LintWarning
        Warnings no waiver covers: the lint fails when there is one.
    waived : tuple of LintWarning
        Warnings a waiver covers.
    waivers : tuple of Waiver
        The waivers applied.
    """

    top: str
    files: tuple[str, ...]
    log: str
    warnings: tuple[LintWarning, ...]
    waived: tuple[LintWarning, ...]
    waivers: tuple[Waiver, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.warnings

    def counts(self) -> dict[str, dict[str, int]]:
        """Warnings per rule: ``{"warnings": {rule: n}, "waived": {rule: n}}``, sorted."""
        return {"warnings": _per_rule(self.warnings), "waived": _per_rule(self.waived)}

    def to_dict(self) -> dict:
        """JSON form: top, files, passed, warnings and waived per rule, the unwaived
        warnings one line each, the waivers (rule, file name, why) and the log."""
        return {"top": self.top, "files": list(self.files), "passed": self.passed,
                **self.counts(),
                "unwaived": [f"{w.file}:{w.line}: {w.rule}: {w.message}"
                             for w in self.warnings],
                "waivers": [{"rule": w.rule, "file": Path(w.file).name, "why": w.why}
                            for w in self.waivers],
                "log": self.log}


def amaranth_waivers(file: str | Path, extra: Mapping[str, str] | None = None
                     ) -> tuple[Waiver, ...]:
    """The waivers of one file written by Amaranth's Verilog backend.

    :data:`AMARANTH_RULES`, plus ``extra`` (rule -> why) for what the design itself
    does on purpose in that file (e.g. Vitis' port name ``interrupt``, a C++ word).
    """
    rules = {**AMARANTH_RULES, **(extra or {})}
    return tuple(Waiver(rule, Path(file), why) for rule, why in rules.items())


def waiver_config(waivers: Iterable[Waiver]) -> str:
    """A Verilator configuration file (``.vlt``) switching off each waiver's rule in
    its file only (absolute path: Verilator matches ``-file`` against the name it
    opened, which :func:`run_cocotb` passes resolved)."""
    lines = ["`verilator_config"]
    for w in waivers:
        path = str(Path(w.file).resolve())
        if re.search(r'["*?\\\n]', path):  # -file takes wildcards; a quote ends the string
            raise ValueError(f"waiver file {path!r}: a path with '\"', '*', '?' or '\\' "
                             "cannot be matched exactly by Verilator's -file")
        lines.append(f'lint_off -rule {w.rule} -file "{path}"')
    return "\n".join(lines) + "\n"


def lint(sources: Sequence[str | Path], top: str, waivers: Iterable[Waiver] = (),
         timeout_s: int = 600) -> LintResult:
    """``verilator --lint-only`` of ``sources`` (top module ``top``), with the log.

    Verilator's default warnings are on and none is fatal to the run; every
    warning is then waived or not by ``waivers``.  Verilator runs in the sources'
    common folder on relative names, so the log holds no temporary paths.

    Raises
    ------
    RuntimeError
        Verilator reports an error (not a warning); the message holds its output.
    """
    paths = [Path(s).resolve() for s in sources]
    root = Path(os.path.commonpath([p.parent for p in paths]))
    names = [str(p.relative_to(root)) for p in paths]
    exe = verilator_root() / "bin" / "verilator"
    proc = subprocess.run([str(exe), "--lint-only", "-Wno-fatal", "--quiet-stats",
                           "--top-module", top, *names], capture_output=True, text=True,
                          env=simulator_env(), cwd=root, check=False, timeout=timeout_s)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0 or _ERROR.search(log):
        raise RuntimeError(f"verilator --lint-only failed on {', '.join(names)} "
                           f"(exit {proc.returncode}):\n{log[-4000:]}")
    waivers = tuple(waivers)
    found = [LintWarning(m[1], m[2], int(m[3]), m[4].strip()) for m in _WARNING.finditer(log)]
    waived = tuple(w for w in found
                   if any(v.matches(w.rule, root / w.file) for v in waivers))
    return LintResult(top, tuple(names), log, tuple(w for w in found if w not in waived),
                      waived, waivers)


def _per_rule(warnings: Iterable[LintWarning]) -> dict[str, int]:
    return dict(sorted(Counter(w.rule for w in warnings).items()))
