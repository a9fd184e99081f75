"""Render an HLS design's C++ from its family's templates (``templates/hls/<family>/``).

A family computes every value in Python (loop bounds, fixed-point formats, tables
of raw integers) and hands them over in a context; the templates hold text and
loops only.  :class:`HlsDesign` checks the whole context before anything is
rendered, so that no configuration string can place code into the C++:

* every string in the context (values *and* dict keys, at any depth) must be a
  C++ identifier that C++20 does not reserve (:func:`sparseforge.names.check_identifier`);
  the top function's name must be one in every language sparseforge emits or a
  vendor tool generates from it (it becomes the Verilog / VHDL module of the kernel);
* text meant for comments goes in a :class:`CppComment` (one line, no comment
  delimiters, no control characters);
* a C++ type that is not an identifier (``int``, ``unsigned char``, ``ap_uint<12>``)
  goes in a :class:`CppType`, which accepts only the built-in arithmetic types, the
  ``<cstdint>`` types and ``ap_int<W>`` / ``ap_uint<W>``;
* numbers are integers (``int``, numpy integers, integer arrays); floats are
  refused: a design's constants are raw fixed-point integers, computed once in
  Python (:meth:`sparseforge.formats.FixedFormat.quantize`) so that the golden
  model and the C++ use the same bits;
* fixed-point formats are :class:`~sparseforge.formats.FixedFormat` objects, which
  print as their C++ type (``ap_fixed<32,10>``).

The same design always renders to byte-identical files (sorted by path).

>>> design = HlsDesign("example", {"top.cpp": "top.cpp.j2"}, top="vadd", context={"n": 4})
>>> sorted(design.render())  # doctest: +SKIP
['top.cpp']
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import numpy as np

from sparseforge.errors import ConfigError
from sparseforge.formats import FixedFormat
from sparseforge.names import check_identifier

from ..templating import render

__all__ = ["COMMON_HEADERS", "CppComment", "CppType", "HlsDesign", "check_context",
           "common_headers", "render_hls"]

#: The headers of ``templates/hls/common/`` (plain C++, not templates), written for
#: sparseforge: the ``hls::stream`` shim of C simulation and the testbench I/O and
#: trip-counter helpers.
COMMON_HEADERS = ("hls_stream.h", "sf_csim_io.h")

_OUT_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*")
_OUT_SUFFIXES = (".h", ".hpp", ".cpp", ".cc", ".tcl", ".cfg", ".json", ".md", ".txt")
_FAMILY = re.compile(r"[a-z][a-z0-9_]*")


class CppComment(str):
    """Text for a C++ comment: one line, without ``/*``, ``*/`` or control characters.

    The only kind of free text :class:`HlsDesign` lets into a context.  Control
    characters (line breaks included) become spaces, so that a ``//`` comment cannot
    be ended early, and comment delimiters are split (``*/`` becomes ``* /``).
    """

    def __new__(cls, text: object) -> CppComment:
        line = re.sub(r"[\x00-\x1f\x7f]+", " ", str(text)).strip()
        line = line.replace("*/", "* /").replace("/*", "/ *").replace("\\", "/")
        return super().__new__(cls, line)


#: The C++ type spellings :class:`CppType` accepts besides ``ap_int<W>`` / ``ap_uint<W>``.
BUILTIN_TYPES = frozenset({
    "bool", "char", "signed char", "unsigned char", "short", "unsigned short", "int",
    "unsigned", "unsigned int", "long", "unsigned long", "long long", "unsigned long long",
    "float", "double", "int8_t", "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t",
    "uint32_t", "uint64_t", "size_t",
})
_AP_INT = re.compile(r"ap_(u?)int<([1-9][0-9]{0,3})>")


class CppType(str):
    """A C++ type spelling that may be printed into code: a built-in or ``<cstdint>``
    type (:data:`BUILTIN_TYPES`), ``ap_int<W>`` / ``ap_uint<W>`` (1 <= W <= 4096), or a
    :class:`~sparseforge.formats.FixedFormat` (its ``ap_fixed`` spelling).

    Raises
    ------
    ConfigError
        Any other text; the message lists what is allowed.
    """

    def __new__(cls, spelling: object) -> CppType:
        if isinstance(spelling, FixedFormat):
            return super().__new__(cls, spelling.hls_type)
        text = spelling if isinstance(spelling, str) else None
        if text is not None and " ".join(text.split()) in BUILTIN_TYPES:
            return super().__new__(cls, " ".join(text.split()))
        match = _AP_INT.fullmatch(text or "")
        if match and int(match[2]) <= 4096:
            return super().__new__(cls, text)
        raise ConfigError(f"C++ type = {spelling!r}; allowed: a FixedFormat, ap_int<W> / "
                          f"ap_uint<W> (W 1 to 4096), or one of {', '.join(sorted(BUILTIN_TYPES))}")


@dataclass(frozen=True)
class HlsDesign:
    """One HLS design: a family's templates, the top function and the context.

    Parameters
    ----------
    family : str
        Folder of the templates, ``templates/hls/<family>/`` (lower-case identifier).
    templates : Mapping[str, str] or Sequence[str]
        Output path (relative, e.g. ``"src/top.cpp"``) -> template name below the
        family folder; a sequence of template names renders each to its name without
        ``.j2``.
    top : str
        The top function's name; in the context as ``top``.  Checked against every
        language of :data:`sparseforge.names.LANGUAGES`: Vitis HLS makes it the RTL
        module of the kernel.
    context : Mapping[str, Any]
        The values the templates read (see the module docstring for what is
        allowed); ``top`` and ``family`` are added.
    template_root : Path, optional
        A folder searched before the package's templates (holding
        ``hls/<family>/...``); for out-of-tree families and tests.

    Raises
    ------
    ConfigError
        From :meth:`render`: a name, path or value that cannot be placed into C++;
        the message names the field (its path in the context), the value and what is
        allowed.
    """

    family: str
    templates: Mapping[str, str] | Sequence[str]
    top: str
    context: Mapping[str, Any] = field(default_factory=dict)
    template_root: Path | None = None

    def render(self) -> dict[str, str]:
        """Every output file: relative path -> C++ text, sorted by path.

        Everything is validated before the first template is rendered; the same
        design gives byte-identical text.
        """
        if not isinstance(self.family, str) or not _FAMILY.fullmatch(self.family):
            raise ConfigError(f"HLS family = {self.family!r}; allowed: a lower-case folder "
                              "name of templates/hls/ ([a-z][a-z0-9_]*)")
        check_identifier("top function", self.top)
        targets = _check_templates(self.templates)
        ctx = check_context(self.context)
        for reserved in ("top", "family"):
            if reserved in ctx:
                raise ConfigError(f"context key {reserved!r} is set by HlsDesign "
                                  f"({reserved} = {getattr(self, reserved)!r}); remove it")
        ctx.update(top=self.top, family=self.family)
        root = None if self.template_root is None else Path(self.template_root).resolve()
        files = {}
        for out, name in targets.items():
            template = f"hls/{self.family}/{name}"
            try:
                files[out] = render(template, ctx, root)
            except jinja2.TemplateNotFound as exc:
                raise ConfigError(f"template {template!r} (for {out!r}) not found under "
                                  f"templates/{'' if root is None else f' or {root}'}") from exc
        return dict(sorted(files.items()))


def render_hls(family: str, templates: Mapping[str, str] | Sequence[str], *, top: str,
               context: Mapping[str, Any] | None = None,
               template_root: Path | None = None) -> dict[str, str]:
    """``HlsDesign(family, templates, top, context, template_root).render()``."""
    return HlsDesign(family, templates, top, dict(context or {}), template_root).render()


def common_headers() -> dict[str, str]:
    """The text of :data:`COMMON_HEADERS`: file name -> C++ text."""
    folder = resources.files("sparseforge.templates").joinpath("hls").joinpath("common")
    return {name: folder.joinpath(name).read_text(encoding="utf-8") for name in COMMON_HEADERS}


def check_context(context: Mapping[str, Any], where: str = "context") -> dict[str, Any]:
    """A checked copy of ``context`` that templates can print safely.

    numpy integers become ``int``, integer arrays nested lists of ``int``, tuples
    lists; strings are checked as C++ identifiers; :class:`CppComment`, :class:`CppType`,
    :class:`~sparseforge.formats.FixedFormat`, ``bool``, ``int`` and ``None`` pass.

    Raises
    ------
    ConfigError
        A value of another kind (float, bytes, arbitrary object) or a string that is
        not a safe C++ identifier; the message names its path, e.g.
        ``context['kernels'][2]['name']``.
    """
    if not isinstance(context, Mapping):
        raise ConfigError(f"{where}: expected a mapping of name -> value, got "
                          f"{type(context).__name__}")
    return _checked(context, where)


# --------------------------------------------------------------------------- the parts


def _checked(value: Any, where: str) -> Any:
    if isinstance(value, (CppComment, CppType)):
        return value
    if isinstance(value, str):
        check_identifier(where, value, ("C++20",))
        return value
    if value is None or isinstance(value, (bool, int, FixedFormat)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iub":
            raise ConfigError(f"{where}: a numpy array of dtype {value.dtype}; allowed: "
                              "integer arrays (quantise real values to raw integers first)")
        return value.tolist()
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigError(f"{where}: key {key!r} is a {type(key).__name__}; "
                                  "allowed: str keys (C++ identifiers)")
            check_identifier(f"{where} key", key, ("C++20",))
            out[key] = _checked(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_checked(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, float):
        raise ConfigError(f"{where} = {value!r} is a float; allowed: integers (give raw "
                          "fixed-point values, FixedFormat.quantize, so C++ and the golden "
                          "model use the same bits)")
    raise ConfigError(f"{where} = {value!r} ({type(value).__name__}); allowed: str "
                      "(C++ identifier), CppComment, CppType, int, bool, None, FixedFormat, "
                      "integer numpy arrays, and lists / dicts of these")


def _check_templates(templates: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    if isinstance(templates, Mapping):
        pairs = list(templates.items())
    elif isinstance(templates, Sequence) and not isinstance(templates, str):
        pairs = [(name.removesuffix(".j2") if isinstance(name, str) else name, name)
                 for name in templates]
    else:
        raise ConfigError(f"templates = {templates!r}; allowed: a mapping of output path -> "
                          "template name, or a sequence of template names")
    if not pairs:
        raise ConfigError("templates: empty; an HLS design renders at least one file")
    out = {}
    for path, name in pairs:
        if (not isinstance(path, str) or not _OUT_PATH.fullmatch(path)
                or not path.endswith(_OUT_SUFFIXES)):
            raise ConfigError(f"HLS output path {path!r}: allowed: a relative path of letters, "
                              "digits, '_', '.', '-' (no leading '.', no '..') ending in "
                              f"{', '.join(_OUT_SUFFIXES)}")
        if not isinstance(name, str) or not _OUT_PATH.fullmatch(name):
            raise ConfigError(f"template name {name!r} (for {path!r}): allowed: a relative "
                              "path below templates/hls/<family>/ (no leading '.', no '..')")
        if path in out:
            raise ConfigError(f"HLS output path {path!r} appears twice")
        out[path] = name
    return out
