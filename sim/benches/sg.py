"""cocotb tests of scatter-gather (ABI §3) on the generated Verilog, for any configuration.

Every chain is checked against :func:`hauler.sim.model.apply_chain` over the whole memory, so
a write anywhere else (a descriptor's software area, a guard byte) fails the test. A bus
watcher checks that no descriptor is written back before its last data write was answered.
"""

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

from hauler.descriptor import DESCRIPTOR_SIZE, WRITEBACK_OFFSET
from hauler.sim.descriptors import Descriptor, DescriptorStatus, read_status, rearm, \
    write_chain, write_ring
from hauler.sim.driver import Mode
from hauler.sim.harness import Harness, MEMORY_SIZE
from hauler.sim.model import apply_chain
from hauler.sim.bench import wait_until


DESCS = 0x1000                  # descriptors live here (64 KiB of room)
SRC = 0x20000                   # sources from here
DST = MEMORY_SIZE // 2          # destinations from here
GAP = 0x40                      # untouched guard bytes between buffers


class WriteWatcher:
    """Records, from the master bus, when each write was asked for and when answered.

    ``issued`` and ``answered`` are lists of (byte address, cycle): per burst on AXI4 (AW
    and B), per beat on Wishbone (strobe and ack).
    """

    def __init__(self, h):
        self._h = h
        self.issued, self.answered = [], []
        self._task = cocotb.start_soon(self._run())

    async def _run(self):
        d, axi = self._h.dut, self._h.config.master == "axi4"
        shift = self._h.config.beat_shift
        pending = []
        cycle = 0
        while True:
            await RisingEdge(self._h.clock)
            cycle += 1
            if axi:
                if d.m_axi__awvalid.value and d.m_axi__awready.value:
                    request = int(d.m_axi__awaddr.value)
                else:
                    request = None
                answer = d.m_axi__bvalid.value and d.m_axi__bready.value
            else:
                strobe = d.m_wb__cyc.value and d.m_wb__stb.value and not d.m_wb__stall.value
                request = int(d.m_wb__adr.value) << shift \
                    if strobe and d.m_wb__we.value else None
                answer = (d.m_wb__ack.value or d.m_wb__err.value) and d.m_wb__we.value
            if answer:
                self.answered.append((pending.pop(0), cycle))
            if request is not None:
                self.issued.append((request, cycle))
                pending.append(request)

    def check_order(self, chain):
        """No descriptor of ``chain`` ((addr, Descriptor) pairs) written back before every
        data write into its destination was answered."""
        beat = self._h.config.beat_bytes
        for addr, d in chain:
            wb = [cycle for a, cycle in self.issued if a == addr + WRITEBACK_OFFSET]
            if not wb:
                continue
            span = beat if d.ctrl["dst_mode"] == Mode.FIXED else d.length
            data = [cycle for a, cycle in self.answered if d.dst <= a < d.dst + span]
            assert data, f"descriptor {addr:#x} written back, its data never written"
            assert max(data) < wb[0], \
                f"descriptor {addr:#x} written back at cycle {wb[0]} before its data " \
                f"write answered at {max(data)}"

    def stop(self):
        self._task.cancel()


def _chain(h, count, *, max_beats=256, base=DESCS, stride=1, src=SRC, dst=DST, modes=False,
           **flags):
    """``count`` descriptors of random lengths on fresh random data, as a list of
    (address, Descriptor); CTRL flags from ``flags`` (values, or functions of the index)."""
    beat = h.config.beat_bytes
    chain = []
    for i in range(count):
        length = h.rng.randrange(1, max_beats + 1) * beat
        src_mode = dst_mode = Mode.INCR
        if modes and h.rng.random() < 0.15:
            length = min(length, 16 * beat)
            src_mode, dst_mode = h.rng.choice([(Mode.FIXED, Mode.INCR), (Mode.INCR, Mode.FIXED)])
        h.fill(src, length)
        ctrl = {k: (v(i) if callable(v) else v) for k, v in flags.items()}
        chain.append((base + i * stride * DESCRIPTOR_SIZE,
                      Descriptor(src, dst, length, src_mode=src_mode, dst_mode=dst_mode,
                                 **ctrl)))
        src += length + GAP
        dst += length + GAP
    written = write_chain(h.memory, [a for a, _ in chain], [d for _, d in chain])
    return list(zip([a for a, _ in chain], written))


