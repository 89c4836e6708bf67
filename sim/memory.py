"""Memory models for the controller's master port: AXI4 (on cocotbext-axi) and Wishbone B4 pipelined."""

import collections
import random

import cocotb
from cocotb.queue import Queue
from cocotb.triggers import FallingEdge, RisingEdge
from cocotbext.axi import AxiBus, AxiResp
from cocotbext.axi.axi_slave import AxiSlaveRead, AxiSlaveWrite
from cocotbext.axi.constants import AxiBurstType
from cocotbext.axi.memory import Memory

from .signals import reader


__all__ = ["AxiMemory", "WishboneMemory"]


def _write_lanes(memory, word_addr, data, strobes):
    """Write the bytes of ``data`` (one bus word) whose strobe bit is set, one run at a time,
    and append the beat to ``memory.bus_writes`` when it is a list."""
    lanes = len(data)
    i = 0
    while i < lanes:
        if strobes >> i & 1:
            j = i + 1
            while j < lanes and strobes >> j & 1:
                j += 1
            memory.write(word_addr + i, data[i:j])
            i = j
        else:
            i += 1
    if memory.bus_writes is not None:
        memory.bus_writes.append((word_addr, strobes))


def _beat_addresses(addr, beats, size, burst):
    """Address of each beat of an AXI burst (the first one aligned down to the beat size)."""
    step = 1 << size
    addr -= addr % step
    if burst == AxiBurstType.FIXED:
        return [addr] * beats
    if burst == AxiBurstType.WRAP:
        total = step * beats
        low = addr - addr % total
        return [low + (addr - low + n * step) % total for n in range(beats)]
    return [addr + n * step for n in range(beats)]


def _check_window(start, end):
    if not 0 <= start < end:
        raise ValueError(f"error window needs 0 <= start < end, not [{start:#x}, {end:#x})")


class _AxiMemoryRead(AxiSlaveRead):
    # Replaces cocotbext-axi's read loop with a pipelined memory: ARs are taken as they come
    # (up to max_outstanding bursts) and answered in order, per beat with OKAY, SLVERR or
    # DECERR, a burst's first beat queued no earlier than read_latency cycles after its AR.
    def __init__(self, bus, clock, reset, memory, *, read_latency, max_outstanding):
        self._memory = memory
        self._read_latency = read_latency
        self._max_outstanding = max_outstanding
        self._cycle = 0             # falling clock edges so far
        self._accepted = Queue()    # (cycle of the AR handshake, AR), oldest first
        self._in_flight = 0         # bursts taken whose last R beat has not been handed over
        self._respond_cr = None
        super().__init__(bus, clock, reset)
        self.ar_channel.full = self._ar_full  # what the sink consults to drop ARREADY
        cocotb.start_soon(self._count_cycles())

    def _ar_full(self):
        # The AR just handed over is still in the sink's queue when it decides ARREADY.
        return (self._max_outstanding is not None
                and self.ar_channel.count() + self._in_flight >= self._max_outstanding)

    def _handle_reset(self, state):
        super()._handle_reset(state)
        if state:
            if self._respond_cr is not None:
                self._respond_cr.cancel()
                self._respond_cr = None
            self._accepted = Queue()
            self._in_flight = 0
        elif self._respond_cr is None:
            self._respond_cr = cocotb.start_soon(self._respond())

    async def _count_cycles(self):
        # Counted on falling edges, so that at a rising edge (where ARs are stamped and
        # latencies compared) the count is the same whichever coroutine runs first there.
        # Every signal changes just after a rising edge: what R shows now is what the next
        # rising edge samples, so a last beat seen handed over here frees its slot in time
        # for the ARREADY decided at that edge.
        edge = FallingEdge(self.clock)
        r = self.r_channel.bus
        rvalid, rready, rlast = reader(r.rvalid), reader(r.rready), reader(r.rlast)
        while True:
            await edge
            self._cycle += 1
            if self._in_flight and rvalid() == "1" and rready() == "1" and rlast() == "1":
                self._in_flight -= 1
                self.ar_channel.wake_event.set()

    async def _process_read(self):
        while True:
            ar = await self.ar_channel.recv()
            self._in_flight += 1
            self._accepted.put_nowait((self._cycle, ar))

    async def _respond(self):
        lanes = self.byte_lanes
        edge = RisingEdge(self.clock)
        while True:
            accepted, ar = await self._accepted.get()
            while self._cycle - accepted < self._read_latency:
                await edge
            arid = int(ar.arid)
            beats = int(ar.arlen) + 1
            addresses = _beat_addresses(int(ar.araddr), beats, int(ar.arsize), int(ar.arburst))
            for n, addr in enumerate(addresses):
                word = addr - addr % lanes
                r = self.r_channel._transaction_obj()
                r.rid = arid
                r.rlast = n == beats - 1
                r.rresp = self._memory._response(word)
                r.rdata = 0 if r.rresp else int.from_bytes(self._memory.read(word, lanes), "little")
                if not r.rresp and self._memory.bus_reads is not None:
                    self._memory.bus_reads.append(word)
                await self.r_channel.send(r)


