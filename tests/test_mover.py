"""Data mover against ideal memory ports: order, data, retirement, error handling."""

import random

from amaranth_sim import simulate
from hauler.engine.mover import DataMover


def _end_flag(src):
    """The `end` flag the tests give a burst: a function of its address, to check it later."""
    return src >> 5 & 1


def run_mover(bursts, *, fail_reads=(), fail_writes=(), discard=0, channels=2, seed=0,
              stall=0.0, outstanding=2, fifo_depth=32, max_burst=8):
    dut = DataMover(addr_width=32, data_width=32, channels=channels, outstanding=outstanding,
                    fifo_depth=fifo_depth, max_burst=max_burst)
    rng = random.Random(seed)
    memory = {}          # word address -> value
    log = dict(retired=[], ends=[], read_faults=[], write_faults=[], cycles=0)

    async def feed(ctx):
        for ch, src, dst, beats in bursts:
            ctx.set(dut.bursts.payload.channel, ch)
            ctx.set(dut.bursts.payload.burst, dict(src=src, dst=dst, beats=beats,
                                                   end=_end_flag(src)))
            ctx.set(dut.bursts.valid, 1)
            await ctx.tick().until(dut.bursts.ready)
        ctx.set(dut.bursts.valid, 0)

    async def memory_model(ctx):
        ctx.set(dut.discard, discard)
        reads, writes, beats_out, responses = [], [], [], []
        w_beats = []
        while len(log["retired"]) < len(bursts):
            # Drive this cycle's inputs, then sample the handshakes they make, then tick.
            if not beats_out and reads:
                addr, n = reads.pop(0)
                beats_out = [(addr + 4 * i, i == n - 1) for i in range(n)]
            go = rng.random() >= stall
            ctx.set(dut.read.cmd.ready, go)
            ctx.set(dut.write.cmd.ready, go)
            ctx.set(dut.write.w.ready, rng.random() >= stall and bool(writes))
            if beats_out and rng.random() >= stall:
                addr, last = beats_out[0]
                ctx.set(dut.read.r.valid, 1)
                ctx.set(dut.read.r.payload, dict(data=addr ^ 0x5A5A0000, last=last,
                                                 err=addr in fail_reads))
            else:
                ctx.set(dut.read.r.valid, 0)
            ctx.set(dut.write.b.valid, bool(responses))
            if responses:
                ctx.set(dut.write.b.payload.err, responses[0])

            for port in (dut.read, dut.write):
                if ctx.get(port.cmd.valid):      # AXI's length, given ahead
                    assert ctx.get(port.cmd.payload.len) == ctx.get(port.cmd.payload.beats) - 1
            if ctx.get(dut.read.cmd.valid) and ctx.get(dut.read.cmd.ready):
                reads.append((ctx.get(dut.read.cmd.payload.addr),
                              ctx.get(dut.read.cmd.payload.beats)))
            if ctx.get(dut.read.r.valid) and ctx.get(dut.read.r.ready):
                beats_out.pop(0)
            if ctx.get(dut.write.b.valid) and ctx.get(dut.write.b.ready):
                responses.pop(0)
            if ctx.get(dut.write.cmd.valid) and ctx.get(dut.write.cmd.ready):
                writes.append((ctx.get(dut.write.cmd.payload.addr),
                               ctx.get(dut.write.cmd.payload.beats)))
            if ctx.get(dut.write.w.valid) and ctx.get(dut.write.w.ready):
                w_beats.append(ctx.get(dut.write.w.payload.data))
                if ctx.get(dut.write.w.payload.last):
                    addr, n = writes.pop(0)
                    assert len(w_beats) == n
                    err = any(addr + 4 * i in fail_writes for i in range(n))
                    if not err:
                        for i, value in enumerate(w_beats):
                            memory[addr + 4 * i] = value
                    responses.append(err)
                    w_beats = []
            if ctx.get(dut.retire.valid):
                log["retired"].append((ctx.get(dut.retire.channel), ctx.get(dut.retire.bytes)))
                log["ends"].append(ctx.get(dut.retire.end))
            for kind in ("read_fault", "write_fault"):
                event = getattr(dut, kind)
                if ctx.get(event.valid):
                    log[kind + "s"].append((ctx.get(event.channel), ctx.get(event.addr)))
            await ctx.tick()
            log["cycles"] += 1

    simulate(dut, feed, memory_model, deadline_cycles=20_000)
    assert len(log["retired"]) == len(bursts), "not every burst retired"
    return memory, log


def test_copies_in_order_with_backpressure():
    bursts = [(i % 2, 0x1000 + 32 * i, 0x8000 + 32 * i, 8) for i in range(20)] + \
             [(0, 0x3000, 0x9000, 1), (1, 0x3004, 0x9004, 3)]
    memory, log = run_mover(bursts, stall=0.3, seed=3)
    for ch, src, dst, beats in bursts:
        for i in range(beats):
            assert memory[dst + 4 * i] == (src + 4 * i) ^ 0x5A5A0000
    assert [r[0] for r in log["retired"]] == [b[0] for b in bursts]
    assert [r[1] for r in log["retired"]] == [4 * b[3] for b in bursts]
    assert log["ends"] == [_end_flag(b[1]) for b in bursts], "end flags follow their bursts"


def test_full_rate_without_backpressure():
    bursts = [(0, 0x1000 + 32 * i, 0x8000 + 32 * i, 8) for i in range(64)]
    _, log = run_mover(bursts)
    beats = 64 * 8
    assert log["cycles"] < beats * 1.05 + 20, log["cycles"]


def test_read_error_drops_burst_and_reports_beat():
    bursts = [(0, 0x1000, 0x8000, 8), (0, 0x1020, 0x8020, 8), (1, 0x2000, 0xA000, 8)]
    memory, log = run_mover(bursts, fail_reads={0x1028})
    assert log["read_faults"] == [(0, 0x1028)]
    assert 0x8020 not in memory and 0x8000 in memory and 0xA000 in memory
    # A dropped burst retires with no bytes (possibly before the bursts ahead of it).
    assert sorted(log["retired"]) == [(0, 0), (0, 32), (1, 32)]


def test_write_error_reports_burst_address():
    bursts = [(1, 0x1000, 0x8000, 4), (1, 0x1010, 0x8010, 4)]
    _, log = run_mover(bursts, fail_writes={0x8014})
    assert log["write_faults"] == [(1, 0x8010)]


def test_discarded_channel_is_not_written():
    bursts = [(0, 0x1000, 0x8000, 4), (1, 0x2000, 0xA000, 4)]
    memory, log = run_mover(bursts, discard=0b01)
    assert 0x8000 not in memory and 0xA000 in memory
    assert sorted(log["retired"]) == [(0, 0), (1, 16)]
