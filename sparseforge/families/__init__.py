"""Registry of design families the CLI verbs dispatch to.

A design family (SAT, FlightLLM, Edge-MoE, ...) provides a
:class:`DesignFamily` object; its module is imported only when a command
names it, so ``sparseforge boards`` or ``doctor`` never pay for Amaranth or
cocotb imports.  To add a family, add ``name: "module:attribute"`` to
:data:`DESIGN_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sparseforge.config import DesignConfig
from sparseforge.errors import ConfigError

__all__ = ["DESIGN_MODULES", "DesignFamily", "design_names", "get_design"]

#: Design family name -> "module:attribute" of its :class:`DesignFamily`.
DESIGN_MODULES: dict[str, str] = {
    "sat": "sparseforge.families.sat.family:FAMILY",
}

#: The CLI verbs a family may implement.
VERBS = ("generate", "verify", "perf", "synth", "flow")


@dataclass(frozen=True)
class DesignFamily:
    """What a design family offers the CLI.

    Each verb is a callable ``(config, board, args) -> dict`` returning the
    figures the command reports (printed as text, or as JSON with ``--json``);
    ``args`` is the parsed ``argparse.Namespace``.  A family leaves a verb
    ``None`` until it implements it.
    """

    name: str
    summary: str
    config: type[DesignConfig]
    generate: Callable[..., dict[str, Any]] | None = None
    verify: Callable[..., dict[str, Any]] | None = None
    perf: Callable[..., dict[str, Any]] | None = None
    synth: Callable[..., dict[str, Any]] | None = None
    flow: Callable[..., dict[str, Any]] | None = None


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
