"""Signatures of the external buses, with the port names of ABI §1.

Each is written from the master's side; a slave port is ``Signature.flip()``. Flattened by
Amaranth with ``__`` separators (``m_axi__awaddr``), which the testbenches expect.
"""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


__all__ = ["AXI4Signature", "AXI4LiteSignature", "WishboneSignature", "AXIStreamSignature"]


# AXI4 burst types (AxBURST).
BURST_FIXED = 0
BURST_INCR = 1


class AXI4Signature(wiring.Signature):
    """AXI4 master with one ID bit (the core issues all its transactions in order)."""

    def __init__(self, *, addr_width, data_width, id_width=1):
        self.addr_width = addr_width
        self.data_width = data_width
        self.id_width = id_width
        members = {}
        for ch in ("aw", "ar"):
            members.update({
                f"{ch}id": Out(id_width), f"{ch}addr": Out(addr_width), f"{ch}len": Out(8),
                f"{ch}size": Out(3), f"{ch}burst": Out(2), f"{ch}lock": Out(1),
                f"{ch}cache": Out(4), f"{ch}prot": Out(3), f"{ch}valid": Out(1),
                f"{ch}ready": In(1),
            })
        members.update({
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wlast": Out(1),
            "wvalid": Out(1), "wready": In(1),
            "bid": In(id_width), "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "rid": In(id_width), "rdata": In(data_width), "rresp": In(2), "rlast": In(1),
            "rvalid": In(1), "rready": Out(1),
        })
        super().__init__(members)


class AXI4LiteSignature(wiring.Signature):
    """AXI4-Lite master, 32-bit data."""

    def __init__(self, *, addr_width):
        self.addr_width = addr_width
        super().__init__({
            "awaddr": Out(addr_width), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(32), "wstrb": Out(4), "wvalid": Out(1), "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
            "rdata": In(32), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        })


class WishboneSignature(wiring.Signature):
    """Wishbone B4 master; ``adr`` is a word address.

    ``pipelined`` adds ``stall``, ``err`` and the ``cti``/``bte`` burst hints (the memory
    master); without it this is the classic register port of ABI §1.
    """

    def __init__(self, *, addr_width, data_width, pipelined):
        self.addr_width = addr_width
        self.data_width = data_width
        self.pipelined = pipelined
        members = {
            "adr": Out(addr_width), "dat_w": Out(data_width), "dat_r": In(data_width),
            "sel": Out(data_width // 8), "cyc": Out(1), "stb": Out(1), "we": Out(1),
            "ack": In(1),
        }
        if pipelined:
            members.update({"err": In(1), "stall": In(1), "cti": Out(3), "bte": Out(2)})
        super().__init__(members)


class AXIStreamSignature(wiring.Signature):
    """AXI4-Stream source (``tdata``, ``tkeep``, ``tlast``, ``tvalid``, ``tready``): the
    memory-to-stream port; the stream-to-memory port is its ``flip()``."""

    def __init__(self, *, data_width):
        self.data_width = data_width
        super().__init__({
            "tdata": Out(data_width), "tkeep": Out(data_width // 8), "tlast": Out(1),
            "tvalid": Out(1), "tready": In(1),
        })
