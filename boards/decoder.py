"""A Wishbone B4 pipelined address decoder: one bus to the slaves of a memory map."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hauler.bus.signatures import WishboneSignature


__all__ = ["WishboneDecoder"]


def _is_pow2(value):
    return value > 0 and value & (value - 1) == 0


class WishboneDecoder(wiring.Component):
    """Routes each strobe to the region its address falls in; nowhere, it ends with ERR.

    Each region is a power-of-two block aligned to its size; its port gets the word address
    within the region. Strobes and their answers pass unregistered, so a slave that takes a
    strobe per cycle gets one per cycle. Answers are routed by the region of the strobes in
    flight: the decoder stalls a strobe to another region until every strobe sent so far has
    been answered, so answers can never arrive out of order (a slow region behind a fast one).
    A slave's ``cyc`` is high while the strobes in flight are its own, and otherwise while the
    master's address points at it. A strobe that no region decodes is taken at once and
    answered with ERR in the next cycle.

    Slaves must answer in a cycle after the one they take the strobe in (a registered ack,
    as every slave of the demo SoC has).

    Parameters
    ----------
    addr_width, data_width : int
        Of the master side (``adr`` is a word address).
    regions : dict of str to (int, int)
        Port name to (base, size) in bytes: ``size`` a power of two of at least one word,
        ``base`` a multiple of ``size``, inside the address space, no two overlapping.
    max_pending : int
        Strobes that may wait for an answer at once; more are stalled.

    Members
    -------
    bus : In(WishboneSignature(addr_width, data_width, pipelined=True))
        From the masters.
    <name> : Out(WishboneSignature(log2(size / word bytes), data_width, pipelined=True))
        To the slave of each region.

    Raises
    ------
    ValueError
        For a region that is not a power of two, misaligned, outside the address space,
        overlapping another, or named ``bus``; for ``max_pending`` below 1.
    """

    def __init__(self, *, addr_width, data_width, regions, max_pending=16):
        word_bytes = data_width // 8
        space = word_bytes << addr_width
        if not isinstance(max_pending, int) or max_pending < 1:
            raise ValueError(f"max_pending must be a positive integer, not {max_pending!r}")
        self._regions = {}
        taken = []
        for name, (base, size) in regions.items():
            if name == "bus":
                raise ValueError("a region cannot be named 'bus'")
            if not _is_pow2(size) or size < word_bytes:
                raise ValueError(f"region {name!r}: size must be a power of two of at least "
                                 f"{word_bytes} bytes, not {size:#x}")
            if base % size or not 0 <= base < space or base + size > space:
                raise ValueError(f"region {name!r}: base {base:#x} must be a multiple of its "
                                 f"size {size:#x} inside the {space:#x}-byte address space")
            for other, (other_base, other_size) in taken:
                if base < other_base + other_size and other_base < base + size:
                    raise ValueError(f"region {name!r} at {base:#x} overlaps region "
                                     f"{other!r} at {other_base:#x}")
            taken.append((name, (base, size)))
            # Word-address bits inside the region, and the region's number above them.
            width = (size // word_bytes).bit_length() - 1
            self._regions[name] = (width, base // word_bytes >> width)
        self._max_pending = max_pending
        members = {"bus": In(WishboneSignature(addr_width=addr_width, data_width=data_width,
                                               pipelined=True))}
        for name, (width, _) in self._regions.items():
            members[name] = Out(WishboneSignature(addr_width=width, data_width=data_width,
                                                  pipelined=True))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        slaves = [getattr(self, name) for name in self._regions]
        nowhere = len(slaves)               # the region number of an unmapped address

        target = Signal(range(nowhere + 1))  # the region bus.adr points at
        m.d.comb += target.eq(nowhere)
        for i, (width, number) in reversed(list(enumerate(self._regions.values()))):
            with m.If(bus.adr[width:] == number):
                m.d.comb += target.eq(i)

        owner = Signal(range(nowhere + 1))   # the region of the strobes in flight
        pending = Signal(range(self._max_pending + 1))
        waiting = pending != 0
        # A strobe elsewhere waits for the answers in flight; so does one too many.
        hold = (waiting & (target != owner)) | (pending == self._max_pending)
        chosen = Mux(waiting, owner, target)

        slave_stall = Signal()
        nowhere_err = Signal()          # the answer to an unmapped strobe
        m.d.comb += bus.stall.eq(hold | slave_stall)
        accepted = bus.cyc & bus.stb & ~bus.stall
        answered = bus.cyc & (bus.ack | bus.err)
        with m.If(~bus.cyc):
            m.d.sync += pending.eq(0)       # the master ended (or gave up) its bus cycle
        with m.Else():
            m.d.sync += pending.eq(pending + accepted - answered)
        with m.If(accepted):
            m.d.sync += owner.eq(target)
        m.d.sync += nowhere_err.eq(accepted & (target == nowhere))

        for i, (slave, (width, _)) in enumerate(zip(slaves, self._regions.values())):
            m.d.comb += [
                slave.adr.eq(bus.adr[:width]), slave.dat_w.eq(bus.dat_w), slave.sel.eq(bus.sel),
                slave.we.eq(bus.we), slave.cti.eq(bus.cti), slave.bte.eq(bus.bte),
                slave.cyc.eq(bus.cyc & (chosen == i)),
                slave.stb.eq(bus.cyc & bus.stb & (target == i) & ~hold),
            ]
            with m.If(target == i):
                m.d.comb += slave_stall.eq(slave.stall)
            with m.If(owner == i):
                m.d.comb += [bus.ack.eq(slave.ack & bus.cyc), bus.err.eq(slave.err & bus.cyc),
                             bus.dat_r.eq(slave.dat_r)]
        with m.If(owner == nowhere):
            m.d.comb += bus.err.eq(nowhere_err & bus.cyc)
        return m
