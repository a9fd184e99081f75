"""Configuration of the SAT N:M sparse training engine (see docs/designs/sat.md)."""

from __future__ import annotations

from dataclasses import dataclass

from sparseforge.config import DesignConfig, check_identifier, param
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
        Depth of the result FIFO in beats (2..64).
    drain_rows : int
        Result rows per ``result`` beat: 1, or 2 (rows must be even) to drain a
        tile twice as fast, which lowers the tile period floor from
        ``max(R, C)`` to ``max(R/2, C + 1)`` (see :meth:`tile_period`).
    name : str
        Verilog module name of the engine's top (an identifier that no emitted
        language reserves: :func:`sparseforge.names.check_identifier`).
    kernel_name : str
        Name of the kernel (the AXI shell's Verilog top, the Vitis kernel and the
        Vivado IP); an identifier as for ``name``, different from ``name`` even
        ignoring case.
    axi_data_bits : int
        Data width of the kernel's AXI4 memory master (128, 256 or 512 bits).
    max_burst : int
        Longest AXI4 burst the kernel issues, in beats (power of two, 2..256).
    """

    rows: int = param(4, "array rows R (the output tile is R x C)", low=1, high=64)
    cols: int = param(4, "array columns C", low=1, high=64)
    n: int = param(2, "N of N:M: multipliers per PE, values kept per group", low=1, high=15,
                   rule="below m")
    m: int = param(8, "M of N:M: reduction elements per group", choices=(2, 4, 8, 16))
    width: int = param(8, "signed operand width, bits", choices=(8, 16))
    acc_bits: int = param(32, "accumulator width, bits (sums wrap, two's complement)",
                          low=16, high=48, rule="at least 2*width")
    steps_bits: int = param(16, "width of the per-tile step counter, bits", low=8, high=24)
    fifo_rows: int = param(4, "depth of the engine's result FIFO, beats", low=2, high=64)
    drain_rows: int = param(1, "result rows per result beat (2 halves the drain time)",
                            choices=(1, 2), rule="2 needs an even rows")
    name: str = param("sat_engine", "Verilog module name of the engine",
                      rule="an identifier, not a keyword of an emitted language")
    kernel_name: str = param("sat_kernel", "name of the kernel (Verilog top, Vitis kernel, "
                             "Vivado IP)", rule="an identifier different from name")
    axi_data_bits: int = param(128, "data width of the AXI4 memory master, bits",
                               choices=(128, 256, 512))
    max_burst: int = param(64, "longest AXI4 burst the kernel issues, beats",
                           choices=(2, 4, 8, 16, 32, 64, 128, 256))

    def validate(self) -> None:
        if not self.n < self.m:
            raise ConfigError(f"n = {self.n} is out of range for m = {self.m}; "
                              f"allowed: 1 to {self.m - 1} (N < M)")
        if self.acc_bits < 2 * self.width:
            raise ConfigError(f"acc_bits = {self.acc_bits} is out of range for width = "
                              f"{self.width}; allowed: {2 * self.width} to 48 (at least "
                              "2*width)")
        if self.rows % self.drain_rows:
            raise ConfigError(f"drain_rows = {self.drain_rows} needs an even rows; got "
                              f"rows = {self.rows}")
        check_identifier("name", self.name)
        check_identifier("kernel_name", self.kernel_name)
        if self.kernel_name.lower() == self.name.lower():  # VHDL ignores case
            raise ConfigError(f"kernel_name = {self.kernel_name!r} equals name = {self.name!r} "
                              "(case-insensitively, as VHDL compares them); allowed: a "
                              "different identifier (both are modules)")

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
        """Smallest spacing (cycles) between the last beats of two tiles."""
        return self.tile_period(0)

    def tile_period(self, steps: int) -> int:
        """Spacing (cycles) between the last beats of consecutive tiles of ``steps`` steps.

        A tile needs ``steps + 1`` cycles (command + beats).  The result drain adds
        a floor:

        * ``drain_rows = 1``: rows of a tile complete on consecutive cycles and
          one row leaves per cycle, so tiles must be ``R`` apart; PE ``(r, 0)``'s
          result register is read when row ``r`` completes, ``C - 1`` cycles after
          it was written, so the next tile may overwrite it ``C`` cycles later:
          ``max(steps + 1, R, C)``;
        * ``drain_rows = 2``: a pair of rows leaves when its second row completes,
          so its first row is read one cycle later (``C + 1``); consecutive tiles
          write two FIFOs (tile parity), so their pairs may complete in the same
          cycle, but a tile two ahead writes the same FIFO and must wait for the
          drain, ``R / 2`` pairs every other cycle (``2P >= R``):
          ``max(steps + 1, C + 1, R / 2)``.

        These are the data path's own limits: ``tests/sat/test_sat_tile_period.py``
        drives an engine whose throttle admits every spacing and finds the results
        right exactly at spacings ``d`` with ``tile_period(d - 1) == d``.
        """
        r, c = self.rows, self.cols
        if self.drain_rows == 1:
            return max(steps + 1, r, c)
        return max(steps + 1, c + 1, r // 2)
