"""The scatter-gather descriptor: its one layout, what is generated from it, the Python
builders and the reference model of a chain."""

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from amaranth.hdl import Signal
from amaranth.lib import data

from hauler import descriptor as desc
from hauler.regmap import render
from hauler.registers import CHANNEL_REGISTERS, ErrorCode
from hauler.sim.descriptors import (CTRL_FIELDS, Descriptor, DescriptorStatus, read_descriptor,
                                    read_status, rearm, write_chain, write_ring)
from hauler.sim.driver import Driver, Mode, encode
from hauler.sim.model import apply_chain


REPO = Path(__file__).resolve().parent.parent
XFER = next(r for r in CHANNEL_REGISTERS if r.name == "XFER")


class DictMemory:
    """A sparse byte memory: what the builders need and nothing more."""

    def __init__(self):
        self.cells = {}

    def write(self, addr, data):
        for i, byte in enumerate(data):
            self.cells[addr + i] = byte

    def read(self, addr, n):
        return bytes(self.cells.get(addr + i, 0) for i in range(n))


class ByteMemory(bytearray):
    """A bytearray, as the model takes it, that the builders can also write."""

    def write(self, addr, data):
        self[addr:addr + len(data)] = data

    def read(self, addr, n):
        return bytes(self[addr:addr + n])


