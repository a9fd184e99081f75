"""Golden floating-point arithmetic of the PIM datapaths: BF16 and FP32, bit-exact rules.

Written from the IEEE-754 definitions; the RTL (``hwgen/pim``) and every simulator of
the PIM families compute exactly these functions.  Arrays are NumPy ``float32`` (FP32
values) or ``uint16`` (BF16 bit patterns); every function is elementwise and vectorised.

The rules (docs/designs/pimgpt.md, "Numerics"):

* **Rounding**: round to nearest, ties to even, for every FP32 add and multiply and for
  the FP32 → BF16 conversion.
* **Subnormals are flushed to zero**, on inputs and on results, keeping the sign: an
  input whose exponent field is 0 is read as a signed zero; a result whose magnitude,
  rounded to 24 significant bits with an unbounded exponent, is below 2^-126 becomes a
  signed zero (the sign of the exact result).
* **Overflow** gives a signed infinity (what round-to-nearest gives).
* **NaN**: every NaN result is the canonical quiet NaN (FP32 ``0x7FC00000``, BF16
  ``0x7FC0``), whatever the input NaN's sign and payload; ``inf * 0`` and ``inf - inf``
  are NaN.
* **Signed zeros** follow IEEE: ``x + (-x) = +0``, ``(-0) + (-0) = -0``, the sign of a
  product is the XOR of the signs.

BF16 × BF16 products have at most 16 significant bits, so they are exact in FP32 (only
the exponent range can flush or overflow them).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BF16_NAN",
    "F32_NAN",
    "add_flushed",
    "bf16_mul",
    "bf16_to_f32",
    "bits_to_f32",
    "f32_bits",
    "f32_to_bf16",
    "fadd",
    "fmul",
    "ftz",
    "pairwise_sum",
]

#: The canonical quiet NaNs.
F32_NAN = 0x7FC00000
BF16_NAN = 0x7FC0

_MIN_NORMAL = np.float64(2.0 ** -126)


def f32_bits(x) -> np.ndarray:
    """The IEEE bit patterns (``uint32``) of FP32 values."""
    return np.asarray(x, dtype=np.float32).view(np.uint32)


def bits_to_f32(bits) -> np.ndarray:
    """FP32 values of ``uint32`` bit patterns."""
    return np.asarray(bits, dtype=np.uint32).view(np.float32)


_SIGN = np.uint32(0x80000000)
_MAG = np.uint32(0x7FFFFFFF)
_INF = np.uint32(0x7F800000)
_SUB_MAX = np.uint32(0x007FFFFF)


def _ftz(a: np.ndarray) -> np.ndarray:
    """:func:`ftz` of a ``float32`` array; returns it unchanged (no copy) when it has
    no subnormal and no NaN, the common case."""
    bits = a.view(np.uint32)
    mag = bits & _MAG
    sub = (mag <= _SUB_MAX) & (mag != 0)
    nan = mag > _INF
    if not (sub.any() or nan.any()):
        return a
    bits = np.where(sub, bits & _SIGN, bits)
    bits = np.where(nan, np.uint32(F32_NAN), bits)
    return np.asarray(bits, np.uint32).view(np.float32)


def ftz(x) -> np.ndarray:
    """Flush subnormals to signed zero and make every NaN the canonical NaN."""
    return _ftz(np.asarray(x, dtype=np.float32))


def bf16_to_f32(bits) -> np.ndarray:
    """FP32 values of BF16 bit patterns (exact; subnormals flushed, NaN canonical)."""
    b = np.asarray(bits, dtype=np.uint16).astype(np.uint32) << np.uint32(16)
    return ftz(bits_to_f32(b))


def f32_to_bf16(x) -> np.ndarray:
    """BF16 bit patterns (``uint16``) of FP32 values: round to nearest even on the 16
    dropped bits; inputs flushed first (a normal FP32 never rounds to a BF16
    subnormal, so results need no flush); overflow to infinity; NaN → ``0x7FC0``."""
    x = ftz(x)
    bits = f32_bits(x).astype(np.uint64)
    lsb = (bits >> np.uint64(16)) & np.uint64(1)
    rounded = np.asarray((bits + np.uint64(0x7FFF) + lsb) >> np.uint64(16)).astype(np.uint16)
    return np.asarray(np.where(np.isnan(x), np.uint16(BF16_NAN), rounded), np.uint16)


def _round_f64_to_f32(v: np.ndarray) -> np.ndarray:
    """FP32 of float64 values, rounding to 24 bits with an unbounded exponent and then
    flushing magnitudes below 2^-126 (the module's result rule)."""
    v = np.atleast_1d(np.asarray(v, dtype=np.float64))
    out = v.astype(np.float32)  # right wherever the rounded value is normal or overflows
    tiny = np.abs(v) < _MIN_NORMAL
    if tiny.any():
        # round at 24 bits in range: scale up by 2^100 (exact), round, scale back
        scaled = (v[tiny] * 2.0 ** 100).astype(np.float32)
        back = scaled.astype(np.float64) * 2.0 ** -100
        keep = np.abs(back) >= _MIN_NORMAL  # rounded up to exactly 2^-126
        res = np.where(keep, back, np.copysign(0.0, v[tiny])).astype(np.float32)
        out[tiny] = res
    return ftz(out)  # (1-element results of 0-d inputs are reshaped by the callers)


def add_flushed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`fadd` of FP32 arrays that are already flushed (results of this module's
    functions), for loops that call it under their own
    ``np.errstate(invalid="ignore", over="ignore")``."""
    return _ftz(np.asarray(a + b, np.float32))  # a sum of normals is exact if subnormal


_add = add_flushed


def _mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a * b`` of already-flushed FP32 arrays, inside the caller's ``errstate``."""
    exact = np.asarray(a, np.float64) * np.asarray(b, np.float64)  # 48 bits: exact
    return _round_f64_to_f32(exact).reshape(np.shape(exact))


def fadd(a, b) -> np.ndarray:
    """FP32 ``a + b`` under the module's rules."""
    with np.errstate(invalid="ignore", over="ignore"):
        return _add(ftz(a), ftz(b))


def fmul(a, b) -> np.ndarray:
    """FP32 ``a * b`` under the module's rules."""
    with np.errstate(invalid="ignore", over="ignore"):
        return _mul(ftz(a), ftz(b))


def bf16_mul(a_bits, b_bits) -> np.ndarray:
    """The exact FP32 product of two BF16 operands (bit patterns); flush and overflow
    as :func:`fmul` (the product itself needs no rounding)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return _mul(bf16_to_f32(a_bits), bf16_to_f32(b_bits))


def pairwise_sum(values, axis: int = -1) -> np.ndarray:
    """Sum along ``axis`` (a power-of-two length) as a balanced tree of :func:`fadd`:
    neighbours first, ``((v0 + v1) + (v2 + v3)) + ...``."""
    v = ftz(np.moveaxis(np.asarray(values, dtype=np.float32), axis, -1))
    n = v.shape[-1]
    if n < 1 or n & (n - 1):
        raise ValueError(f"pairwise_sum: length {n}; allowed: a power of two")
    with np.errstate(invalid="ignore", over="ignore"):
        while v.shape[-1] > 1:
            v = _add(v[..., 0::2], v[..., 1::2])
    return v[..., 0]
