"""Stream throughput: memory to stream and stream to memory with a stream that never stalls,
and the sustained receive rate of a NIC ring, no back-pressure anywhere.

Parameters come from the environment, results go to a JSON file (a list, one entry per
measurement, rewritten after each):

- ``HAULER_STREAM_BYTES``: bytes of the single memory-to-stream and stream-to-memory
  transfers (default 65536; a multiple of the beat);
- ``HAULER_STREAM_PACKETS``: packet sizes in bytes of the receive-ring measurements, comma
  separated (default 64,1500);
- ``HAULER_STREAM_PACKET_BYTES``: bytes of packets per receive-ring measurement (default
  65536, rounded down to whole packets);
- ``HAULER_STREAM_RESULT``: where to write the JSON result.

Each entry: ``kind`` (``mm2s``, ``s2mm``, ``nic_rx``), ``packet_bytes`` (the transfer's
size for the first two), ``bytes``, ``beats`` (stream handshakes), ``beat_bytes``,
``cycles`` (from the first stream beat to the last, both counted), ``beats_per_cycle``,
``bytes_per_cycle``, ``line_rate_share`` (bytes per cycle over the beat size: the share of
the stream's one-beat-a-cycle line rate), ``total_cycles`` (from the START write to the
last beat) and, for the ring, ``restarts`` (NOT_OWNED halts of a ring that ran dry).

Every transfer's data is checked before anything is reported. The receive ring's driver
polls COMPLETED over the register port and re-arms each descriptor at once (a driver that
keeps up); each packet is compared with the one sent.
"""

import json
import os

import cocotb
from cocotb.triggers import ClockCycles

from hauler.descriptor import DESCRIPTOR_SIZE
from hauler.sim.descriptors import Descriptor, read_status, rearm, write_ring
from hauler.sim.driver import Mode
from hauler.sim.benches.streams import DESCS, DST, SRC, Streams


_BYTES = int(os.environ.get("HAULER_STREAM_BYTES", 65536))
_PACKETS = [int(n) for n in os.environ.get("HAULER_STREAM_PACKETS", "64,1500").split(",")]
_PACKET_BYTES = int(os.environ.get("HAULER_STREAM_PACKET_BYTES", 65536))
_RING = 16
_results = []


def _report(s, kind, packet_bytes, nbytes, checker, start_cycle, **extra):
    beat = s.beat
    cycles = checker.last_beat - checker.first_beat + 1
    row = {
        "config": s.h.config.key(), "kind": kind, "packet_bytes": packet_bytes,
        "bytes": nbytes, "beats": checker.beats, "beat_bytes": beat, "cycles": cycles,
        "beats_per_cycle": checker.beats / cycles, "bytes_per_cycle": nbytes / cycles,
        "line_rate_share": nbytes / cycles / beat,
        "total_cycles": checker.last_beat - start_cycle, **extra,
    }
    s.h.dut._log.info("%s", row)
    _results.append(row)
    path = os.environ.get("HAULER_STREAM_RESULT")
    if path:
        with open(path, "w") as f:
            json.dump(_results, f, indent=1)


def _check_size(beat):
    if _BYTES < beat or _BYTES % beat or SRC + _BYTES > DST or DST + _BYTES > 2 * DST:
        raise ValueError(f"HAULER_STREAM_BYTES must be a positive multiple of {beat} up to "
                         f"{DST - SRC}, not {_BYTES}")


@cocotb.test()
async def mm2s_rate(dut):
    """One memory-to-stream transfer with EOP into a sink that never stalls."""
    s = await Streams.create(dut, rx=())
    _check_size(s.beat)
    tx, checker = s.tx[0], s.checkers["m_axis0"]
    data = s.h.rng.randbytes(_BYTES)
    s.h.memory.write(SRC, data)
    tx.expect(data)
    await s.setup(0, SRC, 0, _BYTES, dst_mode=Mode.STREAM, eop=1)
    checker.reset_counts()
    await s.drv.start(0)
    start = checker.cycles
    await tx.wait_packets(1, clock=s.h.clock, timeout=20 * _BYTES // s.beat + 10_000)
    await s.expect_done(0, _BYTES, what="mm2s")
    _report(s, "mm2s", _BYTES, _BYTES, checker, start)
    await s.finish()


@cocotb.test()
async def s2mm_rate(dut):
    """One stream-to-memory transfer from a source that never stalls, its packet as long as
    LEN."""
    s = await Streams.create(dut, tx=())
    _check_size(s.beat)
    rx, checker = s.rx[0], s.checkers["s_axis0"]
    packet = rx.send(rx.random_packet(_BYTES))
    await s.setup(0, 0, DST, _BYTES, src_mode=Mode.STREAM)
    checker.reset_counts()
    await s.drv.start(0)
    start = checker.cycles
    await s.drv.wait_idle(0, timeout=20 * _BYTES // s.beat + 10_000)
    await s.expect_done(0, _BYTES, eop=True, what="s2mm")
    assert s.h.memory.read(DST, _BYTES) == packet, "s2mm: memory differs from the packet"
    _report(s, "s2mm", _BYTES, _BYTES, checker, start)
    await s.finish()


@cocotb.test()
@cocotb.parametrize(size=_PACKETS)
async def nic_receive_rate(dut, size):
    """A receive ring of 16 descriptors, one packet each, fed back to back with packets of
    ``size`` bytes by a source that never stalls; the driver polls COMPLETED and re-arms at
    once."""
    s = await Streams.create(dut, tx=())
    h, drv, beat = s.h, s.drv, s.beat
    rx, checker = s.rx[0], s.checkers["s_axis0"]
    count = max(1, _PACKET_BYTES // size)
    length = -(-size // beat) * beat
    addrs = [DESCS + i * DESCRIPTOR_SIZE for i in range(_RING)]
    ring = write_ring(h.memory, addrs, [Descriptor(0, DST + i * (length + 64), length,
                                                   src_mode=Mode.STREAM) for i in range(_RING)])
    packets = rx.send_random(count, size)
    checker.reset_counts()
    await drv.start_chain(0, addrs[0])
    start = checker.cycles
    head = base = restarts = 0
    polls = 0
    while head < count:
        completed = base + await drv.read("COMPLETED", 0)
        while head < completed:
            a, d = addrs[head % _RING], ring[head % _RING]
            status = read_status(h.memory, a)
            assert status.done and status.eop and status.bytes == size, (head, status)
            assert h.memory.read(d.dst, size) == packets[head], f"packet {head} differs"
            rearm(h.memory, a)
            head += 1
            polls = 0
        status = await drv.status(0)
        if not status.busy:
            # The ring ran dry before the driver re-armed: restart where it halted.
            assert status.err_code == "NOT_OWNED", status
            if base + await drv.read("COMPLETED", 0) == head:
                assert await drv.read("ERR_ADDR_LO", 0) == addrs[head % _RING]
                await drv.start_chain(0, addrs[head % _RING])
                base, restarts = head, restarts + 1
        polls += 1
        if polls > 20_000:
            raise AssertionError(f"receive ring stuck after {head} of {count} packets: {status}")
    _report(s, "nic_rx", size, count * size, checker, start, packets=count,
            restarts=restarts)
    await drv.abort(0)
    await drv.wait_idle(0)
    await ClockCycles(h.clock, 8)
    await s.finish()
