"""cocotb bench for the toolchain smoke test (tests/lib/test_toolchain_smoke.py).

Drives the signed multiply-accumulate built there with random operands and
checks every cycle against Python integer arithmetic wrapped to the
accumulator width (the model is written from the maths, not the RTL).
"""

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, Timer


def _wrap(value: int, width: int) -> int:
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


@cocotb.test()
async def mac_matches_integer_model(dut):
    cfg = json.loads(os.environ["SMOKE_CFG"])
    width, acc_width, count = cfg["width"], cfg["acc_width"], cfg["count"]
    rng = random.Random(cfg["seed"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.en.value = 0
    dut.a.value = 0
    dut.b.value = 0
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    expected = 0
    for i in range(count):
        a = rng.choice([lo, hi, 0, -1, rng.randint(lo, hi)])
        b = rng.choice([lo, hi, 1, rng.randint(lo, hi)])
        en = rng.random() < 0.8
        dut.a.value = a
        dut.b.value = b
        dut.en.value = int(en)
        await RisingEdge(dut.clk)
        if en:
            expected = _wrap(expected + a * b, acc_width)
        await Timer(1, unit="ns")
        got = dut.acc.value.to_signed()
        assert got == expected, f"step {i}: acc={got}, expected {expected}"
