"""Self-test of CsrMaster and the CSR port checkers on tests/fixtures/csr_regs.v.

The fixture is four registers behind both an AXI4-Lite and a Wishbone classic port, with a
``bad`` input that makes both ports break their protocol.
"""

import cocotb
from cocotb.triggers import Combine, RisingEdge

from hauler import Config
from hauler.sim.bench import reset_dut, start_clock
from hauler.sim.checkers import AxiLiteSlaveChecker, WishboneClassicSlaveChecker
from hauler.sim.csr import CsrMaster


_INPUTS = ("bad", "s_axil__awaddr", "s_axil__awprot", "s_axil__awvalid", "s_axil__wdata", "s_axil__wstrb",
           "s_axil__wvalid", "s_axil__bready", "s_axil__araddr", "s_axil__arprot", "s_axil__arvalid",
           "s_axil__rready", "s_wb__adr", "s_wb__dat_w", "s_wb__sel", "s_wb__cyc", "s_wb__stb", "s_wb__we")


async def _start(dut, csr, *, fail_fast=True):
    start_clock(dut)
    for name in _INPUTS:
        getattr(dut, name).value = 0
    checker = (AxiLiteSlaveChecker(dut, "s_axil", dut.clk, dut.rst, fail_fast=fail_fast) if csr == "axil" else
               WishboneClassicSlaveChecker(dut, "s_wb", dut.clk, dut.rst, fail_fast=fail_fast))
    master = CsrMaster.for_config(dut, Config(csr=csr), dut.clk, dut.rst)
    await reset_dut(dut)
    return master, checker


async def _round_trip(dut, csr):
    master, checker = await _start(dut, csr)
    for n in range(4):
        await master.write(4 * n, 0x11111111 * (n + 1))
    assert [await master.read(4 * n) for n in range(4)] == [0x11111111 * (n + 1) for n in range(4)]
    await master.write(0x4, 0xAABBCCDD, strb=0b0101)  # bytes 0 and 2 only, in one access
    assert await master.read(0x4) == 0x22BB22DD
    # Concurrent callers take turns.
    writes = [cocotb.start_soon(master.write(4 * n, 0xC0DE0000 + n)) for n in range(4)]
    await Combine(*writes)
    reads = [cocotb.start_soon(master.read(4 * n)) for n in range(4)]
    await Combine(*reads)
    assert [task.result() for task in reads] == [0xC0DE0000 + n for n in range(4)]
    await RisingEdge(dut.clk)
    checker.check(idle=True)


@cocotb.test(timeout_time=100, timeout_unit="us")
async def axil_round_trip(dut):
    """AXI4-Lite reads and writes, a non-contiguous byte strobe, concurrent callers."""
    await _round_trip(dut, "axil")


@cocotb.test(timeout_time=100, timeout_unit="us")
async def wishbone_round_trip(dut):
    """Wishbone classic reads and writes, a non-contiguous byte select, concurrent callers."""
    await _round_trip(dut, "wishbone")


@cocotb.test(timeout_time=100, timeout_unit="us")
async def axil_checker_catches_bad_slave(dut):
    """A slave that drops bvalid without bready and changes rdata while rvalid waits."""
    _, checker = await _start(dut, "axil", fail_fast=False)
    dut.bad.value = 1
    for name in ("bready", "rready"):
        getattr(dut, f"s_axil__{name}").value = 0  # the master holds its responses off
    for name, value in (("awaddr", 0), ("wdata", 1), ("wstrb", 0xF), ("awvalid", 1), ("wvalid", 1)):
        getattr(dut, f"s_axil__{name}").value = value
    await RisingEdge(dut.clk)
    dut.s_axil__awvalid.value = dut.s_axil__wvalid.value = 0
    dut.s_axil__arvalid.value = 1
    await RisingEdge(dut.clk)
    dut.s_axil__arvalid.value = 0
    for _ in range(4):
        await RisingEdge(dut.clk)
    messages = [message for _, message in checker.violations]
    assert messages[:2] == ["B: valid dropped before ready", "R: rdata changed while valid waited for ready"], messages


@cocotb.test(timeout_time=100, timeout_unit="us")
async def wishbone_checker_catches_bad_slave(dut):
    """A slave that acks with no access under way."""
    _, checker = await _start(dut, "wishbone", fail_fast=False)
    dut.bad.value = 1
    for _ in range(4):
        await RisingEdge(dut.clk)
    messages = {message for _, message in checker.violations}
    assert messages == {"ack without cyc & stb"}, messages
