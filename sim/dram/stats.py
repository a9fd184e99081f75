"""Statistics of a simulated trace: cycles, bandwidth, row hits, commands, energy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .controller import SimResult

__all__ = ["TraceStats", "summarize"]

#: Energy attribute of the device per command kind (pJ per command) and how many of it
#: one command costs: GACT = one ACT per bank of the rank, GWRITE = one WR burst, READRES
#: = one RD per burst it moves.  MAC / MACL are not in the device's energy table (no
#: public per-MAC energy in these sources): counted as 0, a known gap.
_ENERGY_FIELD = {"ACT": "act", "PRE": "pre", "PREA": "pre", "RD": "rd", "WR": "wr",
                 "REF": "ref", "REFPB": "ref", "GWRITE": "wr", "GACT": "act",
                 "READRES": "rd", "MAC": None, "MACL": None}


def _energy_count(device, kind: str) -> int:
    """How many of ``_ENERGY_FIELD[kind]``'s energy one command of ``kind`` costs."""
    if kind == "GACT":
        return device.bankgroups * device.banks_per_group
    if kind == "READRES":
        return device.pim.readres_bursts
    return 1


@dataclass(frozen=True)
class TraceStats:
    """What a trace cost.

    Attributes
    ----------
    requests, reads, writes : int
    cycles : int
        Last completion, tCK.
    seconds : float
        ``cycles * tck_ns``.
    bandwidth_gbs : float
        Bytes moved (one burst per request) over ``seconds``.
    row_hit_rate : float
        Column commands that found their row open / requests.
    mean_latency : float
        Mean completion - arrival, tCK.
    commands : dict[str, int]
    energy_pj : float
        Sum of the per-command energies (PREA counted as one PRE per bank it closes is
        not known here: as one PRE), no background power.
    """

    requests: int
    reads: int
    writes: int
    cycles: int
    seconds: float
    bandwidth_gbs: float
    row_hit_rate: float
    mean_latency: float
    commands: dict
    energy_pj: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def summarize(device, result: SimResult, is_write, arrivals) -> TraceStats:
    """The statistics of ``result`` (from :func:`~sparseforge.sim.dram.controller.
    simulate`) for its trace."""
    is_write = np.asarray(is_write, bool)
    arrivals = np.asarray(arrivals, np.int64)
    n = len(arrivals)
    seconds = result.cycles * device.tck_ns * 1e-9
    moved = n * device.burst_bytes
    energy = 0.0
    table = getattr(device, "energy", None)
    if table is not None:
        for kind, count in result.counts.items():
            name = _ENERGY_FIELD[kind]
            if count and name is not None:
                energy += count * _energy_count(device, kind) * float(getattr(table, name))
    return TraceStats(
        requests=n, reads=int(n - is_write.sum()), writes=int(is_write.sum()),
        cycles=result.cycles, seconds=seconds,
        bandwidth_gbs=moved / seconds / 1e9 if seconds else 0.0,
        row_hit_rate=result.row_hits / n if n else 0.0,
        mean_latency=float((result.completion - arrivals).mean()) if n else 0.0,
        commands=dict(result.counts), energy_pj=energy)
