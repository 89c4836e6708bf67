"""Scatter-gather for one channel: walking a chain of descriptors (ABI §3)."""

from amaranth.hdl import Cat, Mux, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.memory import Memory

from ..descriptor import Descriptor
from ..registers import XFER_FIELDS, AddressMode, ErrorCode
from .descriptors import FetchPlan


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

    The fetched beats come from the descriptor unit's flip-flops, a cycle after the bus, the
    transfer fields first (see FetchPlan). To launch a descriptor no later for it, a
    descriptor whose transfer fields are in (with the beat carrying CTRL) is loaded into the
    registers at once when the planner is free, and launched a cycle after they show it,
    before its verdict (the last beat, STATUS): the planner offers no burst until the
    verdict says it may run, and drops the transfer if it may not.

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

        # -- Fetching: one request at a time; `fetching` until its last beat comes back.
        self._fetching = fetching = Signal()
        self._fetch_addr = fetch_addr = Signal(aw, reset_less=True)
        # A fetch is asked for with a pulse on `fetch_now` (START, a dispatch, a stale
        # fetch again), which the descriptor unit always takes; the address is held in
        # `fetch_addr` until the fetch ends (the unit's command shows it from there). It is
        # loaded through another strobe: DESC when starting (not yet BUSY), the NEXT kept
        # when dispatching; a stale fetch keeps it. Its multiplexer is then a LUT of
        # flip-flops, apart from the decisions.
        m.d.comb += channel.fetch_addr.eq(fetch_addr)
        self._fetch_now = Signal()
        self._fetch_load = fetch_load = Signal()
        first = channel._address("DESC_LO", "DESC_HI")

        # -- The prefetched descriptor: the fields a channel needs, kept as their beats pass
        # (at the same bits as in the descriptor; the others stay 0), and what is judged of
        # them before it runs.
        self._next = nxt = Signal(Descriptor, reset_less=True)
        with m.If(fetch_load):
            m.d.sync += fetch_addr.eq(Mux(self._regs["STATUS", "BUSY"], nxt.next, first))
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
        # The beats come in the order of the plan: the transfer fields (complete with the
        # beat with CTRL), then NEXT, then STATUS, last.
        plan = FetchPlan(dw)
        arrival = {k: plan.order.index(k) for k in plan.order}
        assert arrival[status_done // dw] == plan.beats - 1
        # `arriving`: the fields as they are once this cycle's beat is kept, for a load in
        # the cycle the beat with CTRL arrives (without a bus error: with one, no load, and
        # the verdict fails it), and for the verdict's judgement of the beat before the
        # last (below). Only those two beats are taken from the bus beat as it comes, each
        # picked by a flip-flop of the unit.
        self._fields_in = fields_in = beat.ctrl_in
        # (On a 128-bit bus CTRL comes in the beat before the last: `fields_in` picks it for
        # both, which differs from `take & penultimate` only on a bus error, which fails
        # the verdict anyway.)
        picked = {plan.beats - 2: take & beat.penultimate, plan.ctrl_arrival: fields_in}
        self._arriving = arriving = Signal(Descriptor)
        m.d.comb += arriving.eq(nxt)
        for offset, width in kept:
            for k, beat_bits, bits in _beat_slices(offset, width, dw):
                field = nxt.as_value()[offset:offset + width][bits]
                with m.If(take & (beat.index == arrival[k])):
                    m.d.sync += field.eq(beat.data[beat_bits])
                if arrival[k] in picked:
                    m.d.comb += arriving.as_value()[offset:offset + width][bits].eq(
                        Mux(picked[arrival[k]], beat.data[beat_bits], field))
        # Sticky over a fetch's beats, restarted by its first: a bus error, and address bits
        # the bus cannot carry (refused, never dropped): on a 32-bit build the high words of
        # NEXT, SRC and DST, which the beats flag when they are not 0.
        self._read_err = read_err = Signal()
        first_beat = take & (beat.index == 0)
        read_err_now = (read_err & ~first_beat) | (take & beat.err)
        m.d.sync += read_err.eq(read_err_now)
        beyond = {name: 0 for name in ("next", "src", "dst")}   # as once this beat is seen
        if aw == 32:
            for name in beyond:
                flag = Signal(name=f"beyond_{name}")
                high = layout[name].offset + 32
                hit = take & (beat.index == arrival[high // dw]) & \
                    beat.nonzero[high % dw // 32]
                with m.If(first_beat):
                    m.d.sync += flag.eq(0)
                with m.If(hit):
                    m.d.sync += flag.eq(1)
                beyond[name] = flag | hit
        # Judged for the verdict a cycle ahead, from the fields as they are once the beat
        # before the last is kept (the last one it needs): a misaligned NEXT of a
        # descriptor that is not the last, address bits beyond the address width.
        refused, refused_next = Signal(), Signal()
        m.d.comb += refused_next.eq(
            (~arriving.ctrl.last & ((arriving.next[:6] != 0) | beyond["next"])) |
            beyond["src"] | beyond["dst"])
        m.d.sync += refused.eq(refused_next)
        # The verdict, as the last beat arrives: all it judges came in earlier beats but
        # STATUS.DONE, which is in the last one and is read from it.
        self._next_err = next_err = Signal(ErrorCode)
        self._next_ok = next_ok = Signal()      # next_valid with next_err == NONE, beside it
        # What it is next (set through this, combinationally): the dispatch registers it
        # again with the planner being free, for the registers' load enable.
        self._next_ok_d = next_ok_d = Signal()
        m.d.comb += next_ok_d.eq(next_ok)
        m.d.sync += next_ok.eq(next_ok_d)
        self._judged = judged = Signal(ErrorCode)
        not_owned = beat.data[status_done % dw]
        m.d.comb += judged.eq(
            Mux(read_err | beat.err, ErrorCode.DESC_READ_ERROR,
                Mux(not_owned, ErrorCode.NOT_OWNED,
                    Mux(refused, ErrorCode.BAD_DESCRIPTOR, ErrorCode.NONE))))
        # Whether it may run, flat (not through the code): it decides a dispatch.
        self._judged_ok = judged_ok = ~read_err & ~beat.err & ~not_owned & ~refused
        # A ring shorter than the descriptors in flight comes round to one not yet written
        # back: what was fetched is stale. Fetch it again once those in flight are done.
        stale = Signal()
        self._stale = stale
        self._refetch = refetch = Signal()
        # What the verdict takes from before the last beat, each in one flip-flop beside
        # `stale`, `read_err` and `refused` (set from what sets those): stale and not
        # failed; neither stale nor failed nor refused. With the unit's flags of the last
        # beat, the verdict and whether it passes are a LUT each.
        only_stale = Signal()
        passed = Signal()
        # The verdict of the descriptor loaded early is taken by the dispatch (`run`).
        self._awaiting = awaiting = Signal()
        self._verdict = verdict = beat.ends & ~(only_stale & ~beat.err)
        self._verdict_ok = beat.ends_owned & passed     # verdict & judged_ok
        with m.If(beat.ends):
            # (A stale fetch stays `fetching` until made again, see _dispatch.)
            with m.If(~verdict):
                m.d.sync += refetch.eq(1)
            with m.Else():
                m.d.sync += fetching.eq(0)
                with m.If(~awaiting):
                    m.d.sync += [next_valid.eq(1), next_err.eq(judged)]
                    m.d.comb += next_ok_d.eq(judged_ok)

        # -- Descriptors dispatched and not yet written back, oldest first; `ended` of them
        # have had their final burst retire, so their writes are all acknowledged. Their
        # addresses are also kept in registers, to tell a stale fetch: some of their bits
        # only, enough to tell nearby descriptors apart. Two that share them make a fetch
        # look stale when it is not, which costs a fetch again, never a wrong descriptor.
        self._entry = entry = data.StructLayout({
            "addr": unsigned(aw), "irq": unsigned(1), "last": unsigned(1),
            "src_stream": unsigned(1)})
        # Emptied when a run starts or halts, a cycle later: the reset of the queues and
        # counters comes from a flip-flop, not from the run's state. Nothing goes in or out
        # in that cycle (no fetch has returned yet, or nothing is left in flight).
        self._clear = clear = Signal()
        cleared = Signal()
        m.d.sync += cleared.eq(clear)
        # The queue, in distributed memory with pointers of its own, not a FIFO with a
        # level: it is never pushed full (`queue_room`) nor popped empty (a write-back is
        # asked for only for a descriptor in it), so a push and a pop are taken as they
        # come, and the pointers' and the memory's enables meet no compare of a level.
        # `held` says which places are in the queue.
        self._push, self._popped = push, pop = Signal(), Signal()
        self._pushed = pushed = Signal(entry)
        tail = Signal(range(COMPLETIONS))
        oldest = Signal(range(COMPLETIONS))
        held = Signal(COMPLETIONS)
        m.submodules.completions = queue = Memory(shape=entry.size, depth=COMPLETIONS,
                                                  init=[])
        queue_w, queue_r = queue.write_port(), queue.read_port(domain="comb")
        m.d.comb += [queue_w.addr.eq(tail), queue_w.data.eq(pushed), queue_w.en.eq(push),
                     queue_r.addr.eq(oldest)]
        with m.If(push):
            m.d.sync += tail.eq(tail + 1)
        with m.If(pop):
            m.d.sync += oldest.eq(oldest + 1)
        m.d.sync += held.eq((held | Mux(push, 1 << tail, 0)) & ~Mux(pop, 1 << oldest, 0))
        with m.If(cleared):
            m.d.sync += [held.eq(0), tail.eq(0), oldest.eq(0)]
        self._queued = held.any()
        # Whether it takes another, registered from what goes in and out: it is full next
        # when it is full or one short and takes one, and none leaves.
        one_short = Signal()
        m.d.comb += one_short.eq(sum(held[i] for i in range(COMPLETIONS)) == COMPLETIONS - 1)
        self._queue_room = queue_room = Signal(init=1)
        m.d.sync += queue_room.eq(cleared | pop | (queue_room & ~(one_short & push)))
        self._ended = ended = Signal(range(COMPLETIONS + 1))
        # Once halting, descriptors ending are not complete (their data may have been dropped):
        # only those that ended before are still written back. Registered with its result,
        # a cycle after the retire: the mover's events and faults stay off the queue logic.
        self._clean_end = clean_end = Signal()
        m.d.sync += clean_end.eq(channel.retire_valid & channel.retire_end & ~halting &
                                 ~channel.fault_valid)
        m.d.sync += ended.eq(ended + clean_end - pop)
        # The oldest descriptor, from a flip-flop (not through the queue's read port): it
        # stays put from a push or a pop until its write-back is asked for, two cycles later.
        self._head = head = Signal(entry, reset_less=True)
        m.d.sync += head.eq(queue_r.data)
        self.head_addr = head.addr
        # What each ended descriptor did, in order: the bytes its bursts wrote (fewer than
        # LEN when a stream source's packet ended first) and whether that ended it.
        self._result = result = data.StructLayout({"bytes": unsigned(32), "eop": unsigned(1)})
        # Beside the queue, read at its head (popped with it); written at a pointer of its
        # own, as descriptors end (never more than are in the queue).
        m.submodules.results = results = Memory(shape=result.size, depth=COMPLETIONS, init=[])
        results_w, results_r = results.write_port(), results.read_port(domain="comb")
        ending = Signal(range(COMPLETIONS))
        with m.If(clean_end):
            m.d.sync += ending.eq(ending + 1)
        with m.If(cleared):
            m.d.sync += ending.eq(0)
        # The bytes written by the bursts of the descriptor retiring: its total stays there
        # in the cycle after its final burst, when the queue takes it with `clean_end`.
        counted = Signal(32)
        restart = Signal()
        ended_eop = Signal(reset_less=True)
        m.d.sync += [
            restart.eq(channel.retire_valid & channel.retire_end),
            counted.eq(Mux(restart, 0, counted) +
                       Mux(channel.retire_valid, channel.retire_bytes, 0)),
            ended_eop.eq(channel.retire_eop),
        ]
        with m.If(cleared):
            m.d.sync += counted.eq(0)
        ended_result = result(results_w.data)
        m.d.comb += [results_w.addr.eq(ending), results_w.en.eq(clean_end),
                     ended_result.bytes.eq(counted), ended_result.eop.eq(ended_eop),
                     results_r.addr.eq(oldest)]
        done = result(results_r.data)
        self._head_eop = done.eop & head.src_stream
        self._head_bytes = done.bytes
        # The write-back asked for is the oldest descriptor's, which stays put until then.
        wb = channel.writeback.payload
        m.d.comb += [wb.addr.eq(head.addr), wb.words.status.done.eq(1),
                     wb.words.status.eop.eq(self._head_eop), wb.words.bytes.eq(done.bytes)]
        tag = slice(6, min(aw, 6 + STALE_TAG_BITS))            # above the 64-byte alignment
        in_flight = [Signal(tag.stop - tag.start, name=f"in_flight{i}", reset_less=True)
                     for i in range(COMPLETIONS)]
        with m.If(push):                     # (at the queue's places; `held`: which)
            for i, reg in enumerate(in_flight):
                with m.If(tail == i):
                    m.d.sync += reg.eq(pushed.addr[tag])
        # Registered twice (the compares, then their OR: both stay off the path of the
        # fetched event): two cycles old, it is never behind on a push, which comes with
        # the fetch request, at least three cycles before the fetch's beat with CTRL is
        # seen (AR, a beat, the unit's register; and a beat before CTRL's); behind on a
        # pop, it costs one more fetch. A prefetch asked for at a verdict (`prefetch`)
        # comes a cycle before its descriptor's push: that descriptor (DESC) is compared
        # too in the cycle before its place in the queue is (`current_live`).
        self._prefetch = Signal()
        match = Signal(COMPLETIONS + 1)
        prefetched = Signal(2)                  # `prefetch` one and two cycles ago
        m.d.sync += [
            match.eq(Cat(*(reg == fetch_addr[tag] for reg in in_flight),
                         channel._address("DESC_LO", "DESC_HI")[tag] == fetch_addr[tag])),
            prefetched.eq(Cat(self._prefetch, prefetched[0])),
        ]
        current_live = prefetched[1]
        stale_now = (Cat(held, current_live) & match).any()
        m.d.sync += [stale.eq(stale_now), only_stale.eq(stale_now & ~read_err_now),
                     passed.eq(~stale_now & ~read_err_now & ~refused_next)]
        # Neither stale nor failed so far, for a load as the transfer fields come in (with
        # `read_err`, from the beats before): the dispatch registers it with the planner
        # being free, one flip-flop on the registers' load enable.
        self._clean_now = ~stale & ~read_err_now
        self._wb_busy = Signal()             # a write-back asked for or under way
        # (written_err comes qualified, from a flip-flop of its own: see top.py.)
        self.write_failed = channel.written_err

        # A descriptor that cannot run halts the channel once the ones before it completed.
        self._desc_faulted = Signal()
        self._desc_fault = Signal(ErrorCode, reset_less=True)   # its code and address
        self._desc_fault_addr = Signal(aw, reset_less=True)
        # DESC judged in the cycle before START, like the transfer checks: the compare
        # stays off the START path into the queues' resets.
        self._first_misaligned = Signal()
        first_misaligned = channel._address("DESC_LO", "DESC_HI")[:6] != 0
        m.d.sync += self._first_misaligned.eq(first_misaligned)
        # Beside it, with the channel idle (see Channel's `was_idle`): a START with SG then
        # fetches at once, the request (into the unit's grant) a LUT of flip-flops.
        self._may_begin = Signal()
        m.d.sync += self._may_begin.eq(~regs["STATUS", "BUSY"] & ~first_misaligned)
        # Nothing of the run left anywhere: no burst, no fetch, no write-back.
        self._quiet = drained & ~fetching & ~self._wb_busy
        self._dispatch(m)

    def _dispatch(self, m):
        """Load the next descriptor into the transfer registers (`loaded`), let the checks
        and the planner see them a cycle later, as after a register write (`checked`), then
        plan it. A descriptor is loaded when the planner is free: once judged (`next_valid`),
        or as its transfer fields are in (`fields_in`) if nothing says yet that it cannot
        run; then it waits in `loaded` for its verdict, launched meanwhile if plain (`go`,
        the planner's first burst held back by `wait`).

        Outside the channel's state machine, so that its decisions do not wait on the
        state; nothing here acts outside a run: beats come only for a fetch, which a run
        waits for before it ends; no descriptor is loaded or checked when it ends, nor
        waits to be fetched again (that happens as soon as the queue is empty); and a
        judged one it leaves is dropped when halting, or kept from loading until the next
        START by STOP or a descriptor fault.
        """
        channel, regs = self._channel, self._regs
        desc_fault, desc_faulted = self._desc_fault, self._desc_faulted
        halting, awaiting = self._halting, self._awaiting
        self._loaded = loaded = Signal()
        self._checked = checked = Signal()
        # `checked` and not LAST, beside it: a dispatch that prefetches. The fetch request
        # (into the unit's grant, registered there) sees one flip-flop for it.
        checked_more = Signal()
        fetch_go = Signal()                 # a prefetch, or a stale fetch again, asked for
        m.d.sync += fetch_go.eq(0)
        after_handover = Signal()           # a prefetch asked for once a burst is handed over
        bursts = channel.planner.bursts
        handed = bursts.valid & bursts.ready
        # Whether a descriptor may be loaded: registered (but for halting), so that the
        # registers' wide load enable sees one flip-flop for it. A cycle late for the
        # planner and the queue coming free; never late to stop a load: a load, STOP and
        # what makes a descriptor fault are seen as they come. Registered twice more, with
        # what else a load needs (the same flip-flops' values ANDed, a cycle ahead): `armed`
        # with the fetch clean so far, `go_late` with a judged descriptor that may run. The
        # load enable is then a LUT of flip-flops: ctrl_in & armed | go_late, but halting.
        free, free_now = Signal(), Signal()
        armed, go_late = Signal(), Signal()
        may_load = free & ~halting
        late = self._next_valid & may_load
        early = self._fields_in & armed & ~halting
        with m.If(late):
            m.d.sync += self._next_valid.eq(0)
            m.d.comb += self._next_ok_d.eq(0)
            with m.If(~self._next_ok):
                m.d.sync += desc_faulted.eq(1)
            with m.Else():
                m.d.sync += loaded.eq(1)
        with m.If(early):
            m.d.sync += [loaded.eq(1), awaiting.eq(1)]
        # (A judged descriptor left from the last run is kept by STOP or a fault as the next
        # starts, and cleared then, `next_ok` too: see begin.)
        m.d.comb += free_now.eq(channel.planner_free & self._queue_room & ~loaded & ~checked &
                                ~self._stop_pending & ~regs["CTRL", "STOP"] & ~desc_faulted &
                                ~(free & (self._next_valid | early)))
        m.d.sync += [free.eq(free_now), armed.eq(free_now & self._clean_now),
                     go_late.eq(free_now & self._next_ok_d)]
        # Loaded only in that cycle: the register of a field loads over software writes.
        # (`early` or a late load, as a kept net of its own from those four flip-flops:
        # without it the mapper spread them over two LUT levels in front of each register's
        # enable, 8.2 ns on the 85F.)
        real_load = Signal(attrs={"keep": 1})
        m.d.comb += real_load.eq(early | (go_late & ~halting))
        # Launched a cycle after the registers show it (as after a register write: the
        # checks and the planner see it then), whether judged yet or not: the planner
        # holds its first burst back until the verdict (`wait`), and drops the transfer
        # if the descriptor cannot run (a fault aborts it, see Channel). So a descriptor
        # loaded early, as its transfer fields come, launches as its verdict does.
        fresh = Signal()                    # the registers show it first
        go_due = Signal()
        m.d.sync += [fresh.eq(real_load), go_due.eq(fresh)]
        self.go = go_due & ~desc_faulted & ~halting
        self.wait = awaiting & ~self._verdict_ok
        ch, arriving = self._channel, self._arriving
        values = {("LEN", "VALUE"): arriving.len}
        for lo, hi, value in (("SRC_LO", "SRC_HI", arriving.src),
                              ("DST_LO", "DST_HI", arriving.dst),
                              ("DESC_LO", "DESC_HI", self._fetch_addr)):
            values[lo, "VALUE"], values[hi, "VALUE"] = value[:32], value[32:64]
        for f in XFER_FIELDS:
            values["XFER", f.name] = getattr(arriving.ctrl, f.name.lower())
        for key in ch._loaded:
            enable, load_value = regs.load_of(*key)
            m.d.comb += [enable.eq(real_load), load_value.eq(values[key])]

        # Loaded early: wait for the verdict; a descriptor that cannot run is dropped.
        # One that passes it while others are in flight (and is not LAST) asks for the next
        # at once (`prefetch`): launched before its verdict, its first read would otherwise
        # go before that fetch, and a chain of short descriptors would wait for each fetch
        # behind the data before it. (With none in flight its read goes first: nothing
        # waits behind it, and a chain's first descriptor starts sooner.) Never past a
        # descriptor the transfer checks refuse. A flip-flop says whether it may, a cycle
        # ahead, from the registers: not in the cycle they show it (a verdict then, on a
        # 128-bit bus, leaves the prefetch to `checked`), so `prefetch` is a LUT of
        # flip-flops.
        verdict_ok = self._verdict_ok
        may_prefetch = Signal()
        m.d.sync += may_prefetch.eq(~regs["XFER", "LAST"] & ~channel._refused &
                                    self._queued & ~real_load)
        prefetch = self._prefetch
        m.d.comb += prefetch.eq(awaiting & verdict_ok & may_prefetch)
        with m.If(loaded & (~awaiting | verdict_ok)):
            m.d.sync += [loaded.eq(0), checked.eq(1), awaiting.eq(0),
                         checked_more.eq(~regs["XFER", "LAST"] & ~prefetch)]
        with m.If(loaded & awaiting & self._verdict & ~verdict_ok):
            m.d.sync += [loaded.eq(0), awaiting.eq(0), desc_faulted.eq(1)]

        current = ch._address("DESC_LO", "DESC_HI")
        # The fault's code and address follow the descriptor being judged until a fault
        # freezes them (no dispatch after it): the dispatch decision is not their enable.
        # The address is the one fetched last, which no fetch replaces before a dispatch.
        with m.If(~desc_faulted):
            with m.If(checked):
                m.d.sync += [desc_fault.eq(ErrorCode.BAD_DESCRIPTOR),
                             self._desc_fault_addr.eq(current)]
            with m.Else():
                m.d.sync += [desc_fault.eq(Mux(awaiting, self._judged, self._next_err)),
                             self._desc_fault_addr.eq(self._fetch_addr)]
        # What is pushed, always there (taken only with `push`): the memory's data sees the
        # registers, not the decisions.
        pushed = self._pushed
        m.d.comb += [pushed.addr.eq(current), pushed.irq.eq(regs["XFER", "IRQ"]),
                     pushed.last.eq(regs["XFER", "LAST"]),
                     pushed.src_stream.eq(regs["XFER", "SRC_MODE"] == AddressMode.STREAM)]
        with m.If(checked):
            m.d.sync += [checked.eq(0), checked_more.eq(0)]
            with m.If(self._bad):
                m.d.sync += desc_faulted.eq(1)
            with m.Elif(~halting):
                m.d.comb += self._push.eq(1)       # (launched: the channel's `trigger`)
                # Prefetch as it is planned, never past LAST. (The next descriptor's fields
                # replace this one's in `nxt` from here on.)
                # Asked for a cycle later, from a flip-flop (`fetch_go`): off the path of
                # the unit's grant; the fetch is ahead of need anyway. With none in flight
                # and a source in memory, only once the planner hands over a burst (now at
                # the earliest; else `after_handover`): the descriptor's first read goes
                # before the fetch's bursts, which the read port keeps in a row. (A stream
                # source reads nothing, and its first burst waits for the stream.)
                with m.If(checked_more):
                    with m.If(self._queued | handed | pushed.src_stream):
                        m.d.sync += fetch_go.eq(1)
                    with m.Else():
                        m.d.sync += after_handover.eq(1)
        with m.If(after_handover & handed):
            m.d.sync += [after_handover.eq(0), fetch_go.eq(1)]
        # Its address is loaded now, even for a descriptor refused or halting (no fetch
        # is under way then, and none is made: the next START loads DESC): the enable of
        # `fetch_addr` sees one flip-flop, not the checks.
        with m.If(checked_more | prefetch):
            m.d.comb += self._fetch_load.eq(1)

        # A stale fetch is made again once every descriptor in flight is written back, a
        # cycle later, from `fetch_go` (it stays `fetching` meanwhile: the run does not
        # settle in between).
        with m.If(self._refetch & ~self._queued & ~halting):
            m.d.sync += [self._refetch.eq(0), fetch_go.eq(1)]
        # Not gated by halting (it comes from flip-flops, into the unit's grant): a fetch
        # asked for as the run starts halting is made, and the halt waits for it (`quiet`);
        # what it brings is dropped with the run.
        with m.If(fetch_go | prefetch):
            m.d.comb += self._fetch_now.eq(1)

        # Halting: a descriptor judged, or loaded and not yet launched, is dropped with the
        # run (the next START must not launch it, and none is loaded once it is over), and
        # so is a fetch to make again.
        with m.If(halting):
            m.d.sync += [self._next_valid.eq(0), loaded.eq(0), checked.eq(0),
                         checked_more.eq(0), awaiting.eq(0), self._refetch.eq(0),
                         after_handover.eq(0)]
            m.d.comb += self._next_ok_d.eq(0)
            # A stale fetch not yet made again is not under way (it stays `fetching`).
            with m.If(self._refetch):
                m.d.sync += self._fetching.eq(0)

        # (After the rest: a request wins over what else sets this.)
        m.d.comb += channel.fetch_now.eq(self._fetch_now)
        with m.If(self._fetch_now):
            m.d.sync += self._fetching.eq(1)

    def begin(self, m, idle_start, starting):
        """START with CTRL.SG and DESC 64-byte aligned (``starting``, outside the channel's
        state machine, which goes to SG): fetch the first descriptor. (DESC is taken into
        `fetch_addr` on any START while idle: it is used only once asked for.)"""
        with m.If(idle_start):
            m.d.comb += self._fetch_load.eq(1)
            # On any START, also in register mode: a descriptor judged and left by STOP or
            # a fault is dropped (kept, it would load), and a fault is cleared (it aborts
            # the planner, see Channel). (`next_ok` cleared in the register: `go_late` is
            # not made while idle.)
            m.d.sync += [self._next_valid.eq(0), self._next_ok.eq(0),
                         self._desc_faulted.eq(0)]
        with m.If(starting):
            m.d.comb += self._fetch_now.eq(1)
            m.d.sync += [self._regs["STATUS", "BUSY"].eq(1),
                         self._ended.eq(0), self._wb_busy.eq(0), self._refetch.eq(0)]
            m.d.comb += self._clear.eq(1)

    def complete(self, m, *, raise_done):
        """A write-back acknowledged without error: the oldest descriptor leaves the queues.
        Outside the channel's state machine (a write-back is asked for and answered only
        in SG): the queues' enables do not wait on the state's decode."""
        channel = self._channel
        self.written_ok = channel.written_valid & ~channel.written_err
        with m.If(self.written_ok):
            m.d.comb += [self._popped.eq(1),
                         raise_done.eq(self._head.irq)]

    def run(self, m, *, byte_count, finish, halt_on_error, status):
        channel, regs = self._channel, self._regs
        head = self._head
        desc_fault, desc_faulted = self._desc_fault, self._desc_faulted
        halting = self._halting

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
                # Now the descriptor is complete, as the driver will see it (it leaves the
                # queues: see complete).
                # BYTES and EOP: those of the last descriptor completed (no add follows:
                # BYTES adds only in register mode, after a START clears it).
                m.d.sync += byte_count.load(self._head_bytes)    # (COMPLETED: Channel)
                if self._streams:
                    m.d.sync += regs["STATUS", "EOP"].eq(self._head_eop)
                with m.If(head.last & ~halting):
                    finish()
                    m.next = "IDLE"

        # --- Halting: after an error or ABORT once nothing is left in flight and the
        # descriptors complete before it are written back; after STOP or a descriptor that
        # cannot run once every descriptor dispatched is complete.
        # Both are registered, so the halt comes from flip-flops on its way into ERR_CODE,
        # ERR_ADDR and the queues' reset, not from the whole run's state. Once halting
        # nothing starts, so what was quiet stays so. (A run's first cycle, with `settled`
        # left from the last, has its first fetch under way and STOP and faults cleared.)
        # `settled` takes a second cycle to see whether a dispatch or a fetch started in the
        # first: neither can then (a fault or STOP stops dispatching; a stale fetch stays
        # `fetching` until made again; a prefetch is asked for while its descriptor is
        # dispatched or in the queue).
        dispatching = self._loaded | self._checked
        halted = Signal()
        m.d.sync += halted.eq(halting & self._quiet & (self._ended == 0) & ~self._clean_end)
        was_settled = Signal()
        settled = Signal()
        m.d.sync += [was_settled.eq(self._quiet & ~dispatching & ~self._queued),
                     settled.eq(was_settled & ~dispatching & ~self._fetching)]
        # A descriptor fault halts now (when not halting): for the channel's ERR_ADDR.
        self.fault_halt = settled & desc_faulted
        self.fault_halt_addr = self._desc_fault_addr
        self.fault_code = desc_fault
        with m.If(halting):
            with m.If(halted):
                halt_on_error()
                m.d.comb += self._clear.eq(1)
                m.next = "IDLE"
        with m.Elif(settled & desc_faulted):
            halt_on_error()
            # (ERR_CODE and ERR_ADDR: see Channel.)
            m.next = "IDLE"
        with m.Elif(settled & self._stop_pending):
            finish()
            m.next = "IDLE"
