"""The channels' stream buffers: what the ingress takes and tells the planner, how the egress
packs partial beats, keeps its reservations and ends a packet on a halt."""

import random

from amaranth_sim import simulate
from hauler.engine.streams import StreamEgress, StreamIngress


def test_ingress_takes_beats_only_when_enabled_and_holds_one_packet_end():
    dut = StreamIngress(data_width=32, depth=9)
    s = dut.s_axis

    async def bench(ctx):
        ctx.set(s.tvalid, 1)
        ctx.set(s.tdata, 0x11)
        await ctx.tick().repeat(3)
        assert ctx.get(dut.avail) == 0 and not ctx.get(s.tready)   # idle: nothing taken
        ctx.set(dut.enable, 1)
        for value in (0x11, 0x22, 0x33):
            ctx.set(s.tdata, value)
            ctx.set(s.tlast, value == 0x33)
            ctx.set(s.tkeep, 0b0011 if value == 0x33 else 0b1111)  # only the tlast beat's counts
            assert ctx.get(s.tready)
            await ctx.tick()
        ctx.set(s.tdata, 0x44)
        ctx.set(s.tlast, 0)
        await ctx.tick().repeat(2)
        # The packet end is held: nothing more is taken until a burst claims up to it.
        assert not ctx.get(s.tready)
        assert (ctx.get(dut.avail), ctx.get(dut.packet_end), ctx.get(dut.end_lane)) == (3, 1, 1)
        ctx.set(dut.claim_valid, 1)
        ctx.set(dut.claim_beats, 2)
        await ctx.tick()
        ctx.set(dut.claim_valid, 0)
        assert (ctx.get(dut.avail), ctx.get(dut.packet_end)) == (1, 1)
        ctx.set(dut.claim_valid, 1)
        ctx.set(dut.claim_beats, 1)
        await ctx.tick()
        ctx.set(dut.claim_valid, 0)
        assert (ctx.get(dut.avail), ctx.get(dut.packet_end)) == (0, 0)
        assert ctx.get(s.tready)
        await ctx.tick()                        # 0x44 taken
        ctx.set(s.tvalid, 0)
        ctx.set(dut.enable, 0)
        # The mover pops the beats in order.
        ctx.set(dut.beats.ready, 1)
        popped = []
        for _ in range(8):
            if ctx.get(dut.beats.valid):
                popped.append(ctx.get(dut.beats.payload))
            await ctx.tick()
        assert popped == [0x11, 0x22, 0x33, 0x44]

    simulate(dut, bench, deadline_cycles=100)


def _egress_bench(dut, pushes, *, ready_rate, rng, flush_after=False):
    """Push ``pushes`` (data, strb, last) in bursts reserved beforehand, with the sink ready
    at ``ready_rate``; returns the beats sent as (data, keep, last)."""
    sent = []

    async def source(ctx):
        bursts = [pushes[i:i + 4] for i in range(0, len(pushes), 4)]
        for burst in bursts:
            while not ctx.get(dut.room):
                await ctx.tick()
            ctx.set(dut.reserve_valid, 1)
            ctx.set(dut.reserve_beats, len(burst))
            await ctx.tick()
            ctx.set(dut.reserve_valid, 0)
            for data, strb, last in burst:
                ctx.set(dut.push_valid, 1)
                ctx.set(dut.push_data, data)
                ctx.set(dut.push_strb, strb)
                ctx.set(dut.push_last, last)
                await ctx.tick()
            ctx.set(dut.push_valid, 0)
            for _ in range(rng.randrange(3)):
                await ctx.tick()
        if flush_after:
            ctx.set(dut.flush, 1)
            await ctx.tick()
            ctx.set(dut.flush, 0)

    async def sink(ctx):
        out = dut.m_axis
        idle = 0
        while idle < 60:
            ready = rng.random() < ready_rate
            ctx.set(out.tready, ready)
            *_, valid, data, keep, last = await ctx.tick().sample(
                out.tvalid, out.tdata, out.tkeep, out.tlast)
            if valid and ready:
                sent.append((data, keep, last))
                idle = 0
            else:
                idle += 1

    simulate(dut, source, sink, deadline_cycles=5000)
    return sent


