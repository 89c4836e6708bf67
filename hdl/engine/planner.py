"""Burst planner: slices one transfer into bursts that the buses accept."""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..memport import BEATS_WIDTH


__all__ = ["Transfer", "Burst", "BurstPlanner"]

#: AXI4 FIXED bursts are limited to 16 beats; Wishbone follows the same rule for uniformity.
FIXED_MAX_BEATS = 16
#: No AXI burst may cross a 4 KiB boundary.
PAGE_BITS = 12


def Transfer(addr_width, len_width):
    """One transfer of ``length`` bytes (aligned to the beat size: checked before planning)."""
    return data.StructLayout({
        "src": unsigned(addr_width), "dst": unsigned(addr_width), "length": unsigned(len_width),
        "src_fixed": unsigned(1), "dst_fixed": unsigned(1),
    })


def Burst(addr_width):
    """One burst of a transfer: the same beats read from ``src`` and written to ``dst``."""
    return data.StructLayout({
        "src": unsigned(addr_width), "dst": unsigned(addr_width),
        "beats": unsigned(BEATS_WIDTH),
        "src_fixed": unsigned(1), "dst_fixed": unsigned(1),
    })


class BurstPlanner(wiring.Component):
    """Emits the bursts of one transfer, one per cycle.

    Each burst is as long as possible: at most ``max_burst`` beats (16 when either side is
    FIXED), never crossing a 4 KiB page on an incrementing side, never past the end.

    Parameters
    ----------
    addr_width, len_width : int
    beat_shift : int
        log2 of the bytes per beat.
    max_burst : int

    Members
    -------
    start : In(stream of Transfer)
        Accepted only while idle.
    bursts : Out(stream of Burst)
    abort : In(1)
        Drop the bursts not yet emitted (the one on ``bursts`` is still delivered).
    idle : Out(1)
        No transfer in progress and no burst waiting on ``bursts``.
    """

    def __init__(self, *, addr_width, len_width, beat_shift, max_burst):
        self._addr_width = addr_width
        self._beat_shift = beat_shift
        self._max_burst = max_burst
        super().__init__({
            "start": In(stream.Signature(Transfer(addr_width, len_width))),
            "bursts": Out(stream.Signature(Burst(addr_width))),
            "abort": In(1),
            "idle": Out(1),
        })

    def _beats_to_page_end(self, addr):
        page_beats = 1 << (PAGE_BITS - self._beat_shift)
        return page_beats - addr[self._beat_shift:PAGE_BITS]

    def elaborate(self, platform):
        m = Module()
        shift = self._beat_shift

        src = Signal(self._addr_width)
        dst = Signal(self._addr_width)
        remaining = Signal(len(self.start.payload.length) - shift)  # in beats
        src_fixed = Signal()
        dst_fixed = Signal()

        limit = Mux(src_fixed | dst_fixed, min(self._max_burst, FIXED_MAX_BEATS),
                    self._max_burst)
        candidates = [
            Mux(remaining < limit, remaining, limit),
            Mux(src_fixed, limit, self._beats_to_page_end(src)),
            Mux(dst_fixed, limit, self._beats_to_page_end(dst)),
        ]
        beats = candidates[0]
        for c in candidates[1:]:
            beats = Mux(c < beats, c, beats)
        beats = beats[:BEATS_WIDTH]

        out = self.bursts
        with m.If(out.ready):
            m.d.sync += out.valid.eq(0)
        with m.If((~out.valid | out.ready) & (remaining != 0) & ~self.abort):
            m.d.sync += [
                out.valid.eq(1),
                out.payload.src.eq(src), out.payload.dst.eq(dst), out.payload.beats.eq(beats),
                out.payload.src_fixed.eq(src_fixed), out.payload.dst_fixed.eq(dst_fixed),
                remaining.eq(remaining - beats),
                src.eq(Mux(src_fixed, src, src + (beats << shift))),
                dst.eq(Mux(dst_fixed, dst, dst + (beats << shift))),
            ]

        m.d.comb += [
            self.idle.eq((remaining == 0) & ~out.valid),
            self.start.ready.eq(remaining == 0),
        ]
        with m.If(self.abort):
            m.d.sync += remaining.eq(0)
        with m.Elif(self.start.valid & self.start.ready):
            t = self.start.payload
            m.d.sync += [
                src.eq(t.src), dst.eq(t.dst), remaining.eq(t.length[shift:]),
                src_fixed.eq(t.src_fixed), dst_fixed.eq(t.dst_fixed),
            ]
        return m
