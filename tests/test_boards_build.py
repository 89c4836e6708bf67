"""Real bitstreams of the demo SoC for both boards (hauler.boards.build), with the YoWASP tools:
each must build, place, route and meet the board's clock.

On this project's 2-core machine, both at once: iCEBreaker 34 s, ULX3S-85F 65 s (70 s and 123 s
with other jobs competing for the cores); nextpnr takes most of it.
"""

import json

import pytest

from hauler.boards.build import TimingNotMet, _raise_if_not_fitting, _report, build
from hauler.boards.targets import BOARDS
from hauler.synth import DoesNotFit


#: Board: (clock in MHz, the RAM cells the SoC's memory must have become).
EXPECTED = {
    "icebreaker": (12.0, {"ICESTORM_SPRAM": 4}),      # 128 KiB: all four SPRAMs
    "ulx3s-85f": (25.0, {"DP16KD": 32}),              # 64 KiB: 32 blocks of 2 KiB, at least
}


@pytest.mark.parametrize("board", list(EXPECTED))
def test_bitstream(board, tmp_path):
    lines = []
    result = build(board, workdir=tmp_path, progress=lines.append)
    print(result.format())
    stages = [line.split(": ", 1)[1].split(" (")[0] for line in lines]
    assert stages == ["elaborating", "synthesizing", "placing and routing", "packing", "done"]

    clock, rams = EXPECTED[board]
    assert result.required_mhz == clock
    assert result.fmax_mhz >= clock
    report = json.loads((tmp_path / "report.json").read_text())
    assert [round(c["constraint"], 3) for c in report["fmax"].values()] == [clock]
    for cell, count in rams.items():
        assert result.utilization[cell][0] >= count
    assert result.bitstream.suffix == "." + BOARDS[board].bitstream
    assert result.bitstream.stat().st_size > 50_000


def test_timing_failure_is_one_line(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps({
        "utilization": {"ICESTORM_LC": {"used": 10, "available": 5280}},
        "fmax": {"cd_sync.clk": {"achieved": 10.5, "constraint": 12.0}}}))
    with pytest.raises(TimingNotMet) as info:
        _report(tmp_path, BOARDS["icebreaker"], 12.0)
    assert str(info.value) == (f"icebreaker: timing not met: Fmax 10.5 MHz is below the "
                               f"board's 12 MHz clock (nextpnr report: "
                               f"{tmp_path / 'report.json'})")
    assert (info.value.fmax_mhz, info.value.required_mhz) == (10.5, 12.0)


def test_a_missing_clock_constraint_fails(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps({
        "utilization": {}, "fmax": {"clk": {"achieved": 80.0, "constraint": 12.0}}}))
    with pytest.raises(TimingNotMet) as info:
        _report(tmp_path, BOARDS["ulx3s-85f"], 25.0)
    assert str(info.value) == ("ulx3s-85f: nextpnr timed 12 MHz, not the board's 25 MHz "
                               "clock: its constraint is missing")


def test_not_fitting_is_one_line(tmp_path):
    (tmp_path / "top.tim").write_text(
        "Info: Device utilisation:\n"
        "Info: \t         ICESTORM_LC:    6551/   5280   124%\n"
        "ERROR: Unable to place cell 'x', no BELs remaining to implement cell type "
        "'ICESTORM_LC'\n")
    with pytest.raises(DoesNotFit) as info:
        _raise_if_not_fitting(BOARDS["icebreaker"], tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("icebreaker: the design does not fit the ice40-up5k: it needs "
                              "6551 logic cells of the 5280 there are; try a smaller build")
    assert (info.value.needed, info.value.available) == (6551, 5280)


def test_too_dense_to_place_is_one_line(tmp_path):
    # What nextpnr said of the iCEBreaker's SoC with scatter-gather built.
    (tmp_path / "top.tim").write_text(
        "Info: \t         ICESTORM_LC:    4732/   5280    89%\n"
        "ERROR: Unable to find legal placement for all cells, design is probably at "
        "utilisation limit.\n")
    with pytest.raises(DoesNotFit) as info:
        _raise_if_not_fitting(BOARDS["icebreaker"], tmp_path)
    assert str(info.value).startswith(
        "icebreaker: the design does not fit the ice40-up5k: nextpnr found no legal placement "
        "of its 4732 logic cells in the 5280 there are (90%); try a smaller build")
