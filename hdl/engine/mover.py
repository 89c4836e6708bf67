"""The data mover: reads bursts into a FIFO, writes them out, retires them to their channels."""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..memport import BEATS_WIDTH, ReadPortSignature, WritePortSignature
from .arbiter import ChannelBurst
from .beatfifo import BeatFifo, BufferedFifo, SmallFifo
from .planner import PAGE_BITS
from .realigner import lanes_from, lanes_upto, merge_lanes, rotate_lanes
from .shaping import kept


__all__ = ["DataMover"]


def _event(addr_width, channels, **extra):
    return data.StructLayout({"valid": unsigned(1),
                              "channel": unsigned(max(1, (channels - 1).bit_length())),
                              **extra})


def RetireEvent(addr_width, channels, beat_shift, streams=False):
    """A burst left the engine: its writes are acknowledged (``bytes``) or it was dropped
    (0). ``end``: it was the final burst of its transfer; ``eop`` (with streams): and the
    packet ended there."""
    return _event(addr_width, channels, bytes=unsigned(BEATS_WIDTH + beat_shift),
                  end=unsigned(1), **({"eop": unsigned(1)} if streams else {}))


def FaultEvent(addr_width, channels):
    """A bus error on a data beat of ``channel`` at ``addr``."""
    return _event(addr_width, channels, addr=unsigned(addr_width))


def _register_payload(m, out, value):
    """``out`` follows ``value`` one cycle later. Only ``valid`` is reset: a flip-flop with
    both reset and enable costs a LUT in front of it on iCE40 and ECP5, and payloads need
    neither."""
    payload = Signal(len(out.as_value()) - 1, reset_less=True)
    m.d.sync += [out.valid.eq(value.valid), payload.eq(value.as_value()[1:])]
    m.d.comb += out.as_value()[1:].eq(payload)


