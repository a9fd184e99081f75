"""sparseforge: FPGA / accelerator co-design of sparse and transformer workloads.

The core package holds what every layer shares: number formats, the board
registry, design configuration parsing, the toolchain locator and the CLI.
Generators live in :mod:`sparseforge.hwgen`, golden and performance models and
test benches in :mod:`sparseforge.sim`, board-side drivers in
:mod:`sparseforge.host`.
"""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
