"""AXI4 adapter: burst fields, error responses, and that it adds no cycle."""

from amaranth.sim import Simulator
from hauler.bus.axi4 import AXI4Adapter
from hauler.bus.signatures import BURST_FIXED, BURST_INCR


def test_commands_responses_and_errors():
    # Purely combinational: every check is made in the same instant, no clock needed.
    dut = AXI4Adapter(addr_width=32, data_width=64)
    axi = dut.axi

    async def bench(ctx):
        ctx.set(dut.read.cmd.payload, dict(addr=0x1F80, beats=16, fixed=0, len=15))
        ctx.set(dut.read.cmd.valid, 1)
        ctx.set(dut.write.cmd.payload, dict(addr=0x40, beats=1, fixed=1, len=0))
        ctx.set(dut.write.cmd.valid, 1)
        assert (ctx.get(axi.araddr), ctx.get(axi.arlen), ctx.get(axi.arsize),
                ctx.get(axi.arburst)) == (0x1F80, 15, 3, BURST_INCR)
        assert (ctx.get(axi.awlen), ctx.get(axi.awburst)) == (0, BURST_FIXED)
        assert ctx.get(axi.arvalid) and ctx.get(axi.awvalid) and not ctx.get(dut.read.cmd.ready)
        ctx.set(axi.arready, 1)
        assert ctx.get(dut.read.cmd.ready)
        for resp, err in ((0, 0), (1, 0), (2, 1), (3, 1)):   # OKAY EXOKAY SLVERR DECERR
            ctx.set(axi.rresp, resp)
            ctx.set(axi.bresp, resp)
            assert ctx.get(dut.read.r.payload.err) == err
            assert ctx.get(dut.write.b.payload.err) == err
        ctx.set(axi.rvalid, 1)
        ctx.set(axi.rlast, 1)
        ctx.set(dut.read.r.ready, 1)
        assert ctx.get(axi.rready) and ctx.get(dut.read.r.valid) and ctx.get(dut.read.r.payload.last)
        ctx.set(dut.write.w.payload, dict(data=0x1122, strb=0x0F, last=1))
        ctx.set(dut.write.w.valid, 1)
        assert (ctx.get(axi.wdata), ctx.get(axi.wstrb), ctx.get(axi.wlast)) == (0x1122, 0x0F, 1)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
