"""The boards the demo SoC is built for: a table, cheap to import (the command line reads it
to make its options; platforms and gateware are imported only when a board is built).

Adding a board is adding an entry to :data:`BOARDS` (see docs/boards.md).
"""

from dataclasses import dataclass

from hauler import Config


__all__ = ["Board", "BOARDS", "DEFAULT_BAUD"]


#: The UART's default rate; every USB-serial adapter has it.
DEFAULT_BAUD = 115200


@dataclass(frozen=True)
class Board:
    """One board: its amaranth-boards platform, the SoC's memory on it, its default build.

    Parameters
    ----------
    name : str
        What ``hauler build`` calls it.
    description : str
        One line for ``--help``.
    platform : callable
        Returns the :class:`amaranth.build.Platform`; imported only when called.
    device : str
        The :data:`hauler.synth.DEVICES` key of its FPGA (cell names, fit diagnostics).
    memory, ram_size
        As :class:`~hauler.boards.soc.DemoSoC` takes them.
    config : hauler.Config
        The DMA controller's default build on this board.
    leds : tuple of (str, int)
        Platform resources (name, number) lit by the SoC's LEDs, in the order of
        :data:`~hauler.boards.soc.LEDS`: busy, irq, error.
    bitstream : str
        Extension of the file the programmer loads.
    programmer : (str, str, str, tuple)
        Environment variable, default command, Debian package, arguments before the file.
    nextpnr_opts : tuple of str
        Extra nextpnr options for this board.
    cpu_config : hauler.Config or None
        The DMA controller's build in the CPU SoC (:class:`~hauler.boards.cpu_soc.CPUSoC`);
        ``None`` where the CPU SoC does not fit (``cpu_unfit`` says why).
    cpu_unfit : str
        Why there is no CPU SoC for this board.
    """
    name: str
    description: str
    platform: object
    device: str
    memory: str
    ram_size: int
    config: Config
    leds: tuple
    bitstream: str
    programmer: tuple
    nextpnr_opts: tuple = ()
    cpu_config: Config = None
    cpu_unfit: str = ""


def _icebreaker():
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    platform = ICEBreakerPlatform()
    # The snap-off LED/button board (on PMOD2): its first green LED shows irq. It is harmless
    # when the snap-off board is detached.
    platform.add_resources(platform.break_off_pmod)
    return platform


def _ulx3s_85f():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    return ULX3S_85F_Platform()


# The SoC's one bus is Wishbone; no device on the board drives the stream ports or the
# req/ack handshake, so the demo leaves both out.
_WISHBONE = dict(master="wishbone", csr="wishbone", streams=False, req_ack=False)

#: Every board ``hauler build`` knows, by name.
BOARDS = {
    "icebreaker": Board(
        name="icebreaker",
        description="1BitSquared iCEBreaker (iCE40UP5K, 12 MHz), 128 KiB of SPRAM",
        platform=_icebreaker,
        device="ice40-up5k",
        memory="spram",
        ram_size=128 * 1024,
        # The UP5K has 5280 logic cells. One channel, short bursts and aligned transfers
        # only: with scatter-gather the SoC takes 84% of the cells (docs/boards.md).
        config=Config(channels=1, max_burst=8, outstanding=2, fifo_depth=32, unaligned=False,
                      **_WISHBONE),
        # Green: busy; the snap-off board's green LED on PMOD2 pin 1: irq; red: error.
        leds=(("led_g", 0), ("led_g", 1), ("led_r", 0)),
        bitstream="bin",
        programmer=("ICEPROG", "iceprog", "fpga-icestorm", ()),
        cpu_unfit="the CPU SoC starts from a program in RAM at configuration: the UP5K's "
                  "SPRAM has no initial contents, and its 15 KiB of block RAM cannot hold the "
                  "examples' 64 KiB memory map (docs/firmware.md)",
    ),
    "ulx3s-85f": Board(
        name="ulx3s-85f",
        description="Radiona ULX3S with an ECP5 LFE5U-85F (25 MHz), 64 KiB of block RAM",
        platform=_ulx3s_85f,
        device="ecp5-85f",
        memory="bram",
        ram_size=64 * 1024,
        config=Config(channels=2, **_WISHBONE),
        # What firmware/examples use: 3 channels with scatter-gather, streams and req/ack.
        cpu_config=Config(channels=3, master="wishbone", csr="wishbone"),
        leds=(("led", 0), ("led", 1), ("led", 2)),
        bitstream="bit",
        programmer=("OPENFPGALOADER", "openFPGALoader", "openfpgaloader",
                    ("--board", "ulx3s")),
    ),
}
