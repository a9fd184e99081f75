"""Where every weight, cache entry and parameter of a GPT model lives in the PIM memory.

All banks of a channel share one global buffer and receive the same all-bank commands
(GACT opens the same row in every bank, MAC reads the same column), so a placement puts
work that uses the same global-buffer contents at the same row address of every bank.
Channels have their own global buffer and work independently.

* **Weight matrices** ``[n_out, n_in]`` (:class:`MatrixPlacement`): output ``i`` goes to
  channel ``i % C``, bank ``(i // C) % B``, slot ``u = i // (C B)``; its ``n_in`` values
  are cut into spans of one DRAM row (``S`` BF16); span ``s`` of slot ``u`` is row
  ``base + s U + u`` (``U`` slots per bank).  The input span ``s`` is the global buffer
  of every channel while the rows of span ``s`` are multiplied.
* **K cache**, row-major (:class:`KPlacement`): ``H_r = min(S // dh, R)`` heads are
  concatenated in one row (one result slot per head); the heads form
  ``ceil(n_head / H_r)`` groups; position ``t`` goes to channel ``t % C``, bank
  ``(t // C) % B``, slot ``t // (C B)``; group ``g`` of slot ``u`` is row
  ``base + g U_t + u``.  The global buffer holds the group's queries; every ``dh / L``
  columns the bank latches one head's score.
* **V cache**, column-major (:class:`VPlacement`): one row holds one ``(head, feature)``
  for ``S`` consecutive positions (a *tile*).  Items ``(head, feature block)`` — a block
  is ``B`` features, one per bank — are dealt to channels in contiguous chunks; item
  ``m`` of a channel, tile ``tau``, is row ``base + m T + tau``.  The global buffer holds
  the head's probabilities of that tile.
* **Parameter vectors** (LayerNorm, biases; :data:`LAYER_VECTORS` of every layer, then
  :data:`FINAL_VECTORS`) are concatenated into one vector and interleaved over every
  bank of every channel (:class:`VectorPlacement`): element ``e`` lives in bank
  ``e % (C B)`` at offset ``e // (C B)``, so a layer's vectors are read by all banks
  and channels at once.

A mapping that does not fit the banks' rows, or a model the layout cannot hold
(``dh`` not a multiple of the MAC lanes, more heads per row than result slots), is
refused with :class:`~sparseforge.errors.ConfigError` before any work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

from sparseforge.errors import ConfigError

__all__ = [
    "FINAL_VECTORS",
    "LAYER_VECTORS",
    "Geometry",
    "KPlacement",
    "MatrixPlacement",
    "ModelMap",
    "VPlacement",
    "VectorPlacement",
    "map_model",
]


#: The parameter vectors of a layer, in storage order, with their length in units of
#: ``d_model``.
LAYER_VECTORS = (("ln1_g", 1), ("ln1_b", 1), ("b_qkv", 3), ("b_proj", 1), ("ln2_g", 1),
                 ("ln2_b", 1), ("b_fc", 4), ("b_fc2", 1))
#: The final LayerNorm's vectors.
FINAL_VECTORS = (("lnf_g", 1), ("lnf_b", 1))


@dataclass(frozen=True)
class Geometry:
    """The PIM memory as the mapping sees it.

    Attributes
    ----------
    channels : int
        PIM channels of the system (``C``; chips × channels per chip).
    ranks, bankgroups, banks_per_group : int
        Per channel; ``banks`` = their product (``B``), all driven by one GACT / MAC.
    rows : int
        Rows per bank.
    lanes : int
        BF16 values one MAC command multiplies per bank (``L``, one column burst).
    row_elems : int
        BF16 values per row (``S``); the global buffer holds one row.
    slots : int
        Result slots per bank (``R``).
    """

    channels: int
    ranks: int
    bankgroups: int
    banks_per_group: int
    rows: int
    lanes: int
    row_elems: int
    slots: int

    @property
    def banks(self) -> int:
        return self.ranks * self.bankgroups * self.banks_per_group

    @property
    def columns(self) -> int:
        """MAC columns per row (``S / L``)."""
        return self.row_elems // self.lanes

    def deal(self, i: int) -> tuple[int, int, int]:
        """Item ``i`` of a list dealt over every bank -> (channel, bank, slot): channel
        ``i % C``, bank ``(i // C) % B``, slot ``i // (C B)``."""
        return i % self.channels, (i // self.channels) % self.banks, \
            i // (self.channels * self.banks)

    def undeal(self, channel: int, bank: int, slot: int) -> int:
        """Inverse of :meth:`deal`."""
        return slot * self.channels * self.banks + bank * self.channels + channel

    def bank_address(self, b: int) -> tuple[int, int, int]:
        """Bank index ``b`` of a channel -> (rank, bank group, bank)."""
        per_rank = self.bankgroups * self.banks_per_group
        r, rest = divmod(b, per_rank)
        return r, rest // self.banks_per_group, rest % self.banks_per_group


@dataclass(frozen=True)
class MatrixPlacement:
    """A matrix ``[n_out, n_in]`` (see the module docstring)."""

    name: str
    n_out: int
    n_in: int
    base: int
    geo: Geometry = field(repr=False)

    @property
    def slots(self) -> int:
        """Rows per bank per span (``U``)."""
        g = self.geo
        return ceil(self.n_out / (g.channels * g.banks))

    @property
    def spans(self) -> tuple[tuple[int, int], ...]:
        """(first element, length) of every span of ``n_in``."""
        s = self.geo.row_elems
        return tuple((k, min(s, self.n_in - k)) for k in range(0, self.n_in, s))

    @property
    def rows(self) -> int:
        return len(self.spans) * self.slots

    def location(self, i: int) -> tuple[int, int, int]:
        """Output ``i`` -> (channel, bank, slot) (:meth:`Geometry.deal`)."""
        return self.geo.deal(i)

    def output(self, channel: int, bank: int, slot: int) -> int:
        """Inverse of :meth:`location` (may be >= ``n_out``: an idle bank)."""
        return self.geo.undeal(channel, bank, slot)

    def row(self, span: int, slot: int) -> int:
        return self.base + span * self.slots + slot


@dataclass(frozen=True)
class KPlacement:
    """The K cache of one layer (see the module docstring)."""

    n_head: int
    head_dim: int
    n_ctx: int
    base: int
    geo: Geometry = field(repr=False)

    @property
    def heads_per_row(self) -> int:
        """Heads whose keys share a row: as many as fit, at most one per result slot
        (each head's score is latched in its own slot)."""
        return min(self.geo.row_elems // self.head_dim, self.geo.slots)

    @property
    def groups(self) -> tuple[tuple[int, int], ...]:
        """(first head, heads) of every head group."""
        h = self.heads_per_row
        return tuple((k, min(h, self.n_head - k)) for k in range(0, self.n_head, h))

    @property
    def slots(self) -> int:
        g = self.geo
        return ceil(self.n_ctx / (g.channels * g.banks))

    @property
    def rows(self) -> int:
        return len(self.groups) * self.slots

    def location(self, t: int) -> tuple[int, int, int]:
        """Position ``t`` -> (channel, bank, slot) (:meth:`Geometry.deal`)."""
        return self.geo.deal(t)

    def position(self, channel: int, bank: int, slot: int) -> int:
        """Inverse of :meth:`location`."""
        return self.geo.undeal(channel, bank, slot)

    def row(self, group: int, slot: int) -> int:
        return self.base + group * self.slots + slot

    def active_slots(self, channel: int, ctx: int) -> int:
        """Slots of ``channel`` that hold at least one of positions ``0 .. ctx-1``."""
        g = self.geo
        if ctx <= channel:
            return 0
        return (ctx - 1 - channel) // (g.channels * g.banks) + 1


@dataclass(frozen=True)
class VPlacement:
    """The V cache of one layer (see the module docstring)."""

    n_head: int
    head_dim: int
    n_ctx: int
    base: int
    geo: Geometry = field(repr=False)

    @property
    def blocks(self) -> int:
        """Feature blocks per head (``ceil(dh / B)``)."""
        return ceil(self.head_dim / self.geo.banks)

    @property
    def tiles(self) -> int:
        """Position tiles (``T = ceil(n_ctx / S)``)."""
        return ceil(self.n_ctx / self.geo.row_elems)

    @property
    def per_channel(self) -> int:
        """Items per channel (the largest chunk)."""
        return ceil(self.n_head * self.blocks / self.geo.channels)

    @property
    def rows(self) -> int:
        return self.per_channel * self.tiles

    def items(self, channel: int) -> list[tuple[int, int]]:
        """(head, block) items of ``channel``, in order."""
        q = self.per_channel
        every = [(h, j) for h in range(self.n_head) for j in range(self.blocks)]
        return every[channel * q:(channel + 1) * q]

    def location(self, head: int, feature: int) -> tuple[int, int, int]:
        """(channel, bank, item index) of a feature of a head."""
        item = head * self.blocks + feature // self.geo.banks
        ch, m = divmod(item, self.per_channel)
        return ch, feature % self.geo.banks, m

    def row(self, item: int, tile: int) -> int:
        return self.base + item * self.tiles + tile


@dataclass(frozen=True)
class VectorPlacement:
    """All parameter vectors, interleaved over the ``C B`` banks (module docstring)."""

    n: int
    base: int
    geo: Geometry = field(repr=False)

    @property
    def stride(self) -> int:
        """Banks the elements are dealt over (``C B``)."""
        return self.geo.channels * self.geo.banks

    @property
    def per_bank(self) -> int:
        return -(-self.n // self.stride)

    @property
    def rows(self) -> int:
        return -(-self.per_bank // self.geo.row_elems)

    def bank_of(self, i: int) -> tuple[int, int]:
        """Bank index ``i`` (0 .. C B - 1) -> (channel, bank)."""
        return self.geo.deal(i)[:2]

    def reads(self, first: int, n: int) -> list[tuple[int, int, int, int, int, int]]:
        """The bursts holding elements ``first .. first+n-1``: per bank and row,
        ``(channel, bank, row, column, ncols, start)`` where lane ``k`` of burst ``j``
        is element ``first + start + (j L + k) C B`` (outside ``0 .. n-1``: not asked)."""
        geo, cb = self.geo, self.stride
        L, S = geo.lanes, geo.row_elems
        out = []
        for i in range(cb):
            lo = -(-(first - i) // cb)  # the first offset o with o C B + i >= first
            hi = -(-(first + n - i) // cb)
            if hi <= lo:
                continue
            ch, b = self.bank_of(i)
            o = lo - lo % L
            while o < hi:
                row_end = (o // S + 1) * S
                end = min(hi, row_end)
                ncols = -(-(end - o) // L)
                out.append((ch, b, self.base + o // S, (o % S) // L, ncols,
                            o * cb + i - first))
                o += ncols * L
        return out


@dataclass(frozen=True)
class ModelMap:
    """Every region of one model in one PIM memory.

    Attributes
    ----------
    layers : tuple of dict
        Per layer: ``qkv``, ``proj``, ``fc``, ``fc2`` (:class:`MatrixPlacement`),
        ``k`` (:class:`KPlacement`), ``v`` (:class:`VPlacement`).
    wte, wpe : MatrixPlacement
        Token embeddings (also the output projection), position embeddings.
    vectors : VectorPlacement
        Every layer's :data:`LAYER_VECTORS`, then :data:`FINAL_VECTORS`.
    rows_used : int
        Rows per bank the whole model takes.
    """

    geo: Geometry
    layers: tuple
    wte: MatrixPlacement
    wpe: MatrixPlacement
    vectors: VectorPlacement
    rows_used: int
    vector_offsets: dict

    @property
    def layer_vector_size(self) -> int:
        return sum(n for _, n in self.vector_offsets.values())

    def vector_segment(self, layer: int | None) -> tuple[int, int]:
        """(first element, length) of a layer's vectors (``None``: the final ones)."""
        n = self.layer_vector_size
        if layer is None:
            return len(self.layers) * n, self.vectors.n - len(self.layers) * n
        return layer * n, n

    def regions(self) -> list[tuple[str, int, int]]:
        """(name, first row, rows) of every region, in row order."""
        out = [("wte", self.wte.base, self.wte.rows), ("wpe", self.wpe.base, self.wpe.rows),
               ("vectors", self.vectors.base, self.vectors.rows)]
        for i, layer in enumerate(self.layers):
            for key in ("qkv", "proj", "fc", "fc2", "k", "v"):
                p = layer[key]
                out.append((f"layer{i}.{key}", p.base, p.rows))
        return out


def vector_offsets(d_model: int, vectors=LAYER_VECTORS) -> dict[str, tuple[int, int]]:
    """name -> (offset, length) of each vector in the concatenated layer vector."""
    out, at = {}, 0
    for name, mult in vectors:
        out[name] = (at, mult * d_model)
        at += mult * d_model
    return out


def map_model(model, geo: Geometry) -> ModelMap:
    """Place ``model`` (anything with ``n_layer``, ``d_model``, ``n_head``, ``vocab``,
    ``n_ctx``) in ``geo``.

    Raises
    ------
    ConfigError
        The layout cannot hold the model or the model does not fit the rows.
    """
    d, nh = model.d_model, model.n_head
    if d % nh:
        raise ConfigError(f"model {getattr(model, 'name', '?')}: d_model = {d} is not a "
                          f"multiple of n_head = {nh}")
    dh = d // nh
    if dh % geo.lanes:
        raise ConfigError(f"head dimension {dh} is not a multiple of the MAC lanes "
                          f"({geo.lanes}); allowed: multiples of {geo.lanes}")
    if dh > geo.row_elems:
        raise ConfigError(f"head dimension {dh} exceeds one row ({geo.row_elems} values)")
    at = 0

    def matrix(name: str, n_out: int, n_in: int) -> MatrixPlacement:
        nonlocal at
        p = MatrixPlacement(name, n_out, n_in, at, geo)
        at += p.rows
        return p

    wte = matrix("wte", model.vocab, d)
    wpe = matrix("wpe", model.n_ctx, d)
    n_vec = sum(m for _, m in LAYER_VECTORS) * d
    n_final = sum(m for _, m in FINAL_VECTORS) * d
    vectors = VectorPlacement(model.n_layer * n_vec + n_final, at, geo)
    at += vectors.rows
    layers = []
    for _ in range(model.n_layer):
        layer = {
            "qkv": matrix("qkv", 3 * d, d),
            "proj": matrix("proj", d, d),
            "fc": matrix("fc", 4 * d, d),
            "fc2": matrix("fc2", d, 4 * d),
        }
        k = KPlacement(nh, dh, model.n_ctx, at, geo)
        at += k.rows
        v = VPlacement(nh, dh, model.n_ctx, at, geo)
        at += v.rows
        layer["k"], layer["v"] = k, v
        layers.append(layer)
    if at > geo.rows:
        raise ConfigError(
            f"model {getattr(model, 'name', '?')} needs {at} rows per bank "
            f"({geo.channels} channels x {geo.banks} banks x {geo.row_elems * 2} B rows, "
            f"K/V reserved for n_ctx = {model.n_ctx}) but a bank has {geo.rows}; "
            "allowed: more channels, a denser device, or a smaller n_ctx")
    return ModelMap(geo, tuple(layers), wte, wpe, vectors, at, vector_offsets(d))
