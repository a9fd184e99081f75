"""Alveo board access over XRT's Python binding ``pyxrt`` (no pynq Device needed).

pynq 4.0 no longer probes XRT (Alveo) devices, so a sparseforge kernel on an
Alveo card is driven by the unmodified :class:`~sparseforge.host.kernel.KernelDriver`
over an :class:`XrtIO` instead of a pynq ``Overlay``::

    from sparseforge.host.kernel import KernelDriver
    from sparseforge.host.xrt_io import XrtIO, open_kernel

    drv = open_kernel(KernelDriver, "output/sat_kernel.xclbin", "sat_kernel")
    buf = drv.io.allocate(4096, "u1", group="cmd_list")   # in cmd_list's memory bank
    buf[:] = commands
    drv.run(cmd_list=buf, n_cmds=3)      # bo.sync to device, start, poll, bo.sync back

    # or by hand
    io = XrtIO.open("output/sat_kernel.xclbin", "sat_kernel", regmap=rmap)
    drv = KernelDriver.attach(io, rmap)

The pyxrt calls used (names checked against XRT's ``src/python/pybind11/src/pyxrt.cpp``
and ``pyxrt.pyi``, and the XRT native API docs):

* ``pyxrt.device(index)``, ``pyxrt.xclbin(path)``, ``xclbin.get_kernels()`` /
  ``xclbinkernel.get_name()`` (older builds: ``xclbin.get_ips()`` /
  ``xclbinip.get_name()``), ``device.load_xclbin(xclbin)`` -> ``pyxrt.uuid``;
* ``pyxrt.kernel(device, uuid, name, pyxrt.kernel.cu_access_mode.<mode>)`` and
  ``kernel.group_id(argno)`` (the memory bank of an argument);
* ``pyxrt.bo(device, size, pyxrt.bo.flags.normal, group)``, ``bo.address()``,
  ``bo.map()`` (a writable ``memoryview`` over the host side of the buffer),
  ``bo.sync(pyxrt.xclBOSyncDirection.XCL_BO_SYNC_BO_TO_DEVICE | ..._FROM_DEVICE,
  size, offset)``;
* register access, see below.

**Register access.**  XRT's C++ API offers it in two places: ``xrt::ip``
(``read_register`` / ``write_register``, always opened with *exclusive* access so
that no other process can touch the IP meanwhile; ``experimental/xrt_ip.h``) and
the deprecated ``xrt::kernel::read_register`` / ``write_register`` (the CU must be
opened with ``cu_access_mode::exclusive``; XRT native API docs, "Reading and write CU
mapped registers").  The upstream pyxrt binds **neither** in its current master
(``pyxrt.cpp`` / ``pyxrt.pyi``): it has no ``ip`` class in any version checked, and
``kernel.read_register`` / ``write_register`` were bound only in early versions
(around XRT 2020.2 / 2021.x).  :meth:`XrtIO.open` therefore uses,
in this order:

1. ``pyxrt.ip(device, uuid, name)`` when the installed binding has it (a pyxrt built
   with ``xrt::ip`` bound; the class and method names then follow the C++ API);
2. ``pyxrt.kernel(device, uuid, name, cu_access_mode.exclusive)`` when that object
   has ``read_register`` / ``write_register`` (early pyxrt);
3. otherwise :class:`XrtError`, naming both ways out (a pyxrt with ``xrt::ip``, or
   pynq 3.0.1's XRT device with :class:`~sparseforge.host.kernel.PynqIO`).

Any object with ``read_register(offset) -> int`` and ``write_register(offset,
value)`` can also be passed to the constructor directly.

There is no interrupt (``xrt::ip::create_interrupt_notify`` is not bound in pyxrt):
:class:`XrtIO` polls ``CTRL``; ``now`` / ``sleep`` use ``time.monotonic``.

Buffers are :class:`XrtBuffer` s, numpy arrays over ``bo.map()``: the host side of
an XRT buffer object.  Alveo memory is on the card, so a buffer is *not* coherent:
``sync_to_device`` / ``sync_from_device`` (``bo.sync`` over exactly the bytes of the
array or slice given) move it, and :meth:`KernelDriver.run` calls them around a run.

This module imports numpy and sparseforge's host layer only; ``pyxrt`` is imported
when :meth:`XrtIO.open` is called.
"""

from __future__ import annotations

import importlib
import math
import operator
import types
from pathlib import Path

import numpy as np

