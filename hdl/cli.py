"""The ``hauler`` command line."""

import argparse
import os
import sys

from .boards.cli import add_commands as add_board_commands
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
    parser.add_argument("--no-sg", dest="sg", action="store_false",
                        help="leave scatter-gather out (CONFIG.SG reads 0)")
    parser.add_argument("--no-unaligned", dest="unaligned", action="store_false",
                        help="leave the realigner out: addresses and lengths must be "
                             "multiples of the beat size (CONFIG.UNALIGNED reads 0; "
                             "implies --no-streams)")
    parser.add_argument("--no-streams", dest="streams", action="store_false",
                        help="leave the AXI-Stream ports out (CONFIG.STREAMS reads 0)")
    parser.add_argument("--no-req-ack", dest="req_ack", action="store_false",
                        help="leave the req/ack peripheral handshake out (CONFIG.REQ_ACK reads 0)")


def _config(args, **swept):
    """The configuration the options name; ``swept`` overrides options that ``hauler bench`` sweeps."""
    options = dict(channels=args.channels, data_width=args.data_width,
                   addr_width=args.addr_width, master=args.master, csr=args.csr,
                   max_burst=args.max_burst, outstanding=args.outstanding,
                   fifo_depth=args.fifo_depth, sg=args.sg, unaligned=args.unaligned,
                   streams=args.streams, req_ack=args.req_ack)
    options = {**options, **swept}
    # Streams need the realigner: leaving it out leaves them out too.
    options["streams"] = options["streams"] and options["unaligned"]
    return Config(**options)


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
    from dataclasses import replace
    from functools import partial
    from .engine.datapath import DataPath
    from .synth import DoesNotFit, format_side_by_side, synthesize
    config = args.config
    # The realigner's cost: the same build without it (nor the streams that need it) first,
    # as the reference column, then with it; then with the streams, when built.
    builds = [("aligned only", replace(config, unaligned=False, streams=False)),
              ("unaligned", replace(config, streams=False)), ("with streams", config)]
    if not config.streams:
        builds = builds[:2]
    if not config.unaligned or not args.compare:
        builds = builds[-1:]
    columns = []
    for title, build in builds:
        target, options = build, {}
        if args.part == "data-path":
            target = partial(DataPath, build)
            options = dict(name=f"{build.key()}_datapath", label="data path")
        print(f"hauler synth: {build.key()}{' (data path)' if options else ''} on {args.device}",
              flush=True)
        try:
            result = synthesize(target, args.device, seeds=args.seeds,
                                progress=lambda line: print(line, flush=True), **options)
        except DoesNotFit as error:
            result = error
        columns.append((title, result))
    if len(columns) == 1:
        _, result = columns[0]
        if isinstance(result, DoesNotFit):
            if result.area is not None:     # how big it is, before the error
                print(result.format())
            raise result
        print(result.format())
        return
    print(format_side_by_side(args.device, columns))
    misfits = [str(result) for _, result in columns if isinstance(result, DoesNotFit)]
    if misfits:
        raise DoesNotFit("; ".join(misfits), args.device)


def _demo(args):
    from .sim.demo import run_demo
    run_demo(args.config, progress=lambda line: print(line, flush=True))


def _bench(args):
    from .sim import sweep
    points = [sweep.Point(length, latency, pressure, src, dst) for pressure in args.backpressure
              for latency in args.latency for src, dst in args.alignments for length in args.sizes]
    rows = sweep.sweep(args.configs, points, jobs=args.jobs, seed=args.seed)
    sys.stdout.write(sweep.format_table(rows))
    sweep.write_csv(rows, args.csv)
    c = args.configs[0]
    sweep.plot(rows, args.plot, title=f"hauler bench\n{c.channels} channels, bursts of up to "
               f"{c.max_burst} beats, {c.outstanding} reads outstanding, FIFO of {c.fifo_depth} beats")
    print(f"wrote {args.csv} and {args.plot}", file=sys.stderr)
    failed = [r for r in rows if r["error"] is not None]
    unsupported = [r for r in failed if sweep.unsupported(r)]
    failed = [r for r in failed if not sweep.unsupported(r)]
    if unsupported:
        builds = ", ".join(dict.fromkeys(r["config"] for r in unsupported))
        print(f"{_copies(len(unsupported), 'unaligned ')} not measured: no realigner in {builds} "
              f"(CONFIG.UNALIGNED = 0, so BAD_DESCRIPTOR)", file=sys.stderr)
    if failed:
        # Shown in the table and the CSV like the others; but the build should have made them.
        errors = ", ".join(dict.fromkeys(r["error"] for r in failed))
        raise ToolError(f"{_copies(len(failed))} ended with an error ({errors}): see the table "
                        f"and {args.csv}")


def _copies(n, kind=""):
    return f"{n} {kind}{'copy' if n == 1 else 'copies'}"


def _bench_configs(args):
    """One configuration per swept master and data width; every size must suit each."""
    from .sim.sweep import check_lengths
    configs = [_config(args, master=master, data_width=width)
               for master in args.master for width in args.data_width]
    check_lengths(args.sizes, configs)
    return configs


