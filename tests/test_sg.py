"""Scatter-gather (ABI §3) on the generated Verilog: both masters, several data widths."""

import json

import pytest

from hauler import Config
from hauler.sim import runner


CONFIGS = [
    Config(),                                                            # the default build
    Config(master="wishbone", csr="wishbone", data_width=64, channels=2),
    Config(master="axi4", csr="axil", data_width=128, addr_width=64, channels=1,
           max_burst=64, fifo_depth=128),
]


@pytest.mark.parametrize("config", CONFIGS, ids=[c.key() for c in CONFIGS])
def test_scatter_gather(config):
    runner.run(config, "hauler.sim.benches.sg")


def test_throughput_bench_reports_against_the_ceiling(tmp_path):
    """The scatter-gather measurement runs and reports sane figures (the targets are read
    from its full run, not asserted here)."""
    result = tmp_path / "sg.json"
    runner.run(Config(), "hauler.sim.benches.sg_perf", env={
        "HAULER_SG_SIZES": "64,1024", "HAULER_SG_TOTAL": "4096",
        "HAULER_SG_RESULT": str(result)})
    rows = json.loads(result.read_text())
    assert [r["descriptor_bytes"] for r in rows] == [64, 1024]
    for r in rows:
        assert 0 < r["beats_per_cycle"] <= r["ceiling"] * 1.01
        assert r["launch_cycles"] > 0
