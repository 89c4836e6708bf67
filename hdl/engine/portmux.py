"""Memory-port arbiters: several engine clients (the scatter-gather descriptor unit, the data
mover) share one bus adapter through the neutral memory ports of :mod:`hauler.memport`."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect, flipped

from ..memport import ReadPortSignature, WritePortSignature
from .beatfifo import BufferedFifo, SmallFifo


__all__ = ["ReadPortArbiter", "WritePortArbiter"]


def _check_count(name, value):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be int, not {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, not {value}")


def _commands(m, ports):
    """The commands of ``ports``, each with its ``len`` worked out from ``beats`` here, before
    any choice between them: the clients need not give it, and the bus adapter gets it
    with no subtractor after the arbiter's multiplexer."""
    commands = []
    for port in ports:
        command = Signal(port.cmd.payload.shape())
        m.d.comb += [command.eq(port.cmd.payload),
                     command.len.eq(port.cmd.payload.beats - 1)]
        commands.append(command)
    return commands


def _grant(m, cmds, payloads, out, room):
    """Grant one upstream command at a time into a register on ``out``: the last port's
    first, unless another port has asked since the cycle before, then the others, the lowest
    index first.

    A command is taken only while the output register is empty (and ``room`` says its tags
    fit): no combinational path from the downstream ``ready`` back to an upstream ``ready``.
    The last port's ``ready`` depends only on registers (that one, ``room``, and whether
    another port waited); another port's on those, the last port's ``valid`` and the
    ``valid`` of the ports before it, never on its own ``valid``. So the last port (the data
    mover, whose ``valid`` is a flip-flop) never waits within a cycle on what the others
    ask, and another port waits for it one grant at most. Returns the grant strobe and the
    tag of the port granted, for the tag FIFOs.
    """
    free = ~out.valid & room
    *others, last = cmds
    waited = Signal()               # another port asked before this cycle, not yet granted
    others_first = waited | ~last.valid
    blocked = Const(0)              # a port before this one requests
    for cmd in others:
        m.d.comb += cmd.ready.eq(free & others_first & ~blocked)
        blocked = blocked | cmd.valid
    m.d.comb += last.ready.eq(free & ~waited)
    take = Signal()
    m.d.comb += take.eq(free & (blocked | ~others_first))
    m.d.sync += waited.eq(blocked & ~(free & others_first))

    chosen = Signal.like(out.payload)
    tag = Signal(range(len(cmds)))
    m.d.comb += [chosen.eq(payloads[-1]), tag.eq(len(cmds) - 1)]
    with m.If(others_first):
        for index in reversed(range(len(others))):  # assigned last, the lowest index wins
            with m.If(others[index].valid):
                m.d.comb += [chosen.eq(payloads[index]), tag.eq(index)]

    # No reset on the payload: reset and enable together cost a LUT per flip-flop.
    payload = Signal.like(out.payload, reset_less=True)
    m.d.comb += out.payload.eq(payload)
    with m.If(out.ready):
        m.d.sync += out.valid.eq(0)
    with m.If(take):
        m.d.sync += [out.valid.eq(1), payload.eq(chosen)]
    return take, tag


def _route_back(m, head, head_valid, down, ups):
    """Offer the downstream response stream ``down`` to the upstream port ``head`` only.

    (Selections by ``head`` are bit selects gated by ``head_valid``, not a case statement:
    before the FIFO first fills, ``head`` is X in a Verilog simulation, and a case on X
    would leave ``valid`` and ``ready`` X instead of 0.)"""
    for index, up in enumerate(ups):
        m.d.comb += [up.payload.eq(down.payload),
                     up.valid.eq(down.valid & head_valid & (head == index))]
    m.d.comb += down.ready.eq(head_valid & Cat(up.ready for up in ups).bit_select(head, 1))


class _PortArbiter(wiring.Component):
    """What both arbiters share: their ports, and plain wiring for a single client."""

    def __init__(self, signature, *, ports, outstanding):
        _check_count("ports", ports)
        _check_count("outstanding", outstanding)
        self._ports = ports
        self._outstanding = outstanding
        members = {f"in{index}": In(signature) for index in range(ports)}
        members["out"] = Out(signature)
        super().__init__(members)

    def _clients(self, m):
        """The client ports, or None once a single client is wired straight through."""
        if self._ports == 1:
            connect(m, flipped(self.in0), flipped(self.out))
            return None
        return [getattr(self, f"in{index}") for index in range(self._ports)]


