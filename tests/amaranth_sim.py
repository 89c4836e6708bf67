"""Small helpers for Amaranth-simulator unit tests of the gateware pieces."""

from amaranth.sim import Simulator


def simulate(dut, *testbenches, deadline_cycles=100_000, vcd=None):
    """Run ``testbenches`` (async functions of ``ctx``) against ``dut`` on a 1 MHz clock,
    until they all return; fail if that takes more than ``deadline_cycles``."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for bench in testbenches:
        sim.add_testbench(bench)

    async def watchdog(ctx):
        for _ in range(deadline_cycles):
            await ctx.tick()
        raise TimeoutError(f"the testbenches did not finish in {deadline_cycles} cycles")

    sim.add_testbench(watchdog, background=True)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()


async def receive(ctx, stream):
    """Take one payload from ``stream`` (a stream the testbench consumes)."""
    ctx.set(stream.ready, 1)
    payload, = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload
