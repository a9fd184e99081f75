"""Training workloads: the GEMMs of one training step, per layer (pure Python).

A workload is a list of layers; :meth:`Workload.gemms` lowers each to the
GEMMs of one training step.  Every GEMM is ``C[M, N] = A[M, K] · B[K, N]``,
repeated ``count`` times; where BDWP makes one operand N:M sparse, it is
always ``B`` and it is grouped **along K** (the reduction dimension):

=====  ===========================  ======  ======  ======  ============
phase  GEMM                         M       K       N       sparse B
=====  ===========================  ======  ======  ======  ============
FF     ``Y  = X · Wfᵀ``              rows    in      out     rowwise
BP     ``dX = dY · Wb``              rows    out     in      colwise
WU     ``dW = dYᵀ · X``              out     rows    in      dense
=====  ===========================  ======  ======  ======  ============

``rows`` is batch × tokens for a linear layer and batch × Ho × Wo for a
convolution.  Convolutions are lowered with im2col, ``in = kh·kw·Cin`` in
``(kh, kw, Cin)`` order so that the N:M groups of the forward pass run along
input channels (``group_len = Cin``, ``kh·kw`` runs of it).

The backward-data pass of a convolution is itself a convolution of ``dY``
with the spatially flipped, channel-transposed kernel (implicit GEMM, as GPU
libraries do it) rather than ``dY · W`` followed by a col2im scatter-add:
``dX[Hin·Win·batch, Cin] = dYcol · Wb`` with ``k = taps·Cout`` in
``(tap, Cout)`` order, so the column-wise N:M groups run along output
channels (``group_len = Cout``, one run per tap) exactly as the mask defines
them.  A strided convolution splits into ``stride²`` phase GEMMs (the input
pixels with the same position modulo the stride), each over the kernel taps
that reach that phase; phases that no tap reaches (a 1×1 stride-2 kernel)
receive no gradient and cost no GEMM.  For the usual "same" padding the
phase GEMMs together have exactly the forward pass's MACs.  The first layer of a
network computes no input gradient (no BP GEMM).  Attention score and context
products (``Q·Kᵀ``, ``P·V`` and their four backward GEMMs) have no weights and
stay dense.  Layers whose grouped length is below the smallest useful group
(the 3-channel stems) are kept dense (``sparse=False``), as is usual for N:M
training.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "WORKLOADS",
    "AttentionLayer",
    "ConvLayer",
    "Gemm",
    "LinearLayer",
    "Workload",
    "get_workload",
    "workload_names",
]

PHASES = ("FF", "BP", "WU")


@dataclass(frozen=True)
class Gemm:
    """One training GEMM ``C[m, n] = A[m, k] · B[k, n]``, repeated ``count`` times.

    Attributes
    ----------
    layer : str
        Layer name.
    phase : {"FF", "BP", "WU"}
    m, k, n : int
        GEMM dimensions (elements).
    count : int
        Independent GEMMs of this shape (e.g. batch × heads for attention).
    sparse : {"rowwise", "colwise", None}
        Which BDWP mask makes ``B`` N:M sparse along ``k``; ``None``: dense.
    group_len : int
        Length of one contiguous run of the grouped dimension (``k`` is
        ``k // group_len`` runs of it); N:M groups never straddle runs.
    """

    layer: str
    phase: str
    m: int
    k: int
    n: int
    count: int = 1
    sparse: str | None = None
    group_len: int = 0

    @property
    def macs(self) -> int:
        """Multiply-accumulates, ``m·k·n·count``."""
        return self.m * self.k * self.n * self.count

    def sparse_groups(self, m_group: int) -> int:
        """N:M groups along ``k`` for group size ``m_group`` (runs padded separately)."""
        runs = self.k // self.group_len
        return runs * -(-self.group_len // m_group)

    def to_dict(self) -> dict:
        """JSON-serialisable form."""
        return {"layer": self.layer, "phase": self.phase, "m": self.m, "k": self.k,
                "n": self.n, "count": self.count, "sparse": self.sparse,
                "group_len": self.group_len, "macs": self.macs}


@dataclass(frozen=True)
class LinearLayer:
    """``Y = X · Wᵀ`` with ``W[out_features, in_features]`` on ``tokens`` rows per sample."""

    name: str
    in_features: int
    out_features: int
    tokens: int = 1
    sparse: bool = True
    input_grad: bool = True

    def gemms(self, batch: int) -> list[Gemm]:
        rows = batch * self.tokens
        i, o = self.in_features, self.out_features
        return _weight_gemms(self.name, rows, i, o, i, o, self.sparse, self.input_grad)


@dataclass(frozen=True)
class ConvLayer:
    """2-D convolution (``groups = 1``, square kernel) lowered to GEMMs by im2col."""

    name: str
    cin: int
    cout: int
    kernel: int
    stride: int
    padding: int
    in_h: int
    in_w: int
    sparse: bool = True
    input_grad: bool = True

    @property
    def out_h(self) -> int:
        return (self.in_h + 2 * self.padding - self.kernel) // self.stride + 1

    @property
    def out_w(self) -> int:
        return (self.in_w + 2 * self.padding - self.kernel) // self.stride + 1

    def gemms(self, batch: int) -> list[Gemm]:
        rows = batch * self.out_h * self.out_w
        k_in = self.kernel * self.kernel * self.cin
        ff, *bp, wu = _weight_gemms(self.name, rows, k_in, self.cout, self.cin, self.cout,
                                    self.sparse, self.input_grad)
        if bp:
            bp = self._input_grad_gemms(batch)
        return [ff, *bp, wu]

    def _phase_taps(self, size: int) -> list[tuple[int, int]]:
        """Per phase ``φ < stride`` along one axis: (input pixels, kernel taps reaching them).

        Input pixel ``i`` receives ``dY[o]·W[r]`` for ``o·stride + r − padding = i``,
        so tap ``r`` reaches phase ``φ = i mod stride`` when
        ``(φ + padding − r) mod stride = 0``.
        """
        s = self.stride
        return [(-(-(size - phase) // s),
                 sum((phase + self.padding - r) % s == 0 for r in range(self.kernel)))
                for phase in range(min(s, size))]

    def _input_grad_gemms(self, batch: int) -> list[Gemm]:
        shapes: dict[tuple[int, int], int] = {}
        for pix_y, taps_y in self._phase_taps(self.in_h):
            for pix_x, taps_x in self._phase_taps(self.in_w):
                taps = taps_y * taps_x
                if taps:
                    key = (batch * pix_y * pix_x, taps * self.cout)
                    shapes[key] = shapes.get(key, 0) + 1
        sparse = "colwise" if self.sparse else None
        return [Gemm(self.name, "BP", m, k, self.cin, count, sparse, self.cout)
                for (m, k), count in sorted(shapes.items(), key=lambda kv: (-kv[0][1], kv[0][0]))]


@dataclass(frozen=True)
class AttentionLayer:
    """Multi-head attention products ``S = Q·Kᵀ`` and ``O = P·V`` (no weights, dense)."""

    name: str
    seq: int
    heads: int
    head_dim: int

    def gemms(self, batch: int) -> list[Gemm]:
        s, d, c = self.seq, self.head_dim, batch * self.heads
        n = self.name
        return [
            Gemm(f"{n}.qk", "FF", s, d, s, c, None, d),
            Gemm(f"{n}.pv", "FF", s, s, d, c, None, s),
            Gemm(f"{n}.pv.dP", "BP", s, d, s, c, None, d),   # dP = dO · Vᵀ
            Gemm(f"{n}.pv.dV", "BP", s, s, d, c, None, s),   # dV = Pᵀ · dO
            Gemm(f"{n}.qk.dQ", "BP", s, s, d, c, None, s),   # dQ = dS · K
            Gemm(f"{n}.qk.dK", "BP", s, s, d, c, None, s),   # dK = dSᵀ · Q
        ]


Layer = LinearLayer | ConvLayer | AttentionLayer


@dataclass(frozen=True)
class Workload:
    """A network's layers and the batch size of one training step."""

    name: str
    description: str
    input_shape: tuple[int, ...]
    layers: tuple[Layer, ...]
    batch: int = 16
    notes: str = field(default="", compare=False)

    def gemms(self) -> list[Gemm]:
        """All GEMMs of one training step, layer by layer (FF, BP, WU)."""
        return [g for layer in self.layers for g in layer.gemms(self.batch)]

    def macs(self) -> dict[str, int]:
        """MACs per phase and in total for one step: ``{"FF", "BP", "WU", "total"}``."""
        out = dict.fromkeys(PHASES, 0)
        for g in self.gemms():
            out[g.phase] += g.macs
        out["total"] = sum(out[p] for p in PHASES)
        return out

    def with_batch(self, batch: int) -> Workload:
        """The same network at another batch size."""
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch = {batch!r}; allowed: an integer >= 1")
        return Workload(self.name, self.description, self.input_shape, self.layers, batch,
                        self.notes)

    def to_dict(self) -> dict:
        """JSON-serialisable summary with every GEMM."""
        return {"name": self.name, "description": self.description,
                "input_shape": list(self.input_shape), "batch": self.batch,
                "macs": self.macs(), "gemms": [g.to_dict() for g in self.gemms()]}


# --------------------------------------------------------------------------- lookup


def workload_names() -> list[str]:
    """Names of the built-in workloads."""
    return sorted(WORKLOADS)


def get_workload(name: str, batch: int | None = None) -> Workload:
    """A built-in workload by name, optionally at another batch size.

    Raises
    ------
    KeyError
        Unknown name; the message lists the known workloads.
    """
    try:
        builder = WORKLOADS[name.lower()]
    except KeyError:
        raise KeyError(
            f"unknown workload {name!r}; known workloads: {', '.join(workload_names())}"
        ) from None
    wl = builder()
    return wl if batch is None else wl.with_batch(batch)


# --------------------------------------------------------------------------- builders


def _weight_gemms(name: str, rows: int, k_in: int, out: int, in_group: int, out_group: int,
                  sparse: bool, input_grad: bool) -> list[Gemm]:
    gemms = [Gemm(name, "FF", rows, k_in, out, 1, "rowwise" if sparse else None, in_group)]
    if input_grad:
        gemms.append(Gemm(name, "BP", rows, out, k_in, 1, "colwise" if sparse else None,
                          out_group))
    gemms.append(Gemm(name, "WU", out, rows, k_in, 1, None, rows))
    return gemms


def _resnet(name: str, blocks: tuple[int, ...], bottleneck: bool) -> Workload:
    layers: list[Layer] = [ConvLayer("conv1", 3, 64, 7, 2, 3, 224, 224, sparse=False,
                                     input_grad=False)]
    size, cin = 56, 64  # after the 3x3/2 max-pool
    for stage, (count, width) in enumerate(zip(blocks, (64, 128, 256, 512)), start=1):
        for b in range(count):
            stride = 2 if b == 0 and stage > 1 else 1
            out_size = size // stride
            p = f"layer{stage}.{b}"
            cout = width * 4 if bottleneck else width
            if bottleneck:
                layers += [
                    ConvLayer(f"{p}.conv1", cin, width, 1, 1, 0, size, size),
                    ConvLayer(f"{p}.conv2", width, width, 3, stride, 1, size, size),
                    ConvLayer(f"{p}.conv3", width, cout, 1, 1, 0, out_size, out_size),
                ]
            else:
                layers += [
                    ConvLayer(f"{p}.conv1", cin, width, 3, stride, 1, size, size),
                    ConvLayer(f"{p}.conv2", width, width, 3, 1, 1, out_size, out_size),
                ]
            if stride != 1 or cin != cout:
                layers.append(ConvLayer(f"{p}.downsample", cin, cout, 1, stride, 0, size, size))
            cin, size = cout, out_size
    layers.append(LinearLayer("fc", cin, 1000))
    return Workload(name, f"{name} on ImageNet 224x224 (torchvision layout)",
                    (3, 224, 224), tuple(layers))


def resnet18() -> Workload:
    """ResNet-18, ImageNet 224×224."""
    return _resnet("resnet18", (2, 2, 2, 2), bottleneck=False)


def resnet50() -> Workload:
    """ResNet-50 (v1.5: stride on the 3×3), ImageNet 224×224."""
    return _resnet("resnet50", (3, 4, 6, 3), bottleneck=True)


def vgg16() -> Workload:
    """VGG-16 (configuration D), ImageNet 224×224."""
    plan = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
            512, 512, 512, "M")
    layers: list[Layer] = []
    size, cin, idx = 224, 3, 0
    for item in plan:
        if item == "M":
            size //= 2
            continue
        first = not layers
        layers.append(ConvLayer(f"features.{idx}", cin, item, 3, 1, 1, size, size,
                                sparse=not first, input_grad=not first))
        cin, idx = item, idx + 1
    layers += [LinearLayer("classifier.0", 512 * 7 * 7, 4096),
               LinearLayer("classifier.3", 4096, 4096),
               LinearLayer("classifier.6", 4096, 1000)]
    return Workload("vgg16", "VGG-16 on ImageNet 224x224", (3, 224, 224), tuple(layers))


