"""A simulated PYNQ board: unmodified host drivers run against the kernel's RTL.

Inside a cocotb simulation, :class:`SimBoard` clocks and resets the kernel
(Vitis ports ``ap_clk`` / ``ap_rst_n`` / ``interrupt``), puts a cocotbext-axi
``AxiLiteMaster`` on ``s_axi_control`` and an ``AxiSlave`` over
:class:`DeviceMemory` (the board's DDR) on every ``m_axi_*`` master, and
exposes a :class:`SimDevice` — a ``pynq.Device`` with the ``REGISTER_RW``
capability.  A driver built on it (:meth:`SimBoard.driver`, bound by VLNV as
an Overlay would) reads and writes registers through ``pynq.MMIO`` and gets
real ``PynqBuffer`` s from ``pynq.allocate(..., target=board.device)``.

Blocking driver code runs in a *scenario* thread started with
``cocotb.task.bridge``; every register access calls back into the simulator
with ``cocotb.task.resume`` and blocks while simulated time advances (the
simulator waits while the thread computes, so both never run at once).

The board's memory stalls, as a Zynq HP port or HBM does: by default every channel
of every memory port (and of the control port) gets the seeded ``mixed`` pattern
of :class:`~sparseforge.sim.lib.stalls.Stalls` (random and bursty pauses, a quarter of
the cycles); ``stalls=None`` gives an always-ready memory (for exact cycle counts).

Memory is non-coherent, as on a Zynq HP port: a buffer's host array and its
device bytes are separate; ``flush()`` copies host → device, ``invalidate()``
device → host.  New allocations are filled with :data:`POISON` on the device
side so a forgotten flush shows.  A kernel access outside every live
allocation gets an AXI ``SLVERR`` (reads return zeros) and is recorded in
:attr:`DeviceMemory.faults`; :func:`run_on_sim_board` fails the run if any are
left unread.

From pytest, :func:`run_on_sim_board` builds the Verilog with
:func:`sparseforge.sim.lib.cocotb_runner.run_cocotb` and runs one blocking
``scenario(board) -> dict`` inside the simulation; see ``docs/sim_board.md``.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import logging
import math
import os
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cocotb
import numpy as np
import pynq
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.task import bridge, resume
from cocotb.triggers import First, RisingEdge, Timer
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiResp, AxiSlave
from cocotbext.axi.sparse_memory import SparseMemory
from pynq.buffer import PynqBuffer
from pynq.overlay import _assign_drivers

from sparseforge.formats.integer import from_bits
from sparseforge.host.kernel import _SIGNED_C_TYPES, PynqIO
from sparseforge.regmap import CTRL_BITS, Arg, RegisterMap

from .stalls import Stalls, stall_axi

__all__ = [
    "POISON",
    "BufferArg",
    "ControlRegisters",
    "DeviceMemory",
    "FunctionBoard",
    "FunctionKernel",
    "MemoryFault",
    "Region",
    "RegisterAccess",
    "ScenarioError",
    "SimBoard",
    "SimBoardError",
    "SimBuffer",
    "SimDevice",
    "SimIO",
    "run_on_sim_board",
]

#: Byte pattern of fresh device memory (what a kernel reads when the host forgot to flush).
POISON = bytes.fromhex("deadbeef")
_SPEC_ENV = "SPARSEFORGE_SIM_BOARD_SPEC"
_PAGE = 4096
_EXTENT = 64  # allocations cover whole 512-bit AXI words


class SimBoardError(RuntimeError):
    """Misuse of the simulated board, a bus error, or the cycle budget exhausted."""


# --------------------------------------------------------------------------- memory


@dataclass
class Region:
    """One allocation of device memory.

    Attributes
    ----------
    address : int
        Device (physical) address, page aligned.
    nbytes : int
        Bytes asked for.
    extent : int
        Bytes the kernel may touch: ``nbytes`` rounded up to 64.
    freed : bool
    """

    address: int
    nbytes: int
    extent: int
    freed: bool = False

    @property
    def end(self) -> int:
        return self.address + self.extent


@dataclass(frozen=True)
class MemoryFault:
    """A kernel access outside every live allocation (answered with ``SLVERR``)."""

    op: str
    address: int
    length: int
    cycle: int
    reason: str

    def __str__(self) -> str:
        return (f"{self.op} of {self.length} bytes at {self.address:#x} (cycle {self.cycle}): "
                f"{self.reason}")


class DeviceMemory:
    """The board's DDR: sparse bytes from ``base``, an allocator and an access check.

    Parameters
    ----------
    base : int
        Lowest device address (non-zero by default so that address bugs show).
    size : int
        Bytes of memory.
    clock : callable, optional
        Returns the current cycle, for fault records.
    """

    def __init__(self, base: int = 0x1000_0000, size: int = 64 << 20,
                 clock: Callable[[], int] = lambda: 0):
        if base % _PAGE or size <= 0:
            raise ValueError(f"memory base = {base:#x}, size = {size}: base must be "
                             f"{_PAGE}-byte aligned and size positive")
        self.base, self.size = base, size
        self.regions: list[Region] = []  # live, sorted by address
        self.faults: list[MemoryFault] = []
        self._bytes = SparseMemory(base + size)
        self._clock = clock

    # -- allocation
    def allocate(self, nbytes: int) -> Region:
        """A page-aligned region (first fit), device bytes filled with :data:`POISON`."""
        extent = -(-max(nbytes, 1) // _EXTENT) * _EXTENT
        address = self.base
        for r in self.regions:
            if address + extent <= r.address:
                break
            address = -(-r.end // _PAGE) * _PAGE
        if address + extent > self.base + self.size:
            raise MemoryError(f"device memory exhausted: {nbytes} bytes asked, "
                              f"{self.size} bytes at {self.base:#x} with "
                              f"{len(self.regions)} live buffers")
        region = Region(address, nbytes, extent)
        self.regions.append(region)
        self.regions.sort(key=lambda r: r.address)
        self._bytes.write(address, (POISON * -(-extent // len(POISON)))[:extent])
        return region

    def free(self, region: Region) -> None:
        """Release ``region``; later kernel accesses to it are faults."""
        if not region.freed:
            region.freed = True
            self.regions.remove(region)

    def region_of(self, address: int, length: int) -> Region | None:
        """The live region holding ``[address, address + length)``, or None."""
        for r in self.regions:
            if r.address <= address and address + length <= r.end:
                return r
        return None

    # -- host side (backdoor) access
    def read(self, address: int, length: int) -> bytes:
        """Device bytes, read by the host (inside a live buffer only)."""
        self._check_host(address, length)
        return self._bytes.read(address, length)

    def write(self, address: int, data: bytes) -> None:
        """Write device bytes from the host (inside a live buffer only)."""
        self._check_host(address, len(data))
        self._bytes.write(address, bytes(data))

    def _check_host(self, address: int, length: int) -> None:
        if self.region_of(address, length) is None:
            raise SimBoardError(f"host access of {length} bytes at {address:#x} is outside "
                                "every live buffer")

    # -- kernel side (AXI slave target)
    def kernel_access(self, op: str, address: int, length: int) -> None:
        """Record and raise for a kernel access outside every live allocation."""
        if self.region_of(address, length) is not None:
            return
        inside = self.base <= address and address + length <= self.base + self.size
        reason = "outside every live buffer" if inside else (
            f"outside device memory [{self.base:#x}, {self.base + self.size:#x})")
        fault = MemoryFault(op, address, length, self._clock(), reason)
        self.faults.append(fault)
        raise SimBoardError(str(fault))

    def take_faults(self) -> list[MemoryFault]:
        """The faults recorded so far (and forget them)."""
        faults, self.faults = self.faults, []
        return faults


class _KernelPort:
    """``AxiSlave`` target: the kernel's view of :class:`DeviceMemory`."""

    def __init__(self, memory: DeviceMemory):
        self.memory = memory

    async def read(self, address: int, length: int) -> bytes:
        self.memory.kernel_access("read", address, length)
        return self.memory._bytes.read(address, length)

    async def write(self, address: int, data: bytes) -> None:
        self.memory.kernel_access("write", address, len(data))
        self.memory._bytes.write(address, bytes(data))


