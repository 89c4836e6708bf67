"""Bus protocol checkers: watch a port every clock edge and report each rule broken.

Every checker samples its signals at each falling clock edge: mid-cycle, when the values
the next rising edge captures have settled (the DUT, the models and the benches all change
signals right after rising edges). So a bench that calls ``check()`` right after a rising
edge finds the cycle that edge ended already checked. Nothing is checked while reset is
high (or X).

A violation is logged at once with the simulation time and kept in ``violations``; with
``fail_fast=True`` (the default) it also raises :class:`AssertionError` in the checker's
task, which cocotb turns into the failure of the running test. ``check()`` raises an
:class:`AssertionError` listing every violation; ``check(idle=True)`` also requires the bus
to be quiet (no transaction half done), for the end of a test.
"""

import collections
import logging

import cocotb
from cocotb.simtime import get_sim_time
from cocotb.triggers import FallingEdge

from .signals import reader


__all__ = ["AxiMasterChecker", "WishboneMasterChecker", "AxiLiteSlaveChecker",
           "WishboneClassicSlaveChecker", "AxiStreamChecker"]


_LOGGED = 20  # violations logged one by one; later ones are only counted


class _Checker:
    def __init__(self, dut, prefix, clock, reset, fail_fast):
        self.name = f"{type(self).__name__}({prefix})"
        self.violations = []
        self.log = logging.getLogger(f"cocotb.checker.{prefix}")
        self._dut, self._prefix = dut, prefix
        self._clock, self._reset = clock, reset
        self._fail_fast = fail_fast
        cocotb.start_soon(self._run())

    def _port(self, name):
        """A reader (see :func:`hauler.sim.signals.reader`) of the port ``<prefix>__<name>``."""
        return reader(getattr(self._dut, f"{self._prefix}__{name}"))

    def _has_port(self, name):
        return hasattr(self._dut, f"{self._prefix}__{name}")

    def _violation(self, message):
        time_ns = get_sim_time("ns")
        self.violations.append((time_ns, message))
        if len(self.violations) <= _LOGGED:
            self.log.error("%s: %s (at %s ns)", self.name, message, time_ns)
        if self._fail_fast:
            raise AssertionError(f"{self.name}: {message} (at {time_ns} ns)")

    async def _run(self):
        edge = FallingEdge(self._clock)
        reset = reader(self._reset)
        while True:
            await edge
            if reset() != "0":  # X counts as reset: nothing is defined yet
                self._clear()
            else:
                self._sample()

    def _clear(self):
        """Forget all state: reset is high."""

    def _sample(self):
        raise NotImplementedError

    def _busy(self):
        """What is still in flight, as messages (empty when the bus is idle)."""
        return []

    def check(self, idle=False):
        """Raise :class:`AssertionError` listing the violations seen, and with ``idle``, what is still in flight."""
        problems = [f"{time_ns} ns: {message}" for time_ns, message in self.violations]
        if idle:
            problems += [f"not idle at the end: {message}" for message in self._busy()]
        if problems:
            shown = problems[:_LOGGED]
            if len(problems) > _LOGGED:
                shown.append(f"... and {len(problems) - _LOGGED} more")
            raise AssertionError(f"{self.name}: {len(problems)} problem(s):\n  " + "\n  ".join(shown))


class _Channel:
    """A valid/ready channel: once valid is high, valid and payload hold until ready."""

    def __init__(self, checker, label, valid, ready, payload):
        self.label = label
        self._checker = checker
        self._valid = checker._port(valid)
        self._ready = checker._port(ready)
        self.names = [name for name in payload if checker._has_port(name)]
        self._fields = [checker._port(name) for name in self.names]
        self.clear()

    def clear(self):
        self.waiting = False  # valid was high without ready at the last edge
        self._held = None

    def sample(self):
        """Check the hold rules at this edge; return the payload (name -> bit string) on a handshake."""
        valid = self._valid()
        if valid != "1":
            if valid != "0":
                self._checker._violation(f"{self.label}: valid is {valid}")
            elif self.waiting:
                self._checker._violation(f"{self.label}: valid dropped before ready")
            self.clear()
            return None
        payload = [field() for field in self._fields]
        if self.waiting and payload != self._held:
            changed = [name for name, new, old in zip(self.names, payload, self._held) if new != old]
            self._checker._violation(f"{self.label}: {', '.join(changed)} changed while valid waited for ready")
        if self._ready() == "1":
            self.clear()
            return dict(zip(self.names, payload))
        self.waiting, self._held = True, payload
        return None


