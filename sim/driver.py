"""A Python driver of the register interface, built from the register description.

It is what the testbenches use to program the controller, the way firmware would: by
register and field names from :mod:`hauler.registers`, over any CSR master with
``async read(addr)`` and ``async write(addr, value, strb=0xF)``.
"""

from dataclasses import dataclass

from cocotb.triggers import ClockCycles, RisingEdge

from hauler import registers as regs


__all__ = ["Driver", "ChannelStatus", "Mode", "encode", "decode"]


#: Addressing modes of XFER.SRC_MODE / DST_MODE.
Mode = regs.AddressMode


_GLOBAL = {r.name: r for r in regs.GLOBAL_REGISTERS}
_CHANNEL = {r.name: r for r in regs.CHANNEL_REGISTERS}


def _register(name, channel):
    table = _GLOBAL if channel is None else _CHANNEL
    try:
        return table[name]
    except KeyError:
        raise KeyError(f"no {'global' if channel is None else 'channel'} register {name}")


def encode(name, channel=0, **fields):
    """The 32-bit value of register ``name`` with the given fields (others 0)."""
    reg = _register(name, channel)
    value = 0
    for field_name, field_value in fields.items():
        f = reg.field(field_name.upper())
        if not 0 <= field_value < (1 << f.width):
            raise ValueError(f"{name}.{f.name} is {f.width} bits wide; {field_value} does not fit")
        value |= field_value << f.lsb
    return value


def decode(name, value, channel=0):
    """The fields of a value read from register ``name``, as a dict."""
    reg = _register(name, channel)
    return {f.name: (value >> f.lsb) & ((1 << f.width) - 1) for f in reg.fields}


@dataclass
class ChannelStatus:
    busy: bool
    done: bool
    error: bool
    eop: bool
    err_code: str

    @classmethod
    def from_value(cls, value):
        f = decode("STATUS", value)
        return cls(bool(f["BUSY"]), bool(f["DONE"]), bool(f["ERROR"]), bool(f["EOP"]),
                   regs.ERROR_CODES[f["ERR_CODE"]][0])


class Driver:
    """Programs a controller through its register port.

    Parameters
    ----------
    csr
        A CSR master (``hauler.sim.csr.CsrMaster``).
    clock
        The DUT clock, for timeouts counted in cycles.
    """

    def __init__(self, csr, clock):
        self.csr = csr
        self.clock = clock

    @staticmethod
    def address(name, channel=None):
        """Byte address of a global register (``channel=None``) or of channel ``channel``'s."""
        reg = _register(name, channel)
        return reg.offset + (0 if channel is None else regs.channel_base(channel))

    async def read(self, name, channel=None):
        return await self.csr.read(self.address(name, channel))

    async def write(self, name, value, channel=None, strb=0xF):
        await self.csr.write(self.address(name, channel), value, strb)

    async def fields(self, name, channel=None):
        return decode(name, await self.read(name, channel), channel)

    async def write_fields(self, name, channel=None, **fields):
        await self.write(name, encode(name, channel, **fields), channel)

    async def config(self):
        """CONFIG and PARAMS fields merged into one dict."""
        return {**await self.fields("CONFIG"), **await self.fields("PARAMS")}

    async def status(self, channel):
        return ChannelStatus.from_value(await self.read("STATUS", channel))

    async def setup_transfer(self, channel, src, dst, length, *, src_mode=Mode.INCR,
                             dst_mode=Mode.INCR, addr_width=32):
        """Write SRC, DST, LEN and XFER of a register-mode transfer (does not start it)."""
        await self.write("SRC_LO", src & 0xFFFF_FFFF, channel)
        await self.write("SRC_HI", src >> 32, channel)
        await self.write("DST_LO", dst & 0xFFFF_FFFF, channel)
        await self.write("DST_HI", dst >> 32, channel)
        await self.write("LEN", length, channel)
        await self.write_fields("XFER", channel, src_mode=src_mode, dst_mode=dst_mode)

    async def start(self, channel, *, cyclic=False):
        await self.write_fields("CTRL", channel, start=1, cyclic=int(cyclic))

    async def start_chain(self, channel, desc_addr, *, cyclic=False):
        """Start a scatter-gather run at the descriptor at ``desc_addr``.

        DESC is written first, then SG and START together in one CTRL write: the channel
        takes its mode from the RW bits written with START. A ring comes from its NEXT
        links, not from CYCLIC, which the ABI defines for register mode; ``cyclic`` is
        written as given.
        """
        await self.write("DESC_LO", desc_addr & 0xFFFF_FFFF, channel)
        await self.write("DESC_HI", desc_addr >> 32, channel)
        await self.write_fields("CTRL", channel, start=1, sg=1, cyclic=int(cyclic))

    async def stop(self, channel):
        """STOP, keeping CTRL.CYCLIC as it is (the RW bits are rewritten with the strobe)."""
        ctrl = await self.fields("CTRL", channel)
        await self.write_fields("CTRL", channel, stop=1, cyclic=ctrl["CYCLIC"], sg=ctrl["SG"])

    async def abort(self, channel):
        ctrl = await self.fields("CTRL", channel)
        await self.write_fields("CTRL", channel, abort=1, cyclic=ctrl["CYCLIC"], sg=ctrl["SG"])

    async def copy(self, channel, src, dst, length, **modes):
        await self.setup_transfer(channel, src, dst, length, **modes)
        await self.start(channel)

    async def wait_idle(self, channel, *, timeout=200_000):
        """Poll STATUS until BUSY is 0; fail after about ``timeout`` cycles."""
        polls = 0
        while True:
            status = await self.status(channel)
            if not status.busy:
                return status
            polls += 1
            if polls * 16 > timeout:
                raise TimeoutError(f"channel {channel} still busy after {timeout} cycles")
            await ClockCycles(self.clock, 8)

    async def wait_irq(self, irq, *, timeout=100_000):
        """Wait for the ``irq`` output to be high; fail after ``timeout`` cycles."""
        for _ in range(timeout):
            if irq.value:
                return
            await RisingEdge(self.clock)
        raise TimeoutError(f"irq did not rise within {timeout} cycles")

    async def clear_irq(self, channel, **bits):
        await self.write_fields("IRQ_STATUS", channel, **bits)
