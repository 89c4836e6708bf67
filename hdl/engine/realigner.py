"""The realigner's byte-lane logic: unaligned transfers at one beat per cycle.

A transfer's bytes are a stream from ``src`` to ``dst``; when the two start at different
byte lanes, each beat written holds bytes of two consecutive beats read. The realigner
splits that in two places of the data mover (see :func:`~.planner.Burst`):

- on the read side, every beat read is rotated by the lane difference as it enters the
  FIFO (:func:`rotate_lanes`), so a byte sits in the FIFO at the lane it is written to;
- on the write side, a beat written takes its lanes from ``split`` up from the rotated beat
  at the FIFO's head and the lanes below from the beat before it, the *carry*
  (:func:`merge_lanes`; the mover keeps a carry per channel, as bursts of channels
  interleave).

The write side also bounds the byte strobes of a transfer's partial first and last beats
(:func:`lanes_from`, :func:`lanes_upto`).
"""

from amaranth.hdl import Array, Cat, Mux


__all__ = ["rotate_lanes", "lanes_from", "lanes_upto", "merge_lanes"]


def rotate_lanes(value, amount, lanes):
    """``value`` with output lane ``x`` taken from input lane ``(x + amount) % lanes``."""
    width = len(value) // lanes
    rotations = [Cat(value[((x + k) % lanes) * width:][:width] for x in range(lanes))
                 for k in range(lanes)]
    return Array(rotations)[amount]


def lanes_from(lane, lanes):
    """A mask of the lanes ``lane`` and up."""
    return Cat(lane <= x for x in range(lanes))


def lanes_upto(lane, lanes):
    """A mask of the lanes up to ``lane``."""
    return Cat(x <= lane for x in range(lanes))


def merge_lanes(mask, new, old, lanes):
    """Lane ``x`` from ``new`` where ``mask[x]`` is set, else from ``old``."""
    width = len(new) // lanes
    return Cat(Mux(mask[x], new[x * width:][:width], old[x * width:][:width])
               for x in range(lanes))
