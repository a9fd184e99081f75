"""C-simulation of the rendered Edge-MoE design (g++, :mod:`sparseforge.sim.lib.csim`).

:class:`EdgeMoECsim` renders the design and its testbench for one config, builds
them once (cached by content) and runs one kernel or the whole forward pass on raw
integer arrays, returning the outputs and the trip counts of the pipelined loops.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.families.edgemoe.contract import pack_params, top_args
from sparseforge.sim.lib import csim

from .golden import ModelWeights

__all__ = ["EdgeMoECsim", "top_inputs"]

_I64 = np.int64


def top_inputs(cfg: EdgeMoEConfig, image: np.ndarray, w: ModelWeights,
               task: int) -> dict[str, np.ndarray]:
    """Every buffer of the top function (:func:`~sparseforge.families.edgemoe.contract.
    top_args`) from raw pixels ``[C][H][W]`` and raw weights: the parameter buffers
    packed by :func:`~sparseforge.families.edgemoe.contract.pack_params`, the scratch
    and output buffers zero."""
    params = pack_params(cfg, w)
    out = {}
    for a in top_args(cfg):
        if a.kind == "scalar":
            out[a.name] = np.array([task], _I64)
        elif a.name == "image":
            out[a.name] = np.asarray(image, _I64).ravel()
        elif a.name.startswith("weights_"):
            out[a.name] = params["weights"].astype(_I64)
        elif a.name in params:
            out[a.name] = params[a.name].astype(_I64)
        else:
            out[a.name] = np.zeros(a.count, _I64)
        if a.kind == "pointer" and out[a.name].size != a.count:
            raise ValueError(f"buffer {a.name}: {out[a.name].size} elements; the top "
                             f"function takes {a.count}")
    return out


@dataclasses.dataclass
class EdgeMoECsim:
    """The C-sim build of one configuration.

    Parameters
    ----------
    cfg : EdgeMoEConfig
    build_dir : path
        Where the executable is built (reused while the rendered sources match).
    """

    cfg: EdgeMoEConfig
    build_dir: Path

    def __post_init__(self) -> None:
        from sparseforge.hwgen.edgemoe.design import render_design

        self.build_dir = Path(self.build_dir)
        self.executable = csim.build(render_design(self.cfg, testbench=True),
                                     self.build_dir, name="edgemoe_tb")

    def run(self, kernel: str, inputs: dict[str, np.ndarray],
            outputs: dict[str, tuple], timeout: float = 600.0) -> csim.CsimResult:
        """Run the testbench's ``kernel`` (``gelu exp softmax layernorm linear attention
        gate top``) on raw int64 ``inputs``."""
        return csim.run(self.executable, {k: np.asarray(v, _I64) for k, v in inputs.items()},
                        outputs, args=[kernel], timeout=timeout)

    def top(self, buffers: dict[str, np.ndarray]) -> csim.CsimResult:
        """Call the top function on raw buffers (:func:`top_inputs`); the result holds
        ``<name>_after`` for every buffer the kernel writes and ``status`` (its return
        value, :data:`~sparseforge.families.edgemoe.contract.STATUS_CODES`)."""
        outputs = {f"{a.name}_after": (_I64, a.count) for a in top_args(self.cfg)
                   if a.kind == "pointer" and a.direction != "in"}
        outputs["status"] = (_I64, 1)
        return self.run("top", buffers, outputs)

    def forward(self, image: np.ndarray, w: ModelWeights, task: int) -> csim.CsimResult:
        """The whole forward pass for ``task`` through the top function:
        ``result["y"]`` the output features ``[T][D]`` (act raw), ``result.tripcounts``
        the loop counts."""
        cfg = self.cfg
        r = self.top(top_inputs(cfg, image, w, task))
        r.outputs["y"] = r["features_after"].reshape(cfg.tokens, -1)[:, :cfg.dim]
        return r
