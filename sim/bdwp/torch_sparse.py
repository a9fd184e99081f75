"""BDWP (bidirectional weight pruning) training in PyTorch (imports torch).

:func:`sparsify` turns every ``nn.Linear`` and ``nn.Conv2d`` of a model into
:class:`NMLinear` / :class:`NMConv2d`, whose three training GEMMs are

============================  ===============================  =====================
GEMM                          weight used                      mask
============================  ===============================  =====================
forward       ``Y = X·Wfᵀ+b``  ``Wf = W ⊙ mask_rowwise(W)``     groups along ``in``
backward-data ``dX = dY·Wb``   ``Wb = W ⊙ mask_colwise(W)``     groups along ``out``
weight-grad   ``dW = dYᵀ·X``   — (dense ``dY`` and ``X``)       none
============================  ===============================  =====================

``dW`` is applied straight-through to the dense master weights ``W`` (the
module's ``weight`` parameter), and both masks are recomputed from the current
dense ``W`` at every forward call.  For a convolution ``W[out, in, kh, kw]``
the row-wise groups run along the input channels (axis 1) and the column-wise
groups along the output channels (axis 0), for each kernel tap.

Modes
-----
``"bdwp"``
    As in the table (SAT / BDWP, PAPERS.md §1).
``"forward"``
    SR-STE style: the forward GEMM uses ``Wf`` and the backward-data GEMM uses
    ``Wf`` as well (the true gradient of the masked forward wrt ``X``); ``dW``
    is dense and straight-through.
``"dense"``
    No masking (all three GEMMs dense); the decay term is zero.

SR-STE decay: with ``decay = λ > 0`` the weight gradient becomes
``dW + λ·(1 − mask_rowwise(W))·W`` (SR-STE uses λ = 2e-4), added once per
forward call whose output is back-propagated.

The selection rule (top-``n`` ``|w|`` per group of ``m``, lower index wins
ties, zero padding at the end, exactly ``n`` kept) is that of
:func:`sparseforge.nm.mask`; :func:`mask` is its vectorised torch twin (CPU
and CUDA, equal bit for bit).

Each NM module records what its GEMMs used in the last step (for tests and
debugging; ``record=False`` turns it off to save memory):
``last_forward_weight`` (the weight of the forward GEMM),
``last_backward_weight`` (the weight of the backward-data GEMM, set during
backward), ``last_mask_rowwise`` and ``last_mask_colwise`` (``None`` where a
mode uses no such mask).

Limits: ``Conv2d`` with ``groups != 1`` or ``padding_mode != "zeros"`` is
refused; double backward is not supported; the custom autograd functions do
not take part in ``torch.autocast`` (inputs and weights must share a dtype).
"""

from __future__ import annotations

import dataclasses
import warnings
import weakref
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from sparseforge import nm

__all__ = [
    "MODES",
    "NMConv2d",
    "NMLinear",
    "export_sparse",
    "mask",
    "mask_colwise",
    "mask_rowwise",
    "sparsify",
    "unsparsify",
]

MODES = ("bdwp", "forward", "dense")


# --------------------------------------------------------------------------- public API


