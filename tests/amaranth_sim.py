"""Small helpers for Amaranth-simulator unit tests of the gateware pieces."""

from amaranth.sim import Simulator


def simulate(dut, *testbenches, deadline_cycles=100_000, vcd=None):
    """Run ``testbenches`` (async functions of ``ctx``) against ``dut`` on a 1 MHz clock."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for bench in testbenches:
        sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run_until(deadline_cycles * 1e-6)
    else:
        sim.run_until(deadline_cycles * 1e-6)


async def receive(ctx, stream):
    """Take one payload from ``stream`` (a stream the testbench consumes)."""
    ctx.set(stream.ready, 1)
    payload, = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload
