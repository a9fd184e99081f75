"""HLS C-simulation runner: licence rule, g++ builds and their cache, runs, trip counts.

The ap_fixed program is rendered through :class:`HlsDesign` and checked bit-exact
against :class:`sparseforge.formats.FixedFormat` arithmetic written from the maths.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sparseforge.errors import ConfigError
from sparseforge.formats import ap_fixed
from sparseforge.hwgen.hls import HlsDesign
from sparseforge.sim.lib import csim
from sparseforge.toolchain import ToolNotFound

APACHE = textwrap.dedent("""\
    /*
     * Copyright 2011-2019 Example Corp.
     *
     * Licensed under the Apache License, Version 2.0 (the "License");
     * you may not use this file except in compliance with the License.
     */
    """)
WRAPPED_APACHE = "// Licensed under the Apache\n//   License, Version\n// 2.0 (the License)\n"
PROPRIETARY = "/* This file contains confidential and proprietary information of Example. */\n"


def fake_folder(root: Path, **headers: str) -> Path:
    """An ap_types folder with valid ap_int.h / ap_fixed.h unless overridden
    (keyword ``etc__x_h`` is ``etc/x.h``)."""
    files = {"ap_int.h": APACHE + '#include "ap_common.h"\n', "ap_common.h": APACHE,
             "ap_fixed.h": APACHE + "#include <ap_int.h>\n"}
    files.update({k.replace("__", "/").replace("_h", ".h"): v for k, v in headers.items()})
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def real_ap_types() -> Path:
    try:
        return csim.check_ap_headers().folder
    except ToolNotFound as error:
        pytest.skip(f"hls4ml's ap_types are not installed: {error}")


def need_gxx():
    if shutil.which("g++") is None:
        pytest.skip("g++ is not on PATH")
    real_ap_types()


# --------------------------------------------------------------------------- licence rule


def test_licence_rule_accepts_apache_headers_and_drops_others(tmp_path):
    folder = fake_folder(tmp_path, ap_extra_h=APACHE + PROPRIETARY, ap_plain_h="// none\n",
                         etc__ap_private_h=WRAPPED_APACHE, hls_math_h=APACHE)
    check = csim.check_ap_headers(folder)
    assert sorted(check.accepted) == ["ap_common.h", "ap_fixed.h", "ap_int.h",
                                      "etc/ap_private.h"]
    assert check.refused == {
        "ap_extra.h": "carries a proprietary notice ('confidential and proprietary')",
        "ap_plain.h": "carries no Apache-2.0 notice "
                      "('Licensed under the Apache License, Version 2.0')",
        "hls_math.h": "is not an ap_int / ap_fixed header (not used)",
    }


@pytest.mark.parametrize(("header", "text", "why"), [
    ("ap_fixed_h", APACHE + PROPRIETARY, "proprietary notice"),
    ("ap_int_h", "// Copyright Example.\n#include <ap_common.h>\n", "no Apache-2.0 notice"),
    ("ap_common_h", "/* no notice */\n", "no Apache-2.0 notice"),  # needed by ap_int.h
])
def test_licence_rule_refuses_a_needed_header(tmp_path, header, text, why):
    folder = fake_folder(tmp_path, **{header: text})
    with pytest.raises(csim.LicenceError, match=why) as err:
        csim.check_ap_headers(folder)
    assert header.replace("_h", ".h") in str(err.value)
    # a build never gets as far as the compiler
    with pytest.raises(csim.LicenceError):
        csim.build({"tb.cpp": "int main() { return 0; }\n"}, tmp_path / "build",
                   ap_types=folder)


def test_licence_rule_needs_ap_int_and_ap_fixed(tmp_path):
    (tmp_path / "ap_int.h").write_text(APACHE)
    with pytest.raises(ToolNotFound, match="lacks ap_fixed.h.*pip install hls4ml"):
        csim.check_ap_headers(tmp_path)


def test_licence_rule_on_the_hls4ml_headers():
    check = csim.check_ap_headers(real_ap_types())
    for header in ("ap_int.h", "ap_fixed.h", "ap_common.h", "ap_fixed_base.h",
                   "etc/ap_private.h"):
        assert header in check.accepted
    for header in ("hls_stream.h", "ap_shift_reg.h"):
        assert "proprietary notice" in check.refused[header]
    for header in ("hls_math.h", "ap_float.h"):
        assert "no Apache-2.0 notice" in check.refused[header]


# --------------------------------------------------------------------------- pure Python


def test_parse_tripcounts():
    assert csim.parse_tripcounts("attn_row 192\n\nlinear_k 0\n") == {"attn_row": 192,
                                                                     "linear_k": 0}
    with pytest.raises(csim.CsimRunError, match=r"line 2: 'oops'"):
        csim.parse_tripcounts("a 1\noops\n")
    with pytest.raises(csim.CsimRunError, match="line 2: label 'a' appears twice"):
        csim.parse_tripcounts("a 1\na 2\n")
    with pytest.raises(csim.CsimRunError, match="non-negative integer"):
        csim.parse_tripcounts("a -1\n")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"sources": {"../tb.cpp": "int main(){}"}}, "source name '../tb.cpp'"),
    ({"sources": {"tb.h": "int x;"}}, "no translation unit"),
    ({"sources": {"hls_stream.h": "", "tb.cpp": ""}}, "sparseforge's own"),
    ({"defines": {"N; rm": 1}}, "define name"),
    ({"defines": {"N": "1 -o /etc/x"}}, "define N = "),
    ({"opt_level": "fast"}, "opt_level = 'fast'"),
    ({"std": "c++98"}, r"std = 'c\+\+98'"),
])
def test_build_refuses_bad_options(tmp_path, kwargs, match):
    args = {"sources": {"tb.cpp": "int main() { return 0; }\n"}} | kwargs
    with pytest.raises(ConfigError, match=match):
        csim.build(args.pop("sources"), tmp_path, **args)


# --------------------------------------------------------------------------- ap_fixed

N_VALUES = 384
GROUP = 8
ACT = ap_fixed(32, 10)                     # activations: TRN, WRAP
ACC = ap_fixed(40, 12)                     # accumulator: 28 fraction bits, TRN, WRAP
OUT = ap_fixed(16, 4, "AP_RND", "AP_SAT")  # rounded, saturated output
TABLE = [0, 1, -5, 2**31 - 1, 2**31, -(2**31), 2**40 + 3, 2**63 - 1, -(2**63)]

AP_TEMPLATE = """\
#include <cstdint>
#include <vector>
#include "ap_fixed.h"
#include "sf_csim_io.h"

