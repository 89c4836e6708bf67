"""The UART bridge protocol, sans I/O: requests to bytes, bytes to results.

Shared by the gateware (:mod:`hauler.boards.bridge` takes its constants from here), the host's
serial transport and the cocotb UART model of the board simulation, so all three speak exactly
this. Nothing here reads or writes a port; see docs/boards.md for the protocol itself.

A request is a header of six bytes, then the data of a write::

    op (1)  count - 1 (1)  address (4, little-endian)  [words (4 x count, little-endian)]

and its response is the data of a read, then one status byte::

    [words (4 x count, little-endian)]  status (1)

An unknown op byte is answered at once with :data:`NAK` and nothing else. A frame whose
bytes stop coming for :data:`TIMEOUT_BITS` bit times is dropped without an answer, so a host
that lost track of the framing waits that long and starts afresh.
"""

import struct
from dataclasses import dataclass


__all__ = ["OP_READ", "OP_WRITE", "STATUS_OK", "STATUS_BUS_ERROR", "NAK", "HEADER_BYTES",
           "MAX_WORDS", "TIMEOUT_BITS", "ProtocolError", "FramingError", "BusError", "Read",
           "Write"]


OP_READ = 0x52              # "R"
OP_WRITE = 0x57             # "W"
STATUS_OK = 0x4B            # "K": every word of the request was acknowledged on the bus
STATUS_BUS_ERROR = 0x45     # "E": at least one word ended with ERR (nothing decodes its address)
NAK = 0x3F                  # "?": not an op byte: the bridge is waiting for a new request
HEADER_BYTES = 6
#: Most words in one request (the count byte holds count - 1).
MAX_WORDS = 256
#: Silence, in bit times, after which the bridge drops a frame it is receiving.
TIMEOUT_BITS = 4096


class ProtocolError(Exception):
    """A response that is not what the request asked for."""


class FramingError(ProtocolError):
    """The response's length or status byte is wrong: the host and the bridge disagree on
    where frames start. Wait :data:`TIMEOUT_BITS` bit times, flush, and start afresh."""


class BusError(ProtocolError):
    """The bridge's bus access ended with ERR: nothing is mapped at the address.

    Members
    -------
    words : list of int or None
        For a read, the words received (those that failed read as 0); None for a write.
    """

    def __init__(self, message, words=None):
        super().__init__(message)
        self.words = words


def _check_address(addr, count):
    if not isinstance(addr, int) or isinstance(addr, bool) or not 0 <= addr < 1 << 32:
        raise ValueError(f"address must be an integer 0..0xFFFFFFFF, not {addr!r}")
    if addr % 4:
        raise ValueError(f"address {addr:#x} is not a multiple of 4: the bridge moves words")
    if addr + 4 * count > 1 << 32:
        raise ValueError(f"{count} words from {addr:#x} run past the end of the address space")


def _check_count(count):
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_WORDS:
        raise ValueError(f"count must be 1..{MAX_WORDS} words, not {count!r}")


def _status(raw, what, words=None):
    status = raw[-1]
    if status == STATUS_BUS_ERROR:
        raise BusError(f"{what}: bus error (nothing answers at some of these addresses)", words)
    if status != STATUS_OK:
        raise FramingError(f"{what}: status byte {status:#04x}, expected {STATUS_OK:#04x} "
                           f"or {STATUS_BUS_ERROR:#04x}: framing lost")


@dataclass(frozen=True)
class Read:
    """Read ``count`` consecutive words from byte address ``addr``.

    Raises
    ------
    ValueError
        If ``addr`` is not a word address, or ``count`` is not 1..:data:`MAX_WORDS`.
    """
    addr: int
    count: int = 1

    def __post_init__(self):
        _check_count(self.count)
        _check_address(self.addr, self.count)

    def encode(self):
        """The request's bytes."""
        return struct.pack("<BBI", OP_READ, self.count - 1, self.addr)

    @property
    def response_bytes(self):
        """Length of a well-formed response."""
        return 4 * self.count + 1

    def decode(self, raw):
        """The words of a response.

        Raises
        ------
        FramingError
            If ``raw`` is not :attr:`response_bytes` long or its status byte is not a status.
        BusError
            If the status says a word failed; its ``words`` holds what was read.
        """
        what = f"read of {self.count} words at {self.addr:#010x}"
        if len(raw) != self.response_bytes:
            raise FramingError(f"{what}: {len(raw)} bytes received, expected "
                               f"{self.response_bytes}")
        words = list(struct.unpack(f"<{self.count}I", raw[:-1]))
        _status(raw, what, words)
        return words


@dataclass(frozen=True)
class Write:
    """Write ``words`` (32-bit integers) to consecutive words from byte address ``addr``.

    Raises
    ------
    ValueError
        If ``addr`` is not a word address, there are not 1..:data:`MAX_WORDS` words, or a
        word is not 0..0xFFFFFFFF.
    """
    addr: int
    words: tuple

    def __post_init__(self):
        object.__setattr__(self, "words", tuple(self.words))
        _check_count(len(self.words))
        _check_address(self.addr, len(self.words))
        for word in self.words:
            if not isinstance(word, int) or isinstance(word, bool) or not 0 <= word < 1 << 32:
                raise ValueError(f"a word must be an integer 0..0xFFFFFFFF, not {word!r}")

    def encode(self):
        """The request's bytes."""
        n = len(self.words)
        return struct.pack(f"<BBI{n}I", OP_WRITE, n - 1, self.addr, *self.words)

    response_bytes = 1

    def decode(self, raw):
        """Check a response; return None.

        Raises
        ------
        FramingError, BusError
            As :meth:`Read.decode`.
        """
        what = f"write of {len(self.words)} words at {self.addr:#010x}"
        if len(raw) != 1:
            raise FramingError(f"{what}: {len(raw)} bytes received, expected 1")
        _status(raw, what)
