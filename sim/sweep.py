"""``hauler bench``: register-mode copies measured across transfer sizes, source and destination
alignments, memory read latencies, back-pressure and builds, reported as a table, a CSV file
and a plot.

Each build is simulated once per alignment (Icarus starts in seconds), measuring all those
points in that one simulation (:mod:`hauler.sim.benches.perf`); simulations run in parallel
processes.
The simulation modules are imported when needed, so the command line starts quickly.
"""

import csv
import json
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from hauler.errors import ToolError


__all__ = ["Point", "ceiling", "check_lengths", "measure", "sweep", "unsupported", "write_csv",
           "format_table", "plot", "SIZES", "ALIGNMENTS", "MAX_OFFSET", "READ_LATENCIES",
           "BACKPRESSURES", "MASTERS", "DATA_WIDTHS", "COLUMNS"]

#: Default axes of ``hauler bench``.
SIZES = (64, 256, 1024, 4096, 16384, 65536)
#: (source, destination) byte offsets: aligned, and the unaligned case of TARGETS.md.
ALIGNMENTS = ((0, 0), (1, 3))
READ_LATENCIES = (0, 8, 32, 64)
BACKPRESSURES = (0.0, 0.3)
MASTERS = ("axi4", "wishbone")
DATA_WIDTHS = (32, 64)

#: Largest offset of a source or destination address from a page boundary.
MAX_OFFSET = 4095

#: Columns of the CSV file, in order.
COLUMNS = ("config", "master", "data_width", "bytes", "src_offset", "dst_offset", "read_latency",
           "backpressure", "beats", "cycles", "read_beats", "write_beats",
           "read_beats_per_cycle", "write_beats_per_cycle",
           "payload_beats_per_cycle", "ceiling", "efficiency", "launch_cycles",
           "unaligned_built", "error")

#: Environment of the perf bench: the points to measure (JSON) and the file of results.
POINTS_ENV = "HAULER_PERF_POINTS"
RESULTS_ENV = "HAULER_PERF_RESULTS"


@dataclass(frozen=True)
class Point:
    """One measured copy of a build.

    Parameters
    ----------
    length : int
        Bytes copied (LEN), a multiple of the data width.
    read_latency : int
        Cycles the memory adds before read data come back (see
        :meth:`hauler.sim.harness.Harness.create`).
    backpressure : float
        Probability of a pause on every memory channel in each cycle, in [0, 1).
    src_offset, dst_offset : int
        Bytes by which SRC and DST lie past a page boundary, 0..:data:`MAX_OFFSET`: a copy is
        unaligned when either is not a multiple of the beat size.
    """

    length: int
    read_latency: int = 0
    backpressure: float = 0.0
    src_offset: int = 0
    dst_offset: int = 0


def ceiling(master, backpressure):
    """Most beats per cycle one direction can carry: 1.0 on AXI4 (read and write channels
    are separate), 0.5 on Wishbone (one bus carries both), times ``1 - backpressure``, the
    share of cycles in which the memory does not pause the channel (AXI4) or stall the bus
    (Wishbone)."""
    return (1.0 if master == "axi4" else 0.5) * (1 - backpressure)


def check_lengths(lengths, configs):
    """Raise :class:`ValueError` unless every length is a copy every configuration can make:
    from the lower half of the memory model to the upper half, whole beats."""
    from .harness import MEMORY_SIZE
    for length in lengths:
        if not 0 < length <= MEMORY_SIZE // 2:
            raise ValueError(f"sizes must be 1..{MEMORY_SIZE // 2} bytes (half the memory "
                             f"model), not {length}")
        for config in configs:
            if length % config.beat_bytes:
                raise ValueError(f"size {length} is not a multiple of the {config.data_width}-bit "
                                 f"data width (sizes are whole beats; --alignments offsets the "
                                 f"addresses)")


