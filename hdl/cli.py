"""The ``hauler`` command line."""

import argparse
import sys

from .config import Config
from .errors import ToolError


__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """Bad options give one line on stderr and exit status 2, never a traceback."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_config_options(parser):
    d = Config()
    parser.add_argument("--channels", type=int, default=d.channels,
                        help=f"number of channels, 1..16 (default {d.channels})")
    parser.add_argument("--data-width", type=int, default=d.data_width,
                        help=f"master data width: 32, 64 or 128 (default {d.data_width})")
    parser.add_argument("--addr-width", type=int, default=d.addr_width,
                        help=f"address width: 32 or 64 (default {d.addr_width})")
    parser.add_argument("--master", default=d.master,
                        help=f"memory master: axi4 or wishbone (default {d.master})")
    parser.add_argument("--csr", default=d.csr,
                        help=f"register port: axil or wishbone (default {d.csr})")
    parser.add_argument("--max-burst", type=int, default=d.max_burst,
                        help=f"most beats per burst, 1..256 (default {d.max_burst})")
    parser.add_argument("--outstanding", type=int, default=d.outstanding,
                        help=f"most read bursts in flight (default {d.outstanding})")
    parser.add_argument("--fifo-depth", type=int, default=d.fifo_depth,
                        help=f"FIFO beats, a power of two (default {d.fifo_depth})")


def _config(args):
    return Config(channels=args.channels, data_width=args.data_width,
                  addr_width=args.addr_width, master=args.master, csr=args.csr,
                  max_burst=args.max_burst, outstanding=args.outstanding,
                  fifo_depth=args.fifo_depth)


def _write(text, path):
    if path in (None, "-"):
        sys.stdout.write(text)
    else:
        with open(path, "w") as f:
            f.write(text)


def _generate(args):
    from .generate import generate_verilog
    config = args.config
    _write(generate_verilog(config, name=args.name), args.output)
    print(f"wrote {args.output}: module {args.name}, {config.key()}", file=sys.stderr)


def _regs(args):
    from .regmap import render
    _write(render(args.format), args.output)


def _synth(args):
    from .synth import synthesize
    config = args.config
    result = synthesize(config, args.device, progress=lambda line: print(line, flush=True))
    print(result.format())


def _demo(args):
    from .sim.demo import run_demo
    run_demo(args.config, progress=lambda line: print(line, flush=True))


def build_parser():
    parser = _Parser(prog="hauler", description="Hauler DMA controller tools")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = commands.add_parser("generate", help="write the Verilog of a configuration")
    p.add_argument("-o", "--output", required=True, help="Verilog file to write ('-': stdout)")
    p.add_argument("--name", default="hauler_dma", help="top module name (default hauler_dma)")
    _add_config_options(p)
    p.set_defaults(run=_generate)

    p = commands.add_parser("regs", help="print the register map")
    p.add_argument("--format", choices=("c", "json", "md"), required=True)
    p.add_argument("-o", "--output", help="file to write (default stdout)")
    p.set_defaults(run=_regs)

    p = commands.add_parser("synth", help="synthesize the core alone and report area and Fmax")
    p.add_argument("--device", required=True, choices=("ice40-up5k", "ecp5-85f"))
    _add_config_options(p)
    p.set_defaults(run=_synth)

    p = commands.add_parser("demo", help="simulate a copy on a memory model and report it")
    _add_config_options(p)
    p.set_defaults(run=_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "channels"):
        try:
            args.config = _config(args)
        except (TypeError, ValueError) as e:
            # Config names the parameter and the allowed values.
            parser.exit(2, f"hauler {args.command}: error: {e}\n")
    try:
        args.run(args)
    except ToolError as e:
        # A missing simulator or synthesizer, or a tool run that failed: its own words.
        parser.exit(1, f"hauler {args.command}: error: {e}\n")


if __name__ == "__main__":
    main()
