"""The ASIC's golden functions (sim/pimgpt/asic.py) against float64 maths and hand cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sparseforge.sim.pim.fp import bits_to_f32, f32_bits
from sparseforge.sim.pimgpt import asic

REL = 2.0 ** -22  # about 2 ulp of FP32


def test_constants_are_the_nearest_fp32_of_their_real_numbers():
    real = {"LOG2E": 1 / math.log(2), "LN2_HI": 0.693359375, "C2": 1 / 2, "C3": 1 / 6,
            "C4": 1 / 24, "C5": 1 / 120, "C6": 1 / 720, "C7": 1 / 5040, "CLAMP": 104.0,
            "SQRT_2_OVER_PI": math.sqrt(2 / math.pi), "GELU_A": 0.044715,
            "LN2_LO": math.log(2) - 0.693359375}
    for name, value in real.items():
        assert asic.CONSTANTS[name] == int(np.float32(value).view(np.uint32)), name
    # LN2_HI has 9 significant bits, so k * LN2_HI is exact for |k| < 2^15
    m = asic.CONSTANTS["LN2_HI"] & 0x7FFFFF
    assert m & ((1 << 15) - 1) == 0


def test_exp_accuracy_and_edges():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(-87, 88.5, 50000), rng.uniform(-1, 1, 10000)])
    x = x.astype(np.float32)
    got = asic.exp(x).astype(np.float64)
    want = np.exp(x.astype(np.float64))
    keep = want >= 2.0 ** -126
    assert np.max(np.abs(got[keep] / want[keep] - 1)) < REL
    assert float(asic.exp(np.float32(0.0))) == 1.0
    edge = np.array([np.inf, -np.inf, 89.0, 200.0, -88.0, -200.0, -0.0], np.float32)
    out = asic.exp(edge)
    assert out[0] == np.inf and out[1] == 0 and out[2] == np.inf and out[3] == np.inf
    assert out[4] == 0 and out[5] == 0  # e^-88 < 2^-126: flushed
    assert out[6] == 1.0
    assert int(f32_bits(asic.exp(np.float32(np.nan)))) == 0x7FC00000


def test_recip_and_rsqrt_accuracy_and_edges():
    rng = np.random.default_rng(2)
    mag = np.exp(rng.uniform(-86, 86, 50000)).astype(np.float32)
    sign = np.where(rng.uniform(size=50000) < 0.5, -1, 1).astype(np.float32)
    x = mag * sign
    r = asic.recip(x).astype(np.float64)
    assert np.max(np.abs(r * x.astype(np.float64) - 1)) < REL
    s = asic.rsqrt(mag).astype(np.float64)
    assert np.max(np.abs(s * np.sqrt(mag.astype(np.float64)) - 1)) < REL
    edge = np.array([0.0, -0.0, np.inf, -np.inf, 2.0 ** 127, 1e-40], np.float32)
    r = asic.recip(edge)
    assert r[0] == np.inf and r[1] == -np.inf and f32_bits(r[2]) == 0
    assert f32_bits(r[3]) == 0x80000000
    assert r[4] == 0  # 2^-127 is below the normal range: flushed
    assert r[5] == np.inf  # 1e-40 is subnormal: read as +0
    s = asic.rsqrt(np.array([0.0, np.inf, -1.0, -np.inf, 4.0, 2.0 ** -126], np.float32))
    assert s[0] == np.inf and s[1] == 0 and np.isnan(s[2]) and np.isnan(s[3])
    assert abs(float(s[4]) - 0.5) <= 2 ** -24 and abs(float(s[5]) / 2.0 ** 63 - 1) < REL


def test_gelu_follows_the_tanh_form():
    rng = np.random.default_rng(4)
    x = rng.uniform(-10, 10, 50000).astype(np.float32)
    xd = x.astype(np.float64)
    tanh_form = 0.5 * xd * (1 + np.tanh(math.sqrt(2 / math.pi) * (xd + 0.044715 * xd ** 3)))
    got = asic.gelu(x).astype(np.float64)
    assert np.max(np.abs(got - tanh_form) / np.maximum(1, np.abs(tanh_form))) < 1e-6
    erf_form = 0.5 * xd * (1 + np.array([math.erf(v / math.sqrt(2)) for v in xd]))
    assert np.max(np.abs(got - erf_form)) < 1e-3  # the tanh approximation itself
    assert asic.gelu(np.float32(np.inf)) == np.inf
    # large x: x * recip(1), and recip(1) is one ulp below 1
    assert abs(float(asic.gelu(np.float32(300))) - 300) <= 300 * 2.0 ** -23
    # very negative x: exp(-2u) overflows, recip(inf) = 0, so GELU is -0, not x * 2^-24
    big = asic.gelu(np.array([-1e10, -3e38, -100.0], np.float32))
    assert (f32_bits(big) == 0x80000000).all()


def test_reduce_sum_adds_lane_by_lane_then_as_a_tree():
    # lanes = 2: lane 0 = 1e8 + -1e8 = 0, lane 1 = 1 + 1 = 2 -> 2; a running sum in index
    # order would give ((1e8 + 1) - 1e8) + 1 = 1 (1e8 + 1 rounds to 1e8 in FP32)
    x = np.array([1e8, 1.0, -1e8, 1.0], np.float32)
    assert float(asic.reduce_sum(x, 2)) == 2.0
    assert float(asic.reduce_sum(x, 1)) == 1.0
    # lanes = 4: the tree adds (1e8 + 1) + (-1e8 + 1) = 1e8 + -1e8 = 0
    assert float(asic.reduce_sum(x, 4)) == 0.0
    # a length that is not a multiple of the lanes is padded with +0
    assert float(asic.reduce_sum(np.array([1, 2, 3], np.float32), 4)) == 6.0


def test_softmax_and_layernorm_match_float64():
    rng = np.random.default_rng(6)
    s = (rng.standard_normal((5, 77)) * 4).astype(np.float32)
    p = asic.softmax(s, 16).astype(np.float64)
    e = np.exp(s - s.max(-1, keepdims=True))
    want = e / e.sum(-1, keepdims=True)
    assert np.max(np.abs(p - want) / want) < 1e-5
    x = (rng.standard_normal((3, 96)) * 3 + 1).astype(np.float32)
    g = rng.uniform(0.5, 1.5, 96).astype(np.float32)
    b = rng.standard_normal(96).astype(np.float32)
    y = asic.layernorm(x, g, b, 1e-5, 16).astype(np.float64)
    xd = x.astype(np.float64)
    mu = xd.mean(-1, keepdims=True)
    want = (xd - mu) / np.sqrt(((xd - mu) ** 2).mean(-1, keepdims=True) + 1e-5) * g + b
    assert np.max(np.abs(y - want)) < 2e-5


@pytest.mark.parametrize("fn", [asic.exp, asic.recip, asic.rsqrt, asic.gelu])
def test_nan_in_nan_out(fn):
    nans = bits_to_f32(np.array([0x7FC00000, 0xFFC00001, 0x7F800001], np.uint32))
    assert (f32_bits(fn(nans)) == 0x7FC00000).all()
