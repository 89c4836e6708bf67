"""The data mover: reads bursts into a FIFO, writes them out, retires them to their channels."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from ..memport import BEATS_WIDTH, ReadPortSignature, WritePortSignature
from .arbiter import ChannelBurst


__all__ = ["DataMover"]


def _event(addr_width, channels, **extra):
    return data.StructLayout({"valid": unsigned(1),
                              "channel": unsigned(max(1, (channels - 1).bit_length())),
                              **extra})


def RetireEvent(addr_width, channels):
    """A burst left the engine: its writes are acknowledged (``beats``) or it was dropped (0)."""
    return _event(addr_width, channels, beats=unsigned(BEATS_WIDTH))


def FaultEvent(addr_width, channels):
    """A bus error on a data beat of ``channel`` at ``addr``."""
    return _event(addr_width, channels, addr=unsigned(addr_width))


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
        m.d.sync += [self.retire.eq(retire), self.read_fault.eq(read_fault),
                     self.write_fault.eq(write_fault)]
        aw = self._addr_width

        read_info = data.StructLayout({"channel": chan_shape, "src": unsigned(aw),
                                       "fixed": unsigned(1)})
        write_info = data.StructLayout({"channel": chan_shape, "dst": unsigned(aw),
                                        "beats": unsigned(BEATS_WIDTH), "fixed": unsigned(1)})
        resp_info = data.StructLayout({"channel": chan_shape, "dst": unsigned(aw),
                                       "beats": unsigned(BEATS_WIDTH)})
        # The index of a burst's last beat, not its length: no subtraction on the W path.
        beat_plan = data.StructLayout({"last": unsigned(BEATS_WIDTH - 1), "drop": unsigned(1)})

        # A buffered FIFO of depth n + 1 keeps n entries in memory and one in its output
        # register: with n a power of two its pointers wrap for free.
        m.submodules.data_fifo = data_fifo = SyncFIFOBuffered(
            width=self._data_width, depth=self._fifo_depth + 1)
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
        free_beats = Signal(range(self._fifo_depth + 1), init=self._fifo_depth)
        reserving = Signal(BEATS_WIDTH)     # room taken by the burst issued last cycle
        burst = self.bursts.payload.burst
        cmd = self.read.cmd
        take = Signal()
        m.d.comb += [
            # Room for a burst of the longest kind, a compare against a constant: short.
            cmd.valid.eq(self.bursts.valid & read_queue.w_rdy & write_queue.w_rdy &
                         (reserving == 0) & (free_beats >= self._max_burst)),
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

        # --- Write issue: once a burst is wholly read, announce it (or drop it).
        wcmd = self.write.cmd
        entry = write_info(write_queue.r_data)
        drop = read_done.r_data | self.discard.bit_select(entry.channel, 1)
        start = Signal()
        m.d.comb += start.eq(write_queue.r_rdy & read_done.r_rdy & (~wcmd.valid | wcmd.ready) &
                             beat_plans.w_rdy & resp_queue.w_rdy &
                             # A dropped burst retires now: not in the cycle a B retires one.
                             ~(drop & self.write.b.valid))
        plan_in = beat_plan(beat_plans.w_data)
        resp_in = resp_info(resp_queue.w_data)
        m.d.comb += [
            write_queue.r_en.eq(start), read_done.r_en.eq(start), beat_plans.w_en.eq(start),
            plan_in.last.eq(entry.beats - 1), plan_in.drop.eq(drop),
            resp_in.channel.eq(entry.channel), resp_in.dst.eq(entry.dst),
            resp_in.beats.eq(entry.beats),
            resp_queue.w_en.eq(start & ~drop),
        ]
        with m.If(wcmd.ready):
            m.d.sync += wcmd.valid.eq(0)
        with m.If(start & ~drop):
            m.d.sync += [wcmd.valid.eq(1), wcmd.payload.addr.eq(entry.dst),
                         wcmd.payload.beats.eq(entry.beats), wcmd.payload.fixed.eq(entry.fixed)]

        # --- Write data: stream each planned burst's beats out of the FIFO (or drop them),
        # through an output register: W does not start at the block RAM's slow output.
        w = self.write.w
        plan = beat_plan(beat_plans.r_data)
        w_index = Signal(BEATS_WIDTH)
        w_last = w_index == plan.last
        beat_ready = beat_plans.r_rdy & data_fifo.r_rdy
        send = beat_ready & ~plan.drop & (~w.valid | w.ready)
        pop = send | (beat_ready & plan.drop)
        m.d.comb += data_fifo.r_en.eq(pop)
        with m.If(w.ready):
            m.d.sync += w.valid.eq(0)
        with m.If(send):
            m.d.sync += [w.valid.eq(1), w.payload.data.eq(data_fifo.r_data),
                         w.payload.strb.eq(-1), w.payload.last.eq(w_last)]
        with m.If(pop):
            m.d.sync += w_index.eq(Mux(w_last, 0, w_index + 1))
            m.d.comb += beat_plans.r_en.eq(w_last)

        # The room a burst takes is counted in the cycle after it is issued, off the path
        # of the issue decision; no burst is issued in that cycle (the arbiter, refilling
        # from empty, offers none then anyway).
        m.d.sync += [reserving.eq(Mux(take, burst.beats, 0)),
                     free_beats.eq(free_beats - reserving + pop)]

        # --- Write responses: retire the burst; a failed write reports the burst's address.
        b = self.write.b
        resp = resp_info(resp_queue.r_data)
        m.d.comb += [b.ready.eq(resp_queue.r_rdy), resp_queue.r_en.eq(b.valid & b.ready)]
        with m.If(b.valid & b.ready):
            m.d.comb += [
                retire.valid.eq(1), retire.channel.eq(resp.channel),
                retire.beats.eq(resp.beats),
            ]
            with m.If(b.payload.err):
                m.d.comb += [write_fault.valid.eq(1),
                             write_fault.channel.eq(resp.channel),
                             write_fault.addr.eq(resp.dst)]
        with m.Elif(start & drop):
            m.d.comb += [retire.valid.eq(1), retire.channel.eq(entry.channel)]
        return m
