"""Byte-unaligned transfers (issue 5, sim/benches/unaligned.py) on the generated Verilog:
both masters, two data widths with unaligned support, and a build without it (whose tests
check that unaligned requests are refused). Each configuration is one of test_core's or
test_sg's, so the generated Verilog and the Icarus build are shared. The bench's placement
of copies and its check of the bus writes are tested here too, without a simulator."""

import random
import types

import pytest

from hauler import Config
from hauler.sim import runner
from hauler.sim.benches import unaligned as bench
from hauler.sim.benches.unaligned import Copy
from hauler.sim.driver import Mode
from hauler.sim.harness import MEMORY_SIZE


CONFIGS = [
    Config(),                                                            # the default build
    Config(master="wishbone", csr="wishbone", data_width=64, channels=2),
    Config(master="axi4", csr="axil", data_width=128, addr_width=64, channels=1,
           max_burst=64, fifo_depth=128),
    Config(master="wishbone", csr="axil", data_width=64, channels=1, max_burst=32, sg=False,
           unaligned=False),
]


# The bench's cocotb tests, by name (every module attribute of the type of a known one).
TESTS = [name for name, value in vars(bench).items()
         if isinstance(value, type(bench.config_reports_unaligned))]
EXHAUSTIVE = "exhaustive_small_copies"


def _runs():
    """(config, tests): one simulation per configuration, but on 128-bit data the 12288
    copies of the exhaustive test get one of their own, first, which pytest-xdist can run
    beside the others."""
    wide = [c for c in CONFIGS if c.data_width == 128]
    for config in wide:
        yield config, [EXHAUSTIVE]
    for config in CONFIGS:
        if config in wide:
            yield config, [name for name in TESTS if name != EXHAUSTIVE]
        else:
            yield config, None


RUNS = list(_runs())


@pytest.mark.parametrize("config, tests", RUNS, ids=[
    c.key() + ("" if t is None else "-exhaustive" if t == [EXHAUSTIVE] else "-others")
    for c, t in RUNS])
def test_unaligned(config, tests):
    runner.run(config, "hauler.sim.benches.unaligned", testcase=tests)


# --- the bench's own checks, without a simulator ----------------------------------------------

def test_runs_cover_every_bench_test():
    assert EXHAUSTIVE in TESTS and len(TESTS) > 1
    for config, tests in RUNS:
        if config.data_width == 128:
            assert sorted(n for c, t in RUNS if c == config for n in t) == sorted(TESTS)


class _Bench:
    """What the bench's placement and bus-write checks use of its harness."""

    def __init__(self, data_width):
        self.config = Config(data_width=data_width)
        self.rng = random.Random(5)
        self.memory = types.SimpleNamespace(size=MEMORY_SIZE)


@pytest.mark.parametrize("data_width", [32, 128])
def test_placement_keeps_offsets_guards_and_page_crossings(data_width):
    h = _Bench(data_width)
    beat = h.config.beat_bytes
    offsets = (0, 1, beat - 1)
    copies = [Copy(s, d, n, cross=cross) for n in (1, beat, 3 * beat + 1, 700)
              for s in offsets for d in offsets for cross in ("", "src", "dst", "both")]
    copies.append(Copy(0, 3, 9, src_mode=Mode.FIXED))
    copies.append(Copy(3, 0, 9, dst_mode=Mode.FIXED))
    placed, src_area, dst_area = bench._place(h, copies)
    previous_end = None
    for c, p in zip(copies, placed):
        for side, mode in (("src", c.src_mode), ("dst", c.dst_mode)):
            offset, addr = getattr(c, side), getattr(p, side)
            assert addr % beat == (0 if mode == Mode.FIXED else offset), (c, p)
            crossed = addr // 4096 != (addr + c.length - 1) // 4096
            if c.cross in (side, "both") and c.length > beat:
                assert crossed, (c, p)
        start, end = p.written(beat)
        if previous_end is not None:
            assert start - previous_end >= beat, (c, p)       # a guard beat at least
        previous_end = end
    assert src_area[0] <= min(p.src for p in placed) and dst_area[1] >= previous_end + beat


def _writes(beat, copy):
    """The beats a correct controller writes for ``copy``: (word, strobes)."""
    if copy.dst_mode == Mode.FIXED:
        beats = -(-copy.length // beat)
        last = copy.length - (beats - 1) * beat
        return [(copy.dst, (1 << beat) - 1)] * (beats - 1) + [(copy.dst, (1 << last) - 1)]
    writes = []
    for word in range(copy.dst - copy.dst % beat, copy.dst + copy.length, beat):
        strobes = sum(1 << lane for lane in range(beat)
                      if copy.dst <= word + lane < copy.dst + copy.length)
        writes.append((word, strobes))
    return writes


def test_bus_check_flags_strays_repeats_and_whole_fixed_beats():
    h = _Bench(32)
    incr = Copy(0x1001, 0x2003, 6)
    fixed = Copy(0x1100, 0x2100, 6, dst_mode=Mode.FIXED)
    good = _writes(4, incr) + _writes(4, fixed)
    assert good[:2] == [(0x2000, 0b1000), (0x2004, 0b1111)]
    reads = [0x1000, 0x1004, 0x1100, 0x1104]

    def check(writes, reads=reads, **ranges):
        bench._check_bus(h, writes, reads, [incr, fixed], **ranges)

    check(good)
    check(good + [(0x3020, 0b11)], reads + [0x3000, 0x3024], writebacks=[(0x3020, 0x3028)],
          descriptors=[0x3000])
    with pytest.raises(AssertionError, match=r"byte 0x2002 written .* outside every"):
        check([(0x2000, 0b1100)] + good[1:])
    with pytest.raises(AssertionError, match=r"byte 0x2004 written 2 times"):
        check(good + [(0x2004, 0b0001)])
    with pytest.raises(AssertionError, match=r"byte 0x2008 written 0 times"):
        check([w for w in good if w[0] != 0x2008])
    with pytest.raises(AssertionError, match=r"FIXED destination .* \['0xf', '0xf'\], "
                                             r"expected \['0xf', '0x3'\]"):
        check(good[:-1] + [(0x2100, 0b1111)])
    with pytest.raises(AssertionError, match=r"beat 0x1008 read: outside every source"):
        check(good, reads + [0x1008])


def test_bus_check_counts_the_reads_of_a_fixed_source():
    h = _Bench(32)
    fixed = Copy(0x1100, 0x2001, 9, src_mode=Mode.FIXED)
    bench._check_bus(h, _writes(4, fixed), [0x1100] * 3, [fixed])
    with pytest.raises(AssertionError, match=r"FIXED source of copy .* read 4 times, not 3"):
        bench._check_bus(h, _writes(4, fixed), [0x1100] * 4, [fixed])
