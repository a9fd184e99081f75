"""C-simulation of the rendered Edge-MoE C++ (g++) bit-exact against the golden model:
every kernel on random and extreme inputs, the whole model for two tasks, and the
trip counts of the pipelined loops equal to the latency model's."""

import numpy as np
import pytest

from sparseforge.families.edgemoe.config import EdgeMoEConfig
from sparseforge.sim.edgemoe import weights as W
from sparseforge.sim.edgemoe.csim import EdgeMoECsim
from sparseforge.sim.edgemoe.golden import Golden
from sparseforge.sim.edgemoe.perf import trip_counts

pytestmark = pytest.mark.slow

I64 = np.int64
# 5 x 4 patches + CLS = 21 tokens; 4 heads of 16; dense, MoE, MoE layers; 3 lanes
SMALL = EdgeMoEConfig(image_h=40, image_w=32, patch=8, dim=64, heads=4, layers=3,
                      moe_layers="1,2", experts=6, top_k=2, expert_hidden=48, mlp_hidden=96,
                      lanes=3, tasks=2)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return EdgeMoECsim(SMALL, tmp_path_factory.mktemp("edgemoe_small"))


@pytest.fixture(scope="module")
def g():
    return Golden(SMALL)


def _extremes(fmt):
    return np.array([fmt.min_raw, fmt.max_raw, 0, 1, -1, fmt.min_raw + 1, fmt.max_raw - 1], I64)


def test_gelu_and_exp(sim, g):
    rng = np.random.default_rng(10)
    act = g.nx.act
    x = np.concatenate([rng.integers(act.min_raw, act.max_raw, 3000, endpoint=True),
                        act.quantize(np.linspace(-6, 6, 4001)), _extremes(act)])
    r = sim.run("gelu", {"n": [len(x)], "x": x}, {"y": (I64, len(x))})
    assert np.array_equal(r["y"], g.gelu(x))
    d = -np.abs(np.concatenate([x, [2 * act.max_raw + 1, 2 * act.max_raw]]))
    r = sim.run("exp", {"n": [len(d)], "x": d}, {"y": (I64, len(d))})
    assert np.array_equal(r["y"], g.exp_neg(d, act.frac_bits))


def test_softmax_statistics(sim, g):
    rng = np.random.default_rng(11)
    act = g.nx.act
    s = act.quantize(rng.normal(0, 6, (40, SMALL.tokens)))
    s[0] = act.max_raw  # all equal
    s[1, ::2] = act.min_raw  # extremes: e**(min - max) underflows to 0
    s[1, 1::2] = act.max_raw
    r = sim.run("softmax", {"shape": list(s.shape), "s": s},
                {"recip": (I64, len(s)), "m": (I64, len(s))})
    recip, m = g.softmax_stats(s)
    assert np.array_equal(r["recip"], recip) and np.array_equal(r["m"], m)


def test_layernorm(sim, g):
    rng = np.random.default_rng(12)
    act, t, d = g.nx.act, SMALL.tokens, SMALL.dim
    x = act.quantize(rng.normal(0, 4, (t, d)) + rng.normal(0, 20, (t, 1)))
    x[0] = 0  # zero variance
    x[1, ::2], x[1, 1::2] = act.quantize(np.array(200.0)), act.quantize(np.array(-200.0))
    gamma = g.nx.norm.quantize(rng.normal(1, 0.5, d))
    beta = g.nx.bias.quantize(rng.normal(0, 0.5, d))
    r = sim.run("layernorm", {"x": x, "gamma": gamma, "beta": beta}, {"y": (I64, (t, d))})
    assert np.array_equal(r["y"], g.layernorm(x, gamma, beta))


