"""``hauler demo``: generate the core, simulate one copy on a memory model, report it."""

import time

from . import runner
from .sweep import Point, ceiling, measure


__all__ = ["measure_copy", "run_demo"]


def measure_copy(config, *, length=65536, backpressure=0.0):
    """Simulate one register-mode copy of ``length`` bytes; return the perf bench's result
    (see :func:`hauler.sim.sweep.measure`). An aligned copy must not end with an error:
    :class:`AssertionError` if it does."""
    result = measure(config, [Point(length, backpressure=backpressure)])[0]
    assert "error" not in result, f"the copy ended with {result['error']}"
    return result


def run_demo(config, *, length=65536, progress=print):
    began = time.monotonic()
    progress(f"hauler demo: {config.key()}")
    progress("  generating Verilog and building the simulation (cached after the first run)")
    runner.verilog_for(config)
    progress(f"  simulating a {length // 1024} KiB copy on a {config.master} memory model "
             f"(Icarus + cocotb)")
    r = measure_copy(config, length=length)
    progress(f"  copied {r['bytes']} bytes ({r['beats']} beats of {config.data_width} bits) "
             f"in {r['cycles']} cycles, data checked")
    progress(f"  beats per cycle: read {r['read_beats_per_cycle']:.3f}, write "
             f"{r['write_beats_per_cycle']:.3f} "
             f"(bus ceiling {ceiling(config.master, 0)} per direction)")
    progress(f"  first read request {r['launch_cycles']} cycles after the START write")
    progress(f"done in {time.monotonic() - began:.0f} s")
    return r
