"""Co-simulate the CPU SoC running a firmware example: the firmware built with the cross
compiler, the SoC's Verilog with the program in its RAM, VexRiscv's Verilog beside it, then
:func:`hauler.sim.runner.run` with the bench :mod:`hauler.sim.boards.cpu_bench`.

The simulated SoC is the bitstream's (:class:`~hauler.boards.cpu_soc.CPUSoC` with the board's
clock, RAM size and DMA build) except for the UART divisor, which is small so that the
console's bytes take tens of cycles.

Layout under :func:`hauler.sim.runner.build_root`::

    firmware/<example>.elf, .bin          make -C firmware BUILD=...
    cpu/<key>/hauler_cpu_soc.v            the SoC's Verilog (<key>: board, config, image)
    cpu/<key>/hauler_cpu_soc.v.digest     digest of the hdl/ and boards/ sources
"""

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from hauler.boards.cpu import vexriscv_verilog
from hauler.boards.firmware import EXAMPLES, build_firmware, symbols
from hauler.boards.targets import BOARDS
from hauler.sim import runner

from .runner import DIVISOR, board_digest


__all__ = ["CPU_SOC_ENV", "cpu_soc_verilog", "run_program"]


#: Environment variable carrying the simulated SoC's parameters into the bench.
CPU_SOC_ENV = "HAULER_CPU_SOC"
_TOPLEVEL = "hauler_cpu_soc"


def _board(board):
    entry = BOARDS[board]
    if entry.cpu_config is None:
        raise ValueError(f"no CPU SoC on {board}: {entry.cpu_unfit}")
    clk_hz = int(entry.platform().default_clk_frequency)
    return entry.cpu_config, {"board": board, "clk_hz": clk_hz, "divisor": DIVISOR,
                              "ram_size": entry.ram_size}


def _generate_text(config, soc, image):
    # A fresh interpreter, so edits made since this process imported hauler are seen.
    script = ("import json, sys\n"
              "from pathlib import Path\n"
              "from amaranth.back import verilog\n"
              "from hauler import Config\n"
              "from hauler.boards.cpu_soc import CPUSoC\n"
              "config, soc = Config(**json.loads(sys.argv[1])), json.loads(sys.argv[2])\n"
              "top = CPUSoC(config=config, clk_freq=soc['clk_hz'], divisor=soc['divisor'],\n"
              "             ram_size=soc['ram_size'], image=Path(sys.argv[3]).read_bytes())\n"
              f"sys.stdout.write(verilog.convert(top, name={_TOPLEVEL!r}, emit_src=False))\n")
    result = subprocess.run([sys.executable, "-c", script, json.dumps(config.as_dict()),
                             json.dumps(soc), str(image)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"generating the CPU SoC's Verilog failed:\n{result.stderr}")
    return result.stdout


def cpu_soc_verilog(board, image):
    """The simulated CPU SoC's Verilog (top module ``hauler_cpu_soc``) with the program
    ``image`` (a path) in its RAM, from the cache."""
    config, soc = _board(board)
    program = hashlib.sha256(Path(image).read_bytes()).hexdigest()[:12]
    directory = runner.build_root() / "cpu" / f"{board}-{config.key()}-{program}"
    target = directory / f"{_TOPLEVEL}.v"
    stamp = directory / f"{_TOPLEVEL}.v.digest"
    digest = board_digest()

    def fresh():
        return target.exists() and stamp.exists() and stamp.read_text() == digest

    if not fresh():
        with runner.locked(directory / ".lock"):
            if not fresh():
                runner.write_atomic(target, _generate_text(config, soc, image))
                runner.write_atomic(stamp, digest)
    return target


def run_program(board, example, *, seed=None, waves=False):
    """Run firmware ``example`` on ``board``'s simulated CPU SoC until it exits, and check it
    (:mod:`hauler.sim.boards.cpu_bench`).

    Returns
    -------
    dict
        What the bench measured: ``console`` (the text the program printed), ``cycles``
        (reset to exit), and the example's own figures.

    Raises
    ------
    AssertionError
        When the program fails or a check does: as :func:`hauler.sim.runner.run`.
    hauler.errors.ToolError
        When the firmware cannot be built.
    """
    if example not in EXAMPLES:
        raise ValueError(f"example must be one of {', '.join(EXAMPLES)}, not {example!r}")
    config, soc = _board(board)
    with runner.locked(runner.build_root() / "firmware.lock"):
        firmware = build_firmware(runner.build_root() / "firmware")
    image = firmware / f"{example}.bin"
    verilog = cpu_soc_verilog(board, image)
    with tempfile.TemporaryDirectory(prefix="hauler-cpu-") as scratch:
        results = Path(scratch) / "results.json"
        soc.update(example=example, symbols=symbols(firmware / f"{example}.elf"),
                   results=str(results))
        runner.run(config, "hauler.sim.boards.cpu_bench", verilog=verilog, toplevel=_TOPLEVEL,
                   env={CPU_SOC_ENV: json.dumps(soc)}, seed=seed, waves=waves,
                   libraries=[vexriscv_verilog()])
        return json.loads(results.read_text())
