"""The PIM-GPT simulators: mapping, functional decoding, timed decoding.

* functional: the command-by-command simulator's greedy tokens and logits equal the
  golden reference decoder (sim/pimgpt/reference.py, written from the arithmetic of
  docs/designs/pimgpt.md, with no mapping) bit for bit;
* timed: the fast paths (periodic row skipping, copies of equivalent channels, batched
  MACs) give exactly what issuing every command on its own gives, and that full command
  log passes the independent rule checker;
* the mapping holds every value exactly once and refuses what does not fit.
"""

from __future__ import annotations

import dataclasses
import itertools
from math import ceil
from pathlib import Path

import numpy as np
import pytest

from sparseforge.errors import ConfigError
from sparseforge.sim.dram.checker import check_commands
from sparseforge.sim.dram.device import load_device
from sparseforge.sim.pimgpt.functional import FunctionalSystem
from sparseforge.sim.pimgpt.models import get_model, tiny
from sparseforge.sim.pimgpt.perf import geometry, system, token_latency
from sparseforge.sim.pimgpt.program import token_program
from sparseforge.sim.pimgpt.reference import PimArith, decode_logits
from sparseforge.sim.pimgpt.timed import TimedSystem
from sparseforge.sim.pimgpt.weights import random_weights

PRESETS = Path(__file__).resolve().parents[2] / "sim" / "dram" / "presets"


@pytest.fixture(scope="module")
def aim():
    return load_device("gddr6_aim")


@pytest.fixture(scope="module")
def small_rows(tmp_path_factory):
    """gddr6_aim with 4-column rows (64 BF16): spans, head groups and V tiles > 1 on a
    tiny model."""
    text = (PRESETS / "gddr6_aim.toml").read_text()
    text = text.replace('name = "gddr6_aim"', 'name = "small_rows"')
    text = text.replace("columns = 64", "columns = 4").replace("rows = 16384", "rows = 4096")
    text = text.replace("gbuf_bytes = 2048    # one row", "gbuf_bytes = 128")
    path = tmp_path_factory.mktemp("dev") / "small_rows.toml"
    path.write_text(text)
    return load_device(path)


def _bits(a):
    return np.asarray(a, np.float32).view(np.uint32)


def _decode_both(device, model, channels, asic_lanes, prompt, steps, seed):
    w = random_weights(model, seed=seed, std=0.3)
    mm = system(model, device, channels)
    sim = FunctionalSystem(device, mm, model, w, asic_lanes=asic_lanes)
    tokens, logits = sim.decode(prompt, steps)
    arith = PimArith(lanes=mm.geo.lanes, span=mm.geo.row_elems, asic_lanes=asic_lanes)
    ref_tokens, ref_logits = decode_logits(w, prompt, steps, arith)
    return mm, tokens, logits, ref_tokens, ref_logits


def test_functional_tokens_and_logits_equal_the_reference_bit_for_bit(aim):
    model = tiny(n_layer=2, d_model=64, n_head=4, vocab=192, n_ctx=64)
    _mm, tokens, logits, ref_tokens, ref_logits = _decode_both(
        aim, model, channels=2, asic_lanes=16, prompt=[5, 17, 3, 99], steps=16, seed=7)
    assert tokens == ref_tokens
    assert len(set(tokens)) > 3  # a decode that does not just repeat one token
    for a, b in zip(logits, ref_logits):
        assert np.array_equal(_bits(a), _bits(b))


@pytest.mark.slow
def test_functional_matches_across_spans_head_groups_and_v_tiles(small_rows):
    # rows of 64 values: d = 128 is two spans, 4 heads of 32 are two K groups, and
    # positions 64 .. 79 fall in the second V tile
    model = tiny(n_layer=1, d_model=128, n_head=4, vocab=128, n_ctx=96)
    prompt = list(np.random.default_rng(0).integers(0, 128, 62))
    mm, tokens, logits, ref_tokens, ref_logits = _decode_both(
        small_rows, model, channels=2, asic_lanes=8, prompt=prompt, steps=16, seed=3)
    layer = mm.layers[0]
    assert len(layer["qkv"].spans) == 2 and len(layer["k"].groups) == 2
    assert layer["v"].tiles == 2
    assert tokens == ref_tokens
    for a, b in zip(logits, ref_logits):
        assert np.array_equal(_bits(a), _bits(b))


