"""Burst planner: slices one transfer into bursts that the buses accept."""

from amaranth.hdl import C, Cat, Module, Mux, Shape, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..memport import BEATS_WIDTH
from .shaping import kept


__all__ = ["Transfer", "Burst", "BurstPlanner"]

#: AXI4 FIXED bursts are limited to 16 beats; Wishbone follows the same rule for uniformity.
FIXED_MAX_BEATS = 16
#: No AXI burst may cross a 4 KiB boundary.
PAGE_BITS = 12


#: Bursts of a transfer from or to a stream are as short as FIXED ones: the stream buffers
#: of each channel (engine/streams.py) are sized in such bursts.
STREAM_MAX_BEATS = FIXED_MAX_BEATS


def _stream_fields(streams):
    return dict(src_stream=unsigned(1), dst_stream=unsigned(1), eop=unsigned(1)) \
        if streams else {}


def Transfer(addr_width, len_width, streams=False, paced=False):
    """One transfer of ``length`` bytes from ``src`` to ``dst`` (checked before planning:
    beat aligned unless the realigner is built).

    With streams, a side may be a stream (its address is then only the byte lane where the
    stream stands), and ``eop`` asks for tlast after the last byte sent to a stream.

    A transfer paced by req/ack (``paced``) is planned piece by piece (a chunk per request);
    ``final`` says the piece ends the transfer: only then is its last burst ``end``.

    ``long`` says the length is ``2 ** long_bits`` bytes or more (``BurstPlanner.long_bits``),
    from flip-flops kept beside the length: no OR of its bits before the planner's state."""
    return data.StructLayout({
        "src": unsigned(addr_width), "dst": unsigned(addr_width), "length": unsigned(len_width),
        "long": unsigned(1), "src_fixed": unsigned(1), "dst_fixed": unsigned(1),
        **_stream_fields(streams),
        **({"final": unsigned(1)} if paced else {}),
    })


def Burst(addr_width, *, beat_shift=2, unaligned=False, streams=False):
    """One burst of a transfer: ``beats`` beats written from ``dst``, read from ``src``.

    ``end`` marks the transfer's final burst (scatter-gather writes a descriptor back once
    that burst retires).

    With the realigner, the bytes of a transfer are a stream: the read beats go through a
    byte rotation, and each written beat merges the rotated beat read with the one before
    (the *carry*, kept per channel across its bursts). Write beat j of a transfer pairs with
    read beat j + ``pre`` of it, so a burst reads ``reads`` = ``beats`` + ``pre`` - ``tail``
    beats, where

    - ``pre``: the first burst of a transfer whose source starts at a later byte lane than
      its destination reads one beat ahead into the carry (it may write none at all);
    - ``tail``: the final burst's last beat takes all its bytes from the carry, and reads
      none (a burst may then read none at all);
    - lanes from ``split`` up come from the beat read, the others from the carry;
    - ``first_lane`` and ``last_lane`` bound the byte strobes of the burst's first and last
      beats (the transfer's partial beats; 0 and all lanes elsewhere).

    With streams, ``src_stream`` and ``dst_stream`` say which side is a stream, and ``eop``
    on a transfer's final burst says that the packet ends there: tlast is sent after it, or
    the source's tlast ended the transfer.
    """
    fields = {
        "src": unsigned(addr_width), "dst": unsigned(addr_width),
        "beats": unsigned(BEATS_WIDTH),
        "src_fixed": unsigned(1), "dst_fixed": unsigned(1), "end": unsigned(1),
        **_stream_fields(streams),
    }
    if unaligned:
        lane = unsigned(beat_shift)
        fields.update(reads=unsigned(BEATS_WIDTH), pre=unsigned(1), tail=unsigned(1),
                      split=lane, first_lane=lane, last_lane=lane)
    return data.StructLayout(fields)


