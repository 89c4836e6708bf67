"""The reference model of a transfer (:func:`hauler.sim.model.apply_transfer`) on byte-unaligned
and FIXED transfers, on small examples worked by hand: what the cocotb benches trust."""

import pytest

from hauler.sim.descriptors import Descriptor, DescriptorStatus, read_status, write_chain
from hauler.sim.driver import Mode
from hauler.sim.model import apply_chain, apply_transfer


BEAT = 4
SRC, DST = 0x100, 0x200


class ByteMemory(bytearray):
    """A bytearray, as the model takes it, that the descriptor builders can also write."""

    def write(self, addr, data):
        self[addr:addr + len(data)] = data

    def read(self, addr, n):
        return bytes(self[addr:addr + n])


def _memory():
    """Source bytes 0x100.. are 0xA0, 0xA1, ...; everything else 0xEE (the guard)."""
    memory = ByteMemory(b"\xEE" * 0x1000)
    memory[SRC:SRC + 0x40] = bytes(range(0xA0, 0xE0))
    return memory


def _s(*offsets):
    """Source bytes at these offsets from SRC."""
    return bytes(0xA0 + i for i in offsets)


def _transfer(src, dst, length, **modes):
    memory = _memory()
    before = bytes(memory)
    result = apply_transfer(memory, src, dst, length, beat_bytes=BEAT, **modes)
    assert result is memory and len(memory) == len(before)
    return before, memory


def _changed(before, after):
    """{address: new byte} of every byte that changed."""
    return {a: after[a] for a in range(len(after)) if after[a] != before[a]}


def test_incr_unaligned_moves_exactly_length_bytes():
    before, after = _transfer(SRC + 1, DST + 3, 6)
    assert after[DST + 3:DST + 9] == _s(1, 2, 3, 4, 5, 6)
    assert set(_changed(before, after)) == set(range(DST + 3, DST + 9))


def test_incr_single_byte():
    before, after = _transfer(SRC + 3, DST + 2, 1)
    assert _changed(before, after) == {DST + 2: 0xA3}


def test_fixed_source_repeats_its_beat_truncated_to_length():
    # The beat at SRC is A0 A1 A2 A3; 6 bytes of stream: A0 A1 A2 A3 A0 A1.
    before, after = _transfer(SRC, DST + 1, 6, src_mode=Mode.FIXED)
    assert after[DST + 1:DST + 7] == _s(0, 1, 2, 3, 0, 1)
    assert set(_changed(before, after)) == set(range(DST + 1, DST + 7))


def test_fixed_source_shorter_than_a_beat():
    before, after = _transfer(SRC + 8, DST + 3, 3, src_mode=Mode.FIXED)
    assert _changed(before, after) == dict(zip(range(DST + 3, DST + 6), _s(8, 9, 10)))


def test_fixed_destination_keeps_per_lane_the_last_beat_that_wrote_it():
    # Stream S3..S8 in beats [S3 S4 S5 S6], [S7 S8]: the partial last beat writes lanes
    # 0 and 1 only, lanes 2 and 3 keep the first beat's.
    before, after = _transfer(SRC + 3, DST, 6, dst_mode=Mode.FIXED)
    assert _changed(before, after) == dict(zip(range(DST, DST + 4), _s(7, 8, 5, 6)))


def test_fixed_destination_of_three_beats_and_a_byte():
    # Stream S0..S12: the last full beat is [S8 .. S11], then [S12] on lane 0.
    before, after = _transfer(SRC, DST + 8, 13, dst_mode=Mode.FIXED)
    assert _changed(before, after) == dict(zip(range(DST + 8, DST + 12), _s(12, 9, 10, 11)))


def test_fixed_destination_shorter_than_a_beat_leaves_the_other_lanes():
    before, after = _transfer(SRC + 5, DST, 3, dst_mode=Mode.FIXED)
    assert _changed(before, after) == dict(zip(range(DST, DST + 3), _s(5, 6, 7)))
    assert after[DST + 3] == 0xEE