class _AxiMemoryWrite(AxiSlaveWrite):
    # Replaces cocotbext-axi's write loop: erroring beats write nothing, the worst beat response wins.
    def __init__(self, bus, clock, reset, memory):
        self._memory = memory
        super().__init__(bus, clock, reset)

    async def _process_write(self):
        lanes = self.byte_lanes
        while True:
            aw = await self.aw_channel.recv()
            beats = int(aw.awlen) + 1
            bresp = AxiResp.OKAY
            for addr in _beat_addresses(int(aw.awaddr), beats, int(aw.awsize), int(aw.awburst)):
                word = addr - addr % lanes
                w = await self.w_channel.recv()
                resp = self._memory._response(word, write=True)
                if resp:
                    bresp = max(bresp, resp)
                else:
                    _write_lanes(self._memory, word, int(w.wdata).to_bytes(lanes, "little"), int(w.wstrb))
            b = self.b_channel._transaction_obj()
            b.bid = int(aw.awid)
            b.bresp = bresp
            await self.b_channel.send(b)


class AxiMemory(Memory):
    """An AXI4 slave memory on the ports ``<prefix>__*`` of ``dut``, built on cocotbext-axi.

    Bursts are served in order, one beat per cycle at best, INCR, FIXED and WRAP alike.
    A beat whose bus word lies at or beyond ``size`` answers DECERR.

    Reads are pipelined: the memory takes read bursts while earlier ones wait out their
    latency, and returns them in order, back to back once each one's latency has elapsed.
    With ``read_latency = 0`` the first R beat of a burst whose AR is handed over on clock
    edge *t* is valid from edge *t* + 1, so it can be handed over on edge *t* + 2;
    ``read_latency`` cycles are added to both.

    Create it (and every other bus model) *before* asserting reset, e.g. with
    :func:`hauler.sim.bench.reset_dut`: cocotbext-axi notices reset by its edges.

    Parameters
    ----------
    dut : cocotb handle
    prefix : str
        Port prefix, e.g. ``"m_axi"`` (Amaranth's ``__`` separator is assumed).
    clock, reset : cocotb handles
        Reset is synchronous, active high.
    size : int
        Bytes of memory, from address 0.
    read_latency : int
        Cycles added between an AR and the first R beat of its burst (see above), at least 0.
    max_outstanding : int or None
        Most read bursts taken (AR handed over) whose last R beat has not been handed over:
        ARREADY stays low while this many are. ``None``: no limit.

    Members
    -------
    read(addr, n) -> bytes, write(addr, data)
        Backdoor access, no bus cycles.
    bus_writes, bus_reads : list or None
        ``None`` (the default), or a list to which each beat the bus writes (reads) is
        appended: ``(word address, byte strobes)`` for a write, the word address for a
        read, in the order the memory performs them. Backdoor accesses and erroring beats
        are not.
    """

    def __init__(self, dut, prefix, clock, reset, size, *, read_latency=0, max_outstanding=None):
        if read_latency < 0:
            raise ValueError(f"read_latency must be at least 0, not {read_latency}")
        if max_outstanding is not None and max_outstanding < 1:
            raise ValueError(f"max_outstanding must be at least 1 or None, not {max_outstanding}")
        super().__init__(size)
        self._windows = []
        self.bus_writes = self.bus_reads = None
        bus = AxiBus.from_prefix(dut, prefix, bus_separator="__")
        self.write_if = _AxiMemoryWrite(bus.write, clock, reset, self)
        self.read_if = _AxiMemoryRead(bus.read, clock, reset, self, read_latency=read_latency,
                                      max_outstanding=max_outstanding)

    def add_error_window(self, start, end, kind, *, writes_only=False):
        """Answer with an error every beat whose bus word overlaps ``[start, end)``.

        Reads of such beats return zeros; writes to them change nothing.

        Parameters
        ----------
        kind : str
            ``"slverr"`` or ``"decerr"``.
        writes_only : bool
            Fail only writes there (a read-only region, say).
        """
        _check_window(start, end)
        responses = {"slverr": AxiResp.SLVERR, "decerr": AxiResp.DECERR}
        if kind not in responses:
            raise ValueError(f"kind must be 'slverr' or 'decerr', not {kind!r}")
        self._windows.append((start, end, responses[kind], writes_only))

    def _response(self, word, *, write=False):
        if word + self.read_if.byte_lanes > self.size:
            return AxiResp.DECERR
        for start, end, resp, writes_only in self._windows:
            if word < end and start < word + self.read_if.byte_lanes and (write or not writes_only):
                return resp
        return AxiResp.OKAY

    def set_backpressure(self, p, seed=0):
        """Randomly pause every channel: AR/AW/W ready low, R/B valid withheld, each with probability ``p`` per cycle.

        ``p = 0`` removes the pauses. ``seed`` makes the pattern reproducible.
        """
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], not {p}")
        channels = (self.write_if.aw_channel, self.write_if.w_channel, self.write_if.b_channel,
                    self.read_if.ar_channel, self.read_if.r_channel)
        rng = random.Random(seed)
        for channel in channels:
            if p:
                channel.set_pause_generator(_pauses(random.Random(rng.getrandbits(64)), p))
            else:
                channel.clear_pause_generator()
                channel.pause = False  # clearing keeps the last value, which may be a pause


