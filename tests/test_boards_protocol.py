"""The bridge protocol and the host's procedures, without a board: bytes, checks, layouts."""

import pytest

from hauler.boards import host, protocol
from hauler.boards.host import MemoryImage, Now, chain_layout, drive
from hauler.boards.protocol import BusError, FramingError, Read, Write


def test_request_bytes():
    # docs/boards.md's example: the DMA's ID register.
    assert Read(0x4000_0000).encode() == bytes.fromhex("520000000040")
    assert Read(0x4000_0000).decode(bytes.fromhex("4c5541484b")) == [0x4841554C]
    assert Write(0x10, [1, 0xAABBCCDD]).encode() == \
        bytes.fromhex("570110000000" "01000000" "ddccbbaa")
    assert Read(0, 256).encode()[1] == 255 and Read(0, 256).response_bytes == 1025


@pytest.mark.parametrize("make,message", [
    (lambda: Read(0x2), "address 0x2 is not a multiple of 4: the bridge moves words"),
    (lambda: Read(-4), "address must be an integer 0..0xFFFFFFFF, not -4"),
    (lambda: Read(0, 0), "count must be 1..256 words, not 0"),
    (lambda: Read(0xFFFF_FFFC, 2), "2 words from 0xfffffffc run past the end of the address "
                                   "space"),
    (lambda: Write(0, []), "count must be 1..256 words, not 0"),
    (lambda: Write(0, [1 << 32]), "a word must be an integer 0..0xFFFFFFFF, not 4294967296"),
])
def test_requests_are_checked(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value) == message


def test_responses_are_checked():
    read = Read(0x100, 2)
    with pytest.raises(FramingError) as info:
        read.decode(b"\x01\x02\x03")
    assert str(info.value) == "read of 2 words at 0x00000100: 3 bytes received, expected 9"
    with pytest.raises(FramingError) as info:
        read.decode(bytes(8) + bytes([protocol.NAK]))
    assert str(info.value) == ("read of 2 words at 0x00000100: status byte 0x3f, expected "
                               "0x4b or 0x45: framing lost")
    with pytest.raises(BusError) as info:
        read.decode(bytes.fromhex("0100000000000000") + bytes([protocol.STATUS_BUS_ERROR]))
    assert info.value.words == [1, 0]
    with pytest.raises(BusError):
        Write(0, [1]).decode(bytes([protocol.STATUS_BUS_ERROR]))


def test_drive_sends_results_and_throws_errors():
    """A procedure gets each result back, and a request's protocol error raised inside it."""
    memory = {0x0: 5}

    def perform(request):
        if isinstance(request, Now):
            return 1.5
        if request.addr not in memory:
            raise BusError("nothing there")
        return [memory[request.addr]]

    def procedure():
        value = yield from host.peek(0x0)
        when = yield Now()
        try:
            yield from host.peek(0x8)
        except BusError:
            return value, when, "bus error seen"

    assert drive(procedure(), perform) == (5, 1.5, "bus error seen")


def test_load_and_dump_any_alignment():
    """Partial words at the ends are read first and written back whole."""
    words = {0x0: 0x44332211, 0x4: 0x88776655, 0x8: 0xCCBBAA99}
    log = []

    def perform(request):
        log.append(request)
        if isinstance(request, Read):
            return [words[request.addr + 4 * i] for i in range(request.count)]
        for i, word in enumerate(request.words):
            words[request.addr + 4 * i] = word

    drive(host.load(0x3, b"\xa0\xa1\xa2\xa3\xa4"), perform)
    assert words == {0x0: 0xA0332211, 0x4: 0xA4A3A2A1, 0x8: 0xCCBBAA99}
    assert [type(r).__name__ for r in log] == ["Read", "Write"]
    assert drive(host.dump(0x2, 5), perform) == b"\x33\xa0\xa1\xa2\xa3"


@pytest.mark.parametrize("unaligned", [False, True])
def test_chain_layout(unaligned):
    """Descriptors, sources and destinations never overlap and stay in the area, and each
    destination has GUARD bytes of nothing on either side."""
    lengths = [61, 203, 37, 4, 1000]
    descs, transfers, end = chain_layout(0x4000, lengths, unaligned=unaligned)
    spans = sorted([(d, d + 64) for d in descs] + [(s, s + n) for s, _, n in transfers] +
                   [(d, d + n) for _, d, n in transfers])
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert spans[0][0] >= 0x4000 and spans[-1][1] <= end
    for _, d, n in transfers:
        for lo, hi in ((d - host.GUARD, d), (d + n, d + n + host.GUARD)):
            assert hi <= end and not any(a < hi and lo < b for a, b in spans)
    assert [n for _, _, n in transfers] == lengths
    assert any(s % 4 for s, _, _ in transfers) == unaligned


def test_copy_test_refuses_overlap():
    with pytest.raises(ValueError) as info:
        next(host.copy_test(0x100, 0x180, 0x100))
    assert str(info.value) == "source 0x100 and destination 0x180 of 256 bytes overlap"


def test_memory_image():
    image = MemoryImage(16)
    image.write(4, b"abcd")
    assert image.read(2, 4) == b"\0\0ab" and image.written == [(4, 4)]
