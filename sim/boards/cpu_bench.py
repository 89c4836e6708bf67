"""cocotb bench of the CPU SoC running one firmware example to its end (run by
:func:`hauler.sim.boards.cpu.run_program`).

The program reports over the serial port, which a UART model reads, and ends by writing the
EXIT register. The bench then checks, independently of what the program says, what it must
have left in RAM (read from the simulated RAM, compared with values computed here) or sent on
the line, and times the points the program marks (MARK register) against the DMA
controller's register writes and interrupt.
"""

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import (ReadOnly, RisingEdge, SimTimeoutError, Timer, ValueChange,
                             with_timeout)
from cocotb.utils import get_sim_time

from hauler.sim.bench import bench_config, reset_dut
from hauler.sim.driver import Driver, encode
from hauler.sim.signals import reader

from .cpu import CPU_SOC_ENV
from .uart import UARTModel


#: Simulated time a program may take before the bench calls it hung (at 25 MHz, 200 000
#: cycles; the examples need under 60 000).
TIMEOUT_MS = 8
#: memcpy_irq's marks (firmware/examples/memcpy_irq.c).
MARK_COPY_CALL, MARK_CALLBACK = 1, 2


class Timeline:
    """Cycle numbers of the events the measurements are made of: the program's marks, its
    writes of START to a channel's CTRL, and the rises of the DMA controller's interrupt.
    Each waits on its signal's edges, not on every clock."""

    def __init__(self, dut, period_ps):
        self._dut, self._period = dut, period_ps
        self.marks, self.starts, self.irq_rises = [], [], []
        self._ctrl = {Driver.address("CTRL", ch) // 4: ch for ch in range(bench_config().channels)}
        self._start = encode("CTRL", start=1)
        for watch in (self._watch_marks, self._watch_starts, self._watch_irq):
            cocotb.start_soon(watch())

    def now(self):
        return int(get_sim_time("ps")) // self._period

    async def _watch_marks(self):
        control = self._dut.control
        while True:
            await RisingEdge(control.marked)
            await ReadOnly()        # MARK's value changes on the same clock edge
            self.marks.append((self.now(), int(control.mark.value)))

    async def _watch_starts(self):
        # The DMA's register port is Wishbone classic: ack rises once per access.
        csr = self._dut.csr_adapter
        while True:
            await RisingEdge(csr.classic__ack)
            channel = self._ctrl.get(int(csr.classic__adr.value))
            if int(csr.classic__we.value) and channel is not None \
                    and int(csr.classic__dat_w.value) & self._start:
                self.starts.append((self.now(), channel))

    async def _watch_irq(self):
        irq = self._dut.cpu.irq
        line = reader(irq)          # the controller's is the last (least significant) bit
        level = False
        while True:
            await ValueChange(irq)
            now_level = line()[-1] == "1"
            if now_level and not level:
                self.irq_rises.append(self.now())
            level = now_level


def _ram_bytes(dut, address, length):
    memory = dut.ram.memory
    first, last = address // 4, (address + length + 3) // 4
    raw = b"".join(int(memory[i].value).to_bytes(4, "little") for i in range(first, last))
    return raw[address % 4:address % 4 + length]


def _xorshift_bytes(count, state=0x12345678):
    out = bytearray()
    for _ in range(count):
        state ^= (state << 13) & 0xFFFF_FFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFF_FFFF
        out.append(state & 0xFF)
    return bytes(out)


def _check_memcpy_irq(dut, soc, console, timeline):
    """The copy's destination holds the source's bytes, the guard bytes around it are intact;
    the set-up (mark to START's write) and interrupt (rise to callback's mark) latencies."""
    copy, guard = 1000, 0xA5
    src_offset, dst_offset = (1, 3) if bench_config().unaligned else (0, 0)
    src = _xorshift_bytes(copy + 8)
    dst = _ram_bytes(dut, soc["symbols"]["dst"], copy + 8)
    assert _ram_bytes(dut, soc["symbols"]["src"], copy + 8) == src, "the source was changed"
    want = bytes([guard] * dst_offset) + src[src_offset:src_offset + copy] + \
        bytes([guard] * (8 - dst_offset))
    assert dst == want, "the destination in RAM is not the source's bytes within its guards"
    assert console == "bytes copied 0x000003e8\n" * 2, console

    # Two rounds: the first with VexRiscv's instruction cache cold, the second warm.
    marks = [value for _, value in timeline.marks]
    assert marks == [MARK_COPY_CALL, MARK_CALLBACK] * 2, timeline.marks
    figures = {}
    for name, (call, callback) in zip(("cold", "warm"), zip(*[iter(timeline.marks)] * 2)):
        start = [t for t, _ in timeline.starts if t > call[0]][0]
        raised = [t for t in timeline.irq_rises if t < callback[0]][-1]
        figures[f"setup_cycles_{name}"] = start - call[0]
        figures[f"irq_to_callback_cycles_{name}"] = callback[0] - raised
    return figures


def _check_uart_tx(dut, soc, console, timeline):
    """The message went out on the line whole, and only once; one START on the UART's
    channel."""
    message = "Hello from Hauler, one byte per request.\n"
    assert console == message + f"bytes sent 0x{len(message):08x}\n", console
    assert [channel for _, channel in timeline.starts] == [2], timeline.starts
    return {}


def _check_rx_ring(dut, soc, console, timeline):
    """Every packet arrived (the program's count in RAM) and the last one, 256 bytes over four
    64-byte ring slots, is in them byte for byte."""
    lengths, slot, ring = (1, 4, 60, 64, 65, 200, 128, 3, 256), 64, 8
    used = sum(-(-n // slot) for n in lengths)
    assert console == (f"packets received 0x{len(lengths):08x}\n"
                       f"descriptors used 0x{used:08x}\n"), console
    received = int.from_bytes(_ram_bytes(dut, soc["symbols"]["received"], 4), "little")
    assert received == len(lengths), received
    last = len(lengths) - 1
    payload = bytes((last << 5 ^ i) & 0xFF for i in range(lengths[last]))
    first_slot = used - len(payload) // slot
    slots = soc["symbols"]["ring_slot"]
    got = b"".join(_ram_bytes(dut, slots + (s % ring) * slot, slot)
                   for s in range(first_slot, used))
    assert got == payload, "the last packet is not in its ring slots"
    return {}


CHECKS = {"memcpy_irq": _check_memcpy_irq, "uart_tx": _check_uart_tx,
          "rx_ring": _check_rx_ring}


@cocotb.test(timeout_time=2 * TIMEOUT_MS, timeout_unit="ms")
async def program(dut):
    """Run the program from reset to EXIT; it must exit with 0 and pass its example's checks."""
    soc = json.loads(os.environ[CPU_SOC_ENV])
    period_ps = 2 * round(1e12 / soc["clk_hz"] / 2)
    Clock(dut.clk, period_ps, unit="ps", impl="gpi").start(start_high=False)
    uart = UARTModel(None, dut.uart_tx, soc["divisor"] * period_ps)
    timeline = Timeline(dut, period_ps)
    await reset_dut(dut)
    began = timeline.now()
    try:
        await with_timeout(RisingEdge(dut.exited), TIMEOUT_MS, "ms")
    except SimTimeoutError:
        raise AssertionError(f"{soc['example']} did not exit within {TIMEOUT_MS} ms; it "
                             f"printed:\n{uart.received.decode(errors='replace')}\n"
                             f"STARTs (cycle, channel): {timeline.starts}\n"
                             f"interrupts (cycle): {timeline.irq_rises}") from None
    cycles = timeline.now() - began
    # The last bytes printed may still be in the serial port's FIFO (16) or on the line.
    await Timer(18 * 10 * soc["divisor"] * period_ps, unit="ps")
    console = uart.received.decode(errors="replace")
    dut._log.info("%s printed:\n%s", soc["example"], console)
    code = int(dut.exit_code.value)
    assert code == 0, f"{soc['example']} exited with {code}; it printed:\n{console}"
    assert uart.framing_errors == 0
    figures = CHECKS[soc["example"]](dut, soc, console, timeline)
    with open(soc["results"], "w") as f:
        json.dump({"console": console, "cycles": cycles, **figures}, f)

