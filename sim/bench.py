"""What every cocotb bench starts with: the configuration under test, the clock, the reset."""

import json
import os

from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from hauler import Config

from .runner import CONFIG_ENV


__all__ = ["bench_config", "start_clock", "reset_dut", "wait_until"]


def bench_config():
    """The :class:`hauler.Config` that :func:`hauler.sim.runner.run` simulates."""
    return Config(**json.loads(os.environ[CONFIG_ENV]))


def start_clock(dut, period_ns=10, *, clock=None):
    """Drive ``clock`` (default ``dut.clk``) and return the signal.

    The clock toggles inside the simulator (cocotb's ``gpi`` clock, about twice as fast as
    the Python one) and starts low, so the first rising edge comes after the bench and the
    models have set their initial values.
    """
    clock = dut.clk if clock is None else clock
    Clock(clock, period_ns, unit="ns", impl="gpi").start(start_high=False)
    return clock


async def reset_dut(dut, cycles=4, *, clock=None, reset=None):
    """Hold the synchronous, active-high reset (default ``dut.rst``) for ``cycles`` clock edges.

    Call it only after every bus model and checker exists: cocotbext-axi models (and the
    models of this package) notice reset by its edges, so a reset asserted before they were
    created is missed and they start mid-reset.
    """
    clock = dut.clk if clock is None else clock
    reset = dut.rst if reset is None else reset
    reset.value = 1
    for _ in range(cycles):
        await RisingEdge(clock)
    reset.value = 0
    await RisingEdge(clock)


async def wait_until(clock, condition, what, *, timeout=100_000, every=4):
    """Check ``condition()`` every ``every`` cycles of ``clock``; fail the test with
    ``what`` if it is still false after ``timeout`` cycles."""
    for _ in range(timeout // every):
        if condition():
            return
        await ClockCycles(clock, every)
    raise AssertionError(f"timed out after {timeout} cycles waiting for {what}")