def measure(config, points, *, seed=None, results=None):
    """Simulate ``config`` once and measure a copy at each point.

    Parameters
    ----------
    config : hauler.Config
    points : list of Point
    seed : int, optional
        Seed of the simulation (see :func:`hauler.sim.runner.run`).
    results : path-like, optional
        File that receives each result as a line of JSON as soon as it is measured
        (default: a temporary file).

    Returns
    -------
    list of dict
        One per point, in order: ``config`` (key), ``bytes``, ``src_offset``, ``dst_offset``,
        ``beats`` (``bytes`` / beat size), ``read_latency``, ``backpressure``,
        ``unaligned_built`` (CONFIG.UNALIGNED read from the build), and either ``error`` (the
        ERR_CODE name the channel ended with, e.g. ``"BAD_DESCRIPTOR"``) or the figures:
        ``cycles`` (from the CSR write of START to the interrupt), ``read_beats`` and
        ``write_beats`` (data beats on the bus), ``read_beats_per_cycle``,
        ``write_beats_per_cycle``, ``launch_cycles`` (to the first read request).

    Raises
    ------
    AssertionError, RuntimeError
        As :func:`hauler.sim.runner.run`: a copy went wrong (data, protocol, hang), or the
        build failed. A copy that the channel ends with an error is a result, not a failure.
    """
    from . import runner
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.jsonl" if results is None else Path(results)
        path.write_text("")
        runner.run(config, "hauler.sim.benches.perf", seed=seed, env={
            POINTS_ENV: json.dumps([{"length": p.length, "read_latency": p.read_latency,
                                     "backpressure": p.backpressure, "src_offset": p.src_offset,
                                     "dst_offset": p.dst_offset} for p in points]),
            RESULTS_ENV: str(path),
        })
        return [json.loads(line) for line in path.read_text().splitlines()]


def _quiet():
    # A worker's runner and simulator chatter would break the progress bar; its failures
    # come back as exceptions.
    sys.stdout = sys.stderr = open(os.devnull, "w")


def _measure_build(config, points, seed, results):
    try:
        return measure(config, points, seed=seed, results=results)
    except (AssertionError, RuntimeError) as error:
        raise ToolError(str(error)) from None


def _row(config, result):
    c = ceiling(config.master, result["backpressure"])
    row = {
        "config": config.key(), "master": config.master, "data_width": config.data_width,
        **{k: result[k] for k in ("bytes", "src_offset", "dst_offset", "read_latency",
                                  "backpressure", "beats", "unaligned_built")},
        "ceiling": c, "error": result.get("error"),
    }
    figures = ("cycles", "read_beats", "write_beats", "read_beats_per_cycle",
               "write_beats_per_cycle", "launch_cycles")
    if row["error"] is not None:
        # Not a figure: the copy did not happen.
        return {**row, **dict.fromkeys(figures + ("payload_beats_per_cycle", "efficiency"))}
    # The copy's bytes in beats per cycle: an unaligned copy moves a partial beat more than
    # its bytes fill on each unaligned side, which counts only for the bytes it carries, so
    # this never exceeds the bus ceiling and equals the bus beats per cycle of an aligned copy.
    payload = result["beats"] / result["cycles"]
    return {**row, **{k: result[k] for k in figures},
            "payload_beats_per_cycle": payload, "efficiency": payload / c}


def unsupported(row):
    """Whether a row's copy failed as the ABI requires of its build: an unaligned copy on a
    build without the realigner (CONFIG.UNALIGNED = 0) ends with BAD_DESCRIPTOR."""
    beat = row["data_width"] // 8
    unaligned = row["src_offset"] % beat or row["dst_offset"] % beat
    return bool(unaligned) and row["error"] == "BAD_DESCRIPTOR" and not row["unaligned_built"]


