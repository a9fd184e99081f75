"""Physical address -> (channel, rank, bankgroup, bank, row, column), and back.

A scheme names the fields from the most to the least significant bits, e.g.
``"ro-bg-ba-co-ch"``: row on top, channel just above the byte offset.  The byte offset
within one burst (log2 ``burst_bytes`` bits) is always the lowest field.

>>> from sparseforge.sim.dram.device import load_device
>>> m = AddressMapping(load_device("hbm2"), "ro-ra-bg-ba-co-ch")
>>> m.decode(64)
(1, 0, 0, 0, 0, 0)
"""

from __future__ import annotations

import numpy as np

from sparseforge.errors import ConfigError

from .device import Device

__all__ = ["FIELDS", "AddressMapping"]

#: Field names a scheme may use, with what they select.
FIELDS = {"ch": "channel", "ra": "rank", "bg": "bank group", "ba": "bank", "ro": "row",
          "co": "column"}
#: Order of the tuple decode returns / encode takes.
_ORDER = ("ch", "ra", "bg", "ba", "ro", "co")


class AddressMapping:
    """Bit-slice mapping of byte addresses onto one device's fields.

    Parameters
    ----------
    device
        The memory; its channels, ranks, bank groups, banks per group, rows, columns
        and burst bytes must all be powers of two (each field is a slice of bits).
    scheme
        Field names, most significant first, separated by ``-``; each of ``ch``,
        ``ra``, ``bg``, ``ba``, ``ro``, ``co`` exactly once; a field with a single
        value (``ra`` when ``ranks`` = 1) may be left out.

    Attributes
    ----------
    shifts, widths
        Per field name: the lowest bit of the field and its number of bits.
    offset_bits
        log2(burst_bytes): the byte offset within a burst, below every field.
    """

    def __init__(self, device: Device, scheme: str = "ro-bg-ba-co-ch") -> None:
        self.device = device
        self.scheme = scheme
        parts = [p.strip() for p in scheme.split("-")]
        unknown = [p for p in parts if p not in FIELDS]
        if unknown:
            raise ConfigError(f"address mapping {scheme!r}: unknown field(s) "
                              f"{', '.join(map(repr, unknown))}; allowed: "
                              + ", ".join(f"{k} ({v})" for k, v in FIELDS.items()))
        sizes = {"ch": device.channels, "ra": device.ranks, "bg": device.bankgroups,
                 "ba": device.banks_per_group, "ro": device.rows, "co": device.columns}
        repeated = sorted({p for p in parts if parts.count(p) > 1})
        # a field with one value (e.g. ranks = 1) has no bits and may be left out
        missing = [f for f in FIELDS if f not in parts and sizes[f] > 1]
        if repeated or missing:
            raise ConfigError(f"address mapping {scheme!r}: every field exactly once; "
                              + (f"repeated: {', '.join(repeated)}; " if repeated else "")
                              + (f"missing: {', '.join(missing)}" if missing else ""))
        for name, size in {**sizes, "burst_bytes": device.burst_bytes}.items():
            if size < 1 or size & (size - 1):
                what = FIELDS.get(name, "burst bytes")
                raise ConfigError(f"address mapping of {device.name!r}: {what} count "
                                  f"{size} is not a power of two (a field is a slice of bits)")
        self.sizes = sizes
        self.offset_bits = device.burst_bytes.bit_length() - 1
        self.widths = {name: size.bit_length() - 1 for name, size in sizes.items()}
        self.shifts: dict[str, int] = {f: 0 for f in FIELDS if f not in parts}
        shift = self.offset_bits
        for name in reversed(parts):
            self.shifts[name] = shift
            shift += self.widths[name]
        self.address_bits = shift
        self.capacity_bytes = 1 << shift
        assert self.capacity_bytes == device.capacity_bytes

    def decode(self, address):
        """``(channel, rank, bankgroup, bank, row, column)`` of byte address(es).

        ``address`` is an int or an integer numpy array (each result is then an array
        of the same shape).  Raises ``ValueError`` naming the address and the capacity
        if any address is negative or not below the capacity.
        """
        if np.ndim(address) == 0:
            a = int(address)
            self._check_range(a, a, a)
            return tuple((a >> self.shifts[f]) & (self.sizes[f] - 1) for f in _ORDER)
        a = np.asarray(address)
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"addresses must be integers, got dtype {a.dtype}")
        a = a.astype(np.int64)
        if a.size:
            low, high = int(a.min()), int(a.max())
            bad = low if low < 0 else high
            self._check_range(low, high, bad)
        return tuple((a >> self.shifts[f]) & (self.sizes[f] - 1) for f in _ORDER)

    def encode(self, channel, rank, bankgroup, bank, row, column):
        """Byte address of the first byte of a burst (offset 0): inverse of ``decode``.

        Scalars or integer numpy arrays (broadcast).  Raises ``ValueError`` naming the
        field, the value and the allowed range if a value is out of range.
        """
        values = dict(zip(_ORDER, (channel, rank, bankgroup, bank, row, column)))
        scalar = all(np.ndim(v) == 0 for v in values.values())
        out = 0 if scalar else np.int64(0)
        for name, value in values.items():
            v = int(value) if scalar else np.asarray(value, dtype=np.int64)
            low, high = (v, v) if scalar else (int(np.min(v)), int(np.max(v)))
            if low < 0 or high >= self.sizes[name]:
                bad = low if low < 0 else high
                raise ValueError(f"{FIELDS[name]} {bad} out of range for "
                                 f"{self.device.name!r}: allowed 0..{self.sizes[name] - 1}")
            out = out | (v << self.shifts[name])
        return out

    def _check_range(self, low: int, high: int, bad: int) -> None:
        if low < 0 or high >= self.capacity_bytes:
            cap = self.capacity_bytes
            raise ValueError(f"address {bad:#x} is outside {self.device.name!r}: capacity "
                             f"{cap:#x} bytes (addresses 0..{cap - 1:#x})")

    def __repr__(self) -> str:
        return f"AddressMapping({self.device.name!r}, {self.scheme!r})"
