"""A plain PyTorch GPT-2 decoder with a KV cache: the float baseline of PIM-GPT.

Written directly in torch (no ``transformers``): token + position embedding, per block
``x += proj(attn(ln_1(x))) ; x += fc2(gelu(fc(ln_2(x))))`` with exact softmax, the tanh
GELU of GPT-2 (``gelu_new``, ``torch.nn.functional.gelu(approximate="tanh")``) and
``torch.nn.functional.layer_norm``; the final LayerNorm and the output projection tied to
the token embedding.  One token is decoded per :meth:`TorchGpt.step` (batch 1), against
a preallocated K/V cache.

Two uses:

* the accuracy baseline of the golden decoder (:mod:`sparseforge.sim.pimgpt.reference`):
  :meth:`TorchGpt.from_weights` widens the *BF16-rounded* weights to float32, so the
  difference between the two isolates the arithmetic (BF16 activations into the MAC
  units, the ASIC's approximations), not the weight quantisation;
* the GPU baseline (``benchmarks/pimgpt_gpu.py``): :meth:`TorchGpt.random` builds the
  model on any device in any float dtype.

Parameter names are those of :meth:`~sparseforge.sim.pimgpt.weights.GptWeights.named`
(``wte``, ``wpe``, ``h.{i}.w_qkv``, ..., ``lnf_b``), matrices output-major ``[out, in]``.
This module imports only ``torch`` at load time (the benchmark runs it on machines
without the rest of sparseforge's dependencies).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["TorchGpt", "decode_logits", "gelu_new"]

_LAYER_SHAPES = {  # name -> shape as a function of d
    "ln1_g": lambda d: (d,), "ln1_b": lambda d: (d,),
    "w_qkv": lambda d: (3 * d, d), "b_qkv": lambda d: (3 * d,),
    "w_proj": lambda d: (d, d), "b_proj": lambda d: (d,),
    "ln2_g": lambda d: (d,), "ln2_b": lambda d: (d,),
    "w_fc": lambda d: (4 * d, d), "b_fc": lambda d: (4 * d,),
    "w_fc2": lambda d: (d, 4 * d), "b_fc2": lambda d: (d,),
}


def gelu_new(x: torch.Tensor) -> torch.Tensor:
    """GPT-2's GELU: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


