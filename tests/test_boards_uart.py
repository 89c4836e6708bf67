"""The demo SoC's UART (hauler.boards.uart) in Amaranth's simulator: line timing, reception,
errors, and a loopback at several divisors."""

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring

from hauler.boards.uart import UARTReceiver, UARTTransmitter, uart_divisor
from hauler.sim.boards.unit import construction_error

from amaranth_sim import simulate


def frame_bits(byte, stop=1):
    """The line levels of one 8N1 frame: start, bits 0..7, stop."""
    return [0] + [byte >> i & 1 for i in range(8)] + [stop]


async def drive_frame(ctx, line, byte, divisor, *, stop=1):
    for level in frame_bits(byte, stop):
        ctx.set(line, level)
        await ctx.tick().repeat(divisor)
    ctx.set(line, 1)


@pytest.mark.parametrize("clk_freq,baud,divisor", [
    (12_000_000, 115200, 104), (25_000_000, 115200, 217), (12_000_000, 3_000_000, 4),
    (25_000_000, 9600, 2604),
])
def test_divisor(clk_freq, baud, divisor):
    assert uart_divisor(clk_freq, baud) == divisor


@pytest.mark.parametrize("clk_freq,baud,message", [
    (12_000_000, 4_000_000, "baud rate 4000000 is too fast for a 12 MHz clock: a bit must "
                            "last at least 4 cycles"),
    (12_000_000, 1_600_000, "baud rate 1600000 is 6.2% off at 12 MHz (divisor 8); a UART "
                            "needs it within 2%"),
    (12_000_000, 0, "baud must be a positive integer, not 0"),
])
def test_divisor_errors(clk_freq, baud, message):
    with pytest.raises(ValueError) as info:
        uart_divisor(clk_freq, baud)
    assert str(info.value) == message


@pytest.mark.parametrize("cls", [UARTTransmitter, UARTReceiver])
@pytest.mark.parametrize("divisor", [3, 4.0, True])
def test_bad_divisor(cls, divisor):
    assert construction_error(lambda: cls(divisor=divisor)) == \
        f"divisor must be an integer of at least 4, not {divisor!r}"


@pytest.mark.parametrize("divisor", [4, 9])
def test_transmitter_line_timing(divisor):
    """Every bit lasts exactly `divisor` cycles, frames follow each other with no gap, and
    `ready` is high only in the last cycle of each stop bit (and while idle)."""
    dut = UARTTransmitter(divisor=divisor)
    data = [0x55, 0x00, 0xFF, 0xA3]
    line = []

    async def feed(ctx):
        for byte in data:
            ctx.set(dut.data.payload, byte)
            ctx.set(dut.data.valid, 1)
            await ctx.tick().until(dut.data.ready)
        ctx.set(dut.data.valid, 0)

    async def watch(ctx):
        assert ctx.get(dut.tx) == 1
        async for _, _, tx, ready in ctx.tick().sample(dut.tx, dut.data.ready):
            line.append((tx, ready))
            if len(line) == 10 * divisor * len(data) + 2 * divisor:
                return

    simulate(dut, feed, watch)
    # Sample n is the line in cycle n; the first byte is taken at the end of cycle 0.
    levels = [tx for tx, _ in line]
    expected = [level for byte in data for level in frame_bits(byte) for _ in range(divisor)]
    assert levels[0] == 1
    assert levels[1:1 + len(expected)] == expected
    assert set(levels[1 + len(expected):]) == {1}
    ready_at = [i for i, (_, ready) in enumerate(line[:len(expected)]) if ready]
    assert ready_at == [10 * divisor * n for n in range(len(data))]


@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_receiver(divisor):
    dut = UARTReceiver(divisor=divisor)
    data = [0x00, 0xFF, 0x5A, 0x81, 0x3C]
    got = []

    async def drive(ctx):
        await ctx.tick().repeat(3)
        for byte in data:
            await drive_frame(ctx, dut.rx, byte, divisor)
        await ctx.tick().repeat(2 * divisor)

    async def take(ctx):
        ctx.set(dut.data.ready, 1)
        async for _, _, valid, payload, ferr, overrun in ctx.tick().sample(
                dut.data.valid, dut.data.payload, dut.framing_error, dut.overrun):
            assert not ferr and not overrun
            if valid:
                got.append(payload)
            if len(got) == len(data):
                return

    simulate(dut, drive, take)
    assert got == data


def test_receiver_errors():
    """A low stop bit delivers nothing and pulses framing_error, then the receiver waits for
    the line to go high; a glitch shorter than half a bit is no start bit; a byte arriving
    while the previous one waits is dropped with an overrun pulse."""
    divisor = 8
    dut = UARTReceiver(divisor=divisor)
    events = []

    async def drive(ctx):
        await ctx.tick().repeat(3)
        await drive_frame(ctx, dut.rx, 0x12, divisor, stop=0)   # framing error ...
        ctx.set(dut.rx, 0)
        await ctx.tick().repeat(3 * divisor)                    # ... and the line stays low
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(divisor)
        ctx.set(dut.rx, 0)                                      # a glitch
        await ctx.tick().repeat(divisor // 2 - 2)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(2 * divisor)
        await drive_frame(ctx, dut.rx, 0x34, divisor)           # received, not taken
        await drive_frame(ctx, dut.rx, 0x56, divisor)           # overrun: dropped
        await ctx.tick().repeat(2 * divisor)
        events.append("taking")
        ctx.set(dut.data.ready, 1)
        await ctx.tick().repeat(2)

    async def watch(ctx):
        async for _, _, valid, ready, payload, ferr, overrun in ctx.tick().sample(
                dut.data.valid, dut.data.ready, dut.data.payload, dut.framing_error,
                dut.overrun):
            if ferr:
                events.append("framing")
            if overrun:
                events.append("overrun")
            if valid and ready:
                events.append(payload)
                return

    simulate(dut, drive, watch)
    assert events == ["framing", "overrun", "taking", 0x34]


class Loopback(wiring.Component):
    def __init__(self, divisor):
        self.tx = UARTTransmitter(divisor=divisor)
        self.rx = UARTReceiver(divisor=divisor)
        super().__init__(wiring.Signature({}))

    def elaborate(self, platform):
        m = Module()
        m.submodules.tx, m.submodules.rx = self.tx, self.rx
        m.d.comb += self.rx.rx.eq(self.tx.tx)
        return m


@pytest.mark.parametrize("divisor", [4, 5, 104])
def test_loopback(divisor):
    dut = Loopback(divisor)
    data = list(range(0, 256, 7)) if divisor < 100 else [0x00, 0xA5, 0xFF]
    got = []

    async def send(ctx):
        for byte in data:
            ctx.set(dut.tx.data.payload, byte)
            ctx.set(dut.tx.data.valid, 1)
            await ctx.tick().until(dut.tx.data.ready)
        ctx.set(dut.tx.data.valid, 0)

    async def take(ctx):
        ctx.set(dut.rx.data.ready, 1)
        async for _, _, valid, payload in ctx.tick().sample(dut.rx.data.valid,
                                                          dut.rx.data.payload):
            if valid:
                got.append(payload)
            if len(got) == len(data):
                return

    simulate(dut, send, take, deadline_cycles=20 * divisor * len(data) + 1000)
    assert got == data
