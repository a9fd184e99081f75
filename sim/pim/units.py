"""The PIM RTL units' latencies: :mod:`sparseforge.pim_units` (the core holds the table
so that the RTL generators may read it too); re-exported here for the simulators."""

from sparseforge.pim_units import ASIC_UNITS, MAC_II, Unit, mac_latency

__all__ = ["ASIC_UNITS", "MAC_II", "Unit", "mac_latency"]
