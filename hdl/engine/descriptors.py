"""The scatter-gather descriptor unit: fetches descriptors and writes completions back."""

from amaranth.hdl import Cat, Const, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..descriptor import WRITEBACK_BYTES, WRITEBACK_OFFSET, Descriptor, Writeback
from ..memport import ReadPortSignature, WritePortSignature


__all__ = ["FETCH_BYTES", "FetchPlan", "FetchBeat", "FetchEvent", "WritebackRequest",
           "WritebackEvent", "DescriptorUnit"]

_WRITEBACK_BITS = WRITEBACK_BYTES * 8
#: A fetch reads up to STATUS: BYTES (the last field) is the hardware's own output.
FETCH_BYTES = data.Layout.cast(Descriptor)["bytes"].offset // 8


class FetchPlan:
    """The read bursts of a fetch, for a bus ``data_width`` bits wide.

    The transfer fields (SRC to CTRL) come first, then NEXT, then STATUS, each part in whole
    beats (a beat shared with an earlier part comes with it): a channel loads its registers
    as CTRL arrives and judges the descriptor as STATUS does, and the planner has the
    transfer three beats before the verdict on a 32-bit bus (see chain.py), instead of one.
    Contiguous parts go in one burst.

    Attributes
    ----------
    beats : int
        Beats in a fetch.
    order : list of int
        The descriptor beat (offset / beat bytes) of each beat of the fetch, in arrival order.
    bursts : list of (int, int)
        The bursts, in order: the offset of the first byte and the beats.
    ctrl_arrival : int
        Where in the fetch the beat with CTRL comes.
    """

    def __init__(self, data_width):
        layout = data.Layout.cast(Descriptor)
        beat_bits = data_width

        def beats_of(first, last):             # the beats over bits [first, last)
            return range(first // beat_bits, (last - 1) // beat_bits + 1)

        ctrl_end = layout["ctrl"].offset + layout["ctrl"].width
        order = []
        for part in (beats_of(layout["src"].offset, ctrl_end),
                     beats_of(layout["next"].offset, layout["src"].offset),
                     beats_of(layout["status"].offset, FETCH_BYTES * 8)):
            order += [b for b in part if b not in order]
        self.order = order
        self.beats = len(order)
        self.ctrl_arrival = order.index((ctrl_end - 1) // beat_bits)
        self.bursts = []
        for b in order:
            if self.bursts and self.bursts[-1][0] + self.bursts[-1][1] == b:
                self.bursts[-1][1] += 1
            else:
                self.bursts.append([b, 1])
        self.bursts = [(first * beat_bits // 8, n) for first, n in self.bursts]
        assert order[-1] == layout["status"].offset // beat_bits


def _channel_shape(channels):
    return unsigned(max(1, (channels - 1).bit_length()))


def FetchBeat(data_width):
    """One beat of a fetch: ``index`` counts the beats in the order they come (see
    :class:`FetchPlan` for the descriptor's beat each is); ``err`` is the bus's answer to it;
    ``last`` ends the fetch, ``penultimate`` comes before the last; ``nonzero`` has a bit per
    32-bit word of ``data``, set when the word is not 0. (The last two spare the channels a
    compare and a wide OR behind the beat's register.) ``ctrl_in``, ``ends`` and
    ``ends_owned`` are for the channel the beat is routed to (its bit of
    :func:`FetchEvent`'s): the beat with CTRL came without a bus error; the beat is the last
    (STATUS); the last came without a bus error and with STATUS.DONE clear. Each is a
    flip-flop, so that the channel's decisions on them (its registers' load enable, a
    descriptor's verdict) start from one flip-flop, not from the event's compare."""
    beats = FetchPlan(data_width).beats
    return data.StructLayout({"index": range(beats), "data": unsigned(data_width),
                              "err": unsigned(1), "last": unsigned(1),
                              "penultimate": unsigned(1),
                              "nonzero": unsigned(data_width // 32),
                              "ctrl_in": unsigned(1), "ends": unsigned(1),
                              "ends_owned": unsigned(1)})


def FetchEvent(data_width, channels):
    """A beat of a fetch, broadcast to the channels; ``ours`` (``valid`` for the beat's
    channel), ``ctrl_in``, ``ends`` and ``ends_owned`` have a bit per channel, the last
    three for the beat's :func:`FetchBeat` fields of the same names (which the unit leaves
    0)."""
    return data.StructLayout({"valid": unsigned(1), "channel": _channel_shape(channels),
                              "ours": unsigned(channels),
                              "beat": FetchBeat(data_width), "ctrl_in": unsigned(channels),
                              "ends": unsigned(channels), "ends_owned": unsigned(channels)})


def WritebackRequest(addr_width, channels):
    """Write ``words`` (STATUS and BYTES) to the descriptor at ``addr``, in one write."""
    return data.StructLayout({"channel": _channel_shape(channels), "addr": unsigned(addr_width),
                              "words": Writeback})


def WritebackEvent(channels):
    """A write-back was acknowledged by the bus (``err``: with an error response).
    ``done`` and ``failed`` have a bit per channel: its write-back was acknowledged; with an
    error (flip-flops for the channel's decisions, not the event's compare)."""
    return data.StructLayout({"valid": unsigned(1), "channel": _channel_shape(channels),
                              "err": unsigned(1), "done": unsigned(channels),
                              "failed": unsigned(channels)})


class DescriptorUnit(wiring.Component):
    """Serves the channels' descriptor traffic, one fetch and one write-back at a time.

    A fetch reads bytes 0x00-0x23, NEXT to STATUS, in whole beats (on wider buses up to
    0x27, or 0x2F on a 128-bit one, whose extra bytes are ignored), in the bursts of
    :class:`FetchPlan`: the transfer fields first, STATUS last. A write-back
    is one 8-byte write at 0x20: two beats on a 32-bit bus, one beat with byte enables on
    wider ones. The beats of a fetch, and the end of a write-back, are events broadcast to
    the channels, which only ask when they can take the answer, so the events need no
    handshake. A channel keeps the fields of a descriptor it needs as their beats pass:
    nothing here holds a whole descriptor.

    A channel asks for a fetch with a pulse, and the unit grants the requests, round-robin,
    when no fetch is under way, into flip-flops: the read command is shown from them in the
    next cycle (as soon as a request kept in a channel's register would have been), so the
    read port's arbitration does not wait on the channels. Its beats go out a cycle after
    the bus, from flip-flops.

    Parameters
    ----------
    addr_width, data_width, channels : int

    Members
    -------
    fetch_now : In(channels)
        A channel asks for a fetch: a pulse, always taken (kept until granted).
    fetch_addr : In(array of channels addresses)
        Each channel's descriptor address (64-byte aligned), held from its request until
        the last beat of its fetch: the command shows it from there.
    fetched : Out(FetchEvent)
        The beats of the fetch under way, a cycle after the bus.
    writeback : In(stream of WritebackRequest)
    written : Out(WritebackEvent)
    read, write : neutral memory ports, to share the bus with the data mover
    """

    def __init__(self, *, addr_width, data_width, channels):
        self._addr_width = addr_width
        self._data_width = data_width
        self._plan = FetchPlan(data_width)
        super().__init__({
            "fetch_now": In(channels),
            "fetch_addr": In(data.ArrayLayout(unsigned(addr_width), channels)),
            "fetched": Out(FetchEvent(data_width, channels)),
            "writeback": In(stream.Signature(WritebackRequest(addr_width, channels))),
            "written": Out(WritebackEvent(channels)),
            "read": Out(ReadPortSignature(addr_width=addr_width, data_width=data_width)),
            "write": Out(WritePortSignature(addr_width=addr_width, data_width=data_width)),
        })

    def elaborate(self, platform):
        m = Module()
        self._fetcher(m)
        self._writer(m)
        return m

    def _fetcher(self, m):
        cmd, r = self.read.cmd, self.read.r
        channels = len(self.fetch_now)
        plan = self._plan
        # From a grant to the last beat; the commands are shown from the grant until taken,
        # one burst of the plan after the other (`burst`).
        busy = Signal()
        shown = Signal()
        burst = Signal(range(len(plan.bursts)))
        channel = Signal.like(self.fetched.channel, reset_less=True)
        index = Signal(range(plan.beats))
        # Requests not yet granted, and those asking now; the first after the one granted
        # last wins. (Granted only when no fetch is under way: one asked for during one
        # goes out a cycle after it ends, which only a second channel's request meets.)
        pending = Signal(channels)
        asking = pending | self.fetch_now
        last = Signal.like(channel)
        winner = Signal.like(channel)
        with m.Switch(last):
            for l in range(channels):
                with m.Case(l):
                    for c in reversed([(l + 1 + k) % channels for k in range(channels)]):
                        with m.If(asking[c]):
                            m.d.comb += winner.eq(c)
        grant = ~busy & asking.any()
        m.d.sync += pending.eq(asking & ~Cat(grant & (winner == n) for n in range(channels)))
        # The granted channel's address, from its register (stable until its fetch ends);
        # a descriptor is 64-byte aligned, so a burst's offset is ORed in, no adder.
        offset = Signal(range(FETCH_BYTES))
        beats = Signal(range(plan.beats + 1))
        with m.Switch(burst):
            for k, (first, n) in enumerate(plan.bursts):
                with m.Case(k):
                    m.d.comb += [offset.eq(first), beats.eq(n)]
        m.d.comb += [
            cmd.valid.eq(shown),
            cmd.payload.addr.eq(self.fetch_addr[channel] | offset),
            cmd.payload.beats.eq(beats),
            cmd.payload.more.eq(burst != len(plan.bursts) - 1),
            r.ready.eq(busy),
        ]
        with m.If(cmd.valid & cmd.ready):
            m.d.sync += burst.eq(burst + 1)
            with m.If(burst == len(plan.bursts) - 1):
                m.d.sync += [shown.eq(0), burst.eq(0)]
        with m.If(grant):
            m.d.sync += [busy.eq(1), shown.eq(1), channel.eq(winner), last.eq(winner)]
        # The beat count goes back to 0 with the fetch's last beat, ready for the next fetch
        # (not on the grant: its enable stays off the requests' path).
        ends = index == plan.beats - 1
        with m.If(r.valid & r.ready):
            m.d.sync += index.eq(index + 1)
            with m.If(ends):
                m.d.sync += [busy.eq(0), index.eq(0)]
        # The beats go out registered: the channels keep fields and judge the descriptor
        # from flip-flops, not through the read port's routing of R.
        beat = self.fetched.beat
        data_q = Signal.like(r.payload.data, reset_less=True)
        nonzero = Signal.like(beat.nonzero, reset_less=True)
        words = r.payload.data.shape().width // 32
        m.d.sync += [
            self.fetched.valid.eq(r.valid & r.ready), self.fetched.channel.eq(channel),
            beat.index.eq(index), data_q.eq(r.payload.data), beat.err.eq(r.payload.err),
            beat.last.eq(ends),
            beat.penultimate.eq(index == plan.beats - 2),
            nonzero.eq(Cat(r.payload.data.word_select(j, 32).any() for j in range(words))),
        ]
        m.d.comb += [beat.data.eq(data_q), beat.nonzero.eq(nonzero)]
        # The same per channel, for its decisions (see FetchBeat).
        layout = data.Layout.cast(Descriptor)
        done_bit = (layout["status"].offset +
                    data.Layout.cast(layout["status"].shape)["done"].offset) % self._data_width
        beat_in = r.valid & r.ready
        for n in range(len(self.fetched.ctrl_in)):
            ours = beat_in & (channel == n)
            m.d.sync += [
                self.fetched.ours[n].eq(ours),
                self.fetched.ctrl_in[n].eq(ours & (index == plan.ctrl_arrival) &
                                           ~r.payload.err),
                self.fetched.ends[n].eq(ours & ends),
                self.fetched.ends_owned[n].eq(ours & ends & ~r.payload.err &
                                              ~r.payload.data[done_bit]),
            ]

    def _writer(self, m):
        # The request stays on `writeback` (taken only with its response): its address and
        # words are read from there, not copied.
        dw = self._data_width
        cmd, w, b = self.write.cmd, self.write.w, self.write.b
        request = self.writeback
        beats = max(1, _WRITEBACK_BITS // dw)
        announced = Signal()
        sent = Signal(range(beats + 1))      # beats of the write sent
        words = request.payload.words.as_value()
        # The command is shown from a flip-flop, a cycle after the request comes: the write
        # port's arbitration, and the mover's write path behind it, do not wait on the
        # channels' request arbiter. The write's beats and response follow the command.
        shown = Signal()
        m.d.comb += [
            cmd.valid.eq(shown),
            # A descriptor is 64-byte aligned: the offset is ORed in, no adder.
            cmd.payload.addr.eq(request.payload.addr | WRITEBACK_OFFSET),
            cmd.payload.beats.eq(beats),
            w.valid.eq((shown | announced) & (sent != beats)),
            w.payload.last.eq(sent == beats - 1),
            b.ready.eq(announced & (sent == beats)),
            request.ready.eq(b.valid & b.ready),
        ]
        with m.If(request.valid & ~announced):
            m.d.sync += shown.eq(1)
        if dw <= _WRITEBACK_BITS:
            # STATUS, then BYTES.
            m.d.comb += [w.payload.data.eq(words.word_select(sent[:max(1, beats - 1).bit_length()], dw)),
                         w.payload.strb.eq(-1)]
        else:
            # 0x20 is the first half of a 16-byte-aligned beat: enable its low 8 bytes only.
            m.d.comb += [w.payload.data.eq(words),
                         w.payload.strb.eq(Const((1 << (_WRITEBACK_BITS // 8)) - 1,
                                                 dw // 8))]
        with m.If(cmd.valid & cmd.ready):
            m.d.sync += [announced.eq(1), shown.eq(0)]
        with m.If(w.valid & w.ready):
            m.d.sync += sent.eq(sent + 1)
        with m.If(b.valid & b.ready):
            m.d.sync += [announced.eq(0), sent.eq(0)]
        m.d.sync += [self.written.valid.eq(b.valid & b.ready),
                     self.written.err.eq(b.payload.err),
                     self.written.channel.eq(request.payload.channel)]
        for n in range(len(self.written.failed)):
            ours = b.valid & b.ready & (request.payload.channel == n)
            m.d.sync += [self.written.done[n].eq(ours),
                         self.written.failed[n].eq(ours & b.payload.err)]