from sparseforge.errors import SparseforgeError
from sparseforge.regmap import RegisterMap

from .kernel import DriverError, KernelDriver, PynqIO, _as_regmap, _find_regmap

__all__ = ["XrtBuffer", "XrtError", "XrtIO", "open_kernel"]

_WORD = (1 << 32) - 1


class XrtError(SparseforgeError, RuntimeError):
    """XRT / pyxrt cannot do what was asked (binding missing a call, kernel not in the xclbin)."""


def _import_pyxrt():
    try:
        return importlib.import_module("pyxrt")
    except ImportError as exc:
        raise ImportError(
            "pyxrt (XRT's Python binding) is not importable: install XRT 2.x and "
            "`source /opt/xilinx/xrt/setup.sh` (it puts pyxrt on PYTHONPATH); on pynq 3.0.1 "
            f"the Alveo card also works through pynq.Overlay and PynqIO ({exc})") from exc


# --------------------------------------------------------------------------- buffers


class _Allocation:
    """One ``pyxrt.bo`` and its host mapping (shared by a buffer and its slices)."""

    __slots__ = ("address", "base", "bo", "freed", "group", "io", "nbytes")

    def __init__(self, io: XrtIO, bo, base: int, nbytes: int, group: int):
        self.io, self.bo, self.base, self.nbytes, self.group = io, bo, base, nbytes, group
        self.address = int(bo.address())
        self.freed = False


class XrtBuffer(np.ndarray):
    """A numpy array over the host mapping of an XRT buffer object (:meth:`XrtIO.allocate`).

    Slices keep their place in the buffer (``device_address``, ``offset``); an array
    computed from a buffer (``buf + 1``) is ordinary host memory and has
    ``device_address`` None.  Keep the buffer (or a slice of it) referenced while the
    kernel uses it; :meth:`freebuffer` releases the ``bo`` at once, after which every
    view of it is invalid.
    """

    def __array_finalize__(self, obj):
        self._xrt = getattr(obj, "_xrt", None)

    # -- placement
    @property
    def offset(self) -> int | None:
        """Bytes from the start of the ``bo``; None when the data is not inside it."""
        alloc = self._xrt
        if alloc is None:
            return None
        off = self.__array_interface__["data"][0] - alloc.base
        return off if off >= 0 and off + self.nbytes <= alloc.nbytes else None

    @property
    def device_address(self) -> int | None:
        """Card address of the first element (``bo.address()`` + offset), or None."""
        off = self.offset
        return None if off is None else self._xrt.address + off

    physical_address = device_address

    @property
    def bo(self):
        """The ``pyxrt.bo`` (None once freed or for a plain view)."""
        return None if self._xrt is None or self._xrt.freed else self._xrt.bo

    @property
    def group(self) -> int | None:
        """Memory group (bank index) the ``bo`` was allocated in."""
        return None if self._xrt is None else self._xrt.group

    @property
    def freed(self) -> bool:
        return self._xrt is not None and self._xrt.freed

    @property
    def coherent(self) -> bool:
        return False

    # -- sync (pynq's PynqBuffer names)
    def sync_to_device(self) -> None:
        self._io().sync_to_device(self)

    def sync_from_device(self) -> None:
        self._io().sync_from_device(self)

    flush, invalidate = sync_to_device, sync_from_device

    def freebuffer(self) -> None:
        """Release the ``bo`` now (also on ``with`` exit); views of it become invalid."""
        alloc = self._xrt
        if alloc is not None and not alloc.freed:
            alloc.io._free(alloc)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.freebuffer()

    def _io(self) -> XrtIO:
        if self._xrt is None:
            raise DriverError("this array is not backed by an XRT buffer object")
        return self._xrt.io


# --------------------------------------------------------------------------- IO


