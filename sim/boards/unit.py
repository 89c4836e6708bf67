"""Helpers of the Amaranth-simulator unit tests of the demo SoC's pieces."""

import gc
import warnings

from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator


__all__ = ["simulate", "construction_error"]


def simulate(dut, *testbenches, background=(), deadline_cycles=100_000):
    """Run ``testbenches`` (async functions of ``ctx``) against ``dut`` on a 1 MHz clock until
    they all return, with ``background`` ones (bus models) running alongside; fail if that
    takes more than ``deadline_cycles``."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for bench in testbenches:
        sim.add_testbench(bench)
    for bench in background:
        sim.add_testbench(bench, background=True)

    async def watchdog(ctx):
        # One tick at a time: an abandoned `repeat()` complains when the simulation ends.
        for _ in range(deadline_cycles):
            await ctx.tick()
        raise TimeoutError(f"the testbenches did not finish in {deadline_cycles} cycles")

    sim.add_testbench(watchdog, background=True)
    sim.run()


def construction_error(factory, exception=ValueError):
    """The message of the ``exception`` that ``factory()`` raises.

    A component whose constructor raises is left half-built, and Amaranth warns when such an
    unused elaboratable is collected, which may be during a later test: it is collected here,
    with that warning silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        try:
            factory()
        except exception as e:
            message = str(e)
        else:
            raise AssertionError(f"{factory!r} raised no {exception.__name__}")
        gc.collect()
    return message
