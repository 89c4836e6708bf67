"""The CPU SoC's processor: VexRiscv, the Verilog that the ``luna-soc`` wheel ships.

Hauler writes no CPU of its own. luna-soc's ``imc`` build of VexRiscv (RV32IMC, machine mode,
an instruction cache, no data cache) is instantiated as it is: its Verilog is added to the
design, read from the installed wheel (not imported: luna-soc's Python needs amaranth-soc,
which is not on PyPI). No data cache means that what the DMA controller writes to RAM is
what the CPU reads, with nothing to flush.

Its two buses are Wishbone classic: a strobe is held until its ack. :class:`VexRiscv` turns
each into a pipelined master, which is what the SoC's arbiter takes.
"""

import importlib.util
from pathlib import Path

from amaranth.hdl import ClockSignal, Const, Instance, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hauler.bus.signatures import WishboneSignature
from hauler.errors import ToolError


__all__ = ["CPU_VARIANT", "IRQ_LINES", "vexriscv_verilog", "VexRiscv"]


#: luna-soc's VexRiscv build: RV32IMC with an instruction cache and no data cache.
CPU_VARIANT = "imc"
#: Interrupt lines of VexRiscv's external interrupt array; bit ``n`` is enabled by bit ``n`` of
#: its machine interrupt mask CSR (0xBC0) and raises the machine external interrupt.
IRQ_LINES = 32
_MODULE = "VexRiscv"
#: Cycles VexRiscv is held in reset after configuration.
_POWER_ON_CYCLES = 15


def vexriscv_verilog():
    """The path of VexRiscv's Verilog in the installed ``luna-soc`` wheel.

    Raises
    ------
    hauler.errors.ToolError
        If luna-soc is not installed or has no such file.
    """
    spec = importlib.util.find_spec("luna_soc")
    if spec is None or not spec.submodule_search_locations:
        raise ToolError("the CPU SoC needs the luna-soc package for VexRiscv's Verilog: "
                        "pip install luna-soc (the bootstrap does)")
    path = (Path(next(iter(spec.submodule_search_locations))) / "gateware" / "cpu" /
            "verilog" / "vexriscv" / f"vexriscv_{CPU_VARIANT}.v")
    if not path.is_file():
        raise ToolError(f"luna-soc is installed but has no {path.name}: the CPU SoC was made "
                        f"with luna-soc 0.3.2")
    return path


def _pipelined(m, name, port):
    """Signals for one of VexRiscv's classic buses, driving the pipelined ``port``: the held
    strobe is passed on once, and the ack or err that answers it goes back."""
    classic = {s: Signal(len(getattr(port, s)), name=f"{name}_{s}")
               for s in ("adr", "dat_w", "sel", "cyc", "stb", "we", "cti", "bte")}
    issued = Signal(name=f"{name}_issued")      # the held strobe was taken, awaits its answer
    m.d.comb += [getattr(port, s).eq(classic[s]) for s in classic if s != "stb"]
    m.d.comb += port.stb.eq(classic["stb"] & ~issued)
    with m.If(port.cyc & port.stb & ~port.stall):
        m.d.sync += issued.eq(1)
    with m.If(port.ack | port.err | ~port.cyc):
        m.d.sync += issued.eq(0)
    prefix = f"{name}Wishbone_"
    ports = {f"o_{prefix}{s.upper()}": classic[s] for s in ("adr", "sel", "cyc", "stb", "we",
                                                            "cti", "bte")}
    ports.update({f"o_{prefix}DAT_MOSI": classic["dat_w"], f"i_{prefix}DAT_MISO": port.dat_r,
                  f"i_{prefix}ACK": port.ack, f"i_{prefix}ERR": port.err})
    return ports


class VexRiscv(wiring.Component):
    """VexRiscv (:data:`CPU_VARIANT`) with pipelined Wishbone buses.

    Each bus has one access in flight at a time, as the classic bus it comes from: a load or
    store costs the slave's latency plus a cycle.

    Parameters
    ----------
    reset_address : int
        Where the CPU starts.

    Members
    -------
    ibus, dbus : Out(WishboneSignature(addr_width=30, data_width=32, pipelined=True))
        Instruction fetches (cache line refills) and loads/stores.
    irq : In(IRQ_LINES)
        The external interrupt array (see :data:`IRQ_LINES`).
    """

    def __init__(self, *, reset_address):
        self._reset_address = reset_address
        bus = WishboneSignature(addr_width=30, data_width=32, pipelined=True)
        super().__init__({"ibus": Out(bus), "dbus": Out(bus), "irq": In(IRQ_LINES)})

    def elaborate(self, platform):
        m = Module()
        if platform is not None:
            path = vexriscv_verilog()
            platform.add_file(path.name, path.read_text())
        # VexRiscv starts from its reset only: on a board whose clock domain has no reset
        # signal, it is held in reset for its first cycles after configuration.
        power_on = Signal(range(_POWER_ON_CYCLES + 1), init=_POWER_ON_CYCLES)
        with m.If(power_on != 0):
            m.d.sync += power_on.eq(power_on - 1)
        m.submodules.vexriscv = Instance(
            _MODULE,
            i_clk=ClockSignal(), i_reset=ResetSignal(allow_reset_less=True) | (power_on != 0),
            i_externalResetVector=Const(self._reset_address, 32),
            i_externalInterruptArray=self.irq, i_timerInterrupt=0, i_softwareInterrupt=0,
            **_pipelined(m, "iBus", self.ibus), **_pipelined(m, "dBus", self.dbus))
        return m
