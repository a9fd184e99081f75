"""ChannelState's bookkeeping for the PIM-GPT fast paths: every cycle-valued field is
listed (so clone / shift / signature see it), shift moves them all, clone is deep."""

from __future__ import annotations

import numpy as np

from sparseforge.sim.dram.commands import Command, Kind
from sparseforge.sim.dram.device import load_device
from sparseforge.sim.dram.timing import ChannelState

#: Integer fields that are not cycles.
NOT_CYCLES = {"channel", "open_row", "slot_next"}


def _busy_state(seed: int = 0) -> ChannelState:
    """A state after a random but legal mix of ordinary and PIM commands."""
    st = ChannelState(load_device("gddr6_aim"))
    rng = np.random.default_rng(seed)
    now = 0
    for _ in range(60):
        choice = rng.integers(0, 4)
        if choice == 0 and st.all_closed(0):
            cmd = Command(0, Kind.GACT, 0, 0, -1, -1, int(rng.integers(0, 8)), -1)
        elif choice == 1 and not st.all_closed(0) and st.banks[0][0][0].open_row >= 0 \
                and all(b.open_row == st.banks[0][0][0].open_row for g in st.banks[0]
                        for b in g):
            cmd = Command(0, Kind.MACL, 0, 0, -1, -1, st.banks[0][0][0].open_row,
                          int(rng.integers(0, 64)))
            if st.filled_slots(0) >= 16:
                continue
        elif choice == 2:
            cmd = Command(0, Kind.GWRITE, 0, -1, -1, -1, -1, int(rng.integers(0, 64)))
        else:
            cmd = Command(0, Kind.PREA, 0, 0)
        c = st.earliest_for(cmd, now)
        st.issue(cmd._replace(cycle=c))
        now = c
    return st


def test_every_cycle_field_is_listed():
    st = _busy_state()
    listed = set(ChannelState.TIME_FIELDS)
    for name, value in vars(st).items():
        if isinstance(value, int) and not isinstance(value, bool):
            assert name in listed | NOT_CYCLES, f"ChannelState.{name} is not listed"
    bank = st.banks[0][0][0]
    for name in bank.__slots__:
        assert name in set(ChannelState.BANK_TIME_FIELDS) | NOT_CYCLES, name
    rank = st.ranks[0]
    for name in rank.__slots__:
        assert name in (set(ChannelState.RANK_TIME_FIELDS) | set(ChannelState.RANK_TIME_LISTS)
                        | {"acts"} | NOT_CYCLES), name


def test_shift_moves_every_cycle_and_clone_is_independent():
    st = _busy_state(3)
    ref = st.last_cmd
    before = st.signature(ref, 100)
    copy = st.clone()
    st.shift(12345)
    assert st.signature(ref + 12345, 100) == before
    assert copy.signature(ref, 100) == before  # the clone did not move
    # the next command lands 12345 cycles later on the shifted state
    cmd = Command(0, Kind.GWRITE, 0, -1, -1, -1, -1, 0)
    assert st.earliest_for(cmd, ref + 12345) == copy.earliest_for(cmd, ref) + 12345
