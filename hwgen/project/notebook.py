"""Jupyter notebooks from percent-format scripts (deterministic nbformat 4 JSON).

Notebook templates are written as Python scripts with ``# %%`` cell markers
(the format Jupytext, VS Code and Spyder read): a ``# %%`` line starts a code
cell, ``# %% [markdown]`` a Markdown cell whose lines are comments (``# text``).
:func:`notebook_json` turns such a script into the ``.ipynb`` text; the code
cells stay runnable as a plain script (:func:`code_cells`), which is how the
tests execute emitted notebooks without a Jupyter kernel.
"""

from __future__ import annotations

import json
import re

__all__ = ["code_cells", "notebook_json", "parse_cells"]

_MARKER = re.compile(r"^# %%(?:\s*\[(\w+)\])?\s*$")


def parse_cells(script: str) -> list[tuple[str, str]]:
    """``[(kind, source), ...]`` of a percent-format script; kind is code or markdown.

    Raises
    ------
    ValueError
        Text before the first marker, an unknown cell kind, or a Markdown line
        that is not a comment.
    """
    cells: list[tuple[str, list[str]]] = []
    for n, line in enumerate(script.splitlines(), 1):
        mark = _MARKER.match(line)
        if mark:
            kind = mark.group(1) or "code"
            if kind not in ("code", "markdown"):
                raise ValueError(f"line {n}: cell kind [{kind}]; allowed: [markdown] or none")
            cells.append((kind, []))
            continue
        if not cells:
            if line.strip():
                raise ValueError(f"line {n}: text before the first '# %%' marker")
            continue
        kind, lines = cells[-1]
        if kind == "markdown":
            if line and not (line == "#" or line.startswith("# ")):
                raise ValueError(f"line {n}: Markdown cells hold comment lines ('# text')")
            line = line[2:]
        lines.append(line)
    return [(kind, "\n".join(lines).strip("\n")) for kind, lines in cells]


def notebook_json(script: str, kernel_name: str = "python3",
                  display_name: str = "Python 3") -> str:
    """The ``.ipynb`` text (nbformat 4.5) of a percent-format script; no outputs.

    Cell ids are their index (``cell-0``, ...) so the same script always gives the
    same bytes.
    """
    cells = []
    for i, (kind, source) in enumerate(parse_cells(script)):
        lines = source.splitlines(keepends=True)
        cell = {"cell_type": kind, "id": f"cell-{i}", "metadata": {}, "source": lines}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    nb = {"cells": cells,
          "metadata": {"kernelspec": {"display_name": display_name, "language": "python",
                                      "name": kernel_name},
                       "language_info": {"name": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def code_cells(ipynb_text: str) -> list[str]:
    """The sources of a notebook's code cells, in order."""
    nb = json.loads(ipynb_text)
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
