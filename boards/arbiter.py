"""A Wishbone B4 pipelined arbiter: several masters share one bus, a bus cycle at a time."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hauler.bus.signatures import WishboneSignature


__all__ = ["WishboneArbiter"]


class WishboneArbiter(wiring.Component):
    """Grants the bus to one master at a time, round-robin, for a whole bus cycle.

    The granted master's signals go to ``bus`` unregistered, and ``bus``'s answers (``stall``,
    ``ack``, ``err``, ``dat_r``) come back to it, so a master alone on the bus runs at the
    bus's full rate. The others see ``stall`` high (their strobes wait, as B4 allows) and no
    answers. The grant moves only while the granted master's ``cyc`` is low, i.e. between its
    bus cycles, to the next master in round-robin order whose ``cyc`` is high, in the same
    cycle: a master asking for an idle bus has it at once. A B4 master keeps ``cyc`` high
    until its last strobe is answered, so no answer can reach the wrong master. (Hauler's
    Wishbone master bounds its bus cycles and drops ``cyc`` for a cycle between them, which
    is when another master can win.)

    Parameters
    ----------
    addr_width, data_width : int
        Of every port (``adr`` is a word address).
    masters : tuple of str
        Names of the master ports, at least one; the first one has the bus after reset.

    Members
    -------
    <name> : In(WishboneSignature(..., pipelined=True)), for each of ``masters``
        A master's port.
    bus : Out(WishboneSignature(..., pipelined=True))
        The shared bus.

    Raises
    ------
    ValueError
        If ``masters`` is empty, holds a name twice, or names a port ``bus``.
    """

    def __init__(self, *, addr_width, data_width, masters):
        masters = tuple(masters)
        if not masters:
            raise ValueError("masters must name at least one master port")
        if len(set(masters)) != len(masters) or "bus" in masters:
            raise ValueError(f"masters must be distinct names other than 'bus', not {masters!r}")
        self._masters = masters
        signature = WishboneSignature(addr_width=addr_width, data_width=data_width,
                                      pipelined=True)
        members = {name: In(signature) for name in masters}
        members["bus"] = Out(signature)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        ports = [getattr(self, name) for name in self._masters]
        last = Signal(range(len(ports)))    # the master granted in the previous cycle
        grant = Signal(range(len(ports)))   # the master granted in this one
        # The signals a master drives.
        driven = [path[0] for path, member in self.bus.signature.members.flatten()
                  if member.flow == Out]

        # The grant stays while its master's cyc is high; once it drops, the next master in
        # round-robin order whose cyc is high has the bus in that very cycle, so a master
        # asking for an idle bus is never stalled.
        m.d.comb += grant.eq(last)
        with m.Switch(last):
            for i, port in enumerate(ports):
                with m.Case(i):
                    with m.If(~port.cyc):
                        for k in reversed(range(1, len(ports))):
                            j = (i + k) % len(ports)
                            with m.If(ports[j].cyc):
                                m.d.comb += grant.eq(j)
        m.d.sync += last.eq(grant)

        for i, port in enumerate(ports):
            m.d.comb += port.dat_r.eq(self.bus.dat_r)
            with m.If(grant == i):
                m.d.comb += [getattr(self.bus, name).eq(getattr(port, name))
                             for name in driven]
                m.d.comb += [port.ack.eq(self.bus.ack), port.err.eq(self.bus.err),
                             port.stall.eq(self.bus.stall)]
            with m.Else():
                # Waiting: its strobe stays on its side until it has the bus.
                m.d.comb += port.stall.eq(1)
        return m
