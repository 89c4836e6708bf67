"""Everything a test of the controller needs, picked by the configuration under test.

``await Harness.create(dut)`` starts the clock, puts the memory model and the protocol
checker on the master port, a CSR master on the register port, builds the driver and
resets the DUT (after the bus models exist, as cocotbext-axi requires).
"""

import random

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge

from .bench import bench_config, reset_dut, start_clock
from .checkers import AxiMasterChecker, WishboneMasterChecker
from .csr import CsrMaster
from .driver import Driver
from .memory import AxiMemory, WishboneMemory


__all__ = ["Harness", "MEMORY_SIZE"]

MEMORY_SIZE = 1 << 21  # room for a 1 MiB copy from the lower half to the upper


class BusMonitor:
    """Counts what the controller does on its ports, cycle by cycle, since :meth:`reset`.

    Members
    -------
    cycles, reads, writes : int
        Clock cycles, and data beats read and written on the master port.
    csr_write_cycle : int or None
        The cycle of the latest register write accepted on the CSR port.
    first_read_cycle : int or None
        The first cycle with a read request on the master bus (AR valid, or a read strobe).
    """

    def __init__(self, dut, config, clock):
        self._dut, self._config, self._clock = dut, config, clock
        self.reset()

    def reset(self):
        self.reads = self.writes = self.cycles = 0
        self.csr_write_cycle = self.first_read_cycle = None

    def _sample(self):
        d = self._dut
        if self._config.master == "axi4":
            read = d.m_axi__rvalid.value and d.m_axi__rready.value
            write = d.m_axi__wvalid.value and d.m_axi__wready.value
            request = d.m_axi__arvalid.value
        else:
            ack = d.m_wb__ack.value or d.m_wb__err.value
            read = ack and not d.m_wb__we.value
            write = ack and d.m_wb__we.value
            request = d.m_wb__stb.value and not d.m_wb__we.value
        if self._config.csr == "axil":
            csr_write = d.s_axil__awvalid.value and d.s_axil__awready.value
        else:
            csr_write = d.s_wb__ack.value and d.s_wb__we.value
        return bool(read), bool(write), bool(request), bool(csr_write)

    async def run(self):
        while True:
            await RisingEdge(self._clock)
            read, write, request, csr_write = self._sample()
            self.cycles += 1
            self.reads += read
            self.writes += write
            if csr_write:
                self.csr_write_cycle = self.cycles
            if request and self.first_read_cycle is None:
                self.first_read_cycle = self.cycles


class Harness:
    def __init__(self, dut, config, clock, memory, checker, driver, rng):
        self.dut = dut
        self.config = config
        self.clock = clock
        self.memory = memory
        self.checker = checker
        self.driver = driver
        self.rng = rng
        self.monitor = BusMonitor(dut, config, clock)

    @classmethod
    async def create(cls, dut, *, backpressure=0.0, seed=None, latency=(1, 1), read_latency=0,
                     max_outstanding=None, memory_size=MEMORY_SIZE):
        """Build the bench.

        Parameters
        ----------
        dut : cocotb handle
        backpressure : float
            Probability of a pause (AXI4: ready low or valid withheld on every channel) or a
            stall (Wishbone) in each cycle, in [0, 1).
        seed : int, optional
            Seed of the memory's random draws and of :attr:`rng` (default: drawn and logged).
        latency : (int, int)
            Wishbone only: the inclusive range of the memory's response latency in cycles
            (1 = the next cycle). AXI4 answers as soon as it can.
        read_latency : int
            Cycles the memory adds before read data come back, on either bus: on AXI4 between
            an AR and the first R beat of its burst, on Wishbone to the response latency of
            every read strobe. Writes are not delayed. Reads are pipelined on both.
        max_outstanding : int, optional
            Most reads the memory holds taken but not answered before it refuses more: read
            bursts on AXI4 (ARREADY low), requests of either direction on Wishbone (STALL
            high), since a Wishbone slave sees no bursts. Default: no limit on AXI4; on
            Wishbone the memory model's 8 plus ``read_latency``, so that a latency alone
            does not cap the rate.
        memory_size : int
            Bytes of the memory model, from address 0 (default :data:`MEMORY_SIZE`); beats at
            or beyond it answer errors.
        """
        config = bench_config()
        seed = random.getrandbits(32) if seed is None else seed
        rng = random.Random(seed)
        dut._log.info("harness seed %d, backpressure %.2f, read latency %d", seed, backpressure,
                      read_latency)
        clock = start_clock(dut)
        if config.master == "axi4":
            memory = AxiMemory(dut, "m_axi", clock, dut.rst, memory_size, read_latency=read_latency,
                               max_outstanding=max_outstanding)
            memory.set_backpressure(backpressure, seed=seed)
            checker = AxiMasterChecker(dut, "m_axi", clock, dut.rst, max_burst=config.max_burst)
        else:
            if max_outstanding is None:
                max_outstanding = 8 + read_latency
            memory = WishboneMemory(dut, "m_wb", clock, dut.rst, memory_size, seed=seed,
                                    stall=backpressure, latency=latency, read_latency=read_latency,
                                    max_outstanding=max_outstanding)
            checker = WishboneMasterChecker(dut, "m_wb", clock, dut.rst)
        csr = CsrMaster.for_config(dut, config, clock, dut.rst)
        await reset_dut(dut)
        harness = cls(dut, config, clock, memory, checker, Driver(csr, clock), rng)
        cocotb.start_soon(harness.monitor.run())
        return harness

    def add_error_window(self, start, end, kind="slverr", *, writes_only=False):
        """Make the memory answer errors in ``[start, end)`` (to writes only, with
        ``writes_only``): ``kind`` (SLVERR or DECERR) on AXI4, ERR on Wishbone (which has one
        kind)."""
        if self.config.master == "axi4":
            self.memory.add_error_window(start, end, kind, writes_only=writes_only)
        else:
            self.memory.add_error_window(start, end, writes_only=writes_only)

    def fill(self, addr, length):
        """Random bytes at ``addr``; returns them."""
        data = bytes(self.rng.getrandbits(8) for _ in range(length))
        self.memory.write(addr, data)
        return data

    def snapshot(self):
        return bytearray(self.memory.read(0, self.memory.size))

    async def settle(self, cycles=16):
        await ClockCycles(self.clock, cycles)

    async def finish(self):
        """Let the bus go quiet, then fail on any protocol violation or dangling burst."""
        await self.settle(32)
        self.checker.check(idle=True)
