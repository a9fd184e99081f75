"""Simulation infrastructure every family shares.

* :mod:`~sparseforge.sim.lib.cocotb_runner` — build and run cocotb benches from pytest
  or the CLI (Verilator by default, Icarus optional);
* :mod:`~sparseforge.sim.lib.cocotb_reset` — the clock-and-reset helper of every bench;
* :mod:`~sparseforge.sim.lib.board` — the simulated PYNQ board (registers and buffers
  through AXI), on which the unmodified host drivers run.
"""
