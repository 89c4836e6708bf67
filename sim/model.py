"""Reference models: what a register-mode transfer and a scatter-gather run do to memory."""

from dataclasses import dataclass

from hauler.descriptor import DESCRIPTOR_SIZE, WRITEBACK_BYTES, WRITEBACK_OFFSET

from .descriptors import Descriptor, DescriptorStatus
from .driver import Mode


__all__ = ["apply_transfer", "ChainOutcome", "apply_chain"]


def apply_transfer(memory, src, dst, length, *, beat_bytes, src_mode=Mode.INCR,
                   dst_mode=Mode.INCR):
    """Apply one transfer of ``length`` bytes to ``memory`` (a bytearray, indexed by bus
    address) in place, as a build with unaligned support does it; return ``memory``.

    Addresses and the length are byte-granular; the transfer is a stream of ``length``
    bytes from the source to the destination. An INCR side covers exactly
    ``[address, address + length)``: bytes outside the destination's range are never
    written. A FIXED side is one beat-aligned address (a peripheral data register) that
    every beat of the transfer uses, and the stream starts at its lane 0:

    - a FIXED source yields the same beat at each of its ``ceil(length / beat_bytes)``
      reads, so the stream is that beat repeated, truncated to ``length`` bytes;
    - a FIXED destination receives ``ceil(length / beat_bytes)`` beat writes, the last
      one partial (lanes ``0 .. (length - 1) % beat_bytes`` only) when ``length`` is not a
      multiple of ``beat_bytes``: each lane ends up with the last byte written to it.

    A build without unaligned support runs only transfers whose addresses and length are
    multiples of ``beat_bytes`` (the others are BAD_DESCRIPTOR); for those, both agree.

    Raises
    ------
    ValueError
        If ``length`` is less than 1, or a FIXED side's address is not a multiple of
        ``beat_bytes``: the hardware rejects both with BAD_DESCRIPTOR, which is not
        modelled.
    """
    if length < 1:
        raise ValueError(f"length must be at least 1, not {length} (BAD_DESCRIPTOR is not "
                         f"modelled)")
    for side, addr, mode in (("source", src, src_mode), ("destination", dst, dst_mode)):
        if mode == Mode.FIXED and addr % beat_bytes:
            raise ValueError(f"FIXED {side} address {addr:#x} is not a multiple of the beat "
                             f"size ({beat_bytes} bytes) (BAD_DESCRIPTOR is not modelled)")
    beats = -(-length // beat_bytes)
    if src_mode == Mode.INCR:
        data = bytes(memory[src:src + length])
    else:
        data = (bytes(memory[src:src + beat_bytes]) * beats)[:length]
    if dst_mode == Mode.INCR:
        memory[dst:dst + length] = data
    else:
        # Only the last full beat and the partial one after it (if any) leave a trace.
        first = max(0, beats - 2)
        for beat in range(first, beats):
            chunk = data[beat * beat_bytes:(beat + 1) * beat_bytes]
            memory[dst:dst + len(chunk)] = chunk
    return memory


@dataclass(frozen=True)
class ChainOutcome:
    """How a modelled scatter-gather run ended.

    Parameters
    ----------
    completed : tuple of int
        Addresses of the descriptors completed, in order (COMPLETED is their count).
    end : str
        ``"LAST"``: a descriptor with CTRL.LAST completed; ``"NOT_OWNED"``: the run halted
        with that error; ``"LIMIT"``: ``limit`` descriptors completed (STOP written during
        the last of them).
    stopped_at : int or None
        The descriptor the walk did not run: for NOT_OWNED the failing one (ERR_ADDR), for
        LIMIT the next one; None after LAST.
    """
    completed: tuple
    end: str
    stopped_at: object = None


def apply_chain(memory, first, *, beat_bytes, limit=None):
    """Run the chain of descriptors starting at ``first`` on ``memory`` in place.

    ``memory`` is a bytearray indexed by bus address. Each descriptor is read when it is
    reached: a descriptor whose STATUS.DONE is set halts the run with NOT_OWNED and is left
    as it is. Otherwise its transfer is applied as :func:`apply_transfer` does (INCR or
    FIXED on each side), then its STATUS is written back with DONE and BYTES = LEN. The run
    ends after a descriptor with CTRL.LAST, or after ``limit`` descriptors (for a ring whose
    descriptors are re-armed behind it; without re-arming a ring ends with NOT_OWNED when it
    comes round to its first descriptor). The software area (bytes 0x28-0x3F) is never
    touched. CTRL.IRQ and CTRL.REQ change when things happen, not what reaches memory.

    Not modelled, and rejected with :exc:`ValueError`: streams, and what the hardware
    rejects with BAD_DESCRIPTOR (LEN = 0, a reserved mode, a misaligned NEXT or first
    descriptor, a FIXED side whose address is not beat aligned). Byte-unaligned INCR
    addresses and lengths are modelled as a build with unaligned support runs them. Bus errors
    (READ_ERROR, WRITE_ERROR, DESC_READ_ERROR, DESC_WRITE_ERROR) and ABORT are not modelled
    either. Descriptors are read one at a time: a chain whose data overwrites its own later
    descriptors is outside the ABI (the hardware may prefetch them).

    Returns
    -------
    ChainOutcome
    """
    completed = []
    addr = first
    while limit is None or len(completed) < limit:
        if addr % DESCRIPTOR_SIZE:
            raise ValueError(f"descriptor address {addr:#x} is not {DESCRIPTOR_SIZE}-byte "
                             f"aligned (BAD_DESCRIPTOR is not modelled)")
        d = Descriptor.from_bytes(bytes(memory[addr:addr + DESCRIPTOR_SIZE]))
        if d.status.done:
            return ChainOutcome(tuple(completed), "NOT_OWNED", addr)
        src_mode, dst_mode = d.ctrl["src_mode"], d.ctrl["dst_mode"]
        if Mode.STREAM in (src_mode, dst_mode):
            raise ValueError(f"descriptor {addr:#x}: streams are not modelled")
        if d.length == 0 or not {src_mode, dst_mode} <= {Mode.INCR, Mode.FIXED}:
            raise ValueError(f"descriptor {addr:#x} is a BAD_DESCRIPTOR (LEN = 0 or a reserved "
                             f"mode), which is not modelled")
        if (src_mode == Mode.FIXED and d.src % beat_bytes or
                dst_mode == Mode.FIXED and d.dst % beat_bytes):
            raise ValueError(f"descriptor {addr:#x} is a BAD_DESCRIPTOR (a FIXED address not "
                             f"a multiple of {beat_bytes}), which is not modelled")
        apply_transfer(memory, d.src, d.dst, d.length, beat_bytes=beat_bytes,
                       src_mode=src_mode, dst_mode=dst_mode)
        memory[addr + WRITEBACK_OFFSET:addr + WRITEBACK_OFFSET + WRITEBACK_BYTES] = \
            DescriptorStatus(done=True, bytes=d.length).to_bytes()
        completed.append(addr)
        if d.ctrl["last"]:
            return ChainOutcome(tuple(completed), "LAST")
        addr = d.next
    return ChainOutcome(tuple(completed), "LIMIT", addr)
