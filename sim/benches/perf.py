"""One measured copy: the figures of ``hauler demo`` and ``hauler bench``.

Parameters come from the environment (strings), results go to a JSON file:

- ``HAULER_PERF_LENGTH``: bytes to copy (default 65536);
- ``HAULER_PERF_BACKPRESSURE``: pause/stall probability on every memory channel (default 0);
- ``HAULER_PERF_RESULT``: where to write the JSON result.

The copy is checked byte for byte before anything is reported.
"""

import json
import os

import cocotb
from cocotb.triggers import RisingEdge

from hauler.sim.harness import Harness, MEMORY_SIZE


@cocotb.test()
async def copy(dut):
    length = int(os.environ.get("HAULER_PERF_LENGTH", 65536))
    backpressure = float(os.environ.get("HAULER_PERF_BACKPRESSURE", 0))
    if not 0 < length <= MEMORY_SIZE // 2:
        raise ValueError(f"HAULER_PERF_LENGTH must be 1..{MEMORY_SIZE // 2}, not {length}")
    h = await Harness.create(dut, backpressure=backpressure)
    drv = h.driver
    src, dst = 0, MEMORY_SIZE // 2
    data = h.fill(src, length)
    await drv.write_fields("IRQ_ENABLE", 0, chain_end=1, error=1)
    await drv.setup_transfer(0, src, dst, length)
    h.monitor.reset()
    await drv.start(0)
    while not dut.irq.value:
        await RisingEdge(h.clock)
    end = h.monitor.cycles
    status = await drv.status(0)
    assert status.done and not status.error, status
    assert h.memory.read(dst, length) == data, "copied data differs"
    await h.finish()

    start = h.monitor.csr_write_cycle
    cycles = end - start
    beats = length // h.config.beat_bytes
    result = {
        "config": h.config.key(), "bytes": length, "beats": beats, "backpressure": backpressure,
        "cycles": cycles,
        "read_beats_per_cycle": beats / cycles, "write_beats_per_cycle": beats / cycles,
        "launch_cycles": h.monitor.first_read_cycle - start,
    }
    assert h.monitor.reads == beats and h.monitor.writes == beats, (h.monitor.reads, beats)
    path = os.environ.get("HAULER_PERF_RESULT")
    if path:
        with open(path, "w") as f:
            json.dump(result, f)
