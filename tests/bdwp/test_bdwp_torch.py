"""PyTorch BDWP (sparseforge.sim.bdwp.torch_sparse): masks, GEMMs, gradients, export."""

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402
from torch import nn  # noqa: E402

from sparseforge import nm  # noqa: E402
from sparseforge.sim.bdwp import torch_sparse as ts  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NM_PAIRS = [(1, 2), (2, 4), (1, 4), (3, 4), (2, 8), (5, 8), (4, 16), (7, 32)]
MODES = ("bdwp", "forward", "dense")
TOL = {"rtol": 0, "atol": 1e-12}


def tie_heavy(rng, shape, hi=2):
    """Small integer-valued floats: many equal magnitudes, many all-zero groups."""
    return rng.integers(-hi, hi + 1, size=shape).astype(np.float64)


def assert_close(actual, expected):
    torch.testing.assert_close(actual, expected, **TOL)


# --------------------------------------------------------------------------- masks


@pytest.mark.parametrize(("n", "m"), NM_PAIRS)
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_torch_mask_equals_numpy_mask(n, m, axis):
    rng = np.random.default_rng(1000 * n + m)
    for shape, hi in [((6, 13, 5), 1), ((37, 9, 3), 2), ((2, 3, 70), 3), ((m, 2 * m, m + 1), 1)]:
        w = tie_heavy(rng, shape, hi)
        expected = nm.mask(w, n, m, axis=axis)
        for dtype in (torch.float64, torch.float32, torch.float16):
            got = ts.mask(torch.from_numpy(w).to(dtype), n, m, axis=axis)
            assert got.dtype == torch.bool and got.shape == w.shape
            np.testing.assert_array_equal(got.numpy(), expected)
        got = ts.mask(torch.from_numpy(w.astype(np.int8)), n, m, axis=axis)
        np.testing.assert_array_equal(got.numpy(), nm.mask(w.astype(np.int8), n, m, axis=axis))


@st.composite
def tensor_axis_nm(draw):
    n, m = draw(st.sampled_from(NM_PAIRS))
    shape = draw(st.lists(st.integers(1, 19), min_size=1, max_size=3))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    values = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, float("inf")])
    w = draw(hnp.arrays(np.float32, tuple(shape), elements=values))
    return w, n, m, axis


@given(tensor_axis_nm())
@settings(max_examples=150, deadline=None)
def test_torch_mask_equals_numpy_mask_property(args):
    w, n, m, axis = args
    got = ts.mask(torch.from_numpy(w), n, m, axis=axis).numpy()
    np.testing.assert_array_equal(got, nm.mask(w, n, m, axis=axis))
    # exactly n kept per full group
    moved = np.moveaxis(got, axis, -1)
    full = moved.shape[-1] // m * m
    if full:
        counts = moved[..., :full].reshape(*moved.shape[:-1], -1, m).sum(-1)
        assert (counts == n).all()


def test_rowwise_and_colwise_masks_of_a_conv_weight():
    rng = np.random.default_rng(3)
    w = tie_heavy(rng, (10, 6, 3, 2))
    t = torch.from_numpy(w)
    np.testing.assert_array_equal(ts.mask_rowwise(t, 2, 4).numpy(), nm.mask_rowwise(w, 2, 4))
    np.testing.assert_array_equal(ts.mask_colwise(t, 2, 4).numpy(), nm.mask_colwise(w, 2, 4))


def test_mask_bfloat16_and_gradient_free():
    rng = np.random.default_rng(4)
    w = torch.from_numpy(tie_heavy(rng, (12, 16))).to(torch.bfloat16).requires_grad_()
    got = ts.mask(w, 2, 8, axis=1)
    assert not got.requires_grad
    expected = nm.mask(w.detach().float().numpy(), 2, 8, axis=1)
    np.testing.assert_array_equal(got.numpy(), expected)


