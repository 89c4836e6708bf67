"""A channel's AXI-Stream ports (ABI §4): the buffers between them and the data mover.

The mover serves every channel in turn, so it must never wait on a device: a stream that
stalls would stall the memory traffic of all channels, and a device whose input depends on
another channel's output could deadlock the engine. Both directions are therefore decoupled
by a buffer of two bursts per channel, and the mover only moves what the buffer guarantees:

- **Stream to memory** (:class:`StreamIngress`): beats are taken from ``s_axis`` into the
  buffer; the channel's planner emits a burst only for beats already there (it *claims*
  them), so the mover reads them at one beat per cycle.
- **Memory to stream** (:class:`StreamEgress`): the mover writes a burst into the buffer
  only once room for all its beats is reserved; ``m_axis`` drains it at the device's pace.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..bus.signatures import AXIStreamSignature
from ..memport import BEATS_WIDTH
from .beatfifo import BufferedFifo
from .realigner import merge_lanes


__all__ = ["StreamIngress", "StreamEgress"]


class StreamIngress(wiring.Component):
    """``s_axis`` into a buffer of ``depth`` beats, for the bursts of a stream source.

    Beats are taken only while ``enable`` (the channel runs a transfer from the stream: a
    stream writer must not swallow data while idle). Beats taken and not yet used stay for
    the next transfer. At most one packet end is held: after a beat with tlast no more is
    taken until a burst claims it, so the planner always finds the packet's end at the last
    beat available.

    The stream is taken as contiguous bytes: ``tkeep`` is read on the tlast beat only, where
    it must mark lanes 0 up to some lane (``end_lane``); earlier beats are taken whole.

    Members
    -------
    s_axis : In(AXIStreamSignature)
    enable : In(1)
    avail : Out(range(depth + 1))
        Beats in the buffer not yet claimed by a burst.
    packet_end, end_lane : Out
        The last of them carries tlast, and its last valid byte lane.
    claim_valid, claim_beats : In
        A burst emitted by the planner takes this many of the ``avail`` beats.
    beats : Out(stream of data)
        To the data mover, which pops the claimed beats in order.
    """

    def __init__(self, *, data_width, depth):
        self._depth = depth
        lanes = data_width // 8
        super().__init__({
            "s_axis": In(AXIStreamSignature(data_width=data_width)),
            "enable": In(1),
            "avail": Out(range(depth + 1)),
            "packet_end": Out(1),
            "end_lane": Out(range(lanes)),
            "claim_valid": In(1),
            "claim_beats": In(BEATS_WIDTH),
            "beats": Out(stream.Signature(data_width)),
        })

    def elaborate(self, platform):
        m = Module()
        s = self.s_axis
        m.submodules.buffer = buffer = BufferedFifo(width=len(s.tdata), depth=self._depth,
                                                    late_read=True)
        take = Signal()
        m.d.comb += [
            s.tready.eq(self.enable & buffer.w_rdy & ~self.packet_end),
            take.eq(s.tvalid & s.tready),
            buffer.w_en.eq(take), buffer.w_data.eq(s.tdata),
            self.beats.valid.eq(buffer.r_rdy), self.beats.payload.eq(buffer.r_data),
            buffer.r_en.eq(self.beats.ready),
        ]
        claimed = Mux(self.claim_valid, self.claim_beats, 0)
        m.d.sync += self.avail.eq(self.avail + take - claimed)
        with m.If(take & s.tlast):
            # (A tlast beat must carry a byte: with tkeep 0 its lane 0 is taken.)
            m.d.sync += [self.packet_end.eq(1), self.end_lane.eq(0)]
            for lane, keep in enumerate(s.tkeep):
                with m.If(keep):
                    m.d.sync += self.end_lane.eq(lane)
        # No beat is taken while a packet end is held: the claim that reaches it is the
        # claim of every beat available.
        # (Whether a claim would take them all is worked out apart (`keep`), from flip-flops:
        # the claim itself comes late, through the channels' arbiter.)
        claims_all = Signal(attrs={"keep": 1})
        m.d.comb += claims_all.eq(self.packet_end & (self.claim_beats == self.avail))
        with m.If(claims_all & self.claim_valid):
            m.d.sync += self.packet_end.eq(0)
        return m


class StreamEgress(wiring.Component):
    """A buffer of ``depth`` beats out to ``m_axis``, filled by bursts with room reserved.

    A packet's bytes may span several transfers, each starting at the byte lane where the
    last one ended: a beat that does not reach the top lane and does not end the packet is
    held, and the next beat's lanes are merged into it. So every beat sent is whole but the
    packet's last (tkeep is partial only with tlast).

    Members
    -------
    m_axis : Out(AXIStreamSignature)
    push_valid, push_data, push_strb, push_last : In
        A beat from the mover (always taken: its room was reserved).
    reserve_valid, reserve_beats : In
        The mover takes a burst of this many beats for the buffer (before reading it).
    cancel_valid, cancel_beats : In
        It drops such a burst after all (a read error): the room is free again.
    room : Out(1)
        Room can be reserved for a burst of ``burst_limit`` beats (registered).
    flush : In(1)
        End the packet under way (the channel halted on an error or ABORT): send the held
        partial beat with tlast, or if none is held but the packet has begun, a beat with
        tlast and no byte (tkeep 0, a null beat in AXI-Stream terms).
    """

    def __init__(self, *, data_width, depth, burst_limit):
        self._depth = depth
        self._burst_limit = burst_limit
        lanes = data_width // 8
        super().__init__({
            "m_axis": Out(AXIStreamSignature(data_width=data_width)),
            "push_valid": In(1), "push_data": In(data_width), "push_strb": In(lanes),
            "push_last": In(1),
            "reserve_valid": In(1), "reserve_beats": In(BEATS_WIDTH),
            "cancel_valid": In(1), "cancel_beats": In(BEATS_WIDTH),
            "room": Out(1, init=1),
            "flush": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        out = self.m_axis
        lanes = len(out.tkeep)
        width = len(out.tdata)
        m.submodules.buffer = buffer = BufferedFifo(width=width + lanes + 1,
                                                        depth=self._depth, late_write=True)
        m.d.comb += [
            out.tvalid.eq(buffer.r_rdy),
            Cat(out.tdata, out.tkeep, out.tlast).eq(buffer.r_data),
            buffer.r_en.eq(out.tready),
        ]

        held_data = Signal(width, reset_less=True)
        # A beat is held only if it does not reach the top lane: the held lanes are the
        # others, and whether a beat pushed is whole depends on it alone (two flip-flops of
        # the mover's, one LUT from the buffer's write enable).
        held_strb = Signal(lanes - 1)
        holding = Signal()          # held_strb != 0, in a flip-flop of its own
        flushing = Signal()
        packet_open = Signal()      # beats of a packet went in, its tlast did not
        merged_strb = Cat(held_strb | self.push_strb[:-1], self.push_strb[-1])
        merged_data = merge_lanes(self.push_strb, self.push_data, held_data, lanes)
        whole = self.push_strb[-1] | self.push_last
        # Each beat pushed had a place reserved: it takes it if sent, frees it if held. The
        # flushed beat had no place reserved: it takes a free one, with more than a burst's
        # room left, so a reservation in the same cycle still fits.
        spare = Signal(init=self._depth > self._burst_limit)   # credits > burst_limit
        # Whether a beat goes into the buffer is worked out apart (`keep`) from the merging
        # of lanes it shares inputs with: ABC would otherwise chain it through that logic,
        # and the buffer's flags wait for it.
        push_whole = Signal(attrs={"keep": 1})
        sent_flush = Signal(attrs={"keep": 1})
        freed = Signal()
        # The write enable is one LUT after two made of flip-flops alone (`keep`): whether a
        # beat pushed would be whole, and whether a flush would send one.
        is_whole = Signal(attrs={"keep": 1})
        may_flush = Signal(attrs={"keep": 1})
        m.d.comb += [
            is_whole.eq(whole),
            may_flush.eq(flushing & spare & (holding | packet_open)),
            push_whole.eq(self.push_valid & whole),
            sent_flush.eq(~self.push_valid & may_flush),
            freed.eq(self.push_valid & ~whole),
            buffer.w_en.eq(Mux(self.push_valid, is_whole, may_flush)),
            buffer.w_data.eq(Mux(self.push_valid, Cat(merged_data, merged_strb, self.push_last),
                                 Cat(held_data, held_strb, 0, 1))),
        ]
        with m.If(push_whole):
            m.d.sync += [held_strb.eq(0), holding.eq(0), packet_open.eq(~self.push_last)]
        with m.If(freed):
            m.d.sync += [held_data.eq(merged_data), held_strb.eq(merged_strb[:-1]),
                         holding.eq(merged_strb[:-1] != 0)]
        with m.If(~self.push_valid & flushing & spare):
            m.d.sync += flushing.eq(0)
        with m.If(sent_flush):
            m.d.sync += [held_strb.eq(0), holding.eq(0), packet_open.eq(0)]
        # The request is registered first: it comes from the channel's control logic.
        flush_asked = Signal()
        m.d.sync += flush_asked.eq(self.flush)
        with m.If(flush_asked):
            m.d.sync += flushing.eq(1)

        # The credits: places neither filled nor reserved. Every change counts late, from
        # flip-flops, so nothing of the handshakes of this cycle reaches the count, nor the
        # flags after it. Reservations count a cycle late: the mover takes a burst every
        # other cycle at most, so `room` is current at the next. Places given back (a beat
        # sent on, a beat held, a burst cancelled) count two cycles late, which only holds
        # `room` back; so does a flush's place, and until it counts `room` and `spare` ask
        # for one place more (`room` then never falls while a burst waits for it; flushes
        # are further apart than that).
        # The change is summed into registers first, and the count is kept three times over,
        # less `limit`, `limit + 1` and `limit + 2`: each flag is then a sign, at the end of a
        # single carry chain from flip-flops, instead of a compare after a three-operand adder.
        limit = self._burst_limit
        beat_bits = limit.bit_length()      # a burst has at most `limit` beats
        count = signed((self._depth + limit + 2).bit_length() + 1)
        cancelled = Signal(beat_bits)
        popped = Signal()
        was_freed = Signal()
        flushed = Signal()
        m.d.sync += [cancelled.eq(Mux(self.cancel_valid, self.cancel_beats[:beat_bits], 0)),
                     popped.eq(buffer.r_en & buffer.r_rdy), was_freed.eq(freed),
                     flushed.eq(sent_flush)]
        # Both sums are registered, with and without the burst being reserved, and the
        # reservation picks one after: no adder follows the mover's late decision (Yosys
        # would otherwise share the two behind the multiplexer).
        returned = Signal(count)
        given = Signal(count)
        given_less = Signal(count)
        reserved = Signal()
        change = Signal(count)
        m.d.comb += [returned.eq(cancelled + popped + was_freed - flushed),
                     change.eq(Mux(reserved, given_less, given))]
        m.d.sync += [given.eq(returned), reserved.eq(self.reserve_valid),
                     given_less.eq(returned - self.reserve_beats[:beat_bits])]
        over = [Signal(count, init=self._depth - limit - n, name=f"credits_over{n}")
                for n in range(3)]
        over_next = [Signal(count, name=f"credits_over{n}_next") for n in range(3)]
        fits = [~value[-1] for value in over_next]      # credits > limit + n - 1
        for reg, value in zip(over, over_next):
            m.d.comb += value.eq(reg + change)
            m.d.sync += reg.eq(value)
        flush_uncounted = sent_flush | flushed
        m.d.sync += [self.room.eq(Mux(flush_uncounted, fits[1], fits[0])),
                     spare.eq(Mux(flush_uncounted, fits[2], fits[1]))]
        return m