def mask(w: torch.Tensor, n: int, m: int, axis: int = -1, pad: str = "zero") -> torch.Tensor:
    """Boolean N:M keep-mask of ``w`` along ``axis`` (torch twin of :func:`sparseforge.nm.mask`).

    Parameters
    ----------
    w : torch.Tensor
        Integer or floating-point tensor, on any device; it is not modified
        and no gradient flows through the mask.
    n, m : int
        Keep ``n`` of every ``m`` consecutive elements along ``axis``.
    axis : int
        Grouped axis.
    pad : {"zero", "none"}
        Padding rule for a length that is not a multiple of ``m``.

    Returns
    -------
    torch.Tensor
        ``torch.bool`` tensor of ``w``'s shape and device.

    Raises
    ------
    ValueError
        Bad ``n``/``m``/``pad``/``axis``, a 0-d, bool or complex tensor, a
        length that is not a multiple of ``m`` with ``pad="none"``, or NaN.
    """
    if not isinstance(w, torch.Tensor):
        raise TypeError(f"mask needs a torch.Tensor, got {type(w).__name__}")
    nm.validate_nm(n, m)
    if w.dim() == 0:
        raise ValueError("mask needs at least a 1-D tensor")
    if not -w.dim() <= axis < w.dim():
        raise ValueError(f"axis = {axis} is out of range for a {w.dim()}-D tensor")
    if w.dtype == torch.bool or w.is_complex():
        raise ValueError(f"N:M selection needs integer or float data, got dtype {w.dtype}")
    length = w.shape[axis]
    groups = nm.group_count(length, m, pad)
    w = w.detach()
    if w.is_floating_point():
        if bool(torch.isnan(w).any()):
            raise ValueError("N:M selection is undefined for NaN values")
        if w.dtype not in (torch.float32, torch.float64):
            w = w.to(torch.float32)  # exact for float16 / bfloat16 / float8
        magnitude = w.abs()  # abs clears the sign of -0.0: all zeros compare (and sort) alike
    else:
        magnitude = w.to(torch.int64).abs()
    moved = magnitude.movedim(axis, -1)
    extra = groups * m - length
    if extra:
        moved = torch.cat([moved, moved.new_zeros((*moved.shape[:-1], extra))], dim=-1)
    grouped = moved.reshape(*moved.shape[:-1], groups, m)
    # Stable ascending sort of -|w|: equal magnitudes keep their index order,
    # so the lower index wins (the same as NumPy's stable argsort in nm.mask).
    order = torch.sort(-grouped, dim=-1, stable=True).indices[..., :n]
    keep = torch.zeros(grouped.shape, dtype=torch.bool, device=w.device)
    keep.scatter_(-1, order, True)
    keep = keep.reshape(*moved.shape[:-1], groups * m)[..., :length]
    return keep.movedim(-1, axis)


def mask_rowwise(w: torch.Tensor, n: int, m: int, pad: str = "zero") -> torch.Tensor:
    """Forward-GEMM mask: groups along the input dimension (``axis=1``) of ``W[out, in, ...]``."""
    _check_weight_rank(w)
    return mask(w, n, m, axis=1, pad=pad)


def mask_colwise(w: torch.Tensor, n: int, m: int, pad: str = "zero") -> torch.Tensor:
    """Backward-data mask: groups along the output dimension (``axis=0``) of ``W[out, in, ...]``."""
    _check_weight_rank(w)
    return mask(w, n, m, axis=0, pad=pad)


