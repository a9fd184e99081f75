"""Design configurations: one frozen, validated, JSON-serialisable config per design.

Every design family defines a subclass of :class:`DesignConfig`.  The same
object drives the RTL / HLS generator, the register map, the golden model,
the performance model and the host driver, so a parameter is typed once.

Values come from, in increasing priority: the dataclass defaults, a
``--config FILE`` (JSON or TOML), and ``--set key=value`` flags.

Each parameter is declared once, with :func:`param`: its default, its range or
choices and one line of help.  The validator, ``sparseforge <verb> <design> --help``
and the CLI options (``--rows 8`` is ``--set rows=8``) all read that declaration;
:meth:`DesignConfig.validate` adds only the rules that tie fields together.

Example
-------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Toy(DesignConfig):
...     rows: int = param(4, "array rows", low=1, high=64)
>>> Toy.from_cli(["rows=8"]).rows
8
>>> Toy(rows=65)
Traceback (most recent call last):
...
sparseforge.errors.ConfigError: rows = 65 is out of range; allowed: 1 to 64
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

__all__ = [
    "DesignConfig",
    "ParamInfo",
    "check_choice",
    "check_identifier",
    "check_range",
    "param",
    "parse_sets",
]

C = TypeVar("C", bound="DesignConfig")

_META = "sparseforge"


def param(default: Any, help: str, *, low: float | None = None, high: float | None = None,
          choices: Sequence[Any] | None = None, rule: str = "") -> Any:
    """Declare one config parameter (a :func:`dataclasses.field` with its metadata).

    Parameters
    ----------
    default
        The default value (an ``int``, ``float``, ``bool`` or ``str``).
    help : str
        One line for ``--help`` and the docs, with the unit (bits, cycles, MHz).
    low, high : number, optional
        Inclusive range, checked before :meth:`DesignConfig.validate` runs.
    choices : sequence, optional
        The allowed values (instead of a range).
    rule : str
        A cross-field rule that :meth:`DesignConfig.validate` enforces, in words
        (e.g. ``"at least 2*width"``), shown beside the range in ``--help``.
    """
    if choices is not None and (low is not None or high is not None):
        raise TypeError("param(): give a range or choices, not both")
    meta = {"help": help, "low": low, "high": high,
            "choices": tuple(choices) if choices is not None else None, "rule": rule}
    return dataclasses.field(default=default, metadata={_META: meta})


@dataclasses.dataclass(frozen=True)
class ParamInfo:
    """What :func:`param` declared about one field (see :meth:`DesignConfig.params`)."""

    name: str
    kind: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    rule: str = ""

    @property
    def allowed(self) -> str:
        """The allowed values in words: ``"1 to 64"``, ``"one of 8, 16"``, ``"a str"``."""
        if self.choices is not None:
            text = "one of " + ", ".join(map(str, self.choices))
        elif self.low is not None or self.high is not None:
            low = "-inf" if self.low is None else f"{self.low:g}"
            high = "inf" if self.high is None else f"{self.high:g}"
            text = f"{low} to {high}"
        elif self.kind is bool:
            text = "true or false"
        else:
            return self.rule or f"any {self.kind.__name__}"
        return f"{text}; {self.rule}" if self.rule else text

    def check(self, value: Any) -> None:
        """Raise :class:`ConfigError` if ``value`` is outside the declared range / choices."""
        if self.choices is not None:
            check_choice(self.name, value, self.choices)
        elif self.low is not None or self.high is not None:
            check_range(self.name, value, -float("inf") if self.low is None else self.low,
                        float("inf") if self.high is None else self.high)


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
        for info in self.params():
            info.check(getattr(self, info.name))
        self.validate()

    def validate(self) -> None:
        """Check the rules that tie fields together; raise :class:`ConfigError`.

        The range or choices of each field (its :func:`param` declaration) are
        checked before this runs.
        """

    @classmethod
    def params(cls) -> list[ParamInfo]:
        """Every parameter with what its :func:`param` declared, in declaration order."""
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            meta = f.metadata.get(_META, {"help": ""})
            out.append(ParamInfo(f.name, hints[f.name], f.default, **meta))
        return out

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
