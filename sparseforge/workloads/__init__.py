"""Workloads the performance models run on, one module per kind (pure Python).

* :mod:`~sparseforge.workloads.training` — the GEMMs of one training step of
  ResNet-18/50, VGG-16, ViT-B/16, DeiT-S and BERT-base (the SAT family's workloads).

Inference workloads (LLM decoding for the FlightLLM and PIM families, multi-task
ViT for Edge-MoE) will be modules of their own beside it.  The names below are the
training module's, re-exported so that ``sparseforge.workloads.get_workload`` is
the one lookup the CLI uses.
"""

from sparseforge.workloads.training import (
    PHASES,
    WORKLOADS,
    AttentionLayer,
    ConvLayer,
    Gemm,
    LinearLayer,
    Workload,
    get_workload,
    workload_names,
)

__all__ = [
    "PHASES",
    "WORKLOADS",
    "AttentionLayer",
    "ConvLayer",
    "Gemm",
    "LinearLayer",
    "Workload",
    "get_workload",
    "workload_names",
]
