"""The board block: what the host needs to know about the build, and the sticky error flags."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hauler.bus.signatures import WishboneSignature

from .memory_map import ERROR_BUS, ERROR_LINK, INFO_MAGIC, INFO_REGISTERS


__all__ = ["BoardInfo"]


class BoardInfo(wiring.Component):
    """Four registers (:data:`~hauler.boards.memory_map.INFO_REGISTERS`): MAGIC, RAM_SIZE and
    CLK_HZ read as constants; ERRORS holds the flags raised by ``bus_error`` and
    ``link_error`` until software writes 1 to them. Each access is answered in the next
    cycle, one per cycle.

    Parameters
    ----------
    ram_size : int
        Bytes of RAM, read from RAM_SIZE.
    clk_freq : int
        Clock frequency in Hz, read from CLK_HZ.

    Members
    -------
    bus : In(WishboneSignature(addr_width=2, data_width=32, pipelined=True))
    bus_error, link_error : In(1)
        Set ERRORS' bits (:data:`~hauler.boards.memory_map.ERROR_BUS`,
        :data:`~hauler.boards.memory_map.ERROR_LINK`).
    errors : Out(2)
        The ERRORS register (the ERROR LED is its OR).

    Raises
    ------
    ValueError
        If ``ram_size`` or ``clk_freq`` is not a positive integer below 2**32.
    """

    def __init__(self, *, ram_size, clk_freq):
        for name, value in (("ram_size", ram_size), ("clk_freq", clk_freq)):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 1 << 32:
                raise ValueError(f"{name} must be a positive integer below 2**32, not {value!r}")
        self._values = {"MAGIC": INFO_MAGIC, "RAM_SIZE": ram_size, "CLK_HZ": clk_freq}
        super().__init__({
            "bus": In(WishboneSignature(addr_width=2, data_width=32, pipelined=True)),
            "bus_error": In(1),
            "link_error": In(1),
            "errors": Out(2),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        strobe = bus.cyc & bus.stb
        errors_index = INFO_REGISTERS["ERRORS"] // 4

        m.d.comb += [bus.stall.eq(0), bus.err.eq(0)]
        m.d.sync += bus.ack.eq(strobe)
        with m.If(strobe & ~bus.we):
            with m.Switch(bus.adr):
                for name, value in self._values.items():
                    with m.Case(INFO_REGISTERS[name] // 4):
                        m.d.sync += bus.dat_r.eq(value)
                with m.Case(errors_index):
                    m.d.sync += bus.dat_r.eq(self.errors)

        # Write 1 to clear, unless the same cycle raises the flag again.
        clear = Signal(2)
        with m.If(strobe & bus.we & (bus.adr == errors_index) & bus.sel[0]):
            m.d.comb += clear.eq(bus.dat_w[:2])
        raised = Mux(self.bus_error, ERROR_BUS, 0) | Mux(self.link_error, ERROR_LINK, 0)
        m.d.sync += self.errors.eq((self.errors & ~clear) | raised)
        return m
