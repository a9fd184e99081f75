"""Which memory each master of an emitted project reaches (sparseforge.project_memory)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sparseforge.board_registry import get_board
from sparseforge.errors import ConfigError
from sparseforge.families.sat.config import SatConfig
from sparseforge.families.sat.contract import register_map
from sparseforge.project_memory import (
    DEDICATED_PS_SLAVES,
    dedicated_ps_slaves,
    memory_targets,
)

RMAP = register_map(SatConfig())  # one master, m_axi_gmem


def _masters(n: int):
    return replace(RMAP, masters=tuple({"port": f"m_axi_m{i}", "data_bits": 128,
                                        "addr_bits": 64} for i in range(n)), args=())


def test_every_master_shares_hp0_by_default():
    targets = memory_targets(_masters(3), get_board("zcu104"))
    assert [t.target for t in targets] == ["S_AXI_HP0_FPD"] * 3
    assert {t.memory.name for t in targets} == {"ps_ddr4"} and targets[0].banks == 0


@pytest.mark.parametrize("n", [1, 3, 6])
def test_dedicated_ports_hp_first_then_hpc(n):
    targets = memory_targets(_masters(n), get_board("zcu102"), dedicated=True)
    assert [t.port for t in targets] == [f"m_axi_m{i}" for i in range(n)]
    assert [t.target for t in targets] == list(DEDICATED_PS_SLAVES[:n])
    assert DEDICATED_PS_SLAVES[4:] == ("S_AXI_HPC0_FPD", "S_AXI_HPC1_FPD")


def test_more_masters_than_dedicated_ports_is_refused():
    assert dedicated_ps_slaves(get_board("kv260")) == list(DEDICATED_PS_SLAVES)
    with pytest.raises(ConfigError) as err:
        memory_targets(_masters(7), get_board("kv260"), dedicated=True)
    assert ("7 AXI4 masters (m_axi_m0, m_axi_m1, m_axi_m2, m_axi_m3, m_axi_m4, m_axi_m5, "
            "m_axi_m6) need a PS slave port each; board kv260 has 6") in str(err.value)
    assert "allowed: at most 6 masters" in str(err.value)


def test_a_port_per_master_by_name():
    targets = memory_targets(_masters(2), get_board("zcu104"),
                             ps_slave=["S_AXI_HPC1_FPD", "S_AXI_HP3_FPD"])
    assert [t.target for t in targets] == ["S_AXI_HPC1_FPD", "S_AXI_HP3_FPD"]


@pytest.mark.parametrize("board, options, words", [
    ("zcu104", {"ps_slave": ["S_AXI_HP0_FPD"]}, ["1 ports for the 2 masters"]),
    ("zcu104", {"ps_slave": ["S_AXI_HP0_FPD", "S_AXI_HP9_FPD"]}, ["'S_AXI_HP9_FPD'"]),
    ("zcu104", {"ps_slave": "S_AXI_HP1_FPD", "dedicated": True}, ["give one of them"]),
    ("u280", {"dedicated": True}, ["Zynq options", "u280"]),
])
def test_bad_port_choices_are_refused(board, options, words):
    with pytest.raises(ConfigError) as err:
        memory_targets(_masters(2), get_board(board), **options)
    for word in words:
        assert word in str(err.value)
