"""The stream ports (ABI §4, docs/devices.md): the reference model of what streams deliver,
the stream models and checker on a loop-back wire, and the cocotb benches of
sim/benches/streams.py and stream_perf.py on the generated Verilog of three builds (each
one of test_sg's, so the generated Verilog and the Icarus build are shared)."""

import json
import random
from pathlib import Path

import pytest

from hauler import Config
from hauler.sim import runner
from hauler.sim.streams import mm2s_packets, pauses, s2mm_split


CONFIGS = [
    Config(),                                                            # the default build
    Config(master="wishbone", csr="wishbone", data_width=64, channels=2),
    Config(master="axi4", csr="axil", data_width=128, addr_width=64, channels=1,
           max_burst=64, fifo_depth=128),
]

# The loop-back fixture: s_axis0 wired straight through to m_axis0, 32-bit.
AXIS_LOOP = Path(__file__).parent / "fixtures" / "axis_loop.v"


# --- The reference model, without a simulator ---


def test_s2mm_split_ends_at_len_or_tlast():
    p = [bytes(range(10)), b"\xAA" * 3, b"\x55" * 8]
    assert s2mm_split(p, [4, 4, 4, 8, 8], beat_bytes=4) == [
        (bytes(range(4)), False), (bytes(range(4, 8)), False), (bytes([8, 9]), True),
        (b"\xAA" * 3, True), (b"\x55" * 8, True)]
    # A packet exactly LEN long ends with EOP; the stream running dry stops the list.
    assert s2mm_split([b"x" * 8], [8, 8], beat_bytes=4) == [(b"x" * 8, True)]
    assert s2mm_split([b"x" * 9], [8, 8], beat_bytes=4) == [(b"x" * 8, False), (b"x", True)]


def test_s2mm_split_is_lossless():
    rng = random.Random(1)
    packets = [rng.randbytes(rng.randint(1, 300)) for _ in range(50)]
    lengths = [rng.randint(1, 40) * 8 for _ in range(400)]
    split = s2mm_split(packets, lengths, beat_bytes=8)
    assert b"".join(d for d, _ in split) == b"".join(packets)
    assert sum(eop for _, eop in split) == len(packets)
    assert all(len(d) == n or eop for (d, eop), n in zip(split, lengths))


@pytest.mark.parametrize("length", [0, 6, -8])
def test_s2mm_split_refuses_what_the_hardware_refuses(length):
    with pytest.raises(ValueError, match="positive multiple of 4"):
        s2mm_split([b"x"], [length], beat_bytes=4)
    with pytest.raises(ValueError, match="at least one byte"):
        s2mm_split([b""], [4], beat_bytes=4)


def test_mm2s_packets_join_fragments_up_to_eop():
    assert mm2s_packets([(b"ab", False), (b"c", True), (b"d", True), (b"e", False)]) == \
        ([b"abc", b"d"], b"e")


def test_pauses_have_the_share_and_runs_asked_for():
    rng = random.Random(2)
    flags = [f for f, _ in zip(pauses(rng, 0.3, 5), range(200_000))]
    assert abs(sum(flags) / len(flags) - 0.3) < 0.02
    runs = sum(1 for a, b in zip(flags, flags[1:]) if b and not a)
    assert 4 < sum(flags) / runs < 6
    assert not any(f for f, _ in zip(pauses(rng, 0.0), range(100)))
    with pytest.raises(ValueError, match="probability"):
        pauses(rng, 1.0)


# --- Simulations ---


def test_models_and_checker_on_a_wire():
    runner.run(None, "hauler.sim.benches.streams", verilog=AXIS_LOOP, toplevel="axis_loop")


@pytest.mark.parametrize("config", CONFIGS, ids=[c.key() for c in CONFIGS])
def test_streams(config):
    runner.run(config, "hauler.sim.benches.streams")


@pytest.mark.parametrize("seed", [12, 13])
def test_nic_long_run_with_fragments_shorter_than_a_beat(seed):
    """The NIC run with 150 packets each way on 64-bit Wishbone: the transmit chains have
    many fragments shorter than a beat, often loaded as their fields arrive and judged
    cycles later. (These seeds lost such a fragment while the planner's hold ended before
    its launch: it planned no burst.)"""
    runner.run(CONFIGS[1], "hauler.sim.benches.streams", testcase="nic_end_to_end", seed=seed,
               env={"HAULER_NIC_PACKETS": "150"})


def test_stream_perf_reports_sane_figures(tmp_path):
    """The stream measurements run and report sane figures (the targets are read from their
    full run, not asserted here)."""
    result = tmp_path / "streams.json"
    runner.run(Config(), "hauler.sim.benches.stream_perf", env={
        "HAULER_STREAM_BYTES": "4096", "HAULER_STREAM_PACKETS": "64,1500",
        "HAULER_STREAM_PACKET_BYTES": "6000", "HAULER_STREAM_RESULT": str(result)})
    rows = {(r["kind"], r["packet_bytes"]): r for r in json.loads(result.read_text())}
    assert set(rows) == {("mm2s", 4096), ("s2mm", 4096), ("nic_rx", 64), ("nic_rx", 1500)}
    for r in rows.values():
        assert 0 < r["beats_per_cycle"] <= 1.0
        assert r["line_rate_share"] == pytest.approx(r["bytes_per_cycle"] / r["beat_bytes"])
    # Long bursts of a never-stalling stream run well above half the line rate.
    assert rows["mm2s", 4096]["beats_per_cycle"] > 0.5
    assert rows["s2mm", 4096]["beats_per_cycle"] > 0.5
    # Large packets cost less per byte than small ones.
    assert rows["nic_rx", 1500]["bytes_per_cycle"] > rows["nic_rx", 64]["bytes_per_cycle"]
