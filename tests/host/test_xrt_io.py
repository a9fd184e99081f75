"""XrtIO (host/xrt_io.py): the unmodified KernelDriver over a fake ``pyxrt``.

No XRT here: a fake ``pyxrt`` module (put in ``sys.modules``) implements the calls
XrtIO makes, with names and signatures as in XRT's pyxrt bindings.  Behind it: a
bytearray of card memory whose addresses start above 4 GiB (so a pointer's high word
is not zero), host buffers separate from it (Alveo memory is not coherent: only
``bo.sync`` moves bytes), and a register file that emulates ``ap_ctrl_hs`` for the SAT
kernel's layout: ``ap_start`` runs a toy kernel (add 1 to ``n_cmds`` bytes at
``cmd_list``, count them in CMDS_DONE); the next CTRL read shows ``ap_done | ap_idle``
and clears ``ap_done``.  Offsets and addresses are written out here, not taken from
the register map, so that the map and the driver are checked rather than trusted.
"""

from __future__ import annotations

import enum
import sys
import types

import numpy as np
import pytest

from sparseforge.families.sat.contract import SatConfig, register_map
from sparseforge.host.kernel import DriverError, KernelDriver
from sparseforge.host.xrt_io import XrtBuffer, XrtError, XrtIO, open_kernel

CARD_BASE = 0x4_0000_0000  # card address of card.memory[0]
FIRST_BO = 0x2000  # the fake's first allocation starts here (page aligned)
CTRL, ARG_LO, ARG_HI, N_CMDS, CMDS_DONE = 0x00, 0x10, 0x14, 0x1C, 0x30
START, DONE, IDLE = 0x1, 0x2, 0x4
TO_DEV, FROM_DEV = 0, 1  # xclBOSyncDirection values in XRT's xrt_mem.h


class FakeCard:
    """What the fake pyxrt talks to: memory, allocations, registers, an event log."""

    def __init__(self, *, hang: bool = False, groups: dict | None = None):
        self.memory = bytearray(1 << 20)
        self.next = FIRST_BO
        self.hang = hang
        self.groups = {0: 5} if groups is None else groups
        self.regs: dict[int, int] = {}
        self.running = self.done = False
        self.log: list[tuple] = []
        self.contexts: dict[str, str] = {}  # open CU contexts: id -> mode
        self.bos: list = []

    # -- the toy kernel behind the registers
    def read(self, off: int) -> int:
        if off == CTRL:
            if self.running and not self.hang:
                self.running, self.done = False, True
            value = (START if self.running else 0) | (DONE if self.done else 0) | (
                0 if self.running else IDLE)
            self.done = False  # ap_done is clear on read
        else:
            value = self.regs.get(off, 0)
        self.log.append(("read", off, value))
        return value

    def write(self, off: int, value: int) -> None:
        assert 0 <= value <= 0xFFFF_FFFF, value  # write_register takes a uint32_t
        self.log.append(("write", off, value))
        if off == CTRL:
            if value & START and not self.running:
                self.running = True
                self._kernel()
        else:
            self.regs[off] = value

    def _kernel(self) -> None:
        address = self.regs.get(ARG_HI, 0) << 32 | self.regs.get(ARG_LO, 0)
        count = self.regs.get(N_CMDS, 0)
        start = address - CARD_BASE
        assert start >= 0 and start + count <= len(self.memory), f"stray address {address:#x}"
        for i in range(start, start + count):
            self.memory[i] = (self.memory[i] + 1) & 0xFF
        self.regs[CMDS_DONE] = count


