"""Build Verilog with Icarus and run cocotb benches on it: the one way tests start a simulation.

Layout under the build root (``<repo>/build/sim``, or ``$HAULER_BUILD_DIR``)::

    <key>/hauler_dma.v              generated Verilog of one configuration (<key> = Config.key())
    <key>/hauler_dma.v.digest       digest of the hdl/ sources it was generated from
    <key>/icarus-<top>[-waves]/     one Icarus build (sim.vvp), shared by every run
    <key>/icarus-<top>/runs/<name>  one run: sim.log, results.xml, <top>.fst; kept on failure or with waves

A Verilog file given to :func:`run` (a test fixture) gets ``<key> = fixture-<stem>-<hash of its path>``.

Several pytest-xdist workers may ask for the same configuration at once: generation and
compiles hold an exclusive ``fcntl`` lock, runs (and the check that the build is up to
date) hold it shared, so a rebuild never rewrites a ``sim.vvp`` that a simulator is loading
and runs of one configuration overlap.
"""

import fcntl
import hashlib
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from xml.etree import ElementTree

import hauler
from cocotb_tools.runner import Icarus


__all__ = ["build_root", "verilog_for", "run", "locked", "write_atomic", "hdl_digest"]


_HDL_DIR = Path(hauler.__file__).resolve().parent
_REPO_DIR = _HDL_DIR.parent

#: Environment variable carrying the configuration into the bench (see :func:`hauler.sim.bench.bench_config`).
CONFIG_ENV = "HAULER_CONFIG"
#: Environment variable fixing the random seed of every run (otherwise a fresh one is drawn and printed).
SEED_ENV = "HAULER_SEED"

_TIMESCALE = ("1ns", "1ps")
_LOG_TAIL_LINES = 200


def build_root():
    """Directory holding generated Verilog, builds and runs."""
    return Path(os.environ.get("HAULER_BUILD_DIR", _REPO_DIR / "build" / "sim")).resolve()


