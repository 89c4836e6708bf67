"""Measured copies: the figures of ``hauler demo`` and ``hauler bench``.

One simulation measures several points, each one a cocotb test of its own with a fresh
harness (memory model, checker, reset), so that Icarus starts once per configuration.

- ``HAULER_PERF_POINTS``: JSON list of points, each ``{"length": bytes, "read_latency":
  cycles, "backpressure": probability, "src_offset": bytes, "dst_offset": bytes}`` (default:
  one aligned 64 KiB copy, no added latency, no back-pressure), see
  :meth:`hauler.sim.harness.Harness.create` for latency and back-pressure; the offsets are
  added to the source and destination addresses, which are otherwise page aligned (absent:
  0), and LEN stays ``length``;
- ``HAULER_PERF_RESULTS``: file to which each point's result is appended as one line of
  JSON, as soon as it is measured (:mod:`hauler.sim.sweep` follows the progress there).

Every copy is checked byte for byte before anything is reported, including the bytes that
share the first and last destination beats with the copy but lie outside it (they must be
left as they were). A copy that the channel ends with an error (STATUS.ERROR) is reported
as such, with its ERR_CODE and the build's CONFIG.UNALIGNED, instead of figures: a build
without the realigner answers an unaligned point with BAD_DESCRIPTOR (ABI §2.3). Anything
else that goes wrong (data, protocol, a hang) fails the point.
"""

import json
import os

import cocotb

from hauler.sim.harness import Harness, MEMORY_SIZE
from hauler.sim.sweep import POINTS_ENV, RESULTS_ENV


_POINTS = json.loads(os.environ.get(
    POINTS_ENV, '[{"length": 65536, "read_latency": 0, "backpressure": 0.0}]'))
_FIELDS = ("length", "read_latency", "backpressure", "src_offset", "dst_offset")
_PAGE = 4096


def _beats(offset, length, beat_bytes):
    """Bus beats covering ``length`` bytes from ``offset`` bytes past a beat boundary."""
    return -(-(offset % beat_bytes + length) // beat_bytes)


@cocotb.test()
@cocotb.parametrize((_FIELDS, [tuple(point.get(f, 0) for f in _FIELDS) for point in _POINTS]))
async def copy(dut, length, read_latency, backpressure, src_offset, dst_offset):
    if not 0 < length <= MEMORY_SIZE // 2:
        raise ValueError(f"length must be 1..{MEMORY_SIZE // 2}, not {length}")
    if not (0 <= src_offset < _PAGE and 0 <= dst_offset < _PAGE):
        raise ValueError(f"offsets must be 0..{_PAGE - 1}, not {src_offset}:{dst_offset}")
    # Source in the lower half of the memory, destination in the upper; a copy that its
    # offset takes past the half (1 MiB, unaligned) gets a memory twice as big.
    half = MEMORY_SIZE // 2
    while length + max(src_offset, dst_offset) > half:
        half *= 2
    h = await Harness.create(dut, backpressure=backpressure, read_latency=read_latency,
                             memory_size=2 * half)
    drv, monitor = h.driver, h.monitor
    beat = h.config.beat_bytes
    src, dst = src_offset, half + dst_offset
    data = h.fill(src, length)
    # The rest of the first and last destination beats: random bytes that must survive. (The
    # memory model refuses even an empty access at its end: an aligned copy's are skipped.)
    end = dst + length
    head = h.fill(dst - dst % beat, dst % beat) if dst % beat else b""
    tail = h.fill(end, -end % beat) if end % beat else b""
    await drv.write_fields("IRQ_ENABLE", 0, chain_end=1, error=1)
    await drv.setup_transfer(0, src, dst, length)
    monitor.reset()
    await drv.start(0)
    # Far beyond any plausible rate: a hang fails the point rather than running forever.
    beats = length // beat
    await drv.wait_irq(dut.irq, timeout=10_000 + (beats + 2) * (read_latency + 100))
    cycles_end = monitor.cycles
    status = await drv.status(0)
    # Read after the copy, so that the copy starts on the same cycle as it always has (the
    # memory's pauses are drawn cycle by cycle from the seed).
    unaligned_built = (await drv.fields("CONFIG"))["UNALIGNED"]
    result = {
        "config": h.config.key(), "bytes": length, "src_offset": src_offset,
        "dst_offset": dst_offset, "beats": beats, "read_latency": read_latency,
        "backpressure": backpressure, "unaligned_built": unaligned_built,
    }
    if status.error:
        assert not status.busy, status
        result["error"] = status.err_code
    else:
        assert status.done, status
        assert h.memory.read(dst, length) == data, "copied data differs"
        if head:
            assert h.memory.read(dst - dst % beat, len(head)) == head, \
                "bytes before the destination changed"
        if tail:
            assert h.memory.read(end, len(tail)) == tail, "bytes after the destination changed"
        if src_offset % beat == 0 and dst_offset % beat == 0:
            assert monitor.reads == beats and monitor.writes == beats, \
                (monitor.reads, monitor.writes, beats)
        else:
            # Every beat that holds a byte of the copy must cross the bus at least once.
            assert monitor.reads >= _beats(src, length, beat), (monitor.reads, length)
            assert monitor.writes >= _beats(dst, length, beat), (monitor.writes, length)
        start = monitor.csr_write_cycle
        cycles = cycles_end - start
        result.update({
            "cycles": cycles, "read_beats": monitor.reads, "write_beats": monitor.writes,
            "read_beats_per_cycle": monitor.reads / cycles,
            "write_beats_per_cycle": monitor.writes / cycles,
            "launch_cycles": monitor.first_read_cycle - start,
        })
    await h.finish()

    path = os.environ.get(RESULTS_ENV)
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(result) + "\n")
