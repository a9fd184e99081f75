"""Generic PYNQ driver for sparseforge kernels (``ap_ctrl_hs`` + AXI4 masters).

Every kernel sparseforge generates has the Vitis ``ap_ctrl_hs`` control slave
described by a :class:`~sparseforge.regmap.RegisterMap` (``regmap.json``) and
reads / writes DDR itself through ``m_axi_*`` masters.  :class:`KernelDriver`
is the base class of their drivers: it knows the map, checks every name and
value before it touches the device, sets arguments (64-bit ones as two words),
starts the kernel and waits for ``ap_done``.  A design's driver subclasses it
with ``bindto = [vlnv]`` so that ``pynq.Overlay`` binds it to the kernel::

    class SatDriver(KernelDriver):
        bindto = ("sparseforge.org:kernel:sat_kernel:1.0",)
        REGMAP = register_map(SatConfig())       # or regmap.json beside the bitstream

    ol = pynq.Overlay("sat_kernel.bit")
    buf = pynq.allocate(4096, "u1")
    ol.sat_kernel_0.run(cmd_list=buf, n_cmds=3)   # flush, start, wait, invalidate

Board access goes through one thin layer, a :class:`PynqIO` (registers, clock,
interrupt, buffers).  The driver never touches ``mmio`` or a buffer directly,
so boards differ only there:

* **Zynq UltraScale+** (ZCU102 / ZCU104 / KV260), pynq >= 3.0: registers
  through ``DefaultIP.mmio``; buffers from ``pynq.allocate`` (CMA,
  non-coherent on the HP ports: ``flush()`` before and ``invalidate()`` after a
  run, which :meth:`KernelDriver.run` does); ``.device_address`` is the
  physical address the kernel gets.
* **Alveo** with pynq 3.0.x's XRT device: the same :class:`PynqIO` (MMIO goes
  through XRT's register access, ``flush`` / ``invalidate`` are ``bo.sync``).
  pynq 4.0 no longer probes XRT devices; there :class:`~sparseforge.host.xrt_io.XrtIO`
  over XRT's ``pyxrt`` (registers, ``bo.address()``, ``bo.sync``) used with
  :meth:`KernelDriver.attach` (or :func:`~sparseforge.host.xrt_io.open_kernel`)
  takes its place; ``docs/host.md`` says which ``pyxrt`` builds give register access.
* **The simulated board** (:mod:`sparseforge.sim.lib.board`): a ``pynq.Device``
  with the ``REGISTER_RW`` capability whose ``kernel_io`` hook supplies an IO
  running on simulated time.

Supported pynq versions: 3.0 to 4.0 (tested with 4.0.0 on the simulated board).
This module imports only numpy, pynq and sparseforge's pure-Python core.
"""

from __future__ import annotations

import asyncio
import operator
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pynq
from pynq.buffer import PynqBuffer

from sparseforge.errors import SparseforgeError
from sparseforge.formats.integer import int_range, to_bits
from sparseforge.regmap import CTRL_BITS, Arg, RegisterMap

__all__ = ["DriverError", "KernelDriver", "PynqIO", "describe_ctrl"]

_START = 1 << CTRL_BITS["ap_start"]
_DONE = 1 << CTRL_BITS["ap_done"]
_IDLE = 1 << CTRL_BITS["ap_idle"]
_IER_DONE = 1  # IER / ISR bit 0: ap_done
_WORD = (1 << 32) - 1
_SIGNED_C_TYPES = ("int8_t", "int16_t", "int32_t", "int64_t", "int", "long", "long long")


class DriverError(SparseforgeError, ValueError):
    """A register / argument name or value the kernel cannot take (nothing was written)."""


