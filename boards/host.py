"""The host side of the demo SoC: what ``hauler board`` does, over a serial port or in simulation.

The operations (peek, poke, load, dump, a register-mode copy, a descriptor chain, the self-test)
are written once, as *procedures*: generators that yield requests of
:mod:`hauler.boards.protocol` (:class:`~hauler.boards.protocol.Read`,
:class:`~hauler.boards.protocol.Write`) or :class:`Now`, and are sent back each request's
result (or have its :class:`~hauler.boards.protocol.ProtocolError` thrown in). They do no I/O
themselves. :class:`SerialLink` runs them on a board through pyserial (:func:`drive`); the
board simulation runs the very same procedures through a cocotb UART model
(:func:`drive_async`), so the simulation checks what the host tool does.

The DMA's registers are named as in :mod:`hauler.registers` and programmed with the field
helpers of :mod:`hauler.sim.driver`; descriptors are built, laid out and read back with
:mod:`hauler.sim.descriptors`, and results are checked against :mod:`hauler.sim.model`.
"""

import random
import time
from dataclasses import dataclass, field

from hauler import registers as regs
from hauler.descriptor import DESCRIPTOR_SIZE
from hauler.errors import ToolError
from hauler.sim.descriptors import Descriptor, read_status, write_chain
from hauler.sim.driver import ChannelStatus, Driver, decode, encode
from hauler.sim.model import apply_chain, apply_transfer

from .memory_map import (DMA_BASE, ERROR_BUS, ERROR_LINK, INFO_BASE, INFO_MAGIC, INFO_REGISTERS,
                         RAM_BASE)
from .protocol import (MAX_WORDS, TIMEOUT_BITS, BusError, FramingError, ProtocolError, Read,
                       Write)


__all__ = ["HostError", "CheckFailed", "Now", "drive", "drive_async", "SerialLink",
           "MemoryImage", "BoardFacts", "RunResult", "CheckReport", "peek", "poke",
           "read_words", "write_words", "dump", "load", "board_facts", "clear_errors",
           "run_copy", "run_chain", "copy_test", "chain_layout", "chain_test", "error_test",
           "memory_test", "selftest"]


#: A DMA run that has not ended after this long (in the link's seconds) is a failure.
RUN_TIMEOUT = 5.0
#: Bytes left untouched around each checked destination, to catch a write past its ends.
GUARD = 8
#: The board block's ERRORS flags by name, for messages.
_ERROR_NAMES = {ERROR_BUS: "BUS", ERROR_LINK: "LINK"}


class HostError(ToolError):
    """The board did not answer as the demo SoC does, or a run failed; one line."""


class CheckFailed(HostError):
    """What the board did differs from what the model says it should have done."""


@dataclass(frozen=True)
class Now:
    """A procedure's request for the time: the link answers with seconds (float) from a fixed
    origin: wall time on a board, simulated time in simulation."""


def drive(procedure, perform):
    """Run ``procedure`` to its end, performing each request it yields with ``perform``.

    Parameters
    ----------
    procedure : generator
        Yields :class:`~hauler.boards.protocol.Read`, :class:`~hauler.boards.protocol.Write`
        or :class:`Now`.
    perform : callable
        Takes a request, returns its result; a :class:`~hauler.boards.protocol.ProtocolError`
        it raises is thrown into the procedure.

    Returns
    -------
    What the procedure returns.
    """
    value, error = None, None
    while True:
        try:
            request = procedure.throw(error) if error else procedure.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            value = perform(request)
        except ProtocolError as e:
            error = e


async def drive_async(procedure, perform):
    """:func:`drive` with an ``async`` ``perform`` (the cocotb UART model's)."""
    value, error = None, None
    while True:
        try:
            request = procedure.throw(error) if error else procedure.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            value = await perform(request)
        except ProtocolError as e:
            error = e


