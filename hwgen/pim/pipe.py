"""A small pipeline builder: values tagged with their stage, registers inserted for you.

A :class:`Timed` value is a :class:`~amaranth.hdl.Value` plus the pipeline stage it is
valid in (stage 0: the input port's payload, combinational).  :meth:`Pipe.op` applies a
combinational function to timed values: the earlier operands are delayed to the
latest one's stage through registers, the function's logic is built there, and (by
default) its result is registered into the next stage.  Every register shares one
enable (``en``), so the whole pipeline advances or holds together; the caller ties
``en`` to the output handshake (:class:`StreamPipeline`).

The latency of a function is then the stage of its result: a pipeline built this way
has exactly ``latency`` register stages on every path and accepts one input per cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from amaranth.hdl import Const, Module, Signal, Value

__all__ = ["Pipe", "Timed"]


@dataclass(frozen=True)
class Timed:
    """A value and the pipeline stage it is valid in."""

    value: Value
    stage: int


class Pipe:
    """Register insertion for one pipeline; every register is enabled by ``en``.

    Parameters
    ----------
    m : Module
        Where the logic goes.
    en : Value
        1 bit: the pipeline advances this cycle.
    """

    def __init__(self, m: Module, en: Value):
        self.m = m
        self.en = en
        # (id(value), stage) -> (value, its register one stage later); value kept alive
        self._delays: dict[tuple[int, int], tuple[Value, Signal]] = {}
        self._count = 0

    def reg(self, value: Value, name: str) -> Signal:
        """A register loaded with ``value`` whenever ``en`` is high (reset: 0)."""
        value = Value.cast(value)
        sig = Signal(value.shape(), name=name)
        with self.m.If(self.en):
            self.m.d.sync += sig.eq(value)
        return sig

    def at(self, tv: Timed, stage: int) -> Value:
        """``tv``'s value delayed to ``stage`` (>= its own) through registers, re-used
        by every consumer of the same value and stage."""
        if stage < tv.stage:
            raise ValueError(f"cannot advance a value of stage {tv.stage} to stage {stage}")
        if isinstance(tv, _ConstTimed):
            return tv.value
        value, s = tv.value, tv.stage
        while s < stage:
            key = (id(value), s)
            if key not in self._delays:
                name = getattr(value, "name", None) or "v"
                self._delays[key] = (value, self.reg(value, f"{name}_d{s + 1}"))
            value = self._delays[key][1]
            s += 1
        return value

    def op(self, fn: Callable[..., Value], *args: Timed, reg: bool = True,
           name: str | None = None) -> Timed:
        """``fn(module, *values)`` at the latest stage of ``args``; registered into the
        next stage unless ``reg`` is False."""
        stage = max(a.stage for a in args)
        out = Value.cast(fn(self.m, *(self.at(a, stage) for a in args)))
        if not reg:
            return Timed(out, stage)
        self._count += 1
        return Timed(self.reg(out, name or f"s{stage + 1}_{self._count}"), stage + 1)

    def const(self, value: int, width: int = 32) -> Timed:
        """A ``width``-bit constant, available at every stage (no registers)."""
        return _ConstTimed(Const(value, width))

    def slice(self, tv: Timed, start: int, stop: int) -> Timed:
        """Bits ``[start:stop]`` of ``tv`` (same stage, no logic)."""
        return Timed(tv.value[start:stop], tv.stage)


class _ConstTimed(Timed):
    """A constant: it is at the stage it is asked for (no registers)."""

    def __init__(self, value: Value):
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "stage", 0)
