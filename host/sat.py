"""PYNQ driver of the SAT kernel: GEMMs and BDWP training steps from NumPy.

:class:`SatDriver` is the :class:`~sparseforge.host.kernel.KernelDriver` of the
SAT kernel (``sparseforge generate sat``).  Importing this module registers it
with pynq under the kernel's VLNV, so ``pynq.Overlay`` hands it out::

    import pynq
    import sparseforge.host.sat            # binds SatDriver to sparseforge.org:kernel:sat_kernel
    overlay = pynq.Overlay("sat_kernel.bit")   # regmap.json beside it
    sat = overlay.sat_kernel_0
    c = sat.gemm(a, b, mode="ff")          # C = A · compress(B), int64
    wf = sat.prune(w)                      # N:M on the kernel's weight generator
    step = sat.training_step([(x1, w1, dy1), (x2, w2, dy2)])   # one kernel start

Every call builds a :class:`~sparseforge.families.sat.contract.CommandList` (operands
packed in the kernel's record formats, descriptors, result areas, in one
buffer), copies it into a device buffer the driver keeps, sets ``cmd_list`` /
``n_cmds``, starts the kernel once and unpacks every result.  The kernel's
configuration comes from the register map (``regmap.json``); on the first run
the driver compares it with what the hardware reports in ``INFO0..2``.

Modes
-----
``dense``, ``wu``
    ``C = A · B`` (``wu``: the weight-gradient GEMM ``dW = dYᵀ · X``).
``ff``, ``bp``
    ``C = A · B'`` where ``B'`` keeps the N largest magnitudes of every group of
    M consecutive elements of each column of ``B`` (along the reduction axis):
    the forward GEMM ``Y = X · Wfᵀ`` with ``B = Wᵀ``, the backward-data GEMM
    ``dX = dY · Wb`` with ``B = W``.

Weight generation (``prune``, and ``training_step`` by default) runs SAT's
dataflow on the kernel: the weight generator prunes the dense W row-wise and
column-wise and writes B streams that the FF / BP commands of the same list read.

Results are the engine's ``acc_bits``-bit accumulators (two's-complement wrap),
as int64.  Requantisation, activations and the optimiser update run on the host:
the kernel is the GEMM engine of a training step, not the whole step.

Only numpy, pynq and sparseforge's pure-Python core are imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pynq

from sparseforge.errors import ConfigError, SparseforgeError
from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import (
    ALIGN_BYTES,
    ERRORS,
    INFO_FIELDS,
    OPCODES,
    CommandList,
    Descriptor,
    command_ranges,
    decode_info,
    info_words,
    register_map,
)

from .kernel import DriverError, KernelDriver

__all__ = ["KernelRunError", "SatDriver", "StepResult"]




class KernelRunError(SparseforgeError, RuntimeError):
    """The kernel stopped a command list with an error (``STATUS`` != 0).

    Attributes
    ----------
    status : int
        ``STATUS`` (see :data:`~sparseforge.families.sat.contract.STATUS_CODES`; the message
        quotes its text, :data:`~sparseforge.families.sat.contract.ERRORS`).
    command : int
        ``ERR_CMD``: index of the failing command in the list.
    done : int
        ``CMDS_DONE``: commands completed before it.
    """

    def __init__(self, message: str, status: int, command: int, done: int):
        super().__init__(message)
        self.status, self.command, self.done = status, command, done


@dataclass(frozen=True)
class StepResult:
    """The three GEMMs of one layer's BDWP training step (int64 accumulators).

    Attributes
    ----------
    y : ndarray, shape (batch, out)
        Forward ``Y = X · Wfᵀ`` (``Wf``: W pruned N:M along ``in``, row-wise).
    dx : ndarray, shape (batch, in)
        Backward-data ``dX = dY · Wb`` (``Wb``: W pruned N:M along ``out``, column-wise).
    dw : ndarray, shape (out, in)
        Weight gradient ``dW = dYᵀ · X`` (dense).
    """

    y: np.ndarray
    dx: np.ndarray
    dw: np.ndarray


class SatDriver(KernelDriver):
    """Driver of the SAT kernel (see the module docstring).

    Attributes
    ----------
    config : SatConfig
        The kernel's configuration (from its register map).
    memory : object or None
        ``target`` of ``pynq.allocate`` for the driver's buffers; ``None``: the
        overlay's device (Zynq).  On Alveo with pynq 3.0.1 set the memory bank
        ``m_axi_gmem`` is linked to, e.g. ``sat.memory = overlay.HBM0``.
    last_cycles : int or None
        Kernel clock cycles of the last run, ``ap_start`` to ``ap_done`` (``CYCLES``).
    last_descriptors : list[Descriptor]
        The commands of the last run.
    """

    bindto = (register_map(SatConfig()).vlnv,)
    pointer_alignment = ALIGN_BYTES
    memory = None
    DESIGN = "sat"

    @classmethod
    def for_config(cls, cfg: SatConfig) -> type[SatDriver]:
        """A subclass bound to the VLNV of ``cfg.kernel_name``, with ``cfg``'s map built in.

        For kernels generated with another ``kernel_name`` (pynq binds drivers by
        VLNV), or to drive a bitstream without its ``regmap.json``;
        :meth:`~sparseforge.host.kernel.KernelDriver.for_regmap` does the same
        from ``regmap.json``.
        """
        return cls.for_regmap(register_map(cfg))

    def _setup(self, rmap, io) -> None:
        super()._setup(rmap, io)
        try:
            self.config = SatConfig.from_dict(dict(rmap.config), origin="regmap.json config")
        except ConfigError as exc:
            raise DriverError(f"register map of {rmap.kernel}: {exc}") from None
        self._hw_checked = False
        self._buffer = None
        self.last_cycles: int | None = None
        self.last_descriptors: list[Descriptor] = []

    # ------------------------------------------------------------------ numpy API
    def gemm(self, a, b, mode: str = "dense", **options) -> np.ndarray:
        """``C = A · B`` in ``mode`` (``dense``, ``wu``, ``ff``, ``bp``); int64.

        ``options`` go to :meth:`run_commands` (``timeout``, ``poll_interval``,
        ``interrupt``).

        Raises
        ------
        DriverError
            A mode, dtype, shape or value the kernel cannot take (nothing is
            written to the device).
        """
        cl = CommandList(self.config)
        self._add(cl, a, b, mode, "gemm")
        return self.run_commands(cl, **options)[0]

    def gemms(self, jobs: Sequence[tuple], **options) -> list[np.ndarray]:
        """Several GEMMs ``(a, b, mode)`` with one kernel start; their results in order."""
        if not jobs:
            return []
        cl = CommandList(self.config)
        for i, job in enumerate(jobs):
            if not isinstance(job, tuple) or len(job) != 3:
                raise DriverError(f"jobs[{i}] = {type(job).__name__}; allowed: a tuple "
                                  "(a, b, mode)")
            self._add(cl, *job, f"jobs[{i}]")
        return self.run_commands(cl, **options)

    def prune(self, w, colwise: bool = False, **options):
        """N:M-prune the dense ``W[out, in]`` on the kernel's weight generator.

        Row-wise (along ``in``, the forward weight) or ``colwise`` (along ``out``,
        the backward-data weight).  Returns :class:`sparseforge.nm.NMTensor`, what
        ``nm.compress(W, n, m, axis=0 if colwise else 1)`` gives.
        """
        cl = CommandList(self.config)
        try:
            cl.add_wgen(np.asarray(w), colwise)
        except ValueError as exc:
            raise DriverError(f"prune: {exc}") from None
        return self.run_commands(cl, **options)[0]

    def linear_step(self, x, w, dy, **options) -> StepResult:
        """One layer's BDWP step (forward, backward-data, weight gradient), one start."""
        return self.training_step([(x, w, dy)], **options)[0]

    def training_step(self, layers: Sequence[tuple], *, prune: str = "kernel",
                      **options) -> list[StepResult]:
        """The GEMMs of a BDWP training step over ``layers``, all from one command list.

        Parameters
        ----------
        layers : sequence of (x, w, dy)
            Per layer the integer activations ``X[batch, in]``, dense master weights
            ``W[out, in]`` and output gradients ``dY[batch, out]`` (already
            quantised to the kernel's ``width`` bits by the host).
        prune : {"kernel", "host"}
            ``kernel``: SAT's dataflow, the kernel's weight generator prunes W
            row-wise and column-wise and the FF / BP GEMMs read what it wrote (5
            commands per layer); ``host``: the host packs the pruned weights (3
            commands per layer).  The results are the same.

        Returns
        -------
        list[StepResult]
            Per layer ``Y``, ``dX`` and ``dW``, in layer order.
        """
        if prune not in ("kernel", "host"):
            raise DriverError(f"prune = {prune!r}; allowed: 'kernel', 'host'")
        if not layers:
            return []
        cl = CommandList(self.config)
        jobs: list[tuple[int, int, int]] = []
        for i, layer in enumerate(layers):
            if not isinstance(layer, tuple) or len(layer) != 3:
                raise DriverError(f"layers[{i}] = {type(layer).__name__}; allowed: a tuple "
                                  "(x, w, dy)")
            x, w, dy = (np.asarray(v) for v in layer)
            for name, arr in (("x", x), ("w", w), ("dy", dy)):
                if arr.ndim != 2:
                    raise DriverError(f"layers[{i}] {name} has shape {arr.shape}; allowed: "
                                      "2-D (x[batch, in], w[out, in], dy[batch, out])")
            if x.shape[1] != w.shape[1] or dy.shape[1] != w.shape[0] or \
                    x.shape[0] != dy.shape[0]:
                raise DriverError(f"layers[{i}]: x {x.shape}, w {w.shape}, dy {dy.shape} do "
                                  "not chain; allowed: x[batch, in], w[out, in], dy[batch, out]")
            where = f"layers[{i}]"
            try:
                if prune == "kernel":
                    y = cl.add_pruned(x, cl.add_wgen(w, colwise=False))
                    dx = cl.add_pruned(dy, cl.add_wgen(w, colwise=True))
                else:
                    y = cl.add(x, w.T, "ff")
                    dx = cl.add(dy, w, "bp")
                dw = cl.add(dy.T, x, "wu")
            except ValueError as exc:
                raise DriverError(f"{where}: {exc}") from None
            jobs.append((y, dx, dw))
        out = self.run_commands(cl, **options)
        return [StepResult(*(out[j] for j in idx)) for idx in jobs]

    def run_commands(self, cl: CommandList, *, timeout: float = 10.0,
                     poll_interval: float = 1e-4, interrupt: bool = False) -> list[np.ndarray]:
        """Run a :class:`~sparseforge.families.sat.contract.CommandList` (one start); every result.

        Waits for ``ap_done`` by polling ``CTRL`` every ``poll_interval`` seconds, or
        with ``interrupt`` by sleeping on the kernel's interrupt; ``TimeoutError``
        (holding ``CTRL``) after ``timeout`` seconds.
        """
        if not isinstance(cl, CommandList):
            raise DriverError(f"run_commands takes a CommandList, not {type(cl).__name__}")
        if cl.cfg != self.config:
            raise DriverError("the CommandList was built for another SatConfig than this "
                              "kernel's; build it with CommandList(driver.config)")
        if not cl.jobs:
            raise DriverError("the command list is empty; add GEMMs first")
        self.check_hardware()
        buf = self._scratch(cl.nbytes)
        base = self.io.buffer_address(buf)
        image = cl.image(base)
        view = buf[:cl.nbytes]
        view[:] = image
        descs = cl.descriptors(base)
        # the slice keeps its device address: only the list's bytes are synced
        self._run_list(view, len(descs), descs, timeout, poll_interval, interrupt)
        return cl.results(np.asarray(view))

    def execute(self, descriptors: Sequence[Descriptor], buffers: Sequence,
                *, timeout: float = 10.0, poll_interval: float = 1e-4,
                interrupt: bool = False, check: bool = True) -> int:
        """Run hand-placed descriptors over the caller's device buffers; ``CMDS_DONE``.

        For operands that stay on the device between runs (weights placed once).
        With ``check``, every range a command reads or writes must lie inside one of
        ``buffers`` and every field must suit this kernel, or nothing is written.
        The caller syncs ``buffers`` (``flush`` before, ``invalidate`` after).

        Raises
        ------
        DriverError
            A descriptor outside the buffers, or one the kernel would reject.
        KernelRunError
            The kernel stopped the list (``STATUS`` != 0).
        """
        descs = list(descriptors)
        if not descs:
            raise DriverError("descriptors is empty; allowed: at least one Descriptor")
        regions = []
        for i, buf in enumerate(buffers):
            if not self.io.is_buffer(buf):
                raise DriverError(f"buffers[{i}] is a {type(buf).__name__}; allowed: device "
                                  "buffers from pynq.allocate")
            start = self._buffer_address(f"buffers[{i}]: buffer", buf)
            regions.append((start, start + buf.nbytes))
        packed = []
        for i, d in enumerate(descs):
            try:
                packed.append(d.pack())  # every field within its word
            except ConfigError as exc:
                raise DriverError(f"descriptors[{i}]: {exc}") from None
        if check:
            for i, d in enumerate(descs):
                self._check_descriptor(i, d, regions)
        raw = b"".join(packed)
        self.check_hardware()
        view = self._scratch(len(raw))[:len(raw)]
        view[:] = np.frombuffer(raw, np.uint8)
        return self._run_list(view, len(descs), descs, timeout, poll_interval, interrupt)

    # ------------------------------------------------------------------ hardware
    def check_hardware(self) -> None:
        """Compare ``INFO0..2`` with the register map's config (once per driver).

        Raises
        ------
        DriverError
            The bitstream was generated from another configuration.
        """
        if self._hw_checked:
            return
        hw = decode_info([self.read_reg(reg) for reg, _ in INFO_FIELDS])
        want = decode_info(info_words(self.config))
        wrong = [f"{name} = {hw[name]} (map: {want[name]})" for name in want
                 if hw[name] != want[name]]
        if wrong:
            raise DriverError(f"{self.regmap.kernel}: the hardware reports {', '.join(wrong)}; "
                              "regmap.json belongs to another build of the kernel")
        self._hw_checked = True

    @property
    def status(self) -> dict:
        """``STATUS``, ``ERR_CMD``, ``CMDS_DONE`` and ``CYCLES`` of the last run."""
        st = self.read_reg("STATUS")
        return {"status": st, "error": ERRORS.get(st, "none" if st == 0 else "unknown"),
                "err_cmd": self.read_reg("ERR_CMD"), "cmds_done": self.read_reg("CMDS_DONE"),
                "cycles": self._cycles()}

    # ------------------------------------------------------------------ internals
    def _add(self, cl: CommandList, a, b, mode: str, where: str) -> None:
        a, b = np.asarray(a), np.asarray(b)
        try:
            cl.add(a, b, mode)
        except ValueError as exc:
            raise DriverError(f"{where}: {exc}") from None

    def _scratch(self, nbytes: int):
        """The driver's device buffer, grown to at least ``nbytes`` bytes."""
        need = -(-max(nbytes, ALIGN_BYTES) // 4096) * 4096
        if self._buffer is None or self._buffer.nbytes < need:
            if self._buffer is not None and hasattr(self._buffer, "freebuffer"):
                self._buffer.freebuffer()
            self._buffer = self._allocate(need)
        return self._buffer

    def _allocate(self, nbytes: int):
        if hasattr(self.io, "allocate"):
            return self.io.allocate(nbytes, np.uint8)
        target = self.memory if self.memory is not None else self.device
        return pynq.allocate(nbytes, np.uint8, target=target)

    def _check_descriptor(self, i: int, d: Descriptor, regions: list) -> None:
        cfg = self.config
        if d.op not in OPCODES:
            raise DriverError(f"descriptors[{i}].op = {d.op!r}; allowed: {', '.join(OPCODES)}")
        if (d.n, d.m) != (cfg.n, cfg.m):
            raise DriverError(f"descriptors[{i}]: N:M = {d.n}:{d.m}; allowed: {cfg.n}:{cfg.m} "
                              "(the kernel's)")
        word = cfg.axi_data_bits // 8
        for name in ("a_stride", "b_stride"):
            if getattr(d, name) % word:
                raise DriverError(f"descriptors[{i}].{name} = {getattr(d, name)} is not a whole "
                                  f"number of AXI words; allowed: a multiple of {word} bytes")
        if not 1 <= d.steps <= cfg.max_steps:
            raise DriverError(f"descriptors[{i}].steps = {d.steps}; allowed: 1 to "
                              f"{cfg.max_steps}")
        for name in ("a_addr", "b_addr", "c_addr"):
            if getattr(d, name) % ALIGN_BYTES:
                raise DriverError(f"descriptors[{i}].{name} = {getattr(d, name):#x} is not "
                                  f"aligned; allowed: a multiple of {ALIGN_BYTES} bytes")
        for field, (lo, hi) in command_ranges(cfg, d).items():
            if not any(s <= lo and hi <= e for s, e in regions):
                spans = ", ".join(f"[{s:#x}, {e:#x})" for s, e in regions) or "none"
                raise DriverError(f"descriptors[{i}] {field.upper()} range [{lo:#x}, {hi:#x}) "
                                  f"({hi - lo} bytes) is not inside one buffer; buffers: {spans}")

    def _run_list(self, buf, n: int, descs: list[Descriptor], timeout: float,
                  poll_interval: float, interrupt: bool) -> int:
        self.run(cmd_list=buf, n_cmds=n, timeout=timeout, poll_interval=poll_interval,
                 interrupt=interrupt)
        self.last_descriptors = list(descs)
        self.last_cycles = self._cycles()
        status = self.read_reg("STATUS")
        done = self.read_reg("CMDS_DONE")
        if status:
            cmd = self.read_reg("ERR_CMD")
            op = descs[cmd].op if cmd < len(descs) else "?"
            raise KernelRunError(f"{self.regmap.kernel}: command {cmd} (op {op}) failed: "
                                 f"{ERRORS.get(status, f'STATUS {status}')}; {done} of {n} "
                                 "commands completed", status, cmd, done)
        return done

    def _cycles(self) -> int:
        return self.read_reg("CYCLES_LO") | self.read_reg("CYCLES_HI") << 32

