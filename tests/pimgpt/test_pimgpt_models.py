"""PIM-GPT model shapes: the published configurations, parameter counts, refusals."""

import dataclasses

import pytest

from sparseforge.errors import ConfigError
from sparseforge.sim.pimgpt.models import (
    GptConfig,
    UnknownModelError,
    get_model,
    model_names,
    tiny,
)

# Typed in from the sources (not from the module): OpenAI's GPT-2 hparams.json /
# Hugging Face config.json (n_layer, n_embd, n_head, n_ctx), and Brown et al. 2020
# Table 2.1 (n_layers, d_model, d_head; context 2048).
GPT2 = {
    "gpt2-small": (12, 768, 12),
    "gpt2-medium": (24, 1024, 16),
    "gpt2-large": (36, 1280, 20),
    "gpt2-xl": (48, 1600, 25),
}
GPT3 = {  # n_layers, d_model, d_head
    "gpt3-small": (12, 768, 64),
    "gpt3-medium": (24, 1024, 64),
    "gpt3-large": (24, 1536, 96),
    "gpt3-xl": (24, 2048, 128),
}
# Parameter counts of the model cards / the paper, and the relative tolerance: GPT-2's
# are given to 3-4 significant digits, GPT-3's are rounded harder (350M, 1.3B).
PUBLISHED = {
    "gpt2-small": 124e6, "gpt2-medium": 355e6, "gpt2-large": 774e6, "gpt2-xl": 1558e6,
    "gpt3-small": 125e6, "gpt3-medium": 350e6, "gpt3-large": 760e6, "gpt3-xl": 1.3e9,
}
TOL = {"gpt2": 0.005, "gpt3": 0.02}


def test_names_and_order():
    assert model_names() == [*GPT2, *GPT3]


@pytest.mark.parametrize("name", list(GPT2))
def test_gpt2_shapes(name):
    c = get_model(name)
    assert (c.n_layer, c.d_model, c.n_head) == GPT2[name]
    assert (c.vocab, c.n_ctx, c.eps) == (50257, 1024, 1e-5)
    assert c.d_head == 64
    assert c.d_ff == 4 * c.d_model


@pytest.mark.parametrize("name", list(GPT3))
def test_gpt3_shapes(name):
    c = get_model(name)
    n_layer, d_model, d_head = GPT3[name]
    assert (c.n_layer, c.d_model, c.d_head) == (n_layer, d_model, d_head)
    assert c.n_head * c.d_head == c.d_model
    assert (c.vocab, c.n_ctx) == (50257, 2048)


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_param_counts_match_published(name):
    n = get_model(name).n_params()
    tol = TOL[name[:4]]
    assert abs(n - PUBLISHED[name]) <= tol * PUBLISHED[name], (name, n)


def test_gpt2_exact_param_counts():
    # The counts Hugging Face's GPT2LMHeadModel.num_parameters() reports for the
    # released checkpoints (tied head counted once).
    assert get_model("gpt2-small").n_params() == 124_439_808
    assert get_model("gpt2-xl").n_params() == 1_557_611_200


def test_param_count_by_hand_for_tiny():
    c = tiny(n_layer=1, d_model=8, n_head=2, vocab=10, n_ctx=4)
    # wte 80, wpe 32; block: ln 2*16, qkv 24*8+24, proj 64+8, fc 32*8+32, fc2 8*32+8
    block = 32 + 216 + 72 + 288 + 264
    assert c.layer_params() == block
    assert c.n_params() == 80 + 32 + block + 16


def test_get_model_is_forgiving_about_spelling():
    assert get_model("GPT2_Small") is get_model("gpt2-small")


def test_unknown_model_lists_known_names():
    with pytest.raises(UnknownModelError) as e:
        get_model("gpt4")
    msg = str(e.value)
    assert "'gpt4'" in msg
    for name in model_names():
        assert name in msg


@pytest.mark.parametrize("field, value, allowed", [
    ("n_layer", 0, ">= 1"),
    ("d_model", 1.5, "integer"),
    ("n_head", True, "integer"),
    ("vocab", 1, ">= 2"),
    ("n_ctx", -3, ">= 1"),
])
def test_bad_integer_fields_are_refused(field, value, allowed):
    kw = dict(name="m", n_layer=2, d_model=64, n_head=4, vocab=100, n_ctx=16)
    kw[field] = value
    with pytest.raises(ConfigError) as e:
        GptConfig(**kw)
    msg = str(e.value)
    assert field in msg and repr(value) in msg and allowed in msg


def test_heads_must_divide_width():
    with pytest.raises(ConfigError, match=r"n_head = 24 with d_model = 2048.*divisor"):
        GptConfig("x", 24, 2048, 24, 50257, 2048)


@pytest.mark.parametrize("eps", [0.0, -1e-5, float("nan"), 2.0, "1e-5"])
def test_bad_eps_is_refused(eps):
    with pytest.raises(ConfigError, match="eps"):
        GptConfig("x", 1, 8, 2, 10, 4, eps)


def test_empty_name_is_refused():
    with pytest.raises(ConfigError, match="name"):
        GptConfig(" ", 1, 8, 2, 10, 4)


def test_config_is_frozen():
    c = tiny()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.n_layer = 3


def test_kv_cache_elements():
    c = get_model("gpt2-small")
    assert c.kv_cache_elements(100) == 2 * 12 * 100 * 768
    assert c.kv_cache_elements() == 2 * 12 * 1024 * 768
