"""A pipelined Wishbone port in front of a classic slave (the DMA controller's registers)."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hauler.bus.signatures import WishboneSignature


__all__ = ["ClassicAdapter"]


class ClassicAdapter(wiring.Component):
    """Turns each pipelined strobe into one classic bus cycle.

    A pipelined strobe is valid only in the cycle it is taken, while a classic slave needs
    its strobe held until it acks. So the adapter takes a strobe (``stall`` low) only when it
    is idle, keeps the request in registers, holds ``cyc``/``stb`` to the classic slave with
    them until its ``ack``, and passes that ack (and ``dat_r``) back. It stalls while busy:
    one access at a time, which is all a register file needs. If the master drops ``cyc``
    the classic cycle ends with it. ``err`` is never raised: a classic slave of this signature
    has none.

    Parameters
    ----------
    addr_width, data_width : int
        Of both sides (``adr`` is a word address).

    Members
    -------
    bus : In(WishboneSignature(..., pipelined=True))
        From the interconnect.
    classic : Out(WishboneSignature(..., pipelined=False))
        To the classic slave.
    """

    def __init__(self, *, addr_width, data_width):
        super().__init__({
            "bus": In(WishboneSignature(addr_width=addr_width, data_width=data_width,
                                        pipelined=True)),
            "classic": Out(WishboneSignature(addr_width=addr_width, data_width=data_width,
                                             pipelined=False)),
        })

    def elaborate(self, platform):
        m = Module()
        bus, classic = self.bus, self.classic
        busy = Signal()
        active = busy & bus.cyc

        m.d.comb += [
            bus.stall.eq(busy),
            classic.cyc.eq(active), classic.stb.eq(active),
            bus.ack.eq(active & classic.ack), bus.err.eq(0), bus.dat_r.eq(classic.dat_r),
        ]
        with m.If(~busy & bus.cyc & bus.stb):
            m.d.sync += [busy.eq(1), classic.adr.eq(bus.adr), classic.dat_w.eq(bus.dat_w),
                         classic.sel.eq(bus.sel), classic.we.eq(bus.we)]
        with m.If(busy & (classic.ack | ~bus.cyc)):
            m.d.sync += busy.eq(0)
        return m
