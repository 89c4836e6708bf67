"""``hauler build`` and ``hauler board`` on the command line (hauler.boards.cli), and the
serial link under ``hauler board`` (hauler.boards.host.SerialLink) on a pseudo-terminal."""

import os
import threading

import pytest

from hauler import cli
from hauler.boards import protocol
from hauler.boards.build import program_board
from hauler.boards.cli import add_commands
from hauler.boards.host import HostError, SerialLink
from hauler.boards.protocol import FramingError, Read, Write
from hauler.boards.targets import BOARDS
from hauler.errors import ToolError


@pytest.fixture
def hauler(monkeypatch, capsys):
    """``hauler`` with the board commands, whether or not hdl/cli.py adds them itself yet:
    returns (exit status, stdout, stderr) of a command line."""
    build_parser = cli.build_parser

    def with_boards():
        parser = build_parser()
        commands = parser._subparsers._group_actions[0]
        if "build" not in commands.choices:
            add_commands(commands, cli._add_config_options, cli._config)
        return parser

    monkeypatch.setattr(cli, "build_parser", with_boards)

    def run(*argv):
        try:
            cli.main(list(argv))
            status = 0
        except SystemExit as e:
            status = e.code
        out, err = capsys.readouterr()
        return status, out, err
    return run


def one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_build_lists_the_boards(hauler):
    status, out, _ = hauler("build", "--help")
    assert status == 0 and "icebreaker" in out and "ulx3s-85f" in out


def test_firmware_build_options_default_to_the_cpu_soc(hauler):
    status, out, _ = hauler("firmware", "build", "ulx3s-85f", "--help")
    assert status == 0 and "PROGRAM" in out and "--program" in out
    assert "(board default: 3)" in out                       # --channels
    assert "(board default: built)" in out                   # --no-sg, --no-streams


def test_build_options_default_to_the_board(hauler):
    status, out, _ = hauler("build", "icebreaker", "--help")
    assert status == 0
    assert "--program" in out and "--workdir" in out and "--channels" in out
    assert "(board default: 1)" in out                       # --channels
    words = " ".join(out.split())                            # (argparse wraps the help)
    assert "(CONFIG.SG reads 0) (board default: built)" in words
    assert "(CONFIG.STREAMS reads 0) (board default: left out)" in words


@pytest.mark.parametrize("argv,message", [
    (["build", "icebreaker", "--master", "axi4"],
     "hauler build: error: the demo SoC needs config.master == 'wishbone', not 'axi4'"),
    (["build", "ulx3s-85f", "--data-width", "64"],
     "hauler build: error: the demo SoC needs config.data_width == 32, not 64"),
    (["build", "icebreaker", "--channels", "0"],
     "hauler build: error: channels must be 1..16, not 0"),
    (["build", "icebreaker", "--baud", "4000000"],
     "hauler build: error: baud rate 4000000 is too fast for a 12 MHz clock: a bit must last "
     "at least 4 cycles"),
    (["build", "de10-nano"], "invalid choice: 'de10-nano'"),
    (["firmware", "build", "icebreaker", "memcpy_irq"],
     "hauler firmware: error: no CPU SoC on icebreaker: " + BOARDS["icebreaker"].cpu_unfit),
    (["firmware", "build", "ulx3s-85f", "no_such_program"],
     "hauler firmware: error: firmware must be one of memcpy_irq, rx_ring, uart_tx or an image "
     "file, not 'no_such_program'"),
    (["firmware", "build", "ulx3s-85f", "memcpy_irq", "--master", "axi4"],
     "hauler firmware: error: the CPU SoC needs config.master == 'wishbone', not 'axi4'"),
    (["firmware", "sim", "hello"], "invalid choice: 'hello'"),
    (["board", "peek", "0"], "the following arguments are required: --port"),
    (["board", "--port", "/dev/null", "peek", "zz"], "not an address: 'zz'"),
    (["board", "--port", "/dev/null", "chain", "--lengths", "10,,3"],
     "not a comma-separated list of byte counts: '10,,3'"),
])
def test_bad_command_lines_give_one_line_and_status_2(hauler, argv, message):
    status, out, err = hauler(*argv)
    assert status == 2 and out == ""
    assert message in one_line(err)


