"""Stream devices for the controller's AXI-Stream ports (ABI §4), and the rules they follow.

Two device models, each a cocotb component on cocotbext-axi's stream source or sink:

- :class:`NicReceiveModel`, the receive side of a network interface: it feeds packets of
  random length (tlast on each one's final beat, a partial ``tkeep`` there) into a
  channel's ``s_axis<n>`` input, with random gaps, and remembers what it sent;
- :class:`NicTransmitModel`, the transmit side: it drains a channel's ``m_axis<n>``
  output with random back-pressure and checks every packet (boundaries, bytes, ``tkeep``)
  against the ones the bench said to expect.

Both are passive about the controller: the bench plays the driver (rings of descriptors,
interrupts) and tells the models what to send or expect. Their rules, and the controller's
that they rely on, are in docs/devices.md.

The pure functions :func:`s2mm_split` and :func:`mm2s_packets` are the reference model of
what a stream source delivers into a sequence of transfers and of which packets a sequence
of stream-sink transfers makes; the benches check the hardware against them.
"""

import collections
import itertools
import logging
import random

import cocotb
from cocotb.triggers import ClockCycles, Event
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource


__all__ = ["quiet_stream_ports", "pauses", "random_length", "s2mm_split", "mm2s_packets",
           "NicReceiveModel", "NicTransmitModel"]


def quiet_stream_ports(dut, channels):
    """Drive every stream input of channels ``0 .. channels - 1`` idle: ``s_axis`` valid low
    (data, keep and last 0) and ``m_axis`` ready low.

    Call it before creating the models and before reset, so that no input is X or Z while
    the controller leaves reset; a model created afterwards takes over its port's inputs.
    """
    for n in range(channels):
        for name in ("tvalid", "tdata", "tkeep", "tlast"):
            getattr(dut, f"s_axis{n}__{name}").value = 0
        getattr(dut, f"m_axis{n}__tready").value = 0


def pauses(rng, probability, mean_run=1.0):
    """An endless generator of pause flags, one per clock cycle, for cocotbext-axi's
    ``set_pause_generator``.

    A two-state Markov chain: in the long run a share ``probability`` of the cycles is
    paused, in runs of ``mean_run`` cycles on average (1: each cycle drawn on its own; more:
    bursts, which fill and drain buffers further than scattered pauses do).

    Raises
    ------
    ValueError
        If ``probability`` is not in [0, 1) or ``mean_run`` is below 1.
    """
    if not 0 <= probability < 1:
        raise ValueError(f"probability must be in [0, 1), not {probability}")
    if mean_run < 1:
        raise ValueError(f"mean_run must be at least 1, not {mean_run}")
    if probability == 0:
        return itertools.repeat(False)

    def generate():
        # Mean run lengths: paused mean_run, running mean_run * (1 - p) / p.
        leave_pause = 1 / mean_run
        leave_run = min(1.0, probability / (mean_run * (1 - probability)))
        paused = rng.random() < probability
        while True:
            yield paused
            if rng.random() < (leave_pause if paused else leave_run):
                paused = not paused
    return generate()


def random_length(rng, beat_bytes, max_length):
    """A packet length in 1 .. ``max_length``, drawn from ``rng``: a third tiny (up to two
    beats), a third up to 256 bytes, a third anywhere up to the maximum."""
    top = (2 * beat_bytes, 256, max_length)[rng.randrange(3)]
    return rng.randint(1, min(top, max_length))


