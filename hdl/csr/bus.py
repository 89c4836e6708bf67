"""The internal register bus between a CSR front end and the register file."""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


__all__ = ["CsrSignature"]


class CsrSignature(wiring.Signature):
    """Word-addressed 32-bit register bus, from the front end's (master's) side.

    A read strobe returns ``r_data`` two cycles later, held until the next read strobe; a
    write takes effect at the strobe. ``w_addr`` is shown from the cycle before the write
    strobe (the register file decodes it into flip-flops there).
    Reads and writes may happen in the same cycle (AXI4-Lite has separate channels).
    """

    def __init__(self, *, addr_width):
        self.addr_width = addr_width
        super().__init__({
            "r_addr": Out(addr_width), "r_stb": Out(1), "r_data": In(32),
            "w_addr": Out(addr_width), "w_stb": Out(1), "w_data": Out(32), "w_strb": Out(4),
        })
