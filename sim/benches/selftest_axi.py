"""Self-test of AxiMemory and AxiMasterChecker on tests/fixtures/axi_loop.v (s_axi wired to m_axi).

cocotbext-axi's AxiMaster drives s_axi; the models under test sit on m_axi. The latency
tests time the handshakes on the wires; the checker tests drive the wires by hand to break
each rule once.
"""

import itertools
import random

import cocotb
from cocotb.triggers import RisingEdge
from cocotbext.axi import AxiBus, AxiMaster, AxiResp

from hauler.sim.bench import reset_dut, start_clock
from hauler.sim.checkers import AxiMasterChecker
from hauler.sim.memory import AxiMemory


SIZE = 1 << 16
BEAT = 8  # the fixture's data width in bytes


async def _models(dut, *, backpressure, **memory_options):
    start_clock(dut)
    memory = AxiMemory(dut, "m_axi", dut.clk, dut.rst, SIZE, **memory_options)
    memory.set_backpressure(backpressure, seed=cocotb.RANDOM_SEED)
    checker = AxiMasterChecker(dut, "m_axi", dut.clk, dut.rst, max_burst=16)
    master = AxiMaster(AxiBus.from_prefix(dut, "s_axi", bus_separator="__"), dut.clk, dut.rst,
                       max_burst_len=16)
    await reset_dut(dut)
    return memory, checker, master


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def round_trip_under_backpressure(dut):
    """Concurrent writes and reads of random lengths, 4 KiB crossings included, with every channel paused at random."""
    memory, checker, master = await _models(dut, backpressure=0.4)
    rng = random.Random(cocotb.RANDOM_SEED)
    quarter = SIZE // 4
    for _ in range(6):
        # One transfer per quarter of memory, so the concurrent ones never overlap.
        spans = []
        for q in range(4):
            length = rng.randint(1, 700)
            addr = q * quarter + rng.randrange(0, quarter - length, BEAT)
            spans.append((addr, bytes(rng.getrandbits(8) for _ in range(length))))
        writes = [master.init_write(addr, data) for addr, data in spans]
        for event in writes:
            await event.wait()
            assert event.data.resp == AxiResp.OKAY
        for addr, data in spans:
            assert memory.read(addr, len(data)) == data, f"memory at {addr:#x} after bus write"
        backdoor = [(addr, bytes(rng.getrandbits(8) for _ in data)) for addr, data in spans]
        for addr, data in backdoor:
            memory.write(addr, data)
        reads = [master.init_read(addr, len(data)) for addr, data in backdoor]
        for event, (addr, data) in zip(reads, backdoor):
            await event.wait()
            assert event.data.resp == AxiResp.OKAY
            assert event.data.data == data, f"bus read at {addr:#x}"
    checker.check(idle=True)


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def error_windows(dut):
    """SLVERR and DECERR windows (and beyond the end of memory): reads give zeros, writes change nothing."""
    memory, checker, master = await _models(dut, backpressure=0.2)
    memory.add_error_window(0x1000, 0x1100, "slverr")
    memory.add_error_window(0x2000, 0x2040, "decerr")
    pattern = bytes(range(256)) * 24
    memory.write(0x0C00, pattern[:0x1800])

    response = await master.read(0x1000, 64)
    assert (response.resp, response.data) == (AxiResp.SLVERR, bytes(64))
    # A burst straddling the window's start: beats before it are real data.
    response = await master.read(0x0FE0, 64)
    assert response.resp == AxiResp.SLVERR
    assert response.data == pattern[0x3E0:0x400] + bytes(32)
    response = await master.write(0x10F0, bytes(48))
    assert response.resp == AxiResp.SLVERR
    assert memory.read(0x10F0, 16) == pattern[0x4F0:0x500], "SLVERR beats must not be written"
    assert memory.read(0x1100, 32) == bytes(32), "beats after the window are written"

    response = await master.read(0x2000, 64)
    assert (response.resp, response.data) == (AxiResp.DECERR, bytes(64))
    response = await master.write(0x2000, bytes(64))
    assert response.resp == AxiResp.DECERR
    assert memory.read(0x2000, 64) == pattern[0x1400:0x1440]

    response = await master.read(SIZE, 16)
    assert (response.resp, response.data) == (AxiResp.DECERR, bytes(16))
    response = await master.read(0x3000, 8)
    assert response.resp == AxiResp.OKAY
    checker.check(idle=True)


class _Handshakes:
    """Records the clock edge of every AR and R handshake on m_axi (edges counted from its creation)."""

    def __init__(self, dut):
        self.ar, self.r, self.r_last = [], [], []
        cocotb.start_soon(self._run(dut))

    async def _run(self, dut):
        edge = 0
        while True:
            await RisingEdge(dut.clk)
            edge += 1
            if dut.m_axi__arvalid.value and dut.m_axi__arready.value:
                self.ar.append(edge)
            if dut.m_axi__rvalid.value and dut.m_axi__rready.value:
                self.r.append(edge)
                if dut.m_axi__rlast.value:
                    self.r_last.append(edge)

    def most_outstanding(self):
        """The most bursts handed over on AR whose last R beat had not been, at any edge."""
        events = sorted([(e, 1) for e in self.ar] + [(e, -1) for e in self.r_last])
        count = peak = 0
        for _, step in events:
            count += step
            peak = max(peak, count)
        return peak


