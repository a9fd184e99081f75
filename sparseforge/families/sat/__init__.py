"""SAT / BDWP: the config and the kernel contract (numpy only).

======================  ===============================================================
module                  what it holds
======================  ===============================================================
``config``              :class:`SatConfig`, the one validated config of the family
``schedule``            the engine's GEMM plan and beat layouts (tiles, steps, beats)
``contract``            the kernel's register map, descriptors, status codes and memory
                        layouts: everything ``hwgen/`` and ``host/`` both read
``family``              the CLI verbs (``FAMILY``); imports generators lazily
======================  ===============================================================
"""

from sparseforge.families.sat.config import SatConfig

__all__ = ["SatConfig"]
