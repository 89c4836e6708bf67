"""cocotb tests of the stream ports (ABI §4, docs/devices.md) on the generated Verilog, any
configuration with streams built; and, on the loop-back fixture of tests/test_streams.py,
self-tests of the stream models and of the stream protocol checker.

Every test puts an :class:`~hauler.sim.checkers.AxiStreamChecker` on every ``m_axis``
port and on every ``s_axis`` port a model drives, and compares the whole memory with what
it expects at the end: a stream-to-memory transfer writes exactly the bytes it reports, a
memory-to-stream transfer writes nothing but its descriptor's write-back. Stream contents
are checked against the reference model of :mod:`hauler.sim.streams`.

Which tests exist depends on the top level: on the controller the controller's tests, on
the fixture ``axis_loop`` (an ``s_axis0`` wired straight through to ``m_axis0``) the
self-tests, each set unregistered on the other top level.
"""

import collections
import logging
import os
import random

import cocotb
from cocotb.triggers import ClockCycles, Event, FallingEdge, RisingEdge, SimTimeoutError, \
    with_timeout

from cocotbext.axi import AxiStreamBus, AxiStreamSink, AxiStreamSource

from hauler.descriptor import DESCRIPTOR_SIZE, WRITEBACK_OFFSET
from hauler.sim.bench import bench_config, reset_dut, start_clock, wait_until
from hauler.sim.checkers import AxiStreamChecker
from hauler.sim.descriptors import Descriptor, DescriptorStatus, read_status, write_chain, \
    write_ring
from hauler.sim.driver import Mode
from hauler.sim.harness import Harness, MEMORY_SIZE
from hauler.sim.streams import NicReceiveModel, NicTransmitModel, mm2s_packets, \
    quiet_stream_ports, random_length, s2mm_split


FIXTURE = "axis_loop"
#: What the NIC drivers do, one line per action, at DEBUG (HAULER_NIC_TRACE=1 shows it).
_trace = logging.getLogger("cocotb.nic")
_trace.setLevel(logging.DEBUG if os.environ.get("HAULER_NIC_TRACE") else logging.INFO)
_ON_FIXTURE = os.environ.get("COCOTB_TOPLEVEL") == FIXTURE


def _register(on_fixture, **options):
    """``cocotb.test`` for the tests of one top level; the others stay plain functions."""
    def decorate(function):
        return cocotb.test(**options)(function) if on_fixture == _ON_FIXTURE else function
    return decorate


def dut_test(**options):
    """A test of the controller."""
    return _register(False, **options)


def fixture_test(**options):
    """A self-test on the loop-back fixture."""
    return _register(True, **options)


DESCS = 0x1000              # descriptors (64 KiB of room)
SRC = 0x20000               # sources of memory-to-stream transfers
SOURCES = 0x60000           # bytes of them (Streams.source); then the transmit queues' arenas
DST = MEMORY_SIZE // 2      # destinations of stream-to-memory transfers (1 MiB)
_IRQ_CHAIN_END, _IRQ_ERROR = 2, 4     # IRQ_STATUS bits


# --- The bench: models, checkers and the harness ---------------------------------------


class Mirror:
    """What memory must hold: the memory at the start plus every write the bench makes
    through :meth:`write`, and what the bench accepts as written by the controller
    (:meth:`accept`). :meth:`check` compares it with the memory, byte for byte."""

    def __init__(self, h):
        self._h = h
        self.expected = h.snapshot()

    def write(self, addr, data):
        self._h.memory.write(addr, data)
        self.expected[addr:addr + len(data)] = data

    def accept(self, addr, data):
        self.expected[addr:addr + len(data)] = data

    def check(self, what):
        got = self._h.snapshot()
        if got != self.expected:
            diff = [a for a in range(len(got)) if got[a] != self.expected[a]]
            raise AssertionError(f"{what}: memory differs from the expected at {len(diff)} "
                                 f"byte(s), first {diff[0]:#x}, last {diff[-1]:#x}")


class Streams:
    """The bench of one test: the harness, a receive model per ``rx`` channel, a transmit
    model per ``tx`` channel, a checker on every ``m_axis`` and on each driven ``s_axis``.

    Members
    -------
    h : Harness
    drv : Driver
    rx, tx : dict of int to NicReceiveModel / NicTransmitModel, by channel
    checkers : dict of str to AxiStreamChecker, by port name
    beat : int
        Bytes per beat.
    mirror : Mirror
    """

    def __init__(self, h, rx, tx, checkers):
        self.h, self.rx, self.tx, self.checkers = h, rx, tx, checkers
        self.drv = h.driver
        self.beat = h.config.beat_bytes
        self.mirror = Mirror(h)
        self._source = SRC

    def source(self, length):
        """A fresh source buffer of ``length`` bytes at a random byte address, after the
        previous one: sources filled before a chain runs never overlap."""
        addr = self._source + self.h.rng.randrange(0, 64)
        if addr + length > SRC + SOURCES:
            addr = SRC + self.h.rng.randrange(0, 64)
        self._source = addr + length
        return addr

    @classmethod
    async def create(cls, dut, *, rx=(0,), tx=(0,), gap=0.0, gap_run=1.0,
                     tx_backpressure=0.0, tx_backpressure_run=1.0, **harness):
        config = bench_config()
        assert config.streams, "this bench needs a build with streams"
        quiet_stream_ports(dut, config.channels)
        seed = random.getrandbits(32)
        rx = [n for n in rx if n < config.channels]
        tx = [n for n in tx if n < config.channels]
        models_rx = {n: NicReceiveModel(dut, n, dut.clk, dut.rst, seed=seed + 1 + n, gap=gap,
                                        gap_run=gap_run) for n in rx}
        models_tx = {n: NicTransmitModel(dut, n, dut.clk, dut.rst, seed=seed + 101 + n,
                                         backpressure=tx_backpressure,
                                         backpressure_run=tx_backpressure_run) for n in tx}
        checkers = {f"m_axis{n}": AxiStreamChecker(dut, f"m_axis{n}", dut.clk, dut.rst)
                    for n in range(config.channels)}
        checkers.update({f"s_axis{n}": AxiStreamChecker(dut, f"s_axis{n}", dut.clk, dut.rst)
                         for n in rx})
        h = await Harness.create(dut, seed=seed, **harness)
        return cls(h, models_rx, models_tx, checkers)

    async def setup(self, channel, src, dst, length, *, src_mode=Mode.INCR, dst_mode=Mode.INCR,
                    eop=0):
        """A register-mode transfer's registers (XFER with EOP), not started."""
        await self.drv.setup_transfer(channel, src, dst, length, src_mode=src_mode,
                                      dst_mode=dst_mode)
        await self.drv.write_fields("XFER", channel, src_mode=int(src_mode),
                                    dst_mode=int(dst_mode), eop=eop)

    async def transfer(self, channel, src, dst, length, **modes):
        """Run one register-mode transfer to its end; return its STATUS."""
        await self.setup(channel, src, dst, length, **modes)
        await self.drv.start(channel)
        return await self.drv.wait_idle(channel)

    async def expect_done(self, channel, length, *, eop=False, what=""):
        """The transfer that just ended on ``channel``: DONE, BYTES = ``length``, STATUS.EOP
        = ``eop``, COMPLETED 1."""
        status = await self.drv.status(channel)
        assert status.done and not status.error and not status.busy, f"{what}: {status}"
        assert status.eop == eop, f"{what}: STATUS.EOP {status.eop}, expected {eop}"
        assert await self.drv.read("BYTES", channel) == length, \
            f"{what}: BYTES {await self.drv.read('BYTES', channel)}, expected {length}"
        assert await self.drv.read("COMPLETED", channel) == 1, what

    async def expect_error(self, channel, code, what=""):
        """Wait for ``channel`` to halt with ERR_CODE ``code`` and IRQ_STATUS.ERROR; clear
        IRQ_STATUS."""
        status = await self.drv.wait_idle(channel)
        assert status.error and not status.done and status.err_code == code, \
            f"{what}: {status}, expected {code}"
        assert (await self.drv.fields("IRQ_STATUS", channel))["ERROR"] == 1, what
        await self.drv.write("IRQ_STATUS", 0b111, channel)

    async def finish(self, *, empty_ends=False):
        """Every transmit model got what it expected; the checkers saw no violation and the
        ``m_axis`` outputs are quiet; the master bus is idle. No packet ended with an empty
        beat unless ``empty_ends`` (an error or ABORT cut one short)."""
        await self.h.finish()
        for model in self.tx.values():
            model.check()
        for name, checker in self.checkers.items():
            checker.check(idle=name.startswith("m_"))
            if name.startswith("m_") and not empty_ends:
                assert checker.empty_ends == 0, f"{name}: a packet ended with an empty beat"


