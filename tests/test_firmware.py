"""The C firmware (firmware/): the generated header, the driver and the examples.

The driver is compiled natively (strict C99) into a shared library whose register and
descriptor accesses and barriers call back into Python (firmware/host/): a model of the
register interface built from :mod:`hauler.registers` sees every access in order, and
descriptors are compared byte for byte with the Python builders of
:mod:`hauler.sim.descriptors`. The examples run natively against a behavioural model of the
controller (register mode, scatter-gather, streams, a req/ack UART), and are cross-compiled
for RV32I with riscv64-unknown-elf-gcc.
"""

import ctypes
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hauler import registers as regs
from hauler.descriptor import DESCRIPTOR_SIZE, WRITEBACK_OFFSET
from hauler.regmap import render
from hauler.sim.descriptors import (Descriptor, DescriptorStatus, rearm, write_chain,
                                    write_ring)
from hauler.sim.driver import Mode, decode, encode


FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
HOST_CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-fPIC",
               "-shared", f"-I{FIRMWARE}", f"-I{FIRMWARE / 'examples'}",
               f"-I{FIRMWARE / 'host'}", "-DHAULER_CONFIG_H=\"host_config.h\"",
               "-DPLATFORM_HOSTED"]
EXAMPLES = ("memcpy_irq", "rx_ring", "uart_tx")
CROSS_CC = "riscv64-unknown-elf-gcc"

# The driver's result codes, read from hauler.h.
RESULTS = {m[1]: int(m[2]) for m in re.finditer(
    r"#define HAULER_(OK|E[A-Z]+) \(?(-?\d+)\)?", (FIRMWARE / "hauler.h").read_text())}
OK, EBADID, EVERSION, ECHANNEL, EBUSY, ENOTBUILT, EINVAL, ETIMEOUT, EFAILED = (
    RESULTS[n] for n in ("OK", "EBADID", "EVERSION", "ECHANNEL", "EBUSY", "ENOTBUILT",
                         "EINVAL", "ETIMEOUT", "EFAILED"))

DMA_BASE = 0x4000_0000          # platform.h's default, also used for the driver tests
UART_TX = 0x4000_2000

C = ctypes
READ32 = C.CFUNCTYPE(C.c_uint32, C.c_size_t)
WRITE32 = C.CFUNCTYPE(None, C.c_size_t, C.c_uint32)
BARRIER = C.CFUNCTYPE(None)
REPORT = C.CFUNCTYPE(None, C.c_char_p, C.c_uint32)
STEP = C.CFUNCTYPE(C.c_int)
COMPLETE = C.CFUNCTYPE(None, C.c_void_p, C.c_uint, C.c_uint32, C.c_void_p)
ERROR = C.CFUNCTYPE(None, C.c_void_p, C.c_uint, C.c_uint, C.c_uint64, C.c_void_p)


class Caps(C.Structure):
    _fields_ = [(n, C.c_uint) for n in ("channels", "data_bytes", "addr_width")] + \
               [(n, C.c_bool) for n in ("sg", "streams", "unaligned", "req_ack")] + \
               [(n, C.c_uint) for n in ("master", "max_burst", "fifo_depth", "outstanding",
                                        "len_width", "version_minor", "version_patch")]


class Xfer(C.Structure):
    _fields_ = [("src", C.c_uint64), ("dst", C.c_uint64), ("len", C.c_uint32),
                ("flags", C.c_uint32)]


class Status(C.Structure):
    _fields_ = [(n, C.c_bool) for n in ("busy", "done", "error", "eop")] + \
               [("err_code", C.c_uint), ("bytes", C.c_uint32), ("completed", C.c_uint32),
                ("err_addr", C.c_uint64)]


class DescResult(C.Structure):
    _fields_ = [(n, C.c_bool) for n in ("done", "error", "eop")] + \
               [("err_code", C.c_uint), ("bytes", C.c_uint32)]


_P = C.c_void_p
_SIGNATURES = {
    "hauler_init": (C.c_int, [_P, _P]),
    "hauler_set_callbacks": (C.c_int, [_P, C.c_uint, COMPLETE, ERROR, _P]),
    "hauler_irq_enable": (C.c_int, [_P, C.c_uint, C.c_uint32]),
    "hauler_irq_coalesce": (C.c_int, [_P, C.c_uint, C.c_uint32, C.c_uint32]),
    "hauler_set_req_burst": (C.c_int, [_P, C.c_uint, C.c_uint32]),
    "hauler_start": (C.c_int, [_P, C.c_uint, C.POINTER(Xfer)]),
    "hauler_start_cyclic": (C.c_int, [_P, C.c_uint, C.POINTER(Xfer)]),
    "hauler_copy": (C.c_int, [_P, C.c_uint, C.c_uint64, C.c_uint64, C.c_uint32]),
    "hauler_desc_fill": (C.c_int, [_P, _P, C.POINTER(Xfer), _P]),
    "hauler_chain_build": (C.c_int, [_P, _P, C.POINTER(Xfer), C.c_size_t]),
    "hauler_ring_build": (C.c_int, [_P, _P, C.POINTER(Xfer), C.c_size_t]),
    "hauler_desc_rearm": (None, [_P]),
    "hauler_desc_result": (None, [_P, C.POINTER(DescResult)]),
    "hauler_start_chain": (C.c_int, [_P, C.c_uint, _P]),
    "hauler_stop": (C.c_int, [_P, C.c_uint]),
    "hauler_abort": (C.c_int, [_P, C.c_uint]),
    "hauler_status": (C.c_int, [_P, C.c_uint, C.POINTER(Status)]),
    "hauler_completed": (C.c_int, [_P, C.c_uint, C.POINTER(C.c_uint32)]),
    "hauler_wait_idle": (C.c_int, [_P, C.c_uint, C.c_uint32, C.POINTER(Status)]),
    "hauler_irq_handler": (C.c_uint32, [_P]),
}

