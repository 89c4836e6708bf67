"""Wishbone B4 pipelined bus models for Amaranth-simulator unit tests of the demo SoC's pieces.

A :class:`WishboneSlave` answers a port from a dict of words, with a chosen latency, random
stalls and addresses that end with ERR; a :class:`WishboneMaster` runs a list of accesses as
one pipelined bus cycle. Both record what they saw, cycle by cycle, for the tests to check the
protocol as well as the data.
"""

import random
from dataclasses import dataclass


__all__ = ["Access", "WishboneSlave", "WishboneMaster"]


@dataclass(frozen=True)
class Access:
    """One strobe taken by a slave, or one access a master asks for.

    ``data`` is the written word (writes) or None (reads); ``sel`` the byte selects.
    """
    addr: int
    data: object = None
    sel: int = 0b1111

    @property
    def write(self):
        return self.data is not None


class WishboneSlave:
    """Answers the pipelined port ``bus`` (a slave's view: the testbench drives ``ack``,
    ``err``, ``stall`` and ``dat_r``).

    Parameters
    ----------
    bus
        The port's interface (the DUT's master port, or a decoder's region port).
    latency : int
        Cycles from taking a strobe to its answer, at least 1.
    stall : float
        Probability of ``stall`` in each cycle.
    errors : set of int
        Word addresses answered with ERR.
    seed : int

    Members
    -------
    memory : dict of int to int
        Words by word address; a read of an unwritten word returns its address's complement.
    taken : list of (int, Access)
        The cycle and the access of each strobe taken.
    """

    def __init__(self, bus, *, latency=1, stall=0.0, errors=(), seed=0):
        if latency < 1:
            raise ValueError(f"latency must be at least 1, not {latency}")
        self.bus = bus
        self.latency, self.stall, self.errors = latency, stall, set(errors)
        self.memory = {}
        self.taken = []
        self._rng = random.Random(seed)

    def _read(self, addr):
        return self.memory.get(addr, ~addr & 0xFFFF_FFFF)

    async def run(self, ctx):
        """The background testbench."""
        bus = self.bus
        answers = []            # [cycle due, err, data], oldest first
        cycle = 0
        while True:
            stall = self._rng.random() < self.stall
            due = bool(answers) and answers[0][0] <= cycle
            ctx.set(bus.stall, stall)
            ctx.set(bus.ack, due and not answers[0][1])
            ctx.set(bus.err, due and answers[0][1])
            ctx.set(bus.dat_r, answers[0][2] if due else 0)
            _, _, cyc, stb, we, adr, dat_w, sel = await ctx.tick().sample(
                bus.cyc, bus.stb, bus.we, bus.adr, bus.dat_w, bus.sel)
            if due:
                answers.pop(0)
            if not cyc:
                answers.clear()     # the master ended its cycle: nothing more to answer
            elif stb and not stall:
                access = Access(adr, dat_w if we else None, sel)
                self.taken.append((cycle, access))
                failed = adr in self.errors
                data = 0
                if we and not failed:
                    mask = sum(0xFF << 8 * i for i in range(4) if sel >> i & 1)
                    self.memory[adr] = self._read(adr) & ~mask | dat_w & mask
                elif not we:
                    data = self._read(adr)
                answers.append([cycle + self.latency, failed, data])
            cycle += 1


class WishboneMaster:
    """Drives the pipelined port ``bus`` (a master's view: the testbench drives ``cyc``,
    ``stb``, ``we``, ``adr``, ``dat_w``, ``sel``).

    Parameters
    ----------
    bus
        The port's interface.
    """

    def __init__(self, bus):
        self.bus = bus

    async def run(self, ctx, accesses):
        """Run ``accesses`` as one bus cycle, strobing each as soon as the previous one is
        taken, then leave ``cyc`` low for a cycle; return their answers, in order, as
        (``"ack"`` or ``"err"``, dat_r), and the cycles the bus cycle lasted (``cyc`` high)."""
        bus = self.bus
        ctx.set(bus.cyc, 1)
        answers, sent, cycles = [], 0, 0
        while len(answers) < len(accesses):
            if sent < len(accesses):
                access = accesses[sent]
                ctx.set(bus.stb, 1)
                ctx.set(bus.we, access.write)
                ctx.set(bus.adr, access.addr)
                ctx.set(bus.dat_w, access.data or 0)
                ctx.set(bus.sel, access.sel)
            else:
                ctx.set(bus.stb, 0)
            _, _, stall, ack, err, dat_r = await ctx.tick().sample(
                bus.stall, bus.ack, bus.err, bus.dat_r)
            cycles += 1
            if sent < len(accesses) and not stall:
                sent += 1
            if ack or err:
                answers.append(("err" if err else "ack", dat_r))
        # B4: the bus cycle ends with cyc low for a cycle; that is when an arbiter can hand
        # the bus to another master.
        ctx.set(bus.stb, 0)
        ctx.set(bus.cyc, 0)
        await ctx.tick()
        return answers, cycles