typedef {{ act }} act_t;
typedef {{ acc }} acc_t;
typedef {{ out }} out_t;

static const long long table[{{ table | length }}] = {{ table | cpp_raw_table(4) }};

template <int W, class T> static uint64_t bits(const T& v) {
  ap_uint<W> b = v.range(W - 1, 0);
  return b.to_uint64();
}

template <class T> static T from_raw(int32_t raw) {
  T v;
  v.range() = raw;
  return v;
}

void {{ top }}(const act_t* a, const act_t* b, uint64_t* prod, uint64_t* sum, uint64_t* dot,
         uint64_t* rnd_prod, uint64_t* rnd_a) {
  for (int i = 0; i < {{ n }}; ++i) {
    act_t p = a[i] * b[i];                 // exact product, truncated and wrapped
    act_t s = a[i] + b[i];                 // wraps
    out_t r = a[i] * b[i];                 // AP_RND, AP_SAT
    out_t q = a[i];
    prod[i] = bits<{{ act.width }}>(p);
    sum[i] = bits<{{ act.width }}>(s);
    rnd_prod[i] = bits<{{ out.width }}>(r);
    rnd_a[i] = bits<{{ out.width }}>(q);
    SF_TRIP(elementwise);
  }
  for (int g = 0; g < {{ n // group }}; ++g) {
    acc_t acc = 0;
    for (int k = 0; k < {{ group }}; ++k) {
      acc += a[g * {{ group }} + k] * b[g * {{ group }} + k];
      SF_TRIP(dot_k);
    }
    dot[g] = bits<{{ acc.width }}>(acc);
  }
}

int main(int argc, char** argv) {
  sf::init(argc, argv);
  std::vector<int32_t> ra = sf::read_array<int32_t>("a", {{ n }});
  std::vector<int32_t> rb = sf::read_array<int32_t>("b", {{ n }});
  std::vector<act_t> a, b;
  for (int i = 0; i < {{ n }}; ++i) {
    a.push_back(from_raw<act_t>(ra[i]));
    b.push_back(from_raw<act_t>(rb[i]));
  }
  std::vector<uint64_t> prod({{ n }}), sum({{ n }}), dot({{ n // group }}), rp({{ n }}),
      ra_out({{ n }});
  {{ top }}(a.data(), b.data(), prod.data(), sum.data(), dot.data(), rp.data(), ra_out.data());
  sf::write_array("prod", prod);
  sf::write_array("sum", sum);
  sf::write_array("dot", dot);
  sf::write_array("rnd_prod", rp);
  sf::write_array("rnd_a", ra_out);
  sf::write_array("table", table, {{ table | length }});
  return 0;
}
"""


@pytest.fixture(scope="module")
def ap_program(tmp_path_factory):
    need_gxx()
    root = tmp_path_factory.mktemp("hls_templates")
    (root / "hls" / "apcheck").mkdir(parents=True)
    (root / "hls" / "apcheck" / "tb.cpp.j2").write_text(AP_TEMPLATE)
    files = HlsDesign("apcheck", ["tb.cpp.j2"], top="mac_check", template_root=root,
                      context={"act": ACT, "acc": ACC, "out": OUT, "n": N_VALUES,
                               "group": GROUP, "table": TABLE}).render()
    return csim.build(files, tmp_path_factory.mktemp("ap_build"), opt_level=1)


def ap_inputs(rng):
    """Raw int32 values: full-range (products overflow act_t and saturate out_t),
    small ones (where rounding matters) and the edges."""
    full = rng.integers(ACT.min_raw, ACT.max_raw, N_VALUES, endpoint=True)
    small = rng.integers(-(1 << 23), 1 << 23, N_VALUES)
    pick = rng.random(N_VALUES) < 0.5
    values = np.where(pick, full, small)
    values[:4] = [ACT.min_raw, ACT.max_raw, 0, -1]
    return values.astype(np.int32)


@pytest.mark.slow
def test_ap_fixed_arithmetic_matches_fixedformat_bit_exact(ap_program, tmp_path):
    rng = np.random.default_rng(20250611)
    a, b = ap_inputs(rng), ap_inputs(rng)
    n, g = N_VALUES, N_VALUES // GROUP
    result = csim.run(ap_program, {"a": a, "b": b},
                      {"prod": (np.uint64, n), "sum": (np.uint64, n), "dot": (np.uint64, g),
                       "rnd_prod": (np.uint64, n), "rnd_a": (np.uint64, n),
                       "table": (np.int64, len(TABLE))}, run_dir=tmp_path)
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    product = a64 * b64                                  # exact: 2 * 22 = 44 fraction bits
    f_prod = 2 * ACT.frac_bits
    expected_prod = ACT.requantize(product, f_prod)
    expected_sum = ACT.requantize(a64 + b64, ACT.frac_bits)
    # acc += a*b: the product is first brought into acc_t, then the sum wraps in acc_t
    terms = ACC.requantize(product, f_prod).reshape(g, GROUP)
    acc = np.zeros(g, dtype=np.int64)
    for k in range(GROUP):
        acc = ACC.requantize(acc + terms[:, k], ACC.frac_bits)
    assert np.array_equal(ACT.from_bits(result["prod"]), expected_prod)
    assert np.array_equal(ACT.from_bits(result["sum"]), expected_sum)
    assert np.array_equal(ACC.from_bits(result["dot"]), acc)
    assert np.array_equal(OUT.from_bits(result["rnd_prod"]), OUT.requantize(product, f_prod))
    assert np.array_equal(OUT.from_bits(result["rnd_a"]), OUT.requantize(a64, ACT.frac_bits))
    assert result["table"].tolist() == TABLE            # cpp_int literals, through g++
    # the test exercises what it claims: wrap and saturation both happen
    assert (expected_prod != np.clip(product >> 22, ACT.min_raw, ACT.max_raw)).any()
    assert (OUT.requantize(product, f_prod) == OUT.max_raw).any()
    assert result.tripcounts == {"dot_k": N_VALUES, "elementwise": N_VALUES}


# --------------------------------------------------------------------------- stream shim

STREAM_TB = """\
#include <cstdint>
#include <cstring>
#include "hls_stream.h"
#include "sf_csim_io.h"

int main(int argc, char** argv) {
  sf::init(argc, argv);
  std::vector<int32_t> x = sf::read_array<int32_t>("x", COUNT);
  hls::stream<int32_t> s("fifo_a");
  hls::stream<int32_t, 4> t;
  for (int i = 0; i < COUNT; ++i) {
    if (i % 2) s << x[i]; else s.write(x[i]);
    SF_TRIP(push);
  }
  std::vector<int32_t> y;
  int32_t status = (int32_t)s.size() * 100 + (s.full() ? 10 : 0) + (t.empty() ? 1 : 0);
  while (!s.empty()) {
    int32_t v;
    if (y.size() % 3 == 0) v = s.read();
    else if (y.size() % 3 == 1) s >> v;
    else s.read(v);
    y.push_back(v);
    SF_TRIP(pop);
  }
  int32_t v = 7;
  status += s.read_nb(v) ? 1000 : 0;        // empty: false, v untouched
  status += t.write_nb(v) && t.read_nb(v) && v == 7 ? 5000 : 0;
  y.push_back(status);
  sf::write_array("y", y);
  if (argc > 2 && std::strcmp(argv[2], "underflow") == 0) s.read();
  return 0;
}
"""


@pytest.fixture(scope="module")
def stream_program(tmp_path_factory):
    need_gxx()
    return csim.build({"stream_tb.cpp": STREAM_TB}, tmp_path_factory.mktemp("stream"),
                      defines={"COUNT": 10}, opt_level="0")


@pytest.mark.slow
def test_stream_shim_is_a_fifo_and_trip_counts_come_back(stream_program):
    x = np.arange(100, 110, dtype=np.int32)[::-1].copy()
    result = csim.run(stream_program, {"x": x}, {"y": (np.int32, 11)})
    assert result["y"][:10].tolist() == x.tolist()        # first in, first out
    assert result["y"][10] == 10 * 100 + 0 + 1 + 0 + 5000   # size, full, empty, nb ops
    assert result.tripcounts == {"pop": 10, "push": 10}


@pytest.mark.slow
def test_reading_an_empty_stream_is_reported(stream_program, tmp_path):
    with pytest.raises(csim.CsimRunError) as err:
        csim.run(stream_program, {"x": np.zeros(10, np.int32)}, {"y": (np.int32, 11)},
                 args=["underflow"], run_dir=tmp_path)
    message = str(err.value)
    assert "SIGABRT" in message
    assert "hls::stream 'fifo_a' is read while empty" in message


@pytest.mark.slow
def test_missing_or_wrong_sized_outputs_are_clear_errors(stream_program, tmp_path):
    x = np.zeros(10, np.int32)
    with pytest.raises(csim.CsimRunError, match=r"output 'z': the executable wrote no z\.bin"):
        csim.run(stream_program, {"x": x}, {"y": (np.int32, 11), "z": (np.int32, 1)},
                 run_dir=tmp_path)
    with pytest.raises(csim.CsimRunError,
                       match=r"output 'y': .* holds 44 bytes; expected 48 \(shape \(2, 6\)"):
        csim.run(stream_program, {"x": x}, {"y": (np.int32, (2, 6))}, run_dir=tmp_path)
    with pytest.raises(csim.CsimRunError, match=r"(?s)exited with status 3.*does not hold 10"):
        csim.run(stream_program, {"x": np.zeros(9, np.int32)}, {"y": (np.int32, 11)},
                 run_dir=tmp_path)


# --------------------------------------------------------------------------- cache, errors


@pytest.mark.slow
def test_build_cache_reuses_and_rebuilds(tmp_path):
    need_gxx()
    source = {"main.cpp": "#include <cstdio>\nint main() { std::printf(\"%d\\n\", N); }\n"}

    def build(**kw):
        exe = csim.build(source, tmp_path, defines={"N": kw.pop("n", 1)}, opt_level="0", **kw)
        return exe, exe.stat().st_mtime_ns, exe.stat().st_ino

    exe, mtime, inode = build()
    assert csim.run(exe).stdout == "1\n"
    assert build()[1:] == (mtime, inode)                   # same inputs: not recompiled
    assert (tmp_path / "csim.sha256").is_file()
    changed = build(n=2)                                   # a define changes: recompiled
    assert changed[1:] != (mtime, inode) and csim.run(exe).stdout == "2\n"
    source["main.cpp"] += "// a comment\n"                 # a source changes: recompiled
    assert build(n=2)[1:] != changed[1:]
    assert sorted(p.name for p in (tmp_path / "src").iterdir()) == ["main.cpp"]


@pytest.mark.slow
def test_compile_errors_carry_stderr_and_command(tmp_path):
    need_gxx()
    with pytest.raises(csim.CsimBuildError) as err:
        csim.build({"bad.cpp": "int main() { return missing_name; }\n"}, tmp_path)
    assert "missing_name" in err.value.stderr and "missing_name" in str(err.value)
    assert "-std=c++17 -O2" in str(err.value) and "src/bad.cpp" in str(err.value)
    assert err.value.command[-1].startswith("csim.tmp")
    assert not (tmp_path / "csim").exists()


@pytest.mark.slow
@pytest.mark.parametrize("header", ["hls_math.h", "ap_float.h", "ap_shift_reg.h"])
def test_headers_failing_the_licence_rule_are_not_on_the_include_path(tmp_path, header):
    need_gxx()
    with pytest.raises(csim.CsimBuildError) as err:
        csim.build({"uses.cpp": f'#include "{header}"\nint main() {{ return 0; }}\n'}, tmp_path)
    assert f"{header} is in " in str(err.value)
    assert "not on the include path" in str(err.value)
    assert not (tmp_path / "_ap_types" / header).exists()
