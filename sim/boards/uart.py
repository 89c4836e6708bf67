"""A cocotb model of the host's UART on the SoC's serial pins, and the link the host's
procedures (:mod:`hauler.boards.host`) run over in simulation."""

import cocotb
from cocotb.triggers import FallingEdge, Timer, with_timeout
from cocotb.utils import get_sim_time

from hauler.boards.host import HostError, Now


__all__ = ["UARTModel", "SimLink"]


class UARTModel:
    """8N1 at ``bit_ps`` picoseconds per bit: sends on ``rx`` (the SoC's input), receives
    from ``tx`` (its output), sampling each bit in its middle.

    Parameters
    ----------
    rx, tx
        The SoC's ``uart_rx`` and ``uart_tx`` handles; ``rx`` ``None`` for a SoC that only
        sends.
    bit_ps : int
        Bit time: the SoC's divisor times its clock period.

    Members
    -------
    received : bytearray
        Bytes received and not yet read.
    framing_errors : int
        Frames received with a low stop bit.
    """

    def __init__(self, rx, tx, bit_ps):
        self._rx, self._tx, self._bit = rx, tx, bit_ps
        self.received = bytearray()
        self.framing_errors = 0
        if rx is not None:
            rx.value = 1
        self._arrived = cocotb.triggers.Event()
        cocotb.start_soon(self._listen())

    async def send(self, data):
        """Send ``data``, frame after frame with no gap."""
        for byte in data:
            for level in [0] + [byte >> i & 1 for i in range(8)] + [1]:
                self._rx.value = level
                await Timer(self._bit, unit="ps")

    async def _listen(self):
        half = self._bit // 2
        while True:
            await FallingEdge(self._tx)
            await Timer(half, unit="ps")
            if self._tx.value != 0:
                continue                # a glitch
            byte = 0
            for i in range(8):
                await Timer(self._bit, unit="ps")
                byte |= int(self._tx.value) << i
            await Timer(self._bit, unit="ps")
            if self._tx.value != 1:
                self.framing_errors += 1
                continue
            self.received.append(byte)
            self._arrived.set()

    async def read(self, n, timeout_ps):
        """Up to ``n`` bytes: all ``n``, or those that arrived within ``timeout_ps`` of the
        last one (none: within ``timeout_ps``)."""
        while len(self.received) < n:
            self._arrived.clear()
            try:
                await with_timeout(self._arrived.wait(), timeout_ps, "ps")
            except cocotb.triggers.SimTimeoutError:
                break
        raw, self.received[:] = bytes(self.received[:n]), self.received[n:]
        return raw


class SimLink:
    """Performs the host's requests on a :class:`UARTModel`
    (see :func:`hauler.boards.host.drive_async`).

    Parameters
    ----------
    uart : UARTModel
    answer_bits : int
        How long, in bit times, an answer may keep the host waiting before it gives up
        (the bus is fast: a few bytes' worth is plenty).
    """

    def __init__(self, uart, *, answer_bits=200):
        self.uart = uart
        self._timeout = answer_bits * uart._bit

    async def perform(self, request):
        if isinstance(request, Now):
            return get_sim_time("sec")
        await self.uart.send(request.encode())
        raw = await self.uart.read(request.response_bytes, self._timeout)
        if not raw:
            raise HostError(f"no answer to {request!r} within {self._timeout} ps")
        return request.decode(raw)
