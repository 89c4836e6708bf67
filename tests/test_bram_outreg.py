"""The ECP5 netlist pass that moves the flip-flops after a DP16KD into its output register: what
it moves, and every case where moving them would change the behaviour, left alone."""

import copy

import pytest

from hauler.bram_outreg import pack_output_registers

CLK, CE, OTHER_CLK, OTHER_CE = 2, 3, 4, 5


def _ff(d, q, *, clk=CLK, ce=CE, **params):
    return {"type": "TRELLIS_FF",
            "parameters": {"CEMUX": "CE", "CLKMUX": "CLK", "GSR": "DISABLED", "LSRMUX": "LSR",
                           "REGSET": "RESET", **params},
            "port_directions": {"CLK": "input", "CE": "input", "LSR": "input", "DI": "input",
                                "Q": "output"},
            "connections": {"CLK": [clk], "CE": [ce], "LSR": ["0"], "DI": [d], "Q": [q]}}


def _netlist(*, width=36, read_bits=4, ff=None, extra=None, clka=CLK):
    """One DP16KD in 36-bit mode (or 18-bit, port B read) whose first ``read_bits`` data outputs
    each feed a flip-flop made by ``ff``; ``extra`` cells besides."""
    outputs = [f"DOA{i}" for i in range(18)] + [f"DOB{i}" for i in range(18)] \
        if width == 36 else [f"DOB{i}" for i in range(18)]
    ram = {"type": "DP16KD",
           "parameters": {"DATA_WIDTH_A": format(width, "032b"), "DATA_WIDTH_B": format(width, "032b"),
                          "REGMODE_A": "NOREG", "REGMODE_B": "NOREG", "GSR": "DISABLED"},
           "port_directions": {name: "output" for name in outputs},
           "connections": {"CLKA": [clka], "CLKB": [CLK], "OCEA": ["0"], "OCEB": ["1"],
                           "RSTA": ["0"], "RSTB": ["0"]}}
    cells = {"ram": ram}
    for i, name in enumerate(outputs):
        ram["connections"][name] = [100 + i]
        ram["port_directions"][name] = "output"
        if i < read_bits:
            cells[f"ff{i}"] = (ff or _ff)(100 + i, 200 + i)
    cells.update(extra or {})
    return {"modules": {"top.core": {"cells": cells}}}


def test_flip_flops_after_a_wide_ram_go_into_both_ports_output_registers():
    netlist = _netlist(read_bits=20)            # DOA0..17, then DOB0, DOB1
    assert pack_output_registers(netlist) == 20
    cells = netlist["modules"]["top.core"]["cells"]
    assert list(cells) == ["ram"]
    ram = cells["ram"]
    assert ram["parameters"]["REGMODE_A"] == ram["parameters"]["REGMODE_B"] == "OUTREG"
    assert ram["connections"]["OCEA"] == ram["connections"]["OCEB"] == [CE]
    # Each output now drives what its flip-flop drove.
    assert ram["connections"]["DOA0"] == [200] and ram["connections"]["DOB1"] == [219]
    assert ram["connections"]["DOB2"] == [120]             # unused: left as it was


def test_an_always_enabled_register_enables_the_output_register_always():
    netlist = _netlist(width=18, ff=lambda d, q: _ff(d, q, CEMUX="1"))
    assert pack_output_registers(netlist) == 4
    ram = netlist["modules"]["top.core"]["cells"]["ram"]
    assert ram["parameters"]["REGMODE_B"] == "OUTREG" and ram["connections"]["OCEB"] == ["1"]
    assert ram["parameters"]["REGMODE_A"] == "NOREG"        # port A reads nothing here


@pytest.mark.parametrize("case", [
    "bit read twice", "reset", "set", "other clock", "other enables", "inverted clock",
    "global reset", "ram reset", "ports on two clocks", "already registered", "into a lut",
    "read outside",
])
def test_what_would_change_the_behaviour_is_left_alone(case):
    ff = _ff
    extra = None
    kwargs = {}
    if case == "bit read twice":            # an output read by a LUT as well
        extra = {"lut": {"type": "LUT4", "parameters": {}, "port_directions": {"A": "input"},
                         "connections": {"A": [101]}}}
    elif case == "reset":
        ff = lambda d, q: {**_ff(d, q), "connections": {**_ff(d, q)["connections"], "LSR": [9]}}
    elif case == "set":
        ff = lambda d, q: _ff(d, q, REGSET="SET")
    elif case == "other clock":
        ff = lambda d, q: _ff(d, q, clk=OTHER_CLK) if d == 102 else _ff(d, q)
    elif case == "other enables":
        ff = lambda d, q: _ff(d, q, ce=OTHER_CE) if d == 102 else _ff(d, q)
    elif case == "inverted clock":
        ff = lambda d, q: _ff(d, q, CLKMUX="INV")
    elif case == "global reset":
        ff = lambda d, q: _ff(d, q, GSR="ENABLED")
    elif case == "ports on two clocks":
        kwargs["clka"] = OTHER_CLK
    elif case == "into a lut":
        ff = lambda d, q: {**_ff(d, q), "type": "LUT4"}
    netlist = _netlist(ff=ff, extra=extra, **kwargs)
    ram = netlist["modules"]["top.core"]["cells"]["ram"]
    if case == "ram reset":
        ram["connections"]["RSTB"] = [9]
    elif case == "already registered":
        ram["parameters"]["REGMODE_B"] = "OUTREG"
    elif case == "read outside":            # an output also leaves the module
        netlist["modules"]["top.core"]["ports"] = {"rdata": {"direction": "output", "bits": [103]}}
    before = copy.deepcopy(netlist)
    assert pack_output_registers(netlist) == 0
    assert netlist == before
