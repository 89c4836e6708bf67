"""Register blocks generated from the register description, and the register file decoder."""

from amaranth.hdl import Cat, Const, Elaboratable, Module, Signal

from .. import registers as regs


__all__ = ["RegisterBlock", "RegisterFile"]


class RegisterBlock(Elaboratable):
    """The registers of one block (global, or one channel), built from their description.

    Parameters
    ----------
    registers : tuple of :class:`~hauler.registers.Register`
    name : str
        Prefix of the signal names (``ch0`` gives ``ch0_src_lo``).
    resets : dict
        Values for fields whose description names their reset symbolically.
    absent : set of str
        Registers this build does not implement (features not built, address bits beyond
        the address width): they read 0 and ignore writes, and have no signals.

    Members
    -------
    ``block[REG, FIELD]`` is the field's signal:

    - ``R``: driven by the hardware (comb), read by software;
    - ``RW``: the stored value, read by the hardware, which may also load it through
      :meth:`load_of`;
    - ``W``: a one-cycle pulse in the cycle after software writes 1;
    - ``RW1C``: the stored value; the hardware raises bits through :meth:`set_of`.

    Bus side, driven by the register file with decoded selects (bit ``i`` for
    ``registers[i]``): ``w_sel`` and ``w_lanes`` (one bit per byte) write ``w_data`` in this
    cycle, as do ``now_sel``, ``now_lanes`` and ``now_data`` for the registers written at
    the strobe (:meth:`immediate`); ``r_data`` is the value of the registers in ``r_sel``
    (0 for none).
    """

    def __init__(self, registers, *, name, resets=None, absent=()):
        # Registers of features this build leaves out read 0 and ignore writes.
        self.registers = tuple(r for r in registers if r.name not in absent)
        self._fields = {}
        self._stored = {}
        self._sets = {}
        self._loads = {}
        self._zeros = {}
        self._pulses_next = {}
        resets = resets or {}
        for reg in registers:
            for f in reg.fields:
                sig_name = f"{name}_{reg.name.lower()}" + ("" if f.name == "VALUE" else
                                                          f"_{f.name.lower()}")
                init = resets.get(f.reset, 0) if isinstance(f.reset, str) else f.reset
                stored = Signal(f.width, init=init, name=sig_name)
                self._fields[reg.name, f.name] = self._stored[reg.name, f.name] = stored
                if f.access == "RW1C":
                    self._sets[reg.name, f.name] = Signal(f.width, name=f"{sig_name}_set")

        # Bus side, driven by the register file.
        self.w_sel = Signal(len(self.registers), reset_less=True)
        self.w_lanes = Signal(4)
        self.w_data = Signal(32)
        self.now_sel = Signal(len(self.registers))
        self.now_lanes = Signal(4)
        self.now_data = Signal(32)
        self.r_sel = Signal(len(self.registers), reset_less=True)
        self.r_data = Signal(32)

    def __getitem__(self, key):
        return self._fields[key]

    @staticmethod
    def immediate(reg):
        """Whether ``reg`` is written at the bus strobe (``now_*``), not a cycle later: a
        register with actions, which pulse in the next cycle from flip-flops, with the bits
        written beside them in place."""
        return any(f.access == "W" for f in reg.fields)

    def index(self, reg_name):
        """The bit of ``reg_name`` in ``w_sel`` and ``r_sel``."""
        return [r.name for r in self.registers].index(reg_name)

    def set_of(self, reg, field):
        """Pulse bits of this RW1C field high to set them (hardware events)."""
        return self._sets[reg, field]

    def load_of(self, reg, field):
        """``(enable, value)``: the hardware loads ``value`` into this RW field when
        ``enable`` is high, over a software write in the same cycle."""
        if (reg, field) not in self._loads:
            sig = self._stored[reg, field]
            self._loads[reg, field] = (Signal(name=f"{sig.name}_load"),
                                       Signal(len(sig), name=f"{sig.name}_load_value"))
        return self._loads[reg, field]

    def pulse_next_of(self, reg, field):
        """What this action (W) field shows in the next cycle: the write being made now. For
        logic that must register the pulse together with other terms in one flip-flop."""
        if (reg, field) not in self._pulses_next:
            sig = self._stored[reg, field]
            self._pulses_next[reg, field] = Signal(len(sig), name=f"{sig.name}_next")
        return self._pulses_next[reg, field]

    def zero_of(self, reg, field, *, from_bit=0):
        """Whether this RW field is 0 (its bits from ``from_bit`` of the register up, if
        given), from flip-flops kept beside it (one a byte lane, or the part of it from
        ``from_bit``, set as the lane is written or the field loaded): the paths that judge
        it meet no compare of its bits."""
        f = self._field(reg, field)
        stored = self._stored[reg, field]
        flags = self._zeros.setdefault((reg, field), {})    # (first bit, end) -> flag
        parts = [(max(bit, from_bit), end) for bit, end in _lanes(f) if from_bit < end]
        for lo, end in parts:
            if (lo, end) not in flags:
                value = (stored.init >> (lo - f.lsb)) % (1 << (end - lo))
                flags[lo, end] = Signal(init=value == 0, name=f"{stored.name}_zero_{lo}")
        return Cat(flags[part] for part in parts).all()

    def _field(self, reg, field):
        return next(r for r in self.registers if r.name == reg).field(field)

    def read_value(self, reg):
        """What software reads from ``reg``: the concatenation of its fields."""
        value = Const(0, 32)
        for f in reg.fields:
            if f.access != "W":
                value = value | (self._stored[reg.name, f.name].as_unsigned() << f.lsb)
        return value[:32]

    def elaborate(self, platform):
        m = Module()

        # Reads: an AND-OR of the values under their one-hot selects (flip-flops), no
        # multiplexer behind an address decode.
        m.d.comb += self.r_data.eq(_any_of(
            self.r_sel[i].replicate(32) & self.read_value(reg)
            for i, reg in enumerate(self.registers)))

        for i, reg in enumerate(self.registers):
            if self.immediate(reg):
                sel, lanes, data = self.now_sel[i], self.now_lanes, self.now_data
            else:
                sel, lanes, data = self.w_sel[i], self.w_lanes, self.w_data
            for f in reg.fields:
                stored = self._stored[reg.name, f.name]
                if f.access == "R":
                    continue
                # Partial byte strobes change only the selected bytes (ABI §2). One enable
                # per byte lane, from two flip-flops, maps onto the flip-flops' clock
                # enables: no per-bit logic.
                written = Signal(f.width)       # the bits being written: the data, or 0
                zeros = [(flag, lo, end) for (lo, end), flag in
                         self._zeros.get((reg.name, f.name), {}).items()]
                for bit, end in _lanes(f):
                    bits = slice(bit - f.lsb, end - f.lsb)
                    lane_write = sel & lanes[bit // 8]
                    m.d.comb += written[bits].eq(data[bit:end] & lane_write.replicate(end - bit))
                    if f.access == "RW":
                        with m.If(lane_write):
                            m.d.sync += stored[bits].eq(data[bit:end])
                            for flag, lo, hi in zeros:
                                if bit <= lo < end:
                                    m.d.sync += flag.eq(data[lo:hi] == 0)
                if (reg.name, f.name) in self._loads:
                    enable, value = self._loads[reg.name, f.name]
                    with m.If(enable):
                        m.d.sync += stored.eq(value)
                        for flag, lo, hi in zeros:
                            m.d.sync += flag.eq(value[lo - f.lsb:hi - f.lsb] == 0)
                if f.access == "W":
                    # Registered: actions reach the channels from a flip-flop, not from the
                    # register-port decode, and the RW bits written alongside are in place.
                    m.d.sync += stored.eq(written)
                    if (reg.name, f.name) in self._pulses_next:
                        m.d.comb += self._pulses_next[reg.name, f.name].eq(written)
                elif f.access == "RW1C":
                    # The channels raise events from flip-flops already; one more stage here
                    # would let IRQ_STATUS and `irq` trail STATUS by two cycles.
                    m.d.sync += stored.eq((stored & ~written) | self._sets[reg.name, f.name])
        return m


def _lanes(field):
    """The bits of ``field`` in each byte lane it spans: ``(first, end)``."""
    bit = field.lsb
    while bit < field.lsb + field.width:
        end = min((bit // 8 + 1) * 8, field.lsb + field.width)
        yield bit, end
        bit = end


def _any_of(values):
    result = Const(0, 32)
    for value in values:
        result = result | value
    return result


class RegisterFile(Elaboratable):
    """Decodes the register bus onto the global block and the channel blocks (ABI §2).

    Both directions decode the address into one flip-flop per register, so that registers
    do not see the address decode, the bus handshake and their fan-out in the cycle they
    change (on iCE40 those took seven LUT levels):

    - a write is registered with its decoded address, then applies in the next cycle; but
      a register with actions (CTRL) is written at the strobe, so that START pulses in the
      cycle after it from a flip-flop, as the register-mode launch needs: its address is
      decoded in the cycle before (the front ends show it then, see CsrSignature);
    - a read's select flip-flops pick the value in the next cycle, into flip-flops ORed onto
      ``r_data``, which the bus sees two cycles after the read strobe and which holds until
      the next one.
    """

    def __init__(self, csr, blocks):
        self._csr = csr
        self._blocks = blocks   # block index (0 global, n + 1 channel n) -> RegisterBlock

    def elaborate(self, platform):
        m = Module()
        csr = self._csr

        # Registered: reset-less, as the strobes come from flip-flops with a reset.
        w_data = Signal(32, reset_less=True)
        w_lanes = Signal(4)
        m.d.sync += [w_data.eq(csr.w_data), w_lanes.eq(csr.w_strb & csr.w_stb.replicate(4))]
        for index, block in self._blocks.items():
            base = index * regs.CHANNEL_STRIDE // 4
            m.d.comb += [
                block.w_data.eq(w_data), block.w_lanes.eq(w_lanes),
                block.now_data.eq(csr.w_data),
                block.now_lanes.eq(csr.w_strb & csr.w_stb.replicate(4)),
            ]
            for i, reg in enumerate(block.registers):
                word = base + reg.offset // 4
                if block.immediate(reg):
                    now_sel = Signal(name=f"now_sel_{index}_{reg.name.lower()}")
                    m.d.sync += now_sel.eq(csr.w_addr == word)
                    m.d.comb += block.now_sel[i].eq(now_sel)
                else:
                    m.d.sync += block.w_sel[i].eq(csr.w_addr == word)
                # Not qualified by the strobe: r_data is taken only after one.
                m.d.sync += block.r_sel[i].eq(csr.r_addr == word)
        # Blocks not addressed answer 0: their values are ORed, no block multiplexer. An
        # address no block has reads 0. Registered in at most four groups of blocks, ORed
        # after the flip-flops by one LUT: one AND-OR of every register took three LUT
        # levels into the flip-flops.
        answered = Signal()
        m.d.sync += answered.eq(csr.r_stb)
        blocks = list(self._blocks.values())
        size = -(-len(blocks) // 4)
        groups = []
        for first in range(0, len(blocks), size):
            group = Signal(32, name=f"r_data_{first}")
            with m.If(answered):
                m.d.sync += group.eq(_any_of(b.r_data for b in blocks[first:first + size]))
            groups.append(group)
        m.d.comb += csr.r_data.eq(_any_of(groups))
        return m