def sparsify(model: nn.Module, n: int, m: int, mode: str = "bdwp", decay: float = 2e-4,
             pad: str = "zero", *, skip: tuple[str, ...] | list[str] = (),
             record: bool = True) -> nn.Module:
    """Make every ``nn.Linear`` / ``nn.Conv2d`` of ``model`` an N:M training layer, in place.

    Each layer's class is switched to :class:`NMLinear` / :class:`NMConv2d`
    (subclasses of the originals): the parameter objects, buffers, hooks and
    ``state_dict`` keys stay the same, so optimizers built before the call and
    existing checkpoints keep working.  Layers already sparsified are
    reconfigured.  Subclasses of ``nn.Linear`` / ``nn.Conv2d`` other than the
    NM ones are left alone with a warning (their ``forward`` is unknown), and
    so are the projections of ``nn.MultiheadAttention``, which reads their
    weights directly without calling them.

    Parameters
    ----------
    model : nn.Module
        The model (it may itself be a ``Linear`` / ``Conv2d``).
    n, m : int
        N:M ratio (see :func:`sparseforge.nm.validate_nm`).
    mode : {"bdwp", "forward", "dense"}
        Which GEMMs are masked (module docstring).
    decay : float
        SR-STE decay λ (``0`` disables it).
    pad : {"zero", "none"}
        Padding rule of the grouped dimensions.
    skip : sequence of str
        Module paths (as in ``named_modules``, e.g. ``"features.0"``) to leave
        dense and untouched, e.g. a first convolution with one input channel.
    record : bool
        Keep the ``last_*`` records on each layer (module docstring).

    Returns
    -------
    nn.Module
        ``model`` itself.

    Raises
    ------
    ValueError
        Bad ``mode``/``decay``/``pad``; and, naming the layer: bad ``n``/``m``,
        ``Conv2d`` with ``groups != 1`` or ``padding_mode != "zeros"``, or (with
        ``pad="none"``) a grouped dimension that is not a multiple of ``m``.
    TypeError
        A layer whose weight is not floating point (naming layer and dtype).
    """
    _check_config(mode, decay, pad)
    skip = set(skip)
    unknown = skip - {name for name, _ in model.named_modules()}
    if unknown:
        raise ValueError(f"skip names no module of the model: {sorted(unknown)}")
    attention_children = set()
    for name, module in model.named_modules():
        if isinstance(module, nn.MultiheadAttention):
            for child_name, _ in module.named_modules():
                if child_name:
                    attention_children.add(f"{name}.{child_name}" if name else child_name)
            warnings.warn(f"{name or type(module).__name__}: nn.MultiheadAttention uses its "
                          "projection weights directly; they stay dense", stacklevel=2)
    targets = []
    for name, module in model.named_modules():
        if name in skip or name in attention_children:
            continue
        if isinstance(module, (nn.Linear, nn.Conv2d)) and isinstance(
                module.weight, nn.parameter.UninitializedParameter):
            raise ValueError(f"{name or type(module).__name__}: the weight is not initialised "
                             "yet (lazy module); run one forward pass before sparsify()")
        if isinstance(module, _NMMixin) or type(module) in (nn.Linear, nn.Conv2d):
            targets.append((name, module))
        elif isinstance(module, (nn.Linear, nn.Conv2d)):
            warnings.warn(f"{name}: {type(module).__name__} is a subclass of "
                          f"{nn.Linear.__name__ if isinstance(module, nn.Linear) else 'Conv2d'} "
                          "with its own forward; it stays dense", stacklevel=2)
    # Check every layer before changing any, so an error leaves the model as it was.
    for name, module in targets:
        _check_layer(module, name or type(module).__name__, n, m, mode, pad)
    for name, module in targets:
        if not isinstance(module, _NMMixin):
            module.__class__ = NMLinear if isinstance(module, nn.Linear) else NMConv2d
        module._configure(n, m, mode, decay, pad, name=name, record=record)
    return model


def unsparsify(model: nn.Module, apply_mask: bool = True) -> nn.Module:
    """Turn the NM layers of ``model`` back into plain ``nn.Linear`` / ``nn.Conv2d``, in place.

    Parameters
    ----------
    model : nn.Module
    apply_mask : bool
        Multiply each weight by its row-wise (forward) mask first, so the
        plain model computes what the NM model's forward computed (for
        ``mode="dense"`` nothing is masked).

    Returns
    -------
    nn.Module
        ``model`` itself.
    """
    for _, module in model.named_modules():
        if not isinstance(module, _NMMixin):
            continue
        if apply_mask and module.mode != "dense":
            with torch.no_grad():
                module.weight.mul_(mask_rowwise(module.weight, module.n, module.m, module.pad))
        for attr in _NMMixin._ATTRS:
            module.__dict__.pop(attr, None)
        module.__class__ = nn.Linear if isinstance(module, nn.Linear) else nn.Conv2d
    return model


