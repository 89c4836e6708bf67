"""ECP5 block RAM output registers: fabric flip-flops right after a DP16KD moved into it.

A DP16KD's read data comes 5.8 ns after the clock without its output register (speed 6), the
longest path of the core on ECP5; with it, about 1 ns. Yosys never uses that register (its
memory mapping has no output register stage), so a read port followed by a plain register
costs the whole RAM delay plus routing into the next flip-flop. This pass works on the Yosys
JSON netlist before nextpnr: where every read data bit of a DP16KD port drives one
``TRELLIS_FF`` and nothing else, all those flip-flops with the port's clock, one clock enable
and no set or reset, it sets the port's ``REGMODE`` to ``OUTREG``, gives their enable to its
``OCE`` and drops them. The behaviour is the same cycle for cycle: the output register loads
the RAM's read latch where the flip-flops loaded the RAM's output, when enabled.

In 36-bit mode (``DATA_WIDTH_A`` 36, the pseudo dual port Yosys maps wide memories to) port B
reads all 36 bits on ``DOA`` and ``DOB``. There both ports' ``REGMODE`` and ``OCE`` are set, as
Lattice's own tools configure a ``PDPW16KD`` with its output register, and only when both
ports have the same clock (nextpnr times ``DOA`` by ``REGMODE_A``).
"""

import collections


__all__ = ["pack_output_registers"]

_DATA_BITS = 18


def _width(value):
    return int(value, 2) if isinstance(value, str) and set(value) <= {"0", "1"} else int(value)


def _read_ports(ram):
    """The DP16KD's read ports: (the ports whose output registers hold its data, its data
    output port names)."""
    outputs = {port: [f"DO{port}{i}" for i in range(_DATA_BITS)] for port in "AB"}
    if _width(ram["parameters"].get("DATA_WIDTH_A", 18)) == 36:
        if ram["connections"].get("CLKA") != ram["connections"].get("CLKB"):
            return []
        return [("AB", outputs["A"] + outputs["B"])]
    return [("A", outputs["A"]), ("B", outputs["B"])]


def _plain_ff(ff, clock):
    """The flip-flop's clock enable (a net bit, or "1"), if it is clocked by ``clock`` on the
    rising edge with no set or reset and starts at 0; else None."""
    params, conn = ff["parameters"], ff["connections"]
    if params.get("CLKMUX", "CLK") != "CLK" or conn.get("CLK") != clock:
        return None
    if params.get("GSR", "ENABLED") != "DISABLED" or params.get("REGSET", "RESET") != "RESET":
        return None
    inactive = "0" if params.get("LSRMUX", "LSR") == "LSR" else "1"
    if conn.get("LSR", [inactive]) != [inactive]:
        return None
    cemux = params.get("CEMUX", "CE")
    if cemux == "CE":
        return conn.get("CE", ["1"])[0]
    return "1" if cemux == "1" else None


def pack_output_registers(netlist):
    """Move the flip-flops after DP16KD read ports into the RAMs' output registers, in every
    module of the Yosys JSON ``netlist`` (changed in place). Returns how many flip-flops
    were moved."""
    moved = 0
    for module in netlist["modules"].values():
        cells = module.get("cells", {})
        sinks = collections.defaultdict(list)
        for name, port in module.get("ports", {}).items():     # (read outside the module)
            if port["direction"] != "input":
                for bit in port["bits"]:
                    if not isinstance(bit, str):
                        sinks[bit].append((None, name))
        for name, cell in cells.items():
            for port, bits in cell["connections"].items():
                if cell.get("port_directions", {}).get(port) != "output":
                    for bit in bits:
                        if not isinstance(bit, str):
                            sinks[bit].append((name, port))
        for ram in [cell for cell in cells.values() if cell["type"] == "DP16KD"]:
            for ports, outputs in _read_ports(ram):
                moved += _pack_port(cells, sinks, ram, ports, outputs)
    return moved


def _pack_port(cells, sinks, ram, ports, outputs):
    params, conn = ram["parameters"], ram["connections"]
    for port in ports:
        if params.get(f"REGMODE_{port}", "NOREG") != "NOREG" or \
                params.get(f"CLK{port}MUX", f"CLK{port}") != f"CLK{port}" or \
                conn.get(f"RST{port}", ["0"]) != ["0"]:  # (it would reset the register instead)
            return 0
    clock = conn.get(f"CLK{ports[-1]}")
    pairs, enables = [], set()
    for output in outputs:
        bits = conn.get(output)
        if not bits or isinstance(bits[0], str) or not sinks[bits[0]]:
            continue                                   # unused bit: registered for nothing
        users = sinks[bits[0]]
        if len(users) != 1:
            return 0
        name, pin = users[0]
        ff = cells.get(name)
        if ff is None or ff["type"] != "TRELLIS_FF" or pin != "DI":
            return 0
        enable = _plain_ff(ff, clock)
        if enable is None:
            return 0
        enables.add(enable)
        pairs.append((output, name))
    if not pairs or len(enables) != 1:
        return 0
    enable = enables.pop()
    for port in ports:
        params[f"REGMODE_{port}"] = "OUTREG"
        conn[f"OCE{port}"] = [enable]
    for output, name in pairs:
        conn[output] = cells.pop(name)["connections"]["Q"]
    return len(pairs)
