"""The data FIFO between the reader and the writer, and the queues of bursts and beats."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .shaping import kept


__all__ = ["BeatFifo", "BufferedFifo", "SmallFifo"]


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


def _next(pointer, depth):
    """``pointer + 1`` modulo ``depth``: a compare and a multiplexer only when ``depth`` is
    not a power of two (the carry out simply drops otherwise)."""
    if depth & (depth - 1):
        return Mux(pointer == depth - 1, 0, pointer + 1)
    return (pointer + 1)[:len(pointer)]


class _Ring:
    """A ring of ``depth`` entries of ``width`` bits whose ``empty`` and ``full`` flags are
    flip-flops.

    The flags are set from the handshakes and compares of the pointers, which are
    registers: a ``put`` or ``take`` that arrives late in the cycle only steers a
    multiplexer in front of them, instead of feeding a level counter's carry chain and a
    compare after it. The low ``fast`` bits of each entry are kept in a memory of their
    own: a few bits wide and shallow, Yosys builds it from flip-flops on iCE40 rather than
    block RAM (and from LUT RAM on ECP5, as the rest).
    """

    def __init__(self, m, name, *, width, depth, fast=0):
        self.w_data = Signal(width)
        self.r_data = Signal(width)
        self.empty = Signal(init=1)
        self.full = Signal()
        # `~full` in a flip-flop of its own, for the handshakes: `full` itself enables every
        # entry of a memory built from flip-flops, a fanout of dozens on iCE40.
        self.not_full = Signal(init=1)
        self._depth = depth
        self._ports = []
        for suffix, bits, lsb in (("", width - fast, fast), ("_fast", fast, 0)):
            if bits:
                memory = Memory(shape=bits, depth=depth, init=[], attrs={"no_rw_check": 1})
                m.submodules[name + suffix] = memory
                w_port, r_port = memory.write_port(), memory.read_port(domain="comb")
                m.d.comb += [w_port.data.eq(self.w_data[lsb:lsb + bits]),
                             self.r_data[lsb:lsb + bits].eq(r_port.data)]
                self._ports.append((w_port, r_port))

    def update(self, m, put, take, *, late=None):
        """``put`` writes ``w_data``; ``take`` drops the entry at ``r_data``.

        ``late``, for a ring of two entries or more: a function of ``(one_free, one_left)``
        giving the flags' next values ``(full, empty)`` itself, worked out from the
        handshakes the ring's owner knows the structure of, so that the strobes that come
        late meet terms made of flip-flops in the last LUT.
        """
        # Each pointer comes with its successor in a register of its own: the compares for
        # the flags are between flip-flops, and no adder is left for Yosys to share between
        # the two pointers behind a multiplexer steered by `put` and `take`.
        produce = Signal(range(self._depth))
        consume = Signal(range(self._depth))
        produce_next = Signal(range(self._depth), init=1 % self._depth)
        consume_next = Signal(range(self._depth), init=1 % self._depth)
        # The free entry at `produce` is written whenever there is one, with whatever is
        # offered: only `produce` moving on keeps it. So the memory's write enables are
        # flip-flops, not `put`.
        for w_port, r_port in self._ports:
            m.d.comb += [w_port.addr.eq(produce), w_port.en.eq(~self.full),
                         r_port.addr.eq(consume)]
        # The compares are kept apart (`keep`): Yosys and ABC would otherwise fold `put` and
        # `take`, which come late, into the far end of the compare's chain of LUTs.
        one_free = Signal(attrs={"keep": 1})
        one_left = Signal(attrs={"keep": 1})
        m.d.comb += [one_free.eq(produce_next == consume), one_left.eq(consume_next == produce)]
        with m.If(put):
            m.d.sync += [produce.eq(produce_next),
                         produce_next.eq(_next(produce_next, self._depth))]
        with m.If(take):
            m.d.sync += [consume.eq(consume_next),
                         consume_next.eq(_next(consume_next, self._depth))]
        # The flags' next values as sums of products, not as `If`s: Yosys would turn those
        # into a flip-flop enable and a reset, each one more LUT after `put ^ take`. (A put
        # needs room, a take an entry: `full` only falls on a take, `empty` only on a put.)
        full_next = Signal()
        empty_next = Signal()
        if late is not None and self._depth >= 2:
            full_value, empty_value = late(one_free, one_left)
        else:
            full_value = ~take & (self.full | (put & one_free))
            empty_value = ~put & (self.empty | (take & one_left))
        m.d.comb += [full_next.eq(full_value), empty_next.eq(empty_value)]
        m.d.sync += [self.full.eq(full_next), self.not_full.eq(~full_next),
                     self.empty.eq(empty_next)]


def _take(m, ring, r_rdy, r_en, late):
    """Whether the output register takes the ring's oldest entry: it is free or read. With
    a ``late`` read enable, that is one LUT after it, from a term made of flip-flops."""
    if not late:
        return ~ring.empty & (~r_rdy | r_en)
    refill = kept(m, "refill", ~ring.empty & ~r_rdy)
    return kept(m, "take", refill | (~ring.empty & r_en))


def _late_write_flags(m, ring, w_en, take):
    """The flags' next values of a ring whose ``w_en`` comes late and ``take`` early: each
    is one LUT after ``w_en``, from terms made of flip-flops and ``take`` (a ring of two
    entries or more: a full one has not one entry left)."""
    def flags(one_free, one_left):
        keep_full = kept(m, "keep_full", ~take & ring.full)
        fill = kept(m, "fill", ~take & ring.not_full & one_free)
        drained = kept(m, "drained", ring.empty | (take & one_left))
        return keep_full | (w_en & fill), ~w_en & drained
    return flags


def _late_flags(m, ring, r_rdy, w_en, r_en, *, small):
    """The flags' next values of a ring behind an output register (``r_rdy``), whose
    ``w_en`` and ``r_en`` come late: each is one LUT after them, from terms made of
    flip-flops (a ring of two entries or more: ``empty`` excludes ``one_free``, ``full``
    excludes ``one_left``). A take happens if the register is free or read; a put if the
    ring has room and, for a ``small`` FIFO, the entry does not go straight into the
    register (the ring empty and the register free)."""
    def flags(one_free, one_left):
        # Full stays full unless the register takes an entry; a put into the last free
        # entry fills it unless one is taken. Either needs the register held (`r_rdy`
        # and no `r_en`); the ring is then not empty, so a small FIFO's put goes in.
        keep_full = kept(m, "keep_full", ring.full & r_rdy)
        fill = kept(m, "fill", ring.not_full & one_free & r_rdy)
        full_next = ~r_en & (keep_full | (w_en & fill))
        if not small:
            # Empty (or the last entry taken) unless an entry is put. The last entry is
            # taken by the register if it is free, or if it is read.
            stays = kept(m, "stays", ring.empty | (~r_rdy & one_left))
            drains = kept(m, "drains", ring.empty | one_left)
            empty_next = ~w_en & Mux(r_en, drains, stays)
        else:
            # An entry put while the ring is empty goes into the ring only if the register
            # is held (`r_rdy` and no `r_en`).
            with_read = kept(m, "with_read", ring.empty | (~w_en & one_left))
            without = kept(m, "without", (ring.empty & ~(w_en & r_rdy)) |
                                           (~w_en & ~r_rdy & one_left))
            empty_next = Mux(r_en, with_read, without)
        return full_next, empty_next
    return flags


class BufferedFifo(wiring.Component):
    """``amaranth.lib.fifo.SyncFIFOBuffered`` with the same ports and timing (``w_data``,
    ``w_en``, ``w_rdy``, ``r_data``, ``r_en``, ``r_rdy``; no levels), built so that Yosys
    maps it onto iCE40 block RAM without a bypass, and with its flags in flip-flops.

    The library's FIFO reads its memory through a synchronous port, which Yosys cannot
    spare a read-during-write bypass on iCE40 (a register of the written beat, an address
    compare and a multiplexer: about a flip-flop per bit twice over). An entry is never read
    in the cycle it is written (the memory is written only while not full, and read only
    while not empty: when both happen, the pointers differ), so here the port is
    asynchronous with ``no_rw_check`` and the output register a plain one (as in
    :class:`BeatFifo`). On ECP5 it maps as before.

    ``w_rdy`` is a flip-flop, and the memory's ``empty`` flag too: no level count, whose
    carry chain and compares would sit between the handshakes and the next ones.

    Parameters
    ----------
    width : int
    depth : int
        Entries: ``depth - 1`` in memory, one in the output register.
    fast : int
        The low ``fast`` bits of each entry are kept out of block RAM, so they reach the
        logic after the FIFO from a fabric flip-flop (a block RAM's output is slow): for the
        few bits that steer handshakes.
    late_read : bool
        ``r_en`` comes late in the cycle (the flags and the take are one LUT after it, from
        terms made of flip-flops; otherwise after ``w_en``).
    late_write : bool
        ``w_en`` comes late, and ``r_en`` early (the flags are one LUT after ``w_en``). With
        ``late_read`` too, ``r_en`` comes a few LUTs after flip-flops: the flags are one LUT
        after both, and the take into the output register is left whole to synthesis (on
        iCE40, kept apart it costs a LUT more before the pointers' enables).
    clear_fast : bool
        The fast bits read 0 while ``r_rdy`` is low: a flag among them implies ``r_rdy``.
    """

    def __init__(self, *, width, depth, fast=0, late_read=False, late_write=False,
                 clear_fast=False):
        if depth < 2:
            raise ValueError(f"depth must be at least 2, not {depth}")
        if not 0 <= fast <= width:
            raise ValueError(f"fast must be 0..{width}, not {fast}")
        self._width = width
        self._depth = depth
        self._fast = fast
        self._late_read = late_read
        self._late_write = late_write
        self._clear_fast = clear_fast
        super().__init__({
            "w_data": In(width), "w_en": In(1), "w_rdy": Out(1),
            "r_data": Out(width), "r_en": In(1), "r_rdy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        ring = _Ring(m, "storage", width=self._width, depth=self._depth - 1, fast=self._fast)
        do_write = ring.not_full & self.w_en
        head_free = ~self.r_rdy | self.r_en
        do_read = _take(m, ring, self.r_rdy, self.r_en,         # into the register
                        self._late_read and not self._late_write)
        if self._late_read:
            late = _late_flags(m, ring, self.r_rdy, self.w_en, self.r_en, small=False)
        elif self._late_write:
            late = _late_write_flags(m, ring, self.w_en, do_read)
        else:
            late = None
        ring.update(m, do_write, do_read, late=late)
        r_data = Signal(self._width, reset_less=True)
        m.d.comb += [self.w_rdy.eq(ring.not_full), self.r_data.eq(r_data),
                     ring.w_data.eq(self.w_data)]
        # The output register is loaded whenever it is free, with whatever the memory shows
        # (unused while `r_rdy` is low): its enables are one LUT after `r_en`, and they are
        # off the fanout of `do_read`.
        with m.If(head_free):
            m.d.sync += [r_data.eq(ring.r_data), self.r_rdy.eq(~ring.empty)]
        if self._clear_fast and self._fast:
            # The fast bits read 0 while `r_rdy` is low (reset, and loaded as 0 from an empty
            # ring): a flag among them then implies `r_rdy`, one input less after the FIFO.
            fast = Signal(self._fast)
            m.d.comb += self.r_data[:self._fast].eq(fast)
            with m.If(head_free):
                m.d.sync += fast.eq(Mux(ring.empty, 0, ring.r_data[:self._fast]))
        return m


class SmallFifo(wiring.Component):
    """``amaranth.lib.fifo.SyncFIFO`` (first word falls through) with the same ports, timing
    and capacity (no levels), for small queues of flags and counts, with its flags and the
    oldest entry in flip-flops.

    The oldest entry waits in an output register, the others in a memory behind it; an
    entry written while the memory is empty and the register free goes straight into the
    register, so it shows in the next cycle, as in the library's FIFO. What reads
    ``r_data`` then starts from a flip-flop, not from a memory's read multiplexer, and
    ``r_rdy`` and ``w_rdy`` are flip-flops, not compares of a level count.

    Parameters
    ----------
    width : int
    depth : int
        At least 2.
    late_read : bool
        As for :class:`BufferedFifo`.
    """

    def __init__(self, *, width, depth, late_read=False):
        if depth < 2:
            raise ValueError(f"depth must be at least 2, not {depth}")
        self._width = width
        self._depth = depth
        self._late_read = late_read
        super().__init__({
            "w_data": In(width), "w_en": In(1), "w_rdy": Out(1),
            "r_data": Out(width), "r_en": In(1), "r_rdy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        ring = _Ring(m, "storage", width=self._width, depth=self._depth - 1)
        do_write = ring.not_full & self.w_en
        head_free = ~self.r_rdy | self.r_en
        # The memory holds entries only behind a full output register, so it is full
        # exactly when the whole FIFO is.
        from_ring = _take(m, ring, self.r_rdy, self.r_en, self._late_read)
        # Whether an entry written would go into the memory, worked out apart (`keep`) from
        # `w_en`, which comes late (a command's handshake): the memory's write follows it
        # in one LUT. With a late `r_en` too, from terms of flip-flops, one LUT after both:
        # the memory has room and holds entries already, or the register is held.
        if self._late_read:
            behind = kept(m, "behind", ring.not_full & ~ring.empty)
            past_head = kept(m, "past_head", ring.not_full & self.r_rdy)
            put = self.w_en & (behind | (past_head & ~self.r_en))
        else:
            put = self.w_en & kept(m, "into_ring", ring.not_full & ~(ring.empty & head_free))
        ring.update(m, put, from_ring,
                    late=_late_flags(m, ring, self.r_rdy, self.w_en, self.r_en, small=True)
                    if self._late_read else None)
        r_data = Signal(self._width, reset_less=True)
        m.d.comb += [self.w_rdy.eq(ring.not_full), self.r_data.eq(r_data),
                     ring.w_data.eq(self.w_data)]
        with m.If(head_free):
            m.d.sync += self.r_rdy.eq(~ring.empty | do_write)
            with m.If(~ring.empty):
                m.d.sync += r_data.eq(ring.r_data)
            with m.Else():
                m.d.sync += r_data.eq(self.w_data)
        return m
