"""The demo SoC: a Hauler DMA controller, on-chip RAM and a UART bridge for the host.

::

    uart_rx -> UARTReceiver -> FIFO -> UARTBridge -> UARTTransmitter -> uart_tx
                                           | bus (master)
        DMAController.m_wb ----------------+-> WishboneArbiter -> WishboneDecoder
        (master)                                                   |-> RAM (SPRAM / BlockRAM)
                                                                   |-> ClassicAdapter
                                                                   |     -> DMAController.s_wb
                                                                   |-> BoardInfo
                                                                   '-> (unmapped: ERR)

Every link is Wishbone B4 pipelined (32-bit data, word addresses) except the last hop to the
DMA controller's register port, which is B4 classic as the ABI has it. The SoC knows nothing
of pins: :class:`~hauler.boards.top.BoardTop` puts it on a board, and simulation uses its
ports directly.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from hauler import Config, DMAController
from hauler import registers

from .arbiter import WishboneArbiter
from .bridge import UARTBridge
from .classic import ClassicAdapter
from .decoder import WishboneDecoder
from .info import BoardInfo
from .memory_map import DMA_BASE, DMA_SIZE, INFO_BASE, INFO_SIZE, RAM_BASE
from .protocol import TIMEOUT_BITS
from .ram import SPRAM, BlockRAM
from .uart import UARTReceiver, UARTTransmitter


__all__ = ["LEDS", "MEMORIES", "check_bus", "check_config", "stretch", "dma_system", "DemoSoC"]


#: The SoC's LED outputs, in bit order; docs/boards.md says what each means.
LEDS = data.StructLayout({"busy": 1, "irq": 1, "error": 1})
#: ``memory`` choices: the iCE40 UP5K's SPRAM, or inferred block RAM (also the simulation model).
MEMORIES = {"spram": SPRAM, "bram": BlockRAM}
#: Bytes the bridge's receive FIFO holds while the bridge is busy on the bus or sending.
_RX_FIFO_DEPTH = 16
#: The DMA controller's register port, word-addressed, fills its region exactly.
assert DMA_SIZE == 1 << registers.CSR_ADDR_WIDTH


def check_bus(config, soc):
    """Raise :exc:`TypeError` or :exc:`ValueError` unless ``config`` fits the demo SoCs' one
    bus: master and register port Wishbone, 32-bit data and addresses (``soc`` names the SoC
    in the message)."""
    if not isinstance(config, Config):
        raise TypeError(f"config must be a hauler.Config, not {config!r}")
    needs = {"master": "wishbone", "csr": "wishbone", "data_width": 32, "addr_width": 32}
    for name, value in needs.items():
        if getattr(config, name) != value:
            raise ValueError(f"{soc} needs config.{name} == {value!r}, not "
                             f"{getattr(config, name)!r}")


def check_config(config):
    """Raise :exc:`TypeError` or :exc:`ValueError` unless the SoC can use ``config``: its
    master and register port Wishbone, 32-bit data and addresses, no streams."""
    check_bus(config, "the demo SoC")
    if getattr(config, "streams", False):
        raise ValueError("the demo SoC has nothing to connect to the DMA's stream ports: "
                         "build it with streams=False (--no-streams)")


def stretch(m, pulse, cycles):
    """A signal high while ``pulse`` was high in the last ``cycles`` cycles: a bus cycle lasts
    microseconds, an LED must stay lit for longer to be seen."""
    left = Signal(range(cycles + 1))
    with m.If(pulse):
        m.d.sync += left.eq(cycles)
    with m.Elif(left != 0):
        m.d.sync += left.eq(left - 1)
    return left != 0


def dma_system(m, *, config, masters, ram, ram_size, clk_freq, regions=None):
    """Add to ``m`` what the demo SoCs share: the DMA controller, an arbiter between
    ``masters`` and the DMA's master port (named ``dma``, last), and a decoder to ``ram``, the
    DMA's registers (through a classic adapter), the board block and ``regions`` (more
    decoder regions, for the caller to connect). The board block's ``bus_error`` is wired;
    the caller connects its masters to the arbiter's ports and the other regions.

    Returns
    -------
    (DMAController, WishboneArbiter, WishboneDecoder, BoardInfo)
    """
    m.submodules.dma = dma = DMAController(config)
    m.submodules.arbiter = arbiter = WishboneArbiter(
        addr_width=30, data_width=32, masters=(*masters, "dma"))
    wiring.connect(m, dma.m_wb, arbiter.dma)
    m.submodules.decoder = decoder = WishboneDecoder(
        addr_width=30, data_width=32, regions={
            "ram": (RAM_BASE, ram_size),
            "dma": (DMA_BASE, DMA_SIZE),
            "info": (INFO_BASE, INFO_SIZE),
            **(regions or {}),
        })
    wiring.connect(m, arbiter.bus, decoder.bus)

    m.submodules.ram = ram
    wiring.connect(m, decoder.ram, ram.bus)
    m.submodules.csr_adapter = csr_adapter = ClassicAdapter(
        addr_width=registers.CSR_ADDR_WIDTH - 2, data_width=32)
    wiring.connect(m, decoder.dma, csr_adapter.bus)
    wiring.connect(m, csr_adapter.classic, dma.s_wb)
    m.submodules.info = info = BoardInfo(ram_size=ram_size, clk_freq=clk_freq)
    wiring.connect(m, decoder.info, info.bus)
    # Every ERR ends a transfer on the shared bus, whoever's it was.
    m.d.comb += info.bus_error.eq(arbiter.bus.cyc & arbiter.bus.err)
    return dma, arbiter, decoder, info


class DemoSoC(wiring.Component):
    """A DMA controller with RAM and a UART bridge, the host's way in (see the module's map).

    Parameters
    ----------
    config : hauler.Config
        The DMA controller's build: ``master`` and ``csr`` ``"wishbone"``, 32-bit data and
        addresses, no streams.
    clk_freq : int
        Clock frequency in Hz (the board block reports it; the ``busy`` LED's time base).
    divisor : int
        UART clock cycles per bit (:func:`~hauler.boards.uart.uart_divisor`); small ones make
        simulations short.
    memory : str
        ``"spram"`` (iCE40 UP5K only) or ``"bram"``: see :data:`MEMORIES`.
    ram_size : int
        Bytes of RAM at :data:`~hauler.boards.memory_map.RAM_BASE`.
    busy_cycles : int, optional
        How long the ``busy`` LED stays lit after the DMA's last bus cycle; default a tenth of
        a second, so that a short copy still shows.

    Members
    -------
    uart_rx : In(1)
        Serial data from the host, high when idle.
    uart_tx : Out(1)
        Serial data to the host, high when idle.
    leds : Out(LEDS)
        ``busy``: the DMA master had the bus in the last ``busy_cycles``; ``irq``: the DMA
        controller's interrupt output; ``error``: the board block's ERRORS is not zero.

    Raises
    ------
    TypeError, ValueError
        For a configuration the SoC cannot use, an unknown ``memory``, a ``ram_size`` the
        memory cannot have, a bad ``divisor``, ``clk_freq`` or ``busy_cycles``.
    """

    def __init__(self, *, config, clk_freq, divisor, memory, ram_size, busy_cycles=None):
        check_config(config)
        if memory not in MEMORIES:
            raise ValueError(f"memory must be 'spram' or 'bram', not {memory!r}")
        if not isinstance(clk_freq, int) or isinstance(clk_freq, bool) or clk_freq <= 0:
            raise ValueError(f"clk_freq must be a positive integer of Hz, not {clk_freq!r}")
        if busy_cycles is None:
            busy_cycles = clk_freq // 10
        if not isinstance(busy_cycles, int) or busy_cycles < 1:
            raise ValueError(f"busy_cycles must be a positive integer, not {busy_cycles!r}")
        self.config = config
        self.clk_freq = clk_freq
        self.ram_size = ram_size
        self._busy_cycles = busy_cycles
        # Built here, so that a bad size or divisor fails in the constructor.
        self._ram = MEMORIES[memory](size=ram_size)
        self._uart_rx = UARTReceiver(divisor=divisor)
        self._uart_tx = UARTTransmitter(divisor=divisor)
        self._bridge = UARTBridge(timeout=TIMEOUT_BITS * divisor)
        super().__init__({
            "uart_rx": In(1, init=1),
            "uart_tx": Out(1, init=1),
            "leds": Out(LEDS),
        })

    def elaborate(self, platform):
        m = Module()

        # --- The host's link: UART, a FIFO (bytes keep arriving while the bridge waits for
        # the bus or sends), the bridge.
        m.submodules.uart_rx = uart_rx = self._uart_rx
        m.submodules.uart_tx = uart_tx = self._uart_tx
        m.submodules.rx_fifo = rx_fifo = SyncFIFOBuffered(width=8, depth=_RX_FIFO_DEPTH)
        m.submodules.bridge = bridge = self._bridge
        m.d.comb += [uart_rx.rx.eq(self.uart_rx), self.uart_tx.eq(uart_tx.tx)]
        wiring.connect(m, uart_rx.data, rx_fifo.w_stream)
        wiring.connect(m, rx_fifo.r_stream, bridge.rx)
        wiring.connect(m, bridge.tx, uart_tx.data)

        # --- The DMA controller, the interconnect, the RAM and the board block.
        dma, arbiter, decoder, info = dma_system(
            m, config=self.config, masters=("bridge",), ram=self._ram,
            ram_size=self.ram_size, clk_freq=self.clk_freq)
        wiring.connect(m, bridge.bus, arbiter.bridge)
        m.d.comb += info.link_error.eq(bridge.frame_error | uart_rx.framing_error |
                                       uart_rx.overrun)

        m.d.comb += [
            self.leds.busy.eq(stretch(m, dma.m_wb.cyc, self._busy_cycles)),
            self.leds.irq.eq(dma.irq),
            self.leds.error.eq(info.errors.any()),
        ]
        return m
