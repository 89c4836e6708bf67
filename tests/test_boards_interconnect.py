"""The demo SoC's Wishbone interconnect and slaves in Amaranth's simulator: the decoder, the
arbiter, the classic adapter, the block RAM and the board block."""

import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import wiring

from hauler.boards.arbiter import WishboneArbiter
from hauler.boards.classic import ClassicAdapter
from hauler.boards.decoder import WishboneDecoder
from hauler.boards.info import BoardInfo
from hauler.boards.memory_map import ERROR_BUS, ERROR_LINK, INFO_MAGIC
from hauler.boards.ram import SPRAM, BlockRAM
from hauler.sim.boards.unit import construction_error, simulate
from hauler.sim.boards.wishbone import Access, WishboneMaster, WishboneSlave


def reads(*addrs):
    return [Access(a) for a in addrs]


# --- Decoder. ---------------------------------------------------------------------------------

REGIONS = {"fast": (0x0000, 0x1000), "slow": (0x4000_0000, 0x100)}


@pytest.mark.parametrize("regions,message", [
    ({"a": (0, 0x300)}, "region 'a': size must be a power of two of at least 4 bytes, not 0x300"),
    ({"a": (0x100, 0x200)}, "region 'a': base 0x100 must be a multiple of its size 0x200 inside "
                            "the 0x100000000-byte address space"),
    ({"a": (0, 0x1000), "b": (0x800, 0x100)}, "region 'b' at 0x800 overlaps region 'a' at 0x0"),
    ({"bus": (0, 4)}, "a region cannot be named 'bus'"),
])
def test_decoder_checks_regions(regions, message):
    assert construction_error(
        lambda: WishboneDecoder(addr_width=30, data_width=32, regions=regions)) == message


def test_decoder_ports_have_local_addresses():
    dut = WishboneDecoder(addr_width=30, data_width=32, regions=REGIONS)
    assert len(dut.fast.adr) == 10 and len(dut.slow.adr) == 6


def test_decoder_routes_and_keeps_answers_in_order():
    """Strobes reach their region with the address inside it; the unmapped one ends with ERR;
    a strobe to another region waits for the answers in flight, so a fast region's answer
    never overtakes a slow one's."""
    dut = WishboneDecoder(addr_width=30, data_width=32, regions=REGIONS)
    master = WishboneMaster(dut.bus)
    fast = WishboneSlave(dut.fast, latency=1)
    slow = WishboneSlave(dut.slow, latency=4, stall=0.3, seed=3)
    results = {}
    slow_base = 0x4000_0000 // 4

    async def bench(ctx):
        fast.memory.update({5: 0x55, 6: 0x66})
        slow.memory.update({2: 0x22})
        results["answers"], _ = await master.run(ctx, [
            Access(slow_base + 2), Access(5), Access(6), Access(0x2000_0000),
            Access(slow_base + 2, data=0xAB), Access(slow_base + 2), Access(5)])

    simulate(dut, bench, background=[fast.run, slow.run])
    assert results["answers"] == [("ack", 0x22), ("ack", 0x55), ("ack", 0x66), ("err", 0),
                                  ("ack", 0), ("ack", 0xAB), ("ack", 0x55)]
    assert [a.addr for _, a in fast.taken] == [5, 6, 5]
    assert [(a.addr, a.data) for _, a in slow.taken] == [(2, None), (2, 0xAB), (2, None)]


def test_decoder_full_rate():
    """A region that takes a strobe per cycle gets one per cycle: n reads in n + 1 cycles."""
    dut = WishboneDecoder(addr_width=30, data_width=32, regions=REGIONS)
    master = WishboneMaster(dut.bus)
    fast = WishboneSlave(dut.fast)
    results = {}

    async def bench(ctx):
        results["answers"], results["cycles"] = await master.run(ctx, reads(*range(32)))

    simulate(dut, bench, background=[fast.run])
    assert results["cycles"] == 33
    assert [data for _, data in results["answers"]] == [~a & 0xFFFF_FFFF for a in range(32)]


# --- Arbiter. ---------------------------------------------------------------------------------

