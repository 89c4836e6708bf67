"""The mover's data FIFO: order kept through pointer wrap, beats readable two cycles after; the
buffered queue and the small one: cycle for cycle the library's SyncFIFOBuffered and
SyncFIFO."""

import gc
import random
import warnings

import pytest
from amaranth.hdl import Module, UnusedElaboratable
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered

from amaranth_sim import simulate
from hauler.engine.beatfifo import BeatFifo, BufferedFifo, SmallFifo


def test_order_through_wrap_with_random_reads():
    dut = BeatFifo(width=16, depth=8)
    rng = random.Random(1)
    written = []
    read = []

    async def bench(ctx):
        # Keep at most `depth` beats stored, and read only beats written two cycles ago or
        # more: the contract the mover keeps.
        ages = []        # cycles since each stored beat was written, oldest first
        for _ in range(400):
            write = len(ages) < 8 and rng.random() < 0.6
            take = bool(ages) and ages[0] >= 2 and rng.random() < 0.6
            if take:
                read.append(ctx.get(dut.r_data))
            ctx.set(dut.r_en, take)
            ctx.set(dut.w_en, write)
            if write:
                written.append(rng.getrandbits(16))
                ctx.set(dut.w_data, written[-1])
            await ctx.tick()
            if take:
                ages.pop(0)
            ages = [age + 1 for age in ages] + ([1] if write else [])

    simulate(dut, bench, deadline_cycles=500)
    assert len(read) > 100
    assert read == written[:len(read)]


def _lockstep(ours, ref, depth, clear_bits=0):
    """The same writes and reads into both, at random, through fills and drains: the ready
    flags every cycle and the beat shown whenever one is (and ``clear_bits`` low bits 0
    whenever none is)."""
    m = Module()
    m.submodules.ours, m.submodules.ref = ours, ref
    rng = random.Random(depth)
    shown = []

    async def bench(ctx):
        for cycle in range(1500):
            fill = (cycle // 150) % 2 == 0      # phases that fill it, then drain it
            w_en = rng.random() < (0.8 if fill else 0.2)
            r_en = rng.random() < (0.2 if fill else 0.8)
            w_data = rng.getrandbits(12)
            for fifo in (ours, ref):
                ctx.set(fifo.w_en, w_en)
                ctx.set(fifo.w_data, w_data)
                ctx.set(fifo.r_en, r_en)
            assert ctx.get(ours.w_rdy) == ctx.get(ref.w_rdy), cycle
            assert ctx.get(ours.r_rdy) == ctx.get(ref.r_rdy), cycle
            if ctx.get(ref.r_rdy):
                assert ctx.get(ours.r_data) == ctx.get(ref.r_data), cycle
                shown.append(ctx.get(ref.r_data))
            else:
                assert ctx.get(ours.r_data) & ((1 << clear_bits) - 1) == 0, cycle
            await ctx.tick()

    simulate(m, bench, deadline_cycles=1600)
    assert len(shown) > 500


@pytest.mark.parametrize("late", ["", "read", "write"])
@pytest.mark.parametrize("depth, fast", [(2, 0), (3, 0), (5, 0), (9, 0), (17, 0), (9, 3),
                                         (5, 12)])
def test_buffered_fifo_matches_the_library_one(depth, fast, late):
    # With some bits, or all, kept in flip-flops instead of the memory; and with the flags
    # worked out for a late read or write enable.
    _lockstep(BufferedFifo(width=12, depth=depth, fast=fast, late_read=late == "read",
                           late_write=late == "write"),
              SyncFIFOBuffered(width=12, depth=depth), depth)


@pytest.mark.parametrize("depth, fast", [(2, 3), (5, 3), (9, 12)])
def test_buffered_fifo_clears_its_fast_bits_when_empty(depth, fast):
    _lockstep(BufferedFifo(width=12, depth=depth, fast=fast, late_read=True, clear_fast=True),
              SyncFIFOBuffered(width=12, depth=depth), depth, clear_bits=fast)


@pytest.mark.parametrize("late_read", [False, True])
@pytest.mark.parametrize("depth", [2, 3, 4, 5, 9, 17])
def test_small_fifo_matches_the_library_one(depth, late_read):
    # Against the library's first-word-fall-through SyncFIFO.
    _lockstep(SmallFifo(width=12, depth=depth, late_read=late_read),
              SyncFIFO(width=12, depth=depth), depth)


@pytest.mark.parametrize("cls", [BufferedFifo, SmallFifo])
def test_fifo_depth_is_checked(cls):
    with warnings.catch_warnings():
        # The half-built component is never elaborated, and says so when collected.
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(ValueError, match="^depth must be at least 2, not 1$"):
            cls(width=4, depth=1)
        gc.collect()