@contextmanager
def locked(path, *, shared=False):
    """Hold an flock on ``path`` (shared or exclusive): builds shared between processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def write_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    # Readers that skip the lock (the fast path of verilog_for) see the old or the new file, never half of one.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def hdl_digest():
    """Digest of everything generation depends on: the hdl/ sources and the Amaranth version."""
    import amaranth
    h = hashlib.sha256(f"amaranth {amaranth.__version__}\n".encode())
    for path in sorted(_HDL_DIR.rglob("*.py")):
        h.update(f"{path.relative_to(_HDL_DIR)}\n".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _generate_text(config):
    # A fresh interpreter, so edits to hdl/ made since this process imported `hauler` are seen.
    script = ("import json, sys\n"
              "from hauler import Config\n"
              "from hauler.generate import generate_verilog\n"
              "config = Config(**json.loads(sys.argv[1]))\n"
              "sys.stdout.write(generate_verilog(config, name='hauler_dma'))\n")
    result = subprocess.run([sys.executable, "-c", script, json.dumps(config.as_dict())],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"generating Verilog for {config.key()} failed:\n{result.stderr}")
    return result.stdout


def verilog_for(config):
    """The generated Verilog of ``config`` (top module ``hauler_dma``), from the cache.

    Regenerated when missing or when the digest of the hdl/ sources changed, so the cache
    never serves Verilog of older sources. Safe to call from several processes at once.

    Parameters
    ----------
    config : hauler.Config

    Returns
    -------
    pathlib.Path
    """
    directory = build_root() / config.key()
    target = directory / "hauler_dma.v"
    stamp = directory / "hauler_dma.v.digest"

    def fresh(digest):
        return target.exists() and stamp.exists() and stamp.read_text() == digest

    digest = hdl_digest()
    if fresh(digest):
        return target
    with locked(directory / ".lock"):
        if not fresh(digest):
            text = _generate_text(config)
            # Identical text keeps the old file and its mtime, so Icarus does not rebuild.
            if not target.exists() or target.read_text() != text:
                write_atomic(target, text)
            # The stamp goes last: a fresh stamp always means a fresh target.
            write_atomic(stamp, digest)
    return target


class _Icarus(Icarus):
    # cocotb's runner lets the parent's os.environ override `extra_env`; the caller's
    # explicit environment (the configuration under test, the bench's knobs) must win.
    def __init__(self, bench_env):
        super().__init__()
        self._bench_env = bench_env
        self.may_compile = True     # False: set up as build() does, but never compile
        self.stale = False          # the last build() found sim.vvp out of date

    def _set_env_test(self):
        super()._set_env_test()
        self.env.update(self._bench_env)

    def _build_command(self):
        # cocotb's wave-dump module is SystemVerilog, which -g2005 (see run) rejects: run
        # adds its own, so cocotb's must stay out even when WAVES=1 is in the environment.
        self.waves = False
        commands = super()._build_command()
        self.stale = bool(commands)
        return commands if self.may_compile else []


def _dump_module(build_dir, toplevel):
    """A Verilog-2005 module dumping every signal of ``toplevel`` to ``<toplevel>.fst`` in the run directory."""
    path = build_dir / "hauler_waves.v"
    text = (f"module hauler_waves;\n"
            f"    initial begin\n"
            f"        $dumpfile(\"{toplevel}.fst\");\n"
            f"        $dumpvars(0, {toplevel});\n"
            f"    end\n"
            f"endmodule\n")
    if not path.exists() or path.read_text() != text:  # an unchanged file keeps the build
        write_atomic(path, text)
    return path


def _waves_from_env(waves):
    # Mirror cocotb's WAVES override here, because waves select the build directory.
    value = os.environ.get("WAVES", "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return waves


def _tail(path, lines=_LOG_TAIL_LINES):
    try:
        return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-lines:])
    except FileNotFoundError:
        return f"({path} not written)\n"


def _failures(results_xml):
    """(tests run, [(test name, message)] of failed tests) from cocotb's xUnit results."""
    ran, failed = 0, []
    for case in ElementTree.parse(results_xml).getroot().iter("testcase"):
        ran += 1
        for tag in ("failure", "error"):
            element = case.find(tag)
            if element is not None:
                message = element.get("message") or (element.text or "").strip() or tag
                failed.append((case.get("name"), message))
    return ran, failed


