"""Two's-complement integer helpers for bit-accurate models.

Every function takes either a Python integer or a NumPy array of integers and
answers in kind: a Python ``int`` (or ``bool``) for a scalar, an array for an
array.  Array work is vectorised; nothing loops over elements in Python.

Widths are in bits, 1 to 64.  The two families differ in where they store:

* the bit helpers (:func:`to_bits`, :func:`from_bits`) move between a value and
  its ``width``-bit pattern; patterns are ``uint64`` arrays, so every width up
  to 64 works;
* the arithmetic helpers (:func:`wrap`, :func:`saturate`) and the values
  :func:`from_bits` returns are ``int64`` arrays, so an *unsigned* 64-bit result
  (up to ``2**64 - 1``) cannot be stored and raises ``ValueError``.  Python
  integers have no such limit.

Inputs may be Python ints, NumPy integer scalars or arrays of any integer (or
bool) dtype; ``uint64`` arrays holding values of ``2**63`` or more are refused
where the answer would have to be stored in ``int64``.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

__all__ = ["fits", "from_bits", "int_range", "saturate", "to_bits", "wrap"]

MAX_WIDTH = 64
"""Widest integer, in bits, that the helpers accept."""


def int_range(width: int, signed: bool) -> tuple[int, int]:
    """Return the inclusive range of a ``width``-bit integer.

    Parameters
    ----------
    width : int
        Number of bits, 1 to 64.
    signed : bool
        Two's complement when true, unsigned otherwise.

    Returns
    -------
    (lo, hi) : tuple of int
        ``(-2**(width-1), 2**(width-1) - 1)`` when signed, ``(0, 2**width - 1)``
        otherwise.

    Examples
    --------
    >>> int_range(8, True)
    (-128, 127)
    >>> int_range(8, False)
    (0, 255)
    """
    width = _check_width(width)
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def wrap(x: Any, width: int, signed: bool = True) -> Any:
    """Reduce ``x`` modulo ``2**width`` into the ``width``-bit range.

    This is what a ``width``-bit hardware register keeps of a wider result: the
    low ``width`` bits, read back as signed or unsigned.

    Parameters
    ----------
    x : int or array_like of int
        Values to wrap.  Arrays are computed in ``int64`` (exact for every
        ``int64`` input).
    width : int
        Target width in bits, 1 to 64 (at most 63 for unsigned arrays).
    signed : bool, default True
        Read the kept bits as two's complement.

    Returns
    -------
    int or numpy.ndarray of int64
        Same kind and shape as ``x``.

    Examples
    --------
    >>> wrap(200, 8)
    -56
    >>> wrap(-1, 4, signed=False)
    15
    """
    width = _check_width(width)
    if _is_scalar(x):
        lo, _ = int_range(width, signed)
        return (operator.index(x) - lo) % (1 << width) + lo
    _check_array_storage(width, signed, "wrap")
    bits = _as_int64(x, "x").view(np.uint64) & _mask(width)
    return np.asarray(sign_extend(bits, width) if signed else bits.view(np.int64))


def saturate(x: Any, width: int, signed: bool = True) -> Any:
    """Clamp ``x`` to the ``width``-bit range.

    Parameters
    ----------
    x : int or array_like of int
        Values to clamp.  Arrays are computed in ``int64``.
    width : int
        Target width in bits, 1 to 64 (at most 63 for unsigned arrays).
    signed : bool, default True
        Clamp to the two's-complement range rather than the unsigned one.

    Returns
    -------
    int or numpy.ndarray of int64
        Same kind and shape as ``x``.

    Examples
    --------
    >>> saturate(200, 8)
    127
    >>> saturate(-3, 8, signed=False)
    0
    """
    width = _check_width(width)
    lo, hi = int_range(width, signed)
    if _is_scalar(x):
        return min(max(operator.index(x), lo), hi)
    _check_array_storage(width, signed, "saturate")
    return np.asarray(np.clip(_as_int64(x, "x"), np.int64(lo), np.int64(hi)))


def to_bits(x: Any, width: int) -> Any:
    """Return the ``width``-bit two's-complement pattern of ``x``.

    Parameters
    ----------
    x : int or array_like of int
        Values in ``[-2**(width-1), 2**width - 1]``: signed values and unsigned
        values both have a unique pattern.  Anything outside raises.
    width : int
        Pattern width in bits, 1 to 64.

    Returns
    -------
    int or numpy.ndarray of uint64
        ``x mod 2**width``; same kind and shape as ``x``.

    Raises
    ------
    ValueError
        If a value does not fit ``width`` bits; the message names the first one.

    Examples
    --------
    >>> to_bits(-1, 8)
    255
    >>> hex(to_bits(-2, 64))
    '0xfffffffffffffffe'
    """
    width = _check_width(width)
    lo, hi = -(1 << (width - 1)), (1 << width) - 1
    if _is_scalar(x):
        value = operator.index(x)
        if not lo <= value <= hi:
            raise ValueError(f"to_bits: x = {value} does not fit {width} bits (allowed {lo}..{hi})")
        return value % (1 << width)
    arr = np.asarray(x)
    _check_integer_dtype(arr, "x")
    if arr.dtype == np.uint64:
        bad = arr > np.uint64(hi)
        pattern = arr
    else:
        arr = arr.astype(np.int64)
        bad = (arr < lo) | (arr > min(hi, 2**63 - 1))
        pattern = arr.view(np.uint64)
    if np.any(bad):
        raise ValueError(
            f"to_bits: x = {_first(arr, bad)} does not fit {width} bits (allowed {lo}..{hi})"
        )
    return np.asarray(pattern & _mask(width))


def from_bits(bits: Any, width: int, signed: bool = True) -> Any:
    """Read a ``width``-bit pattern back as a signed or unsigned integer.

    Parameters
    ----------
    bits : int or array_like of int
        Bit patterns in ``[0, 2**width - 1]`` (``uint64`` arrays reach 64 bits).
    width : int
        Pattern width in bits, 1 to 64 (at most 63 for unsigned arrays, whose
        values are stored in ``int64``).
    signed : bool, default True
        Read the top bit as the two's-complement sign.

    Returns
    -------
    int or numpy.ndarray of int64
        Same kind and shape as ``bits``.

    Raises
    ------
    ValueError
        If a pattern has bits set at or above ``width``.

    Examples
    --------
    >>> from_bits(0xFF, 8)
    -1
    >>> from_bits(0xFF, 8, signed=False)
    255
    """
    width = _check_width(width)
    hi = (1 << width) - 1
    if _is_scalar(bits):
        value = operator.index(bits)
        if not 0 <= value <= hi:
            raise ValueError(
                f"from_bits: bits = {value} is not a {width}-bit pattern (allowed 0..{hi})"
            )
        if signed and value >> (width - 1):
            return value - (1 << width)
        return value
    _check_array_storage(width, signed, "from_bits")
    arr = np.asarray(bits)
    _check_integer_dtype(arr, "bits")
    if arr.dtype == np.uint64:
        bad = arr > np.uint64(hi)
        pattern = arr
    else:
        arr = arr.astype(np.int64)
        bad = (arr < 0) | (arr > min(hi, 2**63 - 1))
        pattern = arr.view(np.uint64)
    if np.any(bad):
        raise ValueError(
            f"from_bits: bits = {_first(arr, bad)} is not a {width}-bit pattern (allowed 0..{hi})"
        )
    return np.asarray(sign_extend(pattern, width) if signed else pattern.view(np.int64))


def fits(x: Any, width: int, signed: bool) -> Any:
    """Tell whether ``x`` lies in the ``width``-bit range.

    Parameters
    ----------
    x : int or array_like of int
        Values to test (any integer dtype, ``uint64`` included).
    width : int
        Width in bits, 1 to 64.
    signed : bool
        Test against the two's-complement range rather than the unsigned one.

    Returns
    -------
    bool or numpy.ndarray of bool
        Same kind and shape as ``x``.

    Examples
    --------
    >>> fits(128, 8, True), fits(128, 8, False)
    (False, True)
    """
    lo, hi = int_range(width, signed)
    if _is_scalar(x):
        return lo <= operator.index(x) <= hi
    arr = np.asarray(x)
    _check_integer_dtype(arr, "x")
    if arr.dtype == np.uint64:  # non-negative, and lo <= 0
        return np.asarray(arr <= np.uint64(hi))
    arr = arr.astype(np.int64)
    return np.asarray((arr >= lo) & (arr <= min(hi, 2**63 - 1)))


# --------------------------------------------------------------------------------------
# Shared low-level pieces (also used by :mod:`sparseforge.formats.fixed`).
# --------------------------------------------------------------------------------------


def sign_extend(bits: np.ndarray, width: int) -> np.ndarray:
    """Read ``uint64`` patterns of ``width`` bits (1 to 64) as signed ``int64``.

    Bits at or above ``width`` are ignored.
    """
    shift = np.uint64(MAX_WIDTH - width)
    return (np.asarray(bits, dtype=np.uint64) << shift).view(np.int64) >> np.int64(
        MAX_WIDTH - width
    )


def _mask(width: int) -> np.uint64:
    """Return ``2**width - 1`` as a ``uint64`` scalar (width 0 to 64)."""
    return np.uint64((1 << width) - 1)


def _check_width(width: Any) -> int:
    try:
        value = operator.index(width)
    except TypeError:
        raise TypeError(f"width must be an integer, got {width!r}") from None
    if not 1 <= value <= MAX_WIDTH:
        raise ValueError(f"width = {value} is out of range (allowed 1..{MAX_WIDTH} bits)")
    return value


def _check_array_storage(width: int, signed: bool, name: str) -> None:
    if not signed and width >= MAX_WIDTH:
        raise ValueError(
            f"{name}: unsigned width = {width} does not fit int64 array storage "
            f"(allowed 1..{MAX_WIDTH - 1} for unsigned arrays; use Python ints)"
        )


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (int, np.integer))


def _check_integer_dtype(arr: np.ndarray, name: str) -> None:
    if arr.dtype.kind not in "iub":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")


def _as_int64(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x)
    _check_integer_dtype(arr, name)
    if arr.dtype == np.uint64 and np.any(arr > np.uint64(2**63 - 1)):
        bad = arr > np.uint64(2**63 - 1)
        raise ValueError(
            f"{name} = {_first(arr, bad)} does not fit int64 storage "
            f"(allowed {-(2**63)}..{2**63 - 1})"
        )
    return arr.astype(np.int64)


def _first(arr: np.ndarray, bad: np.ndarray) -> Any:
    """Return the first element of ``arr`` flagged in ``bad`` as a Python scalar."""
    return np.asarray(arr)[np.asarray(bad)].flat[0].item()
