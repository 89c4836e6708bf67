"""An 8N1 UART: a transmitter and a receiver, one byte stream each way.

Both count bit times in clock cycles (``divisor`` cycles per bit), so the baud rate is the clock
frequency divided by an integer; :func:`uart_divisor` picks it and checks the error.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out


__all__ = ["MIN_DIVISOR", "MAX_BAUD_ERROR", "uart_divisor", "UARTTransmitter", "UARTReceiver"]


#: The receiver samples each bit in its middle, measured from a start-bit edge that reaches it
#: two cycles late through the synchronizer: a bit must last a few cycles for that to hold.
MIN_DIVISOR = 4
#: Two 8N1 ends drifting apart by this much over a frame still sample every bit in its middle
#: half; USB-serial adapters are accurate to a fraction of it.
MAX_BAUD_ERROR = 0.02


def _check_divisor(divisor):
    if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < MIN_DIVISOR:
        raise ValueError(f"divisor must be an integer of at least {MIN_DIVISOR}, "
                         f"not {divisor!r}")


def uart_divisor(clk_freq, baud):
    """Clock cycles per bit for ``baud`` on a ``clk_freq`` clock.

    Parameters
    ----------
    clk_freq : int or float
        Clock frequency in Hz.
    baud : int
        Bits per second.

    Returns
    -------
    int
        The divisor nearest to ``clk_freq / baud``.

    Raises
    ------
    ValueError
        If ``baud`` is not positive, the divisor would be below :data:`MIN_DIVISOR`, or the
        rate it gives is more than :data:`MAX_BAUD_ERROR` off ``baud``.
    """
    if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
        raise ValueError(f"baud must be a positive integer, not {baud!r}")
    divisor = round(clk_freq / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(f"baud rate {baud} is too fast for a {clk_freq / 1e6:g} MHz clock: "
                         f"a bit must last at least {MIN_DIVISOR} cycles")
    error = abs(clk_freq / divisor - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise ValueError(f"baud rate {baud} is {error:.1%} off at {clk_freq / 1e6:g} MHz "
                         f"(divisor {divisor}); a UART needs it within "
                         f"{MAX_BAUD_ERROR:.0%}")
    return divisor


class UARTTransmitter(wiring.Component):
    """Sends each byte of ``data`` as one 8N1 frame: a start bit, bits 0 to 7, a stop bit.

    ``data.ready`` is high while the line is idle and in the last cycle of a stop bit, so
    frames follow each other without a gap and every stop bit lasts a whole bit time.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least :data:`MIN_DIVISOR`.

    Members
    -------
    data : In(stream.Signature(8))
        Bytes to send.
    tx : Out(1)
        The serial line, high when idle.

    Raises
    ------
    ValueError
        If ``divisor`` is not an integer of at least :data:`MIN_DIVISOR`.
    """

    def __init__(self, *, divisor):
        _check_divisor(divisor)
        self._divisor = divisor
        super().__init__({"data": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self._divisor))
        shift = Signal(9)                   # the data bits still to send, then the stop bit
        periods = Signal(range(11))         # bit times left in the frame, the current one too

        # The next byte is taken in the stop bit's last cycle: frames follow with no gap.
        stop_ends = (periods == 1) & (timer == 0)
        m.d.comb += self.data.ready.eq((periods == 0) | stop_ends)
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [self.tx.eq(0), shift.eq(Cat(self.data.payload, 1)),
                         periods.eq(10), timer.eq(self._divisor - 1)]
        with m.Elif(periods != 0):
            with m.If(timer == 0):
                m.d.sync += [timer.eq(self._divisor - 1), periods.eq(periods - 1)]
                # The stop bit stays on the line once its time is up: it is the idle level.
                with m.If(periods != 1):
                    m.d.sync += [self.tx.eq(shift[0]), shift.eq(shift[1:])]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m


class UARTReceiver(wiring.Component):
    """Receives 8N1 frames into a byte stream.

    The line goes through a two-flip-flop synchronizer (it comes from another clock's world).
    A falling edge starts a frame; the start bit is checked again in its middle (a shorter
    glitch is ignored), and every following bit is sampled in its middle. A frame whose stop
    bit is low (a framing error, or a break) delivers nothing and pulses ``framing_error``;
    the receiver then waits for the line to go idle. A byte completed while the previous one
    has not been taken is dropped and pulses ``overrun``: the stream keeps its payload until
    it is accepted.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least :data:`MIN_DIVISOR`.

    Members
    -------
    rx : In(1)
        The serial line, high when idle.
    data : Out(stream.Signature(8))
        Bytes received.
    framing_error, overrun : Out(1)
        One-cycle pulses.

    Raises
    ------
    ValueError
        If ``divisor`` is not an integer of at least :data:`MIN_DIVISOR`.
    """

    def __init__(self, *, divisor):
        _check_divisor(divisor)
        self._divisor = divisor
        super().__init__({
            "rx": In(1, init=1),
            "data": Out(stream.Signature(8)),
            "framing_error": Out(1),
            "overrun": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        line = Signal(init=1)
        m.submodules.rx_sync = FFSynchronizer(self.rx, line, init=1)

        timer = Signal(range(self._divisor))
        shift = Signal(8)
        bit = Signal(range(8))
        with m.If(self.data.ready):
            m.d.sync += self.data.valid.eq(0)

        with m.FSM(init="IDLE"):
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(self._divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self._divisor - 1), bit.eq(0)]
                    with m.If(line):
                        m.next = "IDLE"         # a glitch, not a start bit
                    with m.Else():
                        m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self._divisor - 1), shift.eq(Cat(shift[1:], line)),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(~line):
                        m.d.comb += self.framing_error.eq(1)
                        m.next = "BREAK"
                    with m.Elif(self.data.valid & ~self.data.ready):
                        m.d.comb += self.overrun.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [self.data.payload.eq(shift), self.data.valid.eq(1)]
                        m.next = "IDLE"
            with m.State("BREAK"):
                # A low stop bit: the next falling edge cannot be told from the line staying
                # low, so wait for it to go high before looking for a start bit.
                with m.If(line):
                    m.next = "IDLE"
        return m