class XrtIO(PynqIO):
    """:class:`~sparseforge.host.kernel.PynqIO`'s interface over pyxrt (Alveo, any pynq).

    Parameters
    ----------
    registers : object
        ``read_register(offset) -> int`` / ``write_register(offset, value)`` on the
        kernel's control slave: a ``pyxrt.ip``, or an exclusively opened
        ``pyxrt.kernel`` of an early pyxrt (see the module docstring).
    device : pyxrt.device, optional
        Needed by :meth:`allocate`.
    pyxrt : module, optional
        The binding (``bo``, ``xclBOSyncDirection``); imported when omitted.
    groups : dict[int, int], optional
        Memory group of each argument index (``kernel.group_id``), for
        :meth:`allocate` by argument name.
    regmap : RegisterMap, optional
        Maps argument names to indices for ``allocate(group="name")``.
    kernel_name : str
    """

    def __init__(self, registers, device=None, *, pyxrt=None, groups: dict | None = None,
                 regmap: RegisterMap | None = None, kernel_name: str = "",
                 group_errors: dict | None = None):
        super().__init__(mmio=None, interrupt=None)
        self.registers = registers
        self.device = device
        self._pyxrt = pyxrt
        self.groups: dict[int, int] = dict(groups or {})
        self._group_errors: dict[int, str] = dict(group_errors or {})
        self.regmap = regmap
        self.kernel_name = kernel_name
        self.uuid = None
        self.xclbin_path: Path | None = None
        self._allocations: list[_Allocation] = []

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, xclbin_path: str | Path, kernel_name: str, device_index: int = 0, *,
             regmap: RegisterMap | dict | str | Path | None = None) -> XrtIO:
        """Open card ``device_index``, load ``xclbin_path``, take the kernel's registers.

        ``kernel_name`` is XRT's: ``"sat_kernel"`` or ``"sat_kernel:{sat_kernel_1}"``
        for one compute unit (the registers of a kernel with several CUs must be
        opened per CU).  With ``regmap`` the memory group of every pointer argument is
        looked up (``kernel.group_id``) so that ``allocate(group="arg")`` works.

        Raises
        ------
        ImportError
            pyxrt is not installed.
        FileNotFoundError
            No such xclbin.
        XrtError
            The xclbin has no such kernel, or this pyxrt offers no register access.
        """
        pyxrt = _import_pyxrt()
        path = Path(xclbin_path)
        if not path.is_file():
            raise FileNotFoundError(f"xclbin {str(path)!r} does not exist")
        rmap = _as_regmap(regmap) if regmap is not None else None
        if rmap is not None and kernel_name.partition(":")[0] != rmap.kernel:
            raise DriverError(f"register map is for kernel {rmap.kernel!r}, asked to open "
                              f"{kernel_name!r}")
        device = pyxrt.device(int(device_index))
        xclbin = pyxrt.xclbin(str(path))
        _check_kernel_in(xclbin, kernel_name, path)
        uuid = device.load_xclbin(xclbin)
        arg_ids = [a.id for a in rmap.args if a.kind == "pointer"] if rmap else []
        modes = pyxrt.kernel.cu_access_mode
        if hasattr(pyxrt, "ip"):
            # group_id lives on xrt::kernel only.  Open it shared, ask, and drop it
            # before xrt::ip takes the CU exclusively (an exclusive open fails while
            # another context holds the CU).  That dropping the Python object releases
            # XRT's context at once is assumed (pybind11 destroys the C++ object when
            # the last reference goes), not verified on a card.
            kernel = pyxrt.kernel(device, uuid, kernel_name, modes.shared)
            groups, errors = _group_ids(kernel, arg_ids)
            del kernel
            registers = pyxrt.ip(device, uuid, kernel_name)
        else:
            kernel = pyxrt.kernel(device, uuid, kernel_name, modes.exclusive)
            if not (hasattr(kernel, "read_register") and hasattr(kernel, "write_register")):
                raise XrtError(
                    f"this pyxrt ({getattr(pyxrt, '__file__', '?')}) has no register access: "
                    "neither pyxrt.ip nor kernel.read_register / write_register is bound. "
                    "Use a pyxrt built with xrt::ip bound (ip(device, uuid, name), "
                    "read_register, write_register), or pynq 3.0.1 (pynq.Overlay on the "
                    "xclbin, the driver then uses PynqIO)")
            groups, errors = _group_ids(kernel, arg_ids)
            registers = kernel
        io = cls(registers, device, pyxrt=pyxrt, groups=groups, group_errors=errors,
                 regmap=rmap, kernel_name=kernel_name)
        io.uuid, io.xclbin_path = uuid, path
        return io

    # ------------------------------------------------------------------ registers
    def read32(self, offset: int) -> int:
        """One 32-bit register at byte ``offset`` of the control slave."""
        return int(self.registers.read_register(int(offset))) & _WORD

    def write32(self, offset: int, value: int) -> None:
        self.registers.write_register(int(offset), int(value) & _WORD)

    # ------------------------------------------------------------------ interrupt
    @property
    def has_interrupt(self) -> bool:
        """False: pyxrt binds no interrupt wait; the driver polls ``CTRL``."""
        return False

    def wait_interrupt(self, timeout: float) -> bool:
        raise RuntimeError("XrtIO has no interrupt (pyxrt binds no xrt::ip::interrupt); "
                           "wait by polling: start(interrupt=False)")

    # ------------------------------------------------------------------ buffers
    def allocate(self, shape, dtype="u4", group: int | str | None = None, *,
                 flags=None) -> XrtBuffer:
        """A zeroed-on-host :class:`XrtBuffer` of ``shape`` / ``dtype`` in a memory bank.

        Parameters
        ----------
        group : int, str or None
            A memory group index (what ``kernel.group_id`` returns), the name of a
            pointer argument (its group, looked up at :meth:`open`), or None: the
            group all pointer arguments share.
        flags : pyxrt.bo.flags, optional
            Default ``pyxrt.bo.flags.normal`` (host and device side).
        """
        if self.device is None:
            raise DriverError("XrtIO.allocate needs the pyxrt device (use XrtIO.open)")
        pyxrt = self._binding()
        dtype = np.dtype(dtype)
        shape = (operator.index(shape),) if np.ndim(shape) == 0 else tuple(
            operator.index(s) for s in shape)
        count = math.prod(shape)
        nbytes = count * dtype.itemsize
        if nbytes <= 0:
            raise DriverError(f"allocate: shape {shape} of {dtype} is {nbytes} bytes; "
                              "allowed: at least 1 byte")
        gid = self._group(group)
        bo = pyxrt.bo(self.device, nbytes, pyxrt.bo.flags.normal if flags is None else flags,
                      gid)
        host = np.frombuffer(bo.map(), np.uint8, count=nbytes)
        host[:] = 0
        buf = host.view(dtype).reshape(shape).view(XrtBuffer)
        alloc = _Allocation(self, bo, host.__array_interface__["data"][0], nbytes, gid)
        buf._xrt = alloc
        self._allocations.append(alloc)
        return buf

    def is_buffer(self, obj) -> bool:
        """True for an :class:`XrtBuffer` (or a slice of one)."""
        return isinstance(obj, XrtBuffer) and obj._xrt is not None

    def buffer_address(self, buf) -> int:
        alloc, off = self._place(buf, "address of")
        return alloc.address + off

    def sync_to_device(self, buf) -> None:
        """DMA the array's bytes host -> card (``bo.sync(..._TO_DEVICE, nbytes, offset)``)."""
        self._sync(buf, "XCL_BO_SYNC_BO_TO_DEVICE")

    def sync_from_device(self, buf) -> None:
        """DMA the array's bytes card -> host (``bo.sync(..._FROM_DEVICE, nbytes, offset)``)."""
        self._sync(buf, "XCL_BO_SYNC_BO_FROM_DEVICE")

    @property
    def live_allocations(self) -> int:
        """Buffer objects allocated through this IO and not freed yet."""
        return len(self._allocations)

    def close(self) -> None:
        """Free every buffer and drop the register handle (closes the exclusive context)."""
        for alloc in list(self._allocations):
            self._free(alloc)
        self.registers = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _binding(self):
        if self._pyxrt is None:
            self._pyxrt = _import_pyxrt()
        return self._pyxrt

    def _group(self, group) -> int:
        if isinstance(group, (int, np.integer)) and not isinstance(group, bool):
            if group < 0:
                raise DriverError(f"allocate: group = {group}; allowed: a memory group index "
                                  ">= 0 or a pointer argument's name")
            return int(group)
        pointers = [a for a in self.regmap.args if a.kind == "pointer"] if self.regmap else []
        if isinstance(group, str):
            if self.regmap is None:
                raise DriverError(f"allocate: group = {group!r} needs the register map "
                                  "(XrtIO.open(..., regmap=...) or open_kernel); allowed "
                                  "now: a memory group index")
            arg = next((a for a in pointers if a.name == group), None)
            if arg is None:
                raise DriverError(f"allocate: {self.regmap.kernel} has no pointer argument "
                                  f"{group!r}; allowed: {', '.join(a.name for a in pointers)}"
                                  " or a memory group index")
            if arg.id not in self.groups:
                why = self._group_errors.get(arg.id, "not looked up")
                raise DriverError(f"allocate: memory group of argument {group} unknown "
                                  f"(kernel.group_id({arg.id}): {why}); pass the group index")
            return self.groups[arg.id]
        if group is None:
            known = {self.groups[a.id] for a in pointers if a.id in self.groups}
            if len(known) == 1 and all(a.id in self.groups for a in pointers):
                return known.pop()
            names = ", ".join(f"{a.name} -> {self.groups.get(a.id, '?')}" for a in pointers)
            raise DriverError("allocate: no single memory group for all pointer arguments "
                              f"({names or 'no register map'}); allowed: group=<argument "
                              "name> or group=<memory group index>")
        raise DriverError(f"allocate: group = {group!r} ({type(group).__name__}); allowed: "
                          "a memory group index, a pointer argument's name or None")

    def _place(self, buf, what: str) -> tuple[_Allocation, int]:
        alloc = getattr(buf, "_xrt", None)
        if not isinstance(buf, XrtBuffer) or alloc is None:
            raise DriverError(f"{what} a {type(buf).__name__}: not an XRT buffer; allowed: "
                              "a buffer from XrtIO.allocate or a slice of it")
        if alloc.io is not self:
            raise DriverError(f"{what} a buffer of another XrtIO (kernel "
                              f"{alloc.io.kernel_name!r}); allocate it with this kernel's "
                              "io.allocate")
        if alloc.freed:
            raise DriverError(f"{what} a freed buffer (card address {alloc.address:#x})")
        off = buf.offset
        if off is None:
            raise DriverError(f"{what} an array derived from an XRT buffer (not a slice of "
                              "it): it is host memory only")
        return alloc, off

    def _sync(self, buf, direction: str) -> None:
        alloc, off = self._place(buf, "sync of")
        if buf.nbytes:
            if not buf.flags["C_CONTIGUOUS"]:
                raise DriverError(f"sync of a non-contiguous slice (strides {buf.strides}); "
                                  "allowed: a C-contiguous buffer or slice")
            alloc.bo.sync(getattr(self._binding().xclBOSyncDirection, direction), buf.nbytes,
                          off)

    def _free(self, alloc: _Allocation) -> None:
        alloc.freed = True
        alloc.bo = None  # the last reference: pybind11 destroys the xrt::bo, XRT frees it
        if alloc in self._allocations:
            self._allocations.remove(alloc)