def sweep(configs, points, *, jobs=2, seed=None):
    """Measure every point on every build, with a progress bar on stderr.

    Parameters
    ----------
    configs : list of hauler.Config
    points : list of Point
        Measured on each build in one simulation per alignment, up to ``jobs`` at once.
    jobs : int
        Simulations run in parallel (processes).
    seed : int, optional
        Seed of every simulation: the same seed and sources give the same figures.

    Returns
    -------
    list of dict
        One row per (configuration, point), configurations in order, points in order; keys
        are :data:`COLUMNS`. A copy that the channel ended with an error has its ERR_CODE
        name in ``error`` and ``None`` for every figure (see :func:`unsupported`).

    Raises
    ------
    ToolError
        When a simulation failed; the message names its log and seed.
    """
    from tqdm import tqdm

    # One simulation per build and alignment: shorter simulations spread better over the
    # cores, and an Icarus start costs only a second or two. A point's random draws depend
    # on the seed and the point alone, not on the simulation it runs in.
    alignments = _unique((p.src_offset, p.dst_offset) for p in points)
    tasks = [(c, [i for i, p in enumerate(points) if (p.src_offset, p.dst_offset) == alignment])
             for c in range(len(configs)) for alignment in alignments]
    with tempfile.TemporaryDirectory() as tmp, \
            ProcessPoolExecutor(min(jobs, len(tasks)), initializer=_quiet) as pool, \
            tqdm(total=len(configs) * len(points), unit="copy", desc="hauler bench",
                 disable=None) as bar:
        files = [Path(tmp) / f"{n}-{configs[c].key()}.jsonl" for n, (c, _) in enumerate(tasks)]
        futures = [pool.submit(_measure_build, configs[c], [points[i] for i in indices], seed,
                               path) for (c, indices), path in zip(tasks, files)]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.5)
            done = sum(path.read_text().count("\n") for path in files if path.exists())
            bar.update(done - bar.n)
        results = {}
        for (c, indices), future in zip(tasks, futures):
            results.update(((c, i), result) for i, result in zip(indices, future.result()))
        return [_row(config, results[c, i])
                for c, config in enumerate(configs) for i in range(len(points))]


