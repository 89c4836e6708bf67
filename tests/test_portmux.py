"""Memory-port arbiters: routing, ordering, priority, back-pressure and stream rules."""

import gc
import random
import warnings

import pytest
from amaranth.back import rtlil
from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator

from hauler.engine.portmux import ReadPortArbiter, WritePortArbiter


def run_cycles(dut, models, *, max_cycles):
    """Each cycle: every model drives its inputs, then every model samples the handshakes
    they make (so no model reads a ready before all valids are set), then the clock ticks.
    Ends when every model is done."""
    async def bench(ctx):
        for cycle in range(max_cycles):
            for model in models:
                model.drive(ctx, cycle)
            for model in models:
                model.observe(ctx, cycle)
            if all(model.done for model in models):
                return cycle
            await ctx.tick()
        raise AssertionError(f"not done after {max_cycles} cycles")

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


class StreamRules:
    """Checks a stream the arbiter drives: valid is not dropped before ready, and the
    payload holds while valid and not ready."""

    done = True

    def __init__(self, name, stream):
        self.name = name
        self.stream = stream
        self.held = None    # the payload offered and not taken in the previous cycle

    def drive(self, ctx, cycle):
        pass

    def observe(self, ctx, cycle):
        valid, ready = ctx.get(self.stream.valid), ctx.get(self.stream.ready)
        payload = ctx.get(self.stream.payload.as_value())
        if self.held is not None:
            assert valid, f"{self.name}: valid dropped before ready at cycle {cycle}"
            assert payload == self.held, f"{self.name}: payload changed at cycle {cycle}"
        self.held = payload if valid and not ready else None


class Source:
    """Offers ``items`` on a stream with random gaps, holding each until it is taken."""

    def __init__(self, stream, items, rng, gap):
        self.stream, self.items, self.rng, self.gap = stream, items, rng, gap
        self.sent = 0
        self.offering = False

    def drive(self, ctx):
        if not self.offering and self.sent < len(self.items) and self.rng.random() >= self.gap:
            self.offering = True
            ctx.set(self.stream.payload, self.items[self.sent])
        ctx.set(self.stream.valid, self.offering)

    def took(self, ctx):
        """Whether the item offered was taken in this cycle."""
        if self.offering and ctx.get(self.stream.ready):
            self.offering = False
            self.sent += 1
            return True
        return False


# --- Reads -----------------------------------------------------------------------------------

def read_data(addr, index):
    return (addr << 4) | index


def read_err(addr, index):
    return ((addr >> 8) + index) % 7 == 0


class ReadClient:
    """An upstream port: issues ``bursts`` (addr, beats) and checks that it gets exactly
    their beats, in order, and nothing else."""

    def __init__(self, port, bursts, rng, *, gap, stall, deaf=range(0)):
        self.port, self.rng, self.stall, self.deaf = port, rng, stall, deaf
        self.cmds = Source(port.cmd, [dict(addr=a, beats=n, fixed=0) for a, n in bursts],
                           rng, gap)
        self.bursts = bursts
        self.expected = []      # bursts granted, not yet answered in full
        self.index = 0          # of the next beat of expected[0]
        self.beats = 0

    @property
    def done(self):
        return self.cmds.sent == len(self.bursts) and not self.expected

    def drive(self, ctx, cycle):
        self.cmds.drive(ctx)
        ctx.set(self.port.r.ready, cycle not in self.deaf and self.rng.random() >= self.stall)

    def observe(self, ctx, cycle):
        if self.cmds.took(ctx):
            self.expected.append(self.bursts[self.cmds.sent - 1])
        r = self.port.r
        if ctx.get(r.valid) and ctx.get(r.ready):
            assert self.expected, f"a beat for no burst at cycle {cycle}"
            addr, beats = self.expected[0]
            beat = ctx.get(r.payload)
            assert (beat.data, beat.err, beat.last) == (
                read_data(addr, self.index), read_err(addr, self.index),
                self.index == beats - 1), f"beat {self.index} of {addr:#x} at cycle {cycle}"
            self.beats += 1
            self.index += 1
            if beat.last:
                self.expected.pop(0)
                self.index = 0


