"""On-chip RAM as Wishbone B4 pipelined slaves: iCE40 UP5K SPRAM, or inferred block RAM.

Both take a strobe every cycle (``stall`` is never raised) and answer it in the next one, so
they run at a master's full rate. Both have the same ports: the iCE40 SPRAM, which only
exists on silicon, is swapped for :class:`BlockRAM` in simulation.
"""

from amaranth.hdl import Cat, ClockSignal, Instance, Module, Mux, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In

from hauler.bus.signatures import WishboneSignature


__all__ = ["SPRAM_BYTES", "SPRAM", "BlockRAM"]


#: One SB_SPRAM256KA: 16384 words of 16 bits.
SPRAM_BYTES = 32 * 1024
_SPRAM_DEPTH = 16384
#: The iCE40 UP5K has four.
_SPRAM_COUNT = 4


def _bus_signature(size):
    return WishboneSignature(addr_width=(size // 4).bit_length() - 1, data_width=32,
                             pipelined=True)




class SPRAM(wiring.Component):
    """The iCE40 UP5K's single-port RAMs (``SB_SPRAM256KA``) as one 32-bit memory.

    Each SPRAM is 16 bits wide, so they go in pairs: a bank of two holds the low and the high
    half of each word (64 KiB); with two banks, word address bit 14 picks the bank. An SPRAM
    writes nibbles: byte select ``sel[n]`` enables the two nibbles of byte ``n``. A read's
    data appears on the SPRAM's output in the cycle after the strobe and stays there until the
    next read, which is when the ack is given. Only the strobed bank is chip-selected.

    Parameters
    ----------
    size : int
        Bytes: 65536 (two SPRAMs) or 131072 (all four).

    Members
    -------
    bus : In(WishboneSignature(addr_width=log2(size / 4), data_width=32, pipelined=True))

    Raises
    ------
    ValueError
        If ``size`` is neither.
    """

    SIZES = (2 * SPRAM_BYTES, _SPRAM_COUNT * SPRAM_BYTES)

    def __init__(self, *, size):
        if size not in self.SIZES:
            raise ValueError(f"size must be 65536 (two SPRAMs) or 131072 (four), not {size!r}")
        self._banks = size // (2 * SPRAM_BYTES)
        super().__init__({"bus": In(_bus_signature(size))})

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        strobe = bus.cyc & bus.stb
        bank = bus.adr[14:] if self._banks > 1 else 0
        bank_read = Signal(range(self._banks))     # the bank whose data the ack returns
        outputs = []
        for b in range(self._banks):
            halves = []
            for h, half in enumerate(("lo", "hi")):
                data_out = Signal(16, name=f"bank{b}_{half}_data")
                sel = bus.sel[2 * h:2 * h + 2]
                m.submodules[f"bank{b}_{half}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=bus.adr[:14], i_DATAIN=bus.dat_w[16 * h:16 * h + 16],
                    i_MASKWREN=Cat(sel[0], sel[0], sel[1], sel[1]),
                    i_WREN=bus.we, i_CHIPSELECT=strobe & (bank == b),
                    i_CLOCK=ClockSignal(),
                    # Always on: STANDBY, SLEEP low; POWEROFF is active low.
                    i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1,
                    o_DATAOUT=data_out,
                )
                halves.append(data_out)
            outputs.append(Cat(*halves))
        m.d.sync += bus.ack.eq(strobe)
        with m.If(strobe):
            m.d.sync += bank_read.eq(bank)
        m.d.comb += [bus.stall.eq(0), bus.err.eq(0),
                     bus.dat_r.eq(outputs[0] if self._banks == 1 else
                                  Mux(bank_read, outputs[1], outputs[0]))]
        return m


class BlockRAM(wiring.Component):
    """A 32-bit memory of :class:`amaranth.lib.memory.Memory`: block RAM on ECP5 (and iCE40),
    and the behavioral stand-in for :class:`SPRAM` in simulation. Initially ``init``, then
    zero.

    The read port is synchronous: the data of a read strobe is there in the next cycle, with
    the ack. It is enabled only by read strobes, so it holds its data like an SPRAM does. The
    write port writes the bytes ``sel`` selects.

    Parameters
    ----------
    size : int
        Bytes, a power of two from 4 to 1 MiB.
    init : bytes
        The first bytes of the memory (a program image), little-endian in each word.

    Members
    -------
    bus : In(WishboneSignature(addr_width=log2(size / 4), data_width=32, pipelined=True))

    Raises
    ------
    ValueError
        If ``size`` is not one of those, or ``init`` does not fit.
    """

    def __init__(self, *, size, init=b""):
        if not isinstance(size, int) or size not in (4 << n for n in range(19)):
            raise ValueError(f"size must be a power of two from 4 to 1048576 bytes, not {size!r}")
        if len(init) > size:
            raise ValueError(f"an image of {len(init)} bytes does not fit {size} bytes of RAM")
        self._size = size
        padded = bytes(init) + bytes(-len(init) % 4)
        self._init = [int.from_bytes(padded[i:i + 4], "little") for i in range(0, len(padded), 4)]
        super().__init__({"bus": In(_bus_signature(size))})

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        strobe = bus.cyc & bus.stb
        m.submodules.memory = mem = memory.Memory(shape=32, depth=self._size // 4, init=self._init)
        write = mem.write_port(granularity=8)
        read = mem.read_port()
        m.d.comb += [
            write.addr.eq(bus.adr), write.data.eq(bus.dat_w),
            write.en.eq(Mux(strobe & bus.we, bus.sel, 0)),
            read.addr.eq(bus.adr), read.en.eq(strobe & ~bus.we),
            bus.dat_r.eq(read.data), bus.stall.eq(0), bus.err.eq(0),
        ]
        m.d.sync += bus.ack.eq(strobe)
        return m
