"""Wishbone adapter against a pipelined slave model: data, chaining, tenure, errors, protocol."""

import random
from collections import deque
from dataclasses import dataclass, field

import pytest

from amaranth_sim import simulate
from hauler.bus.wishbone import CTI_CONSTANT, CTI_END, CTI_INCREMENT, WishboneAdapter


READ_BASE = 0x1000      # word addresses: reads from a preloaded region ...
WRITE_BASE = 0x8000     # ... writes to a separate, initially zero one (64 words per burst)
ERR_DATA = 0xDEADBEEF


def pattern(word):
    return (word * 0x9E3779B1 + 0x1234) & 0xFFFFFFFF


@dataclass
class Burst:
    addr: int           # word address
    beats: int
    fixed: bool
    release: int = 0    # first cycle the command is offered
    data: list = field(default_factory=list)   # writes: (data, strb) per beat

    def words(self):
        return [self.addr if self.fixed else self.addr + i for i in range(self.beats)]


def make_bursts(rng, n_reads, n_writes, *, gaps=0, max_beats=16):
    reads, writes = [], []
    release = 0
    for _ in range(n_reads):
        release += rng.randint(0, gaps)
        beats = rng.randint(1, max_beats)
        reads.append(Burst(READ_BASE + rng.randrange(0, 4096), beats, rng.random() < 0.2,
                           release))
    release = 0
    for k in range(n_writes):
        release += rng.randint(0, gaps)
        beats = rng.randint(1, max_beats)
        data = [(rng.getrandbits(32), 0xF if rng.random() < 0.7 else rng.getrandbits(4))
                for _ in range(beats)]
        writes.append(Burst(WRITE_BASE + 64 * k, beats, rng.random() < 0.2, release, data))
    return reads, writes


