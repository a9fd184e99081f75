"""Bit-exact comparison of FixedFormat with the real ``ap_fixed.h``, compiled with g++.

A generated C++ program converts doubles (and fixed-point raw values) into many
``ap_fixed`` / ``ap_ufixed`` types covering every rounding and overflow mode and
prints the resulting bits (``.range()``); the test compares them with
:meth:`FixedFormat.quantize` and :meth:`FixedFormat.cast` (the requantize path).
"""

from __future__ import annotations

import itertools
import shutil
import subprocess

import numpy as np
import pytest

from sparseforge.formats import FixedFormat

pytestmark = pytest.mark.slow

ROUNDINGS = [
    "AP_TRN",
    "AP_TRN_ZERO",
    "AP_RND",
    "AP_RND_ZERO",
    "AP_RND_MIN_INF",
    "AP_RND_INF",
    "AP_RND_CONV",
]
OVERFLOWS = ["AP_WRAP", "AP_SAT", "AP_SAT_ZERO", "AP_SAT_SYM"]

# (W, I) shapes: ordinary, negative I, I > W, 1- and 2-bit, wider than a float64 mantissa.
SHAPES = [
    (8, 4),
    (16, 3),
    (5, -2),
    (12, 14),
    (1, 1),
    (1, 0),
    (2, 0),
    (33, 20),
    (63, 30),
    (40, 48),
    (24, -6),
    (3, 3),
    (53, 10),
    (20, 20),
]

# Every (Q, O, signed) combination, each with two different shapes.
FLOAT_FORMATS = [
    FixedFormat(*SHAPES[(2 * n + k) % len(SHAPES)], signed, q, o)
    for n, (q, o, signed) in enumerate(itertools.product(ROUNDINGS, OVERFLOWS, [True, False]))
    for k in range(2)
]

# Sources of fixed-to-fixed casts (modes of the source play no part).
CAST_SOURCES = [
    FixedFormat(16, 8, True),
    FixedFormat(12, 4, False),
    FixedFormat(20, 3, True),
    FixedFormat(8, 8, True),
    FixedFormat(40, 10, True),
    FixedFormat(6, -3, False),
    FixedFormat(63, 31, True),
    FixedFormat(10, 12, True),
]


def csim_aborts(src: FixedFormat, dst: FixedFormat) -> bool:
    """True where ap_fixed's C simulation cannot do ``dst = src``.

    ``ap_fixed_base::operator=`` reads the bit just below the new LSB,
    ``op.V[F_src - F_dst - 1]``, before checking that it lies inside the source;
    when all source bits sit below half an LSB of the target (``F_src - F_dst >
    W_src``) and the quantisation mode needs that bit, ``ap_private::get_bit``
    fails its assertion and the program aborts.  (The result would be the
    rounding of a value smaller than half an LSB; the property tests cover it.)
    """
    needs_bit = dst.rounding.value != "AP_TRN" and not (
        dst.rounding.value == "AP_TRN_ZERO" and not src.signed
    )
    return needs_bit and src.frac_bits - dst.frac_bits > src.width


CAST_PAIRS = [
    (src, dst)
    for n, (q, o, signed) in enumerate(itertools.product(ROUNDINGS, OVERFLOWS, [True, False]))
    for k in range(3)
    for src in [CAST_SOURCES[(3 * n + k) % len(CAST_SOURCES)]]
    for dst in [FixedFormat(*SHAPES[(5 * n + 3 * k) % len(SHAPES)], signed, q, o)]
    if not csim_aborts(src, dst)
]


def cpp_type(fmt: FixedFormat) -> str:
    kind = "ap_fixed" if fmt.signed else "ap_ufixed"
    return f"{kind}<{fmt.width}, {fmt.int_bits}, {fmt.rounding.value}, {fmt.overflow.value}>"


def cpp_source() -> str:
    float_calls = "\n".join(
        f"      emit<{cpp_type(fmt)}, {fmt.width}>(d);" for fmt in FLOAT_FORMATS
    )
    cast_cases = "\n".join(
        f"      case {n}: cast<{cpp_type(src)}, {src.width}, {cpp_type(dst)}, {dst.width}>(bits);"
        " break;"
        for n, (src, dst) in enumerate(CAST_PAIRS)
    )
    return f"""\
#include <ap_fixed.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>

template <class T, int W> static void emit(double d) {{
  T v = d;
  ap_uint<W> bits = v.range(W - 1, 0);
  std::printf(" %llx", (unsigned long long)bits.to_uint64());
}}

template <class S, int W1, class T, int W2> static void cast(unsigned long long raw_bits) {{
  S src;
  src.setBits(raw_bits);
  T dst = src;
  ap_uint<W2> bits = dst.range(W2 - 1, 0);
  std::printf("%llx\\n", (unsigned long long)bits.to_uint64());
}}

int main(int argc, char** argv) {{
  char line[256];
  bool casts = argc > 1 && std::strcmp(argv[1], "cast") == 0;
  while (std::fgets(line, sizeof line, stdin)) {{
    if (!casts) {{
      double d = std::strtod(line, nullptr);  // hex float literal: exact
{float_calls}
      std::printf("\\n");
    }} else {{
      char* rest;
      long pair = std::strtol(line, &rest, 10);
      unsigned long long bits = std::strtoull(rest, nullptr, 16);
      switch (pair) {{
{cast_cases}
        default: return 2;
      }}
    }}
  }}
  return 0;
}}
"""


