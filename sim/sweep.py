"""``hauler bench``: register-mode copies measured across transfer sizes, memory read latencies,
back-pressure and builds, reported as a table, a CSV file and a plot.

Each build is simulated once (Icarus starts in seconds), measuring all its points in that
one simulation (:mod:`hauler.sim.benches.perf`); builds run in parallel processes.
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


__all__ = ["Point", "ceiling", "check_lengths", "measure", "sweep", "write_csv", "format_table",
           "plot", "SIZES", "READ_LATENCIES", "BACKPRESSURES", "MASTERS", "DATA_WIDTHS", "COLUMNS"]

#: Default axes of ``hauler bench``.
SIZES = (64, 256, 1024, 4096, 16384, 65536)
READ_LATENCIES = (0, 8, 32, 64)
BACKPRESSURES = (0.0, 0.3)
MASTERS = ("axi4", "wishbone")
DATA_WIDTHS = (32, 64)

#: Columns of the CSV file, in order.
COLUMNS = ("config", "master", "data_width", "bytes", "read_latency", "backpressure", "beats",
           "cycles", "read_beats_per_cycle", "write_beats_per_cycle", "ceiling", "efficiency",
           "launch_cycles")

#: Environment of the perf bench: the points to measure (JSON) and the file of results.
POINTS_ENV = "HAULER_PERF_POINTS"
RESULTS_ENV = "HAULER_PERF_RESULTS"


@dataclass(frozen=True)
class Point:
    """One measured copy of a build.

    Parameters
    ----------
    length : int
        Bytes copied, a multiple of the data width (aligned transfers only).
    read_latency : int
        Cycles the memory adds before read data come back (see
        :meth:`hauler.sim.harness.Harness.create`).
    backpressure : float
        Probability of a pause on every memory channel in each cycle, in [0, 1).
    """

    length: int
    read_latency: int = 0
    backpressure: float = 0.0


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
                                 f"data width (only aligned transfers are built)")


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
        One per point, in order: ``config`` (key), ``bytes``, ``beats``, ``read_latency``,
        ``backpressure``, ``cycles`` (from the CSR write of START to the interrupt),
        ``read_beats_per_cycle``, ``write_beats_per_cycle``, ``launch_cycles`` (to the first
        read request).

    Raises
    ------
    AssertionError, RuntimeError
        As :func:`hauler.sim.runner.run`: a copy went wrong (data, status, protocol, hang),
        or the build failed.
    """
    from . import runner
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.jsonl" if results is None else Path(results)
        path.write_text("")
        runner.run(config, "hauler.sim.benches.perf", seed=seed, env={
            POINTS_ENV: json.dumps([{"length": p.length, "read_latency": p.read_latency,
                                     "backpressure": p.backpressure} for p in points]),
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
    return {
        "config": config.key(), "master": config.master, "data_width": config.data_width,
        **{k: result[k] for k in ("bytes", "read_latency", "backpressure", "beats", "cycles",
                                  "read_beats_per_cycle", "write_beats_per_cycle")},
        # A copy reads and writes the same beats in the same window: one efficiency.
        "ceiling": c, "efficiency": result["read_beats_per_cycle"] / c,
        "launch_cycles": result["launch_cycles"],
    }


def sweep(configs, points, *, jobs=2, seed=None):
    """Measure every point on every build, with a progress bar on stderr.

    Parameters
    ----------
    configs : list of hauler.Config
        One simulation each, up to ``jobs`` at once.
    points : list of Point
    jobs : int
        Simulations run in parallel (processes).
    seed : int, optional
        Seed of every simulation: the same seed and sources give the same figures.

    Returns
    -------
    list of dict
        One row per (configuration, point), configurations in order, points in order; keys
        are :data:`COLUMNS`.

    Raises
    ------
    ToolError
        When a simulation failed; the message names its log and seed.
    """
    from tqdm import tqdm

    with tempfile.TemporaryDirectory() as tmp, \
            ProcessPoolExecutor(min(jobs, len(configs)), initializer=_quiet) as pool, \
            tqdm(total=len(configs) * len(points), unit="copy", desc="hauler bench",
                 disable=None) as bar:
        files = [Path(tmp) / f"{config.key()}.jsonl" for config in configs]
        futures = [pool.submit(_measure_build, config, points, seed, path)
                   for config, path in zip(configs, files)]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.5)
            done = sum(path.read_text().count("\n") for path in files if path.exists())
            bar.update(done - bar.n)
        return [_row(config, result)
                for config, future in zip(configs, futures) for result in future.result()]


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


def format_table(rows):
    """The rows of :func:`sweep` as a fixed-width text table."""
    header = ("master", "width", "size", "latency", "bp", "cycles", "read/cyc", "write/cyc",
              "ceiling", "eff", "launch")
    lines = [[r["master"], str(r["data_width"]), _size(r["bytes"]), str(r["read_latency"]),
              f"{r['backpressure']:g}", str(r["cycles"]), f"{r['read_beats_per_cycle']:.3f}",
              f"{r['write_beats_per_cycle']:.3f}", f"{r['ceiling']:.2f}",
              f"{r['efficiency']:.3f}", str(r["launch_cycles"])] for r in rows]
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines)]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths))
                     for line in [header, *lines]) + "\n"


def _unique(values):
    return list(dict.fromkeys(values))


def plot(rows, path, *, title="hauler bench"):
    """Plot beats per cycle against transfer size, one panel per master and back-pressure,
    one line per data width and read latency, the bus ceiling dotted; write a PNG."""
    from matplotlib.figure import Figure  # Agg renders PNG files; no GUI backend involved

    masters = _unique(r["master"] for r in rows)
    pressures = _unique(r["backpressure"] for r in rows)
    widths = _unique(r["data_width"] for r in rows)
    latencies = _unique(r["read_latency"] for r in rows)
    sizes = sorted(_unique(r["bytes"] for r in rows))
    styles = ("-", "--", ":", "-.")
    fig = Figure(figsize=(6 * len(pressures), 4.2 * len(masters) + 0.8), layout="constrained")
    axes = fig.subplots(len(masters), len(pressures), squeeze=False)
    for i, master in enumerate(masters):
        for j, pressure in enumerate(pressures):
            ax = axes[i][j]
            for w, width in enumerate(widths):
                for k, latency in enumerate(latencies):
                    series = sorted((r["bytes"], r["read_beats_per_cycle"]) for r in rows
                                    if (r["master"], r["backpressure"], r["data_width"],
                                        r["read_latency"]) == (master, pressure, width, latency))
                    if series:
                        ax.plot(*zip(*series), marker="o", markersize=3, color=f"C{k}",
                                linestyle=styles[w % len(styles)],
                                label=f"{width}-bit, latency {latency}")
            top = ceiling(master, pressure)
            ax.axhline(top, color="black", linestyle=":", linewidth=1, label="bus ceiling")
            ax.annotate(f"ceiling {top:g}", (sizes[0], top), xytext=(0, 3),
                        textcoords="offset points", fontsize="small")
            ax.set_xscale("log", base=2)
            ax.set_xticks(sizes, [_size(s) for s in sizes], fontsize="small")
            ax.set_ylim(0, ceiling(master, 0) * 1.08)
            ax.set_title(f"{master}, back-pressure {pressure:g}")
            ax.set_xlabel("transfer size")
            ax.set_ylabel("beats per cycle, each direction")
            ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 5),
               fontsize="small")
    fig.suptitle(title, fontsize="medium")
    fig.savefig(path, dpi=100)