def _pauses(rng, p):
    while True:
        yield rng.random() < p


class WishboneMemory(Memory):
    """A Wishbone B4 pipelined slave memory on the ports ``<prefix>__*`` of ``dut``.

    Signals: ``adr`` (word address: byte address >> log2(data bytes)), ``dat_w``, ``dat_r``,
    ``sel``, ``cyc``, ``stb``, ``we``, ``ack``, ``err``, ``stall`` (``cti``/``bte`` are hints,
    ignored). A request is accepted in a cycle with ``cyc & stb & ~stall``; responses come
    in order, at most one per cycle, each ``latency`` cycles or more after its acceptance
    (1 = in the next cycle), reads ``read_latency`` cycles more. Outputs are registered:
    they change only after a clock edge.

    When the master drops ``cyc`` the pending responses are discarded (B4: a cycle ends
    with ``cyc``); a response already on the bus in that cycle is withdrawn at the next edge.
    Errors (an error window, or a word at or beyond ``size``) answer ERR instead of ACK:
    the write is not performed, the read returns 0.

    Parameters
    ----------
    dut, prefix, clock, reset, size
        As :class:`AxiMemory`. Reset clears pending responses.
    seed : int
        Seed of the stall and latency draws.
    stall : float
        Probability of ``stall`` in each cycle, in [0, 1).
    latency : (int, int)
        Inclusive range of response latencies in cycles, at least 1.
    read_latency : int
        Cycles added to the latency of every read, at least 0.
    max_outstanding : int
        Requests accepted but not yet answered; ``stall`` holds while this many are pending.

    Members
    -------
    read(addr, n) -> bytes, write(addr, data)
        Backdoor access, no bus cycles.
    bus_writes, bus_reads : list or None
        ``None`` (the default), or a list to which each beat the bus writes (reads) is
        appended: ``(word address, byte strobes)`` for a write, the word address for a
        read, in the order the memory performs them. Backdoor accesses and erroring beats
        are not.
    """

    def __init__(self, dut, prefix, clock, reset, size, *, seed, stall=0.0, latency=(1, 1),
                 read_latency=0, max_outstanding=8):
        if not 0 <= stall < 1:
            raise ValueError(f"stall must be in [0, 1), not {stall}")
        low, high = latency
        if not 1 <= low <= high:
            raise ValueError(f"latency must be (low, high) with 1 <= low <= high, not {latency!r}")
        if read_latency < 0:
            raise ValueError(f"read_latency must be at least 0, not {read_latency}")
        if max_outstanding < 1:
            raise ValueError(f"max_outstanding must be at least 1, not {max_outstanding}")
        super().__init__(size)
        self.bus_writes = self.bus_reads = None

        def port(name):
            return getattr(dut, f"{prefix}__{name}")

        # Inputs are sampled every cycle: read them the cheap way.
        self._cyc, self._stb, self._we = reader(port("cyc")), reader(port("stb")), reader(port("we"))
        self._adr, self._sel, self._dat_w = reader(port("adr")), reader(port("sel")), reader(port("dat_w"))
        self._ack, self._err, self._stall, self._dat_r = port("ack"), port("err"), port("stall"), port("dat_r")
        self._clock, self._reset = clock, reader(reset)
        self._cyc_port = port("cyc")  # for waiting on its edge
        self.byte_lanes = len(port("dat_w")) // 8
        self._shift = self.byte_lanes.bit_length() - 1
        self._stall_p = stall
        self._latency = latency
        self._read_latency = read_latency
        self._max_outstanding = max_outstanding
        self._rng = random.Random(seed)
        self._windows = []
        for output in (self._ack, self._err, self._stall, self._dat_r):
            output.value = 0
        cocotb.start_soon(self._run())

    def add_error_window(self, start, end, *, writes_only=False):
        """Answer ERR to every access (every write, with ``writes_only``) whose bus word
        overlaps ``[start, end)``."""
        _check_window(start, end)
        self._windows.append((start, end, writes_only))

    def _error(self, word, *, write):
        if word + self.byte_lanes > self.size:
            return True
        return any(word < end and start < word + self.byte_lanes and (write or not writes_only)
                   for start, end, writes_only in self._windows)

    def _accept(self):
        """Perform the request on the bus now; return its response (error, read data or None)."""
        word = int(self._adr(), 2) << self._shift
        if self._error(word, write=self._we() == "1"):
            return True, 0
        if self._we() == "1":
            data = int(self._dat_w(), 2).to_bytes(self.byte_lanes, "little")
            _write_lanes(self, word, data, int(self._sel(), 2))
            return False, None
        if self.bus_reads is not None:
            self.bus_reads.append(word)
        return False, int.from_bytes(self.read(word, self.byte_lanes), "little")

    async def _run(self):
        edge = RisingEdge(self._clock)
        cyc_rise = RisingEdge(self._cyc_port)
        rng, low, high = self._rng, *self._latency
        pending = collections.deque()  # (due cycle, error, read data or None for writes), oldest first
        cycle = 0
        ack = err = stall = 0  # what the outputs show in the cycle that just ended
        dat_r = 0
        while True:
            await edge
            cycle += 1
            cyc = self._cyc() == "1"
            if self._reset() != "0" or not cyc:
                pending.clear()
            else:
                if ack or err:
                    pending.popleft()  # the master took the response shown in this cycle
                if not stall and self._stb() == "1":
                    due = cycle + rng.randint(low, high) - 1
                    if self._we() != "1":
                        due += self._read_latency
                    error, data = self._accept()
                    pending.append((due, error, data))

            # Outputs for the next cycle.
            show = bool(pending) and pending[0][0] <= cycle
            next_ack = int(show and not pending[0][1])
            next_err = int(show and pending[0][1])
            next_stall = int(len(pending) >= self._max_outstanding or rng.random() < self._stall_p)
            if next_ack != ack:
                self._ack.value = ack = next_ack
            if next_err != err:
                self._err.value = err = next_err
            if next_stall != stall:
                self._stall.value = stall = next_stall
            if show and pending[0][2] is not None and pending[0][2] != dat_r:
                self._dat_r.value = dat_r = pending[0][2]
            if not pending and not cyc:
                # Idle until the master opens a cycle: no need to wake on every clock edge.
                await cyc_rise
