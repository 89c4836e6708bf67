"""The CPU SoC: the demo SoC with a RISC-V processor in place of the host's UART bridge, running
a program from RAM that drives the DMA controller (firmware/).

::

    VexRiscv.ibus --+
    VexRiscv.dbus --+-> WishboneArbiter -> WishboneDecoder -> RAM (block RAM, the program)
    DMAController.m_wb                                      |-> ClassicAdapter -> DMA registers
                                                            |-> BoardInfo
                                                            |-> SerialPort -> uart_tx
                                                            '-> ProgramControl -> exited, leds
    DMAController.irq -> VexRiscv.irq[DMA_IRQ]
    DMAController.m_axis<LOOPBACK[0]> -> DMAController.s_axis<LOOPBACK[1]>
    SerialPort.req -> DMAController.req[SERIAL_CHANNEL]

The memory map is :mod:`~hauler.boards.memory_map`'s, the one firmware/examples/platform.h
assumes, as are the interrupt line, the loopback and the request line above. The RAM holds
the program image when the FPGA configures (or the simulation starts), and the CPU starts at
its first word: there is no loader.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from .control import ProgramControl
from .cpu import VexRiscv
from .memory_map import CONTROL_BASE, CONTROL_SIZE, RAM_BASE, SERIAL_BASE, SERIAL_SIZE
from .ram import BlockRAM
from .serial_port import SerialPort
from .soc import LEDS, check_bus, dma_system, stretch


__all__ = ["DMA_IRQ", "LOOPBACK", "SERIAL_CHANNEL", "check_cpu_config", "CPUSoC"]


#: The CPU's external interrupt line the DMA controller's ``irq`` drives.
DMA_IRQ = 0
#: (from, to): the memory-to-stream port looped into the stream-to-memory port, when the build
#: has streams and both channels.
LOOPBACK = (1, 0)
#: The channel whose ``req`` the serial port drives, when the build has req/ack and it.
SERIAL_CHANNEL = 2


def check_cpu_config(config):
    """Raise :exc:`TypeError` or :exc:`ValueError` unless the CPU SoC can use ``config``: its
    master and register port Wishbone, 32-bit data and addresses."""
    check_bus(config, "the CPU SoC")


class CPUSoC(wiring.Component):
    """VexRiscv, a DMA controller, RAM holding the program, a serial port (see the module's map).

    Parameters
    ----------
    config : hauler.Config
        The DMA controller's build: ``master`` and ``csr`` ``"wishbone"``, 32-bit data and
        addresses. The examples of firmware/ want 3 channels, scatter-gather, streams and
        req/ack; a smaller build runs the programs that need less.
    clk_freq : int
        Clock frequency in Hz (the board block reports it).
    divisor : int
        UART clock cycles per bit.
    ram_size : int
        Bytes of block RAM at :data:`~hauler.boards.memory_map.RAM_BASE`.
    image : bytes
        The program: the RAM's first bytes, its entry point the first word.
    busy_cycles : int, optional
        As :class:`~hauler.boards.soc.DemoSoC`'s.

    Members
    -------
    uart_tx : Out(1)
        The serial port's line: the program's console, and bytes the DMA sends.
    leds : Out(LEDS)
        ``busy``: the DMA master had the bus lately; ``irq``: the DMA controller's interrupt;
        ``error``: a bus error, or the program ended with a non-zero code.
    exited : Out(1)
        The program wrote EXIT (:class:`~hauler.boards.control.ProgramControl`).
    exit_code : Out(8)
        What it wrote.
    """

    def __init__(self, *, config, clk_freq, divisor, ram_size, image, busy_cycles=None):
        check_cpu_config(config)
        if not isinstance(clk_freq, int) or isinstance(clk_freq, bool) or clk_freq <= 0:
            raise ValueError(f"clk_freq must be a positive integer of Hz, not {clk_freq!r}")
        self.config = config
        self.clk_freq = clk_freq
        self.ram_size = ram_size
        self._busy_cycles = clk_freq // 10 if busy_cycles is None else busy_cycles
        # Built here, so that a bad size, image or divisor fails in the constructor.
        self._ram = BlockRAM(size=ram_size, init=image)
        self._serial = SerialPort(divisor=divisor)
        super().__init__({
            "uart_tx": Out(1, init=1),
            "leds": Out(LEDS),
            "exited": Out(1),
            "exit_code": Out(8),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        m.submodules.cpu = cpu = VexRiscv(reset_address=RAM_BASE)
        dma, arbiter, decoder, info = dma_system(
            m, config=config, masters=("dbus", "ibus"), ram=self._ram, ram_size=self.ram_size,
            clk_freq=self.clk_freq, regions={"serial": (SERIAL_BASE, SERIAL_SIZE),
                                             "control": (CONTROL_BASE, CONTROL_SIZE)})
        wiring.connect(m, cpu.dbus, arbiter.dbus)
        wiring.connect(m, cpu.ibus, arbiter.ibus)
        m.submodules.serial = serial = self._serial
        wiring.connect(m, decoder.serial, serial.bus)
        m.submodules.control = control = ProgramControl()
        wiring.connect(m, decoder.control, control.bus)

        # --- The DMA controller's devices: the CPU, its own stream loop, the serial port.
        m.d.comb += cpu.irq[DMA_IRQ].eq(dma.irq)
        source, sink = LOOPBACK
        if config.streams and config.channels > max(LOOPBACK):
            wiring.connect(m, getattr(dma, f"m_axis{source}"), getattr(dma, f"s_axis{sink}"))
        if config.req_ack and config.channels > SERIAL_CHANNEL:
            m.d.comb += dma.req[SERIAL_CHANNEL].eq(serial.req)

        failed = control.exited & (control.exit_code != 0)
        m.d.comb += [
            self.uart_tx.eq(serial.tx),
            self.exited.eq(control.exited), self.exit_code.eq(control.exit_code),
            self.leds.busy.eq(stretch(m, dma.m_wb.cyc, self._busy_cycles)),
            self.leds.irq.eq(dma.irq),
            self.leds.error.eq(info.errors.any() | failed),
        ]
        return m
