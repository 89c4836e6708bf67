"""cocotb tests of register-mode DMA on the generated Verilog, for any configuration.

Each test builds its own harness (memory model + protocol checker + driver) and ends with
``harness.finish()``, which fails on any bus protocol violation or dangling burst.
"""

import os

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge

from hauler import registers as regs
from hauler.sim.driver import Mode
from hauler.sim.harness import Harness, MEMORY_SIZE
from hauler.sim.model import apply_transfer


PAGE = 4096


def _aligned(h, limit, *, align=None):
    align = align or h.config.beat_bytes
    return h.rng.randrange(0, limit // align) * align


async def _copy_and_check(h, channel, src, dst, length, **modes):
    expected = apply_transfer(h.snapshot(), src, dst, length, beat_bytes=h.config.beat_bytes,
                              **modes)
    await h.driver.copy(channel, src, dst, length, **modes)
    status = await h.driver.wait_idle(channel)
    assert status.done and not status.error, status
    assert await h.driver.read("BYTES", channel) == length
    assert h.snapshot() == expected, f"memory differs after copy {src:#x} -> {dst:#x} ({length})"


@cocotb.test()
async def identity_and_registers(dut):
    h = await Harness.create(dut)
    cfg, drv = h.config, h.driver
    assert await drv.read("ID") == regs.ID_VALUE
    assert (await drv.fields("VERSION"))["MAJOR"] == 1
    info = await drv.config()
    assert info["CHANNELS"] == cfg.channels
    assert 1 << info["DATA_BYTES_LOG2"] == cfg.beat_bytes
    assert info["ADDR_WIDTH"] == cfg.addr_width
    assert info["MASTER"] == (0 if cfg.master == "axi4" else 1)
    assert (info["SG"], info["STREAMS"], info["UNALIGNED"], info["REQ_ACK"]) == \
        (int(cfg.sg), int(cfg.streams), int(cfg.unaligned), int(cfg.req_ack))
    assert info["MAX_BURST"] == cfg.max_burst and info["OUTSTANDING"] == cfg.outstanding
    assert 1 << info["FIFO_DEPTH_LOG2"] == cfg.fifo_depth and info["LEN_WIDTH"] == 32
    assert await drv.read("IRQ_SUMMARY") == 0

    last = cfg.channels - 1
    # Registers of what is not built read 0 and ignore writes.
    absent = ([] if cfg.req_ack else ["REQ_BURST"]) + ([] if cfg.sg else ["DESC_LO", "DESC_HI"])
    if cfg.addr_width == 32:
        absent += ["SRC_HI", "DST_HI"] + (["DESC_HI"] if cfg.sg else [])   # beyond the width
    for name in absent:
        await drv.write(name, 0xFFFF_FFFF, last)
        assert await drv.read(name, last) == 0, name
    await drv.write("SRC_LO", 0x12345678, last)
    assert await drv.read("SRC_LO", last) == 0x12345678
    await drv.write("SRC_LO", 0xAABBCCDD, last, strb=0b0100)      # only byte 2 changes
    assert await drv.read("SRC_LO", last) == 0x12BB5678
    await drv.write("XFER", 0xFFFF_FFFF, last)                    # reserved bits read 0
    assert await drv.read("XFER", last) == 0xFF
    await drv.write("CTRL", 0xFFFF_FFE6, last)      # STOP, ABORT, reserved bits while idle
    assert await drv.read("CTRL", last) == 0b00000 and not (await drv.status(last)).busy
    await drv.write("XFER", 0, last)
    await h.finish()


@cocotb.test()
async def single_copy_with_irq(dut):
    h = await Harness.create(dut)
    drv, ch = h.driver, h.config.channels - 1
    h.fill(0x1000, 0x2000)
    await drv.write_fields("IRQ_ENABLE", ch, done=1, chain_end=1, error=1)
    await _copy_and_check(h, ch, 0x1000, 0x8000, 0x2000)
    assert h.dut.irq.value == 1
    assert await drv.read("IRQ_SUMMARY") == 1 << ch
    assert await drv.fields("IRQ_STATUS", ch) == {"DONE": 1, "CHAIN_END": 1, "ERROR": 0}
    assert await drv.read("COMPLETED", ch) == 1
    await drv.clear_irq(ch, done=1)
    assert await drv.fields("IRQ_STATUS", ch) == {"DONE": 0, "CHAIN_END": 1, "ERROR": 0}
    assert h.dut.irq.value == 1
    await drv.clear_irq(ch, chain_end=1)
    await ClockCycles(h.clock, 2)
    assert h.dut.irq.value == 0 and await drv.read("IRQ_SUMMARY") == 0
    await h.finish()


@cocotb.test()
async def random_copies(dut):
    """Hundreds of random aligned copies, many across 4 KiB pages, under back-pressure."""
    h = await Harness.create(dut, backpressure=0.3, latency=(1, 4))
    count = int(os.environ.get("HAULER_COPIES", "200"))
    beat = h.config.beat_bytes
    for i in range(count):
        length = h.rng.choice([beat, 2 * beat, 16 * beat, h.rng.randrange(1, 700) * beat])
        half = MEMORY_SIZE // 2
        # Sources in the lower half, destinations in the upper half: no overlap.
        src = _aligned(h, half - length)
        dst = half + _aligned(h, half - length)
        if i % 4 == 0:   # put a page boundary inside both
            src = (src | (PAGE - 1)) + 1 - 2 * beat
            dst = half + ((dst - half) | (PAGE - 1)) + 1 - 5 * beat
            if dst + length > MEMORY_SIZE or src + length > half:
                src, dst = 0, half
        modes = {}
        if i % 10 == 7:
            modes = dict(src_mode=Mode.FIXED)
        elif i % 10 == 9:
            modes = dict(dst_mode=Mode.FIXED)
        h.fill(src, length)
        await _copy_and_check(h, i % h.config.channels, src, dst, length, **modes)
    await h.finish()


@cocotb.test()
async def channels_concurrently(dut):
    """All channels at once: every copy lands, and read bursts are granted round-robin."""
    h = await Harness.create(dut, backpressure=0.2)
    n, drv = h.config.channels, h.driver
    length = 64 * h.config.max_burst * h.config.beat_bytes if h.config.max_burst < 16 else 0x4000
    region = MEMORY_SIZE // (2 * n) // PAGE * PAGE
    length = min(length, region)
    expected = h.snapshot()
    for ch in range(n):
        src, dst = ch * region, MEMORY_SIZE // 2 + ch * region
        h.fill(src, length)
        expected[src:src + length] = h.memory.read(src, length)
        expected[dst:dst + length] = expected[src:src + length]
        await drv.setup_transfer(ch, src, dst, length)

    order = []

    async def watch_reads():
        # A read burst is owned by the channel whose source region holds its address.
        while True:
            await RisingEdge(h.clock)
            addr = _read_burst_start(h)
            if addr is not None:
                order.append(addr // region)

    watcher = cocotb.start_soon(watch_reads())
    for ch in range(n):
        await drv.start(ch)
    for ch in range(n):
        status = await drv.wait_idle(ch)
        assert status.done, (ch, status)
    watcher.cancel()
    assert h.snapshot() == expected
    if n > 1:
        # While every channel is active (the middle of the run), no channel gets a second
        # burst before each other channel had one.
        bursts = length // h.config.beat_bytes // h.config.max_burst
        middle = order[n * 2: n * bursts // 2]
        for i in range(len(middle) - n + 1):
            window = middle[i:i + n]
            assert len(set(window)) == n, f"not round-robin at burst {i}: {window}"
    await h.finish()


def _read_burst_start(h):
    """The address of a read burst accepted by the bus in this cycle, if any."""
    d = h.dut
    if h.config.master == "axi4":
        if d.m_axi__arvalid.value and d.m_axi__arready.value:
            return int(d.m_axi__araddr.value)
        return None
    # Wishbone: the first accepted read strobe of a bus cycle, or after a strobe with
    # cti = 111 (the adapter chains bursts in one bus cycle and ends each with 111).
    start = getattr(h, "_wb_burst_start", True)
    accepted = d.m_wb__cyc.value and d.m_wb__stb.value and not d.m_wb__stall.value
    if accepted:
        h._wb_burst_start = int(d.m_wb__cti.value) == 0b111
    if not d.m_wb__cyc.value:
        h._wb_burst_start = True
    if accepted and start and not d.m_wb__we.value:
        return int(d.m_wb__adr.value) << h.config.beat_shift
    return None


async def _run_until_error(h, channel, src, dst, length):
    await h.driver.copy(channel, src, dst, length)
    status = await h.driver.wait_idle(channel)
    assert status.error and not status.done and not status.busy, status
    assert (await h.driver.fields("IRQ_STATUS", channel))["ERROR"] == 1
    return status


def _assert_no_garbage(h, before, src, dst, length):
    """Every destination byte is either untouched or the right source byte."""
    after = h.snapshot()
    for k in range(length):
        assert after[dst + k] in (before[dst + k], before[src + k]), f"garbage at {dst + k:#x}"


async def _still_usable(h):
    """After an error: the bus is clean and channel 0 copies again."""
    await h.finish()
    h.fill(0x20000, 0x1000)
    await _copy_and_check(h, 0, 0x20000, 0x90000, 0x1000)
    await h.finish()


@cocotb.test()
async def read_error_mid_transfer(dut):
    """SLVERR/DECERR (or ERR) on a read: READ_ERROR at the failing beat, nothing garbled,
    the other channels unaffected, and the channel works again afterwards."""
    h = await Harness.create(dut, backpressure=0.2)
    drv, beat, n = h.driver, h.config.beat_bytes, h.config.channels
    src, dst, length = 0x10000, 0x80000, 0x3000
    bad = src + 0x1804
    bad -= bad % beat
    h.add_error_window(bad, bad + beat, "decerr")
    h.fill(src, length)
    other = n - 1
    if n > 1:   # another channel copies meanwhile and must not notice
        h.fill(0x40000, 0x2000)
    before = h.snapshot()
    if n > 1:
        await drv.setup_transfer(other, 0x40000, 0xC0000, 0x2000)
        await drv.start(other)
    status = await _run_until_error(h, 0, src, dst, length)
    assert status.err_code == "READ_ERROR", status
    assert await drv.read("ERR_ADDR_LO", 0) == bad
    assert await drv.read("BYTES", 0) < length
    _assert_no_garbage(h, before, src, dst, length)
    after = h.snapshot()
    assert after[dst + bad - src: dst + bad - src + beat] == before[dst + bad - src:
                                                                     dst + bad - src + beat]
    if n > 1:
        assert (await drv.wait_idle(other)).done
        assert h.snapshot()[0xC0000:0xC2000] == before[0x40000:0x42000]
    await _still_usable(h)


@cocotb.test()
async def write_error_mid_transfer(dut):
    h = await Harness.create(dut, backpressure=0.2)
    drv, beat = h.driver, h.config.beat_bytes
    burst_bytes = h.config.max_burst * beat
    src, dst, length = 0x10000, 0x80000, 0x3000
    bad = dst + 0x1404
    bad -= bad % beat
    h.add_error_window(bad, bad + beat, "slverr")
    h.fill(src, length)
    before = h.snapshot()
    status = await _run_until_error(h, 0, src, dst, length)
    assert status.err_code == "WRITE_ERROR", status
    err_addr = await drv.read("ERR_ADDR_LO", 0)
    # The address of the burst that failed: it holds the bad beat.
    assert err_addr <= bad < err_addr + burst_bytes and dst <= err_addr < dst + length
    _assert_no_garbage(h, before, src, dst, length)
    await _still_usable(h)


@cocotb.test()
async def abort_mid_transfer(dut):
    h = await Harness.create(dut, backpressure=0.1)
    drv = h.driver
    src, dst, length = 0x0, 0x80000, 0x10000
    h.fill(src, length)
    before = h.snapshot()
    await drv.write_fields("IRQ_ENABLE", 0, error=1)
    await drv.copy(0, src, dst, length)
    await ClockCycles(h.clock, 600)
    await drv.abort(0)
    status = await drv.wait_idle(0, timeout=2000)
    assert status.error and status.err_code == "ABORTED", status
    assert h.dut.irq.value == 1
    moved = await drv.read("BYTES", 0)
    assert 0 < moved < length and moved % h.config.beat_bytes == 0
    after = h.snapshot()
    assert after[dst:dst + moved] == before[src:src + moved]   # completed bursts are whole
    _assert_no_garbage(h, before, src, dst, length)
    await drv.clear_irq(0, error=1)
    await _still_usable(h)


@cocotb.test()
async def cyclic_then_stop(dut):
    h = await Harness.create(dut, backpressure=0.1)
    drv = h.driver
    src, dst, length = 0x2000, 0x9000, 0x400
    h.fill(src, length)
    await drv.write_fields("IRQ_ENABLE", 0, chain_end=1)
    await drv.setup_transfer(0, src, dst, length)
    await drv.start(0, cyclic=True)
    while await drv.read("COMPLETED", 0) < 3:
        # BYTES counts the transfer under way: each restart starts it from 0.
        assert await drv.read("BYTES", 0) <= length
        await ClockCycles(h.clock, 50)
    assert (await drv.status(0)).busy
    assert h.dut.irq.value == 0              # no CHAIN_END while cycling
    await drv.stop(0)
    status = await drv.wait_idle(0)
    assert status.done and not status.error
    assert await drv.read("COMPLETED", 0) >= 3
    assert await drv.read("BYTES", 0) == length         # the last transfer's
    assert (await drv.fields("IRQ_STATUS", 0))["CHAIN_END"] == 1 and h.dut.irq.value == 1
    assert h.memory.read(dst, length) == h.memory.read(src, length)
    await h.finish()


@cocotb.test()
async def bad_transfers(dut):
    """What the build cannot do is refused at START with BAD_DESCRIPTOR, nothing moved: an
    unaligned address or length without unaligned support, a FIXED side off its beat with it,
    streams where none are built, and what streams cannot do where they are."""
    h = await Harness.create(dut)
    drv, beat = h.driver, h.config.beat_bytes
    cases = [
        dict(src=0, dst=0x1000, length=0),                       # LEN = 0
        dict(src=0, dst=0x1000, length=beat, src_mode=3),        # reserved mode
    ]
    if h.config.streams:
        cases += [dict(src=0, dst=0x1000, length=beat, src_mode=Mode.STREAM,
                       dst_mode=Mode.STREAM),                    # a stream on both sides
                  dict(src=0, dst=0x1000, length=beat + 1,        # not whole beats from one
                       src_mode=Mode.STREAM)]
    else:
        cases += [dict(src=0, dst=0x1000, length=beat, dst_mode=Mode.STREAM),  # not built
                  dict(src=0, dst=0x1000, length=beat, src_mode=Mode.STREAM)]
    if h.config.unaligned:
        # Any byte, but a FIXED side must be beat aligned (sim/benches/unaligned.py has more).
        cases += [dict(src=1, dst=0x1000, length=beat, src_mode=Mode.FIXED),
                  dict(src=0, dst=0x1002, length=beat + 1, dst_mode=Mode.FIXED)]
    else:
        cases += [dict(src=1, dst=0x1000, length=beat),          # unaligned (not built)
                  dict(src=0, dst=0x1002, length=beat),
                  dict(src=0, dst=0x1000, length=beat + 1)]
    before = h.snapshot()
    for case in cases:
        case = dict(case)
        length = case.pop("length")
        await drv.setup_transfer(0, case.pop("src"), case.pop("dst"), length, **case)
        await drv.start(0)
        status = await drv.status(0)
        assert status.error and status.err_code == "BAD_DESCRIPTOR" and not status.busy, \
            (case, length, status)
    # Nor is the req/ack handshake where it is not built, nor with REQ_BURST = 0 where it is;
    # nor a chain from a misaligned descriptor (or without scatter-gather in the build).
    await drv.setup_transfer(0, 0, 0x1000, beat)
    await drv.write_fields("XFER", 0, req=1)
    if h.config.req_ack:
        assert await drv.read("REQ_BURST", 0) == beat               # its reset value
        await drv.write("REQ_BURST", 0, 0)
    await drv.start(0)
    assert (await drv.status(0)).err_code == "BAD_DESCRIPTOR"
    if h.config.req_ack:
        await drv.write("REQ_BURST", beat, 0)
    await drv.setup_transfer(0, 0, 0x1000, beat)
    if h.config.sg:
        await drv.write("DESC_LO", 0x1020, 0)
    await drv.write_fields("CTRL", 0, start=1, sg=1)
    assert (await drv.status(0)).err_code == "BAD_DESCRIPTOR"
    await drv.write_fields("CTRL", 0)
    assert h.snapshot() == before
    await _copy_and_check(h, 0, 0, 0x1000, beat)    # and the channel still works
    await h.finish()


@cocotb.test()
async def irq_coalescing_by_count(dut):
    """IRQ_COALESCE.COUNT = 3: the first DONE interrupt comes with the third completion."""
    h = await Harness.create(dut)
    drv = h.driver
    await drv.write_fields("IRQ_COALESCE", 0, count=3)
    await drv.write_fields("IRQ_ENABLE", 0, done=1)
    await drv.setup_transfer(0, 0x0, 0x8000, 0x400 * h.config.beat_bytes)
    await drv.start(0, cyclic=True)
    await drv.wait_irq(h.dut.irq)
    assert await drv.read("COMPLETED", 0) == 3
    await drv.stop(0)
    await drv.wait_idle(0)
    await drv.write("IRQ_COALESCE", 0, 0)
    await h.finish()


@cocotb.test()
async def irq_coalescing_by_timeout(dut):
    """COUNT never reached: the TIMEOUT raises DONE while the cyclic run goes on."""
    h = await Harness.create(dut)
    drv = h.driver
    await drv.write_fields("IRQ_COALESCE", 0, count=255, timeout=50)
    await drv.write_fields("IRQ_ENABLE", 0, done=1)
    await drv.setup_transfer(0, 0x0, 0x8000, 0x400 * h.config.beat_bytes)
    await drv.start(0, cyclic=True)
    await drv.wait_irq(h.dut.irq)
    assert await drv.read("COMPLETED", 0) == 1
    assert (await drv.status(0)).busy
    await drv.stop(0)
    await drv.wait_idle(0)
    await drv.write("IRQ_COALESCE", 0, 0)
    await h.finish()