def run_adapter(reads, writes, *, seed=0, stall=0.0, latency=(1, 1), errors=(), w_gaps=0.0,
                b_stall=0.0, max_cycle_beats=64, check_strobes=True, deadline=50_000):
    """Run the bursts; check the protocol every cycle; return the log of what happened."""
    dut = WishboneAdapter(addr_width=32, data_width=32, max_cycle_beats=max_cycle_beats)
    rng = random.Random(seed)
    errors = set(errors)
    memory = {}
    wb, rd, wr = dut.wb, dut.read, dut.write
    log = dict(r=[], b=[], cycles=[], done=False, busy_cycles=0)

    async def bench(ctx):
        cycle = 0
        pending = deque()           # slave: (due cycle, err, data) of accepted strobes
        stall_now = False
        r_next = w_next = 0         # next command to offer
        w_cursor = (0, 0)           # next write beat to offer: (burst, beat)
        w_gap = 0
        held = None                 # the request stalled in the last cycle
        answered = accepted_total = 0
        # Strobe-level expectation: commands accepted, in order, per direction.
        expect = {0: deque(), 1: deque()}
        bus_cycle = None            # (we, [beats of each burst]) of the open bus cycle
        quiet = 0
        while quiet < 20:
            # --- Inputs of this cycle: slave outputs (registered), then the port drivers.
            show = bool(pending) and pending[0][0] <= cycle
            ctx.set(wb.ack, show and not pending[0][1])
            ctx.set(wb.err, show and pending[0][1])
            ctx.set(wb.dat_r, (pending[0][2] or 0) if show else 0)
            ctx.set(wb.stall, stall_now)
            offer_r = r_next < len(reads) and cycle >= reads[r_next].release
            ctx.set(rd.cmd.valid, offer_r)
            if offer_r:
                c = reads[r_next]
                ctx.set(rd.cmd.payload, dict(addr=c.addr << 2, beats=c.beats, fixed=c.fixed))
            offer_w = w_next < len(writes) and cycle >= writes[w_next].release
            ctx.set(wr.cmd.valid, offer_w)
            if offer_w:
                c = writes[w_next]
                ctx.set(wr.cmd.payload, dict(addr=c.addr << 2, beats=c.beats, fixed=c.fixed))
            # W beats of a command are there once the command is offered (as in the mover).
            wk, wi = w_cursor
            w_valid = w_gap == 0 and wk < len(writes) and (wk < w_next or offer_w)
            ctx.set(wr.w.valid, w_valid)
            if w_valid:
                data, strb = writes[wk].data[wi]
                ctx.set(wr.w.payload, dict(data=data, strb=strb, last=wi == writes[wk].beats - 1))
            ctx.set(rd.r.ready, 1)
            ctx.set(wr.b.ready, rng.random() >= b_stall)

            # --- Sample what the adapter does with them.
            cyc, stb, we = ctx.get(wb.cyc), ctx.get(wb.stb), ctx.get(wb.we)
            adr, sel, cti = ctx.get(wb.adr), ctx.get(wb.sel), ctx.get(wb.cti)
            dat_w = ctx.get(wb.dat_w)
            assert ctx.get(wb.bte) == 0
            assert cyc or not stb, f"stb without cyc at {cycle}"
            assert not (stb and we) or w_valid, f"write strobe without W data at {cycle}"
            request = (adr, we, sel, cti, dat_w if we else None)
            if held is not None:
                assert stb and request == held, f"stalled request changed at {cycle}"
            if stb and not we:
                assert sel == 0xF
            if not cyc:
                assert not pending, f"cyc dropped with {len(pending)} responses pending"
                if bus_cycle is not None:
                    log["cycles"].append(bus_cycle)
                    bus_cycle = None
            elif bus_cycle is None:
                bus_cycle = (we, [])
            if cyc:
                log["busy_cycles"] += 1

            if ctx.get(rd.cmd.valid) and ctx.get(rd.cmd.ready):
                expect[0].append([reads[r_next], 0])
                r_next += 1
            if ctx.get(wr.cmd.valid) and ctx.get(wr.cmd.ready):
                expect[1].append([writes[w_next], 0])
                w_next += 1
            if w_valid and ctx.get(wr.w.ready):
                wi += 1
                if wi == writes[wk].beats:
                    wk, wi = wk + 1, 0
                w_cursor = (wk, wi)
                w_gap = int(rng.random() < w_gaps) * rng.randint(1, 3)
            elif w_gap:
                w_gap -= 1
            if ctx.get(rd.r.valid):
                log["r"].append((ctx.get(rd.r.payload.data), ctx.get(rd.r.payload.err),
                                 ctx.get(rd.r.payload.last)))
            if ctx.get(wr.b.valid) and ctx.get(wr.b.ready):
                log["b"].append(ctx.get(wr.b.payload.err))

            # --- The slave: take this cycle's response, accept this cycle's request.
            if cyc and show:
                pending.popleft()
                answered += 1
            assert answered <= accepted_total, "more responses than strobes"
            if cyc and stb and not stall_now:
                accepted_total += 1
                word = adr
                err = word in errors
                data = None
                if not err:
                    if we:
                        old = memory.get(word, 0)
                        mask = sum(0xFF << 8 * i for i in range(4) if sel >> i & 1)
                        memory[word] = (old & ~mask) | (dat_w & mask)
                    else:
                        data = memory.get(word, pattern(word))
                due = cycle + rng.randint(*latency)
                if pending:
                    due = max(due, pending[-1][0] + 1)
                pending.append((due, err, ERR_DATA if err else data))
                # Which command this strobe belongs to: address, cti and data are checked.
                if check_strobes:
                    entry = expect[we][0]
                    c, i = entry
                    if i == 0:
                        bus_cycle[1].append(c.beats)
                    assert adr == c.words()[i], (cycle, hex(adr), hex(c.words()[i]))
                    want = CTI_END if i == c.beats - 1 else \
                        CTI_CONSTANT if c.fixed else CTI_INCREMENT
                    assert cti == want, (cycle, cti, want)
                    if we:
                        assert (dat_w, sel) == c.data[i]
                    entry[1] += 1
                    if entry[1] == c.beats:
                        expect[we].popleft()
            held = request if cyc and stb and stall_now else None
            stall_now = rng.random() < stall

            done = (len(log["b"]) == len(writes) and
                    len(log["r"]) == sum(c.beats for c in reads))
            quiet = quiet + 1 if done and not cyc else 0
            await ctx.tick()
            cycle += 1
            assert cycle < deadline, "timed out"
        log["done"] = True
        log["pending"] = len(pending)

    simulate(dut, bench, deadline_cycles=deadline + 100)
    assert log["done"]
    assert log["pending"] == 0
    check_results(reads, writes, errors, memory, log)
    return log