def export_sparse(model: nn.Module, value_dtype: Any = None) -> dict[str, dict[str, Any]]:
    """Final N:M masks and compressed weights of every NM layer, by module path.

    The masks are computed (with :func:`sparseforge.nm.mask`) from the current
    dense weights: they are the masks the next forward call would use.

    Parameters
    ----------
    model : nn.Module
        A model after :func:`sparsify` (and training).
    value_dtype : numpy dtype, optional
        Floating dtype of the exported values (e.g. ``np.float16``); the
        selection is made on the full-precision weights first.  ``None``
        keeps the weight's dtype (``bfloat16`` becomes ``float32``).

    Returns
    -------
    dict
        ``{path: entry}``; each entry holds ``"n"``, ``"m"``, ``"mode"``,
        ``"pad"``, ``"shape"``, ``"mask_rowwise"`` / ``"mask_colwise"``
        (``numpy`` bool arrays of the weight's shape), ``"forward"`` /
        ``"backward"`` (:class:`sparseforge.nm.NMTensor` from
        :func:`sparseforge.nm.compress` along axis 1 / axis 0; values and
        in-group indices), and ``"bias"`` (numpy or ``None``).  With
        ``pad="none"`` an entry whose dimension is not a multiple of ``m``
        (possible only for one a mode does not use) is ``None``.

    Raises
    ------
    ValueError
        A non-floating ``value_dtype`` (quantise first) or a model with no NM layer.
    """
    if value_dtype is not None:
        value_dtype = np.dtype(value_dtype)
        if not np.issubdtype(value_dtype, np.floating):
            raise ValueError(f"value_dtype = {value_dtype} is not a floating dtype; "
                             "quantise the weights first for integer values")
    result: dict[str, dict[str, Any]] = {}
    for name, module in model.named_modules():
        if not isinstance(module, _NMMixin):
            continue
        w = _to_numpy(module.weight)
        entry: dict[str, Any] = {"n": module.n, "m": module.m, "mode": module.mode,
                                 "pad": module.pad, "shape": tuple(w.shape)}
        for key, axis in (("rowwise", 1), ("colwise", 0)):
            gemm = "forward" if axis == 1 else "backward"
            if module.pad == "none" and w.shape[axis] % module.m:
                entry[f"mask_{key}"] = entry[gemm] = None
                continue
            entry[f"mask_{key}"] = nm.mask(w, module.n, module.m, axis=axis, pad=module.pad)
            packed = nm.compress(w, module.n, module.m, axis=axis, pad=module.pad)
            if value_dtype is not None:
                packed = dataclasses.replace(packed, values=packed.values.astype(value_dtype))
            entry[gemm] = packed
        entry["bias"] = None if module.bias is None else _to_numpy(module.bias)
        result[name] = entry
    if not result:
        raise ValueError("the model has no NM layer; call sparsify() first")
    return result


class _NMMixin:
    """Configuration, masks and records shared by :class:`NMLinear` and :class:`NMConv2d`."""

    _ATTRS = ("n", "m", "mode", "decay", "pad", "layer_name", "record",
              "last_forward_weight", "last_backward_weight", "last_mask_rowwise",
              "last_mask_colwise")
    weight: nn.Parameter

    def _configure(self, n: int, m: int, mode: str, decay: float, pad: str, *,
                   name: str = "", record: bool = True) -> None:
        where = name or type(self).__name__
        _check_config(mode, decay, pad)
        _check_layer(self, where, n, m, mode, pad)
        self.n, self.m, self.mode, self.decay, self.pad = int(n), int(m), mode, float(decay), pad
        self.layer_name = where
        self.record = bool(record)
        self.last_forward_weight: torch.Tensor | None = None
        self.last_backward_weight: torch.Tensor | None = None
        self.last_mask_rowwise: torch.Tensor | None = None
        self.last_mask_colwise: torch.Tensor | None = None

    def _effective_weights(self, weight: torch.Tensor):
        """``(Wf, Wb, mask_rowwise or None)`` from the current dense weight (no grad)."""
        with torch.no_grad():
            if self.mode == "dense":
                if self.record:
                    self.last_forward_weight = weight.detach().clone()
                    self.last_mask_rowwise = self.last_mask_colwise = None
                return weight, weight, None
            try:
                row = mask_rowwise(weight, self.n, self.m, self.pad)
                col = mask_colwise(weight, self.n, self.m, self.pad) if self.mode == "bdwp" \
                    else None
            except ValueError as err:
                raise ValueError(f"{self.layer_name}: {err}") from err
            wf = weight * row
            wb = weight * col if col is not None else wf
            if self.record:
                self.last_forward_weight = wf.detach()
                self.last_mask_rowwise, self.last_mask_colwise = row, col
            return wf, wb, row

    def _record_backward(self, wb: torch.Tensor) -> None:
        if self.record:
            self.last_backward_weight = wb.detach().clone() if self.mode == "dense" \
                else wb.detach()

    def _nm_repr(self) -> str:
        return f"{self.n}:{self.m}, mode={self.mode}, decay={self.decay:g}, pad={self.pad}"