async def _read_back(memory, master, bursts, beats):
    """Read ``bursts`` bursts of ``beats`` beats at once, each of its own random data; check them."""
    length = beats * BEAT
    spans = [(n * 0x400, bytes(random.getrandbits(8) for _ in range(length))) for n in range(bursts)]
    for addr, data in spans:
        memory.write(addr, data)
    reads = [master.init_read(addr, length) for addr, _ in spans]
    for event, (addr, data) in zip(reads, spans):
        await event.wait()
        assert event.data.resp == AxiResp.OKAY
        assert event.data.data == data, f"bus read at {addr:#x}"


@cocotb.test(timeout_time=100, timeout_unit="us")
@cocotb.parametrize(read_latency=[0, 24])
async def read_latency_delays_the_first_beat(dut, read_latency):
    """A lone burst: its first R beat is handed over exactly read_latency + 2 edges after its AR."""
    memory, checker, master = await _models(dut, backpressure=0, read_latency=read_latency)
    handshakes = _Handshakes(dut)
    await _read_back(memory, master, bursts=1, beats=8)
    assert len(handshakes.ar) == 1 and len(handshakes.r) == 8
    assert handshakes.r[0] - handshakes.ar[0] == read_latency + 2, (handshakes.ar, handshakes.r)
    assert handshakes.r == list(range(handshakes.r[0], handshakes.r[0] + 8)), "beats back to back"
    checker.check(idle=True)


@cocotb.test(timeout_time=100, timeout_unit="us")
async def bursts_overlap_their_latency(dut):
    """Bursts taken back to back wait out their latencies together: N bursts take about
    latency + N * beats edges, not N * (latency + beats); each still waits its own latency."""
    latency, bursts, beats = 32, 6, 16
    memory, checker, master = await _models(dut, backpressure=0, read_latency=latency)
    handshakes = _Handshakes(dut)
    await _read_back(memory, master, bursts=bursts, beats=beats)
    assert len(handshakes.ar) == bursts and len(handshakes.r) == bursts * beats
    firsts = handshakes.r[::beats]
    assert all(r - ar >= latency + 2 for ar, r in zip(handshakes.ar, firsts)), (handshakes.ar, firsts)
    elapsed = handshakes.r[-1] - handshakes.ar[0]
    assert elapsed <= latency + 2 + bursts * beats + bursts, f"{elapsed} edges: latencies not overlapped"
    checker.check(idle=True)


@cocotb.test(timeout_time=200, timeout_unit="us")
@cocotb.parametrize(backpressure=[0, 0.3])
async def max_outstanding_holds_arready(dut, backpressure):
    """ARREADY stays low while max_outstanding bursts are taken and not fully returned, also
    when the master holds RREADY low at random (a last beat offered is not yet returned)."""
    limit = 2
    memory, checker, master = await _models(dut, backpressure=backpressure, read_latency=20,
                                            max_outstanding=limit)
    if backpressure:
        rng = random.Random(cocotb.RANDOM_SEED)
        pauses = (rng.random() < backpressure for _ in itertools.count())
        master.read_if.r_channel.set_pause_generator(pauses)
    handshakes = _Handshakes(dut)
    await _read_back(memory, master, bursts=8, beats=4)
    assert len(handshakes.ar) == 8
    assert handshakes.most_outstanding() == limit, handshakes.most_outstanding()
    checker.check(idle=True)


