"""Seeded stall patterns for cocotb benches: back-pressure on AXI channels and streams.

A memory on a Zynq HP port or an HBM pseudo-channel does not answer every cycle:
refresh, bank conflicts and the interconnect hold ``ready`` low or delay ``valid``
for one cycle or for tens.  A bench that never stalls proves nothing about the
handshakes.  :class:`Stalls` describes a stall pattern (JSON-serialisable, so
a pytest spec can carry it into the simulation); :meth:`Stalls.pauses` gives,
per channel name, an endless iterator of booleans (``True``: stall this cycle),
seeded by ``(seed, name)`` so that every channel stalls differently and every
run repeats exactly.

Patterns (``kind``):

* ``"none"`` — never stall;
* ``"random"`` — each cycle stalls with probability ``p`` (independent);
* ``"bursty"`` — alternating runs: free for ``1..go_max`` cycles, then stalled for
  ``1..stall_max`` cycles (uniform), as refresh or a busy bank does;
* ``"mixed"`` (default) — phases of ``phase`` cycles, alternating ``random`` and
  ``bursty`` (which comes first is drawn too), so one run meets both.

The defaults give the same duty (expected fraction of stalled cycles,
:attr:`Stalls.duty`) of 0.25 in every kind but ``none``.

:func:`stall_axi` puts the pattern on every channel of a cocotbext-axi model
(``AxiRam``, ``AxiSlave``, ``AxiLiteMaster``, … anything with ``write_if`` /
``read_if`` holding ``aw/w/b/ar/r_channel``) through its ``set_pause_generator``:
a paused sink holds ``ready`` low, a paused source holds ``valid`` low.  A bench
that drives a stream by hand reads one value per cycle from :meth:`Stalls.pauses`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass

__all__ = ["AXI_CHANNELS", "KINDS", "NO_STALLS", "Stalls", "clear_axi", "stall_axi"]

KINDS = ("none", "random", "bursty", "mixed")

#: The five channels of an AXI4 / AXI4-Lite interface, as cocotbext-axi names them
#: (``write_if.aw_channel`` …), with the side of the model that owns them.
AXI_CHANNELS = (("write_if", "aw"), ("write_if", "w"), ("write_if", "b"),
                ("read_if", "ar"), ("read_if", "r"))


@dataclass(frozen=True)
class Stalls:
    """A seeded stall pattern (see the module docstring for the kinds).

    Attributes
    ----------
    kind : {"none", "random", "bursty", "mixed"}
    p : float
        ``random``: probability that a cycle stalls (0 <= p < 1).
    stall_max, go_max : int
        ``bursty``: stalled runs last 1..``stall_max`` cycles, free runs
        1..``go_max`` cycles (uniform, >= 1).
    phase : int
        ``mixed``: cycles per phase (>= 1).
    seed : int
        Base seed; channel ``name`` draws from ``random.Random(f"{seed}:{name}")``.
    """

    kind: str = "mixed"
    p: float = 0.25
    stall_max: int = 7
    go_max: int = 23
    phase: int = 64
    seed: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"stalls kind = {self.kind!r}; allowed: {', '.join(KINDS)}")
        if not 0.0 <= self.p < 1.0:
            raise ValueError(f"stalls p = {self.p}; allowed: 0 <= p < 1")
        for name in ("stall_max", "go_max", "phase"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"stalls {name} = {getattr(self, name)}; allowed: >= 1")

    # ------------------------------------------------------------------ description
    @classmethod
    def of(cls, value: Stalls | dict | str | None) -> Stalls:
        """A :class:`Stalls` from itself, a dict (:meth:`to_dict`), a kind name or None
        (no stalls)."""
        if value is None:
            return NO_STALLS
        if isinstance(value, Stalls):
            return value
        if isinstance(value, str):
            return cls(kind=value)
        return cls(**value)

    def to_dict(self) -> dict:
        """The fields as a plain dict (JSON)."""
        return asdict(self)

    def with_seed(self, seed: int) -> Stalls:
        """The same pattern with another seed."""
        return Stalls(self.kind, self.p, self.stall_max, self.go_max, self.phase, seed)

    @property
    def active(self) -> bool:
        """True unless the pattern never stalls."""
        return self.kind != "none" and (self.kind != "random" or self.p > 0)

    @property
    def duty(self) -> float:
        """Expected fraction of stalled cycles on one channel (0 for ``none``)."""
        bursty = (self.stall_max + 1) / (self.stall_max + self.go_max + 2)
        return {"none": 0.0, "random": self.p, "bursty": bursty,
                "mixed": (self.p + bursty) / 2}[self.kind]

    # ------------------------------------------------------------------ patterns
    def pauses(self, name: str) -> Iterator[bool]:
        """Endless per-cycle stall flags for channel ``name`` (``True``: stall)."""
        rng = random.Random(f"{self.seed}:{name}")
        if self.kind == "none":
            return _never()
        if self.kind == "random":
            return _random(rng, self.p)
        if self.kind == "bursty":
            return _bursty(rng, self.stall_max, self.go_max)
        return _mixed(rng, self.p, self.stall_max, self.go_max, self.phase)


#: The pattern that never stalls.
NO_STALLS = Stalls(kind="none")


def _never() -> Iterator[bool]:
    while True:
        yield False


def _random(rng: random.Random, p: float) -> Iterator[bool]:
    while True:
        yield rng.random() < p


def _bursty(rng: random.Random, stall_max: int, go_max: int) -> Iterator[bool]:
    while True:
        yield from [False] * rng.randint(1, go_max)
        yield from [True] * rng.randint(1, stall_max)


def _mixed(rng: random.Random, p: float, stall_max: int, go_max: int,
           phase: int) -> Iterator[bool]:
    order = [_random(rng, p), _bursty(rng, stall_max, go_max)]
    rng.shuffle(order)
    while True:
        for source in order:
            for _ in range(phase):
                yield next(source)


# --------------------------------------------------------------------------- cocotbext-axi


def stall_axi(model, stalls: Stalls | dict | str | None, name: str = "axi") -> list[str]:
    """Put ``stalls`` on every AXI channel of a cocotbext-axi ``model``.

    ``model`` is any cocotbext-axi master, slave or RAM (AXI4 or AXI4-Lite): the
    channels it owns get a pause generator, seeded ``f"{name}.{channel}"``.  A
    pattern that never stalls clears the generators instead.  Returns the names of
    the channels stalled.
    """
    stalls = Stalls.of(stalls)
    if not stalls.active:
        clear_axi(model)
        return []
    done = []
    for side, ch in AXI_CHANNELS:
        channel = getattr(getattr(model, side, None), f"{ch}_channel", None)
        if channel is None:
            continue
        channel.set_pause_generator(stalls.pauses(f"{name}.{ch}"))
        done.append(f"{name}.{ch}")
    return done


def clear_axi(model) -> None:
    """Remove every pause generator of ``model`` and release a channel left paused."""
    for side, ch in AXI_CHANNELS:
        channel = getattr(getattr(model, side, None), f"{ch}_channel", None)
        if channel is not None:
            channel.clear_pause_generator()
            channel.pause = False
