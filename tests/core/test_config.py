"""Design-config parsing: --set, --config files, validation messages."""

import json
from dataclasses import dataclass

import pytest

from sparseforge.config import DesignConfig, check_choice, check_identifier, check_range
from sparseforge.errors import ConfigError


@dataclass(frozen=True)
class ToyConfig(DesignConfig):
    rows: int = 4
    clock_mhz: float = 100.0
    signed: bool = True
    top_name: str = "toy_top"
    mode: str = "dense"

    def validate(self):
        check_range("rows", self.rows, 1, 64)
        check_choice("mode", self.mode, ("dense", "sparse"))
        check_identifier("top_name", self.top_name)


def test_defaults_and_sets_are_typed():
    cfg = ToyConfig.from_cli(["rows=0x10", "clock_mhz=250", "signed=false", "mode=sparse"])
    assert (cfg.rows, cfg.clock_mhz, cfg.signed, cfg.mode) == (16, 250.0, False, "sparse")
    assert isinstance(cfg.clock_mhz, float)


def test_unknown_set_key_lists_the_design_keys():
    with pytest.raises(ConfigError) as err:
        ToyConfig.from_cli(["colz=3"])
    msg = str(err.value)
    assert "'colz'" in msg
    for key in ("rows", "clock_mhz", "signed", "top_name", "mode"):
        assert key in msg


@pytest.mark.parametrize(
    ("item", "fragment"),
    [("rows", "expected key=value"), ("rows=abc", "expected an int"),
     ("signed=maybe", "true/false"), ("clock_mhz=fast", "expected a float"),
     ("=3", "expected key=value")],
)
def test_malformed_sets(item, fragment):
    with pytest.raises(ConfigError, match=fragment):
        ToyConfig.from_cli([item])


def test_out_of_range_names_field_value_and_range():
    with pytest.raises(ConfigError, match=r"rows = 65 is out of range; allowed: 1 to 64"):
        ToyConfig(rows=65)
    with pytest.raises(ConfigError, match=r"mode = 'half'.*'dense', 'sparse'"):
        ToyConfig(mode="half")


def test_wrong_python_type_is_rejected():
    with pytest.raises(ConfigError, match=r"ToyConfig.rows: expected int, got '4'"):
        ToyConfig(rows="4")
    with pytest.raises(ConfigError, match="expected int"):
        ToyConfig(rows=True)


@pytest.mark.parametrize(
    "name",
    ["a;b", "x y", "top]; exec rm -rf /; #", "1abc", "", "name\n", "a-b", "ä"],
)
def test_identifiers_reject_injection(name):
    with pytest.raises(ConfigError, match="not a valid identifier"):
        ToyConfig(top_name=name)


def test_config_file_json_and_toml_with_set_override(tmp_path):
    j = tmp_path / "c.json"
    j.write_text(json.dumps({"rows": 8, "mode": "sparse"}))
    assert ToyConfig.from_cli(["rows=2"], j) == ToyConfig(rows=2, mode="sparse")
    t = tmp_path / "c.toml"
    t.write_text('rows = 32\nclock_mhz = 300\n')
    assert ToyConfig.from_cli([], t) == ToyConfig(rows=32, clock_mhz=300.0)


def test_config_file_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": 8, "depth": 3}')
    with pytest.raises(ConfigError, match=r"bad.json: unknown parameter 'depth'.*rows"):
        ToyConfig.from_cli([], bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{rows: ")
    with pytest.raises(ConfigError, match="broken.json: not valid json"):
        ToyConfig.from_cli([], broken)
    with pytest.raises(ConfigError, match="cannot read"):
        ToyConfig.from_cli([], tmp_path / "absent.json")


def test_to_json_is_deterministic_and_round_trips():
    cfg = ToyConfig(rows=9, mode="sparse")
    assert cfg.to_json() == ToyConfig(mode="sparse", rows=9).to_json()
    assert ToyConfig.from_dict(json.loads(cfg.to_json())) == cfg


def test_param_declares_range_choices_and_help_once():
    from sparseforge.config import param

    @dataclass(frozen=True)
    class Arr(DesignConfig):
        rows: int = param(4, "array rows", low=1, high=64)
        m: int = param(8, "group size", choices=(4, 8))
        acc: int = param(32, "accumulator bits", low=16, high=48, rule="at least 2*rows")
        label: str = param("x", "a label")

        def validate(self):
            if self.acc < 2 * self.rows:
                raise ConfigError(f"acc = {self.acc} is below 2*rows = {2 * self.rows}")

    info = {p.name: p for p in Arr.params()}
    assert info["rows"].allowed == "1 to 64"
    assert info["m"].allowed == "one of 4, 8"
    assert info["acc"].allowed == "16 to 48; at least 2*rows"
    assert info["label"].allowed == "any str"
    assert (info["rows"].default, info["rows"].help, info["rows"].kind) == (4, "array rows", int)
    with pytest.raises(ConfigError, match=r"rows = 0 is out of range; allowed: 1 to 64"):
        Arr(rows=0)
    with pytest.raises(ConfigError, match=r"m = 5 is not allowed; allowed: 4, 8"):
        Arr(m=5)
    with pytest.raises(ConfigError, match=r"acc = 40 is below 2\*rows = 60"):
        Arr(rows=30, acc=40)
    with pytest.raises(TypeError, match="range or choices"):
        param(1, "both", low=0, choices=(1,))


def test_a_parameter_may_not_shadow_a_common_cli_option():
    from sparseforge.cli import _add_design_parser
    from sparseforge.config import param
    from sparseforge.families import DesignFamily

    @dataclass(frozen=True)
    class Bad(DesignConfig):
        out: int = param(1, "clashes with --out", low=0, high=9)

    import argparse

    sub = argparse.ArgumentParser().add_subparsers()
    with pytest.raises(ValueError, match=r"Bad.out: the name of a common option"):
        _add_design_parser(sub, "synth", DesignFamily("bad", "bad", Bad, synth=lambda *a: {}))
