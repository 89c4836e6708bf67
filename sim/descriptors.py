"""Scatter-gather descriptors in memory, built and read through :mod:`hauler.descriptor`.

What a driver does with descriptors: build them, lay them out as a chain or a ring, read
back what the hardware wrote, and hand a completed descriptor of a receive ring back to
the hardware. Values are encoded and decoded with the hardware's own layouts, so no bit
offset is written here.

The memory is anything with ``write(addr, data)`` and ``read(addr, n)`` (the models of
:mod:`hauler.sim.memory`).
"""

from dataclasses import dataclass

from amaranth.lib import data

from hauler import descriptor as layout
from hauler.registers import ErrorCode


__all__ = ["Descriptor", "DescriptorStatus", "CTRL_FIELDS", "write_chain", "write_ring",
           "read_descriptor", "read_status", "rearm"]

#: The CTRL flags, the keywords of :class:`Descriptor`: last, irq, src_mode, dst_mode, ...
CTRL_FIELDS = tuple(name for name, _ in layout.DescriptorCtrl)

_SW_BYTES = layout.DESCRIPTOR_SIZE - layout.DESCRIPTOR_READ_BYTES


def _const(shape_layout, values, what):
    """``values`` as a constant of ``shape_layout``, each integer checked to fit its member.

    Amaranth truncates what does not fit; a driver must not silently write another value.
    """
    members = data.Layout.cast(shape_layout)
    for name, value in values.items():
        width = members[name].width
        if isinstance(value, int) and not 0 <= value < 1 << width:
            raise ValueError(f"{what}.{name} is {width} bits wide; {value!r} does not fit")
    return shape_layout.const(values)


@dataclass(frozen=True)
class DescriptorStatus:
    """STATUS and BYTES of a descriptor, as the hardware writes them back.

    The all-zero default is what software writes when it hands a descriptor over.

    Parameters
    ----------
    done, error, eop : bool
    err_code : str
        An :class:`~hauler.registers.ErrorCode` name.
    bytes : int
        Bytes actually moved.
    """
    done: bool = False
    error: bool = False
    eop: bool = False
    err_code: str = "NONE"
    bytes: int = 0

    def _members(self):
        # The members shared by the Writeback and Descriptor layouts.
        status = _const(layout.DescriptorStatus, {
            "done": int(self.done), "error": int(self.error), "eop": int(self.eop),
            "err_code": ErrorCode[self.err_code]}, "STATUS")
        return {"status": status, "bytes": self.bytes}

    @classmethod
    def _decode(cls, value):
        # ``value``: a constant of the Writeback or the Descriptor layout.
        s = value.status
        return cls(bool(s.done), bool(s.error), bool(s.eop), s.err_code.name, value.bytes)

    def to_bytes(self):
        """The write-back: :data:`~hauler.descriptor.WRITEBACK_BYTES` bytes."""
        value = _const(layout.Writeback, self._members(), "Writeback")
        return value.as_bits().to_bytes(layout.WRITEBACK_BYTES, "little")

    @classmethod
    def from_bytes(cls, raw):
        """Decode a write-back.

        Raises
        ------
        ValueError
            If ``raw`` is not :data:`~hauler.descriptor.WRITEBACK_BYTES` long, or
            ERR_CODE holds no :class:`~hauler.registers.ErrorCode`.
        """
        if len(raw) != layout.WRITEBACK_BYTES:
            raise ValueError(f"a write-back is {layout.WRITEBACK_BYTES} bytes, not {len(raw)}")
        return cls._decode(layout.Writeback.from_bits(int.from_bytes(raw, "little")))


