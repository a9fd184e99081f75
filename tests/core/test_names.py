"""Names that reach generated code (issue 10, defect 11).

``--set kernel_name=module`` used to be accepted and gave ``module \\module`` in the
kernel (Amaranth escapes the keyword) while TCL, C and kernel.xml said ``module``.
Every name that reaches generated Verilog, SystemVerilog, VHDL, C++ or Python is
now checked against each language's reserved words (:mod:`sparseforge.names`).
"""

from __future__ import annotations

import re

import pytest

from sparseforge.cli import main
from sparseforge.errors import ConfigError
from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import register_map
from sparseforge.names import (
    CPP20,
    LANGUAGES,
    PYTHON,
    SYSTEMVERILOG_2017,
    VERILOG_2005,
    VHDL_2008,
    check_identifier,
    reserved_in,
)
from sparseforge.regmap import RegisterMap

# (word, the languages that reserve it), hand-checked against the standards.
RESERVED = [
    ("module", ["Verilog-2005", "SystemVerilog-2017"]),
    ("wire", ["Verilog-2005", "SystemVerilog-2017"]),
    ("endmodule", ["Verilog-2005", "SystemVerilog-2017"]),
    ("uwire", ["Verilog-2005", "SystemVerilog-2017"]),            # new in 1364-2005
    ("always", ["Verilog-2005", "SystemVerilog-2017"]),
    ("logic", ["SystemVerilog-2017"]),
    ("interface", ["SystemVerilog-2017"]),
    ("always_ff", ["SystemVerilog-2017"]),
    ("nettype", ["SystemVerilog-2017"]),                         # new in 1800-2012
    ("bit", ["SystemVerilog-2017"]),
    ("entity", ["VHDL-2008"]),
    ("signal", ["VHDL-2008"]),
    ("downto", ["VHDL-2008"]),
    ("architecture", ["VHDL-2008"]),
    ("vunit", ["VHDL-2008"]),                                    # PSL word of VHDL-2008
    ("delete", ["C++20"]),
    ("template", ["C++20"]),
    ("co_await", ["C++20"]),
    ("char8_t", ["C++20"]),
    ("bitand", ["C++20"]),                                       # an alternative token
    ("not_eq", ["C++20"]),
    ("lambda", ["Python"]),
    ("def", ["Python"]),
    ("None", ["Python"]),
    ("begin", ["Verilog-2005", "SystemVerilog-2017", "VHDL-2008"]),
    ("class", ["SystemVerilog-2017", "C++20", "Python"]),
    ("new", ["SystemVerilog-2017", "VHDL-2008", "C++20"]),
    ("and", ["Verilog-2005", "SystemVerilog-2017", "VHDL-2008", "C++20", "Python"]),
    ("while", ["Verilog-2005", "SystemVerilog-2017", "VHDL-2008", "C++20", "Python"]),
    # VHDL is case-insensitive; the others are not.
    ("ENTITY", ["VHDL-2008"]),
    ("Signal", ["VHDL-2008"]),
    ("Begin", ["VHDL-2008"]),
    ("WHILE", ["VHDL-2008"]),
]


@pytest.mark.parametrize(("word", "languages"), RESERVED)
def test_reserved_words_name_their_languages(word, languages):
    assert reserved_in(word) == languages


@pytest.mark.parametrize("word", ["Module", "WIRE", "Delete", "Logic", "Lambda", "none",
                                  "interrupt", "ap_clk", "sat_kernel", "kernel", "engine"])
def test_case_matters_except_for_vhdl(word):
    assert reserved_in(word) == []
    check_identifier("kernel_name", word)


@pytest.mark.parametrize(("word", "languages"), RESERVED)
@pytest.mark.parametrize("field", ["name", "kernel_name"])
def test_config_refuses_reserved_module_names(field, word, languages):
    other = {"name": "my_engine"} if field == "kernel_name" else {"kernel_name": "my_kernel"}
    with pytest.raises(ConfigError) as info:
        SatConfig(**{field: word, **other})
    message = str(info.value)
    assert message.startswith(f"{field} = {word!r} is a reserved word of ")
    for lang in languages:
        assert lang in message


