"""The CPU SoC's serial port: a UART transmitter behind a FIFO, written by the CPU (its
console) and by the DMA controller (paced by req/ack)."""

from amaranth.hdl import Cat, Module, Mux
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from hauler.bus.signatures import WishboneSignature

from .memory_map import SERIAL_REGISTERS
from .uart import UARTTransmitter


__all__ = ["SerialPort"]


class SerialPort(wiring.Component):
    """Two registers (:data:`~hauler.boards.memory_map.SERIAL_REGISTERS`): a byte written to
    TXDATA joins the transmit FIFO, STATUS says whether there is room and whether the line has
    gone quiet.

    A write to TXDATA while the FIFO is full is stalled until a byte leaves it, so nothing
    written is lost: a program may print without polling. ``req`` is high while the FIFO has
    room for a byte; it is the DMA controller's request line for a paced transfer of
    REQ_BURST 1 into TXDATA. ``ack`` is not needed: the FIFO's level, which ``req`` follows,
    has changed by the time the DMA acknowledges the byte's write.

    Parameters
    ----------
    divisor : int
        UART clock cycles per bit.
    depth : int
        Bytes the FIFO holds.

    Members
    -------
    bus : In(WishboneSignature(addr_width=2, data_width=32, pipelined=True))
    tx : Out(1)
        The serial line, high when idle.
    req : Out(1)
        The FIFO has room for a byte.
    """

    def __init__(self, *, divisor, depth=16):
        self._transmitter = UARTTransmitter(divisor=divisor)
        self._depth = depth
        super().__init__({
            "bus": In(WishboneSignature(addr_width=2, data_width=32, pipelined=True)),
            "tx": Out(1, init=1),
            "req": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=8, depth=self._depth)
        m.submodules.transmitter = transmitter = self._transmitter
        wiring.connect(m, fifo.r_stream, transmitter.data)
        m.d.comb += self.tx.eq(transmitter.tx)

        strobe = bus.cyc & bus.stb
        txdata = bus.adr == SERIAL_REGISTERS["TXDATA"] // 4
        writing = strobe & bus.we & txdata & bus.sel[0]
        m.d.comb += [
            bus.stall.eq(writing & ~fifo.w_rdy), bus.err.eq(0),
            fifo.w_data.eq(bus.dat_w[:8]), fifo.w_en.eq(writing),
            self.req.eq(fifo.w_rdy),
        ]
        m.d.sync += bus.ack.eq(strobe & ~bus.stall)
        with m.If(strobe & ~bus.we):
            empty = (fifo.level == 0) & transmitter.data.ready
            m.d.sync += bus.dat_r.eq(Mux(txdata, 0, Cat(fifo.w_rdy, empty)))
        return m
