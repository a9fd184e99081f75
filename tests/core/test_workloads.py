"""Training workloads: GEMM lowering rules and MAC counts against published figures."""

import json

import numpy as np
import pytest

from sparseforge.cli import main
from sparseforge.workloads import ConvLayer, Gemm, LinearLayer, get_workload, workload_names

# Forward MACs per image / sequence as published (torchvision / timm model cards,
# the BERT paper's parameter count x 128 tokens + attention products).
PUBLISHED_FORWARD_GMACS = {
    "resnet18": 1.82, "resnet50": 4.09, "vgg16": 15.47, "vit_b16": 17.56, "deit_s": 4.6,
    "bert_base": 11.2,
}


@pytest.mark.parametrize(("name", "gmacs"), sorted(PUBLISHED_FORWARD_GMACS.items()))
def test_forward_macs_match_published(name, gmacs):
    wl = get_workload(name, batch=1)
    assert wl.macs()["FF"] / 1e9 == pytest.approx(gmacs, rel=0.01)


def test_linear_lowering():
    g = LinearLayer("fc", 300, 40, tokens=7).gemms(batch=3)
    assert g == [
        Gemm("fc", "FF", 21, 300, 40, 1, "rowwise", 300),
        Gemm("fc", "BP", 21, 40, 300, 1, "colwise", 40),
        Gemm("fc", "WU", 40, 21, 300, 1, None, 21),
    ]


def test_conv_lowering_im2col():
    conv = ConvLayer("c", cin=64, cout=128, kernel=3, stride=2, padding=1, in_h=56, in_w=56)
    assert (conv.out_h, conv.out_w) == (28, 28)
    ff, *bp, wu = conv.gemms(batch=2)
    assert (ff.m, ff.k, ff.n, ff.sparse, ff.group_len) == (2 * 28 * 28, 9 * 64, 128, "rowwise", 64)
    # stride 2: four phases of the 56x56 input, reached by 2x2, 2x1, 1x2 and 1x1 taps
    assert [(g.m, g.k, g.n, g.count, g.sparse, g.group_len) for g in bp] == [
        (2 * 28 * 28, 4 * 128, 64, 1, "colwise", 128),
        (2 * 28 * 28, 2 * 128, 64, 2, "colwise", 128),
        (2 * 28 * 28, 1 * 128, 64, 1, "colwise", 128),
    ]
    assert sum(g.macs for g in bp) == ff.macs
    assert (wu.m, wu.k, wu.n, wu.sparse) == (128, 2 * 28 * 28, 9 * 64, None)
    assert ff.sparse_groups(8) == 9 * 8
    odd = ConvLayer("c", cin=20, cout=8, kernel=3, stride=1, padding=1, in_h=8, in_w=8)
    assert odd.gemms(1)[0].sparse_groups(8) == 9 * 3  # each 20-channel run padded to 24


def test_first_layer_has_no_input_gradient_and_stays_dense():
    for name in ("resnet18", "resnet50", "vgg16", "vit_b16"):
        gemms = get_workload(name).gemms()
        first = [g for g in gemms if g.layer == gemms[0].layer]
        assert [g.phase for g in first] == ["FF", "WU"]
        assert all(g.sparse is None for g in first)


def test_every_step_has_ff_and_wu_per_weight_layer_and_sparse_only_on_b():
    wl = get_workload("resnet50")
    for g in wl.gemms():
        if g.phase == "WU":
            assert g.sparse is None
        if g.sparse == "rowwise":
            assert g.phase == "FF"
        if g.sparse == "colwise":
            assert g.phase == "BP"
        assert g.k % g.group_len == 0


def test_batch_scales_macs_linearly():
    one, eight = get_workload("bert_base", 1).macs(), get_workload("bert_base", 8).macs()
    assert eight["total"] == 8 * one["total"]
    with pytest.raises(ValueError, match="batch = 0"):
        get_workload("bert_base", 0)


def test_unknown_workload():
    with pytest.raises(KeyError, match="known workloads: bert_base"):
        get_workload("alexnet")