def test_a_missing_port_gives_one_line_and_status_1(hauler):
    status, _, err = hauler("board", "--port", "/dev/hauler-no-such-port", "info")
    assert status == 1
    assert one_line(err).startswith("hauler board: error: cannot open /dev/hauler-no-such-port")


def test_config_options_override_the_board(monkeypatch):
    parser = cli._Parser(prog="hauler")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=cli._Parser)
    add_commands(commands, cli._add_config_options, cli._config)
    args = parser.parse_args(["build", "ulx3s-85f", "--channels", "3", "--no-sg"])
    config = cli._config(args)
    default = BOARDS["ulx3s-85f"].config
    assert (config.channels, config.sg) == (3, False)
    assert (config.master, config.csr, config.max_burst, config.fifo_depth, config.streams) == \
        (default.master, default.csr, default.max_burst, default.fifo_depth, default.streams)
    assert cli._config(parser.parse_args(["build", "icebreaker"])) == \
        BOARDS["icebreaker"].config


@pytest.mark.parametrize("board,var,package", [("icebreaker", "ICEPROG", "fpga-icestorm"),
                                               ("ulx3s-85f", "OPENFPGALOADER", "openfpgaloader")])
def test_programming_without_the_tool_says_what_to_install(monkeypatch, board, var, package):
    monkeypatch.setenv(var, "hauler-no-such-programmer")
    with pytest.raises(ToolError) as info:
        program_board(board, "top.bit", progress=lambda line: None)
    assert str(info.value) == (f"{var}='hauler-no-such-programmer' was not found on PATH: "
                               f"install Debian's {package} (`sudo apt install {package}`), "
                               f"or set {var} to the tool's path")


# --- The serial link, on a pseudo-terminal whose other end plays the bridge. ------------------

@pytest.fixture
def pty_link(monkeypatch):
    """A SerialLink on a pty at a baud rate that makes the resync wait short, and the
    pty's other end."""
    monkeypatch.setattr(protocol, "TIMEOUT_BITS", 16)
    import hauler.boards.host as host
    monkeypatch.setattr(host, "TIMEOUT_BITS", 16)
    controller, device = os.openpty()
    link = SerialLink(os.ttyname(device), baud=115200, answer_timeout=0.3)
    yield link, controller
    link.close()
    os.close(controller)
    os.close(device)


def play(controller, exchanges):
    """On a thread: for each (expected request bytes, answer bytes), read the request,
    check it, write the answer."""
    seen = []

    def serve():
        for request, answer in exchanges:
            raw = b""
            while len(raw) < len(request):
                raw += os.read(controller, len(request) - len(raw))
            seen.append(raw)
            os.write(controller, answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread, seen


def test_serial_link_speaks_the_protocol(pty_link):
    link, controller = pty_link
    write, read = Write(0x100, [0xDEADBEEF, 7]), Read(0x100, 2)
    thread, seen = play(controller, [
        (write.encode(), bytes([protocol.STATUS_OK])),
        (read.encode(), bytes.fromhex("efbeadde07000000") + bytes([protocol.STATUS_OK])),
    ])
    assert link.perform(write) is None
    assert link.perform(read) == [0xDEADBEEF, 7]
    thread.join(1)
    assert seen == [write.encode(), read.encode()]


def test_serial_link_retries_a_read_once_after_framing_loss(pty_link):
    link, controller = pty_link
    read = Read(0x0)
    thread, _ = play(controller, [
        (read.encode(), b"\x01\x02\x03\x04?"),                    # a NAK where the status is
        (read.encode(), bytes.fromhex("78563412") + bytes([protocol.STATUS_OK])),
    ])
    assert link.perform(read) == [0x12345678]
    thread.join(1)


def test_serial_link_does_not_retry_a_write(pty_link):
    link, controller = pty_link
    write = Write(0x0, [1])
    thread, _ = play(controller, [(write.encode(), b"?")])
    with pytest.raises(FramingError):
        link.perform(write)
    thread.join(1)


def test_serial_link_without_an_answer(pty_link):
    link, _ = pty_link
    with pytest.raises(HostError) as info:
        link.perform(Read(0x0))
    assert str(info.value).startswith(f"no answer from {link.port} within")
    assert "is the demo SoC's bitstream loaded, built for 115200 baud?" in str(info.value)