def test_a_wrong_mapping_gives_wrong_logits(aim):
    """The functional simulator really computes through the banks: swap two weight
    rows in one bank and the logits change."""
    model = tiny(n_layer=1, d_model=64, n_head=4, vocab=64, n_ctx=16)
    w = random_weights(model, seed=1, std=0.3)
    mm = system(model, aim, 1)
    good = FunctionalSystem(aim, mm, model, w, asic_lanes=16).step(3, 0)
    bad_sim = FunctionalSystem(aim, mm, model, w, asic_lanes=16)
    p = mm.layers[0]["fc"]
    chan = bad_sim.chans[0]
    r0, r1 = chan.row_values(0, 0, 0, p.row(0, 0)), chan.row_values(0, 0, 0, p.row(0, 1))
    chan.load_row(0, 0, 0, p.row(0, 0), r1)
    chan.load_row(0, 0, 0, p.row(0, 1), r0)
    bad = bad_sim.step(3, 0)
    assert not np.array_equal(_bits(good), _bits(bad))


def _timed(device, model, channels, positions, log, refresh=True):
    mm = system(model, device, channels)
    sim = TimedSystem(device, mm.geo, asic_lanes=16, refresh=refresh, log=log)
    results = [sim.run(token_program(mm, model, p, 1)) for p in positions]
    return sim, results


def _summary(r):
    return (r.cycles, r.breakdown, r.counts, r.row_hits, r.column_accesses, r.phases)


@pytest.mark.parametrize("preset", ["gddr6_aim", "gddr6", "hbm3"])
def test_timed_fast_paths_equal_every_command_issued_and_the_log_is_legal(preset):
    device = load_device(preset)
    model = tiny(n_layer=2, d_model=128, n_head=4, vocab=600, n_ctx=512)
    positions = [0, 37, 300]  # several tokens: the refresh schedule carries over
    _, fast = _timed(device, model, 4, positions, log=False)
    sim, full = _timed(device, model, 4, positions, log=True)
    for a, b in zip(fast, full):
        assert _summary(a) == _summary(b)
    assert fast[-1].counts["REF"] > 0
    assert sum(b.breakdown.values()) == b.cycles
    commands = sorted((c for ch in sim.log for c in ch), key=lambda c: (c.cycle, c.channel))
    system_device = dataclasses.replace(device, channels=4)
    assert check_commands(system_device, commands) == []


def test_timed_log_of_a_two_rank_device_is_legal():
    device = load_device("hbm2")  # 2 ranks: every command issued on its own
    model = tiny(n_layer=1, d_model=128, n_head=2, vocab=256, n_ctx=128)
    sim, (r,) = _timed(device, model, 2, [50], log=True)
    commands = sorted((c for ch in sim.log for c in ch), key=lambda c: (c.cycle, c.channel))
    assert check_commands(dataclasses.replace(device, channels=2), commands) == []
    assert r.counts["GACT"] % 2 == 0  # one per rank


