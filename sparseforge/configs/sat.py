"""Configuration of the SAT N:M sparse training engine (see docs/designs/sat.md)."""

from __future__ import annotations

from dataclasses import dataclass

from sparseforge.config import DesignConfig, check_choice, check_identifier, check_range
from sparseforge.errors import ConfigError

__all__ = ["SatConfig"]


@dataclass(frozen=True)
class SatConfig(DesignConfig):
    """Parameters of the SAT engine; drive the RTL, golden model, cycle model and driver.

    Attributes
    ----------
    rows, cols : int
        Array size R x C (1..64 each): the output tile is R x C.
    n, m : int
        N:M sparsity: N multipliers per PE; a sparse step consumes a group of M
        reduction elements (M in {2, 4, 8, 16}, 1 <= N < M).
    width : int
        Signed operand width in bits (8 or 16).
    acc_bits : int
        Accumulator width in bits (2*width .. 48); sums wrap (two's complement).
    steps_bits : int
        Width of the per-tile step counter (8..24): at most 2**steps_bits - 1 steps.
    fifo_rows : int
        Depth of the result FIFO in rows (2..64).
    name : str
        Verilog module name of the engine's top (an identifier).
    """

    rows: int = 4
    cols: int = 4
    n: int = 2
    m: int = 8
    width: int = 8
    acc_bits: int = 32
    steps_bits: int = 16
    fifo_rows: int = 4
    name: str = "sat_engine"

    def validate(self) -> None:
        check_range("rows", self.rows, 1, 64)
        check_range("cols", self.cols, 1, 64)
        check_choice("m", self.m, (2, 4, 8, 16))
        if not 1 <= self.n < self.m:
            raise ConfigError(f"n = {self.n} is out of range for m = {self.m}; "
                              f"allowed: 1 to {self.m - 1} (N < M)")
        check_choice("width", self.width, (8, 16))
        check_range("acc_bits", self.acc_bits, 2 * self.width, 48)
        check_range("steps_bits", self.steps_bits, 8, 24)
        check_range("fifo_rows", self.fifo_rows, 2, 64)
        check_identifier("name", self.name)

    @property
    def index_bits(self) -> int:
        """Bits of one in-group index, log2(m)."""
        return self.m.bit_length() - 1

    @property
    def multipliers(self) -> int:
        """Multipliers in the array, rows * cols * n."""
        return self.rows * self.cols * self.n

    @property
    def max_steps(self) -> int:
        """Largest step count one tile command can carry."""
        return (1 << self.steps_bits) - 1

    @property
    def min_tile_period(self) -> int:
        """Smallest spacing (cycles) between the last beats of two tiles: max(R, C + 1)."""
        return max(self.rows, self.cols + 1)
