"""HLS C++ rendering: checked contexts, exact C++ literals, byte-identical output."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jinja2
import numpy as np
import pytest

from sparseforge.errors import ConfigError
from sparseforge.formats import ap_fixed
from sparseforge.hwgen import templating
from sparseforge.hwgen.hls import (
    COMMON_HEADERS,
    CppComment,
    CppType,
    HlsDesign,
    common_headers,
    render_hls,
)

ROOT = Path(__file__).resolve().parents[2]

TOP_TEMPLATE = """\
// {{ note }}
#include "{{ top }}.h"
{% for k in kernels %}
void {{ k.name | cpp_ident("kernel name") }}({{ k.type }}* x) {
  for (int i = 0; i < {{ k.n | cpp_int }}; ++i) x[i] += {{ k.bias | cpp_int }};
}
{% endfor %}
static const long long table[{{ table | length }}] = {{ table | cpp_raw_table(4) }};
void {{ top }}() {}
"""
HEADER_TEMPLATE = "#pragma once\ntypedef {{ act }} act_t;\nvoid {{ top }}();\n"


@pytest.fixture
def family(tmp_path):
    folder = tmp_path / "hls" / "demo"
    folder.mkdir(parents=True)
    (folder / "top.cpp.j2").write_text(TOP_TEMPLATE)
    (folder / "top.h.j2").write_text(HEADER_TEMPLATE)
    return tmp_path


def context():
    return {
        "note": CppComment("demo design */ with\na line break"),
        "act": ap_fixed(32, 10),
        "kernels": [
            {"name": "scale", "type": CppType("int"), "n": np.int64(16), "bias": -(1 << 31)},
            {"name": "shift", "type": CppType("short"), "n": 4, "bias": 1 << 40},
        ],
        "table": np.array([0, 1, -5, 2**31 - 1, 2**31, -(2**31), 2**63 - 1, -(2**63)]),
    }


def design(root, **changes):
    fields = {"family": "demo", "templates": {"src/vadd.cpp": "top.cpp.j2",
                                              "src/vadd.h": "top.h.j2"},
              "top": "vadd", "context": context(), "template_root": root}
    fields.update(changes)
    return HlsDesign(**fields)


def test_render_gives_the_exact_text(family):
    files = design(family).render()
    assert list(files) == ["src/vadd.cpp", "src/vadd.h"]
    assert files["src/vadd.h"] == "#pragma once\ntypedef ap_fixed<32,10> act_t;\nvoid vadd();\n"
    assert files["src/vadd.cpp"] == textwrap.dedent("""\
        // demo design * / with a line break
        #include "vadd.h"
        void scale(int* x) {
          for (int i = 0; i < 16; ++i) x[i] += -0x80000000LL;
        }
        void shift(short* x) {
          for (int i = 0; i < 4; ++i) x[i] += 0x10000000000LL;
        }
        static const long long table[8] = {
            0, 1, -5, 2147483647,
            0x80000000LL, -0x80000000LL, 0x7FFFFFFFFFFFFFFFLL, (-0x7FFFFFFFFFFFFFFFLL - 1),
        };
        void vadd() {}
        """)


def test_render_is_deterministic_across_processes(family):
    """Same input, byte-identical output: twice here and once in a fresh interpreter
    with another hash seed (set and dict ordering of str keys changes with it)."""
    first, second = design(family).render(), design(family).render()
    assert first == second
    code = textwrap.dedent(f"""
        import sys, json
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_hls_render import design
        from pathlib import Path
        print(json.dumps(design(Path({str(family)!r})).render()))
    """)
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, timeout=120).stdout
    import json

    assert json.loads(out) == first


def test_sequence_of_templates_renders_to_names_without_j2(family):
    files = render_hls("demo", ["top.h.j2"], top="vadd", context={"act": ap_fixed(16, 2)},
                       template_root=family)
    assert files == {"top.h": "#pragma once\ntypedef ap_fixed<16,2> act_t;\nvoid vadd();\n"}


@pytest.mark.parametrize("top", ['x; system("rm")', "int", "class", "my__top", "_top", "top_",
                                 "", "1top", "entity"])
def test_top_function_names_that_could_inject_or_clash_are_refused(family, top):
    with pytest.raises(ConfigError) as err:
        design(family, top=top).render()
    assert "top function" in str(err.value) and repr(top) in str(err.value)


@pytest.mark.parametrize(("where", "value", "field"), [
    (("kernels", 0, "name"), 'x; system("rm")', "context['kernels'][0]['name']"),
    (("kernels", 1, "name"), "int", "context['kernels'][1]['name']"),
    (("kernels", 0, "type"), "int*); system(\"rm\"); (", "context['kernels'][0]['type']"),
    (("kernels", 1, "type"), "unsigned int", "context['kernels'][1]['type']"),
])
def test_context_strings_must_be_cpp_identifiers(family, where, value, field):
    ctx = context()
    target = ctx
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    with pytest.raises(ConfigError) as err:
        design(family, context=ctx).render()
    assert field in str(err.value) and repr(value) in str(err.value)


@pytest.mark.parametrize(("value", "allowed"), [
    (1.5, "is a float"), (np.array([0.5]), "dtype float64"), (b"raw", "allowed: str"),
    (object, "allowed: str"),
])
def test_context_values_other_than_names_and_integers_are_refused(family, value, allowed):
    ctx = context() | {"extra": {"value": value}}
    with pytest.raises(ConfigError, match=allowed) as err:
        design(family, context=ctx).render()
    assert "context['extra']['value']" in str(err.value)


def test_context_keys_are_checked_and_top_is_reserved(family):
    with pytest.raises(ConfigError, match=r"context key = 'x y'"):
        design(family, context=context() | {"x y": 1}).render()
    with pytest.raises(ConfigError, match="context key 'top' is set by HlsDesign"):
        design(family, context=context() | {"top": "other"}).render()


def test_bad_family_paths_and_missing_templates(family):
    with pytest.raises(ConfigError, match="HLS family"):
        design(family, family="../demo").render()
    with pytest.raises(ConfigError, match="HLS output path '../x.cpp'"):
        design(family, templates={"../x.cpp": "top.cpp.j2"}).render()
    with pytest.raises(ConfigError, match="template name '../top.cpp.j2'"):
        design(family, templates={"x.cpp": "../top.cpp.j2"}).render()
    with pytest.raises(ConfigError, match="'hls/demo/nope.cpp.j2' .* not found"):
        design(family, templates={"x.cpp": "nope.cpp.j2"}).render()


def test_a_name_missing_from_the_context_is_an_error(family):
    ctx = context()
    del ctx["table"]
    with pytest.raises(jinja2.UndefinedError, match="table"):
        design(family, context=ctx).render()


@pytest.mark.parametrize(("value", "text"), [
    (0, "0"), (123, "123"), (-5, "-5"), (2**31 - 1, "2147483647"), (-(2**31) + 1, "-2147483647"),
    (-(2**31), "-0x80000000LL"), (2**31, "0x80000000LL"), (2**63 - 1, "0x7FFFFFFFFFFFFFFFLL"),
    (2**63, "0x8000000000000000ULL"), (2**64 - 1, "0xFFFFFFFFFFFFFFFFULL"),
    (-(2**63), "(-0x7FFFFFFFFFFFFFFFLL - 1)"), (np.uint8(200), "200"),
])
def test_cpp_int_literals(value, text):
    assert templating.cpp_int(value) == text


@pytest.mark.parametrize("value", [True, 1.0, "7", 2**64, -(2**63) - 1])
def test_cpp_int_refuses_what_is_not_a_64_bit_integer(value):
    with pytest.raises(ConfigError, match="weight"):
        templating.cpp_int(value, "weight")


def test_cpp_raw_table_layout_and_errors():
    assert templating.cpp_raw_table([]) == "{}"
    assert templating.cpp_raw_table(range(5), per_line=2, indent=2) == \
        "{\n  0, 1,\n  2, 3,\n  4,\n}"
    with pytest.raises(ConfigError, match=r"gelu\[2\] = 0.5"):
        templating.cpp_raw_table([1, 2, 0.5], field="gelu")
    with pytest.raises(ConfigError, match="flat sequence"):
        templating.cpp_raw_table(np.zeros((2, 2), dtype=int))
    with pytest.raises(ConfigError, match="per_line"):
        templating.cpp_raw_table([1], per_line=0)


def test_cpp_ident_filter_names_the_field():
    assert templating.cpp_ident("act_t") == "act_t"
    with pytest.raises(ConfigError, match=r"type name = 'int' is a reserved word of C\+\+20"):
        templating.cpp_ident("int", "type name")
    # C++ only: a VHDL word is a fine C++ name
    assert templating.cpp_ident("entity") == "entity"


def test_cpp_type_accepts_only_known_spellings():
    assert CppType("unsigned   int") == "unsigned int"
    assert CppType(ap_fixed(16, 2, "AP_RND", "AP_SAT")) == "ap_fixed<16,2,AP_RND,AP_SAT>"
    assert CppType("ap_uint<12>") == "ap_uint<12>"
    for bad in ["int; system(\"rm\")", "ap_uint<0>", "ap_int<5000>", "std::string", 3]:
        with pytest.raises(ConfigError, match="C\\+\\+ type = "):
            CppType(bad)


def test_cpp_comment_cannot_end_the_comment():
    note = CppComment("a */ b /* c\nd\\")
    assert note == "a * / b / * c d/"
    assert "\n" not in note and "*/" not in note


def test_project_emitter_and_hls_share_one_environment():
    from sparseforge.hwgen.project import emit

    assert emit.tcl_word is templating.tcl_word
    env = templating.environment()
    assert env.undefined is jinja2.StrictUndefined
    assert env.trim_blocks and env.lstrip_blocks and env.keep_trailing_newline
    assert {"tcl", "hex", "cpp_ident", "cpp_int", "cpp_raw_table"} <= set(env.filters)


def test_common_headers_are_ours_and_packaged():
    headers = common_headers()
    assert sorted(headers) == sorted(COMMON_HEADERS)
    for name, text in headers.items():
        assert text.startswith("// SPDX-License-Identifier: Apache-2.0\n"), name
        assert "proprietary" not in text.lower() and "xilinx" not in text.lower()
    assert "namespace hls" in headers["hls_stream.h"]
    assert "#define SF_TRIP(label)" in headers["sf_csim_io.h"]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"hls/common/*.h"' in pyproject  # non-.j2 package data of sparseforge.templates
