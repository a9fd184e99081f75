"""Test vectors for the SAT regression: deterministic operands from a small spec.

A vector is ``{"id", "mg", "k", "ng", "mode", "kind", "seed"}`` with ``mode`` one
of ``ff`` (forward: B = Wfᵀ, row-wise N:M), ``bp`` (backward-data: B = Wb,
column-wise N:M), ``wu`` (weight gradient, dense) and ``kind`` one of
``random`` (uniform over the operand range), ``extreme`` (only min / max / 0),
``ties`` (values from {-2..2}: many ties and all-zero groups).  The engine
always computes ``C = A · B`` with B N:M-compressed along K in the sparse modes,
so each mode is expressed through the dense weight it starts from.
"""

from __future__ import annotations

import numpy as np

from sparseforge.configs import SatConfig

__all__ = ["KINDS", "MODES", "default_vectors", "make_operands", "reference"]

MODES = ("ff", "bp", "wu")
KINDS = ("random", "extreme", "ties")


def make_operands(cfg: SatConfig, vector: dict) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(A[mg, k], B[k, ng], sparse)`` for one vector (B dense, before N:M selection).

    For ``ff`` B is ``Wᵀ`` of a weight ``W[ng, k]`` (groups along W's input dim);
    for ``bp`` B is ``W[k, ng]`` itself (groups along W's output dim, the reduction
    of dX = dY·W); for ``wu`` B is the activation matrix X.
    """
    rng = np.random.default_rng(vector["seed"])
    lo, hi = -(1 << (cfg.width - 1)), (1 << (cfg.width - 1)) - 1
    mg, k, ng = vector["mg"], vector["k"], vector["ng"]

    def draw(shape):
        kind = vector["kind"]
        if kind == "random":
            return rng.integers(lo, hi + 1, shape)
        if kind == "extreme":
            return rng.choice([lo, hi, 0], shape)
        if kind == "ties":
            return rng.integers(-2, 3, shape)
        raise ValueError(f"kind = {kind!r}; allowed: {', '.join(KINDS)}")

    a = draw((mg, k))
    mode = vector["mode"]
    if mode == "ff":
        b = draw((ng, k)).T.copy()
    elif mode in ("bp", "wu"):
        b = draw((k, ng))
    else:
        raise ValueError(f"mode = {mode!r}; allowed: {', '.join(MODES)}")
    return a, b, mode != "wu"


def reference(cfg: SatConfig, vector: dict) -> np.ndarray:
    """Golden result of one vector, from :mod:`sparseforge.sim.bdwp.golden`."""
    from sparseforge.sim.bdwp import golden

    a, b, _ = make_operands(cfg, vector)
    mode, n, m, acc = vector["mode"], cfg.n, cfg.m, cfg.acc_bits
    if mode == "ff":  # Y = X · Wfᵀ with W = Bᵀ
        return golden.forward_gemm(a, b.T, n, m, acc_bits=acc)
    if mode == "bp":  # dX = dY · Wb with W = B
        return golden.backward_data_gemm(a, b, n, m, acc_bits=acc)
    return golden.weight_grad_gemm(a.T, b, acc_bits=acc)  # dW = dYᵀ · X with dYᵀ = A


def default_vectors(cfg: SatConfig, count: int = 3, seed: int = 0) -> list[dict]:
    """A regression set: every mode × kind, shapes that are not tile multiples."""
    rng = np.random.default_rng(seed)
    vectors = []
    for mode in MODES:
        for kind in KINDS:
            for _ in range(count if kind == "random" else 1):
                vectors.append({
                    "id": f"{mode}-{kind}-{len(vectors)}",
                    "mg": int(rng.integers(1, 2 * cfg.rows + 2)),
                    "k": int(rng.integers(1, 3 * cfg.m + 3)),
                    "ng": int(rng.integers(1, 2 * cfg.cols + 2)),
                    "mode": mode, "kind": kind, "seed": int(rng.integers(2**31)),
                })
    return vectors
