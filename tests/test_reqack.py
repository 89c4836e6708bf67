"""The peripheral request/acknowledge handshake (ABI §5): the device models of
hauler.sim.peripherals on their own (their checks must bite), then the cocotb benches of
hauler.sim.benches.reqack on the generated Verilog."""

import pytest
from cocotbext.axi.memory import Memory

from hauler import Config
from hauler.sim import runner
from hauler.sim.memory import _write_lanes
from hauler.sim.peripherals import BlockDevice, IoRegisters, PieceMonitor, UartReceiver, \
    UartTransmitter, pieces


class _Memory(Memory):
    """A plain memory with the bus_writes log of the models in hauler.sim.memory."""

    def __init__(self, size):
        super().__init__(size)
        self.bus_writes = self.bus_reads = None


def _run(device, cycles, ack_at=()):
    for cycle in range(1, cycles + 1):
        device._edge(cycle, cycle in ack_at)


def test_pieces():
    assert pieces(10, 4) == [4, 4, 2]
    assert pieces(8, 4) == [4, 4]
    assert pieces(3, 8) == [3]
    with pytest.raises(ValueError, match="must be positive"):
        pieces(4, 0)


def test_uart_transmitter_rules():
    tx = UartTransmitter(None, None, baud=3, fifo=2, burst=1)
    _run(tx, 1)
    assert tx.req
    tx.write_register(b"a\0\0\0", 0b0001)
    tx.write_register(b"b\0\0\0", 0b0001)
    _run(tx, 1)                     # the shifter takes "a": room for one again
    assert tx.req and tx.fifo == b"b"
    tx.write_register(b"c\0\0\0", 0b0001)
    with pytest.raises(AssertionError, match="overflow"):
        tx.write_register(b"d\0\0\0", 0b0001)
    for strobes, message in ((0, "no byte strobe"), (0b0010, "not a run from lane 0")):
        with pytest.raises(AssertionError, match=message):
            UartTransmitter(None, None, baud=1, fifo=4, burst=1).write_register(b"xyzw", strobes)
    tx = UartTransmitter(None, None, baud=2, fifo=4, burst=1)
    tx.write_register(b"hi\0\0", 0b0011)
    _run(tx, 10)
    assert tx.sent == b"hi" and tx.idle


def test_uart_receiver_rules():
    rx = UartReceiver(None, None, baud=1, fifo=4, burst=2, lanes=4)
    with pytest.raises(AssertionError, match="underflow"):
        rx.read_register()
    rx = UartReceiver(None, None, baud=1, fifo=4, burst=2, lanes=4)
    rx.receive(b"abc")
    _run(rx, 1)
    assert not rx.req               # one byte, more to come
    with pytest.raises(AssertionError, match="underflow"):
        rx.read_register()
    rx = UartReceiver(None, None, baud=1, fifo=4, burst=2, lanes=4)
    rx.receive(b"abc")
    _run(rx, 2)
    assert rx.req
    word = rx.read_register()
    assert len(word) == 4 and word[:2] == b"ab" and rx.moved == 2
    _run(rx, 1)
    assert rx.req                   # the last byte: the line is idle
    assert rx.read_register()[:1] == b"c"


def test_lazy_request_holds_until_the_cycle_after_ack():
    tx = UartTransmitter(None, None, baud=100, fifo=1, burst=1, lazy=True)
    _run(tx, 1)
    assert tx.req
    tx.write_register(b"a\0\0\0", 0b0001)
    tx._edge(2, False)              # "a" goes to the shifter for 100 cycles
    tx.write_register(b"b\0\0\0", 0b0001)
    tx._edge(3, False)
    assert tx.req                   # no room, but lazy: still high
    tx._edge(4, True)               # the ack
    assert tx.req                   # high in the cycle after it
    tx._edge(5, False)
    assert not tx.req