class DataMover(wiring.Component):
    """Moves granted bursts from their source to their destination at one beat per cycle.

    The reader keeps up to ``outstanding`` read bursts in flight, but issues a burst only
    once the FIFO has room reserved for all its beats, so R is never back-pressured and a
    slow writer cannot stall the read channel for other masters. The writer is
    store-and-forward per burst: it announces a write burst only when every beat of it has
    been read, so a read error never leaves a half-written burst, and W then streams one beat
    per cycle without gaps.

    Bursts of a channel in ``discard`` (halting after an error), and bursts whose read failed,
    are dropped from the FIFO without being written. Every burst is retired exactly once, in
    the order they were taken.

    With ``unaligned``, the bursts come from planners of byte-granular transfers and the
    realigner (:mod:`.realigner`) sits on both sides of the FIFO: a burst may then read one
    beat more or fewer than it writes, or none at all on one side.

    With ``streams``, a burst may read from its channel's stream buffer instead of the read
    port (the beats are there: the planner claimed them), or write into its channel's
    output buffer instead of the write port; such a burst retires when its last beat is in
    the buffer, in order with the channel's others. Room for all its beats there is
    reserved before it is read, so the writer never waits for a device: a stalled stream
    cannot hold up the other channels' writes, nor the reads that would unblock it (a
    device looping one channel's output into another's input).

    Members
    -------
    bursts : In(stream of ChannelBurst)
    read, write : neutral memory ports
    discard : In(channels)
    retire : Out(RetireEvent)
    read_fault, write_fault : Out(FaultEvent)
    ingress : In(stream of data), one per channel (with ``streams``)
        The channels' stream buffers (:class:`~.streams.StreamIngress`).
    egress_room, egress_reserve, egress_cancel, egress_push, ...
        The channels' output buffers (:class:`~.streams.StreamEgress`), with streams: room
        for a burst (a bit per channel); room for ``egress_reserve_beats`` is reserved, or
        ``egress_cancel_beats`` given back by a burst dropped after all (one-hot); a beat
        goes in (one-hot, with a shared payload: ``egress_data``, ``egress_strb``,
        ``egress_last``). ``egress_reserved`` is ``egress_reserve`` a cycle later, from
        flip-flops that do not wait on the burst's take (for the planners).
    """

    def __init__(self, *, addr_width, data_width, channels, outstanding, fifo_depth,
                 max_burst, unaligned=False, streams=False):
        self._unaligned = unaligned
        self._streams = streams
        self._beat_shift = (data_width // 8).bit_length() - 1
        self._addr_width = addr_width
        self._data_width = data_width
        self._channels = channels
        self._outstanding = outstanding
        self._fifo_depth = fifo_depth
        self._max_burst = max_burst
        # Bursts read (or being read) but not yet written: enough to keep every outstanding
        # read plus a FIFO full of whole bursts queued for the writer (a power of two).
        self._queued = 1 << (outstanding + max(2, fifo_depth // max_burst) - 1).bit_length()
        members = {
            "bursts": In(stream.Signature(ChannelBurst(addr_width, channels,
                                                       beat_shift=self._beat_shift,
                                                       unaligned=unaligned, streams=streams))),
            "read": Out(ReadPortSignature(addr_width=addr_width, data_width=data_width)),
            "write": Out(WritePortSignature(addr_width=addr_width, data_width=data_width)),
            "discard": In(channels),
            "retire": Out(RetireEvent(addr_width, channels, self._beat_shift, streams)),
            "read_fault": Out(FaultEvent(addr_width, channels)),
            "write_fault": Out(FaultEvent(addr_width, channels)),
        }
        if streams:
            members.update({
                "ingress": In(stream.Signature(data_width)).array(channels),
                "egress_room": In(channels), "egress_reserve": Out(channels),
                "egress_reserved": Out(channels),
                "egress_reserve_beats": Out(BEATS_WIDTH), "egress_cancel": Out(channels),
                "egress_cancel_beats": Out(BEATS_WIDTH),
                "egress_push": Out(channels),
                "egress_data": Out(data_width), "egress_strb": Out(data_width // 8),
                "egress_last": Out(1),
            })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        shift = self._beat_shift
        lanes = 1 << shift
        unaligned = self._unaligned
        streams = self._streams
        chan_shape = self.retire.channel.shape()
        # Events are decided here and registered on the way out: the channels' counters
        # and error registers then start from flip-flops, not from the bus inputs.
        retire = Signal.like(self.retire)
        read_fault = Signal.like(self.read_fault)
        write_fault = Signal.like(self.write_fault)
        for event, decided in ((self.retire, retire), (self.read_fault, read_fault),
                               (self.write_fault, write_fault)):
            _register_payload(m, event, decided)
        aw = self._addr_width
        count = unsigned(self._max_burst.bit_length())    # beats of a burst

        # What the realigner adds to each side's record of a burst (see planner.Burst).
        lane = unsigned(shift)
        read_lanes = {"rotate": lane} if unaligned else {}
        write_lanes = {"pre": unsigned(1), "tail": unsigned(1),
                       "split": lane, "first_lane": lane, "last_lane": lane} \
            if unaligned else {}
        # With streams: a burst reads its beats from a stream buffer (``stream``, knowing the
        # index of the beat before its last, so no adder is needed to see the last coming:
        # with one beat, an index no beat has), or writes them to one (``stream``); ``eop`` as
        # in the Burst.
        read_streams = {"before_last": count} if streams else {}
        write_streams = {"stream": unsigned(1), "eop": unsigned(1)} if streams else {}
        # The fields of a queue's head that steer its handshakes come first: the queues keep
        # them out of block RAM (see BufferedFifo's ``fast``).
        read_steer = {"channel": chan_shape,
                      **({"stream": unsigned(1), "one_read": unsigned(1)} if streams else {})}
        read_info = data.StructLayout({**read_steer, "src": unsigned(aw), "fixed": unsigned(1),
                                       **read_lanes, **read_streams})
        write_steer = {"no_read": unsigned(1)} if unaligned else {}
        write_info = data.StructLayout({**write_steer, "channel": chan_shape,
                                        "dst": unsigned(aw), "beats": count,
                                        "fixed": unsigned(1), "end": unsigned(1),
                                        **write_lanes, **write_streams})
        bytes_shape = self.retire.bytes.shape()
        resp_steer = {"skip": unsigned(1), **({"stream": unsigned(1)} if streams else {})}
        resp_info = data.StructLayout({**resp_steer, "channel": chan_shape, "dst": unsigned(aw),
                                       "bytes": bytes_shape, "end": unsigned(1),
                                       **({"eop": unsigned(1)} if streams else {})})
        # The index of a burst's last step, not its length: no subtraction on the W path.
        # A step writes a beat, except a ``pre`` step, which only reads one into the carry.
        # (``carry_only``: a `tail` burst of one step, which pops nothing: see `pops`.)
        beat_plan = data.StructLayout({"last": count, "drop": unsigned(1),
                                       **({"channel": chan_shape, "carry_only": unsigned(1),
                                           **write_lanes} if unaligned else {}),
                                       **write_streams})

        m.submodules.data_fifo = data_fifo = BeatFifo(width=self._data_width,
                                                      depth=self._fifo_depth)
        # A buffered FIFO of depth n + 1 keeps n entries in memory and one in its output
        # register: with n a power of two its pointers wrap for free.
        steer_bits = lambda fields: data.StructLayout(fields).size
        m.submodules.read_queue = read_queue = BufferedFifo(
            width=read_info.size, depth=self._outstanding + 1, fast=steer_bits(read_steer),
            late_read=True, clear_fast=streams)
        # (The write queue is written as a burst is taken, late in the cycle, and read by
        # the write issue a few LUTs after flip-flops: its flags are one LUT after both.)
        m.submodules.write_queue = write_queue = BufferedFifo(
            width=write_info.size, depth=self._queued + 1, fast=steer_bits(write_steer),
            late_read=True, late_write=True)
        m.submodules.read_done = read_done = SmallFifo(width=1, depth=self._queued + 1,
                                                       late_read=True)
        # (Two plans: the one the W side loads next and one more. Four cost LUTs on the
        # W path's enables and gained no cycle in any bench.)
        m.submodules.beat_plans = beat_plans = SmallFifo(width=beat_plan.size, depth=2,
                                                          late_read=True)
        m.submodules.resp_queue = resp_queue = BufferedFifo(
            width=resp_info.size, depth=self._outstanding + 1, fast=steer_bits(resp_steer),
            late_read=True)

        # --- Read issue: reserve FIFO room, queue the burst for both sides, send the command.
        # The command is the granted burst itself, not a copy in another register: one cycle
        # less from START to AR. Its valid never falls before ready: the burst is held by the
        # arbiter (or, passed through, by its planner), and queue room and FIFO room only
        # grow while it waits.
        # The room a burst takes is counted in the cycle after it is issued, off the path of
        # the issue decision; no burst is issued in that cycle (none is shown then: the
        # arbiter refills from empty, and hides the burst passed through in the cycle after
        # it is taken). Whether the longest burst fits is decided a cycle ahead, from
        # registers: beats freed in that cycle count a cycle later.
        free_beats = Signal(range(self._fifo_depth + 1), init=self._fifo_depth)
        took = Signal()
        reserving = Signal(count, reset_less=True)      # the beats of the burst taken
        unreserved = Signal.like(free_beats)
        burst = self.bursts.payload.burst
        # A burst has at most `max_burst` beats on either side: the counts' upper bits are 0,
        # and leaving them out takes a level of logic off the compares below.
        beats = burst.beats[:count.width]
        reads = burst.reads[:count.width] if unaligned else beats
        # A burst that reads nothing (its beats are all in the carry) sends no command, and
        # neither does one that reads from a stream buffer.
        # (An OR of the bits, not `reads == 0`, and AxLEN as wide as `reads`, not `reads - 1`
        # sign-extended: Yosys would take either from the carry out of `reads - 1`, a carry
        # chain in front of the command's valid and the queues' flags.)
        no_read = ~reads.any() if unaligned else Const(0)
        no_command = Signal(attrs={"keep": 1})
        m.d.comb += no_command.eq((no_read | burst.src_stream) if streams else no_read)
        cmd = self.read.cmd
        # What the decision needs besides the burst is all in flip-flops. Whether the burst
        # can be taken, and whether it needs a command, are worked out apart (`keep`): ABC
        # would otherwise chain one through the other, and everything taking a burst does
        # waits for them.
        can_take = Signal(attrs={"keep": 1})
        # And whether its command may go, from the burst and `may_read` alone (`keep`, again
        # apart from `no_command`): the command's valid is then one LUT after both, and the
        # read port arbiter's tag push one more.
        sends = Signal(attrs={"keep": 1})
        # Whether the queues and the FIFO have room and no burst was taken in the last cycle
        # is registered as one flag (`may_take`), from the queues' room in this cycle: room
        # a queue makes shows a cycle late. (Neither queue is the limit in practice: the
        # write queue holds every burst the FIFO can, and the read queue every outstanding
        # read, which the FIFO's room limits first with bursts of half its size or more.)
        may_take = Signal(init=1)
        ready_to_take = self.bursts.valid & may_take
        may_read = Const(1)
        take = Signal()
        channel = self.bursts.payload.channel
        if streams:
            # A burst to a stream first reserves room for its beats in the channel's buffer
            # (one that writes none waits for room too, and reserves nothing).
            to_buffer = burst.dst_stream
            ready_to_take &= ~to_buffer | self.egress_room.bit_select(channel, 1)
            # R is never back-pressured (the Wishbone adapter cannot hold a beat), so no read
            # is asked for while a burst from a stream buffer waits in the read queue: its
            # beats go into the FIFO first, and they are there, so the wait is short. Such
            # bursts are counted a cycle after they are taken (no burst is taken then), and
            # whether there are any is a flip-flop beside the count.
            buffer_reads = Signal(range(self._outstanding + 2))
            may_read = Signal(init=1)               # buffer_reads == 0
            # (The burst is still shown in the cycle it is taken: what it is is registered
            # every cycle, and `took` says whether it was taken.)
            from_buffer = Signal(reset_less=True)
            m.d.sync += from_buffer.eq(burst.src_stream & ~no_read)
            # Likewise the channel whose output buffer the burst shown reserves room in
            # (one-hot), for `egress_reserved`.
            reserved_for = Signal(self._channels, reset_less=True)
            m.d.sync += reserved_for.eq(Mux(burst.dst_stream, 1 << channel, 0))
            took_from_buffer = took & from_buffer
        m.d.comb += [
            can_take.eq(ready_to_take),
            sends.eq(may_read & ~(no_read | (burst.src_stream if streams else 0))),
            cmd.valid.eq(can_take & sends),
            cmd.payload.addr.eq(burst.src), cmd.payload.beats.eq(reads),
            cmd.payload.len.eq((reads - 1)[:len(reads)]),
            cmd.payload.fixed.eq(burst.src_fixed),
            take.eq(can_take & (no_command | (may_read & cmd.ready))),
            self.bursts.ready.eq(take),
            # (Not `take & ~no_read`: a LUT from the same inputs as `take`, not after it.)
            read_queue.w_en.eq(can_take & ~no_read &
                               ((burst.src_stream if streams else 0) | (may_read & cmd.ready))),
            write_queue.w_en.eq(take),
        ]
        rq_in = read_info(read_queue.w_data)
        wq_in = write_info(write_queue.w_data)
        m.d.comb += [
            rq_in.channel.eq(self.bursts.payload.channel), rq_in.src.eq(burst.src),
            rq_in.fixed.eq(burst.src_fixed),
            wq_in.channel.eq(channel), wq_in.dst.eq(burst.dst),
            wq_in.beats.eq(beats), wq_in.fixed.eq(burst.dst_fixed),
            wq_in.end.eq(burst.end),
        ]
        if unaligned:
            m.d.comb += [
                rq_in.rotate.eq(-burst.split),
                wq_in.no_read.eq(no_read), wq_in.pre.eq(burst.pre), wq_in.tail.eq(burst.tail),
                wq_in.split.eq(burst.split), wq_in.first_lane.eq(burst.first_lane),
                wq_in.last_lane.eq(burst.last_lane),
            ]
        if streams:
            m.d.comb += [
                rq_in.stream.eq(burst.src_stream), rq_in.before_last.eq(reads - 2),
                rq_in.one_read.eq(reads == 1),
                wq_in.stream.eq(burst.dst_stream), wq_in.eop.eq(burst.eop),
                self.egress_reserve.eq(Mux(take & to_buffer, 1 << channel, 0)),
                self.egress_reserved.eq(Mux(took, reserved_for, 0)),
                self.egress_reserve_beats.eq(beats),
            ]

        # --- Read data: into the FIFO (rotated to the lanes it is written to); report errors
        # with the beat address. Room for every beat was reserved before the burst was asked
        # for, so the FIFO's own `w_rdy` is not consulted (it would lengthen the path from
        # the FIFO level to the channels).
        r = self.read.r
        head = read_info(read_queue.r_data)
        beat_index = Signal(count)
        burst_err = Signal()
        # A beat from the read port is taken into a register first: what is decided on it
        # starts from flip-flops, not from the bus and the read port arbiter's routing.
        # Beats are taken while the read queue shows a burst from the read port. A beat
        # belongs to that burst or, once its last beat is in the register, to the burst
        # after it, which the queue shows in the next cycle: its command left a cycle before
        # the beat came at least, so it is in the queue's memory by then. (Bursts from a
        # stream buffer queue behind all those from the read port: see `may_read`.) So a
        # beat in the register needs no look at the queue.
        r_valid = Signal()
        r_end = Signal()            # r_valid and the burst's last beat
        r_data = Signal(self._data_width, reset_less=True)
        r_err = Signal(reset_less=True)
        m.d.sync += [r_valid.eq(r.valid & r.ready),
                     r_end.eq(r.valid & r.ready & r.payload.last),
                     r_data.eq(r.payload.data), r_err.eq(r.payload.err)]
        got = r_valid               # a beat goes into the FIFO
        done = r_end                # and it is its burst's last
        beat_data, beat_err = r_data, r_err
        if streams:
            # Whether the beat from a stream buffer is its burst's last, registered a beat
            # ahead (the first from the queue entry): no compare from the read queue's head
            # into the FIFOs' enables.
            first_read = Signal(init=1)
            last_read_next = Signal()
            ingress = Array(self.ingress)[head.channel]
            # Both halves of the decision come from flip-flops in a LUT each, kept apart
            # (`keep`) so that the FIFOs' enables follow them at the next level.
            from_buffer_now = Signal()
            buffer_last = Signal(attrs={"keep": 1})
            # (The queue's steering bits read 0 while it shows nothing: `head.stream` implies
            # `r_rdy`, and with two channels `from_buffer_now` is a single LUT.)
            m.d.comb += [from_buffer_now.eq(head.stream & ingress.valid),
                         buffer_last.eq(Mux(first_read, head.one_read, last_read_next))]
            got = r_valid | from_buffer_now
            done = r_end | (from_buffer_now & buffer_last)
            # The data's multiplexer is steered by a flip-flop of its own, not by
            # `head.stream`, which steers the handshakes above: the fanout of 32 data bits
            # stays off their paths. A beat from the read port and one from a stream buffer
            # never meet: no read is asked for while a burst from a buffer is queued.
            r_seen = Signal(reset_less=True)
            m.d.sync += r_seen.eq(r.valid)
            beat_data = Mux(r_seen, r_data, ingress.payload)
            beat_err = r_err & ~head.stream
            with m.If(got):
                m.d.sync += [first_read.eq(done),
                             last_read_next.eq(beat_index == head.before_last)]
            m.d.comb += r.ready.eq(read_queue.r_rdy & ~head.stream)
            for n, port in enumerate(self.ingress):
                m.d.comb += port.ready.eq(head.stream & (head.channel == n))
            # A burst read from a stream buffer is counted done a cycle late too: the count
            # starts from flip-flops.
            buffer_done = Signal()
            buffer_reads_next = Signal.like(buffer_reads)
            m.d.comb += buffer_reads_next.eq(buffer_reads + took_from_buffer - buffer_done)
            m.d.sync += [buffer_done.eq(done & head.stream),
                         buffer_reads.eq(buffer_reads_next),
                         may_read.eq(buffer_reads_next == 0)]
        else:
            m.d.comb += r.ready.eq(read_queue.r_rdy)
        m.d.comb += [data_fifo.w_en.eq(got),
                     data_fifo.w_data.eq(rotate_lanes(beat_data, head.rotate, lanes)
                                         if unaligned else beat_data)]
        # (The fault's fields are given whether or not there is one: only `valid` then waits
        # for the beat.)
        # A burst never crosses a page: the beat's address is the page offset's sum alone,
        # a carry chain of PAGE_BITS, not of the address width.
        beat_offset = (head.src[:PAGE_BITS] + (beat_index << shift))[:PAGE_BITS]
        m.d.comb += [read_fault.valid.eq(got & beat_err), read_fault.channel.eq(head.channel),
                     read_fault.addr.eq(Mux(head.fixed, head.src,
                                            Cat(beat_offset, head.src[PAGE_BITS:])))]
        with m.If(got):
            m.d.sync += [beat_index.eq(beat_index + 1), burst_err.eq(burst_err | beat_err)]
        # A burst wholly read is announced to the write side a cycle later, from flip-flops.
        read_end = Signal()
        read_end_err = Signal(reset_less=True)
        m.d.sync += [read_end.eq(done), read_end_err.eq(burst_err | beat_err)]
        m.d.comb += [read_queue.r_en.eq(done),
                     read_done.w_en.eq(read_end), read_done.w_data.eq(read_end_err)]
        with m.If(done):
            m.d.sync += [beat_index.eq(0), burst_err.eq(0)]

        # --- Write issue: once a burst is wholly read, announce it (or drop it). The next
        # burst to write is first taken out of the queues into registers, so the decision
        # starts from flip-flops, not from the queues' read multiplexers. One burst every
        # other cycle at most, like the read issue.
        wcmd = self.write.cmd
        entry = write_info(write_queue.r_data)
        next_valid = Signal()
        next_burst = Signal(write_info, reset_less=True)
        next_last = Signal(count, reset_less=True)      # index of its last step
        next_read_err = Signal(reset_less=True)
        # It writes nothing whatever the channel does: its read failed, or it has no beats.
        # Judged as it is loaded, so only the channel's `discard` is looked up after.
        next_skip = Signal(reset_less=True)
        next_bytes = Signal(bytes_shape, reset_less=True)
        if unaligned:
            read_wait = ~entry.no_read
            entry_pre = entry.pre
            # The partial first and last beats' lanes are not written.
            entry_bytes = (entry.beats << shift) - entry.first_lane + entry.last_lane + 1 - lanes
        else:
            read_wait, entry_pre, entry_bytes = Const(1), 0, entry.beats << shift
        # Both reads from flip-flops alone, each its own LUT (`kept`): shared, ABC chained
        # them, and the read-done take behind them, into five LUTs on iCE40.
        advance = kept(m, "advance", ~next_valid & write_queue.r_rdy &
                       (read_done.r_rdy | ~read_wait))
        m.d.comb += [write_queue.r_en.eq(advance),
                     read_done.r_en.eq(kept(m, "read_done_taken", ~next_valid & read_wait &
                                            write_queue.r_rdy & read_done.r_rdy))]
        with m.If(advance):
            m.d.sync += [next_valid.eq(1), next_burst.eq(entry),
                         next_last.eq(entry.beats + entry_pre - 1),
                         next_read_err.eq(read_done.r_data & read_wait),
                         next_skip.eq((read_done.r_data & read_wait) | (entry.beats == 0)),
                         next_bytes.eq(entry_bytes)]
        drop = next_read_err | self.discard.bit_select(next_burst.channel, 1)
        # A burst that writes nothing (it only reads ahead) is skipped, like a dropped one.
        writes = ~next_skip & ~self.discard.bit_select(next_burst.channel, 1)
        # A burst starts once the command before it has left (not in the cycle it leaves:
        # `start` is then made of flip-flops only; bursts start every other cycle at most).
        start = Signal()
        m.d.comb += start.eq(next_valid & ~wcmd.valid & beat_plans.w_rdy & resp_queue.w_rdy)
        with m.If(start):
            m.d.sync += next_valid.eq(0)
        plan_in = beat_plan(beat_plans.w_data)
        resp_in = resp_info(resp_queue.w_data)
        m.d.comb += [
            beat_plans.w_en.eq(start),
            plan_in.last.eq(next_last), plan_in.drop.eq(drop),
            resp_in.skip.eq(~writes), resp_in.channel.eq(next_burst.channel),
            resp_in.dst.eq(next_burst.dst), resp_in.bytes.eq(Mux(writes, next_bytes, 0)),
            resp_in.end.eq(next_burst.end),
            resp_queue.w_en.eq(start),
        ]
        if unaligned:
            m.d.comb += [plan_in.channel.eq(next_burst.channel),
                         plan_in.carry_only.eq(next_burst.tail & (next_last == 0))]
            for name in write_lanes:
                m.d.comb += plan_in[name].eq(next_burst[name])
        to_stream = Const(0)
        if streams:
            to_stream = next_burst.stream
            for name in write_streams:
                m.d.comb += plan_in[name].eq(next_burst[name])
            m.d.comb += [resp_in.stream.eq(to_stream & writes), resp_in.eop.eq(next_burst.eop)]
            # A burst to a stream dropped here gives its reserved room back.
            cancel = start & drop & to_stream & (next_burst.beats != 0)
            m.d.comb += [self.egress_cancel.eq(Mux(cancel, 1 << next_burst.channel, 0)),
                         self.egress_cancel_beats.eq(next_burst.beats)]
        # Payload registers without reset (see _register_payload).
        wcmd_payload = Signal.like(wcmd.payload, reset_less=True)
        m.d.comb += wcmd.payload.eq(wcmd_payload)
        with m.If(wcmd.ready):
            m.d.sync += wcmd.valid.eq(0)
        with m.If(start & writes & ~to_stream):
            m.d.sync += [wcmd.valid.eq(1), wcmd_payload.addr.eq(next_burst.dst),
                         wcmd_payload.beats.eq(next_burst.beats),
                         wcmd_payload.len.eq(next_burst.beats - 1),
                         wcmd_payload.fixed.eq(next_burst.fixed)]

        # --- Write data: stream each planned burst's beats out of the FIFO (or drop them),
        # through an output register: W does not start at the block RAM's slow output. The
        # burst being written is held in registers (steps left, and whether the next step is
        # its last), loaded from the plan queue as the previous burst's last step goes: no
        # compare and no queue logic between W's ready and the next beat.
        w = self.write.w
        plan = beat_plan(beat_plans.r_data)
        writing = Signal()
        writing_drop = Signal(reset_less=True)
        writing_channel = Signal(chan_shape, reset_less=True)
        beats_left = Signal(count, reset_less=True)     # after the next one
        next_is_last = Signal(reset_less=True)
        w_eop = Signal(reset_less=True)
        # The next step needs no room in the W register: the burst is dropped, or the step
        # only reads ahead (`pre`). Kept in a flip-flop of its own, so a step is decided by
        # one LUT from W's ready.
        passive = Signal(reset_less=True)
        # The W register: a beat for the write port (`w_mem`), or for a stream buffer
        # (`w_push`, a bit per channel: always taken, its room was reserved, so it is gone in
        # the next cycle).
        w_mem = Signal()
        m.d.comb += w.valid.eq(w_mem)
        if streams:
            w_push = Signal(self._channels)
            writing_stream = Signal(reset_less=True)
            writing_eop = Signal(reset_less=True)
            m.d.comb += [self.egress_push.eq(w_push),
                         self.egress_last.eq(w_eop), self.egress_data.eq(w.payload.data),
                         self.egress_strb.eq(w.payload.strb)]
        # The beats of a planned burst are all in the FIFO already (store-and-forward).
        step = writing & (passive | ~w_mem | w.ready)
        send = step & ~passive
        if unaligned:
            reading_ahead = Signal(reset_less=True)     # the step is a `pre`: no beat written
            tail = Signal(reset_less=True)
            from_fifo = Signal(lanes, reset_less=True)  # lanes from the FIFO, not the carry
            first_strb = Signal(lanes, reset_less=True)
            # Whether the next beat sent is the burst's first (only it starts partway): a
            # flag, so that `first_strb` is loaded on `load` alone, and the flag's next value
            # is one LUT after `step`, chosen between terms made of flip-flops (`keep`).
            at_first = Signal(reset_less=True)
            first_if_step = Signal(attrs={"keep": 1})
            first_if_idle = Signal(attrs={"keep": 1})
            last_strb = Signal(lanes, reset_less=True)
            # The final step of a `tail` burst writes from the carry alone. The pop's read
            # address goes to the block RAM, on ECP5's slowest path here: so the pop is one
            # LUT of W's ready and flip-flops, among them whether the next step pops
            # (`pops`, that is `writing & ~(tail & next_is_last)`, kept with them below).
            # (Without the realigner, `step`'s own LUTs measured better on iCE40.)
            pops = Signal()
            pop = kept(m, "pop", pops & (passive | ~w_mem | w.ready))
        else:
            pop = step
        load = beat_plans.r_rdy & (~writing | (step & next_is_last))
        w_data = Signal(self._data_width, reset_less=not unaligned)  # (merged: combinational)
        w_strb = Signal(lanes, reset_less=True)
        w_last = Signal(reset_less=True)
        m.d.comb += [data_fifo.r_en.eq(pop), beat_plans.r_en.eq(load),
                     w.payload.data.eq(w_data), w.payload.last.eq(w_last),
                     w.payload.strb.eq(w_strb if unaligned else -1)]
        with m.If(w.ready):
            m.d.sync += w_mem.eq(0)
        if streams:
            m.d.sync += w_push.eq(0)
        with m.If(send):
            m.d.sync += w_last.eq(next_is_last)
            if streams:
                m.d.sync += [w_mem.eq(~writing_stream),
                             w_push.eq(Mux(writing_stream, 1 << writing_channel, 0)),
                             w_eop.eq(writing_eop & next_is_last)]
            else:
                m.d.sync += w_mem.eq(1)
        with m.If(load):
            m.d.sync += [writing.eq(1), writing_drop.eq(plan.drop), beats_left.eq(plan.last),
                         next_is_last.eq(plan.last == 0),
                         passive.eq(plan.drop | plan.pre if unaligned else plan.drop)]
            if streams:
                m.d.sync += [writing_stream.eq(plan.stream), writing_eop.eq(plan.eop)]
        with m.Elif(step & next_is_last):
            m.d.sync += writing.eq(0)
        with m.Elif(step):
            m.d.sync += [beats_left.eq(beats_left - 1), next_is_last.eq(beats_left == 1),
                         passive.eq(writing_drop)]     # a `pre` step is only the first

        if unaligned:
            # The block RAM's output goes into one register only, `last_popped`, loaded as a
            # beat is popped, so that it can be the RAM's own output register (see
            # bram_outreg.py). Everything else starts from that register:
            # - a channel's carry is the last beat popped for it: `last_popped` itself for
            #   the channel popped last, and a copy made a cycle later for the others;
            # - the beat in the W register takes the lanes from `split` up from the beat
            #   popped as it was sent, which is `last_popped` until the next pop, and a copy
            #   (`held_head`) while W still waits after that pop (a `pre` or dropped step).
            last_popped = Signal(self._data_width, reset_less=True)
            with m.If(pop):
                m.d.sync += last_popped.eq(data_fifo.r_data)
            if self._channels == 1:
                carry = last_popped
            else:
                popped_channel = Signal(chan_shape, reset_less=True)
                carries = Array(Signal(self._data_width, name=f"carry{n}", reset_less=True)
                                for n in range(self._channels))
                with m.If(pop):
                    m.d.sync += popped_channel.eq(writing_channel)
                for n, saved in enumerate(carries):
                    with m.If(popped_channel == n):
                        m.d.sync += saved.eq(last_popped)
                carry = Mux(popped_channel == writing_channel, last_popped,
                            carries[writing_channel])
            head_is_last_popped = Signal(reset_less=True)
            held_head = Signal(self._data_width, reset_less=True)
            with m.If(head_is_last_popped):
                m.d.sync += held_head.eq(last_popped)
            with m.If(pop):
                m.d.sync += head_is_last_popped.eq(send)
            w_carry = Signal(self._data_width, reset_less=True)
            w_from_head = Signal(lanes, reset_less=True)
            w_head = Mux(head_is_last_popped, last_popped, held_head)
            m.d.comb += w_data.eq(merge_lanes(w_from_head, w_head, w_carry, lanes))
            with m.If(send):
                m.d.sync += [w_carry.eq(carry), w_from_head.eq(from_fifo),
                             w_strb.eq(Mux(at_first, first_strb, -1) &
                                       Mux(next_is_last, last_strb, -1))]
            # A step sends the first beat unless it is passive (a `pre` step reads ahead and
            # keeps the flag), and loads the next plan if it is the last; without a step, only
            # an idle writer loads one.
            m.d.comb += [
                first_if_step.eq(Mux(next_is_last, beat_plans.r_rdy, at_first & passive)),
                first_if_idle.eq(Mux(writing, at_first, beat_plans.r_rdy | at_first)),
            ]
            m.d.sync += at_first.eq(Mux(step, first_if_step, first_if_idle))
            # `pops` follows `writing`, `tail` and `next_is_last` (above) the same way: one
            # LUT after `step`, between terms made of flip-flops (the plan's `carry_only`
            # worked out as it was queued).
            pops_on = kept(m, "pops_on", ~(tail & (beats_left == 1)))
            pops_if_step = kept(m, "pops_if_step",
                                Mux(next_is_last, beat_plans.r_rdy & ~plan.carry_only, pops_on))
            pops_if_idle = kept(m, "pops_if_idle",
                                Mux(~writing & beat_plans.r_rdy, ~plan.carry_only, pops))
            m.d.sync += pops.eq(Mux(step, pops_if_step, pops_if_idle))
            with m.If(load):
                m.d.sync += [writing_channel.eq(plan.channel),
                             reading_ahead.eq(plan.pre), tail.eq(plan.tail),
                             from_fifo.eq(lanes_from(plan.split, lanes)),
                             first_strb.eq(lanes_from(plan.first_lane, lanes)),
                             last_strb.eq(lanes_upto(plan.last_lane, lanes))]
            with m.Elif(step):
                m.d.sync += reading_ahead.eq(0)
        else:
            with m.If(send):
                m.d.sync += w_data.eq(data_fifo.r_data)

        # A beat popped is counted free a cycle later, from a flip-flop: W's handshake stays
        # off the count's carry chain.
        popped = Signal()
        m.d.comb += unreserved.eq(free_beats - Mux(took, reserving, 0))
        m.d.sync += [took.eq(take), reserving.eq(reads), popped.eq(pop),
                     free_beats.eq(unreserved + popped),
                     may_take.eq(~take & read_queue.w_rdy & write_queue.w_rdy &
                                 (unreserved >= self._max_burst))]

        # --- Retirement, in order: a burst written to memory retires with its response (a
        # failed write reports the burst's address); one into a stream buffer has no
        # response, and retires once its last beat is in (``stream_done`` of them are in and
        # wait their turn); one skipped retires when its turn comes.
        b = self.write.b
        resp = resp_info(resp_queue.r_data)
        answered = b.valid & b.ready
        # Worked out from the head's flags and B's valid, apart (`keep`) from `b.ready`.
        retiring = Signal(attrs={"keep": 1})
        if streams:
            stream_done = Signal(range(self._queued + 1))
            # Whether any is, registered beside the count: no compare on the path from a
            # retire into the write issue.
            any_stream_done = Signal()
            stream_retire = resp_queue.r_rdy & resp.stream & any_stream_done
            stream_done_next = Signal.like(stream_done)
            m.d.comb += [b.ready.eq(resp_queue.r_rdy & ~resp.skip & ~resp.stream),
                         retiring.eq(resp_queue.r_rdy &
                                     Mux(resp.skip, 1, Mux(resp.stream, any_stream_done,
                                                           b.valid))),
                         stream_done_next.eq(stream_done + (w_push.any() & w_last) -
                                             stream_retire)]
            m.d.sync += [stream_done.eq(stream_done_next),
                         any_stream_done.eq(stream_done_next != 0)]
        else:
            m.d.comb += [b.ready.eq(resp_queue.r_rdy & ~resp.skip),
                         retiring.eq(resp_queue.r_rdy & (resp.skip | b.valid))]
        m.d.comb += resp_queue.r_en.eq(retiring)
        with m.If(retiring):
            m.d.comb += [
                retire.valid.eq(1), retire.channel.eq(resp.channel),
                retire.bytes.eq(resp.bytes), retire.end.eq(resp.end),
            ]
            if streams:
                m.d.comb += retire.eop.eq(resp.eop)
        m.d.comb += [write_fault.valid.eq(answered & b.payload.err),
                     write_fault.channel.eq(resp.channel), write_fault.addr.eq(resp.dst)]
        return m