class NMLinear(_NMMixin, nn.Linear):
    """``nn.Linear`` whose GEMMs use the N:M weights of its ``mode`` (module docstring).

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    n, m : int
        N:M ratio.
    mode : {"bdwp", "forward", "dense"}
    decay : float
        SR-STE decay λ.
    pad : {"zero", "none"}
    record : bool
        Keep the ``last_*`` records.
    device, dtype
        As for ``nn.Linear``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 n: int = 2, m: int = 4, mode: str = "bdwp", decay: float = 2e-4,
                 pad: str = "zero", record: bool = True, device=None, dtype=None) -> None:
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        self._configure(n, m, mode, decay, pad, record=record)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """``input @ Wfᵀ + b`` over the last dimension (any leading dimensions)."""
        lead = input.shape[:-1]
        x = input.reshape(-1, self.in_features)
        y = _NMLinearFunction.apply(x, self.weight, self.bias, self)
        return y.reshape(*lead, self.out_features)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._nm_repr()}"


class NMConv2d(_NMMixin, nn.Conv2d):
    """``nn.Conv2d`` (``groups=1``, zero padding) whose GEMMs use N:M weights (module docstring).

    Parameters
    ----------
    in_channels, out_channels, kernel_size, stride, padding, dilation, bias
        As for ``nn.Conv2d`` (``padding`` may be ``"same"`` or ``"valid"``).
    n, m, mode, decay, pad, record
        As for :class:`NMLinear`.
    device, dtype
        As for ``nn.Conv2d``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, bias: bool = True, *, n: int = 2, m: int = 4, mode: str = "bdwp",
                 decay: float = 2e-4, pad: str = "zero", record: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups=1, bias=bias, device=device, dtype=dtype)
        self._configure(n, m, mode, decay, pad, record=record)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """2-D convolution with ``Wf`` (batched ``(B, C, H, W)`` or unbatched ``(C, H, W)``)."""
        unbatched = input.dim() == 3
        if unbatched:
            input = input.unsqueeze(0)
        padding = self.padding
        if isinstance(padding, str):
            padding, explicit = _string_padding(padding, self.kernel_size, self.dilation)
            if explicit is not None:  # asymmetric "same": pad as F.conv2d does, outside
                input = F.pad(input, explicit)
        y = _NMConv2dFunction.apply(input, self.weight, self.bias, self, tuple(self.stride),
                                    tuple(padding), tuple(self.dilation))
        return y.squeeze(0) if unbatched else y

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._nm_repr()}"


# --------------------------------------------------------------------------- autograd


class _NMLinearFunction(torch.autograd.Function):
    """``Y = X·Wfᵀ + b``; ``dX = dY·Wb``; ``dW = dYᵀ·X (+ decay)``; ``db = Σ dY`` (X 2-D)."""

    @staticmethod
    def forward(ctx, x, weight, bias, layer):
        wf, wb, row = layer._effective_weights(weight)
        y = F.linear(x, wf, bias)
        decaying = layer.decay > 0 and row is not None
        ctx.save_for_backward(x, wb, weight if decaying else None, row if decaying else None)
        ctx.decay = layer.decay
        ctx.has_bias = bias is not None
        ctx.layer = weakref.ref(layer)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, wb, weight, row = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out.matmul(wb)
        if ctx.needs_input_grad[1]:
            grad_w = grad_out.t().matmul(x)
            if weight is not None:
                grad_w = grad_w + ctx.decay * weight.masked_fill(row, 0)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(0)
        layer = ctx.layer()
        if layer is not None:
            layer._record_backward(wb)
        return grad_x, grad_w, grad_b, None


