"""Edge-MoE family: config and numeric contract (see docs/designs/edgemoe.md)."""
