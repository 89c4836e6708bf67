"""The demo SoCs' memory map, as the host sees it through the bridge and the CPU SoC's
processor sees it (byte addresses).

Plain numbers, no gateware: the host tool imports them without elaborating anything.

==============  ============  =========================================================
base            size          what
==============  ============  =========================================================
0x0000_0000     RAM size      on-chip RAM (128 KiB of SPRAM on iCEBreaker, 64 KiB of
                              block RAM on ULX3S-85F); the DMA's and the host's
0x4000_0000     4 KiB         the DMA controller's registers (ABI §2)
0x4000_1000     16 bytes      the board block (:data:`INFO_REGISTERS`)
0x4000_2000     16 bytes      CPU SoC only: the serial port (:data:`SERIAL_REGISTERS`)
0x4000_3000     16 bytes      CPU SoC only: the program control (:data:`CONTROL_REGISTERS`)
anything else                 ends with ERR: the DMA reports READ_ERROR / WRITE_ERROR,
                              the bridge answers with its bus-error status
==============  ============  =========================================================
"""

__all__ = ["RAM_BASE", "DMA_BASE", "DMA_SIZE", "INFO_BASE", "INFO_SIZE", "INFO_MAGIC",
           "INFO_REGISTERS", "ERROR_BUS", "ERROR_LINK", "SERIAL_BASE", "SERIAL_SIZE",
           "SERIAL_REGISTERS", "SERIAL_TX_READY", "SERIAL_TX_EMPTY", "CONTROL_BASE",
           "CONTROL_SIZE", "CONTROL_REGISTERS"]


RAM_BASE = 0x0000_0000
DMA_BASE = 0x4000_0000
DMA_SIZE = 0x1000           # hauler.registers.CSR_ADDR_WIDTH bits of byte address
INFO_BASE = 0x4000_1000
INFO_SIZE = 0x10

#: "HSOC", read from INFO_BASE: the board block is there, so this is the demo SoC.
INFO_MAGIC = 0x48534F43

#: Offsets in the board block: read-only facts about the build, and the error flags.
INFO_REGISTERS = {
    "MAGIC": 0x0,           # INFO_MAGIC
    "RAM_SIZE": 0x4,        # bytes of RAM at RAM_BASE
    "CLK_HZ": 0x8,          # system clock frequency in Hz
    "ERRORS": 0xC,          # sticky error flags (below), write 1 to clear; the ERROR LED
}

#: ERRORS bit: a bus access (by the DMA or the bridge) ended with ERR.
ERROR_BUS = 1 << 0
#: ERRORS bit: the bridge dropped a frame (unknown op byte, a frame cut short by the
#: timeout) or the UART saw a framing error or an overrun.
ERROR_LINK = 1 << 1

SERIAL_BASE = 0x4000_2000
SERIAL_SIZE = 0x10

#: Offsets in the serial port (the CPU SoC's UART transmitter and console).
SERIAL_REGISTERS = {
    "TXDATA": 0x0,          # write: bits 7:0 go out on the line (the write waits for room)
    "STATUS": 0x4,          # read: SERIAL_TX_READY, SERIAL_TX_EMPTY
}

#: STATUS bit: the transmit FIFO has room for a byte (the serial port's req is this bit).
SERIAL_TX_READY = 1 << 0
#: STATUS bit: every byte written has left the line.
SERIAL_TX_EMPTY = 1 << 1

CONTROL_BASE = 0x4000_3000
CONTROL_SIZE = 0x10

#: Offsets in the program control block (the CPU SoC's).
CONTROL_REGISTERS = {
    "EXIT": 0x0,            # write: the program ended with bits 7:0 (0: success)
    "MARK": 0x4,            # write: a trace mark for simulations (no effect on a board)
}
