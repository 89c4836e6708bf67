"""The mover's data FIFO: order kept through pointer wrap, beats readable two cycles after."""

import random

from amaranth_sim import simulate
from hauler.engine.beatfifo import BeatFifo


def test_order_through_wrap_with_random_reads():
    dut = BeatFifo(width=16, depth=8)
    rng = random.Random(1)
    written = []
    read = []

    async def bench(ctx):
        # Keep at most `depth` beats stored, and read only beats written two cycles ago or
        # more: the contract the mover keeps.
        ages = []        # cycles since each stored beat was written, oldest first
        for _ in range(400):
            write = len(ages) < 8 and rng.random() < 0.6
            take = bool(ages) and ages[0] >= 2 and rng.random() < 0.6
            if take:
                read.append(ctx.get(dut.r_data))
            ctx.set(dut.r_en, take)
            ctx.set(dut.w_en, write)
            if write:
                written.append(rng.getrandbits(16))
                ctx.set(dut.w_data, written[-1])
            await ctx.tick()
            if take:
                ages.pop(0)
            ages = [age + 1 for age in ages] + ([1] if write else [])

    simulate(dut, bench, deadline_cycles=500)
    assert len(read) > 100
    assert read == written[:len(read)]