def run(config, test_module, *, testcase=None, env=None, waves=False, verilog=None,
        toplevel="hauler_dma", seed=None, libraries=()):
    """Build (once) and simulate ``toplevel`` with Icarus, running the cocotb tests of ``test_module``.

    Parameters
    ----------
    config : hauler.Config or None
        The configuration under test: its generated Verilog is simulated, its key names the
        build directory, and the bench reads it back with :func:`hauler.sim.bench.bench_config`.
        May be ``None`` when ``verilog`` is given.
    test_module : str
        Dotted name of the cocotb test module, e.g. ``"hauler.sim.benches.copy"``.
    testcase : str or list of str, optional
        Run only these tests of the module (default: all).
    env : dict of str to str, optional
        Extra environment for the bench; it takes precedence over the parent's environment.
    waves : bool
        Dump an FST waveform into the run directory (kept). ``WAVES=1`` in the environment
        also turns it on.
    verilog : path-like, optional
        Simulate this Verilog file instead of the generated one (test fixtures). The build
        directory is then keyed by the file, not by ``config``.
    toplevel : str
        Top module name.
    seed : int, optional
        Seed of cocotb's random generator; default ``$HAULER_SEED`` or a fresh random one.
        It is printed, and named in the failure message, so any failure can be replayed.
    libraries : sequence of path-like
        More Verilog files the design instantiates modules of (a CPU core).

    Raises
    ------
    AssertionError
        Naming each failed test and its message, when any test failed, none ran, or the
        simulator died. The run directory (log, results, waves) is kept and named.
    RuntimeError
        When Verilog generation or the Icarus build fails.
    """
    if importlib.util.find_spec(test_module) is None:
        raise ValueError(f"test_module {test_module!r} is not importable")
    if verilog is None:
        if config is None:
            raise ValueError("config is required unless verilog is given")
        verilog = verilog_for(config)
        key = config.key()
    else:
        verilog = Path(verilog).resolve()
        key = f"fixture-{verilog.stem}-{hashlib.sha1(str(verilog).encode()).hexdigest()[:8]}"
    waves = _waves_from_env(waves)
    if seed is None:
        seed = int(os.environ[SEED_ENV]) if SEED_ENV in os.environ else random.randrange(2 ** 31)

    bench_env = dict(env or {})
    if config is not None:
        bench_env[CONFIG_ENV] = json.dumps(config.as_dict())

    build_dir = build_root() / key / f"icarus-{toplevel}{'-waves' if waves else ''}"
    runner = _Icarus(bench_env)
    # cocotb's runner passes -g2012, under which Icarus applies `reg x = 0`
    # initializers without an event: Yosys' always @* blocks, which rely on that
    # event to run at time 0, would stay X until an input changes. -g2005 restores it.
    sources, build_args = [verilog, *map(Path, libraries)], ["-g2005"]
    if waves:
        build_dir.mkdir(parents=True, exist_ok=True)
        sources.append(_dump_module(build_dir, toplevel))
        build_args += ["-s", "hauler_waves"]

    def build(exclusive):
        runner.may_compile = exclusive
        try:
            runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=build_dir,
                         build_args=build_args, timescale=_TIMESCALE, log_file=build_dir / "build.log")
        except RuntimeError:
            raise RuntimeError(f"Icarus build of {verilog} failed:\n"
                               f"{_tail(build_dir / 'build.log')}") from None

    # An up-to-date build is set up under the shared lock, so runs of one configuration
    # (several benches, several pytest-xdist workers) overlap; only a compile waits for
    # the simulations using the old sim.vvp to end.
    with locked(build_dir / ".lock", shared=True):
        build(exclusive=False)
    if runner.stale:
        with locked(build_dir / ".lock"):
            build(exclusive=True)

    runs_dir = build_dir / "runs"
    runs_dir.mkdir(exist_ok=True)
    label = test_module.rsplit(".", 1)[-1]
    if testcase:
        label += "-" + (testcase if isinstance(testcase, str) else "-".join(testcase)).replace(",", "-")
    run_dir = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=runs_dir))
    results = run_dir / "results.xml"
    log = run_dir / "sim.log"
    print(f"hauler.sim.runner: {test_module} on {key}, seed={seed} (replay with {SEED_ENV}={seed})")

    with locked(build_dir / ".lock", shared=True):
        try:
            # waves=True makes vvp write FST; the dump module writes into the run directory.
            runner.test(test_module=test_module, hdl_toplevel=toplevel, testcase=testcase,
                        seed=seed, waves=waves, build_dir=build_dir, test_dir=run_dir,
                        results_xml=str(results), log_file=log)
        except SystemExit:
            # Under pytest the runner sys.exit()s on failure; the results file tells us more.
            pass

    if not results.exists():
        failure = "the simulator ended without writing results"
    else:
        ran, failed = _failures(results)
        if failed:
            failure = "failed: " + "; ".join(f"{name}: {message}" for name, message in failed)
        elif ran == 0:
            failure = f"no test ran (testcase={testcase!r})"
        else:
            failure = None
    if failure is not None:
        print(f"--- last {_LOG_TAIL_LINES} lines of {log} ---\n{_tail(log)}")
        raise AssertionError(f"{test_module} on {key} {failure} "
                             f"[seed={seed}, replay with {SEED_ENV}={seed}; log {log}]")
    if not waves:
        shutil.rmtree(run_dir, ignore_errors=True)
    else:
        print(f"hauler.sim.runner: waves in {run_dir / (toplevel + '.fst')}")
