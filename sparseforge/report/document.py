"""Report documents: sections rendered as Markdown and as self-contained HTML.

A report is a title and a list of :class:`Section`; each section holds text
paragraphs and :class:`Table`, :class:`Image`, :class:`Code` blocks.
:func:`to_markdown` and :func:`to_html` render the same list, so the two files
always say the same; the HTML has inline CSS, no JavaScript, and references the
PNGs next to it.  :func:`save_png` writes a matplotlib figure without a
``Software`` tag, so the same data give byte-identical files.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparseforge.errors import SparseforgeError

__all__ = ["Code", "Image", "Link", "Section", "Table", "require_matplotlib", "save_png",
           "to_html", "to_markdown"]


@dataclass(frozen=True)
class Link:
    """A table cell or paragraph that links to ``href`` (relative to ``reports/``)."""

    text: str
    href: str


@dataclass(frozen=True)
class Table:
    """A table; ``align`` holds ``l`` or ``r`` per column (default: all left)."""

    header: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    align: str = ""


@dataclass(frozen=True)
class Image:
    """A picture next to the report (``src`` relative to ``reports/``)."""

    src: str
    alt: str


@dataclass(frozen=True)
class Code:
    """A preformatted block (a command line)."""

    text: str


@dataclass
class Section:
    """A titled part of the report: paragraphs (``str``), tables, images and code."""

    title: str
    blocks: list[Any] = field(default_factory=list)


# --------------------------------------------------------------------------- entry points


def require_matplotlib() -> None:
    """Raise a clear error unless matplotlib (the ``bench`` extra) is importable."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SparseforgeError(
            "the flow report draws its plots with matplotlib, which is not installed; "
            "install the bench extra: pip install 'sparseforge[bench]' (in a clone: "
            "pip install -e '.[bench]')") from None


def save_png(fig, path: Path) -> None:
    """Write ``fig`` as a PNG without a ``Software`` tag (byte-identical for the same data)."""
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})


# --------------------------------------------------------------------------- rendering


def to_markdown(title: str, sections: list[Section]) -> str:
    """GitHub-flavoured Markdown of the report."""
    out = [f"# {title}", ""]
    for section in sections:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, str):
                out += [block, ""]
            elif isinstance(block, Code):
                out += ["```", block.text, "```", ""]
            elif isinstance(block, Image):
                out += [f"![{block.alt}]({block.src})", ""]
            elif isinstance(block, Table):
                out += [*_markdown_table(block), ""]
    return "\n".join(out)


def _markdown_table(table: Table) -> list[str]:
    def cell(value: Any) -> str:
        text = f"[{value.text}]({value.href})" if isinstance(value, Link) else str(value)
        return text.replace("|", "\\|") or " "

    align = table.align or "l" * len(table.header)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(cell(h) for h in table.header) + " |",
             "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    return lines


_CSS = """body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1em}
th,td{border:1px solid #ccc;padding:0.2em 0.6em;text-align:left}
th{background:#f3f3f3}td.r{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f6f6;padding:0.6em;overflow-x:auto}img{max-width:100%;display:block}"""


def to_html(title: str, sections: list[Section]) -> str:
    """A self-contained HTML page of the report (inline CSS, no scripts)."""
    esc = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{esc(title)}</title>", f"<style>\n{_CSS}\n</style>", "</head>", "<body>",
           f"<h1>{esc(title)}</h1>"]
    for section in sections:
        out.append(f"<h2>{esc(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, str):
                out.append(f"<p>{esc(block)}</p>")
            elif isinstance(block, Code):
                out.append(f"<pre><code>{esc(block.text)}</code></pre>")
            elif isinstance(block, Image):
                out.append(f'<p><img src="{esc(block.src)}" alt="{esc(block.alt)}"></p>')
            elif isinstance(block, Table):
                out += _html_table(block)
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _html_table(table: Table) -> list[str]:
    def cell(value: Any, a: str) -> str:
        text = (f'<a href="{html.escape(value.href)}">{html.escape(value.text)}</a>'
                if isinstance(value, Link) else html.escape(str(value)))
        return f'<td class="r">{text}</td>' if a == "r" else f"<td>{text}</td>"

    align = table.align or "l" * len(table.header)
    lines = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
             + "</tr>"]
    lines += ["<tr>" + "".join(cell(c, a) for c, a in zip(row, align)) + "</tr>"
              for row in table.rows]
    lines.append("</table>")
    return lines


# --------------------------------------------------------------------------- plots
