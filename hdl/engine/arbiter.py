"""Round-robin arbiter between the channels' streams: bursts (ABI §6), descriptor traffic."""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .planner import Burst


__all__ = ["ChannelBurst", "RoundRobinArbiter", "LoneChannel", "BurstArbiter"]


def _tagged(field, layout, channels):
    return data.StructLayout({field: layout,
                              "channel": unsigned(max(1, (channels - 1).bit_length()))})


def ChannelBurst(addr_width, channels, **burst_options):
    """A burst (:func:`~.planner.Burst`, with ``burst_options``) and its channel."""
    return _tagged("burst", Burst(addr_width, **burst_options), channels)


class RoundRobinArbiter(wiring.Component):
    """Grants one item at a time, round-robin from the channel after the last one granted.

    So no active channel waits for more than one item of every other channel. By default
    the output is registered, which also cuts the paths between the channels and what they
    feed; unregistered, an item goes through in the cycle it is offered, and one shown but
    not taken stays shown (its channel holds it) until it is.

    Parameters
    ----------
    layout : Layout
        Of the items.
    channels : int
    field : str
        Name of the item in the output, beside ``channel``.
    registered : bool

    Members
    -------
    ch0, ch1, ... : In(stream of ``layout``)
    out : Out(stream of {field: layout, channel})
    """

    def __init__(self, layout, *, channels, field, registered=True):
        self._channels = channels
        self._field = field
        self._registered = registered
        members = {f"ch{n}": In(stream.Signature(layout)) for n in range(channels)}
        members["out"] = Out(stream.Signature(_tagged(field, layout, channels)))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        n = self._channels
        inputs = [getattr(self, f"ch{i}") for i in range(n)]
        requests = Cat(i.valid for i in inputs)
        last = Signal(range(n), init=n - 1)   # so channel 0 goes first after reset
        # Requests of channels after `last` win over those up to it.
        after_last = Signal(n)
        m.d.comb += after_last.eq(requests & ~((2 << last) - 1))

        grant = Signal(range(n))
        any_request = requests.any()
        for pool in (requests, after_last):   # later assignment wins: after_last first
            with m.If(pool.any()):
                for i in reversed(range(n)):  # lowest index wins within a pool
                    with m.If(pool[i]):
                        m.d.comb += grant.eq(i)

        if not self._registered:
            self._through(m, inputs, grant, last)
            return m

        # Refill only from empty: the consumer's ready does not reach back into the channels
        # in one cycle (a long path otherwise). An item every other cycle is plenty: a
        # planner offers a burst at most every third cycle, and a burst lasts a cycle per beat.
        take = any_request & ~self.out.valid
        # No reset on the payload: reset and enable together cost a LUT per flip-flop.
        payload = Signal.like(self.out.payload, reset_less=True)
        m.d.comb += self.out.payload.eq(payload)
        with m.If(self.out.ready):
            m.d.sync += self.out.valid.eq(0)
        with m.If(take):
            m.d.sync += [self.out.valid.eq(1), payload.channel.eq(grant), last.eq(grant)]
            with m.Switch(grant):
                for i in range(n):
                    with m.Case(i):
                        m.d.sync += payload[self._field].eq(inputs[i].payload)
        # Each channel's ready straight from the requests and `last` (one LUT for two
        # channels), not through the grant's encoding and a compare: it enables the
        # planners' wide registers. Channel j wins over i if it comes after `last` and i
        # does not, or both or neither do and j is lower.
        after = [last < i for i in range(n)]
        for i in range(n):
            beaten = 0
            for j in range(n):
                if j != i:
                    wins = (after[j] | ~after[i]) if j < i else (after[j] & ~after[i])
                    beaten = beaten | (requests[j] & wins)
            m.d.comb += inputs[i].ready.eq(~self.out.valid & requests[i] & ~beaten)
        return m

    def _through(self, m, inputs, grant, last):
        out = self.out
        if len(inputs) == 1:
            # Nothing to choose. One whole assignment (the channel number, 0, by zero
            # extension): a constant driven on its own would never be evaluated by Icarus.
            m.d.comb += [out.valid.eq(inputs[0].valid), inputs[0].ready.eq(out.ready),
                         out.payload.as_value().eq(inputs[0].payload.as_value())]
            return
        held = Signal()                       # shown last cycle, not taken: keep showing it
        held_channel = Signal.like(grant)
        chosen = Mux(held, held_channel, grant)
        m.d.comb += [out.valid.eq(Cat(i.valid for i in inputs).any()),
                     out.payload.channel.eq(chosen)]
        for i, item in enumerate(inputs):
            m.d.comb += item.ready.eq(out.ready & (chosen == i))
            with m.If(chosen == i):
                m.d.comb += out.payload[self._field].eq(item.payload)
        m.d.sync += [held.eq(out.valid & ~out.ready), held_channel.eq(chosen)]
        with m.If(out.valid & out.ready):
            m.d.sync += last.eq(chosen)


class LoneChannel(wiring.Component):
    """The arbiter of a single channel's items: nothing to choose, nothing registered.

    The item goes through in the cycle it is offered; its producer learns that it was
    taken a cycle later, from a flip-flop (``ready`` is the handshake registered), and the
    item, still shown in that cycle, is hidden from the consumer then. So the producer's
    enables start from a flip-flop, not from the consumer's ready (for the bursts: the
    bus's AR ready through the mover), as they would behind a registered arbiter, with no
    copy of the item. An item every other cycle at most (a planner offers a burst every
    third cycle at most).

    Members
    -------
    ch0 : In(stream of ``layout``)
    out : Out(stream of {field: layout, channel})
    """

    def __init__(self, layout, *, field):
        self._field = field
        super().__init__({"ch0": In(stream.Signature(layout)),
                          "out": Out(stream.Signature(_tagged(field, layout, 1)))})

    def elaborate(self, platform):
        m = Module()
        taken = Signal()
        m.d.sync += taken.eq(self.out.valid & self.out.ready)
        m.d.comb += [self.out.valid.eq(self.ch0.valid & ~taken), self.ch0.ready.eq(taken),
                     self.out.payload[self._field].eq(self.ch0.payload)]
        return m


def BurstArbiter(*, addr_width, channels, unaligned=False, **burst_options):
    """The arbiter of the planners' bursts in front of the data mover.

    Registered, which keeps the choice between the channels and the mover's ready out of
    the planners' paths, and puts a copy of the burst beside the mover. One aligned
    channel's bursts go straight through (:class:`LoneChannel`): its planner offers the
    burst from flip-flops and holds it until taken, so the copy only costs flip-flops and
    a cycle of launch. With the realigner the mover decides more from the burst (the beats
    it reads, whether it reads any) in front of the command's valid and the queues' flags,
    and its copy beside the mover is kept: without it, those paths measured 2-4 MHz slower
    on iCE40 at a third of the placements.
    """
    layout = Burst(addr_width, unaligned=unaligned, **burst_options)
    if channels == 1 and not unaligned:
        return LoneChannel(layout, field="burst")
    return RoundRobinArbiter(layout, channels=channels, field="burst")
