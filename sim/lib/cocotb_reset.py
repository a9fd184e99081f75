"""Clock and reset for cocotb benches of Amaranth-emitted Verilog (``clk``, sync ``rst``)."""

from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

__all__ = ["start_clock_and_reset"]


async def start_clock_and_reset(dut, idle_inputs: tuple[str, ...], cycles: int = 3,
                                period_ns: int = 10) -> None:
    """Start ``dut.clk``, hold ``dut.rst`` for ``cycles`` cycles with ``idle_inputs`` at 0."""
    cocotb.start_soon(Clock(dut.clk, period_ns, unit="ns").start())
    dut.rst.value = 1
    for name in idle_inputs:
        getattr(dut, name).value = 0
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
