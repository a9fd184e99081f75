"""The one Jinja2 environment of every sparseforge template (projects, C headers, HLS C++).

Templates hold text and loops; every value they print is computed in Python and
validated before rendering.  The environment is strict and quiet about whitespace:

* ``StrictUndefined``: a name missing from the context is an error, never empty text;
* ``keep_trailing_newline``, ``trim_blocks``, ``lstrip_blocks``: a ``{% ... %}`` line
  leaves no blank line or indentation behind;
* XML templates (``*.xml.j2``) are auto-escaped, every other one is not.

Filters
-------
==================  ===============================================================
``tcl``             one brace-quoted Tcl word (:func:`tcl_word`)
``hex``             ``0x`` and upper-case hex digits (``255`` -> ``0xFF``)
``cpp_ident``       a C++ identifier, checked (:func:`cpp_ident`)
``cpp_int``         an exact C++ integer literal with its suffix (:func:`cpp_int`)
``cpp_raw_table``   a list of integers as a C initialiser (:func:`cpp_raw_table`)
==================  ===============================================================

Templates are loaded by name below ``templates/`` (the ``sparseforge.templates``
package), e.g. ``"vivado/Makefile.j2"`` or ``"hls/edgemoe/top.cpp.j2"``.
"""

from __future__ import annotations

import functools
import numbers
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from sparseforge.errors import ConfigError
from sparseforge.names import check_identifier

__all__ = ["cpp_ident", "cpp_int", "cpp_raw_table", "environment", "render", "tcl_word"]

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1


# --------------------------------------------------------------------------- public API


def render(template: str, ctx: dict, root: Path | None = None) -> str:
    """Render ``templates/<template>`` (or ``<root>/<template>``) with ``ctx``.

    Parameters
    ----------
    template : str
        Template name, ``/``-separated, relative to the templates folder.
    ctx : dict
        The values the template reads; a missing one raises
        :class:`jinja2.UndefinedError`.
    root : Path, optional
        An extra templates folder searched before the package's own (out-of-tree
        families, tests); the package's templates stay reachable for ``include``.
    """
    return environment(root).get_template(template).render(ctx)


@functools.cache
def environment(root: Path | None = None) -> jinja2.Environment:
    """The shared environment (one per ``root``; ``None``: the package's templates only)."""
    package = jinja2.FunctionLoader(_load_package_template)
    loader: jinja2.BaseLoader = package
    if root is not None:
        loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(root)), package])
    env = jinja2.Environment(
        loader=loader, undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
        autoescape=lambda name: bool(name) and name.endswith(".xml.j2"))
    env.filters["tcl"] = tcl_word
    env.filters["hex"] = lambda value: f"0x{value:X}"
    env.filters["cpp_ident"] = cpp_ident
    env.filters["cpp_int"] = cpp_int
    env.filters["cpp_raw_table"] = cpp_raw_table
    return env


def tcl_word(value: object) -> str:
    """``value`` as one brace-quoted Tcl word, substituted by nothing.

    Raises
    ------
    ValueError
        The text holds a brace, a backslash or a control character (emission
        validates every value first, so this is a guard, not an input check).
    """
    text = str(value)
    if re.search(r"[{}\\\x00-\x1f\x7f]", text):
        raise ValueError(f"{text!r} cannot be brace-quoted safely for Tcl")
    return "{" + text + "}"


def cpp_ident(value: object, field: str = "C++ name") -> str:
    """``value`` unchanged if it is a safe, non-reserved C++ identifier.

    The rule is :func:`sparseforge.names.check_identifier`'s (``[A-Za-z](_?[A-Za-z0-9])*``)
    with the C++20 keywords and alternative tokens reserved.

    Parameters
    ----------
    value : str
        The name to print.
    field : str
        What the name is (``"top function"``, ``"type of act"``), named in the error.

    Raises
    ------
    ConfigError
        ``value`` is not such an identifier; the message names ``field`` and ``value``.
    """
    check_identifier(field, value, ("C++20",))
    return value