# --------------------------------------------------------------------------- helpers


def _check_kernel_in(xclbin, kernel_name: str, path: Path) -> None:
    """XrtError when the xclbin lists kernels and ``kernel_name`` is not one of them."""
    base = kernel_name.partition(":")[0]
    if hasattr(xclbin, "get_kernels"):
        names = [k.get_name() for k in xclbin.get_kernels()]
    elif hasattr(xclbin, "get_ips"):  # early pyxrt: CU names "kernel:instance"
        names = sorted({ip.get_name().partition(":")[0] for ip in xclbin.get_ips()})
    else:
        return
    if base not in names:
        raise XrtError(f"{path.name} has no kernel {base!r}; it has: "
                       f"{', '.join(names) or 'none'}")


def _group_ids(kernel, arg_ids) -> tuple[dict[int, int], dict[int, str]]:
    """``kernel.group_id`` of each argument index; XRT throws when it is ambiguous."""
    groups, errors = {}, {}
    for i in arg_ids:
        try:
            groups[i] = int(kernel.group_id(i))
        except Exception as exc:  # pybind11 turns XRT's std::exception into RuntimeError
            errors[i] = f"{type(exc).__name__}: {exc}"
    return groups, errors


def open_kernel(driver_cls: type[KernelDriver], xclbin: str | Path, kernel_name: str,
                regmap: RegisterMap | dict | str | Path | None = None, *,
                device_index: int = 0) -> KernelDriver:
    """A ``driver_cls`` on an Alveo card through :class:`XrtIO` (no pynq Overlay).

    The register map is, in this order: ``regmap``, ``driver_cls.REGMAP``,
    ``regmap.json`` beside the xclbin or in its parent folder (the project layout:
    ``<project>/regmap.json``, ``<project>/output/<kernel>.xclbin``) — the rule
    :class:`KernelDriver` applies beside a bitstream.

    Raises
    ------
    DriverError
        No register map found (the message lists where it looked), or it is for
        another kernel.
    """
    where = types.SimpleNamespace(bitfile_name=str(xclbin))
    rmap = _find_regmap(regmap, {"fullpath": kernel_name, "type": "xclbin kernel"},
                        driver_cls.REGMAP, where)
    io = XrtIO.open(xclbin, kernel_name, device_index, regmap=rmap)
    return driver_cls.attach(io, rmap)