class BurstPlanner(wiring.Component):
    """Emits the bursts of one transfer, one every third cycle at most.

    Each burst is as long as possible: at most ``max_burst`` beats (16 when either side is
    FIXED or a stream) on either side, never crossing a 4 KiB page on an incrementing
    memory side, never past the end.

    A transfer from a stream (``streams``) starts at byte lane 0 of the stream and is
    planned as its beats arrive: a burst is offered only for beats already in the channel's
    stream buffer (``avail``), and once the packet's end is there (``packet_end``,
    ``end_lane``) and comes before the end of the transfer, the transfer is cut short at
    it and its final burst carries ``eop``.

    Parameters
    ----------
    addr_width, len_width : int
    beat_shift : int
        log2 of the bytes per beat.
    max_burst : int
    unaligned : bool
        Plan byte-granular transfers for the realigner (see :func:`Burst`); else transfers
        are whole beats.
    streams : bool
        Sides may be streams (needs ``unaligned``).
    paced : bool
        Transfers may come in pieces (see :func:`Transfer`).

    Members
    -------
    transfer : In(Transfer)
        The transfer to plan (the channel's registers). The planner takes it while idle and
        not held: it plans the transfer as it was in the last cycle before ``hold``.
    hold : In(1)
        Keep the transfer taken: high in every cycle where ``go`` may come and in the cycle
        after ``go`` (and in others if need be), so that what is planned is what the channel
        judged a cycle before ``go``.
    go : In(1)
        Start planning the transfer taken; ignored unless idle.
    wait : In(1)
        Hold the bursts back (a scatter-gather descriptor launched before its verdict):
        sized, and offered once it falls, unless ``abort`` drops them first.
    bursts : Out(stream of Burst)
    abort : In(1)
        Drop the bursts not yet emitted (the one on ``bursts`` is still delivered).
    idle : Out(1)
        No transfer in progress and no burst waiting on ``bursts``.
    avail, packet_end, end_lane : In (with ``streams``)
        The channel's stream buffer (:class:`~.streams.StreamIngress`): beats there that no
        burst has claimed yet, whether the last of them ends a packet, and its last byte lane.
        A burst emitted from a stream claims its ``reads`` beats.
    room, reserved : In (with ``streams``)
        The channel's stream output buffer (:class:`~.streams.StreamEgress`): whether it has
        room for a burst (registered there; it counts this channel's reservations late), and
        whether the mover reserved room in it for one of this channel's bursts in the cycle
        before. A burst to a stream is offered only with room for it (see below).
    """

    def __init__(self, *, addr_width, len_width, beat_shift, max_burst, unaligned=False,
                 streams=False, paced=False):
        self._addr_width = addr_width
        self._len_width = len_width
        self._beat_shift = beat_shift
        self._max_burst = max_burst
        self._unaligned = unaligned
        self._streams = streams
        self._paced = paced
        bound_bits = Shape.cast(range(max_burst + 1)).width
        avail_bits = Shape.cast(range(2 * STREAM_MAX_BEATS + 2)).width
        self._unit_bits = max(bound_bits, avail_bits) if streams else bound_bits
        #: A transfer of ``2 ** long_bits`` bytes or more is ``long``: longer than a unit.
        self.long_bits = beat_shift + self._unit_bits
        members = {
            "transfer": In(Transfer(addr_width, len_width, streams, paced)),
            "hold": In(1),
            "go": In(1),
            "wait": In(1),
            "bursts": Out(stream.Signature(Burst(addr_width, beat_shift=beat_shift,
                                                 unaligned=unaligned, streams=streams))),
            "abort": In(1),
            "idle": Out(1),
        }
        if streams:
            members.update(avail=In(range(2 * STREAM_MAX_BEATS + 2)), packet_end=In(1),
                           end_lane=In(beat_shift), room=In(1, init=1), reserved=In(1))
        super().__init__(members)

    def _beats_to_page_end(self, addr):
        page_beats = 1 << (PAGE_BITS - self._beat_shift)
        return page_beats - addr[self._beat_shift:PAGE_BITS]

    def elaborate(self, platform):
        m = Module()
        shift = self._beat_shift
        lanes = 1 << shift
        unaligned = self._unaligned
        streams = self._streams

        # The offered burst is the planner's own state: ``bursts.payload`` holds the
        # addresses of the next burst, and they only move once it is taken.
        # The datapath registers have no reset (they follow the transfer while idle): a
        # flip-flop with both reset and enable costs a LUT in front of it on iCE40 and ECP5.
        out = self.bursts
        state = Signal.like(out.payload, reset_less=True)
        m.d.comb += out.payload.eq(state)
        src, dst = state.src, state.dst
        beats = state.beats
        src_fixed, dst_fixed = state.src_fixed, state.dst_fixed
        # Beats left to write (`remaining`, below): one more than the length's beats when the
        # ends are partial. While idle, it takes the length's whole beats and `extra` the
        # beats its partial ends add (0 to 2, from the low bits: a LUT): no carry chain on
        # the load from the channel's registers. Held, the planner folds `extra` into it
        # (a cycle at least before it is read alone: `active` a cycle after `go`, the cuts
        # later); the sizing reads both, on the narrow side of its compare.
        extra_max = (3 * (lanes - 1)) >> shift if unaligned else 0
        extra = Signal(range(extra_max + 1), name="extra", reset_less=True) if unaligned \
            else C(0, 1)
        active = Signal()
        # `go`, registered: the launch decision (the channel's whole state) meets one
        # flip-flop. The first burst is sized in that cycle from the bounds of the cycle of
        # `go`, as it would be a cycle after `go` anyway; `active` follows.
        started = Signal()
        planning = active | started

        # The byte lanes of the transfer (constant while it runs); all zero without the
        # realigner.
        if unaligned:
            dst_lane = Signal(shift, reset_less=True)
            last_lane = Signal(shift, reset_less=True)
            unwritten = Signal(reset_less=True)   # no beat written yet (`pre` may write none)
            split = Signal(shift, reset_less=True)
            # The next burst is the first, and the source starts at a later lane: it reads
            # one beat ahead. One flip-flop (set on the load, cleared once a burst is taken),
            # so the bounds that take it off start from a flip-flop.
            pre = Signal(reset_less=True)
            # The last beat written is all from the carry: its bytes all come before the
            # split. Worked out from the two lanes, not kept: every cut of a stream transfer
            # (whose source starts at lane 0, so `split` is its destination lane) moves
            # `last_lane` with it, and the load path stays short.
            tail = Signal()
            m.d.comb += tail.eq(last_lane < split)
        else:
            pre = tail = 0

        # Sizing a burst takes two registered steps (three bounds; then their minimum) and
        # moving the addresses a third: a burst every third cycle at most, plenty for
        # bursts of three beats or more, and short paths for a high Fmax. Each bound comes
        # with the beats read for it (``pre`` more; the final burst ``tail`` fewer), so
        # both sides keep within the page and the maximum.
        step = Signal(range(3))
        final = Signal(reset_less=True) if self._paced else 1     # the transfer's last piece
        if streams:
            src_stream, dst_stream = state.src_stream, state.dst_stream
            eop_asked = Signal(reset_less=True)     # the transfer's EOP flag (to a stream)
            packet_ended = Signal(reset_less=True)  # cut short at the source's tlast
            aborted = Signal(reset_less=True)       # cut short by `abort`
            src_unbounded, dst_unbounded = src_fixed | src_stream, dst_fixed | dst_stream
        else:
            src_unbounded, dst_unbounded = src_fixed, dst_fixed
        # Streams and FIXED sides get no page bound, only the short limit.
        short = src_unbounded | dst_unbounded
        short_max = min(self._max_burst, FIXED_MAX_BEATS)
        limit = Mux(short, short_max, self._max_burst)
        # The bounds are kept no wider than the limit: a page bound at or past it is the
        # limit (never the least then, as the first bound is at most the limit), so the
        # minimum compares a few bits. Each is judged against the limit from the address
        # alone (two constant compares), beside the page-end subtraction.
        bound = [Signal(range(self._max_burst + 1), name=f"bound{i}", reset_less=True)
                 for i in range(3)]
        width = len(bound[0])

        # `remaining` is `high << unit_bits` plus `low`, so that a burst taken moves only
        # the few bits of `low`, not a carry chain the length of a transfer (the iCE40's
        # critical path): `low` is wider than the unit, and while `high` is not
        # zero it holds a unit at least (more than any burst), so a burst never borrows
        # from `high`. A *refill* keeps it so: decided from flip-flops in a cycle where no
        # burst can be taken in the next, it moves a unit from `high` to `low` then (and
        # for a transfer just taken, in the cycle after `go`, before its first burst).
        # The sum of the two is exact at all times: the compares read `low`'s bits and
        # whether `high` is zero, a flip-flop beside it (`high_any`), so no OR of its
        # bits comes before them. (A unit is past every narrow compare's width.)
        unit_bits = self._unit_bits     # (the bounds' width, or `avail`'s if wider: streams)
        value_bits = self._len_width - shift + unaligned
        # (`low` holds less than three units; its top bits are four, not two: they have a
        # write enable of their own, and Yosys makes an enable of fewer than four
        # flip-flops on iCE40 a LUT in front of them, here after the carry chain.)
        low = Signal(unit_bits + 4, reset_less=True)
        high = Signal(max(0, value_bits - unit_bits), reset_less=True)
        high_any = Signal(reset_less=True)

        def at_least(bits):
            """Whether `remaining` is at least ``2 ** bits`` (``bits`` up to a unit's)."""
            return high_any | low[bits:].any()

        def page_bound(addr):
            """Whether the page ends within the limit from ``addr``, and the beats to its
            end (as wide as the bounds: right when it does)."""
            page_beats = 1 << (PAGE_BITS - shift)
            offset = addr[shift:PAGE_BITS]
            near = Mux(short, offset > page_beats - short_max,
                       offset > page_beats - self._max_burst)
            return near, self._beats_to_page_end(addr)[:width]
        if unaligned:       # the beats read for each bound
            bound_reads = [Signal.like(b, name=f"bound_reads{i}") for i, b in enumerate(bound)]
        fits = Signal(reset_less=True)      # the rest of the transfer fits in one burst
        # Whether the transfer's final burst asks for EOP, judged beside the bounds: the
        # burst's flags are then one gate after the compares of the bounds.
        eop_if_end = Signal(reset_less=True)
        m.d.comb += self.idle.eq(~active & ~out.valid & ~started)
        # Step 0: step 2 is left as the burst offered is taken (its `valid` falls), with no
        # write to `step`: the handshake, which comes late, stays off its enable.
        step0 = Signal()
        m.d.comb += step0.eq((step == 0) | ((step == 2) & ~out.valid))
        sizing = self.idle | (active & step0)
        if streams:
            # A transfer from a stream is cut short when the source's packet ends before it
            # does: the beats left are those available (the source starts at lane 0, so
            # write beat j pairs with read beat j), and one more when the last bytes spill
            # into a beat of their own. On `abort` it is cut at the beats already claimed:
            # their bytes left in the carry are still written (one beat, from the carry
            # alone), as they cannot be read again. Sizing starts again a cycle later.
            stream_abort = self.abort & active & src_stream
            cut_abort = stream_abort & step0 & ~aborted
            # Whether the packet ends first, judged a cycle ahead (off the path into
            # `remaining`); not in the cycle after a burst is taken, when it would be judged
            # on the counts before it. (`avail <= remaining - tail` as one compare, `tail`
            # folded into a low bit: `2 avail + tail <= 2 remaining`; they differ only at
            # `remaining` 0, when nothing is active to cut.)
            reserved_last = self.reserved       # the mover reserved room for us a cycle ago
            # Beats of `remaining` above those `avail` can hold only as a test for zero (a
            # LUT tree beside the narrow compare): the full-width compare was a 31-bit carry
            # chain, the iCE40 critical path.
            narrow = len(self.avail)
            end_first = Signal()
            m.d.sync += end_first.eq(src_stream & self.packet_end & ~packet_ended &
                                     (at_least(narrow) |
                                      (Cat(tail, self.avail) <= Cat(C(0, 1), low[:narrow]))) &
                                     ~(out.valid & out.ready))
            cut_end = active & step0 & end_first & ~packet_ended & ~stream_abort
            # The lane of the last byte, and whether the last bytes spill into a beat of their
            # own: at the packet's end, after `end_lane`; on abort, a whole beat after the
            # claimed ones (no adder there: `abort` comes late).
            end_sum = Signal(shift + 1)
            m.d.comb += end_sum.eq(dst_lane + self.end_lane)
            abort_spill = dst_lane != 0
            abort_left = ~unwritten & abort_spill
            with m.If(cut_end):
                m.d.sync += [last_lane.eq(end_sum[:shift]), packet_ended.eq(1)]
            with m.If(cut_abort):
                m.d.sync += [last_lane.eq(dst_lane - 1), aborted.eq(1), active.eq(abort_left)]
            # The bounds are sized anyway (their enables wait for no cut), and again in the
            # next cycle, from the cut transfer. (A LUT tree of flip-flops, kept apart: ABC
            # had spread it over the enable of `low`, six LUTs deep on iCE40.)
            cut = kept(m, "cut", cut_end | cut_abort)
        # `remaining + extra <= write_limit` as the whole beats against the limit less
        # the partial ones: the wide bits only as a test for zero (a LUT tree beside the
        # narrow compare, not a carry chain through them); at equality the first bound
        # is the limit either way, so it shares the compare.
        # The limit less `pre` and the partial beats, a table of constants: LUTs of
        # flip-flops, no subtraction in front of the compare.
        lead_limit = Signal(range(-extra_max - 1, self._max_burst + 1))
        limits = [self._max_burst] if short_max == self._max_burst else \
            [self._max_burst, short_max]
        lead = Cat(extra, pre)
        with m.Switch(Cat(lead, short) if len(limits) > 1 else lead):
            for i, lim in enumerate(limits):
                for e in range(extra_max + 1):
                    for p in range(2 if unaligned else 1):
                        with m.Case(e | p << len(extra) | i << len(lead)):
                            m.d.comb += lead_limit.eq(lim - p - e)
        fits_now = Signal()
        m.d.comb += fits_now.eq(~at_least(width) &
                                ~(lead_limit - low[:width])[-1])  # (a borrow: a carry chain)
        # The beats left, as wide as the bounds (right when they fit).
        rest = Signal(width)
        m.d.comb += rest.eq(low[:width] + extra)
        if unaligned:
            # (The small addend first: one adder on the beats.)
            adjust = Signal(range(-1, extra_max + 2))
            m.d.comb += adjust.eq(extra + pre - tail)
        with m.If(sizing):
            write_limit = limit - pre
            src_near, src_page = page_bound(src)
            dst_near, dst_page = page_bound(dst)
            m.d.sync += [
                bound[0].eq(Mux(fits_now, rest, write_limit)),
                fits.eq(fits_now),
                bound[1].eq(Mux(src_near & ~src_unbounded, src_page - pre, limit)),
                bound[2].eq(Mux(dst_near & ~dst_unbounded, dst_page, limit)),
                step.eq(1),
            ]
            if streams:
                m.d.sync += eop_if_end.eq(final & Mux(src_stream, packet_ended, eop_asked))
            if unaligned:
                # The beats read for each bound, beside it: no adder after the minimum. Those
                # of a page bound only matter when it is the least (below the limit).
                m.d.sync += [
                    bound_reads[0].eq(Mux(fits_now, low[:width] + adjust, limit)),
                    bound_reads[1].eq(src_page),
                    bound_reads[2].eq(Mux(dst_near & ~dst_unbounded, dst_page + pre, limit)),
                ]

        # While idle the state follows the transfer, and the bounds follow the state, every
        # cycle; `hold` stops the state. So the first burst is sized at once, and state and
        # bounds agree whatever the transfer does in the cycle of `go`. The hold comes from
        # flip-flops (the cycles where a launch may come), not from the launch decision: no
        # wide load enable hangs off that decision.
        if streams:
            with m.If(cut):
                m.d.sync += step.eq(0)
        m.d.sync += started.eq(self.idle & self.go)
        with m.If(started):
            m.d.sync += active.eq(high_any | low.any())         # (not zero)
        offer = Signal()                        # the burst sized is offered next cycle
        # The burst offered is the piece's last: it takes all the beats left, as nothing
        # moves `remaining` while it is offered (a cut waits for step 0), so `active` after
        # it comes from this flip-flop, not from a wide compare of `remaining` and `beats`.
        piece_ends = Signal(reset_less=True)
        # The beats' complement, as wide as `low`, beside them: taking a burst adds it to
        # `low`, straight from flip-flops into the carry chain (an inverter would be a LUT
        # in front of it on iCE40). (No burst is a unit long: no bit of it is lost.)
        beats_taken = Signal.like(low, reset_less=True)
        a, b, c = bound
        # The three compares as the borrows of subtractions, each a carry chain kept apart
        # (`keep`): the beats are then a LUT of two of them and the bounds' bits, and a LUT
        # after it, not a chain after one compare.
        def at_most(x, y, name):
            return kept(m, name, ~(y.as_unsigned() - x)[-1])
        a_least = at_most(a, b, "a_le_b") & at_most(a, c, "a_le_c")
        b_before_c = at_most(b, c, "b_le_c")
        piece_end = fits & a_least          # the last burst of the piece
        # The burst's fields are written in step 1 whether planning or not (while idle,
        # step is 1 too): no burst is offered then, and they are read only while one is. So
        # their enables are two flip-flops, not the planning state.
        src_move = Signal(width, reset_less=True)
        dst_move = Signal(width, reset_less=True)
        with m.If(step == 1):
            chosen = Mux(a_least, a, Mux(b_before_c, b, c))
            m.d.sync += [beats.eq(chosen), beats_taken.eq(~Cat(chosen, C(0, len(low) - width))),
                         state.end.eq(piece_end & final), piece_ends.eq(piece_end)]
            if streams:
                m.d.sync += state.eop.eq(piece_end & eop_if_end)
            chosen_reads = chosen
            if unaligned:
                ra, rb, rc = bound_reads
                chosen_reads = Mux(a_least, ra, Mux(b_before_c, rb, rc))
                m.d.sync += [
                    state.reads.eq(chosen_reads),
                    state.pre.eq(pre), state.tail.eq(piece_end & tail), state.split.eq(split),
                    state.first_lane.eq(Mux(unwritten, dst_lane, 0)),
                    state.last_lane.eq(Mux(piece_end, last_lane, lanes - 1)),
                ]
            # What each address moves by as the burst is taken (see the addresses below).
            m.d.sync += [src_move.eq(Mux(src_fixed, 0, chosen_reads)),
                         dst_move.eq(Mux(dst_fixed, 0, chosen))]
        with m.If(planning & (step == 1)):
            m.d.sync += step.eq(2)
            m.d.comb += offer.eq(1)
            with m.If(self.wait):                   # sized again next cycle
                m.d.sync += step.eq(1)
                m.d.comb += offer.eq(0)
            if streams:
                # From a stream, only beats already there; and not the packet's last before
                # the transfer is cut at it. Else size again (the beats keep coming). Each
                # bound is judged beside the others, with no choice after: a stream source
                # has no page bound (the second is the limit, never the least) and reads no
                # beat ahead, so the beats read for the first and third bounds are in their
                # order, and the least of them fits if either does.
                # (`r < avail` short of the end, else `r <= avail`: one compare, the strict
                # one folded into a low bit, so one carry chain.)
                short_of_end = self.packet_end & ~packet_ended
                fed = [Cat(~short_of_end, self.avail) >= Cat(C(1, 1), r)
                       for r in (bound_reads[0], bound_reads[2])]
                starved = src_stream & (~(fed[0] | fed[1]) | (self.abort & ~aborted))
                with m.If(starved):
                    m.d.sync += step.eq(0)
                    m.d.comb += offer.eq(0)
                # To a stream, a burst is offered only while the output buffer has room for
                # it: waiting at the mover for the stream, it would keep the other channels'
                # bursts from the mover, one of which may be the one that lets the stream
                # drain (a device looping one channel's output into another's input). Judged
                # here, so `valid` goes to the arbiter straight from its flip-flop (the
                # arbiter's grants of the other channels, and the wide enables they drive,
                # wait for no gate). `room` here offers the burst in the next cycle; there it
                # would know of the reservations one cycle later, and only this channel's
                # reservations take room (the rest gives it back), so with no reservation in
                # the cycle before it says what `room` would say then. (A reservation now is
                # one room did not count then either; the mover checks room itself.) Else
                # judge again next cycle: step 1 only reads registers it does not write.
                # Not offered yet, so `abort` drops it.
                full = dst_stream & ~(self.room & ~reserved_last)
                with m.If(full):
                    m.d.sync += step.eq(1)
                    m.d.comb += offer.eq(0)
        if unaligned:
            # One adder for the fold (idle, held) and the burst taken: its operand picked by
            # `valid` (a flip-flop), so the handshake only enables, never feeds the carry.
            addend = Signal(len(low))
            m.d.comb += addend.eq(Mux(out.valid, beats_taken, extra))
            next_low = (low + addend + out.valid)[:len(low)]
            with m.If(~active & ~out.valid & self.hold):
                m.d.sync += extra.eq(0)
        else:
            next_low = (low + beats_taken + 1)[:len(low)]
        # `low` is written in one place: its next value is picked by flip-flops (a burst
        # offered, active, held), and the handshake only enables it. (The load is the
        # length's whole beats: `extra` above.) `high` only takes the length and gives
        # units; a cut only clears `high_any` (`high` is read only while that is set), so the
        # cut stays off the enable of `high`'s many flip-flops.
        whole_beats = self.transfer.length[shift:]
        low_next = Signal.like(low)
        low_we = Signal()
        high_we = Signal()
        high_any_we = Signal()              # (besides `high_we`)
        high_next = Signal.like(high)
        high_any_next = Signal()        # (each from its own source: no OR after the choice)
        # The refill, decided a cycle ahead: held or planning (no load next), `low` short
        # of a unit and `high` not zero, and no burst offered next (none is now, and none
        # is sized now to be offered), and no cut now (it zeroes `high`); not twice in a
        # row (the second decision would not see the first). So it is done from a flip-flop
        # and never meets a burst taken nor a cut. A load wins over it (it keeps the sum
        # anyway). Held (idle, or in the cycle after `go`), it meets the fold of an `extra`
        # already zero. `low` is then less than a unit, or a fold made it up to two more (the
        # decision saw it before): it gains a unit as its top bits go from 0 to 1 or from 1
        # to 2 (those above stay 0), no adder (Yosys would share the burst's).
        refill = Signal()
        m.d.sync += refill.eq((self.hold | planning) & ~refill & ~low[unit_bits:].any() &
                              high_any & ~out.valid & ~(planning & (step == 1)) &
                              (~cut if streams else 1))
        with m.If(out.valid):
            m.d.comb += [low_next.eq(next_low), low_we.eq(out.ready)]
        with m.Elif(~active & ~self.hold):
            m.d.comb += [low_next.eq(whole_beats[:unit_bits]), low_we.eq(1),
                         high_next.eq(whole_beats[unit_bits:]), high_we.eq(1),
                         high_any_next.eq(self.transfer.long)]
        with m.Elif(refill):
            m.d.comb += [low_next.eq(Cat(low[:unit_bits], ~low[unit_bits], low[unit_bits])),
                         low_we.eq(1), high_next.eq(high - 1), high_we.eq(1),
                         high_any_next.eq(high[1:].any())]
        with m.Elif(active):
            if streams:
                m.d.comb += [
                    low_next.eq(Mux(cut_abort, abort_left, self.avail + end_sum[shift])),
                    low_we.eq(cut), high_any_we.eq(cut),
                ]
        with m.Else():                                          # held: the fold
            if unaligned:
                m.d.comb += [low_next.eq(next_low), low_we.eq(1)]
        with m.If(low_we):
            m.d.sync += low.eq(low_next)
        with m.If(high_we):
            m.d.sync += high.eq(high_next)
        with m.If(high_we | high_any_we):
            m.d.sync += high_any.eq(high_any_next)
        with m.If(out.valid & out.ready):
            m.d.sync += active.eq(~piece_ends)
            if unaligned:
                m.d.sync += pre.eq(0)
                with m.If(beats != 0):
                    m.d.sync += unwritten.eq(0)
        # Abort drops what is not yet offered; a burst already offered stays offered until
        # taken (valid never falls before ready), and is the last (from a stream: see above).
        dropping = self.abort & planning
        if streams:
            dropping &= ~src_stream
        with m.If(dropping):
            m.d.sync += [active.eq(0), step.eq(0)]
        # `valid` in one place: an offered burst stays until taken (also when dropping), so
        # the handshake is the last gate in front of it; else the burst sized now is offered.
        m.d.sync += out.valid.eq(Mux(out.valid, ~out.ready, offer & ~dropping))
        # The addresses, like `remaining`: moved when a burst is taken (an offered burst is
        # the only write then), else loaded with the transfer. The choice is `valid` (a
        # flip-flop); the handshake and the load condition only enable.
        # (Kept apart, `keep`: a LUT of flip-flops, so the enables of the 60 address
        # flip-flops are one LUT after it and the handshake, not a chain ABC shares with
        # the other users of `hold`.)
        taking = kept(m, "taking", ~active & ~out.valid & ~self.hold)
        t_src, t_dst = self.transfer.src, self.transfer.dst
        if unaligned:
            t_src, t_dst = t_src[shift:] << shift, t_dst[shift:] << shift
        # A FIXED side moves by 0 (`src_move`, `dst_move`, chosen in step 1 beside the
        # beats): the carry chains start from flip-flops, and both addresses share one
        # enable, with no FIXED gate after the handshake (on iCE40 it became a LUT in front
        # of every address flip-flop's input, two levels after `taking`).
        # A burst never crosses a page, so only the page offset is summed as it is taken;
        # the page number moves a cycle later, when the burst ends at a page's end (a
        # carry kept in a flip-flop): nothing reads it before the next burst is offered,
        # two cycles later at least, and the sizing reads only the offset. No carry chain
        # the width of an address. The next page number is kept in a register too, summed
        # a cycle after each move: the next carry comes three cycles after one at least (a
        # burst is sized in two steps and offered in the third), and the choice in front of
        # the page number is then between flip-flops, steered by `taking`.
        # With streams or req/ack, the transfer's addresses are multiplexers of registers (a
        # stream side's lane, a paced piece's addresses): kept apart (`keep`), ABC builds
        # them beside `taking`, not after it, which then meets one LUT in front of the
        # address flip-flops instead of three.
        if streams or self._paced:
            t_src, t_dst = kept(m, "t_src", t_src), kept(m, "t_dst", t_dst)
        for addr, moved, t_addr in ((src, src_move, t_src), (dst, dst_move, t_dst)):
            offset_sum = addr[:PAGE_BITS] + (moved << shift)
            next_page = Signal(len(addr) - PAGE_BITS, reset_less=True)
            m.d.sync += next_page.eq(addr[PAGE_BITS:] + 1)
            page_carry = Signal()
            m.d.sync += page_carry.eq(out.valid & out.ready & offset_sum[PAGE_BITS])
            with m.If((out.valid & out.ready) | taking):
                m.d.sync += addr[:PAGE_BITS].eq(Mux(out.valid, offset_sum[:PAGE_BITS],
                                                    t_addr[:PAGE_BITS]))
            with m.If(taking | page_carry):
                m.d.sync += addr[PAGE_BITS:].eq(Mux(taking, t_addr[PAGE_BITS:], next_page))
        # Taking the transfer, last: no other write to these registers comes while idle
        # (they all need `active` or a burst offered), so the choice of the transfer is the
        # last mux in front of them, not the first of a priority chain after the adder.
        # (Not idle in the cycle of `started`, but held then.)
        with m.If(taking):
            t = self.transfer
            m.d.sync += [src_fixed.eq(t.src_fixed), dst_fixed.eq(t.dst_fixed)]
            if self._paced:
                m.d.sync += final.eq(t.final)
            if streams:
                m.d.sync += [src_stream.eq(t.src_stream), dst_stream.eq(t.dst_stream),
                             eop_asked.eq(t.eop), packet_ended.eq(0), aborted.eq(0)]
            if unaligned:
                t_split = (t.dst[:shift] - t.src[:shift])[:shift]
                t_last_lane = (t.dst[:shift] + t.length[:shift] - 1)[:shift]
                t_extra = (t.length[:shift] + t.dst[:shift] + (lanes - 1)) >> shift
                t_ahead = t.src[:shift] > t.dst[:shift]
                m.d.sync += [
                    extra.eq(t_extra),
                    dst_lane.eq(t.dst[:shift]), last_lane.eq(t_last_lane),
                    split.eq(t_split), pre.eq(t_ahead), unwritten.eq(1),
                ]

        return m
