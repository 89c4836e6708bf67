"""The CPU SoC (boards/cpu_soc.py): its new pieces in Amaranth's simulator, then each firmware
example run by VexRiscv in a cocotb co-simulation of the whole SoC
(:func:`hauler.sim.boards.cpu.run_program`; the bench checks memory and the serial line
itself, and times the driver)."""

import os
import shutil

import pytest

from hauler import Config
from hauler.boards.control import ProgramControl
from hauler.boards.cpu_soc import CPUSoC
from hauler.boards.memory_map import (CONTROL_REGISTERS, SERIAL_REGISTERS, SERIAL_TX_EMPTY,
                                      SERIAL_TX_READY)
from hauler.boards.ram import BlockRAM
from hauler.boards.serial_port import SerialPort
from hauler.boards.firmware import CROSS, EXAMPLES
from hauler.sim.boards.cpu import run_program
from hauler.sim.boards.unit import construction_error, simulate
from hauler.sim.boards.wishbone import Access, WishboneMaster

TXDATA, STATUS = SERIAL_REGISTERS["TXDATA"] // 4, SERIAL_REGISTERS["STATUS"] // 4
DIVISOR = 4
FRAME = 10 * DIVISOR        # cycles per byte on the line


def _serial_line(dut):
    """A background testbench decoding the serial port's line into ``received``."""
    received = bytearray()

    async def listen(ctx):
        since = None            # cycles since the start bit's first one, in a frame
        byte = 0
        async for _, _, tx in ctx.tick().sample(dut.tx):
            if since is None:
                since, byte = (0, 0) if tx == 0 else (None, 0)
                continue
            since += 1
            bit, phase = divmod(since - DIVISOR // 2, DIVISOR)     # sampled mid-bit
            if phase == 0 and 1 <= bit <= 8:
                byte |= tx << (bit - 1)
            elif phase == 0 and bit == 9:
                assert tx == 1, "stop bit"
                received.append(byte)
                since = None

    return received, listen


def test_serial_port_sends_every_byte_written_and_stalls_while_full():
    """Writes never get lost: 40 bytes into a 16-byte FIFO in one bus cycle go out in order;
    the writes past the FIFO's room are stalled (the bus cycle lasts about as long as the
    bytes beyond the FIFO take on the line). STATUS and ``req`` follow the room."""
    dut = SerialPort(divisor=DIVISOR, depth=16)
    master = WishboneMaster(dut.bus)
    received, listen = _serial_line(dut)
    message = bytes(range(0x30, 0x30 + 40))

    async def bench(ctx):
        answers, _ = await master.run(ctx, [Access(STATUS)])
        assert answers == [("ack", SERIAL_TX_READY | SERIAL_TX_EMPTY)]
        assert ctx.get(dut.req) == 1
        answers, cycles = await master.run(ctx, [Access(TXDATA, b) for b in message])
        assert [kind for kind, _ in answers] == ["ack"] * len(message)
        # The first byte goes to the line at once; the FIFO (16, with its output register)
        # holds most of the rest: about 22 bytes waited for room.
        assert 20 * FRAME <= cycles <= 25 * FRAME, cycles
        assert ctx.get(dut.req) == 0
        answers, _ = await master.run(ctx, [Access(STATUS)])
        assert answers == [("ack", 0)]
        while len(received) < len(message):
            await ctx.tick()
        await ctx.tick().repeat(DIVISOR)
        answers, _ = await master.run(ctx, [Access(STATUS)])
        assert answers == [("ack", SERIAL_TX_READY | SERIAL_TX_EMPTY)]
        assert ctx.get(dut.req) == 1

    simulate(dut, bench, background=[listen], deadline_cycles=60 * FRAME)
    assert bytes(received) == message


def test_serial_port_takes_only_byte_zero_of_txdata():
    """A write whose byte select leaves out byte 0, or a write to STATUS, sends nothing."""
    dut = SerialPort(divisor=DIVISOR)
    master = WishboneMaster(dut.bus)
    received, listen = _serial_line(dut)

    async def bench(ctx):
        await master.run(ctx, [Access(TXDATA, 0x41, sel=0b0010), Access(STATUS, 0x42),
                               Access(TXDATA, 0x4443)])
        await ctx.tick().repeat(3 * FRAME)

    simulate(dut, bench, background=[listen])
    assert bytes(received) == b"C"


def test_program_control_exit_and_marks():
    dut = ProgramControl()
    master = WishboneMaster(dut.bus)
    exit_index, mark_index = CONTROL_REGISTERS["EXIT"] // 4, CONTROL_REGISTERS["MARK"] // 4
    marks = []

    async def watch(ctx):
        async for _, _, marked, mark in ctx.tick().sample(dut.marked, dut.mark):
            if marked:
                marks.append(mark)

    async def bench(ctx):
        assert (ctx.get(dut.exited), ctx.get(dut.exit_code)) == (0, 0)
        await master.run(ctx, [Access(mark_index, 7), Access(mark_index, 0x1234_5678)])
        assert ctx.get(dut.exited) == 0
        answers, _ = await master.run(ctx, [Access(exit_index, 0x1FE), Access(exit_index)])
        assert answers == [("ack", 0), ("ack", 0)]
        assert (ctx.get(dut.exited), ctx.get(dut.exit_code)) == (1, 0xFE)

    simulate(dut, bench, background=[watch])
    assert marks == [7, 0x1234_5678]


def test_block_ram_starts_with_its_image():
    dut = BlockRAM(size=64, init=bytes(range(1, 11)))
    master = WishboneMaster(dut.bus)

    async def bench(ctx):
        answers, _ = await master.run(ctx, [Access(i) for i in range(4)])
        assert answers == [("ack", 0x0403_0201), ("ack", 0x0807_0605), ("ack", 0x0A09),
                           ("ack", 0)]

    simulate(dut, bench)


def test_block_ram_refuses_an_image_too_big():
    assert construction_error(lambda: BlockRAM(size=16, init=bytes(17))) == \
        "an image of 17 bytes does not fit 16 bytes of RAM"


def test_cpu_soc_refuses_a_build_it_cannot_use():
    config = Config(channels=3, master="axi4", csr="wishbone")
    assert construction_error(lambda: CPUSoC(config=config, clk_freq=25_000_000, divisor=4,
                                             ram_size=65536, image=b"")) == \
        "the CPU SoC needs config.master == 'wishbone', not 'axi4'"


# --- The firmware on VexRiscv ------------------------------------------------------------------

@pytest.fixture(scope="module")
def cross_compiler():
    if shutil.which(f"{CROSS}gcc") is None:
        if os.environ.get("HAULER_NO_RISCV") == "1":
            pytest.skip(f"{CROSS}gcc not installed and HAULER_NO_RISCV=1")
        pytest.fail(f"{CROSS}gcc not found: install Debian's gcc-riscv64-unknown-elf (the "
                    f"bootstrap does), or set HAULER_NO_RISCV=1 to skip the RV32 runs")


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_runs_on_the_cpu_soc(cross_compiler, example):
    """The program exits with 0 and the bench's own checks of RAM and of the line pass (see
    hauler.sim.boards.cpu_bench); memcpy_irq's timings were taken."""
    results = run_program("ulx3s-85f", example)
    assert results["cycles"] > 0
    if example == "memcpy_irq":
        for name in ("setup_cycles", "irq_to_callback_cycles"):
            # The instruction cache makes the second round faster than the first.
            assert 0 < results[f"{name}_warm"] < results[f"{name}_cold"], results


def test_cpu_soc_bitstream_for_ulx3s(cross_compiler, tmp_path):
    """The CPU SoC with memcpy_irq in its RAM builds for ULX3S-85F and meets its 25 MHz
    clock (build() raises TimingNotMet otherwise): VexRiscv, the 3-channel DMA controller
    with everything built, 64 KiB of block RAM holding the program."""
    from hauler.boards.build import build
    from hauler.boards.firmware import build_firmware
    from hauler.sim import runner
    with runner.locked(runner.build_root() / "firmware.lock"):
        image = build_firmware(runner.build_root() / "firmware") / "memcpy_irq.bin"
    result = build("ulx3s-85f", workdir=tmp_path, firmware=image, progress=print)
    print(result.format())
    assert result.config == Config(channels=3, master="wishbone", csr="wishbone")
    assert result.utilization["DP16KD"][0] >= 32          # the RAM
    assert result.utilization["MULT18X18D"][0] >= 1       # VexRiscv's multiplier
    assert result.fmax_mhz >= 25.0 and result.bitstream.stat().st_size > 0
