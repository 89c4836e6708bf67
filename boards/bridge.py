"""The UART-to-Wishbone bridge: the host's way to the SoC's bus (protocol in docs/boards.md)."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hauler.bus.signatures import WishboneSignature

from . import protocol


__all__ = ["UARTBridge"]


class UARTBridge(wiring.Component):
    """Runs the requests of :mod:`hauler.boards.protocol` on a Wishbone bus, one word at a time.

    A request's header (op, count - 1, little-endian byte address) comes from ``rx``; each of
    its words is then one single-access bus cycle (``cti`` = 000): a write's word is taken
    from ``rx`` first, a read's word is sent on ``tx`` after its ack. The status byte follows
    the last word: :data:`~hauler.boards.protocol.STATUS_BUS_ERROR` if any word ended with
    ERR (a failed read word is sent as 0), else :data:`~hauler.boards.protocol.STATUS_OK`.
    An unknown op byte is answered with :data:`~hauler.boards.protocol.NAK` alone.

    While a frame is being received, ``timeout`` cycles without a byte drop it (no answer):
    this is how a host that lost track of the framing gets the bridge back to waiting for an
    op byte. The two low bits of the address are ignored: the bridge moves whole words.

    The bus is Wishbone B4 pipelined, one strobe outstanding: ``cyc`` rises with the strobe
    and falls with the word's ack or err, so the interconnect's arbiter can hand the bus to the
    DMA between any two words.

    Parameters
    ----------
    timeout : int
        Cycles of silence that drop a frame being received, at least 1.

    Members
    -------
    rx : In(stream.Signature(8))
        Bytes from the host.
    tx : Out(stream.Signature(8))
        Bytes to the host.
    bus : Out(WishboneSignature(addr_width=30, data_width=32, pipelined=True))
        The master port; ``adr`` is a word address.
    frame_error : Out(1)
        Pulses when a frame is dropped: an unknown op byte or the timeout.

    Raises
    ------
    ValueError
        If ``timeout`` is not a positive integer.
    """

    def __init__(self, *, timeout):
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1:
            raise ValueError(f"timeout must be a positive integer of cycles, not {timeout!r}")
        self._timeout = timeout
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "bus": Out(WishboneSignature(addr_width=30, data_width=32, pipelined=True)),
            "frame_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        rx, tx, bus = self.rx, self.tx, self.bus

        write = Signal()                # the request's op
        left = Signal(8)                # words of the request after the current one
        addr = Signal(30)               # word address of the current word
        word = Signal(32)               # the word being received, written, read or sent
        byte = Signal(2)                # byte of `word` being received or sent
        failed = Signal()               # a word of this request ended with ERR
        strobed = Signal()              # the current word's strobe was taken by the bus
        silence = Signal(range(self._timeout))

        took = rx.valid & rx.ready
        # Little-endian: each byte received goes in at the top and moves down.
        shifted_in = Cat(word[8:], rx.payload)
        m.d.comb += [
            bus.adr.eq(addr), bus.dat_w.eq(word), bus.sel.eq(0b1111), bus.we.eq(write),
            bus.cti.eq(0), bus.bte.eq(0),
        ]

        # Mid-frame, the host's bytes follow each other closely; a long silence means it gave
        # up on this frame (or never meant one): back to waiting for an op byte.
        mid_frame = Signal()
        timed_out = mid_frame & ~took & (silence == self._timeout - 1)
        with m.If(~mid_frame | took):
            m.d.sync += silence.eq(0)
        with m.Else():
            m.d.sync += silence.eq(silence + 1)

        with m.FSM(init="OP"):
            with m.State("OP"):
                m.d.comb += rx.ready.eq(1)
                with m.If(took):
                    m.d.sync += [write.eq(rx.payload == protocol.OP_WRITE), failed.eq(0)]
                    with m.If((rx.payload == protocol.OP_READ) |
                              (rx.payload == protocol.OP_WRITE)):
                        m.next = "COUNT"
                    with m.Else():
                        m.next = "NAK"

            with m.State("COUNT"):
                m.d.comb += [rx.ready.eq(1), mid_frame.eq(1)]
                with m.If(took):
                    m.d.sync += [left.eq(rx.payload), byte.eq(0)]
                    m.next = "ADDRESS"
                with m.Elif(timed_out):
                    m.d.comb += self.frame_error.eq(1)
                    m.next = "OP"

            with m.State("ADDRESS"):
                m.d.comb += [rx.ready.eq(1), mid_frame.eq(1)]
                with m.If(took):
                    m.d.sync += [word.eq(shifted_in), byte.eq(byte + 1)]
                    with m.If(byte == 3):
                        m.d.sync += addr.eq(shifted_in[2:])
                        with m.If(write):
                            m.next = "DATA"
                        with m.Else():
                            m.next = "BUS"
                with m.Elif(timed_out):
                    m.d.comb += self.frame_error.eq(1)
                    m.next = "OP"

            with m.State("DATA"):
                m.d.comb += [rx.ready.eq(1), mid_frame.eq(1)]
                with m.If(took):
                    m.d.sync += [word.eq(shifted_in), byte.eq(byte + 1)]
                    with m.If(byte == 3):
                        m.next = "BUS"
                with m.Elif(timed_out):
                    m.d.comb += self.frame_error.eq(1)
                    m.next = "OP"

            with m.State("BUS"):
                # Pipelined: the strobe lasts until the bus takes it (stall low), cyc until
                # the answer. A slave may answer in the cycle it takes the strobe.
                m.d.comb += [bus.cyc.eq(1), bus.stb.eq(~strobed)]
                with m.If(bus.stb & ~bus.stall):
                    m.d.sync += strobed.eq(1)
                with m.If(bus.ack | bus.err):
                    m.d.sync += [strobed.eq(0), failed.eq(failed | bus.err), byte.eq(0)]
                    with m.If(~write):
                        m.d.sync += word.eq(Mux(bus.err, 0, bus.dat_r))
                        m.next = "SEND"
                    with m.Elif(left == 0):
                        m.next = "STATUS"
                    with m.Else():
                        m.d.sync += [left.eq(left - 1), addr.eq(addr + 1)]
                        m.next = "DATA"

            with m.State("SEND"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(word[:8])]
                with m.If(tx.ready):
                    m.d.sync += [word.eq(word[8:]), byte.eq(byte + 1)]
                    with m.If(byte == 3):
                        with m.If(left == 0):
                            m.next = "STATUS"
                        with m.Else():
                            m.d.sync += [left.eq(left - 1), addr.eq(addr + 1)]
                            m.next = "BUS"

            with m.State("STATUS"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(
                    Mux(failed, protocol.STATUS_BUS_ERROR, protocol.STATUS_OK))]
                with m.If(tx.ready):
                    m.next = "OP"

            with m.State("NAK"):
                m.d.comb += [tx.valid.eq(1), tx.payload.eq(protocol.NAK),
                             self.frame_error.eq(tx.ready)]
                with m.If(tx.ready):
                    m.next = "OP"
        return m
