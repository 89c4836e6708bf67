"""The register map of ABI §2, declared once as data.

This description drives the register-file hardware (:mod:`hauler.csr.regfile`), the generated
C header, JSON and Markdown (``hauler regs``), and the Python driver of the testbenches.

Access kinds:

- ``R``: read-only, value driven by hardware.
- ``RW``: storage written by software, read back as written.
- ``W``: write-1 action: a one-cycle pulse to hardware; reads 0.
- ``RW1C``: set by hardware, write 1 to clear.
"""

from dataclasses import dataclass

from amaranth.lib import enum


__all__ = ["Field", "Register", "GLOBAL_REGISTERS", "CHANNEL_REGISTERS", "XFER_FIELDS",
           "ERROR_CODES", "ErrorCode", "ID_VALUE", "VERSION", "CHANNEL_STRIDE", "channel_base",
           "CSR_ADDR_WIDTH"]


ID_VALUE = 0x4841554C  # "HAUL"
VERSION = (1, 0, 0)    # ABI major, minor, patch

#: Channel n's block starts at CHANNEL_STRIDE * (n + 1).
CHANNEL_STRIDE = 0x80
#: Byte-address bits of the CSR port: 17 blocks of 0x80 bytes fit in 4 KiB.
CSR_ADDR_WIDTH = 12

ACCESS_KINDS = ("R", "RW", "W", "RW1C")


def channel_base(n):
    return CHANNEL_STRIDE * (n + 1)


@dataclass(frozen=True)
class Field:
    name: str
    lsb: int
    width: int
    access: str
    doc: str
    #: Reset value, or the name of a Config-derived value resolved by the register file.
    reset: object = 0

    @property
    def mask(self):
        return ((1 << self.width) - 1) << self.lsb


@dataclass(frozen=True)
class Register:
    name: str
    offset: int
    doc: str
    fields: tuple

    @property
    def access(self):
        """Summary access of the register, as the ABI tables print it."""
        kinds = sorted({f.access for f in self.fields}, key=ACCESS_KINDS.index)
        return " / ".join(kinds)

    def field(self, name):
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name}")


def _whole(access, doc, reset=0):
    return (Field("VALUE", 0, 32, access, doc, reset),)


GLOBAL_REGISTERS = (
    Register("ID", 0x000, "Identifies the core", _whole("R", 'Constant 0x4841554C ("HAUL")')),
    Register("VERSION", 0x004, "ABI version", (
        Field("PATCH", 0, 16, "R", "Patch version"),
        Field("MINOR", 16, 8, "R", "Minor version"),
        Field("MAJOR", 24, 8, "R", "Major version (1)"),
    )),
    Register("CONFIG", 0x008, "What this build contains", (
        Field("CHANNELS", 0, 5, "R", "Number of channels (1..16)"),
        Field("DATA_BYTES_LOG2", 8, 4, "R", "log2(data width in bytes)"),
        Field("ADDR_WIDTH", 12, 8, "R", "Address width in bits"),
        Field("SG", 20, 1, "R", "Scatter-gather built"),
        Field("STREAMS", 21, 1, "R", "Stream ports built"),
        Field("UNALIGNED", 22, 1, "R", "Byte-unaligned transfers built"),
        Field("REQ_ACK", 23, 1, "R", "req/ack handshake built"),
        Field("MASTER", 24, 2, "R", "Master bus: 0 AXI4, 1 Wishbone"),
    )),
    Register("PARAMS", 0x00C, "Size parameters of this build", (
        Field("MAX_BURST", 0, 9, "R", "Maximum beats per burst"),
        Field("FIFO_DEPTH_LOG2", 12, 4, "R", "log2(FIFO depth in beats)"),
        Field("OUTSTANDING", 16, 8, "R", "Maximum outstanding read bursts"),
        Field("LEN_WIDTH", 24, 8, "R", "Width of LEN and BYTES in bits"),
    )),
    Register("IRQ_SUMMARY", 0x010, "Channels requesting an interrupt",
             _whole("R", "Bit n: channel n has IRQ_STATUS & IRQ_ENABLE non-zero")),
)

XFER_FIELDS = (
    Field("LAST", 0, 1, "RW", "End of chain (ignored in register mode)"),
    Field("IRQ", 1, 1, "RW", "Raise IRQ_STATUS.DONE on completion (register mode: always)"),
    Field("SRC_MODE", 2, 2, "RW", "0 INCR, 1 FIXED, 2 STREAM, 3 reserved"),
    Field("DST_MODE", 4, 2, "RW", "0 INCR, 1 FIXED, 2 STREAM, 3 reserved"),
    Field("EOP", 6, 1, "RW", "With DST_MODE = STREAM: tlast on the final beat"),
    Field("REQ", 7, 1, "RW", "Pace the transfer by the req/ack handshake"),
)

_IRQ_FIELDS = lambda access: (
    Field("DONE", 0, 1, access, "A transfer, or a descriptor with CTRL.IRQ, completed"),
    Field("CHAIN_END", 1, 1, access, "The run ended: last descriptor, register transfer, STOP"),
    Field("ERROR", 2, 1, access, "The channel halted on an error"),
)

