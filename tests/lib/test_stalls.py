"""Seeded stall patterns (sparseforge.sim.lib.stalls): duty, runs, repeatability, wiring."""

import itertools

import pytest

from sparseforge.sim.lib.stalls import AXI_CHANNELS, NO_STALLS, Stalls, clear_axi, stall_axi


def _take(it, n):
    return list(itertools.islice(it, n))


def _runs(flags):
    """Lengths of the stalled runs in a flag sequence."""
    return [len(list(g)) for k, g in itertools.groupby(flags) if k]


@pytest.mark.parametrize("kind", ["random", "bursty", "mixed"])
def test_duty_is_what_it_says(kind):
    """Over 200 k cycles the stalled fraction is within 0.01 of ``duty`` (0.25)."""
    s = Stalls(kind=kind, seed=3)
    flags = _take(s.pauses("x"), 200_000)
    assert s.duty == pytest.approx(0.25)
    assert sum(flags) / len(flags) == pytest.approx(s.duty, abs=0.01)


def test_random_is_single_cycles_and_bursty_is_long_runs():
    rand = _runs(_take(Stalls(kind="random", seed=1).pauses("a"), 50_000))
    burst = _runs(_take(Stalls(kind="bursty", seed=1).pauses("a"), 50_000))
    assert sum(rand) / len(rand) < 1.5  # p = 0.25: mean run 1 / (1 - p) = 1.33
    assert sum(burst) / len(burst) > 3.5 and max(burst) == 7  # uniform 1..7
    mixed = _take(Stalls(phase=100, seed=1).pauses("a"), 4000)
    per_phase = [_runs(mixed[i:i + 100]) for i in range(0, 4000, 100)]
    longest = [max(r, default=0) for r in per_phase]
    assert min(longest) <= 3 and max(longest) == 7  # both kinds of phase occur


def test_seeded_per_channel_and_repeatable():
    s = Stalls(seed=7)
    assert _take(s.pauses("gmem.r"), 500) == _take(Stalls(seed=7).pauses("gmem.r"), 500)
    assert _take(s.pauses("gmem.r"), 500) != _take(s.pauses("gmem.w"), 500)
    assert _take(s.pauses("gmem.r"), 500) != _take(s.with_seed(8).pauses("gmem.r"), 500)
    assert not any(_take(NO_STALLS.pauses("gmem.r"), 500)) and not NO_STALLS.active
    assert Stalls.of(None) == NO_STALLS and Stalls.of("bursty").kind == "bursty"
    assert Stalls.of(s.to_dict()) == s


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"kind": "sometimes"}, "kind = 'sometimes'; allowed: none, random, bursty, mixed"),
    ({"p": 1.0}, "p = 1.0; allowed: 0 <= p < 1"),
    ({"stall_max": 0}, "stall_max = 0; allowed: >= 1"),
])
def test_bad_patterns_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Stalls(**kwargs)


class _Channel:
    def __init__(self):
        self.gen, self.pause = None, False

    def set_pause_generator(self, gen):
        self.gen = gen

    def clear_pause_generator(self):
        self.gen = None


class _Side:
    def __init__(self, names):
        for n in names:
            setattr(self, f"{n}_channel", _Channel())


class _Model:  # the shape of a cocotbext-axi AxiRam / AxiLiteMaster
    def __init__(self):
        self.write_if, self.read_if = _Side(("aw", "w", "b")), _Side(("ar", "r"))


def test_stall_axi_sets_all_five_channels_and_clears_them():
    model = _Model()
    assert stall_axi(model, Stalls(seed=1), "gmem") == [f"gmem.{c}" for _, c in AXI_CHANNELS]
    chans = [getattr(getattr(model, side), f"{c}_channel") for side, c in AXI_CHANNELS]
    assert all(ch.gen is not None for ch in chans)
    streams = [_take(ch.gen, 300) for ch in chans]
    assert len({tuple(s) for s in streams}) == 5  # each channel its own sequence
    chans[0].pause = True
    assert stall_axi(model, None, "gmem") == []
    assert all(ch.gen is None and ch.pause is False for ch in chans)
    clear_axi(model)