class SerialLink:
    """The bridge on a serial port (pyserial).

    Opening it waits out the bridge's frame timeout and drops whatever the board had sent, so
    the first request starts a fresh frame whatever happened before.

    Parameters
    ----------
    port : str
        E.g. ``/dev/ttyUSB1`` (the iCEBreaker's second FTDI channel) or ``/dev/ttyUSB0``.
    baud : int
        The rate the bitstream was built for.
    answer_timeout : float
        Seconds to wait for an answer beyond the time its bytes take on the line.

    Raises
    ------
    HostError
        If the port cannot be opened.
    """

    def __init__(self, port, *, baud=115200, answer_timeout=1.0):
        import serial
        self.port, self.baud = port, baud
        self._answer_timeout = answer_timeout
        try:
            self._serial = serial.Serial(port, baud, timeout=answer_timeout,
                                         write_timeout=answer_timeout)
        except (serial.SerialException, ValueError) as e:
            raise HostError(f"cannot open {port}: {e}") from None
        self.resync()

    def close(self):
        self._serial.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def resync(self):
        """Wait longer than the bridge's frame timeout, then drop what was received."""
        time.sleep(2 * TIMEOUT_BITS / self.baud + 0.01)
        self._serial.reset_input_buffer()

    def _transact(self, request):
        # Ten bits per byte each way, and the answer timeout on top.
        line_time = 10 * (len(request.encode()) + request.response_bytes) / self.baud
        self._serial.timeout = line_time + self._answer_timeout
        self._serial.write(request.encode())
        raw = self._serial.read(request.response_bytes)
        if not raw:
            raise HostError(f"no answer from {self.port} within {self._serial.timeout:.1f} s: "
                            f"is the demo SoC's bitstream loaded, built for {self.baud} baud?")
        try:
            return request.decode(raw)
        except FramingError:
            self.resync()
            raise

    def perform(self, request):
        """Run one request; a read whose framing was lost is tried once more."""
        if isinstance(request, Now):
            return time.monotonic()
        try:
            return self._transact(request)
        except FramingError:
            if not isinstance(request, Read):
                raise
            return self._transact(request)

    def run(self, procedure):
        """:func:`drive` ``procedure`` on this link."""
        return drive(procedure, self.perform)


class MemoryImage:
    """What the host believes a range of memory holds, indexed by bus address.

    It is the ``memory`` of :func:`hauler.sim.descriptors.write_chain` and
    :func:`~hauler.sim.descriptors.read_status` (``write(addr, data)``, ``read(addr, n)``)
    and the ``memory`` of :mod:`hauler.sim.model` (:attr:`data`, a bytearray), and it
    remembers which ranges were written, so that they can be loaded into the board.

    Parameters
    ----------
    size : int
        Bytes from address 0.
    """

    def __init__(self, size):
        self.data = bytearray(size)
        self.written = []       # (addr, length) in the order written

    def write(self, addr, data):
        self.data[addr:addr + len(data)] = data
        self.written.append((addr, len(data)))

    def read(self, addr, n):
        return bytes(self.data[addr:addr + n])


@dataclass(frozen=True)
class BoardFacts:
    """What the board block and the DMA's global registers say about the build.

    Members
    -------
    ram_size, clk_hz, errors : int
    dma : dict of str to int
        CONFIG and PARAMS fields (``CHANNELS``, ``SG``, ``UNALIGNED``, ``MAX_BURST``, ...),
        and ``VERSION``.
    """
    ram_size: int
    clk_hz: int
    errors: int
    dma: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    """How a DMA run ended, and how long the host saw it last.

    Members
    -------
    status : hauler.sim.driver.ChannelStatus
    completed : int
        COMPLETED: transfers or descriptors.
    err_addr : int
        ERR_ADDR_LO.
    seconds : float
        From the START write to the STATUS read that found it idle, on the link's clock; at
        most one STATUS round trip (``seconds / polls``) more than the run itself.
    polls : int
        STATUS reads it took.
    """
    status: ChannelStatus
    completed: int
    err_addr: int
    seconds: float
    polls: int


# --- Words and bytes. -------------------------------------------------------------------------

def peek(addr):
    """The word at ``addr``."""
    words = yield Read(addr)
    return words[0]


def poke(addr, value):
    """Write ``value`` to the word at ``addr``."""
    yield Write(addr, [value])


def read_words(addr, count):
    """``count`` words from the word address ``addr``, in requests of up to
    :data:`~hauler.boards.protocol.MAX_WORDS`."""
    words = []
    while count:
        n = min(count, MAX_WORDS)
        words += yield Read(addr, n)
        addr, count = addr + 4 * n, count - n
    return words