def test_cli_workloads_json(capsys):
    assert main(["workloads", "--json", "--batch", "2"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = {w["name"] for w in data}
    assert {"resnet18", "resnet50", "vgg16", "vit_b16", "bert_base"} <= names
    for w in data:
        assert w["batch"] == 2
        assert w["macs"]["total"] == sum(g["macs"] for g in w["gemms"])
        assert {g["phase"] for g in w["gemms"]} == {"FF", "BP", "WU"}
    assert sorted(names) == workload_names()


def test_cli_workload_errors(capsys):
    assert main(["workloads", "show", "alexnet"]) == 2
    assert "unknown workload 'alexnet'" in capsys.readouterr().err


def _input_grad_by_phases(dy, w, stride, padding, in_h, in_w):
    """dX of a conv as one GEMM per stride phase; returns dX and the (m, k) of each GEMM."""
    batch, cout, out_h, out_w = dy.shape
    _, cin, kernel, _ = w.shape
    dx = np.zeros((batch, cin, in_h, in_w))
    shapes = []
    for py in range(stride):
        for px in range(stride):
            taps = [(r, c) for r in range(kernel) for c in range(kernel)
                    if (py + padding - r) % stride == 0 and (px + padding - c) % stride == 0]
            pixels = [(i, j) for i in range(py, in_h, stride) for j in range(px, in_w, stride)]
            if not taps or not pixels:
                continue
            # A[(b, i, j), (tap, cout)] = dY[b, cout, o] at o = (i + p - r) / s, zero outside
            a = np.zeros((batch, len(pixels), len(taps), cout))
            for q, (i, j) in enumerate(pixels):
                for t, (r, c) in enumerate(taps):
                    oy, ox = (i + padding - r) // stride, (j + padding - c) // stride
                    if 0 <= oy < out_h and 0 <= ox < out_w:
                        a[:, q, t, :] = dy[:, :, oy, ox]
            b = np.stack([w[:, :, r, c] for r, c in taps])        # [(tap, cout), cin]
            a = a.reshape(batch * len(pixels), len(taps) * cout)
            res = (a @ b.reshape(len(taps) * cout, cin)).reshape(batch, len(pixels), cin)
            for q, (i, j) in enumerate(pixels):
                dx[:, :, i, j] = res[:, q, :]
            shapes.append((batch * len(pixels), len(taps) * cout))
    return dx, shapes


@pytest.mark.parametrize(("kernel", "stride", "padding", "size"),
                         [(3, 1, 1, 6), (3, 2, 1, 8), (1, 2, 0, 8), (3, 2, 1, 7), (7, 2, 3, 9),
                          (5, 1, 2, 5), (4, 4, 0, 8), (3, 3, 0, 10)])
def test_conv_input_grad_phase_gemms_compute_dx(kernel, stride, padding, size):
    """The BP lowering's phase GEMMs, run numerically, give the definition's dX exactly."""
    rng = np.random.default_rng(kernel * 100 + stride * 10 + size)
    conv = ConvLayer("c", cin=3, cout=4, kernel=kernel, stride=stride, padding=padding,
                     in_h=size, in_w=size)
    batch = 2
    dy = rng.integers(-5, 6, (batch, 4, conv.out_h, conv.out_w)).astype(float)
    w = rng.integers(-5, 6, (4, 3, kernel, kernel)).astype(float)
    # definition: y[o] = sum_r x[o*s + r - p] w[r]  =>  dx[o*s + r - p] += dy[o] w[r]
    ref = np.zeros((batch, 3, size, size))
    for oy in range(conv.out_h):
        for ox in range(conv.out_w):
            for r in range(kernel):
                for c in range(kernel):
                    i, j = oy * stride + r - padding, ox * stride + c - padding
                    if 0 <= i < size and 0 <= j < size:
                        ref[:, :, i, j] += dy[:, :, oy, ox] @ w[:, :, r, c]
    dx, shapes = _input_grad_by_phases(dy, w, stride, padding, size, size)
    np.testing.assert_array_equal(dx, ref)
    bp = [g for g in conv.gemms(batch) if g.phase == "BP"]
    lowered = sorted((g.m, g.k) for g in bp for _ in range(g.count))
    assert lowered == sorted(shapes)
    assert all(g.n == 3 and g.group_len == 4 and g.k % 4 == 0 for g in bp)
