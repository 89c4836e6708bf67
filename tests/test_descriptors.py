"""The scatter-gather descriptor unit: fetch bursts and completion write-backs."""

import random

import pytest

from amaranth_sim import simulate
from hauler.engine.descriptors import FetchPlan, DescriptorUnit


def _memory_slave(dut, memory, *, data_width, rng, errors, state):
    """A byte-addressed memory on the unit's read and write ports, with random stalls, until
    ``state["done"]``. Returns the testbench and the list of write bursts it records, each as
    (addr, [(data, strb, last), ...]). Bus words in ``errors`` answer with an error.
    """
    beat_bytes = data_width // 8
    writes = []

    async def slave(ctx):
        reads, beats_out, w_beats, responses, wcmds = [], [], [], [], []
        while not state["done"]:
            # Drive this cycle's inputs, then sample the handshakes they make, then tick.
            if not beats_out and reads:
                addr, n = reads.pop(0)
                beats_out = [(addr + i * beat_bytes, i == n - 1) for i in range(n)]
            ctx.set(dut.read.cmd.ready, rng.random() < 0.7)
            ctx.set(dut.write.cmd.ready, rng.random() < 0.7)
            ctx.set(dut.write.w.ready, rng.random() < 0.6 and bool(wcmds))
            if beats_out and rng.random() < 0.7:
                word, last = beats_out[0]
                value = int.from_bytes(bytes(memory.get(word + k, 0)
                                             for k in range(beat_bytes)), "little")
                ctx.set(dut.read.r.valid, 1)
                ctx.set(dut.read.r.payload, dict(data=value, last=last, err=word in errors))
            else:
                ctx.set(dut.read.r.valid, 0)
            ctx.set(dut.write.b.valid, bool(responses))
            if responses:
                ctx.set(dut.write.b.payload.err, responses[0])

            if ctx.get(dut.read.cmd.valid) and ctx.get(dut.read.cmd.ready):
                reads.append((ctx.get(dut.read.cmd.payload.addr),
                              ctx.get(dut.read.cmd.payload.beats)))
            if ctx.get(dut.read.r.valid) and ctx.get(dut.read.r.ready):
                beats_out.pop(0)
            if ctx.get(dut.write.b.valid) and ctx.get(dut.write.b.ready):
                responses.pop(0)
            if ctx.get(dut.write.cmd.valid) and ctx.get(dut.write.cmd.ready):
                wcmds.append((ctx.get(dut.write.cmd.payload.addr),
                              ctx.get(dut.write.cmd.payload.beats)))
            if ctx.get(dut.write.w.valid) and ctx.get(dut.write.w.ready):
                w_beats.append((ctx.get(dut.write.w.payload.data),
                                ctx.get(dut.write.w.payload.strb),
                                ctx.get(dut.write.w.payload.last)))
                if w_beats[-1][2]:
                    addr, n = wcmds.pop(0)
                    assert len(w_beats) == n
                    writes.append((addr, w_beats))
                    responses.append(addr in errors)
                    w_beats = []
            await ctx.tick()

    return slave, writes