def _ints(checker, label, payload, *names):
    """The named payload fields as ints, or None (after a violation) if any is X/Z."""
    try:
        return [int(payload.get(name, "0"), 2) for name in names]  # a port without IDs uses ID 0
    except ValueError:
        checker._violation(f"{label}: X/Z in {', '.join(names)}")
        return None


class AxiMasterChecker(_Checker):
    """Checks an AXI4 master port (the controller's ``m_axi``) and, as a model check, its slave.

    Master rules: on AR, AW and W, valid holds until ready and the payload is stable
    meanwhile. AR/AW bursts: size is the full data width, the address is aligned to it,
    the type is INCR or FIXED (never WRAP or reserved), at most ``max_burst`` beats, FIXED
    at most 16 beats, INCR never crosses a 4 KiB boundary. W: each AW's burst (W may lead
    its AW) has exactly ``len + 1`` beats, ``wlast`` on the last one only.

    Slave-model rules (a failure here is a bug of the memory model, not of the DUT): R
    and B hold like the master channels; no R beat without an outstanding read burst of
    its ID, ``rlast`` exactly on a burst's last beat; no B before both the AW and the last
    W beat of a burst of its ID were accepted (in an earlier cycle).

    Parameters
    ----------
    dut : cocotb handle
    prefix : str
        Port prefix, e.g. ``"m_axi"``.
    clock, reset : cocotb handles
    max_burst : int
        Most beats per burst the DUT may issue.
    fail_fast : bool
        Raise at the first violation (failing the running test), besides recording it.

    Members
    -------
    violations : list of (float, str)
        Simulation time in ns and message of each violation.
    """

    def __init__(self, dut, prefix, clock, reset, *, max_burst, fail_fast=True):
        super().__init__(dut, prefix, clock, reset, fail_fast)
        self._max_burst = max_burst
        data_bytes = len(getattr(dut, f"{prefix}__wdata")) // 8
        self._size = data_bytes.bit_length() - 1
        address = ["id", "addr", "len", "size", "burst", "lock", "cache", "prot", "qos", "region", "user"]
        self._ar = _Channel(self, "AR", "arvalid", "arready", ["ar" + name for name in address])
        self._aw = _Channel(self, "AW", "awvalid", "awready", ["aw" + name for name in address])
        self._w = _Channel(self, "W", "wvalid", "wready", ["wdata", "wstrb", "wlast", "wuser"])
        self._r = _Channel(self, "R (slave)", "rvalid", "rready", ["rid", "rdata", "rresp", "rlast", "ruser"])
        self._b = _Channel(self, "B (slave)", "bvalid", "bready", ["bid", "bresp", "buser"])
        self._clear()

    def _clear(self):
        for channel in (self._ar, self._aw, self._w, self._r, self._b):
            channel.clear()
        self._reads = collections.defaultdict(collections.deque)  # id -> beats left of each read burst
        self._aw_waiting = collections.deque()  # (id, beats) of AWs whose W burst is not complete
        self._w_early = collections.deque()  # beats of W bursts completed before their AW
        self._w_beats = 0  # beats so far of the W burst in progress
        self._b_due = collections.Counter()  # id -> complete write bursts waiting for B

    def _burst(self, label, payload):
        fields = _ints(self, label, payload, *(label.lower() + name for name in ("id", "addr", "len", "size", "burst")))
        if fields is None:
            return None
        id_, addr, length, size, burst = fields
        beats = length + 1
        where = f"{label} addr={addr:#x} len={length}"
        if size != self._size:
            self._violation(f"{where}: size {size}, the data width needs {self._size}")
        if addr % (1 << size):
            self._violation(f"{where}: address not aligned to size {size}")
        if beats > self._max_burst:
            self._violation(f"{where}: {beats} beats, more than max_burst {self._max_burst}")
        if burst == 1:
            if addr % 4096 + (beats << size) > 4096:
                self._violation(f"{where}: INCR burst crosses a 4 KiB boundary")
        elif burst == 0:
            if beats > 16:
                self._violation(f"{where}: FIXED burst of {beats} beats, AXI allows 16")
        else:
            self._violation(f"{where}: burst type {'WRAP' if burst == 2 else 'reserved'} ({burst})")
        return id_, beats

    def _sample(self):
        # Responses first: a response may not come in the cycle its request completes.
        r = self._r.sample()
        if r is not None:
            fields = _ints(self, "R (slave)", r, "rid", "rlast")
            if fields is not None:
                self._on_r(*fields)

        b = self._b.sample()
        if b is not None:
            fields = _ints(self, "B (slave)", b, "bid")
            if fields is not None:
                self._on_b(fields[0])

        ar = self._ar.sample()
        if ar is not None:
            burst = self._burst("AR", ar)
            if burst is not None:
                self._reads[burst[0]].append(burst[1])

        aw = self._aw.sample()
        if aw is not None:
            burst = self._burst("AW", aw)
            if burst is not None:
                self._on_aw(*burst)

        w = self._w.sample()
        if w is not None:
            last = _ints(self, "W", w, "wlast")
            if last is not None:
                self._on_w(bool(last[0]))

    def _on_aw(self, id_, beats):
        if self._w_early:
            w_beats = self._w_early.popleft()
            if w_beats != beats:
                self._violation(f"W burst had {w_beats} beats (wlast on beat {w_beats}), its AW len says {beats}")
            self._b_due[id_] += 1
        elif not self._aw_waiting and self._w_beats >= beats:
            # The W burst in progress belongs to this AW and is already too long.
            self._violation(f"W burst already has {self._w_beats} beats without wlast, its AW len says {beats}")
            self._w_beats = 0
            self._b_due[id_] += 1
        else:
            self._aw_waiting.append((id_, beats))

    def _on_w(self, last):
        self._w_beats += 1
        if self._aw_waiting:
            id_, beats = self._aw_waiting[0]
            if last and self._w_beats != beats:
                self._violation(f"wlast on beat {self._w_beats} of a {beats}-beat burst")
            elif not last and self._w_beats == beats:
                self._violation(f"wlast missing on beat {beats}, the last of the burst")
            if last or self._w_beats == beats:
                # End the burst at the first of the two, so one mistake is reported once.
                self._aw_waiting.popleft()
                self._b_due[id_] += 1
                self._w_beats = 0
        elif last:
            self._w_early.append(self._w_beats)
            self._w_beats = 0

    def _on_r(self, id_, last):
        bursts = self._reads.get(id_)
        if not bursts:
            self._violation(f"R beat with rid={id_} but no read burst of that ID outstanding (slave model bug)")
            return
        bursts[0] -= 1
        if bool(last) != (bursts[0] == 0):
            self._violation(f"rlast={last} with {bursts[0]} beats left in the burst of rid={id_} (slave model bug)")
        if last or bursts[0] == 0:
            bursts.popleft()

    def _on_b(self, id_):
        if self._b_due[id_] == 0:
            self._violation(f"B with bid={id_} but no complete write burst of that ID outstanding (slave model bug)")
        else:
            self._b_due[id_] -= 1

    def _busy(self):
        busy = [f"{channel.label} valid waiting for ready" for channel in (self._ar, self._aw, self._w)
                if channel.waiting]
        reads = sum(len(bursts) for bursts in self._reads.values())
        if reads:
            busy.append(f"{reads} read burst(s) waiting for R beats")
        if self._aw_waiting:
            busy.append(f"{len(self._aw_waiting)} AW(s) waiting for W beats")
        if self._w_early or self._w_beats:
            busy.append("W beats sent without their AW")
        writes = sum(self._b_due.values())
        if writes:
            busy.append(f"{writes} write burst(s) waiting for B")
        return busy


