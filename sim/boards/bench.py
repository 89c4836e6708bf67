"""cocotb tests of a whole board's demo SoC: the host tool's own procedures, over a UART model
on the SoC's serial pins (run by :func:`hauler.sim.boards.runner.run_board`).

Nothing is poked inside the SoC: every request goes through the bridge as it would from the
host, and memory is checked by reading it back the same way and comparing it with
:mod:`hauler.sim.model`. The only internal signals read are the DMA master's, by a monitor that
counts its bus cycles to check that the interconnect never holds it up while the bridge is
idle.
"""

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, Timer

from hauler.boards import host
from hauler.boards.memory_map import ERROR_LINK, INFO_BASE, INFO_REGISTERS, RAM_BASE
from hauler.boards.protocol import NAK, TIMEOUT_BITS, FramingError, Read, Write
from hauler.sim.bench import bench_config, reset_dut
from hauler.sim.signals import reader

from .runner import SOC_ENV
from .uart import SimLink, UARTModel


#: Simulated time a test may take: each needs a few milliseconds; a hang fails, not waits.
TIMEOUT_MS = 50


class DMABusMonitor:
    """Counts, on the arbiter's DMA port, the cycles the DMA holds the bus (``cyc``), its
    strobes taken, and its strobes stalled while the bridge does not want the bus (which the
    interconnect must never cause: the RAM takes a strobe per cycle)."""

    def __init__(self, dut):
        arbiter = dut.arbiter
        self._clock = dut.clk
        self._signals = [reader(s) for s in (arbiter.dma__cyc, arbiter.dma__stb,
                                             arbiter.dma__stall, arbiter.bridge__cyc)]
        self.cyc_cycles = self.beats = self.stalled = 0
        self.first = self.last = None
        cocotb.start_soon(self._run())

    async def _run(self):
        cycle = 0
        while True:
            await RisingEdge(self._clock)
            cycle += 1
            cyc, stb, stall, bridge = (s() == "1" for s in self._signals)
            if cyc:
                self.cyc_cycles += 1
                self.first = cycle if self.first is None else self.first
                self.last = cycle
                self.beats += stb and not stall
                self.stalled += stb and stall and not bridge

    def reset(self):
        self.cyc_cycles = self.beats = self.stalled = 0
        self.first = self.last = None


async def start(dut):
    """Clock at the board's frequency, the UART model, reset; the link and the SoC's
    parameters."""
    soc = json.loads(os.environ[SOC_ENV])
    period_ps = 2 * round(1e12 / soc["clk_hz"] / 2)      # even: two equal half periods
    Clock(dut.clk, period_ps, unit="ps", impl="gpi").start(start_high=False)
    uart = UARTModel(dut.uart_rx, dut.uart_tx, soc["divisor"] * period_ps)
    await reset_dut(dut)
    return SimLink(uart), soc


async def run(link, procedure):
    return await host.drive_async(procedure, link.perform)


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def facts_and_memory(dut):
    """The board block and the DMA's ID answer through the bridge; RAM reads back."""
    link, soc = await start(dut)
    config = bench_config()
    facts = await run(link, host.board_facts())
    assert (facts.ram_size, facts.clk_hz, facts.errors) == (soc["ram_size"], soc["clk_hz"], 0)
    assert (facts.dma["CHANNELS"], facts.dma["SG"], facts.dma["UNALIGNED"]) == \
        (config.channels, int(config.sg), int(config.unaligned))
    line = await run(link, host.memory_test(soc["ram_size"], block=64))
    dut._log.info(line)


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def register_copy(dut):
    """A register-mode copy on each channel, checked over the bridge against the model; the
    DMA gets the bus at full rate."""
    link, soc = await start(dut)
    config = bench_config()
    monitor = DMABusMonitor(dut)
    length, src, dst = 256, RAM_BASE + 0x100, RAM_BASE + soc["ram_size"] // 2
    if config.unaligned:
        length, src, dst = length - 3, src + 1, dst + 3
    for channel in range(config.channels):
        monitor.reset()
        report = await run(link, host.copy_test(src, dst, length, channel=channel,
                                                seed=channel))
        dut._log.info(report.format())
        # The DMA's traffic is the copy's alone: every word of both buffers, once.
        beats = sum((addr + length + 3) // 4 - addr // 4 for addr in (src, dst))
        dut._log.info(f"DMA: {monitor.beats} strobes taken in {monitor.cyc_cycles} cycles "
                      f"holding the bus ({monitor.beats / monitor.cyc_cycles:.3f} per cycle), "
                      f"{monitor.stalled} stalled by the interconnect, first to last "
                      f"{monitor.last - monitor.first + 1} cycles")
        assert monitor.stalled == 0
        assert monitor.beats == beats
        src, dst = src + 0x40, dst + 0x400


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def descriptor_chain(dut):
    """A scatter-gather chain gathering from three places and scattering to three others,
    checked over the bridge: data, write-backs, and nothing else touched."""
    link, soc = await start(dut)
    config = bench_config()
    assert config.sg, "this build has no scatter-gather: leave descriptor_chain out"
    lengths = [41, 103, 27] if config.unaligned else [40, 100, 24]
    report = await run(link, host.chain_test(RAM_BASE + soc["ram_size"] // 4, lengths,
                                             channel=config.channels - 1,
                                             unaligned=config.unaligned))
    dut._log.info(report.format())


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def bus_errors(dut):
    """An unmapped address ends with ERR for the bridge and READ_ERROR for the DMA."""
    link, _ = await start(dut)
    dut._log.info(await run(link, host.error_test()))


@cocotb.test(timeout_time=TIMEOUT_MS, timeout_unit="ms")
async def framing_recovery(dut):
    """An unknown op byte is answered with NAK; a frame cut short is dropped after the
    bridge's timeout; a host out of step sees it in the answer and gets back in step by
    waiting; each raises ERRORS.LINK, and the next request is answered."""
    link, _ = await start(dut)
    uart = link.uart
    bit = uart._bit
    await uart.send(b"\x00")
    assert await uart.read(1, 100 * bit) == bytes([NAK])

    # Half a write, then silence: dropped, nothing written.
    await run(link, host.load(RAM_BASE, bytes.fromhex("1111111133333333")))
    await uart.send(Write(RAM_BASE, [0x22222222]).encode()[:5])
    await Timer((TIMEOUT_BITS + 20) * bit, unit="ps")
    assert await run(link, host.peek(RAM_BASE)) == 0x11111111

    # A stray op byte: the bridge takes the host's read as a read of 0x53 words, whose
    # fifth byte is no status byte.
    await uart.send(bytes([Read(0).encode()[0]]))
    try:
        await run(link, host.peek(RAM_BASE))
    except FramingError as e:
        dut._log.info(f"the host saw the framing loss: {e}")
    else:
        raise AssertionError("a read sent after a stray byte was answered as if in step")
    # What SerialLink.resync does: outwait the bridge's answer and its timeout, flush.
    await Timer(2 * TIMEOUT_BITS * bit, unit="ps")
    uart.received.clear()
    assert await run(link, host.peek(RAM_BASE + 4)) == 0x33333333

    assert await run(link, host.clear_errors()) == ERROR_LINK
    assert await link.perform(Read(INFO_BASE + INFO_REGISTERS["ERRORS"])) == [0]