@pytest.mark.parametrize("data_width", [32, 64, 128])
def test_fetch_broadcasts_the_descriptor_beats(data_width):
    rng = random.Random(data_width)
    dut = DescriptorUnit(addr_width=32, data_width=data_width, channels=3)
    beat_bytes = data_width // 8
    memory = {a: rng.getrandbits(8) for a in range(0x1000)}
    state = {"done": False}
    slave, _ = _memory_slave(dut, memory, data_width=data_width, rng=rng,
                             errors={0x300 + 8 // beat_bytes * beat_bytes}, state=state)
    got = []

    async def bench(ctx):
        for channel, addr in [(0, 0x40), (2, 0x200), (1, 0x300), (1, 0xFC0)]:
            # A pulse, always taken; the address held until the fetch ends.
            ctx.set(dut.fetch_addr.as_value(), addr << (32 * channel))
            ctx.set(dut.fetch_now, 1 << channel)
            await ctx.tick()
            ctx.set(dut.fetch_now, 0)
            beats = []
            while not beats or not beats[-1][4]:
                *_, valid, ch, index, value, err, last, penultimate, nonzero = \
                    await ctx.tick().sample(
                        dut.fetched.valid, dut.fetched.channel, dut.fetched.beat.index,
                        dut.fetched.beat.data, dut.fetched.beat.err, dut.fetched.beat.last,
                        dut.fetched.beat.penultimate, dut.fetched.beat.nonzero)
                if valid:
                    beats.append((ch, index, value, err, last))
                    # The flags beside the beat: the one before the last; non-zero words.
                    assert penultimate == (index == FetchPlan(data_width).beats - 2)
                    assert nonzero == sum(1 << j for j in range(data_width // 32)
                                          if value >> (32 * j) & 0xFFFF_FFFF)
            got.append((addr, beats))
        state["done"] = True

    simulate(dut, bench, slave, deadline_cycles=2000)
    channels = [0, 2, 1, 1]
    plan = FetchPlan(data_width)
    for (addr, beats), channel in zip(got, channels):
        # The beats from NEXT to STATUS, counted in the plan's order (the transfer fields,
        # NEXT, STATUS last), for the channel that asked; errors flagged.
        assert [b[1] for b in beats] == list(range(plan.beats))
        assert {b[0] for b in beats} == {channel}
        for ch, index, value, err, last in beats:
            word = addr + plan.order[index] * beat_bytes
            assert err == (addr == 0x300 and word == 0x300 + 8 // beat_bytes * beat_bytes)
            expected = bytes(memory[word + k] for k in range(beat_bytes))
            assert value.to_bytes(beat_bytes, "little") == expected


@pytest.mark.parametrize("data_width", [32, 64, 128])
def test_writeback_is_one_8_byte_write_at_0x20(data_width):
    rng = random.Random(data_width + 1)
    dut = DescriptorUnit(addr_width=32, data_width=data_width, channels=2)
    state = {"done": False}
    slave, writes = _memory_slave(dut, {}, data_width=data_width, rng=rng, errors={0x120},
                                  state=state)
    events = []

    async def bench(ctx):
        for channel, addr, status, count in [(1, 0x40, 0x8000_0000, 64),
                                             (0, 0x100, 0xC300_0000, 12)]:
            ctx.set(dut.writeback.valid, 1)
            ctx.set(dut.writeback.payload.channel, channel)
            ctx.set(dut.writeback.payload.addr, addr)
            ctx.set(dut.writeback.payload.words.as_value(), status | count << 32)
            await ctx.tick().until(dut.writeback.ready)
            ctx.set(dut.writeback.valid, 0)
            ch, err = await ctx.tick().sample(
                dut.written.channel, dut.written.err).until(dut.written.valid)
            events.append((ch, err))
        state["done"] = True

    simulate(dut, bench, slave, deadline_cycles=2000)
    assert events == [(1, 0), (0, 1)]
    beat_bytes = data_width // 8
    for (addr, burst), (status, count) in zip(writes, [(0x8000_0000, 64), (0xC300_0000, 12)]):
        assert addr in (0x60, 0x120)
        assert [last for *_, last in burst] == [0] * (len(burst) - 1) + [1]
        written = {}
        for i, (value, strb, _) in enumerate(burst):
            for k in range(beat_bytes):
                if strb >> k & 1:
                    written[addr + i * beat_bytes + k] = value >> (8 * k) & 0xFF
        expected = (status | count << 32).to_bytes(8, "little")
        assert written == {addr + k: expected[k] for k in range(8)}


def test_fetch_requests_are_granted_round_robin_one_at_a_time():
    # Three channels ask at once, and one asks again during a fetch: each is kept until
    # granted, one fetch at a time, the first after the one granted last first; the
    # command goes out from flip-flops with the address the channel holds, and the beats
    # carry its number and flags.
    rng = random.Random(7)
    dut = DescriptorUnit(addr_width=32, data_width=32, channels=3)
    memory = {a: rng.getrandbits(8) for a in range(0x400)}
    state = {"done": False}
    slave, _ = _memory_slave(dut, memory, data_width=32, rng=rng, errors=set(), state=state)
    addrs = {0: 0x40, 1: 0x80, 2: 0xC0}
    plan = FetchPlan(32)
    order = []

    async def bench(ctx):
        ctx.set(dut.fetch_addr.as_value(), sum(a << (32 * n) for n, a in addrs.items()))
        ctx.set(dut.fetch_now, 0b111)
        await ctx.tick()
        ctx.set(dut.fetch_now, 0)
        asked_again = False
        while len(order) < 4:
            *_, valid, ch, last, ours, ends, ctrl_in = await ctx.tick().sample(
                dut.fetched.valid, dut.fetched.channel, dut.fetched.beat.last,
                dut.fetched.ours, dut.fetched.ends, dut.fetched.ctrl_in)
            if valid:
                assert ours == 1 << ch
                assert ends == (ours if last else 0)
            if valid and last:
                order.append(ch)
                if not asked_again:
                    # Channel 1 again (its first fetch is done), while another is under way.
                    ctx.set(dut.fetch_now, 0b010)
                    await ctx.tick()
                    ctx.set(dut.fetch_now, 0)
                    asked_again = True
        state["done"] = True

    async def commands(ctx):
        seen = []
        while not state["done"]:
            _, _, valid, ready, addr, n = await ctx.tick().sample(
                dut.read.cmd.valid, dut.read.cmd.ready, dut.read.cmd.payload.addr,
                dut.read.cmd.payload.beats)
            if valid and ready:
                seen.append((addr, n))
        # Each fetch's bursts in a row, in the plan's order: the transfer fields (SRC to
        # CTRL), NEXT, STATUS.
        assert plan.bursts == [(0x08, 6), (0x00, 2), (0x20, 1)]
        assert seen == [(addrs[c] + first, n) for c in order for first, n in plan.bursts]

    simulate(dut, bench, slave, commands, deadline_cycles=3000)
    assert order == [1, 2, 0, 1]
