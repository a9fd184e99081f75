"""Training GEMMs of a PyTorch model (imports torch).

:func:`trace_workload` runs one forward pass with hooks on every
``nn.Linear`` and ``nn.Conv2d`` and returns a
:class:`sparseforge.workloads.Workload` whose layers carry the shapes seen,
so the SAT performance model can run on any model.  Attention products
computed with functional ops (``q @ k.transpose(...)``) are not modules and
are not captured; add :class:`~sparseforge.workloads.AttentionLayer` entries
for them if the model has any.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sparseforge.workloads import ConvLayer, LinearLayer, Workload

__all__ = ["trace_workload"]


def trace_workload(model: nn.Module, input_shape: tuple[int, ...], *, batch: int = 1,
                   name: str = "model", dense_first: bool = True,
                   dtype: torch.dtype = torch.float32) -> Workload:
    """Workload of one training step of ``model`` on inputs of ``input_shape``.

    Parameters
    ----------
    model : nn.Module
        Any module; it is run once in eval mode on zeros (no gradients).
    input_shape : tuple of int
        Shape of one sample, without the batch dimension (e.g. ``(3, 224, 224)``).
    batch : int
        Batch size of the training step.
    name : str
        Workload name.
    dense_first : bool
        Keep the first weight layer dense and without an input gradient (the
        network input needs none), as the built-in workloads do.
    dtype : torch.dtype
        Dtype of the probe input.

    Raises
    ------
    ValueError
        A convolution with ``groups != 1``, a non-square kernel, stride,
        padding or a dilation other than 1 (the im2col lowering does not model
        them), or a model with no Linear / Conv2d layer.
    """
    names = {module: path for path, module in model.named_modules()}
    layers: list[LinearLayer | ConvLayer] = []

    def hook(module, inputs, _output):
        x = inputs[0]
        path = names[module]
        first = not layers
        flags = {"sparse": not (dense_first and first), "input_grad": not (dense_first and first)}
        if isinstance(module, nn.Linear):
            tokens = math.prod(x.shape[:-1]) // probe_batch
            layers.append(LinearLayer(path, module.in_features, module.out_features, tokens,
                                      **flags))
        else:
            layers.append(_conv_layer(path, module, x, flags))

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Linear, nn.Conv2d))]
    probe_batch = 1
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            device = next((p.device for p in model.parameters()), torch.device("cpu"))
            model(torch.zeros((probe_batch, *input_shape), dtype=dtype, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if not layers:
        raise ValueError(f"{name}: the model has no nn.Linear or nn.Conv2d layer to trace")
    return Workload(name, f"traced from {type(model).__name__} on {tuple(input_shape)}",
                    tuple(input_shape), tuple(layers), batch)


def _conv_layer(path: str, conv: nn.Conv2d, x: torch.Tensor, flags: dict) -> ConvLayer:
    k, s, p, d = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    if conv.groups != 1:
        raise ValueError(f"layer {path!r}: groups = {conv.groups}; only groups = 1 is lowered")
    if isinstance(p, str) or len({k[0], k[1]}) != 1 or len(set(s)) != 1 or len(set(p)) != 1:
        raise ValueError(f"layer {path!r}: kernel {k}, stride {s}, padding {p}; "
                         "only square kernels with equal stride and padding are lowered")
    if d != (1, 1):
        raise ValueError(f"layer {path!r}: dilation {d}; only dilation 1 is lowered")
    return ConvLayer(path, conv.in_channels, conv.out_channels, k[0], s[0], p[0],
                     int(x.shape[-2]), int(x.shape[-1]), **flags)
