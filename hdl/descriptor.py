"""The scatter-gather descriptor of ABI §3, declared once.

:class:`Descriptor` is the layout the hardware fetches (bytes 0x00-0x27) and
:class:`Writeback` the 8 bytes it writes back at 0x20. Everything else is derived from them:
:data:`DESCRIPTOR_FIELDS`, the table the generators (``hauler regs``) print, and the
Python descriptor builder of the testbenches (:mod:`hauler.sim.descriptors`), which encodes
and decodes through these layouts.

CTRL has the fields of the register-mode XFER register (:data:`hauler.registers.XFER_FIELDS`)
by construction, so the two cannot disagree.
"""

from dataclasses import dataclass

from amaranth.hdl import Shape, unsigned
from amaranth.lib import data

from .registers import XFER_FIELDS, ErrorCode, Field


__all__ = ["fields_layout", "STATUS_FIELDS", "DescriptorCtrl", "DescriptorStatus",
           "Descriptor", "Writeback", "DescriptorField", "DESCRIPTOR_FIELDS",
           "DESCRIPTOR_SIZE", "DESCRIPTOR_READ_BYTES", "WRITEBACK_OFFSET", "WRITEBACK_BYTES"]


#: A descriptor is a 64-byte-aligned block of this many bytes.
DESCRIPTOR_SIZE = 64

#: Descriptor STATUS, written by hardware. The access kind is software's view.
STATUS_FIELDS = (
    Field("ERR_CODE", 24, 4, "R", "Error code (see ERROR_CODES)"),
    Field("EOP", 29, 1, "R", "A stream source ended this descriptor with tlast"),
    Field("ERROR", 30, 1, "R", "The descriptor ended with an error"),
    Field("DONE", 31, 1, "R", "The descriptor completed (software zeroes it before handing "
                              "the descriptor over; fetched with it set: NOT_OWNED)"),
)


def fields_layout(fields, shapes=None):
    """A 32-bit layout with the register fields ``fields`` at their bit positions.

    Parameters
    ----------
    fields : tuple of :class:`~hauler.registers.Field`
    shapes : dict of str to shape-castable, optional
        Shapes replacing ``unsigned(width)`` for the named fields (an enumeration, say);
        each must be as wide as its field.

    Returns
    -------
    :class:`amaranth.lib.data.FlexibleLayout`
        Members named after the fields in lower case; bits outside them are reserved.
    """
    shapes = shapes or {}
    members = {}
    for f in fields:
        shape = shapes.get(f.name, unsigned(f.width))
        assert Shape.cast(shape).width == f.width, (f, shape)
        members[f.name.lower()] = data.Field(shape, f.lsb)
    return data.FlexibleLayout(32, members)


#: Descriptor CTRL: the XFER register's fields.
DescriptorCtrl = fields_layout(XFER_FIELDS)
#: Descriptor STATUS, with ERR_CODE as an :class:`~hauler.registers.ErrorCode`.
DescriptorStatus = fields_layout(STATUS_FIELDS, {"ERR_CODE": ErrorCode})


class Descriptor(data.Struct):
    """Bytes 0x00-0x27 of a descriptor, as hardware fetches them (little endian).

    Members
    -------
    next : unsigned(64)
        Address of the next descriptor (NEXT_HI:NEXT_LO).
    src, dst : unsigned(64)
        Source and destination addresses.
    len : unsigned(32)
        Bytes to move.
    ctrl : DescriptorCtrl
    status : DescriptorStatus
    bytes : unsigned(32)
        Bytes actually moved.
    """
    next: unsigned(64)
    src: unsigned(64)
    dst: unsigned(64)
    len: unsigned(32)
    ctrl: DescriptorCtrl
    status: DescriptorStatus
    bytes: unsigned(32)


class Writeback(data.Struct):
    """The 8 bytes hardware writes back at :data:`WRITEBACK_OFFSET` when a descriptor ends.

    Members
    -------
    status : DescriptorStatus
    bytes : unsigned(32)
    """
    status: DescriptorStatus
    bytes: unsigned(32)


_LAYOUT = data.Layout.cast(Descriptor)

#: Hardware reads bytes 0 to DESCRIPTOR_READ_BYTES - 1; the rest belongs to software.
DESCRIPTOR_READ_BYTES = _LAYOUT.size // 8
#: Hardware writes only :class:`Writeback`, at this offset.
WRITEBACK_OFFSET = _LAYOUT["status"].offset // 8
WRITEBACK_BYTES = data.Layout.cast(Writeback).size // 8


@dataclass(frozen=True)
class DescriptorField:
    """One field of the descriptor, as the generated headers and docs print it.

    Parameters
    ----------
    name : str
        The ABI name (upper case); 64-bit fields are the ABI's ``_LO`` / ``_HI`` pair.
    offset : int
        Byte offset in the descriptor.
    width : int
        Bits: 32, 64, or a multiple of 32 for the software area.
    written_by : str
        ``"software"`` or ``"hardware"``.
    doc : str
    fields : tuple of :class:`~hauler.registers.Field`
        Bit fields of a 32-bit word, or empty for a plain value.
    """
    name: str
    offset: int
    width: int
    written_by: str
    doc: str
    fields: tuple = ()


# What the layout does not say about its members: who writes them, what they mean.
_ABOUT = {
    "next": ("software", "Address of the next descriptor, 64-byte aligned (ignored when "
                         "CTRL.LAST)", ()),
    "src": ("software", "Source address", ()),
    "dst": ("software", "Destination address", ()),
    "len": ("software", "Bytes to move (for a stream source: the maximum)", ()),
    "ctrl": ("software", "Flags, the layout of the XFER register", XFER_FIELDS),
    "status": ("hardware", "Completion status", STATUS_FIELDS),
    "bytes": ("hardware", "Bytes actually moved", ()),
}
assert list(_ABOUT) == [name for name, _ in _LAYOUT]

#: The whole 64-byte descriptor in offset order: the fetched fields, then the software area.
DESCRIPTOR_FIELDS = tuple(
    DescriptorField(name.upper(), field.offset // 8, field.width, *_ABOUT[name])
    for name, field in _LAYOUT
) + (
    DescriptorField("SW", DESCRIPTOR_READ_BYTES, (DESCRIPTOR_SIZE - DESCRIPTOR_READ_BYTES) * 8,
                    "software", "Software's own (cookies, bookkeeping): never read or written "
                                "by hardware"),
)



def _check():
    # The write-back must be exactly the tail of what is fetched, member for member.
    assert WRITEBACK_OFFSET + WRITEBACK_BYTES == DESCRIPTOR_READ_BYTES
    for name, field in data.Layout.cast(Writeback):
        assert _LAYOUT[name].shape == field.shape
        assert _LAYOUT[name].offset == WRITEBACK_OFFSET * 8 + field.offset
    # The table tiles the 64 bytes in 32-bit words; bit fields only in 32-bit words.
    offset = 0
    for f in DESCRIPTOR_FIELDS:
        assert f.offset == offset and f.width % 32 == 0, f
        assert not f.fields or f.width == 32, f
        offset += f.width // 8
    assert offset == DESCRIPTOR_SIZE


_check()