class _Wires:
    """Hand-driven AXI wires: the master side through s_axi, the slave side on m_axi."""

    def __init__(self, dut):
        self.dut = dut
        for channel in ("ar", "aw"):
            for field in ("valid", "id", "addr", "len", "size", "burst", "lock", "cache", "prot"):
                self.set(f"s_axi__{channel}{field}", 0)
            self.set(f"m_axi__{channel}ready", 0)
        for name in ("s_axi__wvalid", "s_axi__wdata", "s_axi__wstrb", "s_axi__wlast", "s_axi__bready",
                     "s_axi__rready", "m_axi__wready", "m_axi__bvalid", "m_axi__bid", "m_axi__bresp",
                     "m_axi__rvalid", "m_axi__rid", "m_axi__rdata", "m_axi__rresp", "m_axi__rlast"):
            self.set(name, 0)

    def set(self, name, value):
        getattr(self.dut, name).value = value

    async def cycles(self, n=1):
        for _ in range(n):
            await RisingEdge(self.dut.clk)

    async def address(self, channel, addr, length, *, id_=0, size=3, burst=1, wait=0):
        """Offer an AR or AW for ``wait`` cycles without ready, then hand it over."""
        for field, value in (("id", id_), ("addr", addr), ("len", length), ("size", size), ("burst", burst)):
            self.set(f"s_axi__{channel}{field}", value)
        self.set(f"s_axi__{channel}valid", 1)
        await self.cycles(wait)
        self.set(f"m_axi__{channel}ready", 1)
        await self.cycles()
        self.set(f"s_axi__{channel}valid", 0)
        self.set(f"m_axi__{channel}ready", 0)

    async def w_beats(self, lasts):
        """One W beat per entry, wlast as given."""
        self.set("s_axi__wvalid", 1)
        self.set("m_axi__wready", 1)
        for last in lasts:
            self.set("s_axi__wlast", last)
            await self.cycles()
        self.set("s_axi__wvalid", 0)
        self.set("m_axi__wready", 0)

    async def response(self, channel, id_, last=1):
        """The slave side hands over one R beat or one B."""
        self.set(f"m_axi__{channel}valid", 1)
        self.set(f"m_axi__{channel}id", id_)
        if channel == "r":
            self.set("m_axi__rlast", last)
        self.set(f"s_axi__{channel}ready", 1)
        await self.cycles()
        self.set(f"m_axi__{channel}valid", 0)
        self.set(f"s_axi__{channel}ready", 0)


@cocotb.test(timeout_time=100, timeout_unit="us")
async def checker_catches_violations(dut):
    """Each rule broken once by hand, legal traffic in between: exactly the expected reports."""
    start_clock(dut)
    wires = _Wires(dut)
    checker = AxiMasterChecker(dut, "m_axi", dut.clk, dut.rst, max_burst=32, fail_fast=False)
    await reset_dut(dut)

    wires.set("s_axi__arvalid", 1)
    await wires.cycles(2)
    wires.set("s_axi__arvalid", 0)
    await wires.cycles()

    for field, value in (("id", 1), ("addr", 0x200), ("size", 3), ("burst", 1), ("valid", 1)):
        wires.set(f"s_axi__aw{field}", value)
    await wires.cycles(2)
    await wires.address("aw", 0x208, 0, id_=1)  # the address changes as ready comes
    await wires.w_beats([1])
    await wires.response("b", 1)

    await wires.address("ar", 0xFC0, 15, id_=2)  # 128 bytes from 0xFC0
    await wires.address("ar", 0x100, 32, id_=2)
    await wires.address("ar", 0x100, 16, id_=2, burst=0)
    await wires.address("ar", 0x100, 0, id_=2, burst=2)
    await wires.address("ar", 0x100, 0, id_=2, size=2)
    await wires.address("ar", 0x104, 0, id_=2)
    await wires.address("ar", 0x100, 3, id_=3, wait=3)  # legal, after waiting for ready

    await wires.address("aw", 0x300, 1, id_=4)
    await wires.w_beats([1])  # wlast on the first beat of two
    await wires.w_beats([0, 1])  # legal: W ahead of its AW
    await wires.address("aw", 0x400, 1, id_=5)
    await wires.response("b", 5)
    await wires.w_beats([0, 0, 1])
    await wires.address("aw", 0x500, 1, id_=6)

    await wires.response("r", 9)
    await wires.response("b", 7)
    for beat in range(4):
        await wires.response("r", 3, last=int(beat == 3))  # legal
    await wires.cycles(2)

    expected = [
        "AR: valid dropped before ready",
        "AW: awaddr changed while valid waited for ready",
        "crosses a 4 KiB boundary",
        "33 beats, more than max_burst 32",
        "FIXED burst of 17 beats",
        "burst type WRAP",
        "size 2, the data width needs 3",
        "address not aligned",
        "wlast on beat 1 of a 2-beat burst",
        "W burst had 3 beats",
        "R beat with rid=9",
        "B with bid=7",
    ]
    messages = [message for _, message in checker.violations]
    assert len(messages) == len(expected), "\n".join(messages)
    for message, part in zip(messages, expected):
        assert part in message, f"{message!r} should say {part!r}"
    try:
        checker.check(idle=True)
    except AssertionError as error:
        assert "not idle at the end: 6 read burst(s) waiting for R beats" in str(error), str(error)
    else:
        raise AssertionError("check() passed despite violations")


@cocotb.test(skip=True, timeout_time=10, timeout_unit="us")
async def fail_fast(dut):
    """Run only on purpose: the checker must fail this test by itself, at the violation."""
    start_clock(dut)
    wires = _Wires(dut)
    AxiMasterChecker(dut, "m_axi", dut.clk, dut.rst, max_burst=16)
    await reset_dut(dut)
    wires.set("s_axi__arvalid", 1)
    await wires.cycles(2)
    wires.set("s_axi__arvalid", 0)
    await wires.cycles(5)
