"""Peripherals paced by the req/ack handshake (ABI §5), and the rules they check.

A DMA peripheral is a data register at a FIXED bus address plus a request line: it raises
``req[n]`` while it can take (or give) a chunk of REQ_BURST bytes, and the controller moves
one chunk per request and answers with a one-cycle ``ack[n]``. The pieces here:

- :class:`IoRegisters` puts device registers into the address space of a memory model of
  :mod:`hauler.sim.memory`: every bus beat to a register word reaches the device at the
  moment the memory performs it (a read pops the device's FIFO, a write pushes into it,
  with its byte strobes), and the memory's own bytes there never change.
- :class:`Handshake` is the controller's ``req``/``ack`` ports: once a cycle it samples
  ``ack``, lets each device move on by a cycle and drives ``req`` from what the devices
  want. It also watches the master bus: a :class:`PieceMonitor` per channel checks that
  the device's register is touched only inside a req..ack window, that every piece is
  acknowledged once it is wholly done, and records each piece.
- The devices: :class:`Uart` (a serial port with a tiny transmit and receive FIFO, one byte
  every ``baud`` cycles) and :class:`BlockDevice` (a disk-like controller that streams
  fixed-size sectors through a full-width FIFO register, in either direction).

A device that is written when full or read when empty (or otherwise used against its
rules) fails the running test at once, naming the cycle; every violation is also kept in
its ``violations``. The rules and their reasons are in docs/peripherals.md.
"""

import logging
import random
import weakref

import cocotb
from cocotb.simtime import get_sim_time
from cocotb.triggers import RisingEdge

from .signals import reader


__all__ = ["idle_inputs", "pieces", "IoRegisters", "Handshake", "PieceMonitor", "Window",
           "Uart", "UartTransmitter", "UartReceiver", "BlockDevice"]


def idle_inputs(dut, config):
    """Drive the controller's ``req`` low, and its stream inputs idle when streams are built
    (``s_axis`` valid low, ``m_axis`` ready low).

    Call it before :meth:`hauler.sim.harness.Harness.create`, so that no input is X or Z
    while the controller leaves reset; a :class:`Handshake` drives ``req`` afterwards.
    """
    dut.req.value = 0
    if config.streams:
        for n in range(config.channels):
            for name in ("tvalid", "tdata", "tkeep", "tlast"):
                getattr(dut, f"s_axis{n}__{name}").value = 0
            getattr(dut, f"m_axis{n}__tready").value = 0


