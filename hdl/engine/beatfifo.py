"""The data FIFO between the reader and the writer, and the queues of bursts and beats."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


__all__ = ["BeatFifo", "BufferedFifo"]


class BeatFifo(wiring.Component):
    """A FIFO of data beats in block RAM whose output goes straight to the next flip-flop.

    The block RAM's read port never stalls: its address is the next beat to show, chosen in
    the cycle before, so ``r_data`` is the RAM's own output with no hold multiplexer after it
    (a block RAM output is slow, over 5 ns on ECP5).

    There are no level flags, which would sit on the mover's paths: the mover reserves room
    for a whole burst before reading it, and takes a beat out only once its whole burst is
    in, several cycles after its last beat was written. A written beat is readable two
    cycles later.

    Parameters
    ----------
    width : int
    depth : int
        A power of two.

    Members
    -------
    w_data, w_en : In
    r_data : Out
        The oldest beat.
    r_en : In(1)
        Take the oldest beat.
    """

    def __init__(self, *, width, depth):
        if depth < 2 or depth & (depth - 1):
            raise ValueError(f"depth must be a power of two of at least 2, not {depth}")
        self._width = width
        self._depth = depth
        super().__init__({
            "w_data": In(width), "w_en": In(1),
            "r_data": Out(width), "r_en": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        # A beat is never read in the cycle it is written, so Yosys need not model what such
        # a read returns (it would put a bypass multiplexer after the block RAM). Yosys
        # honours that only when it merges the output register into the read port itself,
        # hence an asynchronous read port followed by a plain register.
        m.submodules.storage = storage = Memory(shape=self._width, depth=self._depth, init=[],
                                                attrs={"no_rw_check": 1})
        w_port = storage.write_port()
        r_port = storage.read_port(domain="comb")
        produce = Signal(range(self._depth))
        # The read address is chosen from two registers, not by an adder after `r_en`.
        consume = Signal(range(self._depth))
        consume_next = Signal(range(self._depth), init=1)
        m.d.comb += [
            w_port.addr.eq(produce), w_port.data.eq(self.w_data), w_port.en.eq(self.w_en),
            r_port.addr.eq(Mux(self.r_en, consume_next, consume)),
        ]
        r_data = Signal(self._width, reset_less=True)
        m.d.comb += self.r_data.eq(r_data)
        m.d.sync += [produce.eq(produce + self.w_en), r_data.eq(r_port.data)]
        with m.If(self.r_en):
            m.d.sync += [consume.eq(consume_next), consume_next.eq(consume_next + 1)]
        return m


class BufferedFifo(wiring.Component):
    """``amaranth.lib.fifo.SyncFIFOBuffered`` with the same ports and timing (``w_data``,
    ``w_en``, ``w_rdy``, ``r_data``, ``r_en``, ``r_rdy``; no levels), built so that Yosys
    maps it onto iCE40 block RAM without a bypass.

    The library's FIFO reads its memory through a synchronous port, which Yosys cannot
    spare a read-during-write bypass on iCE40 (a register of the written beat, an address
    compare and a multiplexer: about a flip-flop per bit twice over). An entry is never read
    in the cycle it is written (the memory is neither empty nor full when both happen, so the
    pointers differ), so here the port is asynchronous with ``no_rw_check`` and the output
    register a plain one (as in :class:`BeatFifo`). On ECP5 it maps as before.

    Parameters
    ----------
    width : int
    depth : int
        Entries: ``depth - 1`` in memory, one in the output register.
    """

    def __init__(self, *, width, depth):
        if depth < 2:
            raise ValueError(f"depth must be at least 2, not {depth}")
        self._width = width
        self._depth = depth
        super().__init__({
            "w_data": In(width), "w_en": In(1), "w_rdy": Out(1),
            "r_data": Out(width), "r_en": In(1), "r_rdy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        inner = self._depth - 1
        m.submodules.storage = storage = Memory(shape=self._width, depth=inner, init=[],
                                                attrs={"no_rw_check": 1})
        w_port = storage.write_port()
        r_port = storage.read_port(domain="comb")
        level = Signal(range(inner + 1))        # entries in memory
        produce = Signal(range(inner))
        consume = Signal(range(inner))
        do_write = self.w_rdy & self.w_en
        do_read = (level != 0) & (~self.r_rdy | self.r_en)     # into the output register
        r_data = Signal(self._width, reset_less=True)
        m.d.comb += [
            self.w_rdy.eq(level != inner), self.r_data.eq(r_data),
            w_port.addr.eq(produce), w_port.data.eq(self.w_data), w_port.en.eq(do_write),
            r_port.addr.eq(consume),
        ]
        with m.If(do_write):
            m.d.sync += produce.eq(Mux(produce == inner - 1, 0, produce + 1))
        with m.If(do_read):
            m.d.sync += [consume.eq(Mux(consume == inner - 1, 0, consume + 1)),
                         r_data.eq(r_port.data), self.r_rdy.eq(1)]
        with m.Elif(self.r_en):
            m.d.sync += self.r_rdy.eq(0)
        m.d.sync += level.eq(level + do_write - do_read)
        return m
