"""Timed PIM-GPT: per-token latency, its breakdown, row hits and energy.

:func:`token_latency` maps the model (:func:`sparseforge.sim.pimgpt.mapping.map_model`),
builds the token's program at the given context and runs it on the timed simulator
(:class:`sparseforge.sim.pimgpt.timed.TimedSystem`).  Energy per token is the sum of
per-command energies of the device preset (ACT, RD, WR, REF; a GACT is ``banks``
ACTs, a MAC ``banks`` column reads, a READRES its bursts), the MAC units' arithmetic
and the standby power of every channel over the token's time (see :data:`MAC_PJ`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sparseforge.errors import ConfigError

from .asic_time import ASIC_LANES
from .mapping import Geometry, ModelMap, map_model
from .program import token_program
from .timed import CATEGORIES, TimedSystem, TokenTiming

__all__ = ["MAC_PJ", "PerfResult", "asic_sram", "geometry", "system", "token_latency"]

#: Energy of one BF16 multiply plus one FP32 add, pJ: Horowitz, "Computing's energy
#: problem", ISSCC 2014, 45 nm: 16-bit FP multiply 1.1 pJ, 32-bit FP add 0.9 pJ (the
#: 16-bit FP multiply stands in for BF16's).  A MAC command costs ``lanes`` of them in
#: every bank.
MAC_PJ = 1.1 + 0.9


def geometry(device, channels: int) -> Geometry:
    """The mapping's view of ``channels`` channels of ``device`` (needs ``[pim]``)."""
    if device.pim is None:
        raise ConfigError(f"memory {device.name!r} has no [pim] table; allowed: a PIM "
                          "preset (e.g. gddr6_aim) or a device file with a [pim] table")
    p = device.pim
    return Geometry(channels=channels, ranks=device.ranks, bankgroups=device.bankgroups,
                    banks_per_group=device.banks_per_group, rows=device.rows,
                    lanes=p.lanes, row_elems=min(device.row_bytes, p.gbuf_bytes) // 2,
                    slots=p.result_slots)


def system(model, device, channels: int) -> ModelMap:
    """Map ``model`` on ``channels`` channels of ``device`` (errors before any work)."""
    return map_model(model, geometry(device, channels))


def asic_sram(model, lanes: int) -> dict[str, int]:
    """Bytes of ASIC SRAM the program needs (FP32 vectors, BF16 parameters and bursts):
    the live vectors of one layer (``x``, ``h``, ``qkv``, the scores / probabilities of
    every head over ``n_ctx``, ``o``, ``a``), the logits, one layer's parameter vectors
    (read a layer ahead, so two), and the V cache bursts being filled (``lanes``
    positions of every feature of every layer: the ASIC rewrites whole bursts instead of
    masked writes)."""
    d = model.d_model
    out = {
        "vectors": 4 * (d + d + 3 * d + 2 * model.n_head * model.n_ctx + d + 4 * d),
        "logits": 4 * model.vocab,
        "parameters": 2 * 2 * 13 * d,
        "v_bursts": 2 * model.n_layer * d * lanes,
    }
    out["total"] = sum(out.values())
    return out


@dataclass
class PerfResult:
    """:func:`token_latency`'s answer (``timing`` holds every figure)."""

    model: str
    memory: str
    context: int
    channels: int
    asic_mhz: float
    timing: TokenTiming
    energy_pj: dict
    sram: dict

    @property
    def ms(self) -> float:
        return self.timing.ns / 1e6

    def to_dict(self) -> dict:
        t = self.timing
        total = t.cycles or 1
        return {
            "model": self.model, "memory": self.memory, "context": self.context,
            "channels": self.channels, "asic_mhz": self.asic_mhz,
            "cycles": t.cycles, "ms_per_token": round(self.ms, 6),
            "tokens_per_s": round(1e3 / self.ms, 3) if self.ms else None,
            "breakdown_cycles": dict(t.breakdown),
            "breakdown_share": {k: round(t.breakdown[k] / total, 6) for k in CATEGORIES},
            "non_gemv_share": round(t.breakdown["asic"] / total, 6),
            "row_hit_rate": round(t.row_hit_rate, 6),
            "commands": dict(sorted(t.counts.items())),
            "energy_uj": {k: round(v / 1e6, 3) for k, v in self.energy_pj.items()},
            "asic_sram_bytes": dict(self.sram),
        }


def _energy(device, geo: Geometry, t: TokenTiming) -> dict[str, float]:
    e, c = device.energy, t.counts
    banks = geo.banks
    lanes = geo.lanes
    out = {
        "activate": (c.get("ACT", 0) + banks * c.get("GACT", 0)) * e.act,
        "mac_column": banks * (c.get("MAC", 0) + c.get("MACL", 0)) * e.rd,
        "mac_arith": banks * lanes * (c.get("MAC", 0) + c.get("MACL", 0)) * MAC_PJ,
        "io": (c.get("RD", 0) * e.rd + (c.get("WR", 0) + c.get("GWRITE", 0)) * e.wr
               + c.get("READRES", 0) * device.pim.readres_bursts * e.rd),
        "refresh": c.get("REF", 0) * e.ref,
        # standby: every channel, the whole token, at the active-standby power
        "standby": geo.channels * e.act_standby_mw * t.ns,  # mW x ns = pJ
    }
    out["total"] = sum(out.values())
    return out


def token_latency(model, device, context: int, channels: int = 8, asic_mhz: float = 1000.0,
                  asic_lanes: int = ASIC_LANES, refresh: bool = True, token: int = 0) -> PerfResult:
    """Time one decoding step that attends ``context`` tokens (position ``context-1``).

    Raises
    ------
    ConfigError
        Context beyond the model's reserved K/V space (``n_ctx``), a memory without a
        ``[pim]`` table, or a mapping that does not fit the banks.
    """
    if not 1 <= context <= model.n_ctx:
        raise ConfigError(f"context = {context}; allowed: 1 to {model.n_ctx} (the K/V "
                          f"space reserved for {model.name}, n_ctx)")
    mm = system(model, device, channels)
    sim = TimedSystem(device, mm.geo, asic_mhz=asic_mhz, asic_lanes=asic_lanes,
                      refresh=refresh)
    timing = sim.run(token_program(mm, model, context - 1, token))
    return PerfResult(model.name, device.name, context, channels, asic_mhz, timing,
                      _energy(device, mm.geo, timing), asic_sram(model, mm.geo.lanes))
