"""cocotb runs of the register-mode tests (sim/benches/core.py) on generated Verilog.

The matrix covers both masters, both register ports, three data widths and both address
widths, and a build without scatter-gather and unaligned support; each configuration runs
every test of the bench in one simulation.
"""

import pytest

from hauler import Config
from hauler.sim import runner


CONFIGS = [
    Config(),                                                            # the default build
    Config(master="axi4", csr="wishbone", data_width=64, channels=3, max_burst=8,
           fifo_depth=32, outstanding=2),
    Config(master="wishbone", csr="wishbone", data_width=32, channels=2),
    Config(master="wishbone", csr="axil", data_width=64, channels=1, max_burst=32, sg=False,
           unaligned=False),
    Config(master="axi4", csr="axil", data_width=128, addr_width=64, channels=2,
           max_burst=256, fifo_depth=512, outstanding=8),
]


@pytest.mark.parametrize("config", CONFIGS, ids=[c.key() for c in CONFIGS])
def test_register_mode(config):
    runner.run(config, "hauler.sim.benches.core")