class ReadSlave:
    """The downstream adapter: random cmd stalls, beats in command order with random gaps,
    the first one the cycle after its command at the earliest. Data and error depend on the
    address and beat index only, not on the port."""

    done = True

    def __init__(self, port, rng, *, stall, gap, limit):
        self.port, self.rng, self.stall, self.gap = port, rng, stall, gap
        self.limit = limit      # bursts the arbiter may have in flight
        self.queue = []         # [addr, beats, next index] of bursts accepted
        self.offering = False
        self.stalled = 0        # cycles a beat waited for ready

    def drive(self, ctx, cycle):
        ctx.set(self.port.cmd.ready, self.rng.random() >= self.stall)
        r = self.port.r
        if not self.offering and self.queue and self.rng.random() >= self.gap:
            addr, beats, index = self.queue[0]
            self.offering = True
            ctx.set(r.payload, dict(data=read_data(addr, index), err=read_err(addr, index),
                                    last=index == beats - 1))
        ctx.set(r.valid, self.offering)

    def observe(self, ctx, cycle):
        cmd, r = self.port.cmd, self.port.r
        if ctx.get(cmd.valid) and ctx.get(cmd.ready):
            command = ctx.get(cmd.payload)
            assert command.len == command.beats - 1     # worked out by the arbiter
            self.queue.append([command.addr, command.beats, 0])
            assert len(self.queue) <= self.limit, f"{len(self.queue)} bursts in flight"
        if self.offering:
            if ctx.get(r.ready):
                self.offering = False
                self.queue[0][2] += 1
                if self.queue[0][2] == self.queue[0][1]:
                    self.queue.pop(0)
            else:
                self.stalled += 1


def random_bursts(rng, port, count):
    # Addresses tell the ports apart; beats 1..16 of 4 bytes fit 256 bytes apart.
    return [((port + 1) << 16 | k << 8, rng.randint(1, 16)) for k in range(count)]


def read_bench(*, seed, count, outstanding, gaps, stall, deaf=range(0), slave_gap=0.3):
    rng = random.Random(seed)
    dut = ReadPortArbiter(addr_width=32, data_width=32, ports=2, outstanding=outstanding)
    clients = [ReadClient(getattr(dut, f"in{p}"), random_bursts(rng, p, count), rng,
                          gap=gaps[p], stall=stall, deaf=deaf if p == 1 else range(0))
               for p in range(2)]
    slave = ReadSlave(dut.out, rng, stall=0.3, gap=slave_gap, limit=outstanding + 1)
    checks = [StreamRules("out.cmd", dut.out.cmd)] + \
             [StreamRules(f"in{p}.r", getattr(dut, f"in{p}").r) for p in range(2)]
    run_cycles(dut, [*clients, slave, *checks], max_cycles=40 * count * 2)
    for client in clients:
        assert client.beats == sum(n for _, n in client.bursts)
    return clients, slave


@pytest.mark.parametrize("outstanding", [1, 4])
def test_read_routes_every_beat_to_its_port(outstanding):
    read_bench(seed=outstanding, count=150, outstanding=outstanding, gaps=(0.3, 0.1), stall=0.2)


def test_read_stalls_for_a_port_not_ready():
    # Port 1 takes no beat for 300 cycles: its beats wait on the downstream r, nothing is
    # dropped or given to port 0, and port 0's later beats wait behind them.
    _, slave = read_bench(seed=7, count=40, outstanding=4, gaps=(0.5, 0.0), stall=0.0,
                          deaf=range(20, 320), slave_gap=0.0)
    assert slave.stalled >= 250


