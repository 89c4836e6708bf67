"""Wishbone B4 pipelined master adapter: read and write bursts share one bus."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from ..memport import BEATS_WIDTH, BurstCommand, ReadPortSignature, WritePortSignature
from .signatures import WishboneSignature


__all__ = ["WishboneAdapter"]

# Cycle type identifiers (CTI) of Wishbone B4 registered feedback bursts.
CTI_CONSTANT = 0b001
CTI_INCREMENT = 0b010
CTI_END = 0b111

# Bursts accepted and not yet answered in full (the one being strobed and the ones whose
# responses are still coming). Two let one burst's responses drain while the next is strobed;
# three keep a descriptor fetch's short bursts (see engine/descriptors.py) back to back.
IN_FLIGHT = 3


class WishboneAdapter(wiring.Component):
    """Runs bursts of one direction back to back in a bus cycle, alternating directions.

    A bus cycle (``cyc`` high) carries bursts of one direction. While a burst is strobed (a
    strobe per beat, held while ``stall``), the next command of the same direction, if it is
    already waiting, is strobed right after it, without waiting for responses. Responses come
    in order; a small record of the bursts in flight gives each read beat its ``last`` and
    each write burst its own ``b`` with its own error. Every burst ends with ``cti`` = 111
    (the next burst of the cycle may start elsewhere); its other beats carry 010, or 001 for
    a constant-address burst. ``adr`` is a word address.

    A bus cycle takes no new burst once its bursts add up to ``max_cycle_beats`` beats. It
    ends when every burst it took is answered; ``cyc`` then drops for one cycle so another
    master can win the bus. When both directions wait, they take turns. So each turn of
    direction, which pays the memory's latency once, carries up to ``max_cycle_beats`` beats
    (and the other direction waits no longer than that).

    On ERR the adapter stops strobing (a stalled strobe stays on the bus until taken) and
    waits for the strobes already sent. If the burst being strobed is the one that failed,
    it completes off the bus: a read delivers its missing beats on ``r`` with ``err``; a write
    consumes its remaining ``w`` beats unwritten. Otherwise (a chained burst, perhaps of
    another channel) it resumes. A write burst's ``b`` has ``err`` when any of its beats
    failed. Every accepted command gets exactly its beats on ``r`` or its one ``b``.

    The client takes every ``r`` beat in the cycle it is offered (the data mover reserves
    room before it issues a read); ``b`` may be back-pressured.

    Parameters
    ----------
    addr_width, data_width : int
        Of the memory ports (byte addresses).
    max_cycle_beats : int
        Bus tenure bound: a bus cycle whose bursts add up to this many beats takes no new
        burst, so it carries fewer than ``max_cycle_beats`` plus one burst's beats.
    """

    def __init__(self, *, addr_width, data_width, max_cycle_beats=128):
        if max_cycle_beats < 1:
            raise ValueError(f"max_cycle_beats must be at least 1, not {max_cycle_beats}")
        self._addr_width = addr_width
        self._max_cycle_beats = max_cycle_beats
        self._shift = (data_width // 8).bit_length() - 1
        super().__init__({
            "read": In(ReadPortSignature(addr_width=addr_width, data_width=data_width)),
            "write": In(WritePortSignature(addr_width=addr_width, data_width=data_width)),
            "wb": Out(WishboneSignature(addr_width=addr_width - self._shift,
                                        data_width=data_width, pipelined=True)),
        })

    def elaborate(self, platform):
        m = Module()
        wb = self.wb
        rcmd, wcmd = self.read.cmd, self.write.cmd
        r, w, b = self.read.r, self.write.w, self.write.b

        # The bursts in flight (their beat counts, oldest first) and the write responses
        # not yet taken. A write is accepted only with no response waiting, so both fit.
        m.submodules.bursts = bursts = SyncFIFO(width=BEATS_WIDTH, depth=IN_FLIGHT)
        m.submodules.b_queue = b_queue = SyncFIFO(width=1, depth=IN_FLIGHT)
        m.d.comb += [b.valid.eq(b_queue.r_rdy), b.payload.err.eq(b_queue.r_data),
                     b_queue.r_en.eq(b.ready)]

        # --- Strobe side: the burst being strobed.
        we = Signal()           # direction of the bus cycle
        addr = Signal(len(wb.adr))
        fixed = Signal()
        left = Signal(BEATS_WIDTH)  # beats not yet strobed (or completed off the bus)
        active = Signal()       # left != 0
        final = Signal()        # left == 1
        stop = Signal()         # an ERR came back: no new strobe until the sent ones are answered
        skip = Signal()         # the burst failed: complete its remaining beats off the bus
        held = Signal()         # the strobe on the bus was stalled: it stays until taken
        # Beats of the bursts the bus cycle took.
        taken = Signal(range(self._max_cycle_beats + 2 ** (BEATS_WIDTH - 1)))
        prefer_write = Signal()
        # --- Response side.
        pending = Signal(range(IN_FLIGHT * 2 ** (BEATS_WIDTH - 1) + 1))  # strobes not answered
        nth = Signal(BEATS_WIDTH, init=1)  # the next response is the nth of the oldest burst
        head_err = Signal()         # one of them was an error

        m.d.comb += [
            wb.stb.eq(active & (~stop | held) & (~we | w.valid)),
            wb.we.eq(we),
            wb.adr.eq(addr),
            wb.dat_w.eq(w.payload.data),
            wb.sel.eq(Mux(we, w.payload.strb, -1)),
            wb.cti.eq(Mux(final, CTI_END, Mux(fixed, CTI_CONSTANT, CTI_INCREMENT))),
            wb.bte.eq(0),
        ]
        accepted = wb.stb & ~wb.stall
        answer = (wb.ack | wb.err) & wb.cyc
        # A failed burst's beat: a read beat offered with an error, a write beat dropped.
        fake = skip & Mux(we, w.valid, r.ready)
        step = accepted | fake
        m.d.comb += w.ready.eq(we & (accepted | skip))
        m.d.sync += [held.eq(wb.stb & wb.stall), pending.eq(pending + accepted - answer)]
        with m.If(step):
            m.d.sync += [left.eq(left - 1), final.eq(left == 2), active.eq(~final)]
        with m.If(accepted & ~fixed):
            m.d.sync += addr.eq(addr + 1)

        # Errors: stop; once the strobes sent are answered, fail the rest of the burst being
        # strobed if it is the one that failed (it is then the oldest in flight), else resume.
        with m.If(answer & wb.err):
            m.d.sync += stop.eq(1)
        with m.If(stop & ~skip & ~wb.stb & (pending == 0)):
            with m.If(active & head_err):
                m.d.sync += skip.eq(1)
            with m.Else():
                m.d.sync += stop.eq(0)
        with m.If(fake & final):
            m.d.sync += [skip.eq(0), stop.eq(0)]

        # Responses, real or off the bus, in burst order.
        response = answer | fake
        resp_err = wb.err | skip
        head_last = nth == bursts.r_data
        m.d.comb += [
            r.valid.eq(~we & (answer | skip)),
            r.payload.data.eq(wb.dat_r), r.payload.err.eq(resp_err),
            r.payload.last.eq(head_last),
            b_queue.w_data.eq(head_err | resp_err),
        ]
        with m.If(response):
            m.d.sync += [nth.eq(Mux(head_last, 1, nth + 1)),
                         head_err.eq(~head_last & (head_err | resp_err))]
            m.d.comb += [bursts.r_en.eq(head_last), b_queue.w_en.eq(we & head_last)]

        # --- Taking commands: the first burst of a bus cycle, or the next one of a chain.
        load = Signal()
        load_write = Signal()
        cmd = BurstCommand(self._addr_width)(
            Mux(load_write, wcmd.payload, rcmd.payload))
        m.d.comb += [
            bursts.w_data.eq(cmd.beats), bursts.w_en.eq(load),
            wcmd.ready.eq(load & load_write), rcmd.ready.eq(load & ~load_write),
        ]
        with m.If(load):
            m.d.sync += [
                addr.eq(cmd.addr[self._shift:]), fixed.eq(cmd.fixed),
                left.eq(cmd.beats), active.eq(1), final.eq(cmd.beats == 1),
            ]

        with m.FSM():
            with m.State("IDLE"):
                can_write = wcmd.valid & ~b_queue.r_rdy
                pick_write = can_write & (prefer_write | ~rcmd.valid)
                m.d.comb += [load.eq(pick_write | rcmd.valid), load_write.eq(pick_write)]
                with m.If(load):
                    m.d.sync += [
                        we.eq(pick_write), prefer_write.eq(~pick_write),
                        taken.eq(cmd.beats),
                    ]
                    m.next = "CYCLE"

            with m.State("CYCLE"):
                m.d.comb += wb.cyc.eq(1)
                free = ~active | (final & accepted)
                room = bursts.w_rdy & ~(we & b_queue.r_rdy)
                m.d.comb += [
                    load_write.eq(we),
                    load.eq(free & room & ~stop &
                            (taken < self._max_cycle_beats) & Mux(we, wcmd.valid, rcmd.valid)),
                ]
                with m.If(load):
                    m.d.sync += taken.eq(taken + cmd.beats)
                # Every beat strobed and every strobe answered: every burst is complete.
                answered = (pending == 0) | ((pending == 1) & answer)
                with m.If(~active & ~stop & answered & ~load):
                    m.next = "IDLE"
        return m
