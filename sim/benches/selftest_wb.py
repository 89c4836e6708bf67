"""Self-test of WishboneMemory and WishboneMasterChecker on tests/fixtures/wb_loop.v (s_wb wired to m_wb).

A small pipelined master in this bench drives s_wb; the models under test sit on m_wb.
"""

import random

import cocotb
from cocotb.triggers import RisingEdge

from hauler.sim.bench import reset_dut, start_clock
from hauler.sim.checkers import WishboneMasterChecker
from hauler.sim.memory import WishboneMemory
from hauler.sim.signals import reader


SIZE = 1 << 12
BEAT = 4  # the fixture's data width in bytes


class _PipelinedMaster:
    """Drives s_wb as a B4 pipelined master: requests back to back with random gaps, responses counted in order."""

    def __init__(self, dut, rng, gap=0.2):
        self._dut, self._rng, self._gap = dut, rng, gap
        self._stall, self._ack, self._err = reader(dut.s_wb__stall), reader(dut.s_wb__ack), reader(dut.s_wb__err)
        self._dat_r = reader(dut.s_wb__dat_r)
        for name in ("cyc", "stb", "we", "adr", "dat_w", "sel", "cti", "bte"):
            self.set(name, 0)

    def set(self, name, value):
        getattr(self._dut, f"s_wb__{name}").value = value

    def _offer(self, request):
        byte_addr, data, sel = request
        self.set("adr", byte_addr // BEAT)
        self.set("we", int(data is not None))
        self.set("dat_w", data or 0)
        self.set("sel", sel)
        self.set("stb", 1)

    async def cycle(self, requests, *, drop_cyc_after=None):
        """One bus cycle issuing ``requests`` (byte address, write data or None for a read, sel).

        Returns ``(error, read data)`` per request. ``drop_cyc_after=n`` breaks the protocol:
        cyc drops as soon as ``n`` requests are accepted, responses or not.
        """
        edge = RisingEdge(self._dut.clk)
        self.set("cyc", 1)
        sent, results, offered = 0, [], False
        while len(results) < len(requests):
            if sent < len(requests) and not offered and self._rng.random() >= self._gap:
                self._offer(requests[sent])
                offered = True
            await edge
            if self._ack() == "1" or self._err() == "1":
                results.append((self._err() == "1", int(self._dat_r(), 2)))
            if offered and self._stall() != "1":
                sent += 1
                offered = False
                self.set("stb", 0)
            if sent == drop_cyc_after:
                break
        self.set("cyc", 0)
        self.set("stb", 0)
        return results


async def _models(dut, *, memory=True, fail_fast=True, gap=0.2, **memory_options):
    start_clock(dut)
    rng = random.Random(cocotb.RANDOM_SEED)
    master = _PipelinedMaster(dut, rng, gap)
    model = WishboneMemory(dut, "m_wb", dut.clk, dut.rst, SIZE, seed=cocotb.RANDOM_SEED,
                           **memory_options) if memory else None
    checker = WishboneMasterChecker(dut, "m_wb", dut.clk, dut.rst, fail_fast=fail_fast)
    await reset_dut(dut)
    return rng, master, model, checker


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def round_trip_under_stall(dut):
    """Random reads and partial writes, many outstanding, random stall and latency: reads see every earlier write."""
    rng, master, memory, checker = await _models(dut, stall=0.3, latency=(1, 4), max_outstanding=4)
    shadow = bytearray(256)  # a small window, so reads often follow writes to the same word
    for _ in range(60):
        requests, expected = [], []
        for _ in range(rng.randint(1, 12)):
            addr = rng.randrange(0, len(shadow), BEAT)
            if rng.random() < 0.5:
                data, sel = rng.getrandbits(32), rng.randrange(1, 16)
                for lane in range(BEAT):
                    if sel >> lane & 1:
                        shadow[addr + lane] = data >> 8 * lane & 0xFF
                requests.append((addr, data, sel))
                expected.append(None)
            else:
                requests.append((addr, None, 0xF))
                expected.append(int.from_bytes(shadow[addr:addr + BEAT], "little"))
        results = await master.cycle(requests)
        for (error, data), want, request in zip(results, expected, requests):
            assert not error, f"unexpected ERR for {request}"
            assert want is None or data == want, f"read {request[0]:#x}: {data:#x}, expected {want:#x}"
    assert memory.read(0, len(shadow)) == bytes(shadow)
    await RisingEdge(dut.clk)  # the master drops cyc after its last response
    checker.check(idle=True)


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def error_window(dut):
    """ERR inside the window and beyond the end of memory: the write is not done, the read gives 0."""
    _, master, memory, checker = await _models(dut, stall=0.2, latency=(1, 3))
    memory.add_error_window(0x100, 0x140)
    memory.write(0x100, b"\xAA" * 0x40)
    results = await master.cycle([(0x13C, 0x12345678, 0xF), (0x13C, None, 0xF), (0x140, 0x11223344, 0xF),
                                  (0x140, None, 0xF), (SIZE, None, 0xF), (0x0FC, None, 0xF)])
    assert results == [(True, 0), (True, 0), (False, results[2][1]), (False, 0x11223344), (True, 0),
                       (False, 0)], results
    assert memory.read(0x13C, 4) == b"\xAA" * 4
    await RisingEdge(dut.clk)
    checker.check(idle=True)


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def dropped_cycle_discards_responses(dut):
    """When the master drops cyc, pending responses vanish: at most the one already shown lingers a cycle."""
    # No gaps, no stall, fixed latency: the first response shows right as cyc drops.
    _, master, memory, checker = await _models(dut, fail_fast=False, gap=0, latency=(4, 4))
    memory.write(0, bytes(range(64)))
    ack = reader(dut.m_wb__ack)
    await master.cycle([(4 * n, None, 0xF) for n in range(4)], drop_cyc_after=4)
    stray = 0
    for _ in range(10):
        await RisingEdge(dut.clk)
        stray += ack() == "1"
    assert stray <= 1, f"{stray} acks after cyc dropped"
    results = await master.cycle([(0x20, None, 0xF), (0x24, None, 0xF)])
    assert results == [(False, 0x23222120), (False, 0x27262524)], results
    assert [message for _, message in checker.violations] == ["cyc dropped with 4 response(s) pending"]


@cocotb.test(timeout_time=100, timeout_unit="us")
async def checker_catches_violations(dut):
    """Each rule broken once by hand (the slave side driven by hand too), legal traffic in between."""
    _, master, _, checker = await _models(dut, memory=False, fail_fast=False)

    def slave(**values):
        for name, value in values.items():
            getattr(dut, f"m_wb__{name}").value = value

    async def cycles(n=1):
        for _ in range(n):
            await RisingEdge(dut.clk)

    slave(ack=0, err=0, stall=0, dat_r=0)
    master.set("stb", 1)  # stb without cyc
    await cycles()
    master.set("stb", 0)
    await cycles()

    master.set("cyc", 1)
    master._offer((0x10, 0x55, 0xF))  # a write, stalled: its address changes
    slave(stall=1)
    await cycles(2)
    master.set("adr", 0x14 // BEAT)
    await cycles()
    slave(stall=0)
    await cycles()  # accepted
    master._offer((0x20, None, 0xF))  # a read, stalled: dat_w may change, legally
    slave(stall=1)
    await cycles()
    master.set("dat_w", 0x66)
    await cycles()
    master.set("stb", 0)  # ... but stb may not drop
    await cycles()
    master.set("cyc", 0)  # with the write's response pending
    await cycles()

    master.set("cyc", 1)
    slave(stall=0, ack=1)  # an ack for nothing
    await cycles()
    master._offer((0x30, None, 0xF))
    slave(ack=0)
    await cycles()  # accepted
    master.set("stb", 0)
    slave(ack=1, err=1)
    await cycles()
    slave(ack=0, err=0)
    await cycles()

    assert [message for _, message in checker.violations] == [
        "stb without cyc",
        "adr changed while the request was stalled",
        "stb withdrawn while the request was stalled",
        "cyc dropped with 1 response(s) pending",
        "ack/err without an outstanding request (slave model bug)",
        "ack and err together (slave model bug)",
    ], checker.violations
    try:
        checker.check(idle=True)
    except AssertionError as error:
        assert "not idle at the end: cyc still high" in str(error), str(error)
    else:
        raise AssertionError("check() passed despite violations")