@pytest.fixture(scope="module")
def apfixed_program(tmp_path_factory):
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ is not on PATH; the ap_fixed.h comparison needs a C++ compiler")
    from sparseforge.toolchain import ToolNotFound, ap_types_include

    try:
        include = ap_types_include()
    except ToolNotFound as error:
        pytest.skip(f"ap_fixed.h headers not found: {error}")
    folder = tmp_path_factory.mktemp("apfixed")
    source = folder / "apfixed_check.cpp"
    source.write_text(cpp_source())
    binary = folder / "apfixed_check"
    subprocess.run(
        [gxx, "-std=c++14", "-O1", "-w", "-I", str(include), str(source), "-o", str(binary)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return binary


def run(binary, args: list[str], lines: list[str]) -> list[str]:
    result = subprocess.run(
        [str(binary), *args],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return result.stdout.splitlines()


def random_doubles(rng: np.random.Generator) -> np.ndarray:
    """A few thousand doubles: ordinary, exact halves and near-halves of every shape,
    range edges, far out of range, tiny, subnormal, zeros and integers."""
    parts = [
        rng.standard_normal(800) * np.exp2(rng.uniform(-14, 40, 800)),
        rng.integers(-(2**40), 2**40, 100).astype(np.float64),
        np.array([0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, -1e-300, 1.0, -1.0]),
        rng.choice([-1.0, 1.0], 200) * np.exp2(rng.uniform(40, 1023, 200)),
    ]
    for width, int_bits in SHAPES:
        frac = width - int_bits
        k = rng.integers(-(2 ** min(width + 1, 52)), 2 ** min(width + 1, 52), 120)
        halves = np.ldexp(2.0 * k + 1, -frac - 1)
        nudged = halves + rng.choice([-1.0, 1.0], 120) * np.ldexp(1.0, -frac - 30)
        edge = np.ldexp(
            np.array([2 ** (width - 1), 2**width], dtype=np.float64)[:, None]
            + np.array([-1.5, -1, -0.5, 0, 0.5, 1, 1.5]),
            -frac,
        ).ravel()
        parts += [halves, nudged, edge, -edge, np.ldexp(1.0, -frac - 60) * np.array([1, -1])]
    return np.concatenate(parts)


def test_quantize_matches_ap_fixed_double_constructor(apfixed_program):
    rng = np.random.default_rng(20240917)
    xs = random_doubles(rng)
    assert len(xs) > 3000
    lines = run(apfixed_program, [], [float(x).hex() for x in xs])
    theirs = np.array([[int(word, 16) for word in line.split()] for line in lines])
    mismatches = []
    for column, fmt in enumerate(FLOAT_FORMATS):
        ours = fmt.to_bits(fmt.quantize(xs)).astype(np.int64)
        for row in np.flatnonzero(ours != theirs[:, column])[:3]:
            mismatches.append(
                f"{cpp_type(fmt)}({xs[row]!r}): ours {ours[row]:#x}, "
                f"ap_fixed {theirs[row, column]:#x}"
            )
    assert not mismatches, "\n".join(mismatches)


def test_cast_pairs_cover_every_mode():
    covered = {(dst.rounding, dst.overflow, dst.signed) for _, dst in CAST_PAIRS}
    assert len(covered) == len(ROUNDINGS) * len(OVERFLOWS) * 2
    assert any(src.frac_bits - dst.frac_bits > src.width for src, dst in CAST_PAIRS)


def test_requantize_matches_ap_fixed_assignment(apfixed_program):
    rng = np.random.default_rng(7)
    lines, expected = [], []
    for n, (src, dst) in enumerate(CAST_PAIRS):
        raws = np.concatenate(
            [
                rng.integers(src.min_raw, src.max_raw, 60, endpoint=True),
                [src.min_raw, src.max_raw, 0, 1, src.min_raw + 1, src.max_raw - 1],
            ]
        )
        raws = raws[(raws >= src.min_raw) & (raws <= src.max_raw)]
        bits = src.to_bits(raws)
        lines += [f"{n} {int(b):x}" for b in bits]
        ours = dst.to_bits(dst.requantize(raws, src.frac_bits))
        assert (ours == dst.to_bits(src.cast(raws, dst))).all()
        expected += [(src, dst, int(r), int(o)) for r, o in zip(raws, ours, strict=True)]
    theirs = [int(line, 16) for line in run(apfixed_program, ["cast"], lines)]
    assert len(theirs) == len(expected)
    mismatches = [
        f"{cpp_type(dst)} = {cpp_type(src)} raw {raw}: ours {ours:#x}, ap_fixed {got:#x}"
        for (src, dst, raw, ours), got in zip(expected, theirs, strict=True)
        if ours != got
    ]
    assert not mismatches, "\n".join(mismatches[:20])
