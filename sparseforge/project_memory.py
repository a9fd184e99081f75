"""Which memory each AXI4 master of an emitted kernel project reaches (pure Python).

The one place that knows how ``sparseforge generate`` wires a kernel's masters to
memory (``docs/projects.md``):

* **Zynq UltraScale+** (Vivado block design): every master goes through a
  SmartConnect into one PS slave port, ``S_AXI_HP0_FPD`` unless the project says
  otherwise, and from there into the PS DDR; or, for kernels with several masters
  that each want a port's bandwidth (the HLS families' ``m_axi`` bundles), every
  master its own port (``dedicated=True``: :data:`DEDICATED_PS_SLAVES` in order);
* **Alveo** (Vitis link): master ``k`` on ``HBM[k]`` (one pseudo-channel) on an
  HBM card, on ``DDR[k mod channels]`` (one channel) otherwise, or every master on
  the ``sp_memory`` the project is given (``HBM[i]``, ``HBM[i:j]``, ``DDR[i]``).

The project emitter (:mod:`sparseforge.hwgen.project`) renders its ``sp=`` lines
and its PS port from :func:`memory_targets`; the workload model of the generated
kernel (:mod:`sparseforge.sim.sat.kernel_workload`) reads the bandwidth of the
memory a master reaches from it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .board_registry import Board, Memory
from .errors import ConfigError
from .regmap import RegisterMap

__all__ = ["DEDICATED_PS_SLAVES", "DEFAULT_PS_SLAVE", "MemoryTarget", "dedicated_ps_slaves",
           "memory_targets"]

#: The PS slave port a Zynq project connects the kernel's masters to by default.
DEFAULT_PS_SLAVE = "S_AXI_HP0_FPD"
#: The PS slave ports that masters with a port each take, in this order: the four
#: non-coherent high-performance ports, then the two I/O-coherent ones (used without
#: coherent transactions, so the driver flushes and invalidates buffers for all six).
#: ACP, ACE and LPD are left out: ACP/ACE are cache-coherent paths with other rules,
#: LPD reaches the DDR through the low-power domain.
DEDICATED_PS_SLAVES = ("S_AXI_HP0_FPD", "S_AXI_HP1_FPD", "S_AXI_HP2_FPD", "S_AXI_HP3_FPD",
                       "S_AXI_HPC0_FPD", "S_AXI_HPC1_FPD")

_SP_MEMORY = re.compile(r"(HBM|DDR)\[(\d+)(?::(\d+))?\]")


@dataclass(frozen=True)
class MemoryTarget:
    """Where one AXI4 master of the kernel reaches memory.

    Attributes
    ----------
    port : str
        The kernel's master port (``m_axi_gmem``).
    target : str
        Zynq: the PS slave port (``S_AXI_HP0_FPD``); Alveo: the memory of the link's
        ``sp=`` line (``HBM[0]``, ``HBM[0:3]``, ``DDR[1]``).
    memory : Memory
        The board's memory behind the target.
    banks : int
        HBM pseudo-channels or DDR channels of ``memory`` the target spans; 0: the
        whole memory (a Zynq PS port reaches all of the PS DDR).
    """

    port: str
    target: str
    memory: Memory
    banks: int

    @property
    def peak_gbs(self) -> float:
        """Peak bandwidth the target reaches, GB/s: the memory's peak times the share
        of its banks (one HBM2 pseudo-channel of the U280 is 460 / 32 GB/s)."""
        if not self.banks:
            return self.memory.peak_gbs
        return self.memory.peak_gbs * self.banks / _bank_count(self.memory)

    @property
    def description(self) -> str:
        """One line for reports: ``ps_ddr4 via S_AXI_HP0_FPD``, ``hbm HBM[0] (1 of 32
        pseudo-channels)``."""
        if not self.banks:
            return f"{self.memory.name} via {self.target}"
        unit = "pseudo-channels" if self.memory.kind.startswith("HBM") else "channels"
        return (f"{self.memory.name} {self.target} ({self.banks} of "
                f"{_bank_count(self.memory)} {unit})")


def memory_targets(rmap: RegisterMap, board: Board, *,
                   ps_slave: str | Sequence[str] | None = None,
                   sp_memory: str | None = None, dedicated: bool = False) -> list[MemoryTarget]:
    """The memory each master of ``rmap`` reaches in the project emitted for ``board``.

    Parameters
    ----------
    rmap : RegisterMap
        The kernel's register map (its ``masters``, in order).
    board : Board
        A Zynq UltraScale+ (PYNQ) board or an Alveo card.
    ps_slave : str or sequence of str, optional
        Zynq only: the PS slave port every master uses (default
        :data:`DEFAULT_PS_SLAVE`), or one port per master, in the masters' order.
    sp_memory : str, optional
        Alveo only: memory of every master, ``HBM[i]``, ``HBM[i:j]`` or ``DDR[i]``.
    dedicated : bool, default False
        Zynq only: every master its own PS slave port, the first of
        :func:`dedicated_ps_slaves` (HP0, HP1, ... then HPC0, HPC1) in the masters' order.

    Returns
    -------
    list[MemoryTarget]
        One per master, in the register map's order.

    Raises
    ------
    ConfigError
        A board of another kind, a PS port the board does not have, more masters than
        the board has ports for (``dedicated``), or an ``sp_memory`` that is malformed
        or names a bank the card does not have.
    """
    if board.host.kind == "zynq_pynq":
        if sp_memory is not None:
            raise ConfigError(f"sp_memory is an Alveo option; board {board.name!r} is a "
                              "Zynq UltraScale+ board")
        if dedicated:
            if ps_slave is not None:
                raise ConfigError("ps_slave and dedicated=True both choose the masters' PS "
                                  "ports; give one of them")
            return _zynq_targets(rmap, board, _dedicated(rmap, board))
        if ps_slave is None or isinstance(ps_slave, str):
            return _zynq_targets(rmap, board, [ps_slave or DEFAULT_PS_SLAVE] * len(rmap.masters))
        ports = list(ps_slave)
        if len(ports) != len(rmap.masters):
            raise ConfigError(f"ps_slave = {ports!r}: {len(ports)} ports for the "
                              f"{len(rmap.masters)} masters of {rmap.kernel}; allowed: one "
                              "port, or one per master")
        return _zynq_targets(rmap, board, ports)
    if board.host.kind == "alveo_xrt":
        if ps_slave is not None or dedicated:
            raise ConfigError(f"ps_slave / dedicated are Zynq options; board {board.name!r} "
                              "is an Alveo card")
        return _alveo_targets(rmap, board, sp_memory)
    raise ConfigError(f"board {board.name!r}: host.kind {board.host.kind!r} has no kernel "
                      "project, so no memory its masters reach; allowed: zynq_pynq, "
                      "alveo_xrt")


def _bank_count(memory: Memory) -> int:
    return memory.pseudo_channels if memory.kind.startswith("HBM") else memory.channels


def dedicated_ps_slaves(board: Board) -> list[str]:
    """The ports of :data:`DEDICATED_PS_SLAVES` that ``board`` has (its ``ps_pl_ports``),
    in that order: how many masters a project with one port per master can wire."""
    have = {p.name for p in board.ps_pl_ports if p.direction == "pl_to_ps"}
    return [name for name in DEDICATED_PS_SLAVES if name in have]


def _dedicated(rmap: RegisterMap, board: Board) -> list[str]:
    ports = dedicated_ps_slaves(board)
    masters = [m["port"] for m in rmap.masters]
    if len(masters) > len(ports):
        raise ConfigError(f"register map of {rmap.kernel}: {len(masters)} AXI4 masters "
                          f"({', '.join(masters)}) need a PS slave port each; board "
                          f"{board.name} has {len(ports)} ({', '.join(ports) or 'none'}); "
                          f"allowed: at most {len(ports)} masters")
    return ports[:len(masters)]


def _zynq_targets(rmap: RegisterMap, board: Board, ports: list[str]) -> list[MemoryTarget]:
    slaves = [p.name for p in board.ps_pl_ports if p.direction == "pl_to_ps"]
    for ps_slave in ports:
        if ps_slave not in slaves:
            raise ConfigError(f"ps_slave = {ps_slave!r} for board {board.name}; allowed: "
                              f"{', '.join(slaves)}")
    ps = [m for m in board.memory if m.attached_to == "ps"]
    if not ps:
        raise ConfigError(f"board {board.name}: no memory with attached_to = 'ps' for the "
                          f"PS port {ports[0] if ports else DEFAULT_PS_SLAVE} to reach")
    return [MemoryTarget(m["port"], port, ps[0], 0) for m, port in zip(rmap.masters, ports)]


def _alveo_targets(rmap: RegisterMap, board: Board, sp_memory: str | None
                   ) -> list[MemoryTarget]:
    mems = {kind: [m for m in board.memory if m.kind.startswith(kind) and m.attached_to == "pl"]
            for kind in ("HBM", "DDR")}
    banks = {kind: _bank_count(found[0]) if found else 0 for kind, found in mems.items()}
    if sp_memory is None:
        kind = "HBM" if banks["HBM"] else "DDR"
        if not banks[kind]:
            raise ConfigError(f"board {board.name}: no PL-attached HBM or DDR memory for "
                              "the kernel's masters")
        return [MemoryTarget(m["port"], f"{kind}[{i % banks[kind]}]", mems[kind][0], 1)
                for i, m in enumerate(rmap.masters)]
    match = _SP_MEMORY.fullmatch(sp_memory) if isinstance(sp_memory, str) else None
    allowed = ", ".join(f"{k}[0..{n - 1}]" for k, n in banks.items() if n)
    if match is None or not banks[match[1]]:
        raise ConfigError(f"sp_memory = {sp_memory!r} for board {board.name}; allowed: "
                          f"{allowed}, or a range HBM[i:j]")
    low, high = int(match[2]), int(match[3] if match[3] is not None else match[2])
    if not low <= high < banks[match[1]]:
        raise ConfigError(f"sp_memory = {sp_memory!r}: bank out of range; allowed: {allowed}")
    return [MemoryTarget(m["port"], sp_memory, mems[match[1]][0], high - low + 1)
            for m in rmap.masters]
