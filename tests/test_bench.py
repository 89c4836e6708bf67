"""``hauler bench`` through its real path (Icarus runs of the perf bench), and the memory's
read latency as the core sees it."""

import csv

from hauler import Config
from hauler.cli import main
from hauler.sim.sweep import COLUMNS, Point, measure


def test_bench_writes_table_csv_and_plot(tmp_path, capsys):
    table, plot = tmp_path / "bench.csv", tmp_path / "bench.png"
    main(["bench", "--sizes", "256,4K", "--latency", "0,32", "--backpressure", "0",
          "--master", "axi4", "--data-width", "32", "--csv", str(table), "--plot", str(plot)])

    with open(table, newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == COLUMNS
        rows = list(reader)
    assert [(int(r["bytes"]), int(r["read_latency"])) for r in rows] == \
        [(256, 0), (4096, 0), (256, 32), (4096, 32)]
    for r in rows:
        assert r["config"] == Config().key() and r["master"] == "axi4" and r["data_width"] == "32"
        assert float(r["ceiling"]) == 1.0
        for direction in ("read", "write"):
            assert 0 < float(r[f"{direction}_beats_per_cycle"]) <= float(r["ceiling"]) + 1e-9, r
        assert int(r["beats"]) == int(r["bytes"]) // 4 and int(r["launch_cycles"]) > 0
    # The target is 0.95 for 64 KiB at latency 32; a 4 KiB copy must get near it.
    assert float(rows[3]["read_beats_per_cycle"]) > 0.8, rows[3]

    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 + len(rows) and out[0].split()[:3] == ["master", "width", "size"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_wishbone_read_latency_delays_a_burst_by_exactly_that():
    """One burst: nothing overlaps its read, so the added latency shows whole in the copy time."""
    before, after = measure(Config(master="wishbone", csr="wishbone"),
                            [Point(64, read_latency=0), Point(64, read_latency=16)])
    assert after["cycles"] - before["cycles"] == 16, (before, after)
