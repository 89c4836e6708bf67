"""The command line: generation, register map, bad options."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hauler import Config, registers
from hauler.cli import main
from hauler.regmap import render


REPO = Path(__file__).resolve().parent.parent


def hauler(*args):
    return subprocess.run([sys.executable, "-m", "hauler.cli", *args], capture_output=True,
                          text=True, cwd=REPO)


def test_generate_writes_the_abi_ports(tmp_path):
    out = tmp_path / "dma.v"
    main(["generate", "-o", str(out), "--name", "my_dma", "--channels", "3", "--master",
          "wishbone", "--csr", "wishbone", "--data-width", "64"])
    text = out.read_text()
    header = re.search(r"module my_dma\((.*?)\);", text, re.S).group(1)
    ports = {p.strip() for p in header.split(",")}
    assert {"clk", "rst", "irq", "m_wb__adr", "m_wb__stall", "m_wb__err", "m_wb__cti",
            "s_wb__adr", "s_wb__ack"} <= ports
    assert not any(p.startswith(("m_axi__", "s_axil__")) for p in ports)
    assert re.search(r"output \[63:0\] m_wb__dat_w", text)
    # Streams are built by default: both stream ports of every channel, as wide as the master.
    assert {f"{side}_axis{n}__t{name}" for side in ("m", "s") for n in range(3)
            for name in ("data", "keep", "last", "valid", "ready")} <= ports
    assert re.search(r"output \[7:0\] m_axis2__tkeep", text)
    assert re.search(r"input \[63:0\] s_axis0__tdata", text)


@pytest.mark.parametrize("option", ["--no-streams", "--no-unaligned"])
def test_generate_without_streams(tmp_path, option):
    out = tmp_path / "dma.v"
    main(["generate", "-o", str(out), option])
    assert "axis" not in out.read_text()


@pytest.mark.parametrize("args,message", [
    (["--channels", "17"], "channels must be 1..16, not 17"),
    (["--data-width", "48"], "data_width must be one of 32, 64, 128, not 48"),
    (["--master", "pci"], "master must be 'axi4' or 'wishbone', not 'pci'"),
    (["--fifo-depth", "8", "--max-burst", "16"], "fifo_depth (8) must hold one whole burst"),
    (["--channels", "two"], "argument --channels: invalid int value: 'two'"),
])
def test_bad_options_give_one_line_and_status_2(tmp_path, args, message):
    result = hauler("generate", "-o", str(tmp_path / "x.v"), *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("args,message", [
    (["--sizes", "0"], "argument --sizes: not a positive size in bytes: '0'"),
    (["--sizes", "64,lots"], "argument --sizes: not a positive size in bytes: 'lots'"),
    (["--sizes", "100"], "size 100 is not a multiple of the 64-bit data width"),
    (["--sizes", "2M"], "sizes must be 1..1048576 bytes"),
    (["--latency", "-1"], "argument --latency: not a latency of 0 or more cycles: '-1'"),
    (["--latency", "8,x"], "argument --latency: not a latency of 0 or more cycles: 'x'"),
    (["--backpressure", "1"], "argument --backpressure: not a probability in [0, 1): '1'"),
    (["--master", "foo"], "argument --master: not axi4 or wishbone: 'foo'"),
    (["--data-width", "48"], "data_width must be one of 32, 64, 128, not 48"),
    (["--fifo-depth", "8"], "fifo_depth (8) must hold one whole burst"),
    (["--jobs", "0"], "argument -j/--jobs: not a number of jobs, 1 or more: '0'"),
    (["--alignments", "1"], "argument --alignments: not SRC:DST byte offsets, each 0..4095: '1'"),
    (["--alignments", "0:0,1:x"], "argument --alignments: not SRC:DST byte offsets, each 0..4095: "
                                  "'1:x'"),
    (["--alignments", "0:4096"], "argument --alignments: not SRC:DST byte offsets, each 0..4095: "
                                 "'0:4096'"),
    (["--alignments=-1:0"], "argument --alignments: not SRC:DST byte offsets, each 0..4095: "
                               "'-1:0'"),
])
def test_bench_bad_options_give_one_line_and_status_2(args, message):
    result = hauler("bench", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr, result.stderr


def test_unknown_command_and_device():
    assert hauler("frobnicate").returncode == 2
    result = hauler("synth", "--device", "xc7")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_config_validation_names_the_parameter():
    with pytest.raises(TypeError, match="channels must be int"):
        Config(channels="2")
    with pytest.raises(ValueError, match="addr_width must be 32 or 64, not 48"):
        Config(addr_width=48)


def test_register_map_formats_agree_with_the_description():
    data = json.loads(render("json"))
    channel = {r["name"]: r for r in data["blocks"]["channel"]}
    assert channel["IRQ_COALESCE"]["offset"] == 0x44
    assert [e["name"] for e in data["error_codes"]][7] == "ABORTED"
    c = render("c")
    assert "#define HAULER_CH_STATUS_ERR_CODE_MASK 0x000000F0u" in c
    assert f"#define HAULER_ID_VALUE 0x{registers.ID_VALUE:08X}u" in c
    assert "#define HAULER_ERR_NOT_OWNED 6u" in c
    assert render("c") == c      # reproducible: no timestamps


def test_committed_register_doc_is_current():
    assert (REPO / "docs" / "registers.md").read_text() == render("md"), \
        "docs/registers.md is stale: run `hauler regs --format md -o docs/registers.md`"


def test_generate_without_scatter_gather_is_smaller(tmp_path):
    full, bare = tmp_path / "full.v", tmp_path / "bare.v"
    main(["generate", "-o", str(full)])
    main(["generate", "-o", str(bare), "--no-sg"])
    assert "descriptors" in full.read_text() and "descriptors" not in bare.read_text()
    assert len(bare.read_text()) < len(full.read_text())
