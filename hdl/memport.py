"""The neutral internal memory ports (ABI-independent).

The engine speaks only these; the bus adapters in :mod:`hauler.bus` turn them into AXI4 or
Wishbone. A read port is a ``cmd`` stream plus an ``r`` stream of beats; a write port is a
``cmd`` stream, a ``w`` stream of beats and a ``b`` stream with one response per burst.
Every ``cmd`` announces exactly ``beats`` beats on ``r`` or ``w``; ``last`` marks the final one.
"""

from amaranth.hdl import unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out


__all__ = ["BurstCommand", "ReadBeat", "WriteBeat", "WriteResponse",
           "ReadPortSignature", "WritePortSignature"]

#: A burst is 1..256 beats (AXI4 INCR limit).
BEATS_WIDTH = 9


def BurstCommand(addr_width):
    """One burst: ``beats`` beats from ``addr`` (byte address, beat aligned).

    ``fixed`` keeps the address for every beat (a peripheral data register); the adapters
    emit an AXI FIXED burst or a Wishbone constant-address burst.

    ``len`` is ``beats - 1`` (AXI's AxLEN), worked out ahead by whoever drives a bus
    adapter, so that no subtractor sits between the last choice of a command and the bus.
    The port arbiters work it out for their clients (from ``beats``, before choosing), so a
    client behind one need not give it.

    ``more`` says that the client's next burst follows at once: a read port arbiter lets it
    go next (a descriptor fetch's bursts stay in a row, none of the data mover's between).
    """
    return data.StructLayout({"addr": unsigned(addr_width), "beats": unsigned(BEATS_WIDTH),
                              "fixed": unsigned(1), "len": unsigned(BEATS_WIDTH - 1),
                              "more": unsigned(1)})


def ReadBeat(data_width):
    return data.StructLayout({"data": unsigned(data_width), "err": unsigned(1), "last": unsigned(1)})


def WriteBeat(data_width):
    return data.StructLayout({"data": unsigned(data_width), "strb": unsigned(data_width // 8),
                              "last": unsigned(1)})


WriteResponse = data.StructLayout({"err": unsigned(1)})


class ReadPortSignature(wiring.Signature):
    def __init__(self, *, addr_width, data_width):
        self.addr_width = addr_width
        self.data_width = data_width
        super().__init__({
            "cmd": Out(stream.Signature(BurstCommand(addr_width))),
            "r": In(stream.Signature(ReadBeat(data_width))),
        })


class WritePortSignature(wiring.Signature):
    def __init__(self, *, addr_width, data_width):
        self.addr_width = addr_width
        self.data_width = data_width
        super().__init__({
            "cmd": Out(stream.Signature(BurstCommand(addr_width))),
            "w": Out(stream.Signature(WriteBeat(data_width))),
            "b": In(stream.Signature(WriteResponse)),
        })
