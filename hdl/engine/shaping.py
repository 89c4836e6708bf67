"""Logic shaped for synthesis: terms kept apart, wide ORs built as trees."""

from amaranth.hdl import C, Cat, Signal


__all__ = ["kept", "any_bit"]

#: Inputs of the LUTs of both devices (iCE40 LUT4; ECP5 LUT4, the PFU's wider LUTs aside).
_LUT_INPUTS = 4


def kept(m, name, value):
    """``value`` in a signal of its own, kept apart (`keep`) so that ABC builds it from the
    flip-flops it reads and not after the late strobes it is combined with."""
    term = Signal(name=name, attrs={"keep": 1})
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