def _transformer(prefix: str, depth: int, dim: int, heads: int, mlp: int, seq: int
                 ) -> list[Layer]:
    layers: list[Layer] = []
    for i in range(depth):
        p = f"{prefix}.{i}"
        layers += [
            LinearLayer(f"{p}.attn.qkv", dim, 3 * dim, seq),
            AttentionLayer(f"{p}.attn", seq, heads, dim // heads),
            LinearLayer(f"{p}.attn.proj", dim, dim, seq),
            LinearLayer(f"{p}.mlp.fc1", dim, mlp, seq),
            LinearLayer(f"{p}.mlp.fc2", mlp, dim, seq),
        ]
    return layers


def _vit(name: str, dim: int, heads: int, mlp: int, description: str) -> Workload:
    seq = 14 * 14 + 1  # 16x16 patches of 224x224 plus the class token
    layers: list[Layer] = [ConvLayer("patch_embed", 3, dim, 16, 16, 0, 224, 224, sparse=False,
                                     input_grad=False)]
    layers += _transformer("blocks", 12, dim, heads, mlp, seq)
    layers.append(LinearLayer("head", dim, 1000, 1))
    return Workload(name, description, (3, 224, 224), tuple(layers))


def vit_b16() -> Workload:
    """ViT-B/16: 12 layers, D = 768, 12 heads, MLP 3072, 197 tokens."""
    return _vit("vit_b16", 768, 12, 3072, "ViT-B/16 on ImageNet 224x224 (197 tokens)")


def deit_s() -> Workload:
    """DeiT-S: 12 layers, D = 384, 6 heads, MLP 1536, 197 tokens."""
    return _vit("deit_s", 384, 6, 1536, "DeiT-S on ImageNet 224x224 (197 tokens)")


def bert_base() -> Workload:
    """BERT-base encoder, sequence length 128, with pooler and a 2-way classifier."""
    seq = 128
    layers = _transformer("encoder", 12, 768, 12, 3072, seq)
    layers += [LinearLayer("pooler", 768, 768, 1), LinearLayer("classifier", 768, 2, 1)]
    return Workload("bert_base", "BERT-base, sequence length 128 (embeddings are lookups)",
                    (seq,), tuple(layers),
                    notes="the first GEMM's input is the embedding output, whose gradient "
                          "feeds the embedding tables, so every layer keeps its BP GEMM")


WORKLOADS = {
    "resnet18": resnet18,
    "resnet50": resnet50,
    "vgg16": vgg16,
    "vit_b16": vit_b16,
    "deit_s": deit_s,
    "bert_base": bert_base,
}
