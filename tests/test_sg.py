"""Scatter-gather (ABI §3) on the generated Verilog: both masters, several data widths."""

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