def test_read_port_0_first_and_a_shown_command_stays():
    dut = ReadPortArbiter(addr_width=32, data_width=32, ports=2, outstanding=4)

    async def bench(ctx):
        # Port 1 alone: on the bus at once (no register in the way), and handed over at
        # once though the bus does not take it.
        ctx.set(dut.in1.cmd.payload, dict(addr=0x200, beats=4, fixed=0))
        ctx.set(dut.in1.cmd.valid, 1)
        assert ctx.get(dut.out.cmd.valid) and ctx.get(dut.out.cmd.payload.addr) == 0x200
        assert ctx.get(dut.in1.cmd.ready)
        await ctx.tick()
        # Not taken: it stays, though port 0 now asks; port 1 may hand over no other yet.
        ctx.set(dut.in1.cmd.payload.addr, 0x300)
        ctx.set(dut.in0.cmd.payload, dict(addr=0x100, beats=4, fixed=0))
        ctx.set(dut.in0.cmd.valid, 1)
        assert ctx.get(dut.out.cmd.payload.addr) == 0x200 and not ctx.get(dut.in0.cmd.ready)
        assert not ctx.get(dut.in1.cmd.ready)
        ctx.set(dut.out.cmd.ready, 1)
        assert ctx.get(dut.out.cmd.valid) and not ctx.get(dut.in0.cmd.ready)
        assert not ctx.get(dut.in1.cmd.ready)
        await ctx.tick()
        # Both ask, nothing shown: port 0 first; port 1's command is handed over to wait.
        ctx.set(dut.out.cmd.ready, 0)
        assert ctx.get(dut.out.cmd.payload.addr) == 0x100 and ctx.get(dut.in1.cmd.ready)
        await ctx.tick()
        ctx.set(dut.in1.cmd.valid, 0)
        assert ctx.get(dut.out.cmd.payload.addr) == 0x100 and not ctx.get(dut.in1.cmd.ready)
        ctx.set(dut.out.cmd.ready, 1)
        assert ctx.get(dut.in0.cmd.ready)
        await ctx.tick()
        # Port 0 asks again: the command waiting goes first.
        ctx.set(dut.in0.cmd.payload.addr, 0x400)
        assert ctx.get(dut.out.cmd.valid) and ctx.get(dut.out.cmd.payload.addr) == 0x300
        assert not ctx.get(dut.in0.cmd.ready)
        await ctx.tick()
        assert ctx.get(dut.out.cmd.payload.addr) == 0x400 and ctx.get(dut.in0.cmd.ready)
        assert ctx.get(dut.in1.cmd.ready)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_read_port_0_keeps_its_turn_for_a_command_with_more():
    """A command of port 0 with ``more`` (a descriptor fetch's bursts): its next command
    goes before port 1's waiting one; the one without ``more`` gives the turn back."""
    dut = ReadPortArbiter(addr_width=32, data_width=32, ports=2, outstanding=4)

    async def bench(ctx):
        ctx.set(dut.out.cmd.ready, 1)
        ctx.set(dut.in0.cmd.payload, dict(addr=0x108, beats=6, fixed=0, more=1))
        ctx.set(dut.in0.cmd.valid, 1)
        ctx.set(dut.in1.cmd.payload, dict(addr=0x400, beats=16, fixed=0))
        ctx.set(dut.in1.cmd.valid, 1)
        shown = []
        for cmd in [dict(addr=0x100, beats=2, fixed=0, more=1),
                    dict(addr=0x120, beats=1, fixed=0, more=0), None, None]:
            assert ctx.get(dut.out.cmd.valid)
            shown.append(ctx.get(dut.out.cmd.payload.addr))
            took_in0 = ctx.get(dut.in0.cmd.valid) and ctx.get(dut.in0.cmd.ready)
            took_in1 = ctx.get(dut.in1.cmd.valid) and ctx.get(dut.in1.cmd.ready)
            await ctx.tick()
            if took_in1:
                ctx.set(dut.in1.cmd.valid, 0)       # (handed over: it waits in a register)
            if took_in0:
                if cmd is None:
                    ctx.set(dut.in0.cmd.valid, 0)
                else:
                    ctx.set(dut.in0.cmd.payload, cmd)
        assert shown[:3] == [0x108, 0x100, 0x120], [hex(a) for a in shown]
        assert 0x400 in shown[3:]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


