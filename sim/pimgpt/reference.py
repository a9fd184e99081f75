"""The golden PIM-GPT decoder: GPT-2 greedy decoding in the PIM-GPT arithmetic.

Written from ``docs/designs/pimgpt.md``, section "The decoding arithmetic"; the
command-level simulator must produce the same logits and tokens, bit for bit.  Every
number is FP32 (NumPy ``float32`` under the rules of :mod:`sparseforge.sim.pim.fp`) or a
BF16 bit pattern (``uint16``); matrix products are :func:`~sparseforge.sim.pim.mac.
tiled_dot` (PIM MAC units: ``L`` BF16 products summed as a tree of FP32 adds, spans of
``S`` elements, span results summed in order), the rest is the ASIC's functions of
:mod:`sparseforge.sim.pimgpt.asic`.

With ``bf`` = FP32 → BF16 and ``f`` = BF16 → FP32, for the token ``tok`` at ``pos``:

1. ``x = f(wte[tok]) + f(wpe[pos])``;
2. per layer: ``h = layernorm(x, ln1)``; ``qkv = dot(W_qkv, h) + f(b_qkv)``; the cache
   keeps ``bf(k)``, ``bf(v)`` at ``pos``; per head ``s_t = tiled_dot(K[t], bf(q)) * c``
   (``c`` the FP32 nearest ``1/sqrt(dh)``), ``p = softmax(s)``, ``o[i] = tiled_dot(V[:, i],
   bf(p))`` over the positions; ``x = x + (dot(W_proj, o) + f(b_proj))``;
   ``a = gelu(dot(W_fc, layernorm(x, ln2)) + f(b_fc))``;
   ``x = x + (dot(W_fc2, a) + f(b_fc2))``;
3. ``logits = dot(wte, layernorm(x, lnf))``; the next token is the first index of the
   largest logit.

``dot(W, v)`` is ``tiled_dot(W, bf(v), L, S)`` for all rows of ``W`` at once.  The code
is vectorised across output rows and heads: its only loops are over MAC columns, spans,
ASIC lane groups and layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sparseforge.sim.pim.fp import bf16_to_f32, f32_to_bf16, fadd, fmul
from sparseforge.sim.pim.mac import tiled_dot

from . import asic
from .weights import GptWeights, LayerWeights

__all__ = [
    "PimArith",
    "ReferenceDecoder",
    "attention",
    "decode",
    "decode_logits",
    "linear",
]


def _pow2(v) -> bool:
    return v > 0 and not v & (v - 1)


@dataclass(frozen=True)
class PimArith:
    """The arithmetic parameters of ``docs/designs/pimgpt.md``.

    Parameters
    ----------
    lanes : int
        ``L``: BF16 products per MAC command (a power of two; 16 on GDDR6, burst bytes / 2).
    span : int
        ``S``: elements of one span (one DRAM row, the global buffer; 1024 BF16 on
        GDDR6); a multiple of ``lanes``.
    asic_lanes : int
        ``A``: the ASIC's vector lanes of :func:`~sparseforge.sim.pimgpt.asic.reduce_sum`
        (a power of two).

    Raises
    ------
    ValueError
        A parameter is not a positive integer, not a power of two where one is needed, or
        ``span`` is not a multiple of ``lanes``; the message names the field.
    """

    lanes: int = 16
    span: int = 1024
    asic_lanes: int = 16

    def __post_init__(self) -> None:
        for name in ("lanes", "span", "asic_lanes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"PimArith.{name} = {v!r}; allowed: an integer >= 1")
        for name in ("lanes", "asic_lanes"):
            if not _pow2(getattr(self, name)):
                raise ValueError(f"PimArith.{name} = {getattr(self, name)}; allowed: a "
                                 f"power of two (a balanced adder tree)")
        if self.span % self.lanes:
            raise ValueError(f"PimArith.span = {self.span}; allowed: a multiple of "
                             f"lanes = {self.lanes}")


def _bf(v) -> np.ndarray:
    return f32_to_bf16(v)


def _f(bits) -> np.ndarray:
    return bf16_to_f32(bits)


def _layernorm(x: np.ndarray, g_bits: np.ndarray, b_bits: np.ndarray, eps: float,
               arith: PimArith) -> np.ndarray:
    """:func:`asic.layernorm` of one vector, kept 1-D (the FP32 helpers widen a 0-d
    reduction to shape ``(1,)``, which would broadcast a 1-D input to ``(1, d)``)."""
    y = asic.layernorm(x[None, :], _f(g_bits), _f(b_bits), eps, arith.asic_lanes)
    return y.reshape(x.shape)


def linear(w_bits: np.ndarray, b_bits: np.ndarray | None, v: np.ndarray,
           arith: PimArith) -> np.ndarray:
    """``dot(W, v) + f(b)``: every row of ``W`` (``[out, in]``, BF16) against ``bf(v)``
    with :func:`~sparseforge.sim.pim.mac.tiled_dot`, then the FP32 bias added
    (``b_bits`` ``None``: no bias, as for the tied output projection)."""
    y = tiled_dot(w_bits, _bf(v), arith.lanes, arith.span)
    return y if b_bits is None else fadd(y, _f(b_bits))


def _scale(dh: int) -> np.float32:
    """The FP32 nearest ``1 / sqrt(dh)`` (float64 has 53 bits; rounding it to FP32 is a
    double rounding only in ties, which a non-dyadic irrational cannot hit; for a perfect
    square ``dh`` the float64 value is exact)."""
    return np.float32(1.0 / np.sqrt(np.float64(dh)))


def attention(q: np.ndarray, k_bits: np.ndarray, v_bits: np.ndarray,
              arith: PimArith) -> np.ndarray:
    """One decoding step's attention, all heads at once.

    Parameters
    ----------
    q : ndarray of float32, shape (H, dh)
        The new position's queries (FP32, with the bias).
    k_bits : ndarray of uint16, shape (T, H, dh)
        The K cache of positions ``0 .. T-1`` (the new one included), BF16.
    v_bits : ndarray of uint16, shape (H, dh, T)
        The V cache, stored position-last (a DRAM row holds one ``(head, feature)`` for
        consecutive positions), BF16.
    arith : PimArith

    Returns
    -------
    ndarray of float32, shape (H, dh)
        ``o[j, i] = tiled_dot(V[j, i, :], bf(softmax_t(tiled_dot(K[t, j], bf(q[j])) * c)))``.
    """
    h, dh = q.shape
    if k_bits.shape[1:] != (h, dh) or v_bits.shape[:2] != (h, dh) \
            or v_bits.shape[2] != k_bits.shape[0]:
        raise ValueError(f"attention: q {q.shape}, k_bits {k_bits.shape}, v_bits "
                         f"{v_bits.shape}; expected (H, dh), (T, H, dh), (H, dh, T)")
    s = tiled_dot(k_bits, _bf(q), arith.lanes, arith.span)  # (T, H): one dot per (t, j)
    s = fmul(s, _scale(dh)).T  # (H, T)
    p = asic.softmax(s, arith.asic_lanes)
    return tiled_dot(v_bits, _bf(p)[:, None, :], arith.lanes, arith.span)  # (H, dh)


class ReferenceDecoder:
    """A stateful golden decoder: feed one token at a time, get the logits.

    Parameters
    ----------
    weights : GptWeights
    arith : PimArith, optional
        Default ``PimArith()`` (``L`` 16, ``S`` 1024, ``A`` 16).
    max_positions : int, optional
        Positions the K/V caches are allocated for (default ``n_ctx``; more is refused).

    Notes
    -----
    The caches hold BF16 bit patterns: ``k_cache[layer]`` is ``(positions, H, dh)``,
    ``v_cache[layer]`` is ``(H, dh, positions)``.  :meth:`step` on the token at position
    ``self.pos`` returns its logits and advances ``pos``.
    """

    def __init__(self, weights: GptWeights, arith: PimArith | None = None,
                 max_positions: int | None = None) -> None:
        if not isinstance(weights, GptWeights):
            raise TypeError(f"ReferenceDecoder: weights is {type(weights).__name__}; "
                            f"expected GptWeights")
        arith = PimArith() if arith is None else arith
        if not isinstance(arith, PimArith):
            raise TypeError(f"ReferenceDecoder: arith is {type(arith).__name__}; "
                            f"expected PimArith")
        c = weights.config
        n = c.n_ctx if max_positions is None else max_positions
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= c.n_ctx:
            raise ValueError(f"ReferenceDecoder: max_positions = {n!r}; allowed: 1 .. "
                             f"n_ctx = {c.n_ctx}")
        self.weights, self.arith, self.config = weights, arith, c
        self.max_positions = n
        h, dh = c.n_head, c.d_head
        self.k_cache = [np.zeros((n, h, dh), np.uint16) for _ in range(c.n_layer)]
        self.v_cache = [np.zeros((h, dh, n), np.uint16) for _ in range(c.n_layer)]
        self.pos = 0

    def _layer(self, i: int, lw: LayerWeights, x: np.ndarray, rec: dict | None):
        c, a, pos = self.config, self.arith, self.pos
        d, h, dh = c.d_model, c.n_head, c.d_head
        hn = _layernorm(x, lw.ln1_g, lw.ln1_b, c.eps, a)
        qkv = linear(lw.w_qkv, lw.b_qkv, hn, a)
        q = qkv[:d].reshape(h, dh)
        self.k_cache[i][pos] = _bf(qkv[d:2 * d]).reshape(h, dh)
        self.v_cache[i][:, :, pos] = _bf(qkv[2 * d:]).reshape(h, dh)
        o = attention(q, self.k_cache[i][:pos + 1], self.v_cache[i][:, :, :pos + 1], a)
        o = o.reshape(d)
        attn = linear(lw.w_proj, lw.b_proj, o, a)
        x = fadd(x, attn)
        h2 = _layernorm(x, lw.ln2_g, lw.ln2_b, c.eps, a)
        g = asic.gelu(linear(lw.w_fc, lw.b_fc, h2, a))
        mlp = linear(lw.w_fc2, lw.b_fc2, g, a)
        x_out = fadd(x, mlp)
        if rec is not None:
            rec.setdefault("layers", []).append(
                {"ln1": hn, "qkv": qkv, "attn_o": o, "attn_out": attn, "x_mid": x,
                 "ln2": h2, "gelu": g, "mlp_out": mlp, "x": x_out})
        return x_out

    def step(self, token: int, record: dict | None = None) -> np.ndarray:
        """Decode ``token`` at position :attr:`pos`; return its ``vocab`` FP32 logits.

        Parameters
        ----------
        token : int
            A token id in ``0 .. vocab-1``.
        record : dict, optional
            If given, filled with the step's intermediates (FP32 arrays): ``x0`` (the
            embedding sum), ``layers`` (a list of dicts ``ln1``, ``qkv``, ``attn_o``,
            ``attn_out``, ``x_mid``, ``ln2``, ``gelu``, ``mlp_out``, ``x``), ``lnf`` and
            ``logits`` — for locating the first difference from a simulator.

        Raises
        ------
        ValueError
            ``token`` is out of range, or the caches are full.
        """
        c, w = self.config, self.weights
        if isinstance(token, bool) or not isinstance(token, (int, np.integer)) \
                or not 0 <= token < c.vocab:
            raise ValueError(f"ReferenceDecoder.step: token = {token!r}; allowed: "
                             f"0 .. {c.vocab - 1}")
        if self.pos >= self.max_positions:
            raise ValueError(f"ReferenceDecoder.step: position {self.pos} is beyond the "
                             f"context of {self.max_positions} positions")
        x = fadd(_f(w.wte[int(token)]), _f(w.wpe[self.pos]))
        if record is not None:
            record["x0"] = x
        for i, lw in enumerate(w.layers):
            x = self._layer(i, lw, x, record)
        y = _layernorm(x, w.lnf_g, w.lnf_b, c.eps, self.arith)
        logits = linear(w.wte, None, y, self.arith)
        if record is not None:
            record["lnf"], record["logits"] = y, logits
        self.pos += 1
        return logits


def _check_run(weights: GptWeights, prompt, steps) -> list[int]:
    if not isinstance(weights, GptWeights):
        raise TypeError(f"decode: weights is {type(weights).__name__}; expected GptWeights")
    prompt = [int(t) for t in prompt] if not isinstance(prompt, (int, np.integer)) \
        else [int(prompt)]
    if not prompt:
        raise ValueError("decode: empty prompt; allowed: at least one token")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"decode: steps = {steps!r}; allowed: an integer >= 0")
    need = len(prompt) + max(int(steps) - 1, 0)
    if need > weights.config.n_ctx:
        raise ValueError(f"decode: {len(prompt)} prompt tokens + {steps} steps need {need} "
                         f"positions; allowed: at most n_ctx = {weights.config.n_ctx}")
    return prompt


def decode_logits(weights: GptWeights, prompt, steps: int,
                  arith: PimArith | None = None) -> tuple[list[int], np.ndarray]:
    """Greedy decoding with every step's logits.

    The prompt's tokens are decoded one at a time (PIM-GPT has no batched prefill);
    after the last prompt token and after each generated token (but the last), the first
    index of the largest logit is the next token.

    Parameters
    ----------
    weights : GptWeights
    prompt : sequence of int
        At least one token.
    steps : int
        New tokens to generate; ``len(prompt) + steps - 1`` positions are used.
    arith : PimArith, optional

    Returns
    -------
    tokens : list of int
        The ``steps`` generated tokens.
    logits : ndarray of float32, shape (steps, vocab)
        ``logits[k]`` chose ``tokens[k]``.
    """
    prompt = _check_run(weights, prompt, steps)
    dec = ReferenceDecoder(weights, arith, max_positions=len(prompt) + max(steps - 1, 0))
    out_tokens: list[int] = []
    out_logits = np.zeros((steps, weights.config.vocab), np.float32)
    if steps == 0:
        return out_tokens, out_logits
    for t in prompt[:-1]:
        dec.step(t)
    tok = prompt[-1]
    for k in range(steps):
        logits = dec.step(tok)
        out_logits[k] = logits
        tok = int(np.argmax(logits))  # the first index of the largest value
        out_tokens.append(tok)
    return out_tokens, out_logits


def decode(weights: GptWeights, prompt, steps: int,
           arith: PimArith | None = None) -> list[int]:
    """The ``steps`` greedily generated tokens after ``prompt`` (see
    :func:`decode_logits`)."""
    return decode_logits(weights, prompt, steps, arith)[0]
