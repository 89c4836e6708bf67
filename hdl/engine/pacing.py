"""The peripheral request/acknowledge handshake of one channel (ABI §5)."""

from amaranth.hdl import Mux, Signal


__all__ = ["ReqAckPacer"]


class ReqAckPacer:
    """Paces a transfer with XFER.REQ (CTRL.REQ in a descriptor) by the channel's ``req``
    and ``ack``: the DREQ/DACK handshake of classic DMA controllers.

    The transfer is planned in pieces of REQ_BURST bytes (the last may be shorter), each an
    ordinary transfer for the planner, from the source and destination moved on by the bytes
    before it (a FIXED side stays put). A piece starts when ``req`` is high; once its last
    write is acknowledged (nothing of the channel in flight), ``ack`` pulses for a cycle;
    ``req`` is ignored in that cycle and the next, so a peripheral with nothing more to offer
    has time to lower it. Only the last piece's final burst ends the transfer (``final``), so
    completion, write-back and interrupts are those of one transfer.

    Its logic goes into the channel's module, like :class:`~.chain.ChainWalker`.

    Parameters
    ----------
    channel : Channel
    m : Module
        The channel's module.
    src, dst, length : Value
        The transfer in the registers.
    src_fixed, dst_fixed : Value
    settled : Value
        The planner is idle and none of the channel's bursts is in flight.
    halting : Value
        An error or ABORT: no piece starts any more, and no ``ack`` is given.

    Members
    -------
    pacing : Signal
        A paced transfer is under way: its pieces are not all planned and acknowledged.
    transfer : dict
        ``src``, ``dst``, ``length`` and ``final`` of the next piece, for the planner.
    """

    def __init__(self, channel, m, *, src, dst, length, src_fixed, dst_fixed, settled,
                 halting):
        regs, planner = channel._regs, channel.planner
        self._regs, self._planner = regs, planner
        self.paced = regs["XFER", "REQ"]
        self.pacing = Signal()
        offset = Signal(len(length))            # bytes of the transfer in pieces so far
        chunk = regs["REQ_BURST", "VALUE"]
        left = length - offset
        # The next piece, registered: the subtraction, compare, choice and the addresses'
        # additions stay off the planner's paths. They settle long before the piece starts:
        # `offset` moves when a piece starts, and the next one waits at least for that
        # piece's ack (the first, for the cycle of `pacing`).
        final = Signal()
        piece = Signal(len(length))
        piece_src = Signal.like(src, reset_less=True)
        piece_dst = Signal.like(dst, reset_less=True)
        m.d.sync += [final.eq(left <= chunk), piece.eq(Mux(left <= chunk, left, chunk)),
                     piece_src.eq(src + Mux(src_fixed, 0, offset)),
                     piece_dst.eq(dst + Mux(dst_fixed, 0, offset))]
        self.transfer = {
            "src": Mux(self.paced, piece_src, src), "dst": Mux(self.paced, piece_dst, dst),
            "length": Mux(self.paced, piece, length), "final": ~self.paced | final,
        }

        flying = Signal()                       # a piece is planned and not yet acknowledged
        last = Signal()                         # ... and it is the transfer's last
        deaf = Signal(range(3))                 # cycles left in which `req` is ignored
        with m.If(deaf != 0):
            m.d.sync += deaf.eq(deaf - 1)
        m.d.sync += channel.ack.eq(0)
        with m.If(halting):
            m.d.sync += [self.pacing.eq(0), flying.eq(0), offset.eq(0)]
        with m.Elif(self.pacing & ~flying):
            with m.If(channel.req & (deaf == 0) & planner.idle):
                m.d.comb += planner.go.eq(1)
                m.d.sync += [flying.eq(1), last.eq(final), offset.eq(offset + piece)]
        with m.Elif(flying & settled):
            m.d.sync += [channel.ack.eq(1), deaf.eq(2), flying.eq(0)]
            with m.If(last):
                m.d.sync += [self.pacing.eq(0), offset.eq(0)]

    def launch(self, m, plain):
        """Start the transfer in the registers: at once if ``plain`` (judged with the checks a
        cycle before: not paced), else piece by piece."""
        with m.If(plain):
            m.d.comb += self._planner.go.eq(1)
        with m.Else():
            m.d.sync += self.pacing.eq(1)
