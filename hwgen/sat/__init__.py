"""SAT N:M sparse training engine: Amaranth generators (see docs/designs/sat.md)."""
