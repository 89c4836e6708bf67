"""Register blocks built from the description: RW with byte strobes, W pulses, RW1C, R, and
the zero flags kept beside a field."""

import random

from amaranth.hdl import Module

from amaranth_sim import simulate
from hauler import registers as regs
from hauler.csr.regfile import RegisterBlock


def test_channel_block_semantics():
    block = RegisterBlock(regs.CHANNEL_REGISTERS, name="ch0", resets={"beat_bytes": 8})
    m = Module()
    m.submodules.block = block
    set_done = block.set_of("IRQ_STATUS", "DONE")
    load_desc, desc_value = block.load_of("DESC_LO", "VALUE")
    start_next = block.pulse_next_of("CTRL", "START")

    async def written(ctx, name, value, strb=0xF):
        """Apply a write in this cycle, on the port the register file uses for ``name``
        (its selects are one-hot)."""
        reg = next(r for r in block.registers if r.name == name)
        sel, lanes, data = ((block.now_sel, block.now_lanes, block.now_data)
                            if block.immediate(reg) else
                            (block.w_sel, block.w_lanes, block.w_data))
        ctx.set(sel, 1 << block.index(name))
        ctx.set(data, value)
        ctx.set(lanes, strb)
        # START's next value shows in the cycle of the write that makes it.
        assert ctx.get(start_next) == (name == "CTRL" and value & 1 and strb & 1)
        await ctx.tick()
        ctx.set(lanes, 0)
        # Actions pulse in the next cycle, with the RW bits beside them in place.
        return (ctx.get(block["CTRL", "START"]), ctx.get(block["CTRL", "ABORT"]),
                ctx.get(block["CTRL", "CYCLIC"]))

    async def read(ctx, name):
        ctx.set(block.r_sel, 1 << block.index(name))
        value = ctx.get(block.r_data)
        ctx.set(block.r_sel, 0)
        assert ctx.get(block.r_data) == 0                        # nothing selected
        return value

    async def bench(ctx):
        assert await read(ctx, "REQ_BURST") == 8                 # symbolic reset value
        await written(ctx, "DST_LO", 0x11223344)
        await written(ctx, "DST_LO", 0xAABBCCDD, strb=0b1001)
        assert await read(ctx, "DST_LO") == 0xAA2233DD
        assert await written(ctx, "CTRL", 0b10001) == (1, 0, 1)  # START pulses, CYCLIC stored
        await ctx.tick()
        assert ctx.get(block["CTRL", "START"]) == 0              # for one cycle only
        assert ctx.get(start_next) == 0
        assert await read(ctx, "CTRL") == 0b10000                # W bits read 0
        assert await written(ctx, "CTRL", 0b00100, strb=0) == (0, 0, 1)   # no strobe, no pulse
        ctx.set(block["STATUS", "ERR_CODE"], 5)                  # R: driven by hardware
        ctx.set(block["STATUS", "BUSY"], 1)
        assert await read(ctx, "STATUS") == 0x51
        ctx.set(set_done, 1)                                     # a hardware event
        await ctx.tick()
        ctx.set(set_done, 0)
        await written(ctx, "IRQ_STATUS", 0b110)                  # clears nothing set
        assert await read(ctx, "IRQ_STATUS") == 0b001
        ctx.set(set_done, 1)                                     # set wins over clear
        await written(ctx, "IRQ_STATUS", 0b001)
        ctx.set(set_done, 0)
        assert await read(ctx, "IRQ_STATUS") == 0b001
        await written(ctx, "IRQ_STATUS", 0b001)
        assert await read(ctx, "IRQ_STATUS") == 0
        await written(ctx, "XFER", 0xFFFFFFFF)
        assert await read(ctx, "XFER") == 0xFF                   # reserved bits read 0
        assert await read(ctx, "BYTES") == 0
        ctx.set(desc_value, 0x1240)                              # hardware load
        ctx.set(load_desc, 1)
        await ctx.tick()
        ctx.set(load_desc, 0)
        assert await read(ctx, "DESC_LO") == 0x1240
        ctx.set(desc_value, 0x2000)
        ctx.set(load_desc, 1)                                    # wins over software
        await written(ctx, "DESC_LO", 0x3000)
        ctx.set(load_desc, 0)
        assert await read(ctx, "DESC_LO") == 0x2000
        assert await written(ctx, "CTRL", 0b01001, strb=0b10) == (0, 0, 1)  # byte 0 kept
        assert ctx.get(block["CTRL", "CYCLIC"]) == 1

    simulate(m, bench, deadline_cycles=100)


def test_zero_flags_follow_writes_and_loads():
    """A field's zero flags (all of it, and its bits from a given one up, lanes split
    there) agree with its value after writes with any byte strobes and hardware loads."""
    block = RegisterBlock(regs.CHANNEL_REGISTERS, name="ch0", resets={"beat_bytes": 8})
    m = Module()
    m.submodules.block = block
    firsts = [0, 7, 8, 13]
    zeros = {first: block.zero_of("LEN", "VALUE", from_bit=first) for first in firsts}
    load, load_value = block.load_of("LEN", "VALUE")
    rng = random.Random(3)

    async def bench(ctx):
        value = 0
        for step in range(300):
            new = rng.choice([0, 1 << rng.randrange(32), rng.getrandbits(32),
                              rng.getrandbits(8) << rng.choice([0, 5, 8, 13])])
            if rng.random() < 0.3:
                ctx.set(load_value, new)
                ctx.set(load, 1)
                value = new
            else:
                strb = rng.randrange(16)
                ctx.set(block.w_sel, 1 << block.index("LEN"))
                ctx.set(block.w_data, new)
                ctx.set(block.w_lanes, strb)
                mask = sum(0xFF << 8 * lane for lane in range(4) if strb >> lane & 1)
                value = (value & ~mask) | (new & mask)
            await ctx.tick()
            ctx.set(load, 0)
            ctx.set(block.w_lanes, 0)
            assert ctx.get(block["LEN", "VALUE"]) == value
            for first in firsts:
                assert ctx.get(zeros[first]) == (value >> first == 0), (step, first, hex(value))

    simulate(m, bench, deadline_cycles=1000)
