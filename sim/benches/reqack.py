"""cocotb tests of the peripheral request/acknowledge handshake (ABI §5), for any
configuration built with it.

The devices of :mod:`hauler.sim.peripherals` sit on the master bus (their data registers
inside the memory model) and on ``req``/``ack``: a UART (both directions at once, on two
channels, in register mode) and a block device (sectors through scatter-gather chains into
and out of scattered, partly unaligned buffers, with interrupts). Every run checks:

- the data, exactly, and the whole memory against what should have changed (buffers and
  descriptor write-backs, nothing else);
- the devices: never written when full nor read when empty, whole words where required;
- per piece (a :class:`~hauler.sim.peripherals.PieceMonitor`): the register is touched
  only inside a req..ack window, at least 3 cycles after the previous ``ack``, with the
  beats of exactly one piece; ``ack`` is one cycle, comes once the piece is wholly done
  (its bytes moved through the register, a read piece's bytes in memory), once per piece;
- status: DONE, COMPLETED, BYTES, IRQ_STATUS, write-backs, error codes.
"""

import itertools

import cocotb
from cocotb.triggers import ClockCycles

from hauler.descriptor import DESCRIPTOR_SIZE, WRITEBACK_OFFSET
from hauler.sim.bench import bench_config, wait_until
from hauler.sim.descriptors import Descriptor, DescriptorStatus, read_status, write_chain
from hauler.sim.driver import Mode, decode
from hauler.sim.harness import Harness
from hauler.sim.peripherals import BlockDevice, Handshake, IoRegisters, Uart, idle_inputs, \
    pieces


MEMORY = 1 << 18                # bytes of memory model
DESCS = 0x1000                  # descriptors
SRC = 0x8000                    # sources (register mode)
DST = 0x18000                   # destinations (register mode)
BUFFERS = 0x28000               # scattered sector buffers
UART = 0x3F000                  # data registers of the UARTs, one per run
BLOCK = 0x3F800                 # data registers of the block devices, one per run


async def _setup(dut, *, backpressure=0.0):
    config = bench_config()
    idle_inputs(dut, config)
    h = await Harness.create(dut, backpressure=backpressure, memory_size=MEMORY)
    io = IoRegisters(h.memory, config.beat_bytes)
    handshake = Handshake(dut, h.clock, config)
    return h, io, handshake


def _unit(h):
    """The finest grain of addresses and lengths of this build: a byte with the realigner,
    else a bus word (so REQ_BURST 1 is then refused, see :func:`bad_descriptor`)."""
    return 1 if h.config.unaligned else h.config.beat_bytes