def _poison(data):
    """Bytes differing from ``data`` at every position: a destination filled with them shows
    exactly which bytes a transfer wrote."""
    return bytes(b ^ 0xA5 for b in data)


def _written_prefix(got, data, poison, what):
    """How many leading bytes of ``data`` the destination ``got`` holds; the rest must be
    ``poison`` (so the writes were a prefix and nothing was garbled)."""
    n = next((i for i, (g, d) in enumerate(zip(got, data)) if g != d), len(data))
    assert got[n:] == poison[n:], f"{what}: bytes after the first {n} written are neither " \
                                  f"the data nor untouched"
    return n


async def _until(h, condition, what, timeout=100_000):
    await wait_until(h.clock, condition, what, timeout=timeout)


class Arena:
    """Byte-granular buffers handed out one after the other from ``[base, base + size)``,
    with random gaps, wrapping around at the end; :meth:`release` frees the oldest. A new
    buffer overlapping one still in use fails (the arena is too small for the bench)."""

    def __init__(self, rng, base, size):
        self.rng, self.base, self.size = rng, base, size
        self.pos = base
        self.live = collections.deque()

    def take(self, length):
        addr = self.pos + self.rng.randrange(0, 64)
        if addr + length > self.base + self.size:
            addr = self.base + self.rng.randrange(0, 64)
        for start, end in self.live:
            assert addr + length <= start or end <= addr, "arena too small for what is in use"
        self.live.append((addr, addr + length))
        self.pos = addr + length
        return addr

    def release(self):
        self.live.popleft()


# --- Self-tests of the models and the checker, on the loop-back fixture ---------------------


