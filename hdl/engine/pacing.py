"""The peripheral request/acknowledge handshake of one channel (ABI §5)."""

from amaranth.hdl import Mux, Signal

from .shaping import any_bit


__all__ = ["ReqAckPacer"]


class ReqAckPacer:
    """Paces a transfer with XFER.REQ (CTRL.REQ in a descriptor) by the channel's ``req``
    and ``ack``: the DREQ/DACK handshake of classic DMA controllers.

    The transfer is planned in pieces of REQ_BURST bytes (the last may be shorter), each an
    ordinary transfer for the planner, from the source and destination moved on by the bytes
    before it (a FIXED side stays put). A piece starts when ``req`` is high; once its last
    write is acknowledged (nothing of the channel in flight), ``ack`` pulses for a cycle;
    ``req`` is ignored in that cycle and the next, so a peripheral with nothing more to offer
    has time to lower it (and in the two cycles after the transfer's launch, so the
    registers of its first piece settle). Only the last piece's final burst ends the transfer (``final``),
    so completion, write-back and interrupts are those of one transfer.

    Its logic goes into the channel's module, like :class:`~.chain.ChainWalker`.

    Parameters
    ----------
    channel : Channel
    m : Module
        The channel's module.
    src, dst, length, long : Value
        The transfer in the registers (``long``: see :func:`~.planner.Transfer`).
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
        ``src``, ``dst``, ``length``, ``long`` and ``final`` of the next piece, for the
        planner.
    go : Signal
        The next piece starts: the planner's ``go`` (beside a plain transfer's).
    finishing, may_go_next : Value
        The last piece is acknowledged now; a piece may start in the next cycle.
    """

    def __init__(self, channel, m, *, src, dst, length, long, src_fixed, dst_fixed, settled,
                 halting):
        regs, planner = channel._regs, channel.planner
        self._halting = halting
        self._regs, self._planner = regs, planner
        self.paced = regs["XFER", "REQ"]
        self.pacing = Signal()
        offset = Signal(len(length))            # bytes of the transfer in pieces so far
        chunk = regs["REQ_BURST", "VALUE"]
        # The next piece, registered in three steps (what is left, whether it is the last,
        # then the piece): the subtraction, compare, choice and the addresses' additions
        # stay off the planner's paths, one carry chain a step. They settle before the
        # planner takes the piece: `offset` moves the cycle after a piece starts, and the
        # next waits at least for that piece's ack; `offset` and `left` are cleared
        # together; and the first piece of a transfer waits two cycles after the launch
        # (`kick`, `deaf`), so the planner takes it (in the cycle before its `go`) from
        # registers written before the launch.
        left = Signal(len(length))
        final = Signal()
        piece = Signal(len(length))
        piece_long = Signal()                   # the piece is `long` (see the planner)
        piece_src = Signal.like(src, reset_less=True)
        piece_dst = Signal.like(dst, reset_less=True)
        # (`final` first, then the piece chosen by it: the compare's carry chain and the
        # choice in separate steps. The launch leaves a cycle more for it: see `kick`.)
        # The addresses' offsets chosen a step before their additions, which then start
        # from flip-flops (the registers and these): they still settle before the piece,
        # which is a step further from `offset`.
        src_offset = Signal.like(offset, reset_less=True)
        dst_offset = Signal.like(offset, reset_less=True)
        next_piece = Mux(final, left, chunk)
        m.d.sync += [final.eq(left <= chunk), piece.eq(next_piece),
                     piece_long.eq(any_bit(m, next_piece[planner.long_bits:], name="long")),
                     src_offset.eq(Mux(src_fixed, 0, offset)),
                     dst_offset.eq(Mux(dst_fixed, 0, offset)),
                     piece_src.eq(src + src_offset), piece_dst.eq(dst + dst_offset)]
        self.transfer = {
            "src": Mux(self.paced, piece_src, src), "dst": Mux(self.paced, piece_dst, dst),
            "length": Mux(self.paced, piece, length), "long": Mux(self.paced, piece_long, long),
            "final": ~self.paced | final,
        }

        flying = Signal()                       # a piece is planned and not yet acknowledged
        last = Signal()                         # ... and it is the transfer's last
        self._deaf = deaf = Signal(range(3))    # cycles left in which `req` is ignored
        self._flying = flying
        # Whether a piece may start but for `req`, the planner and halting (pacing, none
        # flying, `req` heard): one flip-flop, set from what moves those three, so the
        # planner's `go` meets one input for them. (Of the next cycle: no launch (`kick`,
        # which makes `req` ignored), no piece starting, none flying (an ack makes `req`
        # ignored), not halting (that ends pacing), and `deaf` at most 1.)
        self._listening = listening = Signal()
        # The next piece starts, from flip-flops only (it is part of the planner's `go`).
        self.go = Signal()
        m.d.comb += self.go.eq(listening & ~halting & channel.req & planner.idle)
        started = Signal()                      # a piece started in the cycle before
        m.d.sync += started.eq(self.go)
        # `settled` a cycle late, so the ack and the end of the transfer (which clears the
        # wide `offset` and `left`) come from flip-flops. Never early: nothing starts in
        # between but a piece, which it leaves out.
        quiet = Signal()
        m.d.sync += quiet.eq(settled & ~self.go)
        # (A piece starts only while none is flying: `go` and an ack never meet.) The end of
        # the transfer clears `offset` and `left` a cycle later, from a flip-flop (their wide
        # enable and reset): the next launch comes later still (`drained` waits for `pacing`
        # to fall, a cycle after the end), and no piece starts while halting.
        clear = Signal()
        cleared = Signal()
        m.d.comb += clear.eq(halting | (flying & quiet & last))
        m.d.sync += cleared.eq(clear)
        with m.If(deaf != 0):
            m.d.sync += deaf.eq(deaf - 1)
        m.d.sync += channel.ack.eq(0)
        with m.If(self.go):
            m.d.sync += [flying.eq(1), last.eq(final)]
        with m.If(flying & quiet & ~halting):
            m.d.sync += [channel.ack.eq(1), deaf.eq(2), flying.eq(0)]
        with m.If(clear):
            m.d.sync += self.pacing.eq(0)
        with m.If(halting):
            m.d.sync += flying.eq(0)
        # For the planner's hold (see Channel), of the next cycle: the transfer's last ack
        # (pacing ends: a cyclic transfer may start again), and whether a piece may start
        # (while pacing, unless `req` is still or newly ignored; a launch sets `deaf`).
        self.finishing = flying & quiet & last
        self.may_go_next = self.pacing & (deaf != 2) & ~(flying & quiet)
        with m.If(cleared):
            m.d.sync += [offset.eq(0), left.eq(length)]
        with m.Else():
            m.d.sync += left.eq(length - offset)
            with m.If(started):
                m.d.sync += offset.eq(offset + piece)

    def launch(self, m, launching, plain, go_plain):
        """Start the transfer in the registers when ``launching``: at once if ``plain``
        (judged with the checks a cycle before: not paced; then ``go_plain``, the launch
        made flat from flip-flops by the channel), else piece by piece. Returns the
        planner's ``go``.

        A paced launch is registered (``kick``): the run's decision meets one flip-flop, and
        pacing starts a cycle later, with `req` ignored for a cycle more, so the first piece
        (`left`, then `final`, then the piece) settles from registers written before the
        launch. ``kick`` counts as pacing for the channel's completion and the chain."""
        self.kick = kick = Signal()
        m.d.sync += kick.eq(launching & ~plain)
        m.d.sync += self._listening.eq(self.pacing & ~self._flying & ~self._halting &
                                       ~self.go & ~self._deaf[1] & ~kick)
        with m.If(kick & ~self._halting):
            m.d.sync += [self.pacing.eq(1), self._deaf.eq(1)]
        return go_plain | self.go
