"""The functional PIM-GPT simulator: the token program executed command by command, with data.

The model's BF16 parameters are placed in the banks' rows by the mapping
(:mod:`sparseforge.sim.pimgpt.mapping`); each token's program
(:mod:`sparseforge.sim.pimgpt.program`) is expanded into DRAM / PIM commands
(:func:`sparseforge.sim.pimgpt.program.expand`) and every command is executed by the
channels' functional executors (:class:`sparseforge.sim.pim.device.PimChannel`):
GWRITEs fill the global buffers from the ASIC's vectors, MACs multiply rows with them,
READRES brings the latched results back, and the ASIC steps (golden functions of
:mod:`sparseforge.sim.pimgpt.asic`) work on what came back.  Nothing computes a dot
product outside the banks; a wrong mapping gives wrong tokens.

Result tags (``ROW.tag``) say where the latched results go:

``("mat", dst, matrix, span, slot)``
    bank ``b`` of channel ``c`` latched span ``span`` of output
    ``placement.output(c, b, slot)`` of ``dst``: the ASIC's partial-sum accumulator.
``("k", group, slot)``
    latch ``k`` of the row is the score of head ``first_head(group) + k`` at position
    ``kp.position(c, b, slot)``.
``("v", item, tile)``
    bank ``b`` latched tile ``tile`` of feature ``block * B + b`` of the item's head.
"""

from __future__ import annotations

import numpy as np

from sparseforge.sim.dram.commands import Kind
from sparseforge.sim.pim.device import PimChannel
from sparseforge.sim.pim.fp import bf16_to_f32, f32_to_bf16, fadd, fmul

from . import asic
from .asic_time import ASIC_LANES
from .mapping import FINAL_VECTORS, LAYER_VECTORS, ModelMap, vector_offsets
from .program import GW, RD, ROW, RR, VW, WR, Asic, Pim, expand, token_program

__all__ = ["FunctionalSystem"]