_GLOBAL = {r.offset: r.name for r in regs.GLOBAL_REGISTERS}
_CHANNEL = {r.offset: r.name for r in regs.CHANNEL_REGISTERS}
_CHANNEL_ACCESS = {r.name: r.access for r in regs.CHANNEL_REGISTERS}
CTRL = {f.name: f.mask for f in regs.CHANNEL_REGISTERS[0].fields}
EV = {f.name: f.mask for f in regs.CHANNEL_REGISTERS[2].fields}       # IRQ_STATUS bits
ERR = {name: code for code, (name, _) in enumerate(regs.ERROR_CODES)}


def xfer_flags(**ctrl):
    """The XFER / descriptor CTRL value, from the register description."""
    return encode("XFER", **{k: int(v) for k, v in ctrl.items()})


def mem_read(addr, n):
    return C.string_at(addr, n)


def mem_write(addr, data):
    C.memmove(addr, bytes(data), len(data))


def aligned_buffer(size, align=DESCRIPTOR_SIZE, fill=0):
    """Host memory on an ``align`` boundary: (keep-alive object, address)."""
    raw = C.create_string_buffer(bytes([fill]) * (size + align))
    return raw, (C.addressof(raw) + align - 1) & ~(align - 1)


# --- The model of the register interface ---------------------------------------------------

class Controller:
    """The register interface of a controller at ``DMA_BASE``, from the register description:
    identification, RW storage, RW1C IRQ_STATUS, write-1 actions in CTRL that read 0,
    IRQ_SUMMARY. Everything the driver does is logged in order: ``("r" | "w", channel,
    register, value)`` (channel None for a global register), ``("mr" | "mw", addr, value)``
    for memory words (descriptors), ``("barrier",)``. Memory accesses go to host memory.

    ``scripts[(channel, name)]`` lists values the next reads of a register return.
    Whatever goes wrong inside a callback from C is collected in ``errors`` (an exception
    cannot cross the C frames).
    """

    def __init__(self, *, channels=4, data_bytes=4, addr_width=32, sg=True, streams=True,
                 unaligned=True, req_ack=True, master=0, max_burst=16, fifo_log2=6,
                 outstanding=4, len_width=32, ident=regs.ID_VALUE, version=regs.VERSION,
                 bus_offset=0):
        self.channels, self.data_bytes, self.addr_width = channels, data_bytes, addr_width
        self.bus_offset = bus_offset
        major, minor, patch = version
        self.glob = {
            "ID": ident,
            "VERSION": encode("VERSION", None, major=major, minor=minor, patch=patch),
            "CONFIG": encode("CONFIG", None, channels=channels,
                             data_bytes_log2=data_bytes.bit_length() - 1,
                             addr_width=addr_width, sg=int(sg), streams=int(streams),
                             unaligned=int(unaligned), req_ack=int(req_ack), master=master),
            "PARAMS": encode("PARAMS", None, max_burst=max_burst, fifo_depth_log2=fifo_log2,
                             outstanding=outstanding, len_width=len_width),
        }
        self.chan = [{r.name: 0 for r in regs.CHANNEL_REGISTERS} for _ in range(channels)]
        for c in self.chan:
            c["REQ_BURST"] = data_bytes
        self.log, self.errors, self.scripts = [], [], {}

    # Host side of the hooks.
    def bind(self, lib):
        self._hooks = (READ32(self._guard(self.read32, 0)),
                       WRITE32(self._guard(self.write32)),
                       BARRIER(self._guard(lambda: self.log.append(("barrier",)))))
        for name, hook in zip(("read32", "write32", "barrier"), self._hooks):
            C.c_void_p.in_dll(lib, f"hauler_host_{name}").value = C.cast(hook, C.c_void_p).value
        C.c_uint64.in_dll(lib, "hauler_host_bus_offset").value = self.bus_offset % (1 << 64)

    def _guard(self, fn, fallback=None):
        def call(*args):
            try:
                return fn(*args)
            except Exception as e:          # reported by the test, not lost in ctypes
                self.errors.append(repr(e))
                return fallback
        return call

    def _where(self, addr):
        off = addr - DMA_BASE
        if not 0 <= off < regs.CHANNEL_STRIDE * (self.channels + 1):
            return None
        if off < regs.CHANNEL_STRIDE:
            return None, _GLOBAL[off]
        return off // regs.CHANNEL_STRIDE - 1, _CHANNEL[off % regs.CHANNEL_STRIDE]

    def read32(self, addr):
        where = self._where(addr)
        if where is None:
            value = int.from_bytes(mem_read(addr, 4), "little")
            self.log.append(("mr", addr, value))
            return value
        ch, name = where
        script = self.scripts.get((ch, name))
        value = script.pop(0) if script else self.read_register(ch, name)
        self.log.append(("r", ch, name, value))
        self.after_read(ch, name)
        return value

    def write32(self, addr, value):
        where = self._where(addr)
        if where is None:
            self.log.append(("mw", addr, value))
            mem_write(addr, value.to_bytes(4, "little"))
            return
        ch, name = where
        self.log.append(("w", ch, name, value))
        if ch is None or _CHANNEL_ACCESS[name] == "R":
            raise AssertionError(f"write to the read-only register {name}")
        c = self.chan[ch]
        if name == "IRQ_STATUS":
            c[name] &= ~value
        elif name == "CTRL":
            c[name] = value & (CTRL["SG"] | CTRL["CYCLIC"])
            self.action(ch, value)
        else:
            c[name] = value

    def read_register(self, ch, name):
        if ch is not None:
            return self.chan[ch][name]
        if name == "IRQ_SUMMARY":
            return sum(1 << n for n, c in enumerate(self.chan)
                       if c["IRQ_STATUS"] & c["IRQ_ENABLE"])
        return self.glob[name]

    def after_read(self, ch, name):
        pass

    def action(self, ch, value):
        pass

    def irq(self):
        return self.read_register(None, "IRQ_SUMMARY") != 0

    # For the tests.
    def take(self):
        log, self.log = self.log, []
        return log

    def status(self, ch, **fields):
        self.chan[ch]["STATUS"] = encode("STATUS", **fields)

    def check(self):
        assert not self.errors, self.errors


