"""Floating-point reference of M3ViT (float64, exact functions).

Exact softmax, erf GELU, LayerNorm with ``eps``: what the fixed-point design
approximates.  Takes float weights (:class:`sparseforge.sim.edgemoe.golden.ModelWeights`
holding floats, e.g. from :func:`sparseforge.sim.edgemoe.weights.random_weights`) and
reports what each approximation costs when compared with the golden model.
"""

from __future__ import annotations

import math

import numpy as np

from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.families.edgemoe.numerics import LN_EPS

from .golden import LayerWeights, ModelWeights

__all__ = ["Reference"]

_ERF = np.vectorize(math.erf, otypes=[np.float64])


class Reference:
    """Float model of one configuration; the same block structure as the golden model."""

    def __init__(self, cfg: EdgeMoEConfig):
        self.cfg = cfg

    @staticmethod
    def gelu(x: np.ndarray) -> np.ndarray:
        """Exact GELU, ``x * Phi(x)``."""
        x = np.asarray(x, np.float64)
        return 0.5 * x * (1.0 + _ERF(x / math.sqrt(2.0)))

    @staticmethod
    def softmax(s: np.ndarray) -> np.ndarray:
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    @staticmethod
    def layernorm(x, gamma, beta) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + LN_EPS) * gamma + beta

    def linear(self, x, w, b, gelu=False) -> np.ndarray:
        y = x @ np.asarray(w, np.float64).T
        if b is not None:
            y = y + b
        return self.gelu(y) if gelu else y

    def attention(self, q, k, v) -> np.ndarray:
        cfg = self.cfg
        dh = cfg.head_dim
        out = np.zeros_like(q)
        for h in range(cfg.heads):
            c = slice(h * dh, (h + 1) * dh)
            p = self.softmax(q[:, c] @ k[:, c].T / math.sqrt(dh))
            out[:, c] = p @ v[:, c]
        return out

    def gate(self, x, w_gate):
        logits = x @ w_gate.T
        p = self.softmax(logits)
        order = np.argsort(-logits, axis=1, kind="stable")[:, :self.cfg.top_k]
        return order, np.take_along_axis(p, order, axis=1)

    def moe(self, x, lw: LayerWeights, task: int, experts=None, scores=None):
        """MoE block; ``experts``/``scores`` (e.g. the golden model's routing) replace
        the float gate's, so that a different top-k choice does not swamp the
        comparison of the arithmetic."""
        if experts is None:
            experts, scores = self.gate(x, lw.gate_w[task])
        out = np.zeros_like(x)
        for e in range(self.cfg.experts):
            tok, slot = np.nonzero(experts == e)
            if len(tok):
                h = self.linear(x[tok], lw.exp1_w[e], lw.exp1_b[e], gelu=True)
                out[tok] += scores[tok, slot][:, None] * self.linear(h, lw.exp2_w[e],
                                                                     lw.exp2_b[e])
        return out

    def forward(self, image, w: ModelWeights, task: int, trace: dict | None = None):
        """Output features ``[T][D]`` of ``image`` (``[C][H][W]`` floats)."""
        cfg = self.cfg
        p = cfg.patch
        c, hh, ww = image.shape
        patches = image.reshape(c, hh // p, p, ww // p, p).transpose(1, 3, 0, 2, 4) \
            .reshape(-1, c * p * p)
        x = np.empty((cfg.tokens, cfg.dim))
        x[0] = w.pos_embed[0]
        x[1:] = self.linear(patches, w.patch_w, w.patch_b) + w.pos_embed[1:]
        d = cfg.dim
        for i, lw in enumerate(w.layers):
            h = self.layernorm(x, lw.norm1_w, lw.norm1_b)
            qkv = self.linear(h, lw.qkv_w, lw.qkv_b)
            x = x + self.linear(self.attention(qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]),
                                lw.proj_w, lw.proj_b)
            h = self.layernorm(x, lw.norm2_w, lw.norm2_b)
            if cfg.is_moe(i):
                x = x + self.moe(h, lw, task)
            else:
                x = x + self.linear(self.linear(h, lw.fc1_w, lw.fc1_b, gelu=True),
                                    lw.fc2_w, lw.fc2_b)
            if trace is not None:
                trace[f"layer{i}"] = x
        return self.layernorm(x, w.norm_w, w.norm_b)
