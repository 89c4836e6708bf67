"""The data path of a build: its parts made from a configuration, and the data path alone.

The parts are burst planners (one per channel), the burst arbiter, the data mover and the bus
adapter. :class:`~hauler.top.DMAController` puts them behind the register file and the
channels' control; :class:`DataPath` is them alone, for comparing area with bare DMA cores
that have no register file, such as verilog-axi's axi_cdma (``hauler synth --part
data-path``).
"""

from itertools import product

from amaranth.hdl import Module
from amaranth.lib import wiring

from ..bus.axi4 import AXI4Adapter
from ..bus.wishbone import WishboneAdapter
from .arbiter import BurstArbiter
from .mover import DataMover
from .planner import BurstPlanner


__all__ = ["burst_planner", "burst_arbiter", "data_mover", "bus_adapter", "DataPath"]


def burst_planner(config):
    """A channel's :class:`~.planner.BurstPlanner` for ``config``."""
    return BurstPlanner(addr_width=config.addr_width, len_width=config.len_width,
                        beat_shift=config.beat_shift, max_burst=config.max_burst,
                        unaligned=config.unaligned, streams=config.streams,
                        paced=config.req_ack)


def burst_arbiter(config):
    """The :class:`~.arbiter.BurstArbiter` between the channels' planners."""
    return BurstArbiter(addr_width=config.addr_width, channels=config.channels,
                        beat_shift=config.beat_shift, unaligned=config.unaligned,
                        streams=config.streams)


def data_mover(config):
    """The :class:`~.mover.DataMover` for ``config``."""
    return DataMover(addr_width=config.addr_width, data_width=config.data_width,
                     channels=config.channels, outstanding=config.outstanding,
                     fifo_depth=config.fifo_depth, max_burst=config.max_burst,
                     unaligned=config.unaligned, streams=config.streams)


def bus_adapter(config):
    """The bus adapter of ``config.master``: its bus is member ``axi`` or ``wb``."""
    adapter = AXI4Adapter if config.master == "axi4" else WishboneAdapter
    return adapter(addr_width=config.addr_width, data_width=config.data_width)


class DataPath(wiring.Component):
    """The data path of ``config`` alone: planners, arbiter, mover and bus adapter.

    Left out: the register file, each channel's control (checks, status, BYTES, COMPLETED,
    ERR_ADDR, interrupts, request pacing), the descriptor unit and the stream buffers. What
    they drive or read becomes ports: each planner's inputs and ``idle`` (a transfer's
    addresses and length, like axi_cdma's descriptor port), the mover's ``retire`` and faults
    (like its status port) and ``discard``, and the bus.

    Members
    -------
    ch0_transfer, ch0_go, ch0_idle, ... : the members of each channel's planner but
        ``bursts``, prefixed with the channel.
    retire, read_fault, write_fault, discard, ... : the members of the mover but ``bursts``,
        ``read`` and ``write``.
    axi or wb : Out(...)
        The memory master.
    """

    def __init__(self, config):
        self._planners = [burst_planner(config) for _ in range(config.channels)]
        self._arbiter = burst_arbiter(config)
        self._mover = data_mover(config)
        self._adapter = bus_adapter(config)
        self._bus = "axi" if config.master == "axi4" else "wb"
        members = {}
        for n, planner in enumerate(self._planners):
            members.update({f"ch{n}_{name}": member
                            for name, member in planner.signature.members.items()
                            if name != "bursts"})
        members.update({name: member for name, member in self._mover.signature.members.items()
                        if name not in ("bursts", "read", "write")})
        members[self._bus] = self._adapter.signature.members[self._bus]
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.arbiter = arbiter = self._arbiter
        m.submodules.mover = mover = self._mover
        m.submodules.adapter = adapter = self._adapter
        for n, planner in enumerate(self._planners):
            m.submodules[f"planner{n}"] = planner
            wiring.connect(m, planner.bursts, getattr(arbiter, f"ch{n}"))
            for name in planner.signature.members:
                if name != "bursts":
                    _forward(m, planner, name, self, f"ch{n}_{name}")
        wiring.connect(m, arbiter.out, mover.bursts)
        wiring.connect(m, mover.read, adapter.read)
        wiring.connect(m, mover.write, adapter.write)
        for name in mover.signature.members:
            if name not in ("bursts", "read", "write"):
                _forward(m, mover, name, self, name)
        _forward(m, adapter, self._bus, self, self._bus)
        return m


def _forward(m, inner, name, outer, outer_name):
    """Make member ``name`` of submodule ``inner`` member ``outer_name`` of ``outer``."""
    member = inner.signature.members[name]
    inside, outside = getattr(inner, name), getattr(outer, outer_name)
    if member.is_signature:
        # An array of interfaces (the mover's stream inputs) is connected element by element.
        for index in product(*map(range, member.dimensions)):
            one_inside, one_outside = inside, outside
            for i in index:
                one_inside, one_outside = one_inside[i], one_outside[i]
            wiring.connect(m, one_inside, wiring.flipped(one_outside))
    elif member.flow == wiring.In:
        m.d.comb += inside.eq(outside)
    else:
        m.d.comb += outside.eq(inside)