def cpp_int(value: object, field: str = "integer constant") -> str:
    """``value`` as an exact C++ integer literal of a type that holds it.

    =========================================  =====================================
    value                                      literal
    =========================================  =====================================
    ``-2**31 < v <= 2**31 - 1``                decimal, type ``int`` (``123``, ``-5``)
    ``2**31 <= v <= 2**63 - 1``                ``0x...LL`` (``long long``)
    ``2**63 <= v <= 2**64 - 1``                ``0x...ULL`` (``unsigned long long``)
    ``-2**63 < v <= -2**31``                   ``-0x...LL``
    ``-2**63``                                 ``(-0x7FFFFFFFFFFFFFFFLL - 1)``
    =========================================  =====================================

    Large values are signed (``LL``) wherever they fit, so that they mix with
    signed raw fixed-point values without an unsigned conversion; ``-2**31`` is
    printed as ``-0x80000000LL`` because ``-2147483648`` is the negation of a
    ``long`` in C++.

    Raises
    ------
    ConfigError
        ``value`` is not an integer (``bool`` and floats are refused) or lies outside
        ``[-2**63, 2**64 - 1]``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{field} = {value!r}: expected an integer (int or numpy integer)")
    v = int(value)
    if not INT64_MIN <= v <= UINT64_MAX:
        raise ConfigError(f"{field} = {v}: allowed: -2**63 to 2**64 - 1 (64-bit C++ integers)")
    if INT32_MIN < v <= INT32_MAX:
        return str(v)
    if v > INT64_MAX:
        return f"0x{v:X}ULL"
    if v > 0:
        return f"0x{v:X}LL"
    if v == INT64_MIN:
        return "(-0x7FFFFFFFFFFFFFFFLL - 1)"
    return f"-0x{-v:X}LL"


def cpp_raw_table(values: Iterable[object], per_line: int = 8, indent: int = 4,
                  field: str = "table") -> str:
    """A list of integers as a brace-enclosed C/C++ initialiser.

    Each value is printed by :func:`cpp_int`, ``per_line`` to a line, every line
    indented by ``indent`` spaces and ending in a comma::

        {
            0, 1, 2, 3,
            4,
        }

    The same values always give the same text.

    Parameters
    ----------
    values : iterable of int
        The entries, in order (a list, tuple or 1-D integer numpy array).
    per_line : int, default 8
        Entries per line, at least 1.
    indent : int, default 4
        Spaces before each line of entries.
    field : str
        What the table is, named in errors.

    Raises
    ------
    ConfigError
        An entry is not an integer or does not fit 64 bits (the message names the
        table and the index), or ``per_line`` / ``indent`` is invalid.
    """
    if isinstance(per_line, bool) or not isinstance(per_line, int) or per_line < 1:
        raise ConfigError(f"cpp_raw_table per_line = {per_line!r}; allowed: an int >= 1")
    if isinstance(indent, bool) or not isinstance(indent, int) or not 0 <= indent <= 32:
        raise ConfigError(f"cpp_raw_table indent = {indent!r}; allowed: an int from 0 to 32")
    if isinstance(values, (str, bytes)) or getattr(values, "ndim", 1) != 1:
        raise ConfigError(f"{field}: expected a flat sequence of integers, got "
                          f"{type(values).__name__}")
    words = [cpp_int(v, f"{field}[{i}]") for i, v in enumerate(values)]
    if not words:
        return "{}"
    pad = " " * indent
    lines = [pad + ", ".join(words[i:i + per_line]) + ","
             for i in range(0, len(words), per_line)]
    return "{\n" + "\n".join(lines) + "\n}"


# --------------------------------------------------------------------------- loading


def _load_package_template(name: str) -> str | None:
    entry: Any = resources.files("sparseforge.templates")
    for part in name.split("/"):
        if part in ("", ".", ".."):
            return None
        entry = entry.joinpath(part)
    if not entry.is_file():
        return None  # jinja2 raises TemplateNotFound naming the template
    return entry.read_text(encoding="utf-8")
