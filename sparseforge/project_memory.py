"""Which memory each AXI4 master of an emitted kernel project reaches (pure Python).

The one place that knows how ``sparseforge generate`` wires a kernel's masters to
memory (``docs/projects.md``):

* **Zynq UltraScale+** (Vivado block design): every master goes through a
  SmartConnect into one PS slave port, ``S_AXI_HP0_FPD`` unless the project says
  otherwise, and from there into the PS DDR;
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
from dataclasses import dataclass

from .board_registry import Board, Memory
from .errors import ConfigError
from .regmap import RegisterMap

__all__ = ["DEFAULT_PS_SLAVE", "MemoryTarget", "memory_targets"]

#: The PS slave port a Zynq project connects the kernel's masters to by default.
DEFAULT_PS_SLAVE = "S_AXI_HP0_FPD"

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


def memory_targets(rmap: RegisterMap, board: Board, *, ps_slave: str | None = None,
                   sp_memory: str | None = None) -> list[MemoryTarget]:
    """The memory each master of ``rmap`` reaches in the project emitted for ``board``.

    Parameters
    ----------
    rmap : RegisterMap
        The kernel's register map (its ``masters``, in order).
    board : Board
        A Zynq UltraScale+ (PYNQ) board or an Alveo card.
    ps_slave : str, optional
        Zynq only: the PS slave port the masters use (default :data:`DEFAULT_PS_SLAVE`).
    sp_memory : str, optional
        Alveo only: memory of every master, ``HBM[i]``, ``HBM[i:j]`` or ``DDR[i]``.

    Returns
    -------
    list[MemoryTarget]
        One per master, in the register map's order.

    Raises
    ------
    ConfigError
        A board of another kind, a PS port the board does not have, or an
        ``sp_memory`` that is malformed or names a bank the card does not have.
    """
    if board.host.kind == "zynq_pynq":
        if sp_memory is not None:
            raise ConfigError(f"sp_memory is an Alveo option; board {board.name!r} is a "
                              "Zynq UltraScale+ board")
        return _zynq_targets(rmap, board, ps_slave or DEFAULT_PS_SLAVE)
    if board.host.kind == "alveo_xrt":
        if ps_slave is not None:
            raise ConfigError(f"ps_slave is a Zynq option; board {board.name!r} is an "
                              "Alveo card")
        return _alveo_targets(rmap, board, sp_memory)
    raise ConfigError(f"board {board.name!r}: host.kind {board.host.kind!r} has no kernel "
                      "project, so no memory its masters reach; allowed: zynq_pynq, "
                      "alveo_xrt")


def _bank_count(memory: Memory) -> int:
    return memory.pseudo_channels if memory.kind.startswith("HBM") else memory.channels


def _zynq_targets(rmap: RegisterMap, board: Board, ps_slave: str) -> list[MemoryTarget]:
    slaves = [p.name for p in board.ps_pl_ports if p.direction == "pl_to_ps"]
    if ps_slave not in slaves:
        raise ConfigError(f"ps_slave = {ps_slave!r} for board {board.name}; allowed: "
                          f"{', '.join(slaves)}")
    ps = [m for m in board.memory if m.attached_to == "ps"]
    if not ps:
        raise ConfigError(f"board {board.name}: no memory with attached_to = 'ps' for the "
                          f"PS port {ps_slave} to reach")
    return [MemoryTarget(m["port"], ps_slave, ps[0], 0) for m in rmap.masters]


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
