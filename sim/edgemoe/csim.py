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
from sparseforge.sim.lib import csim

from .golden import ModelWeights

__all__ = ["EdgeMoECsim", "forward_inputs"]

_I64 = np.int64


def forward_inputs(cfg: EdgeMoEConfig, image: np.ndarray, w: ModelWeights,
                   task: int) -> dict[str, np.ndarray]:
    """The testbench's ``forward`` inputs from raw pixels ``[C][H][W]`` and raw
    weights: the per-layer tensors stacked (dense and MoE layers numbered apart)."""
    dense = [lw for i, lw in enumerate(w.layers) if not cfg.is_moe(i)]
    moe = [lw for i, lw in enumerate(w.layers) if cfg.is_moe(i)]

    def stack(layers, field, shape):
        if not layers:
            return np.zeros((0, *shape), _I64)
        return np.stack([np.asarray(getattr(lw, field), _I64) for lw in layers])

    d, h, m, e = cfg.dim, cfg.expert_hidden, cfg.mlp_hidden, cfg.experts
    return {
        "task": np.array([task], _I64), "image": np.asarray(image, _I64),
        "patch_w": w.patch_w, "patch_b": w.patch_b, "pos_embed": w.pos_embed,
        "norm_w": np.stack([np.stack([lw.norm1_w, lw.norm2_w]) for lw in w.layers]),
        "norm_b": np.stack([np.stack([lw.norm1_b, lw.norm2_b]) for lw in w.layers]),
        "qkv_w": stack(w.layers, "qkv_w", (3 * d, d)), "qkv_b": stack(w.layers, "qkv_b", (3 * d,)),
        "proj_w": stack(w.layers, "proj_w", (d, d)), "proj_b": stack(w.layers, "proj_b", (d,)),
        "fc1_w": stack(dense, "fc1_w", (m, d)), "fc1_b": stack(dense, "fc1_b", (m,)),
        "fc2_w": stack(dense, "fc2_w", (d, m)), "fc2_b": stack(dense, "fc2_b", (d,)),
        "gate_w": stack(moe, "gate_w", (cfg.tasks, e, d)),
        "exp1_w": stack(moe, "exp1_w", (e, h, d)), "exp1_b": stack(moe, "exp1_b", (e, h)),
        "exp2_w": stack(moe, "exp2_w", (e, d, h)), "exp2_b": stack(moe, "exp2_b", (e, d)),
        "final_w": w.norm_w, "final_b": w.norm_b,
    }


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
        gate forward``) on raw int64 ``inputs``."""
        return csim.run(self.executable, {k: np.asarray(v, _I64) for k, v in inputs.items()},
                        outputs, args=[kernel], timeout=timeout)

    def forward(self, image: np.ndarray, w: ModelWeights, task: int) -> csim.CsimResult:
        """The whole forward pass for ``task``: ``result["y"]`` the output features
        ``[T][D]`` (act raw), ``result.tripcounts`` the loop counts."""
        cfg = self.cfg
        return self.run("forward", forward_inputs(cfg, image, w, task),
                        {"y": (_I64, (cfg.tokens, cfg.dim))})
