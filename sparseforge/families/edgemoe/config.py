"""Configuration of the Edge-MoE multi-task ViT accelerator (see docs/designs/edgemoe.md).

The defaults are the published M3ViT-tiny on a ZCU102 at 300 MHz: a 256 x 128 image
(width x height) in 16 x 16 patches (128 patches + the CLS token = 129 tokens),
D = 192, 12 layers of 3 heads, the odd layers mixture-of-experts with 16 experts, top-2,
expert hidden size 384, dense MLP hidden size 768, two tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sparseforge.config import DesignConfig, check_identifier, param
from sparseforge.errors import ConfigError
from sparseforge.formats import FixedFormat

__all__ = ["EdgeMoEConfig"]

_MOE_WORDS = ("odd", "even", "all", "none")


@dataclass(frozen=True)
class EdgeMoEConfig(DesignConfig):
    """Model shape and hardware parameters of one Edge-MoE design.

    Attributes
    ----------
    image_h, image_w : int
        Input image height and width in pixels (multiples of ``patch``).
    patch : int
        Side of a square patch in pixels; ``tokens = (image_h / patch) *
        (image_w / patch) + 1`` (the CLS token first).
    in_chans : int
        Image channels.
    dim : int
        Embedding dimension D (a multiple of ``heads``, ``tile_in`` and ``tile_out``).
    heads : int
        Attention heads; the head dimension is ``dim / heads``.
    layers : int
        Encoder layers.
    moe_layers : str
        Which layers are MoE (0-based): ``odd``, ``even``, ``all``, ``none`` or a
        comma-separated list of indices such as ``1,3,5``.
    experts, top_k : int
        Experts per MoE layer and experts each token is routed to.
    expert_hidden, mlp_hidden : int
        Hidden sizes of an expert's and of the dense MLP's two-layer network.
    tasks : int
        Tasks, one gate per task and MoE layer.
    lanes : int
        Query lanes P of the attention unit.
    tile_in, tile_out : int
        The linear unit's tile: ``tile_in`` inputs times ``tile_out`` outputs
        multipliers (16 x 16 in the public design).
    gelu_step_log2 : int
        The GELU table step is ``2**-gelu_step_log2``.
    gelu_range : float
        The table covers ``|x| < gelu_range`` (``gelu_range / step + 1`` entries); GELU
        is ReLU beyond.
    act_format, weight_format, bias_format, norm_format, gelu_table_format : str
        ``ap_fixed`` spellings of activations, linear weights, biases, LayerNorm
        scales and the GELU table.
    axi_bits : int
        Data width of the AXI4 memory masters in bits.
    weight_ports : int
        AXI4 masters the weights stream through (striped by tile), besides the one of
        the activations.
    weight_storage : str
        ``bram``: one block-RAM bank per multiplier; ``uram``: one UltraRAM row of a
        tile's inputs per output (the inputs reshaped into one wide word).
    clock_mhz : float
        Target clock in MHz.
    name : str
        Name of the HLS top function (and of the IP).
    """

    image_h: int = param(128, "image height, pixels", low=8, high=1024,
                         rule="a multiple of patch")
    image_w: int = param(256, "image width, pixels", low=8, high=1024,
                         rule="a multiple of patch")
    patch: int = param(16, "patch side, pixels", choices=(4, 8, 16, 32))
    in_chans: int = param(3, "image channels", low=1, high=4)
    dim: int = param(192, "embedding dimension D", low=8, high=1024,
                     rule="a multiple of heads, tile_in and tile_out")
    heads: int = param(3, "attention heads", low=1, high=16)
    layers: int = param(12, "encoder layers", low=1, high=24)
    moe_layers: str = param("odd", "MoE layers (0-based): odd, even, all, none or a list "
                            "like 1,3,5", rule="indices below layers")
    experts: int = param(16, "experts per MoE layer", low=1, high=64)
    top_k: int = param(2, "experts per token", low=1, high=8, rule="at most experts")
    expert_hidden: int = param(384, "expert hidden size", low=8, high=4096,
                               rule="a multiple of tile_in and tile_out")
    mlp_hidden: int = param(768, "dense MLP hidden size", low=8, high=4096,
                            rule="a multiple of tile_in and tile_out")
    tasks: int = param(2, "tasks (one gate per task and MoE layer)", low=1, high=8)
    lanes: int = param(4, "query lanes P of the attention unit", low=1, high=16)
    tile_in: int = param(16, "linear unit tile: inputs", choices=(4, 8, 16, 32))
    tile_out: int = param(16, "linear unit tile: outputs", choices=(4, 8, 16, 32))
    gelu_step_log2: int = param(5, "GELU table step 2**-s", low=2, high=8)
    gelu_range: float = param(5.5, "GELU table range |x| < r (ReLU beyond)", low=1.0,
                              high=8.0, rule="a multiple of the step")
    act_format: str = param("ap_fixed<32,10>", "activation type",
                            rule="a signed ap_fixed, 16 to 32 bits")
    weight_format: str = param("ap_fixed<16,2>", "linear weight type",
                               rule="a signed ap_fixed, 4 to 18 bits")
    bias_format: str = param("ap_fixed<16,7>", "bias type",
                             rule="a signed ap_fixed, at most 32 bits")
    norm_format: str = param("ap_fixed<16,5>", "LayerNorm scale type",
                             rule="a signed ap_fixed, at most 18 bits")
    gelu_table_format: str = param("ap_ufixed<22,0>", "GELU table type",
                                   rule="an ap_ufixed, at most 24 bits")
    axi_bits: int = param(256, "AXI4 data width, bits", choices=(64, 128, 256, 512))
    weight_ports: int = param(2, "AXI4 masters the weights are striped over", low=1, high=4)
    weight_storage: str = param("bram", "on-chip memory of the two weight buffers",
                                choices=("bram", "uram"))
    kv_storage: str = param("bram", "on-chip memory of the attention unit's K and V",
                            choices=("bram", "uram"))
    clock_mhz: float = param(300.0, "target clock, MHz", low=50.0, high=500.0)
    name: str = param("edgemoe_vit", "HLS top function and IP name",
                      rule="an identifier, not a keyword of an emitted language")

    # ------------------------------------------------------------------ validation

    def validate(self) -> None:
        for field in ("image_h", "image_w"):
            value = getattr(self, field)
            if value % self.patch:
                raise ConfigError(f"{field} = {value} is not a multiple of patch = "
                                  f"{self.patch}; allowed: multiples of {self.patch}")
        for div in ("heads", "tile_in", "tile_out"):
            if self.dim % getattr(self, div):
                raise ConfigError(f"dim = {self.dim} is not divisible by {div} = "
                                  f"{getattr(self, div)}; allowed: multiples of "
                                  f"{getattr(self, div)}")
        for field in ("expert_hidden", "mlp_hidden"):
            for div in ("tile_in", "tile_out"):
                if getattr(self, field) % getattr(self, div):
                    raise ConfigError(f"{field} = {getattr(self, field)} is not divisible "
                                      f"by {div} = {getattr(self, div)}")
        if self.top_k > self.experts:
            raise ConfigError(f"top_k = {self.top_k} is out of range for experts = "
                              f"{self.experts}; allowed: 1 to {self.experts}")
        steps = self.gelu_range * (1 << self.gelu_step_log2)
        if steps != int(steps):
            raise ConfigError(f"gelu_range = {self.gelu_range} is not a multiple of the "
                              f"GELU step 2**-{self.gelu_step_log2}")
        self.moe_layer_set  # noqa: B018  (parses and checks moe_layers)
        for field, signed, lo, hi in (("act_format", True, 16, 32),
                                      ("weight_format", True, 4, 18),
                                      ("bias_format", True, 4, 32),
                                      ("norm_format", True, 4, 18),
                                      ("gelu_table_format", False, 8, 24)):
            fmt = self.format(field)
            if fmt.signed != signed or not lo <= fmt.width <= hi:
                kind = "a signed ap_fixed" if signed else "an ap_ufixed"
                raise ConfigError(f"{field} = {getattr(self, field)!r} is not allowed; "
                                  f"allowed: {kind} of {lo} to {hi} bits")
        table = self.format("gelu_table_format")
        if table.frac_bits > 24 or table.int_bits > 0:
            raise ConfigError(f"gelu_table_format = {self.gelu_table_format!r} is not "
                              "allowed; allowed: no integer bits (the table holds "
                              "delta < 0.17) and at most 24 fraction bits")
        act = self.format("act_format")
        if act.frac_bits < self.gelu_step_log2:
            raise ConfigError(f"act_format = {self.act_format!r} has {act.frac_bits} "
                              f"fraction bits; the GELU step 2**-{self.gelu_step_log2} "
                              "needs at least that many")
        if act.int_bits <= max(3, int(self.gelu_range).bit_length()):
            raise ConfigError(f"act_format = {self.act_format!r} has {act.int_bits} "
                              f"integer bits; allowed: more than the GELU range "
                              f"{self.gelu_range} needs")
        if self.axi_bits % act.width:
            raise ConfigError(f"act_format = {self.act_format!r} is {act.width} bits, which "
                              f"do not divide axi_bits = {self.axi_bits}; allowed: a width "
                              "that packs whole values into an AXI word (16 or 32 bits)")
        if self.head_dim % self.word_values:
            raise ConfigError(f"head dimension dim / heads = {self.head_dim} is not a multiple "
                              f"of the {self.word_values} activations per AXI word "
                              f"(axi_bits / activation width); allowed: multiples of "
                              f"{self.word_values}")
        if self.lanes > self.tokens:
            raise ConfigError(f"lanes = {self.lanes} is out of range for {self.tokens} "
                              f"tokens; allowed: 1 to {self.tokens}")
        check_identifier("name", self.name)

    def format(self, field: str) -> FixedFormat:
        """The :class:`FixedFormat` of one of the ``*_format`` fields."""
        text = getattr(self, field)
        try:
            return FixedFormat.parse(text)
        except ValueError as exc:
            raise ConfigError(f"{field} = {text!r} is not an ap_fixed type: {exc}; "
                              "allowed: e.g. 'ap_fixed<32,10>' or "
                              "'ap_fixed<16,2,AP_RND,AP_SAT>'") from None

    # ------------------------------------------------------------------ derived shape

    @property
    def patches(self) -> int:
        """Image patches, ``(image_h / patch) * (image_w / patch)``."""
        return (self.image_h // self.patch) * (self.image_w // self.patch)

    @property
    def tokens(self) -> int:
        """Tokens per image: the patches and the CLS token (token 0)."""
        return self.patches + 1

    @property
    def head_dim(self) -> int:
        """Dimension of one attention head, ``dim / heads``."""
        return self.dim // self.heads

    @property
    def patch_inputs(self) -> int:
        """Inputs of the patch embedding per patch, ``in_chans * patch**2``."""
        return self.in_chans * self.patch * self.patch

    @property
    def word_values(self) -> int:
        """Activations per AXI word, ``axi_bits / activation width``: what the
        attention, LayerNorm and residual loops handle per iteration."""
        return self.axi_bits // self.format("act_format").width

    @property
    def gelu_entries(self) -> int:
        """Entries of the GELU table, ``gelu_range / step + 1``."""
        return int(self.gelu_range * (1 << self.gelu_step_log2)) + 1

    @cached_property
    def moe_layer_set(self) -> frozenset[int]:
        """The 0-based indices of the MoE layers."""
        text = self.moe_layers.replace(" ", "")
        if text == "odd":
            return frozenset(range(1, self.layers, 2))
        if text == "even":
            return frozenset(range(0, self.layers, 2))
        if text == "all":
            return frozenset(range(self.layers))
        if text == "none" or text == "":
            return frozenset()
        try:
            idx = [int(p) for p in text.split(",")]
        except ValueError:
            raise ConfigError(f"moe_layers = {self.moe_layers!r} is not allowed; allowed: "
                              f"{', '.join(_MOE_WORDS)} or comma-separated layer indices "
                              "(e.g. 1,3,5)") from None
        bad = [i for i in idx if not 0 <= i < self.layers]
        if bad:
            raise ConfigError(f"moe_layers = {self.moe_layers!r} names layer {bad[0]}; "
                              f"allowed: 0 to {self.layers - 1}")
        if len(set(idx)) != len(idx):
            raise ConfigError(f"moe_layers = {self.moe_layers!r} names a layer twice")
        return frozenset(idx)

    def is_moe(self, layer: int) -> bool:
        """Whether encoder layer ``layer`` (0-based) is a mixture-of-experts layer."""
        return layer in self.moe_layer_set