def test_egress_merges_the_partial_beats_of_a_packet_across_transfers():
    """Three transfers of 6, 5 and 9 bytes to a 4-byte stream, the last with EOP: the bytes go
    out as whole beats, tkeep partial only on the packet's last."""
    payload = bytes(range(1, 21))
    pushes, lane = [], 0
    for size, eop in ((6, 0), (5, 0), (9, 1)):
        chunk, payload = payload[:size], payload[size:]
        beats = []
        while chunk:
            take = min(4 - lane, len(chunk))
            word = sum(b << (8 * (lane + i)) for i, b in enumerate(chunk[:take]))
            strb = ((1 << take) - 1) << lane
            beats.append([word, strb, 0])
            chunk, lane = chunk[take:], (lane + take) % 4
        beats[-1][2] = eop
        pushes += [tuple(b) for b in beats]
    rng = random.Random(3)
    dut = StreamEgress(data_width=32, depth=9, burst_limit=4)
    sent = _egress_bench(dut, pushes, ready_rate=0.5, rng=rng)
    assert [keep for _, keep, _ in sent] == [0xF] * 4 + [0xF]
    assert [last for _, _, last in sent] == [0, 0, 0, 0, 1]
    assert b"".join(d.to_bytes(4, "little") for d, _, _ in sent) == bytes(range(1, 21))


def test_egress_room_is_never_overcommitted():
    """Bursts of whole beats as fast as room allows, a slow sink: every beat arrives in order
    (a beat pushed without room would be lost by the FIFO)."""
    rng = random.Random(5)
    pushes = [(rng.getrandbits(32), 0xF, i % 7 == 6) for i in range(60)]
    dut = StreamEgress(data_width=32, depth=9, burst_limit=4)
    sent = _egress_bench(dut, pushes, ready_rate=0.2, rng=rng)
    assert sent == [(d, 0xF, int(last)) for d, _, last in pushes]


def test_flush_ends_the_packet_under_way():
    rng = random.Random(7)
    # A held partial beat goes out with tlast.
    dut = StreamEgress(data_width=32, depth=9, burst_limit=4)
    sent = _egress_bench(dut, [(0xAABBCCDD, 0xF, 0), (0x00EEFF00, 0x3, 0)], ready_rate=1,
                         rng=rng, flush_after=True)
    assert [(k, l) for _, k, l in sent] == [(0xF, 0), (0x3, 1)]
    assert sent[0][0] == 0xAABBCCDD and sent[1][0] & 0xFFFF == 0xFF00
    # No beat held but the packet begun: a null beat (tkeep 0) with tlast.
    dut = StreamEgress(data_width=32, depth=9, burst_limit=4)
    sent = _egress_bench(dut, [(0x12345678, 0xF, 0)], ready_rate=1, rng=rng, flush_after=True)
    assert [(k, l) for _, k, l in sent] == [(0xF, 0), (0x0, 1)]
    # Nothing under way: nothing sent.
    dut = StreamEgress(data_width=32, depth=9, burst_limit=4)
    sent = _egress_bench(dut, [(0x12345678, 0xF, 1)], ready_rate=1, rng=rng, flush_after=True)
    assert [(k, l) for _, k, l in sent] == [(0xF, 1)]


def test_flush_takes_a_free_place_and_room_stays():
    """A flush takes the place of a beat nobody reserved; `room` does not fall for it while a
    burst's room is still there (the mover may be waiting on it with a read command shown),
    and no beat is lost."""
    dut = StreamEgress(data_width=32, depth=9, burst_limit=4)
    sent = []

    async def bench(ctx):
        out = dut.m_axis
        ctx.set(out.tready, 0)                  # the device takes nothing for now
        ctx.set(dut.reserve_valid, 1)
        ctx.set(dut.reserve_beats, 4)
        await ctx.tick()
        ctx.set(dut.reserve_valid, 0)
        for i in range(4):                      # a packet begun, not ended
            ctx.set(dut.push_valid, 1)
            ctx.set(dut.push_data, 0x100 + i)
            ctx.set(dut.push_strb, 0xF)
            ctx.set(dut.push_last, 0)
            await ctx.tick()
        ctx.set(dut.push_valid, 0)
        await ctx.tick().repeat(4)
        # 4 places reserved and filled of 9: the free 5 are more than a burst's room.
        assert ctx.get(dut.room)
        ctx.set(dut.flush, 1)
        await ctx.tick()
        ctx.set(dut.flush, 0)
        for _ in range(10):                     # the null beat goes in; 4 places stay free
            assert ctx.get(dut.room)
            await ctx.tick()
        ctx.set(out.tready, 1)
        for _ in range(12):
            *_, valid, data, keep, last = await ctx.tick().sample(
                out.tvalid, out.tdata, out.tkeep, out.tlast)
            if valid:
                sent.append((data, keep, last))

    simulate(dut, bench, deadline_cycles=100)
    assert sent == [(0x100 + i, 0xF, 0) for i in range(4)] + [(sent[4][0], 0, 1)]