class WishboneMasterChecker(_Checker):
    """Checks a Wishbone B4 pipelined master port (the controller's ``m_wb``).

    Master rules: ``stb`` only with ``cyc``; a stalled request (``cyc & stb & stall``)
    stays on the bus unchanged (``stb``, ``adr``, ``we``, ``sel``, ``dat_w``) until accepted;
    ``cyc`` does not drop while responses are pending. Slave-model rules: responses
    (``ack | err``, counted only while ``cyc`` is high) never outnumber the requests
    accepted in earlier cycles; ``ack`` and ``err`` never together.

    Parameters
    ----------
    dut, prefix, clock, reset, fail_fast
        As :class:`AxiMasterChecker`.

    Members
    -------
    violations : list of (float, str)
    """

    def __init__(self, dut, prefix, clock, reset, *, fail_fast=True):
        super().__init__(dut, prefix, clock, reset, fail_fast)
        self._cyc, self._stb, self._stall = self._port("cyc"), self._port("stb"), self._port("stall")
        self._ack, self._err = self._port("ack"), self._port("err")
        self._request = [self._port(name) for name in ("adr", "we", "sel", "dat_w")]
        self._clear()

    def _clear(self):
        self._pending = 0  # accepted requests not yet answered
        self._stalled = None  # the request held by stall at the last edge
        self._cyc_now = False

    def _sample(self):
        cyc, stb = self._cyc(), self._stb()
        if cyc not in ("0", "1") or stb not in ("0", "1"):
            self._violation(f"cyc={cyc} stb={stb}: X/Z")
            return
        cyc, stb = cyc == "1", stb == "1"
        self._cyc_now = cyc
        if stb and not cyc:
            self._violation("stb without cyc")
        if not cyc:
            if self._pending:
                self._violation(f"cyc dropped with {self._pending} response(s) pending")
            self._pending = 0
            self._stalled = None
            return

        request = [field() for field in self._request] if stb else None
        if self._stalled is not None:
            if not stb:
                self._violation("stb withdrawn while the request was stalled")
            else:
                # dat_w means nothing on a read.
                names = ("adr", "we", "sel", "dat_w") if self._stalled[1] == "1" else ("adr", "we", "sel")
                changed = [name for name, new, old in zip(names, request, self._stalled) if new != old]
                if changed:
                    self._violation(f"{', '.join(changed)} changed while the request was stalled")
        accepted = 0
        if stb and self._stall() == "1":
            self._stalled = request
        else:
            self._stalled = None
            accepted = int(stb)

        ack, err = self._ack() == "1", self._err() == "1"
        if ack and err:
            self._violation("ack and err together (slave model bug)")
        answers = int(ack or err)
        if answers > self._pending:  # a response comes at the earliest in the cycle after its request
            self._violation("ack/err without an outstanding request (slave model bug)")
            answers = 0
        self._pending += accepted - answers

    def _busy(self):
        busy = []
        if self._pending:
            busy.append(f"{self._pending} response(s) pending")
        if self._cyc_now:
            busy.append("cyc still high")
        return busy