# --------------------------------------------------------------------------- pynq side


class SimBuffer(PynqBuffer):
    """A ``PynqBuffer`` whose device side lives in :class:`DeviceMemory`.

    ``flush()`` / ``invalidate()`` copy between the host array and device memory;
    ``freebuffer()`` (also on ``with`` exit) frees the region.
    """

    def freebuffer(self):
        region = getattr(self, "_sim_region", None)  # views carry none
        if region is not None:
            self._sim_region = None
            self.freed = True
            self.device.free(region)


class SimIO(PynqIO):
    """:class:`~sparseforge.host.kernel.PynqIO` on simulated time and the ``interrupt`` port."""

    def __init__(self, mmio, board: _Board):
        super().__init__(mmio, interrupt=board if board.has_interrupt else None)
        self.board = board

    def now(self) -> float:
        return self.board.sim_seconds

    def sleep(self, seconds: float) -> None:
        self.board.sleep(seconds)

    def interrupt_problem(self) -> str | None:
        return None if self.board.has_interrupt else "the kernel has no interrupt port"

    def wait_interrupt(self, timeout: float) -> bool:
        return self.board.wait_interrupt(timeout)


class SimDevice(pynq.Device):
    """``pynq.Device`` of the simulated board (capability ``REGISTER_RW``).

    Register reads / writes go to the board's control port (control slave at
    ``board.ctrl_base``): AXI4-Lite transactions on the RTL's ``s_axi_control``
    (:class:`SimBoard`) or the register file of a :class:`FunctionBoard`;
    :meth:`allocate` returns :class:`SimBuffer` s in the board's :class:`DeviceMemory`.
    """

    def __init__(self, board: _Board, tag: str = "sim0"):
        super().__init__(tag)
        self.capabilities = {"REGISTER_RW": True}
        self.board = board
        self.name = "sparseforge simulated board"
        #: Register reads + writes so far (tests check that bad input made none).
        self.register_accesses = 0

    # -- REGISTER_RW
    def read_registers(self, address: int, length: int) -> bytes:
        self.register_accesses += 1
        return self.board.read_control(address, length)

    def write_registers(self, address: int, data: bytes) -> None:
        self.register_accesses += 1
        self.board.write_control(address, bytes(data))

    # -- buffers
    def allocate(self, shape, dtype="u4", cacheable: bool = True, **kwargs) -> SimBuffer:
        """A buffer of ``shape`` / ``dtype`` (``cacheable`` is accepted and ignored)."""
        if kwargs:
            raise TypeError(f"allocate() got unexpected arguments {sorted(kwargs)}")
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        region = self.board.memory.allocate(count * dtype.itemsize)
        host = np.zeros(count * dtype.itemsize, np.uint8)
        buf = SimBuffer(shape, dtype, buffer=host, device=self, device_address=region.address,
                        bo=region, coherent=False)
        buf._sim_region = region
        return buf

    def free(self, region: Region) -> None:
        """Free a buffer's region (what ``SimBuffer.freebuffer`` calls)."""
        self.board.memory.free(region)

    def flush(self, bo: Region, offset: int, ptr: int, size: int) -> None:
        """Host → device copy of ``size`` bytes at ``offset`` of buffer ``bo``."""
        self._check_sync("flush", bo, offset, size)
        self.board.memory.write(bo.address + offset, ctypes.string_at(ptr, size))

    def invalidate(self, bo: Region, offset: int, ptr: int, size: int) -> None:
        """Device → host copy of ``size`` bytes at ``offset`` of buffer ``bo``."""
        self._check_sync("invalidate", bo, offset, size)
        data = self.board.memory.read(bo.address + offset, size)
        ctypes.memmove(ptr, data, size)

    @staticmethod
    def _check_sync(op: str, bo: Region, offset: int, size: int) -> None:
        if bo.freed:
            raise SimBoardError(f"{op} of a freed buffer (device address {bo.address:#x})")
        if offset < 0 or offset + size > bo.nbytes:
            raise SimBoardError(f"{op} of {size} bytes at offset {offset} overruns the "
                                f"{bo.nbytes}-byte buffer at {bo.address:#x}")

    # -- hook read by KernelDriver
    def kernel_io(self, driver) -> SimIO:
        """The IO :class:`~sparseforge.host.kernel.KernelDriver` uses on this device."""
        return SimIO(driver.mmio, self.board)


