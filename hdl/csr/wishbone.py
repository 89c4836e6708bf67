"""Wishbone B4 classic slave front end of the register file."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..bus.signatures import WishboneSignature
from .bus import CsrSignature


__all__ = ["WishboneCsrSlave"]


class WishboneCsrSlave(wiring.Component):
    """Answers each classic cycle with one registered ack: a write's two cycles after its
    strobe rises (its address is decoded in the first, see CsrSignature), a read's in the
    cycle after next (the register file's read takes two)."""

    def __init__(self, *, addr_width):
        super().__init__({
            "wb": In(WishboneSignature(addr_width=addr_width, data_width=32, pipelined=False)),
            "csr": Out(CsrSignature(addr_width=addr_width)),
        })

    def elaborate(self, platform):
        m = Module()
        wb, csr = self.wb, self.csr

        # The strobe of a classic cycle stays up until ack: act only on its first cycle.
        # A write is acknowledged in the next cycle; a read once its data is there, two
        # cycles after its strobe.
        busy = Signal()
        reading = Signal()
        held = Signal()             # a write's address was shown in the cycle before
        take = wb.cyc & wb.stb & ~busy
        m.d.comb += [
            csr.r_addr.eq(wb.adr), csr.w_addr.eq(wb.adr),
            csr.r_stb.eq(take & ~wb.we),
            csr.w_stb.eq(take & wb.we & held),
            csr.w_data.eq(wb.dat_w),
            csr.w_strb.eq(wb.sel),
            wb.dat_r.eq(csr.r_data),
        ]
        # (No ack for a read whose cycle the master gave up meanwhile.)
        m.d.sync += [wb.ack.eq(csr.w_stb | (reading & wb.cyc & wb.stb)), reading.eq(csr.r_stb),
                     busy.eq(csr.w_stb | csr.r_stb | reading),
                     held.eq(take & wb.we & ~csr.w_stb)]
        return m