def _round(h, length):
    """``length`` rounded up to the build's grain."""
    return -(-length // _unit(h)) * _unit(h)


def _offset(h):
    """A random byte offset into a bus word, if the build takes one."""
    return h.rng.randrange(h.config.beat_bytes) if h.config.unaligned else 0


async def _start_paced(drv, channel, src, dst, length, *, burst, src_mode, dst_mode):
    """A register-mode transfer with XFER.REQ, REQ_BURST = ``burst``, started."""
    await drv.write("REQ_BURST", burst, channel)
    await drv.setup_transfer(channel, src, dst, length)
    await drv.write_fields("XFER", channel, src_mode=src_mode, dst_mode=dst_mode, req=1)
    await drv.start(channel)


async def _until(h, condition, what, timeout=100_000):
    await wait_until(h.clock, condition, what, timeout=timeout)


class Landing:
    """The destination of a device's bytes, in the order the device gives them: segments
    ``(address, length)`` of memory holding ``data`` one after the other."""

    def __init__(self, memory, segments, data):
        self._memory, self._segments, self._data = memory, segments, data

    def check(self, start, end):
        """Bytes ``start .. end`` of the stream are in memory."""
        offset = 0
        for addr, length in self._segments:
            lo, hi = max(start, offset), min(end, offset + length)
            if lo < hi:
                got = self._memory.read(addr + lo - offset, hi - lo)
                assert got == self._data[lo:hi], \
                    f"bytes {lo}..{hi} of the stream not in memory at {addr + lo - offset:#x} " \
                    f"when their piece was acknowledged"
            offset += length


class PieceCheck:
    """What a run must show on a channel's monitor: ``sizes``, the pieces in order.

    At each ``ack`` the device has moved exactly the bytes of the pieces so far through its
    register, the piece touched the register with ``ceil(size / lanes)`` beats (a FIXED
    register is read or written from lane 0, a beat per bus word of the piece) and, with
    ``landing``, the piece's bytes are in memory.
    """

    def __init__(self, monitor, device, sizes, lanes, landing=None):
        self.monitor, self.device, self.sizes = monitor, device, sizes
        self._lanes, self._landing = lanes, landing
        self._first, self._base = len(monitor.windows), device.moved
        self._ends = list(itertools.accumulate(sizes))
        monitor.on_ack.append(self._on_ack)

    def _on_ack(self, window):
        k = len(self.monitor.windows) - self._first - 1
        assert k < len(self.sizes), \
            f"{self.monitor.name}: ack {k + 1} but only {len(self.sizes)} pieces ({window})"
        moved = self.moved
        assert moved == self._ends[k], \
            f"{self.monitor.name}: at the ack of piece {k} the device moved {moved} bytes, " \
            f"the pieces so far hold {self._ends[k]} ({window})"
        beats = -(-self.sizes[k] // self._lanes)
        assert window.beats == beats, \
            f"{self.monitor.name}: piece {k} of {self.sizes[k]} bytes touched the register " \
            f"with {window.beats} beats, not {beats} ({window})"
        if self._landing is not None:
            self._landing.check(self._ends[k] - self.sizes[k], self._ends[k])

    @property
    def windows(self):
        """The windows of this run's pieces."""
        return self.monitor.windows[self._first:]

    @property
    def moved(self):
        """Bytes the device moved through its register since the run began."""
        return self.device.moved - self._base

    def finish(self):
        """All pieces were acknowledged (each once); stop checking."""
        self.monitor.on_ack.remove(self._on_ack)
        assert len(self.windows) == len(self.sizes), \
            f"{self.monitor.name}: {len(self.windows)} acks for {len(self.sizes)} pieces"


async def _expect_done(drv, channel, length, completed=1):
    status = await drv.wait_idle(channel)
    assert status.done and not status.error, (channel, status)
    assert await drv.read("COMPLETED", channel) == completed
    if length is not None:
        assert await drv.read("BYTES", channel) == length
    irq = await drv.fields("IRQ_STATUS", channel)
    assert irq["DONE"] == 1 and irq["CHAIN_END"] == 1 and irq["ERROR"] == 0, irq
    await drv.write("IRQ_STATUS", 0b111, channel)


async def _expect_error(drv, channel, code):
    status = await drv.wait_idle(channel)
    assert status.error and not status.done and status.err_code == code, (code, status)
    assert (await drv.fields("IRQ_STATUS", channel))["ERROR"] == 1
    await drv.write("IRQ_STATUS", 0b111, channel)


async def _start_uart(h, handshake, uart, addr, *, burst, channels, tx, rx, feed=False):
    """Start the paced transfers of a UART at ``addr``: ``tx`` = (source, length) to send,
    ``rx`` = (destination, bytes) to receive, each skipped when empty, on ``channels`` (tx,
    rx); with ``feed``, the bytes to receive reach the UART's line just before. Returns the
    checks of their pieces."""
    drv, lanes = h.driver, h.config.beat_bytes
    (tx_ch, rx_ch), (src, tx_len), (dst, rx_data) = channels, tx, rx
    checks = []
    if tx_len:
        checks.append(PieceCheck(handshake.watch(tx_ch, addr, "write"), uart.tx,
                                 pieces(tx_len, burst), lanes))
        await _start_paced(drv, tx_ch, src, addr, tx_len, burst=burst, src_mode=Mode.INCR,
                           dst_mode=Mode.FIXED)
    if rx_data:
        checks.append(PieceCheck(handshake.watch(rx_ch, addr, "read"), uart.rx,
                                 pieces(len(rx_data), burst), lanes,
                                 Landing(h.memory, [(dst, len(rx_data))], rx_data)))
        if feed:
            uart.rx.receive(rx_data)
        await _start_paced(drv, rx_ch, addr, dst, len(rx_data), burst=burst,
                           src_mode=Mode.FIXED, dst_mode=Mode.INCR)
    return checks


async def _uart_run(h, io, handshake, addr, *, burst, tx_len, rx_len, baud, fifo, lazy,
                    channels, slot):
    """The DMA sends ``tx_len`` random bytes out of a UART at ``addr`` and receives
    ``rx_len`` (each 0 for none), both paced by REQ_BURST = ``burst``, in register mode,
    on ``channels`` (tx, rx), at once when they differ. Returns the checks made."""
    drv, rng = h.driver, h.rng
    tx_ch, rx_ch = channels
    uart = Uart(handshake, io, addr, baud=baud, fifo=fifo, lazy=lazy,
                tx_channel=tx_ch if tx_len else None, rx_channel=rx_ch if rx_len else None,
                tx_burst=burst, rx_burst=burst, seed=rng.getrandbits(32))
    src, dst = SRC + slot * 0x100 + _offset(h), DST + slot * 0x100 + _offset(h)
    tx_data = h.fill(src, tx_len)
    rx_data = bytes(rng.getrandbits(8) for _ in range(rx_len))
    expected = h.snapshot()
    expected[dst:dst + rx_len] = rx_data
    checks = await _start_uart(h, handshake, uart, addr, burst=burst, channels=channels,
                               tx=(src, tx_len), rx=(dst, rx_data), feed=True)
    for channel, length in ((tx_ch, tx_len), (rx_ch, rx_len)):
        if length:
            await _expect_done(drv, channel, length)
    if tx_len:
        await _until(h, lambda: uart.tx.idle, "the UART to send its FIFO")
        assert bytes(uart.tx.sent) == tx_data, "the UART sent other bytes"
    if rx_len:
        assert not uart.rx.fifo and not uart.rx.line
    for check in checks:
        check.finish()
    uart.check()
    assert h.snapshot() == expected, "memory differs beyond the receive buffer"
    io.remove(addr)
    return checks


@cocotb.test()
async def uart_register_mode(dut):
    """UART transmit and receive of random strings at once, on two channels, with
    REQ_BURST = 1, = a bus word and in between, random baud rates and FIFOs, devices that
    lower ``req`` at once or as late as allowed, under bus backpressure."""
    h, io, handshake = await _setup(dut, backpressure=0.15)
    drv, rng, cfg, lanes = h.driver, h.rng, h.config, h.config.beat_bytes
    assert (await drv.fields("CONFIG"))["REQ_ACK"] == 1
    for channel in range(cfg.channels):
        assert await drv.read("REQ_BURST", channel) == lanes, "REQ_BURST reset value"
    bursts = [1] * 3 + [lanes] * 3 + [rng.randint(2, lanes - 1)]
    if not cfg.unaligned:
        bursts = [lanes] * 4
    for slot, burst in enumerate(bursts):
        baud, lazy = rng.randint(1, 12), rng.random() < 0.5
        fifo = rng.choice(sorted({burst, max(4, burst), 2 * burst}))
        tx_len, rx_len = _round(h, rng.randint(1, 40)), _round(h, rng.randint(1, 40))
        dut._log.info("UART: REQ_BURST %d, baud %d, FIFO %d, lazy %s, tx %d, rx %d",
                      burst, baud, fifo, lazy, tx_len, rx_len)
        kwargs = dict(burst=burst, baud=baud, fifo=fifo, lazy=lazy, slot=slot)
        if cfg.channels > 1:
            await _uart_run(h, io, handshake, UART + slot * lanes, tx_len=tx_len,
                            rx_len=rx_len, channels=(0, 1), **kwargs)
        else:
            await _uart_run(h, io, handshake, UART + slot * lanes, tx_len=tx_len, rx_len=0,
                            channels=(0, 0), **kwargs)
            await _uart_run(h, io, handshake, UART + slot * lanes, tx_len=0, rx_len=rx_len,
                            channels=(0, 0), **kwargs)
    await h.finish()


@cocotb.test()
async def req_ignored_after_ack(dut):
    """``req`` is ignored in the ``ack`` cycle and the one after, and nowhere else.

    A device that keeps ``req`` high all the time (room and data to spare) gets exactly one
    piece per ``ack``, each starting at least 3 cycles after the previous ``ack``. A lazy
    device with a FIFO of one burst and a slow line keeps ``req`` high in the ``ack`` cycle
    and the one after although it has no room (no data) left: it gets no piece before it
    raises ``req`` again (else it would overflow or underflow)."""
    h, io, handshake = await _setup(dut)
    cfg, lanes = h.config, h.config.beat_bytes
    channels = (0, 1 if cfg.channels > 1 else 0)
    slot = 0
    for burst in sorted({_unit(h), lanes}):
        # Always asking: a FIFO of 64 bytes or more drained at a byte per cycle; all data
        # received before the transfer starts.
        n = _round(h, 24)
        for tx_len, rx_len in (((n, 0), (0, n)) if channels[0] == channels[1] else ((n, n),)):
            checks = await _held_high_run(h, io, handshake, UART + slot * lanes, burst=burst,
                                          tx_len=tx_len, rx_len=rx_len, channels=channels,
                                          slot=slot)
            for check in checks:
                gaps = [w.gap for w in check.windows[1:]]
                dut._log.info("%s, REQ_BURST %d, req always high: gaps after ack %d..%d",
                              check.monitor.name, burst, min(gaps), max(gaps))
                assert min(gaps) >= 3, gaps
                # (Before the first piece the device was only being attached; after the
                # last ack a receiver has nothing left and may drop req.)
                assert all(w.quiet == 0 for w in check.windows[1:]), check.windows
                assert all(w.held == 2 for w in check.windows[:-1]), check.windows
            slot += 1
        # Lazy, no room (no data) after each piece.
        n = _round(h, 12)
        for tx_len, rx_len in (((n, 0), (0, n)) if channels[0] == channels[1] else ((n, n),)):
            checks = await _uart_run(h, io, handshake, UART + slot * lanes, burst=burst,
                                     tx_len=tx_len, rx_len=rx_len, baud=40, fifo=burst,
                                     lazy=True, channels=channels, slot=slot)
            for check in checks:
                # After each ack the device held req for the 2 ignored cycles, then dropped
                # it (the line is slow): the next piece came only after it asked again.
                assert all(w.held == 2 for w in check.windows), check.windows
                assert all(w.quiet > 0 for w in check.windows[2:]), check.windows
            slot += 1
    await h.finish()


async def _held_high_run(h, io, handshake, addr, *, burst, tx_len, rx_len, channels, slot):
    drv, rng = h.driver, h.rng
    tx_ch, rx_ch = channels
    uart = Uart(handshake, io, addr, baud=1, fifo=max(64, rx_len),
                tx_channel=tx_ch if tx_len else None,
                rx_channel=rx_ch if rx_len else None, tx_burst=burst, rx_burst=burst,
                seed=rng.getrandbits(32))
    src, dst = SRC + slot * 0x100, DST + slot * 0x100 + _offset(h)
    tx_data = h.fill(src, tx_len)
    rx_data = bytes(rng.getrandbits(8) for _ in range(rx_len))
    if rx_len:
        uart.rx.receive(rx_data)
        await _until(h, lambda: not uart.rx.line, "the UART to receive")
    checks = await _start_uart(h, handshake, uart, addr, burst=burst, channels=channels,
                               tx=(src, tx_len), rx=(dst, rx_data))
    for channel, length in ((tx_ch, tx_len), (rx_ch, rx_len)):
        if length:
            await _expect_done(drv, channel, length)
    if tx_len:
        await _until(h, lambda: uart.tx.idle, "the UART to send its FIFO")
        assert bytes(uart.tx.sent) == tx_data
    if rx_len:
        assert h.memory.read(dst, rx_len) == rx_data
    for check in checks:
        check.finish()
    uart.check()
    io.remove(addr)
    return checks


# --- The block device ----------------------------------------------------------------------

def _sector_parts(rng, sector_size, lanes):
    """A sector cut into 1..3 parts of whole words."""
    words = sector_size // lanes
    cuts = sorted(rng.sample(range(1, words), rng.randint(0, 2)))
    bounds = [0, *cuts, words]
    return [(b - a) * lanes for a, b in zip(bounds, bounds[1:])]


def _scatter(rng, lengths, lanes, unaligned):
    """Buffer addresses for parts of ``lengths``: laid out in a random order, with random
    gaps, half of them starting off a word boundary if ``unaligned``."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    addresses, addr = [None] * len(lengths), BUFFERS
    for i in order:
        addr = -(-addr // lanes) * lanes + rng.randrange(1, 4) * 16
        if unaligned and rng.random() < 0.5:
            addr += rng.randrange(1, lanes)
        addresses[i] = addr
        addr += lengths[i]
    assert addr < UART
    return addresses


def _block_chain(h, sectors, *, to_device, block):
    """The descriptors moving ``sectors`` between scattered buffers and the register at
    ``block``: one per part of a sector, IRQ on each sector's last part."""
    rng, lanes, size = h.rng, h.config.beat_bytes, len(sectors[0])
    parts = []          # (sector, offset, length, last part of its sector)
    for s in range(len(sectors)):
        offset = 0
        lengths = _sector_parts(rng, size, lanes)
        for k, length in enumerate(lengths):
            parts.append((s, offset, length, k == len(lengths) - 1))
            offset += length
    buffers = _scatter(rng, [p[2] for p in parts], lanes, h.config.unaligned)
    descriptors = []
    for (s, offset, length, last), buffer in zip(parts, buffers):
        if to_device:
            h.memory.write(buffer, sectors[s][offset:offset + length])
            d = Descriptor(buffer, block, length, src_mode=Mode.INCR, dst_mode=Mode.FIXED,
                           req=1, irq=int(last))
        else:
            d = Descriptor(block, buffer, length, src_mode=Mode.FIXED, dst_mode=Mode.INCR,
                           req=1, irq=int(last))
        descriptors.append(d)
    addresses = [DESCS + i * DESCRIPTOR_SIZE for i in range(len(descriptors))]
    return list(zip(addresses, write_chain(h.memory, addresses, descriptors)))


async def _serve_interrupts(h, chain, channel, on_done):
    """Play the driver: on each ``irq``, read IRQ_STATUS, clear what it shows, then handle
    every descriptor written back since (``on_done(index)``), until CHAIN_END. Returns the
    interrupts served."""
    drv, served, done = h.driver, 0, set()
    while True:
        await drv.wait_irq(h.dut.irq, timeout=200_000)
        value = await drv.read("IRQ_STATUS", channel)
        irq = decode("IRQ_STATUS", value)
        assert irq["ERROR"] == 0, (irq, await drv.status(channel))
        await drv.write("IRQ_STATUS", value, channel)
        served += 1
        for i, (addr, d) in enumerate(chain):
            if i not in done and read_status(h.memory, addr).done:
                assert read_status(h.memory, addr) == DescriptorStatus(done=True,
                                                                       bytes=d.length), i
                on_done(i)
                done.add(i)
        if irq["CHAIN_END"]:
            break
    assert done == set(range(len(chain))), "descriptors not written back at CHAIN_END"
    await ClockCycles(h.clock, 2)
    assert not h.dut.irq.value, "irq still high after clearing IRQ_STATUS"
    return served


def _block_device(h, io, handshake, addr, *, channel):
    rng, lanes = h.rng, h.config.beat_bytes
    burst = lanes * rng.choice([1, 2, 4, 8, 32])       # 32 words: a piece of 2 bursts
    device = BlockDevice(handshake, io, addr, channel=channel, burst=burst,
                         fifo=burst * rng.choice([1, 2]), word_cycles=rng.randint(1, 3),
                         seek_cycles=rng.randint(0, 40), lazy=rng.random() < 0.5)
    h.dut._log.info("block device: REQ_BURST %d, FIFO %d, %d cycles per word, seek %d, "
                    "lazy %s", burst, device.depth, device.word_cycles, device.seek_cycles,
                    device.lazy)
    return device


def _expect_writebacks(expected, chain):
    for addr, d in chain:
        expected[addr + WRITEBACK_OFFSET:addr + WRITEBACK_OFFSET + 8] = \
            DescriptorStatus(done=True, bytes=d.length).to_bytes()


@cocotb.test()
async def block_device_read(dut):
    """Sectors from a block device into scattered buffers (parts of sectors, some unaligned)
    through a scatter-gather chain, an interrupt per sector: every interrupt finds the
    sectors it reports in memory; the whole memory is as expected."""
    h, io, handshake = await _setup(dut, backpressure=0.1)
    if not h.config.sg:
        dut._log.info("scatter-gather not built: nothing to run (other configurations do)")
        await h.finish()
        return
    drv, rng, lanes, channel = h.driver, h.rng, h.config.beat_bytes, 0
    await drv.write_fields("IRQ_ENABLE", channel, done=1, chain_end=1, error=1)
    for run in range(2):
        device = _block_device(h, io, handshake, BLOCK + run * lanes, channel=channel)
        sectors = [rng.randbytes(512) for _ in range(4)]
        chain = _block_chain(h, sectors, to_device=False, block=BLOCK + run * lanes)
        stream = b"".join(sectors)
        landing = Landing(h.memory, [(d.dst, d.length) for _, d in chain], stream)
        check = PieceCheck(handshake.watch(channel, BLOCK + run * lanes, "read"), device,
                           [p for _, d in chain for p in pieces(d.length, device.burst)],
                           lanes, landing)
        expected = h.snapshot()
        offset = 0
        for _, d in chain:
            expected[d.dst:d.dst + d.length] = stream[offset:offset + d.length]
            offset += d.length
        _expect_writebacks(expected, chain)
        await drv.write("REQ_BURST", device.burst, channel)
        device.read_sectors(sectors)
        await drv.start_chain(channel, chain[0][0])

        def on_done(i):
            d = chain[i][1]
            assert h.memory.read(d.dst, d.length) == expected[d.dst:d.dst + d.length], \
                f"descriptor {i} written back before its data landed"

        served = await _serve_interrupts(h, chain, channel, on_done)
        dut._log.info("%d descriptors, %d interrupts served", len(chain), served)
        status = await drv.wait_idle(channel)
        assert status.done and not status.error, status
        assert await drv.read("COMPLETED", channel) == len(chain)
        check.finish()
        assert device.idle and not device.fifo
        device.check()
        assert h.snapshot() == expected, "memory differs beyond the buffers and write-backs"
        io.remove(BLOCK + run * lanes)
        handshake.detach(channel)
    await h.finish()


@cocotb.test()
async def block_device_write(dut):
    """Sectors from scattered buffers (parts of sectors, some unaligned) to a block device
    through a scatter-gather chain, an interrupt per sector: when a descriptor is written
    back the device has its bytes; the device stores exactly the sectors; memory changes
    only in the write-backs."""
    h, io, handshake = await _setup(dut, backpressure=0.1)
    if not h.config.sg:
        dut._log.info("scatter-gather not built: nothing to run (other configurations do)")
        await h.finish()
        return
    drv, rng, lanes, channel = h.driver, h.rng, h.config.beat_bytes, h.config.channels - 1
    await drv.write_fields("IRQ_ENABLE", channel, done=1, chain_end=1, error=1)
    for run in range(2):
        addr = BLOCK + run * lanes
        device = _block_device(h, io, handshake, addr, channel=channel)
        sectors = [rng.randbytes(512) for _ in range(3)]
        chain = _block_chain(h, sectors, to_device=True, block=addr)
        check = PieceCheck(handshake.watch(channel, addr, "write"), device,
                           [p for _, d in chain for p in pieces(d.length, device.burst)], lanes)
        expected = h.snapshot()
        _expect_writebacks(expected, chain)
        ends = list(itertools.accumulate(d.length for _, d in chain))
        await drv.write("REQ_BURST", device.burst, channel)
        device.write_sectors(len(sectors))
        await drv.start_chain(channel, chain[0][0])

        def on_done(i):
            assert check.moved >= ends[i], \
                f"descriptor {i} written back before the device had its bytes"

        await _serve_interrupts(h, chain, channel, on_done)
        status = await drv.wait_idle(channel)
        assert status.done and not status.error, status
        assert await drv.read("COMPLETED", channel) == len(chain)
        check.finish()
        await _until(h, lambda: device.idle, "the block device to store its sectors")
        assert device.written == sectors, "the device stored other sectors"
        device.check()
        assert h.snapshot() == expected, "memory differs beyond the write-backs"
        io.remove(addr)
        handshake.detach(channel)
    await h.finish()


# --- Refusals, ABORT and STOP ---------------------------------------------------------------

@cocotb.test()
async def bad_descriptor(dut):
    """REQ with REQ_BURST = 0, or with a STREAM side, is BAD_DESCRIPTOR, in register mode
    and in a chain (after the descriptors before it, ERR_ADDR at it): no bus access, no
    ``ack``. Without the realigner, so is a REQ_BURST that is not whole bus words (its
    pieces would be byte-unaligned lengths and addresses). The channel works afterwards."""
    h, io, handshake = await _setup(dut)
    drv, cfg, lanes, channel, unit = h.driver, h.config, h.config.beat_bytes, 0, _unit(h)
    # A device that always asks: a refused transfer must not move anything regardless.
    uart = Uart(handshake, io, UART, baud=1, fifo=64, tx_channel=channel, tx_burst=unit)
    monitor = handshake.watch(channel, UART, "write")
    h.fill(SRC, 64)
    before = h.snapshot()
    cases = [(0, Mode.INCR, Mode.FIXED)]
    if cfg.streams:
        cases += [(lanes, Mode.STREAM, Mode.INCR), (lanes, Mode.INCR, Mode.STREAM),
                  (1, Mode.STREAM, Mode.FIXED)]
    else:
        dut._log.info("streams not built: REQ with a STREAM side not applicable")
    if not cfg.unaligned:
        cases += [(1, Mode.INCR, Mode.FIXED), (lanes + lanes // 2, Mode.INCR, Mode.FIXED)]
    for burst, src_mode, dst_mode in cases:
        h.monitor.reset()
        src = UART if src_mode == Mode.FIXED else SRC
        dst = UART if dst_mode == Mode.FIXED else DST
        await _start_paced(drv, channel, src, dst, 16, burst=burst, src_mode=src_mode,
                           dst_mode=dst_mode)
        await _expect_error(drv, channel, "BAD_DESCRIPTOR")
        await ClockCycles(h.clock, 20)
        assert h.monitor.reads == h.monitor.writes == 0, (burst, src_mode, dst_mode)
        assert monitor.acks == 0 and handshake.acks[channel] == 0
    assert h.snapshot() == before

    # Chains: a good paced descriptor, then a bad one; REQ_BURST = 0 with a chain.
    bad_ones = [("stream", Descriptor(SRC, 0, 16, src_mode=Mode.INCR,
                                      dst_mode=Mode.STREAM, req=1))] if cfg.streams else []
    bad_ones.append(("burst 0", None))
    if not cfg.sg:
        dut._log.info("scatter-gather not built: no chains to refuse")
        bad_ones = []
    for label, bad in bad_ones:
        good = Descriptor(SRC, UART, _round(h, 20), src_mode=Mode.INCR, dst_mode=Mode.FIXED,
                          req=1)
        if bad is None:
            chain_descs, burst = [good], 0
        else:
            chain_descs, burst = [good, bad], unit
        addresses = [DESCS + 0x400 + i * DESCRIPTOR_SIZE for i in range(len(chain_descs))]
        chain = list(zip(addresses, write_chain(h.memory, addresses, chain_descs)))
        expected = h.snapshot()
        check = None
        if bad is not None:
            check = PieceCheck(monitor, uart.tx, pieces(good.length, burst), lanes)
            _expect_writebacks(expected, chain[:1])
        await drv.write("REQ_BURST", burst, channel)
        sent, acks = len(uart.tx.sent) + len(uart.tx.fifo), monitor.acks
        await drv.start_chain(channel, addresses[0])
        await _expect_error(drv, channel, "BAD_DESCRIPTOR")
        assert await drv.read("ERR_ADDR_LO", channel) == addresses[-1], label
        assert await drv.read("COMPLETED", channel) == len(chain) - 1, label
        assert not read_status(h.memory, addresses[-1]).done, label
        await _until(h, lambda: uart.tx.idle, "the UART to send")
        if check is not None:
            check.finish()
            assert bytes(uart.tx.sent[sent:]) == h.memory.read(SRC, good.length), label
        else:
            assert len(uart.tx.sent) == sent and monitor.acks == acks, label
        assert h.snapshot() == expected, label
    uart.check()
    # And the channel works again.
    await _uart_run(h, io, handshake, UART + lanes, burst=unit, tx_len=_round(h, 9),
                    rx_len=0, baud=3, fifo=max(4, unit), lazy=False,
                    channels=(channel, channel), slot=0)
    await h.finish()


@cocotb.test()
async def cyclic_register_mode(dut):
    """CTRL.CYCLIC with XFER.REQ: the paced transfer restarts after each completion, piece
    by piece from its start; STOP ends it after the round under way (DONE)."""
    h, io, handshake = await _setup(dut)
    drv, channel, u = h.driver, 0, _unit(h)
    length = 7 * u
    uart = Uart(handshake, io, UART, baud=3, fifo=max(4, u), tx_channel=channel, tx_burst=u)
    monitor = handshake.watch(channel, UART, "write")
    src = SRC + _offset(h)
    data = h.fill(src, length)
    await drv.write("REQ_BURST", u, channel)
    await drv.setup_transfer(channel, src, UART, length)
    await drv.write_fields("XFER", channel, src_mode=Mode.INCR, dst_mode=Mode.FIXED, req=1)
    await drv.start(channel, cyclic=True)
    await _until(h, lambda: monitor.acks >= 17, "17 pieces")
    await drv.stop(channel)
    status = await drv.wait_idle(channel)
    assert status.done and not status.error, status
    rounds = await drv.read("COMPLETED", channel)
    assert rounds >= 3 and monitor.acks == 7 * rounds, (rounds, monitor.acks)
    assert all(w.beats == 1 for w in monitor.windows)
    await _until(h, lambda: uart.tx.idle, "the UART to send")
    assert bytes(uart.tx.sent) == data * rounds
    uart.check()
    await h.finish()


@cocotb.test()
async def abort_and_stop_while_waiting(dut):
    """ABORT while a paced transfer waits for ``req`` halts with ABORTED at once, before
    any or after some pieces, with no further ``ack`` and nothing more moved; in a chain,
    the descriptor waiting is not written back. STOP while waiting lets the transfer
    finish when the device comes. The channel works afterwards."""
    h, io, handshake = await _setup(dut)
    drv, rng, lanes, channel, u = h.driver, h.rng, h.config.beat_bytes, 0, _unit(h)

    async def waiting_rx(addr, dst, length, got):
        """A receive of ``length`` bytes paced by pieces of ``u``, of which the UART has
        ``got``: started and waiting for the rest."""
        uart = Uart(handshake, io, addr, baud=2, fifo=max(4, u), rx_channel=channel,
                    rx_burst=u, seed=rng.getrandbits(32))
        monitor = handshake.watch(channel, addr, "read")
        data = rng.randbytes(length)
        uart.rx.receive(data[:got])
        await _start_paced(drv, channel, addr, dst, length, burst=u, src_mode=Mode.FIXED,
                           dst_mode=Mode.INCR)
        await _until(h, lambda: monitor.acks == got // u and not uart.rx.fifo,
                     "the pieces the UART can give")
        await ClockCycles(h.clock, 100)
        assert (await drv.status(channel)).busy, "finished without the device"
        assert monitor.acks == got // u, "pieces without a request"
        return uart, monitor, data

    for got in (0, 3 * u):
        addr, dst = UART + got * lanes, DST + got * 0x40 + _offset(h)
        before = h.snapshot()
        uart, monitor, data = await waiting_rx(addr, dst, 8 * u, got)
        acks = monitor.acks
        await drv.abort(channel)
        await _expect_error(drv, channel, "ABORTED")
        await ClockCycles(h.clock, 50)
        assert monitor.acks == acks, "ack after ABORT"
        assert await drv.read("COMPLETED", channel) == 0
        bytes_reg = await drv.read("BYTES", channel)
        assert bytes_reg == got, f"BYTES {bytes_reg} after {got} bytes moved and ABORT"
        expected = bytearray(before)
        expected[dst:dst + got] = data[:got]
        assert h.snapshot() == expected
        uart.check()
        io.remove(addr)

    # STOP while waiting: the transfer still completes once the device has the data.
    addr, dst = UART + 64 * lanes, DST + 0x800 + _offset(h)
    uart, monitor, data = await waiting_rx(addr, dst, 8 * u, 3 * u)
    await drv.stop(channel)
    await ClockCycles(h.clock, 100)
    assert (await drv.status(channel)).busy, "STOP dropped the transfer under way"
    uart.rx.receive(data[3 * u:])
    await _expect_done(drv, channel, 8 * u)
    assert monitor.acks == 8
    assert h.memory.read(dst, 8 * u) == data
    io.remove(addr)

    # In a chain: the first descriptor completes, the second waits and is aborted.
    if h.config.sg:
        addr, first, second = UART + 65 * lanes, DST + 0x1000, DST + 0x1100 + _offset(h)
        uart = Uart(handshake, io, addr, baud=2, fifo=lanes, rx_channel=channel,
                    rx_burst=lanes, seed=rng.getrandbits(32))
        monitor = handshake.watch(channel, addr, "read")
        data = rng.randbytes(6 * lanes)
        chain_descs = [Descriptor(addr, first, 2 * lanes, src_mode=Mode.FIXED, req=1),
                       Descriptor(addr, second, 4 * lanes, src_mode=Mode.FIXED, req=1)]
        addresses = [DESCS + 0x800, DESCS + 0x840]
        chain = list(zip(addresses, write_chain(h.memory, addresses, chain_descs)))
        expected = h.snapshot()
        expected[first:first + 2 * lanes] = data[:2 * lanes]
        expected[second:second + lanes] = data[2 * lanes:3 * lanes]
        _expect_writebacks(expected, chain[:1])
        uart.rx.receive(data[:3 * lanes])
        await drv.write("REQ_BURST", lanes, channel)
        await drv.start_chain(channel, addresses[0])
        await _until(h, lambda: monitor.acks == 3 and not uart.rx.fifo, "three pieces")
        await ClockCycles(h.clock, 100)
        assert monitor.acks == 3 and (await drv.status(channel)).busy
        await drv.abort(channel)
        await _expect_error(drv, channel, "ABORTED")
        await ClockCycles(h.clock, 50)
        assert monitor.acks == 3
        assert await drv.read("COMPLETED", channel) == 1
        assert read_status(h.memory, addresses[0]).done
        assert not read_status(h.memory, addresses[1]).done
        assert h.snapshot() == expected
        io.remove(addr)
        handshake.detach(channel)
    else:
        dut._log.info("scatter-gather not built: no chain to abort")

    # And the channel works again, with REQ_BURST = a word.
    await _uart_run(h, io, handshake, UART + 66 * lanes, burst=lanes, tx_len=0,
                    rx_len=_round(h, 13), baud=2, fifo=lanes, lazy=True,
                    channels=(channel, channel), slot=12)
    await h.finish()


@cocotb.test()
async def abort_or_error_mid_piece(dut):
    """ABORT while a piece is on the bus, and a read error in the middle of a paced
    transfer, halt the channel without an ``ack`` for the piece cut short (nor any later):
    only whole pieces are acknowledged."""
    h, io, handshake = await _setup(dut, backpressure=0.3)
    drv, rng, lanes, channel = h.driver, h.rng, h.config.beat_bytes, 0
    cut = 0
    for attempt in range(6):
        addr = BLOCK + attempt * lanes
        device = BlockDevice(handshake, io, addr, channel=channel, burst=16 * lanes,
                             fifo=32 * lanes, sector_size=64 * lanes)
        monitor = handshake.watch(channel, addr, "write")
        src = SRC + attempt * 0x400
        h.fill(src, 64 * lanes)
        device.write_sectors(1)
        await _start_paced(drv, channel, src, addr, 64 * lanes, burst=16 * lanes,
                           src_mode=Mode.INCR, dst_mode=Mode.FIXED)
        # Wait for a piece on the bus, a random number of cycles into it.
        await _until(h, lambda: monitor.acks >= 1 and monitor.in_piece, "a piece on the bus",
                     timeout=20_000)
        await ClockCycles(h.clock, rng.randrange(4))
        acks = monitor.acks
        await drv.abort(channel)
        # The register write is done by this cycle; ABORT acts in the cycle after it, so
        # an ack decided just before can still show up to 2 cycles later; none after.
        written = handshake.cycle
        await _expect_error(drv, channel, "ABORTED")
        await ClockCycles(h.clock, 50)
        late = [w for w in monitor.windows if w.ack > written + 2]
        assert not late, f"ack after ABORT (written by cycle {written}): {late}"
        if monitor.in_piece:
            cut += 1                        # the piece under way was never acknowledged
        assert monitor.acks in (acks, acks + 1)
        assert device.moved >= 16 * lanes * monitor.acks
        device.check()
        io.remove(addr)
        handshake.detach(channel)
    dut._log.info("ABORT cut a piece short in %d of 6 attempts", cut)
    assert cut > 0, "ABORT never landed inside a piece: the test proves nothing"

    # A read error at byte 2 * lanes of a transfer paced a byte at a time (a word without
    # the realigner): the bytes before it arrive, each acknowledged; the failing piece is not.
    addr, src, u = UART, SRC + 0x3000, _unit(h)
    uart = Uart(handshake, io, addr, baud=1, fifo=max(8, 2 * u), tx_channel=channel,
                tx_burst=u)
    check = PieceCheck(handshake.watch(channel, addr, "write"), uart.tx,
                       [u] * (2 * lanes // u), lanes)
    data = h.fill(src, 4 * lanes)
    h.add_error_window(src + 2 * lanes, src + 3 * lanes)
    await _start_paced(drv, channel, src, addr, 4 * lanes, burst=u, src_mode=Mode.INCR,
                       dst_mode=Mode.FIXED)
    await _expect_error(drv, channel, "READ_ERROR")
    await ClockCycles(h.clock, 50)
    check.finish()
    await _until(h, lambda: uart.tx.idle, "the UART to send")
    assert bytes(uart.tx.sent) == data[:2 * lanes]
    uart.check()
    await h.finish()
