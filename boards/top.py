"""The demo SoCs on a board: a SoC built for a board's clock, and its pins."""

from amaranth.hdl import Elaboratable, Module
from amaranth.lib import io

from .cpu_soc import CPUSoC, check_cpu_config
from .soc import LEDS, DemoSoC, check_config
from .targets import DEFAULT_BAUD
from .uart import uart_divisor


__all__ = ["board_soc", "cpu_soc", "BoardTop"]


def board_soc(board, platform, config=None, *, baud=DEFAULT_BAUD):
    """The demo SoC for ``board`` (a :class:`~hauler.boards.targets.Board`) on ``platform``.

    Raises
    ------
    TypeError, ValueError
        As :class:`~hauler.boards.soc.DemoSoC` and :func:`~hauler.boards.uart.uart_divisor`.
    """
    config = board.config if config is None else config
    clk_freq = int(platform.default_clk_frequency)
    # Checked before the SoC exists: an elaboratable that fails half-built warns at exit.
    check_config(config)
    divisor = uart_divisor(clk_freq, baud)
    return DemoSoC(config=config, clk_freq=clk_freq, divisor=divisor, memory=board.memory,
                   ram_size=board.ram_size)


def cpu_soc(board, platform, image, config=None, *, baud=DEFAULT_BAUD):
    """The CPU SoC for ``board`` on ``platform``, running the program ``image`` (bytes).

    Raises
    ------
    TypeError, ValueError
        As :class:`~hauler.boards.cpu_soc.CPUSoC` and :func:`~hauler.boards.uart.uart_divisor`;
        ValueError also for a board without a CPU SoC.
    """
    if board.cpu_config is None:
        raise ValueError(f"no CPU SoC on {board.name}: {board.cpu_unfit}")
    config = board.cpu_config if config is None else config
    clk_freq = int(platform.default_clk_frequency)
    check_cpu_config(config)
    divisor = uart_divisor(clk_freq, baud)
    return CPUSoC(config=config, clk_freq=clk_freq, divisor=divisor, ram_size=board.ram_size,
                  image=image)


class BoardTop(Elaboratable):
    """A demo SoC (:class:`~hauler.boards.soc.DemoSoC` or
    :class:`~hauler.boards.cpu_soc.CPUSoC`) on a board: its UART and LEDs on the board's pins.

    The clock is the platform's default one; amaranth-boards adds the reset (and, on iCE40,
    the wait for the block RAMs after configuration).

    Parameters
    ----------
    board : hauler.boards.targets.Board
    soc : hauler.boards.soc.DemoSoC or hauler.boards.cpu_soc.CPUSoC
    """

    def __init__(self, board, soc):
        self._board = board
        self.soc = soc

    def elaborate(self, platform):
        m = Module()
        m.submodules.soc = soc = self.soc
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += tx.o.eq(soc.uart_tx)
        if hasattr(soc, "uart_rx"):         # the CPU SoC only sends
            m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
            m.d.comb += soc.uart_rx.eq(rx.i)
        for role, (name, number) in zip(LEDS.members, self._board.leds):
            # The buffer applies the pin's polarity (the iCEBreaker's LEDs are active low).
            m.submodules[f"led_{role}"] = led = io.Buffer("o", platform.request(name, number,
                                                                                dir="-"))
            m.d.comb += led.o.eq(soc.leds[role])
        return m