class Shared(Elaboratable):
    """Two masters, an arbiter, a block RAM."""

    def __init__(self):
        self.arbiter = WishboneArbiter(addr_width=10, data_width=32, masters=("a", "b"))
        self.ram = BlockRAM(size=4096)

    def elaborate(self, platform):
        m = Module()
        m.submodules.arbiter, m.submodules.ram = self.arbiter, self.ram
        wiring.connect(m, self.arbiter.bus, self.ram.bus)
        return m


@pytest.mark.parametrize("masters,message", [
    ((), "masters must name at least one master port"),
    (("a", "a"), "masters must be distinct names other than 'bus', not ('a', 'a')"),
    (("bus",), "masters must be distinct names other than 'bus', not ('bus',)"),
])
def test_arbiter_checks_masters(masters, message):
    assert construction_error(
        lambda: WishboneArbiter(addr_width=8, data_width=32, masters=masters)) == message


def test_arbiter_alone_at_full_rate():
    """The master with the bus (here the second one, the DMA's place in the SoC) runs writes
    then reads back to back, one per cycle, through the arbiter and the RAM."""
    dut = Shared()
    master = WishboneMaster(dut.arbiter.b)
    results = {}

    async def bench(ctx):
        await ctx.tick()                    # the grant moves to the only master asking
        ctx.set(dut.arbiter.b.cyc, 1)
        await ctx.tick()
        writes = [Access(a, data=a * 0x01010101) for a in range(64)]
        results["write"] = await master.run(ctx, writes)
        results["read"] = await master.run(ctx, reads(*range(64)))

    simulate(dut, bench)
    assert results["write"][1] == 65 and results["read"][1] == 65
    assert [d for _, d in results["read"][0]] == [(a * 0x01010101) & 0xFFFF_FFFF
                                                  for a in range(64)]


def test_arbiter_shares_between_bus_cycles():
    """Two masters asking at once: each bus cycle runs whole, answered to its own master, and
    the grant alternates (round-robin) between bus cycles."""
    dut = Shared()
    masters = {"a": WishboneMaster(dut.arbiter.a), "b": WishboneMaster(dut.arbiter.b)}
    log = []

    def bench_for(name, base):
        async def bench(ctx):
            for n in range(3):
                words = [Access(base + 8 * n + i, data=(ord(name) << 24) | (n << 8) | i)
                         for i in range(8)]
                answers, _ = await masters[name].run(ctx, words)
                assert [kind for kind, _ in answers] == ["ack"] * 8
                answers, _ = await masters[name].run(ctx, reads(*(w.addr for w in words)))
                assert [d for _, d in answers] == [w.data for w in words]
                log.append((name, n))
        return bench

    async def watch(ctx):
        # The grant never changes while the granted master's cyc is high.
        async for _, _, a_cyc, b_cyc, a_stall, b_stall in ctx.tick().sample(
                dut.arbiter.a.cyc, dut.arbiter.b.cyc, dut.arbiter.a.stall, dut.arbiter.b.stall):
            assert not (a_cyc and b_cyc and not a_stall and not b_stall)

    simulate(dut, bench_for("a", 0), bench_for("b", 0x100), background=[watch])
    # Round-robin: neither master finishes its three rounds before the other's first.
    assert log.index(("a", 0)) < log.index(("b", 2)) and log.index(("b", 0)) < log.index(("a", 2))


# --- Classic adapter. -------------------------------------------------------------------------

