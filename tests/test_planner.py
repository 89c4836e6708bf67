"""Burst planner: every burst legal and as long as allowed; bursts tile the transfer."""

import random

import pytest

from amaranth_sim import simulate, receive
from hauler.engine.planner import BurstPlanner, FIXED_MAX_BEATS


async def start(ctx, dut, transfer):
    """Present ``transfer``, then pulse ``go`` (as the channel's registers do: written in an
    earlier cycle than the START write)."""
    ctx.set(dut.transfer, transfer)
    await ctx.tick()
    ctx.set(dut.go, 1)
    await ctx.tick()
    ctx.set(dut.go, 0)


def plan(transfers, *, beat_shift=2, max_burst=16, addr_width=32, stall=0.0, seed=1):
    dut = BurstPlanner(addr_width=addr_width, len_width=32, beat_shift=beat_shift,
                       max_burst=max_burst)
    rng = random.Random(seed)
    results = []

    async def bench(ctx):
        for t in transfers:
            await start(ctx, dut, t)
            bursts, total = [], 0
            while total < t["length"] >> beat_shift:
                while rng.random() < stall:
                    await ctx.tick()
                b = await receive(ctx, dut.bursts)
                bursts.append(dict(src=b.src, dst=b.dst, beats=b.beats, end=b.end))
                total += b.beats
            await ctx.tick()
            assert ctx.get(dut.idle)
            results.append(bursts)

    simulate(dut, bench)
    return results


def check(transfer, bursts, *, beat_shift, max_burst):
    beat = 1 << beat_shift
    src, dst, left = transfer["src"], transfer["dst"], transfer["length"] >> beat_shift
    fixed = transfer["src_fixed"] or transfer["dst_fixed"]
    limit = min(max_burst, FIXED_MAX_BEATS) if fixed else max_burst
    for b in bursts:
        assert (b["src"], b["dst"]) == (src, dst)
        assert b["end"] == (b is bursts[-1]), "end marks the final burst only"
        page_src = (4096 - src % 4096) // beat if not transfer["src_fixed"] else limit
        page_dst = (4096 - dst % 4096) // beat if not transfer["dst_fixed"] else limit
        assert b["beats"] == min(limit, left, page_src, page_dst)   # legal and maximal
        left -= b["beats"]
        src += 0 if transfer["src_fixed"] else b["beats"] * beat
        dst += 0 if transfer["dst_fixed"] else b["beats"] * beat
    assert left == 0


@pytest.mark.parametrize("beat_shift,max_burst", [(2, 16), (2, 256), (3, 7), (4, 1)])
def test_random_transfers(beat_shift, max_burst):
    rng = random.Random(beat_shift * 1000 + max_burst)
    beat = 1 << beat_shift
    transfers = []
    for _ in range(40):
        transfers.append(dict(
            src=rng.randrange(0, 1 << 20) * beat, dst=rng.randrange(0, 1 << 20) * beat,
            length=rng.choice([1, 2, 15, 16, 17, rng.randrange(1, 3000)]) * beat,
            src_fixed=int(rng.random() < 0.15), dst_fixed=int(rng.random() < 0.15)))
    # A transfer straddling pages on both sides at different offsets.
    transfers.append(dict(src=0xFF0, dst=0x1FE0, length=0x2000, src_fixed=0, dst_fixed=0))
    for t, bursts in zip(transfers, plan(transfers, beat_shift=beat_shift,
                                         max_burst=max_burst, stall=0.3)):
        check(t, bursts, beat_shift=beat_shift, max_burst=max_burst)


def test_burst_every_third_cycle():
    """Without back-pressure a burst leaves every third cycle: three-beat bursts keep the
    data path busy."""
    dut = BurstPlanner(addr_width=32, len_width=32, beat_shift=2, max_burst=2)
    cycles = []

    async def bench(ctx):
        await start(ctx, dut, dict(src=0, dst=0x1000, length=64, src_fixed=0, dst_fixed=0))
        ctx.set(dut.bursts.ready, 1)
        for _ in range(32):
            cycles.append(ctx.get(dut.bursts.valid))
            await ctx.tick()

    simulate(dut, bench)
    assert sum(cycles) == 8
    first = cycles.index(1)
    assert cycles[first:first + 24] == [1, 0, 0] * 8


def test_abort_drops_remaining_bursts():
    dut = BurstPlanner(addr_width=32, len_width=32, beat_shift=2, max_burst=4)

    async def bench(ctx):
        await start(ctx, dut, dict(src=0, dst=0x1000, length=256, src_fixed=0, dst_fixed=0))
        first = await receive(ctx, dut.bursts)
        assert first.beats == 4
        ctx.set(dut.abort, 1)
        await ctx.tick()
        ctx.set(dut.abort, 0)
        # The burst already offered is still delivered; nothing after it.
        if ctx.get(dut.bursts.valid):
            await receive(ctx, dut.bursts)
        for _ in range(5):
            await ctx.tick()
            assert not ctx.get(dut.bursts.valid)
        assert ctx.get(dut.idle)

    simulate(dut, bench)
