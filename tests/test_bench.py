"""``hauler bench`` through its real path (Icarus runs of the perf bench), aligned and
unaligned, with and without the realigner; its table and plot on canned rows; and the
memory's read latency as the core sees it."""

import csv

import pytest

from hauler import Config
from hauler.cli import main
from hauler.sim.sweep import COLUMNS, TABLE_NOTES, Point, format_table, measure, plot, unsupported


PNG = b"\x89PNG\r\n\x1a\n"


def _csv(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == COLUMNS
        return list(reader)


def test_bench_writes_table_csv_and_plot(tmp_path, capsys):
    table, plot = tmp_path / "bench.csv", tmp_path / "bench.png"
    main(["bench", "--sizes", "256,4K", "--latency", "0,32", "--backpressure", "0",
          "--alignments", "0:0", "--master", "axi4", "--data-width", "32",
          "--csv", str(table), "--plot", str(plot)])

    rows = _csv(table)
    assert [(int(r["bytes"]), int(r["read_latency"])) for r in rows] == \
        [(256, 0), (4096, 0), (256, 32), (4096, 32)]
    for r in rows:
        assert r["config"] == Config().key() and r["master"] == "axi4" and r["data_width"] == "32"
        assert (r["src_offset"], r["dst_offset"], r["error"]) == ("0", "0", "")
        assert float(r["ceiling"]) == 1.0
        for direction in ("read", "write", "payload"):
            assert 0 < float(r[f"{direction}_beats_per_cycle"]) <= float(r["ceiling"]) + 1e-9, r
        # Aligned: the bus carries exactly the payload.
        assert r["read_beats_per_cycle"] == r["write_beats_per_cycle"] == \
            r["payload_beats_per_cycle"]
        assert int(r["beats"]) == int(r["read_beats"]) == int(r["write_beats"]) == \
            int(r["bytes"]) // 4
        assert int(r["launch_cycles"]) > 0
    # The target is 0.95 for 64 KiB at latency 32; a 4 KiB copy must get near it.
    assert float(rows[3]["read_beats_per_cycle"]) > 0.8, rows[3]

    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["master", "width", "size", "align", "latency", "bp", "cycles",
                              "read/cyc", "write/cyc", "payload/cyc", "ceiling", "eff", "launch"]
    assert [line.split()[4] for line in out[1:1 + len(rows)]] == ["0:0"] * len(rows)
    assert out[1 + len(rows):] == ["", *(f"* {note}" for note in TABLE_NOTES)]
    assert plot.read_bytes()[:8] == PNG


def _beats(offset, length, beat):
    return -(-(offset % beat + length) // beat)


def test_bench_unaligned_point(tmp_path, capsys):
    """An unaligned point of the default build: measured once the build has the realigner
    (CONFIG.UNALIGNED = 1), reported as BAD_DESCRIPTOR, not a figure, while it has not."""
    table, plot = tmp_path / "bench.csv", tmp_path / "bench.png"
    main(["bench", "--sizes", "64,1K", "--alignments", "0:0,1:3", "--latency", "8",
          "--backpressure", "0", "--master", "axi4", "--data-width", "32",
          "--csv", str(table), "--plot", str(plot)])
    rows = _csv(table)
    assert [(int(r["bytes"]), int(r["src_offset"]), int(r["dst_offset"])) for r in rows] == \
        [(64, 0, 0), (1024, 0, 0), (64, 1, 3), (1024, 1, 3)]
    aligned, unaligned = rows[:2], rows[2:]
    built = {r["unaligned_built"] for r in rows}
    assert len(built) == 1, built
    for r in aligned:
        assert r["error"] == "" and float(r["payload_beats_per_cycle"]) > 0
    for r in unaligned:
        length = int(r["bytes"])
        if r["unaligned_built"] == "1":
            assert r["error"] == "", r
            cycles = int(r["cycles"])
            # Every source and destination beat that holds a byte of the copy crosses the bus.
            assert int(r["read_beats"]) >= _beats(1, length, 4), r
            assert int(r["write_beats"]) >= _beats(3, length, 4), r
            assert abs(float(r["write_beats_per_cycle"]) - int(r["write_beats"]) / cycles) < 1e-3
            payload = float(r["payload_beats_per_cycle"])
            assert abs(payload - length / 4 / cycles) < 1e-3, r
            assert 0 < payload <= float(r["ceiling"])
            assert abs(float(r["efficiency"]) - payload / float(r["ceiling"])) < 1e-3, r
            assert payload < float(r["write_beats_per_cycle"]), r  # the partial beats
        else:
            assert r["error"] == "BAD_DESCRIPTOR", r
            assert r["cycles"] == r["payload_beats_per_cycle"] == r["efficiency"] == "", r
    # A 1 KiB copy amortizes its fixed cost: an unaligned one must not lag far behind.
    if unaligned[1]["error"] == "":
        assert float(unaligned[1]["payload_beats_per_cycle"]) > \
            0.9 * float(aligned[1]["payload_beats_per_cycle"]), rows
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[4] for line in out[1:5]] == ["0:0", "0:0", "1:3", "1:3"]
    assert plot.read_bytes()[:8] == PNG


def test_bench_without_realigner_reports_unaligned_points(tmp_path, capsys):
    """ABI: a build without the realigner ends an unaligned copy with BAD_DESCRIPTOR; the
    sweep reports it in the table and the CSV and goes on, exit status 0."""
    table, plot = tmp_path / "bench.csv", tmp_path / "bench.png"
    main(["bench", "--no-unaligned", "--sizes", "64", "--alignments", "0:0,1:3,0:2",
          "--latency", "0", "--backpressure", "0", "--master", "axi4", "--data-width", "32",
          "--csv", str(table), "--plot", str(plot)])
    rows = _csv(table)
    key = Config(unaligned=False).key()
    assert [(r["config"], r["src_offset"], r["dst_offset"], r["unaligned_built"], r["error"])
            for r in rows] == [(key, "0", "0", "0", ""), (key, "1", "3", "0", "BAD_DESCRIPTOR"),
                               (key, "0", "2", "0", "BAD_DESCRIPTOR")]
    assert float(rows[0]["payload_beats_per_cycle"]) > 0
    assert all(r[k] == "" for r in rows[1:] for k in ("cycles", "read_beats_per_cycle",
                                                      "payload_beats_per_cycle", "efficiency"))
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert out[0].split()[-1] == "error"
    assert not out[1].endswith("BAD_DESCRIPTOR")
    for line in out[2:4]:
        assert line.endswith("BAD_DESCRIPTOR: no realigner in this build (CONFIG.UNALIGNED = 0)")
        assert line.split()[7:11] == ["-"] * 4
    assert f"2 unaligned copies not measured: no realigner in {key}" in captured.err
    assert plot.read_bytes()[:8] == PNG


def _row(**fields):
    row = dict(config="k", master="axi4", data_width=32, bytes=64, src_offset=0, dst_offset=0,
               read_latency=0, backpressure=0.0, beats=16, cycles=40, read_beats=16,
               write_beats=16, read_beats_per_cycle=0.4,
               write_beats_per_cycle=0.4, payload_beats_per_cycle=0.4, ceiling=1.0,
               efficiency=0.4, launch_cycles=4, unaligned_built=1, error=None)
    row.update(fields)
    if row["error"] is not None:
        row.update(dict.fromkeys(("cycles", "read_beats", "write_beats", "read_beats_per_cycle",
                                  "write_beats_per_cycle",
                                  "payload_beats_per_cycle", "efficiency", "launch_cycles")))
    return row


def test_failed_points_are_shown_apart(tmp_path):
    """No simulation: rows as the sweep makes them, one of them a copy that failed where the
    build should have made it."""
    rows = [_row(), _row(src_offset=1, dst_offset=3, read_beats=17, write_beats=17,
                         read_beats_per_cycle=0.425, write_beats_per_cycle=0.425),
            _row(src_offset=1, dst_offset=3, unaligned_built=0, error="BAD_DESCRIPTOR"),
            _row(src_offset=4, dst_offset=8, unaligned_built=0, error="BAD_DESCRIPTOR"),
            _row(src_offset=1, dst_offset=3, error="READ_ERROR")]
    assert [unsupported(r) for r in rows] == [False, False, True, False, False]
    lines = format_table(rows).splitlines()
    assert lines[0].split()[-1] == "error" and len(lines) == 1 + len(rows) + 1 + len(TABLE_NOTES)
    assert lines[1].split()[4] == "0:0" and lines[2].split()[4] == "1:3"
    assert lines[3].endswith("BAD_DESCRIPTOR: no realigner in this build (CONFIG.UNALIGNED = 0)")
    # Aligned addresses on a build without the realigner must work: a real failure.
    assert lines[4].endswith("BAD_DESCRIPTOR: the copy failed")
    assert lines[5].endswith("READ_ERROR: the copy failed")
    plot(rows, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:8] == PNG


def test_wishbone_read_latency_delays_a_burst_by_exactly_that():
    """One burst: nothing overlaps its read, so the added latency shows whole in the copy time."""
    before, after = measure(Config(master="wishbone", csr="wishbone"),
                            [Point(64, read_latency=0), Point(64, read_latency=16)])
    assert after["cycles"] - before["cycles"] == 16, (before, after)


def test_a_copy_the_build_should_make_fails_the_bench(monkeypatch, tmp_path, capsys):
    """Its row is written like the others, then exit status 1 with one line."""
    import hauler.sim.sweep
    rows = [_row(), _row(error="READ_ERROR"), _row(src_offset=1, unaligned_built=0,
                                                    error="BAD_DESCRIPTOR")]
    monkeypatch.setattr(hauler.sim.sweep, "sweep", lambda *args, **kwargs: rows)
    table = tmp_path / "bench.csv"
    with pytest.raises(SystemExit) as info:
        main(["bench", "--csv", str(table), "--plot", str(tmp_path / "bench.png")])
    assert info.value.code == 1
    assert [r["error"] for r in _csv(table)] == ["", "READ_ERROR", "BAD_DESCRIPTOR"]
    err = capsys.readouterr().err.splitlines()
    assert err[-2] == "1 unaligned copy not measured: no realigner in k (CONFIG.UNALIGNED = 0, " \
                      "so BAD_DESCRIPTOR)"
    assert err[-1] == f"hauler bench: error: 1 copy ended with an error (READ_ERROR): see the " \
                      f"table and {table}"