CHANNEL_REGISTERS = (
    Register("CTRL", 0x00, "Channel control", (
        Field("START", 0, 1, "W", "Start if idle, else ignored"),
        Field("STOP", 1, 1, "W", "Finish the current transfer or descriptor, then halt"),
        Field("ABORT", 2, 1, "W", "Stop at the next burst boundary, then halt with ABORTED"),
        Field("SG", 3, 1, "RW", "0 register mode, 1 scatter-gather"),
        Field("CYCLIC", 4, 1, "RW", "Register mode: restart after each completion until STOP"),
    )),
    Register("STATUS", 0x04, "Channel status; DONE, ERROR and EOP clear on START", (
        Field("BUSY", 0, 1, "R", "A run is in progress"),
        Field("DONE", 1, 1, "R", "The last run ended successfully"),
        Field("ERROR", 2, 1, "R", "The last run ended with an error"),
        Field("EOP", 3, 1, "R", "The last transfer from a stream source ended with tlast"),
        Field("ERR_CODE", 4, 4, "R", "Error code (see ERROR_CODES)"),
    )),
    Register("IRQ_STATUS", 0x08, "Interrupt causes, write 1 to clear", _IRQ_FIELDS("RW1C")),
    Register("IRQ_ENABLE", 0x0C, "Interrupt enables", _IRQ_FIELDS("RW")),
    Register("SRC_LO", 0x10, "Register-mode source address [31:0]", _whole("RW", "Address")),
    Register("SRC_HI", 0x14, "Register-mode source address [63:32]", _whole("RW", "Address")),
    Register("DST_LO", 0x18, "Register-mode destination address [31:0]", _whole("RW", "Address")),
    Register("DST_HI", 0x1C, "Register-mode destination address [63:32]", _whole("RW", "Address")),
    Register("LEN", 0x20, "Register-mode length in bytes", _whole("RW", "Bytes")),
    Register("XFER", 0x24, "Register-mode flags, the layout of descriptor CTRL", XFER_FIELDS),
    Register("DESC_LO", 0x28, "SG: first descriptor; while running, the one in progress",
             _whole("RW", "Descriptor address [31:0]")),
    Register("DESC_HI", 0x2C, "SG: descriptor address [63:32]", _whole("RW", "Descriptor address")),
    Register("BYTES", 0x30, "Bytes completed in the current (or last) transfer",
             _whole("R", "Bytes")),
    Register("COMPLETED", 0x34, "Transfers or descriptors completed since START (wraps)",
             _whole("R", "Count")),
    Register("ERR_ADDR_LO", 0x38, "Failing bus address [31:0]", _whole("R", "Address")),
    Register("ERR_ADDR_HI", 0x3C, "Failing bus address [63:32]", _whole("R", "Address")),
    Register("REQ_BURST", 0x40, "Bytes moved per peripheral request",
             _whole("RW", "Bytes", reset="beat_bytes")),
    Register("IRQ_COALESCE", 0x44, "DONE interrupt coalescing", (
        Field("COUNT", 0, 8, "RW", "Raise DONE once per COUNT events (0 and 1: every event)"),
        Field("TIMEOUT", 8, 24, "RW", "Also raise it after TIMEOUT idle cycles (0: never)"),
    )),
)

#: ABI §2.3, in code order.
ERROR_CODES = (
    ("NONE", ""),
    ("READ_ERROR", "A data read returned SLVERR/DECERR or Wishbone ERR"),
    ("WRITE_ERROR", "A data write response was SLVERR/DECERR or Wishbone ERR"),
    ("DESC_READ_ERROR", "Fetching a descriptor failed on the bus"),
    ("DESC_WRITE_ERROR", "Writing a descriptor's status back failed on the bus"),
    ("BAD_DESCRIPTOR", "LEN = 0, a reserved mode, a misaligned NEXT, an address beyond the "
                       "address width, an unaligned address or length without unaligned "
                       "support, a FIXED address not beat aligned, STREAM on both sides, "
                       "a stream source's LEN not whole beats, REQ with REQ_BURST = 0 or a "
                       "STREAM side, a mode that is not built"),
    ("NOT_OWNED", "A fetched descriptor's STATUS.DONE is already 1"),
    ("ABORTED", "ABORT was written"),
)


class AddressMode(enum.IntEnum):
    """XFER / descriptor CTRL SRC_MODE and DST_MODE (3 is reserved)."""
    INCR = 0
    FIXED = 1
    STREAM = 2


class ErrorCode(enum.Enum, shape=4):
    """STATUS.ERR_CODE, as hardware sees it."""
    NONE = 0
    READ_ERROR = 1
    WRITE_ERROR = 2
    DESC_READ_ERROR = 3
    DESC_WRITE_ERROR = 4
    BAD_DESCRIPTOR = 5
    NOT_OWNED = 6
    ABORTED = 7


assert [(c.name, c.value) for c in ErrorCode] == [(n, i) for i, (n, _) in enumerate(ERROR_CODES)]


def _check(registers, span):
    seen = set()
    for reg in registers:
        assert reg.offset % 4 == 0 and reg.offset < span and reg.offset not in seen, reg
        seen.add(reg.offset)
        used = 0
        for f in reg.fields:
            assert f.access in ACCESS_KINDS and f.lsb + f.width <= 32 and not used & f.mask, f
            used |= f.mask


_check(GLOBAL_REGISTERS, CHANNEL_STRIDE)
_check(CHANNEL_REGISTERS, CHANNEL_STRIDE)
