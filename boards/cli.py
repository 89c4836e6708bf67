"""``hauler build``, ``hauler board`` and ``hauler firmware``: the command-line side of the
boards.

:func:`add_commands` adds both to the ``hauler`` command line (hdl/cli.py calls it). Errors
follow that command line's rules: a bad option or a build the SoC cannot use is one line on
stderr with exit status 2; a tool or a board that fails is one line with status 1 (the
command line's :class:`~hauler.errors.ToolError` handling); never a traceback.
"""

import argparse
import re
import sys
from pathlib import Path

from hauler.errors import ToolError

from .firmware import EXAMPLES
from .targets import BOARDS, DEFAULT_BAUD


__all__ = ["add_commands"]


_REPO_BUILD = Path(__file__).resolve().parent.parent / "build"


def _address(text):
    """An argparse type: an integer, decimal or 0x-prefixed, 0..0xFFFFFFFF."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an address: {text!r}") from None
    if not 0 <= value < 1 << 32:
        raise argparse.ArgumentTypeError(f"not a 32-bit address: {text!r}")
    return value


def _positive(text):
    try:
        value = int(text, 0)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive number: {text!r}")
    return value


def _lengths(text):
    try:
        values = [int(item, 0) for item in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of byte counts: {text!r}")
    return values


def _board_defaults(parser, config):
    """Make ``config`` the defaults of the configuration options ``parser`` has, and say so
    in their help (``hauler generate``'s say Config()'s)."""
    values = config.as_dict()
    for action in parser._actions:
        if action.dest not in values:
            continue
        value = action.default = values[action.dest]
        if action.help:
            shown = value if not isinstance(value, bool) else ("built" if value else "left out")
            action.help = re.sub(r"\s*\(default [^)]*\)", "", action.help) + \
                f" (board default: {shown})"


def _add_build(subparsers, add_config_options, config_from_args):
    build = subparsers.add_parser(
        "build", help="build the demo SoC's bitstream for a board, and program it",
        description="Build the demo SoC (a Hauler DMA controller, RAM and a UART bridge) for "
                    "a board with Yosys and nextpnr (YoWASP by default; $YOSYS, "
                    "$NEXTPNR_ICE40, $ICEPACK, $NEXTPNR_ECP5, $ECPPACK override them), and "
                    "report its utilization and Fmax.")
    boards = build.add_subparsers(dest="board", required=True, metavar="BOARD",
                                  parser_class=type(build))
    for board in BOARDS.values():
        p = boards.add_parser(board.name, help=board.description,
                              description=f"{board.description}. The configuration options "
                                          f"override the board's build of the DMA controller.")
        _add_build_options(p, board)
        add_config_options(p)
        _board_defaults(p, board.config)
        p.set_defaults(run=lambda args, p=p: _build(args, p, config_from_args))


def _add_build_options(p, board, kind=""):
    p.add_argument("--program", action="store_true",
                   help=f"load the bitstream into the board afterwards "
                        f"(${board.programmer[0]}, default {board.programmer[1]})")
    p.add_argument("--workdir", help=f"directory for the build's files (default "
                                     f"build/boards/<board>-{kind}<configuration>)")
    p.add_argument("--baud", type=_positive, default=DEFAULT_BAUD,
                   help=f"the UART's rate (default {DEFAULT_BAUD})")


def _build(args, parser, config_from_args, firmware=None):
    from .build import build
    try:
        config = getattr(args, "config", None) or config_from_args(args)
        image = None
        if firmware is not None:
            from .firmware import program_image
            image = program_image(firmware, _REPO_BUILD / "firmware")
        result = build(args.board, config, program=args.program, workdir=args.workdir,
                       baud=args.baud, progress=lambda line: print(line, flush=True),
                       firmware=image)
    except (TypeError, ValueError) as e:
        # A build the SoC cannot use (a master other than Wishbone, a baud rate the clock
        # cannot make, no such program): like a bad option.
        parser.exit(2, f"hauler {args.command}: error: {e}\n")
    print(result.format())


def _add_board(subparsers):
    board = subparsers.add_parser(
        "board", help="run operations on a board running the demo SoC, over its serial port",
        description="Talk to the demo SoC's UART bridge (see docs/boards.md) to read and "
                    "write memory and run the DMA controller.")
    board.add_argument("--port", required=True,
                       help="serial port: /dev/ttyUSB1 on iCEBreaker (its second FTDI "
                            "channel), /dev/ttyUSB0 on ULX3S")
    board.add_argument("--baud", type=_positive, default=DEFAULT_BAUD,
                       help=f"the rate the bitstream was built for (default {DEFAULT_BAUD})")
    ops = board.add_subparsers(dest="operation", required=True, metavar="OPERATION",
                               parser_class=type(board))

    p = ops.add_parser("info", help="what the board block and the DMA's registers say")
    p.set_defaults(run=_board(_info))

    p = ops.add_parser("peek", help="read words")
    p.add_argument("addr", type=_address, metavar="ADDR")
    p.add_argument("count", type=_positive, nargs="?", default=1, metavar="COUNT")
    p.set_defaults(run=_board(_peek))

    p = ops.add_parser("poke", help="write a word")
    p.add_argument("addr", type=_address, metavar="ADDR")
    p.add_argument("value", type=_address, metavar="VALUE")
    p.set_defaults(run=_board(_poke))

    p = ops.add_parser("load", help="write a file's bytes into memory")
    p.add_argument("addr", type=_address, metavar="ADDR")
    p.add_argument("file", type=argparse.FileType("rb"), metavar="FILE")
    p.set_defaults(run=_board(_load))

    p = ops.add_parser("dump", help="read memory: a hex dump, or raw bytes into a file")
    p.add_argument("addr", type=_address, metavar="ADDR")
    p.add_argument("length", type=_positive, metavar="LENGTH")
    p.add_argument("-o", "--output", help="file for the raw bytes (default: hex dump on stdout)")
    p.set_defaults(run=_board(_dump))

    p = ops.add_parser("copy", help="a checked register-mode copy of random bytes")
    p.add_argument("--src", type=_address, help="source (default: 0x100)")
    p.add_argument("--dst", type=_address, help="destination (default: the middle of RAM)")
    p.add_argument("--length", type=_positive, default=4096, help="bytes (default 4096)")
    p.add_argument("--channel", type=int, default=0, help="DMA channel (default 0)")
    p.add_argument("--seed", type=int, default=1, help="of the random bytes (default 1)")
    p.set_defaults(run=_board(_copy))

    p = ops.add_parser("chain", help="a checked scatter-gather chain")
    p.add_argument("--lengths", type=_lengths, default=[1024, 3000, 512],
                   help="bytes of each descriptor (default 1024,3000,512)")
    p.add_argument("--base", type=_address,
                   help="where the descriptors and buffers go (default: a quarter into RAM)")
    p.add_argument("--channel", type=int, default=0, help="DMA channel (default 0)")
    p.add_argument("--seed", type=int, default=2, help="of the random bytes (default 2)")
    p.set_defaults(run=_board(_chain))

    p = ops.add_parser("selftest", help="memory, a copy and a chain on every channel, the "
                                        "bus-error path")
    p.add_argument("--length", type=_positive, default=4096,
                   help="bytes of each copy (default 4096)")
    p.set_defaults(run=_board(_selftest))


def _board(operation):
    """A ``run`` for an operation: open the link and run it. What the board did wrong is a
    :class:`~hauler.boards.host.HostError` (status 1); arguments the operation cannot use (an
    address that is not a word's, overlapping buffers) are like a bad option (status 2)."""
    def run(args):
        from .host import HostError, SerialLink
        from .protocol import ProtocolError
        with SerialLink(args.port, baud=args.baud) as link:
            try:
                operation(args, link)
            except ProtocolError as e:
                raise HostError(str(e)) from None
            except ValueError as e:
                print(f"hauler board: error: {e}", file=sys.stderr)
                raise SystemExit(2) from None
    return run


def _info(args, link):
    from .host import board_facts
    facts = link.run(board_facts())
    print(f"RAM {facts.ram_size} bytes, clock {facts.clk_hz} Hz, ERRORS {facts.errors:#x}")
    for name, value in facts.dma.items():
        print(f"{name:<16} {value}")


def _peek(args, link):
    from .host import read_words
    for i, word in enumerate(link.run(read_words(args.addr, args.count))):
        print(f"{args.addr + 4 * i:#010x}: {word:#010x}")


def _poke(args, link):
    from .host import poke
    link.run(poke(args.addr, args.value))


def _timed(link, procedure):
    import time
    began = time.monotonic()
    result = link.run(procedure)
    return result, time.monotonic() - began


def _load(args, link):
    from .host import load
    data = args.file.read()
    _, seconds = _timed(link, load(args.addr, data))
    print(f"loaded {len(data)} bytes at {args.addr:#x} in {seconds:.2f} s "
          f"({len(data) / seconds:.0f} bytes/s over the UART)")


def _dump(args, link):
    from .host import dump
    raw, seconds = _timed(link, dump(args.addr, args.length))
    if args.output:
        with open(args.output, "wb") as f:
            f.write(raw)
        print(f"wrote {len(raw)} bytes to {args.output} (read in {seconds:.2f} s)")
        return
    for i in range(0, len(raw), 16):
        line = raw[i:i + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in line)
        print(f"{args.addr + i:08x}  {line.hex(' '):<47}  {text}")


def _facts(link):
    from .host import board_facts
    return link.run(board_facts())


def _copy(args, link):
    from .host import copy_test
    from .memory_map import RAM_BASE
    facts = _facts(link)
    src = RAM_BASE + 0x100 if args.src is None else args.src
    dst = RAM_BASE + facts.ram_size // 2 if args.dst is None else args.dst
    print(link.run(copy_test(src, dst, args.length, channel=args.channel, seed=args.seed,
                             ram_size=facts.ram_size)).format())


def _chain(args, link):
    from .host import HostError, chain_test
    from .memory_map import RAM_BASE
    facts = _facts(link)
    if not facts.dma["SG"]:
        raise HostError("this build has no scatter-gather (CONFIG.SG = 0); build it without "
                        "--no-sg, on a board where it fits")
    base = RAM_BASE + facts.ram_size // 4 if args.base is None else args.base
    print(link.run(chain_test(base, args.lengths, channel=args.channel, seed=args.seed,
                              unaligned=bool(facts.dma["UNALIGNED"]))).format())


def _selftest(args, link):
    from .host import selftest
    link.run(selftest(length=args.length, report=lambda line: print(line, flush=True)))
    print("selftest: all passed")


def _add_firmware(subparsers, add_config_options, config_from_args):
    firmware = subparsers.add_parser(
        "firmware", help="run the C firmware on the CPU SoC: co-simulated, or on a board",
        description="The CPU SoC: VexRiscv running a program from RAM that drives a Hauler "
                    "DMA controller (docs/firmware.md). PROGRAM is one of firmware/examples "
                    f"({', '.join(EXAMPLES)}), built with riscv64-unknown-elf-gcc, or a RAM "
                    "image file (for build).")
    commands = firmware.add_subparsers(dest="action", required=True, metavar="ACTION",
                                       parser_class=type(firmware))
    boards = [board for board in BOARDS.values() if board.cpu_config is not None]

    p = commands.add_parser(
        "sim", help="co-simulate the CPU SoC running an example; print what it printed and "
                    "the driver's timings",
        description="Simulate the CPU SoC (the bitstream's gateware, a fast UART) with Icarus "
                    "and cocotb while it runs an example to its end; the bench checks memory "
                    "and the serial line, and times the driver from the program's marks.")
    p.add_argument("example", choices=EXAMPLES, metavar="EXAMPLE",
                   help=f"one of {', '.join(EXAMPLES)}")
    p.add_argument("--board", choices=[b.name for b in boards], default=boards[0].name,
                   help=f"whose clock, RAM and DMA build (default {boards[0].name})")
    p.set_defaults(run=_firmware_sim)

    p = commands.add_parser("build", help="build the CPU SoC's bitstream with a program in RAM",
                            description="Build the CPU SoC with a program in its RAM for a "
                                        "board (as hauler build does the demo SoC).")
    targets = p.add_subparsers(dest="board", required=True, metavar="BOARD",
                               parser_class=type(p))
    for board in BOARDS.values():
        if board.cpu_config is None:
            # Named, so that asking for it says why rather than "invalid choice".
            q = targets.add_parser(board.name, help=f"no CPU SoC: {board.cpu_unfit}")
            q.add_argument("firmware", metavar="PROGRAM", nargs="?")
            q.set_defaults(run=lambda args, q=q, board=board: q.exit(
                2, f"hauler firmware: error: no CPU SoC on {board.name}: {board.cpu_unfit}\n"))
            continue
        q = targets.add_parser(board.name, help=board.description,
                               description=f"{board.description}. The configuration options "
                                           f"override the CPU SoC's build of the DMA "
                                           f"controller.")
        q.add_argument("firmware", metavar="PROGRAM",
                       help=f"one of {', '.join(EXAMPLES)}, or a RAM image file")
        _add_build_options(q, board, kind="cpu-")
        add_config_options(q)
        _board_defaults(q, board.cpu_config)
        q.set_defaults(run=lambda args, q=q: _build(args, q, config_from_args, args.firmware))


def _firmware_sim(args):
    from hauler.sim.boards.cpu import run_program
    try:
        results = run_program(args.board, args.example)
    except AssertionError as e:
        # The program failed, or a check of the bench did: what it printed, and the log.
        raise ToolError(str(e)) from None
    print(f"{args.example} printed:")
    print("".join(f"  | {line}\n" for line in results.pop("console").splitlines()), end="")
    for name, value in results.items():
        print(f"{name.replace('_', ' ')}: {value}")


def add_commands(subparsers, add_config_options, config_from_args):
    """Add ``build``, ``board`` and ``firmware`` to the ``hauler`` command line.

    Parameters
    ----------
    subparsers
        The command line's ``add_subparsers()`` object.
    add_config_options : callable
        Adds the configuration options of ``hauler generate`` to a parser.
    config_from_args : callable
        The :class:`hauler.Config` those options name (``args``).
    """
    _add_build(subparsers, add_config_options, config_from_args)
    _add_board(subparsers)
    _add_firmware(subparsers, add_config_options, config_from_args)