def _offsets(shape):
    return {name: (field.offset // 8, field.width) for name, field in data.Layout.cast(shape)}


# --- the layout ------------------------------------------------------------------------------

def test_struct_offsets_match_the_abi_table():
    assert _offsets(desc.Descriptor) == {
        "next": (0x00, 64), "src": (0x08, 64), "dst": (0x10, 64), "len": (0x18, 32),
        "ctrl": (0x1C, 32), "status": (0x20, 32), "bytes": (0x24, 32),
    }
    assert data.Layout.cast(desc.Descriptor).size == 0x28 * 8
    assert _offsets(desc.Writeback) == {"status": (0, 32), "bytes": (4, 32)}
    assert (desc.DESCRIPTOR_SIZE, desc.DESCRIPTOR_READ_BYTES, desc.WRITEBACK_OFFSET,
            desc.WRITEBACK_BYTES) == (64, 0x28, 0x20, 8)


def test_status_fields_match_the_abi():
    layout = data.Layout.cast(desc.DescriptorStatus)
    assert {name: (f.offset, f.width) for name, f in layout} == {
        "done": (31, 1), "error": (30, 1), "eop": (29, 1), "err_code": (24, 4)}
    assert layout["err_code"].shape is ErrorCode


def test_ctrl_fields_are_the_xfer_register_fields():
    assert [(name, f.offset, f.width) for name, f in desc.DescriptorCtrl] == \
        [(f.name.lower(), f.lsb, f.width) for f in XFER.fields]
    ctrl = next(f for f in desc.DESCRIPTOR_FIELDS if f.name == "CTRL")
    assert ctrl.fields is XFER.fields
    assert CTRL_FIELDS == ("last", "irq", "src_mode", "dst_mode", "eop", "req")


def test_table_follows_the_struct_and_covers_64_bytes():
    table = [(f.name, f.offset, f.width, f.written_by) for f in desc.DESCRIPTOR_FIELDS]
    assert table == [
        ("NEXT", 0x00, 64, "software"), ("SRC", 0x08, 64, "software"),
        ("DST", 0x10, 64, "software"), ("LEN", 0x18, 32, "software"),
        ("CTRL", 0x1C, 32, "software"), ("STATUS", 0x20, 32, "hardware"),
        ("BYTES", 0x24, 32, "hardware"), ("SW", 0x28, 192, "software"),
    ]


def test_struct_views_for_the_hardware():
    fetched = Signal(desc.Descriptor)
    assert len(fetched.as_value()) == 320
    assert len(fetched.ctrl.src_mode) == 2
    assert fetched.status.err_code.shape() is ErrorCode
    assert len(Signal(desc.Writeback).as_value()) == 64


# --- the builders ----------------------------------------------------------------------------

def test_to_bytes_places_fields_at_their_abi_offsets():
    d = Descriptor(0x1122_3344_5566_7788, 0x2000, 0x300, next=0xAB_C0, irq=1,
                   src_mode=Mode.FIXED, req=1, sw=b"cookie",
                   status=DescriptorStatus(done=True, err_code="NOT_OWNED", bytes=7))
    raw = d.to_bytes()
    word = lambda off, n=4: int.from_bytes(raw[off:off + n], "little")
    assert len(raw) == 64
    assert word(0x00, 8) == 0xAB_C0 and word(0x08, 8) == 0x1122_3344_5566_7788
    assert word(0x10, 8) == 0x2000 and word(0x18) == 0x300
    assert word(0x1C) == encode("XFER", irq=1, src_mode=Mode.FIXED, req=1)
    assert word(0x20) == 1 << 31 | ErrorCode.NOT_OWNED.value << 24 and word(0x24) == 7
    assert raw[0x28:] == b"cookie".ljust(24, b"\0")


def test_to_bytes_and_from_bytes_round_trip():
    d = Descriptor(0x40, 0x80, 16, next=0x1000, last=1, dst_mode=Mode.FIXED, eop=1,
                   sw=bytes(range(24)),
                   status=DescriptorStatus(done=True, error=True, eop=True,
                                           err_code="WRITE_ERROR", bytes=12))
    assert Descriptor.from_bytes(d.to_bytes()) == d
    status = DescriptorStatus(done=True, bytes=0xFFFF_FFFF)
    assert DescriptorStatus.from_bytes(status.to_bytes()) == status


def test_bad_values_are_refused_where_they_are_given():
    with pytest.raises(ValueError, match=r"Descriptor.len is 32 bits wide; 4294967296 does not"):
        Descriptor(0, 0, 1 << 32)
    with pytest.raises(ValueError, match=r"CTRL.src_mode is 2 bits wide; 4 does not fit"):
        Descriptor(0, 0, 4, src_mode=4)
    with pytest.raises(TypeError, match=r"'stream' is not a CTRL flag; the flags are last, irq"):
        Descriptor(0, 0, 4, stream=1)
    with pytest.raises(ValueError, match=r"the software area is 24 bytes, not 25"):
        Descriptor(0, 0, 4, sw=bytes(25))
    with pytest.raises(ValueError, match=r"a descriptor is 64 bytes, not 40"):
        Descriptor.from_bytes(bytes(40))


def test_chain_links_each_to_the_next_and_ends_with_last():
    memory = DictMemory()
    addresses = [0x1000, 0x0040, 0x2FC0]
    given = [Descriptor(0x100 * i, 0x8000 + 0x100 * i, 64, irq=1, last=1) for i in range(3)]
    written = write_chain(memory, addresses, given)
    read = [read_descriptor(memory, a) for a in addresses]
    assert read == written
    assert [d.next for d in read] == [0x0040, 0x2FC0, 0]
    assert [d.ctrl["last"] for d in read] == [0, 0, 1]
    assert all(d.ctrl["irq"] for d in read) and [d.src for d in read] == [0, 0x100, 0x200]


def test_ring_links_the_last_back_to_the_first_without_last():
    memory = DictMemory()
    addresses = [0x400, 0x440, 0x480, 0x4C0]
    write_ring(memory, addresses, [Descriptor(0, 0x100 * i, 32) for i in range(4)])
    read = [read_descriptor(memory, a) for a in addresses]
    assert [d.next for d in read] == [0x440, 0x480, 0x4C0, 0x400]
    assert not any(d.ctrl["last"] for d in read)


def test_chain_addresses_are_checked():
    with pytest.raises(ValueError, match=r"descriptor address 0x1020 is not 64-byte aligned"):
        write_chain(DictMemory(), [0x1000, 0x1020], [Descriptor(0, 0, 4)] * 2)
    with pytest.raises(ValueError, match=r"need one address per descriptor and at least one"):
        write_ring(DictMemory(), [0x1000], [])


def test_rearm_zeroes_status_and_bytes_only():
    memory = DictMemory()
    d = Descriptor(0x10, 0x20, 8, last=1, sw=b"mine",
                   status=DescriptorStatus(done=True, eop=True, bytes=8))
    memory.write(0x80, d.to_bytes())
    assert read_status(memory, 0x80) == DescriptorStatus(done=True, eop=True, bytes=8)
    rearm(memory, 0x80)
    assert read_status(memory, 0x80) == DescriptorStatus()
    assert read_descriptor(memory, 0x80) == d.replace(status=DescriptorStatus())


def test_start_chain_writes_desc_then_sg_and_start_at_once():
    writes = []

    class Csr:
        async def write(self, addr, value, strb=0xF):
            writes.append((addr, value))

    asyncio.run(Driver(Csr(), clock=None).start_chain(2, 0x1_2345_6780))
    assert writes == [(Driver.address("DESC_LO", 2), 0x2345_6780),
                      (Driver.address("DESC_HI", 2), 1),
                      (Driver.address("CTRL", 2), encode("CTRL", start=1, sg=1))]


# --- the reference model ---------------------------------------------------------------------

BEAT = 4


def _memory_with_data():
    memory = ByteMemory(0x4000)
    memory[0x1000:0x1400] = bytes((i * 7 + 3) & 0xFF for i in range(0x400))
    return memory


def test_model_runs_a_chain_and_writes_status_back():
    memory = _memory_with_data()
    addresses = [0x200, 0x0C0, 0x340]
    write_chain(memory, addresses, [
        Descriptor(0x1000, 0x2000, 0x40, sw=b"first"),
        Descriptor(0x1100, 0x2100, 0x20, dst_mode=Mode.FIXED),     # keeps the last beat
        Descriptor(0x1200, 0x2200, 0x10, src_mode=Mode.FIXED),     # repeats the first beat
    ])
    # Not in the chain: a run must never reach it.
    memory.write(0x380, Descriptor(0x1300, 0x2300, 0x10).to_bytes())
    expected = bytearray(memory)

    outcome = apply_chain(memory, 0x200, beat_bytes=BEAT)

    assert outcome.completed == tuple(addresses) and outcome.end == "LAST"
    assert outcome.stopped_at is None
    expected[0x2000:0x2040] = expected[0x1000:0x1040]
    expected[0x2100:0x2104] = expected[0x111C:0x1120]
    expected[0x2200:0x2210] = expected[0x1200:0x1204] * 4
    for addr, length in zip(addresses, (0x40, 0x20, 0x10)):
        expected[addr + 0x20:addr + 0x28] = \
            (1 << 31).to_bytes(4, "little") + length.to_bytes(4, "little")
    assert memory == expected
    assert read_descriptor(memory, 0x200).sw.startswith(b"first")


def test_model_stops_at_a_descriptor_it_does_not_own():
    memory = _memory_with_data()
    addresses = [0x000, 0x040, 0x080]
    write_chain(memory, addresses, [Descriptor(0x1000 + 0x40 * i, 0x2000 + 0x40 * i, 0x40)
                                    for i in range(3)])
    memory.write(0x040 + 0x20, DescriptorStatus(done=True, bytes=0x40).to_bytes())
    expected = bytearray(memory)

    outcome = apply_chain(memory, 0x000, beat_bytes=BEAT)

    assert outcome.completed == (0x000,) and outcome.end == "NOT_OWNED"
    assert outcome.stopped_at == 0x040
    expected[0x2000:0x2040] = expected[0x1000:0x1040]
    expected[0x020:0x028] = DescriptorStatus(done=True, bytes=0x40).to_bytes()
    assert memory == expected        # the second and third are as they were, no data moved


def test_model_runs_a_ring_round_once_then_after_rearming():
    memory = _memory_with_data()
    addresses = [0x100, 0x140, 0x180]
    write_ring(memory, addresses, [Descriptor(0x1000 + 0x20 * i, 0x3000 + 0x20 * i, 0x20)
                                   for i in range(3)])

    outcome = apply_chain(memory, 0x100, beat_bytes=BEAT)
    assert outcome.completed == tuple(addresses)
    assert (outcome.end, outcome.stopped_at) == ("NOT_OWNED", 0x100)   # back at the first
    assert memory[0x3000:0x3060] == memory[0x1000:0x1060]
    assert all(read_status(memory, a) == DescriptorStatus(done=True, bytes=0x20)
               for a in addresses)

    # A receive driver hands the first two back; the ring goes round as far as that.
    for addr in addresses[:2]:
        rearm(memory, addr)
    outcome = apply_chain(memory, 0x100, beat_bytes=BEAT)
    assert outcome.completed == tuple(addresses[:2])
    assert (outcome.end, outcome.stopped_at) == ("NOT_OWNED", 0x180)

    # All handed back, stopped after two (as STOP would, written during the second).
    for addr in addresses:
        rearm(memory, addr)
    outcome = apply_chain(memory, 0x140, beat_bytes=BEAT, limit=2)
    assert (outcome.completed, outcome.end, outcome.stopped_at) == \
        ((0x140, 0x180), "LIMIT", 0x100)


def test_model_refuses_what_it_does_not_model():
    memory = ByteMemory(0x1000)
    memory.write(0, Descriptor(0x100, 0x200, 16, last=1, src_mode=Mode.STREAM).to_bytes())
    with pytest.raises(ValueError, match=r"descriptor 0x0: streams are not modelled"):
        apply_chain(memory, 0, beat_bytes=BEAT)
    memory.write(0, Descriptor(0x100, 0x200, 0, last=1).to_bytes())
    with pytest.raises(ValueError, match=r"descriptor 0x0 is a BAD_DESCRIPTOR"):
        apply_chain(memory, 0, beat_bytes=BEAT)


# --- generated register map ------------------------------------------------------------------

def test_json_describes_the_descriptor():
    d = json.loads(render("json"))["descriptor"]
    assert (d["size"], d["read_bytes"], d["writeback_offset"], d["writeback_bytes"]) == \
        (64, 0x28, 0x20, 8)
    fields = {f["name"]: f for f in d["fields"]}
    assert [(f["name"], f["offset"], f["width"]) for f in d["fields"]] == \
        [(f.name, f.offset, f.width) for f in desc.DESCRIPTOR_FIELDS]
    assert fields["STATUS"]["written_by"] == "hardware"
    assert {b["name"]: (b["lsb"], b["width"]) for b in fields["STATUS"]["fields"]} == \
        {"DONE": (31, 1), "ERROR": (30, 1), "EOP": (29, 1), "ERR_CODE": (24, 4)}
    assert [b["name"] for b in fields["CTRL"]["fields"]] == [f.name for f in XFER.fields]


def test_c_header_names_the_descriptor_like_the_registers():
    c = render("c")
    for line in ("#define HAULER_DESC_SIZE 64u", "#define HAULER_DESC_LEN 0x18u",
                 "#define HAULER_DESC_NEXT_HI 0x04u", "#define HAULER_DESC_SW 0x28u",
                 "#define HAULER_DESC_CTRL_DST_MODE_MASK 0x00000030u",
                 "#define HAULER_DESC_STATUS_DONE_SHIFT 31u",
                 "#define HAULER_DESC_STATUS_ERR_CODE_MASK 0x0F000000u",
                 "    uint32_t sw[6];"):
        assert line + "\n" in c or line + " " in c, line
    # CTRL and XFER print the same bits.
    for f in XFER.fields:
        assert f"#define HAULER_DESC_CTRL_{f.name}_MASK 0x{f.mask:08X}u" in c
        assert f"#define HAULER_CH_XFER_{f.name}_MASK 0x{f.mask:08X}u" in c
    assert render("c") == c


def _gcc_syntax_check(tmp_path, header):
    (tmp_path / "hauler_regs.h").write_text(header)
    (tmp_path / "use.c").write_text(
        '#include "hauler_regs.h"\n'
        "unsigned done(const volatile struct hauler_desc *d)\n"
        "{ return (d->status & HAULER_DESC_STATUS_DONE_MASK) != 0u; }\n")
    return subprocess.run(["gcc", "-std=c99", "-pedantic", "-Wall", "-Werror", "-fsyntax-only",
                           str(tmp_path / "use.c")], capture_output=True, text=True)


def test_c_header_compiles_and_its_asserts_hold(tmp_path):
    """The generated header compiles as pedantic C99 and its static checks bite (gcc comes
    with ./bootstrap)."""
    result = _gcc_syntax_check(tmp_path, render("c"))
    assert result.returncode == 0, result.stderr
    # The asserts bite: a header whose offsets disagreed with its struct would not compile.
    wrong = render("c").replace("#define HAULER_DESC_LEN 0x18u", "#define HAULER_DESC_LEN 0x1Cu")
    result = _gcc_syntax_check(tmp_path, wrong)
    assert result.returncode != 0 and "len at HAULER_DESC_LEN" in result.stderr


def test_markdown_has_the_descriptor_and_the_committed_doc_is_current():
    md = render("md")
    assert "## Scatter-gather descriptor" in md
    assert "| 0x00 / 0x04 | NEXT_LO / NEXT_HI | software |" in md
    assert "| 0x20 | STATUS | hardware |" in md and "| 0x28–0x3F | SW | software |" in md
    assert (REPO / "docs" / "registers.md").read_text() == md, \
        "docs/registers.md is stale: run `hauler regs --format md -o docs/registers.md`"
