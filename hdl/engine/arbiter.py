"""Round-robin arbiter between the channels' burst streams (ABI §6)."""

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .planner import Burst


__all__ = ["ChannelBurst", "BurstArbiter"]


def ChannelBurst(addr_width, channels):
    return data.StructLayout({"burst": Burst(addr_width),
                              "channel": unsigned(max(1, (channels - 1).bit_length()))})


class BurstArbiter(wiring.Component):
    """Grants one burst at a time, round-robin from the channel after the last one granted.

    So no active channel waits for more than one burst of every other channel. The output
    is registered, which also cuts the paths between the planners and the mover.
    """

    def __init__(self, *, addr_width, channels):
        self._channels = channels
        members = {f"ch{n}": In(stream.Signature(Burst(addr_width))) for n in range(channels)}
        members["out"] = Out(stream.Signature(ChannelBurst(addr_width, channels)))
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

        # Refill only from empty: the mover's ready does not reach back into the planners in
        # one cycle (a long path otherwise). A burst every other cycle is plenty: bursts are
        # offered at most every third cycle per channel and last one cycle per beat.
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
                        m.d.sync += payload.burst.eq(inputs[i].payload)
        for i in range(n):
            m.d.comb += inputs[i].ready.eq(take & (grant == i))
        return m
