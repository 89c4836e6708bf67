"""AXI4 master adapter: the neutral memory ports map almost 1:1 onto the five channels."""

from amaranth.hdl import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..memport import ReadPortSignature, WritePortSignature
from .signatures import AXI4Signature, BURST_FIXED, BURST_INCR


__all__ = ["AXI4Adapter"]

# Normal non-cacheable bufferable memory (AxCACHE = 0b0011), the usual choice of DMA masters.
CACHE_NORMAL = 0b0011


class AXI4Adapter(wiring.Component):
    """Read and write run independently; reads stay in order (one ID) so the reader can
    keep several bursts outstanding without reordering. A response with RESP[1] set
    (SLVERR or DECERR) is an error."""

    def __init__(self, *, addr_width, data_width):
        self._data_width = data_width
        super().__init__({
            "read": In(ReadPortSignature(addr_width=addr_width, data_width=data_width)),
            "write": In(WritePortSignature(addr_width=addr_width, data_width=data_width)),
            "axi": Out(AXI4Signature(addr_width=addr_width, data_width=data_width)),
        })

    def elaborate(self, platform):
        m = Module()
        axi = self.axi
        size = (self._data_width // 8).bit_length() - 1

        for ch, cmd in (("ar", self.read.cmd), ("aw", self.write.cmd)):
            m.d.comb += [
                getattr(axi, f"{ch}addr").eq(cmd.payload.addr),
                getattr(axi, f"{ch}len").eq(cmd.payload.len),
                getattr(axi, f"{ch}size").eq(size),
                getattr(axi, f"{ch}burst").eq(
                    Mux(cmd.payload.fixed, BURST_FIXED, BURST_INCR)),
                getattr(axi, f"{ch}cache").eq(CACHE_NORMAL),
                getattr(axi, f"{ch}valid").eq(cmd.valid),
                cmd.ready.eq(getattr(axi, f"{ch}ready")),
            ]

        r, w, b = self.read.r, self.write.w, self.write.b
        m.d.comb += [
            r.valid.eq(axi.rvalid), r.payload.data.eq(axi.rdata),
            r.payload.err.eq(axi.rresp[1]), r.payload.last.eq(axi.rlast),
            axi.rready.eq(r.ready),
            axi.wvalid.eq(w.valid), axi.wdata.eq(w.payload.data), axi.wstrb.eq(w.payload.strb),
            axi.wlast.eq(w.payload.last), w.ready.eq(axi.wready),
            b.valid.eq(axi.bvalid), b.payload.err.eq(axi.bresp[1]), axi.bready.eq(b.ready),
        ]
        return m
