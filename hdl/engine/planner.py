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
    """One burst of a transfer: the same beats read from ``src`` and written to ``dst``.

    ``end`` marks the transfer's final burst (scatter-gather writes a descriptor back once
    that burst retires)."""
    return data.StructLayout({
        "src": unsigned(addr_width), "dst": unsigned(addr_width),
        "beats": unsigned(BEATS_WIDTH),
        "src_fixed": unsigned(1), "dst_fixed": unsigned(1), "end": unsigned(1),
    })


class BurstPlanner(wiring.Component):
    """Emits the bursts of one transfer, one every third cycle at most.

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
    transfer : In(Transfer)
        The transfer to plan (the channel's registers), as it is in the cycle before ``go``.
    go : In(1)
        Start planning ``transfer``; ignored unless idle.
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
            "transfer": In(Transfer(addr_width, len_width)),
            "go": In(1),
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

        # The offered burst is the planner's own state: ``bursts.payload`` holds the
        # addresses of the next burst, and they only move once it is taken.
        # The datapath registers have no reset (they follow the transfer while idle): a
        # flip-flop with both reset and enable costs a LUT in front of it on iCE40 and ECP5.
        out = self.bursts
        state = Signal.like(out.payload, reset_less=True)
        m.d.comb += out.payload.eq(state)
        src, dst = state.src, state.dst
        beats = state.beats
        src_fixed, dst_fixed = state.src_fixed, state.dst_fixed
        remaining = Signal(len(self.transfer.length) - shift, reset_less=True)  # in beats
        active = Signal()

        # Sizing a burst takes two registered steps (three bounds; then their minimum) and
        # moving the addresses a third: a burst every third cycle at most, plenty for
        # bursts of three beats or more, and short paths for a high Fmax.
        step = Signal(range(3))
        limit = Mux(src_fixed | dst_fixed, min(self._max_burst, FIXED_MAX_BEATS),
                    self._max_burst)
        bound = [Signal(PAGE_BITS - shift + 1, name=f"bound{i}", reset_less=True)
                 for i in range(3)]
        fits = Signal(reset_less=True)      # the rest of the transfer fits in one burst
        m.d.comb += self.idle.eq(~active & ~out.valid)
        with m.If(self.idle | (active & (step == 0))):
            m.d.sync += [
                bound[0].eq(Mux(remaining < limit, remaining, limit)),
                fits.eq(remaining <= limit),
                bound[1].eq(Mux(src_fixed, limit, self._beats_to_page_end(src))),
                bound[2].eq(Mux(dst_fixed, limit, self._beats_to_page_end(dst))),
                step.eq(1),
            ]

        # While idle the state follows the transfer, and the bounds follow the state, every
        # cycle; `go` freezes both and sets `active`. So no wide load enable hangs off the
        # register write that starts a run, the first burst is sized at once, and state and
        # bounds agree whatever the transfer does in the cycle of `go`.
        with m.If(self.idle):
            with m.If(self.go):
                m.d.sync += [active.eq(remaining != 0), step.eq(1)]
            with m.Else():
                t = self.transfer
                m.d.sync += [
                    src.eq(t.src), dst.eq(t.dst), remaining.eq(t.length[shift:]),
                    src_fixed.eq(t.src_fixed), dst_fixed.eq(t.dst_fixed),
                ]

        with m.If(active & (step == 1)):
            a, b, c = bound
            a_least = (a <= b) & (a <= c)
            m.d.sync += [
                beats.eq(Mux(a_least, a, Mux(b <= c, b, c))),
                state.end.eq(fits & a_least),
                out.valid.eq(1),
                step.eq(2),
            ]
        with m.If(out.valid & out.ready):
            m.d.sync += [
                out.valid.eq(0),
                remaining.eq(remaining - beats),
                active.eq(remaining != beats),
                # The FIXED choice on the narrow increment, not on the wide sum.
                src.eq(src + Mux(src_fixed, 0, beats << shift)),
                dst.eq(dst + Mux(dst_fixed, 0, beats << shift)),
                step.eq(0),
            ]
        # Abort drops what is not yet offered; a burst already offered stays offered until
        # taken (valid never falls before ready), and is the last.
        with m.If(self.abort & active):
            m.d.sync += [active.eq(0), step.eq(0), out.valid.eq(out.valid & ~out.ready)]
        return m