def s2mm_split(packets, lengths, *, beat_bytes):
    """What consecutive stream-source transfers receive from a stream of packets.

    Each transfer (a register-mode transfer or a descriptor) takes bytes from the stream
    until it has ``LEN`` of them or has taken the final byte of a packet, whichever comes
    first; a packet longer than LEN continues in the next transfer, nothing lost or
    repeated. As LEN is a multiple of the beat and the beats before a packet's last are
    whole, a transfer that ends before its packet's end ends on a beat boundary.

    Parameters
    ----------
    packets : iterable of bytes
        The packets in the order the source sends them (the first one starts the stream).
    lengths : iterable of int
        LEN of each transfer, in order.
    beat_bytes : int

    Returns
    -------
    list of (bytes, bool)
        Per transfer the bytes it writes (BYTES is their count) and whether it ended with
        tlast (EOP). Transfers for which the stream holds no byte any more are left out; a
        transfer that the stream runs dry in the middle of is returned with the bytes it
        has so far and EOP False (the hardware would still be waiting for more).

    Raises
    ------
    ValueError
        For a LEN that is not a positive multiple of ``beat_bytes`` (BAD_DESCRIPTOR, not
        modelled) or an empty packet (a packet has at least one byte).
    """
    queue = collections.deque()
    for packet in packets:
        if not packet:
            raise ValueError("a packet has at least one byte")
        queue.append(bytes(packet))
    result = []
    for length in lengths:
        if length < 1 or length % beat_bytes:
            raise ValueError(f"a stream-source LEN must be a positive multiple of {beat_bytes}, "
                             f"not {length} (BAD_DESCRIPTOR is not modelled)")
        if not queue:
            break
        head = queue[0]
        if len(head) <= length:
            queue.popleft()
            result.append((head, True))
        else:
            queue[0] = head[length:]
            result.append((head[:length], False))
    return result


def mm2s_packets(transfers):
    """The packets that consecutive stream-sink transfers put on ``m_axis``.

    The bytes of the transfers form one stream; a transfer with CTRL.EOP ends a packet
    after its last byte, one without it leaves the packet open for the next transfer.

    Parameters
    ----------
    transfers : iterable of (bytes, bool)
        Each transfer's bytes and its EOP flag.

    Returns
    -------
    (list of bytes, bytes)
        The complete packets, and the bytes of the packet still open at the end.
    """
    packets, current = [], bytearray()
    for data, eop in transfers:
        current += data
        if eop:
            packets.append(bytes(current))
            current = bytearray()
    return packets, bytes(current)


def _quiet_log(model):
    # cocotbext-axi logs every frame, in full, at INFO: megabytes of log, and time.
    model.log.setLevel(logging.WARNING)