# --------------------------------------------------------------------------- the board


class _Board:
    """What every simulated board shares: the device, the memory, the IP description
    and driver binding, and the control slave's address window.

    A board supplies the control port (``read_control(address, length) -> bytes``,
    ``write_control(address, data)``: one 32-bit AXI4-Lite access each, as pynq's
    ``MMIO`` makes them), time (``cycles``, ``sim_seconds``, ``sleep``,
    ``wait_cycles``) and the interrupt (``has_interrupt``, ``interrupt_level``,
    ``wait_interrupt``); :class:`SimDevice` and :class:`SimIO` reach the kernel only
    through those.  Subclasses set ``regmap``, ``ctrl_base``, ``memory``, ``device``
    and ``params``.
    """

    regmap: RegisterMap
    ctrl_base: int
    memory: DeviceMemory
    device: SimDevice
    params: dict

    # -- drivers
    def ip_description(self, pass_regmap: bool = True) -> dict:
        """The kernel's entry of an Overlay's ``ip_dict`` (as pynq parses a ``.hwh``).

        With ``pass_regmap`` the register map rides along as ``"regmap"`` (a real
        Overlay has none; drivers then need ``REGMAP`` or ``regmap.json``).
        """
        rmap = self.regmap
        registers = {}
        for w in rmap.words():
            fields = rmap.register(w["name"]).fields if w["name"] in {
                r.name for r in rmap.registers} else {}
            access = {"ro": "read-only", "cor": "read-only", "wo": "write-only"}.get(
                w["access"], "read-write")
            registers[w["name"]] = {
                "address_offset": w["offset"], "size": 32, "access": access,
                "description": w["doc"],
                "fields": {f: {"bit_offset": bit, "bit_width": 1, "access": access,
                               "description": f} for f, bit in fields.items()}}
        desc = {"type": rmap.vlnv, "fullpath": f"{rmap.kernel}_1", "phys_addr": self.ctrl_base,
                "addr_range": rmap.address_range, "mem_id": "s_axi_control", "state": None,
                "bdtype": None, "gpio": {}, "interrupts": {}, "registers": registers,
                "parameters": {"C_S_AXI_CONTROL_ADDR_WIDTH": str(rmap.control_addr_bits)},
                "device": self.device}
        if pass_regmap:
            desc["regmap"] = rmap.to_dict()
        return desc

    def driver(self, cls: type | None = None, *, pass_regmap: bool = True,
               ignore_version: bool = False):
        """A driver instance for the kernel, built as ``pynq.Overlay`` builds one.

        Without ``cls`` the class is bound by the kernel's VLNV through pynq's
        driver registry (every ``DefaultIP`` subclass with the VLNV in ``bindto``;
        ``pynq.DefaultIP`` when none).
        """
        desc = self.ip_description(pass_regmap)
        if cls is None:
            _assign_drivers({"ip": {desc["fullpath"]: desc}, "hierarchies": {}},
                            ignore_version, self.device)
            cls = desc["driver"]
        else:
            desc["driver"] = cls
        return cls(desc)

    def allocate(self, shape, dtype="u4") -> SimBuffer:
        """``pynq.allocate(shape, dtype, target=self.device)``."""
        return pynq.allocate(shape, dtype, target=self.device)

    def _ctrl_offset(self, address: int, length: int) -> int:
        offset = address - self.ctrl_base
        if offset < 0 or offset + length > self.regmap.address_range:
            raise SimBoardError(f"register access at {address:#x} ({length} bytes) is outside "
                                f"{self.regmap.kernel}'s control slave [{self.ctrl_base:#x}, "
                                f"{self.ctrl_base + self.regmap.address_range:#x})")
        return offset