def test_classic_adapter():
    """Each pipelined strobe becomes one classic cycle held until the slave's ack; the master
    is stalled meanwhile and gets that ack and its data."""
    dut = ClassicAdapter(addr_width=10, data_width=32)
    master = WishboneMaster(dut.bus)
    memory = {}
    cycles_seen = []
    results = {}

    async def classic_slave(ctx):
        # Acks in the third cycle of each classic cycle; checks that the request is held
        # unchanged until then, and that cyc and stb drop after the ack.
        request, waited, acking = None, 0, False
        async for _, _, cyc, stb, we, adr, dat_w, sel in ctx.tick().sample(
                dut.classic.cyc, dut.classic.stb, dut.classic.we, dut.classic.adr,
                dut.classic.dat_w, dut.classic.sel):
            if acking:
                assert cyc and stb
                request, waited, acking = None, 0, False
            elif cyc and stb:
                assert request in (None, (we, adr, dat_w, sel))
                request, waited = (we, adr, dat_w, sel), waited + 1
                if waited == 2:
                    cycles_seen.append(request)
                    if we:
                        memory[adr] = dat_w
                    ctx.set(dut.classic.dat_r, memory.get(adr, 0))
                    acking = True
            else:
                assert request is None
            ctx.set(dut.classic.ack, acking)

    async def bench(ctx):
        results["answers"], _ = await master.run(ctx, [
            Access(3, data=0x1234), Access(4, data=0x5678, sel=0b0011), Access(3), Access(4)])

    simulate(dut, bench, background=[classic_slave])
    assert results["answers"] == [("ack", 0x1234), ("ack", 0x5678), ("ack", 0x1234),
                                  ("ack", 0x5678)]
    assert cycles_seen == [(1, 3, 0x1234, 0b1111), (1, 4, 0x5678, 0b0011),
                           (0, 3, 0, 0b1111), (0, 4, 0, 0b1111)]


# --- RAM. -------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls,size,message", [
    (BlockRAM, 1000, "size must be a power of two from 4 to 1048576 bytes, not 1000"),
    (SPRAM, 32768, "size must be 65536 (two SPRAMs) or 131072 (four), not 32768"),
])
def test_ram_sizes(cls, size, message):
    assert construction_error(lambda: cls(size=size)) == message


def test_block_ram_bytes_and_rate():
    dut = BlockRAM(size=1024)
    master = WishboneMaster(dut.bus)
    results = {}

    async def bench(ctx):
        writes = [Access(a, data=0x11111111 * (a % 15 + 1)) for a in range(16)]
        results["write"] = await master.run(ctx, writes)
        await master.run(ctx, [Access(1, data=0xAABBCCDD, sel=0b0101),
                               Access(2, data=0xAABBCCDD, sel=0b1000)])
        results["read"] = await master.run(ctx, reads(*range(16)))

    simulate(dut, bench)
    assert results["write"][1] == 17 and results["read"][1] == 17
    expected = [0x11111111 * (a % 15 + 1) for a in range(16)]
    expected[1] = 0x22BB22DD
    expected[2] = 0xAA333333
    assert [d for _, d in results["read"][0]] == expected


def test_spram_instances():
    """The SPRAM exists only on silicon (the board simulation uses BlockRAM, and the iCEBreaker
    build places it): here, that 128 KiB makes two banks of two 16-bit halves."""
    from amaranth.back import rtlil
    text = rtlil.convert(SPRAM(size=131072), name="top")
    assert text.count("cell \\SB_SPRAM256KA") == 4


# --- Board block. -----------------------------------------------------------------------------

def test_board_info():
    dut = BoardInfo(ram_size=65536, clk_freq=25_000_000)
    master = WishboneMaster(dut.bus)
    results = {}

    async def bench(ctx):
        results["facts"] = await master.run(ctx, reads(0, 1, 2, 3))
        ctx.set(dut.bus_error, 1)
        await ctx.tick()
        ctx.set(dut.bus_error, 0)
        ctx.set(dut.link_error, 1)
        await ctx.tick()
        ctx.set(dut.link_error, 0)
        results["both"] = await master.run(ctx, reads(3))
        # A flag raised in the cycle it is cleared stays set.
        ctx.set(dut.link_error, 1)
        await master.run(ctx, [Access(3, data=ERROR_BUS | ERROR_LINK)])
        ctx.set(dut.link_error, 0)
        results["after"] = await master.run(ctx, reads(3))
        await master.run(ctx, [Access(3, data=ERROR_LINK)])
        results["cleared"] = await master.run(ctx, reads(3))

    simulate(dut, bench)
    assert [d for _, d in results["facts"][0]] == [INFO_MAGIC, 65536, 25_000_000, 0]
    assert results["both"][0] == [("ack", ERROR_BUS | ERROR_LINK)]
    assert results["after"][0] == [("ack", ERROR_LINK)]
    assert results["cleared"][0] == [("ack", 0)]
