"""cocotb tests of byte-unaligned transfers (issue 5) on the generated Verilog, for any
configuration.

On a build with unaligned support (``Config.unaligned``, CONFIG[22] = 1) SRC, DST and LEN
are byte-granular, in register mode and in descriptors; a FIXED side must still be beat
aligned (:func:`hauler.sim.model.apply_transfer` says what a transfer does). Copies are
batched: on a build with scatter-gather, one descriptor per copy in chains of up to
:data:`CHAIN` descriptors; without it, one register-mode copy after the other (fewer cases,
see :func:`_scaled`). Every copy has its own source and destination; destinations are
separated by at least one beat of guard bytes, and every source and destination area is
filled with fresh random bytes before each batch. After each batch:

- each copy reports BYTES = LEN (the descriptor's write-back, or the BYTES register);
- the whole memory equals the model's (a stray write anywhere fails, guard bytes included);
- the bus wrote no byte outside the destinations (and the write-back words), each byte of
  an INCR destination exactly once, and a FIXED destination with ``ceil(LEN / B)`` beats,
  all whole but the last, which strobes lanes ``0 .. (LEN - 1) % B`` only: this catches a
  write that would leave memory as it was;
- the bus read no beat outside the sources (and the descriptors), and a FIXED source
  exactly ``ceil(LEN / B)`` times (a peripheral's data register must not be read more).

On a build without unaligned support each test runs its cases rounded to whole beats (so
the batching and checks still run) and checks that unaligned requests like its own are
refused with BAD_DESCRIPTOR, nothing moved.
"""

import bisect
import functools
import math
from dataclasses import dataclass, replace

import cocotb

from hauler.descriptor import DESCRIPTOR_SIZE, WRITEBACK_BYTES, WRITEBACK_OFFSET
from hauler.sim.descriptors import Descriptor, DescriptorStatus, read_status, write_chain
from hauler.sim.driver import Mode
from hauler.sim.harness import Harness
from hauler.sim.model import apply_transfer


PAGE = 4096
CHAIN = 128                 # most descriptors per chain
DESCS = 0x1000              # the chain's descriptors: CHAIN * 64 bytes from here
SRC_AREA = 0x10000          # sources from here ...
DST_AREA = 0x100000         # ... destinations from here, to the end of memory
TIMEOUT = 2_000_000         # cycles for one batch