class AxiLiteSlaveChecker(_Checker):
    """Checks an AXI4-Lite slave port (the controller's ``s_axil``) on the slave-driven side.

    Rules: ``bvalid`` and ``rvalid`` hold until ``bready``/``rready`` with ``bresp``,
    ``rdata``, ``rresp`` stable; no B before both the AW and the W of a write were
    accepted, no R before its AR (in an earlier cycle).

    Parameters
    ----------
    dut, prefix, clock, reset, fail_fast
        As :class:`AxiMasterChecker`.

    Members
    -------
    violations : list of (float, str)
    """

    def __init__(self, dut, prefix, clock, reset, *, fail_fast=True):
        super().__init__(dut, prefix, clock, reset, fail_fast)
        self._awvalid, self._awready = self._port("awvalid"), self._port("awready")
        self._wvalid, self._wready = self._port("wvalid"), self._port("wready")
        self._arvalid, self._arready = self._port("arvalid"), self._port("arready")
        self._b = _Channel(self, "B", "bvalid", "bready", ["bresp"])
        self._r = _Channel(self, "R", "rvalid", "rready", ["rdata", "rresp"])
        self._clear()

    def _clear(self):
        self._b.clear()
        self._r.clear()
        self._aw = self._w = self._ar = 0  # requests accepted and not yet answered

    def _sample(self):
        # Responses first: one may not come in the cycle its request is accepted.
        if self._b.sample() is not None:
            if min(self._aw, self._w) == 0:
                self._violation("B before both the AW and the W of a write were accepted")
            else:
                self._aw -= 1
                self._w -= 1
        if self._r.sample() is not None:
            if self._ar == 0:
                self._violation("R before its AR was accepted")
            else:
                self._ar -= 1
        self._aw += self._awvalid() == "1" and self._awready() == "1"
        self._w += self._wvalid() == "1" and self._wready() == "1"
        self._ar += self._arvalid() == "1" and self._arready() == "1"

    def _busy(self):
        busy = [f"{channel.label} valid waiting for ready" for channel in (self._b, self._r) if channel.waiting]
        if self._aw or self._w or self._ar:
            busy.append(f"unanswered requests: {self._aw} AW, {self._w} W, {self._ar} AR")
        return busy


class WishboneClassicSlaveChecker(_Checker):
    """Checks a Wishbone B4 classic slave port (the controller's ``s_wb``).

    Rule: ``ack`` only in a cycle with ``cyc & stb``. In classic cycles each ``ack`` ends
    the access and the master drops ``stb`` (or starts a new access), so a second ``ack``
    for one strobe shows up as an ``ack`` without ``stb``: this rule is also "at most one
    ack per strobe".

    Parameters
    ----------
    dut, prefix, clock, reset, fail_fast
        As :class:`AxiMasterChecker`.

    Members
    -------
    violations : list of (float, str)
    """

    def __init__(self, dut, prefix, clock, reset, *, fail_fast=True):
        super().__init__(dut, prefix, clock, reset, fail_fast)
        self._cyc, self._stb, self._ack = self._port("cyc"), self._port("stb"), self._port("ack")

    def _sample(self):
        ack = self._ack()
        if ack not in ("0", "1"):
            self._violation(f"ack is {ack}")
        elif ack == "1" and not (self._cyc() == "1" and self._stb() == "1"):
            self._violation("ack without cyc & stb")