class Descriptor:
    """One descriptor, as software builds it and as it reads it back.

    Parameters
    ----------
    src, dst : int
        Source and destination addresses.
    length : int
        Bytes to move (LEN).
    next : int
        Address of the next descriptor; :func:`write_chain` and :func:`write_ring` set it.
    status : DescriptorStatus
        STATUS and BYTES; zero (owned by hardware) unless given.
    sw : bytes
        The software area (bytes 0x28-0x3F), zero-padded; hardware never touches it.
    **ctrl : int
        CTRL flags by their lower-case names (:data:`CTRL_FIELDS`): ``last``, ``irq``,
        ``src_mode``, ``dst_mode``, ``eop``, ``req``; 0 when not given.

    Members
    -------
    src, dst, length, next, status, sw
        As given (``sw`` padded to its full size).
    ctrl : dict of str to int
        Every CTRL flag.

    Raises
    ------
    TypeError
        For a keyword that is not a CTRL flag.
    ValueError
        For a value that does not fit its field, or a software area too long.
    """

    def __init__(self, src, dst, length, *, next=0, status=DescriptorStatus(), sw=b"", **ctrl):
        unknown = sorted(set(ctrl) - set(CTRL_FIELDS))
        if unknown:
            raise TypeError(f"{unknown[0]!r} is not a CTRL flag; the flags are "
                            f"{', '.join(CTRL_FIELDS)}")
        if len(sw) > _SW_BYTES:
            raise ValueError(f"the software area is {_SW_BYTES} bytes, not {len(sw)}")
        self.src, self.dst, self.length, self.next = src, dst, length, next
        self.ctrl = {name: int(ctrl.get(name, 0)) for name in CTRL_FIELDS}
        self.status = status
        self.sw = bytes(sw).ljust(_SW_BYTES, b"\0")
        # Values that do not fit fail here, where they were given, not when written.
        self.to_bytes()

    def replace(self, **changes):
        """A copy with some constructor arguments (CTRL flags included) changed."""
        args = dict(src=self.src, dst=self.dst, length=self.length, next=self.next,
                    status=self.status, sw=self.sw, **self.ctrl)
        return Descriptor(**{**args, **changes})

    def to_bytes(self):
        """The whole descriptor: :data:`~hauler.descriptor.DESCRIPTOR_SIZE` bytes."""
        value = _const(layout.Descriptor, {
            "next": self.next, "src": self.src, "dst": self.dst, "len": self.length,
            "ctrl": _const(layout.DescriptorCtrl, self.ctrl, "CTRL"),
            **self.status._members(),
        }, "Descriptor")
        return value.as_bits().to_bytes(layout.DESCRIPTOR_READ_BYTES, "little") + self.sw

    @classmethod
    def from_bytes(cls, raw):
        """Decode a whole descriptor (:data:`~hauler.descriptor.DESCRIPTOR_SIZE` bytes).

        Raises
        ------
        ValueError
            As :meth:`DescriptorStatus.from_bytes`.
        """
        if len(raw) != layout.DESCRIPTOR_SIZE:
            raise ValueError(f"a descriptor is {layout.DESCRIPTOR_SIZE} bytes, not {len(raw)}")
        read = layout.DESCRIPTOR_READ_BYTES
        value = layout.Descriptor.from_bits(int.from_bytes(raw[:read], "little"))
        return cls(value.src, value.dst, value.len, next=value.next,
                   status=DescriptorStatus._decode(value), sw=raw[read:],
                   **{name: value.ctrl[name] for name in CTRL_FIELDS})

    def __eq__(self, other):
        return isinstance(other, Descriptor) and vars(self) == vars(other)

    def __repr__(self):
        flags = "".join(f", {name}={value}" for name, value in self.ctrl.items() if value)
        return (f"Descriptor(src={self.src:#x}, dst={self.dst:#x}, length={self.length}, "
                f"next={self.next:#x}{flags}, status={self.status!r})")


def _link(addresses, descriptors, *, ring):
    if len(addresses) != len(descriptors) or not addresses:
        raise ValueError(f"need one address per descriptor and at least one, not "
                         f"{len(addresses)} addresses for {len(descriptors)} descriptors")
    for addr in addresses:
        if addr % layout.DESCRIPTOR_SIZE:
            raise ValueError(f"descriptor address {addr:#x} is not "
                             f"{layout.DESCRIPTOR_SIZE}-byte aligned")
    nexts = list(addresses[1:]) + [addresses[0] if ring else 0]
    lasts = [0] * (len(descriptors) - 1) + [int(not ring)]
    return [d.replace(next=n, last=last) for d, n, last in zip(descriptors, nexts, lasts)]


def _write_all(memory, addresses, descriptors):
    for addr, d in zip(addresses, descriptors):
        memory.write(addr, d.to_bytes())
    return descriptors


def write_chain(memory, addresses, descriptors):
    """Write ``descriptors`` at ``addresses`` as one chain: each NEXT the following address,
    LAST on the last one only (its NEXT 0).

    Returns
    -------
    list of Descriptor
        The descriptors as written.

    Raises
    ------
    ValueError
        If the counts differ, are 0, or an address is not 64-byte aligned.
    """
    return _write_all(memory, addresses, _link(addresses, descriptors, ring=False))


def write_ring(memory, addresses, descriptors):
    """Write ``descriptors`` at ``addresses`` as a ring: each NEXT the following address, the
    last one's the first, no LAST anywhere. Returns and raises as :func:`write_chain`."""
    return _write_all(memory, addresses, _link(addresses, descriptors, ring=True))


def read_descriptor(memory, addr):
    """The whole descriptor at ``addr``, decoded as :meth:`Descriptor.from_bytes` does."""
    return Descriptor.from_bytes(memory.read(addr, layout.DESCRIPTOR_SIZE))


def read_status(memory, addr):
    """What hardware wrote back to the descriptor at ``addr``."""
    return DescriptorStatus.from_bytes(
        memory.read(addr + layout.WRITEBACK_OFFSET, layout.WRITEBACK_BYTES))


def rearm(memory, addr):
    """Hand the descriptor at ``addr`` back to hardware: zero its STATUS and BYTES.

    A receive ring's driver does this once it has consumed a completed descriptor, so the
    hardware does not stop on it with NOT_OWNED on its next lap.
    """
    memory.write(addr + layout.WRITEBACK_OFFSET, DescriptorStatus().to_bytes())