@pytest.mark.parametrize("out_dim, in_dim, flags", [
    (3 * 64, 64, 0), (96, 64, 1), (6, 64, 0),  # qkv, fc1 + GELU, a gate (padded tile)
    (48, 64, 1 | 2), (64, 48, 4), (64, 96, 8),  # expert fc1 gathered, fc2 accumulated, fc2 + x
])
def test_linear_unit(sim, g, out_dim, in_dim, flags):
    rng = np.random.default_rng(out_dim * 7 + flags)
    nx, t = g.nx, SMALL.tokens
    x = nx.act.quantize(rng.normal(0, 3, (t, in_dim)))
    x[0, :] = nx.act.max_raw  # extremes through the accumulator
    x[1, :] = nx.act.min_raw
    w = nx.weight.quantize(rng.normal(0, 1 / np.sqrt(in_dim), (out_dim, in_dim)))
    w[:, 0] = nx.weight.min_raw
    b = nx.bias.quantize(rng.normal(0, 1, out_dim))
    rows = t if not flags & 6 else t - 5
    queue = np.zeros(t, I64)
    queue[:rows] = np.sort(rng.choice(t, rows, replace=False))
    score = np.zeros(t, I64)
    score[:rows] = nx.prob.quantize(rng.uniform(0, 1, rows))
    before = nx.act.quantize(rng.normal(0, 2, (t, out_dim)))
    r = sim.run("linear", {"args": [out_dim, in_dim, flags, rows], "x": x, "w": w, "b": b,
                           "queue": queue, "score": score, "out_in": before},
                {"y": (I64, (t, out_dim))})
    y = g.linear(x[queue[:rows]] if flags & 2 else x[:rows], w, b, gelu=bool(flags & 1))
    want = before.copy()
    f = nx.act.frac_bits
    if flags & 4:  # out[queue[r]] += score[r] * y
        weighted = nx.act.requantize(y * score[:rows, None], f + nx.prob.frac_bits)
        want[queue[:rows]] = nx.act.requantize(want[queue[:rows]] + weighted, f)
    elif flags & 8:  # out[r] += y
        want[:rows] = nx.act.requantize(want[:rows] + y, f)
    else:
        want[:rows] = y
    assert np.array_equal(r["y"], want)
    tiles = -(-out_dim // SMALL.tile_out) * (in_dim // SMALL.tile_in)
    assert r.tripcounts == {"linear": rows * tiles}


def test_attention_with_staggered_lanes(sim, g):
    rng = np.random.default_rng(13)
    nx, t, d = g.nx, SMALL.tokens, SMALL.dim
    qkv = nx.act.quantize(rng.normal(0, 3, (t, 3 * d)))
    qkv[2, :d] = nx.act.quantize(np.array(20.0))  # one very peaked query
    r = sim.run("attention", {"qkv": qkv}, {"y": (I64, (t, d))})
    assert np.array_equal(r["y"], g.attention(qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]))
    blocks = -(-(t + SMALL.lanes - 1) // SMALL.lanes)
    per_layer = t * d // 8
    assert r.tripcounts == {"attn_kv": per_layer, "attn_qk": blocks * per_layer,
                            "attn_av": blocks * per_layer}


def test_gate_and_expert_queues(sim, g):
    rng = np.random.default_rng(14)
    nx, t, e = g.nx, SMALL.tokens, SMALL.experts
    logits = nx.act.quantize(rng.normal(0, 2, (t, e)))
    logits[3] = logits[3, 0]  # all tied: the lowest experts win
    r = sim.run("gate", {"logits": logits},
                {"token": (I64, (e, t)), "score": (I64, (e, t)), "length": (I64, e)})
    top = np.argsort(-logits, axis=1, kind="stable")[:, :SMALL.top_k]
    recip, m = g.softmax_stats(logits)
    p = g.softmax_weights(logits, recip, m)
    for ex in range(e):
        tok = np.nonzero((top == ex).any(axis=1))[0]
        n = r["length"][ex]
        assert n == len(tok)
        assert np.array_equal(r["token"][ex, :n], tok)
        assert np.array_equal(r["score"][ex, :n], p[tok, ex])
    assert 3 in r["token"][0, :r["length"][0]] and 3 in r["token"][1, :r["length"][1]]


@pytest.mark.parametrize("task", [0, 1])
def test_whole_model_and_trip_counts(sim, g, task):
    raw = W.quantize(SMALL, W.random_weights(SMALL, 20))
    img = W.quantize_image(W.random_image(SMALL, 21))
    r = sim.forward(img, raw, task)
    trace = {}
    assert np.array_equal(r["y"], g.forward(img, raw, task, trace=trace))
    routing = {i: [len(q) for q in trace[f"routing{i}"]["queues"]] for i in (1, 2)}
    counts = dict(r.tripcounts)
    assert counts.pop("gate") == 2 * SMALL.tokens
    model = trip_counts(SMALL, routing)
    model.pop("gate")
    assert counts == model


def test_m3vit_tiny_two_tasks(tmp_path):
    """The published model size: one image through all 12 layers, two tasks."""
    cfg = EdgeMoEConfig()
    sim = EdgeMoECsim(cfg, tmp_path / "m3vit")
    g = Golden(cfg)
    raw = W.quantize(cfg, W.random_weights(cfg, 30))
    img = W.quantize_image(W.random_image(cfg, 31))
    outs = []
    for task in (0, 1):
        r = sim.forward(img, raw, task)
        trace = {}
        assert np.array_equal(r["y"], g.forward(img, raw, task, trace=trace))
        routing = {i: [len(q) for q in trace[f"routing{i}"]["queues"]]
                   for i in sorted(cfg.moe_layer_set)}
        assert r.tripcounts["linear"] == trip_counts(cfg, routing)["linear"]
        outs.append(r["y"])
    assert not np.array_equal(outs[0], outs[1])  # the tasks' gates route differently
