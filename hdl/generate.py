"""Verilog generation of a configuration (``hauler generate``)."""

from amaranth.back import verilog

from .config import Config
from .top import DMAController


__all__ = ["generate_verilog"]


def generate_verilog(config=None, *, name="hauler_dma"):
    """Return the Verilog source of the controller built from ``config`` as module ``name``."""
    core = DMAController(config or Config())
    return verilog.convert(core, name=name, emit_src=False)
