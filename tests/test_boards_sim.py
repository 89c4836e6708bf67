"""Whole-board simulations of the demo SoC (hauler.sim.boards): the bitstream's gateware with
block RAM for SPRAM and a UART divisor of 4, driven through its serial pins by the host tool's
own procedures (hauler.boards.host) over a cocotb UART model.

Covered on each board's build: the board block and the DMA's ID through the bridge, RAM read
back at its start, middle and end, a checked register-mode copy on every channel (with the
DMA never stalled by the interconnect), a checked scatter-gather chain (where SG is built),
bus errors for the bridge and the DMA, and the bridge's NAK, frame timeout and a host getting
back in step. About 10 s (iCEBreaker) and 20 s (ULX3S-85F) on this machine.
"""

import dataclasses

import pytest

from hauler.sim.boards import runner


TESTS = ["facts_and_memory", "register_copy", "descriptor_chain", "bus_errors",
         "framing_recovery"]


@pytest.mark.parametrize("board", ["icebreaker", "ulx3s-85f"])
def test_board(board):
    config = runner.BOARDS[board].config
    runner.run_board(board, testcase=[t for t in TESTS
                                      if config.sg or t != "descriptor_chain"])


def test_icebreaker_spram():
    """The iCEBreaker's SoC with its SPRAM simulated by Yosys' model of SB_SPRAM256KA, and the
    realigner built so that the DMA writes partial words: RAM across the bank boundary, and
    unaligned copies whose first and last words are written through the nibble masks."""
    config = dataclasses.replace(runner.BOARDS["icebreaker"].config, unaligned=True)
    runner.run_board("icebreaker", config, memory="spram",
                     testcase=["facts_and_memory", "register_copy"])
