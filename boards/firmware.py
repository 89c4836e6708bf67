"""The programs the CPU SoC runs: firmware/examples built with Debian's RISC-V cross compiler,
as RAM images (``<example>.bin``, loaded at address 0) and ELF files (their symbols)."""

import shutil
import subprocess
from pathlib import Path

from hauler.errors import ToolError


__all__ = ["EXAMPLES", "CROSS", "build_firmware", "program_image", "symbols"]


#: The programs of firmware/examples.
EXAMPLES = ("memcpy_irq", "rx_ring", "uart_tx")
#: The cross compiler's prefix (firmware/Makefile's CROSS).
CROSS = "riscv64-unknown-elf-"
_FIRMWARE_DIR = Path(__file__).resolve().parents[1] / "firmware"


def build_firmware(directory):
    """Build the examples (``make -C firmware``) into ``directory``; ``make`` rebuilds what
    changed. Returns ``directory``, holding ``<example>.elf`` and ``<example>.bin``. Callers
    running at the same time must hold a lock on the directory.

    Raises
    ------
    hauler.errors.ToolError
        If the cross compiler or make is missing, or the build fails.
    """
    for tool in ("make", f"{CROSS}gcc"):
        if shutil.which(tool) is None:
            raise ToolError(f"{tool} not found: install Debian's make and "
                            f"gcc-riscv64-unknown-elf (the bootstrap does)")
    directory = Path(directory).resolve()
    result = subprocess.run(["make", "-C", str(_FIRMWARE_DIR), f"BUILD={directory}",
                             f"CROSS={CROSS}"], capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolError(f"building the firmware failed:\n{result.stdout}{result.stderr}")
    return directory


def program_image(program, directory):
    """The RAM image of ``program``: an example's name (built into ``directory`` first), or
    the path of a binary image.

    Raises
    ------
    ValueError
        If ``program`` is neither an example nor an existing file.
    hauler.errors.ToolError
        As :func:`build_firmware`.
    """
    if program in EXAMPLES:
        return build_firmware(directory) / f"{program}.bin"
    path = Path(program)
    if not path.is_file():
        raise ValueError(f"firmware must be one of {', '.join(EXAMPLES)} or an image file, "
                         f"not {program!r}")
    return path


def symbols(elf):
    """The addresses of the symbols of ``elf`` (local ones too: a C file's statics), by name."""
    result = subprocess.run([f"{CROSS}nm", str(elf)], capture_output=True, text=True)
    if result.returncode != 0:
        raise ToolError(f"{CROSS}nm {elf} failed: {result.stderr.strip()}")
    table = {}
    for line in result.stdout.splitlines():
        fields = line.split()
        if len(fields) == 3:
            table[fields[2]] = int(fields[0], 16)
    return table