class ReadPortArbiter(_PortArbiter):
    """Shares one read port between ``ports`` clients.

    Commands go straight through, with no register: a copy's first read request reaches
    the bus without an extra cycle. The other ports (the scatter-gather descriptor unit is
    port 0) go before the last one (the data mover), the lowest index first. The descriptor
    unit reads rarely, a short burst per descriptor, so it cannot starve the data mover, and
    the descriptor that the next transfer waits for goes out first. The last port's
    command is taken at once, whatever the others ask and whether the bus takes it: when
    it cannot go straight through, it waits in a register (``ready`` then stays low until
    it has left), and goes before any new command of the other ports but one that follows
    a command with ``more`` (the rest of a descriptor fetch). A command on
    ``out.cmd`` that is not taken stays there until it is, whatever the other ports ask.

    Responses come back in command order (one AXI ID; Wishbone answers in order), so a FIFO
    of tags, pushed as commands leave, routes the beats on ``out.r`` to the port whose
    command they answer; the tag is dropped with the ``last`` beat. A tag heads its FIFO in
    the cycle after its command left, before any response can come.
    While the port at the head is not ready, ``out.r`` waits: the other ports' beats are
    behind it anyway. Behind the Wishbone adapter, which needs every beat taken when it is
    offered, every port must therefore take its beats at once, as the data mover does.

    With ``ports == 1`` the arbiter is plain wiring from ``in0`` to ``out`` (no register,
    no FIFO), so a build without scatter-gather pays nothing.

    Parameters
    ----------
    addr_width, data_width : int
        Of the memory ports.
    ports : int
        Clients, at least 1.
    outstanding : int
        Read bursts in flight downstream at once, all ports together, at least 1. The tag
        FIFO holds ``outstanding + 1`` (the one more for the burst waiting in the output
        register); a grant waits while it is full. To never limit the clients, pass the
        sum of what they keep in flight.

    Members
    -------
    in0, in1, ... : In(ReadPortSignature)
        The clients, in priority order.
    out : Out(ReadPortSignature)
        To the bus adapter.

    Raises
    ------
    TypeError, ValueError
        If ``ports`` or ``outstanding`` is not an integer of at least 1.
    """

    def __init__(self, *, addr_width, data_width, ports, outstanding):
        super().__init__(ReadPortSignature(addr_width=addr_width, data_width=data_width),
                         ports=ports, outstanding=outstanding)

    def elaborate(self, platform):
        m = Module()
        ins = self._clients(m)
        if ins is None:
            return m

        # Tags are needed the cycle after their command leaves: a first-word-through FIFO,
        # whose head and flags are flip-flops (the head steers every beat of R).
        m.submodules.tags = tags = SmallFifo(width=len(Signal(range(self._ports))),
                                             depth=self._outstanding + 1)
        *others, through = [port.cmd for port in ins]
        *other_payloads, through_payload = _commands(m, ins)
        cmd = self.out.cmd
        go = cmd.ready & tags.w_rdy

        # The other ports, at fixed priority: the winner.
        winner = Signal(range(self._ports))
        for index in reversed(range(len(others))):    # assigned last, the lowest index wins
            with m.If(others[index].valid):
                m.d.comb += winner.eq(index)
        requested = Cat(port.valid for port in others).any()

        # The last port (the data mover) hands its command over at once, whatever the others
        # ask and whether the bus takes it: shown at once if nothing else is, else parked in
        # a register until its turn. So that port's `ready` is a flip-flop, and the mover's
        # decision to take a burst waits neither on the bus nor on the other ports.
        parked = Signal()
        parked_cmd = Signal.like(through.payload, reset_less=True)
        # A command shown and not taken stays shown, so `out.cmd` never changes under the
        # slave: another port's holds its command (stream rules), and the arbiter remembers
        # which port it showed; a parked command is shown until it is taken.
        held_other = Signal()
        held_winner = Signal(range(self._ports))
        # Whether another port's command goes before the mover's, if there is one: it is
        # held there, or nothing is parked. (A held command's port still asks: stream rules.)
        # A flip-flop, so the late `requested` (a descriptor fetch made in this cycle) meets
        # it in the last LUT of every bit of `out.cmd.payload`.
        other_turn = Signal(init=1)
        show_other = Signal(attrs={"keep": 1})
        m.d.comb += show_other.eq(requested & other_turn)
        # (With one other port, it is the one picked: no select on the payload's path.)
        pick = Mux(held_other, held_winner, winner) if len(others) > 1 else Const(0)
        # The mover's side, from flip-flops alone, kept apart (`keep`) so that `show_other`
        # chooses in the last LUT.
        mover_cmd = Signal(through.payload.shape(), attrs={"keep": 1})
        m.d.comb += mover_cmd.eq(Mux(parked, parked_cmd, through_payload))
        m.d.comb += [cmd.valid.eq((requested | parked | through.valid) & tags.w_rdy),
                     through.ready.eq(~parked)]
        with m.If(show_other):
            m.d.comb += tags.w_data.eq(pick)
            for index, port in enumerate(others):
                m.d.comb += port.ready.eq(go & (pick == index))
                with m.If(pick == index):
                    m.d.comb += cmd.payload.eq(other_payloads[index])
        with m.Else():
            m.d.comb += [cmd.payload.eq(mover_cmd),
                         tags.w_data.eq(self._ports - 1)]
        m.d.comb += tags.w_en.eq(cmd.valid & cmd.ready)
        held_other_next = Signal()
        parked_next = Signal()
        m.d.comb += [held_other_next.eq(cmd.valid & ~cmd.ready & show_other),
                     parked_next.eq((parked | through.valid) & ~(~show_other & go))]
        # (And after a command of theirs with `more`: the next one follows it.)
        m.d.sync += [held_other.eq(held_other_next), held_winner.eq(pick),
                     parked.eq(parked_next),
                     other_turn.eq(held_other_next | ~parked_next |
                                   (show_other & go & cmd.payload.more))]
        with m.If(~parked):
            m.d.sync += parked_cmd.eq(through_payload)

        r = self.out.r
        _route_back(m, tags.r_data, tags.r_rdy, r, [port.r for port in ins])
        m.d.comb += tags.r_en.eq(r.valid & r.ready & r.payload.last)
        return m


