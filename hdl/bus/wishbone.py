"""Wishbone B4 pipelined master adapter: read and write bursts share one bus."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..memport import BEATS_WIDTH, BurstCommand, ReadPortSignature, WritePortSignature
from .signatures import WishboneSignature


__all__ = ["WishboneAdapter"]

# Cycle type identifiers (CTI) of Wishbone B4 registered feedback bursts.
CTI_CONSTANT = 0b001
CTI_INCREMENT = 0b010
CTI_END = 0b111


class WishboneAdapter(wiring.Component):
    """Runs one burst per bus cycle, alternating read and write bursts when both wait.

    Each burst is a pipelined cycle: a strobe per beat (held while ``stall``), responses
    counted until every strobe is answered, then ``cyc`` drops for one cycle so another
    master can win the bus. ``adr`` is a word address.

    On ERR the adapter stops strobing and waits for the strobes already sent. A read
    then completes its burst on ``r`` with error beats (no bus traffic); a write consumes
    the remaining beats of ``w`` without writing them and answers ``b`` with an error.
    """

    def __init__(self, *, addr_width, data_width):
        self._addr_width = addr_width
        self._data_width = data_width
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
        r, w, b = self.read.r, self.write.w, self.write.b

        is_write = Signal()
        addr = Signal(len(wb.adr))
        beats = Signal(BEATS_WIDTH)
        fixed = Signal()
        issued = Signal(BEATS_WIDTH)       # beats strobed, or dropped after an error
        delivered = Signal(BEATS_WIDTH)    # read beats handed to `r`
        pending = Signal(BEATS_WIDTH)      # strobes not yet answered
        err = Signal()
        prefer_write = Signal()

        response = wb.ack | wb.err
        accepted = wb.stb & ~wb.stall
        pending_next = pending + accepted - response

        with m.If(b.ready):
            m.d.sync += b.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                # Alternate directions when both wait; a write waits for its last response
                # to be taken so `b` holds at most one.
                can_write = self.write.cmd.valid & ~b.valid
                pick_write = can_write & (prefer_write | ~self.read.cmd.valid)
                pick_read = self.read.cmd.valid & ~pick_write
                cmd = BurstCommand(self._addr_width)(
                    Mux(pick_write, self.write.cmd.payload, self.read.cmd.payload))
                m.d.comb += [self.write.cmd.ready.eq(pick_write),
                             self.read.cmd.ready.eq(pick_read)]
                with m.If(pick_write | pick_read):
                    m.d.sync += [
                        is_write.eq(pick_write), prefer_write.eq(~pick_write),
                        addr.eq(cmd.addr[self._shift:]), beats.eq(cmd.beats),
                        fixed.eq(cmd.fixed), issued.eq(0), delivered.eq(0), pending.eq(0),
                        err.eq(0),
                    ]
                    m.next = "BURST"

            with m.State("BURST"):
                more = (issued != beats) & ~err
                m.d.comb += [
                    wb.cyc.eq(1),
                    wb.stb.eq(more & (~is_write | w.valid)),
                    wb.we.eq(is_write),
                    wb.adr.eq(addr),
                    wb.dat_w.eq(w.payload.data),
                    wb.sel.eq(Mux(is_write, w.payload.strb, -1)),
                    wb.cti.eq(Mux(fixed, CTI_CONSTANT,
                                  Mux(issued == beats - 1, CTI_END, CTI_INCREMENT))),
                    wb.bte.eq(0),
                ]
                # After an error the rest of a write burst's data is consumed unwritten.
                drain = is_write & err & (issued != beats)
                m.d.comb += w.ready.eq(is_write & (accepted | drain))
                step = Mux(is_write, w.valid & w.ready, accepted)
                m.d.sync += issued.eq(issued + step)
                with m.If(accepted & ~fixed):
                    m.d.sync += addr.eq(addr + 1)
                m.d.sync += pending.eq(pending_next)
                with m.If(wb.err):
                    m.d.sync += err.eq(1)

                with m.If(~is_write & response):
                    m.d.comb += [
                        r.valid.eq(1), r.payload.data.eq(wb.dat_r), r.payload.err.eq(wb.err),
                        r.payload.last.eq(delivered == beats - 1),
                    ]
                    m.d.sync += delivered.eq(delivered + 1)

                all_consumed = issued + step == beats
                with m.If(is_write & all_consumed & (pending_next == 0)):
                    m.d.sync += [b.valid.eq(1), b.payload.err.eq(err | wb.err)]
                    m.next = "IDLE"
                with m.If(~is_write & (all_consumed | err | wb.err) & (pending_next == 0)):
                    with m.If(delivered + response == beats):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "READ_TAIL"

            with m.State("READ_TAIL"):
                # The beats the failed read never asked for: errors, off the bus.
                m.d.comb += [r.valid.eq(1), r.payload.err.eq(1),
                             r.payload.last.eq(delivered == beats - 1)]
                with m.If(r.ready):
                    m.d.sync += delivered.eq(delivered + 1)
                    with m.If(delivered == beats - 1):
                        m.next = "IDLE"
        return m
