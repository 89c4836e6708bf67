"""The CPU SoC's program control: how a program says it ended, and marks points in its run
for a simulation to time."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hauler.bus.signatures import WishboneSignature

from .memory_map import CONTROL_REGISTERS


__all__ = ["ProgramControl"]


class ProgramControl(wiring.Component):
    """Two write-only registers (:data:`~hauler.boards.memory_map.CONTROL_REGISTERS`):
    EXIT latches the program's exit code and raises ``exited`` until reset; MARK pulses
    ``marked`` for a cycle with its value on ``mark``. Reads return 0.

    Members
    -------
    bus : In(WishboneSignature(addr_width=2, data_width=32, pipelined=True))
    exited : Out(1)
    exit_code : Out(8)
    marked : Out(1)
    mark : Out(32)
    """

    def __init__(self):
        super().__init__({
            "bus": In(WishboneSignature(addr_width=2, data_width=32, pipelined=True)),
            "exited": Out(1),
            "exit_code": Out(8),
            "marked": Out(1),
            "mark": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        strobe = bus.cyc & bus.stb
        m.d.comb += [bus.stall.eq(0), bus.err.eq(0), bus.dat_r.eq(0)]
        m.d.sync += [bus.ack.eq(strobe), self.marked.eq(0)]
        with m.If(strobe & bus.we):
            with m.Switch(bus.adr):
                with m.Case(CONTROL_REGISTERS["EXIT"] // 4):
                    m.d.sync += [self.exited.eq(1), self.exit_code.eq(bus.dat_w[:8])]
                with m.Case(CONTROL_REGISTERS["MARK"] // 4):
                    m.d.sync += [self.marked.eq(1), self.mark.eq(bus.dat_w)]
        return m
