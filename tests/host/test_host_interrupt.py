"""``PynqIO.wait_interrupt``: pynq's ``Interrupt.wait`` without deprecated asyncio calls.

Issue 10, defect 14: ``asyncio.get_event_loop()`` makes an event loop implicitly when
the thread has none; Python 3.12 deprecates that (DeprecationWarning, which PYNQ
images on 3.12 print) and 3.14 refuses it.  The wait must still run on the thread's
*current* loop: pynq registers the UIO reader behind an ``Interrupt`` with that loop
when it makes the ``Interrupt``, so a fresh loop (``asyncio.run``) never sees the
interrupt, and ``asyncio.run`` would also unset the loop pynq needs afterwards.

This machine runs Python 3.11, whose ``get_event_loop`` makes the loop silently; the
tests install an event-loop policy that behaves as 3.12's does (warns, then makes the
loop) to reproduce the warning.  The pynq tests drive pynq's own ``Interrupt.wait``
and ``UioController`` over a FIFO standing in for ``/dev/uioN``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
import warnings
import weakref

import pytest

pynq = pytest.importorskip("pynq")
from pynq.interrupt import Interrupt  # noqa: E402
from pynq.uio import UioController  # noqa: E402

from sparseforge.host.kernel import PynqIO  # noqa: E402


class Python312Policy(asyncio.DefaultEventLoopPolicy):
    """Python 3.12's rule on 3.11: asking the main thread for its loop when none was
    ever set warns ``There is no current event loop`` (DeprecationWarning), then makes one."""

    def __init__(self):
        super().__init__()
        self.was_set = False

    def set_event_loop(self, loop):
        self.was_set = True
        super().set_event_loop(loop)

    def get_event_loop(self):
        if not self.was_set and threading.current_thread() is threading.main_thread():
            warnings.warn("There is no current event loop", DeprecationWarning, stacklevel=2)
        return super().get_event_loop()


@pytest.fixture
def fresh_asyncio():
    """A fresh default policy (no current loop) for the test; a fresh one afterwards too,
    so the next test does not inherit this test's loop."""
    asyncio.set_event_loop_policy(None)
    yield
    # The test's loop; RuntimeError: none left (asyncio.run unset it).
    with warnings.catch_warnings(), contextlib.suppress(RuntimeError):
        warnings.simplefilter("ignore")
        asyncio.get_event_loop_policy().get_event_loop().close()
    asyncio.set_event_loop_policy(None)


class FakeInterrupt:
    """An interrupt whose ``wait`` coroutine completes after one loop iteration."""

    def __init__(self):
        self.waits = 0

    async def wait(self):
        await asyncio.sleep(0)
        self.waits += 1


def test_no_deprecation_warning_without_a_current_loop(fresh_asyncio):
    """Failed before the fix: ``DeprecationWarning: There is no current event loop``."""
    asyncio.set_event_loop_policy(Python312Policy())
    io = PynqIO(mmio=None, interrupt=FakeInterrupt())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert io.wait_interrupt(1.0) is True
        assert io.wait_interrupt(1.0) is True  # the loop made for the first wait is reused
    assert io.interrupt.waits == 2


def test_the_implicit_loop_maker_is_never_called(fresh_asyncio, monkeypatch):
    """Nothing calls ``asyncio.get_event_loop`` (on Python < 3.14, where it may make a
    loop implicitly); failed before the fix."""
    def refuse():
        raise AssertionError("asyncio.get_event_loop() called")

    monkeypatch.setattr(asyncio, "get_event_loop", refuse)
    io = PynqIO(mmio=None, interrupt=FakeInterrupt())
    assert io.wait_interrupt(1.0) is True


@pytest.fixture
def uio(tmp_path, fresh_asyncio):
    """pynq's UioController on a FIFO, made (as at Overlay load) while ``loop`` is the
    thread's current loop.  Enabling the interrupt writes 4 bytes to the device; on the
    FIFO they come straight back, so the interrupt fires as soon as it is enabled."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    fifo = tmp_path / "uio0"
    os.mkfifo(fifo)
    made = [UioController(str(fifo)), loop]
    yield made
    made.clear()  # pytest keeps the yielded list: drop the controller from it while the
    gc.collect()  # loop is current (UioController.__del__ removes its reader from it)


def _pynq_interrupt(controller) -> Interrupt:
    """A pynq ``Interrupt`` on ``controller`` (what ``Interrupt(pin)`` builds from the
    overlay's interrupt table, which this machine has not got)."""
    intr = Interrupt.__new__(Interrupt)
    intr.parent = weakref.ref(controller)
    intr.number = 0
    intr.event = asyncio.Event()
    intr.waiting = False
    return intr


def test_pynqs_interrupt_wait_fires_on_the_loop_pynq_registered(uio):
    controller, loop = uio
    intr = _pynq_interrupt(controller)
    io = PynqIO(mmio=None, interrupt=intr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert io.wait_interrupt(5.0) is True
        assert io.wait_interrupt(5.0) is True   # the Event is bound to pynq's loop
    # The thread keeps pynq's loop: later interrupts (made by pynq now) still work.
    assert asyncio.get_event_loop_policy().get_event_loop() is loop
    assert not loop.is_closed()


def test_pynqs_interrupt_wait_times_out(uio):
    controller, _ = uio
    intr = _pynq_interrupt(controller)
    intr.waiting = True      # armed earlier, never fired: nothing enables the line again
    assert PynqIO(mmio=None, interrupt=intr).wait_interrupt(0.05) is False


def test_a_running_loop_is_refused(fresh_asyncio):
    io = PynqIO(mmio=None, interrupt=FakeInterrupt())

    async def inside_a_loop():
        assert "asyncio loop is running" in io.interrupt_problem()
        with pytest.raises(RuntimeError, match="wait by polling"):
            io.wait_interrupt(1.0)

    asyncio.run(inside_a_loop())
    assert io.interrupt_problem() is None and io.interrupt.waits == 0


def test_no_interrupt_is_refused():
    io = PynqIO(mmio=None)
    assert io.interrupt_problem() == "no interrupt line is connected"
    with pytest.raises(RuntimeError, match="no interrupt"):
        io.wait_interrupt(1.0)