# --- Writes ----------------------------------------------------------------------------------

def write_err(addr):
    return (addr >> 8) % 5 == 0


class WriteClient:
    """An upstream port: issues ``bursts`` and, independently, their W beats (so some are
    offered before their command is granted); checks each B against its burst."""

    def __init__(self, port, index, bursts, rng, *, cmd_gap, w_gap, b_stall):
        self.port, self.rng, self.b_stall = port, rng, b_stall
        self.bursts = bursts
        self.cmds = Source(port.cmd, [dict(addr=a, beats=n, fixed=0) for a, n in bursts],
                           rng, cmd_gap)
        self.written = {}       # addr -> the beats it must get, as (data, strb)
        beats = []
        for k, (addr, n) in enumerate(bursts):
            self.written[addr] = [(index << 28 | k << 8 | i, rng.randrange(16))
                                  for i in range(n)]
            beats += [dict(data=d, strb=s, last=i == n - 1)
                      for i, (d, s) in enumerate(self.written[addr])]
        self.w_burst = [k for k, (_, n) in enumerate(bursts) for _ in range(n)]
        self.w = Source(port.w, beats, rng, w_gap)
        self.unanswered = []    # bursts granted, B not yet received
        self.early = 0          # cycles a W beat was offered before its command's grant

    @property
    def done(self):
        return (self.cmds.sent == len(self.bursts) and self.w.sent == len(self.w.items)
                and not self.unanswered)

    def drive(self, ctx, cycle):
        self.cmds.drive(ctx)
        self.w.drive(ctx)
        ctx.set(self.port.b.ready, self.rng.random() >= self.b_stall)

    def observe(self, ctx, cycle):
        if self.w.offering and self.w_burst[self.w.sent] >= self.cmds.sent:
            self.early += 1
        if self.cmds.took(ctx):
            self.unanswered.append(self.bursts[self.cmds.sent - 1][0])
        self.w.took(ctx)
        b = self.port.b
        if ctx.get(b.valid) and ctx.get(b.ready):
            assert self.unanswered, f"a response for no burst at cycle {cycle}"
            addr = self.unanswered.pop(0)
            assert ctx.get(b.payload.err) == write_err(addr), f"B of {addr:#x}"


class WriteSlave:
    """The downstream adapter: random stalls on cmd and w (w beats may be taken before their
    command), records every burst as (addr, beats, [(data, strb)]), answers in order with
    an error for some addresses."""

    done = True

    def __init__(self, port, rng, *, stall, limit):
        self.port, self.rng, self.stall = port, rng, stall
        self.limit = limit
        self.cmds = []          # commands whose beats have not all come
        self.beats = []         # beats of the burst coming
        self.bursts = []        # complete beat lists whose command has not come
        self.written = []       # (addr, beats, [(data, strb)])
        self.responses = []     # err of the bursts to answer
        self.in_flight = 0
        self.offering = False

    def drive(self, ctx, cycle):
        ctx.set(self.port.cmd.ready, self.rng.random() >= self.stall)
        ctx.set(self.port.w.ready, self.rng.random() >= self.stall)
        b = self.port.b
        if not self.offering and self.responses and self.rng.random() >= self.stall:
            self.offering = True
            ctx.set(b.payload.err, self.responses[0])
        ctx.set(b.valid, self.offering)

    def observe(self, ctx, cycle):
        cmd, w, b = self.port.cmd, self.port.w, self.port.b
        if ctx.get(cmd.valid) and ctx.get(cmd.ready):
            command = ctx.get(cmd.payload)
            assert command.len == command.beats - 1     # worked out by the arbiter
            self.cmds.append((command.addr, command.beats))
            self.in_flight += 1
            assert self.in_flight <= self.limit, f"{self.in_flight} bursts in flight"
        if ctx.get(w.valid) and ctx.get(w.ready):
            beat = ctx.get(w.payload)
            self.beats.append((beat.data, beat.strb))
            if beat.last:
                self.bursts.append(self.beats)
                self.beats = []
        while self.cmds and self.bursts:
            (addr, beats), data = self.cmds.pop(0), self.bursts.pop(0)
            self.written.append((addr, beats, data))
            self.responses.append(write_err(addr))
        if self.offering and ctx.get(b.ready):
            self.offering = False
            self.responses.pop(0)
            self.in_flight -= 1