def test_mask_errors():
    with pytest.raises(ValueError, match="NaN"):
        ts.mask(torch.tensor([1.0, float("nan"), 0.0, 2.0]), 2, 4)
    with pytest.raises(ValueError, match="m = 3"):
        ts.mask(torch.ones(6), 1, 3)
    with pytest.raises(ValueError, match="not a multiple"):
        ts.mask(torch.ones(6), 2, 4, pad="none")
    with pytest.raises(ValueError, match="dtype"):
        ts.mask(torch.ones(4, dtype=torch.bool), 2, 4)
    with pytest.raises(ValueError, match="out of range"):
        ts.mask(torch.ones(4, 4), 2, 4, axis=2)
    with pytest.raises(ValueError, match=">= 2 dimensions"):
        ts.mask_rowwise(torch.ones(4), 2, 4)
    with pytest.raises(TypeError):
        ts.mask(np.ones(4), 2, 4)


# --------------------------------------------------------------------------- references


def reference_weights(w, n, m, mode):
    """(Wf, Wb, rowwise mask) from the definitions, masks from sparseforge.nm (NumPy)."""
    if mode == "dense":
        return w, w, torch.ones_like(w, dtype=torch.bool)
    wn = w.detach().numpy()
    row = torch.from_numpy(nm.mask_rowwise(wn, n, m))
    col = torch.from_numpy(nm.mask_colwise(wn, n, m))
    wf = w * row
    return wf, (wf if mode == "forward" else w * col), row


def linear_reference(x, w, b, dy, n, m, mode, decay):
    """Y = X·Wfᵀ + b, dX = dY·Wb, dW = dYᵀ·X + decay·(1-row)·W, db = Σ dY (plain torch)."""
    wf, wb, row = reference_weights(w, n, m, mode)
    x2, dy2 = x.reshape(-1, w.shape[1]), dy.reshape(-1, w.shape[0])
    y = x2 @ wf.T + b
    dx = dy2 @ wb
    dw = dy2.T @ x2 + decay * (w * ~row)
    return y.reshape(dy.shape), dx.reshape(x.shape), dw, dy2.sum(0)


def conv_reference(x, w, b, dy, n, m, mode, decay, stride, pads, dilation):
    """The same GEMMs on the im2col (unfold) matrices; ``pads`` = (left, right, top, bottom)."""
    wf, wb, row = reference_weights(w, n, m, mode)
    kernel = w.shape[2:]
    xp = F.pad(x, pads)
    cols = F.unfold(xp, kernel, dilation=dilation, stride=stride)  # (B, C·kh·kw, L)
    out = w.shape[0]
    y = wf.reshape(out, -1) @ cols + b[None, :, None]
    y = y.reshape(dy.shape)
    dy_flat = dy.reshape(dy.shape[0], out, -1)
    dcols = wb.reshape(out, -1).T @ dy_flat
    dxp = F.fold(dcols, xp.shape[2:], kernel, dilation=dilation, stride=stride)
    left, right, top, bottom = pads
    dx = dxp[:, :, top:xp.shape[2] - bottom, left:xp.shape[3] - right]
    dw = (dy_flat @ cols.transpose(1, 2)).sum(0).reshape(w.shape) + decay * (w * ~row)
    return y, dx, dw, dy.sum((0, 2, 3))


def run_layer(layer, x, dy):
    x = x.clone().requires_grad_()
    y = layer(x)
    y.backward(dy)
    return y.detach(), x.grad, layer.weight.grad, layer.bias.grad