class NicReceiveModel:
    """The receive side of a NIC: packets into a channel's stream-to-memory input ``s_axis<n>``.

    The model sends the packets it is given, or random ones, in order, each ending with
    tlast; the final beat of a packet carries a partial ``tkeep`` (lanes from 0) when the
    packet is not a whole number of beats. With ``garbage`` the lanes outside ``tkeep`` carry
    random bytes, as a real device's may, which the controller must not write. Beats are
    offered with random gaps (:meth:`set_gaps`) and held while the controller's ``tready``
    is low: the stream is back-pressured, never dropped.

    Create it before the controller's reset (cocotbext-axi models notice reset by its edge).

    Parameters
    ----------
    dut : cocotb handle
    channel : int
        The channel whose ``s_axis<channel>`` port the model drives.
    clock, reset : cocotb handles
    seed : int, optional
        Seed of the packets' lengths and bytes and of the gaps (default: drawn from
        :mod:`random`, which cocotb seeds per run).
    gap : float
        Share of cycles in which the model offers nothing (see :func:`pauses`).
    gap_run : float
        Mean length of a gap in cycles.
    max_length : int
        Longest random packet in bytes.
    garbage : bool
        Random bytes in the lanes outside ``tkeep`` of a packet's final beat (else 0).

    Members
    -------
    source : cocotbext.axi.AxiStreamSource
    beat_bytes : int
        Bytes per beat (lanes of ``tkeep``).
    sent : list of bytes
        Every packet handed to the model, in order (sent or still queued).
    rng : random.Random
        The generator of packet lengths and bytes.
    """

    def __init__(self, dut, channel, clock, reset, *, seed=None, gap=0.0, gap_run=1.0,
                 max_length=4096, garbage=True):
        seed = random.getrandbits(32) if seed is None else seed
        self.rng = random.Random(seed)
        self._pause_rng = random.Random(seed ^ 0x5EED)
        self.source = AxiStreamSource(
            AxiStreamBus.from_prefix(dut, f"s_axis{channel}", bus_separator="__"), clock, reset)
        _quiet_log(self.source)
        self.beat_bytes = self.source.byte_lanes
        self.max_length = max_length
        self.garbage = garbage
        self.sent = []
        self.set_gaps(gap, gap_run)

    def set_gaps(self, probability, mean_run=1.0):
        """Offer nothing in a share ``probability`` of the cycles, in runs of ``mean_run``."""
        if probability:
            self.source.set_pause_generator(pauses(self._pause_rng, probability, mean_run))
        else:
            self.source.clear_pause_generator()
            self.source.pause = False

    def random_packet(self, length=None):
        """Random bytes, ``length`` of them (default: :func:`random_length` up to
        ``max_length``)."""
        if length is None:
            length = random_length(self.rng, self.beat_bytes, self.max_length)
        return self.rng.randbytes(length)

    def send(self, packet):
        """Queue ``packet`` (non-empty bytes) for sending; return it."""
        packet = bytes(packet)
        if not packet:
            raise ValueError("a packet has at least one byte")
        pad = -len(packet) % self.beat_bytes
        fill = self.rng.randbytes(pad) if self.garbage else bytes(pad)
        # The padding fills the final beat's unkept lanes: tkeep 0 there, tlast on that beat.
        self.source.send_nowait(AxiStreamFrame(packet + fill,
                                               tkeep=[1] * len(packet) + [0] * pad))
        self.sent.append(packet)
        return packet

    def send_random(self, count, length=None):
        """Queue ``count`` random packets (of ``length`` bytes each, if given); return them."""
        return [self.send(self.random_packet(length)) for _ in range(count)]

    def idle(self):
        """Whether every packet handed over has been taken by the controller."""
        return self.source.idle()

    async def wait_idle(self):
        await self.source.wait()


