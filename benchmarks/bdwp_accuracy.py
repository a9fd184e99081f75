"""Accuracy of BDWP vs forward-only N:M vs dense training on scikit-learn's digits.

A small CNN (two 3x3 convolutions + a linear classifier) is trained on the
8x8 digits dataset that ships with scikit-learn (1797 images, fixed
stratified 75/25 train/test split), with the same hyper-parameters for every
configuration:

* ``dense`` — no masking;
* ``forward N:M`` — SR-STE style (forward GEMM and backward-data GEMM both use
  the row-wise mask, dense straight-through weight gradient, decay λ = 2e-4);
* ``BDWP N:M`` — forward with the row-wise mask, backward-data with the
  column-wise mask, dense straight-through weight gradient, decay λ = 2e-4;

at 2:4 and 2:8, over several seeds (the seed sets the initial weights and the
batch order; the split is fixed).  The first convolution (1 input channel)
stays dense: its row-wise groups hold one weight and padding, so any N:M
keeps it whole, and its backward-data GEMM is never run (the network input
needs no gradient).  ``conv2`` (16 -> 32 channels) and ``fc`` (512 -> 10) are
sparse; ``fc``'s 10 outputs are zero-padded to whole groups for the
column-wise mask.

Usage::

    python benchmarks/bdwp_accuracy.py --seeds 5 --epochs 20 --out bdwp_accuracy.md

Prints a Markdown table of the test accuracy (mean ± sample std over seeds)
and writes it to ``--out``.  Needs torch and scikit-learn.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sparseforge.sim.bdwp.torch_sparse import sparsify

# label, mode, (n, m) or None
CONFIGS = [
    ("dense", "dense", None),
    ("forward 2:4", "forward", (2, 4)),
    ("BDWP 2:4", "bdwp", (2, 4)),
    ("forward 2:8", "forward", (2, 8)),
    ("BDWP 2:8", "bdwp", (2, 8)),
]
HYPER = {"batch_size": 32, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "decay": 2e-4,
         "split_seed": 0, "test_fraction": 0.25}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds (0..k-1)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs")
    parser.add_argument("--out", type=Path, default=None, help="Markdown table file to write")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.epochs < 1:
        parser.error("--seeds and --epochs must be >= 1")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    data = load_data()
    results = {label: [] for label, _, _ in CONFIGS}
    for seed in range(args.seeds):
        for label, mode, ratio in CONFIGS:
            results[label].append(train_and_test(data, mode, ratio, seed, args.epochs))
    elapsed = time.perf_counter() - start
    table = format_table(results, args, elapsed, n_test=len(data[3]))
    print(table)
    if args.out is not None:
        args.out.write_text(table + "\n")
    return 0


def load_data() -> tuple[torch.Tensor, ...]:
    """``(x_train, y_train, x_test, y_test)``: images ``(B, 1, 8, 8)`` scaled to [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.images.astype(np.float32)[:, None] / 16.0
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=HYPER["test_fraction"], random_state=HYPER["split_seed"], stratify=y)
    return tuple(torch.from_numpy(a) for a in (x_tr, y_tr, x_te, y_te))


class SmallCNN(nn.Module):
    """conv1 (1->16, 3x3) - ReLU - conv2 (16->32, 3x3) - ReLU - maxpool 2 - fc (512->10)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


def train_and_test(data, mode: str, ratio, seed: int, epochs: int) -> float:
    """Test accuracy (%) of one training run."""
    x_tr, y_tr, x_te, y_te = data
    torch.manual_seed(seed)
    model = SmallCNN()
    n, m = ratio or (2, 4)  # dense mode ignores n, m
    sparsify(model, n, m, mode=mode, decay=HYPER["decay"], skip=["conv1"], record=False)
    opt = torch.optim.SGD(model.parameters(), lr=HYPER["lr"], momentum=HYPER["momentum"],
                          weight_decay=HYPER["weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x_tr), generator=gen).split(HYPER["batch_size"]):
            opt.zero_grad()
            F.cross_entropy(model(x_tr[idx]), y_tr[idx]).backward()
            opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        pred = model(x_te).argmax(1)
    return 100.0 * (pred == y_te).float().mean().item()


def format_table(results: dict[str, list[float]], args, elapsed: float, n_test: int) -> str:
    """Markdown table of mean ± std test accuracy per configuration."""
    dense = statistics.fmean(results["dense"])
    lines = [
        f"BDWP accuracy on scikit-learn digits (SmallCNN, {args.epochs} epochs, "
        f"{args.seeds} seeds, test set of {n_test} images)",
        "",
        "| configuration | mode | N:M | test accuracy % (mean ± std) | min | max | Δ vs dense |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, mode, ratio in CONFIGS:
        acc = results[label]
        std = statistics.stdev(acc) if len(acc) > 1 else 0.0
        nm_text = f"{ratio[0]}:{ratio[1]}" if ratio else "-"
        delta = "-" if mode == "dense" else f"{statistics.fmean(acc) - dense:+.2f}"
        lines.append(f"| {label} | {mode} | {nm_text} | {statistics.fmean(acc):.2f} ± {std:.2f} "
                     f"| {min(acc):.2f} | {max(acc):.2f} | {delta} |")
    lines += [
        "",
        f"Hyper-parameters (all configurations): SGD lr {HYPER['lr']}, momentum "
        f"{HYPER['momentum']}, weight decay {HYPER['weight_decay']}, cosine schedule, batch "
        f"{HYPER['batch_size']}; SR-STE decay λ = {HYPER['decay']} (N:M modes); std is the "
        "sample std over seeds. conv1 (1 input channel) stays dense; conv2 and fc are N:M. "
        f"Wall time {elapsed:.0f} s on {args.threads} thread(s).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