class _NMConv2dFunction(torch.autograd.Function):
    """Convolution version of :class:`_NMLinearFunction` (``groups=1``, X 4-D)."""

    @staticmethod
    def forward(ctx, x, weight, bias, layer, stride, padding, dilation):
        wf, wb, row = layer._effective_weights(weight)
        y = F.conv2d(x, wf, bias, stride, padding, dilation, 1)
        decaying = layer.decay > 0 and row is not None
        ctx.save_for_backward(x, wb, weight if decaying else None, row if decaying else None)
        ctx.conf = (stride, padding, dilation)
        ctx.weight_shape = weight.shape
        ctx.decay = layer.decay
        ctx.has_bias = bias is not None
        ctx.layer = weakref.ref(layer)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        x, wb, weight, row = ctx.saved_tensors
        stride, padding, dilation = ctx.conf
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.nn.grad.conv2d_input(x.shape, wb, grad_out, stride, padding,
                                                dilation, 1)
        if ctx.needs_input_grad[1]:
            grad_w = torch.nn.grad.conv2d_weight(x, ctx.weight_shape, grad_out, stride,
                                                 padding, dilation, 1)
            if weight is not None:
                grad_w = grad_w + ctx.decay * weight.masked_fill(row, 0)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum((0, 2, 3))
        layer = ctx.layer()
        if layer is not None:
            layer._record_backward(wb)
        return grad_x, grad_w, grad_b, None, None, None, None


# --------------------------------------------------------------------------- internals


def _check_config(mode: str, decay: float, pad: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode = {mode!r} is not allowed; allowed: {', '.join(MODES)}")
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not decay >= 0 \
            or decay == float("inf"):
        raise ValueError(f"decay = {decay!r} is not allowed; allowed: a finite float >= 0")
    if pad not in nm.PAD_RULES:
        raise ValueError(f"pad = {pad!r} is not allowed; allowed: {', '.join(nm.PAD_RULES)}")


def _check_layer(module: nn.Module, where: str, n: int, m: int, mode: str, pad: str) -> None:
    """Raise, naming the layer ``where``, unless ``module`` can be an N:M layer."""
    nm.validate_nm(n, m, where=where)
    weight = module.weight
    if not weight.is_floating_point():
        raise TypeError(f"{where}: weight dtype {weight.dtype} is not floating point; "
                        "N:M training needs a float weight")
    if isinstance(module, nn.Conv2d):
        if module.groups != 1:
            raise ValueError(f"{where}: Conv2d with groups = {module.groups} is not supported; "
                             "allowed: groups = 1")
        if module.padding_mode != "zeros":
            raise ValueError(f"{where}: Conv2d with padding_mode = {module.padding_mode!r} is "
                             "not supported; allowed: 'zeros'")
        dims = (("in_channels", 1), ("out_channels", 0))
    else:
        dims = (("in_features", 1), ("out_features", 0))
    if pad == "none" and mode != "dense":
        for label, axis in dims:
            if axis == 0 and mode != "bdwp":
                continue
            nm.group_count(weight.shape[axis], m, pad, where=f"{where} ({label})")


def _check_weight_rank(w: torch.Tensor) -> None:
    if w.dim() < 2:
        raise ValueError(f"a weight tensor W[out, in, ...] needs >= 2 dimensions, got {w.dim()}")


def _string_padding(padding: str, kernel_size, dilation):
    """``(symmetric padding, explicit F.pad widths or None)`` for ``"valid"`` / ``"same"``."""
    if padding == "valid":
        return (0, 0), None
    left, right = [], []
    for k, d in zip(kernel_size, dilation, strict=True):
        total = d * (k - 1)
        left.append(total // 2)
        right.append(total - total // 2)
    if left == right:
        return tuple(left), None
    # F.pad takes the last dimension first: (w_left, w_right, h_left, h_right).
    return (0, 0), (left[1], right[1], left[0], right[0])


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        t = t.to(torch.float32)
    return t.numpy().copy()
