"""Names that reach generated code: one identifier rule for every emitted language.

A configuration string that becomes a name in generated text (a kernel or engine
module name, a register, register field, argument or port name) must be a valid,
non-reserved identifier in **every** language sparseforge emits or a vendor tool
generates from it:

=====================  ==================================================================
language               where a name reaches it
=====================  ==================================================================
Verilog-2005           the kernel / engine modules (``rtl/``, ``blocks/``)
SystemVerilog-2017     Vivado and Vitis read the RTL into SystemVerilog-aware flows; a
                       user's testbench or wrapper around the kernel is often SV
VHDL-2008              Vivado writes the block-design wrapper in the project's target
                       language, VHDL if the user picks it (it names the kernel's entity
                       and ports); VHDL is case-insensitive
C++20                  Verilator compiles the RTL to C++; the HLS families emit C++
                       kernels whose function and argument names come from the map
Python                 the PYNQ driver and notebook; PYNQ turns register and argument
                       names into attributes (``ip.register_map.<name>``)
=====================  ==================================================================

Module, port and argument names are checked against all of them (an HLS kernel's
argument becomes a C++ parameter and a Verilog / VHDL port of the same name; Vitis HLS
renames a port that a language reserves, ``out`` to ``out_r``, and the register map
would no longer match).  Register and register-field names reach only the driver
(Python attributes, C++ members): the C header prefixes them with the kernel's name
and the HDL never sees them, so they are checked against
:data:`REGISTER_LANGUAGES` only (a register may be called ``PORT`` or ``MAP``).

Tcl has no reserved words: the names reach the emitted Tcl only as arguments, never
as the first word of a command (``set_property top NAME``, ``add_register $block
NAME ...``), and the identifier rule leaves them no Tcl metacharacter, so Tcl needs
no table.

The identifier rule itself is the intersection of the languages' rules: an ASCII
letter, then letters, digits and single underscores, not ending in an underscore
(VHDL-2008 basic identifiers allow no leading, trailing or doubled ``_``; C++
reserves names containing ``__`` or starting with ``_``).

The keyword tables are transcribed from the standards: IEEE 1364-2005 Annex B, IEEE
1800-2017 Annex B, IEEE 1076-2008 clause 15.10, ISO/IEC 14882:2020 [lex.key] (tables
5 and 6, the keywords and the alternative tokens) and Python's :mod:`keyword`.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ConfigError

__all__ = ["CPP20", "LANGUAGES", "PYTHON", "REGISTER_LANGUAGES", "SYSTEMVERILOG_2017",
           "VERILOG_2005", "VHDL_2008", "Language", "check_identifier", "reserved_in"]

def _words(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text`` (the tables below, as the standards
    print them)."""
    return frozenset(text.split())


#: IEEE 1364-2005 Annex B: the Verilog-2005 keywords.
VERILOG_2005 = _words("""
    always and assign automatic begin buf bufif0 bufif1 case casex casez cell cmos config
    deassign default defparam design disable edge else end endcase endconfig endfunction
    endgenerate endmodule endprimitive endspecify endtable endtask event for force forever
    fork function generate genvar highz0 highz1 if ifnone incdir include initial inout input
    instance integer join large liblist library localparam macromodule medium module nand
    negedge nmos nor noshowcancelled not notif0 notif1 or output parameter pmos posedge
    primitive pull0 pull1 pulldown pullup pulsestyle_ondetect pulsestyle_onevent rcmos real
    realtime reg release repeat rnmos rpmos rtran rtranif0 rtranif1 scalared showcancelled
    signed small specify specparam strong0 strong1 supply0 supply1 table task time tran
    tranif0 tranif1 tri tri0 tri1 triand trior trireg unsigned use uwire vectored wait wand
    weak0 weak1 while wire wor xnor xor
""")

#: IEEE 1800-2017 Annex B: the SystemVerilog-2017 keywords (Verilog-2005's and these).
SYSTEMVERILOG_2017 = VERILOG_2005 | _words("""
    accept_on alias always_comb always_ff always_latch assert assume before bind bins binsof
    bit break byte chandle checker class clocking const constraint context continue cover
    covergroup coverpoint cross dist do endchecker endclass endclocking endgroup endinterface
    endpackage endprogram endproperty endsequence enum eventually expect export extends
    extern final first_match foreach forkjoin global iff ignore_bins illegal_bins implements
    implies import inside int interconnect interface intersect join_any join_none let local
    logic longint matches modport nettype new nexttime null package packed priority program
    property protected pure rand randc randcase randsequence ref reject_on restrict return
    s_always s_eventually s_nexttime s_until s_until_with sequence shortint shortreal soft
    solve static string strong struct super sync_accept_on sync_reject_on tagged this
    throughout timeprecision timeunit type typedef union unique unique0 until until_with
    untyped var virtual void wait_order weak wildcard with within
""")

