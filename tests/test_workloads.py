"""Training workloads: GEMM lowering rules and MAC counts against published figures."""

import json

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
    ff, bp, wu = conv.gemms(batch=2)
    assert (ff.m, ff.k, ff.n, ff.sparse, ff.group_len) == (2 * 28 * 28, 9 * 64, 128, "rowwise", 64)
    assert (bp.m, bp.k, bp.n, bp.sparse, bp.group_len) == (2 * 28 * 28, 128, 9 * 64, "colwise", 128)
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
