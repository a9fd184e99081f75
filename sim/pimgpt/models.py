"""Shapes of the GPT models that PIM-GPT decodes: GPT-2 and the small GPT-3 family.

Every model here is the GPT-2 architecture (pre-LayerNorm decoder blocks, learned
absolute position embeddings, tanh-GELU MLP of width ``4 d``, biases everywhere, a final
LayerNorm and an output projection tied to the token embedding), described by
:class:`GptConfig`.

Sources
-------
* GPT-2 small / medium / large / XL: the configuration files that OpenAI published with
  the weights (``hparams.json`` in github.com/openai/gpt-2, the same numbers as the
  ``config.json`` of the Hugging Face checkpoints ``gpt2``, ``gpt2-medium``,
  ``gpt2-large``, ``gpt2-xl``): ``n_layer / n_embd / n_head`` = 12/768/12, 24/1024/16,
  36/1280/20, 48/1600/25, ``n_vocab`` 50257, ``n_ctx`` 1024, LayerNorm epsilon 1e-5.
  Their parameter counts, with the tied output projection counted once, are the
  124M / 355M / 774M / 1558M of the model cards (the GPT-2 paper, Radford et al. 2019,
  Table 2, printed 117M / 345M / 762M / 1542M, counts that OpenAI later corrected).
* GPT-3 Small / Medium / Large / XL: Brown et al. 2020, "Language Models are Few-Shot
  Learners", Table 2.1 (``n_params, n_layers, d_model, n_heads, d_head``): 125M, 12, 768,
  12, 64; 350M, 24, 1024, 16, 64; 760M, 24, 1536, 16, 96; 1.3B, 24, 2048, 24, 128; context
  window 2048 tokens; "the same model and architecture as GPT-2" (Section 2.1), with the
  GPT-2 byte-level BPE vocabulary (50257 tokens).

Deviations from the sources, on purpose
---------------------------------------
* **GPT-3 XL's heads.** Table 2.1 gives GPT-3 XL 24 heads of ``d_head`` 128, which cannot
  both hold with ``d_model`` 2048 (24 × 128 = 3072; 2048 / 24 is not an integer).  The
  published 1.3B parameters fit attention projections of ``d_model × d_model`` (24 ×
  3072-wide attention would give 1.52B), so the model here keeps ``d_model`` 2048 and
  ``d_head`` 128 and therefore has **16 heads** (as the open 1.3B GPT-3 replications,
  e.g. EleutherAI's GPT-Neo 1.3B, do).
* **GPT-3's sparse attention is not modelled.** GPT-3 alternates dense and locally
  banded sparse attention layers (Section 2.1, after Child et al. 2019); every layer
  here attends densely to all previous positions, as GPT-2 does.
* GPT-3's parameter counts are the paper's rounded values; the shapes here count
  125.2M / 355.9M / 760.3M / 1315.7M (the largest gap, Medium, is 1.7 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sparseforge.errors import ConfigError, SparseforgeError

__all__ = [
    "MODELS",
    "GptConfig",
    "UnknownModelError",
    "get_model",
    "model_names",
    "tiny",
]


class UnknownModelError(SparseforgeError, KeyError):
    """A model name is not in :data:`MODELS`; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would print the repr of its argument
        return str(self.args[0]) if self.args else ""


def _check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(
            f"GptConfig.{name} = {value!r}; allowed: an integer >= {low}")


