"""Burst planner: every burst legal and as long as allowed; bursts tile the transfer."""

import random

import pytest

from amaranth_sim import simulate, receive
from hauler.engine.planner import BurstPlanner, FIXED_MAX_BEATS


def shown(dut, transfer):
    """``transfer`` as the channel shows it: with ``long`` worked out from the length."""
    return {**transfer, "long": transfer["length"] >= 1 << dut.long_bits}


async def start(ctx, dut, transfer):
    """Present ``transfer``, then pulse ``go`` with ``hold`` (as the channel's registers do:
    written in an earlier cycle than the START write), and ``hold`` a cycle more."""
    ctx.set(dut.transfer, shown(dut, transfer))
    await ctx.tick()
    ctx.set(dut.go, 1)
    ctx.set(dut.hold, 1)
    await ctx.tick()
    ctx.set(dut.go, 0)
    await ctx.tick()
    ctx.set(dut.hold, 0)


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
    data path busy. (And no sooner: the next page number, summed a cycle after a burst
    moves an address, is ready for the next burst's page carry only then.)"""
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


def plan_unaligned(transfers, *, beat_shift, max_burst, stall, seed):
    """Plan byte-granular ``transfers``; returns each one's bursts as dicts."""
    dut = BurstPlanner(addr_width=32, len_width=32, beat_shift=beat_shift,
                       max_burst=max_burst, unaligned=True)
    rng = random.Random(seed)
    results = []

    async def bench(ctx):
        for t in transfers:
            await start(ctx, dut, t)
            bursts = []
            while not (bursts and bursts[-1]["end"]):
                while rng.random() < stall:
                    await ctx.tick()
                b = await receive(ctx, dut.bursts)
                bursts.append({name: int(getattr(b, name)) for name in (
                    "src", "dst", "beats", "reads", "end", "pre", "tail", "split",
                    "first_lane", "last_lane")})
                assert len(bursts) < 10_000
            await ctx.tick()
            assert ctx.get(dut.idle)
            results.append(bursts)

    simulate(dut, bench, deadline_cycles=2_000_000)
    return results


def check_unaligned(t, bursts, *, beat_shift, max_burst):
    """The bursts read every source beat and write every destination beat of ``t`` once,
    in order, each within a page and the maximum on both sides, as long as allowed."""
    beat = 1 << beat_shift
    s, d, n = t["src"] % beat, t["dst"] % beat, t["length"]
    writes_left = (d + n + beat - 1) // beat
    reads_total = (s + n + beat - 1) // beat
    fixed = t["src_fixed"] or t["dst_fixed"]
    limit = min(max_burst, FIXED_MAX_BEATS) if fixed else max_burst
    src, dst = t["src"] - s, t["dst"] - d
    split = (d - s) % beat
    last_lane = (d + n - 1) % beat
    reads = 0
    for i, b in enumerate(bursts):
        pre = int(i == 0 and s > d)
        assert (b["src"], b["dst"], b["pre"], b["split"]) == (src, dst, pre, split)
        assert b["end"] == (b is bursts[-1])
        assert b["tail"] == int(b["end"] and last_lane < split)
        assert b["reads"] == b["beats"] + b["pre"] - b["tail"]
        if b["beats"]:      # (a burst writing nothing has no strobes)
            first_writes = all(x["beats"] == 0 for x in bursts[:i])
            assert b["first_lane"] == (d if first_writes else 0)
        assert b["last_lane"] == (last_lane if b["end"] else beat - 1)
        page_src = (4096 - src % 4096) // beat if not t["src_fixed"] else limit
        page_dst = (4096 - dst % 4096) // beat if not t["dst_fixed"] else limit
        assert b["reads"] <= min(limit, page_src) and b["beats"] <= min(limit, page_dst)
        assert b["beats"] == min(limit - pre, writes_left, page_src - pre, page_dst)
        writes_left -= b["beats"]
        reads += b["reads"]
        src += 0 if t["src_fixed"] else b["reads"] * beat
        dst += 0 if t["dst_fixed"] else b["beats"] * beat
    assert writes_left == 0 and reads == reads_total


@pytest.mark.parametrize("beat_shift,max_burst", [(2, 16), (2, 1), (3, 7), (4, 256)])
def test_unaligned_transfers(beat_shift, max_burst):
    rng = random.Random(beat_shift * 7000 + max_burst)
    beat = 1 << beat_shift
    transfers = []
    longest = 9000 if max_burst > 1 else 600        # (one beat per burst: slow to simulate)
    for _ in range(60):
        src_fixed, dst_fixed = rng.random() < 0.1, rng.random() < 0.1
        src = rng.randrange(0, 1 << 20)
        dst = rng.randrange(0, 1 << 20)
        transfers.append(dict(
            src=src - src % beat if src_fixed else src,
            dst=dst - dst % beat if dst_fixed else dst,
            length=rng.choice([1, 2, beat - 1, beat, beat + 1, rng.randrange(1, longest)]),
            src_fixed=int(src_fixed), dst_fixed=int(dst_fixed)))
    # A read-ahead at a source page's last beat: a first burst that writes nothing.
    transfers.append(dict(src=0xFFF, dst=0x2000, length=100, src_fixed=0, dst_fixed=0))
    # A final beat all from the carry after a page cut: a burst that reads nothing.
    transfers.append(dict(src=0x0, dst=0x1FFF - 16 * beat, length=16 * beat + 2,
                          src_fixed=0, dst_fixed=0))
    for t, bursts in zip(transfers, plan_unaligned(transfers, beat_shift=beat_shift,
                                                   max_burst=max_burst, stall=0.3,
                                                   seed=max_burst)):
        check_unaligned(t, bursts, beat_shift=beat_shift, max_burst=max_burst)


def test_hold_keeps_the_transfer_taken():
    """The planner plans the transfer of the last cycle before ``hold``, whatever the
    transfer does from then on (the channel's checks judged that one)."""
    dut = BurstPlanner(addr_width=32, len_width=32, beat_shift=2, max_burst=16)
    first = dict(src=0x100, dst=0x2000, length=32, src_fixed=0, dst_fixed=0)
    other = dict(src=0xFF0, dst=0x3FFC, length=400, src_fixed=0, dst_fixed=0)

    async def bench(ctx):
        ctx.set(dut.transfer, shown(dut, first))
        await ctx.tick()
        ctx.set(dut.hold, 1)                # held a cycle before `go` too
        ctx.set(dut.transfer, shown(dut, other))
        await ctx.tick()
        ctx.set(dut.go, 1)
        await ctx.tick()
        ctx.set(dut.go, 0)
        await ctx.tick()
        ctx.set(dut.hold, 0)
        b = await receive(ctx, dut.bursts)
        assert (b.src, b.dst, b.beats, b.end) == (0x100, 0x2000, 8, 1)
        await ctx.tick()
        assert ctx.get(dut.idle)

    simulate(dut, bench)


@pytest.mark.parametrize("unaligned", [False, True])
def test_descriptor_launched_two_cycles_after_its_load(unaligned):
    """The channel's timing for a descriptor (channel.py, around `hold`): loaded into the
    registers in cycle X, shown to the planner from X + 1, launched (`go`, with `hold`) in
    X + 2 at the earliest, held in X + 3 too. The planner must plan that descriptor, not the
    one shown before it: its state follows the transfer a cycle late, its bounds the state a
    cycle later, so a planner that needed the transfer any earlier (a stage more between the
    transfer and the first burst's bounds) fails here."""
    dut = BurstPlanner(addr_width=32, len_width=32, beat_shift=2, max_burst=16,
                       unaligned=unaligned)
    # Every bound of the first burst differs between the two: the length, both pages, the
    # byte lanes (with the realigner).
    before = dict(src=0xFF8, dst=0x3000, length=4096, src_fixed=0, dst_fixed=0)
    descriptors = [
        dict(src=0x2000, dst=0x5FF4 + unaligned, length=20 + 3 * unaligned,
             src_fixed=0, dst_fixed=0),
        dict(src=0x7FC0 + 2 * unaligned, dst=0x100, length=256 + unaligned,
             src_fixed=0, dst_fixed=0),
        dict(src=0x100, dst=0x7000, length=8, src_fixed=0, dst_fixed=1 - unaligned),
    ]
    planned = []

    async def bench(ctx):
        for t in descriptors:
            ctx.set(dut.transfer, shown(dut, before))   # what the registers held (planner idle)
            for _ in range(3):
                await ctx.tick()
            ctx.set(dut.transfer, shown(dut, t))        # cycle X + 1: the registers show it
            await ctx.tick()
            ctx.set(dut.go, 1)                  # X + 2: the launch, held from here
            ctx.set(dut.hold, 1)
            ctx.set(dut.transfer, shown(dut, before))   # (what they show now is not planned)
            await ctx.tick()
            ctx.set(dut.go, 0)                  # X + 3: held in the cycle after `go`
            await ctx.tick()
            ctx.set(dut.hold, 0)
            bursts = []
            while not (bursts and bursts[-1]["end"]):
                b = await receive(ctx, dut.bursts)
                names = ["src", "dst", "beats", "end"]
                if unaligned:
                    names += ["reads", "pre", "tail", "split", "first_lane", "last_lane"]
                bursts.append({name: int(getattr(b, name)) for name in names})
                assert len(bursts) < 100
            await ctx.tick()
            assert ctx.get(dut.idle)
            planned.append(bursts)

    simulate(dut, bench)
    for t, bursts in zip(descriptors, planned):
        if unaligned:
            check_unaligned(t, bursts, beat_shift=2, max_burst=16)
        else:
            check(t, bursts, beat_shift=2, max_burst=16)


@pytest.mark.parametrize("passes", [True, False])
def test_wait_holds_the_first_burst_until_the_verdict(passes):
    """A descriptor launched before its verdict (chain.py): with ``wait`` high, the first
    burst is sized but not offered, however long the verdict takes; once ``wait`` falls it
    is offered as planned. If the verdict fails, ``abort`` drops the transfer instead:
    nothing is offered and the planner goes idle."""
    dut = BurstPlanner(addr_width=32, len_width=32, beat_shift=2, max_burst=16)
    t = dict(src=0xFF0, dst=0x2000, length=256, src_fixed=0, dst_fixed=0)

    async def bench(ctx):
        ctx.set(dut.bursts.ready, 1)
        ctx.set(dut.wait, 1)
        await start(ctx, dut, t)
        for _ in range(12):
            assert not ctx.get(dut.bursts.valid)
            assert not ctx.get(dut.idle)
            await ctx.tick()
        if passes:
            ctx.set(dut.wait, 0)
            b = await receive(ctx, dut.bursts)
            assert (b.src, b.dst, b.beats) == (0xFF0, 0x2000, 4)    # to the source's page end
        else:
            ctx.set(dut.abort, 1)
            await ctx.tick()
            ctx.set(dut.abort, 0)
            ctx.set(dut.wait, 0)
            for _ in range(6):
                assert not ctx.get(dut.bursts.valid)
                await ctx.tick()
            assert ctx.get(dut.idle)

    simulate(dut, bench)
