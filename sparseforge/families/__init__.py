"""The design families and their registry.

A design family (SAT, FlightLLM, Edge-MoE, ...) lives in its own folder here
(``sparseforge/families/<name>/``: its config, its contract and its verbs) and
plugs in through one :class:`DesignFamily` object.  Family modules import
their generators and simulators inside the verb functions, so building the
CLI or running ``sparseforge boards`` never pays for Amaranth or cocotb
imports.  To add a family, add ``name: "module:attribute"`` to
:data:`DESIGN_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sparseforge.config import DesignConfig
from sparseforge.errors import ConfigError

__all__ = ["DESIGN_MODULES", "TARGETS", "VERBS", "DesignFamily", "design_names", "get_design"]

#: Design family name -> "module:attribute" of its :class:`DesignFamily`.
DESIGN_MODULES: dict[str, str] = {
    "edgemoe": "sparseforge.families.edgemoe.family:FAMILY",
    "pimgpt": "sparseforge.families.pimgpt.family:FAMILY",
    "sat": "sparseforge.families.sat.family:FAMILY",
}

#: The CLI verbs a family may implement.
VERBS = ("generate", "verify", "perf", "synth", "flow")

#: What a family's designs run on: ``board`` (an FPGA board of the registry,
#: ``--board``) or ``memory`` (a DRAM / PIM device preset of
#: :mod:`sparseforge.sim.dram.device`, ``--memory``).
TARGETS = ("board", "memory")


@dataclass(frozen=True)
class DesignFamily:
    """What a design family offers the CLI: its config class, its verbs, its target.

    Each verb is a callable ``(config, target, args) -> dict`` returning the
    figures the command reports (printed as text, or as JSON with ``--json``);
    ``target`` is the resolved ``--board`` (or ``None`` when not given) and
    ``args`` the parsed ``argparse.Namespace``.  A family leaves a verb ``None``
    until it implements it; the CLI offers only the verbs a family has.  The
    CLI's per-family options are the config's parameters
    (:meth:`~sparseforge.config.DesignConfig.params`).
    """

    name: str
    summary: str
    config: type[DesignConfig]
    target: str = "board"
    generate: Callable[..., dict[str, Any]] | None = None
    verify: Callable[..., dict[str, Any]] | None = None
    perf: Callable[..., dict[str, Any]] | None = None
    synth: Callable[..., dict[str, Any]] | None = None
    flow: Callable[..., dict[str, Any]] | None = None
    #: The family's part of the flow report: a module or object with ``TITLES``,
    #: ``headline(step)``, ``blocks(step, flow, plots)`` and ``write_files(flow,
    #: reports)`` (see :mod:`sparseforge.report.flow_report`); ``None``: generic tables.
    report: Any = None

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ValueError(f"DesignFamily {self.name}: target = {self.target!r}; allowed: "
                             f"{', '.join(TARGETS)}")

    @property
    def verbs(self) -> list[str]:
        """The verbs this family implements, in :data:`VERBS` order."""
        return [v for v in VERBS if getattr(self, v) is not None]


def design_names() -> list[str]:
    """Names of the registered design families, sorted."""
    return sorted(DESIGN_MODULES)


def get_design(name: str) -> DesignFamily:
    """Import and return a design family.

    Raises
    ------
    ConfigError
        Unknown design; the message lists the known ones.
    """
    if name not in DESIGN_MODULES:
        known = ", ".join(design_names()) or "none registered yet"
        raise ConfigError(f"unknown design {name!r}; known designs: {known}")
    module_name, _, attribute = DESIGN_MODULES[name].partition(":")
    family = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(family, DesignFamily):
        raise TypeError(f"{DESIGN_MODULES[name]} is not a DesignFamily")
    return family