def write_csv(rows, path):
    """Write the rows of :func:`sweep` as CSV with a header line of :data:`COLUMNS`."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})


def _size(length):
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if length >= 1 << shift and length % (1 << shift) == 0:
            return f"{length >> shift} {unit}"
    return f"{length} B"


def _alignment(row):
    return f"{row['src_offset']}:{row['dst_offset']}"


def _error(row):
    if unsupported(row):
        return f"{row['error']}: no realigner in this build (CONFIG.UNALIGNED = 0)"
    return f"{row['error']}: the copy failed"


#: Below the table: what its less obvious columns mean.
TABLE_NOTES = (
    "align s:d: SRC and DST lie s and d bytes past a page boundary; LEN is the size",
    "read/cyc, write/cyc: data beats on the master bus per cycle, START write to interrupt",
    "payload/cyc: bytes copied / (beat bytes x cycles): an unaligned copy's partial beats "
    "count only their bytes",
    "ceiling: most beats per cycle in one direction (AXI4 1, Wishbone 0.5) x (1 - bp); "
    "eff = payload/cyc / ceiling",
)


def format_table(rows):
    """The rows of :func:`sweep` as a fixed-width text table, with notes on its columns below.

    A copy that failed shows ``-`` for every figure and its ERR_CODE in a last column."""
    header = ["master", "width", "size", "align", "latency", "bp", "cycles", "read/cyc",
              "write/cyc", "payload/cyc", "ceiling", "eff", "launch"]
    failed = any(r["error"] is not None for r in rows)
    lines = []
    for r in rows:
        line = [r["master"], str(r["data_width"]), _size(r["bytes"]), _alignment(r),
                str(r["read_latency"]), f"{r['backpressure']:g}"]
        if r["error"] is None:
            line += [str(r["cycles"]), f"{r['read_beats_per_cycle']:.3f}",
                     f"{r['write_beats_per_cycle']:.3f}", f"{r['payload_beats_per_cycle']:.3f}",
                     f"{r['ceiling']:.2f}", f"{r['efficiency']:.3f}", str(r["launch_cycles"])]
        else:
            line += ["-"] * 4 + [f"{r['ceiling']:.2f}", "-", "-"]
        if failed:
            line.append("" if r["error"] is None else _error(r))
        lines.append(line)
    if failed:
        header.append("error")
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines)]
    table = ["  ".join(cell.ljust(w) if i == len(widths) - 1 and failed else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
             for line in [header, *lines]]
    return "\n".join(table + [""] + [f"* {note}" for note in TABLE_NOTES]) + "\n"


def _unique(values):
    return list(dict.fromkeys(values))


def plot(rows, path, *, title="hauler bench"):
    """Plot payload beats per cycle against transfer size, one panel per master and
    back-pressure, one line per data width (line style), read latency (colour) and alignment
    (marker), the bus ceiling dotted; copies that failed are left out and counted in their
    panel. Write a PNG."""
    from matplotlib.figure import Figure  # Agg renders PNG files; no GUI backend involved
    from matplotlib.lines import Line2D

    masters = _unique(r["master"] for r in rows)
    pressures = _unique(r["backpressure"] for r in rows)
    widths = _unique(r["data_width"] for r in rows)
    latencies = _unique(r["read_latency"] for r in rows)
    alignments = _unique((r["src_offset"], r["dst_offset"]) for r in rows)
    sizes = sorted(_unique(r["bytes"] for r in rows))
    styles = ("-", "--", ":", "-.")
    markers = ("o", "^", "s", "D", "v", "P", "X")

    def marker(a):
        # Aligned copies filled, unaligned ones hollow.
        return dict(marker=markers[a % len(markers)], markersize=4 if a else 3,
                    markerfacecolor="none" if alignments[a] != (0, 0) else None)

    fig = Figure(figsize=(6 * len(pressures), 4.2 * len(masters) + 0.8), layout="constrained")
    axes = fig.subplots(len(masters), len(pressures), squeeze=False)
    for i, master in enumerate(masters):
        for j, pressure in enumerate(pressures):
            ax = axes[i][j]
            panel = [r for r in rows if (r["master"], r["backpressure"]) == (master, pressure)]
            for w, width in enumerate(widths):
                for k, latency in enumerate(latencies):
                    for a, alignment in enumerate(alignments):
                        series = sorted((r["bytes"], r["payload_beats_per_cycle"]) for r in panel
                                        if r["error"] is None and
                                        (r["data_width"], r["read_latency"],
                                         (r["src_offset"], r["dst_offset"])) ==
                                        (width, latency, alignment))
                        if series:
                            ax.plot(*zip(*series), color=f"C{k}",
                                    linestyle=styles[w % len(styles)], **marker(a))
            top = ceiling(master, pressure)
            ax.axhline(top, color="black", linestyle=":", linewidth=1)
            ax.annotate(f"ceiling {top:g}", (sizes[0], top), xytext=(0, 3),
                        textcoords="offset points", fontsize="small")
            failed = [r for r in panel if r["error"] is not None]
            if failed:
                ax.text(0.98, 0.03, f"{len(failed)} {'copy' if len(failed) == 1 else 'copies'} "
                        f"failed, not shown: "
                        f"{', '.join(_unique(r['error'] for r in failed))}",
                        transform=ax.transAxes, ha="right", fontsize="small", color="red")
            ax.set_xscale("log", base=2)
            ax.set_xticks(sizes, [_size(s) for s in sizes], fontsize="small")
            ax.set_ylim(0, ceiling(master, 0) * 1.08)
            ax.set_title(f"{master}, back-pressure {pressure:g}")
            ax.set_xlabel("transfer size")
            ax.set_ylabel("payload beats per cycle, each direction")
            ax.grid(alpha=0.3)
    # One legend entry per colour, line style and marker rather than per line.
    handles = [Line2D([], [], color=f"C{k}", label=f"latency {latency}")
               for k, latency in enumerate(latencies)]
    handles += [Line2D([], [], color="grey", linestyle=styles[w % len(styles)],
                       label=f"{width}-bit") for w, width in enumerate(widths)]
    if len(alignments) > 1 or alignments[0] != (0, 0):
        handles += [Line2D([], [], color="grey", linestyle="none", **marker(a),
                           label="aligned" if alignment == (0, 0) else
                           f"src +{alignment[0]}, dst +{alignment[1]}")
                    for a, alignment in enumerate(alignments)]
    handles.append(Line2D([], [], color="black", linestyle=":", linewidth=1, label="bus ceiling"))
    fig.legend(handles=handles, loc="outside lower center",
               ncol=min(len(handles), 4 * len(pressures)),
               fontsize="small")
    fig.suptitle(title, fontsize="medium")
    fig.savefig(path, dpi=100)
