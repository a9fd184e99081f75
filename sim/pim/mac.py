"""Golden model of the per-bank PIM MAC unit and of a tiled GEMV built from it.

One MAC command makes every bank multiply the ``lanes`` BF16 values of one column of
its open row with the matching ``lanes`` BF16 values of the global buffer, sum the
exact FP32 products as a balanced tree of FP32 adds, and add the tree's sum to its FP32
accumulator (:func:`mac_column`).  A *span* of columns accumulates from +0; its result
is latched and the accumulator restarts at +0.  A dot product longer than one span is
the sequential FP32 sum of its spans' results, in order (the ASIC's partial-sum
accumulation, :func:`tiled_dot`).  Arithmetic: :mod:`sparseforge.sim.pim.fp`.
"""

from __future__ import annotations

import numpy as np

from .fp import bf16_mul, fadd, pairwise_sum

__all__ = ["mac_column", "span_dot", "tiled_dot"]


def mac_column(acc, w_bits, x_bits) -> np.ndarray:
    """One MAC command: ``acc + tree(w * x)``.

    Parameters
    ----------
    acc : array of float32, shape (...)
        The accumulators (one per bank).
    w_bits : array of uint16, shape (..., lanes)
        The column each bank reads (BF16 bit patterns).
    x_bits : array of uint16, shape (lanes,) or (..., lanes)
        The global buffer's matching values.
    """
    return fadd(acc, pairwise_sum(bf16_mul(w_bits, x_bits)))


def span_dot(w_bits, x_bits, lanes: int) -> np.ndarray:
    """One span: the accumulator after ``K / lanes`` MAC commands from +0.

    ``w_bits`` (..., K), ``x_bits`` (K,) or (..., K); ``K`` a multiple of ``lanes``.
    """
    w_bits = np.asarray(w_bits, np.uint16)
    x_bits = np.asarray(x_bits, np.uint16)
    k = w_bits.shape[-1]
    if k % lanes:
        raise ValueError(f"span_dot: length {k} is not a multiple of lanes = {lanes}")
    acc = np.zeros(w_bits.shape[:-1], np.float32)
    for c in range(0, k, lanes):
        acc = mac_column(acc, w_bits[..., c:c + lanes], x_bits[..., c:c + lanes])
    return acc


def tiled_dot(w_bits, x_bits, lanes: int, span: int) -> np.ndarray:
    """A dot product of length ``K`` cut into spans of ``span`` elements (the last one
    shorter; every span zero-padded to a multiple of ``lanes`` with BF16 +0 in both
    operands), each span's result from :func:`span_dot`, the results summed in order
    (the first taken as is)."""
    w_bits = np.asarray(w_bits, np.uint16)
    x_bits = np.asarray(x_bits, np.uint16)
    k = w_bits.shape[-1]
    if span % lanes:
        raise ValueError(f"tiled_dot: span = {span} is not a multiple of lanes = {lanes}")
    total = None
    for s in range(0, k, span):
        w, x = w_bits[..., s:s + span], x_bits[..., s:s + span]
        pad = -w.shape[-1] % lanes
        if pad:
            w = np.concatenate([w, np.zeros((*w.shape[:-1], pad), np.uint16)], -1)
            x = np.concatenate([x, np.zeros((*x.shape[:-1], pad), np.uint16)], -1)
        part = span_dot(w, x, lanes)
        total = part if total is None else fadd(total, part)
    if total is None:
        raise ValueError("tiled_dot: empty dot product")
    return total
