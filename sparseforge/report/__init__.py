"""Reports: a document model rendered as Markdown / HTML, and the flow's report.

* :mod:`~sparseforge.report.document` — :class:`Section`, :class:`Table`,
  :class:`Image`, :class:`Code`, :class:`Link`; :func:`to_markdown`, :func:`to_html`,
  :func:`save_png`;
* :mod:`~sparseforge.report.flow_report` — :func:`write_report` and :func:`headline`
  for ``sparseforge flow``; each family describes its own step results (SAT:
  :mod:`sparseforge.families.sat.report`).
"""

from sparseforge.report.document import (
    Code,
    Image,
    Link,
    Section,
    Table,
    require_matplotlib,
    save_png,
    to_html,
    to_markdown,
)
from sparseforge.report.flow_report import build_sections, headline, step_result, write_report

__all__ = ["Code", "Image", "Link", "Section", "Table", "build_sections", "headline",
           "require_matplotlib", "save_png", "step_result", "to_html", "to_markdown",
           "write_report"]