def fake_pyxrt(card: FakeCard, *, ip: bool = True, kernel_registers: bool = False):
    """A ``pyxrt`` module with the calls XrtIO uses (names and argument order of pyxrt)."""
    m = types.ModuleType("pyxrt")
    m.__file__ = "<fake pyxrt>"

    class xclBOSyncDirection(enum.IntEnum):
        XCL_BO_SYNC_BO_TO_DEVICE = TO_DEV
        XCL_BO_SYNC_BO_FROM_DEVICE = FROM_DEV

    class uuid:
        def __init__(self, text):
            self.text = text

        def to_string(self):
            return self.text

    class device:
        def __init__(self, index):
            card.log.append(("device", index))

        def load_xclbin(self, xb):
            card.log.append(("load_xclbin", xb.path))
            return uuid("u-1")

    class _XclbinKernel:
        def __init__(self, name):
            self.name = name

        def get_name(self):
            return self.name

    class xclbin:
        def __init__(self, path):
            self.path = path

        def get_kernels(self):
            return [_XclbinKernel("sat_kernel")]

    def _open_context(what, mode):
        # XRT: an exclusive open fails while the CU is opened at all, and any open fails
        # while it is opened exclusively
        if card.contexts and (mode == "exclusive" or "exclusive" in card.contexts.values()):
            raise RuntimeError(f"CU already opened ({card.contexts}); {what} failed")
        key = f"{what}{len(card.log)}"
        card.contexts[key] = mode
        return key

    class _RegisterAccess:
        def read_register(self, offset):
            assert self._ctx in card.contexts
            return card.read(offset)

        def write_register(self, offset, data):
            assert self._ctx in card.contexts
            card.write(offset, data)

    class kernel(*((_RegisterAccess,) if kernel_registers else ())):
        class cu_access_mode(enum.IntEnum):
            exclusive = 0
            shared = 1
            none = 2

        def __init__(self, dev, u, name, mode):
            assert isinstance(dev, device) and u.to_string() == "u-1"
            card.log.append(("kernel", name, mode.name))
            self._ctx = _open_context("kernel", mode.name)

        def group_id(self, argno):
            if argno not in card.groups:
                raise RuntimeError(f"group_id: ambiguous connectivity for argument {argno}")
            return card.groups[argno]

        def __del__(self):
            card.contexts.pop(self._ctx, None)
            card.log.append(("kernel closed",))

    class bo:
        class flags(enum.IntEnum):
            normal = 0
            cacheable = 1
            device_only = 2
            host_only = 3

        def __init__(self, dev, size, flags, group):
            assert isinstance(dev, device) and isinstance(flags, bo.flags)
            self.start, self.nbytes, self.group = card.next, size, group
            card.next += -(-size // 4096) * 4096
            self.host = bytearray(size)  # XRT's host-side copy, not the card memory
            card.bos.append(self)

        def size(self):
            return self.nbytes

        def address(self):
            return CARD_BASE + self.start

        def map(self):
            return memoryview(self.host)

        def sync(self, direction, size, offset):
            assert isinstance(direction, xclBOSyncDirection)
            assert offset >= 0 and offset + size <= self.nbytes, (size, offset)
            a = self.start + offset
            if direction == xclBOSyncDirection.XCL_BO_SYNC_BO_TO_DEVICE:
                card.memory[a:a + size] = self.host[offset:offset + size]
            else:
                self.host[offset:offset + size] = card.memory[a:a + size]
            card.log.append(("sync", int(direction), size, offset, self.address()))

    m.xclBOSyncDirection = xclBOSyncDirection
    m.uuid, m.device, m.xclbin, m.kernel, m.bo = uuid, device, xclbin, kernel, bo
    if ip:
        class ip_(_RegisterAccess):
            def __init__(self, dev, u, name):
                assert isinstance(dev, device) and u.to_string() == "u-1"
                card.log.append(("ip", name))
                self._ctx = _open_context("ip", "exclusive")  # xrt::ip is always exclusive

        ip_.__name__ = "ip"
        m.ip = ip_
    return m


@pytest.fixture
def xclbin_file(tmp_path):
    path = tmp_path / "output" / "sat_kernel.xclbin"
    path.parent.mkdir()
    path.write_bytes(b"xclbin2\0")
    return path


def open_driver(monkeypatch, xclbin_file, card=None, **pyxrt_options):
    card = card or FakeCard()
    monkeypatch.setitem(sys.modules, "pyxrt", fake_pyxrt(card, **pyxrt_options))
    rmap = register_map(SatConfig())
    io = XrtIO.open(xclbin_file, "sat_kernel", 0, regmap=rmap)
    return KernelDriver.attach(io, rmap), card


# --------------------------------------------------------------------------- opening


def test_module_imports_without_pyxrt_and_open_says_what_is_missing(monkeypatch, xclbin_file):
    monkeypatch.setitem(sys.modules, "pyxrt", None)  # import pyxrt -> ImportError
    with pytest.raises(ImportError, match=r"pyxrt .* not importable.*setup\.sh"):
        XrtIO.open(xclbin_file, "sat_kernel")


def test_open_loads_the_xclbin_and_takes_the_registers_through_ip(monkeypatch, xclbin_file):
    drv, card = open_driver(monkeypatch, xclbin_file)
    assert card.log == [("device", 0), ("load_xclbin", str(xclbin_file)),
                        ("kernel", "sat_kernel", "shared"),  # only for group_id
                        ("kernel closed",),                  # released before ...
                        ("ip", "sat_kernel")]                # ... the exclusive open
    assert drv.io.groups == {0: 5}  # cmd_list is argument 0
    assert list(card.contexts.values()) == ["exclusive"]
    assert drv.io.has_interrupt is False


def test_early_pyxrt_uses_the_exclusive_kernel_for_registers(monkeypatch, xclbin_file):
    drv, card = open_driver(monkeypatch, xclbin_file, ip=False, kernel_registers=True)
    assert ("kernel", "sat_kernel", "exclusive") in card.log and ("kernel closed",) not in card.log
    buf = drv.io.allocate(16, "u1")
    assert drv.run(cmd_list=buf, n_cmds=2, poll_interval=0) == DONE | IDLE
    assert card.regs[CMDS_DONE] == 2


def test_pyxrt_without_register_access_is_a_clear_error(monkeypatch, xclbin_file):
    with pytest.raises(XrtError, match=r"no register access.*pyxrt\.ip.*pynq 3\.0\.1"):
        open_driver(monkeypatch, xclbin_file, ip=False, kernel_registers=False)


def test_unknown_kernel_and_missing_xclbin(monkeypatch, xclbin_file):
    monkeypatch.setitem(sys.modules, "pyxrt", fake_pyxrt(FakeCard()))
    with pytest.raises(XrtError, match=r"sat_kernel\.xclbin has no kernel 'vadd'; it has: "
                                       r"sat_kernel"):
        XrtIO.open(xclbin_file, "vadd:{vadd_1}")
    with pytest.raises(FileNotFoundError, match="nope.xclbin"):
        XrtIO.open(xclbin_file.parent / "nope.xclbin", "sat_kernel")
    with pytest.raises(DriverError, match="register map is for kernel 'sat_kernel'"):
        XrtIO.open(xclbin_file, "vadd", regmap=register_map(SatConfig()))


# --------------------------------------------------------------------------- running


def test_run_writes_the_64_bit_address_and_syncs_around_the_run(monkeypatch, xclbin_file):
    drv, card = open_driver(monkeypatch, xclbin_file)
    buf = drv.io.allocate(64, "u1", group="cmd_list")
    assert isinstance(buf, XrtBuffer) and buf.shape == (64,) and buf.dtype == np.uint8
    assert card.bos[0].group == 5 and card.bos[0].nbytes == 64
    buf[:] = np.arange(64, dtype=np.uint8) * 3
    card.log.clear()

    ctrl = drv.run(cmd_list=buf, n_cmds=10, poll_interval=0)

    assert ctrl == DONE | IDLE
    assert (card.regs[ARG_LO], card.regs[ARG_HI]) == (0x0000_2000, 0x4)  # 0x4_0000_2000
    assert card.regs[N_CMDS] == 10 and drv.read_reg("CMDS_DONE") == 10
    assert list(buf[:10]) == [3 * i + 1 for i in range(10)]  # the card's work came back
    assert list(buf[10:]) == [3 * i & 0xFF for i in range(10, 64)]
    order = [e[:2] for e in card.log
             if e[0] == "sync" or (e[:2] == ("write", CTRL)) or (
                 e[:2] == ("read", CTRL) and e[2] & DONE)]
    assert order == [("sync", TO_DEV), ("write", CTRL), ("read", CTRL), ("sync", FROM_DEV)]
    syncs = [e for e in card.log if e[0] == "sync"]
    assert syncs == [("sync", TO_DEV, 64, 0, 0x4_0000_2000), ("sync", FROM_DEV, 64, 0,
                                                             0x4_0000_2000)]
    first_write = next(i for i, e in enumerate(card.log) if e[0] == "write")
    assert card.log.index(syncs[0]) < first_write  # flushed before any argument is written


def test_integer_addresses_and_full_words_pass_unchanged(monkeypatch, xclbin_file):
    drv, card = open_driver(monkeypatch, xclbin_file)
    drv.set_arg("cmd_list", 0xFFFF_FFF0_0000_1000)
    assert (card.regs[ARG_LO], card.regs[ARG_HI]) == (0x0000_1000, 0xFFFF_FFF0)
    drv.io.write32(N_CMDS, 0xDEAD_BEEF)
    assert card.regs[N_CMDS] == 0xDEAD_BEEF and drv.read_reg("n_cmds") == 0xDEAD_BEEF


def test_without_sync_the_card_and_the_host_disagree(monkeypatch, xclbin_file):
    drv, card = open_driver(monkeypatch, xclbin_file)
    buf = drv.io.allocate(8, "u1")
    buf[:] = 7
    drv.run(cmd_list=buf, n_cmds=8, sync=False, poll_interval=0)
    assert list(buf) == [7] * 8  # host side untouched
    assert card.memory[FIRST_BO:FIRST_BO + 8] == bytes([1] * 8)  # card worked on zeros
    drv.io.sync_from_device(buf)
    assert list(buf) == [1] * 8


def test_a_plain_numpy_array_is_refused_before_any_register_access(monkeypatch, xclbin_file):
    drv, card = open_driver(monkeypatch, xclbin_file)
    card.log.clear()
    with pytest.raises(DriverError, match=r"cmd_list: a plain ndarray has no device address"):
        drv.run(cmd_list=np.zeros(64, np.uint8), n_cmds=1)
    assert card.log == []


def test_timeout_message_holds_ctrl(monkeypatch, xclbin_file):
    drv, card = open_driver(monkeypatch, xclbin_file, FakeCard(hang=True))
    buf = drv.io.allocate(16, "u1")
    with pytest.raises(TimeoutError, match=r"CTRL = 0x00000001 \(ap_start\).*still running"):
        drv.run(cmd_list=buf, n_cmds=1, timeout=0.01, poll_interval=0.001)
    assert [e for e in card.log if e[0] == "sync"][-1][1] == TO_DEV  # nothing synced back


# --------------------------------------------------------------------------- buffers


def test_slices_keep_their_card_address_and_sync_only_their_bytes(monkeypatch, xclbin_file):
    drv, card = open_driver(monkeypatch, xclbin_file)
    drv.io.allocate(100, "u1")  # takes the first page
    buf = drv.io.allocate((4, 64), "u4")
    assert buf.device_address == CARD_BASE + 0x3000
    part = buf[1]  # bytes 256..511
    assert part.device_address == CARD_BASE + 0x3000 + 256 and part.offset == 256
    card.log.clear()
    drv.io.sync_to_device(part)
    assert card.log == [("sync", TO_DEV, 256, 256, CARD_BASE + 0x3000)]
    drv.set_arg("cmd_list", buf[2:])
    assert (card.regs[ARG_LO], card.regs[ARG_HI]) == (0x3000 + 512, 0x4)


def test_derived_foreign_and_freed_buffers_are_refused(monkeypatch, xclbin_file):
    drv, card = open_driver(monkeypatch, xclbin_file)
    buf = drv.io.allocate(16, "u4")
    assert (buf + 1).device_address is None
    with pytest.raises(DriverError, match="derived from a buffer"):
        drv.set_arg("cmd_list", buf + 1)
    other = XrtIO(None, device=sys.modules["pyxrt"].device(1), pyxrt=sys.modules["pyxrt"],
                  kernel_name="other")
    with pytest.raises(DriverError, match="buffer of another XrtIO .*'other'"):
        drv.set_arg("cmd_list", other.allocate(16, "u4", group=0))
    assert drv.io.live_allocations == 1
    buf.freebuffer()
    assert drv.io.live_allocations == 0 and buf.freed and buf.bo is None
    with pytest.raises(DriverError, match="the buffer was freed"):
        drv.set_arg("cmd_list", buf)
    assert not any(e[0] == "write" for e in card.log)


@pytest.mark.parametrize(("group", "expect"), [
    (None, 5), ("cmd_list", 5), (3, 3),
])
def test_allocate_picks_the_memory_group(monkeypatch, xclbin_file, group, expect):
    drv, card = open_driver(monkeypatch, xclbin_file)
    drv.io.allocate(8, "u1", group=group)
    assert card.bos[-1].group == expect


@pytest.mark.parametrize(("group", "message"), [
    ("n_cmds", r"no pointer argument 'n_cmds'; allowed: cmd_list"),
    (-1, r"group = -1"),
    (1.5, r"group = 1.5 \(float\)"),
])
def test_allocate_refuses_bad_groups(monkeypatch, xclbin_file, group, message):
    drv, _ = open_driver(monkeypatch, xclbin_file)
    with pytest.raises(DriverError, match=message):
        drv.io.allocate(8, "u1", group=group)


def test_an_ambiguous_group_id_surfaces_at_allocate(monkeypatch, xclbin_file):
    drv, _ = open_driver(monkeypatch, xclbin_file, FakeCard(groups={}))
    with pytest.raises(DriverError, match=r"group_id\(0\): RuntimeError: group_id: ambiguous"):
        drv.io.allocate(8, "u1", group="cmd_list")
    with pytest.raises(DriverError, match="no single memory group"):
        drv.io.allocate(8, "u1")
    assert drv.io.allocate(8, "u1", group=1).group == 1


# --------------------------------------------------------------------------- open_kernel


def test_open_kernel_finds_regmap_json_one_folder_up(monkeypatch, xclbin_file):
    monkeypatch.setitem(sys.modules, "pyxrt", fake_pyxrt(FakeCard()))
    (xclbin_file.parent.parent / "regmap.json").write_text(register_map(SatConfig()).to_json())
    drv = open_kernel(KernelDriver, xclbin_file, "sat_kernel")
    assert type(drv) is KernelDriver and drv.regmap == register_map(SatConfig())
    assert drv.io.groups == {0: 5}  # the map reached XrtIO.open


def test_open_kernel_prefers_the_file_beside_the_xclbin(monkeypatch, xclbin_file):
    monkeypatch.setitem(sys.modules, "pyxrt", fake_pyxrt(FakeCard()))
    beside = register_map(SatConfig(rows=8, cols=8))
    (xclbin_file.parent / "regmap.json").write_text(beside.to_json())
    (xclbin_file.parent.parent / "regmap.json").write_text(register_map(SatConfig()).to_json())
    assert open_kernel(KernelDriver, xclbin_file, "sat_kernel").regmap == beside


def test_open_kernel_without_a_map_lists_where_it_looked(monkeypatch, xclbin_file):
    monkeypatch.setitem(sys.modules, "pyxrt", fake_pyxrt(FakeCard()))
    with pytest.raises(DriverError, match=r"no register map .*tried: regmap=.*"
                                          r"output/regmap\.json.*/regmap\.json"):
        open_kernel(KernelDriver, xclbin_file, "sat_kernel")


def test_open_kernel_uses_the_class_map(monkeypatch, xclbin_file):
    monkeypatch.setitem(sys.modules, "pyxrt", fake_pyxrt(FakeCard()))

    class MyDriver(KernelDriver):
        REGMAP = register_map(SatConfig())

    drv = open_kernel(MyDriver, xclbin_file, "sat_kernel:{sat_kernel_1}")
    assert isinstance(drv, MyDriver) and drv.io.kernel_name == "sat_kernel:{sat_kernel_1}"