def _list(parse, check, what):
    """An argparse type: a comma-separated list, each item parsed and checked, repeats dropped."""
    def convert(text):
        values = []
        for item in text.split(","):
            try:
                value = parse(item.strip())
            except ValueError:
                raise argparse.ArgumentTypeError(f"not {what}: {item!r}") from None
            if not check(value):
                raise argparse.ArgumentTypeError(f"not {what}: {item!r}")
            values.append(value)
        return list(dict.fromkeys(values))
    return convert


def _bytes(text):
    """An int of bytes, optionally with a binary K or M suffix: 4096, 4K, 1M."""
    scale = {"K": 1 << 10, "M": 1 << 20}.get(text[-1:].upper(), 1)
    return int(text[:-1] if scale > 1 else text) * scale


def _count(what):
    """A converter of a count of ``what``, 1 or more."""
    def convert(text):
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"not a number of {what}, 1 or more: {text!r}")
        return value
    return convert


def _joined(values):
    return ",".join(f"{v:g}" if isinstance(v, float) else
                    ":".join(map(str, v)) if isinstance(v, tuple) else str(v) for v in values)


def _alignment(text):
    """A (source, destination) pair of byte offsets: ``1:3``."""
    src, dst = text.split(":")  # ValueError unless exactly one colon
    return int(src), int(dst)


def _add_bench_options(parser):
    from .sim import sweep
    parser.add_argument("--sizes", type=_list(_bytes, lambda n: n > 0, "a positive size in bytes"),
                        default=list(sweep.SIZES),
                        help=f"copy lengths in bytes, K and M suffixes allowed, whole beats, "
                             f"up to 1M (default {_joined(sweep.SIZES)})")
    parser.add_argument("--alignments", type=_list(
                            _alignment, lambda a: all(0 <= n <= sweep.MAX_OFFSET for n in a),
                            f"SRC:DST byte offsets, each 0..{sweep.MAX_OFFSET}"),
                        default=list(sweep.ALIGNMENTS),
                        help=f"source:destination byte offsets of the copies' addresses from a "
                             f"page boundary; 0:0 is aligned (default "
                             f"{_joined(sweep.ALIGNMENTS)})")
    parser.add_argument("--latency", type=_list(int, lambda n: n >= 0, "a latency of 0 or more cycles"),
                        default=list(sweep.READ_LATENCIES),
                        help=f"cycles the memory adds before read data (default "
                             f"{_joined(sweep.READ_LATENCIES)})")
    parser.add_argument("--backpressure", type=_list(float, lambda p: 0 <= p < 1,
                                                     "a probability in [0, 1)"),
                        default=list(sweep.BACKPRESSURES),
                        help=f"probability of a memory pause per channel and cycle (default "
                             f"{_joined(sweep.BACKPRESSURES)})")
    parser.add_argument("--master", type=_list(str, lambda m: m in sweep.MASTERS, "axi4 or wishbone"),
                        default=list(sweep.MASTERS),
                        help=f"memory masters (default {_joined(sweep.MASTERS)})")
    parser.add_argument("--data-width", type=_list(int, lambda w: True, "a width in bits"),
                        default=list(sweep.DATA_WIDTHS),
                        help=f"master data widths: 32, 64, 128 (default {_joined(sweep.DATA_WIDTHS)})")
    parser.add_argument("--csv", default="bench.csv", help="CSV file to write (default bench.csv)")
    parser.add_argument("--plot", default="bench.png", help="PNG plot to write (default bench.png)")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parser.add_argument("-j", "--jobs", type=_count("jobs"), default=cores or 2,
                        help=f"simulations run at once, one per build and alignment (default: "
                             f"one per core, {cores or 2} here)")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed of the simulations: the same seed gives the same figures (default 1)")


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

    p = commands.add_parser("synth", help="synthesize the core alone and report area and Fmax, "
                                          "with and without the realigner")
    p.add_argument("--device", required=True, choices=("ice40-up5k", "ecp5-85f"))
    p.add_argument("--no-compare", dest="compare", action="store_false",
                   help="synthesize only the build given; by default a build with the "
                        "realigner is reported beside the same build without it (--no-unaligned)")
    p.add_argument("--seeds", type=_count("seeds"), default=1, metavar="N",
                   help="place and route each build N times with different placement seeds "
                        "and report the lowest Fmax and each seed's (default 1)")
    p.add_argument("--part", choices=("core", "data-path"), default="core",
                   help="what to synthesize: the whole core (default), or its data path alone "
                        "(burst planners, arbiter, data mover and bus adapter, without the "
                        "register file and the channels' control), like a bare DMA core such "
                        "as verilog-axi's axi_cdma")
    _add_config_options(p)
    p.set_defaults(run=_synth)

    p = commands.add_parser("demo", help="simulate a copy on a memory model and report it")
    _add_config_options(p)
    p.set_defaults(run=_demo)

    # The swept options replace the single-valued ones of the same names.
    p = commands.add_parser("bench", conflict_handler="resolve",
                            help="measure copies across sizes, alignments, latencies, "
                                 "back-pressure and builds")
    _add_config_options(p)
    _add_bench_options(p)
    p.set_defaults(run=_bench)
    add_board_commands(commands, _add_config_options, _config)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "channels"):
        try:
            if args.command == "bench":
                args.configs = _bench_configs(args)
            else:
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
