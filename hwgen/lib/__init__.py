"""Generic Amaranth blocks every RTL family shares.

* :mod:`~sparseforge.hwgen.lib.axi_lite` — AXI4-Lite control slave with the Vitis
  ``ap_ctrl_hs`` layout, built from a :class:`~sparseforge.regmap.RegisterMap`;
* :mod:`~sparseforge.hwgen.lib.axi_master` — AXI4 INCR burst reader and writer.

No family-specific logic lives here; a family's kernel top (e.g.
:mod:`sparseforge.hwgen.sat.kernel`) composes these blocks.
"""
