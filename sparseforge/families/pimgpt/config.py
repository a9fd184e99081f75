"""Configuration of a PIM-GPT system (see docs/designs/pimgpt.md).

The memory (a DRAM / PIM preset with a ``[pim]`` table, ``--memory``, default
``gddr6_aim``) is the family's target; the config holds the model, the context, the
system (channels, ASIC clock and lanes) and what ``verify`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sparseforge.config import DesignConfig, param
from sparseforge.errors import ConfigError
from sparseforge.pim_units import ASIC_LANES

__all__ = ["DEFAULT_MEMORY", "MODELS", "PimGptConfig"]

#: The models of the paper (published shapes, :mod:`sparseforge.sim.pimgpt.models`).
MODELS = ("gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl",
          "gpt3-small", "gpt3-medium", "gpt3-large", "gpt3-xl")
#: The memory a verb uses when ``--memory`` is not given.
DEFAULT_MEMORY = "gddr6_aim"
_POW2 = tuple(1 << i for i in range(9))


@dataclass(frozen=True)
class PimGptConfig(DesignConfig):
    """One PIM-GPT system and the work a verb does on it.

    Attributes
    ----------
    model : str
        One of :data:`MODELS`.
    context : int
        Tokens attended by the timed token (the new one included), at most the
        model's ``n_ctx`` (the reserved K/V space).
    channels : int
        PIM channels (two per GDDR6 chip); the paper's system has 8.
    asic_mhz : float
        ASIC clock, MHz (the paper: 1 GHz; 100 MHz costs at most 20 %).
    asic_lanes : int
        ASIC vector lanes (a power of two; also the order of its reductions).
    refresh : bool
        Model all-bank refresh.
    layers : int
        Decoder layers of the model as simulated (0: the published count).
    vocab : int
        Vocabulary as simulated (0: the published 50257); ``verify`` uses smaller ones
        to keep the functional run short.
    steps : int
        Greedy decoding steps ``verify`` compares (after a 4-token prompt).
    seed : int
        Seed of the random weights.
    """

    model: str = param("gpt2-xl", "GPT model (published shapes)", choices=MODELS)
    context: int = param(1024, "context length of the timed token, tokens", low=1,
                         high=2048, rule="at most the model's n_ctx")
    channels: int = param(8, "PIM channels (2 per GDDR6 chip)", low=1, high=64)
    asic_mhz: float = param(1000.0, "ASIC clock, MHz", low=10.0, high=4000.0)
    asic_lanes: int = param(ASIC_LANES, "ASIC vector lanes", choices=_POW2)
    refresh: bool = param(True, "model all-bank DRAM refresh")
    layers: int = param(0, "decoder layers simulated (0: the model's)", low=0, high=96)
    vocab: int = param(0, "vocabulary simulated (0: the model's 50257)", low=0,
                       high=50257)
    steps: int = param(16, "greedy decoding steps verify compares", low=1, high=256)
    seed: int = param(0, "seed of the random weights", low=0, high=2 ** 31 - 1)

    def validate(self) -> None:
        model = self.gpt()
        if self.context > model.n_ctx:
            raise ConfigError(f"context = {self.context}; allowed: 1 to {model.n_ctx} "
                              f"(the K/V space {self.model} reserves, n_ctx)")
        if 4 + self.steps > model.n_ctx:
            raise ConfigError(f"steps = {self.steps}; allowed: at most {model.n_ctx - 4} "
                              f"(a 4-token prompt + steps within n_ctx = {model.n_ctx})")

    def gpt(self):
        """The model as simulated (:class:`sparseforge.sim.pimgpt.models.GptConfig`)."""
        import dataclasses

        from sparseforge.sim.pimgpt.models import get_model

        model = get_model(self.model)
        changes = {}
        if self.layers:
            changes["n_layer"] = self.layers
        if self.vocab:
            changes["vocab"] = self.vocab
        if changes:
            suffix = "".join(f"-{k}{v}" for k, v in sorted(changes.items()))
            model = dataclasses.replace(model, name=model.name + suffix, **changes)
        return model
