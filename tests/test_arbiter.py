"""Round-robin burst arbiter (ABI §6)."""

from amaranth.lib import data

from amaranth_sim import simulate
from hauler.engine.arbiter import BurstArbiter, RoundRobinArbiter


def test_round_robin_and_no_loss():
    n = 3
    dut = BurstArbiter(addr_width=32, channels=n)
    granted = []

    async def bench(ctx):
        # Every channel always requests; channel 1 stops after 2 bursts.
        left = {0: 6, 1: 2, 2: 6}
        for ch in range(n):
            ctx.set(getattr(dut, f"ch{ch}").valid, 1)
            ctx.set(getattr(dut, f"ch{ch}").payload.src, ch)
        ctx.set(dut.out.ready, 1)
        while sum(left.values()) or ctx.get(dut.out.valid):
            taken = [ch for ch in range(n) if ctx.get(getattr(dut, f"ch{ch}").ready)]
            assert len(taken) <= 1
            await ctx.tick()
            for ch in taken:
                left[ch] -= 1
                if left[ch] == 0:
                    ctx.set(getattr(dut, f"ch{ch}").valid, 0)
            if ctx.get(dut.out.valid):
                granted.append(ctx.get(dut.out.payload.channel))
                assert ctx.get(dut.out.payload.burst.src) == granted[-1]

    simulate(dut, bench, deadline_cycles=200)
    assert granted[:6] == [0, 1, 2, 0, 1, 2]
    assert granted[6:] == [0, 2, 0, 2, 0, 2, 0, 2]


def test_holds_output_under_backpressure():
    dut = BurstArbiter(addr_width=32, channels=2)

    async def bench(ctx):
        ctx.set(dut.ch0.valid, 1)
        ctx.set(dut.ch0.payload.beats, 5)
        await ctx.tick().repeat(3)
        assert ctx.get(dut.out.valid) and ctx.get(dut.out.payload.burst.beats) == 5
        assert not ctx.get(dut.ch0.ready)       # nothing taken while the output waits
        ctx.set(dut.out.ready, 1)
        await ctx.tick()
        ctx.set(dut.ch0.valid, 0)
        ctx.set(dut.out.ready, 0)

    simulate(dut, bench, deadline_cycles=50)


def test_unregistered_goes_through_round_robin_and_holds_what_it_shows():
    layout = data.StructLayout({"value": 8})
    dut = RoundRobinArbiter(layout, channels=3, field="request", registered=False)
    taken = []

    async def bench(ctx):
        for ch in range(3):
            ctx.set(getattr(dut, f"ch{ch}").payload.value, 10 + ch)
        ctx.set(dut.ch1.valid, 1)
        # Offered alone: through in the same cycle.
        assert ctx.get(dut.out.valid) and ctx.get(dut.out.payload.channel) == 1
        await ctx.tick()
        # Not taken; channel 0 asks too: what is shown stays.
        ctx.set(dut.ch0.valid, 1)
        ctx.set(dut.ch2.valid, 1)
        assert ctx.get(dut.out.payload.channel) == 1
        assert ctx.get(dut.out.payload.request.value) == 11 and not ctx.get(dut.ch0.ready)
        ctx.set(dut.out.ready, 1)
        for _ in range(6):
            chosen = ctx.get(dut.out.payload.channel)
            assert ctx.get(getattr(dut, f"ch{chosen}").ready)
            taken.append(chosen)
            await ctx.tick()

    simulate(dut, bench, deadline_cycles=50)
    assert taken == [1, 2, 0, 1, 2, 0]


def test_lone_channel_goes_straight_through_and_tells_its_planner_from_a_flip_flop():
    """One channel: the burst is shown in the cycle it is offered (no register: a cycle
    off the launch); the planner is told it was taken in the next cycle, by a flip-flop,
    and the burst it still shows then is hidden, so it is taken once."""
    dut = BurstArbiter(addr_width=32, channels=1)

    async def bench(ctx):
        ctx.set(dut.ch0.payload.beats, 7)
        ctx.set(dut.ch0.valid, 1)
        assert ctx.get(dut.out.valid) and ctx.get(dut.out.payload.burst.beats) == 7
        assert ctx.get(dut.out.payload.channel) == 0
        await ctx.tick()
        assert ctx.get(dut.out.valid) and not ctx.get(dut.ch0.ready)   # not taken yet
        ctx.set(dut.out.ready, 1)
        assert not ctx.get(dut.ch0.ready)       # the mover's ready does not reach the planner
        await ctx.tick()
        assert ctx.get(dut.ch0.ready)           # taken, said a cycle later
        assert not ctx.get(dut.out.valid)       # and not shown again
        ctx.set(dut.ch0.payload.beats, 3)       # the planner's next burst, after the handshake
        await ctx.tick()
        assert not ctx.get(dut.ch0.ready)
        assert ctx.get(dut.out.valid) and ctx.get(dut.out.payload.burst.beats) == 3

    simulate(dut, bench, deadline_cycles=20)