async def _run_chain(h, chain, channel=0):
    """Run ``chain`` to its end; check memory against the model and the write-back order."""
    expected = h.snapshot()
    outcome = apply_chain(expected, chain[0][0], beat_bytes=h.config.beat_bytes)
    assert outcome.end == "LAST"
    watcher = WriteWatcher(h)
    await h.driver.start_chain(channel, chain[0][0])
    status = await h.driver.wait_idle(channel, timeout=400_000)
    watcher.stop()
    if status.error:
        seen = {n: hex(await h.driver.read(n, channel)) for n in
                ("ERR_ADDR_LO", "DESC_LO", "SRC_LO", "DST_LO", "LEN", "XFER", "COMPLETED")}
        raise AssertionError(f"chain failed: {status}, registers {seen}")
    assert status.done, status
    assert await h.driver.read("COMPLETED", channel) == len(chain)
    assert await h.driver.read("DESC_LO", channel) == chain[-1][0] & 0xFFFF_FFFF
    assert h.snapshot() == expected, "memory differs from the model after the chain"
    watcher.check_order(chain)


async def _irq(h, timeout=200_000):
    """Wait for `irq` to rise."""
    await with_timeout(RisingEdge(h.dut.irq), timeout * 10, "ns")


async def _wait(h, condition, timeout=200_000, what="condition"):
    await wait_until(h.clock, condition, what, timeout=timeout, every=8)


@cocotb.test()
async def chains_of_random_descriptors(dut):
    """Chains of 1..64 descriptors, random lengths (4 KiB crossings included), some FIXED,
    random IRQ flags, under backpressure: memory as the model says, write-backs in order,
    BYTES and COMPLETED as the ABI says."""
    h = await Harness.create(dut, backpressure=0.3)
    drv = h.driver
    await drv.write_fields("IRQ_ENABLE", 0, done=1, chain_end=1, error=1)
    for count in (1, 2, 7, 64):
        # Scattered descriptors: every other slot.
        chain = _chain(h, count, max_beats=64 if count > 8 else 512, stride=2, modes=True,
                       irq=lambda i: h.rng.random() < 0.5)
        await _run_chain(h, chain)
        irq = await drv.fields("IRQ_STATUS", 0)
        assert irq["CHAIN_END"] == 1 and irq["ERROR"] == 0
        assert irq["DONE"] == any(d.ctrl["irq"] for _, d in chain), irq
        # BYTES: the last descriptor's; COMPLETED: all of them.
        assert await drv.read("BYTES", 0) == chain[-1][1].length
        assert await drv.read("COMPLETED", 0) == count
        await drv.write("IRQ_STATUS", 0b111, 0)
    await h.finish()


@cocotb.test()
async def interrupt_means_data_in_memory(dut):
    """A descriptor's IRQ flag raises `irq` only after its data and its write-back are in
    memory; descriptors without the flag raise nothing."""
    h = await Harness.create(dut)
    drv = h.driver
    await drv.write_fields("IRQ_ENABLE", 0, done=1)
    chain = _chain(h, 6, max_beats=128, irq=lambda i: i == 2)
    expected = h.snapshot()
    apply_chain(expected, chain[0][0], beat_bytes=h.config.beat_bytes)
    await drv.start_chain(0, chain[0][0])
    await _irq(h)
    addr, d = chain[2]
    assert read_status(h.memory, addr) == DescriptorStatus(done=True, bytes=d.length)
    assert h.memory.read(d.dst, d.length) == bytes(expected[d.dst:d.dst + d.length])
    await drv.wait_idle(0)
    await drv.write("IRQ_STATUS", 0b111, 0)
    # No IRQ flag anywhere: DONE never rises.
    chain = _chain(h, 3, max_beats=32, src=SRC + 0x40000, dst=DST + 0x40000)
    await _run_chain(h, chain)
    assert (await drv.fields("IRQ_STATUS", 0))["DONE"] == 0 and not dut.irq.value
    await h.finish()


