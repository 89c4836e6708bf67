"""One channel: register mode and scatter-gather control, completion, errors and interrupts
(ABI §2.2, §3)."""

from amaranth.hdl import Cat, Elaboratable, Module, Mux, ResetInserter, Signal, unsigned
from amaranth.lib import data, stream
from amaranth.lib.fifo import SyncFIFO

from ..descriptor import DESCRIPTOR_SIZE, Descriptor, Writeback
from ..registers import XFER_FIELDS, ErrorCode
from .planner import BurstPlanner


__all__ = ["Channel", "COMPLETIONS"]

# Addressing modes of XFER / descriptor CTRL.
MODE_FIXED = 1

#: Descriptors of one channel moving data or waiting for their write-back: enough to keep
#: the bus busy with chains of small descriptors while earlier ones complete.
COMPLETIONS = 4
#: Address bits of the descriptors in flight compared with a fetched one's (see
#: _ChainWalker): 8 tell apart descriptors within 16 KiB.
STALE_TAG_BITS = 8


class Channel(Elaboratable):
    """Control of one channel, in register mode or scatter-gather.

    A run starts on CTRL.START while idle. In register mode the transfer in the registers is
    checked (BAD_DESCRIPTOR if this build cannot do it) and handed to the channel's burst
    planner; it completes when the planner is idle and every burst it emitted has retired,
    that is when its last write is acknowledged, so DONE and the interrupt always mean the
    data is in memory. CYCLIC restarts the transfer (as the registers then hold it) until
    STOP. ABORT drops the bursts not yet emitted and halts once the others retired; a bus
    error does the same and makes the mover drop this channel's queued data.

    In scatter-gather the channel walks the chain from DESC: each descriptor is loaded into
    the transfer registers (so SRC, DST, LEN, XFER and DESC show the one in progress),
    checked like a register-mode transfer and planned; the next one is fetched meanwhile.
    When the final burst of a descriptor retires, its writes are all acknowledged (a
    channel's bursts retire in order), and its STATUS and BYTES are written back; only that
    write's response counts it in COMPLETED and raises its interrupt. A descriptor that
    cannot run (NOT_OWNED, BAD_DESCRIPTOR, DESC_READ_ERROR) halts the channel once the ones
    before it completed; STOP halts at a descriptor boundary.

    Parameters
    ----------
    config : Config
    regs : RegisterBlock
        This channel's register block.

    Members
    -------
    planner : BurstPlanner
        Its ``bursts`` stream goes to the arbiter.
    retire_valid, retire_beats, retire_end : Signal, in
        One of our bursts retired, with this many beats written (0 when dropped), and
        whether it was the final burst of its transfer.
    fault_valid, fault_code, fault_addr : Signal, in
        A bus error on one of our bursts: READ_ERROR or WRITE_ERROR, and its address.
    discard : Signal, out
        Ask the mover to drop this channel's bursts.
    irq : Signal, out
    fetch : stream of {addr}, out (scatter-gather builds)
        Fetch the descriptor at ``addr``.
    fetched_valid, fetched_err, fetched : in
        Our fetch finished: the descriptor, or a bus error.
    writeback : stream of {addr, words}, out
        Write ``words`` back to the descriptor at ``addr``.
    written_valid, written_err : in
        Our write-back was acknowledged, perhaps with an error.
    """

    def __init__(self, config, regs):
        self._config = config
        self._regs = regs
        self.planner = BurstPlanner(addr_width=config.addr_width, len_width=config.len_width,
                                    beat_shift=config.beat_shift, max_burst=config.max_burst)
        self.retire_valid = Signal()
        self.retire_beats = Signal(9)
        self.retire_end = Signal()
        self.fault_valid = Signal()
        self.fault_code = Signal(ErrorCode)
        self.fault_addr = Signal(config.addr_width)
        self.discard = Signal()
        self.irq = Signal()
        if config.sg:
            aw = config.addr_width
            self.fetch = stream.Signature(data.StructLayout({"addr": unsigned(aw)})).create()
            self.fetched_valid = Signal()
            self.fetched_err = Signal()
            self.fetched = Signal(Descriptor)
            self.writeback = stream.Signature(data.StructLayout({
                "addr": unsigned(aw), "words": Writeback})).create()
            self.written_valid = Signal()
            self.written_err = Signal()
            # The registers a descriptor is loaded into (asked for now: the register block
            # may be elaborated before the channel).
            self._loaded = [(name, "VALUE") for pair in (("SRC_LO", "SRC_HI"),
                                                         ("DST_LO", "DST_HI"),
                                                         ("DESC_LO", "DESC_HI"))
                            for name in self._address_halves(*pair)]
            self._loaded += [("LEN", "VALUE")] + [("XFER", f.name) for f in XFER_FIELDS]
            for key in self._loaded:
                regs.load_of(*key)

    def _address(self, lo, hi):
        regs = self._regs
        if self._config.addr_width == 32:
            return regs[lo, "VALUE"]      # the HI registers are not built
        return Cat(regs[lo, "VALUE"], regs[hi, "VALUE"])

    def _address_halves(self, lo, hi):
        return [lo] if self._config.addr_width == 32 else [lo, hi]

    def elaborate(self, platform):
        m = Module()
        cfg, regs = self._config, self._regs
        m.submodules.planner = planner = self.planner

        status = {name: regs["STATUS", name] for name in ("BUSY", "DONE", "ERROR", "ERR_CODE")}
        byte_count = regs["BYTES", "VALUE"]
        completed = regs["COMPLETED", "VALUE"]
        err_addr = Signal(cfg.addr_width)
        m.d.comb += [
            regs["STATUS", "EOP"].eq(0),   # no stream sources in this build
            regs["ERR_ADDR_LO", "VALUE"].eq(err_addr[:32]),
        ]
        if cfg.addr_width > 32:
            m.d.comb += regs["ERR_ADDR_HI", "VALUE"].eq(err_addr[32:])

        # --- Checking a transfer against what this build can do.
        src = self._address("SRC_LO", "SRC_HI")
        dst = self._address("DST_LO", "DST_HI")
        length = regs["LEN", "VALUE"]
        src_mode = regs["XFER", "SRC_MODE"]
        dst_mode = regs["XFER", "DST_MODE"]
        # Judged from the registers of the cycle before, like the planner sizes its first
        # burst: the wide compares stay off the path from START to the planner.
        bad = Signal()
        m.d.sync += bad.eq(
            (length == 0) |
            ((src | dst | length) & (cfg.beat_bytes - 1)).any() |   # unaligned: not built
            (src_mode > MODE_FIXED) | (dst_mode > MODE_FIXED) |    # streams: not built
            regs["XFER", "REQ"]                                    # req/ack: not built
        )

        # --- Interrupts: DONE (coalesced), CHAIN_END, ERROR.
        raise_done = Signal()
        raise_end = Signal()
        raise_error = Signal()
        m.submodules.coalescer = coalescer = _Coalescer(regs)
        m.d.comb += [
            coalescer.event.eq(raise_done), coalescer.flush.eq(raise_end | raise_error),
            regs.set_of("IRQ_STATUS", "DONE").eq(coalescer.fire),
            regs.set_of("IRQ_STATUS", "CHAIN_END").eq(raise_end),
            regs.set_of("IRQ_STATUS", "ERROR").eq(raise_error),
        ]
        irq_status = Cat(regs["IRQ_STATUS", f] for f in ("DONE", "CHAIN_END", "ERROR"))
        irq_enable = Cat(regs["IRQ_ENABLE", f] for f in ("DONE", "CHAIN_END", "ERROR"))
        m.d.comb += self.irq.eq((irq_status & irq_enable).any())

        # --- Bursts in flight: emitted by the planner, not yet retired by the mover.
        max_inflight = 2 + cfg.outstanding * 2 + cfg.fifo_depth + 8
        inflight = Signal(range(max_inflight + 1))
        emitted = planner.bursts.valid & planner.bursts.ready
        m.d.sync += inflight.eq(inflight + emitted - self.retire_valid)
        with m.If(self.retire_valid):
            m.d.sync += byte_count.eq(byte_count + (self.retire_beats << cfg.beat_shift))

        stop_pending = Signal()
        halting = status["BUSY"] & (status["ERR_CODE"] != ErrorCode.NONE)
        t = planner.transfer
        m.d.comb += [
            t.src.eq(src), t.dst.eq(dst), t.length.eq(length),
            t.src_fixed.eq(src_mode == MODE_FIXED), t.dst_fixed.eq(dst_mode == MODE_FIXED),
            # Halting: drop what is not yet emitted; drop our queued data after an error.
            # (Gated by BUSY: the code of the previous run is still there at START.)
            planner.abort.eq(halting),
        ]
        # Registered: the mover looks it up by channel number on its write-issue path.
        m.d.sync += self.discard.eq(halting & (status["ERR_CODE"] != ErrorCode.ABORTED))

        start = regs["CTRL", "START"]   # a pulse in the cycle after the register write
        drained = planner.idle & (inflight == 0)

        def begin_run():
            m.d.sync += [
                status["DONE"].eq(0), status["ERROR"].eq(0),
                status["ERR_CODE"].eq(ErrorCode.NONE), err_addr.eq(0),
                byte_count.eq(0), completed.eq(0), stop_pending.eq(0),
            ]

        def fail_now(code, addr=None):
            """Halt at once (nothing in flight) with ``code``."""
            m.d.sync += [status["BUSY"].eq(0), status["ERROR"].eq(1), status["ERR_CODE"].eq(code)]
            if addr is not None:
                m.d.sync += err_addr.eq(addr)
            m.d.comb += raise_error.eq(1)

        def finish():
            m.d.sync += [status["BUSY"].eq(0), status["DONE"].eq(1)]
            m.d.comb += raise_end.eq(1)

        def halt_on_error():
            m.d.sync += [status["BUSY"].eq(0), status["ERROR"].eq(1)]
            m.d.comb += raise_error.eq(1)

        # The first reason to halt wins; later faults of the same run are dropped.
        def catch_faults(*extra):
            with m.If(status["ERR_CODE"] == ErrorCode.NONE):
                with m.If(self.fault_valid):
                    m.d.sync += [status["ERR_CODE"].eq(self.fault_code),
                                 err_addr.eq(self.fault_addr)]
                for condition, code, addr in extra:
                    with m.Elif(condition):
                        m.d.sync += [status["ERR_CODE"].eq(code), err_addr.eq(addr)]
                with m.Elif(regs["CTRL", "ABORT"]):
                    m.d.sync += status["ERR_CODE"].eq(ErrorCode.ABORTED)

        sg = _ChainWalker(self, m, bad=bad, halting=halting, stop_pending=stop_pending,
                          drained=drained) if cfg.sg else None

        with m.FSM():
            with m.State("IDLE"):
                with m.If(start):
                    begin_run()
                    if sg is not None:
                        with m.If(regs["CTRL", "SG"]):
                            sg.begin(m, fail_now)
                    else:
                        with m.If(regs["CTRL", "SG"]):                # not built
                            fail_now(ErrorCode.BAD_DESCRIPTOR)
                    with m.Elif(bad):
                        fail_now(ErrorCode.BAD_DESCRIPTOR)
                    with m.Else():
                        m.d.comb += planner.go.eq(1)
                        m.d.sync += status["BUSY"].eq(1)
                        m.next = "RUN"

            with m.State("RUN"):
                with m.If(regs["CTRL", "STOP"]):
                    m.d.sync += stop_pending.eq(1)
                catch_faults()
                with m.If(drained):
                    with m.If(status["ERR_CODE"] != ErrorCode.NONE):
                        halt_on_error()
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += completed.eq(completed + 1)
                        m.d.comb += raise_done.eq(1)
                        cyclic = regs["CTRL", "CYCLIC"] & ~stop_pending & ~regs["CTRL", "STOP"]
                        with m.If(cyclic & ~bad):
                            # Again, with the registers as they are now.
                            m.d.comb += planner.go.eq(1)
                            m.d.sync += byte_count.eq(0)
                        with m.Elif(cyclic):
                            fail_now(ErrorCode.BAD_DESCRIPTOR)
                            m.next = "IDLE"
                        with m.Else():
                            finish()
                            m.next = "IDLE"

            if sg is not None:
                with m.State("SG"):
                    with m.If(regs["CTRL", "STOP"]):
                        m.d.sync += stop_pending.eq(1)
                    catch_faults((sg.write_failed, ErrorCode.DESC_WRITE_ERROR, sg.head_addr))
                    sg.run(m, completed=completed, raise_done=raise_done, finish=finish,
                           halt_on_error=halt_on_error, status=status, err_addr=err_addr)
        return m


