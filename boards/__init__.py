"""Hauler on FPGA boards: the demo SoC, its bitstream builds, and the host tool (docs/boards.md).

- :mod:`~hauler.boards.soc`: the SoC (a DMA controller, RAM, a UART bridge); its pieces in
  :mod:`~hauler.boards.uart`, :mod:`~hauler.boards.bridge`, :mod:`~hauler.boards.arbiter`,
  :mod:`~hauler.boards.decoder`, :mod:`~hauler.boards.classic`, :mod:`~hauler.boards.ram`,
  :mod:`~hauler.boards.info`; its memory map in :mod:`~hauler.boards.memory_map`.
- :mod:`~hauler.boards.cpu_soc`: the CPU SoC (VexRiscv running firmware/ from RAM); its
  pieces in :mod:`~hauler.boards.cpu`, :mod:`~hauler.boards.serial_port`,
  :mod:`~hauler.boards.control`; its programs from :mod:`~hauler.boards.firmware`.
- :mod:`~hauler.boards.targets`: the boards; :mod:`~hauler.boards.top`: the SoC on a board's
  pins; :mod:`~hauler.boards.build`: building and programming them.
- :mod:`~hauler.boards.protocol` and :mod:`~hauler.boards.host`: the bridge's protocol and the
  host's operations; :mod:`~hauler.boards.cli`: ``hauler build``, ``hauler board`` and
  ``hauler firmware``.
"""
