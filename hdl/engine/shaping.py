"""Logic shaped for synthesis: terms kept apart, wide ORs built as trees, wide sums in parts."""

from amaranth.hdl import C, Cat, Mux, Signal, Value


__all__ = ["kept", "any_bit", "SumInParts"]

#: Inputs of the LUTs of both devices (iCE40 LUT4; ECP5 LUT4, the PFU's wider LUTs aside).
_LUT_INPUTS = 4


def kept(m, name, value):
    """``value`` in a signal of its own (as wide as it), kept apart (`keep`) so that ABC
    builds it from the flip-flops it reads and not after the late strobes it is combined
    with."""
    term = Signal(len(Value.cast(value)), name=name, attrs={"keep": 1})
    m.d.comb += term.eq(value)
    return term


def any_bit(m, value, *, name):
    """Whether any bit of ``value`` is set: an OR tree of four-input groups, each kept apart
    (`keep`) so that synthesis keeps the tree.

    ABC maps a wide OR for area with no wire delays, as a chain of LUTs: seven deep for 24
    bits on iCE40, where the tree is three (each LUT level there is about 2.6 ns with its
    routing). For ORs of registers that feed a decision, not for those after late strobes.
    """
    bits = list(value)
    if not bits:
        return C(0, 1)
    level = 0
    while len(bits) > 1:
        groups = [bits[i:i + _LUT_INPUTS] for i in range(0, len(bits), _LUT_INPUTS)]
        bits = []
        for index, group in enumerate(groups):
            bits.append(kept(m, f"{name}_{level}_{index}", Cat(*group).any()))
        level += 1
    return bits[0]


class SumInParts:
    """A wide register that adds small amounts with no carry chain through its upper bits.

    ``value`` (driven here) reads as one register. Its lower part is one bit wider than the
    amounts; a carry out of it loads the upper part from a register summed a cycle ahead
    (the upper part plus one), so an add is one short carry chain and a multiplexer: a
    32-bit chain is about 9 ns of iCE40 carry logic alone.

    The register ahead is right whenever a carry comes: after one, the lower part is below
    half its range, so the next add cannot carry. A :meth:`load` makes it stale for a
    cycle; a value below half the lower part's range (0, or one amount) is safe, others
    need a cycle without adds after them.
    """

    def __init__(self, m, value, *, amount_width, name):
        self.value = value
        self._low = Signal(min(amount_width + 1, len(value)), name=f"{name}_low")
        self._high = Signal(len(value) - len(self._low), name=f"{name}_high")
        self._high_next = Signal(len(self._high), init=1 % (1 << len(self._high)),
                                 name=f"{name}_high_next")
        m.d.comb += value.eq(Cat(self._low, self._high))
        m.d.sync += self._high_next.eq(self._high + 1)

    def add(self, amount):
        """Statements that add ``amount`` (below ``2 ** amount_width``) to the value."""
        total = self._low + amount
        return [self._low.eq(total),
                self._high.eq(Mux(total[len(self._low)], self._high_next, self._high))]

    def load(self, value):
        """Statements that set the value (see the class's note on the add after it)."""
        return [self._low.eq(value), self._high.eq(value >> len(self._low))]
