"""AXI4-Lite slave front end of the register file."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..bus.signatures import AXI4LiteSignature
from .bus import CsrSignature


__all__ = ["AXI4LiteCsrSlave"]


class AXI4LiteCsrSlave(wiring.Component):
    """Turns AXI4-Lite transactions into register-bus strobes; always answers OKAY.

    A write is taken when both AW and W are valid (awready and wready rise together, which
    the spec allows), AW was already valid in the cycle before (its address is then decoded,
    see CsrSignature) and no response is pending, so a bready stall never loses a write. A
    read is answered two cycles after it is taken.
    """

    def __init__(self, *, addr_width):
        self._addr_width = addr_width
        super().__init__({
            "axil": In(AXI4LiteSignature(addr_width=addr_width)),
            "csr": Out(CsrSignature(addr_width=addr_width - 2)),
        })

    def elaborate(self, platform):
        m = Module()
        axil, csr = self.axil, self.csr

        # AWADDR holds while AWVALID waits (AXI): shown in the cycle before if AWVALID was.
        aw_held = Signal()
        take_write = axil.awvalid & axil.wvalid & ~axil.bvalid & aw_held
        m.d.sync += aw_held.eq(axil.awvalid & ~take_write)
        m.d.comb += [
            axil.awready.eq(take_write),
            axil.wready.eq(take_write),
            csr.w_stb.eq(take_write),
            csr.w_addr.eq(axil.awaddr[2:]),
            csr.w_data.eq(axil.wdata),
            csr.w_strb.eq(axil.wstrb),
            axil.bresp.eq(0),
        ]
        with m.If(take_write):
            m.d.sync += axil.bvalid.eq(1)
        with m.Elif(axil.bready):
            m.d.sync += axil.bvalid.eq(0)

        # Register data arrives two cycles after the strobe (the register file decodes the
        # address into flip-flops first) and stays until the next strobe; none comes while a
        # read is under way or R waits, so it doubles as RDATA.
        reading = Signal()
        take_read = axil.arvalid & ~reading & ~axil.rvalid
        m.d.comb += [
            axil.arready.eq(take_read),
            csr.r_stb.eq(take_read),
            csr.r_addr.eq(axil.araddr[2:]),
            axil.rdata.eq(csr.r_data),
            axil.rresp.eq(0),
        ]
        m.d.sync += reading.eq(take_read)
        with m.If(reading):
            m.d.sync += axil.rvalid.eq(1)
        with m.Elif(axil.rready):
            m.d.sync += axil.rvalid.eq(0)
        return m