class Host:
    """The driver library bound to a model, with a ``struct hauler`` to call it with."""

    def __init__(self, lib, model):
        self.lib, self.model = lib, model
        model.bind(lib)
        self.dev = C.create_string_buffer(C.c_size_t.in_dll(lib, "hauler_host_sizeof").value)

    def __getattr__(self, name):
        """``host.copy(...)`` is ``hauler_copy(dev, ...)``."""
        fn = getattr(self.lib, f"hauler_{name}")
        return lambda *args: fn(self.dev, *args)

    def init(self):
        result = self.lib.hauler_init(self.dev, DMA_BASE)
        self.model.take()
        return result

    @property
    def caps(self):
        return Caps.from_buffer(self.dev)

    @property
    def channels(self):
        offset = (C.c_size_t * 6).in_dll(self.lib, "hauler_host_sizeof")[5]
        return C.c_uint.from_buffer(self.dev, offset).value


def _compile(out, sources):
    gcc = shutil.which("gcc")
    assert gcc, "the host tests need gcc"
    result = subprocess.run([gcc, *HOST_CFLAGS, "-o", str(out), *map(str, sources)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


def _load(path):
    lib = C.CDLL(str(path))
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return _load(_compile(tmp_path_factory.mktemp("firmware") / "libhauler.so",
                          [FIRMWARE / "hauler.c", FIRMWARE / "host" / "host.c"]))


@pytest.fixture
def host(lib):
    made = []

    def make(**config):
        h = Host(lib, Controller(**config))
        made.append(h)
        return h
    yield make
    for h in made:
        h.model.check()


def writes(log):
    return [e for e in log if e[0] == "w"]


# --- The generated header -----------------------------------------------------------------

def test_header_is_generated_and_current():
    generated = render("c")
    assert render("c") == generated, "hauler regs --format c is not reproducible"
    assert not re.search(r"\b(19|20)\d\d-\d\d-\d\d\b|\d\d:\d\d:\d\d", generated), \
        "the generated header must not carry a date or time"
    assert (FIRMWARE / "hauler_regs.h").read_text() == generated, \
        "firmware/hauler_regs.h is stale: run `make -C firmware regs` " \
        "(hauler regs --format c -o firmware/hauler_regs.h) and commit it"


def test_ctypes_mirrors_match_the_c_structures(lib):
    sizes = (C.c_size_t * 5).in_dll(lib, "hauler_host_sizeof")
    assert list(sizes) == [sizes[0]] + [C.sizeof(s) for s in (Caps, Xfer, Status, DescResult)]
    assert sizes[0] > C.sizeof(Caps)


def test_flag_macros_are_the_register_fields(lib):
    # host.c exports the macros' values: HAULER_F_SRC(STREAM), HAULER_F_DST(FIXED), IRQ, EOP,
    # REQ, then HAULER_EV_DONE, CHAIN_END, ERROR.
    values = list((C.c_uint32 * 8).in_dll(lib, "hauler_host_flags"))
    assert values == [xfer_flags(src_mode=Mode.STREAM), xfer_flags(dst_mode=Mode.FIXED),
                      xfer_flags(irq=1), xfer_flags(eop=1), xfer_flags(req=1),
                      EV["DONE"], EV["CHAIN_END"], EV["ERROR"]]


# --- Initialisation -----------------------------------------------------------------------

@pytest.mark.parametrize("config", [
    dict(channels=3, data_bytes=4, addr_width=32, sg=True, streams=False, unaligned=True,
         req_ack=False, master=1, max_burst=16, fifo_log2=6, outstanding=4, len_width=24),
    dict(channels=16, data_bytes=16, addr_width=64, sg=False, streams=True, unaligned=False,
         req_ack=True, master=0, max_burst=256, fifo_log2=9, outstanding=8, len_width=32),
])
def test_init_reads_the_capabilities(host, lib, config):
    h = host(**config, version=(1, 3, 9))
    assert lib.hauler_init(h.dev, DMA_BASE) == OK
    log = h.model.take()
    assert [e[2] for e in log if e[0] == "r"] == ["ID", "VERSION", "CONFIG", "PARAMS"]
    # Every channel's interrupts disabled and anything pending cleared: nothing else.
    assert writes(log) == [("w", ch, name, value) for ch in range(config["channels"])
                           for name, value in (("IRQ_ENABLE", 0), ("IRQ_STATUS", 7))]
    caps = h.caps
    expect = {k: v for k, v in config.items() if k != "fifo_log2"}
    expect.update(fifo_depth=1 << config["fifo_log2"], version_minor=3, version_patch=9)
    assert {name: getattr(caps, name) for name in expect} == expect
    assert h.channels == config["channels"]


@pytest.mark.parametrize("change, result", [
    (dict(ident=0x4841554D), EBADID),
    (dict(ident=0), EBADID),
    (dict(version=(2, 0, 0)), EVERSION),
    (dict(version=(0, 9, 0)), EVERSION),
])
def test_init_refuses_another_device_or_abi(host, change, result):
    h = host(**change)
    assert h.lib.hauler_init(h.dev, DMA_BASE) == result
    log = h.model.take()
    assert writes(log) == [] and h.channels == 0
    assert h.copy(0, 0x1000, 0x2000, 4) == ECHANNEL      # the device is not usable


# --- Register mode ------------------------------------------------------------------------

def test_register_copy_writes_the_transfer_then_start(host):
    h = host(addr_width=32)
    assert h.init() == OK
    assert h.copy(1, 0x2000_0003, 0x1000_0001, 1000) == OK
    assert h.model.take() == [
        ("r", 1, "STATUS", 0),                  # idle?
        ("w", 1, "SRC_LO", 0x1000_0001),        # no _HI registers on a 32-bit build
        ("w", 1, "DST_LO", 0x2000_0003),
        ("w", 1, "LEN", 1000),
        ("w", 1, "XFER", 0),
        ("barrier",),                           # the source data is in memory before START
        ("w", 1, "CTRL", CTRL["START"]),
    ]


def test_register_transfer_with_64_bit_addresses(host):
    h = host(addr_width=64)
    assert h.init() == OK
    flags = xfer_flags(dst_mode=Mode.STREAM, eop=1)
    assert h.start(3, Xfer(0x1_2345_6789, 0xAB_0000_0000, 77, flags)) == OK
    assert writes(h.model.take()) == [
        ("w", 3, "SRC_LO", 0x2345_6789), ("w", 3, "SRC_HI", 0x1),
        ("w", 3, "DST_LO", 0), ("w", 3, "DST_HI", 0xAB),
        ("w", 3, "LEN", 77), ("w", 3, "XFER", flags), ("w", 3, "CTRL", CTRL["START"]),
    ]
    assert h.start_cyclic(0, Xfer(0x100, 0x200, 8, 0)) == OK
    assert writes(h.model.take())[-1] == ("w", 0, "CTRL", CTRL["START"] | CTRL["CYCLIC"])


def test_paced_transfer_to_a_peripheral_register(host):
    h = host(data_bytes=4)
    assert h.init() == OK
    assert h.set_req_burst(2, 1) == OK
    flags = xfer_flags(dst_mode=Mode.FIXED, req=1)
    assert h.start(2, Xfer(0x1001, UART_TX, 5, flags)) == OK
    assert writes(h.model.take()) == [
        ("w", 2, "REQ_BURST", 1), ("w", 2, "SRC_LO", 0x1001), ("w", 2, "DST_LO", UART_TX),
        ("w", 2, "LEN", 5), ("w", 2, "XFER", flags), ("w", 2, "CTRL", CTRL["START"]),
    ]
    assert h.set_req_burst(2, 0) == EINVAL
    assert h.set_req_burst(4, 1) == ECHANNEL
    h = host(req_ack=False)
    assert h.init() == OK
    assert h.set_req_burst(0, 4) == ENOTBUILT
    h = host(unaligned=False, data_bytes=8)
    assert h.init() == OK
    assert (h.set_req_burst(0, 4), h.set_req_burst(0, 16)) == (EINVAL, OK)


_STREAM_SRC = xfer_flags(src_mode=Mode.STREAM)


@pytest.mark.parametrize("config, ch, xfer, result", [
    (dict(), 4, (0x1000, 0x2000, 4, 0), ECHANNEL),
    (dict(), 0, (0x1000, 0x2000, 0, 0), EINVAL),                         # LEN = 0
    (dict(len_width=16), 0, (0x1000, 0x2000, 1 << 16, 0), EINVAL),       # beyond LEN
    (dict(addr_width=32), 0, (1 << 32, 0x2000, 4, 0), EINVAL),           # beyond 32 bits
    (dict(addr_width=40), 0, (0x1000, 1 << 40, 4, 0), EINVAL),
    (dict(), 0, (0x1000, 0x2000, 4, xfer_flags(src_mode=3)), EINVAL),    # reserved mode
    (dict(), 0, (0x1000, 0x2000, 4, 1 << 8), EINVAL),                    # unknown bit
    (dict(streams=False), 0, (0, 0x2000, 4, _STREAM_SRC), ENOTBUILT),
    (dict(), 0, (0, 0, 4, xfer_flags(src_mode=Mode.STREAM, dst_mode=Mode.STREAM)), EINVAL),
    (dict(data_bytes=8), 0, (0, 0x2000, 12, _STREAM_SRC), EINVAL),      # not whole beats
    (dict(req_ack=False), 0, (0x1000, UART_TX, 4, xfer_flags(dst_mode=1, req=1)), ENOTBUILT),
    (dict(), 0, (0x1000, 0, 4, xfer_flags(dst_mode=Mode.STREAM, req=1)), EINVAL),
    (dict(), 0, (0x1000, UART_TX + 2, 4, xfer_flags(dst_mode=Mode.FIXED)), EINVAL),
    (dict(unaligned=False), 0, (0x1000, 0x2002, 4, 0), EINVAL),
    (dict(unaligned=False), 0, (0x1000, 0x2000, 6, 0), EINVAL),
])
def test_register_mode_refuses_what_the_hardware_would(host, config, ch, xfer, result):
    h = host(**config)
    assert h.init() == OK
    assert h.start(ch, Xfer(*xfer)) == result
    assert h.model.take() == []                 # refused before any access


def test_a_busy_channel_is_not_touched(host):
    h = host()
    assert h.init() == OK
    h.model.status(0, busy=1)
    assert h.copy(0, 0x2000, 0x1000, 64) == EBUSY
    assert h.model.take() == [("r", 0, "STATUS", encode("STATUS", busy=1))]


def test_stop_and_abort_keep_the_mode_bits(host):
    h = host()
    assert h.init() == OK
    h.model.chan[1]["CTRL"] = CTRL["CYCLIC"]
    h.model.chan[2]["CTRL"] = CTRL["SG"]
    assert (h.stop(1), h.abort(2), h.stop(9)) == (OK, OK, ECHANNEL)
    assert writes(h.model.take()) == [("w", 1, "CTRL", CTRL["CYCLIC"] | CTRL["STOP"]),
                                      ("w", 2, "CTRL", CTRL["SG"] | CTRL["ABORT"])]


# --- Status and waiting -------------------------------------------------------------------

def test_wait_idle_polls_until_idle_and_reports(host):
    h = host(addr_width=64)
    assert h.init() == OK
    busy = encode("STATUS", busy=1)
    h.model.scripts[(0, "STATUS")] = [busy] * 3
    h.model.status(0, done=1, eop=1)
    h.model.chan[0].update(BYTES=1000, COMPLETED=1)
    s = Status()
    assert h.wait_idle(0, 10, C.byref(s)) == OK
    log = h.model.take()
    assert [e[2] for e in log if e[0] == "r"] == ["STATUS"] * 5 + \
        ["BYTES", "COMPLETED", "ERR_ADDR_LO", "ERR_ADDR_HI"]
    assert log.index(("barrier",)) == 4         # after the idle STATUS, before the rest
    assert (s.busy, s.done, s.error, s.eop, s.bytes, s.completed) == \
        (False, True, False, True, 1000, 1)

    h.model.scripts[(0, "STATUS")] = [busy] * 5
    assert h.wait_idle(0, 3, None) == ETIMEOUT
    assert [e[2] for e in h.model.take()] == ["STATUS"] * 3      # exactly the poll limit
    assert h.wait_idle(0, 0, None) == ETIMEOUT


@pytest.mark.parametrize("addr_width, err_addr", [(32, 0x8000_0004), (64, 0x3_8000_0004)])
def test_wait_idle_reports_an_error(host, addr_width, err_addr):
    h = host(addr_width=addr_width)
    assert h.init() == OK
    h.model.status(1, error=1, err_code=ERR["WRITE_ERROR"])
    h.model.chan[1].update(ERR_ADDR_LO=err_addr & 0xFFFF_FFFF, ERR_ADDR_HI=err_addr >> 32)
    s = Status()
    assert h.wait_idle(1, 1, C.byref(s)) == EFAILED
    assert (s.error, s.err_code, s.err_addr) == (True, ERR["WRITE_ERROR"], err_addr)
    read = [e[2] for e in h.model.take() if e[0] == "r"]
    assert ("ERR_ADDR_HI" in read) == (addr_width > 32)
    count = C.c_uint32()
    h.model.chan[1]["COMPLETED"] = 0xFFFF_FFFF
    assert h.completed(1, C.byref(count)) == OK and count.value == 0xFFFF_FFFF


# --- Interrupts ---------------------------------------------------------------------------

def test_irq_handler_clears_then_dispatches(host):
    h = host(channels=4, addr_width=64)
    assert h.init() == OK
    calls = []
    ctx = C.c_void_p(0x5A5A)

    def on_complete(dev, ch, events, c):
        calls.append(("complete", dev, ch, events, c))
        h.model.log.append(("complete", ch))

    def on_error(dev, ch, code, addr, c):
        calls.append(("error", dev, ch, code, addr, c))
        h.model.log.append(("error", ch))
    complete, error = COMPLETE(on_complete), ERROR(on_error)
    for ch in (0, 2, 3):
        assert h.set_callbacks(ch, complete, error, ctx) == OK
    assert h.irq_enable(0, EV["DONE"] | EV["CHAIN_END"] | EV["ERROR"]) == OK
    assert h.irq_enable(2, EV["ERROR"]) == OK
    assert h.irq_enable(3, EV["DONE"]) == OK
    assert writes(h.model.take()) == [("w", 0, "IRQ_ENABLE", 7), ("w", 2, "IRQ_ENABLE", 4),
                                      ("w", 3, "IRQ_ENABLE", 1)]
    m = h.model
    m.chan[0]["IRQ_STATUS"] = EV["DONE"] | EV["CHAIN_END"]
    m.chan[1]["IRQ_STATUS"] = EV["DONE"]                  # not enabled: no interrupt
    m.chan[2]["IRQ_STATUS"] = EV["ERROR"] | EV["DONE"]    # DONE not enabled: left pending
    m.status(2, error=1, err_code=ERR["READ_ERROR"])
    m.chan[2].update(ERR_ADDR_LO=0x1234_5678, ERR_ADDR_HI=0x9)

    assert h.irq_handler() == 0b101
    dev = C.addressof(h.dev)
    assert calls == [("complete", dev, 0, EV["DONE"] | EV["CHAIN_END"], 0x5A5A),
                     ("error", dev, 2, ERR["READ_ERROR"], 0x9_1234_5678, 0x5A5A)]
    log = [e for e in m.take() if e[0] in ("w", "complete", "error")]
    # Each channel's events are cleared (write 1 to clear) before its callbacks run.
    assert log == [("w", 0, "IRQ_STATUS", EV["DONE"] | EV["CHAIN_END"]), ("complete", 0),
                   ("w", 2, "IRQ_STATUS", EV["ERROR"]), ("error", 2)]
    assert [c["IRQ_STATUS"] for c in m.chan] == [0, EV["DONE"], EV["DONE"], 0]
    assert not m.irq()
    calls.clear()
    assert h.irq_handler() == 0 and calls == []         # nothing pending: nothing called


def test_irq_settings_are_checked(host):
    h = host()
    assert h.init() == OK
    assert h.irq_enable(0, 8) == EINVAL
    assert h.irq_enable(4, 1) == ECHANNEL
    assert h.irq_coalesce(1, 256, 0) == EINVAL
    assert h.irq_coalesce(1, 0, 1 << 24) == EINVAL
    assert h.model.take() == []
    assert h.irq_coalesce(1, 8, 1000) == OK
    assert writes(h.model.take()) == [
        ("w", 1, "IRQ_COALESCE", encode("IRQ_COALESCE", count=8, timeout=1000))]


# --- Scatter-gather -----------------------------------------------------------------------

class Image:
    """A sparse byte memory for the Python builders (hauler.sim.descriptors)."""

    def __init__(self):
        self.bytes = {}

    def write(self, addr, data):
        for i, b in enumerate(data):
            self.bytes[addr + i] = b

    def read(self, addr, n):
        return bytes(self.bytes.get(addr + i, 0) for i in range(n))


# Three descriptors as the Python builder takes them, with 64-bit addresses where the
# build has them: a copy, a stream receive, a stream send with EOP.
def _chain(addr_width):
    high = (1 << 32) if addr_width > 32 else 0
    return [
        dict(src=high | 0x1000_0001, dst=0x2000_0003, length=100, irq=1),
        dict(src=0, dst=high | 0x3000_0000, length=64, src_mode=Mode.STREAM, irq=1),
        dict(src=0x4000_0000, dst=0, length=33, dst_mode=Mode.STREAM, eop=1),
    ]


def _xfers(chain):
    array = (Xfer * len(chain))()
    for x, d in zip(array, chain):
        ctrl = {k: v for k, v in d.items() if k not in ("src", "dst", "length")}
        x.src, x.dst, x.len, x.flags = d["src"], d["dst"], d["length"], xfer_flags(**ctrl)
    return array


@pytest.mark.parametrize("addr_width", [32, 64])
@pytest.mark.parametrize("ring", [False, True])
def test_descriptors_are_the_python_builders_bytes(host, addr_width, ring):
    keep, base = aligned_buffer(4 * DESCRIPTOR_SIZE, fill=0xEE)
    # The host memory stands for bus addresses at 0x8000, or above 4 GiB on a 64-bit build.
    offset = base - (0x1_0000_8000 if addr_width > 32 else 0x8000)
    h = host(addr_width=addr_width, bus_offset=offset)
    assert h.init() == OK
    chain = _chain(addr_width)
    build = h.ring_build if ring else h.chain_build
    assert build(base, _xfers(chain), len(chain)) == OK

    expect = Image()
    bus = [base - offset + i * DESCRIPTOR_SIZE for i in range(len(chain))]
    software_area = b"\xEE" * (DESCRIPTOR_SIZE - WRITEBACK_OFFSET - 8)    # never touched
    (write_ring if ring else write_chain)(
        expect, bus, [Descriptor(**d, sw=software_area) for d in chain])
    for i, a in enumerate(bus):
        assert mem_read(base + i * DESCRIPTOR_SIZE, DESCRIPTOR_SIZE) == \
            expect.read(a, DESCRIPTOR_SIZE), f"descriptor {i}"
    assert mem_read(base + 3 * DESCRIPTOR_SIZE, DESCRIPTOR_SIZE) == b"\xEE" * DESCRIPTOR_SIZE

    # Each descriptor: its fields, then a barrier, then STATUS = 0 hands it over.
    log = h.model.take()
    for i in range(len(chain)):
        entries = log[i * 11:(i + 1) * 11]
        offsets = [e[1] - base - i * DESCRIPTOR_SIZE for e in entries if e[0] == "mw"]
        assert offsets == list(range(0, 0x20, 4)) + [0x24, 0x20]
        assert entries[9] == ("barrier",)

    # Started: DESC (and DESC_HI), a barrier, then SG with START in one CTRL write.
    assert h.start_chain(2, base) == OK
    desc_writes = [("w", 2, "DESC_LO", bus[0] & 0xFFFF_FFFF)]
    if addr_width > 32:
        desc_writes.append(("w", 2, "DESC_HI", bus[0] >> 32))
    assert h.model.take() == [("r", 2, "STATUS", 0), *desc_writes, ("barrier",),
                              ("w", 2, "CTRL", CTRL["SG"] | CTRL["START"])]
    assert keep


def test_chain_refusals(host):
    keep, base = aligned_buffer(2 * DESCRIPTOR_SIZE)
    h = host(addr_width=32, bus_offset=base - (1 << 32))     # descriptors at 4 GiB
    assert h.init() == OK
    one = _xfers([dict(src=0x1000, dst=0x2000, length=4)] * 2)
    assert h.chain_build(base, one, 2) == EINVAL             # NEXT does not fit
    assert h.start_chain(0, base) == EINVAL
    assert h.chain_build(base, one, 0) == EINVAL
    h = host(addr_width=64)
    assert h.init() == OK
    assert h.start_chain(0, base + 32) == EINVAL              # not 64-byte aligned
    assert h.desc_fill(base, one, base + 32) == EINVAL
    h.model.take()
    h.model.status(0, busy=1)
    assert h.start_chain(0, base) == EBUSY
    assert writes(h.model.take()) == []
    h = host(sg=False, addr_width=64)
    assert h.init() == OK
    assert h.start_chain(0, base) == ENOTBUILT
    assert keep


@pytest.mark.parametrize("status", [
    DescriptorStatus(done=True, eop=True, bytes=77),
    DescriptorStatus(done=True, bytes=64),
    DescriptorStatus(done=True, error=True, err_code="DESC_WRITE_ERROR", bytes=12),
    DescriptorStatus(),
])
def test_descriptor_results_and_rearm(host, status):
    keep, base = aligned_buffer(DESCRIPTOR_SIZE)
    h = host(addr_width=64)
    assert h.init() == OK
    assert h.desc_fill(base, _xfers([dict(src=0, dst=0x8000, length=64,
                                          src_mode=Mode.STREAM, irq=1)]), None) == OK
    mem_write(base + WRITEBACK_OFFSET, status.to_bytes())     # as the hardware writes back
    r = DescResult()
    h.lib.hauler_desc_result(base, C.byref(r))
    assert (r.done, r.error, r.eop, r.err_code, r.bytes) == \
        (status.done, status.error, status.eop, ERR[status.err_code], status.bytes)

    expect = Image()
    expect.write(base, mem_read(base, DESCRIPTOR_SIZE))
    rearm(expect, base)
    h.model.take()
    h.lib.hauler_desc_rearm(base)
    assert mem_read(base, DESCRIPTOR_SIZE) == expect.read(base, DESCRIPTOR_SIZE)
    # The CPU is done with the buffer (barrier) before STATUS = 0 hands it back.
    assert h.model.take() == [("barrier",), ("mw", base + 0x24, 0), ("mw", base + 0x20, 0)]
    assert keep


# --- The examples, against a behavioural model of the controller --------------------------

class Dma(Controller):
    """Enough of the controller's behaviour for the examples, on host memory: register-mode
    and scatter-gather transfers between memory, a req/ack UART's data register (FIXED) and
    the streams (channel ``tx``'s output looped back into channel ``rx``'s input, packets
    whole), with DONE / CHAIN_END / ERROR interrupts, COMPLETED, BYTES, write-backs, ABORT
    and NOT_OWNED. A started run makes progress on each platform step and after each read
    of its STATUS; timing is not modelled (the RV32 SoC runs them for real)."""

    def __init__(self, *, loopback=(1, 0), **config):
        super().__init__(**config)
        self.tx, self.rx = loopback
        self.packets = []           # on the loopback, whole packets
        self.uart = bytearray()
        self.runs, self.aborting, self.steps, self.starts = {}, set(), 0, []

    def _addr(self, ch, lo):
        c = self.chan[ch]
        hi = lo.replace("LO", "HI")
        return c[lo] | (c[hi] << 32 if self.addr_width > 32 else 0)

    def action(self, ch, value):
        c = self.chan[ch]
        busy = decode("STATUS", c["STATUS"])["BUSY"]
        if value & CTRL["START"] and not busy:
            self.status(ch, busy=1)
            c.update(BYTES=0, COMPLETED=0, ERR_ADDR_LO=0, ERR_ADDR_HI=0)
            sg = bool(value & CTRL["SG"])
            self.starts.append((ch, "chain" if sg else "register"))
            self.runs[ch] = self._chain(ch) if sg else self._register(ch)
        if value & CTRL["ABORT"] and busy:
            self.aborting.add(ch)
        assert not value & CTRL["STOP"], "STOP is not modelled"

    def after_read(self, ch, name):
        if name == "STATUS" and ch in self.runs:
            self._advance(ch)

    def _advance(self, ch):
        try:
            next(self.runs[ch])
        except StopIteration:
            del self.runs[ch]

    def step(self):
        self.steps += 1
        if not self.runs and not self.irq() or self.steps > 10_000:
            raise AssertionError("the program waits for what cannot happen")
        for ch in list(self.runs):
            self._advance(ch)
        return int(self.irq())

    def _raise(self, ch, *events):
        self.chan[ch]["IRQ_STATUS"] |= sum(EV[e] for e in events)

    def _halt(self, ch, code, addr=0):
        self.aborting.discard(ch)
        self.status(ch, error=1, err_code=ERR[code])
        self.chan[ch].update(ERR_ADDR_LO=addr & 0xFFFF_FFFF, ERR_ADDR_HI=addr >> 32)
        self._raise(ch, "ERROR")

    def _move(self, ch, src, dst, length, ctrl):
        """Move one transfer (a generator: yields while it waits for stream data); returns
        (bytes, eop), or None when it halted."""
        host = self.bus_offset
        if ctrl["src_mode"] == Mode.STREAM:
            while not self.packets or ch != self.rx:
                if ch in self.aborting:
                    self._halt(ch, "ABORTED")
                    return None
                yield
            packet = self.packets[0]
            data = bytes(packet[:length])
            del packet[:length]
            eop = not packet
            if eop:
                self.packets.pop(0)
        else:
            assert ctrl["src_mode"] == Mode.INCR, "only INCR and STREAM sources are modelled"
            data, eop = mem_read(src + host, length), False
        if ctrl["dst_mode"] == Mode.INCR:
            mem_write(dst + host, data)
        elif ctrl["dst_mode"] == Mode.FIXED:
            assert dst == UART_TX, f"FIXED destination {dst:#x} is not the UART"
            assert ctrl["req"] and self.chan[ch]["REQ_BURST"] == 1, \
                "the UART takes one byte per request: REQ with REQ_BURST = 1"
            self.uart += data
        else:
            assert ch == self.tx and ctrl["eop"], "the loopback carries whole packets"
            self.packets.append(bytearray(data))
        return len(data), eop

    def _register(self, ch):
        c = self.chan[ch]
        yield
        ctrl = {k.lower(): v for k, v in decode("XFER", c["XFER"]).items()}
        moved = yield from self._move(ch, self._addr(ch, "SRC_LO"), self._addr(ch, "DST_LO"),
                                      c["LEN"], ctrl)
        if moved is not None:
            c["BYTES"], c["COMPLETED"] = moved[0], 1
            self.status(ch, done=1, eop=int(moved[1]))
            self._raise(ch, "DONE", "CHAIN_END")

    def _chain(self, ch):
        c = self.chan[ch]
        addr = self._addr(ch, "DESC_LO")
        yield
        while True:
            d = Descriptor.from_bytes(mem_read(addr + self.bus_offset, DESCRIPTOR_SIZE))
            if d.status.done:
                self._halt(ch, "NOT_OWNED", addr)
                return
            moved = yield from self._move(ch, d.src, d.dst, d.length, d.ctrl)
            if moved is None:
                return
            mem_write(addr + self.bus_offset + WRITEBACK_OFFSET,
                      DescriptorStatus(done=True, eop=moved[1], bytes=moved[0]).to_bytes())
            c["BYTES"], c["COMPLETED"] = moved[0], c["COMPLETED"] + 1
            if d.ctrl["irq"]:
                self._raise(ch, "DONE")
            if d.ctrl["last"]:
                self.status(ch, done=1, eop=int(moved[1]))
                self._raise(ch, "CHAIN_END")
                return
            addr = d.next
            yield


@pytest.fixture(scope="module")
def example_libs(tmp_path_factory):
    """Each example natively, with the driver and the host platform: paths to load."""
    out = tmp_path_factory.mktemp("examples")
    driver = [FIRMWARE / "hauler.c", FIRMWARE / "host" / "host.c"]
    return {name: _compile(out / f"{name}.so", [FIRMWARE / "examples" / f"{name}.c", *driver])
            for name in EXAMPLES}


def _run_example(path, tmp_path, model):
    """Run an example's main() against ``model``; returns its exit code and its reports."""
    # A copy of its own: the program starts from fresh static data (dlopen of a path
    # already loaded would return the loaded one).
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    lib = _load(copy)
    reports = []
    model.bind(lib)
    report = REPORT(model._guard(lambda what, value: reports.append((what.decode(), value))))
    step = STEP(model._guard(model.step, -1))
    C.c_void_p.in_dll(lib, "hauler_host_report").value = C.cast(report, C.c_void_p).value
    C.c_void_p.in_dll(lib, "hauler_host_step").value = C.cast(step, C.c_void_p).value
    lib.main.restype = C.c_int
    code = lib.main()
    model.check()
    return code, reports


@pytest.mark.parametrize("unaligned", [True, False])
def test_example_memcpy_irq(example_libs, tmp_path, unaligned):
    model = Dma(channels=1, addr_width=64, unaligned=unaligned)
    code, reports = _run_example(example_libs["memcpy_irq"], tmp_path, model)
    # Two rounds (the CPU SoC times the second with its instruction cache warm).
    assert (code, reports) == (0, [("bytes copied", 1000)] * 2), reports
    assert model.starts == [(0, "register")] * 2
    c = model.chan[0]
    assert (c["SRC_LO"] % 4, c["DST_LO"] % 4) == ((1, 3) if unaligned else (0, 0))
    # The interrupt was served: CHAIN_END enabled and cleared.
    assert (c["IRQ_ENABLE"], c["IRQ_STATUS"]) == (EV["CHAIN_END"] | EV["ERROR"], EV["DONE"])


def test_example_rx_ring(example_libs, tmp_path):
    model = Dma(channels=3, addr_width=64, loopback=(1, 0))
    code, reports = _run_example(example_libs["rx_ring"], tmp_path, model)
    # 9 packets of 1 to 256 bytes in 64-byte slots: 17 descriptors, twice round the ring
    # of 8 (so re-arming works: a descriptor still DONE would have halted it, NOT_OWNED).
    assert code == 0, reports
    assert reports == [("packets received", 9), ("descriptors used", 17)]
    assert model.starts == [(0, "chain")] + [(1, "register")] * 9
    assert decode("STATUS", model.chan[0]["STATUS"])["ERR_CODE"] == ERR["ABORTED"]
    assert model.packets == []


def test_example_uart_tx(example_libs, tmp_path):
    model = Dma(channels=3, addr_width=64)
    code, reports = _run_example(example_libs["uart_tx"], tmp_path, model)
    source = (FIRMWARE / "examples" / "uart_tx.c").read_text()
    message = re.search(r'message\[\] = "(.*)";', source)[1].encode().decode("unicode_escape")
    assert (code, reports) == (0, [("bytes sent", len(message))]), reports
    assert model.uart.decode() == message
    assert model.chan[2]["REQ_BURST"] == 1 and model.starts == [(2, "register")]


def test_example_reports_a_missing_controller(example_libs, tmp_path):
    model = Dma(channels=1, ident=0)
    code, reports = _run_example(example_libs["memcpy_irq"], tmp_path, model)
    assert (code, reports) == (1, [("hauler_init failed", EBADID & 0xFFFF_FFFF)])


# --- The RV32 build -----------------------------------------------------------------------

def test_examples_cross_compile_for_rv32i(tmp_path):
    if shutil.which(CROSS_CC) is None:
        if os.environ.get("HAULER_NO_RISCV") == "1":
            pytest.skip(f"{CROSS_CC} not installed and HAULER_NO_RISCV=1")
        pytest.fail(f"{CROSS_CC} not found: install Debian's gcc-riscv64-unknown-elf (the "
                    f"bootstrap does), or set HAULER_NO_RISCV=1 to skip the RV32 build")
    result = subprocess.run(["make", "-C", str(FIRMWARE), f"BUILD={tmp_path}"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    sizes = {Path(m[4]).stem: tuple(map(int, m.groups()[:3])) for m in re.finditer(
        r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+[0-9a-f]+\s+(\S+\.elf)$", result.stdout, re.M)}
    assert set(sizes) == set(EXAMPLES), result.stdout
    for name in EXAMPLES:
        elf = (tmp_path / f"{name}.elf").read_bytes()
        assert elf[:5] == b"\x7fELF\x01", f"{name}: not a 32-bit ELF"
        machine = int.from_bytes(elf[18:20], "little")
        entry = int.from_bytes(elf[24:28], "little")
        flags = int.from_bytes(elf[36:40], "little")
        # RISC-V, starting at the RAM base, no compressed instructions, soft-float ABI.
        assert (machine, entry, flags) == (243, 0, 0), (name, machine, entry, flags)
        text, data, bss = sizes[name]
        assert 0 < text and text + data + bss < 64 * 1024, (name, sizes[name])