def test_fixed_destination_whole_beats():
    before, after = _transfer(SRC + 2, DST, 8, dst_mode=Mode.FIXED)
    assert _changed(before, after) == dict(zip(range(DST, DST + 4), _s(6, 7, 8, 9)))


def test_fixed_to_fixed():
    # Stream A0 A1 A2 A3 A0 A1: beats [A0 A1 A2 A3], [A0 A1] on lanes 0-1.
    before, after = _transfer(SRC + 4, DST + 4, 6, src_mode=Mode.FIXED, dst_mode=Mode.FIXED)
    assert _changed(before, after) == dict(zip(range(DST + 4, DST + 8), _s(4, 5, 6, 7)))
    before, after = _transfer(SRC, DST, 2, src_mode=Mode.FIXED, dst_mode=Mode.FIXED)
    assert _changed(before, after) == {DST: 0xA0, DST + 1: 0xA1}


@pytest.mark.parametrize("beat", [4, 8, 16])
def test_fixed_destination_is_the_stream_written_lane_by_lane(beat):
    """The model against its definition: stream byte i goes to lane i mod beat."""
    for length in range(1, 3 * beat + 1):
        for src_off in range(beat):
            memory = ByteMemory(range(256)) * 4
            expected = bytearray(memory)
            stream = memory[SRC + src_off:SRC + src_off + length]
            for i, byte in enumerate(stream):
                expected[DST + i % beat] = byte
            apply_transfer(memory, SRC + src_off, DST, length, beat_bytes=beat,
                           dst_mode=Mode.FIXED)
            assert memory == expected, (length, src_off)


@pytest.mark.parametrize("args, message", [
    (dict(src=SRC + 1, src_mode=Mode.FIXED), r"FIXED source address 0x101 is not a multiple"),
    (dict(dst=DST + 2, dst_mode=Mode.FIXED), r"FIXED destination address 0x202 is not a"),
    (dict(length=0), r"length must be at least 1, not 0"),
])
def test_what_hardware_rejects_is_refused(args, message):
    args = {**dict(src=SRC, dst=DST, length=5), **args}
    memory = _memory()
    with pytest.raises(ValueError, match=message):
        apply_transfer(memory, args.pop("src"), args.pop("dst"), args.pop("length"),
                       beat_bytes=BEAT, **args)
    assert memory == _memory()


def test_chain_of_unaligned_descriptors_reports_len_bytes():
    memory = _memory()
    addresses = [0x400, 0x440, 0x480]
    write_chain(memory, addresses, [
        Descriptor(SRC + 1, DST + 3, 7),
        Descriptor(SRC + 8, DST + 0x20, 5, src_mode=Mode.FIXED),
        Descriptor(SRC + 3, DST + 0x30, 6, dst_mode=Mode.FIXED),
    ])
    before = bytes(memory)
    outcome = apply_chain(memory, addresses[0], beat_bytes=BEAT)
    assert outcome.completed == tuple(addresses) and outcome.end == "LAST"
    for addr, length in zip(addresses, (7, 5, 6)):
        assert read_status(memory, addr) == DescriptorStatus(done=True, bytes=length)
    assert memory[DST + 3:DST + 10] == _s(1, 2, 3, 4, 5, 6, 7)
    assert memory[DST + 0x20:DST + 0x25] == _s(8, 9, 10, 11, 8)
    assert memory[DST + 0x30:DST + 0x34] == _s(7, 8, 5, 6)
    written = set(range(DST + 3, DST + 10)) | set(range(DST + 0x20, DST + 0x25)) | \
        set(range(DST + 0x30, DST + 0x34)) | \
        {a + 0x20 + i for a in addresses for i in range(8)}
    assert set(_changed(before, memory)) <= written


def test_chain_with_an_unaligned_fixed_address_is_refused():
    memory = _memory()
    write_chain(memory, [0x400], [Descriptor(SRC, DST + 2, 8, dst_mode=Mode.FIXED)])
    with pytest.raises(ValueError, match=r"descriptor 0x400 is a BAD_DESCRIPTOR \(a FIXED"):
        apply_chain(memory, 0x400, beat_bytes=BEAT)