def test_block_device_rules():
    dev = BlockDevice(None, _Io(4), 0x100, channel=None, burst=8, sector_size=16)
    with pytest.raises(AssertionError, match="underflow"):
        dev.read_register()
    dev = BlockDevice(None, _Io(4), 0x100, channel=None, burst=8, sector_size=16)
    sectors = [bytes(range(16)), bytes(range(16, 32))]
    dev.read_sectors(sectors)
    words = []
    for cycle in range(1, 200):
        dev._edge(cycle, False)
        if dev.req:
            words += [dev.read_register(), dev.read_register()]
    assert b"".join(words) == b"".join(sectors) and dev.idle
    dev = BlockDevice(None, _Io(4), 0x100, channel=None, burst=8, sector_size=16)
    dev.write_sectors(1)
    with pytest.raises(AssertionError, match="not a whole word"):
        dev.write_register(b"abcd", 0b0111)
    dev = BlockDevice(None, _Io(4), 0x100, channel=None, burst=8, sector_size=16)
    dev.write_sectors(1)
    for k in range(4):
        dev.write_register(bytes([k] * 4), 0b1111)
        _run(dev, 1)
    with pytest.raises(AssertionError, match="no write command|beyond"):
        dev.write_register(b"more", 0b1111)
    _run(dev, 10)
    assert dev.written == [bytes([0] * 4 + [1] * 4 + [2] * 4 + [3] * 4)]
    with pytest.raises(ValueError, match="multiple of the bus word"):
        BlockDevice(None, _Io(4), 0x100, channel=None, burst=6)


class _Io:
    def __init__(self, lanes):
        self.lanes = lanes

    def add(self, addr, **handlers):
        pass


def test_io_registers_route_bus_beats_to_the_device():
    memory = _Memory(0x1000)
    io = IoRegisters(memory, 4)
    got = []
    io.add(0x40, read=lambda: b"\x11\x22", write=lambda data, strobes: got.append((data, strobes)))
    memory.write(0x3C, b"\xAA" * 12)                    # a backdoor write over the register
    assert memory.read(0x3C, 12) == b"\xAA" * 4 + b"\0" * 4 + b"\xAA" * 4
    assert memory.read(0x40, 4) == b"\x11\x22\0\0"      # a bus read: the device's
    _write_lanes(memory, 0x40, b"\x01\x02\x03\x04", 0b0110)
    _write_lanes(memory, 0x44, b"\x05\x06\x07\x08", 0b1111)
    assert got == [(b"\0\x02\x03\0", 0b0110)]
    assert memory.read(0x3C, 12) == b"\xAA" * 4 + b"\0" * 4 + b"\x05\x06\x07\x08"
    assert memory.bus_writes == [(0x40, 0b0110), (0x44, 0b1111)]
    with pytest.raises(ValueError, match="already"):
        IoRegisters(memory, 4)


def test_piece_monitor_rules():
    def monitor():
        return PieceMonitor(0, 0x40, "write")

    m = monitor()
    with pytest.raises(AssertionError, match="outside a req..ack window"):
        m._access(1, 1)
    # req high, a piece, ack; req high only in the 2 ignored cycles: the next access is
    # outside a window.
    m = monitor()
    m._cycle(1, 1, 0)
    m._access(2, 1)
    m._cycle(2, 1, 0)
    m._answered()
    m._cycle(3, 1, 1)
    m._cycle(4, 1, 0)
    m._cycle(5, 0, 0)
    with pytest.raises(AssertionError, match="outside"):
        m._access(6, 1)
    assert [(w.first, w.ack, w.beats, w.held) for w in m.windows] == [(2, 3, 1, 2)]
    m = monitor()
    m._cycle(1, 1, 0)
    m._access(2, 1)
    with pytest.raises(AssertionError, match="unanswered"):
        m._cycle(3, 0, 1)
    m = monitor()
    with pytest.raises(AssertionError, match="without an access"):
        m._cycle(1, 1, 1)
    m = monitor()
    m._cycle(1, 1, 0)
    m._access(2, 1)
    m._answered()
    m._cycle(2, 1, 1)
    with pytest.raises(AssertionError, match="ack high in cycles"):
        m._cycle(3, 1, 1)


CONFIGS = [
    Config(),                                                   # AXI4, 32-bit
    Config(master="wishbone", csr="wishbone", data_width=64),
    # Without the realigner (pieces of whole beats) nor scatter-gather, one channel: the
    # build of test_core and test_unaligned.
    Config(master="wishbone", csr="axil", data_width=64, channels=1, max_burst=32, sg=False,
           unaligned=False),
]


@pytest.mark.parametrize("config", CONFIGS, ids=[c.key() for c in CONFIGS])
def test_req_ack(config):
    runner.run(config, "hauler.sim.benches.reqack")
