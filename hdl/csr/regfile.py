"""Register blocks generated from the register description, and the register file decoder."""

from amaranth.hdl import Const, Elaboratable, Module, Signal

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
    """

    def __init__(self, registers, *, name, resets=None, absent=()):
        # Registers of features this build leaves out read 0 and ignore writes.
        self.registers = tuple(r for r in registers if r.name not in absent)
        self._fields = {}
        self._sets = {}
        self._loads = {}
        resets = resets or {}
        for reg in registers:
            for f in reg.fields:
                sig_name = f"{name}_{reg.name.lower()}" + ("" if f.name == "VALUE" else
                                                          f"_{f.name.lower()}")
                init = resets.get(f.reset, 0) if isinstance(f.reset, str) else f.reset
                self._fields[reg.name, f.name] = Signal(f.width, init=init, name=sig_name)
                if f.access == "RW1C":
                    self._sets[reg.name, f.name] = Signal(f.width, name=f"{sig_name}_set")

        # Bus side, driven by the register file.
        self.w_stb = Signal()
        self.w_word = Signal(5)
        self.w_data = Signal(32)
        self.w_strb = Signal(4)
        self.r_word = Signal(5)
        self.r_data = Signal(32)

    def __getitem__(self, key):
        return self._fields[key]

    def set_of(self, reg, field):
        """Pulse bits of this RW1C field high to set them (hardware events)."""
        return self._sets[reg, field]

    def load_of(self, reg, field):
        """``(enable, value)``: the hardware loads ``value`` into this RW field when
        ``enable`` is high, over a software write in the same cycle."""
        if (reg, field) not in self._loads:
            sig = self._fields[reg, field]
            self._loads[reg, field] = (Signal(name=f"{sig.name}_load"),
                                       Signal(len(sig), name=f"{sig.name}_load_value"))
        return self._loads[reg, field]

    def read_value(self, reg):
        """What software reads from ``reg``: the concatenation of its fields."""
        value = Const(0, 32)
        for f in reg.fields:
            if f.access != "W":
                value = value | (self._fields[reg.name, f.name].as_unsigned() << f.lsb)
        return value[:32]

    def elaborate(self, platform):
        m = Module()

        with m.Switch(self.r_word):
            for reg in self.registers:
                with m.Case(reg.offset // 4):
                    m.d.comb += self.r_data.eq(self.read_value(reg))

        for reg in self.registers:
            write = self.w_stb & (self.w_word == reg.offset // 4)
            for f in reg.fields:
                sig = self._fields[reg.name, f.name]
                if f.access == "R":
                    continue
                # Partial byte strobes change only the selected bytes (ABI §2). One enable
                # per byte lane maps onto the flip-flops' clock enables: no per-bit logic.
                bit = f.lsb
                strobed = Signal(f.width)
                while bit < f.lsb + f.width:
                    end = min((bit // 8 + 1) * 8, f.lsb + f.width)
                    lane = slice(bit - f.lsb, end - f.lsb)
                    lane_write = write & self.w_strb[bit // 8]
                    if f.access == "RW":
                        with m.If(lane_write):
                            m.d.sync += sig[lane].eq(self.w_data[bit:end])
                    else:
                        m.d.comb += strobed[lane].eq(
                            self.w_data[bit:end] & lane_write.replicate(end - bit))
                    bit = end
                if (reg.name, f.name) in self._loads:
                    enable, value = self._loads[reg.name, f.name]
                    with m.If(enable):
                        m.d.sync += sig.eq(value)
                if f.access == "W":
                    # Registered: actions reach the channels from a flip-flop, not from the
                    # register-port decode, and the RW bits written alongside are in place.
                    m.d.sync += sig.eq(strobed)
                elif f.access == "RW1C":
                    m.d.sync += sig.eq((sig & ~strobed) | self._sets[reg.name, f.name])
        return m


class RegisterFile(Elaboratable):
    """Decodes the register bus onto the global block and the channel blocks (ABI §2).

    Read data is registered: the bus sees it in the cycle after the read strobe.
    """

    def __init__(self, csr, blocks):
        self._csr = csr
        self._blocks = blocks   # block index (0 global, n + 1 channel n) -> RegisterBlock

    def elaborate(self, platform):
        m = Module()
        csr = self._csr
        word_bits = (regs.CHANNEL_STRIDE // 4).bit_length() - 1

        r_block = csr.r_addr[word_bits:]
        for index, block in self._blocks.items():
            m.d.comb += [
                block.w_stb.eq(csr.w_stb & (csr.w_addr[word_bits:] == index)),
                block.w_word.eq(csr.w_addr[:word_bits]),
                block.w_data.eq(csr.w_data),
                block.w_strb.eq(csr.w_strb),
                block.r_word.eq(csr.r_addr[:word_bits]),
            ]
        with m.If(csr.r_stb):
            m.d.sync += csr.r_data.eq(0)
            with m.Switch(r_block):
                for index, block in self._blocks.items():
                    with m.Case(index):
                        m.d.sync += csr.r_data.eq(block.r_data)
        return m