def check_results(reads, writes, errors, memory, log):
    beats = iter(log["r"])
    for c in reads:
        failed = False
        for i, word in enumerate(c.words()):
            data, err, last = next(beats)
            assert last == (i == c.beats - 1)
            if word in errors and not failed:
                assert err, f"read of error word {word:#x} not flagged"
                failed = True
            elif not failed:
                # No error in the burst so far: no collateral error from other bursts.
                assert not err and data == pattern(word), (hex(word), err, hex(data))
            elif not err:
                assert data == pattern(word)   # strobed before the error was seen
    assert next(beats, None) is None, "extra read beats"

    assert log["b"] == [int(any(w in errors for w in c.words())) for c in writes]
    for c in writes:
        expected = {}
        for word, (data, strb) in zip(c.words(), c.data):
            if word in errors:
                break
            mask = sum(0xFF << 8 * i for i in range(4) if strb >> i & 1)
            expected[word] = (expected.get(word, 0) & ~mask) | (data & mask)
        for word, value in expected.items():
            assert memory.get(word, 0) == value, (hex(word), hex(memory.get(word, 0)), hex(value))


@pytest.mark.parametrize("seed", range(6))
def test_random_mix(seed):
    rng = random.Random(seed)
    reads, writes = make_bursts(rng, 30, 30, gaps=8)
    run_adapter(reads, writes, seed=seed, stall=0.3, latency=(1, 3), w_gaps=0.1, b_stall=0.3)


def test_back_to_back_without_stall():
    rng = random.Random(7)
    reads, writes = make_bursts(rng, 20, 20)
    run_adapter(reads, writes, seed=7)


def test_chaining_fills_the_bus():
    """Waiting commands of one direction share a bus cycle; the bus is almost never idle."""
    reads = [Burst(READ_BASE + 16 * k, 16, False) for k in range(16)]
    log = run_adapter(reads, [], seed=1, max_cycle_beats=64)
    assert [len(c[1]) for c in log["cycles"]] == [4] * 4
    # 256 beats in 4 bus cycles: each costs one cycle of response tail and one with cyc low.
    assert log["busy_cycles"] <= 256 + 4


@pytest.mark.parametrize("seed", range(3))
def test_tenure_bound(seed):
    """A bus cycle takes bursts until they add up to max_cycle_beats beats."""
    rng = random.Random(seed)
    reads, _ = make_bursts(rng, 40, 0)
    log = run_adapter(reads, [], seed=seed, stall=0.2, latency=(1, 3), max_cycle_beats=20)
    for we, bursts in log["cycles"][:-1]:
        assert sum(bursts[:-1]) < 20 <= sum(bursts), bursts
    assert len(log["cycles"]) < 40 / 2


def test_directions_take_turns():
    """Both directions waiting: they take turns, each bus cycle taking bursts until they
    add up to the tenure bound (or its direction has none left)."""
    rng = random.Random(3)
    reads, writes = make_bursts(rng, 10, 10)
    log = run_adapter(reads, writes, seed=3)
    assert [c[0] for c in log["cycles"]] == [0, 1, 0, 1]
    for direction, beats in log["cycles"][:2]:
        assert sum(beats[:-1]) < 64 <= sum(beats), (direction, beats)
    assert sum(len(c[1]) for c in log["cycles"]) == 20


