"""The data path alone (hdl/engine/datapath.py), synthesized by ``hauler synth --part data-path``
to compare with bare DMA cores."""

import re
from functools import partial

import pytest
from amaranth.back import rtlil
from amaranth.lib.wiring import In, Out

from hauler import Config
from hauler.engine.datapath import DataPath
from hauler.synth import synthesize


# axi_cdma's function; the default build (two channels, scatter-gather, streams, req/ack); and
# one on Wishbone.
CDMA = Config(channels=1, sg=False, unaligned=False, streams=False, req_ack=False)
CONFIGS = [CDMA, Config(), Config(master="wishbone", channels=3, data_width=64)]


def _converted(config):
    """The data path of ``config`` and the names of its modules below the top."""
    data_path = DataPath(config)
    text = rtlil.convert(data_path, name="top")
    return data_path, set(re.findall(r"^module \\top\.(\S+)$", text, re.M))


@pytest.mark.parametrize("config", CONFIGS, ids=[c.key() for c in CONFIGS])
def test_the_data_path_is_planners_arbiter_mover_and_adapter(config):
    _, modules = _converted(config)
    assert {name for name in modules if "." not in name} == {
        "arbiter", "mover", "adapter", *(f"planner{n}" for n in range(config.channels))}


@pytest.mark.parametrize("config", CONFIGS, ids=[c.key() for c in CONFIGS])
def test_what_the_rest_of_the_core_drives_becomes_ports(config):
    data_path, _ = _converted(config)
    members = data_path.signature.members
    bus = "axi" if config.master == "axi4" else "wb"
    assert members[bus].flow == Out
    for n in range(config.channels):
        assert members[f"ch{n}_transfer"].flow == In and members[f"ch{n}_go"].flow == In
        assert members[f"ch{n}_idle"].flow == Out
        assert (f"ch{n}_avail" in members) == config.streams
    assert f"ch{config.channels}_transfer" not in members
    assert members["retire"].flow == Out and members["discard"].flow == In
    assert {"read_fault", "write_fault"} <= set(members)
    assert ("ingress" in members) == config.streams
    assert not {"bursts", "read", "write", "ch0_bursts"} & set(members)


def test_the_data_path_synthesizes_alone(tmp_path):
    # Every part of it reaches a port, so none is optimized away: its FIFO's block RAM and
    # the addresses it keeps (planner and bus command, source and destination) are there.
    lines = []
    result = synthesize(partial(DataPath, CDMA), "ecp5-85f", workdir=tmp_path,
                        progress=lines.append, label="data path")
    assert result.label == "data path"
    assert result.format().startswith("ecp5-85f: data path only, pin wrapper excluded")
    assert result.ram_blocks.get("DP16KD") == 1
    assert result.ffs > 4 * CDMA.addr_width
    assert any(cell.startswith("core.") for cell in result.critical_path)