class FunctionalSystem:
    """A PIM memory holding one model's weights, decoding token by token.

    Parameters
    ----------
    device : Device
        A preset with a ``[pim]`` table (the lanes and result slots come from it).
    mm : ModelMap
    model : GptConfig
    weights : GptWeights
        BF16 parameters (:mod:`sparseforge.sim.pimgpt.weights`).
    asic_lanes : int
    """

    def __init__(self, device, mm: ModelMap, model, weights, asic_lanes: int = ASIC_LANES):
        self.device, self.mm, self.model, self.w = device, mm, model, weights
        self.geo = mm.geo
        self.asic_lanes = asic_lanes
        self.chans = [PimChannel(device, ch) for ch in range(self.geo.channels)]
        # the V cache bursts being filled (positions pos - pos % L .. pos), per layer
        self.vshadow = np.zeros((model.n_layer, model.n_head, model.d_model // model.n_head,
                                 self.geo.lanes), np.uint16)
        self._load()

    # ------------------------------------------------------------------ weights
    def _load_matrix(self, placement, values: np.ndarray) -> None:
        geo = self.geo
        values = np.asarray(values, np.uint16).reshape(placement.n_out, placement.n_in)
        for s, (start, length) in enumerate(placement.spans):
            for u in range(placement.slots):
                for ch in range(geo.channels):
                    for b in range(geo.banks):
                        i = placement.output(ch, b, u)
                        if i >= placement.n_out:
                            continue
                        r, g, bk = geo.bank_address(b)
                        row = np.zeros(geo.row_elems, np.uint16)
                        row[:length] = values[i, start:start + length]
                        self.chans[ch].load_row(r, g, bk, placement.row(s, u), row)

    def _load(self) -> None:
        mm, w, geo = self.mm, self.w, self.geo
        self._load_matrix(mm.wte, w.wte)
        self._load_matrix(mm.wpe, w.wpe)
        for layer, pl in zip(w.layers, mm.layers):
            for key in ("qkv", "proj", "fc", "fc2"):
                self._load_matrix(pl[key], getattr(layer, f"w_{key}"))
        parts = [getattr(layer, n) for layer in w.layers for n, _ in LAYER_VECTORS]
        parts += [getattr(w, n) for n, _ in FINAL_VECTORS]
        vp = mm.vectors
        flat = np.zeros(vp.per_bank * vp.stride, np.uint16)
        flat[:vp.n] = np.concatenate([np.asarray(p, np.uint16) for p in parts])
        per_bank = flat.reshape(vp.per_bank, vp.stride).T  # element e: bank e % CB
        for i in range(vp.stride):
            ch, b = vp.bank_of(i)
            r, g, bk = geo.bank_address(b)
            data = np.zeros(vp.rows * geo.row_elems, np.uint16)
            data[:vp.per_bank] = per_bank[i]
            for k in range(vp.rows):
                self.chans[ch].load_row(r, g, bk, vp.base + k,
                                        data[k * geo.row_elems:(k + 1) * geo.row_elems])

    # ------------------------------------------------------------------ decoding
    def step(self, token: int, pos: int) -> np.ndarray:
        """Decode ``token`` at ``pos``; returns the FP32 logits."""
        model, geo = self.model, self.geo
        if not 0 <= pos < model.n_ctx:
            raise ValueError(f"position {pos}; allowed: 0 to {model.n_ctx - 1} (n_ctx)")
        self.vec: dict[str, np.ndarray] = {"x": getattr(self, "_x", None)}
        self.acc: dict[str, np.ndarray] = {}
        self.pos = pos
        nh = model.n_head
        self.scores = np.zeros((nh, pos + 1), np.float32)
        if pos % geo.lanes == 0:
            self.vshadow[:] = 0
        for phase in token_program(self.mm, model, pos, token):
            if isinstance(phase, Pim):
                self._pim(phase)
            else:
                self._asic(phase)
        return self.acc["logits"][:model.vocab]

    def _pim(self, phase: Pim) -> None:
        for ch, ops in enumerate(phase.ops):
            chan = self.chans[ch]
            pending: list = []  # (tag, latch index) of every latch since the last RR
            for op in ops:
                if isinstance(op, ROW):
                    pending += [(op.tag, k) for k in range(op.ncols // op.latch)]
                    cmds = [cmd for cmd, _ in expand(op, self.geo, ch)]
                    macs = [c for c in cmds if c.kind in (Kind.MAC, Kind.MACL)]
                    for cmd in cmds:
                        if cmd.kind not in (Kind.MAC, Kind.MACL):
                            chan.execute(cmd)
                        elif cmd is macs[0]:  # the row's MACs, in order, at once
                            chan.execute_macs(macs)
                    continue
                for cmd, payload in expand(op, self.geo, ch):
                    data = self._payload(op, cmd, payload)
                    out = chan.execute(cmd, data)
                    if isinstance(op, RR):
                        tag, k = pending[cmd.column]
                        self._result(ch, tag, k, np.asarray(out, np.float32))
                    elif isinstance(op, RD) and out is not None:
                        self._rd(op, cmd, np.asarray(out, np.uint16))
                if isinstance(op, RR):
                    pending = pending[op.n:]

    def _payload(self, op, cmd, payload):
        """The data a GWRITE / WR carries (BF16 bit patterns), else None."""
        L = self.geo.lanes
        if isinstance(op, GW):  # every command of a GW is a GWRITE
            return self._slice_bf16(op.src, op.start + cmd.column * L, op.start + op.length)
        if isinstance(op, WR) and cmd.kind.value == "WR":
            first = op.start + (cmd.column - op.col) * L
            return self._slice_bf16(op.src, first, first + L)
        if isinstance(op, VW) and payload is not None:
            _bank, h, j = payload
            return self.vshadow[self._layer, h, j].copy()
        return None

    def _slice_bf16(self, name: str, lo: int, limit: int) -> np.ndarray:
        L = self.geo.lanes
        src = self.vec[name]
        out = np.zeros(L, np.float32)
        hi = min(lo + L, limit, len(src))
        if hi > lo:
            out[:hi - lo] = src[lo:hi]
        return f32_to_bf16(out)

    def _rd(self, op: RD, cmd, data: np.ndarray) -> None:
        L = self.geo.lanes
        buf = self.vec.get(op.dst)
        if buf is None:
            size = (self.mm.layer_vector_size if op.dst.startswith("vec") else
                    self.mm.vector_segment(None)[1] if op.dst == "fvec" else
                    self.model.d_model)
            buf = self.vec[op.dst] = np.zeros(size, np.uint16)
        idx = op.start + ((cmd.column - op.col) * L + np.arange(L)) * op.stride
        keep = (idx >= 0) & (idx < len(buf))
        buf[idx[keep]] = data[keep]

    def _result(self, ch: int, tag: tuple, k: int, values: np.ndarray) -> None:
        geo, model = self.geo, self.model
        kind = tag[0]
        if kind == "mat":
            _, dst, name, s, u = tag
            placement = self._placement(name)
            acc = self.acc.setdefault(dst, np.zeros(placement.n_out, np.float32))
            for b in range(geo.banks):
                i = placement.output(ch, b, u)
                if i < placement.n_out:
                    acc[i] = values[b] if s == 0 else fadd(acc[i], values[b])
        elif kind == "k":
            _, g, u = tag
            kp = self.mm.layers[self._layer]["k"]
            h = kp.groups[g][0] + k
            for b in range(geo.banks):
                t = kp.position(ch, b, u)
                if t <= self.pos:
                    self.scores[h, t] = values[b]
        elif kind == "v":
            _, m, tau = tag
            vp = self.mm.layers[self._layer]["v"]
            h, jb = vp.items(ch)[m]
            dh = model.d_model // model.n_head
            acc = self.acc.setdefault("o", np.zeros(model.d_model, np.float32))
            for b in range(geo.banks):
                j = jb * geo.banks + b
                if j < dh:
                    i = h * dh + j
                    acc[i] = values[b] if tau == 0 else fadd(acc[i], values[b])
        else:
            raise ValueError(f"unknown result tag {tag!r}")

    def _placement(self, name: str):
        if name in ("wte", "wpe", "final"):
            return getattr(self.mm, name)
        return self.mm.layers[self._layer][name]

    # ------------------------------------------------------------------ the ASIC
    def _params(self, vec_name: str, names) -> dict[str, np.ndarray]:
        offsets = vector_offsets(self.model.d_model, names)
        raw = self.vec[vec_name]
        return {n: bf16_to_f32(raw[o:o + ln]) for n, (o, ln) in offsets.items()}

    def _asic(self, step: Asic) -> None:
        model, A = self.model, self.asic_lanes
        a = step.args
        d = model.d_model
        v = self.vec
        if step.op == "embed":
            v["x"] = fadd(bf16_to_f32(v["tok_e"][:d]), bf16_to_f32(v["pos_e"][:d]))
            self._layer = 0
        elif step.op == "layernorm":
            names = FINAL_VECTORS if a["vec"] == "fvec" else LAYER_VECTORS
            p = self._params(a["vec"], names)
            if a["g"] == "ln1_g" and step.name == "ln1":
                self._layer = int(a["vec"][3:])
                self.acc = {}
                self.scores = np.zeros((model.n_head, self.pos + 1), np.float32)
            v[a["dst"]] = asic.layernorm(v[a["src"]], p[a["g"]], p[a["b"]], model.eps, A)
        elif step.op == "bias":
            p = self._params(a["vec"], LAYER_VECTORS)
            v[a["dst"]] = fadd(self.acc[a["acc"]], p[a["b"]])
            qkv = v[a["dst"]]
            dh = d // model.n_head
            vals = f32_to_bf16(qkv[2 * d:3 * d]).reshape(model.n_head, dh)
            self.vshadow[self._layer, :, :, self.pos % self.geo.lanes] = vals
        elif step.op == "softmax":
            dh = d // model.n_head
            c = np.float32(1.0 / np.sqrt(dh))
            probs = asic.softmax(fmul(self.scores, c), A)
            p = np.zeros((model.n_head, model.n_ctx), np.float32)
            p[:, :self.pos + 1] = probs
            v["p"] = p.reshape(-1)
        elif step.op == "gather_v":
            v["o"] = self.acc["o"]
        elif step.op == "residual":
            p = self._params(a["vec"], LAYER_VECTORS)
            v["x"] = fadd(v["x"], fadd(self.acc[a["acc"]], p[a["b"]]))
        elif step.op == "bias_gelu":
            p = self._params(a["vec"], LAYER_VECTORS)
            v[a["dst"]] = asic.gelu(fadd(self.acc[a["acc"]], p[a["b"]]))
        elif step.op == "argmax":
            pass
        else:
            raise ValueError(f"unknown ASIC step {step.op!r}")
        self._x = v.get("x")

    def decode(self, prompt, steps: int) -> tuple[list[int], list[np.ndarray]]:
        """Greedy decoding: feed ``prompt`` then ``steps`` generated tokens; returns the
        generated tokens and the logits of every step after the prompt's last token."""
        prompt = [int(t) for t in prompt]
        if not prompt:
            raise ValueError("prompt: at least one token")
        if len(prompt) + steps > self.model.n_ctx:
            raise ValueError(f"prompt ({len(prompt)}) + steps ({steps}) exceed n_ctx = "
                             f"{self.model.n_ctx} (the reserved K/V space)")
        pos = 0
        logits = None
        for tok in prompt:
            logits = self.step(tok, pos)
            pos += 1
        out, all_logits = [], []
        for _ in range(steps):
            nxt = int(np.argmax(logits))
            out.append(nxt)
            all_logits.append(logits)
            if len(out) == steps:
                break
            logits = self.step(nxt, pos)
            pos += 1
        return out, all_logits