def describe_ctrl(value: int) -> str:
    """``CTRL`` as hex with its set bits named, e.g. ``0x00000004 (ap_idle)``."""
    names = [n for n, b in CTRL_BITS.items() if value >> b & 1]
    return f"{value:#010x} ({', '.join(names) or 'no bit set'})"


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's current asyncio event loop, made and set explicitly if it has none.

    pynq registers the UIO reader behind an ``Interrupt`` with the thread's current
    loop when it makes the ``Interrupt`` (at Overlay load), so ``Interrupt.wait``
    completes only on that loop: a fresh loop (``asyncio.run``,
    ``asyncio.new_event_loop``) never sees the interrupt, and ``asyncio.run`` would
    also unset the thread's loop when it returns.  ``asyncio.get_event_loop()``
    returns that loop too, but where there is none it makes one implicitly, which
    Python 3.12 deprecates (DeprecationWarning) and 3.14 refuses; so a missing loop
    is made here with ``new_event_loop`` and set, and pynq interrupts made later in
    this thread register with it.
    """
    loop = _current_loop()
    if loop is None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    return loop


def _current_loop() -> asyncio.AbstractEventLoop | None:
    """This thread's current (set) event loop, or ``None``; no deprecated implicit loop.

    Python 3.14: ``asyncio.get_event_loop()`` returns the set loop or raises.  3.12
    and 3.13: the event-loop policy warns (DeprecationWarning) *before* it would make
    a loop implicitly; raised as an error, the warning stops it.  Before 3.12 the
    policy makes the loop silently, as those versions always did (not deprecated).
    A thread other than the main thread never gets an implicit loop (RuntimeError).
    """
    if sys.version_info >= (3, 14):
        try:
            return asyncio.get_event_loop()
        except RuntimeError:
            return None
    policy = asyncio.get_event_loop_policy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            return policy.get_event_loop()
        except (DeprecationWarning, RuntimeError):
            return None


class PynqIO:
    """Register, time, interrupt and buffer access through pynq (Zynq and pynq-XRT Alveo).

    Parameters
    ----------
    mmio : pynq.MMIO
        The kernel's control slave (``DefaultIP.mmio``).
    interrupt : pynq.Interrupt, optional
        The kernel's ``interrupt`` pin, when the overlay connects it.
    """

    def __init__(self, mmio, interrupt=None):
        self.mmio = mmio
        self.interrupt = interrupt

    # -- registers
    def read32(self, offset: int) -> int:
        """One 32-bit register at byte ``offset`` of the control slave."""
        return int(self.mmio.read(offset))

    def write32(self, offset: int, value: int) -> None:
        self.mmio.write(offset, int(value))

    # -- time
    def now(self) -> float:
        """Seconds on a monotonic clock (simulated time on the simulated board)."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    # -- interrupt
    @property
    def has_interrupt(self) -> bool:
        return self.interrupt is not None

    def interrupt_problem(self) -> str | None:
        """Why :meth:`wait_interrupt` cannot work here (``None``: it can)."""
        if self.interrupt is None:
            return "no interrupt line is connected"
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return None
        return ("an asyncio loop is running in this thread (Jupyter?), and pynq's "
                "Interrupt.wait needs that loop")

    def wait_interrupt(self, timeout: float) -> bool:
        """Block until the interrupt line is high; False after ``timeout`` seconds.

        pynq's ``Interrupt.wait`` is a coroutine served by the thread's current asyncio
        loop (where pynq registered its UIO reader; see :func:`_thread_loop`); it
        cannot be driven from inside a running loop (a Jupyter cell): poll there
        instead (``interrupt=False``).
        """
        if self.interrupt is None:
            raise RuntimeError("this kernel has no interrupt connected in the overlay")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("an asyncio loop is running in this thread (Jupyter?); "
                               "wait by polling: start(interrupt=False)")
        loop = _thread_loop()
        try:
            loop.run_until_complete(asyncio.wait_for(self.interrupt.wait(), timeout))
        except asyncio.TimeoutError:
            return False
        return True

    # -- buffers
    def is_buffer(self, obj) -> bool:
        """True for a device buffer (``pynq.allocate``'s ``PynqBuffer``)."""
        return isinstance(obj, PynqBuffer)

    def buffer_address(self, buf) -> int:
        return int(buf.device_address)

    def sync_to_device(self, buf) -> None:
        """Make the host's writes visible to the kernel (cache flush / DMA to card)."""
        buf.flush()

    def sync_from_device(self, buf) -> None:
        """Make the kernel's writes visible to the host (cache invalidate / DMA back)."""
        buf.invalidate()