class TorchGpt:
    """GPT-2 decoding in PyTorch, one token a step, batch 1.

    Parameters
    ----------
    config : GptConfig
        The model's shape (any object with ``n_layer``, ``d_model``, ``n_head``,
        ``vocab``, ``n_ctx``, ``eps``, ``d_head``).
    params : dict of str to Tensor
        Every parameter (names as :meth:`GptWeights.named`), all of one dtype and device.
    max_positions : int, optional
        Positions of the K/V cache (default ``n_ctx``).

    Raises
    ------
    ValueError
        A parameter is missing or has the wrong shape, or ``max_positions`` is out of
        range.
    """

    def __init__(self, config, params: dict[str, torch.Tensor],
                 max_positions: int | None = None) -> None:
        c = config
        d = c.d_model
        want = {"wte": (c.vocab, d), "wpe": (c.n_ctx, d), "lnf_g": (d,), "lnf_b": (d,)}
        for i in range(c.n_layer):
            for name, shape in _LAYER_SHAPES.items():
                want[f"h.{i}.{name}"] = shape(d)
        for name, shape in want.items():
            if name not in params:
                raise ValueError(f"TorchGpt: parameter {name!r} missing")
            if tuple(params[name].shape) != shape:
                raise ValueError(f"TorchGpt: parameter {name!r} has shape "
                                 f"{tuple(params[name].shape)}; expected {shape}")
        n = c.n_ctx if max_positions is None else max_positions
        if not 1 <= n <= c.n_ctx:
            raise ValueError(f"TorchGpt: max_positions = {n}; allowed: 1 .. {c.n_ctx}")
        self.config, self.p = c, params
        wte = params["wte"]
        self.dtype, self.device = wte.dtype, wte.device
        self.max_positions = n
        shape = (c.n_layer, c.n_head, n, c.d_head)
        self.k_cache = torch.zeros(shape, dtype=self.dtype, device=self.device)
        self.v_cache = torch.zeros(shape, dtype=self.dtype, device=self.device)
        self.scale = 1.0 / math.sqrt(c.d_head)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_weights(cls, weights, device="cpu", dtype=torch.float32,
                     max_positions: int | None = None) -> TorchGpt:
        """The model of a :class:`~sparseforge.sim.pimgpt.weights.GptWeights` (BF16 bit
        patterns widened exactly to float32, then cast to ``dtype``)."""
        from sparseforge.sim.pim.fp import bf16_to_f32

        params = {name: torch.from_numpy(bf16_to_f32(bits).copy()).to(device, dtype)
                  for name, bits in weights.named()}
        return cls(weights.config, params, max_positions)

    @classmethod
    def random(cls, config, device="cpu", dtype=torch.float32, seed: int = 0,
               std: float = 0.02, max_positions: int | None = None) -> TorchGpt:
        """Random weights drawn on ``device`` (GPT-2's initialisation as
        :func:`~sparseforge.sim.pimgpt.weights.random_weights`: ``N(0, std^2)``, residual
        projections scaled by ``1/sqrt(2 n_layer)``, biases ``N(0, (std/2)^2)``, LayerNorm
        gains 1 and shifts 0) — for timing at real shapes without a host-side copy."""
        gen = torch.Generator(device=device)
        gen.manual_seed(seed)
        d = config.d_model

        def normal(shape, s):
            t = torch.empty(shape, dtype=torch.float32, device=device)
            return t.normal_(0.0, s, generator=gen).to(dtype)

        resid = std / math.sqrt(2 * config.n_layer)
        params = {"wte": normal((config.vocab, d), std),
                  "wpe": normal((config.n_ctx, d), std),
                  "lnf_g": torch.ones(d, dtype=dtype, device=device),
                  "lnf_b": torch.zeros(d, dtype=dtype, device=device)}
        for i in range(config.n_layer):
            for name, shape in _LAYER_SHAPES.items():
                sh = shape(d)
                if name.endswith("_g"):
                    t = torch.ones(sh, dtype=dtype, device=device)
                elif name.startswith("ln"):
                    t = torch.zeros(sh, dtype=dtype, device=device)
                elif name.startswith("b_"):
                    t = normal(sh, std / 2)
                else:
                    t = normal(sh, resid if name in ("w_proj", "w_fc2") else std)
                params[f"h.{i}.{name}"] = t
        return cls(config, params, max_positions)

    # ------------------------------------------------------------------ decoding

    def _block(self, i: int, x: torch.Tensor, pos: int) -> torch.Tensor:
        c, p = self.config, self.p
        d, h, dh = c.d_model, c.n_head, c.d_head
        pre = f"h.{i}."
        hn = F.layer_norm(x, (d,), p[pre + "ln1_g"], p[pre + "ln1_b"], c.eps)
        qkv = F.linear(hn, p[pre + "w_qkv"], p[pre + "b_qkv"])  # (1, 3d)
        q, k, v = qkv.view(3, h, dh).unbind(0)
        self.k_cache[i, :, pos] = k
        self.v_cache[i, :, pos] = v
        keys = self.k_cache[i, :, :pos + 1]  # (H, T, dh)
        vals = self.v_cache[i, :, :pos + 1]
        s = torch.matmul(keys, q.unsqueeze(-1)).squeeze(-1) * self.scale  # (H, T)
        prob = torch.softmax(s.float(), dim=-1).to(self.dtype)
        o = torch.matmul(prob.unsqueeze(1), vals).reshape(1, d)  # (1, d)
        x = x + F.linear(o, p[pre + "w_proj"], p[pre + "b_proj"])
        h2 = F.layer_norm(x, (d,), p[pre + "ln2_g"], p[pre + "ln2_b"], c.eps)
        a = F.gelu(F.linear(h2, p[pre + "w_fc"], p[pre + "b_fc"]), approximate="tanh")
        return x + F.linear(a, p[pre + "w_fc2"], p[pre + "b_fc2"])

    def step(self, token, pos: int) -> torch.Tensor:
        """Decode ``token`` (an int or a one-element integer tensor on the model's device)
        at position ``pos``; return the logits, shape ``(vocab,)``, in the model's dtype.
        Positions ``0 .. pos-1`` of the cache must hold the earlier tokens' keys and
        values (written by earlier steps)."""
        if not 0 <= pos < self.max_positions:
            raise ValueError(f"TorchGpt.step: pos = {pos}; allowed: 0 .. "
                             f"{self.max_positions - 1}")
        p, c = self.p, self.config
        if not isinstance(token, torch.Tensor):
            if not 0 <= int(token) < c.vocab:
                raise ValueError(f"TorchGpt.step: token = {token}; allowed: 0 .. "
                                 f"{c.vocab - 1}")
            token = torch.tensor([int(token)], device=self.device)
        x = (p["wte"][token.reshape(1)] + p["wpe"][pos]).reshape(1, c.d_model)
        for i in range(c.n_layer):
            x = self._block(i, x, pos)
        y = F.layer_norm(x, (c.d_model,), p["lnf_g"], p["lnf_b"], c.eps)
        return F.linear(y, p["wte"]).reshape(c.vocab)


@torch.inference_mode()
def decode_logits(weights, prompt, steps: int, forced=None, dtype=torch.float32):
    """Greedy decoding of :class:`~sparseforge.sim.pimgpt.weights.GptWeights` in torch on
    the CPU, the same protocol as :func:`sparseforge.sim.pimgpt.reference.decode_logits`.

    Parameters
    ----------
    weights : GptWeights
    prompt : sequence of int
    steps : int
    forced : sequence of int, optional
        If given (``steps`` tokens), these are fed back instead of this model's own
        choices (teacher forcing), so that the logits can be compared step for step with
        another decoder's; the returned tokens are still this model's own argmaxes.
    dtype : torch.dtype

    Returns
    -------
    tokens : list of int
        The first index of the largest logit at each step.
    logits : ndarray of float32, shape (steps, vocab)
    """
    import numpy as np

    prompt = [int(t) for t in prompt]
    if not prompt:
        raise ValueError("decode_logits: empty prompt")
    if forced is not None and len(forced) != steps:
        raise ValueError(f"decode_logits: {len(forced)} forced tokens; expected {steps}")
    model = TorchGpt.from_weights(weights, dtype=dtype,
                                  max_positions=len(prompt) + max(steps - 1, 0))
    for pos, t in enumerate(prompt[:-1]):
        model.step(t, pos)
    tok, pos = prompt[-1], len(prompt) - 1
    tokens, out = [], np.zeros((steps, weights.config.vocab), np.float32)
    for k in range(steps):
        logits = model.step(tok, pos).float()
        out[k] = logits.numpy()
        own = int(torch.argmax(logits))
        tokens.append(own)
        tok = own if forced is None else int(forced[k])
        pos += 1
    return tokens, out