@dataclass(frozen=True)
class GptConfig:
    """The shape of one GPT-2-architecture model.

    Parameters
    ----------
    name : str
        A short name (``"gpt2-small"``).
    n_layer : int
        Decoder blocks.
    d_model : int
        Width of the residual stream (``n_embd``).
    n_head : int
        Attention heads; must divide ``d_model``.
    vocab : int
        Vocabulary size (rows of the token embedding and of the tied output projection).
    n_ctx : int
        Positions of the learned position embedding: the longest context.
    eps : float
        LayerNorm epsilon (1e-5 for GPT-2 and GPT-3).

    Raises
    ------
    ConfigError
        A field is of the wrong type or out of range; the message names the field, the
        value and what is allowed.
    """

    name: str
    n_layer: int
    d_model: int
    n_head: int
    vocab: int
    n_ctx: int
    eps: float = 1e-5

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"GptConfig.name = {self.name!r}; allowed: a non-empty string")
        for field, low in (("n_layer", 1), ("d_model", 1), ("n_head", 1), ("vocab", 2),
                           ("n_ctx", 1)):
            _check_int(field, getattr(self, field), low)
        if self.d_model % self.n_head:
            raise ConfigError(
                f"GptConfig.n_head = {self.n_head} with d_model = {self.d_model}; allowed: "
                f"a divisor of d_model (d_head = d_model / n_head must be an integer)")
        eps = self.eps
        if (isinstance(eps, bool) or not isinstance(eps, (int, float))
                or not math.isfinite(eps) or not 0 < eps < 1):
            raise ConfigError(f"GptConfig.eps = {eps!r}; allowed: a float in (0, 1)")

    @property
    def d_head(self) -> int:
        """Width of one attention head, ``d_model / n_head``."""
        return self.d_model // self.n_head

    @property
    def d_ff(self) -> int:
        """Width of the MLP's hidden layer, ``4 d_model``."""
        return 4 * self.d_model

    def layer_params(self) -> int:
        """Parameters of one decoder block: two LayerNorms (``4 d``), the QKV projection
        (``3 d^2 + 3 d``), the attention output projection (``d^2 + d``) and the MLP
        (``8 d^2 + 5 d``): ``12 d^2 + 13 d``."""
        d = self.d_model
        return 12 * d * d + 13 * d

    def n_params(self) -> int:
        """All parameters, the tied output projection counted once: token and position
        embeddings, ``n_layer`` blocks and the final LayerNorm."""
        d = self.d_model
        return self.vocab * d + self.n_ctx * d + self.n_layer * self.layer_params() + 2 * d

    def kv_cache_elements(self, context: int | None = None) -> int:
        """Elements of the K and V caches for ``context`` positions (default ``n_ctx``):
        ``2 n_layer context d_model``."""
        context = self.n_ctx if context is None else context
        return 2 * self.n_layer * context * self.d_model


_VOCAB = 50257

#: The models of the PIM-GPT evaluation (see the module docstring for the sources).
MODELS: dict[str, GptConfig] = {
    c.name: c
    for c in (
        GptConfig("gpt2-small", 12, 768, 12, _VOCAB, 1024),
        GptConfig("gpt2-medium", 24, 1024, 16, _VOCAB, 1024),
        GptConfig("gpt2-large", 36, 1280, 20, _VOCAB, 1024),
        GptConfig("gpt2-xl", 48, 1600, 25, _VOCAB, 1024),
        GptConfig("gpt3-small", 12, 768, 12, _VOCAB, 2048),
        GptConfig("gpt3-medium", 24, 1024, 16, _VOCAB, 2048),
        GptConfig("gpt3-large", 24, 1536, 16, _VOCAB, 2048),
        GptConfig("gpt3-xl", 24, 2048, 16, _VOCAB, 2048),  # 16 heads: module docstring
    )
}


def model_names() -> list[str]:
    """Names of the models in :data:`MODELS`, GPT-2 first, each family small to large."""
    return list(MODELS)


def get_model(name: str) -> GptConfig:
    """The model called ``name`` (case-insensitive; ``_`` read as ``-``).

    Raises
    ------
    UnknownModelError
        ``name`` is not a known model; the message lists the known names.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in MODELS:
        raise UnknownModelError(
            f"unknown model {name!r}; known models: {', '.join(model_names())}")
    return MODELS[key]


def tiny(n_layer: int = 2, d_model: int = 64, n_head: int = 4, vocab: int = 256,
         n_ctx: int = 64, eps: float = 1e-5, name: str = "tiny") -> GptConfig:
    """A small GPT-2-architecture model for tests (two blocks of width 64 by default)."""
    return GptConfig(name, n_layer, d_model, n_head, vocab, n_ctx, eps)
