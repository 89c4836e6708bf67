"""Hauler: a DMA controller in Amaranth HDL."""

from .config import Config

__all__ = ["Config", "DMAController"]


def __getattr__(name):
    # The gateware pulls in Amaranth; keep `import hauler` cheap for the CLI's argument parsing.
    if name == "DMAController":
        from .top import DMAController
        return DMAController
    raise AttributeError(name)