@dataclass(frozen=True)
class Copy:
    """One transfer. Before :func:`_place`: ``src`` and ``dst`` are offsets within a beat,
    ``cross`` says which sides must cross a 4 KiB boundary ("src", "dst", "both" or "")."""
    src: int
    dst: int
    length: int
    src_mode: int = Mode.INCR
    dst_mode: int = Mode.INCR
    cross: str = ""

    def modes(self):
        return dict(src_mode=self.src_mode, dst_mode=self.dst_mode)

    def rounded(self, beat):
        """This copy on whole beats: offsets 0, the length rounded up."""
        return replace(self, src=0, dst=0, length=-(-self.length // beat) * beat)

    def written(self, beat):
        """The destination bytes, [start, end)."""
        if self.dst_mode == Mode.FIXED:
            return self.dst, self.dst + min(self.length, beat)
        return self.dst, self.dst + self.length

    def __str__(self):
        names = {Mode.INCR: "", Mode.FIXED: " FIXED"}
        return (f"{self.src:#x}{names[self.src_mode]} -> {self.dst:#x}{names[self.dst_mode]} "
                f"({self.length} bytes)")


def _align_up(value, align):
    return -(-value // align) * align


def _start(h, pos, copy, side):
    """Where ``side`` of ``copy`` goes: after ``pos`` and one guard beat, at its offset
    within a beat, across a page boundary if asked, beat aligned if FIXED."""
    beat = h.config.beat_bytes
    offset, mode = (copy.src, copy.src_mode) if side == "src" else (copy.dst, copy.dst_mode)
    if mode == Mode.FIXED:
        return _align_up(pos, beat) + beat
    if copy.cross in (side, "both"):
        boundary = _align_up(pos + copy.length + 2 * beat, PAGE)
        # k bytes before the boundary, k in [1, length), the start at the offset.
        ks = range((beat - offset) % beat or beat, copy.length, beat)
        if ks:
            return boundary - h.rng.choice(ks)
    return _align_up(pos, beat) + beat + offset


def _place(h, copies):
    """The copies at addresses: sources packed from :data:`SRC_AREA`, destinations from
    :data:`DST_AREA`, each after at least one beat of guard."""
    src_pos, dst_pos, placed = SRC_AREA, DST_AREA, []
    beat = h.config.beat_bytes
    for c in copies:
        src = _start(h, src_pos, c, "src")
        dst = _start(h, dst_pos, c, "dst")
        placed.append(replace(c, src=src, dst=dst, cross=""))
        src_pos = src + (beat if c.src_mode == Mode.FIXED else c.length)
        dst_pos = dst + (beat if c.dst_mode == Mode.FIXED else c.length)
    end = _align_up(dst_pos, beat) + beat
    assert src_pos <= DST_AREA and end <= h.memory.size, "batch too large for the memory"
    return placed, (SRC_AREA, _align_up(src_pos, beat) + beat), (DST_AREA, end)


def _fill(h, area):
    start, end = area
    h.memory.write(start, h.rng.randbytes(end - start))


def _scaled(h, copies, limit):
    """Without scatter-gather, a register-mode copy costs several times as many cycles:
    at most ``limit`` of the copies, drawn at random (logged)."""
    if h.config.sg or len(copies) <= limit:
        return copies
    h.dut._log.info("no scatter-gather in this build: %d of %d copies, drawn at random",
                    limit, len(copies))
    return h.rng.sample(copies, limit)


def _batches(copies, size=CHAIN):
    return [copies[i:i + size] for i in range(0, len(copies), size)]


@functools.lru_cache(maxsize=None)
def _writeback(length):
    """What a descriptor of ``length`` bytes writes back when it completes."""
    return DescriptorStatus(done=True, bytes=length).to_bytes()


def _check_memory(h, expected, copies, what):
    """The whole memory equals ``expected``; else name the first differing bytes and the
    copies whose destinations are nearest."""
    actual = h.snapshot()
    if actual == expected:
        return
    beat, diffs = h.config.beat_bytes, []
    for base in range(0, len(actual), PAGE):
        if actual[base:base + PAGE] != expected[base:base + PAGE]:
            diffs += [a for a in range(base, base + PAGE) if actual[a] != expected[a]]
            if len(diffs) >= 16:
                break
    def distance(a, c):
        start, end = c.written(beat)
        return max(start - a, a - end + 1, 0)

    lines = []
    for a in diffs[:16]:
        near = min(copies, key=lambda c: distance(a, c), default=None)
        where = ""
        if near is not None and distance(a, near) <= 2 * beat:
            where = f" ({'in' if distance(a, near) == 0 else 'near'} copy {near})"
        lines.append(f"{a:#x}: expected {expected[a]:#04x}, got {actual[a]:#04x}{where}")
    raise AssertionError(f"{what}: memory differs from the model at {len(diffs)}+ bytes:\n  "
                         + "\n  ".join(lines))


def _check_bus(h, writes, reads, copies, *, writebacks=(), descriptors=()):
    """What the bus did (:attr:`bus_writes`, :attr:`bus_reads` of the memory) for ``copies``.

    Writes touched only the destinations and the ``writebacks`` ranges: each byte of an
    INCR destination once, a FIXED one with whole beats and a last one strobing exactly
    the remaining lanes. Reads touched only the beats of the sources and of the
    ``descriptors`` (addresses), a FIXED source exactly ``ceil(LEN / B)`` times.
    """
    beat = h.config.beat_bytes
    full = (1 << beat) - 1
    ranges = sorted([c.written(beat) for c in copies] + list(writebacks))
    starts = [r[0] for r in ranges]
    fixed_writes = {c.dst: [] for c in copies if c.dst_mode == Mode.FIXED}
    counts = {}
    for word, strobes in writes:
        if word in fixed_writes:
            fixed_writes[word].append(strobes)
            continue
        for lane in range(beat):
            if strobes >> lane & 1:
                a = word + lane
                i = bisect.bisect_right(starts, a) - 1
                assert i >= 0 and a < ranges[i][1], \
                    f"byte {a:#x} written (beat {word:#x}, strobes {strobes:#x}): outside " \
                    f"every destination"
                counts[a] = counts.get(a, 0) + 1
    for c in copies:
        if c.dst_mode == Mode.FIXED:
            beats = -(-c.length // beat)
            last = full if c.length % beat == 0 else (1 << c.length % beat) - 1
            expected = [full] * (beats - 1) + [last]
            got = fixed_writes[c.dst]
            assert got == expected, \
                f"FIXED destination of copy {c}: beats written with strobes " \
                f"{[hex(s) for s in got]}, expected {[hex(s) for s in expected]}"
        else:
            for a in range(c.dst, c.dst + c.length):
                assert counts.get(a) == 1, \
                    f"copy {c}: byte {a:#x} written {counts.get(a, 0)} times, not once"

    readable = {word for a in descriptors for word in range(a, a + DESCRIPTOR_SIZE, beat)}
    for c in copies:
        if c.src_mode == Mode.INCR:
            readable.update(range(c.src - c.src % beat, c.src + c.length, beat))
    fixed_reads = {c.src: 0 for c in copies if c.src_mode == Mode.FIXED}
    for word in reads:
        if word in fixed_reads:
            fixed_reads[word] += 1
        else:
            assert word in readable, f"beat {word:#x} read: outside every source"
    for c in copies:
        if c.src_mode == Mode.FIXED:
            assert fixed_reads[c.src] == -(-c.length // beat), \
                f"FIXED source of copy {c} read {fixed_reads[c.src]} times, not " \
                f"{-(-c.length // beat)}"


async def _run_batch(h, copies, what, *, channel=0, register=False):
    """Run ``copies`` (at offsets, see :class:`Copy`) as one batch on ``channel`` and check
    everything the module docstring lists: as a chain on a build with scatter-gather unless
    ``register``, else in register mode. On a build without unaligned support they run
    rounded."""
    beat, drv = h.config.beat_bytes, h.driver
    if not h.config.unaligned:
        copies = list(dict.fromkeys(c.rounded(beat) for c in copies))
    copies, src_area, dst_area = _place(h, copies)
    _fill(h, src_area)
    _fill(h, dst_area)
    if h.config.sg and not register:
        # Linked here rather than by write_chain, and modelled by apply_transfer and the
        # write-back apply_chain would write, rather than by apply_chain: encoding and
        # decoding descriptors through their layouts costs about as much as simulating them.
        addrs = [DESCS + i * DESCRIPTOR_SIZE for i in range(len(copies))]
        nexts = addrs[1:] + [0]
        for i, (a, c) in enumerate(zip(addrs, copies)):
            h.memory.write(a, Descriptor(c.src, c.dst, c.length, next=nexts[i],
                                         last=int(i == len(copies) - 1),
                                         **c.modes()).to_bytes())
        expected = h.snapshot()
        for a, c in zip(addrs, copies):
            apply_transfer(expected, c.src, c.dst, c.length, beat_bytes=beat, **c.modes())
            expected[a + WRITEBACK_OFFSET:a + WRITEBACK_OFFSET + WRITEBACK_BYTES] = \
                _writeback(c.length)
        h.memory.bus_writes, h.memory.bus_reads = writes, reads = [], []
        await drv.start_chain(channel, addrs[0])
        status = await drv.wait_idle(channel, timeout=TIMEOUT)
        if status.error:
            err = await drv.read("ERR_ADDR_LO", channel)
            culprit = next((c for a, c in zip(addrs, copies) if a == err), None)
            raise AssertionError(f"{what}: chain failed with {status.err_code} at {err:#x}"
                                 + (f" (descriptor of copy {culprit})" if culprit else ""))
        assert status.done, status
        assert await drv.read("COMPLETED", channel) == len(copies)
        for a, c in zip(addrs, copies):
            if h.memory.read(a + WRITEBACK_OFFSET, WRITEBACK_BYTES) != _writeback(c.length):
                raise AssertionError(f"{what}: descriptor {a:#x} of copy {c} wrote back "
                                     f"{read_status(h.memory, a)}, not BYTES = LEN")
        writebacks = [(a + WRITEBACK_OFFSET, a + WRITEBACK_OFFSET + WRITEBACK_BYTES)
                      for a in addrs]
    else:
        h.memory.bus_writes, h.memory.bus_reads = writes, reads = [], []
        addrs = []
        expected = h.snapshot()
        for c in copies:
            apply_transfer(expected, c.src, c.dst, c.length, beat_bytes=beat, **c.modes())
            await drv.copy(channel, c.src, c.dst, c.length, **c.modes())
            status = await drv.wait_idle(channel, timeout=TIMEOUT)
            assert status.done and not status.error, f"{what}: copy {c}: {status}"
            got = await drv.read("BYTES", channel)
            assert got == c.length, f"{what}: copy {c}: BYTES = {got}"
        writebacks = []
    h.memory.bus_writes = h.memory.bus_reads = None
    _check_memory(h, expected, copies, what)
    _check_bus(h, writes, reads, copies, writebacks=writebacks, descriptors=addrs)
    return copies


async def _expect_bad(h, copy, what):
    """``copy`` (at addresses) is refused with BAD_DESCRIPTOR in register mode and, with
    scatter-gather, as the one descriptor of a chain (ERR_ADDR names it, no write-back);
    nothing in memory changes; then an aligned copy still works."""
    drv, beat = h.driver, h.config.beat_bytes
    before = h.snapshot()
    channel = h.config.channels - 1
    await drv.copy(channel, copy.src, copy.dst, copy.length, **copy.modes())
    status = await drv.wait_idle(channel)
    assert status.error and status.err_code == "BAD_DESCRIPTOR", \
        f"{what}: register-mode copy {copy}: {status}"
    await drv.write("IRQ_STATUS", 0b111, channel)
    if h.config.sg:
        addr = DESCS + CHAIN * DESCRIPTOR_SIZE
        write_chain(h.memory, [addr], [Descriptor(copy.src, copy.dst, copy.length,
                                                  **copy.modes())])
        before[addr:addr + DESCRIPTOR_SIZE] = h.memory.read(addr, DESCRIPTOR_SIZE)
        await drv.start_chain(0, addr)
        status = await drv.wait_idle(0)
        assert status.error and status.err_code == "BAD_DESCRIPTOR", \
            f"{what}: descriptor of copy {copy}: {status}"
        assert await drv.read("ERR_ADDR_LO", 0) == addr
        assert await drv.read("COMPLETED", 0) == 0
        await drv.write("IRQ_STATUS", 0b111, 0)
    _check_memory(h, before, [copy], f"{what}: after refusing {copy}")
    after = f"{what}: an aligned copy after the refusal"
    await _run_batch(h, [Copy(0, 0, 2 * beat)], after, channel=channel, register=True)
    if h.config.sg:
        await _run_batch(h, [Copy(0, 0, 2 * beat)], after)


async def _expect_unaligned_refused(h, copies, what):
    """On a build without unaligned support: one copy of each kind of misalignment found in
    ``copies`` (source, destination, length) is refused."""
    beat = h.config.beat_bytes
    kinds = {}
    for c in copies:
        for kind, value in (("src", c.src), ("dst", c.dst), ("length", c.length)):
            if value % beat and kind not in kinds:
                kinds[kind] = c
    assert kinds, f"{what}: no unaligned case to refuse"
    for kind, c in kinds.items():
        placed, _, _ = _place(h, [c])
        await _expect_bad(h, placed[0], f"{what} (unaligned {kind}, not built)")


async def _bench(dut, **options):
    h = await Harness.create(dut, **options)
    dut._log.info("unaligned support %s, scatter-gather %s, %d-byte beats",
                  "built" if h.config.unaligned else "NOT built: cases run rounded to beats, "
                  "unaligned ones must be refused", "built" if h.config.sg else "not built",
                  h.config.beat_bytes)
    return h


async def _run_all(h, copies, what):
    """Run ``copies`` in batches; without unaligned support, rounded (once each), then check
    that the unaligned ones are refused."""
    beat = h.config.beat_bytes
    runs = copies if h.config.unaligned else \
        list(dict.fromkeys(c.rounded(beat) for c in copies))
    for i, batch in enumerate(_batches(runs)):
        await _run_batch(h, batch, f"{what}, batch {i}")
    if not h.config.unaligned:
        await _expect_unaligned_refused(h, copies, what)


@cocotb.test()
async def config_reports_unaligned(dut):
    """CONFIG[22] UNALIGNED reads 1 exactly when unaligned support is built."""
    h = await _bench(dut)
    info = await h.driver.config()
    assert info["UNALIGNED"] == int(h.config.unaligned), info
    await h.finish()


@cocotb.test()
async def exhaustive_small_copies(dut):
    """Every (source offset, destination offset, length) with offsets 0..B-1 and lengths
    1..3B (B bytes per beat), under light backpressure (it costs cycles: the random tests
    have more)."""
    h = await _bench(dut, backpressure=0.1, latency=(1, 3))
    beat = h.config.beat_bytes
    copies = [Copy(s, d, n) for n in range(1, 3 * beat + 1) for s in range(beat)
              for d in range(beat)]
    copies = _scaled(h, copies, 256)
    h.rng.shuffle(copies)
    await _run_all(h, copies, "exhaustive")
    await h.finish()


def _random_copies(h, count, max_length):
    """``count`` random copies at random offsets: a quarter of them at most 4 beats long,
    the others of log-uniform lengths up to ``max_length`` (most short, some long); half
    across a 4 KiB boundary on the source, the destination or both."""
    beat, copies = h.config.beat_bytes, []
    for i in range(count):
        if h.rng.random() < 0.25:
            length = h.rng.randint(1, 4 * beat)
        else:
            length = int(math.exp(h.rng.uniform(0, math.log(max_length + 1))))
        cross = h.rng.choice(["", "", "", "src", "dst", "both"])
        copies.append(Copy(h.rng.randrange(beat), h.rng.randrange(beat), length, cross=cross))
    return copies


@cocotb.test()
async def random_copies_under_backpressure(dut):
    """Random lengths up to 4 KiB at random offsets, many across 4 KiB pages on either side,
    under backpressure (AXI4: every channel; Wishbone: stalls and 1-4 cycle latencies)."""
    h = await _bench(dut, backpressure=0.3, latency=(1, 4))
    copies = _scaled(h, _random_copies(h, 192, 4096), 48)
    await _run_all(h, copies, "random under backpressure")
    await h.finish()


@cocotb.test()
async def random_copies_with_read_latency(dut):
    """Random lengths up to 2 KiB at random offsets, page crossings included, with the
    memory answering reads 8 cycles late."""
    h = await _bench(dut, read_latency=8)
    copies = _scaled(h, _random_copies(h, 96, 2048), 24)
    await _run_all(h, copies, "random with read latency")
    await h.finish()


@cocotb.test()
async def fixed_source_and_destination(dut):
    """A FIXED source or destination (beat aligned) with the other side at every offset and
    odd lengths; and FIXED to FIXED."""
    h = await _bench(dut, backpressure=0.2)
    beat = h.config.beat_bytes
    lengths = [1, beat - 1, beat + 1, 2 * beat + 3, 5 * beat - 1, 37, 16 * beat + 5]
    copies = []
    for n in lengths:
        for off in range(beat):
            copies.append(Copy(0, off, n, src_mode=Mode.FIXED))
            copies.append(Copy(off, 0, n, dst_mode=Mode.FIXED))
        copies.append(Copy(0, 0, n, src_mode=Mode.FIXED, dst_mode=Mode.FIXED))
    copies = _scaled(h, copies, 64)
    h.rng.shuffle(copies)
    await _run_all(h, copies, "FIXED")
    await h.finish()


@cocotb.test()
async def fixed_side_unaligned_is_bad_descriptor(dut):
    """A FIXED side at an address that is not beat aligned is BAD_DESCRIPTOR (whatever the
    other side and the length), in register mode and in a descriptor, nothing moved; in a
    chain, the descriptors before it complete and the run halts at it."""
    h = await _bench(dut)
    beat, drv = h.config.beat_bytes, h.driver
    cases = [Copy(1, 0, beat, src_mode=Mode.FIXED),
             Copy(beat - 1, 3, 2 * beat + 1, src_mode=Mode.FIXED),
             Copy(0, 2, beat, dst_mode=Mode.FIXED),
             Copy(beat // 2, beat - 1, 7, dst_mode=Mode.FIXED),
             Copy(2, 1, 5, src_mode=Mode.FIXED, dst_mode=Mode.FIXED)]
    for case in cases:
        # Placed with offset 0 on its FIXED side, then moved off the beat.
        placed = _place(h, [replace(case, src=0 if case.src_mode else case.src,
                                    dst=0 if case.dst_mode else case.dst)])[0][0]
        placed = replace(placed, src=placed.src + (case.src if case.src_mode else 0),
                         dst=placed.dst + (case.dst if case.dst_mode else 0))
        await _expect_bad(h, placed, "FIXED side off its beat")
    if h.config.sg:
        # In the middle of a chain: the first completes, the chain halts at the second.
        good, src_area, dst_area = _place(h, [Copy(0, 0, 4 * beat), Copy(0, 0, 4 * beat)])
        _fill(h, src_area)
        _fill(h, dst_area)
        bad = replace(good[1], src_mode=Mode.FIXED, src=good[1].src + 1)
        addrs = [DESCS, DESCS + DESCRIPTOR_SIZE, DESCS + 2 * DESCRIPTOR_SIZE]
        write_chain(h.memory, addrs, [Descriptor(c.src, c.dst, c.length, **c.modes())
                                      for c in (good[0], bad, good[1])])
        expected = h.snapshot()
        apply_transfer(expected, good[0].src, good[0].dst, good[0].length, beat_bytes=beat)
        expected[addrs[0] + WRITEBACK_OFFSET:addrs[0] + WRITEBACK_OFFSET + WRITEBACK_BYTES] = \
            DescriptorStatus(done=True, bytes=good[0].length).to_bytes()
        await drv.start_chain(0, addrs[0])
        status = await drv.wait_idle(0)
        assert status.error and status.err_code == "BAD_DESCRIPTOR", status
        assert await drv.read("ERR_ADDR_LO", 0) == addrs[1]
        assert await drv.read("COMPLETED", 0) == 1
        _check_memory(h, expected, [good[0]], "chain halted at a FIXED source off its beat")
        await drv.write("IRQ_STATUS", 0b111, 0)
    await h.finish()


async def _timed_copy(h, channel, copy):
    """Run ``copy`` in register mode; check it against the model; return its cycles."""
    drv = h.driver
    expected = apply_transfer(h.snapshot(), copy.src, copy.dst, copy.length,
                              beat_bytes=h.config.beat_bytes, **copy.modes())
    h.memory.bus_writes, h.memory.bus_reads = writes, reads = [], []
    await drv.setup_transfer(channel, copy.src, copy.dst, copy.length, **copy.modes())
    h.monitor.reset()
    await drv.start(channel)
    status = await drv.wait_idle(channel, timeout=TIMEOUT)
    cycles = h.monitor.cycles
    h.memory.bus_writes = h.memory.bus_reads = None
    assert status.done and not status.error, f"copy {copy}: {status}"
    assert await drv.read("BYTES", channel) == copy.length, f"copy {copy}: BYTES"
    _check_memory(h, expected, [copy], f"register-mode copy {copy}")
    _check_bus(h, writes, reads, [copy])
    return cycles


@cocotb.test()
async def register_mode_copies(dut):
    """Unaligned copies in register mode (the driver's copy), each against the model:
    short ones, FIXED ones, a page crossing, and 64 KiB from offset 1 to offset 3, which
    takes no more than 10 % more cycles per byte than an aligned copy (full rate). Without
    unaligned support: the copies rounded to beats, and the unaligned ones refused."""
    h = await _bench(dut)
    beat = h.config.beat_bytes
    channel = h.config.channels - 1
    cases = [Copy(1, 2, 1), Copy(beat - 1, 0, 2), Copy(3, beat - 1, beat + 2),
             Copy(2, 1, 999, cross="both"),
             Copy(0, 3, 3 * beat + 1, src_mode=Mode.FIXED),
             Copy(1, 0, 2 * beat + 3, dst_mode=Mode.FIXED)]
    if not h.config.unaligned:
        await _run_batch(h, cases, "register mode, rounded", channel=channel, register=True)
        await _expect_unaligned_refused(h, cases, "register mode")
        await h.finish()
        return
    for case in cases:
        placed, src_area, dst_area = _place(h, [case])
        _fill(h, src_area)
        _fill(h, dst_area)
        await _timed_copy(h, channel, placed[0])
    # The 64 KiB copy, and an aligned one of 8 KiB for its rate.
    big, small = 0x10000, 0x2000
    src, dst = SRC_AREA + PAGE, DST_AREA + PAGE
    _fill(h, (src - PAGE, src + big + PAGE))
    _fill(h, (dst - PAGE, dst + big + PAGE))
    aligned = await _timed_copy(h, channel, Copy(src, dst, small))
    unaligned = await _timed_copy(h, channel, Copy(src + 1, dst + 3, big))
    dut._log.info("%d cycles for an aligned copy of %d bytes, %d for %d bytes from offset 1 "
                  "to offset 3", aligned, small, unaligned, big)
    assert unaligned / big <= 1.1 * aligned / small, \
        f"64 KiB unaligned copy took {unaligned} cycles, 8 KiB aligned {aligned}: not " \
        f"full rate"
    await h.finish()
