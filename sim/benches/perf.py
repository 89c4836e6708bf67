"""Measured copies: the figures of ``hauler demo`` and ``hauler bench``.

One simulation measures several points, each one a cocotb test of its own with a fresh
harness (memory model, checker, reset), so that Icarus starts once per configuration.

- ``HAULER_PERF_POINTS``: JSON list of points, each ``{"length": bytes, "read_latency":
  cycles, "backpressure": probability}`` (default: one 64 KiB copy, no added latency, no
  back-pressure), see :meth:`hauler.sim.harness.Harness.create` for the last two;
- ``HAULER_PERF_RESULTS``: file to which each point's result is appended as one line of
  JSON, as soon as it is measured (:mod:`hauler.sim.sweep` follows the progress there).

Every copy is checked byte for byte before anything is reported.
"""

import json
import os

import cocotb

from hauler.sim.harness import Harness, MEMORY_SIZE
from hauler.sim.sweep import POINTS_ENV, RESULTS_ENV


_POINTS = json.loads(os.environ.get(
    POINTS_ENV, '[{"length": 65536, "read_latency": 0, "backpressure": 0.0}]'))
_FIELDS = ("length", "read_latency", "backpressure")


@cocotb.test()
@cocotb.parametrize((_FIELDS, [tuple(point[f] for f in _FIELDS) for point in _POINTS]))
async def copy(dut, length, read_latency, backpressure):
    if not 0 < length <= MEMORY_SIZE // 2:
        raise ValueError(f"length must be 1..{MEMORY_SIZE // 2}, not {length}")
    h = await Harness.create(dut, backpressure=backpressure, read_latency=read_latency)
    drv, monitor = h.driver, h.monitor
    src, dst = 0, MEMORY_SIZE // 2
    data = h.fill(src, length)
    beats = length // h.config.beat_bytes
    await drv.write_fields("IRQ_ENABLE", 0, chain_end=1, error=1)
    await drv.setup_transfer(0, src, dst, length)
    monitor.reset()
    await drv.start(0)
    # Far beyond any plausible rate: a hang fails the point rather than running forever.
    await drv.wait_irq(dut.irq, timeout=10_000 + beats * (read_latency + 100))
    end = monitor.cycles
    status = await drv.status(0)
    assert status.done and not status.error, status
    assert h.memory.read(dst, length) == data, "copied data differs"
    assert monitor.reads == beats and monitor.writes == beats, (monitor.reads, monitor.writes, beats)
    await h.finish()

    start = monitor.csr_write_cycle
    cycles = end - start
    result = {
        "config": h.config.key(), "bytes": length, "beats": beats, "read_latency": read_latency,
        "backpressure": backpressure, "cycles": cycles,
        "read_beats_per_cycle": monitor.reads / cycles, "write_beats_per_cycle": monitor.writes / cycles,
        "launch_cycles": monitor.first_read_cycle - start,
    }
    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(result) + "\n")