class AxiStreamChecker(_Checker):
    """Checks an AXI4-Stream port of the controller (``m_axis<n>`` or ``s_axis<n>``) and counts its traffic.

    Transmitter rules, on whichever side drives ``tvalid`` (the controller on ``m_axis``, the
    bench's model on ``s_axis``): ``tvalid`` and ``tready`` are never X/Z; once ``tvalid``
    is high it holds until ``tready``, with ``tdata``, ``tkeep`` and ``tlast`` stable
    meanwhile. Hauler's packing rule (ABI §4 and docs/devices.md), checked at each
    handshake: ``tkeep`` is all ones except on a ``tlast`` beat, where it is a contiguous
    run of lanes from lane 0: at least one lane on ``s_axis``; on ``m_axis`` possibly none,
    the empty beat with which the controller ends a packet cut short by an error or ABORT
    (counted in :attr:`empty_ends`). On ``s_axis`` a violation is a bug of the bench's model
    (the message says so): the controller reads ``tkeep`` only on ``tlast`` beats, but a
    model that breaks the rule would test something else than intended.

    Parameters
    ----------
    dut, prefix, clock, reset, fail_fast
        As :class:`AxiMasterChecker`; ``prefix`` e.g. ``"m_axis0"``.
    output : bool, optional
        Whether the controller drives ``tvalid`` (default: guessed from the prefix, ``m_``).

    Members
    -------
    violations : list of (float, str)
    beats, packets, bytes : int
        Handshakes, handshakes with ``tlast``, and bytes with ``tkeep`` set in them, since
        reset.
    empty_ends : int
        ``tlast`` beats with ``tkeep`` 0 (``m_axis`` only; on ``s_axis`` they are violations).
    cycles : int
        Clock cycles since reset.
    first_beat, last_beat : int or None
        The cycle (counted as :attr:`cycles`, from 1) of the first and the latest handshake.
    in_packet : bool
        Beats have been handed over since the last ``tlast``.
    """

    def __init__(self, dut, prefix, clock, reset, *, output=None, fail_fast=True):
        super().__init__(dut, prefix, clock, reset, fail_fast)
        self._output = prefix.startswith("m_") if output is None else output
        self._lanes = len(getattr(dut, f"{prefix}__tkeep"))
        self._stream = _Channel(self, prefix, "tvalid", "tready", ["tdata", "tkeep", "tlast"])
        self._ready = self._port("tready")
        self._clear()

    def _clear(self):
        self._stream.clear()
        self.reset_counts()
        self.in_packet = False

    def reset_counts(self):
        """Zero the counts (:attr:`beats` ... :attr:`empty_ends`, :attr:`cycles`) and the
        beat cycles; the checks and :attr:`in_packet` go on."""
        self.beats = self.packets = self.bytes = self.cycles = self.empty_ends = 0
        self.first_beat = self.last_beat = None

    def _violation(self, message):
        super()._violation(message if self._output else f"{message} (model bug)")

    def _sample(self):
        self.cycles += 1
        ready = self._ready()
        if ready not in ("0", "1"):
            self._violation(f"{self._stream.label}: tready is {ready}")
        beat = self._stream.sample()
        if beat is None:
            return
        fields = _ints(self, self._stream.label, beat, "tkeep", "tlast")
        if fields is None:
            return
        keep, last = fields
        full = (1 << self._lanes) - 1
        kept = keep.bit_count()
        if last:
            if keep == 0 and self._output:
                self.empty_ends += 1
            elif keep == 0 or keep & (keep + 1):
                self._violation(f"{self._stream.label}: tkeep={keep:#x} on the tlast beat is not "
                                f"a contiguous run of lanes from lane 0")
        elif keep != full:
            self._violation(f"{self._stream.label}: tkeep={keep:#x} on a beat without tlast "
                            f"(only the final beat of a packet may be partial)")
        self.beats += 1
        self.bytes += kept
        self.packets += last
        self.in_packet = not last
        if self.first_beat is None:
            self.first_beat = self.cycles
        self.last_beat = self.cycles

    def _busy(self):
        return [f"{self._stream.label}: tvalid waiting for tready"] if self._stream.waiting else []