#: IEEE 1076-2008 clause 15.10: the VHDL-2008 reserved words (lower case; VHDL
#: compares identifiers case-insensitively).
VHDL_2008 = _words("""
    abs access after alias all and architecture array assert assume assume_guarantee
    attribute begin block body buffer bus case component configuration constant context
    cover default disconnect downto else elsif end entity exit fairness file for force
    function generate generic group guarded if impure in inertial inout is label library
    linkage literal loop map mod nand new next nor not null of on open or others out package
    parameter port postponed procedure process property protected pure range record register
    reject release rem report restrict restrict_guarantee return rol ror select sequence
    severity shared signal sla sll sra srl strong subtype then to transport type unaffected
    units until use variable vmode vprop vunit wait when while with xnor xor
""")

#: ISO/IEC 14882:2020 [lex.key]: the C++20 keywords (table 5) and the alternative
#: tokens (table 6), which are reserved like keywords.
CPP20 = _words("""
    alignas alignof asm auto bool break case catch char char8_t char16_t char32_t class
    concept const consteval constexpr constinit const_cast continue co_await co_return
    co_yield decltype default delete do double dynamic_cast else enum explicit export extern
    false float for friend goto if inline int long mutable namespace new noexcept nullptr
    operator private protected public register reinterpret_cast requires return short signed
    sizeof static static_assert static_cast struct switch template this thread_local throw
    true try typedef typeid typename union unsigned using virtual void volatile wchar_t while
    and and_eq bitand bitor compl not not_eq or or_eq xor xor_eq
""")

#: Python's hard keywords (soft keywords such as ``match`` are valid names).
PYTHON = frozenset(keyword.kwlist)


@dataclass(frozen=True)
class Language:
    """One emitted language's reserved words.

    Attributes
    ----------
    name : str
        The language and standard, as error messages name it.
    keywords : frozenset[str]
        Its reserved words (lower case when ``case_sensitive`` is false).
    case_sensitive : bool
        Whether the language tells ``Signal`` from ``signal`` (VHDL does not).
    """

    name: str
    keywords: frozenset[str]
    case_sensitive: bool = True

    def reserves(self, value: str) -> bool:
        """Whether ``value`` is one of this language's reserved words."""
        return (value if self.case_sensitive else value.lower()) in self.keywords


#: Every language a generated name reaches (see the module docstring for where).
LANGUAGES: tuple[Language, ...] = (
    Language("Verilog-2005", VERILOG_2005),
    Language("SystemVerilog-2017", SYSTEMVERILOG_2017),
    Language("VHDL-2008", VHDL_2008, case_sensitive=False),
    Language("C++20", CPP20),
    Language("Python", PYTHON),
)

#: The languages a register or register-field name reaches (see the module docstring).
REGISTER_LANGUAGES: tuple[str, ...] = ("C++20", "Python")

_IDENTIFIER = re.compile(r"[A-Za-z](?:_?[A-Za-z0-9])*")


def reserved_in(value: str, languages: Sequence[str] | None = None) -> list[str]:
    """The names of the languages (of :data:`LANGUAGES`, or those named in
    ``languages``) that reserve ``value``."""
    return [lang.name for lang in LANGUAGES
            if (languages is None or lang.name in languages) and lang.reserves(value)]


def check_identifier(name: str, value: str, languages: Sequence[str] | None = None) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a safe name in every emitted language.

    Parameters
    ----------
    name : str
        The field the value comes from (``kernel_name``, ``register name``, ...),
        named in the message.
    value : str
        The name to check: ``[A-Za-z](_?[A-Za-z0-9])*`` (so no configuration string
        can inject text into a script a user will run, and VHDL and C++ accept it),
        and no reserved word of :data:`LANGUAGES` (VHDL's compared case-insensitively).
    languages : Sequence[str], optional
        Check only these languages' reserved words (names of :data:`LANGUAGES`, e.g.
        :data:`REGISTER_LANGUAGES`); default: all of them.

    Raises
    ------
    ConfigError
        The message names the field, the value, and what is allowed or which
        languages reserve the word.
    """
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise ConfigError(
            f"{name} = {value!r} is not a valid identifier; allowed: an ASCII letter followed "
            "by letters, digits and single '_', not ending in '_' ([A-Za-z](_?[A-Za-z0-9])*: "
            "VHDL allows no leading, trailing or doubled '_', C++ reserves '__')"
        )
    reserved = reserved_in(value, languages)
    if reserved:
        checked = ", ".join(languages if languages is not None else
                            [lang.name for lang in LANGUAGES])
        raise ConfigError(
            f"{name} = {value!r} is a reserved word of {', '.join(reserved)}; allowed: an "
            f"identifier that none of {checked} reserves, e.g. 'my_{value.lower()}'"
        )
