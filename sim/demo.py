"""``hauler demo``: generate the core, simulate one copy on a memory model, report it."""

import json
import tempfile
import time
from pathlib import Path

from . import runner


__all__ = ["measure_copy", "run_demo"]


def measure_copy(config, *, length=65536, backpressure=0.0):
    """Simulate one register-mode copy of ``length`` bytes; return the perf bench's result."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        runner.run(config, "hauler.sim.benches.perf", env={
            "HAULER_PERF_LENGTH": str(length),
            "HAULER_PERF_BACKPRESSURE": str(backpressure),
            "HAULER_PERF_RESULT": str(result),
        })
        return json.loads(result.read_text())


def run_demo(config, *, length=65536, progress=print):
    began = time.monotonic()
    progress(f"hauler demo: {config.key()}")
    progress("  generating Verilog and building the simulation (cached after the first run)")
    runner.verilog_for(config)
    progress(f"  simulating a {length // 1024} KiB copy on a {config.master} memory model "
             f"(Icarus + cocotb)")
    r = measure_copy(config, length=length)
    ceiling = 1.0 if config.master == "axi4" else 0.5
    progress(f"  copied {r['bytes']} bytes ({r['beats']} beats of {config.data_width} bits) "
             f"in {r['cycles']} cycles, data checked")
    progress(f"  beats per cycle: read {r['read_beats_per_cycle']:.3f}, write "
             f"{r['write_beats_per_cycle']:.3f} (bus ceiling {ceiling} per direction)")
    progress(f"  first read request {r['launch_cycles']} cycles after the START write")
    progress(f"done in {time.monotonic() - began:.0f} s")
    return r