def pieces(length, burst):
    """The pieces a paced transfer of ``length`` bytes moves: REQ_BURST (``burst``) bytes
    each, the last one possibly shorter.

    Raises
    ------
    ValueError
        If ``length`` or ``burst`` is not positive.
    """
    if length < 1 or burst < 1:
        raise ValueError(f"length and burst must be positive, not {length} and {burst}")
    return [burst] * (length // burst) + ([length % burst] if length % burst else [])


class _Violations:
    """Failing the test from whatever coroutine noticed: log, keep, raise."""

    def _init_violations(self, name):
        self.name = name
        self.violations = []
        self.log = logging.getLogger(f"cocotb.peripheral.{name}")

    def _violation(self, message):
        try:
            time_ns = get_sim_time("ns")
        except RuntimeError:                # outside a simulation: a unit test of a model
            time_ns = None
        self.violations.append((time_ns, message))
        self.log.error("%s: %s (at %s ns)", self.name, message, time_ns)
        raise AssertionError(f"{self.name}: {message} (at {time_ns} ns)")

    def check(self):
        """Raise :class:`AssertionError` listing every violation seen."""
        if self.violations:
            raise AssertionError(f"{self.name}: " + "; ".join(
                f"{t} ns: {m}" for t, m in self.violations))


# --- Registers inside a memory model ------------------------------------------------------

class _WriteTap(list):
    # The memory appends (word address, strobes) to its ``bus_writes`` after each bus write
    # beat; this list still records them, and hands beats to register words to the device.
    def __init__(self, registers):
        super().__init__()
        self._registers = registers

    def append(self, beat):
        super().append(beat)
        self._registers._written(*beat)


_ATTACHED = weakref.WeakKeyDictionary()


class IoRegisters:
    """Device registers in the address space of a memory model (:class:`AxiMemory` or
    :class:`WishboneMemory` of :mod:`hauler.sim.memory`).

    A register occupies one whole bus word. A bus read of it returns what the device's
    ``read()`` gives, at the moment the memory performs the read (for AXI4, when it
    computes the beat; for Wishbone, when it takes the strobe); a bus write calls the
    device's ``write(data, strobes)`` once per beat, after the memory took it, with the
    word's bytes (lanes without a strobe are 0) and the byte strobes, a zero strobe
    included. The memory's own bytes at a register never change, so a snapshot of the
    whole memory compares as if the register were not there.

    How: the memory models have no I/O hook, so this wraps the model instance's ``read``
    and ``write`` (both bus paths call them per beat) and replaces its ``bus_writes`` log
    by a list that also delivers each beat's strobes (it keeps recording every beat; do not
    replace ``bus_writes`` while registers are attached). Consequences: a backdoor
    ``read(addr, n)`` of exactly a register word is a device read; a backdoor write over a
    register word leaves the word alone (the rest is written).

    Parameters
    ----------
    memory : AxiMemory or WishboneMemory
    lanes : int
        Bytes per bus word (``config.beat_bytes``).

    Raises
    ------
    ValueError
        If ``memory`` already has registers attached.
    """

    def __init__(self, memory, lanes):
        if memory in _ATTACHED:
            raise ValueError("memory already has IoRegisters attached: use that one")
        _ATTACHED[memory] = self
        self.lanes = lanes
        self._handlers = {}                 # word address -> (read, write)
        self._pending = bytearray(lanes)    # the bytes of the beat being written
        self._plain_read, self._plain_write = memory.read, memory.write
        memory.read, memory.write = self._read, self._write
        memory.bus_writes = _WriteTap(self)

    def add(self, addr, *, read=None, write=None):
        """Map a register at ``addr`` (word aligned): ``read() -> bytes`` (at most ``lanes``
        bytes, padded with zeros) for bus reads, ``write(data, strobes)`` for bus writes.
        An access without a handler fails the test. Mapping an address again replaces its
        handlers.

        Raises
        ------
        ValueError
            If ``addr`` is not a multiple of ``lanes``.
        """
        if addr % self.lanes:
            raise ValueError(f"addr must be a multiple of lanes ({self.lanes}), not {addr:#x}")
        self._handlers[addr] = (read, write)

    def remove(self, addr):
        """Unmap the register at ``addr``: the word is plain memory again."""
        del self._handlers[addr]

    def _read(self, addr, n):
        handlers = self._handlers.get(addr) if n == self.lanes else None
        if handlers is None:
            return self._plain_read(addr, n)
        if handlers[0] is None:
            raise AssertionError(f"bus read of the write-only register at {addr:#x}")
        return bytes(handlers[0]()).ljust(self.lanes, b"\0")

    def _write(self, addr, data):
        end = addr + len(data)
        hits = sorted(w for w in self._handlers if w < end and addr < w + self.lanes)
        if not hits:
            self._plain_write(addr, data)
        elif len(hits) == 1 and hits[0] <= addr and end <= hits[0] + self.lanes:
            # Part of a bus beat to the register (one run of strobed lanes).
            self._pending[addr - hits[0]:end - hits[0]] = bytes(data)
        else:
            data, pos = bytes(data), addr
            for word in hits:
                if pos < word:
                    self._plain_write(pos, data[pos - addr:word - addr])
                pos = max(pos, word + self.lanes)
            if pos < end:
                self._plain_write(pos, data[pos - addr:])

    def _written(self, word, strobes):
        handlers = self._handlers.get(word)
        if handlers is None:
            return
        data, self._pending = bytes(self._pending), bytearray(self.lanes)
        if handlers[1] is None:
            raise AssertionError(f"bus write of the read-only register at {word:#x}")
        handlers[1](data, strobes)


# --- The handshake and its monitors -------------------------------------------------------

class Window:
    """One piece as the bus and the handshake showed it.

    Members
    -------
    first : int
        Cycle of the piece's first access to the register (AXI4: AR or AW handshake;
        Wishbone: the strobe taken).
    ack : int
        Cycle of the ``ack`` pulse that ended it.
    beats : int
        Data beats that touched the register.
    gap : int or None
        ``first`` minus the cycle of the previous ``ack`` (None for the first piece).
    quiet : int
        Cycles in which ``req`` was low between the previous ``ack`` (and the two cycles
        after it that the controller ignores) and ``first``.
    held : int
        In how many of the two cycles that the controller ignores (the ``ack`` cycle and
        the next) ``req`` was high.
    """

    __slots__ = ("first", "ack", "beats", "gap", "quiet", "held")

    def __init__(self, first, gap, quiet):
        self.first, self.gap, self.quiet = first, gap, quiet
        self.ack, self.beats, self.held = None, 0, 0

    def __repr__(self):
        return (f"Window(first={self.first}, ack={self.ack}, beats={self.beats}, "
                f"gap={self.gap}, quiet={self.quiet}, held={self.held})")


class PieceMonitor(_Violations):
    """Checks one channel's pieces against the register of its peripheral (ABI §5).

    Made by :meth:`Handshake.watch`. Cycles are counted by the :class:`Handshake`. Rules:

    - An access of the watched kind to the register (a read for a peripheral the channel
      reads from, a write for one it writes to) is allowed only inside a piece: after a
      cycle in which ``req`` was high and which is at least 2 cycles after the previous
      ``ack`` (the controller ignores ``req`` in the ``ack`` cycle and the one after),
      and before the ``ack`` that ends the piece. So a piece's first access comes at
      least 3 cycles after the previous ``ack``.
    - ``ack`` is high for one cycle at a time, only after a piece touched the register,
      and only when none of the piece's register accesses is still unanswered (its reads
      returned, its writes acknowledged).

    Members
    -------
    windows : list of Window
        Every piece acknowledged so far, in order.
    acks : int
        ``ack`` pulses seen.
    on_ack : list of callables
        Each is called as ``f(window)`` at every ``ack``, after the window was recorded
        (the device's state then is the state after the piece); an AssertionError it
        raises fails the test.
    """

    def __init__(self, channel, addr, kind):
        if kind not in ("read", "write"):
            raise ValueError(f"kind must be 'read' or 'write', not {kind!r}")
        self._init_violations(f"PieceMonitor(channel {channel}, {kind} {addr:#x})")
        self.channel, self.addr, self.kind = channel, addr, kind
        self.windows, self.acks, self.on_ack = [], 0, []
        self._open = None           # the Window of the piece under way
        self._last_ack = None       # cycle of the latest ack
        self._asked = False         # req high in a cycle that counts since the latest ack
        self._quiet = 0             # cycles of req low since the latest ack
        self._outstanding = 0       # register accesses not yet answered
        self._ack_before = False    # ack was high in the previous cycle
        self._ignoring = None       # the window acknowledged in the previous cycle

    @property
    def in_piece(self):
        """A piece has touched the register and is not yet acknowledged."""
        return self._open is not None

    def _access(self, cycle, beats):
        if self._open is None:
            if not self._asked:
                since = "the start" if self._last_ack is None else f"the ack at {self._last_ack}"
                self._violation(f"{self.kind} of the register at cycle {cycle} outside a "
                                f"req..ack window (req not high since {since} and its 2 "
                                f"ignored cycles)")
            gap = None if self._last_ack is None else cycle - self._last_ack
            self._open = Window(cycle, gap, self._quiet)
        self._open.beats += beats
        self._outstanding += 1

    def _answered(self):
        self._outstanding -= 1

    def _cycle(self, cycle, req, ack):
        if ack:
            if self._ack_before:
                self._violation(f"ack high in cycles {cycle - 1} and {cycle}")
            if self._open is None:
                self._violation(f"ack at cycle {cycle} without an access to the register "
                                f"since the previous one")
            if self._outstanding:
                self._violation(f"ack at cycle {cycle} with {self._outstanding} register "
                                f"access(es) of the piece unanswered")
            window, self._open = self._open, None
            window.ack, window.held = cycle, req
            self.windows.append(window)
            self.acks += 1
            self._last_ack, self._asked, self._quiet = cycle, False, 0
            for callback in self.on_ack:
                callback(window)
            self._ignoring = window
        elif self._ignoring is not None:
            self._ignoring.held += req
            self._ignoring = None
        elif self._last_ack is None or cycle >= self._last_ack + 2:
            if req:
                self._asked = True
            elif self._open is None:
                self._quiet += 1
        self._ack_before = ack


class Handshake(_Violations):
    """The controller's ``req`` and ``ack`` ports, for the devices of this module.

    At every rising clock edge (reset low) it reads what the cycle that just ended showed:
    ``ack``, the register accesses on the master bus; then it steps every attached device
    by one cycle (``ack`` included) and drives ``req`` for the next cycle from the devices'
    ``req``. So a device's ``req`` changes right after a clock edge, like a register.

    Parameters
    ----------
    dut : cocotb handle
        The controller, with ports ``req``, ``ack``, ``rst`` and its master bus.
    clock : cocotb handle
    config : hauler.Config

    Members
    -------
    cycle : int
        Clock edges since the handshake started (reset edges not counted).
    acks : list of int
        ``ack`` pulses per channel.
    """

    def __init__(self, dut, clock, config):
        self._init_violations("Handshake")
        self._dut, self._clock, self._config = dut, clock, config
        self._req_port, self._ack, self._rst = dut.req, reader(dut.ack), reader(dut.rst)
        self.cycle = 0
        self.acks = [0] * config.channels
        self._devices = {}          # channel -> device
        self._monitors = {}         # channel -> PieceMonitor
        self._watched = {}          # (word address, kind) -> PieceMonitor
        self._driven = 0
        self._req_port.value = 0
        self._reads, self._writes = [], []      # accesses awaiting their answer, in order
        if config.master == "axi4":
            p = "m_axi"
            self._axi = {name: reader(getattr(dut, f"{p}__{name}")) for name in (
                "arvalid", "arready", "araddr", "arlen", "arsize", "arburst",
                "awvalid", "awready", "awaddr", "awlen", "awsize", "awburst",
                "rvalid", "rready", "rlast", "bvalid", "bready")}
        else:
            p = "m_wb"
            self._wb = {name: reader(getattr(dut, f"{p}__{name}")) for name in (
                "cyc", "stb", "stall", "we", "adr", "ack", "err")}
        cocotb.start_soon(self._run())

    def attach(self, channel, device):
        """Let ``device`` drive ``req[channel]`` (replacing the device there before)."""
        self._check_channel(channel)
        self._devices[channel] = device

    def detach(self, channel):
        """``req[channel]`` goes low and stays low."""
        self._devices.pop(channel, None)

    def watch(self, channel, addr, kind):
        """A new :class:`PieceMonitor` of ``channel``'s pieces on the register at ``addr``
        (a bus word address), which the channel reads (``kind="read"``) or writes
        (``"write"``); it replaces the channel's previous monitor."""
        self._check_channel(channel)
        old = self._monitors.pop(channel, None)
        if old is not None:
            del self._watched[old.addr, old.kind]
        monitor = PieceMonitor(channel, addr, kind)
        self._monitors[channel] = monitor
        self._watched[addr, kind] = monitor
        return monitor

    def _check_channel(self, channel):
        if not 0 <= channel < self._config.channels:
            raise ValueError(f"channel must be 0..{self._config.channels - 1}, not {channel}")

    def _touched(self, kind, addr, beats, size, burst):
        """The monitor of the register a burst touches, and the beats that touch it."""
        step = 1 << size
        addr -= addr % step
        lanes = self._config.beat_bytes
        for (word, watched_kind), monitor in self._watched.items():
            if watched_kind != kind:
                continue
            if burst == 0:                                  # FIXED
                if addr - addr % lanes == word:
                    return monitor, beats
            elif addr < word + lanes and word < addr + beats * step:
                return monitor, 1
        return None, 0

    def _watch_axi(self, cycle):
        s = self._axi
        for kind, ch, queue in (("read", "ar", self._reads), ("write", "aw", self._writes)):
            if s[f"{ch}valid"]() == "1" and s[f"{ch}ready"]() == "1":
                monitor, beats = self._touched(
                    kind, int(s[f"{ch}addr"](), 2), int(s[f"{ch}len"](), 2) + 1,
                    int(s[f"{ch}size"](), 2), int(s[f"{ch}burst"](), 2))
                if monitor is not None:
                    monitor._access(cycle, beats)
                queue.append(monitor)
        # The memory answers reads and writes in order (one ID per direction).
        if s["rvalid"]() == "1" and s["rready"]() == "1" and s["rlast"]() == "1":
            monitor = self._reads.pop(0)
            if monitor is not None:
                monitor._answered()
        if s["bvalid"]() == "1" and s["bready"]() == "1":
            monitor = self._writes.pop(0)
            if monitor is not None:
                monitor._answered()

    def _watch_wb(self, cycle):
        s = self._wb
        if s["cyc"]() != "1":
            self._reads.clear()
            return
        if s["ack"]() == "1" or s["err"]() == "1":
            monitor = self._reads.pop(0)
            if monitor is not None:
                monitor._answered()
        if s["stb"]() == "1" and s["stall"]() == "0":
            kind = "write" if s["we"]() == "1" else "read"
            word = int(s["adr"](), 2) << self._config.beat_shift
            monitor = self._watched.get((word, kind))
            if monitor is not None:
                monitor._access(cycle, 1)
            self._reads.append(monitor)         # Wishbone: one queue of requests

    async def _run(self):
        edge = RisingEdge(self._clock)
        watch = self._watch_axi if self._config.master == "axi4" else self._watch_wb
        while True:
            await edge
            if self._rst() != "0":
                self._reads.clear()
                self._writes.clear()
                continue
            self.cycle += 1
            cycle = self.cycle
            sampled = self._ack()
            if "x" in sampled or "z" in sampled:
                self._violation(f"ack is {sampled} at cycle {cycle}")
            ack = int(sampled, 2)
            if self._watched:
                watch(cycle)
            for channel, monitor in self._monitors.items():
                monitor._cycle(cycle, self._driven >> channel & 1, ack >> channel & 1)
            req = 0
            for channel in range(self._config.channels):
                acked = ack >> channel & 1
                self.acks[channel] += acked
                device = self._devices.get(channel)
                if device is not None:
                    device._edge(cycle, acked)
                    req |= int(device.req) << channel
            if req != self._driven:
                self._req_port.value = self._driven = req


# --- Devices ------------------------------------------------------------------------------

class _Device(_Violations):
    """A device on one request line: every cycle it moves on (:meth:`_step`) and sets
    ``req`` to what it wants (:meth:`_want`).

    A ``lazy`` device is as slow as the ABI allows: once it raised ``req`` it keeps it high
    until the cycle after the next ``ack``, and only then follows :meth:`_want` again. The
    controller ignores ``req`` in exactly those two cycles, so a lazy device that has
    nothing more to offer must not get another piece.

    Parameters
    ----------
    name : str
        For messages.
    handshake : Handshake or None
        Where to attach (None: a device stepped by hand, in a unit test).
    channel : int or None
    lazy : bool

    Members
    -------
    req : bool
        What the device drives for the next cycle.
    cycle : int
        The cycle it was last stepped in (the handshake's count).
    moved : int
        Bytes through the data register.
    lazy : bool
    violations : list of (time in ns, message)
    """

    def __init__(self, name, handshake, channel, *, lazy):
        self._init_violations(name)
        self.req = False
        self.cycle = 0
        self.moved = 0
        self.lazy = lazy
        self._acked = False         # a lazy device saw an ack and reacts in the next cycle
        if handshake is not None and channel is not None:
            handshake.attach(channel, self)

    def _edge(self, cycle, ack):
        """One clock edge: ``ack`` is what the cycle that just ended showed."""
        self.cycle = cycle
        self._step()
        want = self._want()
        if not self.lazy or not self.req or self._acked:
            self.req = want
        self._acked = bool(ack) and self.lazy

    def _step(self):
        """Move the device on by one clock cycle."""

    def _want(self):
        raise NotImplementedError


class UartTransmitter(_Device):
    """The transmit half of :class:`Uart`: a FIFO the DMA writes into, drained onto the
    line at one byte every ``baud`` cycles.

    ``req`` is high while the FIFO has room for ``burst`` bytes. A bus write to the data
    register pushes its strobed bytes, which must be a run from lane 0 (the piece's bytes
    start at lane 0 of a FIXED register); a write with no strobe, with strobes not a run
    from lane 0, or with more bytes than the FIFO has room for fails the test.

    Members
    -------
    sent : bytearray
        What went out on the line.
    fifo : bytearray
        What waits to be sent.
    moved : int
        Bytes written into the data register.
    """

    def __init__(self, handshake, channel, *, baud, fifo, burst, lazy=False):
        super().__init__(f"UartTransmitter(channel {channel})", handshake, channel, lazy=lazy)
        self.baud, self.depth, self.burst = baud, fifo, burst
        self.fifo, self.sent = bytearray(), bytearray()
        self._shifting = None       # (byte, cycles left)

    def write_register(self, data, strobes):
        n = strobes.bit_length()
        if strobes == 0:
            self._violation(f"a write to the data register with no byte strobe, cycle "
                            f"{self.cycle}")
        if strobes != (1 << n) - 1:
            self._violation(f"write strobes {strobes:#x} are not a run from lane 0, cycle "
                            f"{self.cycle}")
        if len(self.fifo) + n > self.depth:
            self._violation(f"overflow: {n} byte(s) written with {len(self.fifo)} of "
                            f"{self.depth} held, cycle {self.cycle}")
        self.fifo += data[:n]
        self.moved += n

    def _step(self):
        if self._shifting is not None:
            byte, left = self._shifting
            if left > 1:
                self._shifting = (byte, left - 1)
                return
            self.sent.append(byte)
            self._shifting = None
        if self.fifo:
            self._shifting = (self.fifo.pop(0), self.baud)

    def _want(self):
        return self.depth - len(self.fifo) >= self.burst

    @property
    def idle(self):
        """Nothing in the FIFO or on the line."""
        return not self.fifo and self._shifting is None


class UartReceiver(_Device):
    """The receive half of :class:`Uart`: bytes arrive from the line into a FIFO, one every
    ``baud`` cycles while it has room (RTS/CTS flow control: the far end waits when the
    FIFO is full, so nothing is lost however slow the DMA is), and the DMA reads them.

    ``req`` is high while the FIFO holds ``burst`` bytes, or holds any byte and the line
    has nothing more to deliver (what a real UART's receive timeout does at the end of a
    message). A bus read of the data register returns up to ``burst`` bytes from lane 0
    (``burst`` is the register's width, at most a bus word of ``lanes`` bytes) and pops
    them; the other lanes are random, so a controller that used them would be caught. A read when the FIFO is empty, or holds fewer than ``burst`` bytes while
    more are still to come, is an underflow and fails the test.

    Members
    -------
    fifo : bytearray
        What was received and not yet read.
    line : bytearray
        What is still to arrive (see :meth:`receive`).
    moved : int
        Bytes read from the data register.
    """

    def __init__(self, handshake, channel, *, baud, fifo, burst, lanes, lazy=False, seed=0):
        super().__init__(f"UartReceiver(channel {channel})", handshake, channel, lazy=lazy)
        self.baud, self.depth, self.burst, self.lanes = baud, fifo, burst, lanes
        self.fifo, self.line = bytearray(), bytearray()
        self._rng = random.Random(seed)
        self._wait = baud

    def receive(self, data):
        """Queue ``data`` on the line: it arrives one byte every ``baud`` cycles."""
        self.line += data

    def read_register(self):
        held = len(self.fifo)
        if held == 0 or (held < self.burst and self.line):
            self._violation(f"underflow: a read of {self.burst} byte(s) with {held} held and "
                            f"{len(self.line)} still to arrive, cycle {self.cycle}")
        n = min(held, self.burst)
        data = bytes(self.fifo[:n])
        del self.fifo[:n]
        self.moved += n
        return data + self._rng.randbytes(self.lanes - n)

    def _step(self):
        if self._wait > 1:
            self._wait -= 1
        elif self.line and len(self.fifo) < self.depth:
            self.fifo.append(self.line.pop(0))
            self._wait = self.baud

    def _want(self):
        return len(self.fifo) >= self.burst or (bool(self.fifo) and not self.line)


class Uart:
    """A UART-like serial port with one data register and a DMA request line per direction.

    A bus write to the data register goes to the transmitter (:attr:`tx`), a bus read comes
    from the receiver (:attr:`rx`); each has its own FIFO, its own request line (channel)
    and its own REQ_BURST (``tx_burst``, ``rx_burst``), which the DMA channel must be
    programmed with. Leave a channel ``None`` for a UART without that direction.

    Parameters
    ----------
    handshake : Handshake
    io : IoRegisters
    addr : int
        Bus address of the data register (word aligned).
    baud : int
        Clock cycles per byte on the line, at least 1.
    fifo : int
        Bytes in each FIFO, at least the burst of its direction.
    tx_channel, rx_channel : int or None
    tx_burst, rx_burst : int
        Bytes per request. ``rx_burst`` is also the width of the data register for reads:
        1 .. bytes per bus word.
    lazy : bool
        Keep each ``req`` high until the cycle after its ``ack`` (see ``_Device``).
    seed : int
        For the random lanes of reads.

    Raises
    ------
    ValueError
        For a baud below 1, a FIFO smaller than a burst, or an ``rx_burst`` wider than the
        bus word.
    """

    def __init__(self, handshake, io, addr, *, baud, fifo=4, tx_channel=None, rx_channel=None,
                 tx_burst=1, rx_burst=1, lazy=False, seed=0):
        if baud < 1:
            raise ValueError(f"baud must be at least 1 cycle per byte, not {baud}")
        for name, burst in (("tx_burst", tx_burst), ("rx_burst", rx_burst)):
            if not 1 <= burst <= fifo:
                raise ValueError(f"{name} must be 1..fifo ({fifo}), not {burst}")
        if rx_burst > io.lanes:
            raise ValueError(f"rx_burst must be at most a bus word ({io.lanes} bytes), not "
                             f"{rx_burst}")
        self.addr = addr
        self.tx = self.rx = None
        if tx_channel is not None:
            self.tx = UartTransmitter(handshake, tx_channel, baud=baud, fifo=fifo,
                                      burst=tx_burst, lazy=lazy)
        if rx_channel is not None:
            self.rx = UartReceiver(handshake, rx_channel, baud=baud, fifo=fifo, burst=rx_burst,
                                   lanes=io.lanes, lazy=lazy, seed=seed)
        io.add(addr, read=self.rx and self.rx.read_register,
               write=self.tx and self.tx.write_register)

    def check(self):
        """Raise :class:`AssertionError` if either half saw a violation."""
        for half in (self.tx, self.rx):
            if half is not None:
                half.check()


class BlockDevice(_Device):
    """A disk-like controller that moves fixed-size sectors through a FIFO data register.

    A read command (:meth:`read_sectors`) streams sectors from the media into the FIFO,
    one bus word every ``word_cycles`` cycles after a ``seek_cycles`` pause before each
    sector; ``req`` is high while the FIFO holds ``burst`` bytes (or holds the command's
    last bytes), and every bus read of the data register pops one whole word. A write
    command (:meth:`write_sectors`) is the reverse: ``req`` is high while the FIFO has room
    for ``burst`` bytes (or for all the command still expects); every bus write must carry
    a whole word (all strobes), and the media takes a word every ``word_cycles`` cycles.

    A read with less than a word held, a write that is not a whole word, one into a full
    FIFO or beyond what the command expects, or an access with no command, fails the test.

    Parameters
    ----------
    handshake : Handshake
    io : IoRegisters
    addr : int
        Bus address of the data register (word aligned).
    channel : int
        The DMA channel (and request line) serving it.
    burst : int
        REQ_BURST: a multiple of the bus word.
    fifo : int, optional
        Bytes of FIFO, a multiple of the bus word and at least ``burst`` (default twice it).
    sector_size : int
        A multiple of the bus word.
    word_cycles : int
        Media speed: cycles per bus word, at least 1.
    seek_cycles : int
        Pause before each sector.
    lazy : bool
        See ``_Device``.

    Members
    -------
    written : list of bytes
        Sectors a write command stored on the media.
    moved : int
        Bytes through the data register since the device was made.

    Raises
    ------
    ValueError
        For sizes that are not whole words, a FIFO smaller than a burst, rates below 1.
    """

    def __init__(self, handshake, io, addr, *, channel, burst, fifo=None, sector_size=512,
                 word_cycles=1, seek_cycles=0, lazy=False):
        lanes = io.lanes
        fifo = 2 * burst if fifo is None else fifo
        for name, value in (("burst", burst), ("fifo", fifo), ("sector_size", sector_size)):
            if value < lanes or value % lanes:
                raise ValueError(f"{name} must be a positive multiple of the bus word "
                                 f"({lanes} bytes), not {value}")
        if fifo < burst:
            raise ValueError(f"fifo ({fifo}) must hold at least one burst ({burst})")
        if word_cycles < 1 or seek_cycles < 0:
            raise ValueError(f"word_cycles must be at least 1 and seek_cycles at least 0, not "
                             f"{word_cycles} and {seek_cycles}")
        super().__init__(f"BlockDevice(channel {channel}, {addr:#x})", handshake, channel,
                         lazy=lazy)
        self.lanes, self.burst, self.depth, self.sector_size = lanes, burst, fifo, sector_size
        self.word_cycles, self.seek_cycles = word_cycles, seek_cycles
        self.fifo = bytearray()
        self.written = []
        self._mode = None           # "read" or "write" while a command runs
        self._media = bytearray()   # read: bytes still on the media; write: the sector so far
        self._expected = 0          # write: bytes the bus still has to bring
        self._left = 0              # write: bytes the media still has to take
        self._wait = 0              # cycles until the media moves the next word
        io.add(addr, read=self.read_register, write=self.write_register)

    def read_sectors(self, sectors):
        """Start a read command: the media delivers ``sectors`` (each ``sector_size`` bytes)
        in order. The previous command must be over (:attr:`idle`)."""
        self._command("read")
        for sector in sectors:
            if len(sector) != self.sector_size:
                raise ValueError(f"a sector is {self.sector_size} bytes, not {len(sector)}")
            self._media += sector
        self._wait = self.seek_cycles + self.word_cycles

    def write_sectors(self, count):
        """Start a write command of ``count`` sectors; they appear in :attr:`written`."""
        self._command("write")
        self._expected = self._left = count * self.sector_size
        self._media = bytearray()
        self._wait = self.seek_cycles + self.word_cycles

    def _command(self, mode):
        if not self.idle:
            raise RuntimeError("the previous command is not over")
        self._mode = mode

    @property
    def idle(self):
        """No command under way (the last one moved all its data)."""
        return self._mode is None

    def read_register(self):
        if self._mode != "read" or len(self.fifo) < self.lanes:
            self._violation(f"underflow: a read with {len(self.fifo)} byte(s) held "
                            f"({self._mode or 'no'} command), cycle {self.cycle}")
        data = bytes(self.fifo[:self.lanes])
        del self.fifo[:self.lanes]
        self.moved += self.lanes
        if self._mode == "read" and not self.fifo and not self._media:
            self._mode = None
        return data

    def write_register(self, data, strobes):
        if self._mode != "write":
            self._violation(f"a write with no write command, cycle {self.cycle}")
        if strobes != (1 << self.lanes) - 1:
            self._violation(f"a write of strobes {strobes:#x}, not a whole word, cycle "
                            f"{self.cycle}")
        if len(self.fifo) + self.lanes > self.depth:
            self._violation(f"overflow: a write with {len(self.fifo)} of {self.depth} bytes "
                            f"held, cycle {self.cycle}")
        if self._expected < self.lanes:
            self._violation(f"a write beyond the {self.sector_size}-byte sectors asked for, "
                            f"cycle {self.cycle}")
        self.fifo += data
        self._expected -= self.lanes
        self.moved += self.lanes

    def _step(self):
        if self._mode is None:
            return
        if self._wait > 1:
            self._wait -= 1
            return
        lanes = self.lanes
        if self._mode == "read":
            if self._media and len(self.fifo) + lanes <= self.depth:
                self.fifo += self._media[:lanes]
                del self._media[:lanes]
                starts_sector = len(self._media) % self.sector_size == 0
                self._wait = self.word_cycles + (self.seek_cycles if starts_sector else 0)
        elif self.fifo:
            self._media += self.fifo[:lanes]
            del self.fifo[:lanes]
            self._left -= lanes
            self._wait = self.word_cycles
            if len(self._media) == self.sector_size:
                self.written.append(bytes(self._media))
                self._media = bytearray()
                self._wait += self.seek_cycles
            if self._left == 0:
                self._mode = None

    def _want(self):
        if self._mode == "read":
            return len(self.fifo) >= self.burst or (bool(self.fifo) and not self._media)
        if self._mode == "write":
            return self._expected > 0 and \
                self.depth - len(self.fifo) >= min(self.burst, self._expected)
        return False