@pytest.mark.parametrize("field", ["name", "kernel_name"])
def test_generate_refuses_a_module_named_module(tmp_path, capsys, field):
    """Before: ``name=module`` wrote ``blocks/module.v`` holding ``module \\module``."""
    out = tmp_path / "p"
    code = main(["generate", "sat", "--board", "zcu104", "--set", f"{field}=module",
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert f"{field} = 'module' is a reserved word of Verilog-2005" in err


@pytest.mark.parametrize("value", ["_kernel", "kernel_", "sat__kernel", "_", "__init",
                                   "9lives", "a-b", "a b", "ä", ""])
def test_names_vhdl_and_cpp_cannot_take_are_refused(value):
    with pytest.raises(ConfigError, match=f"kernel_name = {re.escape(repr(value))} is not a "
                                          "valid identifier"):
        SatConfig(kernel_name=value)


def test_name_and_kernel_name_differ_ignoring_case():
    with pytest.raises(ConfigError, match="equals name"):
        SatConfig(name="Sat_Kernel", kernel_name="sat_kernel")
    SatConfig(name="sat_engine2", kernel_name="sat_kernel")


def _map_with(where: str, word: str) -> dict:
    d = register_map(SatConfig()).to_dict()
    if where == "register":
        d["registers"][4]["name"] = word
    elif where == "field":
        d["registers"][0]["fields"] = {word: 0}
    elif where == "arg":
        d["args"][0]["name"] = word
    else:
        d[where] = word
    return d


FIELDS = {"register": "register name", "field": "register CTRL field name",
          "arg": "argument name", "kernel": "kernel", "design": "design"}


@pytest.mark.parametrize(("where", "word", "languages"), [
    ("register", "class", "C++20, Python"),  # the HDL languages are not checked here
    ("register", "None", "Python"),
    ("field", "new", "C++20"),
    ("field", "lambda", "Python"),
    ("arg", "int", "SystemVerilog-2017, C++20"),
    ("arg", "out", "VHDL-2008"),         # Vitis HLS would rename its ports to out_r
    ("arg", "Signal", "VHDL-2008"),
    ("arg", "wire", "Verilog-2005, SystemVerilog-2017"),
    ("kernel", "logic", "SystemVerilog-2017"),
    ("design", "entity", "VHDL-2008"),
])
def test_register_map_refuses_reserved_names(where, word, languages):
    with pytest.raises(ConfigError) as info:
        RegisterMap.from_dict(_map_with(where, word))
    assert str(info.value).startswith(f"{FIELDS[where]} = '{word}' is a reserved word of "
                                      f"{languages}; allowed: ")


@pytest.mark.parametrize(("where", "word"), [("register", "PORT"), ("register", "begin"),
                                             ("field", "signal"), ("field", "wire")])
def test_registers_may_use_hdl_words(where, word):
    """Register and field names reach only the driver (the C header prefixes them)."""
    assert RegisterMap.from_dict(_map_with(where, word))


@pytest.mark.parametrize("where", ["register", "field", "arg"])
def test_register_map_refuses_malformed_names(where):
    with pytest.raises(ConfigError, match=f"{FIELDS[where]} = 'a-b' is not a valid identifier"):
        RegisterMap.from_dict(_map_with(where, "a-b"))


def test_the_kernels_fixed_names_pass():
    """Every name the SAT kernel emits: registers, fields, arguments, ports (including
    ``interrupt``, which only some C++ compilers reserve, as an extension)."""
    from sparseforge.hwgen.project import kernel_ports

    rmap = register_map(SatConfig())
    names = [rmap.kernel, rmap.design, *(r.name for r in rmap.registers),
             *(f for r in rmap.registers for f in r.fields), *(a.name for a in rmap.args),
             *(m["port"] for m in rmap.masters), *(p.name for p in kernel_ports(rmap))]
    assert "interrupt" in names and len(names) > 50
    for name in names:
        check_identifier("name", name)


def test_tables_are_well_formed():
    for lang in LANGUAGES:
        for word in lang.keywords:
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", word), (lang.name, word)
            if not lang.case_sensitive:
                assert word == word.lower()
    assert VERILOG_2005 < SYSTEMVERILOG_2017
    # Sizes of the standards' tables: 1364-2005 Annex B, 1800-2017 Annex B,
    # 1076-2008 15.10, C++20 [lex.key] tables 5 and 6 (81 + 11).
    assert (len(VERILOG_2005), len(SYSTEMVERILOG_2017), len(VHDL_2008), len(CPP20)) == \
        (124, 248, 115, 92)
    assert {"True", "async", "await"} <= PYTHON