class WritePortArbiter(_PortArbiter):
    """Shares one write port between ``ports`` clients.

    Commands are granted one at a time, through a register on ``out.cmd`` refilled only
    from empty: the last port's (the data mover's) first, unless another port has asked
    since the cycle before, then the others, the lowest index first (the descriptor unit,
    port 0, writes back a completion of one or two beats now and then). So the data mover's
    ``ready`` waits on nothing the other ports do in the same cycle, and they wait for it
    one grant at most.

    Each grant queues the port's tag twice. The W tag FIFO sends the ``w`` beats out in
    command order: ``w`` is taken only from the port at its head, up to that burst's
    ``last`` beat, so bursts are never interleaved. A client may offer its ``w`` beats
    before its command is granted (the data mover does): they wait until their burst heads
    the FIFO, which it does by the time its command leaves the output register, so a slave
    that waits for W before it takes the command still gets it. The ``w`` path through the
    arbiter is a multiplexer whose select is a flip-flop; ``out.w.valid`` never waits for
    ``out.w.ready``. The B tag FIFO gives each response to the port of the burst it
    answers, in order; ``out.b.ready`` waits on the last port's ``ready`` only (a response
    for another port that it does not take at once waits in a register of the arbiter).

    Every client must offer the ``w`` beats of a granted command without waiting for
    anything else: a burst at the head of the W tag FIFO holds back the others' beats.

    With ``ports == 1`` the arbiter is plain wiring from ``in0`` to ``out``.

    Parameters
    ----------
    addr_width, data_width : int
        Of the memory ports.
    ports : int
        Clients, at least 1.
    outstanding : int
        Write bursts in flight downstream at once (their response not yet delivered), all
        ports together, at least 1. Both tag FIFOs hold ``outstanding + 1`` (the one more
        for the burst waiting in the output register); a grant waits while either is full.
        A burst waiting for its ``w`` beats also waits for its response, so the W tag FIFO,
        as deep as the B one, never stalls a grant first. To never limit the clients, pass
        the sum of what they keep in flight (the data mover's response queue holds its
        ``outstanding + 1`` bursts; the descriptor unit's completions come on top).

    Members
    -------
    in0, in1, ... : In(WritePortSignature)
        The clients, in priority order.
    out : Out(WritePortSignature)
        To the bus adapter.

    Raises
    ------
    TypeError, ValueError
        If ``ports`` or ``outstanding`` is not an integer of at least 1.
    """

    def __init__(self, *, addr_width, data_width, ports, outstanding):
        super().__init__(WritePortSignature(addr_width=addr_width, data_width=data_width),
                         ports=ports, outstanding=outstanding)

    def elaborate(self, platform):
        m = Module()
        ins = self._clients(m)
        if ins is None:
            return m

        tag_width = len(Signal(range(self._ports)))
        ports = len(ins)
        # (Buffered FIFOs: their heads and flags are flip-flops.) The W tag is queued twice
        # over: as a number, which steers the payload's multiplexer, and as a bit per port,
        # 0 while the FIFO is empty (`clear_fast`), so that each port's `ready` is one gate
        # from flip-flops and W's `ready`: the data mover's pop of its FIFO follows it.
        m.submodules.w_tags = w_tags = BufferedFifo(width=ports + tag_width,
                                                    depth=self._outstanding + 1,
                                                    fast=ports, clear_fast=True)
        m.submodules.b_tags = b_tags = BufferedFifo(width=tag_width,
                                                    depth=self._outstanding + 1)
        take, tag = _grant(m, [port.cmd for port in ins], _commands(m, ins), self.out.cmd,
                           room=w_tags.w_rdy & b_tags.w_rdy)
        one_hot = Cat(tag == index for index in range(ports))
        m.d.comb += [w_tags.w_en.eq(take), w_tags.w_data.eq(Cat(one_hot, tag)),
                     b_tags.w_en.eq(take), b_tags.w_data.eq(tag)]

        w = self.out.w
        selected = w_tags.r_data[:ports]
        head = w_tags.r_data[ports:]
        for index, port in enumerate(ins):
            m.d.comb += port.w.ready.eq(selected[index] & w.ready)
        m.d.comb += w.valid.eq((selected & Cat(port.w.valid for port in ins)).any())
        with m.Switch(head):
            for index, port in enumerate(ins):
                with m.Case(index):
                    m.d.comb += w.payload.eq(port.w.payload)
        # Whether each port offers the last beat of a burst: a LUT per port from its own
        # flip-flops (`keep`), so the pop of the W tag follows in one LUT more.
        ends = Signal(ports, attrs={"keep": 1})
        m.d.comb += [ends[index].eq(port.w.valid & port.w.payload.last)
                     for index, port in enumerate(ins)]
        m.d.comb += w_tags.r_en.eq(w.ready & (selected & ends).any())

        # A response for the last port (the data mover) goes straight through: that port's
        # `ready` comes from flip-flops. One for another port (the descriptor unit, whose
        # `ready` comes late) is taken from the bus whenever nothing is parked, and goes
        # straight to its port too; if that port does not take it at once, it is parked in a
        # register, with its tag, until it does. So neither `out.b.ready` nor the pop of the
        # B tag waits on another port's `ready`, and every response reaches its port in the
        # same cycle as before.
        b = self.out.b
        *others, last = [port.b for port in ins]
        parked = Signal()
        parked_tag = Signal(tag_width, reset_less=True)
        parked_err = Signal(reset_less=True)
        head = b_tags.r_data
        to_last = Signal()          # a response would go to the last port
        m.d.comb += [to_last.eq(~parked & b_tags.r_rdy & (head == len(others))),
                     b.ready.eq(~parked & b_tags.r_rdy & ((head != len(others)) | last.ready)),
                     b_tags.r_en.eq(b.valid & b.ready),
                     last.valid.eq(to_last & b.valid), last.payload.err.eq(b.payload.err)]
        direct = ~parked & b.valid & b_tags.r_rdy
        for index, port in enumerate(others):
            m.d.comb += [port.valid.eq(Mux(parked, parked_tag == index, direct & (head == index))),
                         port.payload.err.eq(Mux(parked, parked_err, b.payload.err))]
        # (Only another port's response is parked: `head` then names one of them.)
        taken = Cat(port.ready for port in others).bit_select(Mux(parked, parked_tag, head), 1)
        m.d.sync += parked.eq(Mux(parked, ~taken, direct & (head != len(others)) & ~taken))
        with m.If(~parked):
            m.d.sync += [parked_tag.eq(head), parked_err.eq(b.payload.err)]
        return m
