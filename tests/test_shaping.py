"""Logic shaped for synthesis: a term kept apart (as wide as its value), the OR tree of
LUT-sized groups (the OR of its bits at every width, each group kept) and the sum in parts (a
plain sum, with adds in every cycle)."""

import random
import re

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Mux, Signal
from amaranth.sim import Simulator

from hauler.engine.shaping import SumInParts, any_bit, kept

from amaranth_sim import simulate


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


def test_a_kept_term_is_as_wide_as_its_value_and_kept():
    m = Module()
    a, b = Signal(20), Signal(20)
    select = Signal()
    term = kept(m, "chosen", Mux(select, a, b))
    assert len(term) == 20
    text = rtlil.convert(m, ports=[a, b, select, term])
    assert re.search(r"attribute \\keep 1\n  wire width 20 .*\\chosen\n", text)

    async def bench(ctx):
        ctx.set(a, 0xABCDE)
        ctx.set(b, 0x12345)
        for choice, value in ((1, 0xABCDE), (0, 0x12345)):
            ctx.set(select, choice)
            assert ctx.get(term) == value

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("amounts", ["largest", "random"])
def test_sum_in_parts_is_a_plain_sum(amounts):
    """Adds in every cycle (the largest amounts carry into the upper part every other add,
    the closest a carry can follow the last), loads of 0 and of one amount between them,
    then from just below the wrap of 32 bits through it; the value read is the plain sum in
    every cycle."""
    amount_width = 5
    m = Module()
    value, amount = Signal(32), Signal(amount_width)
    add, load, load_value = Signal(), Signal(), Signal(32)
    total = SumInParts(m, value, amount_width=amount_width, name="total")
    with m.If(add):
        m.d.sync += total.add(amount)
    with m.If(load):
        m.d.sync += total.load(load_value)
    rng = random.Random(amounts)

    async def bench(ctx):
        expected = 0
        for cycle in range(3000):
            if cycle == 1500:           # near the wrap: loaded, then a cycle without adds
                ctx.set(load, 1)
                ctx.set(load_value, expected := (1 << 32) - 1000)
                ctx.set(add, 0)
                await ctx.tick()
                ctx.set(load, 0)
                await ctx.tick()
                continue
            step = 31 if amounts == "largest" else rng.randrange(32)
            adding, loading = rng.random() < 0.9, cycle < 1500 and rng.random() < 0.02
            ctx.set(amount, step)
            ctx.set(add, adding)
            ctx.set(load, loading)
            ctx.set(load_value, reload := rng.choice([0, step]))
            await ctx.tick()
            if adding:
                expected = (expected + step) % (1 << 32)
            if loading:
                expected = reload
            assert ctx.get(value) == expected, cycle
        assert expected < 1 << 20           # it wrapped

    simulate(m, bench)
