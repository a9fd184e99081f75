"""RTL of the PIM datapath (Amaranth 0.5), bit-exact with ``sim/pim`` and ``sim/pimgpt``.

* :mod:`.fp` — combinational FP32 / BF16 blocks (BF16 x BF16 exact product, FP32 add
  and multiply with RNE and flush-to-zero, rint, int→float, exponent scaling);
* :mod:`.pipe` — the pipeline builder (registers inserted between operations);
* :mod:`.mac` — :class:`~.mac.PimMacUnit`, the per-bank MAC unit;
* :mod:`.asic` — :class:`~.asic.AsicUnit`, the ASIC's exp / recip / rsqrt / gelu / add /
  mul operators (fully pipelined, II = 1);
* :mod:`.emit` — Verilog emission and synthesis estimates.

Latencies and initiation intervals: :mod:`sparseforge.sim.pim.units` (asserted by the
builders).  Design notes: docs/designs/pim_rtl.md.
"""
