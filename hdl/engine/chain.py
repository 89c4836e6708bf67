"""Scatter-gather for one channel: walking a chain of descriptors (ABI §3)."""

from amaranth.hdl import Cat, Mux, ResetInserter, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.fifo import SyncFIFO

from ..descriptor import Descriptor
from ..registers import XFER_FIELDS, AddressMode, ErrorCode
from .descriptors import FETCH_BYTES


__all__ = ["ChainWalker", "COMPLETIONS", "STALE_TAG_BITS"]

#: Descriptors of one channel moving data or waiting for their write-back: enough to keep
#: the bus busy with chains of small descriptors while earlier ones complete.
COMPLETIONS = 4
#: Address bits of the descriptors in flight compared with a fetched one's (see
#: ChainWalker): 8 tell apart descriptors within 16 KiB.
STALE_TAG_BITS = 8


def _beat_slices(offset, width, data_width):
    """Where the descriptor's bits ``[offset, offset + width)`` come in its fetch: for each
    beat, its index, the bits of the beat, and which of those bits they are."""
    for k in range(offset // data_width, (offset + width - 1) // data_width + 1):
        lo = max(offset, k * data_width)
        hi = min(offset + width, (k + 1) * data_width)
        yield k, slice(lo - k * data_width, hi - k * data_width), slice(lo - offset, hi - offset)


class ChainWalker:
    """The scatter-gather side of a channel: fetch, prefetch, dispatch and write-back.

    Its logic goes into the channel's module (it shares the channel's registers, planner,
    events and state machine): :meth:`begin` runs in the channel's IDLE state on START,
    :meth:`run` in its SG state, the rest always. See docs/architecture.md.

    Parameters
    ----------
    channel : Channel
    m : Module
        The channel's module.
    bad : Signal
        The channel's transfer check (of the registers as they were a cycle before).
    halting, stop_pending, drained : Signal
        From the channel: an error or ABORT is being handled; STOP was written; the planner
        is idle and none of its bursts is in flight.
    """

    def __init__(self, channel, m, *, bad, halting, stop_pending, drained):
        cfg, regs = channel._config, channel._regs
        self._channel, self._regs = channel, regs
        self._bad, self._halting, self._stop_pending = bad, halting, stop_pending
        self._streams = cfg.streams
        aw = cfg.addr_width

        # -- Fetching: one request at a time; `fetching` until its event comes back.
        self._fetching = fetching = Signal()
        self._fetch_addr = fetch_addr = Signal(aw, reset_less=True)
        fetch = channel.fetch
        m.d.comb += fetch.payload.addr.eq(fetch_addr)
        with m.If(fetch.ready):
            m.d.sync += fetch.valid.eq(0)

        # -- The prefetched descriptor: the fields a channel needs, kept as their beats pass
        # (at the same bits as in the descriptor; the others stay 0), and what is judged of
        # them before it runs.
        self._next = nxt = Signal(Descriptor, reset_less=True)
        self._next_addr = next_addr = Signal(aw, reset_less=True)
        self._next_valid = next_valid = Signal()
        beat, take = channel.fetched, channel.fetched_valid
        dw = len(beat.data)
        layout = data.Layout.cast(Descriptor)
        status_done = layout["status"].offset + \
            data.Layout.cast(layout["status"].shape)["done"].offset
        kept = [(layout[name].offset, min(aw, layout[name].width))
                for name in ("next", "src", "dst")]
        kept += [(layout["len"].offset, layout["len"].width),
                 (layout["ctrl"].offset, len(nxt.ctrl.as_value()))]
        for offset, width in kept:
            for k, beat_bits, bits in _beat_slices(offset, width, dw):
                with m.If(take & (beat.index == k)):
                    m.d.sync += nxt.as_value()[offset:offset + width][bits].eq(
                        beat.data[beat_bits])
        # Sticky over a fetch's beats (cleared when it is asked for): a bus error, and
        # address bits the bus cannot carry (refused, never dropped).
        read_err = Signal()
        beyond = {name: Signal(name=f"beyond_{name}") for name in ("next", "src", "dst")}
        with m.If(take & beat.err):
            m.d.sync += read_err.eq(1)
        if aw < 64:
            for name, flag in beyond.items():
                for k, beat_bits, _ in _beat_slices(layout[name].offset + aw, 64 - aw, dw):
                    with m.If(take & (beat.index == k) & beat.data[beat_bits].any()):
                        m.d.sync += flag.eq(1)
        self._clear_fetch = [read_err, *beyond.values()]
        follows = ~nxt.ctrl.last
        refused = (follows & ((nxt.next[:6] != 0) | beyond["next"])) | \
            beyond["src"] | beyond["dst"]
        # The verdict is registered as the last beat arrives, so no check sits on the path
        # of the dispatch, which loads the transfer registers. All it judges came in earlier
        # beats but STATUS.DONE, which is in the last one and is read from it.
        assert status_done // dw == -(-FETCH_BYTES * 8 // dw) - 1
        self._next_err = next_err = Signal(ErrorCode)
        self._next_ok = next_ok = Signal()      # next_valid with next_err == NONE, beside it
        judged = Mux(read_err | beat.err, ErrorCode.DESC_READ_ERROR,
                     Mux(beat.data[status_done % dw], ErrorCode.NOT_OWNED,
                         Mux(refused, ErrorCode.BAD_DESCRIPTOR, ErrorCode.NONE)))
        # A ring shorter than the descriptors in flight comes round to one not yet written
        # back: what was fetched is stale. Fetch it again once those in flight are done.
        stale = Signal()
        self._refetch = refetch = Signal()
        with m.If(take & beat.last):
            m.d.sync += fetching.eq(0)
            with m.If(stale & ~read_err & ~beat.err):
                m.d.sync += refetch.eq(1)
            with m.Else():
                m.d.sync += [next_addr.eq(fetch_addr), next_valid.eq(1), next_err.eq(judged),
                             next_ok.eq(judged == ErrorCode.NONE)]

        # -- Descriptors dispatched and not yet written back, oldest first; `ended` of them
        # have had their final burst retire, so their writes are all acknowledged. Their
        # addresses are also kept in registers, to tell a stale fetch: some of their bits
        # only, enough to tell nearby descriptors apart. Two that share them make a fetch
        # look stale when it is not, which costs a fetch again, never a wrong descriptor.
        self._entry = entry = data.StructLayout({
            "addr": unsigned(aw), "irq": unsigned(1), "last": unsigned(1),
            "src_stream": unsigned(1)})
        self._clear = clear = Signal()
        m.submodules.completions = queue = ResetInserter(clear)(
            SyncFIFO(width=entry.size, depth=COMPLETIONS))
        self._queue = queue
        # Whether it takes another, registered from its level and what goes in and out:
        # no compare on the dispatch path.
        self._queue_room = queue_room = Signal(init=1)
        m.d.sync += queue_room.eq(clear |
                                  (queue.level + queue.w_en - queue.r_en != COMPLETIONS))
        self._ended = ended = Signal(range(COMPLETIONS + 1))
        self._popped = popped = Signal()
        # Once halting, descriptors ending are not complete (their data may have been dropped):
        # only those that ended before are still written back.
        clean_end = channel.retire_valid & channel.retire_end & ~halting & ~channel.fault_valid
        m.d.sync += ended.eq(ended + clean_end - popped)
        head = entry(queue.r_data)
        self.head_addr = head.addr
        # What each ended descriptor did, in order: the bytes its bursts wrote (fewer than
        # LEN when a stream source's packet ended first) and whether that ended it.
        self._result = result = data.StructLayout({"bytes": unsigned(32), "eop": unsigned(1)})
        m.submodules.results = results = ResetInserter(clear)(
            SyncFIFO(width=result.size, depth=COMPLETIONS))
        self._results = results
        counted = Signal(32)            # by the bursts of the descriptor retiring
        with m.If(channel.retire_valid):
            m.d.sync += counted.eq(Mux(channel.retire_end, 0, counted + channel.retire_bytes))
        with m.If(clear):
            m.d.sync += counted.eq(0)
        ended_result = result(results.w_data)
        m.d.comb += [results.w_en.eq(clean_end),
                     ended_result.bytes.eq(counted + channel.retire_bytes),
                     ended_result.eop.eq(channel.retire_eop)]
        done = result(results.r_data)
        self._head_eop = done.eop & head.src_stream
        self._head_bytes = done.bytes
        # The write-back asked for is the oldest descriptor's, which stays put until then.
        wb = channel.writeback.payload
        m.d.comb += [wb.addr.eq(head.addr), wb.words.status.done.eq(1),
                     wb.words.status.eop.eq(self._head_eop), wb.words.bytes.eq(done.bytes)]
        tag = slice(6, min(aw, 6 + STALE_TAG_BITS))            # above the 64-byte alignment
        in_flight = [Signal(tag.stop - tag.start, name=f"in_flight{i}", reset_less=True)
                     for i in range(COMPLETIONS)]
        held = Signal(COMPLETIONS)           # which of them are in the queue
        tail = Signal(range(COMPLETIONS))
        head = Signal(range(COMPLETIONS))
        with m.If(queue.w_en):
            m.d.sync += tail.eq(tail + 1)
            for i, reg in enumerate(in_flight):
                with m.If(tail == i):
                    m.d.sync += reg.eq(entry(queue.w_data).addr[tag])
        with m.If(queue.r_en):
            m.d.sync += head.eq(head + 1)
        m.d.sync += held.eq((held | Mux(queue.w_en, 1 << tail, 0)) &
                            ~Mux(queue.r_en, 1 << head, 0))
        with m.If(clear):
            m.d.sync += [held.eq(0), tail.eq(0), head.eq(0)]
        # Registered (the compares stay off the path of the fetched event): one cycle old,
        # it is never behind on a push, which comes long before the fetch returns; behind
        # on a pop, it costs one more fetch.
        m.d.sync += stale.eq(Cat(held[i] & (reg == fetch_addr[tag])
                                 for i, reg in enumerate(in_flight)).any())
        self._wb_busy = Signal()             # a write-back asked for or under way
        self.write_failed = channel.written_valid & channel.written_err

        # A descriptor that cannot run halts the channel once the ones before it completed.
        self._desc_faulted = Signal()
        self._desc_fault = Signal(ErrorCode, reset_less=True)   # its code and address
        self._desc_fault_addr = Signal(aw, reset_less=True)
        # DESC judged in the cycle before START, like the transfer checks: the compare
        # stays off the START path into the queues' resets.
        self._first_misaligned = Signal()
        m.d.sync += self._first_misaligned.eq(
            channel._address("DESC_LO", "DESC_HI")[:6] != 0)
        # Nothing of the run left anywhere: no burst, no fetch, no write-back.
        self._quiet = drained & ~fetching & ~self._wb_busy

    def _request_fetch(self, m, addr):
        m.d.sync += [self._channel.fetch.valid.eq(1), self._fetch_addr.eq(addr),
                     self._fetching.eq(1), *(flag.eq(0) for flag in self._clear_fetch)]

    def begin(self, m, fail_now):
        """START with CTRL.SG: fetch the first descriptor (DESC, 64-byte aligned)."""
        first = self._channel._address("DESC_LO", "DESC_HI")
        with m.If(self._first_misaligned):
            fail_now(ErrorCode.BAD_DESCRIPTOR, first)
        with m.Else():
            self._request_fetch(m, first)
            m.d.sync += [self._regs["STATUS", "BUSY"].eq(1), self._next_valid.eq(0),
                         self._next_ok.eq(0),
                         self._ended.eq(0), self._wb_busy.eq(0), self._refetch.eq(0),
                         self._desc_faulted.eq(0)]
            m.d.comb += self._clear.eq(1)
            m.next = "SG"

    def run(self, m, *, completed, byte_count, raise_done, finish, halt_on_error, status,
            err_addr):
        channel, regs = self._channel, self._regs
        queue, head = self._queue, self._entry(self._queue.r_data)
        nxt, desc_fault, desc_faulted = self._next, self._desc_fault, self._desc_faulted
        halting = self._halting

        # --- Dispatch: load the next descriptor into the transfer registers, let the checks
        # and the planner see them a cycle later (as after a register write), then plan it.
        step = Signal(range(3))
        may_load = (channel.planner_free & self._queue_room & (step == 0) &
                    ~self._stop_pending & ~halting & ~desc_faulted)
        load = self._next_valid & may_load
        with m.If(load):
            m.d.sync += [self._next_valid.eq(0), self._next_ok.eq(0)]
            with m.If(~self._next_ok):
                m.d.sync += desc_faulted.eq(1)
            with m.Else():
                m.d.sync += step.eq(1)
                with m.If(~nxt.ctrl.last):
                    self._request_fetch(m, nxt.next)        # prefetch, never past LAST
        # Loaded only in that cycle: the register of a field loads over software writes.
        real_load = self._next_ok & may_load
        ch = self._channel
        values = {("LEN", "VALUE"): nxt.len}
        for lo, hi, value in (("SRC_LO", "SRC_HI", nxt.src), ("DST_LO", "DST_HI", nxt.dst),
                              ("DESC_LO", "DESC_HI", self._next_addr)):
            values[lo, "VALUE"], values[hi, "VALUE"] = value[:32], value[32:64]
        for f in XFER_FIELDS:
            values["XFER", f.name] = getattr(nxt.ctrl, f.name.lower())
        for key in ch._loaded:
            enable, load_value = regs.load_of(*key)
            m.d.comb += [enable.eq(real_load), load_value.eq(values[key])]

        current = ch._address("DESC_LO", "DESC_HI")
        # The fault's code and address follow the descriptor being judged until a fault
        # freezes them (no dispatch after it): the dispatch decision is not their enable.
        with m.If(~desc_faulted):
            with m.If(step == 2):
                m.d.sync += [desc_fault.eq(ErrorCode.BAD_DESCRIPTOR),
                             self._desc_fault_addr.eq(current)]
            with m.Else():
                m.d.sync += [desc_fault.eq(self._next_err),
                             self._desc_fault_addr.eq(self._next_addr)]
        with m.If(step == 1):
            m.d.sync += step.eq(2)
        with m.If(step == 2):
            m.d.sync += step.eq(0)
            with m.If(self._bad):
                m.d.sync += desc_faulted.eq(1)
            with m.Elif(~halting):
                pushed = self._entry(queue.w_data)
                channel.launch(m)
                m.d.comb += [
                    queue.w_en.eq(1),
                    pushed.addr.eq(current), pushed.irq.eq(regs["XFER", "IRQ"]),
                    pushed.last.eq(regs["XFER", "LAST"]),
                    pushed.src_stream.eq(regs["XFER", "SRC_MODE"] == AddressMode.STREAM),
                ]

        # A stale fetch is made again once every descriptor in flight is written back.
        with m.If(self._refetch & ~queue.r_rdy & ~halting):
            m.d.sync += self._refetch.eq(0)
            self._request_fetch(m, self._fetch_addr)

        # --- Write-back, in order, of each descriptor whose writes are all acknowledged.
        wb = channel.writeback
        with m.If(wb.ready):
            m.d.sync += wb.valid.eq(0)
        with m.If((self._ended != 0) & ~self._wb_busy):
            m.d.sync += [wb.valid.eq(1), self._wb_busy.eq(1)]
        with m.If(channel.written_valid):
            m.d.sync += self._wb_busy.eq(0)
            with m.If(channel.written_err):
                # None after it is written back: completions stay in order.
                m.d.sync += self._ended.eq(0)
            with m.Else():
                # Now the descriptor is complete, as the driver will see it.
                m.d.comb += [self._popped.eq(1), queue.r_en.eq(1), self._results.r_en.eq(1),
                             raise_done.eq(head.irq)]
                # BYTES and EOP: those of the last descriptor completed.
                m.d.sync += [completed.eq(completed + 1), byte_count.eq(self._head_bytes)]
                if self._streams:
                    m.d.sync += regs["STATUS", "EOP"].eq(self._head_eop)
                with m.If(head.last & ~halting):
                    finish()
                    m.next = "IDLE"

        # --- Halting: after an error or ABORT once nothing is left in flight and the
        # descriptors complete before it are written back; after STOP or a descriptor that
        # cannot run once every descriptor dispatched is complete.
        # Settled is registered, a cycle late, so the halt comes from flip-flops on its way
        # into ERR_CODE and ERR_ADDR, not from the whole run's state. Only a dispatch (`step`)
        # or a fetch can start in that cycle: both are looked at as they are now (a run's
        # first cycle, with `was_settled` left from the last, has its first fetch under way).
        was_settled = Signal()
        m.d.sync += was_settled.eq(self._quiet & (step == 0) & ~queue.r_rdy)
        settled = was_settled & (step == 0) & ~self._fetching
        with m.If(halting):
            with m.If(self._quiet & (self._ended == 0)):
                halt_on_error()
                m.d.comb += self._clear.eq(1)
                # A descriptor loaded but not yet launched is dropped with the run: the
                # next START must not launch it.
                m.d.sync += step.eq(0)
                m.next = "IDLE"
        with m.Elif(settled & desc_faulted):
            halt_on_error()
            m.d.sync += [status["ERR_CODE"].eq(desc_fault), err_addr.eq(self._desc_fault_addr)]
            m.next = "IDLE"
        with m.Elif(settled & self._stop_pending):
            finish()
            m.next = "IDLE"
