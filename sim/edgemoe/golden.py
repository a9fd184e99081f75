"""Bit-exact fixed-point golden model of the Edge-MoE design, written from the maths.

Every function takes and returns **raw** integers (``int64`` arrays holding
``value * 2**F`` of the format named in the docstring) and rounds exactly where
docs/designs/edgemoe.md says the hardware rounds, through
:class:`sparseforge.formats.FixedFormat` (``ap_fixed.h`` semantics).  The tables (GELU
``delta``, ``2**f``) are computed here from their formulas, independently of the
generator that writes them into the templates.

Nothing here reads the templates, the renderer or the C-sim: the C-sim is checked
against this module, and this module against :mod:`sparseforge.sim.edgemoe.reference`
(floating point) within stated tolerances.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.families.edgemoe.numerics import EXP_TABLE_LOG2, LN_EPS, Numerics

__all__ = ["Golden", "LayerWeights", "ModelWeights"]


def _round_half_up(x: float, frac: int) -> int:
    return math.floor(x * (1 << frac) + 0.5)


@dataclass
class LayerWeights:
    """Raw weights of one encoder layer (``[out][in]`` matrices, PyTorch order).

    ``norm1_w/norm2_w`` in the norm format, ``*_b`` biases in the bias format,
    matrices in the weight format.  Dense layers fill ``fc1_w, fc1_b, fc2_w, fc2_b``;
    MoE layers fill ``gate_w`` (``[tasks][experts][dim]``) and ``exp1_w`` (``[E][H][D]``),
    ``exp1_b`` (``[E][H]``), ``exp2_w`` (``[E][D][H]``), ``exp2_b`` (``[E][D]``).
    """

    norm1_w: np.ndarray
    norm1_b: np.ndarray
    qkv_w: np.ndarray  # [3D][D]: Q, K, V stacked
    qkv_b: np.ndarray  # [3D]
    proj_w: np.ndarray
    proj_b: np.ndarray
    norm2_w: np.ndarray
    norm2_b: np.ndarray
    fc1_w: np.ndarray | None = None
    fc1_b: np.ndarray | None = None
    fc2_w: np.ndarray | None = None
    fc2_b: np.ndarray | None = None
    gate_w: np.ndarray | None = None
    exp1_w: np.ndarray | None = None
    exp1_b: np.ndarray | None = None
    exp2_w: np.ndarray | None = None
    exp2_b: np.ndarray | None = None


@dataclass
class ModelWeights:
    """Raw weights of the whole model.

    ``patch_w`` ``[D][C*p*p]`` (weight format, inputs in ``(c, y, x)`` order),
    ``patch_b`` ``[D]`` (bias format), ``pos_embed`` ``[tokens][D]`` (activation
    format; row 0 is the CLS token plus its position), ``layers``, and the final
    LayerNorm ``norm_w`` / ``norm_b``.
    """

    patch_w: np.ndarray
    patch_b: np.ndarray
    pos_embed: np.ndarray
    layers: list[LayerWeights]
    norm_w: np.ndarray
    norm_b: np.ndarray


class Golden:
    """The fixed-point model of one configuration (see the module docstring)."""

    def __init__(self, cfg: EdgeMoEConfig):
        self.cfg = cfg
        self.nx = nx = Numerics.of(cfg)
        # GELU: delta(x) = x * Phi(-x) = x * erfc(x / sqrt 2) / 2 at x = i * step
        step = 2.0 ** -cfg.gelu_step_log2
        f_t = nx.gelu_table.frac_bits
        self.gelu_table = np.array(
            [_round_half_up(i * step * 0.5 * math.erfc(i * step / math.sqrt(2)), f_t)
             for i in range(cfg.gelu_entries)], np.int64)
        # exp: 2**(j / 2**T), j = 0 .. 2**T
        f_e = nx.exp_table.frac_bits
        self.exp_table = np.array([_round_half_up(2.0 ** (j / (1 << EXP_TABLE_LOG2)), f_e)
                                   for j in range((1 << EXP_TABLE_LOG2) + 1)], np.int64)
        self.log2e = _round_half_up(1 / math.log(2), nx.log2e.frac_bits)
        self.scale = _round_half_up(1 / math.sqrt(cfg.head_dim), nx.scale.frac_bits)
        self.eps = _round_half_up(LN_EPS, nx.var.frac_bits)

    # ------------------------------------------------------------------ elementwise

    def gelu(self, x: np.ndarray) -> np.ndarray:
        """GELU of activations: ``relu(x) - delta(|x|)``, ``delta`` interpolated (act raw)."""
        cfg, nx = self.cfg, self.nx
        x = np.asarray(x, np.int64)
        f_a, s, f_t = nx.act.frac_bits, cfg.gelu_step_log2, nx.gelu_table.frac_bits
        fr = f_a - s  # fraction bits of |x| below one table step
        ax = np.abs(x)
        inside = ax < int(cfg.gelu_range * (1 << f_a))
        idx = np.where(inside, ax >> fr, 0)
        r = ax & ((1 << fr) - 1)
        t0 = self.gelu_table[idx]
        t1 = self.gelu_table[np.minimum(idx + 1, cfg.gelu_entries - 1)]
        delta = nx.gelu_table.requantize((t0 << fr) + (t1 - t0) * r, f_t + fr)
        delta = np.where(inside, delta, 0)
        f = max(f_a, f_t)
        relu = np.maximum(x, 0)
        return nx.act.requantize((relu << (f - f_a)) - (delta << (f - f_t)), f)

    def exp_neg(self, d: np.ndarray, frac: int) -> np.ndarray:
        """``e**d`` for ``d <= 0`` given with ``frac`` fraction bits (exp raw).

        ``y = floor((d * log2 e))`` in the exp-argument format, ``y = n + f``,
        ``2**f`` interpolated in the table, shifted right by ``-n``.
        """
        nx = self.nx
        d = np.asarray(d, np.int64)
        if (d > 0).any():
            raise ValueError("exp_neg: the argument must be <= 0")
        f_y, f_e = nx.exp_arg.frac_bits, nx.exp_table.frac_bits
        y = nx.exp_arg.requantize(d * self.log2e, frac + nx.log2e.frac_bits)
        n = y >> f_y  # floor, <= 0
        f = y & ((1 << f_y) - 1)
        fr = f_y - EXP_TABLE_LOG2
        idx, r = f >> fr, f & ((1 << fr) - 1)
        t0, t1 = self.exp_table[idx], self.exp_table[idx + 1]
        v = nx.exp_table.requantize((t0 << fr) + (t1 - t0) * r, f_e + fr)
        return nx.exp.requantize(v, f_e - n)

    # ------------------------------------------------------------------ softmax

    def softmax_stats(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Single-pass softmax statistics along the last axis, in that order.

        ``s``: act raw, shape ``(..., K)``.  Starts from ``m = s_0, S = 1``; then per
        element: if ``s > m``: ``S = S * e**(m - s) + 1, m = s``, else ``S = S +
        e**(s - m)``, each rounded to the sum format.  Returns ``(1/S`` (recip raw,
        ``floor(2**(F_r + F_S) / S)``), ``m`` (act raw)).
        """
        nx = self.nx
        s = np.asarray(s, np.int64)
        f_a, f_s, f_e = nx.act.frac_bits, nx.sum.frac_bits, nx.exp.frac_bits
        m = s[..., 0].copy()
        big = np.full(m.shape, 1 << f_s, np.int64)
        for j in range(1, s.shape[-1]):
            sj = s[..., j]
            up = sj > m
            e = self.exp_neg(np.where(up, m - sj, sj - m), f_a)
            grown = nx.sum.requantize(big * e + (1 << (f_s + f_e)), f_s + f_e)
            added = nx.sum.requantize((big << max(0, f_e - f_s)) + (e << max(0, f_s - f_e)),
                                      max(f_s, f_e))
            big = np.where(up, grown, added)
            m = np.where(up, sj, m)
        recip = (np.int64(1) << (nx.recip.frac_bits + f_s)) // big
        return recip, m

    def softmax_weights(self, s: np.ndarray, recip: np.ndarray, m: np.ndarray) -> np.ndarray:
        """``Q_prob(e**(s - m) * (1/S))`` for scores ``s`` (..., K) and stats (...)."""
        nx = self.nx
        e = self.exp_neg(s - m[..., None], nx.act.frac_bits)
        f = nx.exp.frac_bits + nx.recip.frac_bits
        return nx.prob.requantize(e * recip[..., None], f)

    # ------------------------------------------------------------------ linear

    def linear(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None, *,
               x_frac: int | None = None, gelu: bool = False) -> np.ndarray:
        """``Q_act(b + x @ w.T)`` (then GELU): x ``[T][in]`` (act raw, or ``x_frac``
        fraction bits), w ``[out][in]`` (weight raw), b ``[out]`` (bias raw) or None.

        The products and their sum are exact in the accumulator (63-bit, wraps as
        two's complement), one rounding to the activation format at the end.
        """
        nx = self.nx
        f_x = nx.act.frac_bits if x_frac is None else x_frac
        f = f_x + nx.weight.frac_bits
        acc = np.asarray(x, np.int64) @ np.asarray(w, np.int64).T
        if b is not None:
            acc = acc + _to_frac(nx.bias.frac_bits, f, np.asarray(b, np.int64))
        acc = _wrap(acc, 63)
        y = nx.act.requantize(acc, f)
        return self.gelu(y) if gelu else y

    # ------------------------------------------------------------------ LayerNorm

    def layernorm(self, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
        """LayerNorm over the last axis of act raw ``x`` (see docs/designs/edgemoe.md)."""
        nx = self.nx
        x = np.asarray(x, np.int64)
        dim = x.shape[-1]
        f_a, f_v, f_sd, f_i = (nx.act.frac_bits, nx.var.frac_bits, nx.std.frac_bits,
                               nx.inv_std.frac_bits)
        total = x.sum(axis=-1)
        mean = np.sign(total) * (np.abs(total) // dim)  # C++ division: toward zero
        d = nx.act.requantize(x - mean[..., None], f_a)  # wraps like act_t
        sq = nx.sq_sum.requantize(d * d, 2 * f_a)
        var = sq.sum(axis=-1) // dim  # frac f_v = sq_sum's
        assert nx.sq_sum.frac_bits == f_v
        arg = (var + self.eps) << (2 * f_sd - f_v)
        sd = np.array([math.isqrt(int(a)) for a in arg.ravel()], np.int64).reshape(arg.shape)
        inv = (np.int64(1) << (f_i + f_sd)) // sd
        y1 = nx.act.requantize(d * inv[..., None], f_a + f_i)
        f_n, f_b = nx.norm.frac_bits, nx.bias.frac_bits
        f = max(f_a + f_n, f_b)
        acc = _to_frac(f_a + f_n, f, y1 * np.asarray(gamma, np.int64)) + \
            _to_frac(f_b, f, np.asarray(beta, np.int64))
        return nx.act.requantize(acc, f)

    # ------------------------------------------------------------------ attention

    def key_order(self, query: int) -> np.ndarray:
        """Keys in the order query ``query`` visits them: lane ``query mod P`` starts at
        key ``query mod P`` and wraps around (the staggered lanes)."""
        t = self.cfg.tokens
        start = query % self.cfg.lanes
        return (np.arange(t) + start) % t

    def scores(self, q: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Scaled scores of one head: ``Q_act(Q_act(q . k) * scale)``, ``[T][T]``."""
        nx = self.nx
        f_a = nx.act.frac_bits
        acc = _wrap(np.asarray(q, np.int64) @ np.asarray(k, np.int64).T, 63)
        t = nx.act.requantize(acc, 2 * f_a)
        return nx.act.requantize(t * self.scale, f_a + nx.scale.frac_bits)

    def attention(self, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Multi-head attention of act raw ``q, k, v`` ``[T][D]`` (heads side by side)."""
        cfg, nx = self.cfg, self.nx
        t, dh = cfg.tokens, cfg.head_dim
        out = np.zeros((t, cfg.dim), np.int64)
        order = np.stack([self.key_order(i) for i in range(t)])  # [T][T]
        for h in range(cfg.heads):
            cols = slice(h * dh, (h + 1) * dh)
            s = self.scores(q[:, cols], k[:, cols])
            recip, m = self.softmax_stats(np.take_along_axis(s, order, axis=1))
            p = self.softmax_weights(s, recip, m)
            acc = _wrap(p @ np.asarray(v[:, cols], np.int64), 63)
            out[:, cols] = nx.act.requantize(acc, nx.prob.frac_bits + nx.act.frac_bits)
        return out

    # ------------------------------------------------------------------ MoE

    def gate(self, x: np.ndarray, w_gate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Route tokens: ``(experts [T][k], scores [T][k])``.

        Logits ``Q_act(x @ w_gate.T)``; softmax over all experts (statistics in
        expert order); the ``top_k`` largest logits, ties to the lower index, in
        descending order; their softmax weights (prob raw) are the scores.
        """
        logits = self.linear(x, w_gate, None)
        recip, m = self.softmax_stats(logits)
        p = self.softmax_weights(logits, recip, m)
        order = np.argsort(-logits, axis=1, kind="stable")[:, :self.cfg.top_k]
        return order, np.take_along_axis(p, order, axis=1)

    def moe(self, x: np.ndarray, lw: LayerWeights, task: int) -> tuple[np.ndarray, dict]:
        """The MoE block on LayerNorm output ``x``; returns ``(out, routing)`` with
        ``routing = {"experts", "scores", "queues"}`` (``queues[e]``: the tokens of
        expert ``e`` in token order)."""
        nx = self.nx
        experts, scores = self.gate(x, lw.gate_w[task])
        out = np.zeros_like(x)
        queues = []
        for e in range(self.cfg.experts):
            tok, slot = np.nonzero(experts == e)
            queues.append(tok)
            if not len(tok):
                continue
            h = self.linear(x[tok], lw.exp1_w[e], lw.exp1_b[e], gelu=True)
            y = self.linear(h, lw.exp2_w[e], lw.exp2_b[e])
            f = nx.act.frac_bits + nx.prob.frac_bits
            weighted = nx.act.requantize(y * scores[tok, slot][:, None], f)
            out[tok] = nx.act.requantize(out[tok] + weighted, nx.act.frac_bits)
        return out, {"experts": experts, "scores": scores, "queues": queues}

    # ------------------------------------------------------------------ model

    def patch_embed(self, image: np.ndarray, w: ModelWeights,
                    pixel_frac: int) -> np.ndarray:
        """Tokens ``[T][D]``: token 0 is ``pos_embed[0]``; token ``1 + i`` is patch ``i``
        (row-major over the patch grid) times the patch weights plus bias plus
        ``pos_embed[1 + i]``.  ``image``: raw pixels ``[C][H][W]`` with ``pixel_frac``
        fraction bits."""
        cfg, nx = self.cfg, self.nx
        p = cfg.patch
        c, hh, ww = image.shape
        grid = np.asarray(image, np.int64).reshape(c, hh // p, p, ww // p, p)
        patches = grid.transpose(1, 3, 0, 2, 4).reshape(-1, c * p * p)
        emb = self.linear(patches, w.patch_w, w.patch_b, x_frac=pixel_frac)
        out = np.empty((cfg.tokens, cfg.dim), np.int64)
        out[0] = w.pos_embed[0]
        out[1:] = nx.act.requantize(emb + w.pos_embed[1:], nx.act.frac_bits)
        return out

    def layer(self, x: np.ndarray, lw: LayerWeights, index: int, task: int,
              trace: dict | None = None) -> np.ndarray:
        """One encoder layer (pre-norm attention then MLP or MoE, residual adds)."""
        cfg, nx = self.cfg, self.nx
        f_a, d = nx.act.frac_bits, cfg.dim
        h = self.layernorm(x, lw.norm1_w, lw.norm1_b)
        qkv = self.linear(h, lw.qkv_w, lw.qkv_b)
        a = self.attention(qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:])
        x = nx.act.requantize(x + self.linear(a, lw.proj_w, lw.proj_b), f_a)
        h = self.layernorm(x, lw.norm2_w, lw.norm2_b)
        if cfg.is_moe(index):
            y, routing = self.moe(h, lw, task)
            if trace is not None:
                trace[f"routing{index}"] = routing
                trace[f"gate_input{index}"] = h
        else:
            y = self.linear(self.linear(h, lw.fc1_w, lw.fc1_b, gelu=True), lw.fc2_w, lw.fc2_b)
        return nx.act.requantize(x + y, f_a)

    def forward(self, image: np.ndarray, w: ModelWeights, task: int, pixel_frac: int = 8,
                trace: dict | None = None) -> np.ndarray:
        """The task's output features ``[T][D]`` (act raw): patch embedding, the layers,
        the final LayerNorm.  ``trace`` (a dict) receives each layer's output
        (``"layer{i}"``), and for each MoE layer its routing (``"routing{i}"``) and the
        LayerNorm output its gate saw (``"gate_input{i}"``)."""
        if not 0 <= task < self.cfg.tasks:
            raise ValueError(f"task = {task} is out of range; allowed: 0 to "
                             f"{self.cfg.tasks - 1}")
        x = self.patch_embed(image, w, pixel_frac)
        for i, lw in enumerate(w.layers):
            x = self.layer(x, lw, i, task, trace)
            if trace is not None:
                trace[f"layer{i}"] = x
        return self.layernorm(x, w.norm_w, w.norm_b)


def _to_frac(f_in: int, f_out: int, raw: np.ndarray) -> np.ndarray:
    """``raw`` with ``f_in`` fraction bits moved to ``f_out >= f_in`` (exact)."""
    if f_out < f_in:
        raise ValueError(f"cannot widen {f_in} fraction bits to {f_out} exactly")
    return raw << (f_out - f_in)


def _wrap(raw: np.ndarray, width: int) -> np.ndarray:
    """Two's-complement wrap of int64 ``raw`` to ``width`` bits (an ``ap_fixed<width>``
    accumulator: its sums are exact modulo ``2**width``, as int64 sums are modulo 2**64)."""
    shift = 64 - width
    return (np.asarray(raw, np.int64) << shift) >> shift
