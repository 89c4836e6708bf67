"""Register-port masters: 32-bit CSR reads and writes over AXI4-Lite (``s_axil``) or Wishbone classic (``s_wb``).

Both are small drivers of our own rather than cocotbext-axi's ``AxiLiteMaster`` (which can
only express contiguous byte strobes, so a write with ``strb=0b0101`` would become two
writes) and cocotbext-wishbone (a pipelined master, not a classic one).
"""

from cocotb.triggers import Lock, RisingEdge


__all__ = ["CsrMaster", "AxiLiteCsrMaster", "WishboneCsrMaster", "CsrBusError"]


class CsrBusError(Exception):
    """A CSR access answered with an AXI error response."""


def _high(handle):
    try:
        return bool(handle.value)
    except ValueError:
        return False


class CsrMaster:
    """One access at a time to the register port; concurrent callers are served in turn.

    Members
    -------
    async read(byte_addr) -> int
    async write(byte_addr, value, strb=0xF)
        ``strb`` selects the bytes written, any pattern.

    Raises
    ------
    TimeoutError
        When the port does not answer within ``timeout`` cycles.
    """

    @staticmethod
    def for_config(dut, config, clock, reset, *, timeout=1000):
        """The master for the register port that ``config.csr`` builds."""
        if config.csr == "axil":
            return AxiLiteCsrMaster(dut, "s_axil", clock, reset, timeout=timeout)
        return WishboneCsrMaster(dut, "s_wb", clock, reset, timeout=timeout)

    def __init__(self, dut, prefix, clock, reset, timeout):
        self._dut, self._prefix = dut, prefix
        self._clock, self._reset = clock, reset
        self._timeout = timeout
        self._lock = Lock()

    def _port(self, name):
        return getattr(self._dut, f"{self._prefix}__{name}")

    async def _until(self, condition, what):
        """Wait for the first clock edge at which ``condition()`` holds (sampled values of the ending cycle)."""
        edge = RisingEdge(self._clock)
        for _ in range(self._timeout):
            await edge
            if condition():
                return
        raise TimeoutError(f"{self._prefix}: {what}: no answer in {self._timeout} cycles")

    async def _out_of_reset(self):
        while _high(self._reset):
            await RisingEdge(self._clock)


class AxiLiteCsrMaster(CsrMaster):
    """CSR master on an AXI4-Lite slave port ``<prefix>__*``.

    AW and W are offered together; ``bready`` and ``rready`` stay high, so responses are
    taken in the cycle they appear. An error response raises :class:`CsrBusError`.
    """

    def __init__(self, dut, prefix, clock, reset, *, timeout=1000):
        super().__init__(dut, prefix, clock, reset, timeout)
        for name, value in (("awvalid", 0), ("wvalid", 0), ("arvalid", 0), ("awprot", 0), ("arprot", 0),
                            ("bready", 1), ("rready", 1)):
            self._port(name).value = value

    async def write(self, byte_addr, value, strb=0xF):
        async with self._lock:
            await self._out_of_reset()
            awvalid, awready = self._port("awvalid"), self._port("awready")
            wvalid, wready = self._port("wvalid"), self._port("wready")
            self._port("awaddr").value = byte_addr
            self._port("wdata").value = value
            self._port("wstrb").value = strb
            awvalid.value = wvalid.value = 1
            aw_left = w_left = True

            def accepted():
                # AW and W each leave the bus at their own handshake.
                nonlocal aw_left, w_left
                if aw_left and _high(awready):
                    aw_left, awvalid.value = False, 0
                if w_left and _high(wready):
                    w_left, wvalid.value = False, 0
                return not (aw_left or w_left)

            await self._until(accepted, f"write {byte_addr:#x} not accepted")
            bvalid = self._port("bvalid")
            await self._until(lambda: _high(bvalid), f"write {byte_addr:#x} without B")
            resp = int(self._port("bresp").value)
        if resp:
            raise CsrBusError(f"{self._prefix}: write {byte_addr:#x} answered bresp={resp}")

    async def read(self, byte_addr):
        async with self._lock:
            await self._out_of_reset()
            arvalid, arready = self._port("arvalid"), self._port("arready")
            self._port("araddr").value = byte_addr
            arvalid.value = 1
            await self._until(lambda: _high(arready), f"read {byte_addr:#x} not accepted")
            arvalid.value = 0
            rvalid = self._port("rvalid")
            await self._until(lambda: _high(rvalid), f"read {byte_addr:#x} without R")
            data, resp = int(self._port("rdata").value), int(self._port("rresp").value)
        if resp:
            raise CsrBusError(f"{self._prefix}: read {byte_addr:#x} answered rresp={resp}")
        return data


class WishboneCsrMaster(CsrMaster):
    """CSR master on a Wishbone B4 classic slave port ``<prefix>__*`` (``adr`` is the word address).

    Each access raises ``cyc`` and ``stb`` until ``ack``, then drops both.
    """

    def __init__(self, dut, prefix, clock, reset, *, timeout=1000):
        super().__init__(dut, prefix, clock, reset, timeout)
        for name in ("cyc", "stb", "we"):
            self._port(name).value = 0

    async def _access(self, byte_addr, we, value, strb):
        async with self._lock:
            await self._out_of_reset()
            cyc, stb, ack = self._port("cyc"), self._port("stb"), self._port("ack")
            self._port("adr").value = byte_addr >> 2
            self._port("we").value = we
            self._port("dat_w").value = value
            self._port("sel").value = strb
            cyc.value = stb.value = 1
            await self._until(lambda: _high(ack), f"{'write' if we else 'read'} {byte_addr:#x} without ack")
            data = int(self._port("dat_r").value)
            cyc.value = stb.value = 0
            self._port("we").value = 0
        return data

    async def write(self, byte_addr, value, strb=0xF):
        await self._access(byte_addr, 1, value, strb)

    async def read(self, byte_addr):
        return await self._access(byte_addr, 0, 0, 0xF)
