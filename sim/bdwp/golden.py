"""Golden BDWP training GEMMs (NumPy), written from the maths.

For a layer with dense master weights ``W[out, in]``, activations
``X[batch, in]`` and output gradients ``dY[batch, out]``:

========================  =====================  ==========================
GEMM                      formula                weight operand
========================  =====================  ==========================
forward (FF)              ``Y  = X  · Wfᵀ``      ``Wf = W ⊙ mask_rowwise(W)``
backward-data (BP)        ``dX = dY · Wb``       ``Wb = W ⊙ mask_colwise(W)``
weight-gradient (WU)      ``dW = dYᵀ · X``       dense, no weight operand
========================  =====================  ==========================

Integer versions model an accumulator of ``acc_bits`` bits:

* ``overflow="wrap"``: two's-complement wrap-around of the sum modulo
  ``2**acc_bits`` (the order of accumulation does not matter);
* ``overflow="saturate"``: the exact sum clamped to the accumulator range
  (hardware that keeps a wide internal sum and saturates on output);
* ``acc_bits=None``: the exact sum (int64; inputs are checked so it cannot
  overflow).

Float versions (``float32``/``float64`` inputs) return ``X @ Wfᵀ`` etc. in
the input precision.
"""

from __future__ import annotations

import numpy as np

from sparseforge import nm
from sparseforge.formats.integer import saturate, wrap

__all__ = [
    "OVERFLOW_MODES",
    "backward_data_gemm",
    "backward_weight",
    "forward_gemm",
    "forward_weight",
    "integer_matmul",
    "weight_grad_gemm",
]

OVERFLOW_MODES = ("wrap", "saturate")


def forward_weight(w: np.ndarray, n: int, m: int, pad: str = "zero") -> np.ndarray:
    """``Wf = W ⊙ mask_rowwise(W)``: the forward GEMM's weight (same dtype as ``w``)."""
    return np.where(nm.mask_rowwise(w, n, m, pad), w, 0).astype(np.asarray(w).dtype)


def backward_weight(w: np.ndarray, n: int, m: int, pad: str = "zero") -> np.ndarray:
    """``Wb = W ⊙ mask_colwise(W)``: the backward-data GEMM's weight."""
    return np.where(nm.mask_colwise(w, n, m, pad), w, 0).astype(np.asarray(w).dtype)


def forward_gemm(x: np.ndarray, w: np.ndarray, n: int | None, m: int | None, *,
                 acc_bits: int | None = None, overflow: str = "wrap",
                 pad: str = "zero") -> np.ndarray:
    """Forward GEMM ``Y[batch, out] = X[batch, in] · Wf[out, in]ᵀ``.

    ``n = m = None`` gives the dense GEMM ``X · Wᵀ``.
    """
    _check_2d(x=x, w=w)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"X is {x.shape} but W is {w.shape}: X's columns must equal W's in-dim")
    wf = w if n is None and m is None else forward_weight(w, n, m, pad)
    return _matmul(x, wf.T, acc_bits, overflow)


def backward_data_gemm(dy: np.ndarray, w: np.ndarray, n: int | None, m: int | None, *,
                       acc_bits: int | None = None, overflow: str = "wrap",
                       pad: str = "zero") -> np.ndarray:
    """Backward-data GEMM ``dX[batch, in] = dY[batch, out] · Wb[out, in]``.

    ``n = m = None`` gives the dense GEMM ``dY · W``.
    """
    _check_2d(dy=dy, w=w)
    if dy.shape[1] != w.shape[0]:
        raise ValueError(
            f"dY is {dy.shape} but W is {w.shape}: dY's columns must equal W's out-dim")
    wb = w if n is None and m is None else backward_weight(w, n, m, pad)
    return _matmul(dy, wb, acc_bits, overflow)


def weight_grad_gemm(dy: np.ndarray, x: np.ndarray, *, acc_bits: int | None = None,
                     overflow: str = "wrap") -> np.ndarray:
    """Weight-gradient GEMM ``dW[out, in] = dY[batch, out]ᵀ · X[batch, in]`` (dense)."""
    _check_2d(dy=dy, x=x)
    if dy.shape[0] != x.shape[0]:
        raise ValueError(f"dY is {dy.shape} but X is {x.shape}: their batch sizes differ")
    return _matmul(dy.T, x, acc_bits, overflow)


def integer_matmul(a: np.ndarray, b: np.ndarray, acc_bits: int | None = None,
                   overflow: str = "wrap") -> np.ndarray:
    """``A[M, K] · B[K, N]`` on integers with the accumulator semantics of this module.

    Returns int64.  Raises ``ValueError`` for non-integer inputs, a bad
    ``overflow`` mode, ``acc_bits`` outside 2..64, or inputs whose exact sum
    could overflow int64.
    """
    _check_2d(a=a, b=b)
    for name, arr in (("A", a), ("B", b)):
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"integer_matmul: {name} has dtype {arr.dtype}; expected integers")
    if overflow not in OVERFLOW_MODES:
        raise ValueError(f"overflow = {overflow!r}; allowed: {', '.join(OVERFLOW_MODES)}")
    if acc_bits is not None and not 2 <= acc_bits <= 64:
        raise ValueError(f"acc_bits = {acc_bits}; allowed: 2 to 64 (or None for exact)")
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    bound = _max_abs(a64) * _max_abs(b64) * max(a.shape[1], 1)
    if bound >= 2**63:
        raise ValueError(f"exact sums up to {bound} would overflow int64; use narrower operands")
    exact = a64 @ b64
    if acc_bits is None:
        return exact
    if overflow == "wrap":
        return np.asarray(wrap(exact, acc_bits, signed=True), dtype=np.int64)
    return np.asarray(saturate(exact, acc_bits, signed=True), dtype=np.int64)


# --------------------------------------------------------------------------- internals


def _matmul(a: np.ndarray, b: np.ndarray, acc_bits: int | None, overflow: str) -> np.ndarray:
    integer = np.issubdtype(a.dtype, np.integer) and np.issubdtype(b.dtype, np.integer)
    if integer:
        return integer_matmul(a, b, acc_bits, overflow)
    if acc_bits is not None:
        raise ValueError("acc_bits applies to integer operands only")
    return np.asarray(a) @ np.asarray(b)


def _check_2d(**arrays: np.ndarray) -> None:
    for name, arr in arrays.items():
        if np.ndim(arr) != 2:
            raise ValueError(f"{name} must be 2-D, got shape {np.shape(arr)}")


def _max_abs(arr: np.ndarray) -> int:
    return int(np.abs(arr).max()) if arr.size else 0