def write_bench(*, seed, count, outstanding, stall):
    rng = random.Random(seed)
    dut = WritePortArbiter(addr_width=32, data_width=32, ports=2, outstanding=outstanding)
    clients = [WriteClient(getattr(dut, f"in{p}"), p, random_bursts(rng, p, count), rng,
                           cmd_gap=0.4, w_gap=0.2, b_stall=stall) for p in range(2)]
    slave = WriteSlave(dut.out, rng, stall=stall, limit=outstanding + 1)
    checks = [StreamRules("out.cmd", dut.out.cmd), StreamRules("out.w", dut.out.w)] + \
             [StreamRules(f"in{p}.b", getattr(dut, f"in{p}").b) for p in range(2)]
    run_cycles(dut, [*clients, slave, *checks], max_cycles=40 * count * 2)

    expected = {addr: beats for client in clients for addr, beats in client.written.items()}
    assert sorted(addr for addr, _, _ in slave.written) == sorted(expected)
    for addr, beats, data in slave.written:
        # Each burst has exactly its own writer's beats, in order, none of another burst.
        assert beats == len(expected[addr]) and data == expected[addr], f"burst {addr:#x}"
    assert all(client.early for client in clients)
    return clients


@pytest.mark.parametrize("outstanding", [1, 4])
def test_write_bursts_and_responses_keep_their_port(outstanding):
    write_bench(seed=outstanding, count=120, outstanding=outstanding, stall=0.3)


def test_write_grant_waits_while_tag_fifos_are_full():
    # No response and no W taken: after outstanding + 1 grants, no port is granted again.
    dut = WritePortArbiter(addr_width=32, data_width=32, ports=2, outstanding=2)

    async def bench(ctx):
        ctx.set(dut.out.cmd.ready, 1)
        granted = 0
        for k in range(20):
            for p, port in enumerate((dut.in0, dut.in1)):
                ctx.set(port.cmd.payload, dict(addr=p << 16 | k << 8, beats=2, fixed=0))
                ctx.set(port.cmd.valid, 1)
            granted += ctx.get(dut.in0.cmd.ready) + ctx.get(dut.in1.cmd.ready)
            await ctx.tick()
        assert granted == 3

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


# --- Construction ----------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [ReadPortArbiter, WritePortArbiter])
def test_one_port_is_plain_wiring(cls):
    # A build without scatter-gather pays nothing: no register, no FIFO.
    netlist = rtlil.convert(cls(addr_width=32, data_width=32, ports=1, outstanding=4))
    assert "$dff" not in netlist and "$mem" not in netlist
    netlist = rtlil.convert(cls(addr_width=32, data_width=32, ports=2, outstanding=4))
    assert "$dff" in netlist and "$mem" in netlist


@pytest.mark.parametrize("cls", [ReadPortArbiter, WritePortArbiter])
@pytest.mark.parametrize("name, value, error, message", [
    ("ports", 0, ValueError, "ports must be at least 1, not 0"),
    ("ports", 2.0, TypeError, "ports must be int, not 2.0"),
    ("outstanding", 0, ValueError, "outstanding must be at least 1, not 0"),
    ("outstanding", True, TypeError, "outstanding must be int, not True"),
])
def test_parameters_are_checked(cls, name, value, error, message):
    params = dict(addr_width=32, data_width=32, ports=2, outstanding=4)
    params[name] = value
    with warnings.catch_warnings():
        # The half-built component is never elaborated, and says so when collected.
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(error, match=f"^{message}$"):
            cls(**params)
        gc.collect()
