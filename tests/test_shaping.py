"""The OR tree of LUT-sized groups: the OR of its bits at every width, each group kept."""

import random

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from hauler.engine.shaping import any_bit


@pytest.mark.parametrize("width", [0, 1, 3, 4, 5, 16, 17, 22, 30])
def test_any_bit_is_the_or_of_the_bits(width):
    m = Module()
    value = Signal(width)
    out = Signal()
    m.d.comb += out.eq(any_bit(m, value, name="tree"))
    rng = random.Random(width)
    cases = [0] + [1 << i for i in range(width)] + [rng.getrandbits(width) for _ in range(20)]

    async def bench(ctx):
        for case in cases:
            ctx.set(value, case)
            assert ctx.get(out) == (case != 0), hex(case)

    sim = Simulator(m)                  # (combinational: no clock)
    sim.add_testbench(bench)
    sim.run()


def test_any_bit_groups_are_kept_apart():
    m = Module()
    value = Signal(22)
    out = Signal()
    m.d.comb += out.eq(any_bit(m, value, name="tree"))
    text = rtlil.convert(m, ports=[value, out])
    # 22 bits: six groups of at most four, then two, then one.
    for name in ["tree_0_5", "tree_1_1", "tree_2_0"]:
        assert f"\\{name}" in text
    assert text.count("attribute \\keep 1") >= 9