class _ChainWalker:
    """The scatter-gather side of a channel: fetch, prefetch, dispatch and write-back.

    Its logic goes into the channel's module: :meth:`begin` runs in the channel's IDLE
    state on START, :meth:`run` in its SG state, the rest always.
    """

    def __init__(self, channel, m, *, bad, halting, stop_pending, drained):
        cfg, regs = channel._config, channel._regs
        self._channel, self._regs, self._planner = channel, regs, channel.planner
        self._bad, self._halting, self._stop_pending = bad, halting, stop_pending
        aw = cfg.addr_width

        # -- Fetching: one request at a time; `fetching` until its event comes back.
        self._fetching = fetching = Signal()
        self._fetch_addr = fetch_addr = Signal(aw, reset_less=True)
        fetch = channel.fetch
        m.d.comb += fetch.payload.addr.eq(fetch_addr)
        with m.If(fetch.ready):
            m.d.sync += fetch.valid.eq(0)
        with m.If(channel.fetched_valid):
            m.d.sync += fetching.eq(0)

        # -- The prefetched descriptor, judged on arrival for what the registers cannot tell.
        self._next = nxt = Signal(Descriptor, reset_less=True)
        self._next_addr = next_addr = Signal(aw, reset_less=True)
        self._next_valid = next_valid = Signal()
        self._next_err = next_err = Signal(ErrorCode, reset_less=True)
        desc = channel.fetched
        follows = ~desc.ctrl.last
        refused = follows & (desc.next[:6] != 0)     # NEXT must be 64-byte aligned
        if aw < 64:
            # Address bits the bus cannot carry are refused, never dropped.
            refused |= (desc.src[aw:] != 0) | (desc.dst[aw:] != 0) | \
                       (follows & (desc.next[aw:] != 0))
        # A ring shorter than the descriptors in flight comes round to one not yet written
        # back: what was fetched is stale. Fetch it again once those in flight are done.
        self._stale = stale = Signal()
        self._refetch = refetch = Signal()
        with m.If(channel.fetched_valid & stale & ~channel.fetched_err):
            m.d.sync += refetch.eq(1)
        with m.Elif(channel.fetched_valid):
            m.d.sync += [nxt.eq(desc), next_addr.eq(fetch_addr), next_valid.eq(1)]
            with m.If(channel.fetched_err):
                m.d.sync += next_err.eq(ErrorCode.DESC_READ_ERROR)
            with m.Elif(desc.status.done):
                m.d.sync += next_err.eq(ErrorCode.NOT_OWNED)
            with m.Elif(refused):
                m.d.sync += next_err.eq(ErrorCode.BAD_DESCRIPTOR)
            with m.Else():
                m.d.sync += next_err.eq(ErrorCode.NONE)

        # -- Descriptors dispatched and not yet written back, oldest first; `ended` of them
        # have had their final burst retire, so their writes are all acknowledged. Their
        # addresses are also kept in registers, to tell a stale fetch: some of their bits
        # only, enough to tell nearby descriptors apart. Two that share them make a fetch
        # look stale when it is not, which costs a fetch again, never a wrong descriptor.
        self._entry = entry = data.StructLayout({
            "addr": unsigned(aw), "bytes": unsigned(32), "irq": unsigned(1),
            "last": unsigned(1)})
        self._clear = clear = Signal()
        m.submodules.completions = queue = ResetInserter(clear)(
            SyncFIFO(width=entry.size, depth=COMPLETIONS))
        self._queue = queue
        self._ended = ended = Signal(range(COMPLETIONS + 1))
        self._popped = popped = Signal()
        # Once halting, descriptors ending are not complete (their data may have been dropped):
        # only those that ended before are still written back.
        clean_end = channel.retire_valid & channel.retire_end & ~halting & ~channel.fault_valid
        m.d.sync += ended.eq(ended + clean_end - popped)
        self.head_addr = entry(queue.r_data).addr
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
        self._desc_fault = Signal(ErrorCode)
        self._desc_fault_addr = Signal(aw, reset_less=True)
        # Nothing of the run left anywhere: no burst, no fetch, no write-back.
        self._quiet = drained & ~fetching & ~self._wb_busy

    def _request_fetch(self, m, addr):
        m.d.sync += [self._channel.fetch.valid.eq(1), self._fetch_addr.eq(addr),
                     self._fetching.eq(1)]

    def begin(self, m, fail_now):
        """START with CTRL.SG: fetch the first descriptor (DESC, 64-byte aligned)."""
        first = self._channel._address("DESC_LO", "DESC_HI")
        with m.If(first[:6] != 0):
            fail_now(ErrorCode.BAD_DESCRIPTOR, first)
        with m.Else():
            self._request_fetch(m, first)
            m.d.sync += [self._regs["STATUS", "BUSY"].eq(1), self._next_valid.eq(0),
                         self._ended.eq(0), self._wb_busy.eq(0), self._refetch.eq(0),
                         self._desc_fault.eq(ErrorCode.NONE)]
            m.d.comb += self._clear.eq(1)
            m.next = "SG"

    def run(self, m, *, completed, raise_done, finish, halt_on_error, status, err_addr):
        channel, regs, planner = self._channel, self._regs, self._planner
        queue, head = self._queue, self._entry(self._queue.r_data)
        nxt, desc_fault = self._next, self._desc_fault
        halting = self._halting

        # --- Dispatch: load the next descriptor into the transfer registers, let the checks
        # and the planner see them a cycle later (as after a register write), then plan it.
        step = Signal(range(3))
        load = (self._next_valid & planner.idle & queue.w_rdy & (step == 0) &
                ~self._stop_pending & ~halting & (desc_fault == ErrorCode.NONE))
        with m.If(load):
            m.d.sync += self._next_valid.eq(0)
            with m.If(self._next_err != ErrorCode.NONE):
                m.d.sync += [desc_fault.eq(self._next_err),
                             self._desc_fault_addr.eq(self._next_addr)]
            with m.Else():
                m.d.sync += step.eq(1)
                with m.If(~nxt.ctrl.last):
                    self._request_fetch(m, nxt.next)        # prefetch, never past LAST
        # Loaded only in that cycle: the register of a field loads over software writes.
        real_load = load & (self._next_err == ErrorCode.NONE)
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
        with m.If(step == 1):
            m.d.sync += step.eq(2)
        with m.If(step == 2):
            m.d.sync += step.eq(0)
            with m.If(self._bad):
                m.d.sync += [desc_fault.eq(ErrorCode.BAD_DESCRIPTOR),
                             self._desc_fault_addr.eq(current)]
            with m.Elif(~halting):
                pushed = self._entry(queue.w_data)
                m.d.comb += [
                    planner.go.eq(1), queue.w_en.eq(1),
                    pushed.addr.eq(current), pushed.bytes.eq(regs["LEN", "VALUE"]),
                    pushed.irq.eq(regs["XFER", "IRQ"]), pushed.last.eq(regs["XFER", "LAST"]),
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
            m.d.sync += [wb.valid.eq(1), self._wb_busy.eq(1), wb.payload.addr.eq(head.addr),
                         wb.payload.words.status.done.eq(1),
                         wb.payload.words.bytes.eq(head.bytes)]
        with m.If(channel.written_valid):
            m.d.sync += self._wb_busy.eq(0)
            with m.If(channel.written_err):
                # None after it is written back: completions stay in order.
                m.d.sync += self._ended.eq(0)
            with m.Else():
                # Now the descriptor is complete, as the driver will see it.
                m.d.comb += [self._popped.eq(1), queue.r_en.eq(1), raise_done.eq(head.irq)]
                m.d.sync += completed.eq(completed + 1)
                with m.If(head.last & ~halting):
                    finish()
                    m.next = "IDLE"

        # --- Halting: after an error or ABORT once nothing is left in flight and the
        # descriptors complete before it are written back; after STOP or a descriptor that
        # cannot run once every descriptor dispatched is complete.
        settled = self._quiet & (step == 0) & ~queue.r_rdy
        with m.If(halting & self._quiet & (self._ended == 0)):
            halt_on_error()
            m.d.comb += self._clear.eq(1)
            m.next = "IDLE"
        with m.Elif(settled & (desc_fault != ErrorCode.NONE)):
            halt_on_error()
            m.d.sync += [status["ERR_CODE"].eq(desc_fault), err_addr.eq(self._desc_fault_addr)]
            m.next = "IDLE"
        with m.Elif(settled & self._stop_pending):
            finish()
            m.next = "IDLE"


class _Coalescer(Elaboratable):
    """IRQ_COALESCE: turn DONE events into IRQ_STATUS.DONE once per COUNT events, or after
    TIMEOUT cycles without a new event while some are pending. ``flush`` (the run ended)
    raises pending events at once so the last completions are never held back.

    Both decisions come from flip-flops, a cycle after the fact: the count compare and the
    timeout count-down stay off the path of ``fire``, which resets them."""

    def __init__(self, regs):
        self._count = regs["IRQ_COALESCE", "COUNT"]
        self._timeout = regs["IRQ_COALESCE", "TIMEOUT"]
        self.event = Signal()
        self.flush = Signal()
        self.fire = Signal()

    def elaborate(self, platform):
        m = Module()
        pending = Signal(len(self._count) + 1)   # may pass COUNT by one before it fires
        flushing = Signal()
        reached = Signal()
        # Cycles left before the timeout, reloaded by every event; fires when it reaches 0.
        left = Signal.like(self._timeout, reset_less=True)
        timed_out = Signal()
        m.d.comb += self.fire.eq((pending != 0) & (reached | flushing | timed_out))
        m.d.sync += [
            reached.eq((pending >= self._count) & ~self.fire),
            timed_out.eq((self._timeout != 0) & (pending != 0) & ~self.event & ~self.fire &
                         (left == 1)),
            flushing.eq(self.flush | (flushing & ~self.fire)),
        ]
        with m.If(self.fire | self.event):
            m.d.sync += left.eq(self._timeout)
        with m.Elif((pending != 0) & (left != 0)):
            m.d.sync += left.eq(left - 1)
        with m.If(self.fire):
            m.d.sync += pending.eq(self.event)
        with m.Elif(self.event):
            m.d.sync += pending.eq(pending + 1)
        return m
