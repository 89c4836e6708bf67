"""Register blocks built from the description: RW with byte strobes, W pulses, RW1C, R."""

from amaranth.hdl import Module

from amaranth_sim import simulate
from hauler import registers as regs
from hauler.csr.regfile import RegisterBlock


def _offset(name):
    return next(r.offset for r in regs.CHANNEL_REGISTERS if r.name == name) // 4


def test_channel_block_semantics():
    block = RegisterBlock(regs.CHANNEL_REGISTERS, name="ch0", resets={"beat_bytes": 8})
    m = Module()
    m.submodules.block = block
    set_done = block.set_of("IRQ_STATUS", "DONE")
    load_desc, desc_value = block.load_of("DESC_LO", "VALUE")

    async def write(ctx, name, value, strb=0xF):
        ctx.set(block.w_word, _offset(name))
        ctx.set(block.w_data, value)
        ctx.set(block.w_strb, strb)
        ctx.set(block.w_stb, 1)
        await ctx.tick()
        ctx.set(block.w_stb, 0)
        # Actions pulse in the cycle after the write.
        return (ctx.get(block["CTRL", "START"]), ctx.get(block["CTRL", "ABORT"]))

    def read(ctx, name):
        ctx.set(block.r_word, _offset(name))
        return ctx.get(block.r_data)

    async def bench(ctx):
        assert read(ctx, "REQ_BURST") == 8                       # symbolic reset value
        await write(ctx, "DST_LO", 0x11223344)
        await write(ctx, "DST_LO", 0xAABBCCDD, strb=0b1001)
        assert read(ctx, "DST_LO") == 0xAA2233DD
        assert await write(ctx, "CTRL", 0b10001) == (1, 0)     # START pulses, CYCLIC stored
        await ctx.tick()
        assert ctx.get(block["CTRL", "START"]) == 0              # for one cycle only
        assert read(ctx, "CTRL") == 0b10000                      # W bits read 0
        assert await write(ctx, "CTRL", 0b00100, strb=0) == (0, 0)   # no strobe, no pulse
        ctx.set(block["STATUS", "ERR_CODE"], 5)                  # R: driven by hardware
        ctx.set(block["STATUS", "BUSY"], 1)
        assert read(ctx, "STATUS") == 0x51
        ctx.set(set_done, 1)
        await ctx.tick()
        ctx.set(set_done, 0)
        await write(ctx, "IRQ_STATUS", 0b110)                    # clears nothing set
        assert read(ctx, "IRQ_STATUS") == 0b001
        ctx.set(set_done, 1)                                     # set wins over clear
        await write(ctx, "IRQ_STATUS", 0b001)
        ctx.set(set_done, 0)
        assert read(ctx, "IRQ_STATUS") == 0b001
        await write(ctx, "IRQ_STATUS", 0b001)
        assert read(ctx, "IRQ_STATUS") == 0
        await write(ctx, "XFER", 0xFFFFFFFF)
        assert read(ctx, "XFER") == 0xFF                         # reserved bits read 0
        assert read(ctx, "BYTES") == 0
        ctx.set(desc_value, 0x1240)                              # hardware load
        ctx.set(load_desc, 1)
        await ctx.tick()
        ctx.set(load_desc, 0)
        assert read(ctx, "DESC_LO") == 0x1240
        ctx.set(desc_value, 0x2000)
        ctx.set(load_desc, 1)                                    # wins over software
        await write(ctx, "DESC_LO", 0x3000)
        ctx.set(load_desc, 0)
        assert read(ctx, "DESC_LO") == 0x2000

    simulate(m, bench, deadline_cycles=100)
