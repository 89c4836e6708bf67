"""Reference model: what a register-mode transfer does to memory."""

from .driver import Mode


__all__ = ["apply_transfer"]


def apply_transfer(memory, src, dst, length, *, beat_bytes, src_mode=Mode.INCR,
                   dst_mode=Mode.INCR):
    """Apply one transfer to ``memory`` (a bytearray, indexed by bus address) in place.

    A FIXED source yields the same beat every time; a FIXED destination keeps only the
    last beat written. Transfers are beat aligned here (the unaligned realigner is not
    built), so both are whole beats.
    """
    assert src % beat_bytes == 0 and dst % beat_bytes == 0 and length % beat_bytes == 0
    beats = length // beat_bytes
    data = bytes(memory[src:src + length]) if src_mode == Mode.INCR else \
        bytes(memory[src:src + beat_bytes]) * beats
    if dst_mode == Mode.INCR:
        memory[dst:dst + length] = data
    else:
        memory[dst:dst + beat_bytes] = data[-beat_bytes:]
    return memory
