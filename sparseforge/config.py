"""Design configurations: one frozen, validated, JSON-serialisable config per design.

Every design family defines a subclass of :class:`DesignConfig`.  The same
object drives the RTL / HLS generator, the register map, the golden model,
the performance model and the host driver, so a parameter is typed once.

Values come from, in increasing priority: the dataclass defaults, a
``--config FILE`` (JSON or TOML), and ``--set key=value`` flags.

Example
-------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Toy(DesignConfig):
...     rows: int = 4
...     def validate(self):
...         check_range("rows", self.rows, 1, 64)
>>> Toy.from_cli(["rows=8"]).rows
8
"""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError
from .names import check_identifier  # re-exported: configs validate their names with it

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DesignConfig", "check_choice", "check_identifier", "check_range", "parse_sets"]

C = TypeVar("C", bound="DesignConfig")

@dataclasses.dataclass(frozen=True)
class DesignConfig:
    """Base class of design configs (subclasses are frozen dataclasses).

    Subclasses override :meth:`validate` and raise :class:`ConfigError` (use
    :func:`check_range` / :func:`check_choice`) for out-of-range values.
    Field types must be ``int``, ``float``, ``bool`` or ``str``.
    """

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = hints[f.name]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
            elif not _is_instance(value, kind):
                raise ConfigError(
                    f"{type(self).__name__}.{f.name}: expected {kind.__name__}, "
                    f"got {value!r} ({type(value).__name__})"
                )
        self.validate()

    def validate(self) -> None:
        """Check ranges and cross-field rules; raise :class:`ConfigError`."""

    # ------------------------------------------------------------------ constructors

    @classmethod
    def keys(cls) -> list[str]:
        """The parameter names, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls: type[C], values: dict[str, Any], origin: str = "config") -> C:
        """Build from a mapping; unknown keys raise :class:`ConfigError` listing the keys."""
        known = cls.keys()
        unknown = [k for k in values if k not in known]
        if unknown:
            raise ConfigError(
                f"{origin}: unknown parameter {unknown[0]!r} for {cls.__name__}; "
                f"known parameters: {', '.join(known)}"
            )
        return cls(**values)

    @classmethod
    def from_cli(
        cls: type[C], sets: Sequence[str] = (), config_file: str | Path | None = None
    ) -> C:
        """Build from an optional config file and ``key=value`` overrides."""
        values: dict[str, Any] = {}
        if config_file is not None:
            values.update(_read_config_file(Path(config_file), cls))
        values.update(parse_sets(sets, cls))
        return cls.from_dict(values, origin="--set/--config")

    @classmethod
    def given_keys(cls, sets: Sequence[str] = (), config_file: str | Path | None = None
                   ) -> set[str]:
        """The parameter names set explicitly by ``sets`` and ``config_file``."""
        keys = set(parse_sets(sets, cls))
        if config_file is not None:
            keys |= set(_read_config_file(Path(config_file), cls))
        return keys

    def replace(self: C, **changes: Any) -> C:
        """A copy with some parameters changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a plain dict (declaration order)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_json(self) -> str:
        """Deterministic JSON text (sorted keys, two-space indent, final newline)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


# --------------------------------------------------------------------------- checks


def check_range(name: str, value: float, low: float, high: float) -> None:
    """Raise :class:`ConfigError` unless ``low <= value <= high``."""
    if not low <= value <= high:
        raise ConfigError(f"{name} = {value!r} is out of range; allowed: {low} to {high}")


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``allowed``."""
    allowed = list(allowed)
    if value not in allowed:
        raise ConfigError(
            f"{name} = {value!r} is not allowed; allowed: {', '.join(map(repr, allowed))}"
        )


# --------------------------------------------------------------------------- parsing


def parse_sets(sets: Sequence[str], cls: type[DesignConfig]) -> dict[str, Any]:
    """Parse ``key=value`` strings into typed values for the fields of ``cls``.

    Raises
    ------
    ConfigError
        Malformed item, unknown key (the message lists the design's keys), or a
        value that does not parse as the field's type.
    """
    hints = typing.get_type_hints(cls)
    known = cls.keys()
    out: dict[str, Any] = {}
    for item in sets:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key=value")
        if key not in known:
            raise ConfigError(
                f"--set {item!r}: unknown parameter {key!r} for {cls.__name__}; "
                f"known parameters: {', '.join(known)}"
            )
        out[key] = _parse_value(text.strip(), hints[key], f"--set {key}")
    return out


def _parse_value(text: str, kind: type, where: str) -> Any:
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            return int(text, 0)
        if kind is float:
            return float(text)
        return text
    except ValueError:
        allowed = "true/false" if kind is bool else f"an {kind.__name__}" if kind is int else (
            f"a {kind.__name__}")
        raise ConfigError(f"{where}={text!r}: expected {allowed}") from None


def _read_config_file(path: Path, cls: type[DesignConfig]) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--config {path}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = path.suffix[1:] or "JSON"
        raise ConfigError(f"--config {path}: not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected an object of parameter: value pairs")
    known = cls.keys()
    for key in data:
        if key not in known:
            raise ConfigError(
                f"--config {path}: unknown parameter {key!r} for {cls.__name__}; "
                f"known parameters: {', '.join(known)}"
            )
    return data


def _is_instance(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, float)
    return isinstance(value, kind)