class NicTransmitModel:
    """The transmit side of a NIC: drains a channel's memory-to-stream output ``m_axis<n>``.

    The bench says which packets to expect (:meth:`expect`), in order; the model takes
    beats with random back-pressure (``tready`` low in a share of the cycles) and checks each
    packet it receives (a run of beats ending with tlast): that one was expected, that its
    bytes (the lanes in ``tkeep``) are the expected ones, and that ``tkeep`` is all ones on
    every beat but the last, and a contiguous run from lane 0 there (none at all is counted
    in :attr:`empty_ends`: the controller ends a packet cut short by an error or ABORT
    with such a beat when it holds no byte of it). A failure is logged,
    kept in :attr:`errors` and, with ``fail_fast``, raised in the model's task, which fails
    the running test.

    Create it before the controller's reset.

    Parameters
    ----------
    dut : cocotb handle
    channel : int
        The channel whose ``m_axis<channel>`` port the model drains.
    clock, reset : cocotb handles
    seed : int, optional
        Seed of the back-pressure (default: drawn from :mod:`random`).
    backpressure : float
        Share of cycles with ``tready`` low (see :func:`pauses`).
    backpressure_run : float
        Mean length of a pause in cycles.
    fail_fast : bool

    Members
    -------
    sink : cocotbext.axi.AxiStreamSink
    beat_bytes : int
    expected : collections.deque of bytes
        Packets expected and not received yet, oldest first.
    received : list of bytes
        Packets received, in order (each checked).
    errors : list of str
    empty_ends : int
        Packets whose tlast beat had no byte in ``tkeep``.
    checking : bool
        Compare the packets with the expected ones (default). When False (a bench that
        cannot tell in advance, e.g. around an ABORT) packets are only recorded, and the
        ``tkeep`` rules still checked.
    """

    def __init__(self, dut, channel, clock, reset, *, seed=None, backpressure=0.0,
                 backpressure_run=1.0, fail_fast=True):
        seed = random.getrandbits(32) if seed is None else seed
        self._pause_rng = random.Random(seed)
        self.sink = AxiStreamSink(
            AxiStreamBus.from_prefix(dut, f"m_axis{channel}", bus_separator="__"), clock, reset)
        _quiet_log(self.sink)
        self.log = logging.getLogger(f"cocotb.nic_tx.m_axis{channel}")
        self.beat_bytes = self.sink.byte_lanes
        self.expected = collections.deque()
        self.received = []
        self.errors = []
        self.empty_ends = 0
        self.checking = True
        self._fail_fast = fail_fast
        self._arrived = Event()
        self.set_backpressure(backpressure, backpressure_run)
        cocotb.start_soon(self._run())

    def set_backpressure(self, probability, mean_run=1.0):
        """Hold ``tready`` low in a share ``probability`` of the cycles, in runs of ``mean_run``."""
        if probability:
            self.sink.set_pause_generator(pauses(self._pause_rng, probability, mean_run))
        else:
            self.sink.clear_pause_generator()
            self.sink.pause = False

    def stall(self):
        """Hold ``tready`` low until :meth:`set_backpressure` is called."""
        self.sink.clear_pause_generator()
        self.sink.pause = True

    def expect(self, packet):
        """Add ``packet`` (bytes) to the packets expected, after those already expected."""
        self.expected.append(bytes(packet))

    def _error(self, message):
        self.errors.append(message)
        self.log.error("%s", message)
        if self._fail_fast:
            raise AssertionError(f"NicTransmitModel: {message}")

    def _check(self, frame):
        lanes = self.beat_bytes
        keep = frame.tkeep
        beats = len(keep) // lanes
        number = len(self.received)
        for i in range(beats):
            lanes_kept = keep[i * lanes:(i + 1) * lanes]
            if i < beats - 1 and not all(lanes_kept):
                self._error(f"packet {number}: tkeep {lanes_kept} on beat {i} of {beats}: only "
                            f"the tlast beat may be partial")
        last = keep[(beats - 1) * lanes:]
        run = last.index(0) if 0 in last else lanes
        self.empty_ends += not any(last)
        if any(last[run:]):
            self._error(f"packet {number}: tkeep {last} on the tlast beat is not a run of lanes "
                        f"from lane 0")
        data = bytes(b for b, k in zip(frame.tdata, keep) if k)
        self.received.append(data)
        if not self.checking:
            return
        if not self.expected:
            self._error(f"packet {number} ({len(data)} bytes) was not expected")
            return
        want = self.expected.popleft()
        if data != want:
            diff = next((i for i, (a, b) in enumerate(zip(data, want)) if a != b),
                        min(len(data), len(want)))
            self._error(f"packet {number}: {len(data)} bytes received, {len(want)} expected; "
                        f"first difference at byte {diff}")

    async def _run(self):
        while True:
            frame = await self.sink.recv(compact=False)
            self._check(frame)
            self._arrived.set()

    async def wait_packets(self, count, *, clock, timeout=200_000):
        """Wait until ``count`` packets have been received in all; fail after ``timeout``
        cycles of ``clock`` without a new packet."""
        while len(self.received) < count:
            seen = len(self.received)
            self._arrived.clear()
            waited = 0
            while not self._arrived.is_set():
                await ClockCycles(clock, 64)
                waited += 64
                if waited >= timeout:
                    raise AssertionError(f"m_axis: {seen} of {count} packets after {timeout} "
                                         f"cycles without a new one")

    def check(self):
        """Raise :class:`AssertionError` for the errors seen, or packets still expected."""
        problems = list(self.errors)
        if self.expected:
            problems.append(f"{len(self.expected)} expected packet(s) not received")
        if problems:
            raise AssertionError("NicTransmitModel: " + "; ".join(problems))