def test_other_direction_arriving_later_waits_for_the_tenure_bound():
    reads = [Burst(READ_BASE + 16 * k, 16, False) for k in range(8)]
    writes = [Burst(WRITE_BASE + 64 * k, 8, False, release=5, data=[(k, 0xF)] * 8)
              for k in range(4)]
    log = run_adapter(reads, writes, seed=2, max_cycle_beats=48)
    assert log["cycles"] == \
        [(0, [16, 16, 16]), (1, [8, 8, 8, 8]), (0, [16, 16, 16]), (0, [16, 16])]


@pytest.mark.parametrize("seed", range(4))
def test_read_error_mid_burst(seed):
    """The failing burst gets its missing beats as errors; the chained bursts are unharmed."""
    reads = [Burst(READ_BASE + 16 * k, 16, False) for k in range(6)]
    # Burst 1 fails mid-burst, burst 2 on its last beat (while burst 3 is strobed), burst 4
    # on its first beat.
    errors = {READ_BASE + 16 + 5, READ_BASE + 2 * 16 + 15, READ_BASE + 4 * 16}
    run_adapter(reads, [], seed=seed, stall=0.3, latency=(1, 3), errors=errors,
                check_strobes=False)


@pytest.mark.parametrize("seed", range(4))
def test_write_error_mid_burst(seed):
    rng = random.Random(seed)
    writes = [Burst(WRITE_BASE + 64 * k, 16, k in (3, 4),
                    data=[(rng.getrandbits(32), 0xF) for _ in range(16)]) for k in range(6)]
    # As for reads; burst 4 is a constant-address burst to an error word.
    errors = {WRITE_BASE + 64 + 5, WRITE_BASE + 2 * 64 + 15, WRITE_BASE + 4 * 64}
    run_adapter([], writes, seed=seed, stall=0.3, latency=(1, 3), errors=errors,
                b_stall=0.3, check_strobes=False)


@pytest.mark.parametrize("seed", range(4))
def test_random_mix_with_errors(seed):
    rng = random.Random(100 + seed)
    reads, writes = make_bursts(rng, 25, 25, gaps=4)
    errors = set(rng.sample(range(READ_BASE, READ_BASE + 4096), 40))
    errors |= {WRITE_BASE + 64 * k + rng.randrange(16) for k in range(0, 25, 3)}
    run_adapter(reads, writes, seed=seed, stall=0.3, latency=(1, 3), errors=errors,
                w_gaps=0.1, b_stall=0.2, check_strobes=False)


def test_single_beat_bursts():
    reads = [Burst(READ_BASE + k, 1, False) for k in range(12)]
    writes = [Burst(WRITE_BASE + 64 * k, 1, k % 2 == 0, data=[(k, 0xF)]) for k in range(12)]
    run_adapter(reads, writes, seed=5, stall=0.2, latency=(1, 3))


def test_slow_b_consumer():
    """A write response waits in `b` while the next write bursts run: none is lost."""
    rng = random.Random(9)
    _, writes = make_bursts(rng, 0, 30, max_beats=4)
    run_adapter([], writes, seed=9, latency=(1, 3), b_stall=0.9)


def test_error_on_the_last_response_of_a_bus_cycle():
    """Lone bursts failing on their last beat: the next bus cycles run normally."""
    reads = [Burst(READ_BASE + 16 * k, 4, False, release=40 * k) for k in range(4)]
    writes = [Burst(WRITE_BASE + 64 * k, 4, False, release=40 * k + 20, data=[(k, 0xF)] * 4)
              for k in range(4)]
    errors = {READ_BASE + 3, READ_BASE + 16 + 3, WRITE_BASE + 3, WRITE_BASE + 64 + 3}
    run_adapter(reads, writes, seed=4, latency=(1, 3), errors=errors)