def write_words(addr, words):
    """Write ``words`` from the word address ``addr`` on, in requests of up to
    :data:`~hauler.boards.protocol.MAX_WORDS`."""
    for i in range(0, len(words), MAX_WORDS):
        yield Write(addr + 4 * i, words[i:i + MAX_WORDS])


def _span(addr, length):
    first = addr & ~3
    return first, (addr + length + 3 & ~3) - first


def dump(addr, length):
    """``length`` bytes from ``addr`` (any alignment: whole words are read around them)."""
    if length <= 0:
        return b""
    first, span = _span(addr, length)
    words = yield from read_words(first, span // 4)
    raw = b"".join(w.to_bytes(4, "little") for w in words)
    return raw[addr - first:addr - first + length]


def load(addr, data):
    """Write the bytes ``data`` at ``addr`` (any alignment: partial words at the ends are read
    first and written back with the other bytes unchanged)."""
    data = bytes(data)
    if not data:
        return
    first, span = _span(addr, len(data))
    raw = bytearray(span)
    if addr != first:
        raw[:4] = yield from dump(first, 4)
    if (addr + len(data)) % 4:
        raw[-4:] = yield from dump(first + span - 4, 4)
    raw[addr - first:addr - first + len(data)] = data
    words = [int.from_bytes(raw[i:i + 4], "little") for i in range(0, span, 4)]
    yield from write_words(first, words)


# --- The board and the DMA controller. --------------------------------------------------------

def _dma(name, channel=None):
    return DMA_BASE + Driver.address(name, channel)


def _info(name):
    return INFO_BASE + INFO_REGISTERS[name]


def _errors_text(errors):
    return "+".join(name for bit, name in _ERROR_NAMES.items() if errors & bit) or "none"


def board_facts():
    """Read the board block and the DMA's global registers; check both are there.

    Raises
    ------
    HostError
        If the board block's MAGIC or the DMA's ID is wrong.
    """
    magic, ram_size, clk_hz, errors = yield Read(INFO_BASE, 4)
    if magic != INFO_MAGIC:
        raise HostError(f"the board block reads {magic:#010x} at {INFO_BASE:#x}, not "
                        f"{INFO_MAGIC:#010x}: this is not the Hauler demo SoC")
    ident, version, config, params = yield Read(_dma("ID"), 4)
    if ident != regs.ID_VALUE:
        raise HostError(f"the DMA's ID register reads {ident:#010x}, not {regs.ID_VALUE:#010x}")
    dma = {**decode("CONFIG", config, None), **decode("PARAMS", params, None),
           "VERSION": version}
    return BoardFacts(ram_size, clk_hz, errors, dma)


def clear_errors():
    """Clear the board block's ERRORS; return what they were."""
    errors = yield from peek(_info("ERRORS"))
    yield Write(_info("ERRORS"), [errors])
    return errors


def _arm(channel):
    # Every cause cleared and enabled: the irq LED lights when the run ends.
    everything = encode("IRQ_STATUS", channel, done=1, chain_end=1, error=1)
    yield Write(_dma("IRQ_STATUS", channel), [everything, everything])  # and IRQ_ENABLE


def _wait(channel, start, timeout):
    polls = 0
    while True:
        value = yield from peek(_dma("STATUS", channel))
        polls += 1
        now = yield Now()
        status = ChannelStatus.from_value(value)
        if not status.busy:
            break
        if now - start > timeout:
            raise HostError(f"channel {channel} still busy {now - start:.1f} s after START")
    completed = yield from peek(_dma("COMPLETED", channel))
    err_addr = yield from peek(_dma("ERR_ADDR_LO", channel))
    return RunResult(status, completed, err_addr, now - start, polls)


def run_copy(src, dst, length, *, channel=0, timeout=RUN_TIMEOUT):
    """A register-mode copy: program SRC, DST, LEN and XFER, START, poll STATUS until idle.

    Returns
    -------
    RunResult
    """
    yield from _arm(channel)
    # SRC_LO, SRC_HI, DST_LO, DST_HI, LEN, XFER are consecutive: one request.
    yield Write(_dma("SRC_LO", channel),
                [src, 0, dst, 0, length, encode("XFER", channel, src_mode=0, dst_mode=0)])
    start = yield Now()
    yield Write(_dma("CTRL", channel), [encode("CTRL", channel, start=1)])
    return (yield from _wait(channel, start, timeout))


def run_chain(first, *, channel=0, timeout=RUN_TIMEOUT):
    """A scatter-gather run from the descriptor at ``first``: DESC, then SG and START in one
    CTRL write, poll STATUS until idle.

    Returns
    -------
    RunResult
    """
    yield from _arm(channel)
    yield Write(_dma("DESC_LO", channel), [first, 0])
    start = yield Now()
    yield Write(_dma("CTRL", channel), [encode("CTRL", channel, start=1, sg=1)])
    return (yield from _wait(channel, start, timeout))


# --- Checked operations. ----------------------------------------------------------------------

def _duration(seconds):
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


@dataclass(frozen=True)
class CheckReport:
    """A checked operation's figures, in the link's seconds (wall time on a board, simulated
    time in simulation).

    Members
    -------
    what : str
    bytes : int
        Bytes the DMA moved.
    loaded, load_seconds : int, float
        Bytes loaded over the bridge before the run, and how long that took.
    dumped, dump_seconds : int, float
        Bytes read back after it, and how long that took.
    run : RunResult
    """
    what: str
    bytes: int
    loaded: int
    load_seconds: float
    dumped: int
    dump_seconds: float
    run: RunResult

    def format(self):
        """Three lines: the check, the bridge's throughput, what the host saw of the run. The
        host cannot time the DMA itself: it only sees STATUS over the UART."""
        run = self.run
        rates = [f"{n} bytes in {_duration(t)} ({n / t / 1e3:.1f} kB/s)"
                 for n, t in ((self.loaded, self.load_seconds), (self.dumped, self.dump_seconds))]
        return (f"{self.what}: OK\n"
                f"  over the UART: loaded {rates[0]}, read back {rates[1]}\n"
                f"  the DMA: idle at STATUS read {run.polls}, {_duration(run.seconds)} after the "
                f"START write ({_duration(run.seconds / run.polls)} per STATUS read: the host "
                f"sees no finer)")


def _load_image(image):
    for addr, length in image.written:
        yield from load(addr, image.data[addr:addr + length])


def _compare(image, addr, length, what):
    """Read ``length`` bytes at ``addr`` back; raise :class:`CheckFailed` on a difference."""
    got = yield from dump(addr, length)
    want = image.read(addr, length)
    if got != want:
        at = next(i for i in range(length) if got[i] != want[i])
        raise CheckFailed(f"{what}: byte at {addr + at:#x} is {got[at]:#04x}, expected "
                          f"{want[at]:#04x}")


def _expect_done(run, what):
    if not run.status.done or run.status.error:
        raise CheckFailed(f"{what}: the channel ended with STATUS {run.status} "
                          f"(ERR_ADDR {run.err_addr:#x})")


def copy_test(src, dst, length, *, channel=0, seed=1, ram_size=None):
    """Load random bytes at ``src`` and a filler around ``dst``, copy with the DMA in register
    mode, read ``dst`` back with at least :data:`GUARD` bytes either side and compare with
    the model (:func:`hauler.sim.model.apply_transfer`).

    Returns
    -------
    CheckReport

    Raises
    ------
    ValueError
        If the source and the destination overlap (the DMA does not promise a memmove).
    CheckFailed
        If the run ended badly or memory differs from the model.
    """
    if src < dst + length and dst < src + length:
        raise ValueError(f"source {src:#x} and destination {dst:#x} of {length} bytes overlap")
    rng = random.Random(seed)
    size = max(src, dst) + length + GUARD + 4
    image = MemoryImage(size if ram_size is None else max(size, ram_size))
    # Whole words around both buffers are loaded, so that no word is read before it is
    # written (a fresh SPRAM's contents are undefined).
    lo, hi = max(dst - GUARD, 0) & ~3, (dst + length + GUARD + 3) & ~3
    image.write(lo, bytes(0xA5 for _ in range(hi - lo)))
    first, last = src & ~3, (src + length + 3) & ~3
    image.write(first, rng.randbytes(last - first))
    t0 = yield Now()
    yield from _load_image(image)
    t1 = yield Now()
    run = yield from run_copy(src, dst, length, channel=channel)
    what = f"copy of {length} bytes {src:#x} -> {dst:#x} on channel {channel}"
    _expect_done(run, what)
    apply_transfer(image.data, src, dst, length, beat_bytes=4)
    t2 = yield Now()
    yield from _compare(image, lo, hi - lo, what)
    t3 = yield Now()
    return CheckReport(what, length, sum(n for _, n in image.written), t1 - t0, hi - lo,
                       t3 - t2, run)


def chain_layout(base, lengths, *, unaligned):
    """Where :func:`chain_test` puts its descriptors and buffers, from ``base`` up.

    Returns
    -------
    (list of int, list of (int, int, int), int)
        Descriptor addresses, (src, dst, length) of each, and the end of the area used. The
        sources are gathered from several places and scattered to destinations in reverse
        order; with ``unaligned`` the buffers start at odd byte offsets.
    """
    n = len(lengths)
    descs = [base + i * DESCRIPTOR_SIZE for i in range(n)]
    at = base + n * DESCRIPTOR_SIZE
    sources = []
    for i, length in enumerate(lengths):
        offset = (i * 3 + 1) % 4 if unaligned else 0
        sources.append(at + offset)
        at += (offset + length + 3) & ~3
    at += GUARD
    dests = [0] * n
    for i in reversed(range(n)):        # the last transfer's destination first
        offset = (i * 2 + 3) % 4 if unaligned else 0
        dests[i] = at + offset
        at += (offset + lengths[i] + GUARD + 3) & ~3
    return descs, list(zip(sources, dests, lengths)), at


def chain_test(base, lengths, *, channel=0, seed=2, unaligned=False):
    """A descriptor chain: ``len(lengths)`` descriptors at ``base``, each moving random bytes
    to its own destination (:func:`chain_layout`). The whole area is loaded (so memory is
    known everywhere in it), the chain is run, and the whole area is read back and compared
    with :func:`hauler.sim.model.apply_chain`: the data, every descriptor's write-back, and
    nothing written anywhere else. Each write-back is also decoded with
    :func:`hauler.sim.descriptors.read_status` and must say DONE with BYTES = LEN.

    Returns
    -------
    CheckReport

    Raises
    ------
    CheckFailed
    """
    rng = random.Random(seed)
    descs, transfers, end = chain_layout(base, lengths, unaligned=unaligned)
    image = MemoryImage(end)
    image.write(base, bytes(0xA5 for _ in range(end - base)))
    for src, _, length in transfers:
        image.write(src, rng.randbytes(length))
    write_chain(image, descs, [Descriptor(src, dst, length, irq=1)
                               for src, dst, length in transfers])
    # One load of the whole area: it was all written above.
    image.written = [(base, end - base)]
    t0 = yield Now()
    yield from _load_image(image)
    t1 = yield Now()
    run = yield from run_chain(descs[0], channel=channel)
    what = f"chain of {len(lengths)} descriptors at {base:#x} on channel {channel}"
    _expect_done(run, what)
    if run.completed != len(lengths):
        raise CheckFailed(f"{what}: COMPLETED is {run.completed}, expected {len(lengths)}")
    outcome = apply_chain(image.data, descs[0], beat_bytes=4)
    t2 = yield Now()
    got = MemoryImage(end)
    got.write(base, (yield from dump(base, end - base)))
    t3 = yield Now()
    for addr, (_, _, length) in zip(descs, transfers):
        status = read_status(got, addr)
        if not status.done or status.error or status.bytes != length:
            raise CheckFailed(f"{what}: descriptor {addr:#x} wrote back {status}, expected "
                              f"DONE with {length} bytes")
    if got.data[base:] != image.data[base:]:
        at = next(i for i in range(base, end) if got.data[i] != image.data[i])
        raise CheckFailed(f"{what}: byte at {at:#x} is {got.data[at]:#04x}, expected "
                          f"{image.data[at]:#04x} (model: {outcome.end})")
    return CheckReport(what, sum(lengths), end - base, t1 - t0, end - base, t3 - t2, run)


def error_test(*, channel=0, unmapped=0x8000_0000):
    """Bus errors end cleanly and are reported: the bridge's own read of an unmapped address
    answers with a bus error, and a DMA copy from one ends with READ_ERROR at that address;
    both raise the board block's BUS flag, which is then cleared.

    Returns
    -------
    str
        A line saying what was seen.

    Raises
    ------
    CheckFailed
    """
    yield from clear_errors()
    try:
        yield from peek(unmapped)
    except BusError:
        pass
    else:
        raise CheckFailed(f"reading {unmapped:#x} over the bridge did not end with a bus error")
    run = yield from run_copy(unmapped, RAM_BASE, 16, channel=channel)
    status = run.status
    if not status.error or status.err_code != "READ_ERROR" or run.err_addr != unmapped:
        raise CheckFailed(f"a copy from {unmapped:#x} ended with {status} at ERR_ADDR "
                          f"{run.err_addr:#x}, expected READ_ERROR at {unmapped:#x}")
    errors = yield from clear_errors()
    if errors != ERROR_BUS:
        raise CheckFailed(f"ERRORS read {_errors_text(errors)} after two bus errors, "
                          f"expected BUS")
    left = yield from peek(_info("ERRORS"))
    if left:
        raise CheckFailed(f"ERRORS still reads {_errors_text(left)} after clearing")
    return (f"bus errors: the bridge's read of {unmapped:#x} failed, the DMA stopped with "
            f"READ_ERROR at {run.err_addr:#x}, the BUS flag was raised and cleared: OK")


def memory_test(ram_size, *, block=256, seed=3):
    """Write random words at the start, the middle and the end of RAM, read them back.

    Returns
    -------
    str
    """
    rng = random.Random(seed)
    places = sorted({RAM_BASE, RAM_BASE + ram_size // 2 - block // 2,
                     RAM_BASE + ram_size - block})
    for addr in places:
        data = rng.randbytes(block)
        yield from load(addr, data)
        got = yield from dump(addr, block)
        if got != data:
            at = next(i for i in range(block) if got[i] != data[i])
            raise CheckFailed(f"memory test: byte at {addr + at:#x} reads {got[at]:#04x}, "
                              f"wrote {data[at]:#04x}")
    return f"memory: {block} bytes at {', '.join(f'{a:#x}' for a in places)} read back: OK"


def selftest(*, length=4096, report=print):
    """Everything, on every channel: the board block, memory, a register-mode copy, a chain
    (when SG is built), the bus-error path. ``report`` gets a line per step.

    Raises
    ------
    HostError, CheckFailed
        At the first step that fails.
    """
    facts = yield from board_facts()
    dma = facts.dma
    report(f"board: {facts.ram_size // 1024} KiB RAM, {facts.clk_hz / 1e6:g} MHz; DMA "
           f"v{dma['VERSION'] >> 24}: {dma['CHANNELS']} channels, bursts of "
           f"{dma['MAX_BURST']}, SG {dma['SG']}, unaligned {dma['UNALIGNED']}; ERRORS "
           f"{_errors_text(facts.errors)} (cleared)")
    yield from clear_errors()
    report((yield from memory_test(facts.ram_size)))
    length = min(length, facts.ram_size // 4)
    unaligned = bool(dma["UNALIGNED"])
    src, dst = RAM_BASE + 64, RAM_BASE + facts.ram_size // 2 + 64
    if unaligned:
        # Odd addresses and length: the realigner's partial first and last words.
        src, dst, length = src + 1, dst + 3, length - 5
    for channel in range(dma["CHANNELS"]):
        result = yield from copy_test(src, dst, length, channel=channel, seed=channel)
        report(result.format())
        if dma["SG"]:
            lengths = [60, 200, 36] if not unaligned else [61, 203, 37]
            result = yield from chain_test(RAM_BASE + facts.ram_size // 4, lengths,
                                           channel=channel, seed=10 + channel,
                                           unaligned=unaligned)
            report(result.format())
    report((yield from error_test()))