class KernelDriver(pynq.DefaultIP):
    """Base driver of a sparseforge kernel; bind subclasses with ``bindto = [vlnv]``.

    Parameters
    ----------
    description : dict
        The IP description an Overlay passes (``phys_addr``, ``addr_range``,
        ``type`` (VLNV), ``fullpath``, ``device``, optionally ``interrupts``,
        ``registers``, ``regmap``).
    regmap : RegisterMap, dict, str or Path, optional
        The kernel's register map.  Otherwise, in this order: the description's
        ``"regmap"`` entry, the class attribute :attr:`REGMAP`, ``regmap.json`` in
        the bitstream's folder or its parent (the project layout).

    Raises
    ------
    DriverError
        No register map was found, or it names another kernel than ``type``.

    Notes
    -----
    Reading ``CTRL`` clears ``ap_done`` in the hardware (clear on read).  Every
    ``CTRL`` read made through this driver remembers a seen ``ap_done`` until
    :meth:`wait` consumes it, so :attr:`is_idle` or ``read_reg("CTRL")`` between
    :meth:`start` and :meth:`wait` lose nothing; reads by other programs can.
    """

    #: Register map of the kernel (subclasses may set it).
    REGMAP: RegisterMap | None = None
    #: Required alignment of pointer arguments in bytes (1: none).
    pointer_alignment: int = 1
    #: The design family this driver drives (``None``: any).
    DESIGN: str | None = None

    @classmethod
    def _check_design(cls, rmap: RegisterMap) -> None:
        if cls.DESIGN is not None and rmap.design != cls.DESIGN:
            raise DriverError(f"register map of {rmap.kernel} is for design {rmap.design!r}; "
                              f"{cls.__name__} drives {cls.DESIGN!r} kernels")

    def __init__(self, description: dict, regmap: RegisterMap | dict | str | Path | None = None):
        super().__init__(description)
        rmap = _find_regmap(regmap, description, type(self).REGMAP, self.device)
        _check_vlnv(rmap, description.get("type"))
        factory = getattr(self.device, "kernel_io", None)
        io = factory(self) if callable(factory) else PynqIO(self.mmio,
                                                             getattr(self, "interrupt", None))
        self._setup(rmap, io)

    @classmethod
    def for_regmap(cls, regmap: RegisterMap | dict | str | Path) -> type:
        """A subclass bound (``bindto``) to the VLNV of ``regmap``'s kernel, map built in.

        ``SatDriver.for_regmap("regmap.json")`` before ``pynq.Overlay(...)`` makes the
        overlay hand out that driver for the kernel, whatever the kernel is named.
        """
        rmap = _as_regmap(regmap)
        cls._check_design(rmap)
        return type(f"{cls.__name__}_{rmap.kernel}", (cls,),
                    {"bindto": (rmap.vlnv,), "REGMAP": rmap, "__module__": cls.__module__})

    @classmethod
    def attach(cls, io, regmap: RegisterMap | None = None) -> KernelDriver:
        """A driver over any IO object with :class:`PynqIO`'s methods (no pynq Device).

        For boards pynq cannot open (pyxrt on pynq 4) and for tests.
        """
        self = cls.__new__(cls)
        self.device = None
        rmap = regmap if regmap is not None else cls.REGMAP
        if rmap is None:
            raise DriverError(f"{cls.__name__}.attach: no register map (pass regmap= or set "
                              "REGMAP)")
        self._setup(_as_regmap(rmap), io)
        return self

    def _setup(self, rmap: RegisterMap, io) -> None:
        type(self)._check_design(rmap)
        self.regmap = rmap
        self.io = io
        self._words = {w["name"]: w for w in rmap.words()}
        self._args = {a.name: a for a in rmap.args}
        self._ctrl = rmap.register("CTRL").offset
        self._done_ctrl: int | None = None  # CTRL value that showed ap_done, until wait()
        self._irq_armed = False

    # ------------------------------------------------------------------ registers
    def read_reg(self, name: str) -> int:
        """Read one 32-bit word by name (a register, ``<arg>``, ``<arg>_lo`` / ``_hi``)."""
        word = self._word(name)
        if word["access"] == "wo":
            raise DriverError(f"register {name} is write-only; it cannot be read")
        if word["offset"] == self._ctrl:
            return self._read_ctrl()
        return self.io.read32(word["offset"])

    def write_reg(self, name: str, value: int) -> None:
        """Write one 32-bit word by name; read-only registers are refused."""
        word = self._word(name)
        if word["access"] in ("ro", "cor"):
            raise DriverError(f"register {name} is read-only (access {word['access']}); "
                              "it cannot be written")
        self.io.write32(word["offset"], _fit(f"register {name}", value, 32, signed=False))

    def set_arg(self, name: str, value) -> None:
        """Set a kernel argument: an integer, or a device buffer for a pointer argument."""
        for offset, word in self._encode_arg(name, value):
            self.io.write32(offset, word)

    # ------------------------------------------------------------------ control
    @property
    def is_idle(self) -> bool:
        """``ap_idle``: the kernel is not running."""
        return bool(self._read_ctrl() & _IDLE)

    def start(self, interrupt: bool = False) -> None:
        """Set ``ap_start``; with ``interrupt``, arm ``ap_done``'s interrupt first.

        Raises
        ------
        RuntimeError
            The kernel is still running (not ``ap_idle``).
        DriverError
            ``interrupt`` asked for and the board has no interrupt line for it.
        """
        self._check_interrupt(interrupt)
        self._check_idle()
        self._kick(interrupt)

    def wait(self, timeout: float = 10.0, poll_interval: float = 1e-4) -> int:
        """Wait for ``ap_done``; returns the ``CTRL`` value that showed it.

        Polls ``CTRL`` every ``poll_interval`` seconds, or sleeps on the interrupt
        when :meth:`start` armed it.  On the simulated board both are in
        simulated seconds.

        Raises
        ------
        TimeoutError
            ``ap_done`` did not come within ``timeout`` seconds; the message holds
            ``CTRL``.
        """
        if self._irq_armed:
            self._irq_armed = False
            fired = self.io.wait_interrupt(timeout)
            isr = self.io.read32(self.regmap.register("ISR").offset)
            self.io.write32(self.regmap.register("ISR").offset, isr)  # toggle: clears
            ctrl = self._read_ctrl()
            done = self._take_done()
            if fired and done is not None:
                return done
            raise TimeoutError(self._timeout_message(timeout, ctrl, "interrupt"))
        deadline = self.io.now() + timeout
        while True:
            ctrl = self._read_ctrl()
            done = self._take_done()
            if done is not None:
                return done
            if self.io.now() >= deadline:
                raise TimeoutError(self._timeout_message(timeout, ctrl, "polling"))
            self.io.sleep(poll_interval)

    def run(self, *, timeout: float = 10.0, poll_interval: float = 1e-4,
            interrupt: bool = False, sync: bool = True, **args) -> int:
        """Set ``args``, start, wait; returns ``CTRL`` at ``ap_done``.

        Every argument is checked before anything is written.  With ``sync``,
        buffer arguments are flushed before the start and invalidated after
        ``ap_done``.  Arguments not given keep their register values.
        """
        writes = [w for name, value in args.items() for w in self._encode_arg(name, value)]
        self._check_interrupt(interrupt)
        buffers = [v for v in args.values() if self.io.is_buffer(v)]
        self._check_idle()
        if sync:
            for buf in buffers:
                self.io.sync_to_device(buf)
        for offset, word in writes:
            self.io.write32(offset, word)
        self._kick(interrupt)
        ctrl = self.wait(timeout, poll_interval)
        if sync:
            for buf in buffers:
                self.io.sync_from_device(buf)
        return ctrl

    # ------------------------------------------------------------------ internals
    def _word(self, name: str) -> dict:
        if name in self._words:
            return self._words[name]
        hint = ""
        if name in self._args:
            hint = f" ({name} is a 64-bit argument: use set_arg or {name}_lo / {name}_hi)"
        raise DriverError(f"{self.regmap.kernel} has no register {name!r}{hint}; allowed: "
                          f"{', '.join(self._words)}")

    def _encode_arg(self, name: str, value) -> list[tuple[int, int]]:
        """``[(offset, word), ...]`` for one argument, after every check."""
        arg = self._args.get(name)
        if arg is None:
            raise DriverError(f"{self.regmap.kernel} has no argument {name!r}; allowed: "
                              f"{', '.join(self._args) or 'none'}")
        if arg.kind == "pointer":
            raw = self._pointer(arg, value)
        else:
            raw = _fit(f"argument {name}", value, arg.bits, arg.c_type in _SIGNED_C_TYPES,
                       arg.c_type)
        return [(arg.offset + 4 * i, raw >> (32 * i) & _WORD) for i in range(arg.bits // 32)]

    def _pointer(self, arg: Arg, value) -> int:
        if isinstance(value, np.ndarray) and not self.io.is_buffer(value):
            raise DriverError(f"argument {arg.name}: a plain {type(value).__name__} has no "
                              "device address; allowed: a buffer from pynq.allocate(shape, "
                              "dtype) or an integer device address")
        if self.io.is_buffer(value):
            address = self._buffer_address(f"argument {arg.name}", value)
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            address = int(value)
        else:
            raise DriverError(f"argument {arg.name} = {value!r} ({type(value).__name__}); "
                              "allowed: a pynq buffer or an integer device address")
        address = _fit(f"argument {arg.name}", address, arg.bits, signed=False,
                       c_type="a device address")
        if address % self.pointer_alignment:
            raise DriverError(f"argument {arg.name} = {address:#x} is not aligned; allowed: "
                              f"a multiple of {self.pointer_alignment} bytes")
        return address

    def _buffer_address(self, what: str, buf) -> int:
        """The device address of a buffer the kernel may use (DriverError naming ``what``)."""
        if not buf.flags["C_CONTIGUOUS"]:
            raise DriverError(f"{what}: buffer of shape {buf.shape} with strides "
                              f"{buf.strides} is not contiguous; allowed: a C-contiguous "
                              "buffer or slice")
        if getattr(buf, "freed", False):
            raise DriverError(f"{what}: the buffer was freed")
        dev = getattr(buf, "device", None)
        if self.device is not None and dev is not None and dev is not self.device:
            raise DriverError(f"{what}: buffer allocated on device {getattr(dev, 'tag', dev)!r},"
                              f" the kernel is on {getattr(self.device, 'tag', self.device)!r}")
        if getattr(buf, "device_address", 0) is None:
            raise DriverError(f"{what}: array derived from a buffer (not a slice of it) has no "
                              "device address")
        return self.io.buffer_address(buf)

    def _read_ctrl(self) -> int:
        ctrl = self.io.read32(self._ctrl)
        if ctrl & _DONE and self._done_ctrl is None:
            self._done_ctrl = ctrl
        return ctrl

    def _take_done(self) -> int | None:
        done, self._done_ctrl = self._done_ctrl, None
        return done

    def _check_interrupt(self, interrupt: bool) -> None:
        """Refuse ``interrupt=True`` where it cannot work, before anything is written."""
        if not interrupt:
            return
        problem = getattr(self.io, "interrupt_problem", None)
        reason = problem() if callable(problem) else (
            None if self.io.has_interrupt else "no interrupt line is connected")
        if reason:
            raise DriverError(f"{self.regmap.kernel}: interrupt=True but {reason}; allowed: "
                              "interrupt=False (polling)")

    def _check_idle(self) -> None:
        ctrl = self._read_ctrl()  # also clears a stale ap_done
        if not ctrl & _IDLE:
            raise RuntimeError(f"{self.regmap.kernel} is running (CTRL = {describe_ctrl(ctrl)});"
                               " wait() for it before starting again")
        self._done_ctrl = None

    def _kick(self, interrupt: bool) -> None:
        if interrupt:
            isr = self.regmap.register("ISR").offset
            self.io.write32(isr, self.io.read32(isr))  # clear pending (toggle on write)
            self.io.write32(self.regmap.register("IER").offset, _IER_DONE)
            self.io.write32(self.regmap.register("GIE").offset, 1)
        self._irq_armed = interrupt
        self.io.write32(self._ctrl, _START)

    def _timeout_message(self, timeout: float, ctrl: int, how: str) -> str:
        state = "still running" if not ctrl & _IDLE else "idle without ap_done"
        return (f"{self.regmap.kernel}: ap_done did not come within {timeout} s ({how}); "
                f"CTRL = {describe_ctrl(ctrl)}: the kernel is {state}")


# ---------------------------------------------------------------------- helpers


def _fit(what: str, value, bits: int, signed: bool, c_type: str = "") -> int:
    """``value`` as an unsigned ``bits``-bit word; DriverError naming what is allowed."""
    try:
        value = operator.index(value)  # int, bool, numpy integers; not floats
    except TypeError:
        raise DriverError(f"{what} = {value!r} ({type(value).__name__}); allowed: an "
                          f"integer{' (' + c_type + ')' if c_type else ''}") from None
    lo, hi = int_range(bits, signed)
    if not lo <= value <= hi:
        kind = c_type or f"{'signed' if signed else 'unsigned'} {bits}-bit"
        raise DriverError(f"{what} = {value} does not fit {kind}; allowed: {lo} to {hi}")
    return to_bits(value, bits)


def _as_regmap(obj) -> RegisterMap:
    if isinstance(obj, RegisterMap):
        return obj
    if isinstance(obj, Mapping):
        return RegisterMap.from_dict(dict(obj))
    return RegisterMap.from_json(obj)


def _find_regmap(explicit, description: dict, class_map, device) -> RegisterMap:
    for candidate in (explicit, description.get("regmap"), class_map):
        if candidate is not None:
            return _as_regmap(candidate)
    tried = ["regmap=", "description['regmap']", "REGMAP"]
    bitfile = getattr(device, "bitfile_name", None)
    if bitfile:
        folder = Path(bitfile).resolve().parent
        for path in (folder / "regmap.json", folder.parent / "regmap.json"):
            if path.is_file():
                return RegisterMap.from_json(path)
            tried.append(str(path))
    raise DriverError(f"no register map for IP {description.get('fullpath', '?')!r} "
                      f"({description.get('type', '?')}); tried: {', '.join(tried)}")


def _check_vlnv(rmap: RegisterMap, vlnv: str | None) -> None:
    """The map must describe the IP it drives (the version may differ)."""
    if vlnv and vlnv.rpartition(":")[0] != rmap.vlnv.rpartition(":")[0]:
        raise DriverError(f"register map is for {rmap.vlnv}, the IP is {vlnv}")
