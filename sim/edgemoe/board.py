"""The Edge-MoE kernel on the simulated board: its C-sim build behind the register map.

:func:`edgemoe_board` makes a :class:`~sparseforge.sim.lib.board.FunctionBoard` whose
kernel is the top function of the rendered design, compiled with g++
(:class:`~sparseforge.sim.edgemoe.csim.EdgeMoECsim`): the control registers are
:func:`~sparseforge.families.edgemoe.contract.register_map`'s, every pointer argument
is read from device memory in its element type (:func:`~sparseforge.host.edgemoe.
element_dtype`: pixels unsigned 8-bit, ``ap_fixed`` values signed in their
:func:`~sparseforge.families.edgemoe.contract.element_bits` width) and every buffer the
top function writes goes back there.  The unmodified
:class:`~sparseforge.host.edgemoe.EdgeMoEDriver`, bound by VLNV, drives it::

    board = edgemoe_board(cfg, build_dir)
    drv = board.driver()                     # EdgeMoEDriver (for_config(cfg) if renamed)
    drv.load_weights(raw_weights)
    features = drv.infer(pixels, task=0)

A run takes the cycles of the latency model (:func:`sparseforge.sim.edgemoe.perf.latency`
on the ZCU102, expert queues even) at the config's clock, in simulated time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sparseforge.board_registry import get_board
from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.families.edgemoe.contract import register_map, top_args
from sparseforge.host.edgemoe import element_dtype  # registers EdgeMoEDriver with pynq
from sparseforge.sim.lib.board import BufferArg, FunctionBoard, FunctionKernel

__all__ = ["edgemoe_board", "edgemoe_kernel"]


def edgemoe_kernel(cfg: EdgeMoEConfig, build_dir: Path | str | None = None, *,
                   compute: Callable | None = None, cycles: int | None = None,
                   board: str = "zcu102") -> FunctionKernel:
    """The Edge-MoE top function as a :class:`~sparseforge.sim.lib.board.FunctionKernel`.

    Parameters
    ----------
    cfg : EdgeMoEConfig
    build_dir : path, optional
        Where the C-sim is built (cached by content); needed unless ``compute`` is given.
    compute : callable, optional
        Stands in for the C-sim: ``compute(values) -> {buffer: values}`` on the raw
        ``int64`` arguments (for tests of the board and driver without g++).
    cycles : int, optional
        Cycles per run; default: the latency model's on ``board``.
    """
    if compute is None:
        if build_dir is None:
            raise ValueError("edgemoe_kernel: build_dir is needed for the C-sim build "
                             "(or pass compute=)")
        from .csim import EdgeMoECsim

        csim = EdgeMoECsim(cfg, Path(build_dir))

        def compute(values: dict) -> dict:
            result = csim.top(values)
            out = {name[:-len("_after")]: value for name, value in result.outputs.items()
                   if name.endswith("_after")}
            out["STATUS"] = result["status"]  # ap_return
            return out

    if cycles is None:
        from .perf import latency

        cycles = round(latency(cfg, get_board(board)).cycles)
    buffers = tuple(BufferArg(a.name, element_dtype(cfg, a.role).str, a.count, a.direction)
                    for a in top_args(cfg) if a.kind == "pointer")
    return FunctionKernel(buffers, compute, cycles)


def edgemoe_board(cfg: EdgeMoEConfig, build_dir: Path | str | None = None, *,
                  compute: Callable | None = None, cycles: int | None = None,
                  ram_bytes: int | None = None, **options) -> FunctionBoard:
    """A simulated board whose kernel is ``cfg``'s C-sim build (see the module docstring).

    ``ram_bytes`` defaults to twice what the driver allocates (at least 64 MiB);
    ``options`` go to :class:`~sparseforge.sim.lib.board.FunctionBoard` (``clock_mhz``
    defaults to the config's ``clock_mhz``).
    """
    kernel = edgemoe_kernel(cfg, build_dir, compute=compute, cycles=cycles)
    if ram_bytes is None:
        # every weights_i points to the one weights buffer
        distinct = {b.name: b for b in kernel.buffers
                    if not b.name.startswith("weights_") or b.name == "weights_0"}
        need = sum(-(-b.nbytes // 4096) * 4096 for b in distinct.values())
        ram_bytes = max(64 << 20, -(-2 * need // (1 << 20)) << 20)
    options.setdefault("clock_mhz", cfg.clock_mhz)
    return FunctionBoard(register_map(cfg), kernel, ram_bytes=ram_bytes, **options)

