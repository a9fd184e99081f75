"""bfloat16 (bf16) conversions on bit patterns.

bf16 is the top half of an IEEE-754 binary32 word: 1 sign bit, 8 exponent bits
(bias 127) and 7 mantissa bits.  Patterns are carried as ``uint16`` arrays.
Rounding from float32 is IEEE round-to-nearest, ties-to-even, done on the bit
pattern, which covers every case the same way hardware does:

* values whose magnitude reaches ``max_bf16 + ulp/2`` (``max_bf16`` is
  ``0x7F7F``, about 3.39e38; ``ulp`` there is ``2**120``) round to infinity,
  smaller ones to a finite value;
* subnormal float32 inputs round into bf16 subnormals (or up to the smallest
  normal), and ``-0.0`` stays ``-0.0``;
* NaN stays NaN: the sign and the top 7 payload bits are kept and the quiet bit
  (``0x0040``) is set, so a signalling NaN whose payload sits only in the
  dropped low half cannot turn into infinity.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["bf16_round", "bf16_to_float32", "float32_to_bf16"]

_QUIET_BIT = np.uint64(0x0040)


def float32_to_bf16(x: Any) -> np.ndarray:
    """Round float32 values to bf16 bit patterns (round to nearest, ties to even).

    Parameters
    ----------
    x : array_like of float
        Values; anything not float32 is first converted to float32 (so float64
        input is rounded twice: to float32, then to bf16).

    Returns
    -------
    numpy.ndarray of uint16
        bf16 patterns, same shape as ``x``.

    Examples
    --------
    >>> [hex(v) for v in float32_to_bf16([1.0, -2.0, 1.00390625])]
    ['0x3f80', '0xc000', '0x3f80']
    """
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)  # no carry-out
    # Adding 0x7FFF plus the bit that becomes the bf16 LSB rounds the top half to
    # nearest with ties to even; a carry out of the mantissa bumps the exponent
    # (and, from the largest finite values, reaches infinity) as RNE requires.
    lsb = (bits >> np.uint64(16)) & np.uint64(1)
    rounded = (bits + np.uint64(0x7FFF) + lsb) >> np.uint64(16)
    nan = (bits & np.uint64(0x7FFFFFFF)) > np.uint64(0x7F800000)
    quiet = (bits >> np.uint64(16)) | _QUIET_BIT
    return np.asarray(np.where(nan, quiet, rounded).astype(np.uint16))


def bf16_to_float32(u16: Any) -> np.ndarray:
    """Widen bf16 bit patterns to float32 (exact).

    Parameters
    ----------
    u16 : array_like of int
        bf16 patterns, 0 to 0xFFFF (any integer dtype).

    Returns
    -------
    numpy.ndarray of float32
        Same shape as ``u16``.

    Raises
    ------
    ValueError
        If a pattern is outside 0..0xFFFF.

    Examples
    --------
    >>> bf16_to_float32([0x3F80, 0xC000, 0x7F80]).tolist()
    [1.0, -2.0, inf]
    """
    arr = np.asarray(u16)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"u16 must hold integers, got dtype {arr.dtype}")
    if arr.dtype != np.uint16:
        bad = (arr < 0) | (arr > 0xFFFF)
        if bad.any():
            raise ValueError(f"u16 = {arr[bad].flat[0]} is not a 16-bit pattern (allowed 0..65535)")
    return np.asarray(arr.astype(np.uint32) << np.uint32(16)).view(np.float32)


def bf16_round(x: Any) -> np.ndarray:
    """Round values to the nearest bf16 and return them as float32.

    Same as ``bf16_to_float32(float32_to_bf16(x))``.

    Examples
    --------
    >>> bf16_round([3.14159265]).tolist()
    [3.140625]
    """
    return bf16_to_float32(float32_to_bf16(x))