@cocotb.test()
async def coalescing_by_count_and_timeout(dut):
    """IRQ_COALESCE for descriptor interrupts: DONE once per COUNT completions, or TIMEOUT
    cycles after the last one while the chain goes on."""
    h = await Harness.create(dut)
    drv, beat = h.driver, h.config.beat_bytes
    await drv.write_fields("IRQ_ENABLE", 0, done=1)
    # COUNT = 3: five short descriptors with IRQ, then a long one without.
    await drv.write_fields("IRQ_COALESCE", 0, count=3)
    chain = _chain(h, 6, max_beats=8, irq=lambda i: i < 5)
    long_addr, long_desc = chain[5]
    chain[5] = (long_addr, long_desc.replace(length=0x8000 // beat * beat))
    h.fill(long_desc.src, 0x8000)
    write_chain(h.memory, [a for a, _ in chain], [d for _, d in chain])
    await drv.start_chain(0, chain[0][0])
    await _irq(h)
    done = [read_status(h.memory, a).done for a, _ in chain]
    assert sum(done[:5]) >= 3 and not done[5], done
    assert (await drv.status(0)).busy
    await drv.wait_idle(0)
    await drv.write("IRQ_STATUS", 0b111, 0)
    # COUNT = 255, TIMEOUT = 64: one descriptor with IRQ, then a long one.
    await drv.write_fields("IRQ_COALESCE", 0, count=255, timeout=64)
    chain = _chain(h, 2, max_beats=8, irq=lambda i: i == 0, src=SRC + 0x40000,
                   dst=DST + 0x40000)
    long_addr, long_desc = chain[1]
    chain[1] = (long_addr, long_desc.replace(length=0x8000 // beat * beat, last=1))
    h.fill(long_desc.src, 0x8000)
    write_chain(h.memory, [a for a, _ in chain], [d for _, d in chain])
    await drv.start_chain(0, chain[0][0])
    await _irq(h)
    assert read_status(h.memory, chain[0][0]).done and not read_status(h.memory, long_addr).done
    assert (await drv.status(0)).busy
    await drv.wait_idle(0)
    await drv.write_fields("IRQ_COALESCE", 0, count=0, timeout=0)
    await h.finish()


def _ring(h, count, length):
    """A receive ring: descriptor i copies a device slot (source) into buffer i."""
    ring = [(DESCS + i * DESCRIPTOR_SIZE,
             Descriptor(SRC + i * (length + GAP), DST + i * (length + GAP), length, irq=1))
            for i in range(count)]
    for _, d in ring:
        h.fill(d.src, length)
    write_ring(h.memory, [a for a, _ in ring], [d for _, d in ring])
    return ring


async def _consume(h, addr, length, *, may_restart):
    """Wait, as a receive driver, until the descriptor at ``addr`` is written back (DONE and
    BYTES), polling memory every cycle; return how often the channel had to be restarted.

    A ring shorter than the channel's pipeline lets the hardware come back to a descriptor
    a few cycles after writing it back, before any driver can have consumed and re-armed
    it: the channel then halts with NOT_OWNED at that descriptor, as the ABI says. With
    ``may_restart``, the driver does what a real one does: the halt must be NOT_OWNED at
    ``addr``, which it has re-armed since; it restarts the chain there, losing nothing.
    """
    drv, restarts = h.driver, 0
    for cycle in range(200_000):
        status = read_status(h.memory, addr)
        if status.done and status.bytes == length:
            return restarts
        if cycle % 64 == 63:
            channel = await drv.status(0)
            if not channel.busy:
                assert may_restart, f"channel halted waiting for {addr:#x}: {channel}"
                assert channel.err_code == "NOT_OWNED", channel
                assert await drv.read("ERR_ADDR_LO", 0) == addr
                assert not read_status(h.memory, addr).done
                await drv.start_chain(0, addr)
                restarts += 1
        await RisingEdge(h.clock)
    raise AssertionError(f"timed out waiting for {addr:#x} done")


@cocotb.test()
async def receive_ring(dut):
    """The test plays a receive driver: it consumes each completed buffer, checks it, lets
    the device refill its slot, and re-arms the descriptor, for three laps; then STOP. A
    ring of 8 never outruns the driver. A ring of 2, shorter than the descriptors the
    channel keeps in flight, may (NOT_OWNED, see :func:`_consume`), and does when the
    driver takes 100 cycles per buffer; either way every buffer arrives once, in order,
    and none is overwritten before it was consumed."""
    h = await Harness.create(dut, backpressure=0.2)
    drv, beat = h.driver, h.config.beat_bytes
    for size, driver_cycles in ((8, 0), (2, 0), (2, 100)):
        ring = _ring(h, size, 64 * beat)
        slots = {a: h.memory.read(d.src, d.length) for a, d in ring}
        await drv.start_chain(0, ring[0][0])
        restarts = 0
        for lap in range(3):
            for addr, d in ring:
                restarts += await _consume(h, addr, d.length, may_restart=size < 4)
                assert h.memory.read(d.dst, d.length) == slots[addr], \
                    f"ring of {size}, lap {lap}: buffer of {addr:#x} lost or overwritten"
                if driver_cycles:
                    await ClockCycles(h.clock, driver_cycles)
                slots[addr] = h.fill(d.src, d.length)       # the device's next packet
                rearm(h.memory, addr)
        dut._log.info("ring of %d, driver taking %d cycles: %d restarts after NOT_OWNED",
                      size, driver_cycles, restarts)
        if driver_cycles:
            assert restarts > 0, "a slow driver on a ring of 2 was never outrun"
        await drv.stop(0)
        status = await drv.wait_idle(0)
        if status.error and size < 4:
            # Outrun after the last buffer (all re-armed), before STOP: halted in lap 4.
            assert status.err_code == "NOT_OWNED", (size, status)
            assert await drv.read("ERR_ADDR_LO", 0) in [a for a, _ in ring]
        else:
            assert status.done and not status.error, (size, status)
            assert (await drv.fields("IRQ_STATUS", 0))["CHAIN_END"] == 1
        await drv.write("IRQ_STATUS", 0b111, 0)
        await h.finish()


@cocotb.test()
async def slow_driver_gets_not_owned(dut):
    """A driver that does not re-arm: after one lap the channel halts with NOT_OWNED at the
    first descriptor, which it neither re-runs nor overwrites."""
    h = await Harness.create(dut)
    drv = h.driver
    ring = _ring(h, 4, 32 * h.config.beat_bytes)
    first_addr, first = ring[0]
    landed = h.memory.read(first.src, first.length)
    await drv.start_chain(0, first_addr)
    await _wait(h, lambda: read_status(h.memory, first_addr).done, what="first done")
    h.fill(first.src, first.length)                     # the device's next packet
    status = await drv.wait_idle(0)
    assert status.error and status.err_code == "NOT_OWNED", status
    assert await drv.read("ERR_ADDR_LO", 0) == first_addr
    assert await drv.read("COMPLETED", 0) == len(ring)
    assert h.memory.read(first.dst, first.length) == landed, "the unconsumed buffer changed"
    for addr, d in ring:
        assert read_status(h.memory, addr) == DescriptorStatus(done=True, bytes=d.length)
    await h.finish()


async def _failing_chain(h, code, bad=None, *, base, window=None, writes_only=False,
                         data_error=False):
    """A chain of three (at ``base``) whose second descriptor fails with ``code``. A
    descriptor error waits for the first descriptor to complete, then halts with ERR_ADDR
    at the second, nothing of it or the third in memory. A data error halts at once: the
    first descriptor is complete if written back, else (its data dropped in flight) not
    reported; no data anywhere is garbled. (Error windows stay in the memory: every case
    has its own descriptors and buffers.)"""
    drv = h.driver
    chain = _chain(h, 3, max_beats=64, base=base, src=SRC + (base - DESCS) * 4,
                   dst=DST + (base - DESCS) * 4)
    addr, second = chain[1]
    if bad is not None:
        chain[1] = (addr, bad(second))
        h.memory.write(addr, chain[1][1].to_bytes())   # as given: not linked again
    if window is not None:
        h.add_error_window(*window(addr, chain[1][1]), writes_only=writes_only)
    before = h.snapshot()
    await drv.start_chain(0, chain[0][0])
    status = await drv.wait_idle(0)
    assert status.error and not status.done and status.err_code == code, (code, status)
    assert (await drv.fields("IRQ_STATUS", 0))["ERROR"] == 1
    completed = await drv.read("COMPLETED", 0)
    assert completed == 1 or (data_error and completed == 0), (code, completed)
    if not data_error:
        assert await drv.read("ERR_ADDR_LO", 0) == addr
    after = h.snapshot()
    expected = bytearray(before)
    for i, (a, d) in enumerate(chain):
        span = slice(d.dst, d.dst + d.length)
        if i < completed:
            expected[span] = before[d.src:d.src + d.length]
            expected[a + WRITEBACK_OFFSET:a + WRITEBACK_OFFSET + 8] = \
                DescriptorStatus(done=True, bytes=d.length).to_bytes()
        elif data_error:
            for k in range(d.length):
                assert after[d.dst + k] in (before[d.dst + k], before[d.src + k]), \
                    f"{code}: garbage at {d.dst + k:#x}"
            expected[span] = after[span]
    assert after == expected, f"{code}: memory differs beyond what completed"
    await drv.write("IRQ_STATUS", 0b111, 0)
    await h.finish()
    return chain


@cocotb.test()
async def descriptor_errors(dut):
    """Every error a descriptor can cause halts the channel after the descriptors before it,
    reports the descriptor's address, and leaves the channel usable."""
    h = await Harness.create(dut, backpressure=0.2)
    beat = h.config.beat_bytes
    cases = [
        ("NOT_OWNED", lambda d: d.replace(status=DescriptorStatus(done=True))),
        ("BAD_DESCRIPTOR", lambda d: d.replace(length=0)),
        ("BAD_DESCRIPTOR", lambda d: d.replace(next=d.next + 0x20)),       # misaligned NEXT
        ("BAD_DESCRIPTOR", lambda d: d.replace(src_mode=3)),               # reserved mode
    ]
    if h.config.req_ack:                                                  # paced stream
        cases.append(("BAD_DESCRIPTOR",
                      lambda d: d.replace(req=1, src_mode=Mode.STREAM)))
    else:                                                                 # not built
        cases.append(("BAD_DESCRIPTOR", lambda d: d.replace(req=1)))
    if h.config.streams:                                                  # both streams
        cases.append(("BAD_DESCRIPTOR",
                      lambda d: d.replace(src_mode=Mode.STREAM, dst_mode=Mode.STREAM)))
    else:                                                                 # not built
        cases.append(("BAD_DESCRIPTOR", lambda d: d.replace(dst_mode=Mode.STREAM)))
    if h.config.unaligned:                                                # FIXED off its beat
        cases.append(("BAD_DESCRIPTOR", lambda d: d.replace(src=d.src + 1, src_mode=Mode.FIXED)))
    else:                                                                 # unaligned: not built
        cases.append(("BAD_DESCRIPTOR", lambda d: d.replace(src=d.src + 1)))
    if h.config.addr_width == 32:
        cases.append(("BAD_DESCRIPTOR", lambda d: d.replace(dst=d.dst | 1 << 32)))
    bases = iter(range(DESCS, DESCS + 0x4000, 0x400))
    for code, bad in cases:
        await _failing_chain(h, code, bad, base=next(bases))
    # A descriptor that cannot be read; one that cannot be written back (its data moved:
    # that part of memory is not checked).
    await _failing_chain(h, "DESC_READ_ERROR", base=next(bases),
                         window=lambda a, d: (a, a + 4))
    chain = await _failing_chain(h, "DESC_WRITE_ERROR", base=next(bases), writes_only=True,
                                 data_error=True, window=lambda a, d: (
                                     a + WRITEBACK_OFFSET, a + WRITEBACK_OFFSET + 8))
    assert await h.driver.read("ERR_ADDR_LO", 0) == chain[1][0]
    # A data error in the second descriptor: READ_ERROR at its source.
    chain = await _failing_chain(h, "READ_ERROR", base=next(bases), data_error=True,
                                 window=lambda a, d: (d.src, d.src + beat))
    assert await h.driver.read("ERR_ADDR_LO", 0) == chain[1][1].src
    # And the channel works again.
    await _run_chain(h, _chain(h, 4, max_beats=32, src=SRC + 0x60000, dst=DST + 0x60000))
    await h.finish()


@cocotb.test()
async def nothing_read_past_a_refused_descriptor(dut):
    """A descriptor the transfer checks refuse (LEN 0, a reserved mode), fetched while the
    one before it is in flight, halts the chain with BAD_DESCRIPTOR at its address, and
    its NEXT is never read (the prefetch waits for those checks, not only for the
    descriptor's fetch checks)."""
    h = await Harness.create(dut)
    drv, cfg = h.driver, h.config
    reads = []

    async def watch():
        d = h.dut
        while True:
            await RisingEdge(h.clock)
            if cfg.master == "axi4":
                if d.m_axi__arvalid.value and d.m_axi__arready.value:
                    reads.append(int(d.m_axi__araddr.value))
            elif d.m_wb__stb.value and not d.m_wb__we.value and not d.m_wb__stall.value:
                reads.append(int(d.m_wb__adr.value) << cfg.beat_shift)

    watcher = cocotb.start_soon(watch())
    unread = DESCS + 0x800
    h.memory.write(unread, Descriptor(SRC, DST, cfg.beat_bytes, last=1).to_bytes())
    for reason, refuse in (("LEN 0", dict(length=0)), ("a reserved mode", dict(src_mode=3))):
        reads.clear()
        chain = _chain(h, 2, max_beats=1)
        addr, second = chain[1]
        h.memory.write(addr, second.replace(next=unread, last=0, **refuse).to_bytes())
        await drv.start_chain(0, chain[0][0])
        status = await drv.wait_idle(0)
        assert status.error and status.err_code == "BAD_DESCRIPTOR", (reason, status)
        assert await drv.read("ERR_ADDR_LO", 0) == addr, reason
        hit = [hex(a) for a in reads if unread <= a < unread + DESCRIPTOR_SIZE]
        assert not hit, f"{reason}: the NEXT of a refused descriptor was read: {hit}"
        await drv.write("IRQ_STATUS", 0b111, 0)
    watcher.cancel()
    await h.finish()


@cocotb.test()
async def stop_and_abort_mid_chain(dut):
    """STOP halts at a descriptor boundary (DONE); ABORT at a burst boundary (ABORTED).
    Descriptors written back are complete; the others are not written back. Then a
    register-mode copy on the channel moves its own bytes only: nothing fetched for the
    chain before it halted is loaded or launched."""
    h = await Harness.create(dut, backpressure=0.2)
    drv, beat = h.driver, h.config.beat_bytes
    for action in ("stop", "abort"):
        chain = _chain(h, 16, max_beats=1024 // beat * 4)
        before = h.snapshot()
        await drv.start_chain(0, chain[0][0])
        await _wait(h, lambda: read_status(h.memory, chain[1][0]).done, what="two done")
        await getattr(drv, action)(0)
        status = await drv.wait_idle(0)
        if action == "stop":
            assert status.done and not status.error, status
        else:
            assert status.error and status.err_code == "ABORTED", status
        completed = await drv.read("COMPLETED", 0)
        assert 2 <= completed < len(chain)
        after = h.snapshot()
        for i, (addr, d) in enumerate(chain):
            got = after[d.dst:d.dst + d.length]
            if i < completed:
                assert read_status(h.memory, addr).done
                assert got == before[d.src:d.src + d.length], f"{action}: {addr:#x}"
            else:
                assert not read_status(h.memory, addr).done, f"{action}: {addr:#x} done"
                if action == "stop":
                    assert got == before[d.dst:d.dst + d.length], f"{action}: {addr:#x} moved"
                else:
                    # Data of descriptors in flight may have landed in part, never garbled.
                    for k in range(d.length):
                        assert got[k] in (before[d.dst + k], before[d.src + k]), \
                            f"abort: garbage at {d.dst + k:#x}"
        await drv.write("IRQ_STATUS", 0b111, 0)
        src, dst, length = SRC + 0x70000, DST + 0x70000, 64 * beat
        h.fill(src, length)
        expected = h.snapshot()
        expected[dst:dst + length] = expected[src:src + length]
        await drv.copy(0, src, dst, length)
        status = await drv.wait_idle(0)
        assert status.done and not status.error, (action, status)
        assert await drv.read("COMPLETED", 0) == 1, action
        assert h.snapshot() == expected, f"{action}, then a copy: memory differs"
        await drv.write("IRQ_STATUS", 0b111, 0)
        await h.finish()


@cocotb.test()
async def abort_at_any_cycle_then_restart(dut):
    """ABORT a short chain at every cycle offset from START through its end, then run a fresh
    chain: nothing of the aborted run may survive into it (a descriptor caught between its
    load and its launch must not be launched by the next START), so the fresh chain's
    COMPLETED and memory are exactly the model's."""
    h = await Harness.create(dut)
    drv = h.driver
    fresh_base = DESCS + 8 * DESCRIPTOR_SIZE
    for offset in range(0, 150):
        aborted = _chain(h, 2, max_beats=2)
        await drv.write("DESC_LO", aborted[0][0], 0)
        await drv.write_fields("CTRL", 0, sg=1, start=1)
        await ClockCycles(h.clock, offset)
        await drv.abort(0)
        status = await drv.wait_idle(0)
        assert status.done or status.err_code == "ABORTED", (offset, status)
        await drv.write("IRQ_STATUS", 0b111, 0)
        # The fresh chain copies other data over the aborted one's destinations.
        fresh = _chain(h, 2, max_beats=2, base=fresh_base, src=SRC + 0x4000)
        await _run_chain(h, fresh)
        await drv.write("IRQ_STATUS", 0b111, 0)
    await h.finish()


@cocotb.test()
async def scatter_gather_beside_register_mode(dut):
    """A chain on one channel and register-mode copies on another, at once."""
    h = await Harness.create(dut, backpressure=0.1)
    if h.config.channels < 2:
        dut._log.info("one channel: nothing to run beside the chain (other configurations do)")
        await h.finish()
        return
    drv, beat = h.driver, h.config.beat_bytes
    chain = _chain(h, 12, max_beats=128)
    expected = h.snapshot()
    apply_chain(expected, chain[0][0], beat_bytes=beat)
    src, dst, length = SRC + 0x60000, DST + 0x60000, 0x2000
    data = h.fill(src, length)
    expected[src:src + length] = data
    expected[dst:dst + length] = data
    await drv.start_chain(0, chain[0][0])
    await drv.copy(1, src, dst, length)
    for channel in (0, 1):
        status = await drv.wait_idle(channel)
        assert status.done and not status.error, (channel, status)
    assert h.snapshot() == expected
    await h.finish()