def test_mac_count_follows_the_shapes(aim):
    """MAC commands of one token, counted by hand from the model's shapes."""
    C, B, L, S = 2, 16, 16, 1024
    model = tiny(n_layer=2, d_model=128, n_head=4, vocab=600, n_ctx=512)
    pos = 300
    ctx, d, nh, dh = pos + 1, 128, 4, 32
    macs = 0
    for n_out, n_in in [(3 * d, d), (d, d), (4 * d, d), (d, 4 * d)]:
        cols = sum(ceil(min(S, n_in - k) / L) for k in range(0, n_in, S))
        macs += C * ceil(n_out / (C * B)) * cols  # every channel runs every slot
    per_layer = macs
    # K: all 4 heads share a row (4 x 32 <= 1024); a channel runs the slots holding
    # positions it owns: position t is on channel t % C, slot t // (C B)
    k_rows = sum(len({t // (C * B) for t in range(ctx) if t % C == c}) for c in range(C))
    per_layer += k_rows * (nh * dh // L)
    # V: one row per (head, block of 16 features) item, ceil(ctx / 16) columns
    per_layer += nh * ceil(dh / B) * ceil(ctx / L)
    total = model.n_layer * per_layer
    total += C * ceil(600 / (C * B)) * ceil(d / L)  # the logits
    _, (r,) = _timed(aim, model, C, [pos], log=False)
    assert r.counts["MAC"] + r.counts["MACL"] == total


def test_mapping_places_every_value_once_and_regions_do_not_overlap(aim):
    model = tiny(n_layer=2, d_model=96, n_head=3, vocab=300, n_ctx=200)
    mm = system(model, aim, 3)
    geo = mm.geo
    regions = sorted(mm.regions(), key=lambda r: r[1])
    for (_, a, n), (_, b, _) in itertools.pairwise(regions):
        assert a + n <= b
    assert regions[-1][1] + regions[-1][2] == mm.rows_used
    p = mm.layers[1]["fc2"]
    seen = set()
    for i in range(p.n_out):
        ch, b, u = p.location(i)
        assert p.output(ch, b, u) == i
        for s, (_start, length) in enumerate(p.spans):
            for k in range(length):
                seen.add((ch, b, p.row(s, u), k))
    assert len(seen) == p.n_out * p.n_in
    kp = mm.layers[0]["k"]
    assert len({kp.location(t) for t in range(model.n_ctx)}) == model.n_ctx
    vp = mm.layers[0]["v"]
    dh = 32
    assert len({vp.location(h, j) for h in range(3) for j in range(dh)}) == 3 * dh
    # vectors: element e lives in bank e % (C B) (bank index i: channel i % C, bank
    # (i // C) % B) at offset e // (C B); every read burst lane must agree
    vec = mm.vectors
    cb = geo.channels * geo.banks
    bank_index = {(i % geo.channels, (i // geo.channels) % geo.banks): i for i in range(cb)}
    places = set()
    for first, n in [mm.vector_segment(0), mm.vector_segment(1), mm.vector_segment(None)]:
        for ch, b, row, col, ncols, start in vec.reads(first, n):
            for j in range(ncols * geo.lanes):
                e = first + start + j * vec.stride
                offset = (row - vec.base) * geo.row_elems + col * geo.lanes + j
                assert e == offset * cb + bank_index[(ch, b)]
                if first <= e < first + n:
                    places.add(e)
    assert places == set(range(vec.n))


def test_refusals_before_any_work(aim, tmp_path):
    with pytest.raises(ConfigError, match="needs .* rows per bank"):
        system(get_model("gpt2-xl"), aim, 7)
    system(get_model("gpt2-xl"), aim, 8)  # fits
    with pytest.raises(ConfigError, match="context = 1025; allowed: 1 to 1024"):
        token_latency(get_model("gpt2-small"), aim, 1025)
    with pytest.raises(ConfigError, match="multiple of the MAC lanes"):
        system(tiny(n_layer=1, d_model=72, n_head=3), aim, 1)  # dh = 24
    text = (PRESETS / "gddr6.toml").read_text().partition("[pim]")[0]
    plain = tmp_path / "gddr6.toml"  # the file name must be the preset name
    plain.write_text(text)
    with pytest.raises(ConfigError, match="no \\[pim\\] table"):
        geometry(load_device(plain), 8)


def test_gpt2_xl_token_figures_are_consistent(aim):
    r = token_latency(get_model("gpt2-xl"), aim, 1024)
    t = r.timing
    assert sum(t.breakdown.values()) == t.cycles
    assert t.ns == pytest.approx(t.cycles * 0.5)
    # lower bound: every MAC command of a channel takes ccd_mac = 2 cycles, and the
    # channels share the weights evenly
    macs_per_channel = (t.counts["MAC"] + t.counts["MACL"]) / 8
    assert t.cycles > 2 * macs_per_channel
    assert 0.9 < t.row_hit_rate < 1.0
    assert r.energy_pj["total"] > 0


def test_functional_decodes_a_hugging_face_checkpoint(aim, tmp_path):
    """Real weights: a GPT-2 checkpoint folder (config.json + model.safetensors, Conv1D
    layout) written here, loaded, decoded by the simulator and by the reference."""
    from test_pimgpt_weights import make_checkpoint, write

    from sparseforge.sim.pimgpt.weights import load_hf

    model = tiny(n_layer=2, d_model=64, n_head=4, vocab=160, n_ctx=48)
    state, _ = make_checkpoint(model, seed=11)
    for k in list(state):  # LayerNorm gains near 1, larger weights: varied tokens
        if "ln" in k and k.endswith(".weight"):
            state[k] = 1 + state[k]
        elif k.endswith((".weight", ".bias")) and "ln" not in k:
            state[k] = state[k] * 6
    w = load_hf(write(tmp_path / "ckpt", model, state))
    mm = system(w.config, aim, 2)
    tokens, logits = FunctionalSystem(aim, mm, w.config, w, asic_lanes=16).decode(
        [1, 2, 3], 16)
    ref_tokens, ref_logits = decode_logits(w, [1, 2, 3], 16,
                                           PimArith(lanes=16, span=1024, asic_lanes=16))
    assert tokens == ref_tokens and len(set(tokens)) > 2
    assert all(np.array_equal(_bits(a), _bits(b)) for a, b in zip(logits, ref_logits))
