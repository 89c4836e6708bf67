"""The UART-to-Wishbone bridge (hauler.boards.bridge) in Amaranth's simulator, driven by the
host's own protocol code (hauler.boards.protocol) and answered by a bus model."""

import pytest

from hauler.boards import protocol
from hauler.boards.bridge import UARTBridge
from hauler.boards.protocol import BusError, FramingError, Read, Write
from hauler.sim.boards.unit import construction_error, simulate
from hauler.sim.boards.wishbone import WishboneSlave


class Host:
    """Bytes to the bridge's rx stream, bytes from its tx stream (always taken)."""

    def __init__(self, dut):
        self.dut = dut
        self.received = bytearray()
        self.frame_errors = 0

    async def send(self, ctx, raw):
        for byte in raw:
            ctx.set(self.dut.rx.payload, byte)
            ctx.set(self.dut.rx.valid, 1)
            await ctx.tick().until(self.dut.rx.ready)
        ctx.set(self.dut.rx.valid, 0)

    async def receive(self, ctx, n):
        while len(self.received) < n:
            await ctx.tick()
        raw, self.received[:] = bytes(self.received[:n]), self.received[n:]
        return raw

    async def transact(self, ctx, request):
        await self.send(ctx, request.encode())
        return request.decode(await self.receive(ctx, request.response_bytes))

    async def listen(self, ctx):
        ctx.set(self.dut.tx.ready, 1)
        async for _, _, valid, payload, frame_error in ctx.tick().sample(
                self.dut.tx.valid, self.dut.tx.payload, self.dut.frame_error):
            if valid:
                self.received.append(payload)
            self.frame_errors += frame_error


def run(dut, bench, *, latency=1, stall=0.0, errors=()):
    host = Host(dut)
    slave = WishboneSlave(dut.bus, latency=latency, stall=stall, errors=errors, seed=7)

    async def main(ctx):
        await bench(ctx, host, slave)

    simulate(dut, main, deadline_cycles=50_000, background=[host.listen, slave.run])
    return host, slave


@pytest.mark.parametrize("latency,stall", [(1, 0.0), (3, 0.5)])
def test_write_then_read(latency, stall):
    dut = UARTBridge(timeout=1000)
    words = [0x11223344, 0xDEADBEEF, 0x00000000, 0xFFFFFFFF, 0x80000001]
    results = {}

    async def bench(ctx, host, slave):
        results["write"] = await host.transact(ctx, Write(0x1000, words))
        results["read"] = await host.transact(ctx, Read(0x1000, len(words)))
        results["one"] = await host.transact(ctx, Read(0x1008))

    host, slave = run(dut, bench, latency=latency, stall=stall)
    assert results == {"write": None, "read": words, "one": [words[2]]}
    accesses = [access for _, access in slave.taken]
    # Word addresses from the byte address; whole words; one strobe per word.
    assert [(a.addr, a.data, a.sel) for a in accesses[:5]] == \
        [(0x400 + i, w, 0b1111) for i, w in enumerate(words)]
    assert [(a.addr, a.write) for a in accesses[5:]] == \
        [(0x400 + i, False) for i in range(5)] + [(0x402, False)]
    assert host.frame_errors == 0


def test_a_full_request():
    dut = UARTBridge(timeout=1000)
    words = [(i * 0x01010101) & 0xFFFFFFFF for i in range(protocol.MAX_WORDS)]
    results = {}

    async def bench(ctx, host, slave):
        await host.transact(ctx, Write(0x4, words))
        results["read"] = await host.transact(ctx, Read(0x4, protocol.MAX_WORDS))

    run(dut, bench)
    assert results["read"] == words


def test_bus_errors():
    """A failed word reads as 0 and the status says so; the other words are still moved."""
    dut = UARTBridge(timeout=1000)
    results = {}

    async def bench(ctx, host, slave):
        slave.memory.update({0x10: 1, 0x11: 2, 0x12: 3})
        for name, request in (("read", Read(0x40, 3)), ("write", Write(0x40, [7, 8, 9]))):
            try:
                await host.transact(ctx, request)
            except BusError as e:
                results[name] = e.words
        results["after"] = await host.transact(ctx, Read(0x48))

    host, slave = run(dut, bench, errors={0x11})
    assert results == {"read": [1, 0, 3], "write": None, "after": [9]}
    assert slave.memory == {0x10: 7, 0x11: 2, 0x12: 9}
    assert host.frame_errors == 0


def test_unknown_op_is_answered_with_nak():
    dut = UARTBridge(timeout=1000)
    results = {}

    async def bench(ctx, host, slave):
        await host.send(ctx, b"\x00")
        results["nak"] = await host.receive(ctx, 1)
        results["read"] = await host.transact(ctx, Read(0x0))

    host, _ = run(dut, bench)
    assert results == {"nak": bytes([protocol.NAK]), "read": [0xFFFFFFFF]}
    assert host.frame_errors == 1


@pytest.mark.parametrize("cut", [1, 3, 7])
def test_timeout_drops_a_cut_frame(cut):
    """A frame cut short is dropped after `timeout` silent cycles, unanswered; the host that
    waits that long is back in step. One cycle less is not silence enough."""
    timeout = 200
    dut = UARTBridge(timeout=timeout)
    results = {}

    async def bench(ctx, host, slave):
        # Silence just short of the timeout keeps the frame.
        await host.send(ctx, Write(0x80, [0x12345678]).encode()[:cut])
        await ctx.tick().repeat(timeout - 2)
        await host.send(ctx, Write(0x80, [0x12345678]).encode()[cut:])
        results["kept"] = await host.receive(ctx, 1)
        # Longer silence drops it.
        await host.send(ctx, Write(0x80, [0x9ABCDEF0]).encode()[:cut])
        await ctx.tick().repeat(timeout + 2)
        assert not host.received
        results["read"] = await host.transact(ctx, Read(0x80))

    host, slave = run(dut, bench)
    assert results == {"kept": bytes([protocol.STATUS_OK]), "read": [0x12345678]}
    assert host.frame_errors == 1
    assert [a.write for _, a in slave.taken] == [True, False]


def test_framing_loss_is_detected_by_the_host():
    """A host one byte out of step gets an answer its decoder rejects."""
    dut = UARTBridge(timeout=10_000)
    results = {}

    async def bench(ctx, host, slave):
        # A stray byte first: the bridge takes the request's op byte as the count, ...
        await host.send(ctx, bytes([protocol.OP_READ]))
        request = Read(0x0, 2)
        await host.send(ctx, request.encode())
        try:
            request.decode(await host.receive(ctx, request.response_bytes))
        except FramingError as e:
            results["error"] = str(e)

    run(dut, bench)
    # ... and answers a read of 0x52 + 1 words: the host's 9th byte is a data byte.
    assert results["error"] == ("read of 2 words at 0x00000000: status byte 0xfd, expected "
                                "0x4b or 0x45: framing lost")


def test_bad_timeout():
    assert construction_error(lambda: UARTBridge(timeout=0)) == \
        "timeout must be a positive integer of cycles, not 0"