class SimBoard(_Board):
    """The kernel's testbench as a PYNQ board; build it with :meth:`create`.

    Attributes
    ----------
    dut : cocotb handle
    regmap : RegisterMap
    device : SimDevice
    memory : DeviceMemory
    axil : cocotbext.axi.AxiLiteMaster
    params : dict
        Free-form parameters of the scenario (``run_on_sim_board(params=...)``).
    ctrl_base : int
        Physical address of the control slave.
    stalls : Stalls
        The stall pattern of the memory and control ports (``stalls`` option: a
        :class:`~sparseforge.sim.lib.stalls.Stalls`, its dict, a kind name, or None for
        none; default ``"mixed"``).  Port ``p`` draws from ``stalls.seed`` and
        ``p``'s name, so a run repeats exactly.
    """

    def __init__(self, dut, regmap: RegisterMap, *, ram_base: int = 0x1000_0000,
                 ram_bytes: int = 64 << 20, ctrl_base: int = 0xA000_0000,
                 clock_mhz: float = 100.0, max_cycles: int | None = None,
                 params: dict | None = None, stalls: Stalls | dict | str | None = "mixed"):
        self.dut, self.regmap = dut, regmap
        self.stalls = Stalls.of(stalls)
        self.ctrl_base = ctrl_base
        self.params = dict(params or {})
        self.max_cycles = max_cycles
        self.period_ps = 2 * max(1, round(1e6 / clock_mhz / 2))
        self._t0_ps = 0.0
        self._sim_thread = threading.get_ident()
        self.memory = DeviceMemory(ram_base, ram_bytes, clock=lambda: self.cycles)
        self.device = SimDevice(self)

    @classmethod
    async def create(cls, dut, regmap: RegisterMap, **options) -> SimBoard:
        """Start ``ap_clk``, attach the bus models, hold ``ap_rst_n`` low for 8 cycles.

        ``options`` are the constructor's keyword arguments.
        """
        board = cls(dut, regmap, **options)
        Clock(dut.ap_clk, board.period_ps, unit="ps").start()
        dut.ap_rst_n.value = 0
        board.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.ap_clk,
                                   dut.ap_rst_n, reset_active_level=False)
        board.slaves = [AxiSlave(AxiBus.from_prefix(dut, m["port"]), dut.ap_clk, dut.ap_rst_n,
                                 target=_KernelPort(board.memory), reset_active_level=False)
                        for m in regmap.masters]
        for model in (board.axil, *board.slaves):
            for side in (model.write_if, model.read_if):
                side.log.setLevel(logging.WARNING)  # one INFO line per transaction otherwise
        stall_axi(board.axil, board.stalls, "s_axi_control")
        for m, slave in zip(regmap.masters, board.slaves):
            stall_axi(slave, board.stalls, m["port"])
        for _ in range(8):
            await RisingEdge(dut.ap_clk)
        dut.ap_rst_n.value = 1
        await RisingEdge(dut.ap_clk)
        board._t0_ps = get_sim_time("ps")
        return board

    # -- time
    @property
    def cycles(self) -> int:
        """``ap_clk`` cycles since the end of the reset."""
        return int((get_sim_time("ps") - self._t0_ps) // self.period_ps)

    @property
    def sim_seconds(self) -> float:
        """Simulated seconds since the end of the reset."""
        return (get_sim_time("ps") - self._t0_ps) * 1e-12

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass (blocking; scenario thread)."""
        ps = round(seconds * 1e12)
        if ps > 0:
            self._call(Timer, ps, unit="ps")

    def wait_cycles(self, n: int) -> None:
        """Let ``n`` clock cycles pass (blocking; scenario thread)."""
        if n > 0:
            self._call(Timer, n * self.period_ps, unit="ps")

    # -- interrupt
    @property
    def has_interrupt(self) -> bool:
        return hasattr(self.dut, "interrupt")

    @property
    def interrupt_level(self) -> int:
        return int(self.dut.interrupt.value)

    def wait_interrupt(self, timeout: float) -> bool:
        """Block until ``interrupt`` is high; False after ``timeout`` simulated seconds."""
        return self._call(self._wait_irq, timeout)

    async def _wait_irq(self, timeout: float) -> bool:
        if not self.interrupt_level:
            await First(RisingEdge(self.dut.interrupt),
                        Timer(max(1, round(timeout * 1e12)), unit="ps"))
        return bool(self.interrupt_level)

    # -- running blocking code
    async def run(self, func: Callable, *args, **kwargs):
        """Run blocking ``func(self, *args, **kwargs)`` in a bridge thread; its result.

        ``pynq.Device.active_device`` is this board's device meanwhile, so
        ``pynq.allocate(shape)`` without ``target`` lands here too.
        """
        had = "_active_device" in pynq.Device.__dict__
        previous = pynq.Device.__dict__.get("_active_device")
        pynq.Device.active_device = self.device
        try:
            return await bridge(func)(self, *args, **kwargs)
        finally:
            if had:
                pynq.Device.active_device = previous
            else:
                del pynq.Device._active_device

    def _call(self, coro_fn, *args, **kwargs):
        """Run a coroutine function (or trigger) from the scenario thread and block."""
        if threading.get_ident() == self._sim_thread:
            raise SimBoardError("blocking board access from the simulator's own thread; run "
                                "blocking code with `await board.run(func)` (or use "
                                "board.axil / board.memory directly in async code)")
        if self.max_cycles is not None and self.cycles > self.max_cycles:
            raise SimBoardError(f"the simulation ran {self.cycles} cycles, more than "
                                f"max_cycles = {self.max_cycles}")

        async def call():
            return await coro_fn(*args, **kwargs)

        return resume(call)()

    # -- control port (SimDevice's REGISTER_RW)
    def read_control(self, address: int, length: int) -> bytes:
        """One AXI4-Lite read of ``s_axi_control`` (blocking; scenario thread)."""
        return self._call(self._axil_read, address, length)

    def write_control(self, address: int, data: bytes) -> None:
        """One AXI4-Lite write of ``s_axi_control`` (blocking; scenario thread)."""
        self._call(self._axil_write, address, bytes(data))

    async def _axil_read(self, address: int, length: int) -> bytes:
        offset = self._ctrl_offset(address, length)
        resp = await self.axil.read(offset, length)
        if resp.resp != AxiResp.OKAY:
            raise SimBoardError(f"s_axi_control read at {offset:#x} answered {resp.resp.name}")
        return bytes(resp.data)

    async def _axil_write(self, address: int, data: bytes) -> None:
        offset = self._ctrl_offset(address, len(data))
        resp = await self.axil.write(offset, data)
        if resp.resp != AxiResp.OKAY:
            raise SimBoardError(f"s_axi_control write at {offset:#x} answered "
                                f"{resp.resp.name}")


# --------------------------------------------------------------------------- function kernels


@dataclass(frozen=True)
class BufferArg:
    """How a :class:`FunctionKernel` sees one pointer argument of the register map.

    Attributes
    ----------
    name : str
        The argument (a ``pointer`` of the register map).
    dtype : str
        Element type in memory, a little-endian numpy integer type: ``"<u1"`` (8 bits,
        unsigned), ``"<i2"`` / ``"<i4"`` (16 / 32 bits, two's complement) ...
    count : int
        Elements the kernel reads or writes from the pointer on.
    direction : {"in", "out", "inout"}
        ``in``: the kernel only reads it (its function may not return it).
    """

    name: str
    dtype: str
    count: int
    direction: str = "in"

    def __post_init__(self) -> None:
        if np.dtype(self.dtype).kind not in "iu" or self.count < 1 or \
                self.direction not in ("in", "out", "inout"):
            raise ValueError(f"buffer {self.name}: dtype {self.dtype!r}, count {self.count}, "
                             f"direction {self.direction!r}; allowed: an integer dtype, a "
                             "positive count, in / out / inout")

    @property
    def nbytes(self) -> int:
        """Bytes the kernel touches: ``count`` times the element size."""
        return self.count * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class FunctionKernel:
    """A kernel whose implementation is a Python callable (a C-sim build, a model).

    At ``ap_start`` a :class:`FunctionBoard` calls ``compute(values)`` with one raw
    ``int64`` array per argument of the register map: for a pointer its ``count``
    elements read from device memory in their ``dtype`` (sign- or zero-extended), for a
    scalar its register value as a one-element array (two's complement for signed C
    types).  ``compute`` returns ``{pointer name: values}`` for the buffers it writes;
    they reach device memory, in their ``dtype``, at ``ap_done``; an entry named after a
    read-only register of the map (an HLS function's ``ap_return``, e.g. ``STATUS``)
    sets that register at ``ap_done``.

    Attributes
    ----------
    buffers : tuple of BufferArg
        One per pointer argument of the register map.
    compute : callable
        ``compute(values: dict[str, ndarray]) -> Mapping[str, array-like]``.
    cycles : int or callable
        Kernel clock cycles from ``ap_start`` to ``ap_done``: a number, or
        ``cycles(values) -> int`` (a latency model).
    """

    buffers: tuple[BufferArg, ...]
    compute: Callable[[dict], Mapping]
    cycles: int | Callable[[dict], float] = 1000


@dataclass(frozen=True)
class RegisterAccess:
    """One control-port access of a :class:`FunctionBoard` (``board.accesses``)."""

    op: str  # "read" or "write"
    offset: int
    value: int
    cycle: int


class ControlRegisters:
    """The ``ap_ctrl_hs`` control slave of a register map, as a register file.

    It behaves as the RTL slave of ``hwgen/lib/axi_lite.py`` and Vitis HLS'
    ``s_axilite`` do: ``CTRL`` bit 0 ``ap_start`` (set by writing 1, held while the
    kernel runs, then ``auto_restart``), bits 1 ``ap_done`` and 3 ``ap_ready`` (set when
    the kernel finishes, cleared by a read of ``CTRL``), bit 2 ``ap_idle`` (not running),
    bit 7 ``auto_restart`` (read / write); ``GIE`` bit 0, ``IER`` bits 1:0, ``ISR``
    bits 1:0 (set at the finish where ``IER`` enables them; writing 1 toggles a bit);
    ``interrupt = GIE & |ISR``.  Argument words (and other registers) read back what
    was written; the map's other offsets read 0 and ignore writes.
    """

    def __init__(self, regmap: RegisterMap):
        self.regmap = regmap
        self._ctrl = {r: regmap.register(r).offset for r in ("CTRL", "GIE", "IER", "ISR")}
        self.words = {w["offset"]: 0 for w in regmap.words()
                      if w["offset"] not in self._ctrl.values()}
        self.ap_start = self.ap_done = self.ap_ready = self.auto_restart = False
        self.running = False
        self.gie, self.ier, self.isr = 0, 0, 0

    @property
    def interrupt(self) -> bool:
        """The ``interrupt`` line."""
        return bool(self.gie and self.isr)

    def read(self, offset: int) -> int:
        """The 32-bit word at ``offset`` (a ``CTRL`` read clears ap_done / ap_ready)."""
        if offset == self._ctrl["CTRL"]:
            value = (self.ap_start << CTRL_BITS["ap_start"] | self.ap_done << CTRL_BITS["ap_done"]
                     | (not self.running) << CTRL_BITS["ap_idle"]
                     | self.ap_ready << CTRL_BITS["ap_ready"]
                     | self.auto_restart << CTRL_BITS["auto_restart"])
            self.ap_done = self.ap_ready = False
            return value
        if offset == self._ctrl["GIE"]:
            return self.gie
        if offset == self._ctrl["IER"]:
            return self.ier
        if offset == self._ctrl["ISR"]:
            return self.isr
        return self.words.get(offset, 0)

    def write(self, offset: int, value: int) -> bool:
        """Write a word; True when it starts the kernel (``ap_start`` while idle)."""
        if offset == self._ctrl["CTRL"]:
            self.auto_restart = bool(value >> CTRL_BITS["auto_restart"] & 1)
            if value >> CTRL_BITS["ap_start"] & 1:
                self.ap_start = True
                return not self.running
            return False
        if offset == self._ctrl["GIE"]:
            self.gie = value & 1
        elif offset == self._ctrl["IER"]:
            self.ier = value & 3
        elif offset == self._ctrl["ISR"]:
            self.isr ^= value & 3
        elif offset in self.words:
            self.words[offset] = value & 0xFFFF_FFFF
        return False

    def arg_value(self, arg: Arg) -> int:
        """An argument's register value (64-bit ones from two words, low first), as the
        C type reads it (signed types in two's complement)."""
        raw = sum(self.words[arg.offset + 4 * i] << (32 * i) for i in range(arg.bits // 32))
        return from_bits(raw, arg.bits) if arg.c_type in _SIGNED_C_TYPES else raw

    def finish(self) -> None:
        """The kernel is done: ap_done, ap_ready, ISR where IER enables, ap_start =
        auto_restart."""
        self.running = False
        self.ap_done = self.ap_ready = True
        self.isr |= self.ier
        self.ap_start = self.auto_restart


@dataclass
class _Run:
    done_at: int  # cycle
    writes: list[tuple[str, int, bytes]]  # (argument, address, bytes) at ap_done


class FunctionBoard(_Board):
    """A simulated board whose kernel is a :class:`FunctionKernel` (no RTL, no cocotb).

    The control registers are a :class:`ControlRegisters` built from the register map;
    drivers reach them through the same path as on :class:`SimBoard` (pynq ``MMIO`` →
    :class:`SimDevice` ``REGISTER_RW`` → :meth:`read_control` / :meth:`write_control`),
    and buffers are :class:`SimBuffer` s in a :class:`DeviceMemory`.  Writing
    ``ap_start`` reads the argument registers, maps every pointer to the live buffer it
    points into (:class:`SimBoardError` naming the argument and the address when the
    argument's ``count`` elements do not lie inside one: nothing is read, written or
    started), converts the bytes to raw ``int64`` arrays and calls the function; what
    it returns is written back to memory, and ``ap_done`` / ``ap_idle`` / ``ISR`` set,
    once ``kernel.cycles`` cycles have passed.

    Time is simulated and passes only through the board: every register access takes
    ``access_cycles`` cycles (so a driver polling ``CTRL`` back to back still lets the
    kernel finish), ``sleep`` and ``wait_interrupt`` the time asked for.  Everything runs
    in the caller's thread; ``max_cycles`` bounds a runaway driver loop.

    Parameters
    ----------
    regmap : RegisterMap
    kernel : FunctionKernel
    ram_base, ram_bytes, ctrl_base, clock_mhz, max_cycles, params :
        As for :class:`SimBoard`.
    access_cycles : int
        Cycles one register access takes (default 8).
    interrupt : bool
        Whether the kernel's ``interrupt`` pin is connected (default True).

    Attributes
    ----------
    accesses : list[RegisterAccess]
        Every control-port access in order (offset, value, cycle).
    starts : int
        Kernel starts so far.
    """

    def __init__(self, regmap: RegisterMap, kernel: FunctionKernel, *,
                 ram_base: int = 0x1000_0000, ram_bytes: int = 64 << 20,
                 ctrl_base: int = 0xA000_0000, clock_mhz: float = 100.0,
                 access_cycles: int = 8, max_cycles: int | None = None,
                 params: dict | None = None, interrupt: bool = True):
        pointers = [a.name for a in regmap.args if a.kind == "pointer"]
        given = [b.name for b in kernel.buffers]
        if sorted(given) != sorted(pointers):
            raise ValueError(f"kernel buffers {given} do not match {regmap.kernel}'s pointer "
                             f"arguments {pointers}; allowed: one BufferArg per pointer")
        self.regmap, self.kernel = regmap, kernel
        self.ctrl_base = ctrl_base
        self.params = dict(params or {})
        self.max_cycles = max_cycles
        self.access_cycles = access_cycles
        self.period_ps = 2 * max(1, round(1e6 / clock_mhz / 2))
        self.regs = ControlRegisters(regmap)
        self.accesses: list[RegisterAccess] = []
        self.starts = 0
        self._interrupt = interrupt
        self._cycle = 0
        self._run: _Run | None = None
        self._specs = {b.name: b for b in kernel.buffers}
        self.memory = DeviceMemory(ram_base, ram_bytes, clock=lambda: self.cycles)
        self.device = SimDevice(self)

    # -- time
    @property
    def cycles(self) -> int:
        """Kernel clock cycles since the board was made."""
        return self._cycle

    @property
    def sim_seconds(self) -> float:
        return self._cycle * self.period_ps * 1e-12

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass (whole cycles, at least one)."""
        if seconds > 0:
            self.wait_cycles(max(1, math.ceil(seconds * 1e12 / self.period_ps)))

    def wait_cycles(self, n: int) -> None:
        if n > 0:
            self._advance(n)

    # -- interrupt
    @property
    def has_interrupt(self) -> bool:
        return self._interrupt

    @property
    def interrupt_level(self) -> int:
        return int(self._interrupt and self.regs.interrupt)

    def wait_interrupt(self, timeout: float) -> bool:
        """Until ``interrupt`` is high (the run finishing first), or ``timeout`` seconds."""
        end = self._cycle + max(1, math.ceil(timeout * 1e12 / self.period_ps))
        if not self.interrupt_level and self._run is not None and self._run.done_at <= end:
            self._advance(max(0, self._run.done_at - self._cycle))
        if not self.interrupt_level:
            self._advance(max(0, end - self._cycle))
        return bool(self.interrupt_level)

    # -- control port (SimDevice's REGISTER_RW)
    def read_control(self, address: int, length: int) -> bytes:
        """One 32-bit read of the register file (``access_cycles`` pass first)."""
        offset = self._word_offset(address, length)
        self._advance(self.access_cycles)
        value = self.regs.read(offset)
        self.accesses.append(RegisterAccess("read", offset, value, self._cycle))
        return value.to_bytes(4, "little")

    def write_control(self, address: int, data: bytes) -> None:
        """One 32-bit write of the register file; ``ap_start`` starts the kernel."""
        offset = self._word_offset(address, len(data))
        self._advance(self.access_cycles)
        value = int.from_bytes(data, "little")
        self.accesses.append(RegisterAccess("write", offset, value, self._cycle))
        if self.regs.write(offset, value):
            self._start()

    # -- the kernel
    def _start(self) -> None:
        try:
            values, places = self._read_arguments()
            self.regs.running = True
            outputs = self.kernel.compute(values)
            writes = self._outputs(outputs, places)
            cycles = self.kernel.cycles(values) if callable(self.kernel.cycles) \
                else self.kernel.cycles
        except BaseException:
            self.regs.running = self.regs.ap_start = False  # the kernel did not start
            raise
        self.starts += 1
        self._run = _Run(self._cycle + max(1, math.ceil(cycles)), writes)

    def _read_arguments(self) -> tuple[dict[str, np.ndarray], dict[str, int]]:
        """Every argument as raw int64 (pointers: their elements), after every pointer
        check; and each pointer's address."""
        values, places = {}, {}
        for arg in self.regmap.args:
            value = self.regs.arg_value(arg)
            if arg.kind == "scalar":
                values[arg.name] = np.array([value], np.int64)
                continue
            spec = self._specs[arg.name]
            self._check_pointer(spec, value)
            places[arg.name] = value
        for name, address in places.items():  # read only once every pointer passed
            spec = self._specs[name]
            raw = self.memory._bytes.read(address, spec.nbytes)
            values[name] = np.frombuffer(raw, spec.dtype).astype(np.int64)
        return values, places

    def _check_pointer(self, spec: BufferArg, address: int) -> None:
        need = spec.nbytes
        where = (f"{self.regmap.kernel}: argument {spec.name} = {address:#x} ({spec.count} "
                 f"elements of {np.dtype(spec.dtype).itemsize} bytes = {need} bytes)")
        region = next((r for r in self.memory.regions
                       if r.address <= address < r.address + r.nbytes), None)
        if region is not None and address + need <= region.address + region.nbytes:
            return
        if region is None:
            inside = self.memory.base <= address < self.memory.base + self.memory.size
            reason = "points outside every live buffer" if inside else (
                f"points outside device memory [{self.memory.base:#x}, "
                f"{self.memory.base + self.memory.size:#x})")
        else:
            reason = (f"runs past the end of the {region.nbytes}-byte buffer at "
                      f"{region.address:#x}: {region.address + region.nbytes - address} bytes "
                      "from the pointer on")
        op = "read" if spec.direction != "out" else "write"
        self.memory.faults.append(MemoryFault(op, address, need, self._cycle, reason))
        raise SimBoardError(f"{where} {reason}; the kernel was not started (allowed: a "
                            f"pointer with {need} bytes of one live buffer from it on)")

    def _outputs(self, outputs: Mapping, places: dict[str, int]) -> list:
        writes = []
        returned = {r.name: r.offset for r in self.regmap.registers if r.access == "ro"}
        for name, values in outputs.items():
            if name in returned:  # the function's return value (ap_return) or a status
                value = int(np.asarray(values).ravel()[0])
                writes.append((f"register {name}", -1 - returned[name],
                               (value & 0xFFFF_FFFF).to_bytes(4, "little")))
                continue
            spec = self._specs.get(name)
            if spec is None or spec.direction == "in":
                allowed = [b.name for b in self.kernel.buffers if b.direction != "in"]
                raise SimBoardError(f"{self.regmap.kernel}: the kernel function returned "
                                    f"{name!r}; allowed: the buffers it writes, {allowed}")
            arr = np.asarray(values).ravel()
            info = np.iinfo(spec.dtype)
            if arr.size != spec.count or arr.dtype.kind not in "iu" or (
                    arr.size and (arr.min() < info.min or arr.max() > info.max)):
                raise SimBoardError(f"{self.regmap.kernel}: the kernel function returned "
                                    f"{arr.size} values of {arr.dtype} for {name}; allowed: "
                                    f"{spec.count} integers {info.min} to {info.max} "
                                    f"({spec.dtype})")
            writes.append((name, places[name], arr.astype(spec.dtype).tobytes()))
        return writes

    def _advance(self, n: int) -> None:
        self._cycle += n
        run = self._run
        if run is not None and self._cycle >= run.done_at:
            self._run = None
            for name, address, data in run.writes:
                if address < 0:  # a read-only register (offset -1 - address)
                    self.regs.words[-1 - address] = int.from_bytes(data, "little")
                    continue
                if self.memory.region_of(address, len(data)) is None:  # freed meanwhile
                    self.memory.faults.append(MemoryFault(
                        "write", address, len(data), run.done_at,
                        f"argument {name}: the buffer was freed while the kernel ran"))
                    continue
                self.memory._bytes.write(address, data)
            self.regs.finish()
            if self.regs.ap_start:  # auto_restart
                self._start()
        if self.max_cycles is not None and self._cycle > self.max_cycles:
            raise SimBoardError(f"the simulation ran {self._cycle} cycles, more than "
                                f"max_cycles = {self.max_cycles}")

    def _word_offset(self, address: int, length: int) -> int:
        offset = self._ctrl_offset(address, length)
        if length != 4 or offset % 4:
            raise SimBoardError(f"register access of {length} bytes at {address:#x}; allowed: "
                                "one aligned 32-bit word")
        return offset


# --------------------------------------------------------------------------- scenarios


class ScenarioError(RuntimeError):
    """A scenario failed inside the simulation.

    Attributes
    ----------
    exc_type : str
        Qualified name of the exception raised in the simulation.
    remote_traceback : str
        Its traceback there.
    """

    def __init__(self, exc_type: str, message: str, remote_traceback: str):
        super().__init__(f"{exc_type}: {message}\n\n--- traceback inside the simulation ---\n"
                         f"{remote_traceback}")
        self.exc_type, self.remote_traceback = exc_type, remote_traceback


def _import_scenario(ref: str) -> Callable:
    """The function ``package.module:function`` (ValueError for a malformed reference)."""
    module, _, name = ref.partition(":")
    if not module or not name or not all(p.isidentifier() for p in (*module.split("."), name)):
        raise ValueError(f"scenario = {ref!r}; allowed: 'package.module:function'")
    func = getattr(importlib.import_module(module), name, None)
    if not callable(func):
        raise ValueError(f"scenario = {ref!r}: module {module} has no function {name!r}")
    return func


def _import_root(ref: str) -> str:
    """The ``sys.path`` folder the scenario's module was imported from."""
    module = ref.partition(":")[0]
    depth = module.count(".")
    return str(Path(sys.modules[module].__file__).resolve().parents[depth])


def _sim_env(scenario: str, spec_path: Path) -> dict:
    """The bench's environment: the spec, and pytest's assertion rewriting (which cocotb
    applies to every module by default, tripling pynq's import time) for the scenario's
    module only."""
    module = sys.modules[scenario.partition(":")[0]]
    return {_SPEC_ENV: str(spec_path),
            "COCOTB_REWRITE_ASSERTION_FILES": os.environ.get(
                "COCOTB_REWRITE_ASSERTION_FILES", Path(module.__file__).name)}


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, bytes):
        return obj.hex()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


@cocotb.test()
async def sim_board_scenario(dut):
    """Run the scenario named by the spec file in ``$SPARSEFORGE_SIM_BOARD_SPEC``."""
    spec = json.loads(Path(os.environ[_SPEC_ENV]).read_text())
    out = Path(spec["result"])
    if spec["path"] not in sys.path:
        sys.path.insert(0, spec["path"])
    try:
        board = await SimBoard.create(dut, RegisterMap.from_dict(spec["regmap"]),
                                      params=spec["params"], **spec["board"])
        result = await board.run(_import_scenario(spec["scenario"]))
        faults = board.memory.take_faults()
        if faults and not spec["allow_faults"]:
            raise SimBoardError(f"{len(faults)} kernel memory fault(s): "
                                + "; ".join(map(str, faults[:8])))
        outcome = {"ok": True, "result": result, "cycles": board.cycles,
                   "faults": [asdict(f) for f in faults]}
        text = json.dumps(outcome, default=_json_default)
    except Exception as exc:
        outcome = {"ok": False, "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
                   "message": str(exc), "traceback": "".join(traceback.format_exception(exc))}
        text = json.dumps(outcome)
    out.write_text(text)
    if not outcome["ok"]:  # reported through the result file; the cocotb test passes
        dut._log.error("scenario failed:\n%s", outcome["traceback"])


def run_on_sim_board(sources: Sequence[Path | str], top: str, scenario: str,
                     build_dir: Path | str, *, regmap: RegisterMap | dict | str | Path,
                     params: dict | None = None, allow_faults: bool = False,
                     ram_base: int = 0x1000_0000, ram_bytes: int = 64 << 20,
                     ctrl_base: int = 0xA000_0000, clock_mhz: float = 100.0,
                     max_cycles: int | None = None,
                     stalls: Stalls | dict | str | None = "mixed",
                     simulator: str = "verilator",
                     build_args: Sequence[str] = (), waves: bool = False,
                     waivers: Sequence = ()) -> dict:
    """Build ``sources`` and run blocking ``scenario(board) -> dict`` on the simulated board.

    Parameters
    ----------
    sources, top : Verilog files and the kernel's top module.
    scenario : str
        ``"package.module:function"``, importable in the simulation (it gets this
        process's ``sys.path``).
    build_dir : path
        Build folder; re-used (and the build cached) between calls.  Each call runs
        in a fresh sub-folder ``run_*`` of it.
    regmap : RegisterMap, dict or path of ``regmap.json``
    params : dict, optional
        JSON-serialisable values the scenario reads as ``board.params``.
    allow_faults : bool
        Do not fail the run for kernel memory faults left in ``board.memory.faults``.
    ram_base, ram_bytes, ctrl_base, clock_mhz, max_cycles, stalls :
        :class:`SimBoard` options; ``max_cycles`` bounds the simulation (a hung
        driver loop fails instead of running on); ``stalls`` is the memory's stall
        pattern (default ``"mixed"``; ``None``: always ready).
    simulator, build_args, waves, waivers :
        As for :func:`~sparseforge.sim.lib.cocotb_runner.run_cocotb` (``waivers``: the
        lint rules waived per generated file, e.g.
        :func:`~sparseforge.sim.lib.verilator_lint.amaranth_waivers`).

    Returns
    -------
    dict
        The scenario's result, through JSON.

    Raises
    ------
    ScenarioError
        The scenario raised (or left memory faults); the message holds the
        exception and its traceback inside the simulation.
    RuntimeError
        The simulation ended without a result (it crashed or failed to build).
    """
    from sparseforge.sim.lib.cocotb_runner import run_cocotb

    if not isinstance(regmap, RegisterMap):
        regmap = RegisterMap.from_dict(regmap) if isinstance(regmap, dict) \
            else RegisterMap.from_json(regmap)
    _import_scenario(scenario)  # fails here, with a clear message, for a bad reference
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="run_", dir=build_dir))
    spec = {"scenario": scenario, "path": _import_root(scenario), "regmap": regmap.to_dict(),
            "params": dict(params or {}), "allow_faults": allow_faults,
            "result": str(run_dir / "result.json"),
            "board": {"ram_base": ram_base, "ram_bytes": ram_bytes, "ctrl_base": ctrl_base,
                      "clock_mhz": clock_mhz, "max_cycles": max_cycles,
                      "stalls": Stalls.of(stalls).to_dict()}}
    spec_path = run_dir / "spec.json"
    spec_path.write_text(json.dumps(spec, default=_json_default))
    try:
        run_cocotb(sources=sources, toplevel=top, test_module=__name__,
                   build_dir=build_dir / f"sim_{simulator}", test_dir=run_dir,
                   simulator=simulator, extra_env=_sim_env(scenario, spec_path),
                   build_args=build_args, waves=waves, waivers=waivers)
    except SystemExit as exc:  # cocotb's runner exits when the simulator fails under pytest
        crash = f"the simulator exited with {exc.code}"
    else:
        crash = "the simulation ended"
    result_path = Path(spec["result"])
    if not result_path.exists():
        raise RuntimeError(f"{crash} without writing a result; see the log above and "
                           f"{run_dir}")
    outcome = json.loads(result_path.read_text())
    if not outcome["ok"]:
        raise ScenarioError(outcome["type"], outcome["message"], outcome["traceback"])
    return outcome["result"]
