"""The data mover: reads bursts into a FIFO, writes them out, retires them to their channels."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..memport import BEATS_WIDTH, ReadPortSignature, WritePortSignature
from .arbiter import ChannelBurst
from .beatfifo import BeatFifo


__all__ = ["DataMover"]


def _event(addr_width, channels, **extra):
    return data.StructLayout({"valid": unsigned(1),
                              "channel": unsigned(max(1, (channels - 1).bit_length())),
                              **extra})


def RetireEvent(addr_width, channels):
    """A burst left the engine: its writes are acknowledged (``beats``) or it was dropped (0).
    ``end``: it was the final burst of its transfer."""
    return _event(addr_width, channels, beats=unsigned(BEATS_WIDTH), end=unsigned(1))


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
    are dropped from the FIFO without being written. Every burst is retired exactly once.

    Members
    -------
    bursts : In(stream of ChannelBurst)
    read, write : neutral memory ports
    discard : In(channels)
    retire : Out(RetireEvent)
    read_fault, write_fault : Out(FaultEvent)
    """

    def __init__(self, *, addr_width, data_width, channels, outstanding, fifo_depth,
                 max_burst):
        self._addr_width = addr_width
        self._data_width = data_width
        self._channels = channels
        self._outstanding = outstanding
        self._fifo_depth = fifo_depth
        self._max_burst = max_burst
        # Bursts read (or being read) but not yet written: enough to keep every outstanding
        # read plus a FIFO full of whole bursts queued for the writer (a power of two).
        self._queued = 1 << (outstanding + max(2, fifo_depth // max_burst) - 1).bit_length()
        super().__init__({
            "bursts": In(stream.Signature(ChannelBurst(addr_width, channels))),
            "read": Out(ReadPortSignature(addr_width=addr_width, data_width=data_width)),
            "write": Out(WritePortSignature(addr_width=addr_width, data_width=data_width)),
            "discard": In(channels),
            "retire": Out(RetireEvent(addr_width, channels)),
            "read_fault": Out(FaultEvent(addr_width, channels)),
            "write_fault": Out(FaultEvent(addr_width, channels)),
        })

    def elaborate(self, platform):
        m = Module()
        shift = (self._data_width // 8).bit_length() - 1
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

        read_info = data.StructLayout({"channel": chan_shape, "src": unsigned(aw),
                                       "fixed": unsigned(1)})
        write_info = data.StructLayout({"channel": chan_shape, "dst": unsigned(aw),
                                        "beats": unsigned(BEATS_WIDTH), "fixed": unsigned(1),
                                        "end": unsigned(1)})
        resp_info = data.StructLayout({"channel": chan_shape, "dst": unsigned(aw),
                                       "beats": unsigned(BEATS_WIDTH), "end": unsigned(1)})
        # The index of a burst's last beat, not its length: no subtraction on the W path.
        beat_plan = data.StructLayout({"last": unsigned(BEATS_WIDTH - 1), "drop": unsigned(1)})

        m.submodules.data_fifo = data_fifo = BeatFifo(width=self._data_width,
                                                      depth=self._fifo_depth)
        # A buffered FIFO of depth n + 1 keeps n entries in memory and one in its output
        # register: with n a power of two its pointers wrap for free.
        m.submodules.read_queue = read_queue = SyncFIFOBuffered(
            width=read_info.size, depth=self._outstanding + 1)
        m.submodules.write_queue = write_queue = SyncFIFOBuffered(
            width=write_info.size, depth=self._queued + 1)
        m.submodules.read_done = read_done = SyncFIFO(width=1, depth=self._queued + 1)
        m.submodules.beat_plans = beat_plans = SyncFIFO(width=beat_plan.size, depth=4)
        m.submodules.resp_queue = resp_queue = SyncFIFOBuffered(
            width=resp_info.size, depth=self._outstanding + 1)

        # --- Read issue: reserve FIFO room, queue the burst for both sides, send the command.
        # The command is the granted burst itself, not a copy in another register: one cycle
        # less from START to AR. Its valid never falls before ready: the burst is held by the
        # arbiter, and queue room and FIFO room only grow while it waits.
        # The room a burst takes is counted in the cycle after it is issued, off the path of
        # the issue decision; no burst is issued in that cycle (the arbiter, refilling from
        # empty, offers none then anyway). Whether the longest burst fits is decided a cycle
        # ahead, from registers: beats freed in that cycle count a cycle later.
        free_beats = Signal(range(self._fifo_depth + 1), init=self._fifo_depth)
        took = Signal()
        reserving = Signal(BEATS_WIDTH, reset_less=True)    # the beats of the burst taken
        unreserved = Signal.like(free_beats)
        room = Signal(init=1)
        burst = self.bursts.payload.burst
        cmd = self.read.cmd
        take = Signal()
        m.d.comb += [
            cmd.valid.eq(self.bursts.valid & read_queue.w_rdy & write_queue.w_rdy & ~took &
                         room),
            cmd.payload.addr.eq(burst.src), cmd.payload.beats.eq(burst.beats),
            cmd.payload.fixed.eq(burst.src_fixed),
            take.eq(cmd.valid & cmd.ready),
            self.bursts.ready.eq(take),
            read_queue.w_en.eq(take),
            write_queue.w_en.eq(take),
        ]
        rq_in = read_info(read_queue.w_data)
        wq_in = write_info(write_queue.w_data)
        m.d.comb += [
            rq_in.channel.eq(self.bursts.payload.channel), rq_in.src.eq(burst.src),
            rq_in.fixed.eq(burst.src_fixed),
            wq_in.channel.eq(self.bursts.payload.channel), wq_in.dst.eq(burst.dst),
            wq_in.beats.eq(burst.beats), wq_in.fixed.eq(burst.dst_fixed),
            wq_in.end.eq(burst.end),
        ]

        # --- Read data: into the FIFO; report errors with the beat address. Room for every
        # beat was reserved before the burst was asked for, so the FIFO's own `w_rdy` is
        # not consulted (it would lengthen the path from the FIFO level to the channels).
        r = self.read.r
        head = read_info(read_queue.r_data)
        beat_index = Signal(BEATS_WIDTH)
        burst_err = Signal()
        m.d.comb += [
            r.ready.eq(read_queue.r_rdy),
            data_fifo.w_data.eq(r.payload.data),
        ]
        with m.If(r.valid & r.ready):
            m.d.comb += data_fifo.w_en.eq(1)
            m.d.sync += [beat_index.eq(beat_index + 1), burst_err.eq(burst_err | r.payload.err)]
            with m.If(r.payload.err):
                m.d.comb += [
                    read_fault.valid.eq(1), read_fault.channel.eq(head.channel),
                    read_fault.addr.eq(Mux(head.fixed, head.src,
                                                head.src + (beat_index << shift))),
                ]
            with m.If(r.payload.last):
                m.d.sync += [beat_index.eq(0), burst_err.eq(0)]
                m.d.comb += [read_queue.r_en.eq(1), read_done.w_en.eq(1),
                             read_done.w_data.eq(burst_err | r.payload.err)]

        # --- Write issue: once a burst is wholly read, announce it (or drop it). The next
        # burst to write is first taken out of the queues into registers, so the decision
        # starts from flip-flops, not from the queues' read multiplexers. One burst every
        # other cycle at most, like the read issue.
        wcmd = self.write.cmd
        entry = write_info(write_queue.r_data)
        next_valid = Signal()
        next_burst = Signal(write_info, reset_less=True)
        next_last = Signal(BEATS_WIDTH - 1, reset_less=True)     # index of its last beat
        next_read_err = Signal(reset_less=True)
        advance = ~next_valid & write_queue.r_rdy & read_done.r_rdy
        m.d.comb += [write_queue.r_en.eq(advance), read_done.r_en.eq(advance)]
        with m.If(advance):
            m.d.sync += [next_valid.eq(1), next_burst.eq(entry), next_last.eq(entry.beats - 1),
                         next_read_err.eq(read_done.r_data)]
        drop = next_read_err | self.discard.bit_select(next_burst.channel, 1)
        start = Signal()
        m.d.comb += start.eq(next_valid & (~wcmd.valid | wcmd.ready) &
                             beat_plans.w_rdy & resp_queue.w_rdy &
                             # A dropped burst retires now: not in the cycle a B retires one.
                             ~(drop & self.write.b.valid))
        with m.If(start):
            m.d.sync += next_valid.eq(0)
        plan_in = beat_plan(beat_plans.w_data)
        resp_in = resp_info(resp_queue.w_data)
        m.d.comb += [
            beat_plans.w_en.eq(start),
            plan_in.last.eq(next_last), plan_in.drop.eq(drop),
            resp_in.channel.eq(next_burst.channel), resp_in.dst.eq(next_burst.dst),
            resp_in.beats.eq(next_burst.beats), resp_in.end.eq(next_burst.end),
            resp_queue.w_en.eq(start & ~drop),
        ]
        # Payload registers without reset (see _register_payload).
        wcmd_payload = Signal.like(wcmd.payload, reset_less=True)
        m.d.comb += wcmd.payload.eq(wcmd_payload)
        with m.If(wcmd.ready):
            m.d.sync += wcmd.valid.eq(0)
        with m.If(start & ~drop):
            m.d.sync += [wcmd.valid.eq(1), wcmd_payload.addr.eq(next_burst.dst),
                         wcmd_payload.beats.eq(next_burst.beats),
                         wcmd_payload.fixed.eq(next_burst.fixed)]

        # --- Write data: stream each planned burst's beats out of the FIFO (or drop them),
        # through an output register: W does not start at the block RAM's slow output. The
        # burst being written is held in registers (beats left, and whether the next beat is
        # its last), loaded from the plan queue as the previous burst's last beat leaves: no
        # compare and no queue logic between W's ready and the next beat.
        w = self.write.w
        plan = beat_plan(beat_plans.r_data)
        writing = Signal()
        writing_drop = Signal(reset_less=True)
        beats_left = Signal(BEATS_WIDTH - 1, reset_less=True)   # after the next one
        next_is_last = Signal(reset_less=True)
        # The beats of a planned burst are all in the FIFO already (store-and-forward).
        send = writing & ~writing_drop & (~w.valid | w.ready)
        pop = send | (writing & writing_drop)
        load = beat_plans.r_rdy & (~writing | (pop & next_is_last))
        w_data = Signal(self._data_width, reset_less=True)
        w_last = Signal(reset_less=True)
        m.d.comb += [data_fifo.r_en.eq(pop), beat_plans.r_en.eq(load),
                     w.payload.data.eq(w_data), w.payload.strb.eq(-1),
                     w.payload.last.eq(w_last)]
        with m.If(w.ready):
            m.d.sync += w.valid.eq(0)
        with m.If(send):
            m.d.sync += [w.valid.eq(1), w_data.eq(data_fifo.r_data), w_last.eq(next_is_last)]
        with m.If(load):
            m.d.sync += [writing.eq(1), writing_drop.eq(plan.drop), beats_left.eq(plan.last),
                         next_is_last.eq(plan.last == 0)]
        with m.Elif(pop & next_is_last):
            m.d.sync += writing.eq(0)
        with m.Elif(pop):
            m.d.sync += [beats_left.eq(beats_left - 1), next_is_last.eq(beats_left == 1)]

        m.d.comb += unreserved.eq(free_beats - Mux(took, reserving, 0))
        m.d.sync += [took.eq(take), reserving.eq(burst.beats),
                     free_beats.eq(unreserved + pop),
                     room.eq(unreserved >= self._max_burst)]

        # --- Write responses: retire the burst; a failed write reports the burst's address.
        b = self.write.b
        resp = resp_info(resp_queue.r_data)
        m.d.comb += [b.ready.eq(resp_queue.r_rdy), resp_queue.r_en.eq(b.valid & b.ready)]
        with m.If(b.valid & b.ready):
            m.d.comb += [
                retire.valid.eq(1), retire.channel.eq(resp.channel),
                retire.beats.eq(resp.beats), retire.end.eq(resp.end),
            ]
            with m.If(b.payload.err):
                m.d.comb += [write_fault.valid.eq(1),
                             write_fault.channel.eq(resp.channel),
                             write_fault.addr.eq(resp.dst)]
        with m.Elif(start & drop):
            m.d.comb += [retire.valid.eq(1), retire.channel.eq(next_burst.channel),
                         retire.end.eq(next_burst.end)]
        return m
