"""Number formats shared by every layer: two's-complement integers, fixed point, bf16.

Golden models, generators and host drivers all quantise through this package, so
that a number means the same bits everywhere.  Everything is pure NumPy and
vectorised; conversions are bit-exact.

:mod:`~sparseforge.formats.integer`
    ``int_range``, ``wrap``, ``saturate``, ``to_bits``, ``from_bits``, ``fits``:
    ``width``-bit two's-complement helpers (widths 1 to 64).
:mod:`~sparseforge.formats.fixed`
    :class:`FixedFormat` with :class:`Rounding` and :class:`Overflow`: the exact
    semantics of Vitis HLS ``ap_fixed<W, I, Q, O>`` / ``ap_ufixed`` (``W`` up to
    63), built with :func:`ap_fixed` / :func:`ap_ufixed` from the HLS spellings.
:mod:`~sparseforge.formats.bf16`
    ``float32_to_bf16`` (round to nearest even), ``bf16_to_float32``,
    ``bf16_round``.

Examples
--------
>>> from sparseforge.formats import ap_fixed
>>> ap_fixed(8, 4, "AP_RND").quantize(1.03125).item()
17
"""

from .bf16 import bf16_round, bf16_to_float32, float32_to_bf16
from .fixed import FixedFormat, Overflow, Rounding, ap_fixed, ap_ufixed
from .integer import fits, from_bits, int_range, saturate, to_bits, wrap

__all__ = [
    "FixedFormat",
    "Overflow",
    "Rounding",
    "ap_fixed",
    "ap_ufixed",
    "bf16_round",
    "bf16_to_float32",
    "fits",
    "float32_to_bf16",
    "from_bits",
    "int_range",
    "saturate",
    "to_bits",
    "wrap",
]