LINEAR_CASES = [  # in, out, lead dims, n, m
    (10, 6, (5,), 2, 4),
    (16, 12, (3, 4), 2, 8),
    (7, 9, (4,), 1, 4),
    (3, 5, (2,), 2, 4),  # grouped dims shorter than m: padded
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("decay", [0.0, 2e-4])
@pytest.mark.parametrize(("fin", "fout", "lead", "n", "m"), LINEAR_CASES)
def test_linear_matches_hand_masked_reference(mode, decay, fin, fout, lead, n, m):
    torch.manual_seed(fin * 100 + fout)
    layer = nn.Linear(fin, fout, dtype=torch.float64)
    ts.sparsify(layer, n, m, mode=mode, decay=decay)
    x = torch.randn(*lead, fin, dtype=torch.float64)
    dy = torch.randn(*lead, fout, dtype=torch.float64)
    got = run_layer(layer, x, dy)
    expected = linear_reference(x, layer.weight.detach(), layer.bias.detach(), dy, n, m, mode,
                                decay)
    for g, e in zip(got, expected, strict=True):
        assert_close(g, e)


CONV_CASES = [  # cin, cout, kernel, stride, padding, dilation, n, m, input H, W
    (6, 10, (3, 3), 1, 1, 1, 2, 4, 7, 6),
    (5, 12, (3, 2), 2, (1, 0), 1, 2, 4, 9, 8),
    (8, 6, 3, 1, 2, 2, 2, 8, 8, 8),
    (3, 7, 1, (2, 1), 0, 1, 1, 4, 5, 6),
    (12, 16, (2, 3), (1, 2), (0, 1), (2, 1), 3, 8, 7, 9),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("decay", [0.0, 2e-4])
@pytest.mark.parametrize(("cin", "cout", "k", "s", "p", "d", "n", "m", "h", "wd"), CONV_CASES)
def test_conv2d_matches_hand_masked_reference(mode, decay, cin, cout, k, s, p, d, n, m, h, wd):
    torch.manual_seed(cin * 100 + cout)
    layer = nn.Conv2d(cin, cout, k, s, p, d, dtype=torch.float64)
    ts.sparsify(layer, n, m, mode=mode, decay=decay)
    x = torch.randn(3, cin, h, wd, dtype=torch.float64)
    y_shape = F.conv2d(x, layer.weight.detach(), None, s, p, d).shape
    dy = torch.randn(y_shape, dtype=torch.float64)
    got = run_layer(layer, x, dy)
    ph, pw = layer.padding
    expected = conv_reference(x, layer.weight.detach(), layer.bias.detach(), dy, n, m, mode,
                              decay, layer.stride, (pw, pw, ph, ph), layer.dilation)
    for g, e in zip(got, expected, strict=True):
        assert_close(g, e)


@pytest.mark.parametrize("mode", ["bdwp", "forward"])
def test_conv2d_same_padding_even_kernel_matches_reference(mode):
    torch.manual_seed(5)
    layer = nn.Conv2d(6, 8, (4, 3), padding="same", dilation=(1, 2), dtype=torch.float64)
    ts.sparsify(layer, 2, 4, mode=mode)
    x = torch.randn(2, 6, 7, 9, dtype=torch.float64)
    dy = torch.randn(2, 8, 7, 9, dtype=torch.float64)
    got = run_layer(layer, x, dy)
    # total padding d·(k-1): H 3 -> (1, 2), W 4 -> (2, 2); F.pad order (left, right, top, bottom)
    expected = conv_reference(x, layer.weight.detach(), layer.bias.detach(), dy, 2, 4, mode,
                              2e-4, (1, 1), (2, 2, 1, 2), layer.dilation)
    for g, e in zip(got, expected, strict=True):
        assert_close(g, e)


def test_dense_mode_equals_plain_modules():
    torch.manual_seed(6)
    plain = nn.Sequential(nn.Conv2d(4, 8, 3, padding="same"), nn.ReLU(),
                          nn.Conv2d(8, 8, (2, 3), stride=2, padding=1, dilation=(1, 2)),
                          nn.Flatten(), nn.LazyLinear(5)).double()
    x = torch.randn(3, 4, 8, 8, dtype=torch.float64)
    plain(x)  # materialise the lazy layer
    sparse = ts.sparsify(_copy(plain), 2, 4, mode="dense")
    assert isinstance(sparse[0], ts.NMConv2d) and isinstance(sparse[4], ts.NMLinear)
    outs = []
    for model in (plain, sparse):
        xi = x.clone().requires_grad_()
        y = model(xi)
        y.backward(torch.ones_like(y))
        outs.append([y, xi.grad, *[p.grad for p in model.parameters()]])
    for a, b in zip(*outs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


def test_unbatched_conv_input_and_3d_linear_input():
    torch.manual_seed(7)
    conv = ts.sparsify(nn.Conv2d(4, 8, 3, padding=1, dtype=torch.float64), 2, 4)
    x = torch.randn(4, 6, 6, dtype=torch.float64)
    assert_close(conv(x), conv(x[None])[0])
    lin = ts.sparsify(nn.Linear(8, 4, dtype=torch.float64), 2, 4)
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    assert_close(lin(x), lin(x.reshape(6, 8)).reshape(2, 3, 4))
    assert_close(lin(x[0, 0]), lin(x[0, :1])[0])


# --------------------------------------------------------------------------- gradcheck


def test_gradcheck_forward_mode_input_gradient_is_exact():
    torch.manual_seed(8)
    lin = ts.sparsify(nn.Linear(10, 6, dtype=torch.float64), 2, 4, mode="forward")
    conv = ts.sparsify(nn.Conv2d(5, 6, 3, stride=2, padding=1, dtype=torch.float64), 2, 4,
                       mode="forward")
    for layer, shape in ((lin, (3, 10)), (conv, (2, 5, 5, 5))):
        layer.requires_grad_(False)  # masks held fixed: a function of the input only
        x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(layer, (x,), eps=1e-6, atol=1e-8)


def test_gradcheck_dense_mode_all_gradients_are_exact():
    torch.manual_seed(9)
    layer = ts.sparsify(nn.Conv2d(3, 4, 3, padding=1, dtype=torch.float64), 2, 4, mode="dense")
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)

    def f(x, w, b):
        return ts._NMConv2dFunction.apply(x, w, b, layer, (1, 1), (1, 1), (1, 1))

    w = layer.weight.detach().clone().requires_grad_()
    b = layer.bias.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(f, (x, w, b), eps=1e-6, atol=1e-8)


def test_bdwp_input_gradient_is_not_the_true_gradient():
    torch.manual_seed(10)
    layer = ts.sparsify(nn.Linear(8, 8, dtype=torch.float64), 2, 4, mode="bdwp")
    layer.requires_grad_(False)
    x = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    assert not torch.autograd.gradcheck(layer, (x,), eps=1e-6, atol=1e-8, raise_exception=False)


# --------------------------------------------------------------------------- per-GEMM masks


@pytest.mark.parametrize("kind", ["linear", "conv"])
@pytest.mark.parametrize("mode", MODES)
def test_each_gemm_uses_its_mask(kind, mode):
    torch.manual_seed(11)
    if kind == "linear":
        layer = nn.Linear(16, 12, dtype=torch.float64)
        x = torch.randn(5, 16, dtype=torch.float64, requires_grad=True)
    else:
        layer = nn.Conv2d(8, 12, 3, padding=1, dtype=torch.float64)
        x = torch.randn(2, 8, 5, 5, dtype=torch.float64, requires_grad=True)
    ts.sparsify(layer, 2, 4, mode=mode)
    y = layer(x)
    dy = torch.randn_like(y)
    y.backward(dy)
    w = layer.weight.detach()
    row = ts.mask_rowwise(w, 2, 4)
    col = ts.mask_colwise(w, 2, 4)
    wf_expected = w if mode == "dense" else w * row
    wb_expected = {"dense": w, "forward": w * row, "bdwp": w * col}[mode]
    assert torch.equal(layer.last_forward_weight, wf_expected)
    assert torch.equal(layer.last_backward_weight, wb_expected)
    if mode == "bdwp":
        assert not torch.equal(layer.last_forward_weight, layer.last_backward_weight)
        assert torch.equal(layer.last_mask_rowwise, row)
        assert torch.equal(layer.last_mask_colwise, col)
    if mode != "dense":
        assert (layer.last_forward_weight != 0).sum() == w.numel() // 2
    # the recorded weights are the ones the GEMMs really used
    if kind == "linear":
        assert_close(y, x.detach() @ layer.last_forward_weight.T + layer.bias.detach())
        assert_close(x.grad, dy @ layer.last_backward_weight)
    else:
        assert_close(y, F.conv2d(x.detach(), layer.last_forward_weight, layer.bias.detach(),
                                 padding=1))
        x2 = x.detach().clone().requires_grad_()
        F.conv2d(x2, layer.last_backward_weight, padding=1).backward(dy)
        assert_close(x.grad, x2.grad)


def test_weight_gradient_is_dense_straight_through():
    torch.manual_seed(12)
    layer = ts.sparsify(nn.Linear(8, 8, dtype=torch.float64), 2, 4, mode="bdwp", decay=0.0)
    x = torch.randn(4, 8, dtype=torch.float64)
    dy = torch.randn(4, 8, dtype=torch.float64)
    layer(x).backward(dy)
    assert (layer.weight.grad != 0).all()  # pruned weights get gradient too
    assert_close(layer.weight.grad, dy.T @ x)


def test_masks_recomputed_every_step():
    torch.manual_seed(13)
    layer = ts.sparsify(nn.Linear(16, 16, dtype=torch.float64), 2, 4)
    opt = torch.optim.SGD(layer.parameters(), lr=0.5)
    x = torch.randn(8, 16, dtype=torch.float64)
    seen = []
    for _ in range(3):
        opt.zero_grad()
        layer(x).pow(2).sum().backward()
        w = layer.weight.detach()
        assert torch.equal(layer.last_forward_weight, w * ts.mask_rowwise(w, 2, 4))
        assert torch.equal(layer.last_backward_weight, w * ts.mask_colwise(w, 2, 4))
        seen.append((layer.last_mask_rowwise.clone(), layer.last_mask_colwise.clone()))
        opt.step()
    with torch.no_grad():
        layer.weight.copy_(torch.randn(16, 16, dtype=torch.float64))
    layer(x)
    seen.append((layer.last_mask_rowwise, None))
    assert not torch.equal(seen[0][0], seen[-1][0])
    assert any(not torch.equal(a[0], b[0]) or not torch.equal(a[1], b[1])
               for a, b in itertools.pairwise(seen[:3]))


def test_decay_term():
    torch.manual_seed(14)
    w0 = torch.randn(8, 8, dtype=torch.float64)
    x = torch.randn(3, 8, dtype=torch.float64)
    grads = {}
    for decay in (0.0, 0.5):
        layer = nn.Linear(8, 8, bias=False, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(w0)
        ts.sparsify(layer, 2, 4, decay=decay)
        layer(x).sum().backward()
        grads[decay] = layer.weight.grad
    row = ts.mask_rowwise(w0, 2, 4)
    assert_close(grads[0.5] - grads[0.0], 0.5 * (w0 * ~row))


# --------------------------------------------------------------------------- model plumbing


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8),
                                      nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(2))
        self.classifier = nn.Linear(64, 10)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def _copy(model):
    import copy
    return copy.deepcopy(model)


def test_state_dict_and_optimizer_survive_sparsify():
    torch.manual_seed(15)
    model = Net()
    keys = {k: v.shape for k, v in model.state_dict().items()}
    params = [id(p) for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    checkpoint = _copy(model.state_dict())
    ts.sparsify(model, 2, 4, skip=["features.0"])
    assert {k: v.shape for k, v in model.state_dict().items()} == keys
    assert [id(p) for p in model.parameters()] == params
    assert type(model.features[0]) is nn.Conv2d
    assert isinstance(model.features[3], ts.NMConv2d)
    assert isinstance(model.classifier, ts.NMLinear)
    assert model.classifier.layer_name == "classifier"
    model.load_state_dict(checkpoint)
    before = model.classifier.weight.detach().clone()
    model(torch.randn(4, 1, 6, 6)).sum().backward()
    opt.step()
    assert not torch.equal(before, model.classifier.weight)
    fresh = Net()
    fresh.load_state_dict(model.state_dict())  # and back into a dense model


def test_sparsify_reconfigures_and_unsparsify_restores():
    torch.manual_seed(16)
    model = ts.sparsify(Net(), 2, 4)
    ts.sparsify(model, 1, 8, mode="forward", decay=0.0)
    assert (model.classifier.n, model.classifier.m, model.classifier.mode) == (1, 8, "forward")
    x = torch.randn(2, 1, 6, 6)
    model.eval()
    y = model(x)
    keys = list(model.state_dict())
    ts.unsparsify(model)
    assert type(model.classifier) is nn.Linear and type(model.features[3]) is nn.Conv2d
    assert not hasattr(model.classifier, "last_forward_weight")
    assert list(model.state_dict()) == keys
    torch.testing.assert_close(model(x), y)


def test_record_false_keeps_no_weights():
    layer = ts.sparsify(nn.Linear(8, 8), 2, 4, record=False)
    layer(torch.randn(2, 8)).sum().backward()
    assert layer.last_forward_weight is None and layer.last_backward_weight is None


def test_subclasses_and_attention_stay_dense_with_a_warning():
    class MyLinear(nn.Linear):
        pass

    model = nn.Sequential(MyLinear(8, 8), nn.Linear(8, 8))
    with pytest.warns(UserWarning, match="0: MyLinear"):
        ts.sparsify(model, 2, 4)
    assert type(model[0]) is MyLinear and isinstance(model[1], ts.NMLinear)
    attn = nn.Module()
    attn.mha = nn.MultiheadAttention(8, 2)
    with pytest.warns(UserWarning, match="mha: nn.MultiheadAttention"):
        ts.sparsify(attn, 2, 4)
    assert not isinstance(attn.mha.out_proj, ts.NMLinear)


# --------------------------------------------------------------------------- errors


def _named(*layers):
    model = nn.Module()
    model.features = nn.Sequential(*layers)
    return model


@pytest.mark.parametrize(("layer", "exc", "pattern"), [
    (nn.Conv2d(8, 8, 3, groups=2), ValueError, r"features\.0: .*groups = 2"),
    (nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect"), ValueError,
     r"features\.0: .*'reflect'"),
])
def test_unsupported_conv_names_the_layer(layer, exc, pattern):
    model = _named(layer)
    with pytest.raises(exc, match=pattern):
        ts.sparsify(model, 2, 4)
    assert type(model.features[0]) is nn.Conv2d  # untouched


def test_short_grouped_dims_with_pad_none_name_the_layer_and_value():
    model = _named(nn.Linear(8, 8), nn.Linear(3, 8))
    with pytest.raises(ValueError, match=r"features\.1 \(in_features\): .*length 3 .*m = 4"):
        ts.sparsify(model, 2, 4, pad="none")
    assert type(model.features[0]) is nn.Linear  # nothing changed before the error
    model = _named(nn.Conv2d(8, 2, 3))
    with pytest.raises(ValueError, match=r"features\.0 \(out_channels\): .*length 2"):
        ts.sparsify(model, 1, 4, pad="none")
    ts.sparsify(model, 1, 4, pad="none", mode="forward")  # out_channels unused by forward
    ts.sparsify(_named(nn.Linear(3, 8)), 2, 4, pad="zero")  # padding makes it fine


def test_non_float_weight_names_layer_and_dtype():
    layer = nn.Linear(4, 4)
    layer.weight = nn.Parameter(torch.zeros(4, 4, dtype=torch.int32), requires_grad=False)
    with pytest.raises(TypeError, match=r"features\.0: weight dtype torch\.int32"):
        ts.sparsify(_named(layer), 2, 4)


@pytest.mark.parametrize(("n", "m", "pattern"), [
    (3, 3, "m = 3"), (4, 4, "n = 4"), (0, 8, "n = 0"), (2.0, 4, "n = 2.0 must be an integer")])
def test_bad_n_m_names_the_layer(n, m, pattern):
    with pytest.raises(ValueError, match=rf"features\.0: {pattern}"):
        ts.sparsify(_named(nn.Linear(8, 8)), n, m)


def test_bad_configuration():
    model = _named(nn.Linear(8, 8))
    with pytest.raises(ValueError, match="mode = 'both'"):
        ts.sparsify(model, 2, 4, mode="both")
    with pytest.raises(ValueError, match="decay = -1"):
        ts.sparsify(model, 2, 4, decay=-1)
    with pytest.raises(ValueError, match="pad = 'same'"):
        ts.sparsify(model, 2, 4, pad="same")
    with pytest.raises(ValueError, match="skip names no module"):
        ts.sparsify(model, 2, 4, skip=["features.9"])
    lazy = _named(nn.LazyLinear(4))
    with pytest.raises(ValueError, match=r"features\.0: .*not initialised"):
        ts.sparsify(lazy, 2, 4)


def test_nan_weight_at_forward_names_the_layer():
    model = ts.sparsify(_named(nn.Linear(8, 8)), 2, 4)
    with torch.no_grad():
        model.features[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"features\.0: .*NaN"):
        model.features(torch.randn(1, 8))


# --------------------------------------------------------------------------- export


def test_export_sparse():
    torch.manual_seed(17)
    model = ts.sparsify(Net(), 2, 8, skip=["features.0"])
    out = ts.export_sparse(model)
    assert set(out) == {"features.3", "classifier"}
    for path, entry in out.items():
        w = model.get_submodule(path).weight.detach().numpy()
        assert (entry["n"], entry["m"], entry["mode"], entry["shape"]) == (2, 8, "bdwp", w.shape)
        row, col = entry["mask_rowwise"], entry["mask_colwise"]
        assert row.dtype == bool and row.shape == w.shape
        np.testing.assert_array_equal(row, nm.mask_rowwise(w, 2, 8))
        np.testing.assert_array_equal(col, nm.mask_colwise(w, 2, 8))
        fwd, bwd = entry["forward"], entry["backward"]
        assert (fwd.axis, bwd.axis) == (1, 0)
        assert fwd.indices.dtype == np.uint8
        np.testing.assert_array_equal(fwd.decompress(), w * row)
        np.testing.assert_array_equal(bwd.decompress(), w * col)
    torch_row = ts.mask_rowwise(model.classifier.weight, 2, 8).numpy()
    np.testing.assert_array_equal(out["classifier"]["mask_rowwise"], torch_row)
    half = ts.export_sparse(model, value_dtype=np.float16)
    assert half["classifier"]["forward"].values.dtype == np.float16
    np.testing.assert_array_equal(half["classifier"]["mask_rowwise"], torch_row)
    with pytest.raises(ValueError, match="quantise"):
        ts.export_sparse(model, value_dtype=np.int8)
    with pytest.raises(ValueError, match="no NM layer"):
        ts.export_sparse(Net())


# --------------------------------------------------------------------------- CUDA


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(18)
    for (n, m), axis in itertools.product(NM_PAIRS, (0, 1, -1)):
        w = tie_heavy(rng, (33, 40, 3))
        for dtype in (torch.float64, torch.float32, torch.float16):
            got = ts.mask(torch.from_numpy(w).to(dtype).cuda(), n, m, axis=axis)
            assert got.is_cuda
            np.testing.assert_array_equal(got.cpu().numpy(), nm.mask(w, n, m, axis=axis))
    torch.manual_seed(18)
    cpu = ts.sparsify(Net().double(), 2, 4)
    gpu = ts.sparsify(_copy(cpu).cuda(), 2, 4)
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    for model, xi in ((cpu, x), (gpu, x.cuda())):
        model(xi).sum().backward()
    for (name, a), b in zip(cpu.named_parameters(), gpu.parameters(), strict=True):
        torch.testing.assert_close(b.grad.cpu(), a.grad, rtol=1e-10, atol=1e-10, msg=name)
    assert torch.equal(gpu.classifier.last_backward_weight.cpu(),
                       cpu.classifier.last_backward_weight)


# --------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_torch_mask_equals_numpy_mask_exhaustive():
    rng = np.random.default_rng(19)
    pairs = [(n, m) for m in (2, 4, 8, 16, 32) for n in range(1, m)]
    for (n, m), hi in itertools.product(pairs, (0, 1, 3)):
        w = tie_heavy(rng, (7, 3 * m + 5, 4), hi)
        for axis in range(3):
            got = ts.mask(torch.from_numpy(w), n, m, axis=axis).numpy()
            np.testing.assert_array_equal(got, nm.mask(w, n, m, axis=axis))
        wi = rng.integers(-128, 128, size=(5, 2 * m + 3)).astype(np.int8)
        got = ts.mask(torch.from_numpy(wi), n, m, axis=1).numpy()
        np.testing.assert_array_equal(got, nm.mask(wi, n, m, axis=1))


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_training_reduces_the_loss(mode):
    torch.manual_seed(20)
    x = torch.randn(256, 16)
    target = (x @ torch.randn(16, 4)).argmax(1)
    model = ts.sparsify(nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)), 2, 4,
                        mode=mode)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(150):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.slow
def test_accuracy_benchmark_smoke(tmp_path):
    pytest.importorskip("sklearn")
    out = tmp_path / "table.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bdwp_accuracy.py"), "--seeds", "1",
         "--epochs", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    table = out.read_text()
    for label in ("dense", "forward 2:4", "BDWP 2:8"):
        assert label in table
    assert "±" in proc.stdout
