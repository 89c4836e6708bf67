"""Scatter-gather throughput and launch latency: chains of equal descriptors, no backpressure.

Parameters come from the environment, results go to a JSON file (a list, one entry per
descriptor size):

- ``HAULER_SG_SIZES``: descriptor sizes in bytes, comma separated (default 64,256,4096);
- ``HAULER_SG_TOTAL``: bytes moved by each chain (default 65536);
- ``HAULER_SG_RESULT``: where to write the JSON result.

Each chain's data and write-backs are checked against the model before anything is
reported. On AXI4 the ceiling is the read channel's: every descriptor costs its data beats
plus the beats of its fetch there (the write side carries only the 8-byte write-back). On
Wishbone one bus carries it all: data read and written, fetch and write-back.
"""

import json
import os

import cocotb
from cocotb.triggers import RisingEdge

from hauler.descriptor import DESCRIPTOR_SIZE, WRITEBACK_BYTES
from hauler.engine.descriptors import FETCH_BYTES
from hauler.sim.descriptors import Descriptor, write_chain
from hauler.sim.harness import Harness, MEMORY_SIZE
from hauler.sim.model import apply_chain


DESCS = 0x1000
SRC = 0x40000
DST = MEMORY_SIZE // 2


@cocotb.test()
async def chains(dut):
    sizes = [int(s) for s in os.environ.get("HAULER_SG_SIZES", "64,256,4096").split(",")]
    total = int(os.environ.get("HAULER_SG_TOTAL", 65536))
    h = await Harness.create(dut)
    cfg, drv, d = h.config, h.driver, h.dut
    beat = cfg.beat_bytes
    fetch_beats = -(-FETCH_BYTES // beat)
    writeback_beats = -(-WRITEBACK_BYTES // beat)
    results = []
    for size in sizes:
        count = total // size
        if size % beat or count == 0 or DESCS + count * DESCRIPTOR_SIZE > SRC or \
                SRC + total > DST:
            raise ValueError(f"descriptor size {size} with {total} bytes does not fit this "
                             f"bench (a multiple of {beat} bytes, at most {total})")
        h.fill(SRC, count * size)
        addrs = [DESCS + i * DESCRIPTOR_SIZE for i in range(count)]
        write_chain(h.memory, addrs, [Descriptor(SRC + i * size, DST + i * size, size)
                                      for i in range(count)])
        expected = h.snapshot()
        apply_chain(expected, addrs[0], beat_bytes=beat)
        await drv.write_fields("IRQ_ENABLE", 0, chain_end=1, error=1)
        h.monitor.reset()
        first_data_read = None

        async def watch():
            nonlocal first_data_read
            while first_data_read is None:
                await RisingEdge(h.clock)
                if cfg.master == "axi4":
                    hit = d.m_axi__arvalid.value and int(d.m_axi__araddr.value) >= SRC
                else:
                    hit = (d.m_wb__stb.value and not d.m_wb__we.value and
                           int(d.m_wb__adr.value) << cfg.beat_shift >= SRC)
                if hit:
                    first_data_read = h.monitor.cycles + 1

        watcher = cocotb.start_soon(watch())
        await drv.start_chain(0, addrs[0])
        start = h.monitor.csr_write_cycle
        limit = 20 * total // beat + 10_000      # far beyond any rate worth reporting
        while not d.irq.value:
            await RisingEdge(h.clock)
            if h.monitor.cycles - start > limit:
                raise AssertionError(f"chain of {size}-byte descriptors did not end in "
                                     f"{limit} cycles: {await drv.status(0)}")
        end = h.monitor.cycles
        watcher.cancel()
        status = await drv.status(0)
        assert status.done and not status.error, status
        assert h.snapshot() == expected, f"chain of {size}-byte descriptors: memory differs"
        await drv.write("IRQ_STATUS", 0b111, 0)
        cycles = end - start
        data_beats = count * size // beat
        if cfg.master == "axi4":
            ceiling = data_beats / (data_beats + count * fetch_beats)
        else:
            # One bus: data read and written, each descriptor fetched and written back.
            ceiling = data_beats / (2 * data_beats + count * (fetch_beats + writeback_beats))
        results.append({
            "config": cfg.key(), "descriptor_bytes": size, "descriptors": count,
            "cycles": cycles, "beats_per_cycle": data_beats / cycles, "ceiling": ceiling,
            "of_ceiling": data_beats / cycles / ceiling,
            "launch_cycles": first_data_read - start,
        })
    await h.finish()
    path = os.environ.get("HAULER_SG_RESULT")
    if path:
        with open(path, "w") as f:
            json.dump(results, f)