@fixture_test(timeout_time=2, timeout_unit="ms")
async def models_round_trip(dut):
    """Random packets (1 byte to 3 KiB, garbage outside tkeep) through the wire, back to back
    then with gaps and back-pressure: the transmit model receives each once, intact, and
    both checkers count the same beats, packets and bytes; back to back, one beat a cycle."""
    start_clock(dut)
    rx = NicReceiveModel(dut, 0, dut.clk, dut.rst, seed=cocotb.RANDOM_SEED, max_length=3072)
    tx = NicTransmitModel(dut, 0, dut.clk, dut.rst, seed=cocotb.RANDOM_SEED + 1)
    checkers = [AxiStreamChecker(dut, p, dut.clk, dut.rst) for p in ("s_axis0", "m_axis0")]
    await reset_dut(dut)
    for gap, backpressure in ((0.0, 0.0), (0.3, 0.5)):
        rx.set_gaps(gap, 3)
        tx.set_backpressure(backpressure, 2)
        for checker in checkers:
            checker.reset_counts()
        packets = rx.send_random(30) + [rx.send(rx.random_packet(n)) for n in (1, rx.beat_bytes)]
        for p in packets:
            tx.expect(p)
        await tx.wait_packets(len(tx.received) + len(packets), clock=dut.clk, timeout=20_000)
        assert rx.idle()
        tx.check()
        assert tx.received[-len(packets):] == packets
        beats = sum(-(-len(p) // rx.beat_bytes) for p in packets)
        for checker in checkers:
            checker.check(idle=True)
            assert (checker.beats, checker.packets, checker.bytes) == \
                (beats, len(packets), sum(map(len, packets))), checker.name
            if not gap and not backpressure:
                assert checker.last_beat - checker.first_beat + 1 == beats


@fixture_test(timeout_time=1, timeout_unit="ms")
async def transmit_model_catches_bad_packets(dut):
    """A wrong byte, a packet nobody expected, a partial tkeep before tlast and a gap in the
    final tkeep: the transmit model reports each, the checker the tkeep ones. A tlast beat
    with no byte is no error, only counted."""
    start_clock(dut)
    tx = NicTransmitModel(dut, 0, dut.clk, dut.rst, fail_fast=False)
    checker = AxiStreamChecker(dut, "m_axis0", dut.clk, dut.rst, fail_fast=False)
    await reset_dut(dut)
    lanes = len(dut.s_axis0__tkeep)
    full = (1 << lanes) - 1

    async def packet(beats, expected=None):
        if expected is not None:
            tx.expect(expected)
        for data, keep, last in beats:
            for name, value in (("tdata", data), ("tkeep", keep), ("tlast", last),
                                ("tvalid", 1)):
                getattr(dut, f"s_axis0__{name}").value = value
            while True:
                await FallingEdge(dut.clk)
                ready = dut.s_axis0__tready.value
                await RisingEdge(dut.clk)
                if ready:
                    break
            dut.s_axis0__tvalid.value = 0
        await ClockCycles(dut.clk, 3)       # the model's task has seen the packet

    counted = bytes(range(1, lanes + 1))
    await packet([(int.from_bytes(counted, "little") ^ 1, full, 1)], counted)  # a wrong byte
    await packet([(0, 1, 1)])                                                 # unexpected
    await packet([(0, full >> 1, 0), (0, full, 1)], bytes(2 * lanes))         # partial early
    await packet([(0, 0b101, 1)], bytes(2))                                   # a hole
    await packet([(5, full, 0), (0, 0, 1)], (5).to_bytes(lanes, "little"))    # empty end: fine
    assert tx.empty_ends == 1 and checker.empty_ends == 1
    assert len(tx.errors) == 5, tx.errors
    for error, part in zip(tx.errors, ["first difference at byte 0", "was not expected",
                                       "only the tlast beat may be partial",
                                       f"{2 * lanes} expected", "not a run of lanes"]):
        assert part in error, (error, part)
    messages = [m for _, m in checker.violations]
    assert len(messages) == 2 and "on a beat without tlast" in messages[0] and \
        "not a contiguous run" in messages[1], messages


@fixture_test(timeout_time=1, timeout_unit="ms")
async def checker_catches_violations(dut):
    """tvalid dropped before tready, and tdata changed while waiting, each reported once;
    the checker of the input side calls them model bugs."""
    start_clock(dut)
    out = AxiStreamChecker(dut, "m_axis0", dut.clk, dut.rst, fail_fast=False)
    inp = AxiStreamChecker(dut, "s_axis0", dut.clk, dut.rst, fail_fast=False)
    await reset_dut(dut)
    full = (1 << len(dut.s_axis0__tkeep)) - 1
    dut.m_axis0__tready.value = 0
    for name, value in (("tdata", 1), ("tkeep", full), ("tlast", 1), ("tvalid", 1)):
        getattr(dut, f"s_axis0__{name}").value = value
    await ClockCycles(dut.clk, 2)
    dut.s_axis0__tvalid.value = 0                      # dropped while waiting
    await ClockCycles(dut.clk, 2)
    dut.s_axis0__tvalid.value = 1
    await ClockCycles(dut.clk, 2)
    dut.s_axis0__tdata.value = 2                       # changed while waiting
    await ClockCycles(dut.clk, 2)
    dut.m_axis0__tready.value = 1
    await ClockCycles(dut.clk, 1)
    dut.s_axis0__tvalid.value = 0
    await ClockCycles(dut.clk, 2)
    for checker, suffix in ((out, ""), (inp, " (model bug)")):
        messages = [m for _, m in checker.violations]
        assert messages == [f"{checker._stream.label}: valid dropped before ready{suffix}",
                            f"{checker._stream.label}: tdata changed while valid waited for "
                            f"ready{suffix}"], messages
        assert checker.beats == 1 and checker.packets == 1
    dut.m_axis0__tready.value = 0
    dut.s_axis0__tvalid.value = 1
    await ClockCycles(dut.clk, 2)
    try:
        out.check(idle=True)
    except AssertionError as error:
        assert "not idle at the end: m_axis0: tvalid waiting for tready" in str(error), str(error)
    else:
        raise AssertionError("check() passed despite violations")


# --- Register mode --------------------------------------------------------------------------


@dut_test()
async def config_reports_streams(dut):
    """CONFIG.STREAMS is 1, the stream ports are as wide as the data path, and the controller
    leaves reset with ``m_axis`` tvalid and ``s_axis`` tready low."""
    s = await Streams.create(dut, rx=(), tx=())
    cfg = await s.drv.fields("CONFIG")
    assert cfg["STREAMS"] == 1, cfg
    for n in range(s.h.config.channels):
        assert len(getattr(dut, f"m_axis{n}__tdata")) == s.h.config.data_width
        assert len(getattr(dut, f"s_axis{n}__tkeep")) == s.beat
        assert getattr(dut, f"m_axis{n}__tvalid").value == 0
        assert getattr(dut, f"s_axis{n}__tready").value == 0
    await s.finish()


@dut_test()
async def mm2s_single_transfers(dut):
    """Register-mode memory-to-stream transfers with EOP from random byte addresses and
    lengths (1 byte to 3 KiB, 4 KiB crossings), INCR and FIXED, some under master and stream
    back-pressure: each one packet on m_axis with exactly its bytes; DONE, BYTES = LEN,
    STATUS.EOP 0 (a stream sink); memory untouched."""
    s = await Streams.create(dut, rx=(), backpressure=0.1)
    h, beat, tx = s.h, s.beat, s.tx[0]
    lengths = [1, beat - 1 or 1, beat, beat + 1, 2 * beat] + \
        [h.rng.randint(1, 3072) for _ in range(10)]
    for i, length in enumerate(lengths):
        tx.set_backpressure(0.5 if i % 3 == 2 else 0.0, 3)
        fixed = i % 5 == 4
        if fixed:
            src = SRC + h.rng.randrange(0, 0x1000, beat)
            data = (h.fill(src, beat) * (-(-length // beat)))[:length]
            s.mirror.accept(src, h.memory.read(src, beat))
        else:
            src = s.source(length)
            data = h.fill(src, length)
            s.mirror.accept(src, data)
        tx.expect(data)
        await s.transfer(0, src, 0, length, src_mode=Mode.FIXED if fixed else Mode.INCR,
                         dst_mode=Mode.STREAM, eop=1)
        await s.expect_done(0, length, what=f"mm2s {length} bytes from {src:#x}")
    await tx.wait_packets(len(lengths), clock=h.clock)
    s.mirror.check("after memory-to-stream transfers")
    assert s.checkers["m_axis0"].packets == len(lengths)
    await s.finish()


@dut_test()
async def mm2s_completes_into_its_buffer(dut):
    """A short memory-to-stream transfer completes (DONE, interrupt) with the stream stalled:
    its data waits in the channel's buffer, so its source may be reused at once; the packet
    sent afterwards has the bytes from before."""
    s = await Streams.create(dut, rx=())
    h, beat, tx = s.h, s.beat, s.tx[0]
    tx.stall()
    await s.drv.write_fields("IRQ_ENABLE", 0, done=1)
    length = 3 * beat - 1
    src = s.source(length)
    data = h.fill(src, length)
    tx.expect(data)
    await s.setup(0, src, 0, length, dst_mode=Mode.STREAM, eop=1)
    await s.drv.start(0)
    await s.drv.wait_irq(dut.irq, timeout=2_000)
    await s.expect_done(0, length, what="stalled stream")
    assert s.checkers["m_axis0"].beats == 0
    s.mirror.write(src, _poison(data))                   # the buffer reused
    await ClockCycles(h.clock, 20)
    tx.set_backpressure(0.0)
    await tx.wait_packets(1, clock=h.clock)
    await s.drv.write("IRQ_STATUS", 0b111, 0)
    s.mirror.check("after the stalled transfer")
    await s.finish()


def _fragments(s, *, packets, fragments, max_length):
    """Random packets cut into ``fragments`` (an inclusive range) of 1 to ``max_length``
    bytes, each filled at a fresh source buffer: (source, bytes, ends the packet) each."""
    rng, out = s.h.rng, []
    for _ in range(packets):
        count = rng.randint(*fragments)
        for k in range(count):
            length = rng.randint(1, max_length)
            src = s.source(length)
            data = s.h.fill(src, length)
            s.mirror.accept(src, data)
            out.append((src, data, k == count - 1))
    return out


@dut_test()
async def mm2s_packets_across_transfers(dut):
    """Packets made of several register-mode transfers, each from a random byte address with a
    random length (partial beats held and completed by the next one), EOP on the last only:
    m_axis carries exactly those packets, tkeep partial only on the tlast beat. Then the
    same as a scatter-gather chain of fragments, several packets in one chain, the stream
    stalled at times: write-backs DONE, BYTES = LEN, EOP 0."""
    s = await Streams.create(dut, rx=(), tx_backpressure=0.3, tx_backpressure_run=4,
                             backpressure=0.1)
    h, drv, tx = s.h, s.drv, s.tx[0]
    transfers = _fragments(s, packets=3, fragments=(2, 5), max_length=700)
    packets, rest = mm2s_packets((data, eop) for _, data, eop in transfers)
    assert not rest
    for p in packets:
        tx.expect(p)
    ended = 0
    for i, (src, data, eop) in enumerate(transfers):
        await s.transfer(0, src, 0, len(data), dst_mode=Mode.STREAM, eop=int(eop))
        await s.expect_done(0, len(data), what=f"fragment {i}")
        if eop:
            ended += 1
        else:
            # Nothing of an open packet ends it: no tlast on m_axis beyond the packets ended
            # so far (the last of those may still wait in the buffer behind a slow device).
            assert s.checkers["m_axis0"].packets <= ended, f"fragment {i}: early tlast"
    await tx.wait_packets(len(packets), clock=h.clock)

    # Scatter-gather: 4 packets of 1..4 fragments in one chain.
    fragments = _fragments(s, packets=4, fragments=(1, 4), max_length=1500)
    transfers = [(data, eop) for _, data, eop in fragments]
    chain = [Descriptor(src, 0, len(data), dst_mode=Mode.STREAM, eop=int(eop), irq=int(eop))
             for src, data, eop in fragments]
    addrs = [DESCS + i * DESCRIPTOR_SIZE for i in range(len(chain))]
    chain = write_chain(h.memory, addrs, chain)
    for a, d in zip(addrs, chain):
        s.mirror.accept(a, d.to_bytes())
    packets, _ = mm2s_packets(transfers)
    for p in packets:
        tx.expect(p)
    await drv.start_chain(0, addrs[0])
    status = await drv.wait_idle(0)
    assert status.done and not status.error and not status.eop, status
    assert await drv.read("COMPLETED", 0) == len(chain)
    for a, d in zip(addrs, chain):
        wb = DescriptorStatus(done=True, bytes=d.length)
        assert read_status(h.memory, a) == wb, (hex(a), read_status(h.memory, a))
        s.mirror.accept(a + WRITEBACK_OFFSET, wb.to_bytes())
    await tx.wait_packets(3 + len(packets), clock=h.clock)
    assert s.checkers["m_axis0"].packets == 3 + len(packets)
    s.mirror.check("after the fragments")
    await s.finish()


async def _s2mm_run(s, packets, lengths, *, channel=0, late=False, what=""):
    """Send ``packets`` and run one register-mode stream-to-memory transfer per LEN of
    ``lengths``, each into a fresh buffer at a random byte address; check each against
    :func:`s2mm_split` (data, BYTES, STATUS.EOP), and that the channel takes no beat while
    idle. With ``late`` each packet is sent only after its first transfer started."""
    h, drv, rx = s.h, s.drv, s.rx[channel]
    checker = s.checkers[f"s_axis{channel}"]
    ready = getattr(h.dut, f"s_axis{channel}__tready")
    expected = s2mm_split(packets, lengths, beat_bytes=s.beat)
    assert len(expected) == len(lengths) and expected[-1][1], "the packets must fill the LENs"
    if not late:
        for p in packets:
            rx.send(p)
    sent = 0
    for i, (length, (data, eop)) in enumerate(zip(lengths, expected)):
        dst = DST + h.rng.randrange(0, 0x10000 - length)
        poison = h.rng.randbytes(length)
        s.mirror.write(dst, poison)
        await s.setup(channel, 0, dst, length, src_mode=Mode.STREAM)
        before = checker.beats
        await ClockCycles(h.clock, 8)
        assert checker.beats == before and ready.value == 0, \
            f"{what}: s_axis beats taken while the channel was idle"
        await drv.start(channel)
        if late and (i == 0 or expected[i - 1][1]):
            await ClockCycles(h.clock, h.rng.randrange(1, 40))
            rx.send(packets[sent])
            sent += 1
        await drv.wait_idle(channel)
        label = f"{what} transfer {i} (LEN {length} at {dst:#x})"
        await s.expect_done(channel, len(data), eop=eop, what=label)
        got = h.memory.read(dst, length)
        assert got[:len(data)] == data, f"{label}: wrong bytes"
        assert got[len(data):] == poison[len(data):], f"{label}: written beyond BYTES"
        s.mirror.accept(dst, data)
    await _until(h, rx.idle, "the source to be drained")
    before = checker.beats
    await ClockCycles(h.clock, 8)
    assert checker.beats == before


@dut_test()
async def s2mm_single_transfers(dut):
    """Register-mode stream-to-memory transfers into random byte addresses: packets shorter
    than, equal to and longer than LEN (continued in the next transfers, nothing lost or
    repeated), 1-byte packets, partial tkeep on the last beat (garbage outside it), packets
    that arrive only after START, several packets queued at once (one per transfer), a FIXED
    destination, with gaps in the stream and master back-pressure. BYTES and STATUS.EOP as the reference model
    says; no byte written beyond BYTES; no beat taken while the channel is idle."""
    s = await Streams.create(dut, tx=(), gap=0.3, gap_run=3, backpressure=0.15)
    h, beat, rx = s.h, s.beat, s.rx[0]
    lens = lambda: h.rng.randint(1, 256 // beat) * beat
    n = lens()
    await _s2mm_run(s, [rx.random_packet(n - h.rng.randint(1, n - 1) if n > 1 else 1)], [n],
                    what="shorter")
    n = lens()
    await _s2mm_run(s, [rx.random_packet(n)], [n], what="equal")
    n = lens()
    long = rx.random_packet(2 * n + h.rng.randint(1, n))
    await _s2mm_run(s, [long], [n, n, n], what="longer")
    await _s2mm_run(s, [rx.random_packet(1), rx.random_packet(1)], [beat, 4 * beat],
                    what="1-byte")
    # A packet over LENs of different sizes, one ending exactly at a LEN.
    await _s2mm_run(s, [rx.random_packet(5 * beat), rx.random_packet(3 * beat + 1)],
                    [2 * beat, 3 * beat, beat, 8 * beat], what="exact")
    packets = [rx.random_packet() for _ in range(4)]
    await _s2mm_run(s, packets, [max(-(-len(p) // beat) * beat, 8 * beat) for p in packets],
                    late=True, what="late")
    packets = [rx.random_packet(h.rng.randint(1, 200)) for _ in range(5)]
    await _s2mm_run(s, packets, [256] * 5, what="queued")
    # A FIXED destination (a peripheral register): every beat written to one address, each
    # lane keeping the last byte written to it, the final beat's only up to BYTES.
    for n in (8 * beat, h.rng.randint(1, 8 * beat - 1)):
        dst = DST + 0x20000 + h.rng.randrange(0, 0x100, beat)
        packet = rx.send(rx.random_packet(n))
        before = h.memory.read(dst, beat)
        await s.transfer(0, 0, dst, 8 * beat, src_mode=Mode.STREAM, dst_mode=Mode.FIXED)
        await s.expect_done(0, n, eop=True, what=f"FIXED destination, {n} bytes")
        lanes = bytearray(before)
        for i, byte in enumerate(packet):
            lanes[i % beat] = byte
        assert h.memory.read(dst, beat) == lanes, f"FIXED destination, {n} bytes"
        s.mirror.accept(dst, lanes)
    s.mirror.check("after stream-to-memory transfers")
    await s.finish()


@dut_test()
async def s2mm_scatter_gather(dut):
    """A chain of stream-to-memory descriptors with random LENs (multiples of the beat) and
    byte-aligned buffers, packets spanning descriptors: each write-back has DONE, BYTES and
    EOP as the reference model says; BYTES and STATUS.EOP registers are the last
    descriptor's. The packets left over after the chain's LAST stay in the channel's buffer
    and the source for the register-mode transfers that follow, nothing lost."""
    s = await Streams.create(dut, tx=(), gap=0.2, backpressure=0.2)
    h, beat, drv, rx = s.h, s.beat, s.drv, s.rx[0]
    count = 12
    lengths = [h.rng.randint(1, 512 // beat) * beat for _ in range(count)]
    packets = []
    while True:
        split = s2mm_split(packets, lengths, beat_bytes=beat)
        if len(split) == count and (split[-1][1] or len(split[-1][0]) == lengths[-1]):
            break
        packets.append(rx.random_packet(h.rng.randint(1, 1200)))
    # Two more, for after the chain (the second one a little later).
    extra = [rx.random_packet(h.rng.randint(1, 300)) for _ in range(2)]
    chain, poisons = [], []
    pos = DST
    for length in lengths:
        dst = pos + h.rng.randrange(0, 64)
        poison = h.rng.randbytes(length)
        s.mirror.write(dst, poison)
        poisons.append(poison)
        chain.append(Descriptor(0, dst, length, src_mode=Mode.STREAM, irq=h.rng.random() < 0.5))
        pos = dst + length
    addrs = [DESCS + i * 2 * DESCRIPTOR_SIZE for i in range(count)]
    chain = write_chain(h.memory, addrs, chain)
    for a, d in zip(addrs, chain):
        s.mirror.accept(a, d.to_bytes())
    for p in packets + extra[:1]:
        rx.send(p)
    await drv.start_chain(0, addrs[0])
    status = await drv.wait_idle(0)
    assert status.done and not status.error, status
    assert await drv.read("COMPLETED", 0) == count
    split = s2mm_split(packets + extra, lengths, beat_bytes=beat)
    for i, ((a, d), (data, eop)) in enumerate(zip(zip(addrs, chain), split)):
        wb = DescriptorStatus(done=True, eop=eop, bytes=len(data))
        assert read_status(h.memory, a) == wb, (i, read_status(h.memory, a), wb)
        got = h.memory.read(d.dst, d.length)
        assert got[:len(data)] == data and got[len(data):] == poisons[i][len(data):], \
            f"descriptor {i}: wrong bytes or written beyond BYTES"
        s.mirror.accept(d.dst, data)
        s.mirror.accept(a + WRITEBACK_OFFSET, wb.to_bytes())
    assert await drv.read("BYTES", 0) == len(split[-1][0])
    assert status.eop == split[-1][1]
    # What the chain left: the rest of its last packet (if LEN cut it; over 1024 bytes it
    # takes two transfers), then the two extras, one per transfer of LEN 1024.
    rest = s2mm_split(packets + extra, lengths + [1024] * 5, beat_bytes=beat)[count:]
    assert [eop for _, eop in rest[-2:]] == [True, True] and len(rest) in (2, 3, 4)
    await ClockCycles(h.clock, 30)
    rx.send(extra[1])
    for i, (p, eop) in enumerate(rest):
        dst = DST + 0x80000 + i * 0x1000 + h.rng.randrange(0, 64)
        poison = h.rng.randbytes(1024)
        s.mirror.write(dst, poison)
        await s.transfer(0, 0, dst, 1024, src_mode=Mode.STREAM)
        await s.expect_done(0, len(p), eop=eop, what=f"leftover packet {i}")
        assert h.memory.read(dst, 1024) == p + poison[len(p):], f"leftover packet {i}"
        s.mirror.accept(dst, p)
    s.mirror.check("after the stream-to-memory chain")
    await s.finish()


@dut_test()
async def bad_stream_transfers(dut):
    """STREAM on both sides, and a stream-source LEN that is not a multiple of the beat, are
    BAD_DESCRIPTOR: in register mode at START, in a chain at that descriptor (after the
    ones before it, ERR_ADDR its address). No beat moves on either stream, no byte in
    memory; then the channel runs a good transfer that takes the packet offered all along."""
    s = await Streams.create(dut)
    h, beat, drv, rx = s.h, s.beat, s.drv, s.rx[0]
    packet = rx.send(rx.random_packet(h.rng.randint(1, 100)))
    cases = [("both", dict(src_mode=Mode.STREAM, dst_mode=Mode.STREAM), 4 * beat),
             ("both, EOP", dict(src_mode=Mode.STREAM, dst_mode=Mode.STREAM, eop=1), beat)]
    for odd in (1, beat - 1, beat + 2):
        cases.append((f"LEN {odd}", dict(src_mode=Mode.STREAM), odd))
    s_axis, m_axis = s.checkers["s_axis0"], s.checkers["m_axis0"]
    for what, modes, length in cases:
        await s.setup(0, 0, DST, length, **modes)
        await drv.start(0)
        await s.expect_error(0, "BAD_DESCRIPTOR", what)
        assert s_axis.beats == 0 and m_axis.beats == 0, \
            f"{what}: {s_axis.beats} beats taken from s_axis, {m_axis.beats} sent on m_axis"
    # The same as the second descriptor of a chain; the first a plain copy.
    base = DESCS
    for what, modes, length in cases:
        src = s.source(64)
        data = h.fill(src, 64)
        s.mirror.accept(src, data)
        ok = Descriptor(src, DST + 0x1000, 64)
        bad = Descriptor(0, DST, length, **modes)
        after = Descriptor(src, DST + 0x2000, 64)
        addrs = [base, base + DESCRIPTOR_SIZE, base + 2 * DESCRIPTOR_SIZE]
        written = write_chain(h.memory, addrs, [ok, bad, after])
        for a, d in zip(addrs, written):
            s.mirror.accept(a, d.to_bytes())
        await drv.start_chain(0, base)
        await s.expect_error(0, "BAD_DESCRIPTOR", f"chain: {what}")
        assert s_axis.beats == 0 and m_axis.beats == 0, \
            f"chain: {what}: {s_axis.beats} beats taken from s_axis, {m_axis.beats} sent on m_axis"
        assert await drv.read("ERR_ADDR_LO", 0) == addrs[1], what
        assert await drv.read("COMPLETED", 0) == 1, what
        s.mirror.accept(DST + 0x1000, data)
        s.mirror.accept(addrs[0] + WRITEBACK_OFFSET,
                        DescriptorStatus(done=True, bytes=64).to_bytes())
        base += 4 * DESCRIPTOR_SIZE
    assert not rx.idle()
    s.mirror.check("after the refused transfers")
    # The packet waited, whole.
    dst = DST + 0x3000 + h.rng.randrange(beat)
    await s.transfer(0, 0, dst, 128, src_mode=Mode.STREAM)
    await s.expect_done(0, len(packet), eop=True, what="after the refused transfers")
    assert h.memory.read(dst, len(packet)) == packet
    s.mirror.accept(dst, packet)
    s.mirror.check("after the good transfer")
    await s.finish()


@dut_test()
async def abort_on_streams(dut):
    """ABORT in the middle of a memory-to-stream transfer (the stream back-pressured): the
    bytes that leave form a prefix of the transfer's, with tlast only on a partial beat it
    held; the next packet follows them. ABORT in the middle of a stream-to-memory transfer:
    what it wrote is a prefix of the packet; the next transfer goes on with the rest of the
    packet from the first byte not written, nothing lost or repeated. ABORT of a
    stream-to-memory transfer waiting for data halts at once."""
    s = await Streams.create(dut, gap=0.2)
    h, beat, drv, rx, tx = s.h, s.beat, s.drv, s.rx[0], s.tx[0]
    m_axis = s.checkers["m_axis0"]

    def m_axis_begun(sent):
        return bool(sent) or m_axis.empty_ends > ends_before

    for trial in range(2):
        # Memory to stream.
        tx.checking = False
        tx.set_backpressure(0.85, 8)
        length = 4096 + h.rng.randrange(beat)
        src = s.source(length)
        data = h.fill(src, length)
        s.mirror.accept(src, data)
        first, ends_before = len(tx.received), m_axis.empty_ends
        await s.setup(0, src, 0, length, dst_mode=Mode.STREAM, eop=1)
        await drv.start(0)
        await _until(h, lambda: m_axis.beats >= 8 + 20 * trial, "beats on m_axis")
        await drv.abort(0)
        await s.expect_error(0, "ABORTED", "memory to stream")
        tx.set_backpressure(0.0)
        await ClockCycles(h.clock, 200)
        follow = h.rng.randbytes(h.rng.randint(1, 100))
        src2 = s.source(len(follow))
        s.mirror.write(src2, follow)
        await s.transfer(0, src2, 0, len(follow), dst_mode=Mode.STREAM, eop=1)
        await s.expect_done(0, len(follow), what="after the abort")
        await _until(h, lambda: len(tx.received) > first and tx.received[-1].endswith(follow)
                     and not m_axis.in_packet, "the packet after the abort")
        got = tx.received[first:]
        sent = b"".join(got)[:-len(follow)]
        assert data.startswith(sent), "bytes of the aborted transfer out of order or garbled"
        # The packet under way is ended (with tlast on its last bytes, or on an empty beat).
        assert got == ([sent, follow] if m_axis_begun(sent) else [follow]), \
            f"after ABORT: packets of {[len(p) for p in got]} bytes, {len(sent)} of the " \
            f"aborted one sent"
        dut._log.info("abort of memory to stream: %d of %d bytes sent", len(sent), length)

        # Stream to memory.
        length = 64 * beat
        packet = rx.send(rx.random_packet(length + h.rng.randrange(1, 8 * beat)))
        dst = DST + h.rng.randrange(0, 0x1000)
        poison = _poison(packet[:length])
        s.mirror.write(dst, poison)
        s_axis = s.checkers["s_axis0"]
        taken = s_axis.beats
        await s.setup(0, 0, dst, length, src_mode=Mode.STREAM)
        await drv.start(0)
        await _until(h, lambda: s_axis.beats >= taken + 16 + 8 * trial, "beats on s_axis")
        await drv.abort(0)
        await s.expect_error(0, "ABORTED", "stream to memory")
        reported = await drv.read("BYTES", 0)
        wrote = _written_prefix(h.memory.read(dst, length), packet[:length], poison,
                                "aborted stream to memory")
        s.mirror.accept(dst, packet[:wrote])
        dst2 = DST + 0x4000 + h.rng.randrange(0, 0x1000)
        rest = packet[wrote:]
        span = -(-len(rest) // beat) * beat
        poison2 = h.rng.randbytes(span)
        s.mirror.write(dst2, poison2)
        await s.transfer(0, 0, dst2, span, src_mode=Mode.STREAM)
        got_bytes = await drv.read("BYTES", 0)
        got = h.memory.read(dst2, got_bytes)
        assert got == rest and (await drv.status(0)).eop, \
            f"after an abort that wrote {wrote} bytes of {len(packet)} to {dst:#x} (BYTES " \
            f"{reported}), the next transfer got {got_bytes} bytes: " + \
            ("a later part of the packet (bytes lost)" if packet.endswith(got) else "not the rest")
        await s.expect_done(0, len(rest), eop=True, what="after the abort")
        s.mirror.accept(dst2, rest)
        dut._log.info("abort of stream to memory: %d of %d bytes written", wrote, length)
    # ABORT while waiting for a packet that never comes.
    await s.setup(0, 0, DST, 4 * beat, src_mode=Mode.STREAM)
    await drv.start(0)
    await ClockCycles(h.clock, 50)
    assert (await drv.status(0)).busy
    await drv.abort(0)
    await s.expect_error(0, "ABORTED", "waiting stream to memory")
    tx.checking = True
    s.mirror.check("after the aborts")
    await s.finish(empty_ends=True)


@dut_test()
async def streams_beside_other_channels(dut):
    """Two channels at once, each transfer several bursts long: stream to memory beside a
    memory copy, beside memory to stream and beside another stream to memory, either channel
    first; memory to stream beside memory to stream. Each ends DONE with its data where it
    belongs (the bursts of both share the master bus, and on Wishbone its one data path)."""
    s = await Streams.create(dut, rx=(0, 1), tx=(0, 1), backpressure=0.1)
    h, drv, beat = s.h, s.drv, s.beat
    if h.config.channels < 2:
        dut._log.info("one channel: nothing to run beside it (other configurations do)")
        await s.finish()
        return

    async def run(kind, channel, length, slot):
        dst = DST + 0x10000 * slot + h.rng.randrange(0, 64)
        if kind == "s2mm":
            packet = s.rx[channel].send(s.rx[channel].random_packet(length))
            await s.setup(channel, 0, dst, 4096, src_mode=Mode.STREAM)
        else:
            src = s.source(length)
            data = h.fill(src, length)
            s.mirror.accept(src, data)
            if kind == "mm2s":
                s.tx[channel].expect(data)
                await s.setup(channel, src, 0, length, dst_mode=Mode.STREAM, eop=1)
            else:
                await s.setup(channel, src, dst, length)
        await drv.start(channel)
        try:
            await drv.wait_idle(channel, timeout=20_000)
        except TimeoutError:
            raise AssertionError(f"{kind} of {length} bytes on channel {channel} did not end "
                                 f"beside the other channel's transfer") from None
        await s.expect_done(channel, length, eop=kind == "s2mm", what=f"{kind} on {channel}")
        if kind != "mm2s":
            expected = packet if kind == "s2mm" else data
            assert h.memory.read(dst, length) == expected, f"{kind} on {channel}: wrong bytes"
            s.mirror.accept(dst, expected)

    pairs = [("s2mm", "copy"), ("copy", "s2mm"), ("s2mm", "mm2s"), ("mm2s", "s2mm"),
             ("s2mm", "s2mm"), ("mm2s", "mm2s")]
    for i, pair in enumerate(pairs):
        lengths = [h.rng.randint(40, 80) * beat + h.rng.randrange(beat) for _ in pair]
        tasks = [cocotb.start_soon(run(kind, n, length, 2 * i + n))
                 for n, (kind, length) in enumerate(zip(pair, lengths))]
        for task in tasks:
            await task
    for n in (0, 1):
        await s.tx[n].wait_packets(sum(p[n] == "mm2s" for p in pairs), clock=h.clock)
    s.mirror.check("after the transfers side by side")
    await s.finish()


@dut_test()
async def loopback_between_channels(dut):
    """A device loops channel 0's output into channel 1's input, with almost no buffer of
    its own: 48 packets go out of memory through m_axis0 and come back through s_axis1 into
    other buffers, both sides scatter-gather chains. The mover must never wait for m_axis0
    (its room is reserved before a burst is read), else the data queued for it would keep
    channel 1's reads, which free the loop, from ever starting."""
    s = await Streams.create(dut, rx=(), tx=(), backpressure=0.1)
    h, drv, beat = s.h, s.drv, s.beat
    if h.config.channels < 2:
        dut._log.info("one channel: no loop between channels (other configurations have two)")
        await s.finish()
        return
    out = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis0", bus_separator="__"),
                        dut.clk, dut.rst)
    out.queue_occupancy_limit_frames = 1
    back = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis1", bus_separator="__"),
                           dut.clk, dut.rst)
    s.checkers["s_axis1"] = AxiStreamChecker(dut, "s_axis1", dut.clk, dut.rst)

    async def loop():
        while True:
            frame = await out.recv()
            await back.send(frame)
            await back.wait()

    looping = cocotb.start_soon(loop())
    count, size = 48, 16 * beat * 4
    sends, receives, packets = [], [], []
    for i in range(count):
        src = s.source(size)
        data = h.fill(src, size)
        s.mirror.accept(src, data)
        packets.append(data)
        sends.append(Descriptor(src, 0, size, dst_mode=Mode.STREAM, eop=1))
        receives.append(Descriptor(0, DST + i * 2 * size + h.rng.randrange(0, 64), size,
                                   src_mode=Mode.STREAM))
    for chain, base, channel in ((receives, DESCS + 0x8000, 1), (sends, DESCS, 0)):
        addrs = [base + i * DESCRIPTOR_SIZE for i in range(count)]
        for a, d in zip(addrs, write_chain(h.memory, addrs, chain)):
            s.mirror.accept(a, d.to_bytes())
        await drv.start_chain(channel, addrs[0])
    for channel in (0, 1):
        status = await drv.wait_idle(channel, timeout=40 * count * size // beat)
        assert status.done and not status.error, (channel, status)
    for i, (d, data) in enumerate(zip(receives, packets)):
        assert h.memory.read(d.dst, size) == data, f"packet {i} came back wrong"
        s.mirror.accept(d.dst, data)
    # Each packet filled its receive descriptor exactly, its tlast with the last byte.
    for base, eop in ((DESCS, False), (DESCS + 0x8000, True)):
        for i in range(count):
            a = base + i * DESCRIPTOR_SIZE
            wb = DescriptorStatus(done=True, eop=eop, bytes=size)
            assert read_status(h.memory, a) == wb, (hex(a), read_status(h.memory, a))
            s.mirror.accept(a + WRITEBACK_OFFSET, wb.to_bytes())
    looping.cancel()
    s.mirror.check("after the loop")
    await s.finish()


# --- The NIC: receive and transmit rings, interrupt driven ----------------------------------


class Interrupts:
    """The bench's interrupt handler: on ``irq`` it reads IRQ_SUMMARY, then for each channel
    requesting reads IRQ_STATUS and writes the bits back (RW1C, so an event after the read
    raises ``irq`` again), and hands them to that channel's bottom half (:meth:`wait`)."""

    def __init__(self, s):
        self._s = s
        self.pending = collections.Counter()
        self._events = collections.defaultdict(Event)
        self.count = 0
        self._task = cocotb.start_soon(self._run())

    async def _run(self):
        dut, drv = self._s.h.dut, self._s.drv
        while True:
            if not dut.irq.value:
                await RisingEdge(dut.irq)
            summary = await drv.read("IRQ_SUMMARY")
            assert summary, "irq high with IRQ_SUMMARY 0"
            for n in range(self._s.h.config.channels):
                if summary >> n & 1:
                    bits = await drv.read("IRQ_STATUS", n)
                    assert bits, f"IRQ_SUMMARY bit {n} set with IRQ_STATUS 0"
                    await drv.write("IRQ_STATUS", bits, n)
                    self.pending[n] |= bits
                    self._events[n].set()
            self.count += 1
            await RisingEdge(self._s.h.clock)

    async def wait(self, channel, timeout=20_000, state=None):
        """The IRQ_STATUS bits raised on ``channel`` since the last call (waiting for some).
        After ``timeout`` cycles without any, fail with the channel's registers and the
        bottom half's ``state()``."""
        event = self._events[channel]
        if not self.pending[channel]:
            event.clear()
            try:
                await with_timeout(event.wait(), timeout * 10, "ns")
            except SimTimeoutError:
                drv = self._s.drv
                regs = {name: hex(await drv.read(name, channel)) for name in
                        ("STATUS", "IRQ_STATUS", "IRQ_ENABLE", "COMPLETED", "DESC_LO",
                         "BYTES", "ERR_ADDR_LO")}
                raise AssertionError(f"channel {channel}: no interrupt in {timeout} cycles; "
                                     f"registers {regs}; {state() if state else ''}") from None
        bits, self.pending[channel] = self.pending[channel], 0
        return bits

    def stop(self):
        self._task.cancel()


async def _nic_receive(s, irqs, channel, count, *, ring_size, driver_delay):
    """The driver of a receive ring: ``ring_size`` stream-to-memory descriptors (IRQ on each,
    random LENs, byte-aligned buffers), started once, then run from interrupts only: consume
    every completed descriptor in order, reassemble packets from BYTES and EOP, check each
    against what the NIC model sent, re-poison the buffer, re-arm the descriptor. Restart
    the ring at ERR_ADDR when it halted with NOT_OWNED (the ring was full: the stream waits
    meanwhile). Sometimes the driver is slow (``driver_delay`` cycles), and once, at the
    ninth descriptor, slow enough for the ring to run full. Returns the restarts."""
    h, drv, rx, mirror = s.h, s.drv, s.rx[channel], s.mirror
    beat = s.beat
    base = DESCS + channel * 0x4000
    region = DST + channel * 0x40000
    addrs = [base + i * DESCRIPTOR_SIZE for i in range(ring_size)]
    ring, poison, pos = [], {}, region
    for a in addrs:
        length = h.rng.randint(4, 1024 // beat) * beat
        dst = pos + h.rng.randrange(0, 64)
        pos = dst + length
        ring.append(Descriptor(0, dst, length, src_mode=Mode.STREAM, irq=1))
    ring = write_ring(h.memory, addrs, ring)
    for a, d in zip(addrs, ring):
        mirror.accept(a, d.to_bytes())
        poison[a] = h.rng.randbytes(d.length)
        mirror.write(d.dst, poison[a])
    packets = rx.send_random(count)
    await drv.write_fields("IRQ_ENABLE", channel, done=1, error=1)
    await drv.start_chain(channel, addrs[0])
    head, got, restarts, current = 0, 0, 0, bytearray()

    def state():
        return (f"rx: {got} of {count} packets, ring head {head} ({addrs[head % ring_size]:#x}), "
                f"{len(current)} bytes of the next, {restarts} restarts, source idle "
                f"{rx.idle()}, s_axis beats {s.checkers[f's_axis{channel}'].beats}; ring "
                + ", ".join(f"{a:#x} LEN {d.length}: {read_status(h.memory, a)}"
                            for a, d in zip(addrs, ring)))

    run_base = 0        # descriptors consumed before the latest START: COMPLETED counts from it
    while got < count:
        bits = await irqs.wait(channel, state=state)
        # COMPLETED, not STATUS.DONE in memory, says which write-backs are whole: on a bus
        # narrower than 8 bytes DONE lands a beat before BYTES (see docs/devices.md).
        ready = run_base + await drv.read("COMPLETED", channel)
        while head < ready:
            a, d = addrs[head % ring_size], ring[head % ring_size]
            status = read_status(h.memory, a)
            where = f"rx descriptor {head} ({a:#x}, LEN {d.length})"
            _trace.debug("rx consume %s: %s", where, status)
            assert status.done and not status.error and 0 < status.bytes <= d.length, \
                f"{where}: {status}"
            assert status.eop or status.bytes == d.length, f"{where}: short without EOP"
            buffer = h.memory.read(d.dst, d.length)
            assert buffer[status.bytes:] == poison[a][status.bytes:], \
                f"{where}: written beyond BYTES ({status.bytes})"
            current += buffer[:status.bytes]
            if status.eop:
                assert bytes(current) == packets[got], \
                    f"rx packet {got}: {len(current)} bytes reassembled, " \
                    f"{len(packets[got])} sent" + ("" if len(current) != len(packets[got])
                                                   else ", bytes differ")
                got += 1
                current = bytearray()
            if head == 8:
                # Once, long enough for the stream to fill the ring: it must halt and wait.
                await ClockCycles(h.clock, 4000)
            elif driver_delay and h.rng.random() < 0.3:
                await ClockCycles(h.clock, h.rng.randrange(driver_delay))
            poison[a] = h.rng.randbytes(d.length)
            mirror.write(d.dst, poison[a])
            mirror.write(a + WRITEBACK_OFFSET, DescriptorStatus().to_bytes())    # re-arm
            head += 1
        if bits & _IRQ_ERROR:
            status = await drv.status(channel)
            assert not status.busy and status.err_code == "NOT_OWNED", status
            err = await drv.read("ERR_ADDR_LO", channel)
            _trace.debug("rx halted at %#x (NOT_OWNED), restart", err)
            assert err == addrs[head % ring_size], \
                f"halted at {err:#x}, the driver's next descriptor is {addrs[head % ring_size]:#x}"
            await drv.start_chain(channel, err)
            run_base = head
            restarts += 1
    assert not current, "bytes after the last packet's end"
    assert rx.idle()
    assert restarts, "the receive ring never ran full"
    # Tear down: ABORT the channel waiting for a packet that never comes; or it has just
    # halted with NOT_OWNED (the ring was full). Either way an ERROR interrupt follows.
    await ClockCycles(h.clock, 20)
    busy = (await drv.status(channel)).busy
    if busy:
        await drv.abort(channel)
    while not await irqs.wait(channel, state=state) & _IRQ_ERROR:
        pass
    status = await drv.status(channel)
    assert not status.busy and status.err_code == ("ABORTED" if busy else "NOT_OWNED"), status
    await drv.write("IRQ_ENABLE", 0, channel)
    for a in addrs:
        assert not read_status(h.memory, a).done, f"{a:#x} completed after the last packet"
    return restarts


async def _nic_transmit(s, irqs, channel, count, *, batch, driver_delay):
    """The driver of a transmit queue: each packet split in 1..4 fragments at random byte
    addresses, one memory-to-stream descriptor each, EOP on a packet's last fragment and
    IRQ on some. Fragments queue up while the channel runs; whenever it is idle the driver
    writes up to ``batch`` of them as a chain (LAST on the final one, two banks of
    descriptors in turn) and starts it. The cut between chains falls anywhere, in the
    middle of a packet too: its bytes go on in the next chain. On each interrupt the driver
    reclaims the fragments COMPLETED covers (write-back DONE, BYTES = LEN, EOP 0) and
    re-poisons their memory (the data is in the channel by then); on CHAIN_END it starts
    the next chain. Sometimes it is slow (``driver_delay`` cycles). Returns the chains run.

    A chain, not a ring whose free slots the driver fills while the channel runs: the
    channel may fetch a descriptor while software writes it, and a fetch reads STATUS last,
    so it could run a mix of old and new fields (docs/devices.md)."""
    h, drv, tx, mirror = s.h, s.drv, s.tx[channel], s.mirror
    banks = [[DESCS + 0x8000 + channel * 0x2000 + bank * 0x1000 + i * DESCRIPTOR_SIZE
              for i in range(batch)] for bank in range(2)]
    arena = Arena(h.rng, SRC + SOURCES + channel * 0x20000, 0x1E000)
    queue = collections.deque()     # (address, length, eop, irq) of fragments not handed over
    running = []                    # (descriptor address, length, fragment) of the chain
    chains = reclaimed = number = 0
    await drv.write_fields("IRQ_ENABLE", channel, done=1, chain_end=1, error=1)

    def state():
        return (f"tx: {len(tx.received)} packets received of {number} queued, {len(queue)} "
                f"fragments waiting, {len(running)} in the chain ({reclaimed} reclaimed), "
                f"{chains} chains, m_axis beats {s.checkers[f'm_axis{channel}'].beats}")

    async def service(bits):
        nonlocal reclaimed
        assert not bits & _IRQ_ERROR, f"tx channel halted: {await drv.status(channel)}"
        done = await drv.read("COMPLETED", channel)
        assert done <= len(running), f"COMPLETED {done}, the chain has {len(running)}"
        while reclaimed < done:
            a, length, frag = running[reclaimed]
            status = read_status(h.memory, a)
            _trace.debug("tx reclaim %#x: %s", a, status)
            assert status == DescriptorStatus(done=True, bytes=length), \
                f"tx descriptor {a:#x} (LEN {length}) written back {status}; {state()}"
            mirror.accept(a + WRITEBACK_OFFSET, status.to_bytes())
            mirror.write(frag, h.rng.randbytes(length))         # the buffer reused
            arena.release()
            reclaimed += 1
        if bits & _IRQ_CHAIN_END:
            assert reclaimed == len(running), state()
            status = await drv.status(channel)
            assert status.done and not status.busy, status
            running.clear()
            reclaimed = 0

    async def kick():
        nonlocal chains
        if running or not queue:
            return
        addrs = banks[chains % 2]
        chain = []
        while queue and len(chain) < batch:
            frag, length, eop, irq = queue.popleft()
            chain.append(Descriptor(frag, 0, length, dst_mode=Mode.STREAM, eop=int(eop),
                                    irq=int(irq)))
            running.append((addrs[len(chain) - 1], length, frag))
        written = write_chain(h.memory, addrs[:len(chain)], chain)
        for a, d in zip(addrs, written):
            mirror.accept(a, d.to_bytes())
        _trace.debug("tx chain %d: %d fragments from %#x", chains, len(chain), addrs[0])
        chains += 1
        await drv.start_chain(channel, addrs[0])

    for number in range(1, count + 1):
        packet = h.rng.randbytes(random_length(h.rng, s.beat, 4096))
        cuts = sorted(h.rng.sample(range(1, len(packet)), min(h.rng.randint(0, 3),
                                                             len(packet) - 1)))
        pieces = [packet[i:j] for i, j in zip([0] + cuts, cuts + [len(packet)])]
        # The arena holds the fragments of the running chain and of the queue.
        while len(queue) + len(pieces) > 2 * batch:
            await service(await irqs.wait(channel, state=state))
            await kick()
        for k, piece in enumerate(pieces):
            frag = arena.take(len(piece))
            mirror.write(frag, piece)
            last = k == len(pieces) - 1
            queue.append((frag, len(piece), last, last and h.rng.random() < 0.5))
        _trace.debug("tx packet %d: %d bytes in %d fragments", number - 1, len(packet),
                     len(pieces))
        tx.expect(packet)
        if irqs.pending[channel]:
            await service(await irqs.wait(channel, state=state))
        await kick()
        if driver_delay and h.rng.random() < 0.3:
            await ClockCycles(h.clock, h.rng.randrange(driver_delay))
    while queue or running:
        await service(await irqs.wait(channel, state=state))
        await kick()
    await tx.wait_packets(count, clock=h.clock)
    await drv.write("IRQ_ENABLE", 0, channel)
    return chains


@dut_test()
async def nic_end_to_end(dut):
    """The NIC models with their drivers, interrupt driven: a receive ring on channel 0 fed
    with random packets (1 byte to 4 KiB) with random gaps, and a transmit queue of chains
    on channel 1 (on channel 0 afterwards in a one-channel build) drained with random
    back-pressure, with master back-pressure and drivers that are slow at times (the receive
    ring fills: the stream waits, the ring restarts, nothing is lost). Every packet arrives
    once, in order, intact; memory ends exactly as expected."""
    s = await Streams.create(dut, rx=(0,), tx=(1,) if bench_config().channels > 1 else (0,),
                             gap=0.25, gap_run=4, tx_backpressure=0.3, tx_backpressure_run=4,
                             backpressure=0.15)
    irqs = Interrupts(s)
    tx_channel = next(iter(s.tx))
    count = int(os.environ.get("HAULER_NIC_PACKETS", 24))
    rx_task = cocotb.start_soon(_nic_receive(s, irqs, 0, count, ring_size=5, driver_delay=400))
    if tx_channel == 0:
        rx_restarts = await rx_task
    tx_chains = await _nic_transmit(s, irqs, tx_channel, count, batch=6, driver_delay=300)
    if tx_channel != 0:
        rx_restarts = await rx_task
    irqs.stop()
    dut._log.info("NIC: %d packets each way, %d interrupts, %d receive ring restarts, %d "
                  "transmit chains", count, irqs.count, rx_restarts, tx_chains)
    assert s.checkers[f"m_axis{tx_channel}"].packets == count
    assert s.checkers["s_axis0"].packets == count
    s.mirror.check("after the NIC run")
    await s.finish()
