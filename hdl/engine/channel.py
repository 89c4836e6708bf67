"""One channel: register mode and scatter-gather control, completion, errors and interrupts
(ABI §2.2, §3)."""

from amaranth.hdl import Cat, Elaboratable, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream

from ..descriptor import Writeback
from ..memport import BEATS_WIDTH
from ..registers import XFER_FIELDS, AddressMode, ErrorCode
from .chain import ChainWalker
from .pacing import ReqAckPacer
from .descriptors import FetchBeat
from .datapath import burst_planner
from .shaping import SumInParts, any_bit, kept


__all__ = ["Channel"]

MODE_FIXED = AddressMode.FIXED
MODE_STREAM = AddressMode.STREAM


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
    retire_valid, retire_bytes, retire_end, retire_eop : Signal, in
        One of our bursts retired, with this many bytes written (0 when dropped), whether it
        was the final burst of its transfer, and whether a packet ended there (streams).
    fault_valid, fault_code, fault_addr : Signal, in
        A bus error on one of our bursts: READ_ERROR or WRITE_ERROR, and its address.
    discard : Signal, out
        Ask the mover to drop this channel's bursts.
    irq : Signal, out
    stream_in_enable : Signal, out (stream builds)
        Running a transfer from our stream: its buffer may take beats.
    stream_out_flush : Signal, out (stream builds)
        Halted on an error or ABORT (a cycle ago): end the packet under way on our output
        stream.
    req : Signal, in; ack : Signal, out (req/ack builds)
        The peripheral handshake (ABI §5).
    fetch_now, fetch_addr : out (scatter-gather builds)
        A one-cycle pulse on ``fetch_now`` asks for the descriptor at ``fetch_addr``, held
        until the fetch ends; the descriptor unit takes every pulse and grants them itself.
    fetched_valid, fetched : in
        A beat of our fetch.
    writeback : stream of {addr, words}, out
        Write ``words`` back to the descriptor at ``addr``.
    written_valid, written_err : in
        Our write-back was acknowledged, perhaps with an error.
    """

    def __init__(self, config, regs):
        self._config = config
        self._regs = regs
        self.planner = burst_planner(config)
        self.retire_valid = Signal()
        self.retire_bytes = Signal(BEATS_WIDTH + config.beat_shift)
        self.retire_end = Signal()
        self.retire_eop = Signal()
        self.stream_in_enable = Signal()
        self.stream_out_flush = Signal()
        self.req = Signal()
        self.ack = Signal()
        self.fault_valid = Signal()
        self.fault_code = Signal(ErrorCode)
        self.fault_addr = Signal(config.addr_width)
        self.discard = Signal()
        self.irq = Signal()
        # LEN = 0 and REQ_BURST = 0 from the register file's flags (asked for now, as below),
        # and whether LEN is `long` for the planner.
        self._len_zero = regs.zero_of("LEN", "VALUE")
        self._len_long = ~regs.zero_of("LEN", "VALUE", from_bit=self.planner.long_bits)
        self._start_next = regs.pulse_next_of("CTRL", "START")
        if config.req_ack:
            self._req_burst_zero = regs.zero_of("REQ_BURST", "VALUE")
        if config.sg:
            aw = config.addr_width
            self.fetch_now = Signal()
            self.fetch_addr = Signal(aw)
            self.fetched_valid = Signal()
            self.fetched = Signal(FetchBeat(config.data_width))
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

        status = {name: regs["STATUS", name] for name in ("BUSY", "DONE", "ERROR")}
        # ERR_CODE, like ERR_ADDR (below): a bus error's code in a register of its own and a
        # refused cyclic restart in a flip-flop (BAD_DESCRIPTOR), each shown until the next
        # START; the other sources' code in another register. The bus error and the cyclic
        # decision stay off the paths into that register.
        status["ERR_CODE"] = err_code = Signal(ErrorCode)
        bus_err_code = Signal(ErrorCode, reset_less=True)
        from_bus = Signal()
        refused_again = Signal()
        m.d.comb += regs["STATUS", "ERR_CODE"].eq(
            Mux(from_bus, bus_err_code.as_value(),
                Mux(refused_again, ErrorCode.BAD_DESCRIPTOR, err_code.as_value())))
        byte_count = SumInParts(m, regs["BYTES", "VALUE"], amount_width=len(self.retire_bytes),
                                name="byte_count")
        completed = regs["COMPLETED", "VALUE"]
        # ERR_ADDR: a bus error's address in a register of its own (taken straight from the
        # mover's, on one LUT of enable), the other sources' in another; a flip-flop picks,
        # which the register read's select absorbs.
        err_addr = Signal(cfg.addr_width)
        bus_err_addr = Signal(cfg.addr_width, reset_less=True)
        shown = Mux(from_bus, bus_err_addr, err_addr)
        m.d.comb += regs["ERR_ADDR_LO", "VALUE"].eq(shown[:32])
        if cfg.addr_width > 32:
            m.d.comb += regs["ERR_ADDR_HI", "VALUE"].eq(shown[32:])

        # --- Checking a transfer against what this build can do.
        src = self._address("SRC_LO", "SRC_HI")
        dst = self._address("DST_LO", "DST_HI")
        length = regs["LEN", "VALUE"]
        src_mode = regs["XFER", "SRC_MODE"]
        dst_mode = regs["XFER", "DST_MODE"]
        # Judged from the registers of the cycle before, like the planner sizes its first
        # burst: the wide compares stay off the path from START to the planner.
        lane_bits = cfg.beat_bytes - 1
        if cfg.unaligned:
            # Any byte, but a FIXED side is one register: a whole beat at an aligned address.
            misaligned = (((src & lane_bits) != 0) & (src_mode == MODE_FIXED)) | \
                         (((dst & lane_bits) != 0) & (dst_mode == MODE_FIXED))
        else:
            misaligned = ((src | dst | length) & lane_bits).any()
        src_stream = src_mode == MODE_STREAM
        dst_stream = dst_mode == MODE_STREAM
        if cfg.streams:
            # A stream source hands over whole beats: a packet that goes on into the next
            # transfer goes on at a beat boundary.
            misaligned |= src_stream & ((length & lane_bits) != 0)
            top_mode = MODE_STREAM
            both_streams = src_stream & dst_stream
        else:
            top_mode, both_streams = MODE_FIXED, 0
        self._refused = refused = Signal()      # the transfer in the registers cannot run

        paced = regs["XFER", "REQ"]
        if cfg.req_ack:
            # Pieces of REQ_BURST bytes for a FIXED-address peripheral; a stream has its own
            # flow control.
            req_burst = regs["REQ_BURST", "VALUE"]
            bad_pacing = paced & (self._req_burst_zero | src_stream | dst_stream)
            if not cfg.unaligned:
                # Pieces of whole beats, like everything else without the realigner.
                bad_pacing |= paced & ((req_burst & lane_bits) != 0)
        else:
            bad_pacing = paced                                     # not built
        bad = Signal()
        m.d.comb += refused.eq(self._len_zero | misaligned | both_streams | bad_pacing |
                               (src_mode > top_mode) | (dst_mode > top_mode))
        # Beside it, whether the transfer goes to the planner at once (checked and not
        # paced): the planner's `go` comes from it.
        self._plain = Signal()
        # And with the channel idle (see `was_idle`, below): a START's plain launch, one
        # flip-flop into the planner's `go`.
        idle_plain = Signal()
        m.d.sync += [bad.eq(refused), self._plain.eq(~refused & ~paced),
                     idle_plain.eq(~refused & ~paced & ~status["BUSY"])]
        # The planner's `go` is made apart from the state machine, flat, from flip-flops:
        # `trigger` is what may launch (a START while idle, a cyclic restart, a descriptor
        # checked), before the checks and halting, which `plain` (never with `bad`) and
        # `halting` add. (The state machine's branches below that launch say so.)
        self._trigger = Signal()
        # In RUN (register mode), beside the state machine's state: one flip-flop, no
        # decode of the state on the paths into `go`. (Not BUSY: that is also set in SG.)
        self._in_run = Signal()

        # --- Interrupts: DONE (coalesced), CHAIN_END, ERROR.
        raise_done = Signal()
        # They reach IRQ_STATUS and the coalescer a cycle later, from flip-flops: the state
        # machine's decisions stay off the interrupt logic (the coalescer's wide counters).
        # CHAIN_END and ERROR are seen where DONE or ERROR rises, after the register
        # (ERROR also where a START's failure keeps it set), not from the decisions: DONE is
        # set only by the end of a run, ERROR by its failure, and a START clears both.
        raised = Signal(3)
        done_was, error_was, started = Signal(), Signal(), Signal()
        m.d.sync += [raised[0].eq(raise_done), done_was.eq(status["DONE"]),
                     error_was.eq(status["ERROR"])]
        m.d.comb += [raised[1].eq(status["DONE"] & ~done_was),
                     raised[2].eq(status["ERROR"] & (~error_was | started))]
        m.submodules.coalescer = coalescer = _Coalescer(regs)
        m.d.comb += [
            coalescer.event.eq(raised[0]), coalescer.flush.eq(raised[1] | raised[2]),
            regs.set_of("IRQ_STATUS", "DONE").eq(coalescer.fire),
            regs.set_of("IRQ_STATUS", "CHAIN_END").eq(raised[1]),
            regs.set_of("IRQ_STATUS", "ERROR").eq(raised[2]),
        ]
        irq_status = Cat(regs["IRQ_STATUS", f] for f in ("DONE", "CHAIN_END", "ERROR"))
        irq_enable = Cat(regs["IRQ_ENABLE", f] for f in ("DONE", "CHAIN_END", "ERROR"))
        m.d.comb += self.irq.eq((irq_status & irq_enable).any())

        # --- Bursts in flight: emitted by the planner, not yet retired by the mover.
        max_inflight = 2 + cfg.outstanding * 2 + cfg.fifo_depth + 8
        inflight = Signal(range(max_inflight + 1))
        emitted = planner.bursts.valid & planner.bursts.ready
        # Whether none is, registered beside the count: the compare stays off the paths
        # from `settled` into the halting and completion logic (wide register enables).
        # (None in flight next: none emitted now, and the count is the one retired now, if
        # any. The handshake comes last, after the count's compare.)
        none_inflight = Signal(init=1)
        # And whether one is, for the planner's hold (see there): none in flight next is
        # then a LUT of these and of a retire now, no compare.
        one_inflight = Signal()
        m.d.sync += [inflight.eq(inflight + emitted - self.retire_valid),
                     none_inflight.eq(~emitted & (inflight == self.retire_valid)),
                     one_inflight.eq(Mux(emitted, inflight == self.retire_valid,
                                         Mux(self.retire_valid, inflight == 2, inflight == 1)))]

        stop_pending = Signal()
        # BUSY with an error code, in a flip-flop of its own set and cleared beside them: it
        # gates the planner, the pacer and the chain walker, which need no 5-input compare.
        halting = Signal()
        t = planner.transfer
        src_fixed, dst_fixed = src_mode == MODE_FIXED, dst_mode == MODE_FIXED
        settled = planner.idle & none_inflight
        if cfg.req_ack:
            self._pacer = pacer = ReqAckPacer(self, m, src=src, dst=dst, length=length,
                                              long=self._len_long,
                                              src_fixed=src_fixed, dst_fixed=dst_fixed,
                                              settled=settled, halting=halting)
            src, dst = pacer.transfer["src"], pacer.transfer["dst"]
            m.d.comb += [t.length.eq(pacer.transfer["length"]),
                         t.long.eq(pacer.transfer["long"]),
                         t.final.eq(pacer.transfer["final"])]
            # The chain loads the next descriptor only once this one is wholly planned.
            self.planner_free = planner.idle & ~pacer.pacing
        else:
            self._pacer = None
            m.d.comb += [t.length.eq(length), t.long.eq(self._len_long)]
            self.planner_free = planner.idle
        # (A START taken is never halting: see `was_idle`; it needs no `~halting`.)
        go_plain = Signal()
        if cfg.req_ack:
            m.d.comb += planner.go.eq(pacer.launch(m, self._trigger & ~bad & ~halting,
                                                   self._plain, go_plain))
            self.planner_free &= ~pacer.kick
        else:
            m.d.comb += planner.go.eq(go_plain)
        if cfg.streams:
            # A stream side's address is the byte lane where its stream stands: a stream
            # source starts every transfer at lane 0 (it hands over whole beats); bytes sent
            # to a stream go on from where the last transfer left them, unless it ended the
            # packet (then partial beats are merged in its buffer).
            out_lane = Signal(cfg.beat_shift)
            # Moved a cycle after `go`, and put back to lane 0 a cycle after a halt on an error
            # (with the flush, below): from flip-flops, not off the run's decisions. The
            # planner holds what it took until then.
            launched = Signal()
            m.d.sync += launched.eq(planner.go)
            with m.If(self.stream_out_flush):
                m.d.sync += out_lane.eq(0)
            with m.Elif(launched & dst_stream):
                m.d.sync += out_lane.eq(Mux(regs["XFER", "EOP"], 0,
                                            (out_lane + length)[:cfg.beat_shift]))
            m.d.comb += [
                t.src.eq(Mux(src_stream, 0, src)), t.dst.eq(Mux(dst_stream, out_lane, dst)),
                t.src_stream.eq(src_stream), t.dst_stream.eq(dst_stream),
                t.eop.eq(regs["XFER", "EOP"]),
            ]
            # Not for a transfer that will be refused, nor once halting: no beat is taken that
            # the run will not use. (Registered: the checks stay off the path to tready.)
            m.d.sync += self.stream_in_enable.eq(status["BUSY"] & src_stream & ~refused &
                                                 ~halting)
            m.d.sync += self.stream_out_flush.eq(0)     # a pulse (see halt_on_error)
        else:
            m.d.comb += [t.src.eq(src), t.dst.eq(dst)]
        m.d.comb += [
            t.src_fixed.eq(src_fixed), t.dst_fixed.eq(dst_fixed),
        ]
        # Registered: the mover looks it up by channel number on its write-issue path.
        m.d.sync += self.discard.eq(halting & (from_bus | (err_code != ErrorCode.ABORTED)))

        start = regs["CTRL", "START"]   # a pulse in the cycle after the register write
        # Taken if the channel was idle at the register write (a cycle before the pulse):
        # then it is idle now (only a START makes it BUSY, and two never come in a row),
        # and the decisions on it see one flip-flop for both. (A START written as the run
        # ends, while BUSY still reads 1, is ignored, as written while BUSY.)
        was_idle = Signal()
        m.d.sync += was_idle.eq(~status["BUSY"])
        idle_start = start & was_idle
        m.d.sync += started.eq(idle_start)
        # Done with the transfer: nothing in flight, and every piece of a paced one planned.
        # Registered, a cycle late (the run's decisions on it come from a flip-flop); never
        # early: nothing starts in between but what a launch starts, which it leaves out.
        drained = Signal()
        # (`trigger` stands for a launch: a cycle late when that is refused or halting; a
        # cyclic restart is decided a cycle before its launch, `rearm`.)
        restart, rearm = Signal(), Signal()
        m.d.sync += drained.eq(settled & ~self._trigger & ~restart &
                               (~self._pacer.pacing & ~self._pacer.kick if cfg.req_ack else 1))

        def begin_run():
            m.d.sync += [
                status["DONE"].eq(0), status["ERROR"].eq(0), regs["STATUS", "EOP"].eq(0),
                *byte_count.load(0), stop_pending.eq(0),
            ]

        def fail_now():
            """Halt at once (nothing in flight): BAD_DESCRIPTOR (set with the START, below)."""
            m.d.sync += [status["BUSY"].eq(0), status["ERROR"].eq(1)]

        def finish():
            m.d.sync += [status["BUSY"].eq(0), status["DONE"].eq(1)]

        def halt_on_error():
            m.d.sync += [status["BUSY"].eq(0), status["ERROR"].eq(1)]
            if cfg.streams:
                # The packet under way on the output stream ends here.
                m.d.sync += self.stream_out_flush.eq(1)

        sg = ChainWalker(self, m, bad=bad, halting=halting, stop_pending=stop_pending,
                         drained=drained) if cfg.sg else None

        # CYCLIC and not stopping, a cycle late from a flip-flop: the run's decisions on it
        # (the restart, the status registers' enables) meet no STOP pulse nor CTRL bit. (A
        # STOP in the cycle a transfer completes stops after the next one.)
        cyclic = Signal()
        m.d.sync += cyclic.eq(regs["CTRL", "CYCLIC"] & ~stop_pending & ~regs["CTRL", "STOP"])
        # A cyclic restart, decided with the completion (below) and launched a cycle later
        # from this flip-flop, so the planner's `go` does not wait on the decision.
        m.d.comb += restart.eq(self._in_run & drained & cyclic & ~bad & ~halting)
        m.d.sync += rearm.eq(restart)
        start_plain = idle_start & ~regs["CTRL", "SG"]
        launch_plain = (start & ~regs["CTRL", "SG"] & idle_plain) | \
            (self._plain & rearm & ~halting)
        trigger = start_plain | rearm
        # Halting: drop what is not yet emitted (our queued data is dropped after an error,
        # `discard`); so is a descriptor launched before its verdict failed it.
        abort = halting
        if sg is not None:
            abort |= sg._desc_faulted
            # A descriptor's plain launch comes from the chain (before its verdict, see
            # there); a paced one's when it is checked, through the pacer.
            sg_go = self._plain & sg.go
            launch_plain |= sg_go
            trigger |= sg._checked | sg_go
            m.d.comb += planner.wait.eq(sg.wait)
        m.d.comb += [self._trigger.eq(trigger), go_plain.eq(launch_plain),
                     planner.abort.eq(abort)]

        # Outside the state machine (before it: its decisions come after), while BUSY: STOP,
        # and the first reason to halt, which wins; later faults of the same run are dropped.
        # A bus error's code and address show from registers of their own (`from_bus`,
        # below), so the other codes are written apart from it. Halting ends a cycle after
        # BUSY (when no START is taken yet: see `was_idle`), from flip-flops.
        with m.If(status["BUSY"]):
            with m.If(regs["CTRL", "STOP"]):
                m.d.sync += stop_pending.eq(1)
            with m.If(~halting):
                with m.If(self.fault_valid):
                    m.d.sync += halting.eq(1)
                with m.If(regs["CTRL", "ABORT"]):
                    m.d.sync += [status["ERR_CODE"].eq(ErrorCode.ABORTED), halting.eq(1)]
                if sg is not None:                              # (only in SG, and first)
                    with m.If(sg.write_failed):
                        m.d.sync += [status["ERR_CODE"].eq(ErrorCode.DESC_WRITE_ERROR),
                                     halting.eq(1)]
        with m.Else():
            m.d.sync += halting.eq(0)

        # A run in register mode is `_in_run` itself, not a state of the state machine: its
        # next value is one LUT of two terms of flip-flops, kept apart (`keep`) from the
        # status updates beside them (ABC otherwise folded them into a chain of six LUTs).
        run_begins = kept(m, "run_begins", idle_start & ~regs["CTRL", "SG"] & ~bad)
        run_ends = kept(m, "run_ends", drained & (halting | ~cyclic | bad))
        m.d.sync += self._in_run.eq(Mux(self._in_run, ~run_ends, run_begins))
        with m.If(self._in_run):
            with m.If(self.retire_valid):
                m.d.sync += byte_count.add(self.retire_bytes)
            if cfg.streams:
                with m.If(self.retire_valid & self.retire_end):
                    m.d.sync += regs["STATUS", "EOP"].eq(self.retire_eop & src_stream)
            with m.If(drained):
                with m.If(halting):
                    halt_on_error()
                with m.Else():
                    # (COMPLETED and raise_done: below.)
                    with m.If(cyclic & ~bad):
                        # Again, with the registers as they are now (`trigger`).
                        m.d.sync += byte_count.load(0)
                    with m.Elif(cyclic):
                        # (BAD_DESCRIPTOR through `refused_again`.)
                        m.d.sync += [status["BUSY"].eq(0), status["ERROR"].eq(1),
                                     refused_again.eq(1)]
                    with m.Else():
                        finish()

        # A START is taken only while idle: never in a run, as BUSY is set then.
        def take_start():
            with m.If(idle_start):
                begin_run()
                if sg is not None:
                    with m.If(regs["CTRL", "SG"]):
                        # (The rest of the start: sg.begin, below.)
                        with m.If(sg._first_misaligned):
                            fail_now()  # (ERR_ADDR = DESC)
                        with m.Else():
                            m.next = "SG"
                else:
                    with m.If(regs["CTRL", "SG"]):                # not built
                        fail_now()
                with m.Elif(bad):
                    fail_now()
                with m.Else():                            # (launched: `trigger`)
                    m.d.sync += status["BUSY"].eq(1)        # (and `_in_run`)

        if sg is None:
            # (No state machine of one state: Yosys drops what its state's switch assigns.)
            take_start()
        else:
            with m.FSM():
                with m.State("IDLE"):
                    take_start()
                with m.State("SG"):
                    sg.run(m, byte_count=byte_count, finish=finish,
                           halt_on_error=halt_on_error, status=status)

        catching = status["BUSY"] & ~halting
        # A transfer completed in register mode (RUN is `_in_run`), apart from the state.
        m.d.comb += raise_done.eq(self._in_run & drained & ~halting)
        if sg is not None:
            # Apart from the state machine (a START taken is idle): the first fetch's request
            # and the chain's reset do not wait on the state's decode; nor does the
            # completion of a write-back (only in SG) on the queues.
            sg.begin(m, idle_start, start & regs["CTRL", "SG"] & sg._may_begin)
            sg.complete(m, raise_done=raise_done)
        # COMPLETED and ERR_CODE apart from the state machine too: their enables do not wait
        # on the state's decode. A START while idle clears COMPLETED and sets ERR_CODE to
        # BAD_DESCRIPTOR if it fails at once (fail_now), else NONE.
        completion = self._in_run & drained & ~halting
        if sg is not None:
            completion |= sg.written_ok
            refused_now = Mux(regs["CTRL", "SG"], sg._first_misaligned, bad)
        else:
            refused_now = regs["CTRL", "SG"] | bad
        with m.If(idle_start):
            m.d.sync += [completed.eq(0),
                         status["ERR_CODE"].eq(Mux(refused_now, ErrorCode.BAD_DESCRIPTOR,
                                                   ErrorCode.NONE))]
        with m.Elif(completion):
            m.d.sync += completed.eq(completed + 1)
        # (After ABORT's and a write-back's failure, above: a descriptor fault's halt wins.)
        if sg is not None:
            with m.If(status["BUSY"] & ~halting & ~self._in_run & sg.fault_halt):
                m.d.sync += status["ERR_CODE"].eq(sg.fault_code)

        # --- ERR_ADDR, apart from the state machine and flat. A bus error (the first reason
        # to halt, as above) is shown from its own register until the next START;
        # the other sources are one of a kind each (a write-back's failure; a descriptor's
        # fault; DESC on a START that fails it; 0 on other STARTs), never meeting a bus
        # error but a write-back's failure (then the bus error wins, as above).
        with m.If(catching & self.fault_valid):
            m.d.sync += [bus_err_addr.eq(self.fault_addr), bus_err_code.eq(self.fault_code),
                         from_bus.eq(1)]
        with m.If(idle_start):
            m.d.sync += [from_bus.eq(0), refused_again.eq(0)]
        if sg is not None:
            with m.If(catching & sg.write_failed):
                m.d.sync += err_addr.eq(sg.head_addr)
            with m.Elif(catching & ~self._in_run & sg.fault_halt):
                m.d.sync += err_addr.eq(sg.fault_halt_addr)
        with m.If(idle_start):
            if sg is not None:
                m.d.sync += err_addr.eq(Mux(regs["CTRL", "SG"] & sg._first_misaligned,
                                            self._address("DESC_LO", "DESC_HI"), 0))
            else:
                m.d.sync += err_addr.eq(0)

        # --- The planner's hold: high in every cycle where `go` may come and in the cycle
        # after `go`, so the planner plans the transfer of the cycle before `go`, which the
        # checks judged. It enables the planner's wide registers, so it is one flip-flop:
        # the START pulse (registered beside it from the write that makes it) and what the
        # next cycle may bring. A run in register mode starts on START, and again once
        # drained if cyclic: running, plain, not pacing (or its last piece acknowledged now)
        # and none in flight next (not counting a burst emitted now: that one is in flight
        # then), with `plain` as it is now (software writes no two registers in a row). A
        # plain descriptor starts two cycles after it is loaded (chain.py: the registers
        # show it a cycle later, the checks a cycle after that; one loaded early is launched
        # then too, its first burst held back until its verdict); a paced one once checked,
        # its pieces when the pacer hears `req`. A hold without a `go` keeps the planner's
        # state a cycle longer; a paced transfer's first piece is held only from two cycles
        # after its launch (see ReqAckPacer).
        none_next = Mux(self.retire_valid, one_inflight, none_inflight)    # (none emitted)
        hold_next = self._in_run & none_next & self._plain
        if cfg.req_ack:
            hold_next &= ~self._pacer.pacing | self._pacer.finishing
            hold_next |= self._pacer.may_go_next
        if cfg.sg:
            # From the cycle after the registers show a descriptor (the planner takes it
            # then) while the walker has it loaded: through its `go` (and, for one loaded
            # early, until its verdict, which does no harm once planning).
            hold_next |= sg._loaded
        # A paced piece's `go` comes only where `may_go_next` held it: only the plain launch
        # (`go_plain`) is added, not the pacer's `go`, with its inputs from outside.
        hold = Signal()                 # (and in the cycle after `go`)
        m.d.sync += hold.eq(self._start_next | hold_next | go_plain)
        m.d.comb += planner.hold.eq(hold)
        return m


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
        # Whether any is, kept beside the count: no compare on the path into `fire`, which
        # sets IRQ_STATUS and reloads the counters.
        waiting = Signal()
        flushing = Signal()
        reached = Signal()
        # Cycles left before the timeout, reloaded by every event, counting down while some
        # are pending and it is not 0. Whether it is 0 or 1 is known a cycle ahead, in
        # flip-flops: the count-down's enable and the timeout are then a LUT or two of
        # flip-flops, not after compares of its 24 bits. It is loaded from a copy of TIMEOUT
        # a cycle late, made with the same two flags for it, so the compares of TIMEOUT come
        # before a flip-flop too. None of these is reset (an enable and a reset together
        # cost a LUT in front of the flip-flop): no event comes before the first one, which
        # loads them, and they are read only once one has.
        timeout = Signal.like(self._timeout, reset_less=True)
        timeout_zero = Signal(init=1, reset_less=True)
        timeout_one = Signal(reset_less=True)
        timeout_high = any_bit(m, self._timeout[2:], name="timeout_high")
        m.d.sync += [timeout.eq(self._timeout),
                     timeout_zero.eq(~timeout_high & (self._timeout[:2] == 0)),
                     timeout_one.eq(~timeout_high & (self._timeout[:2] == 1))]
        left = Signal.like(self._timeout, reset_less=True)
        left_zero = Signal(init=1, reset_less=True)
        left_one = Signal(reset_less=True)
        timed_out = Signal()
        m.d.comb += self.fire.eq(waiting & (reached | flushing | timed_out))
        m.d.sync += [
            reached.eq((pending >= self._count) & ~self.fire),
            timed_out.eq(~timeout_zero & waiting & ~self.event & ~self.fire & left_one),
            flushing.eq(self.flush | (flushing & ~self.fire)),
        ]
        left_high = any_bit(m, left[2:], name="left_high")
        with m.If(self.fire | self.event):
            m.d.sync += [left.eq(timeout), left_zero.eq(timeout_zero), left_one.eq(timeout_one)]
        with m.Elif(waiting & ~left_zero):
            m.d.sync += [left.eq(left - 1), left_zero.eq(~left_high & (left[:2] == 1)),
                         left_one.eq(~left_high & (left[:2] == 2))]
        m.d.sync += [pending.eq(Mux(self.fire, self.event, pending + self.event)),
                     waiting.eq(self.event | (waiting & ~self.fire))]
        return m
